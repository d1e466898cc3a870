"""The WeChat sender: wechatpy's real client against a loopback fake of WeChat's API."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cases.models import Case, Department, Message
from cases.models.cases import CaseKind, CaseStatus, HandlingKind
from cases.models.messaging import AddressKind, Channel, MessageStatus
from cases.settings import Settings, load_settings
from intents.catalog import catalog
from tests.fixtures.fake_wechat import APP_ID, APP_SECRET, FakeWeChat, running_fake_wechat
from tests.fixtures.messages import queued_outbound, stored_message
from tests.fixtures.services import services_for
from worker import delivery, runtime
from worker.runtime import Services
from worker.senders import LocalSender, Outbound, SendError, WeChatSender, make_sender
from worker.wechat_template import TemplateNotice, fit

OPENID = "oAbCdEfGhIjKlMnOpQrStUvWxYz0"
NOW = dt.datetime(2026, 11, 22, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def fake_wechat() -> Iterator[FakeWeChat]:
    """A recording WeChat API on loopback."""
    with running_fake_wechat() as fake:
        yield fake


def wechat_settings(tmp_path: Path, base: str, **extra: object) -> Settings:
    """Settings with an official account pointed at `base`."""
    return load_settings(
        instance_path=tmp_path,
        wechat_token="tok",
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wechat_api_base=base,
        **extra,
    )


@pytest.fixture
def settings(tmp_path: Path, fake_wechat: FakeWeChat) -> Settings:
    """Settings with the official account pointed at the fake."""
    return wechat_settings(tmp_path, fake_wechat.base_url)


def test_sends_a_customer_service_text_with_a_cached_token(
    settings: Settings, fake_wechat: FakeWeChat
) -> None:
    """Two messages: one token fetch, two CS sends in WeChat's JSON shape to the openid."""
    sender = WeChatSender(settings)
    first = sender.send(Outbound(OPENID, "您的诉求已受理", Channel.WECHAT))
    sender.send(Outbound(OPENID, "已办结", Channel.WECHAT))
    assert first.status == "sent" and first.provider_id.startswith("cs:")
    assert fake_wechat.sent() == [
        {"touser": OPENID, "msgtype": "text", "text": {"content": "您的诉求已受理"}},
        {"touser": OPENID, "msgtype": "text", "text": {"content": "已办结"}},
    ]
    assert fake_wechat.token_fetches() == 1


def test_token_is_shared_through_redis(
    settings: Settings, fake_wechat: FakeWeChat, redis_url: str
) -> None:
    """Two processes' senders on one Redis fetch the access token once between them."""
    connection = Redis.from_url(redis_url)
    WeChatSender(settings, connection).send(Outbound(OPENID, "一", Channel.WECHAT))
    WeChatSender(settings, connection).send(Outbound(OPENID, "二", Channel.WECHAT))
    assert fake_wechat.token_fetches() == 1 and len(fake_wechat.sent()) == 2
    assert connection.get(f"zhitong:wechat:{APP_ID}_access_token") is not None
    connection.close()


def test_a_stale_token_is_refetched_and_the_message_sent_once(
    settings: Settings, fake_wechat: FakeWeChat
) -> None:
    """After WeChat invalidates the token (42001), wechatpy fetches a new one and retries."""
    sender = WeChatSender(settings)
    sender.send(Outbound(OPENID, "一", Channel.WECHAT))
    fake_wechat.expire_tokens()
    sender.send(Outbound(OPENID, "二", Channel.WECHAT))
    assert [m["text"]["content"] for m in fake_wechat.sent()] == ["一", "二"]
    assert fake_wechat.token_fetches() == 2


@pytest.mark.parametrize(
    ("errcode", "http", "transient"),
    [
        (-1, None, True),  # system busy
        (45009, None, True),  # API rate limit
        (40001, None, True),  # credential still refused after a refetch
        (43004, None, False),  # follower has unsubscribed
        (45015, None, False),  # outside the 48-hour window
        (45047, None, False),  # too many CS messages without an answer
        (40003, None, False),  # invalid openid
        (None, 502, True),
        (None, 503, True),
        (None, 404, False),
    ],
)
def test_wechat_errors_are_transient_or_permanent(
    settings: Settings,
    fake_wechat: FakeWeChat,
    errcode: int | None,
    http: int | None,
    transient: bool,
) -> None:
    """Each failure becomes a SendError with WeChat's errcode (or the HTTP status)."""
    fake_wechat.fail_next(errcode, http=http, times=2)  # 40001 gets wechatpy's one refetch
    with pytest.raises(SendError) as raised:
        WeChatSender(settings).send(Outbound(OPENID, "hi", Channel.WECHAT))
    assert raised.value.transient is transient
    assert raised.value.code == str(errcode if errcode is not None else http)


def test_an_unreachable_api_is_a_transient_network_error(tmp_path: Path) -> None:
    """Nothing listening on the API base: a transient error coded `network`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = wechat_settings(tmp_path, f"http://127.0.0.1:{port}")
    with pytest.raises(SendError) as raised:
        WeChatSender(settings).send(Outbound(OPENID, "hi", Channel.WECHAT))
    assert raised.value.transient and raised.value.code == "network"


def test_a_wrong_app_secret_is_permanent(tmp_path: Path, fake_wechat: FakeWeChat) -> None:
    """The token endpoint refuses the credentials (40125): no point in retrying."""
    settings = load_settings(
        instance_path=tmp_path,
        wechat_app_id=APP_ID,
        wechat_app_secret="wrong",
        wechat_api_base=fake_wechat.base_url,
    )
    with pytest.raises(SendError) as raised:
        WeChatSender(settings).send(Outbound(OPENID, "hi", Channel.WECHAT))
    assert not raised.value.transient and raised.value.code == "40125"
    assert fake_wechat.sent() == []


def test_make_sender_picks_by_channel(tmp_path: Path, settings: Settings) -> None:
    """WeChat messages go through WeChat when an account is configured, else stay local."""
    assert isinstance(make_sender(settings, Channel.WECHAT), WeChatSender)
    assert isinstance(make_sender(settings, Channel.SMS), LocalSender)  # no Twilio account
    plain = load_settings(instance_path=tmp_path)
    assert isinstance(make_sender(plain, Channel.WECHAT), LocalSender)


# --- the delivery job on WeChat ----------------------------------------------------------


@pytest.fixture
def services(engine: Engine, settings: Settings) -> Iterator[Services]:
    """Runtime services on the test database; WeChat's sender made from the settings."""
    built = services_for(engine, settings)
    runtime.install(built)
    delivery.use_sender(None, Channel.WECHAT)
    yield built
    delivery.use_sender(None, Channel.WECHAT)


def queued_wechat_message(session: Session, body: str, *, opted_out: bool = False) -> int:
    """Commit one queued outbound WeChat message to a follower (who gave a phone number too)."""
    return queued_outbound(
        session,
        kind=AddressKind.WECHAT,
        address=OPENID,
        phone="+8613800138000",
        channel=Channel.WECHAT,
        body=body,
        created_at=NOW,
        opted_out=opted_out,
    )


stored = stored_message


def test_delivery_sends_wechat_messages_to_the_openid(
    services: Services, session: Session, fake_wechat: FakeWeChat
) -> None:
    """A queued WeChat notification goes to the openid (not the phone), once."""
    message_id = queued_wechat_message(session, "您反映的路灯问题已修复。")
    assert delivery.deliver(message_id) == "sent"
    assert delivery.deliver(message_id) == "sent"
    assert fake_wechat.sent() == [
        {"touser": OPENID, "msgtype": "text", "text": {"content": "您反映的路灯问题已修复。"}}
    ]
    assert (stored(services, message_id).provider_id or "").startswith("cs:")


def test_delivery_never_messages_an_opted_out_follower(
    services: Services, session: Session, fake_wechat: FakeWeChat
) -> None:
    """A follower who sent 退订 gets nothing through the API."""
    message_id = queued_wechat_message(session, "通知", opted_out=True)
    assert delivery.deliver(message_id) == "suppressed"
    assert fake_wechat.requests == []


def test_delivery_parks_a_message_outside_the_48_hour_window(
    services: Services, session: Session, fake_wechat: FakeWeChat
) -> None:
    """45015 is permanent: the message is failed with WeChat's code, not retried."""
    message_id = queued_wechat_message(session, "通知")
    fake_wechat.fail_next(45015)
    assert delivery.deliver(message_id) == "failed"
    message = stored(services, message_id)
    assert message.error_code == "45015" and message.attempts == 1


def test_outside_the_48_hour_window_the_follower_is_reached_by_sms(
    services: Services, session: Session, fake_wechat: FakeWeChat
) -> None:
    """A follower who gave a phone number gets the notification by SMS instead, once."""
    message_id = queued_wechat_message(session, "您反映的路灯问题已修复。")
    fake_wechat.fail_next(45015)
    assert delivery.deliver(message_id) == "failed"
    assert delivery.deliver(message_id) == "failed"  # a retried job adds no second copy
    with services.sessions() as check:
        copies = check.scalars(
            select(Message).where(Message.id != message_id, Message.channel == Channel.SMS)
        ).all()
    assert [(m.body, m.status) for m in copies] == [
        ("您反映的路灯问题已修复。", MessageStatus.QUEUED)
    ]


def test_delivery_splits_a_long_wechat_text_at_sentences(
    services: Services, session: Session, fake_wechat: FakeWeChat
) -> None:
    """A text over WeChat's 2,048 bytes becomes parts that each fit, cut after a sentence."""
    sentence = "您反映的问题已转交城关镇处理，请耐心等待回复。"
    message_id = queued_wechat_message(session, sentence * 40)
    assert delivery.deliver(message_id) == "sent"
    with services.sessions() as check:
        parts = check.scalars(select(Message.id).where(Message.id != message_id)).all()
    for part in parts:
        delivery.deliver(part)
    texts = [m["text"]["content"] for m in fake_wechat.sent()]
    assert len(texts) >= 2
    assert all(len(text.encode("utf-8")) <= 2048 for text in texts)
    assert all(text.split("(")[0].endswith("。") for text in texts)


# --- template messages outside the 48-hour window ---------------------------------------------

TEMPLATE_ID = "tplProgress0123456789"
NOTICE = TemplateNotice(
    TEMPLATE_ID,
    (("character_string1", "ZT-202611230017"), ("thing2", "路灯维修"), ("phrase3", "已办结")),
)


def test_outside_the_window_a_template_message_goes_instead(
    settings: Settings, fake_wechat: FakeWeChat
) -> None:
    """45015 on the text: the template message is sent, in WeChat's shape, and counts as sent."""
    fake_wechat.fail_next(45015)
    result = WeChatSender(settings).send(
        Outbound(OPENID, "您反映的路灯问题已办结。", Channel.WECHAT, template=NOTICE)
    )
    assert result.status == "sent" and result.provider_id.startswith("tpl:")
    assert fake_wechat.templates() == [
        {
            "touser": OPENID,
            "template_id": TEMPLATE_ID,
            "data": {
                "character_string1": {"value": "ZT-202611230017"},
                "thing2": {"value": "路灯维修"},
                "phrase3": {"value": "已办结"},
            },
        }
    ]
    assert fake_wechat.sent() == []  # the text itself was refused


@pytest.mark.parametrize(
    ("errcode", "transient", "code"),
    [(40037, False, "45015"), (43101, False, "45015"), (-1, True, "-1"), (45009, True, "45009")],
)
def test_a_refused_template_is_still_the_closed_window(
    settings: Settings, fake_wechat: FakeWeChat, errcode: int, transient: bool, code: str
) -> None:
    """A bad template id or a follower who refused templates is reported as 45015 (so the SMS
    fallback applies), with the template's errcode in the message; busy is retried."""
    fake_wechat.fail_next(45015)
    fake_wechat.fail_next(errcode)
    with pytest.raises(SendError) as caught:
        WeChatSender(settings).send(Outbound(OPENID, "通知", Channel.WECHAT, template=NOTICE))
    assert (caught.value.transient, caught.value.code) == (transient, code)
    if not transient:
        assert str(errcode) in str(caught.value)


def test_inside_the_window_no_template_is_sent(settings: Settings, fake_wechat: FakeWeChat) -> None:
    """A follower who wrote lately gets the text, never the template."""
    WeChatSender(settings).send(Outbound(OPENID, "通知", Channel.WECHAT, template=NOTICE))
    assert len(fake_wechat.sent()) == 1 and fake_wechat.templates() == []


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("phrase3", "待补办材料", "待补办材料"),
        ("phrase3", "重新办理中心", "重新办理…"),
        (
            "thing2",
            "您反映的东门社区路口路灯问题已经修好了请评价",
            "您反映的东门社区路口路灯问题已经修好了…",
        ),
        ("thing2", "一行\n两行", "一行 两行"),
        ("character_string1", "ZT-202611230017", "ZT-202611230017"),
        ("time4", "2026-11-23 10:05", "2026-11-23 10:05"),
        ("keyword1", "x" * 25, "x" * 19 + "…"),
    ],
)
def test_values_are_cut_to_what_the_field_shows(field: str, value: str, expected: str) -> None:
    """Each line shows at most 20 characters (a phrase 5, a character string 32); a cut value
    ends with an ellipsis; dates are never cut."""
    assert fit(field, value) == expected


@pytest.fixture
def template_services(
    engine: Engine, tmp_path: Path, fake_wechat: FakeWeChat
) -> Iterator[Services]:
    """Runtime services with a template configured."""
    configured = wechat_settings(
        tmp_path,
        fake_wechat.base_url,
        wechat_template_id=TEMPLATE_ID,
        wechat_template_fields="character_string1=case_number, thing2=item, phrase3=status,"
        " time4=time, thing5=notice",
        case_number_prefix="ZT",
    )
    built = services_for(engine, configured)
    runtime.install(built)
    delivery.use_sender(None, Channel.WECHAT)
    yield built
    delivery.use_sender(None, Channel.WECHAT)


def test_delivery_fills_the_template_from_the_case(
    template_services: Services, demo_session: Session, fake_wechat: FakeWeChat
) -> None:
    """A case notice to a follower the window closed on arrives as the county's template, filled
    from the case; no SMS copy is made."""
    notice = "您反映的路灯问题已办结：已更换灯泡。请回复1-5评价。"
    message_id = queued_wechat_message(demo_session, notice)
    department = demo_session.scalars(select(Department).order_by(Department.id)).first()
    assert department is not None
    case = Case(
        number="202611230017",
        item_code="infra_streetlight",
        category_code="urban_rural",
        kind=CaseKind.CONCERN,
        handling=HandlingKind.PROMISED,
        channel=Channel.WECHAT,
        status=CaseStatus.RESOLVED,
        summary="路灯坏了",
        department_id=department.id,
        received_at=NOW,
        created_at=NOW,
        updated_at=NOW,
    )
    demo_session.add(case)
    demo_session.flush()
    message = demo_session.get(Message, message_id)
    assert message is not None
    message.case_id = case.id
    demo_session.commit()

    fake_wechat.fail_next(45015)
    assert delivery.deliver(message_id) == "sent"
    (sent,) = fake_wechat.templates()
    item = catalog().item("infra_streetlight").zh
    assert (
        sent["data"]
        == {
            "character_string1": {"value": "ZT202611230017"},
            "thing2": {"value": fit("thing2", item)},
            "phrase3": {"value": "已办结"},
            "time4": {"value": "2026-11-22 10:00"},  # the message's time, in the county's zone
            "thing5": {"value": notice[:19] + "…"},
        }
    )
    assert (stored(template_services, message_id).provider_id or "").startswith("tpl:")
    with template_services.sessions() as check:
        assert check.scalars(select(Message).where(Message.channel == Channel.SMS)).all() == []
