"""The Twilio SMS/WhatsApp webhook, with requests signed by the Twilio SDK's own validator."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from rq import SimpleWorker
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from bot.texts import sms_segments
from cases.clock import Clock
from cases.lifecycle import ActionContext, Actor, perform
from cases.models import Case, Contact, Department, Message
from cases.models.cases import ActorType
from cases.models.messaging import Channel, Direction, MessageStatus
from cases.settings import load_settings
from tests.fixtures.nlu import project_model
from tests.fixtures.services import services_for
from webhooks.app import create_app
from webhooks.sms import twiml
from worker import runtime, understanding
from worker.long_messages import SMS_SEGMENTS_PER_PART
from worker.queue import get_queue

TOKEN = "12345678901234567890123456789012"
PUBLIC = "https://12345.example.gov.cn"
URL = f"{PUBLIC}/twilio/sms"
RESIDENT = "+8613900123456"


@pytest.fixture
def client(demo_session: Session, engine: Engine, tmp_path) -> Iterator[FlaskClient]:  # type: ignore[no-untyped-def]
    """The app on the test database (demo county), Twilio token set, real intent model."""
    settings = load_settings(
        instance_path=tmp_path,
        secret_key="s",
        twilio_auth_token=TOKEN,
        twilio_account_sid="AC" + "3" * 32,
        twilio_from="+8612345",
        public_url=PUBLIC,
    )
    services = services_for(engine, settings)
    understanding.use_interpreter(project_model())
    understanding.forget_gazetteer()
    yield create_app(settings, services).test_client()
    understanding.use_interpreter(None)
    understanding.forget_gazetteer()


def form(body: str, sid: str, sender: str = RESIDENT) -> dict[str, str]:
    """The form fields Twilio posts for an inbound message."""
    return {
        "AccountSid": "AC" + "3" * 32,
        "MessageSid": sid,
        "SmsSid": sid,
        "From": sender,
        "To": "+8612345",
        "Body": body,
        "NumMedia": "0",
    }


def post(client: FlaskClient, fields: dict[str, str], url: str = URL, signature: str | None = None):  # type: ignore[no-untyped-def]
    """POST as Twilio does: form-encoded, signed over the public URL."""
    sig = (
        signature
        if signature is not None
        else RequestValidator(TOKEN).compute_signature(url, fields)
    )
    return client.post(
        "/twilio/sms",
        data=urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": sig},
    )


def replies(response) -> list[str]:  # type: ignore[no-untyped-def]
    """The <Message> texts of a TwiML answer."""
    return re.findall(r"<Message>(.*?)</Message>", response.get_data(as_text=True), re.S)


def count(session: Session, model: type) -> int:
    """Rows of a model."""
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_missing_or_wrong_signature_is_refused(client: FlaskClient, demo_session: Session) -> None:
    """No signature, a forged one, or one for other fields: 403 and nothing stored."""
    fields = form("路灯坏了", "SM0001")
    assert post(client, fields, signature="").status_code == 403
    assert post(client, fields, signature="Zm9yZ2Vk").status_code == 403
    other = RequestValidator(TOKEN).compute_signature(URL, {**fields, "Body": "别的"})
    assert post(client, fields, signature=other).status_code == 403
    assert count(demo_session, Message) == 0


def test_signature_over_the_public_url_with_port_is_accepted(client: FlaskClient) -> None:
    """Twilio sometimes signs the URL with :443; the SDK's validator accepts both forms."""
    fields = form("你好", "SM0002")
    signature = RequestValidator(TOKEN).compute_signature(
        "https://12345.example.gov.cn:443/twilio/sms", fields
    )
    assert post(client, fields, signature=signature).status_code == 200


def test_a_whole_conversation_ends_in_a_case_number(
    client: FlaskClient, demo_session: Session
) -> None:
    """A resident reports a broken street light and, answering the bot, gets a receipt."""
    answers = iter(["是", "东门社区", "1", "是的"])
    text = "城关镇东门社区门口的路灯坏了一个星期了，晚上一片漆黑"
    received: list[str] = []
    for turn in range(5):
        response = post(client, form(text, f"SM10{turn}"))
        assert response.status_code == 200
        received += replies(response)
        demo_session.expire_all()
        case = demo_session.scalars(select(Case)).first()
        if case is not None:
            break
        text = next(answers)
    assert case is not None, received
    assert case.item_code == "infra_streetlight"
    assert case.number in received[-1] or case.number in "".join(received)
    contact = demo_session.scalars(select(Contact)).one()
    assert contact.phone == RESIDENT and case.contact_id == contact.id


def test_the_receipt_names_the_unit_the_case_was_routed_to(
    client: FlaskClient, demo_session: Session
) -> None:
    """The receipt says where the case really went (the routing's unit), not the catalog's
    guess. Before, a street light in 城关镇 was "已转城关镇便民服务中心" while routing sent it to
    the town's urban-management squad."""
    response = post(client, form("城关镇东门社区门口的路灯坏了，晚上一片漆黑", "SM1900"))
    demo_session.expire_all()
    case = demo_session.scalars(select(Case)).one()
    unit = demo_session.get(Department, case.department_id)
    assert unit is not None
    (receipt,) = [text for text in replies(response) if case.number in text]
    assert f"已转{unit.name}办理" in receipt


def test_an_english_receipt_names_the_routed_unit_too(
    client: FlaskClient, demo_session: Session
) -> None:
    """In English the routed unit is named by its English name, else its Chinese one; before,
    a town unit without an English name was replaced by the catalog's county bureau."""
    response = post(client, form("The street light in Dongmen community is broken", "SM1901"))
    demo_session.expire_all()
    case = demo_session.scalars(select(Case)).one()
    unit = demo_session.get(Department, case.department_id)
    assert unit is not None
    (receipt,) = [text for text in replies(response) if case.number in text]
    assert f"passed to {unit.name_en or unit.name}," in receipt


def test_a_resident_writing_english_gets_english_notifications(
    client: FlaskClient, demo_session: Session
) -> None:
    """The contact's language follows what the resident writes, so later notifications (which
    speak the contact's language) are in English too. Before, only the conversation switched
    and the acceptance notice, result and survey came in Chinese."""
    post(client, form("The street light outside Dongmen community is broken", "SM1950"))
    demo_session.expire_all()
    contact = demo_session.scalars(select(Contact)).one()
    assert contact.language == "en"
    demo_session.rollback()  # the test's read ends before the app writes (SQLite)
    post(client, form("路灯还是不亮", "SM1951"))
    demo_session.expire_all()
    assert demo_session.scalars(select(Contact)).one().language == "zh"


def test_a_retried_webhook_changes_nothing(client: FlaskClient, demo_session: Session) -> None:
    """The same MessageSid again: empty TwiML, no second reply, case or message."""
    fields = form("东门社区的路灯不亮了", "SM2000")
    first = post(client, fields)
    assert replies(first)
    messages = count(demo_session, Message)
    cases = count(demo_session, Case)
    again = post(client, fields)
    assert again.status_code == 200 and replies(again) == []
    assert count(demo_session, Message) == messages and count(demo_session, Case) == cases


def test_whatsapp_messages_take_the_same_path(client: FlaskClient, demo_session: Session) -> None:
    """From: whatsapp:+86… is recorded on the WhatsApp channel with the phone number."""
    response = post(client, form("你好", "SM3000", sender=f"whatsapp:{RESIDENT}"))
    assert response.status_code == 200 and replies(response)
    inbound = demo_session.scalars(
        select(Message).where(Message.direction == Direction.INBOUND)
    ).one()
    assert inbound.channel is Channel.WHATSAPP


def test_opt_out_is_honoured(client: FlaskClient, demo_session: Session) -> None:
    """退订 marks the address opted out."""
    post(client, form("退订", "SM4000"))
    demo_session.expire_all()
    assert demo_session.scalars(select(Contact)).one().opted_out is True


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"Body": "hi"}, 400),  # no From, no MessageSid
        ({"From": RESIDENT, "Body": "hi"}, 400),  # no MessageSid
        ({"From": RESIDENT, "MessageSid": "SM5000", "Body": ""}, 200),  # empty body is a message
        (
            {"From": "not-a-number", "MessageSid": "SM5001", "Body": "hi"},
            200,
        ),  # kept, masked in logs
    ],
)
def test_bad_input_gets_a_clear_answer(
    client: FlaskClient, fields: dict[str, str], status: int
) -> None:
    """Missing fields are a 400; odd but valid messages are answered."""
    assert post(client, fields).status_code == status


def test_huge_and_odd_bodies_never_fail(client: FlaskClient, demo_session: Session) -> None:
    """10,000 characters with control characters and mixed scripts: 200, stored."""
    body = ("路灯\x00\x07坏了 الشارع ＡＢＣ😀" * 700)[:10_000]
    assert post(client, form(body, "SM6000")).status_code == 200
    assert count(demo_session, Message) >= 1


def test_non_utf8_body_is_not_a_500(client: FlaskClient) -> None:
    """A body that is not UTF-8 is refused or read, never a server error."""
    raw = b"From=%2B8613900123456&MessageSid=SM7000&Body=%B7%BE%B5%C6"  # GBK bytes
    response = client.post(
        "/twilio/sms",
        data=raw,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": "x"},
    )
    assert response.status_code in {400, 403}


def test_delivery_status_callback_updates_the_message(
    client: FlaskClient, demo_session: Session
) -> None:
    """Twilio's status callback moves an outbound message to delivered (or failed with code)."""
    contact = Contact(kind="phone", address=RESIDENT, phone=RESIDENT)  # type: ignore[arg-type]
    demo_session.add(contact)
    demo_session.flush()
    demo_session.add(
        Message(
            contact_id=contact.id,
            direction=Direction.OUTBOUND,
            channel=Channel.SMS,
            body="x",
            provider_id="SMout1",
            status=MessageStatus.SENT,
        )
    )
    demo_session.commit()
    fields = {"MessageSid": "SMout1", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}/twilio/sms/status", fields)
    response = client.post(
        "/twilio/sms/status", data=fields, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 204
    demo_session.expire_all()
    message = demo_session.scalars(select(Message)).one()
    assert message.status is MessageStatus.UNDELIVERED and message.error_code == "30003"


def test_a_failing_bot_loses_nothing(client: FlaskClient, demo_session: Session) -> None:
    """If understanding fails, Twilio gets 200 and the message waits, recorded, for recovery."""

    class Broken:
        def parse(self, text: str) -> dict[str, object]:
            raise RuntimeError("model exploded")

    understanding.use_interpreter(Broken())  # type: ignore[arg-type]
    response = post(client, form("路灯坏了", "SM8000"))
    assert response.status_code == 200 and replies(response) == []
    demo_session.expire_all()
    message = demo_session.scalars(select(Message)).one()
    assert message.status is MessageStatus.RECEIVED and message.attempts == 1


def test_a_place_sent_right_after_an_urgent_receipt_goes_to_that_case(
    client: FlaskClient, demo_session: Session
) -> None:
    """水管爆了 opens an urgent case without a place; 和平镇 next gives it its place and unit."""
    from cases.models import Area, CaseEvent, Department

    first = post(client, form("水管爆了，到处是水", "SM9000"))
    assert first.status_code == 200 and "【紧急】" in "".join(replies(first))
    demo_session.expire_all()
    case = demo_session.scalars(select(Case)).one()
    assert case.area_id is None and case.urgent
    demo_session.rollback()  # end the read, so that the next one sees the webhook's commit
    second = post(client, form("和平镇", "SM9001"))
    assert second.status_code == 200
    [answer] = replies(second)
    assert answer.startswith("已补充地点：和平镇") and case.number in answer
    demo_session.expire_all()
    assert count(demo_session, Case) == 1
    case = demo_session.scalars(select(Case)).one()
    town = demo_session.scalars(select(Area).where(Area.name == "和平镇")).one()
    assert (case.area_id, case.town_id) == (town.id, town.id)
    unit = demo_session.get(Department, case.department_id)
    assert unit is not None and unit.area_id == town.id  # routed to the town, not the desk
    notes = demo_session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "note")
    ).all()
    assert [note.note for note in notes] == ["群众补充地点：和平镇"]


def test_a_long_reply_is_sent_as_several_messages_cut_at_sentences() -> None:
    """TwiML carries a reply over five segments as several <Message>s, each ending a sentence."""
    sentence = "您咨询的事项需要带身份证、户口簿和近期照片，到镇便民服务中心窗口办理。"
    reply = sentence * 12
    body = twiml(["好的。", reply]).get_data(as_text=True)
    messages = re.findall(r"<Message>(.*?)</Message>", body)
    assert messages[0] == "好的。" and len(messages) > 2
    assert all(part.endswith("。") for part in messages[1:])
    assert all(sms_segments(part) <= SMS_SEGMENTS_PER_PART for part in messages)
    assert "".join(messages[1:]) == reply


@pytest.mark.parametrize("trusted", [0, 1])
def test_forwarded_headers_are_believed_only_from_a_trusted_proxy(
    demo_session: Session,
    engine: Engine,
    tmp_path,
    trusted: int,  # type: ignore[no-untyped-def]
) -> None:
    """Behind nginx without ZHITONG_PUBLIC_URL, the signed public URL comes from X-Forwarded-*."""
    settings = load_settings(
        instance_path=tmp_path, secret_key="s", twilio_auth_token=TOKEN, trusted_proxies=trusted
    )
    client = create_app(settings, services_for(engine, settings)).test_client()
    fields = form("路灯坏了", "SMproxy0001")
    signature = RequestValidator(TOKEN).compute_signature(URL, fields)
    response = client.post(
        "/twilio/sms",
        data=urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        base_url="http://10.0.0.5:8080",
        headers={
            "X-Twilio-Signature": signature,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "12345.example.gov.cn",
            "X-Forwarded-For": "203.0.113.9",
        },
    )
    assert response.status_code == (200 if trusted else 403)


def test_queued_mode_answers_at_once_and_a_worker_replies(
    demo_session: Session,
    engine: Engine,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    """ZHITONG_SMS_REPLY_MODE=queued: empty TwiML after the commit; the high queue's job runs the
    bot and queues its replies for delivery; a retried webhook adds no second job or reply."""
    settings = load_settings(
        instance_path=tmp_path,
        secret_key="s",
        twilio_auth_token=TOKEN,
        public_url=PUBLIC,
        sms_reply_mode="queued",
    )
    services = services_for(engine, settings)
    client = create_app(settings, services).test_client()
    understanding.use_interpreter(project_model())
    runtime.install(services)
    try:
        fields = form("东澳镇渔港村码头的路灯坏了三盏，晚上很黑", "SMqueued0001")
        assert replies(post(client, fields)) == []
        assert replies(post(client, fields)) == []  # Twilio's retry
        high = get_queue("high", services.redis)
        high_id = f"inbound-{demo_session.scalar(select(Message.id))}"
        assert high.job_ids == [high_id]
        demo_session.expire_all()
        assert demo_session.scalar(select(Message.status)) is MessageStatus.RECEIVED
        SimpleWorker([high], connection=services.redis).work(burst=True, logging_level="WARNING")
        demo_session.commit()  # a new snapshot: SQLite readers see what was committed before
        outbound = demo_session.scalars(
            select(Message).where(Message.direction == Direction.OUTBOUND)
        ).all()
        assert outbound and all(m.status is MessageStatus.QUEUED for m in outbound)
        assert any(re.search(r"\d{12}", m.body) for m in outbound)  # the receipt's case number
        assert count(demo_session, Case) == 1
        jobs = get_queue("default", services.redis).job_ids
        deliveries = [job for job in jobs if job.startswith("deliver-")]
        assert sorted(deliveries) == sorted(f"deliver-{m.id}" for m in outbound)  # each once
    finally:
        runtime.install(None)  # type: ignore[arg-type]
        understanding.use_interpreter(None)


def test_progress_by_case_number_tells_the_latest_visible_news(
    client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """Texting a case number answers its status and the latest news the resident may see
    (not an internal note), across several of the resident's cases."""
    for index, text in enumerate(["城关镇东门社区门口的路灯坏了", "东门社区垃圾好几天没人收了"]):
        post(client, form(text, f"SMprog{index}"))
    demo_session.expire_all()
    cases = demo_session.scalars(select(Case).order_by(Case.id)).all()
    assert len(cases) == 2, [c.summary for c in cases]
    first = cases[0]
    agent = Actor(ActorType.AGENT, None, "测试")
    now = dt.datetime.now(dt.UTC)
    demo_session.add(perform(first, "message", agent, ActionContext(now, clock), note="已派人查看"))
    demo_session.add(perform(first, "note", agent, ActionContext(now, clock), note="内部备注"))
    demo_session.commit()
    answer = "".join(replies(post(client, form(first.number, "SMprog9"))))
    assert first.number in answer and "已派人查看" in answer and "内部备注" not in answer


def test_an_application_merged_into_anothers_is_followed_as_ones_own(
    client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """Two 低保 applications merged: the merged applicant, told to follow the surviving number,
    gets its status, while a stranger still gets nothing. Before, the survivor answered the
    merged applicant "他人办理的个人事项" — a dead end."""
    for index, sender in enumerate((RESIDENT, "+8613900123457")):
        post(client, form("我想申请低保，帮我代办", f"SMmerge{index}", sender))
        post(client, form("张三，东门社区", f"SMmerge{index}b", sender))
    demo_session.expire_all()
    mine, survivor = demo_session.scalars(select(Case).order_by(Case.id)).all()
    assert mine.kind.value == survivor.kind.value == "service"
    now = dt.datetime.now(dt.UTC)
    data = {"duplicate_of_id": survivor.id, "duplicate_of": survivor.number}
    agent = Actor(ActorType.AGENT, None, "测试")
    demo_session.add(perform(mine, "merge", agent, ActionContext(now, clock, data), note="同户"))
    demo_session.commit()
    answer = "".join(replies(post(client, form(survivor.number, "SMmerge9"))))
    assert "他人办理" not in answer and survivor.number in answer
    stranger = "".join(replies(post(client, form(survivor.number, "SMmerge8", "+8613900123458"))))
    assert "他人办理" in stranger
