"""The WeChat official-account webhook, with requests signed (and encrypted) as WeChat does."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import xmltodict
from flask.testing import FlaskClient
from rq import SimpleWorker
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from wechatpy.crypto import WeChatCrypto
from werkzeug.test import TestResponse

from cases.exceptions import ConfigurationError
from cases.models import Case, Contact, Message
from cases.models.messaging import AddressKind, Channel, Direction, MessageStatus
from cases.settings import load_settings
from tests.fixtures.fake_wechat import APP_ID, APP_SECRET, FakeWeChat, running_fake_wechat
from tests.fixtures.nlu import project_model
from tests.fixtures.services import services_for
from webhooks import wechat
from webhooks.app import create_app
from worker import delivery, understanding
from worker.queue import QUEUE_NAMES, get_queue
from worker.runtime import Services

TOKEN = "zhitongWeChatToken2026"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as the console makes
ACCOUNT = "gh_0123456789ab"
OPENID = "oAbCdEfGhIjKlMnOpQrStUvWxYz0"
TIMESTAMP = "1795312800"
NONCE = "1320562132"


@pytest.fixture
def fake_wechat() -> Iterator[FakeWeChat]:
    """A recording WeChat API on loopback."""
    with running_fake_wechat() as fake:
        yield fake


@pytest.fixture
def make_client(
    demo_session: Session, engine: Engine, tmp_path: Path, fake_wechat: FakeWeChat
) -> Iterator[Callable[..., tuple[FlaskClient, Services]]]:
    """Build the app on the test database (demo county) with an official account configured."""

    def make(**overrides: object) -> tuple[FlaskClient, Services]:
        values: dict[str, object] = {
            "instance_path": tmp_path,
            "secret_key": "s",
            "wechat_token": TOKEN,
            "wechat_app_id": APP_ID,
            "wechat_app_secret": APP_SECRET,
            "wechat_aes_key": AES_KEY,
            "wechat_api_base": fake_wechat.base_url,
        }
        settings = load_settings(**(values | overrides))
        services = services_for(engine, settings)
        return create_app(settings, services).test_client(), services

    understanding.use_interpreter(project_model())
    understanding.forget_gazetteer()
    delivery.use_sender(None, Channel.WECHAT)
    yield make
    assert wechat.drain(timeout=60)
    delivery.use_sender(None, Channel.WECHAT)
    understanding.use_interpreter(None)
    understanding.forget_gazetteer()


@pytest.fixture
def client(make_client: Callable[..., tuple[FlaskClient, Services]]) -> FlaskClient:
    """The app with the default reply budget."""
    return make_client()[0]


def signature(*parts: str) -> str:
    """WeChat's signature: sha1 over the sorted parts, concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def text_xml(content: str, msg_id: str, openid: str = OPENID, create_time: str = TIMESTAMP) -> str:
    """A text message as WeChat pushes it."""
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


def event_xml(event: str, create_time: str = TIMESTAMP, openid: str = OPENID) -> str:
    """An event (subscribe, unsubscribe, CLICK …) as WeChat pushes it."""
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[]]></EventKey></xml>"
    )


def media_xml(kind: str, msg_id: str, fields: str) -> str:
    """An image, voice, location or video message."""
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>"
        f"<CreateTime>{TIMESTAMP}</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>"
        f"{fields}<MsgId>{msg_id}</MsgId></xml>"
    )


def post(
    client: FlaskClient, body: str | bytes, *, sig: str | None = None, query: str = ""
) -> TestResponse:
    """POST in plain mode, signed over token, timestamp and nonce."""
    sig = signature(TOKEN, TIMESTAMP, NONCE) if sig is None else sig
    url = f"/wechat?signature={sig}&timestamp={TIMESTAMP}&nonce={NONCE}&openid={OPENID}{query}"
    data = body.encode("utf-8") if isinstance(body, str) else body
    return client.post(url, data=data, content_type="text/xml")


def crypto() -> WeChatCrypto:
    """The same crypto WeChat uses in safe mode."""
    return WeChatCrypto(TOKEN, AES_KEY, APP_ID)


def post_safe(client: FlaskClient, xml: str, *, msg_signature: str | None = None) -> TestResponse:
    """POST in safe mode: the message encrypted, signed twice, as WeChat sends it."""
    sealed = xmltodict.parse(crypto().encrypt_message(xml, NONCE, TIMESTAMP))["xml"]
    body = (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<Encrypt><![CDATA[{sealed['Encrypt']}]]></Encrypt></xml>"
    )
    msg_sig = sealed["MsgSignature"] if msg_signature is None else msg_signature
    return post(client, body, query=f"&encrypt_type=aes&msg_signature={msg_sig}")


def replies(response: TestResponse, safe: bool = False) -> list[str]:
    """The passive reply's text (nothing when WeChat was answered `success`)."""
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_data(as_text=True)
    if body == "success":
        return []
    if safe:
        sealed = xmltodict.parse(body)["xml"]
        body = crypto().decrypt_message(
            body, sealed["MsgSignature"], sealed["TimeStamp"], sealed["Nonce"]
        )
    reply = xmltodict.parse(body)["xml"]
    assert reply["ToUserName"] == OPENID and reply["FromUserName"] == ACCOUNT
    assert reply["MsgType"] == "text"
    return [reply["Content"]]


def count(session: Session, model: type, *where: Any) -> int:
    """Rows of a model."""
    session.rollback()  # end the read snapshot (SQLite WAL, PostgreSQL)
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def outbound(session: Session) -> list[Message]:
    """Every outbound message, oldest first."""
    session.rollback()  # end the read snapshot (SQLite WAL, PostgreSQL)
    return list(
        session.scalars(
            select(Message).where(Message.direction == Direction.OUTBOUND).order_by(Message.id)
        )
    )


# --- verification and signatures ---------------------------------------------------------


def test_url_verification_echoes_when_signed(client: FlaskClient) -> None:
    """The console's GET check: echostr back for the right signature, 403 otherwise."""
    sig = signature(TOKEN, TIMESTAMP, NONCE)
    query = f"timestamp={TIMESTAMP}&nonce={NONCE}&echostr=6172365401243"
    good = client.get(f"/wechat?signature={sig}&{query}")
    assert good.status_code == 200 and good.get_data(as_text=True) == "6172365401243"
    assert client.get(f"/wechat?signature={'0' * 40}&{query}").status_code == 403
    assert client.get(f"/wechat?{query}").status_code == 403
    other = signature("another-token", TIMESTAMP, NONCE)
    assert client.get(f"/wechat?signature={other}&{query}").status_code == 403


def test_without_a_token_the_endpoint_does_not_exist(
    make_client: Callable[..., tuple[FlaskClient, Services]],
) -> None:
    """No ZHITONG_WECHAT_TOKEN: 404, since an empty token would sign anything."""
    client, _ = make_client(wechat_token="")
    assert client.get(f"/wechat?signature={signature('', TIMESTAMP, NONCE)}").status_code == 404
    assert post(client, text_xml("你好", "1")).status_code == 404


def test_missing_or_wrong_signature_is_refused(client: FlaskClient, demo_session: Session) -> None:
    """A POST without a signature, a forged one, or one over another nonce: 403, nothing kept."""
    xml = text_xml("路灯坏了", "6000000000000000001")
    assert post(client, xml, sig="").status_code == 403
    assert post(client, xml, sig="f" * 40).status_code == 403
    assert post(client, xml, sig=signature(TOKEN, TIMESTAMP, "other")).status_code == 403
    assert count(demo_session, Message) == 0


# --- conversations -----------------------------------------------------------------------


def test_a_whole_conversation_ends_in_a_case_number(
    client: FlaskClient, demo_session: Session
) -> None:
    """A follower reports a broken street light and, answering the bot, gets a receipt."""
    answers = iter(["是", "东门社区", "1", "是的"])
    text = "城关镇东门社区门口的路灯坏了一个星期了，晚上一片漆黑"
    received: list[str] = []
    case = None
    for turn in range(5):
        received += replies(post(client, text_xml(text, f"60000000000000001{turn:02d}")))
        demo_session.rollback()
        case = demo_session.scalars(select(Case)).first()
        if case is not None:
            break
        text = next(answers)
    assert case is not None, received
    assert case.item_code == "infra_streetlight" and case.channel is Channel.WECHAT
    assert case.number in "".join(received)
    contact = demo_session.scalars(select(Contact)).one()
    assert contact.kind is AddressKind.WECHAT and contact.address == OPENID
    assert case.contact_id == contact.id
    assert all(m.status is MessageStatus.SENT for m in outbound(demo_session))


def test_safe_mode_decrypts_the_message_and_encrypts_the_reply(
    client: FlaskClient, demo_session: Session
) -> None:
    """encrypt_type=aes: the message is read through AES and the reply comes back sealed."""
    response = post_safe(client, text_xml("东门社区的路灯不亮了", "6000000000000000200"))
    assert "<Encrypt>" in response.get_data(as_text=True)
    (reply,) = replies(response, safe=True)
    assert reply == outbound(demo_session)[0].body
    inbound = demo_session.scalars(select(Message).where(Message.direction == Direction.INBOUND))
    assert inbound.one().body == "东门社区的路灯不亮了"


def test_safe_mode_with_a_wrong_msg_signature_is_refused(
    client: FlaskClient, demo_session: Session
) -> None:
    """The outer signature is right but the message's own signature is not: 403."""
    response = post_safe(client, text_xml("你好", "6000000000000000201"), msg_signature="0" * 40)
    assert response.status_code == 403
    assert count(demo_session, Message) == 0


def test_a_bad_aes_payload_is_a_400(client: FlaskClient, demo_session: Session) -> None:
    """A correctly signed Encrypt field that is not AES of a message: 400, never a 500."""
    for payload in ["bm90IGFlcw==", "!!!not base64!!!", "QUJDREVGR0hJSktMTU5PUA=="]:
        msg_sig = signature(TOKEN, TIMESTAMP, NONCE, payload)
        body = f"<xml><ToUserName>{ACCOUNT}</ToUserName><Encrypt>{payload}</Encrypt></xml>"
        response = post(client, body, query=f"&encrypt_type=aes&msg_signature={msg_sig}")
        assert response.status_code == 400, payload
    assert count(demo_session, Message) == 0


def test_a_retried_msg_id_changes_nothing(client: FlaskClient, demo_session: Session) -> None:
    """WeChat's retry of a MsgId: `success`, and no second reply, case or message."""
    xml = text_xml("东门社区的路灯不亮了", "6000000000000000300")
    assert replies(post(client, xml))
    messages, cases = count(demo_session, Message), count(demo_session, Case)
    for _ in range(3):
        again = post(client, xml)
        assert again.get_data(as_text=True) == "success"
    assert count(demo_session, Message) == messages and count(demo_session, Case) == cases


def test_opt_out_is_honoured(
    make_client: Callable[..., tuple[FlaskClient, Services]],
    demo_session: Session,
    fake_wechat: FakeWeChat,
) -> None:
    """退订 opts the follower out; a later notification on WeChat is suppressed, not sent."""
    client, _ = make_client()
    (reply,) = replies(post(client, text_xml("退订", "6000000000000000400")))
    assert "退订" in reply
    contact = demo_session.scalars(select(Contact)).one()
    assert contact.opted_out
    notice = Message(
        contact_id=contact.id,
        direction=Direction.OUTBOUND,
        channel=Channel.WECHAT,
        body="您的案件已办结。",
        status=MessageStatus.QUEUED,
    )
    demo_session.add(notice)
    demo_session.commit()
    assert delivery.deliver(notice.id) == "suppressed"
    assert fake_wechat.requests == []


# --- events ------------------------------------------------------------------------------


def test_subscribe_is_welcomed_once(client: FlaskClient, demo_session: Session) -> None:
    """Following the account: a welcome text; WeChat's retry of the event: nothing more."""
    (welcome,) = replies(post(client, event_xml("subscribe")))
    assert "欢迎关注" in welcome
    assert post(client, event_xml("subscribe")).get_data(as_text=True) == "success"
    assert [m.body for m in outbound(demo_session)] == [welcome]
    inbound = demo_session.scalars(select(Message).where(Message.direction == Direction.INBOUND))
    assert inbound.one().status is MessageStatus.PROCESSED


def test_unsubscribe_opts_out_silently_and_following_again_opts_in(
    client: FlaskClient, demo_session: Session
) -> None:
    """Leaving: recorded, opted out, no reply; following again later: opted in, welcomed."""
    replies(post(client, event_xml("subscribe", "1795312800")))
    assert replies(post(client, event_xml("unsubscribe", "1795312900"))) == []
    demo_session.rollback()
    assert demo_session.scalars(select(Contact)).one().opted_out
    assert replies(post(client, event_xml("subscribe", "1795313000")))
    demo_session.rollback()
    assert not demo_session.scalars(select(Contact)).one().opted_out
    assert count(demo_session, Message, Message.direction == Direction.INBOUND) == 3


def test_other_events_are_acknowledged_and_not_stored(
    client: FlaskClient, demo_session: Session
) -> None:
    """A menu click or a location report: `success`, nothing recorded."""
    for event in ["CLICK", "VIEW", "LOCATION", "TEMPLATESENDJOBFINISH"]:
        assert post(client, event_xml(event)).get_data(as_text=True) == "success"
    assert count(demo_session, Message) == 0


# --- other message types -----------------------------------------------------------------


def test_voice_with_recognition_goes_to_the_bot(client: FlaskClient, demo_session: Session) -> None:
    """WeChat's speech recognition text is what the bot reads; the voice is kept as media."""
    fields = (
        "<MediaId><![CDATA[media-voice-1]]></MediaId><Format><![CDATA[amr]]></Format>"
        "<Recognition><![CDATA[东门社区的路灯不亮了]]></Recognition>"
    )
    (reply,) = replies(post(client, media_xml("voice", "6000000000000000500", fields)))
    message = demo_session.scalars(select(Message).where(Message.direction == Direction.INBOUND))
    stored = message.one()
    assert stored.body == "东门社区的路灯不亮了" and stored.status is MessageStatus.PROCESSED
    assert stored.media == [{"content_type": "audio/amr", "media_id": "media-voice-1"}]
    assert reply == outbound(demo_session)[0].body


def test_an_image_is_kept_and_text_asked_for(client: FlaskClient, demo_session: Session) -> None:
    """A picture is attached to the conversation; the follower is asked to describe it."""
    fields = (
        "<PicUrl><![CDATA[http://mmbiz.qpic.cn/x.jpg]]></PicUrl>"
        "<MediaId><![CDATA[media-image-1]]></MediaId>"
    )
    (reply,) = replies(post(client, media_xml("image", "6000000000000000600", fields)))
    assert "图片" in reply
    stored = demo_session.scalars(select(Message).where(Message.direction == Direction.INBOUND))
    assert stored.one().media[0]["url"] == "http://mmbiz.qpic.cn/x.jpg"


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("voice", "<MediaId>m</MediaId><Format>amr</Format>"),  # no speech recognised
        ("video", "<MediaId>m</MediaId><ThumbMediaId>t</ThumbMediaId>"),
        ("link", "<Title>t</Title><Description>d</Description><Url>http://x.cn</Url>"),
        ("sticker", ""),
    ],
)
def test_other_messages_get_a_please_send_text(
    client: FlaskClient, demo_session: Session, kind: str, fields: str
) -> None:
    """Anything the bot cannot read is recorded and answered with a short request for text."""
    (reply,) = replies(post(client, media_xml(kind, "6000000000000000700", fields)))
    assert "文字" in reply
    assert count(demo_session, Message, Message.direction == Direction.INBOUND) == 1


def test_a_location_label_goes_to_the_bot(client: FlaskClient, demo_session: Session) -> None:
    """A shared location: the bot reads its label; the coordinates are kept."""
    fields = (
        "<Location_X>29.1</Location_X><Location_Y>119.6</Location_Y><Scale>15</Scale>"
        "<Label><![CDATA[城关镇东门社区]]></Label>"
    )
    assert replies(post(client, media_xml("location", "6000000000000000800", fields)))
    stored = demo_session.scalars(select(Message).where(Message.direction == Direction.INBOUND))
    message = stored.one()
    assert message.body == "城关镇东门社区" and message.media[0]["latitude"] == "29.1"


# --- the 5-second budget -----------------------------------------------------------------


class GatedInterpreter:
    """The real model, held back until the test opens the gate (a slow bot, deterministically)."""

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate

    def parse(self, text: str) -> dict[str, Any]:
        """Wait for the gate, then parse."""
        self.gate.wait(timeout=60)
        return project_model().parse(text)


def test_over_budget_acknowledges_then_sends_through_the_api(
    make_client: Callable[..., tuple[FlaskClient, Services]],
    demo_session: Session,
    fake_wechat: FakeWeChat,
) -> None:
    """A bot slower than the budget: `success` at once; its reply is queued when it finishes
    and the delivery job sends it with the customer-service API — exactly once."""
    client, services = make_client(wechat_reply_budget=0.05)
    gate = threading.Event()
    understanding.use_interpreter(GatedInterpreter(gate))
    response = post(client, text_xml("你好", "6000000000000000900"))
    assert response.get_data(as_text=True) == "success"
    gate.set()
    assert wechat.drain(timeout=60)
    (reply,) = outbound(demo_session)
    assert reply.status is MessageStatus.QUEUED and reply.sent_at is None
    queues = [get_queue(name, services.redis) for name in QUEUE_NAMES]
    SimpleWorker(queues, connection=services.redis).work(burst=True)
    assert fake_wechat.sent() == [
        {"touser": OPENID, "msgtype": "text", "text": {"content": reply.body}}
    ]
    (sent,) = outbound(demo_session)
    assert sent.status is MessageStatus.SENT and (sent.provider_id or "").startswith("cs:")
    assert post(client, text_xml("你好", "6000000000000000900")).get_data(as_text=True) == "success"
    assert len(fake_wechat.sent()) == 1


class FailingOnceInterpreter:
    """The real model, except that its first parse fails (a crash in the bot's first run)."""

    def __init__(self) -> None:
        self.failed = False

    def parse(self, text: str) -> dict[str, Any]:
        """Fail once, then parse."""
        if not self.failed:
            self.failed = True
            raise RuntimeError("bot crashed on purpose")
        return project_model().parse(text)


def test_a_retry_runs_a_message_whose_first_run_failed(
    client: FlaskClient, demo_session: Session
) -> None:
    """The bot fails: `success`, the message stays received; WeChat's retry gets the answer."""
    understanding.use_interpreter(FailingOnceInterpreter())
    xml = text_xml("你好", "6000000000000000950")
    assert replies(post(client, xml)) == []
    assert count(demo_session, Message, Message.status == MessageStatus.RECEIVED) == 1
    (reply,) = replies(post(client, xml))
    assert [m.body for m in outbound(demo_session)] == [reply]
    assert post(client, xml).get_data(as_text=True) == "success"
    assert count(demo_session, Message) == 2


def test_bad_wechat_settings_fail_at_start(tmp_path: Path) -> None:
    """A mistyped EncodingAESKey or a budget beyond WeChat's 5 seconds is refused by name."""
    with pytest.raises(ConfigurationError, match="ZHITONG_WECHAT_AES_KEY"):
        load_settings(instance_path=tmp_path, wechat_aes_key="too-short")
    with pytest.raises(ConfigurationError, match="ZHITONG_WECHAT_REPLY_BUDGET"):
        load_settings(instance_path=tmp_path, wechat_reply_budget=5)
    with pytest.raises(ConfigurationError, match="ZHITONG_WECHAT_API_BASE"):
        load_settings(instance_path=tmp_path, wechat_api_base="api.weixin.qq.com")


def test_exactly_one_side_delivers_the_replies() -> None:
    """The request and the bot's thread race; whoever comes second leaves the replies alone."""
    finished_first = wechat._Race()
    assert finished_first.finish() and not finished_first.give_up()
    gave_up_first = wechat._Race()
    assert gave_up_first.give_up() and not gave_up_first.finish()


def test_queueing_replies_never_takes_one_already_sent(
    make_client: Callable[..., tuple[FlaskClient, Services]], demo_session: Session
) -> None:
    """Only replies still marked sent-passively, without a provider id, are queued."""
    client, services = make_client()
    replies(post(client, text_xml("你好", "6000000000000001000")))
    (passive,) = outbound(demo_session)
    passive.provider_id = "cs:already"
    demo_session.commit()
    assert wechat.queue_replies(services, [passive.id]) == []
    passive.provider_id = None
    demo_session.commit()
    assert wechat.queue_replies(services, [passive.id]) == [passive.id]
    assert wechat.queue_replies(services, [passive.id]) == []


# --- hostile and broken input ------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"<xml><ToUserName>broken",
        b"not xml at all",
        "<xml><Content>路灯</Content></xml>".encode("gbk"),
        b"<xml></xml>",
        b"<xml><FromUserName>x</FromUserName></xml>",
        text_xml("hi", "1").replace("<CreateTime>", "<CreateTime>abc").encode(),
        text_xml("hi", "not-a-number").encode(),
        text_xml("hi", "1", openid="o" * 100).encode(),
        b"<xml><MsgType><a>1</a></MsgType><FromUserName>o1</FromUserName></xml>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml>&a;</xml>',
        b"<xml>" + b"<a>" * 70_000 + b"</xml>",
    ],
    ids=[
        "empty",
        "blank",
        "truncated",
        "not-xml",
        "gbk",
        "empty-xml",
        "no-msgtype",
        "bad-createtime",
        "bad-msgid",
        "long-openid",
        "nested-msgtype",
        "entities",
        "huge",
    ],
)
def test_broken_bodies_are_a_400(client: FlaskClient, demo_session: Session, body: bytes) -> None:
    """Empty, truncated, non-UTF-8, malformed, entity-laden or huge bodies: 400, nothing kept."""
    assert post(client, body).status_code == 400
    assert count(demo_session, Message) == 0


def test_a_huge_text_is_kept_cut_and_flagged(client: FlaskClient, demo_session: Session) -> None:
    """A text over 5,000 characters (but a plausible request) is stored cut and flagged."""
    response = post(client, text_xml("路灯坏了。" * 2000, "6000000000000001100"))
    assert response.status_code == 200
    stored = demo_session.scalars(select(Message).where(Message.direction == Direction.INBOUND))
    message = stored.one()
    assert len(message.body) == 5000 and message.error_message == "truncated"


def test_sender_and_ids_are_checked_before_anything_is_stored(
    client: FlaskClient, demo_session: Session
) -> None:
    """Text fields given as nested XML count as missing, never crash."""
    xml = text_xml("hi", "6000000000000001200").replace(f"<![CDATA[{OPENID}]]>", "<a>1</a><b>2</b>")
    assert post(client, xml).status_code == 400
    nested = text_xml("<x>1</x>", "6000000000000001201").replace("<![CDATA[<x>1</x>]]>", "<x>1</x>")
    assert post(client, nested).status_code == 200  # content unreadable: treated as empty text
