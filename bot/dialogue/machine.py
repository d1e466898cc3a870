"""The dialogue as one table: (stage, event) → handler, and the step that drives it.

A step reads the message once (`bot.dialogue.reading`), turns it into one `Event` — what the
message means *here*: "1" is a choice while choices are pending, a rating when a survey is,
and nothing special otherwise — and looks the handler up in `TRANSITIONS`:

1. ``(stage, event)``, the entry for this stage;
2. ``(ANY, event)``, what the event means in every stage (退订, 人工, danger words, …);
3. ``(stage, ANY)``, the stage's answer to everything else: usually its question again.

Every stage has a ``(stage, ANY)`` entry, so every input has a defined answer. Commands come
first, in this order, in every stage: opt-out, opted-out, empty, a person, danger, case numbers.
A stage that merely offers something (the help menu, 回复0更正 after a receipt) lapses when the
reply is about something else, and the message is read again as if nothing were pending.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import replace
from typing import Final

from bot.dialogue import handlers as h
from bot.dialogue import policy, words
from bot.dialogue.context import Context, Inbound
from bot.dialogue.handlers import Handler, Outcome, Turn, pick_option, pick_place, read_name
from bot.dialogue.reading import META_INTENTS, Reading, older_than, read
from bot.dialogue.state import LANGUAGES, PENDING_STAGES, DialogueState, Stage
from bot.effects import Effect

DEFAULT_LANGUAGE = "zh"


class Event(enum.StrEnum):
    """What a message means in the stage it arrives in."""

    OPT_OUT = "opt_out"  # 退订, TD, STOP
    OPT_IN = "opt_in"  # 订阅, START — from an opted-out resident
    OPTED_OUT = "opted_out"  # anything else from an opted-out resident
    EMPTY = "empty"  # nothing readable
    HUMAN = "human"  # 人工
    URGENT = "urgent"  # danger to life or property
    CASE_NUMBER = "case_number"  # one or more case numbers
    CHECK_STATUS = "check_status"  # 查进度 without a number
    RATING = "rating"  # a survey answer
    SURVEY_UNCLEAR = "survey_unclear"  # not a survey answer while one is awaited
    GREET = "greet"
    THANKS = "thanks"
    ACKNOWLEDGE = "acknowledge"  # 好的, with nothing pending
    QUESTION = "question"  # about an item: materials, fees, time …
    SERVICE = "service"  # a proxy service
    CONCERN = "concern"  # a problem to report
    OTHER = "other"  # none of the above: the help menu
    MENU_CHOICE = "menu_choice"
    AFFIRM = "affirm"
    DENY = "deny"
    CHOICE = "choice"  # one of the numbered options
    NONE_OF_THESE = "none_of_these"  # 都不是, 0
    REDESCRIBE = "redescribe"  # the matter in other words
    NEW_REQUEST = "new_request"  # a clearly different request
    NEW_MATTER = "new_matter"  # a clearly different matter while asked where
    PLACE = "place"
    SKIP = "skip"  # 跳过, 不知道
    DETAILS = "details"  # a name and/or a village
    CANCEL = "cancel"  # 算了
    CORRECTION = "correction"  # 0 / 不对 right after a receipt
    CASE_PLACE = "case_place"  # only a place, right after a receipt: where the case is
    INTRODUCE = "introduce"  # only a name and/or a home: 我叫王秀英，住在渔港社区
    UNCLEAR = "unclear"  # not an answer to the pending question


class _Any(enum.Enum):
    ANY = "*"


ANY: Final = _Any.ANY

TRANSITIONS: dict[tuple[Stage | _Any, Event | _Any], Handler] = {
    # every stage
    (ANY, Event.OPT_OUT): h.opt_out,
    (ANY, Event.OPT_IN): h.opt_in,
    (ANY, Event.OPTED_OUT): h.remind_opted_out,
    (ANY, Event.EMPTY): h.ask_to_resend,
    (ANY, Event.HUMAN): h.hand_off,
    (ANY, Event.URGENT): h.open_urgent,
    (ANY, Event.CASE_NUMBER): h.show_case_status,
    (ANY, Event.CHECK_STATUS): h.show_my_cases,
    (ANY, Event.CANCEL): h.cancel,
    (ANY, Event.NEW_REQUEST): h.start_new_request,
    # nothing pending
    (Stage.IDLE, Event.RATING): h.record_rating,
    (Stage.IDLE, Event.SURVEY_UNCLEAR): h.reask_survey,
    (Stage.IDLE, Event.GREET): h.greet,
    (Stage.IDLE, Event.THANKS): h.thank,
    (Stage.IDLE, Event.ACKNOWLEDGE): h.acknowledge,
    (Stage.IDLE, Event.QUESTION): h.start_request,
    (Stage.IDLE, Event.SERVICE): h.start_request,
    (Stage.IDLE, Event.CONCERN): h.start_request,
    (Stage.IDLE, Event.INTRODUCE): h.introduce,
    (Stage.IDLE, Event.PLACE): h.describe_at_place,
    (Stage.IDLE, Event.CORRECTION): h.start_correction,  # a few minutes after a receipt
    (Stage.IDLE, Event.CASE_PLACE): h.set_case_place,
    (Stage.IDLE, Event.OTHER): h.show_menu,
    (Stage.IDLE, ANY): h.show_menu,
    # the help menu
    (Stage.MENU, Event.MENU_CHOICE): h.menu_choice,
    (Stage.MENU, ANY): h.show_menu,
    # describe the matter (again)
    (Stage.DESCRIBE, Event.REDESCRIBE): h.start_request,
    (Stage.DESCRIBE, ANY): h.reprompt_describe,
    # 您说的是「…」吗?
    (Stage.CONFIRM_ITEM, Event.AFFIRM): h.item_confirmed,
    (Stage.CONFIRM_ITEM, Event.DENY): h.item_denied,
    (Stage.CONFIRM_ITEM, Event.REDESCRIBE): h.start_request,
    (Stage.CONFIRM_ITEM, ANY): h.reprompt_confirm,
    # numbered items
    (Stage.CHOOSE_ITEM, Event.CHOICE): h.item_chosen,
    (Stage.CHOOSE_ITEM, Event.NONE_OF_THESE): h.describe_again,
    (Stage.CHOOSE_ITEM, Event.REDESCRIBE): h.start_request,
    (Stage.CHOOSE_ITEM, ANY): h.reprompt_choose,
    # where?
    (Stage.ASK_PLACE, Event.PLACE): h.place_given,
    (Stage.ASK_PLACE, Event.AFFIRM): h.place_confirmed,
    (Stage.ASK_PLACE, Event.DENY): h.place_denied,
    (Stage.ASK_PLACE, Event.SKIP): h.open_without_place,
    (Stage.ASK_PLACE, Event.NEW_MATTER): h.open_then_take_up,
    (Stage.ASK_PLACE, ANY): h.reprompt_place,
    (Stage.CHOOSE_PLACE, Event.CHOICE): h.place_chosen,
    (Stage.CHOOSE_PLACE, Event.PLACE): h.place_given,
    (Stage.CHOOSE_PLACE, Event.NONE_OF_THESE): h.place_denied,
    (Stage.CHOOSE_PLACE, Event.SKIP): h.open_without_place,
    (Stage.CHOOSE_PLACE, Event.NEW_MATTER): h.open_then_take_up,
    (Stage.CHOOSE_PLACE, ANY): h.reprompt_place,
    # proxy service: 1 the agent does it, 2 information only
    (Stage.OFFER_PROXY, Event.AFFIRM): h.proxy_accepted,
    (Stage.OFFER_PROXY, Event.DENY): h.info_only,
    (Stage.OFFER_PROXY, Event.QUESTION): h.answer_follow_up,
    (Stage.OFFER_PROXY, ANY): h.reprompt_offer,
    (Stage.ASK_DETAILS, Event.DETAILS): h.details_given,
    (Stage.ASK_DETAILS, Event.SKIP): h.skip_details,
    (Stage.ASK_DETAILS, ANY): h.reprompt_details,
    # after an FAQ answer: 1 goes ahead
    (Stage.AFTER_ANSWER, Event.AFFIRM): h.answer_accepted,
    (Stage.AFTER_ANSWER, Event.DENY): h.anything_else,
    (Stage.AFTER_ANSWER, Event.QUESTION): h.answer_follow_up,
    (Stage.AFTER_ANSWER, ANY): h.show_menu,
    # after a receipt: 0 / 不对 corrects the item
    (Stage.AFTER_RECEIPT, Event.CORRECTION): h.start_correction,
    (Stage.AFTER_RECEIPT, Event.CASE_PLACE): h.set_case_place,
    (Stage.AFTER_RECEIPT, ANY): h.show_menu,
    (Stage.CHOOSE_CORRECTION, Event.CHOICE): h.reclassify_chosen,
    (Stage.CHOOSE_CORRECTION, Event.REDESCRIBE): h.reclassify_described,
    (Stage.CHOOSE_CORRECTION, Event.NONE_OF_THESE): h.correction_handoff,
    (Stage.CHOOSE_CORRECTION, ANY): h.reprompt_correction,
    # a survey answer asked again
    (Stage.SURVEY_RETRY, Event.RATING): h.record_rating,
    (Stage.SURVEY_RETRY, ANY): h.show_menu,
}


def handler_for(stage: Stage, event: Event) -> Handler:
    """The handler for an event in a stage (see the module docstring for the order)."""
    return (
        TRANSITIONS.get((stage, event))
        or TRANSITIONS.get((ANY, event))
        or TRANSITIONS[(stage, ANY)]
    )


def step(
    state: DialogueState, message: Inbound, context: Context
) -> tuple[DialogueState, list[Effect]]:
    """Answer one message: the next state and what the shell must do, in order.

    Pure: no I/O, no clock (``context.now`` is the time), no randomness. Never raises for any
    message text, parse or stored state.

    Args:
        state: the conversation's state (`DialogueState.from_dict` of the stored JSON).
        message: the resident's message with the NLU's parse.
        context: the time, catalog, areas and what the shell knows about the resident.

    Returns:
        The state to store and the effects to carry out, in order, in one transaction.
    """
    if not isinstance(state, DialogueState):
        state = DialogueState()
    state = _sanitise(_expire(state, context), context)
    reading = read(message, context)
    language = reading.language or state.language or _hint(context.language)
    turn = Turn(state, reading, context, language, entered=state.stage, channel=message.channel)
    event = classify(turn)
    if event is None:  # an offer lapsed: read the message as if nothing were pending
        turn = replace(turn, state=_leave(turn.state))
        event = classify_idle(turn)
    if event in _NEW_REQUEST_EVENTS:  # the case before can no longer be corrected with 0
        turn = replace(turn, state=_close_correction(turn.state))
    new_state, effects = handler_for(turn.state.stage, event)(turn)
    return replace(new_state, language=language, updated_at=context.now), effects


# --- events ----------------------------------------------------------------------------------


def classify(turn: Turn) -> Event | None:
    """The event a message is in its stage; None when an offer lapses (see `classify_idle`)."""
    reading, context, stage = turn.reading, turn.context, turn.state.stage
    compact = reading.compact
    # 订阅 / 取消退订 must never opt out: the opt-in words win over the classifier's opt_out.
    opting_in = words.is_opt_in(compact)
    if context.opted_out and opting_in:
        return Event.OPT_IN
    if not opting_in and (words.is_opt_out(compact) or _command(reading, "opt_out")):
        return Event.OPT_OUT
    if context.opted_out:
        return Event.OPTED_OUT
    if reading.empty:
        return Event.EMPTY
    if words.asks_for_person(compact):
        return Event.HUMAN
    # 我要代办 answering an offer is a yes, whatever the NLU's request_human says.
    if _command(reading, "request_human") and not (stage in _OFFERS and _accepts(turn)):
        return Event.HUMAN
    if reading.urgent_item is not None:
        return Event.URGENT
    if reading.case_numbers:
        return Event.CASE_NUMBER
    expect = _EXPECTATIONS.get(stage)
    event = expect(turn) if expect is not None else None
    if event is not None:
        return event
    if stage in PENDING_STAGES:
        return Event.UNCLEAR
    if stage is Stage.IDLE:
        return classify_idle(turn)
    return None


def classify_idle(turn: Turn) -> Event:
    """The event a message is with nothing pending: a survey answer, a request, small talk."""
    reading, context = turn.reading, turn.context
    if _correction_open(turn):
        if words.is_correction(reading.compact):
            return Event.CORRECTION
        if h.case_place(turn) is not None:
            return Event.CASE_PLACE
    survey = context.pending_survey
    if survey is not None and survey not in turn.state.dropped_surveys:
        if reading.rating is not None:
            return Event.RATING
        if not _clear_request(reading):
            return Event.SURVEY_UNCLEAR
    return _general(turn)


def _general(turn: Turn) -> Event:
    reading = turn.reading
    compact = reading.compact
    if compact in words.SKIP_WORDS:  # 跳过 / 不知道 with nothing pending: no matter to read in it
        return Event.ACKNOWLEDGE
    if compact in words.STATUS_WORDS or reading.meta("check_status", policy.META_MIN):
        return Event.CHECK_STATUS
    if h.introduction(turn) is not None:
        return Event.INTRODUCE
    if h.only_a_place(turn) is not None:
        return Event.PLACE
    top = reading.top_item
    if top is not None and reading.intent == top.code:
        return _request_event(turn)
    meta_sure = reading.intent in META_INTENTS and reading.intent_confidence >= policy.META_MIN
    long_enough = len(compact) > policy.SHORT_MESSAGE
    if top is not None and top.confidence >= policy.ITEM_OVER_META and long_enough:
        return _request_event(turn)
    if meta_sure:
        if reading.intent == "greet":
            return Event.GREET
        if reading.intent == "thanks":
            return Event.THANKS
        if reading.intent == "affirm":
            return Event.ACKNOWLEDGE
        return Event.OTHER
    if compact in words.GREET_WORDS:
        return Event.GREET
    if compact in words.THANKS_WORDS:
        return Event.THANKS
    if compact in words.YES_WORDS:
        return Event.ACKNOWLEDGE
    if top is not None and top.confidence >= policy.ITEM_OVER_META / 2:
        return _request_event(turn)
    return Event.OTHER


def _request_event(turn: Turn) -> Event:
    top = turn.reading.top_item
    item = turn.item(top.code if top is not None else None)
    if item is None:
        return Event.OTHER
    if h.asked_topic(turn, item.code) is not None:
        return Event.QUESTION
    return Event.SERVICE if item.kind == "service" else Event.CONCERN


def _clear_request(reading: Reading) -> bool:
    """Plainly about something else than the survey: a confident request or 查进度."""
    if reading.item_at_least(policy.CONFIRM_BELOW) is not None:
        return True
    return reading.compact in words.STATUS_WORDS or reading.meta("check_status", policy.META_MIN)


def _command(reading: Reading, intent: str) -> bool:
    """The NLU's opt_out / request_human, trusted only when sure and on a short message."""
    return (
        reading.meta(intent, policy.COMMAND_MIN)
        and len(reading.compact) <= policy.COMMAND_MAX_CHARS
    )


def _accepts(turn: Turn) -> bool:
    """Takes up the pending offer: 是, 要, 帮我代办, 好的帮我办一下; 帮我办低保 for that item."""
    reading = turn.reading
    if reading.accepts or reading.choice == 1:
        return True
    return words.asks_to_have_it_done(reading.compact) and not _new_request(turn)


def _correction_open(turn: Turn) -> bool:
    """Whether the case opened last may still be corrected (or given its place) from idle."""
    last = turn.state.last_case
    return (
        last is not None
        and last.correctable
        and not older_than(last.opened_at, turn.context.now, policy.CORRECTION_WINDOW)
    )


def _cancel(reading: Reading) -> bool:
    return reading.compact in words.CANCEL_WORDS


def _new_request(turn: Turn) -> bool:
    top = turn.reading.item_at_least(policy.CONFIRM_BELOW)
    return top is not None and top.code != turn.draft.item_code


def _expect_describe(turn: Turn) -> Event | None:
    reading = turn.reading
    if _cancel(reading):
        return Event.CANCEL
    top = reading.item_at_least(policy.CANDIDATE_MIN)
    meta_sure = reading.intent in META_INTENTS and reading.intent_confidence >= policy.META_MIN
    if top is not None and (not meta_sure or top.confidence >= policy.ITEM_OVER_META):
        return Event.REDESCRIBE
    return None


def _expect_confirm(turn: Turn) -> Event | None:
    reading = turn.reading
    offered = turn.draft.candidates[0] if turn.draft.candidates else None
    top = reading.item_at_least(policy.CONFIRM_BELOW)
    if _accepts(turn):
        return Event.AFFIRM
    if top is not None and top.code != offered:
        return Event.REDESCRIBE
    if reading.no or reading.choice == 2:
        return Event.DENY
    if _cancel(reading):
        return Event.CANCEL
    if top is not None:
        return Event.AFFIRM  # 对，就是路灯坏了
    return None


def _expect_choose_item(turn: Turn) -> Event | None:
    reading = turn.reading
    options = turn.draft.candidates
    if pick_option(turn, options) is not None:
        return Event.CHOICE
    if reading.choice == 0 or reading.compact in words.NONE_OF_THESE_WORDS:
        return Event.NONE_OF_THESE
    if _cancel(reading):
        return Event.CANCEL
    top = reading.item_at_least(policy.CHOICES_BELOW)
    if top is not None and top.code not in options:
        return Event.REDESCRIBE
    return None


def _expect_place(turn: Turn) -> Event | None:
    reading = turn.reading
    if reading.areas:
        return Event.PLACE
    if reading.compact in words.SKIP_WORDS:
        return Event.SKIP
    if _accepts(turn) and turn.draft.suggested_area_id is not None:
        return Event.AFFIRM
    if reading.no:
        return Event.DENY
    if _cancel(reading):
        return Event.CANCEL
    if _new_matter(turn):
        return Event.NEW_MATTER
    return None


def _new_matter(turn: Turn) -> bool:
    """A clearly different matter sent while asked where (see `policy.NEW_MATTER_MIN`)."""
    top = turn.reading.item_at_least(policy.NEW_MATTER_MIN)
    return (
        top is not None
        and top.code != turn.draft.item_code
        and not turn.draft.for_proxy
        and len(turn.reading.compact) >= policy.NEW_MATTER_MIN_CHARS
    )


def _expect_choose_place(turn: Turn) -> Event | None:
    reading = turn.reading
    if pick_place(turn, turn.draft.area_options) is not None:
        return Event.CHOICE
    if reading.areas:
        return Event.PLACE
    if reading.choice == 0 or reading.compact in words.NONE_OF_THESE_WORDS:
        return Event.NONE_OF_THESE
    if reading.compact in words.SKIP_WORDS:
        return Event.SKIP
    if _cancel(reading):
        return Event.CANCEL
    if _new_matter(turn):
        return Event.NEW_MATTER
    return None


def _expect_offer_proxy(turn: Turn) -> Event | None:
    reading = turn.reading
    if _accepts(turn):
        return Event.AFFIRM
    if reading.no or reading.choice == 2:
        return Event.DENY
    if _cancel(reading):
        return Event.CANCEL
    if _new_request(turn):
        return Event.NEW_REQUEST
    if reading.topic is not None:
        return Event.QUESTION
    return None


def _expect_details(turn: Turn) -> Event | None:
    reading = turn.reading
    if _cancel(reading):
        return Event.CANCEL
    if reading.compact in words.SKIP_WORDS:
        return Event.SKIP
    if reading.areas or read_name(turn) is not None:
        return Event.DETAILS
    if _new_request(turn):
        return Event.NEW_REQUEST
    return None


def _expect_after_answer(turn: Turn) -> Event | None:
    reading = turn.reading
    if _accepts(turn):
        return Event.AFFIRM
    if reading.no or reading.choice == 2 or _cancel(reading):
        return Event.DENY
    if reading.topic is not None and not _new_request(turn):
        return Event.QUESTION
    return None


def _expect_after_receipt(turn: Turn) -> Event | None:
    reading = turn.reading
    if words.is_correction(reading.compact):
        return Event.CORRECTION
    if reading.meta("deny", policy.CONFIRM_BELOW) and len(reading.compact) <= policy.SHORT_MESSAGE:
        return Event.CORRECTION
    if h.case_place(turn) is not None:
        return Event.CASE_PLACE
    return None


def _expect_menu(turn: Turn) -> Event | None:
    choice = turn.reading.choice
    return Event.MENU_CHOICE if choice is not None and 1 <= choice <= 4 else None


def _expect_correction(turn: Turn) -> Event | None:
    reading = turn.reading
    if pick_option(turn, turn.draft.candidates) is not None:
        return Event.CHOICE
    if reading.choice == 0 or reading.compact in words.NONE_OF_THESE_WORDS:
        return Event.NONE_OF_THESE
    if _cancel(reading):
        return Event.CANCEL
    top = reading.item_at_least(policy.CHOICES_BELOW)
    last = turn.state.last_case
    if top is not None and last is not None and top.code != last.item_code:
        return Event.REDESCRIBE
    return None


def _expect_survey_retry(turn: Turn) -> Event | None:
    return Event.RATING if turn.reading.rating is not None else None


_EXPECTATIONS: dict[Stage, Callable[[Turn], Event | None]] = {
    Stage.DESCRIBE: _expect_describe,
    Stage.CONFIRM_ITEM: _expect_confirm,
    Stage.CHOOSE_ITEM: _expect_choose_item,
    Stage.ASK_PLACE: _expect_place,
    Stage.CHOOSE_PLACE: _expect_choose_place,
    Stage.OFFER_PROXY: _expect_offer_proxy,
    Stage.ASK_DETAILS: _expect_details,
    Stage.AFTER_ANSWER: _expect_after_answer,
    Stage.AFTER_RECEIPT: _expect_after_receipt,
    Stage.MENU: _expect_menu,
    Stage.CHOOSE_CORRECTION: _expect_correction,
    Stage.SURVEY_RETRY: _expect_survey_retry,
}


# Stages that offer something a yes takes up (the NLU's request_human does not override it).
_OFFERS = frozenset({Stage.CONFIRM_ITEM, Stage.ASK_PLACE, Stage.OFFER_PROXY, Stage.AFTER_ANSWER})
# Events that begin a new request: the case before can no longer be corrected.
_NEW_REQUEST_EVENTS = frozenset(
    {
        Event.QUESTION,
        Event.SERVICE,
        Event.CONCERN,
        Event.NEW_REQUEST,
        Event.NEW_MATTER,
        Event.MENU_CHOICE,
        Event.INTRODUCE,
        Event.PLACE,
    }
)


# --- keeping the state sound ---------------------------------------------------------------


def _close_correction(state: DialogueState) -> DialogueState:
    last = state.last_case
    if last is None or not last.correctable:
        return state
    return replace(state, last_case=replace(last, correctable=False))


def _leave(state: DialogueState) -> DialogueState:
    """Let a pending question or offer go; an unclear survey answer given twice is dropped."""
    if state.stage is Stage.SURVEY_RETRY and state.survey_retry is not None:
        dropped = (*state.dropped_surveys, state.survey_retry)[-5:]
        state = replace(state, dropped_surveys=dropped)
    return state.idle()


def _expire(state: DialogueState, context: Context) -> DialogueState:
    """Drop a question older than a day and an offer older than two hours."""
    now = context.now
    ttl = policy.PENDING_TTL if state.stage in PENDING_STAGES else policy.SOFT_TTL
    if state.stage is not Stage.IDLE and older_than(state.updated_at, now, ttl):
        state = _leave(state)
    last = state.last_case
    if last is not None and older_than(last.opened_at, now, policy.PENDING_TTL):
        state = replace(state, last_case=None)
    if older_than(state.opted_out_hint_at, now, policy.OPTED_OUT_HINT_EVERY * 30):
        state = replace(state, opted_out_hint_at=None)
    return state


def _sanitise(state: DialogueState, context: Context) -> DialogueState:
    """Make a state read from storage fit this catalog and county; idle if it cannot."""
    codes = {item.code for item in context.catalog.items}
    draft = state.draft
    known_areas = tuple(a for a in draft.area_options if context.gazetteer.get(a) is not None)
    draft = replace(
        draft,
        candidates=tuple(c for c in draft.candidates if c in codes),
        alternatives=tuple(c for c in draft.alternatives if c in codes),
        area_id=draft.area_id if context.gazetteer.get(draft.area_id or -1) else None,
        area_options=known_areas,
        suggested_area_id=draft.suggested_area_id
        if context.gazetteer.get(draft.suggested_area_id or -1)
        else None,
    )
    last = state.last_case
    if last is not None and last.item_code not in codes:
        last = None
    if (
        last is not None
        and last.area_id is not None
        and context.gazetteer.get(last.area_id) is None
    ):
        last = replace(last, area_id=None)
    state = replace(state, draft=draft, last_case=last, tries=max(0, min(state.tries, 9)))
    if draft.item_code is not None and draft.item_code not in codes:
        return state.idle()
    if not _stage_is_sound(state):
        return state.idle()
    return state


def _stage_is_sound(state: DialogueState) -> bool:
    draft, stage = state.draft, state.stage
    needs: dict[Stage, bool] = {
        Stage.CONFIRM_ITEM: bool(draft.candidates),
        Stage.CHOOSE_ITEM: bool(draft.candidates),
        Stage.ASK_PLACE: draft.item_code is not None,
        Stage.CHOOSE_PLACE: draft.item_code is not None and bool(draft.area_options),
        Stage.OFFER_PROXY: draft.item_code is not None,
        Stage.ASK_DETAILS: draft.item_code is not None,
        Stage.AFTER_ANSWER: draft.item_code is not None,
        Stage.AFTER_RECEIPT: state.last_case is not None,
        Stage.CHOOSE_CORRECTION: state.last_case is not None and state.last_case.number is not None,
        Stage.SURVEY_RETRY: state.survey_retry is not None,
    }
    return needs.get(stage, True)


def _hint(language: str) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


__all__ = ["ANY", "TRANSITIONS", "Event", "Outcome", "classify", "handler_for", "step"]
