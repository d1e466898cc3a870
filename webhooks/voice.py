"""Twilio voice webhooks: the Mandarin hotline, speech first, the keypad as fallback.

`POST /twilio/voice` answers a call: a greeting inside a `<Gather input="speech dtmf">` in the
configured language (ZHITONG_VOICE_LANGUAGE), so the caller can simply say what is wrong — the
national hotline standard discourages deep menus. Keys: 1 report, 2 progress (key the case
number ending with #), 0 a person at any point. Each later step is one webhook under
`/twilio/voice/…` carrying its turn number in the URL (`?turn=N`, covered by the signature).

A turn of speech (or keys answering the bot's question) becomes an inbound message on the voice
channel with provider id ``CallSid:turn``, committed before anything else, and runs the same
bot as every channel (`worker.shell.handle_message`); its replies are spoken (`bot.voice`)
inside the next `<Gather>`. A case opened during the call is read back digit by digit and its
receipt is also sent by SMS, once per case. Two re-prompts after no or unusable input, then a
person is offered: the agents' queue in office hours (`<Enqueue>`), a voicemail otherwise
(`<Record>` with transcription) that becomes a case for review, once per recording.

Every call (`Call`, unique CallSid) and turn (`CallTurn`, unique per call and turn) is stored
with an atomic insert; a retried webhook for a turn already answered gets the same TwiML again
and changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, abort, request, url_for
from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from bot.case_numbers import display_case_number, parse_case_number
from bot.dialogue import DialogueState, Stage
from bot.masking import mask_phone
from bot.voice import prompt, speakable
from cases.clock import Clock
from cases.db import insert_for, session_scope
from cases.exceptions import NotFoundError
from cases.lifecycle import BOT
from cases.models import Call, CallTurn, Case, CaseEvent, Contact, Conversation, Message
from cases.models.messaging import CallStatus, Channel, Direction, MessageStatus
from cases.service import Intake, open_case
from intents.catalog import catalog
from webhooks.extensions import services
from webhooks.sms import e164, require_twilio_signature
from worker.delivery import enqueue_delivery
from worker.inbound import Inbound, record_inbound, storable
from worker.runtime import Services
from worker.shell import handle_or_count
from worker.understanding import interpreter

log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__)

MAX_TURNS = 60  # a call longer than this is ended politely; nobody is served by turn 61
MAX_STORED_SPEECH = 1000
REPROMPTS = 2  # re-prompts after no or unusable input; the next time a person is offered
KEY_REPORT, KEY_PROGRESS, KEY_PERSON = "1", "2", "0"
# Where the keypad menu applies: the bot is not waiting for an answer (its questions take
# 1/2 and choice numbers as answers, which pass to it as text).
MENU_STAGES = frozenset({Stage.IDLE, Stage.AFTER_RECEIPT})
RECORDING_MAX_SECONDS = 120
# Twilio's final call statuses, mapped onto ours (ringing/in-progress leave the call as it is).
FINAL_STATUS = {
    "completed": CallStatus.COMPLETED,
    "busy": CallStatus.BUSY,
    "no-answer": CallStatus.NO_ANSWER,
    "failed": CallStatus.FAILED,
    "canceled": CallStatus.CANCELED,
}
QUEUE_FAILED = frozenset({"queue-full", "error", "system-error"})
# `Message.purpose` of the SMS receipt of a case opened on the hotline (one per case).
RECEIPT_PURPOSE = "receipt"


def now() -> dt.datetime:
    """The current time, aware UTC (tests replace it to fix office hours)."""
    return dt.datetime.now(dt.UTC)


@dataclass
class Turn:
    """One claimed webhook of a call: who, which turn, what was said or keyed."""

    call_id: int
    call_sid: str
    number: int
    caller: str
    phone: str | None
    speech: str
    digits: str
    moment: dt.datetime
    fresh: bool  # first time this turn is seen (counters move only then)
    stored: str  # the TwiML already given for this turn, "" when none yet
    no_input: int = 0
    conversation_id: int | None = None
    message_id: int | None = None
    language: str = "zh"


@bp.post("/twilio/voice")
def entry() -> Response:
    """A call comes in: greet, and listen for speech or a key."""
    turn = begin_turn("greeting", number=0)
    if turn.stored:
        return _xml(turn.stored)
    response = VoiceResponse()
    _listen(response, turn, [prompt("greeting", turn.language)])
    return finish_turn(turn, response)


@bp.post("/twilio/voice/gather")
def gather() -> Response:
    """What the caller said or keyed at the main prompt."""
    turn = begin_turn("gather")
    if turn.stored:
        return _xml(turn.stored)
    if turn.number > MAX_TURNS:
        return finish_turn(turn, _goodbye(turn, "call_too_long"))
    stage = _stage(turn)
    if turn.digits == KEY_PERSON:
        return finish_turn(turn, _person(turn))
    if not turn.speech and not turn.digits:
        return finish_turn(turn, _unusable(turn, "no_input", gather_step))
    if turn.digits and not turn.speech and stage in MENU_STAGES:
        if turn.digits == KEY_REPORT:
            _reset_no_input(turn)
            response = VoiceResponse()
            _listen(response, turn, [prompt("report_prompt", turn.language)])
            return finish_turn(turn, response)
        if turn.digits == KEY_PROGRESS:
            _reset_no_input(turn)
            return finish_turn(turn, _ask_case_number(turn, "case_number_prompt"))
        return finish_turn(turn, _unusable(turn, "invalid_key", gather_step))
    return finish_turn(turn, _converse(turn, turn.speech or turn.digits))


@bp.post("/twilio/voice/case-number")
def case_number() -> Response:
    """The case number keyed (ending with #) or spoken after pressing 2."""
    turn = begin_turn("case_number")
    if turn.stored:
        return _xml(turn.stored)
    if turn.digits == KEY_PERSON:
        return finish_turn(turn, _person(turn))
    number = parse_case_number(turn.digits or turn.speech)
    if number is None:
        return finish_turn(turn, _unusable(turn, "case_number_again", case_number_step))
    return finish_turn(turn, _converse(turn, number))


@bp.post("/twilio/voice/queue-result")
def queue_result() -> Response:
    """The caller left the agents' queue: hung up, was answered, or the queue failed."""
    turn = begin_turn("queue_result")
    if turn.stored:
        return _xml(turn.stored)
    if request.form.get("QueueResult", "") in QUEUE_FAILED:
        return finish_turn(turn, _record(turn, "agents_busy"), status=CallStatus.VOICEMAIL)
    response = VoiceResponse()
    response.hangup()
    return finish_turn(turn, response)


@bp.post("/twilio/voice/voicemail")
def voicemail() -> Response:
    """The voicemail's <Record> ended: keep it (a case for review) and say goodbye."""
    turn = begin_turn("voicemail")
    if turn.stored:
        return _xml(turn.stored)
    saved = save_voicemail_from_request(transcript=None)
    return finish_turn(turn, _goodbye(turn, "voicemail_thanks" if saved else "voicemail_empty"))


@bp.post("/twilio/voice/recording")
def recording() -> tuple[str, int]:
    """Twilio's recording status callback: keep the voicemail even if no action came."""
    require_twilio_signature()
    if request.form.get("RecordingStatus", "completed") == "completed":
        save_voicemail_from_request(transcript=None)
    return "", 204


@bp.post("/twilio/voice/transcription")
def transcription() -> tuple[str, int]:
    """Twilio's transcription callback: the voicemail's text, added to its case."""
    require_twilio_signature()
    status = request.form.get("TranscriptionStatus", "")
    text = request.form.get("TranscriptionText", "") if status == "completed" else ""
    save_voicemail_from_request(transcript=text.strip(), failed=status == "failed")
    return "", 204


@bp.post("/twilio/voice/status")
def call_status() -> tuple[str, int]:
    """Twilio's call status callback: completed, busy, no-answer, failed, canceled."""
    require_twilio_signature()
    sid, caller = _call_identity()
    state = FINAL_STATUS.get(request.form.get("CallStatus", "").strip().lower())
    if state is None:
        return "", 204
    moment = now()
    with session_scope(services().sessions) as session:
        call = _upsert_call(session, sid, caller, moment)
        call.status = state
        call.ended_at = call.ended_at or moment
        duration = request.form.get("CallDuration", "")
        if duration.isdigit() and len(duration) < 9:
            call.duration_seconds = int(duration)
    return "", 204


# --- turns: claim, answer, remember -----------------------------------------------------------


def begin_turn(step: str, number: int | None = None) -> Turn:
    """Check the signature, store the call and claim this turn (atomically, once).

    Returns:
        The turn; `stored` holds the TwiML already given when this is a retried webhook.
    """
    require_twilio_signature()
    sid, caller = _call_identity()
    turn_number = _turn_number() if number is None else number
    form = request.form
    speech = storable(form.get("SpeechResult", "")).strip()
    digits = "".join(char for char in form.get("Digits", "") if char in "0123456789*#")[:64]
    digits = digits.rstrip("#")
    confidence = _confidence(form.get("Confidence", ""))
    moment = now()
    with session_scope(services().sessions) as session:
        call = _upsert_call(session, sid, caller, moment)
        claimed = session.execute(
            insert_for(session)(CallTurn)
            .values(
                call_id=call.id,
                turn=turn_number,
                step=step,
                speech=speech[:MAX_STORED_SPEECH],
                digits=digits,
                confidence=confidence,
                twiml="",
                created_at=moment,
            )
            .on_conflict_do_nothing(index_elements=[CallTurn.call_id, CallTurn.turn])
            .returning(CallTurn.id)
        ).scalar_one_or_none()
        stored = ""
        if claimed is None:
            stored = session.scalars(
                select(CallTurn.twiml).where(
                    CallTurn.call_id == call.id, CallTurn.turn == turn_number
                )
            ).one()
        else:
            call.turn = max(call.turn, turn_number)
        language = _language(session, call.conversation_id)
        return Turn(
            call_id=call.id,
            call_sid=sid,
            number=turn_number,
            caller=caller,
            phone=e164(caller),
            speech=speech,
            digits=digits,
            moment=moment,
            fresh=claimed is not None,
            stored=stored,
            no_input=call.no_input,
            conversation_id=call.conversation_id,
            language=language,
        )


def finish_turn(
    turn: Turn, response: VoiceResponse, *, status: CallStatus | None = None
) -> Response:
    """Remember the answer of a turn (the first one given wins) and send it."""
    twiml = str(response)
    with session_scope(services().sessions) as session:
        session.execute(
            update(CallTurn)
            .where(
                CallTurn.call_id == turn.call_id,
                CallTurn.turn == turn.number,
                CallTurn.twiml == "",
            )
            .values(twiml=twiml, message_id=turn.message_id)
        )
        if status is not None:
            session.execute(
                update(Call)
                .where(Call.id == turn.call_id, Call.ended_at.is_(None))
                .values(status=status)
            )
        stored = session.scalars(
            select(CallTurn.twiml).where(
                CallTurn.call_id == turn.call_id, CallTurn.turn == turn.number
            )
        ).one()
    return _xml(stored or twiml)


# --- what each kind of input leads to ---------------------------------------------------------


def _converse(turn: Turn, text: str) -> VoiceResponse:
    """Hand what the caller said to the bot and speak its replies in the next <Gather>."""
    svc = services()
    with session_scope(svc.sessions) as session:
        recorded = record_inbound(
            session,
            Inbound(
                channel=Channel.VOICE,
                address=turn.phone or f"call:{turn.call_sid}",
                body=text,
                received_at=turn.moment,
                provider_id=f"{turn.call_sid}:{turn.number}",
                phone=turn.phone,
            ),
        )
        call = session.get(Call, turn.call_id)
        assert call is not None
        call.contact_id, call.conversation_id = recorded.contact_id, recorded.conversation_id
        if turn.fresh:
            call.no_input = 0
    turn.message_id = recorded.message_id
    if handle_or_count(svc, recorded.message_id, synchronous=True, now=turn.moment) is None:
        # the words are safe: keep the caller talking
        response = VoiceResponse()
        _listen(response, turn, [prompt("bot_unavailable", turn.language)])
        return response
    with session_scope(svc.sessions) as session:
        outcome = _outcome(session, svc, turn, recorded.message_id)
    if outcome.handed_off:
        return _person(turn)
    spoken = [speakable(text, outcome.language) for text in outcome.replies]
    if outcome.receipt_sent:
        spoken.append(prompt("receipt_by_sms", outcome.language))
    if not spoken:
        spoken.append(prompt("please_continue", outcome.language))
    if outcome.stage in MENU_STAGES:
        spoken.append(prompt("continue_prompt", outcome.language))
    turn.language = outcome.language
    response = VoiceResponse()
    _listen(response, turn, spoken)
    return response


@dataclass(frozen=True)
class _Outcome:
    replies: tuple[str, ...]
    handed_off: bool
    receipt_sent: bool
    stage: Stage
    language: str


def _outcome(session: Session, svc: Services, turn: Turn, message_id: int) -> _Outcome:
    """What the bot did with a turn, read back from the database (so a retry re-derives it)."""
    message = session.get(Message, message_id)
    assert message is not None and message.conversation_id is not None
    conversation = session.get(Conversation, message.conversation_id)
    assert conversation is not None
    later_inbound = session.scalars(
        select(Message.id)
        .where(
            Message.conversation_id == conversation.id,
            Message.direction == Direction.INBOUND,
            Message.id > message.id,
        )
        .order_by(Message.id)
        .limit(1)
    ).first()
    replies = list(
        session.scalars(
            select(Message.body)
            .where(
                Message.conversation_id == conversation.id,
                Message.direction == Direction.OUTBOUND,
                Message.channel == Channel.VOICE,
                Message.id > message.id,
                *([Message.id < later_inbound] if later_inbound is not None else []),
            )
            .order_by(Message.id)
        )
    )
    handed_off = (
        conversation.handoff_requested_at is not None
        and conversation.handoff_requested_at >= message.created_at
    )
    receipt_sent = False
    if message.case_id is not None:
        call = session.get(Call, turn.call_id)
        if call is not None:
            call.case_id = message.case_id
        receipt_sent = _send_receipt(session, svc, message.case_id, message.contact_id, replies)
    state = DialogueState.from_dict(conversation.state)
    language = "en" if conversation.language == "en" else "zh"
    return _Outcome(tuple(replies), handed_off, receipt_sent, state.stage, language)


def _send_receipt(
    session: Session, svc: Services, case_id: int, contact_id: int, replies: list[str]
) -> bool:
    """Store the case's receipt as an SMS to the caller, once per case; True when queued.

    The SMS belongs to the case's creation event with purpose "receipt", and `(event_id,
    contact_id, purpose)` is unique: a retried turn inserts nothing (an atomic insert, not
    check-then-insert), and the resident's notifications of that event are not affected.
    """
    contact = session.get(Contact, contact_id)
    case = session.get(Case, case_id)
    if contact is None or case is None or not contact.phone:
        return False
    created = session.scalars(
        select(CaseEvent.id)
        .where(CaseEvent.case_id == case_id, CaseEvent.action == "create")
        .order_by(CaseEvent.id)
        .limit(1)
    ).first()
    if created is None:
        return False
    shown = display_case_number(case.number, svc.settings.case_number_prefix)
    body = next(
        (text for text in replies if shown in text),
        prompt("sms_receipt", "zh", case_number=shown),
    )
    status = MessageStatus.SUPPRESSED if contact.opted_out else MessageStatus.QUEUED
    inserted = session.execute(
        insert_for(session)(Message)
        .values(
            contact_id=contact.id,
            case_id=case.id,
            event_id=created,
            direction=Direction.OUTBOUND,
            channel=Channel.SMS,
            body=body,
            media=[],
            status=status,
            error_code="",
            error_message="opted out" if contact.opted_out else "",
            attempts=0,
            created_at=now(),
            purpose=RECEIPT_PURPOSE,
        )
        .on_conflict_do_nothing(
            index_elements=[Message.event_id, Message.contact_id, Message.purpose]
        )
        .returning(Message.id)
    ).scalar_one_or_none()
    if inserted is not None and status is MessageStatus.QUEUED:
        session.commit()  # delivery may only see a committed row
        try:
            enqueue_delivery(svc.redis, inserted)
        except RedisError:
            log.warning("queue unreachable; receipt stays queued", extra={"message_id": inserted})
    return status is MessageStatus.QUEUED and (
        inserted is not None or _receipt_exists(session, created, contact.id)
    )


def _receipt_exists(session: Session, event_id: int, contact_id: int) -> bool:
    return (
        session.scalars(
            select(Message.id).where(
                Message.event_id == event_id,
                Message.contact_id == contact_id,
                Message.purpose == RECEIPT_PURPOSE,
            )
        ).first()
        is not None
    )


def _unusable(turn: Turn, key: str, step: Callable[[Turn, str], VoiceResponse]) -> VoiceResponse:
    """No input, a key that is no option, or no case number: re-prompt twice, then a person."""
    count = turn.no_input
    if turn.fresh:
        with session_scope(services().sessions) as session:
            call = session.get(Call, turn.call_id)
            assert call is not None
            call.no_input += 1
            count = call.no_input
    if count > REPROMPTS + 1:
        return _person(turn)
    if count > REPROMPTS:
        response = VoiceResponse()
        _listen(response, turn, [prompt("offer_person", turn.language)])
        return response
    return step(turn, key)


def gather_step(turn: Turn, key: str) -> VoiceResponse:
    """Listen again at the main prompt, saying `key` first."""
    response = VoiceResponse()
    _listen(response, turn, [prompt(key, turn.language)])
    return response


def case_number_step(turn: Turn, key: str) -> VoiceResponse:
    """Ask for the case number again."""
    return _ask_case_number(turn, key)


def _ask_case_number(turn: Turn, key: str) -> VoiceResponse:
    response = VoiceResponse()
    settings = services().settings
    listening = response.gather(
        input="dtmf speech",
        language=settings.voice_language,
        action=_url("voice.case_number", turn=turn.number + 1),
        method="POST",
        timeout=10,
        finish_on_key="#",
        action_on_empty_result=True,
    )
    _say(listening, prompt(key, turn.language), turn.language)
    return response


def _person(turn: Turn) -> VoiceResponse:
    """A person: the agents' queue in office hours, a voicemail otherwise."""
    svc = services()
    if not _office_open(svc.clock, turn.moment):
        response = _record(turn, "voicemail_prompt")
        _set_status(turn, CallStatus.VOICEMAIL)
        return response
    response = VoiceResponse()
    _say(response, prompt("connecting_agent", turn.language), turn.language)
    response.enqueue(
        name=svc.settings.voice_agent_queue,
        action=_url("voice.queue_result", turn=turn.number + 1),
        method="POST",
    )
    _set_status(turn, CallStatus.AGENT_QUEUE)
    return response


def _record(turn: Turn, key: str) -> VoiceResponse:
    response = VoiceResponse()
    _say(response, prompt(key, turn.language), turn.language)
    response.record(
        action=_url("voice.voicemail", turn=turn.number + 1),
        method="POST",
        max_length=RECORDING_MAX_SECONDS,
        finish_on_key="#",
        play_beep=True,
        transcribe=True,
        transcribe_callback=_url("voice.transcription"),
        recording_status_callback=_url("voice.recording"),
        recording_status_callback_method="POST",
    )
    return response


def _goodbye(turn: Turn, key: str) -> VoiceResponse:
    response = VoiceResponse()
    _say(response, prompt(key, turn.language), turn.language)
    response.hangup()
    return response


# --- voicemail → a case for review ------------------------------------------------------------


def save_voicemail_from_request(*, transcript: str | None, failed: bool = False) -> bool:
    """Keep the voicemail of this request (action or callback); False when there is none."""
    form = request.form
    sid = form.get("RecordingSid", "").strip()
    url = form.get("RecordingUrl", "").strip()
    duration = form.get("RecordingDuration", "")
    if not sid or len(sid) > 64 or not url.startswith("https://") or len(url) > 512:
        return False
    if duration.strip() == "0":
        return False
    call_sid, caller = _call_identity()
    save_voicemail(
        services(), call_sid, caller, sid, url, transcript=transcript, failed=failed, moment=now()
    )
    return True


def save_voicemail(
    svc: Services,
    call_sid: str,
    caller: str,
    recording_sid: str,
    recording_url: str,
    *,
    transcript: str | None,
    failed: bool,
    moment: dt.datetime,
) -> int:
    """Store a voicemail as an inbound message with its recording and open a case for review.

    Once per RecordingSid: the message is inserted atomically on (voice, RecordingSid), and
    the case is opened in the same transaction, so the Record action, the recording callback
    and the transcription callback — in any order, twice or concurrently — open one case. A
    transcript that arrives later fills the message and the case's placeholder description.

    Returns:
        The case's id.
    """
    phone = e164(caller)
    with session_scope(svc.sessions) as session:
        call = _upsert_call(session, call_sid, caller, moment)
        recorded = record_inbound(
            session,
            Inbound(
                channel=Channel.VOICE,
                address=phone or f"call:{call_sid}",
                body=transcript or "",
                received_at=moment,
                provider_id=recording_sid,
                phone=phone,
                media=({"url": recording_url, "content_type": "audio/wav", "kind": "voicemail"},),
            ),
        )
        message = session.get(Message, recorded.message_id)
        assert message is not None
        call.recording_sid, call.recording_url = recording_sid, recording_url
        call.contact_id = call.contact_id or recorded.contact_id
        call.conversation_id = call.conversation_id or recorded.conversation_id
        if recorded.duplicate and message.case_id is not None:
            _add_transcript(session, message, transcript, failed)
            call.case_id = message.case_id
            return message.case_id
        case = _open_voicemail_case(session, svc, recorded, transcript, failed, moment)
        message.case_id = case.id
        message.status = MessageStatus.PROCESSED  # no bot turn: a person listens to it
        message.processed_at = moment
        call.case_id = case.id
        log.info("voicemail case opened", extra={"caller": mask_phone(caller), "case": case.id})
        return case.id


def _open_voicemail_case(
    session: Session,
    svc: Services,
    recorded: Any,
    transcript: str | None,
    failed: bool,
    moment: dt.datetime,
) -> Case:
    description = transcript or _placeholder(failed)
    intake = Intake(
        item_code=_voicemail_item(svc, transcript),
        description=description,
        channel=Channel.VOICE,
        contact_id=recorded.contact_id,
        conversation_id=recorded.conversation_id,
        confidence=0.0,  # nobody confirmed anything: a person reviews every voicemail
    )
    try:
        case = open_case(session, intake, now=moment, clock=svc.clock, actor=BOT)
    except NotFoundError:  # a misconfigured ZHITONG_VOICEMAIL_ITEM must not lose the message
        log.error("voicemail item not in the catalog", extra={"item": intake.item_code})
        fallback = catalog().items[0].code
        case = open_case(
            session,
            dataclasses.replace(intake, item_code=fallback),
            now=moment,
            clock=svc.clock,
            actor=BOT,
        )
    case.needs_review = True
    session.flush()
    return case


def _add_transcript(
    session: Session, message: Message, transcript: str | None, failed: bool
) -> None:
    case = session.get(Case, message.case_id)
    if case is None:
        return
    placeholders = {_placeholder(False), _placeholder(True)}
    if transcript and not message.body:
        message.body = transcript[:5000]
        if case.description in placeholders:
            case.description = transcript
            case.summary = transcript[:200]
    elif failed and case.description == _placeholder(False):
        case.description = case.summary = _placeholder(True)


def _placeholder(failed: bool) -> str:
    state = prompt("transcript_failed" if failed else "transcript_pending")
    return prompt("voicemail_description", state=state)


def _voicemail_item(svc: Services, transcript: str | None) -> str:
    """The transcript's most likely catalog item, else the configured voicemail item."""
    if transcript:
        try:
            parse = interpreter(svc.settings).parse(transcript)
        except Exception:  # understanding is a nicety here; the case opens regardless
            log.warning("could not classify a voicemail transcript", exc_info=True)
            parse = {}
        codes = {item.code for item in catalog().items}
        intent = parse.get("intent") if isinstance(parse, dict) else None
        name = intent.get("name") if isinstance(intent, dict) else None
        if isinstance(name, str) and name in codes:
            return name
    return svc.settings.voicemail_item


# --- small helpers ----------------------------------------------------------------------------


def _listen(response: VoiceResponse, turn: Turn, texts: list[str]) -> None:
    """A speech-and-keys <Gather> at the main step of the next turn, saying `texts`."""
    settings = services().settings
    listening = response.gather(
        input="speech dtmf",
        language=settings.voice_language,
        action=_url("voice.gather", turn=turn.number + 1),
        method="POST",
        timeout=6,
        speech_timeout="auto",
        num_digits=1,
        action_on_empty_result=True,
    )
    for text in texts:
        _say(listening, text, turn.language)


def _say(target: Any, text: str, language: str) -> None:
    settings = services().settings
    target.say(
        text,
        language=settings.voice_language if language == "zh" else "en-US",
        voice=settings.voice_tts_voice or None,
    )


def _url(endpoint: str, **query: Any) -> str:
    """An absolute URL of ours, as Twilio must call it (the public base when configured)."""
    settings = services().settings
    if settings.public_url:
        return f"{settings.public_url}{url_for(endpoint, **query)}"
    return url_for(endpoint, _external=True, **query)


def _call_identity() -> tuple[str, str]:
    """CallSid and the caller (400 when there is no usable CallSid)."""
    sid = request.form.get("CallSid", "").strip()
    if not sid or len(sid) > 48 or not sid.isascii():
        abort(400, description="CallSid is required")
    caller = storable(request.form.get("From", "").strip())[:128] or "anonymous"
    return sid, e164(caller) or caller


def _turn_number() -> int:
    raw = request.args.get("turn", "")
    if not raw.isdigit() or len(raw) > 4 or not 1 <= int(raw) <= MAX_TURNS + 1:
        abort(400, description="turn must be a number from 1")
    return int(raw)


def _upsert_call(session: Session, sid: str, caller: str, moment: dt.datetime) -> Call:
    session.execute(
        insert_for(session)(Call)
        .values(
            call_sid=sid,
            caller=caller,
            status=CallStatus.IN_PROGRESS,
            turn=0,
            no_input=0,
            started_at=moment,
            recording_url="",
        )
        .on_conflict_do_nothing(index_elements=[Call.call_sid])
    )
    return session.scalars(select(Call).where(Call.call_sid == sid)).one()


def _stage(turn: Turn) -> Stage:
    if turn.conversation_id is None:
        return Stage.IDLE
    with session_scope(services().sessions) as session:
        conversation = session.get(Conversation, turn.conversation_id)
        state = conversation.state if conversation is not None else {}
    return DialogueState.from_dict(state).stage


def _language(session: Session, conversation_id: int | None) -> str:
    if conversation_id is None:
        return "zh"
    conversation = session.get(Conversation, conversation_id)
    return "en" if conversation is not None and conversation.language == "en" else "zh"


def _reset_no_input(turn: Turn) -> None:
    if turn.fresh and turn.no_input:
        with session_scope(services().sessions) as session:
            session.execute(update(Call).where(Call.id == turn.call_id).values(no_input=0))


def _set_status(turn: Turn, status: CallStatus) -> None:
    with session_scope(services().sessions) as session:
        session.execute(
            update(Call)
            .where(Call.id == turn.call_id, Call.ended_at.is_(None))
            .values(status=status)
        )


def _office_open(clock: Clock, moment: dt.datetime) -> bool:
    """Whether agents work now: office hours on a working day (调休 included)."""
    local = moment.astimezone(clock.hours.zone)
    today = local.date()
    return clock.calendar.is_working_day(today) and clock.hours.opening(
        today
    ) <= local < clock.hours.closing(today)


def _confidence(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None


def _xml(twiml: str) -> Response:
    return Response(twiml, mimetype="application/xml")
