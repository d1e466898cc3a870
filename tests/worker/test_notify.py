"""Resident notifications: each visible event told once per resident, quiet hours, catch-up."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.texts import fits_sms
from cases.lifecycle import BOT, SYSTEM, ActionContext, Actor, perform
from cases.models import Case, Contact, Conversation, Message
from cases.models.cases import ActorType, CaseStatus
from cases.models.messaging import AddressKind, Channel, Direction, MessageStatus
from cases.settings import load_settings
from tests.fixtures.fake_twilio import running_fake_twilio
from tests.fixtures.services import services_for
from tests.worker.test_breach import NOW, add_case, install_services, queued_jobs, shanghai, stored
from worker import delivery, notify, runtime
from worker.notify import catch_up, in_quiet_hours, notify_event, release_held
from worker.queue import get_queue
from worker.runtime import Services
from worker.senders import TwilioSender

PHONE = "+8613900011999"
AGENT = Actor(ActorType.AGENT, 1, "陈建平")


@pytest.fixture
def services(engine: Engine, tmp_path: Path) -> Iterator[Services]:
    """Jobs on the test database with a private in-memory Redis."""
    redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    yield install_services(engine, redis, load_settings(instance_path=tmp_path))


def resident(session: Session, phone: str = PHONE, **values: object) -> Contact:
    """A resident reached by SMS."""
    contact = Contact(kind=AddressKind.PHONE, address=phone, phone=phone, **values)
    session.add(contact)
    session.commit()
    return contact


def act(
    session: Session, case: Case, action: str, at: dt.datetime, note: str = "", **data: object
) -> int:
    """Perform an action as an agent, commit, and return the event id."""
    clock = runtime.current().clock
    event = perform(case, action, AGENT, ActionContext(at, clock, dict(data)), note=note)
    session.add(event)
    session.commit()
    return event.id


def messages(services: Services, *where: object) -> list[Message]:
    """Outbound messages as committed now."""
    return stored(services, Message, Message.direction == Direction.OUTBOUND, *where)  # type: ignore[arg-type]


def street_light(
    session: Session,
    number: str,
    contact: Contact,
    status: CaseStatus = CaseStatus.ACCEPTED,
    **values: object,
) -> Case:
    """A resident's street-light case, handled by 城关's urban-management team, due in 3 days."""
    return add_case(
        session,
        "chengguan.urban",
        number=number,
        due_at=NOW + 72 * dt.timedelta(hours=1),
        status=status,
        contact_id=contact.id,
        **values,
    )


@pytest.fixture
def case(demo_session: Session, services: Services) -> Case:
    """An accepted streetlight case of 林阿姨, handled by the town's urban-management team."""
    return street_light(demo_session, "202611230017", resident(demo_session, name="林阿姨"))


def test_a_visible_event_is_queued_and_notified_once(
    demo_session: Session, services: Services, case: Case
) -> None:
    """The commit queues one notify_events job; running it twice stores one SMS and sends it
    once, in the same run (no delivery job)."""
    event_id = act(demo_session, case, "dispatch", NOW)
    assert ("worker.notify.notify_events", ([event_id],)) in queued_jobs(services.redis)
    first, second = notify_event(event_id, NOW), notify_event(event_id, NOW)
    assert (first.messages, second.messages) == (1, 0)
    assert (first.sent, second.sent) == (1, 0)
    (message,) = messages(services)
    assert message.status is MessageStatus.SENT and message.channel is Channel.SMS
    assert message.event_id == event_id and message.purpose == "" and message.attempts == 1
    assert message.body == "【直通】您的事项（编号202611230017）已交办城关城市管理中队办理。"
    assert not [name for name, _ in queued_jobs(services.redis) if "deliver" in name]


def test_invisible_events_and_rollbacks_queue_nothing(
    demo_session: Session, services: Services, case: Case
) -> None:
    """An internal note is not news for the resident; a rolled-back event is not either."""
    act(demo_session, case, "note", NOW, note="内部备注")
    clock = runtime.current().clock
    demo_session.add(perform(case, "dispatch", AGENT, ActionContext(NOW, clock)))
    demo_session.flush()
    demo_session.rollback()
    assert queued_jobs(services.redis) == []


def test_resolve_tells_the_result_and_asks_for_a_rating_in_english(
    demo_session: Session, services: Services, case: Case
) -> None:
    """办结: the result text, then the five-level survey, in the contact's language."""
    contact = demo_session.get(Contact, case.contact_id)
    assert contact is not None
    contact.language = "en"
    demo_session.commit()
    event_id = act(demo_session, case, "resolve", NOW, note="The lamp was replaced.")
    notify_event(event_id, NOW)
    notify_event(event_id, NOW)
    result, survey = messages(services)
    assert result.body == "[Zhitong] Your case 202611230017 is done: The lamp was replaced."
    assert survey.purpose == "survey" and "1 very satisfied" in survey.body
    assert "5 very dissatisfied" in survey.body


def test_a_long_result_is_cut_to_two_segments(
    demo_session: Session, services: Services, case: Case
) -> None:
    """An agent's long result text ends in "…" so the SMS stays within two segments."""
    event_id = act(demo_session, case, "resolve", NOW, note="已派维修人员到现场更换灯具。" * 20)
    notify_event(event_id, NOW)
    result = messages(services, Message.purpose == "")[0]
    assert fits_sms(result.body) and result.body.endswith("…")
    assert result.body.startswith("【直通】您的事项（编号202611230017）已办结：已派维修人员")


@pytest.mark.parametrize(
    ("local", "quiet"),
    [((21, 59), False), ((22, 0), True), ((3, 0), True), ((6, 59), True), ((7, 0), False)],
)
def test_quiet_hours_span_midnight(services: Services, local: tuple[int, int], quiet: bool) -> None:
    """22:00 up to 07:00 local is quiet."""
    moment = shanghai(2026, 11, 23, *local).astimezone(dt.UTC)
    assert in_quiet_hours(moment, services.settings) is quiet


def test_quiet_hours_hold_until_seven(
    demo_session: Session, services: Services, case: Case
) -> None:
    """At 23:00 the notification is held; released at 07:00, not at 06:59, and then delivered."""
    night = shanghai(2026, 11, 23, 23, 0)
    event_id = act(demo_session, case, "dispatch", night)
    assert notify_event(event_id, night).held == 1
    assert messages(services)[0].status is MessageStatus.HELD
    assert not [name for name, _ in queued_jobs(services.redis) if "deliver" in name]

    assert release_held(shanghai(2026, 11, 24, 6, 59)) == 0
    assert release_held(shanghai(2026, 11, 24, 7, 0)) == 1
    assert release_held(shanghai(2026, 11, 24, 7, 5)) == 0
    (message,) = messages(services)
    assert message.status is MessageStatus.QUEUED
    assert ("worker.delivery.deliver", (message.id,)) in queued_jobs(services.redis)


def test_urgent_cases_and_web_chat_are_never_held(
    demo_session: Session, services: Services, case: Case
) -> None:
    """An urgent case's news goes out at night; a web chat notice waits for the page, unsent."""
    night = shanghai(2026, 11, 23, 23, 30)
    case.urgent = True
    demo_session.commit()
    notify_event(act(demo_session, case, "dispatch", night), night)
    assert messages(services)[0].status is MessageStatus.SENT

    web = Contact(kind=AddressKind.WEB, address="web:abc")
    demo_session.add(web)
    demo_session.flush()
    talk = Conversation(contact_id=web.id, channel=Channel.WEB, state={})
    demo_session.add(talk)
    demo_session.flush()
    other = street_light(demo_session, "202611230018", web, conversation_id=talk.id)
    before = len(queued_jobs(services.redis))
    notify_event(act(demo_session, other, "dispatch", night), night)
    (chat,) = messages(services, Message.contact_id == web.id)
    assert chat.channel is Channel.WEB and chat.status is MessageStatus.QUEUED
    assert len(queued_jobs(services.redis)) == before + 1  # only the notify job, no delivery
    assert delivery.deliver(chat.id) == "queued"  # the chat page fetches it, nobody sends it


def test_opted_out_residents_are_never_messaged(
    demo_session: Session, services: Services, case: Case
) -> None:
    """An opted-out resident's notification is stored suppressed and no delivery is queued."""
    contact = demo_session.get(Contact, case.contact_id)
    assert contact is not None
    contact.opted_out = True
    demo_session.commit()
    result = notify_event(act(demo_session, case, "dispatch", NOW), NOW)
    assert (result.suppressed, result.queued_ids) == (1, [])
    assert messages(services)[0].status is MessageStatus.SUPPRESSED


def test_merged_case_residents_get_the_survivors_updates(
    demo_session: Session, services: Services, case: Case
) -> None:
    """The merged resident hears the survivor's number, then the survivor's later news."""
    other = resident(demo_session, "+8613900022888")
    duplicate = street_light(demo_session, "202611230020", other)
    merge = act(
        demo_session,
        duplicate,
        "merge",
        NOW,
        duplicate_of_id=case.id,
        duplicate_of=case.number,
    )
    notify_event(merge, NOW)
    (told,) = messages(services, Message.contact_id == other.id)
    assert "202611230017" in told.body and told.case_id == duplicate.id

    resolved = act(demo_session, case, "resolve", NOW, note="路灯已修好。")
    notify_event(resolved, NOW)
    to_other = messages(services, Message.event_id == resolved, Message.contact_id == other.id)
    to_owner = messages(services, Message.event_id == resolved, Message.contact_id != other.id)
    assert [m.purpose for m in to_other] == [""]  # the result, no survey: not theirs to rate
    assert sorted(m.purpose for m in to_owner) == ["", "survey"]
    assert "路灯已修好" in to_other[0].body


def test_the_merge_reason_is_told(demo_session: Session, services: Services, case: Case) -> None:
    """The merge form says its 理由 is told to the resident: it is, after the survivor's number."""
    other = resident(demo_session, "+8613900022877")
    duplicate = street_light(demo_session, "202611230021", other)
    merge = act(
        demo_session,
        duplicate,
        "merge",
        NOW,
        note="同一盏路灯，已派电工",
        duplicate_of_id=case.id,
        duplicate_of=case.number,
    )
    notify_event(merge, NOW)
    (told,) = messages(services, Message.contact_id == other.id)
    assert told.body.endswith("说明：同一盏路灯，已派电工") and case.number in told.body


def test_residents_follow_a_chain_of_merges(
    demo_session: Session, services: Services, case: Case
) -> None:
    """A merged into B, then B merged into the fixture's case: A's resident hears the end case's
    news too. Before, only cases merged straight into a case were followed."""
    first = resident(demo_session, "+8613900022881")
    second = resident(demo_session, "+8613900022882")
    older = street_light(demo_session, "202611230031", first)
    middle = street_light(demo_session, "202611230032", second)
    act(demo_session, older, "merge", NOW, duplicate_of_id=middle.id, duplicate_of=middle.number)
    merge = act(
        demo_session, middle, "merge", NOW, duplicate_of_id=case.id, duplicate_of=case.number
    )
    notify_event(merge, NOW)
    told = {m.contact_id: m.body for m in messages(services, Message.event_id == merge)}
    assert set(told) == {second.id, first.id}  # the chain's residents hear the end case
    assert all(case.number in body for body in told.values())

    resolved = act(demo_session, case, "resolve", NOW, note="路灯已修好。")
    notify_event(resolved, NOW)
    reached = {m.contact_id for m in messages(services, Message.event_id == resolved)}
    assert {case.contact_id, first.id, second.id} <= reached


def test_the_bots_own_acts_are_not_notified(demo_session: Session, services: Services) -> None:
    """A case the bot opened and accepted at once: its receipt said so, so no 已受理 SMS follows
    (QA saw two messages per report), and the catch-up does not pick the event up either."""
    contact = resident(demo_session, "+8613900022899")
    fresh = street_light(demo_session, "202611230041", contact, CaseStatus.NEW)
    clock = runtime.current().clock
    event = perform(fresh, "accept", BOT, ActionContext(NOW, clock))
    demo_session.add(event)
    demo_session.commit()
    assert event.visible_to_resident
    assert notify_event(event.id, NOW).messages == 0
    assert catch_up(NOW + dt.timedelta(hours=1)) == 0
    assert messages(services, Message.contact_id == contact.id) == []


def test_the_resident_who_acted_is_not_told_again(
    demo_session: Session, services: Services, case: Case
) -> None:
    """A reopen by the resident's own rating is answered by the bot, not by a notification."""
    act(demo_session, case, "resolve", NOW, note="已修好")
    clock = runtime.current().clock
    me = Actor(ActorType.RESIDENT, case.contact_id, "林阿姨")
    event = perform(case, "reopen", me, ActionContext(NOW, clock, {"score": 3}))
    demo_session.add(event)
    demo_session.commit()
    assert notify_event(event.id, NOW).messages == 0


def test_catch_up_finds_an_event_whose_job_was_lost(
    demo_session: Session, services: Services, case: Case
) -> None:
    """Redis down at the commit: the periodic catch-up notifies the event, once."""
    runtime.install(None)  # type: ignore[arg-type]  # no queue at commit time
    event_id = act(demo_session, case, "dispatch", NOW)
    runtime.install(services)
    assert queued_jobs(services.redis) == []
    assert catch_up(NOW + dt.timedelta(minutes=1)) == 0  # too new: its job may still run
    assert catch_up(NOW + dt.timedelta(minutes=5)) == 1
    assert catch_up(NOW + dt.timedelta(minutes=10)) == 0
    assert catch_up(NOW + dt.timedelta(days=30)) == 0  # older than the window
    (message,) = messages(services)
    assert message.event_id == event_id


def test_unreachable_queue_at_commit_loses_nothing(
    demo_session: Session, services: Services, case: Case
) -> None:
    """The hook logs and goes on when Redis is down; the event stays for the catch-up."""
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    runtime.install(services_for(services.engine, services.settings))
    runtime.current().redis = dead
    act(demo_session, case, "dispatch", NOW)
    runtime.install(services)
    assert catch_up(NOW + dt.timedelta(minutes=5)) == 1


def test_system_events_flow_end_to_end_on_real_redis(
    engine: Engine, demo_session: Session, tmp_path: Path, redis_url: str
) -> None:
    """Real Redis and RQ: the notify job, then the delivery job, reach the fake Twilio once."""
    with running_fake_twilio() as fake:
        settings = load_settings(
            instance_path=tmp_path,
            twilio_account_sid="AC" + "2" * 32,
            twilio_auth_token="token",
            twilio_from="+8610690000",
            twilio_api_base=fake.base_url,
            quiet_hours_start="00:00",  # no quiet hours: the test runs at any time of day
            quiet_hours_end="00:00",
        )
        connection = Redis.from_url(redis_url)
        built = install_services(engine, connection, settings)
        delivery.use_sender(TwilioSender(settings))
        try:
            contact = resident(demo_session)
            case = street_light(demo_session, "202611230017", contact, CaseStatus.NEW)
            clock = built.clock
            day = dt.datetime.now(dt.UTC).astimezone(settings.zone).replace(hour=10)
            for action in ("accept", "dispatch"):
                demo_session.add(perform(case, action, SYSTEM, ActionContext(day, clock)))
                demo_session.commit()
            queues = [get_queue("default", connection)]
            for _ in range(2):  # a second pass finds nothing new to send
                SimpleWorker(queues, connection=connection).work(burst=True)
            notify.notify_event(case.events[-1].id)  # a duplicate run changes nothing
            SimpleWorker(queues, connection=connection).work(burst=True)
        finally:
            delivery.use_sender(None)
        sent = fake.sent()
        assert len(sent) == 2 and {r["form"]["To"] for r in sent} == {PHONE}
        assert {m.status for m in messages(built)} == {MessageStatus.SENT}
        bodies = sorted(r["form"]["Body"] for r in sent)
        assert any("已受理" in body for body in bodies) and any("已交办" in body for body in bodies)
