"""The Twilio voice hotline, driven as Twilio drives it: signed webhooks following the TwiML."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from bot.voice import spoken_case_number
from cases.clock import Clock
from cases.models import Call, CallTurn, Case, Contact, Message
from cases.models.messaging import AddressKind, CallStatus, Channel, Direction, MessageStatus
from cases.service import Intake, open_case
from cases.settings import load_settings
from tests.conftest import local
from tests.fixtures.nlu import project_model
from tests.fixtures.services import services_for
from webhooks import voice
from webhooks.app import create_app
from worker import understanding

TOKEN = "12345678901234567890123456789012"
PUBLIC = "https://12345.example.gov.cn"
RESIDENT = "+8613900123456"
HOTLINE = "+8657412345"
IN_HOURS = local(2026, 11, 23, 10, 0)  # a Monday
AFTER_HOURS = local(2026, 11, 23, 20, 0)
STREET_LIGHT = "城关镇东门社区门口的路灯坏了一个星期了，晚上一片漆黑"


@pytest.fixture
def client(  # type: ignore[no-untyped-def]
    demo_session: Session, engine: Engine, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FlaskClient]:
    """The app on the test database (demo county), Twilio token set, the clock at 10:00 Monday."""
    settings = load_settings(
        instance_path=tmp_path,
        secret_key="s",
        twilio_auth_token=TOKEN,
        twilio_account_sid="AC" + "3" * 32,
        twilio_from=HOTLINE,
        public_url=PUBLIC,
    )
    services = services_for(engine, settings)
    understanding.use_interpreter(project_model())
    understanding.forget_gazetteer()
    at(monkeypatch, IN_HOURS)
    yield create_app(settings, services).test_client()
    understanding.use_interpreter(None)
    understanding.forget_gazetteer()


def at(monkeypatch: pytest.MonkeyPatch, moment: dt.datetime) -> None:
    """Fix the hotline's clock (office hours, case numbers) at `moment`."""
    monkeypatch.setattr(voice, "now", lambda: moment.astimezone(dt.UTC))


def call_fields(sid: str, caller: str = RESIDENT, **extra: str) -> dict[str, str]:
    """The form fields Twilio posts on every voice webhook of an inbound call."""
    return {
        "AccountSid": "AC" + "3" * 32,
        "ApiVersion": "2010-04-01",
        "CallSid": sid,
        "CallStatus": "in-progress",
        "Called": HOTLINE,
        "Caller": caller,
        "Direction": "inbound",
        "From": caller,
        "FromCountry": "CN",
        "To": HOTLINE,
        **extra,
    }


def post(  # type: ignore[no-untyped-def]
    client: FlaskClient, url: str, fields: dict[str, str], signature: str | None = None
):
    """POST as Twilio does: form-encoded, signed over the full public URL with its query."""
    sig = (
        signature
        if signature is not None
        else RequestValidator(TOKEN).compute_signature(url, fields)
    )
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return client.post(
        path,
        data=urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": sig},
    )


class Caller:
    """A phone call: starts at /twilio/voice and follows each answer's <Gather> action."""

    def __init__(self, client: FlaskClient, sid: str, number: str = RESIDENT) -> None:
        self.client, self.sid, self.number = client, sid, number
        self.twiml = ""
        self.heard: list[str] = []

    def dial(self) -> ET.Element:
        """Twilio's first request of the call."""
        return self.send(f"{PUBLIC}/twilio/voice", {})

    def say(self, speech: str, confidence: str = "0.91") -> ET.Element:
        """Speak at the current <Gather>."""
        return self.send(self.action(), {"SpeechResult": speech, "Confidence": confidence})

    def press(self, digits: str) -> ET.Element:
        """Key digits at the current <Gather> (Twilio drops the finishing #)."""
        return self.send(self.action(), {"Digits": digits.rstrip("#")})

    def silence(self) -> ET.Element:
        """Say nothing until the <Gather> times out (actionOnEmptyResult posts anyway)."""
        return self.send(self.action(), {})

    def action(self) -> str:
        """The URL of the current <Gather> (or <Record>/<Enqueue>) action."""
        root = ET.fromstring(self.twiml)
        for element in root.iter():
            if element.get("action"):
                return str(element.get("action"))
        raise AssertionError(f"no action in {self.twiml}")

    def send(self, url: str, extra: dict[str, str]) -> ET.Element:
        """One webhook; remembers the TwiML and what the caller heard."""
        response = post(self.client, url, call_fields(self.sid, self.number, **extra))
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "application/xml"
        self.twiml = response.get_data(as_text=True)
        root = ET.fromstring(self.twiml)
        self.heard = [say.text or "" for say in root.iter("Say")]
        return root


def count(session: Session, model: type) -> int:
    """Rows of a model, as committed by the webhooks."""
    session.rollback()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def report_street_light(caller: Caller, session: Session) -> Case:
    """Tell the bot about a broken street light and answer its questions until a case opens."""
    caller.dial()
    answers = iter(["是", "东门社区", "1", "是的"])
    text = STREET_LIGHT
    for _ in range(5):
        caller.say(text)
        session.rollback()
        case = session.scalars(select(Case)).first()
        if case is not None:
            return case
        text = next(answers)
    raise AssertionError(f"no case opened; heard {caller.heard}")


def test_greeting_listens_for_mandarin_speech_and_keys(client: FlaskClient) -> None:
    """The call is answered with a speech+DTMF <Gather> in zh-CN, the greeting said inside."""
    root = Caller(client, "CA" + "0" * 32).dial()
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("input") == "speech dtmf" and gather.get("language") == "zh-CN"
    assert gather.get("action") == f"{PUBLIC}/twilio/voice/gather?turn=1"
    assert gather.get("actionOnEmptyResult") == "true"
    say = gather.find("Say")
    assert say is not None and say.get("language") == "zh-CN"
    assert "请直接说出" in (say.text or "") and "按0" in (say.text or "")


def test_missing_or_wrong_signature_is_refused(client: FlaskClient, demo_session: Session) -> None:
    """No signature, a forged one, or one over other fields: 403, nothing stored."""
    url = f"{PUBLIC}/twilio/voice"
    fields = call_fields("CA" + "1" * 32)
    assert post(client, url, fields, signature="").status_code == 403
    assert post(client, url, fields, signature="Zm9yZ2Vk").status_code == 403
    other = RequestValidator(TOKEN).compute_signature(url, {**fields, "From": "+8613800000000"})
    assert post(client, url, fields, signature=other).status_code == 403
    moved = RequestValidator(TOKEN).compute_signature(f"{url}/gather?turn=2", fields)
    assert post(client, f"{url}/gather?turn=1", fields, signature=moved).status_code == 403
    assert count(demo_session, Call) == 0


@pytest.mark.parametrize(
    "signed_url",
    [f"{PUBLIC}/twilio/voice", "https://12345.example.gov.cn:443/twilio/voice"],
)
def test_signatures_with_and_without_port_are_accepted(
    client: FlaskClient, signed_url: str
) -> None:
    """Twilio may sign the URL with :443; the SDK's validator accepts both forms."""
    fields = call_fields("CA" + "2" * 32)
    signature = RequestValidator(TOKEN).compute_signature(signed_url, fields)
    assert post(client, f"{PUBLIC}/twilio/voice", fields, signature=signature).status_code == 200


def test_a_whole_call_ends_in_a_spoken_case_number_and_an_sms_receipt(
    client: FlaskClient, demo_session: Session
) -> None:
    """Speech → bot → confirm → case, read back digit by digit, receipt queued by SMS once."""
    caller = Caller(client, "CA" + "3" * 32)
    case = report_street_light(caller, demo_session)
    assert case.item_code == "infra_streetlight" and case.channel is Channel.VOICE
    spoken = " ".join(caller.heard)
    assert spoken_case_number(case.number) in spoken  # 二零二六，幺幺二三，…
    assert case.number not in spoken and "回复" not in spoken
    assert "短信" in spoken
    sms = demo_session.scalars(select(Message).where(Message.channel == Channel.SMS)).one()
    assert sms.direction is Direction.OUTBOUND and sms.status is MessageStatus.QUEUED
    assert case.number in sms.body and sms.case_id == case.id
    contact = demo_session.get(Contact, sms.contact_id)
    assert contact is not None and contact.phone == RESIDENT and case.contact_id == contact.id
    call = demo_session.scalars(select(Call)).one()
    assert call.case_id == case.id and call.contact_id == contact.id and call.turn >= 1
    inbound = demo_session.scalars(
        select(Message).where(Message.direction == Direction.INBOUND)
    ).all()
    assert inbound[0].provider_id == f"{caller.sid}:1"
    assert all(m.channel is Channel.VOICE for m in inbound)
    caller.say("谢谢")  # another turn of the same call sends no second receipt
    assert count(demo_session, Case) == 1
    assert (
        demo_session.scalar(
            select(func.count()).select_from(Message).where(Message.channel == Channel.SMS)
        )
        == 1
    )


def test_a_retried_turn_gets_the_same_answer_and_changes_nothing(
    client: FlaskClient, demo_session: Session
) -> None:
    """The same CallSid and turn again: identical TwiML, no second message, case or SMS."""
    caller = Caller(client, "CA" + "4" * 32)
    case = report_street_light(caller, demo_session)
    last_url = caller.action()  # the next turn: first its retry of the previous one
    turn = int(last_url.rsplit("=", 1)[1]) - 1
    retried = f"{PUBLIC}/twilio/voice/gather?turn={turn}"
    first_answer = caller.twiml
    counts = (
        count(demo_session, Message),
        count(demo_session, Case),
        count(demo_session, CallTurn),
    )
    answer = caller.send(retried, {"SpeechResult": "是的", "Confidence": "0.9"})
    assert caller.twiml == first_answer and answer is not None
    assert (
        count(demo_session, Message),
        count(demo_session, Case),
        count(demo_session, CallTurn),
    ) == counts
    entry_again = post(client, f"{PUBLIC}/twilio/voice", call_fields(caller.sid))
    assert "请直接说出" in entry_again.get_data(as_text=True)
    assert count(demo_session, Call) == 1 and case.id is not None


def test_keypad_2_and_a_case_number_reads_back_its_status(
    client: FlaskClient, demo_session: Session, clock: Clock
) -> None:
    """1-2-… keyed with # : the status of the caller's own case, number spoken digit by digit."""
    contact = Contact(kind=AddressKind.PHONE, address=RESIDENT, phone=RESIDENT)
    demo_session.add(contact)
    demo_session.flush()
    case = open_case(
        demo_session,
        Intake("infra_streetlight", "路灯坏了", Channel.SMS, contact_id=contact.id),
        now=IN_HOURS - dt.timedelta(days=3),
        clock=clock,
    )
    demo_session.commit()
    caller = Caller(client, "CA" + "5" * 32)
    caller.dial()
    root = caller.press("2")
    gather = root.find("Gather")
    assert gather is not None and gather.get("finishOnKey") == "#"
    assert "/twilio/voice/case-number?turn=2" in (gather.get("action") or "")
    caller.press(case.number + "#")
    spoken = " ".join(caller.heard)
    assert spoken_case_number(case.number) in spoken
    assert "待受理" in spoken or "已受理" in spoken
    inbound = demo_session.scalars(
        select(Message).where(Message.direction == Direction.INBOUND)
    ).one()
    assert inbound.body == case.number and inbound.channel is Channel.VOICE


def test_a_wrong_case_number_is_asked_again(client: FlaskClient) -> None:
    """Keys that are no case number: asked again for the number, at the case-number step."""
    caller = Caller(client, "CA" + "6" * 32)
    caller.dial()
    caller.press("2")
    root = caller.press("12345#")
    gather = root.find("Gather")
    assert gather is not None and "case-number?turn=3" in (gather.get("action") or "")
    assert "没有识别到正确的案件号" in " ".join(caller.heard)


def test_zero_enqueues_for_agents_in_office_hours(
    client: FlaskClient, demo_session: Session
) -> None:
    """0 at any point in office hours: <Enqueue> into the configured agents' queue."""
    caller = Caller(client, "CA" + "7" * 32)
    caller.dial()
    root = caller.press("0")
    enqueue = root.find("Enqueue")
    assert enqueue is not None and enqueue.text == "zhitong-agents"
    assert (enqueue.get("action") or "").endswith("/twilio/voice/queue-result?turn=2")
    assert root.find("Record") is None
    demo_session.rollback()
    assert demo_session.scalars(select(Call)).one().status is CallStatus.AGENT_QUEUE
    full = caller.send(caller.action(), {"QueueResult": "queue-full"})
    assert full.find("Record") is not None  # nobody can take it: a voicemail instead


def test_zero_after_hours_records_a_voicemail(
    client: FlaskClient, demo_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0 after office hours: <Record> with transcription and both callbacks, no <Enqueue>."""
    at(monkeypatch, AFTER_HOURS)
    caller = Caller(client, "CA" + "8" * 32)
    caller.dial()
    root = caller.press("0")
    record = root.find("Record")
    assert root.find("Enqueue") is None and record is not None
    assert record.get("transcribe") == "true" and record.get("maxLength") == "120"
    assert record.get("transcribeCallback") == f"{PUBLIC}/twilio/voice/transcription"
    assert record.get("recordingStatusCallback") == f"{PUBLIC}/twilio/voice/recording"
    assert "下班时间" in " ".join(caller.heard)
    demo_session.rollback()
    assert demo_session.scalars(select(Call)).one().status is CallStatus.VOICEMAIL


def test_a_holiday_morning_is_not_office_hours(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """National Day at 10:00 is a holiday in the official calendar: voicemail, not the queue."""
    at(monkeypatch, local(2026, 10, 2, 10, 0))
    caller = Caller(client, "CA" + "9" * 32)
    caller.dial()
    assert caller.press("0").find("Record") is not None


def test_two_silences_are_reprompted_then_a_person_is_offered(
    client: FlaskClient, demo_session: Session
) -> None:
    """No input: re-prompted twice, then offered a person; silence again → the agents' queue."""
    caller = Caller(client, "CA" + "a" * 32)
    caller.dial()
    first = caller.silence()
    assert "没有听清" in " ".join(caller.heard) and first.find("Gather") is not None
    caller.silence()
    assert "没有听清" in " ".join(caller.heard)
    offer = caller.silence()
    assert "还是没有听清" in " ".join(caller.heard) and offer.find("Gather") is not None
    assert offer.find("Enqueue") is None
    person = caller.silence()
    assert person.find("Enqueue") is not None
    demo_session.rollback()
    assert demo_session.scalars(select(Call)).one().no_input == 4
    assert count(demo_session, Message) == 0  # silence is not a message


def test_an_unknown_key_counts_as_unusable_and_speech_resets_the_count(
    client: FlaskClient, demo_session: Session
) -> None:
    """7 at the menu is no option (re-prompted); then speaking resets the counter."""
    caller = Caller(client, "CA" + "b" * 32)
    caller.dial()
    caller.press("7")
    assert "没有这个选项" in " ".join(caller.heard)
    caller.say("你好")
    demo_session.rollback()
    assert demo_session.scalars(select(Call)).one().no_input == 0


def test_the_caller_who_says_tuiding_is_opted_out(
    client: FlaskClient, demo_session: Session
) -> None:
    """退订 by voice is honoured before anything else: the phone contact is opted out."""
    caller = Caller(client, "CA" + "c" * 32)
    caller.dial()
    caller.say("退订")
    assert "退订" in " ".join(caller.heard)
    demo_session.rollback()
    assert demo_session.scalars(select(Contact)).one().opted_out is True


def test_an_opted_out_caller_is_told_how_to_come_back(
    client: FlaskClient, demo_session: Session
) -> None:
    """A number that opted out by SMS is recognised on the hotline: no case, no SMS, a hint."""
    demo_session.add(
        Contact(kind=AddressKind.PHONE, address=RESIDENT, phone=RESIDENT, opted_out=True)
    )
    demo_session.commit()
    caller = Caller(client, "CA" + "d" * 32)
    caller.dial()
    caller.say(STREET_LIGHT)
    assert "订阅" in " ".join(caller.heard)
    assert count(demo_session, Case) == 0
    assert demo_session.scalars(select(Message).where(Message.channel == Channel.SMS)).all() == []


def voicemail_fields(sid: str, recording: str, **extra: str) -> dict[str, str]:
    """The fields of Twilio's Record action and its recording/transcription callbacks."""
    return call_fields(
        sid,
        RecordingSid=recording,
        RecordingUrl=f"https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/{recording}",
        RecordingDuration="14",
        **extra,
    )


def test_a_voicemail_becomes_one_review_case_whatever_the_callbacks(
    client: FlaskClient, demo_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Record action, recording callback and a transcription sent twice: one case, reviewed."""
    at(monkeypatch, AFTER_HOURS)
    caller = Caller(client, "CA" + "e" * 32)
    caller.dial()
    caller.press("0")
    recording = "RE" + "1" * 32
    root = caller.send(caller.action(), voicemail_fields(caller.sid, recording))
    assert root.find("Hangup") is not None and "留言已收到" in " ".join(caller.heard)
    status = voicemail_fields(caller.sid, recording, RecordingStatus="completed")
    assert post(client, f"{PUBLIC}/twilio/voice/recording", status).status_code == 204
    text = "东门社区桥上的护栏断了，很危险"
    transcribed = voicemail_fields(
        caller.sid, recording, TranscriptionStatus="completed", TranscriptionText=text
    )
    for _ in range(2):
        response = post(client, f"{PUBLIC}/twilio/voice/transcription", transcribed)
        assert response.status_code == 204
    assert count(demo_session, Case) == 1
    case = demo_session.scalars(select(Case)).one()
    assert case.needs_review and case.channel is Channel.VOICE and case.description == text
    message = demo_session.scalars(select(Message).where(Message.provider_id == recording)).one()
    assert message.case_id == case.id and message.body == text
    assert message.media[0]["url"].endswith(recording)
    assert message.status is MessageStatus.PROCESSED  # no bot turn on a voicemail
    call = demo_session.scalars(select(Call)).one()
    assert call.recording_sid == recording and call.case_id == case.id


def test_a_transcription_alone_opens_the_case(client: FlaskClient, demo_session: Session) -> None:
    """The transcription callback without any earlier request still opens one review case."""
    recording = "RE" + "2" * 32
    fields = voicemail_fields(
        "CA" + "f" * 32, recording, TranscriptionStatus="completed", TranscriptionText="路灯不亮"
    )
    for _ in range(2):
        assert post(client, f"{PUBLIC}/twilio/voice/transcription", fields).status_code == 204
    assert count(demo_session, Case) == 1
    assert demo_session.scalars(select(Case)).one().needs_review


def test_a_failed_transcription_keeps_the_recording_for_a_person(
    client: FlaskClient, demo_session: Session
) -> None:
    """Transcription failed (Mandarin is not transcribed by Twilio): the case says to listen."""
    recording = "RE" + "3" * 32
    sid = "CA" + "1" * 31 + "f"
    post(client, f"{PUBLIC}/twilio/voice/recording", voicemail_fields(sid, recording))
    failed = voicemail_fields(sid, recording, TranscriptionStatus="failed", TranscriptionText="")
    post(client, f"{PUBLIC}/twilio/voice/transcription", failed)
    case = demo_session.scalars(select(Case)).one()
    assert "请收听录音" in case.description and "转写失败" in case.description


def test_an_empty_recording_opens_no_case(client: FlaskClient, demo_session: Session) -> None:
    """The caller hung up before speaking: goodbye, no case."""
    fields = call_fields("CA" + "2" * 31 + "f", RecordingDuration="0")
    response = post(client, f"{PUBLIC}/twilio/voice/voicemail?turn=3", fields)
    assert response.status_code == 200 and "<Hangup" in response.get_data(as_text=True)
    assert count(demo_session, Case) == 0


def test_call_status_callback_records_the_end(client: FlaskClient, demo_session: Session) -> None:
    """completed / busy / no-answer are recorded with the duration; twice is harmless."""
    caller = Caller(client, "CA" + "3" * 31 + "f")
    caller.dial()
    ended = call_fields(caller.sid, CallStatus="completed", CallDuration="95")
    for _ in range(2):
        assert post(client, f"{PUBLIC}/twilio/voice/status", ended).status_code == 204
    busy = call_fields("CA" + "4" * 31 + "f", CallStatus="busy")
    assert post(client, f"{PUBLIC}/twilio/voice/status", busy).status_code == 204
    demo_session.rollback()
    calls = {c.call_sid: c for c in demo_session.scalars(select(Call))}
    assert calls[caller.sid].status is CallStatus.COMPLETED
    assert calls[caller.sid].duration_seconds == 95 and calls[caller.sid].ended_at is not None
    assert calls["CA" + "4" * 31 + "f"].status is CallStatus.BUSY


def test_huge_and_hostile_speech_never_fails(client: FlaskClient, demo_session: Session) -> None:
    """100,000 characters of speech with NUL, controls and emoji: 200, stored cut, spoken back."""
    caller = Caller(client, "CA" + "5" * 31 + "f")
    caller.dial()
    speech = ("路灯\x00\x07坏了 <Say>&amp; ＡＢＣ😀 " * 7000)[:100_000]
    root = caller.say(speech)
    assert root.find("Gather") is not None
    message = demo_session.scalars(
        select(Message).where(Message.direction == Direction.INBOUND)
    ).one()
    assert len(message.body) <= 5000 and "\x00" not in message.body
    turn = demo_session.scalars(select(CallTurn).where(CallTurn.turn == 1)).one()
    assert len(turn.speech) <= 1000


@pytest.mark.parametrize(
    ("url", "fields", "status"),
    [
        (f"{PUBLIC}/twilio/voice", {"From": RESIDENT}, 400),  # no CallSid
        (f"{PUBLIC}/twilio/voice/gather", call_fields("CA" + "6" * 32), 400),  # no turn
        (f"{PUBLIC}/twilio/voice/gather?turn=x", call_fields("CA" + "6" * 32), 400),
        (f"{PUBLIC}/twilio/voice/gather?turn=99999", call_fields("CA" + "6" * 32), 400),
        (f"{PUBLIC}/twilio/voice", call_fields("CA" + "6" * 32, caller="anonymous"), 200),
    ],
)
def test_bad_requests_get_a_clear_answer(
    client: FlaskClient, url: str, fields: dict[str, str], status: int
) -> None:
    """Missing CallSid or turn: 400; an anonymous caller is still answered."""
    assert post(client, url, fields).status_code == status


def test_an_anonymous_caller_can_report_without_an_sms(
    client: FlaskClient, demo_session: Session
) -> None:
    """A withheld number still reaches the bot (one contact per call); no SMS can be sent."""
    caller = Caller(client, "CA" + "7" * 31 + "f", number="anonymous")
    caller.dial()
    caller.say(STREET_LIGHT)
    contact = demo_session.scalars(select(Contact)).one()
    assert contact.address == f"call:{caller.sid}" and contact.phone is None
    assert count(demo_session, Message) >= 2


def test_a_failing_bot_loses_nothing_and_keeps_the_caller_talking(
    client: FlaskClient, demo_session: Session
) -> None:
    """If understanding fails: the words stay recorded for recovery, the caller hears an apology."""

    class Broken:
        def parse(self, text: str) -> dict[str, object]:
            raise RuntimeError("model exploded")

    understanding.use_interpreter(Broken())
    caller = Caller(client, "CA" + "8" * 31 + "f")
    caller.dial()
    root = caller.say("路灯坏了")
    assert root.find("Gather") is not None and "系统暂时无法处理" in " ".join(caller.heard)
    message = demo_session.scalars(select(Message)).one()
    assert message.status is MessageStatus.RECEIVED and message.attempts == 1
