"""The dialogue's handlers: small pure functions from a turn to the next state and effects.

`bot.dialogue.machine` decides which handler answers which (stage, event); each handler here
does one thing — open a case, offer choices, ask where — and names the stage that follows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.dialogue import policy, words
from bot.dialogue.context import CaseSummary, Context
from bot.dialogue.reading import Reading, older_than
from bot.dialogue.state import PENDING_STAGES, DialogueState, Draft, LastCase, Stage
from bot.effects import (
    AFTER_OPEN_CASE,
    AFTER_RECLASSIFY_CASE,
    AFTER_SET_CASE_PLACE,
    Effect,
    HandOff,
    HandOffReason,
    OpenCase,
    OptIn,
    OptOut,
    ParamValue,
    ReclassifyCase,
    RecordRating,
    Reply,
    SetCasePlace,
    UpdateContact,
)
from bot.gazetteer import AreaRow, romanize
from bot.texts import fits_sms, moment_reply, render, texts
from intents.catalog import CatalogItem

Outcome = tuple[DialogueState, list[Effect]]
Handler = Callable[["Turn"], Outcome]

_VILLAGE_LEVELS = ("village", "grid")
# Stages whose draft a new description continues (rather than starts afresh).
_CONTINUING = frozenset({Stage.DESCRIBE, Stage.CONFIRM_ITEM, Stage.CHOOSE_ITEM})


@dataclass(frozen=True)
class Turn:
    """One step's inputs, read once: the state, the message as read, the context."""

    state: DialogueState
    reading: Reading
    context: Context
    language: str
    entered: Stage  # the stage the step began in (before an offer lapsed)
    channel: str = "sms"  # the channel the message came in on

    @property
    def draft(self) -> Draft:
        """The request being put together."""
        return self.state.draft

    def reply(self, key: str, *, after: str | None = None, **params: ParamValue) -> Reply:
        """A reply in the turn's language."""
        return Reply(key, params, self.language, after)

    def item(self, code: str | None) -> CatalogItem | None:
        """The catalog item for a code, None for an unknown one."""
        if code is None:
            return None
        try:
            return self.context.catalog.item(code)
        except KeyError:
            return None

    def item_name(self, code: str) -> str:
        """The item's name in the turn's language."""
        item = self.item(code)
        if item is None:
            return code
        return item.en if self.language == "en" else item.zh

    def area(self, area_id: int | None) -> AreaRow | None:
        """The area with this id, None when unknown."""
        return None if area_id is None else self.context.gazetteer.get(area_id)

    def area_label(self, area_id: int) -> str:
        """An area's name with its town in front (东澳镇东门村), as residents tell them apart.

        In English, in pinyin with the town after it (Dongmen Village, Dongao Town): a Chinese
        character would make an English SMS take UCS-2's shorter segments.
        """
        area = self.area(area_id)
        if area is None:
            return str(area_id)
        town = self.town_of(area_id)
        if self.language == "en":
            if town is None or town.id == area.id or area.name.startswith(town.name):
                return romanize(area.name)
            return f"{romanize(area.name)}, {romanize(town.name)}"
        if town is None or town.id == area.id or area.name.startswith(town.name):
            return area.name
        return town.name + area.name

    def town_of(self, area_id: int | None) -> AreaRow | None:
        """The town an area lies in (itself for a town)."""
        area = self.area(area_id)
        if area is None:
            return None
        chain = [area, *self.context.gazetteer.ancestors(area.id)]
        return next((row for row in chain if row.level == "town"), None)

    def village_of(self, area_id: int | None) -> int | None:
        """The village of an area: itself, or the village of a grid; None above villages."""
        area = self.area(area_id)
        if area is None:
            return None
        if area.level == "village":
            return area.id
        if area.level == "grid":
            parent = self.area(area.parent_id)
            return parent.id if parent is not None and parent.level == "village" else area.id
        return None


# --- replies used by several handlers ----------------------------------------------------


def _choices(turn: Turn, labels: list[str]) -> tuple[Reply, ...]:
    return tuple(
        turn.reply("choice_line", number=index, label=label)
        for index, label in enumerate(labels, start=1)
    )


def _item_choices(turn: Turn, codes: tuple[str, ...]) -> tuple[Reply, ...]:
    return _choices(turn, [turn.item_name(code) for code in codes])


def _place_choices(turn: Turn, area_ids: tuple[int, ...]) -> tuple[Reply, ...]:
    return _choices(turn, [turn.area_label(area_id) for area_id in area_ids])


def _time_limit(turn: Turn, item: CatalogItem) -> Reply:
    if item.time_limit.hours is not None:
        return turn.reply("time_hours", hours=item.time_limit.hours)
    if not item.time_limit.working_days:
        return turn.reply("time_immediate")
    return turn.reply("time_working_days", days=item.time_limit.working_days)


def _text(turn: Turn, zh: str, en: str) -> str:
    return en if turn.language == "en" else zh


def faq_answer(turn: Turn, item: CatalogItem, topic: str) -> tuple[ParamValue, bool]:
    """The catalog's answer to a question on `topic`, and whether it is the item's summary.

    The FAQ answer when there is one; else the catalog's own field (materials list, fees,
    time limit); else the item's summary, which is longer than an answer.
    """
    faq = item.faq_for(topic)
    if faq is not None:
        return faq.a.get(turn.language), False
    if topic == "materials" and item.materials:  # concerns: a short list
        separator = "; " if turn.language == "en" else "、"
        return separator.join(m.get(turn.language) for m in item.materials), False
    if topic == "fees":
        return item.fees.get(turn.language), False
    if topic == "time":
        return _time_limit(turn, item), False
    return item.summary.get(turn.language), True


def _materials(turn: Turn, item: CatalogItem) -> ParamValue:
    """What to bring: the catalog's own answer (written to fit an SMS), else the list."""
    return faq_answer(turn, item, "materials")[0]


def _unit(turn: Turn, item: CatalogItem, area_id: int | None) -> ParamValue:
    """Who will handle it: the village, the town's service centre, or the department.

    English replies name the department: place names are Chinese, and one Chinese character
    would make an English SMS take UCS-2's shorter segments.
    """
    if turn.language != "en":
        village = turn.village_of(area_id)
        if item.level == "village" and village is not None:
            return turn.area_label(village)
        town = turn.town_of(area_id)
        if item.level == "town" and town is not None:
            return turn.reply("unit_town", town=town.name)
    try:
        department = turn.context.catalog.department(item.department)
    except KeyError:
        return turn.reply("unit_unknown")
    return _text(turn, department.zh, department.en)


def _hand_off_reply(turn: Turn) -> Reply:
    if turn.context.office_hours_open:
        return turn.reply("hand_off_open")
    opening = turn.context.next_office_opening
    when = (
        moment_reply(opening, turn.language)
        if opening is not None
        else turn.reply("next_working_day")
    )
    return turn.reply("hand_off_closed", opening=when)


# --- state helpers -------------------------------------------------------------------------


def _at(turn: Turn, stage: Stage, draft: Draft, *effects: Effect, tries: int = 0) -> Outcome:
    """Move to `stage` with `draft`."""
    return replace(turn.state, stage=stage, draft=draft, tries=tries), list(effects)


def _idle(turn: Turn, *effects: Effect) -> Outcome:
    return turn.state.idle(), list(effects)


def _stay(turn: Turn, *effects: Effect) -> Outcome:
    return turn.state, list(effects)


def _gave_up(turn: Turn) -> bool:
    """Whether this failed answer is the last one allowed for the pending question."""
    return turn.state.tries + 1 >= policy.MAX_TRIES


def _continuing_draft(turn: Turn) -> Draft:
    if turn.entered in PENDING_STAGES or turn.entered is Stage.AFTER_ANSWER:
        return turn.draft
    return Draft()


def pick_option(turn: Turn, codes: tuple[str, ...]) -> int | None:
    """Which offered item a reply picks: its number, its name, or the NLU naming it."""
    reading = turn.reading
    number = reading.choice
    if number is not None:
        return number - 1 if 1 <= number <= len(codes) else None
    named = [
        index
        for index, code in enumerate(codes)
        if (item := turn.item(code)) is not None
        and len(reading.compact) >= 2
        and any(reading.compact in words.squeeze(name) for name in (item.zh, item.en))
    ]
    if len(named) == 1:
        return named[0]
    top = reading.top_item
    if top is not None and top.code in codes and top.confidence >= policy.PICK_MIN:
        return codes.index(top.code)
    return None


def pick_place(turn: Turn, options: tuple[int, ...]) -> int | None:
    """Which offered place a reply picks by number."""
    number = turn.reading.choice
    if number is not None and 1 <= number <= len(options):
        return number - 1
    return None


def read_place(turn: Turn) -> tuple[int | None, tuple[int, ...]]:
    """The place a message names: one area id, or the areas to choose from when ambiguous."""
    mentions = turn.reading.areas
    if not mentions:
        return None, ()

    def fine(ids: tuple[int, ...]) -> bool:
        return any((a := turn.area(i)) is not None and a.level in _VILLAGE_LEVELS for i in ids)

    ids = next((m for m in mentions if fine(m)), mentions[0])
    if len(ids) == 1:
        return ids[0], ()
    home = turn.town_of(turn.context.area_id)
    if home is not None:
        near = [i for i in ids if (town := turn.town_of(i)) is not None and town.id == home.id]
        if len(near) == 1:
            return near[0], ()
    return None, ids[: policy.MAX_CHOICES]


def read_name(turn: Turn) -> str | None:
    """A name the resident gives: 我叫张三, a bare 张三, or a Latin name in English."""
    reading = turn.reading
    if reading.name:
        return reading.name[: policy.MAX_NAME_CHARS]
    leftover = reading.leftover()
    if words.is_bare_name(leftover):
        return leftover
    if turn.language == "en":
        return words.english_name(reading.without_places())
    return None


def asked_topic(turn: Turn, code: str | None) -> str | None:
    """The FAQ topic asked; for a concern only when the message is put as a question."""
    topic = turn.reading.topic
    item = turn.item(code)
    if topic is None or item is None:
        return None
    if item.kind == "concern" and not turn.reading.is_question:
        return None
    return topic


# --- commands that work in every stage --------------------------------------------------


def opt_out(turn: Turn) -> Outcome:
    """退订: stop every message and confirm; pending questions are dropped."""
    state = replace(turn.state.idle(), opted_out_hint_at=None)
    return state, [OptOut(), turn.reply("opted_out")]


def opt_in(turn: Turn) -> Outcome:
    """订阅 / START from an opted-out resident: messages again."""
    state = replace(turn.state.idle(), opted_out_hint_at=None)
    return state, [OptIn(), turn.reply("opted_in")]


def remind_opted_out(turn: Turn) -> Outcome:
    """An opted-out resident writes: one reply on how to opt back in, then silence for a day."""
    told = turn.state.opted_out_hint_at
    if told is not None and not older_than(told, turn.context.now, policy.OPTED_OUT_HINT_EVERY):
        return _stay(turn)
    return replace(turn.state, opted_out_hint_at=turn.context.now), [turn.reply("opted_out_hint")]


def ask_to_resend(turn: Turn) -> Outcome:
    """An empty message: say so; a pending question stays pending."""
    return _stay(turn, turn.reply("empty_message"))


def hand_off(turn: Turn) -> Outcome:
    """The resident asks for a person: hand off and say when someone will answer."""
    return _idle(turn, HandOff(HandOffReason.REQUESTED), _hand_off_reply(turn))


def _hand_off_unclear(turn: Turn) -> Outcome:
    """Two failed attempts to understand: a person reads the description instead."""
    return _idle(turn, HandOff(HandOffReason.UNCLEAR), _hand_off_reply(turn))


def cancel(turn: Turn) -> Outcome:
    """算了: drop the pending request."""
    return _idle(turn, turn.reply("anything_else"))


def open_urgent(turn: Turn) -> Outcome:
    """Danger to life or property: open an urgent case at once, asking nothing."""
    last = turn.state.last_case
    now = turn.context.now
    # The last urgent case, even when another case was opened after it (urgent_at); states
    # stored before urgent_at existed still have it on last_case.
    urgent_at = turn.state.urgent_at or (
        last.opened_at if last is not None and last.urgent else None
    )
    if urgent_at is not None and not older_than(urgent_at, now, policy.URGENT_FOLLOW_UP):
        return _idle(turn, HandOff(HandOffReason.URGENT_FOLLOW_UP), turn.reply("urgent_follow_up"))
    pending = turn.draft
    if (
        turn.entered in (Stage.ASK_PLACE, Stage.CHOOSE_PLACE)
        and pending.item_code is not None
        and not pending.for_proxy
        and _urgent_item(turn, Draft())[0] != pending.item_code
    ):
        # Asked where about one matter, the resident reports a danger of another: the first is
        # opened without a place (staff will ask), then the emergency, in the same turn.
        opened, effects = _open_case(
            turn, replace(pending, area_options=()), receipt="receipt_before_next"
        )
        fresh = replace(turn, state=replace(opened.idle(), last_case=None), entered=Stage.IDLE)
        state, more = open_urgent(fresh)
        return state, [*effects, *more]
    draft = _continuing_draft(turn).with_words(turn.reading.raw)
    code, confidence = _urgent_item(turn, draft)
    area_id, options = read_place(turn)
    area_id = area_id or (options[0] if options else None) or draft.area_id
    if area_id is None and turn.area(turn.context.area_id) is not None:
        area_id = turn.context.area_id
    draft = replace(draft, item_code=code, confidence=confidence, area_id=area_id)
    state, effects = _open_case(turn, draft, urgent=True)
    return replace(state, urgent_at=now), effects


def _urgent_item(turn: Turn, draft: Draft) -> tuple[str, float]:
    top = turn.reading.item_at_least(policy.CHOICES_BELOW)
    if top is not None and (item := turn.item(top.code)) is not None and item.kind == "concern":
        return top.code, top.confidence
    drafted = turn.item(draft.item_code)
    if drafted is not None and drafted.kind == "concern" and draft.item_code is not None:
        return draft.item_code, draft.confidence
    return turn.reading.urgent_item or "safety_fire_hazard", policy.URGENT_WORD_CONFIDENCE


# --- progress ------------------------------------------------------------------------------


def show_case_status(turn: Turn) -> Outcome:
    """Case numbers in the message: the status of each; a pending question stays pending."""
    effects: list[Effect] = []
    for number in turn.reading.case_numbers:
        case = turn.context.case(number)
        if case is None:
            effects.append(turn.reply("case_unknown", number=number))
        else:
            effects.append(_case_status(turn, case))
    if turn.state.stage in PENDING_STAGES:
        return _stay(turn, *effects)
    return _idle(turn, *effects)


def _case_status(turn: Turn, case: CaseSummary) -> Reply:
    item = turn.item(case.item_code)
    if not case.mine and (item is None or item.kind == "service"):
        # A personal matter (低保, 独生子女证 …): that someone applied is theirs to tell.
        return turn.reply("case_not_yours", number=case.number)
    status = case.status_en if turn.language == "en" else case.status_zh
    event: ParamValue = ""
    if case.merged_into:
        event = turn.reply("case_merged_into", number=case.merged_into)
    elif case.last_event and case.last_event.strip():
        event = turn.reply("case_last_event", text=_shorten(case.last_event))
    due: ParamValue = ""
    if case.due is not None and case.status not in _FINISHED:
        local = case.due.astimezone(turn.context.now.tzinfo)
        due = turn.reply("case_due", due=moment_reply(local, turn.language))
    return turn.reply(
        "case_status",
        number=case.number,
        item=turn.item_name(case.item_code),
        status=status,
        last_event=event,
        due=due,
    )


def _shorten(text: str) -> str:
    """Quote at most a line of an event: Chinese text is short, SMS segments being UCS-2."""
    text = " ".join(text.split())
    chinese = any("\u3400" <= char <= "\u9fff" for char in text)
    limit = policy.LAST_EVENT_MAX_CHARS["zh" if chinese else "en"]
    if len(text) <= limit:
        return text.rstrip("。.")
    return text[: limit - 1] + "…" if chinese else text[: limit - 3] + "..."


_FINISHED = frozenset({"resolved", "rated", "closed", "rejected", "merged"})


def show_my_cases(turn: Turn) -> Outcome:
    """我的案件: the resident's recent cases, newest first."""
    cases = sorted(turn.context.cases, key=_case_order, reverse=True)[: policy.MAX_LISTED_CASES]
    if not cases:
        return _idle(turn, turn.reply("no_cases"))
    lines = tuple(
        turn.reply(
            "case_line",
            number=case.number,
            item=turn.item_name(case.item_code),
            status=case.status_en if turn.language == "en" else case.status_zh,
        )
        for case in cases
    )
    return _idle(turn, turn.reply("my_cases", cases=lines))


def _case_order(case: CaseSummary) -> tuple[str, int]:
    """Case numbers sort by day, then by the sequence (which may grow past four digits)."""
    day, sequence = case.number[:8], case.number[8:]
    return day, int(sequence) if sequence.isdigit() else 0


# --- small talk and the help menu -------------------------------------------------------


def greet(turn: Turn) -> Outcome:
    """你好: say what the bot can do."""
    return _idle(turn, turn.reply("greet"))


def thank(turn: Turn) -> Outcome:
    """谢谢: you are welcome."""
    return _idle(turn, turn.reply("thanks_reply"))


def acknowledge(turn: Turn) -> Outcome:
    """好的 with nothing pending."""
    return _idle(turn, turn.reply("acknowledge"))


def show_menu(turn: Turn) -> Outcome:
    """Anything the bot cannot place: the help menu, shorter and pointing to a person next."""
    again = turn.entered is Stage.MENU
    key = "help_menu_again" if again else "help_menu"
    tries = turn.state.tries + 1 if again else 0
    return _at(turn, Stage.MENU, Draft(), turn.reply(key), tries=tries)


def menu_choice(turn: Turn) -> Outcome:
    """1 report, 2 services, 3 progress, 4 a person."""
    choice = turn.reading.choice
    if choice == 1:
        return _at(turn, Stage.DESCRIBE, Draft(), turn.reply("describe_prompt"))
    if choice == 2:
        return _at(turn, Stage.DESCRIBE, Draft(), turn.reply("describe_service_prompt"))
    if choice == 3:
        return show_my_cases(turn)
    return hand_off(turn)


# --- understanding the request ---------------------------------------------------------


def start_request(turn: Turn) -> Outcome:
    """A report, a service request or a question: settle the item, confirming if unsure."""
    draft = turn.draft if turn.entered in _CONTINUING else Draft()
    reading = turn.reading
    draft = draft.with_words(reading.raw)
    area_id, options = read_place(turn)
    if area_id is not None or options:
        draft = replace(draft, area_id=area_id, area_options=options)
    ranked = [c for c in reading.items if c.confidence >= policy.CANDIDATE_MIN]
    if not ranked:
        return _describe_again(turn, draft)
    top = ranked[0]
    draft = replace(draft, topic=asked_topic(turn, top.code) or draft.topic)
    # The runners-up offered when the resident says 不是 (confirming) or 回复0 (after a receipt).
    others = tuple(c.code for c in ranked[1 : policy.MAX_CHOICES + 1])
    if top.confidence >= policy.CONFIRM_BELOW and turn.channel not in policy.ALWAYS_CONFIRM:
        understood = replace(
            draft, item_code=top.code, confidence=top.confidence, alternatives=_runners_up(turn)
        )
        return proceed(turn, replace(understood, candidates=()))
    choices = tuple(c.code for c in ranked[: policy.MAX_CHOICES])
    if top.confidence >= policy.CHOICES_BELOW or len(choices) == 1:  # (or a sure one on voice)
        draft = replace(
            draft, candidates=(top.code,), confidence=top.confidence, alternatives=others
        )
        reply = turn.reply("confirm_item", item=turn.item_name(top.code))
        return _at(turn, Stage.CONFIRM_ITEM, draft, reply)
    draft = replace(draft, candidates=choices, confidence=top.confidence, alternatives=())
    reply = turn.reply("choose_item", choices=_item_choices(turn, choices))
    return _at(turn, Stage.CHOOSE_ITEM, draft, reply)


def _runners_up(turn: Turn) -> tuple[str, ...]:
    """What 回复0 offers after a sure reading: the next items of the ranking however unsure the
    classifier was of them (once the first reading is refused they are the best guesses left),
    of the same kind as the first (a misread street light is another concern, not a
    party-membership transfer)."""
    items = [(c.code, turn.item(c.code)) for c in turn.reading.items]
    if not items or items[0][1] is None:
        return ()
    kind = items[0][1].kind
    same = tuple(code for code, item in items[1:] if item is not None and item.kind == kind)
    return same[: policy.MAX_CHOICES]


def start_new_request(turn: Turn) -> Outcome:
    """A clearly different request in the middle of another: start it afresh."""
    fresh = replace(turn, state=turn.state.idle(), entered=Stage.IDLE)
    return start_request(fresh)


def _describe_again(turn: Turn, draft: Draft) -> Outcome:
    if len(draft.description) >= policy.MAX_DESCRIPTIONS:
        return _hand_off_unclear(replace(turn, state=replace(turn.state, draft=draft)))
    return _at(turn, Stage.DESCRIBE, draft, turn.reply("describe_again"))


def describe_again(turn: Turn) -> Outcome:
    """都不是: ask for the matter in other words (a person after a few rounds)."""
    return _describe_again(turn, replace(turn.draft, candidates=()))


def reprompt_describe(turn: Turn) -> Outcome:
    """Still nothing the classifier can place: ask again, then a person."""
    draft = turn.draft.with_words(turn.reading.raw)
    if _gave_up(turn):
        return _hand_off_unclear(replace(turn, state=replace(turn.state, draft=draft)))
    return _at(
        turn, Stage.DESCRIBE, draft, turn.reply("describe_prompt"), tries=turn.state.tries + 1
    )


def item_confirmed(turn: Turn) -> Outcome:
    """是: the offered item is right."""
    code = turn.draft.candidates[0]
    draft = replace(turn.draft, item_code=code, confidence=policy.RESIDENT_CONFIRMED, candidates=())
    return proceed(turn, draft)


def item_denied(turn: Turn) -> Outcome:
    """不是: offer the runners-up, or ask for the matter in other words."""
    others = tuple(c for c in turn.draft.alternatives if turn.item(c) is not None)
    others = others[: policy.MAX_CHOICES]
    if not others:
        return _describe_again(turn, replace(turn.draft, candidates=()))
    draft = replace(turn.draft, candidates=others, alternatives=())
    reply = turn.reply("choose_item", choices=_item_choices(turn, others))
    return _at(turn, Stage.CHOOSE_ITEM, draft, reply)


def reprompt_confirm(turn: Turn) -> Outcome:
    """Neither yes nor no: ask again, then a person."""
    if _gave_up(turn):
        return _hand_off_unclear(turn)
    reply = turn.reply("confirm_item_again", item=turn.item_name(turn.draft.candidates[0]))
    return _at(turn, Stage.CONFIRM_ITEM, turn.draft, reply, tries=turn.state.tries + 1)


def item_chosen(turn: Turn) -> Outcome:
    """A numbered choice (1, ①, 二, or the item's name)."""
    options = turn.draft.candidates
    index = pick_option(turn, options)
    if index is None:  # the machine only sends CHOICE when one is picked
        return reprompt_choose(turn)
    others = tuple(code for code in options if code != options[index])
    draft = replace(
        turn.draft,
        item_code=options[index],
        confidence=policy.RESIDENT_CONFIRMED,
        candidates=(),
        alternatives=others,
    )
    return proceed(turn, draft)


def reprompt_choose(turn: Turn) -> Outcome:
    """No choice made: list them again, then a person."""
    if _gave_up(turn):
        return _hand_off_unclear(turn)
    reply = turn.reply("choose_item_again", choices=_item_choices(turn, turn.draft.candidates))
    return _at(turn, Stage.CHOOSE_ITEM, turn.draft, reply, tries=turn.state.tries + 1)


def proceed(turn: Turn, draft: Draft) -> Outcome:
    """The item is settled: answer the question, offer the service, or report the concern."""
    item = turn.item(draft.item_code)
    if item is None:
        return show_menu(turn)
    if draft.topic is not None:
        return answer(turn, draft)
    if item.kind == "service":
        return offer_service(turn, draft, item)
    return continue_report(turn, draft)


# --- questions (材料 / 费用 / 多久) ---------------------------------------------------------


def answer(turn: Turn, draft: Draft) -> Outcome:
    """Answer from the catalog's FAQ, open nothing, and offer to go ahead."""
    item = turn.item(draft.item_code)
    if item is None or draft.topic is None:
        return show_menu(turn)
    key = "offer_after_answer_service" if item.kind == "service" else "offer_after_answer_concern"
    offer = turn.reply(key)
    content, is_summary = faq_answer(turn, item, draft.topic)
    if is_summary:
        # The item's summary stands in for a missing answer: longer, so the offer goes apart.
        effects: list[Effect] = [turn.reply("item_summary", summary=content), offer]
    else:
        # Named, so the resident sees which matter the answer is about, when that still fits
        # in two SMS segments; a long answer goes without the name.
        named = turn.reply(
            "faq_answer_named", item=turn.item_name(item.code), answer=content, offer=offer
        )
        fits = fits_sms(render(named, texts()))
        effects = [named if fits else turn.reply("faq_answer", answer=content, offer=offer)]
    return _at(turn, Stage.AFTER_ANSWER, replace(draft, topic=None), *effects)


def answer_follow_up(turn: Turn) -> Outcome:
    """Another question about the same item (还要交钱吗?)."""
    return answer(turn, replace(turn.draft, topic=turn.reading.topic))


def answer_accepted(turn: Turn) -> Outcome:
    """1 after an answer: go ahead — the proxy agent for a service, a case for a concern."""
    item = turn.item(turn.draft.item_code)
    if item is None:
        return show_menu(turn)
    if item.kind == "service":
        return proxy_details(turn, replace(turn.draft, for_proxy=True))
    return continue_report(turn, turn.draft)


def anything_else(turn: Turn) -> Outcome:
    """不用了 after an answer."""
    return _idle(turn, turn.reply("anything_else"))


# --- proxy services (便民代办) ------------------------------------------------------------


def offer_service(turn: Turn, draft: Draft, item: CatalogItem) -> Outcome:
    """Materials, fees and time limit; then: the village proxy agent, or the information only.

    A resident who already asked for it (帮我代办, 想找人代办) is not asked again: the
    information, then name and village (or the case at once when both are known).
    """
    effects: list[Effect] = [
        turn.reply(
            "service_materials", item=turn.item_name(item.code), materials=_materials(turn, item)
        ),
        turn.reply(
            "service_terms", fees=item.fees.get(turn.language), time_limit=_time_limit(turn, item)
        ),
    ]
    if words.wants_proxy(turn.reading.compact):
        state, more = proxy_details(turn, replace(draft, for_proxy=True))
        return state, [*effects, *more]
    return _at(turn, Stage.OFFER_PROXY, draft, *effects, turn.reply("offer_proxy"))


def proxy_accepted(turn: Turn) -> Outcome:
    """1: the proxy agent is to do it."""
    return proxy_details(turn, replace(turn.draft, for_proxy=True))


def info_only(turn: Turn) -> Outcome:
    """2: the information was enough."""
    return _idle(turn, turn.reply("info_only"))


def reprompt_offer(turn: Turn) -> Outcome:
    """Neither 1 nor 2: ask again, then take it as information only."""
    if _gave_up(turn):
        return info_only(turn)
    return _at(
        turn,
        Stage.OFFER_PROXY,
        turn.draft,
        turn.reply("offer_proxy_again"),
        tries=turn.state.tries + 1,
    )


def proxy_details(turn: Turn, draft: Draft, tries: int = 0) -> Outcome:
    """Open the proxy case once name and village are known; ask for what is missing."""
    name = draft.name or turn.context.contact_name
    village = turn.village_of(draft.area_id) or turn.village_of(turn.context.area_id)
    if name and village is not None:
        return _open_case(turn, replace(draft, area_id=village))
    if tries >= policy.MAX_TRIES:
        return _open_case(turn, replace(draft, area_id=village or draft.area_id))
    town = turn.area(draft.area_id)
    if not name and village is None:
        reply = turn.reply("ask_details")
    elif village is None and town is not None and town.level == "town":
        reply = turn.reply("ask_village_in_town", place=turn.area_label(town.id))
    elif village is None:
        reply = turn.reply("ask_village")
    else:
        reply = turn.reply("ask_name")
    return _at(turn, Stage.ASK_DETAILS, draft, reply, tries=tries)


def details_given(turn: Turn) -> Outcome:
    """A name, a village, or both."""
    area_id, options = read_place(turn)
    name = read_name(turn)
    draft = turn.draft
    if options and area_id is None:
        draft = replace(draft, name=name or draft.name, area_options=options)
        reply = turn.reply("choose_place", choices=_place_choices(turn, options))
        return _at(turn, Stage.CHOOSE_PLACE, draft, reply)
    draft = replace(draft, name=name or draft.name, area_id=area_id or draft.area_id)
    return proxy_details(turn, draft, tries=turn.state.tries + 1)


def reprompt_details(turn: Turn) -> Outcome:
    """Neither a name nor a village: ask again, then open with what is known."""
    if _gave_up(turn):
        return proxy_details(turn, turn.draft, tries=policy.MAX_TRIES)
    return _at(
        turn,
        Stage.ASK_DETAILS,
        turn.draft,
        turn.reply("ask_details_again"),
        tries=turn.state.tries + 1,
    )


def skip_details(turn: Turn) -> Outcome:
    """跳过: open the proxy case with what is known; the agent will call."""
    return proxy_details(turn, turn.draft, tries=policy.MAX_TRIES)


# --- reporting a concern ---------------------------------------------------------------------


def continue_report(turn: Turn, draft: Draft, tries: int = 0) -> Outcome:
    """Open the case when the place is known well enough; otherwise ask where."""
    item = turn.item(draft.item_code)
    area = turn.area(draft.area_id)
    if item is None:
        return show_menu(turn)
    need_village = item.level == "village"
    if area is not None and (area.level in _VILLAGE_LEVELS or not need_village):
        return _open_case(turn, draft)
    if tries >= policy.MAX_TRIES:
        return _open_case(turn, draft)
    if draft.area_options:
        reply = turn.reply("choose_place", choices=_place_choices(turn, draft.area_options))
        return _at(turn, Stage.CHOOSE_PLACE, draft, reply, tries=tries)
    if area is not None:
        reply = turn.reply("ask_village_in_town", place=turn.area_label(area.id))
        return _at(turn, Stage.ASK_PLACE, draft, reply, tries=tries)
    known = turn.context.area_id
    if turn.area(known) is not None and known is not None and draft.suggested_area_id != known:
        draft = replace(draft, suggested_area_id=known)
        reply = turn.reply("ask_place_known", place=turn.area_label(known))
        return _at(turn, Stage.ASK_PLACE, draft, reply, tries=tries)
    return _at(turn, Stage.ASK_PLACE, draft, turn.reply("ask_place"), tries=tries)


def place_given(turn: Turn) -> Outcome:
    """A place in the answer: open the case (or choose, if the name is shared)."""
    area_id, options = read_place(turn)
    draft = replace(
        turn.draft.with_words(turn.reading.raw),
        area_id=area_id or turn.draft.area_id,
        area_options=options,
        suggested_area_id=None,
    )
    if turn.draft.for_proxy:
        return proxy_details(turn, draft, tries=turn.state.tries + 1)
    return continue_report(turn, draft, tries=turn.state.tries + 1)


def place_chosen(turn: Turn) -> Outcome:
    """A numbered place choice."""
    index = pick_place(turn, turn.draft.area_options)
    if index is None:
        return reprompt_place(turn)
    draft = replace(turn.draft, area_id=turn.draft.area_options[index], area_options=())
    if draft.for_proxy:
        return proxy_details(turn, draft)
    return continue_report(turn, draft)


def place_confirmed(turn: Turn) -> Outcome:
    """1 / 是 to "是在东门社区吗?"."""
    suggested = turn.draft.suggested_area_id
    if suggested is None:
        return reprompt_place(turn)
    return continue_report(turn, replace(turn.draft, area_id=suggested, suggested_area_id=None))


def place_denied(turn: Turn) -> Outcome:
    """Not there / none of these: ask for the place by name."""
    draft = replace(turn.draft, area_options=(), suggested_area_id=None)
    stage = Stage.ASK_DETAILS if draft.for_proxy else Stage.ASK_PLACE
    key = "ask_village" if draft.for_proxy else "ask_place"
    return _at(turn, stage, draft, turn.reply(key), tries=turn.state.tries)


def open_without_place(turn: Turn) -> Outcome:
    """跳过: open with what is known; staff will ask."""
    if turn.draft.for_proxy:
        return proxy_details(turn, turn.draft, tries=policy.MAX_TRIES)
    return _open_case(turn, replace(turn.draft, area_options=()))


def open_then_take_up(turn: Turn) -> Outcome:
    """A clearly different matter while asked where: neither matter is dropped.

    The one reported is opened without a place, as 跳过 would (staff will ask where), and the new
    message then starts a request of its own, in the same turn.
    """
    opened, effects = _open_case(
        turn, replace(turn.draft, area_options=()), receipt="receipt_before_next"
    )
    # Its receipt offers no 0-correction: the next reply is about the new matter.
    fresh = replace(turn, state=replace(opened.idle(), last_case=None), entered=Stage.IDLE)
    state, more = start_request(fresh)
    return state, [*effects, *more]


def reprompt_place(turn: Turn) -> Outcome:
    """No place found: ask again (keeping the words, they may say where), then open anyway."""
    draft = turn.draft.with_words(turn.reading.raw)
    if _gave_up(turn):
        if draft.for_proxy:
            return proxy_details(turn, draft, tries=policy.MAX_TRIES)
        return _open_case(turn, replace(draft, area_options=()))
    reply = (
        turn.reply("choose_place", choices=_place_choices(turn, draft.area_options))
        if draft.area_options
        else turn.reply("ask_place_again")
    )
    return _at(turn, turn.state.stage, draft, reply, tries=turn.state.tries + 1)


def _open_case(
    turn: Turn, draft: Draft, *, urgent: bool = False, receipt: str = "receipt"
) -> Outcome:
    """Open the case and send the receipt; the case may be corrected right after it."""
    item = turn.item(draft.item_code)
    if item is None:  # the handlers only get here with a catalog item
        return show_menu(turn)
    description = "\n".join(draft.description)[: policy.MAX_DESCRIPTION_CHARS]
    effects: list[Effect] = [
        OpenCase(
            item_code=item.code,
            description=description or turn.item_name(item.code),
            area_id=draft.area_id,
            confidence=round(draft.confidence, 3),
            urgent=urgent,
            name=draft.name or (turn.context.contact_name if draft.for_proxy else None),
            for_proxy_agent=draft.for_proxy,
        )
    ]
    params: dict[str, ParamValue] = {
        "item": turn.item_name(item.code),
        "unit": _unit(turn, item, draft.area_id),
    }
    if urgent:
        key = "receipt_urgent"
    elif draft.for_proxy:
        key = "receipt_proxy"
        update = _contact_update(turn, draft)
        if update is not None:
            effects.append(update)
        name = draft.name or turn.context.contact_name
        params["name"] = name if name else turn.reply("you")
        params["place"] = (
            turn.area_label(draft.area_id)
            if turn.area(draft.area_id) is not None and draft.area_id is not None
            else turn.reply("your_village")
        )
    else:
        key = receipt
    effects.append(Reply(key, params, turn.language, AFTER_OPEN_CASE))
    last = LastCase(
        number=None,
        item_code=item.code,
        alternatives=tuple(c for c in draft.alternatives if c != item.code),
        opened_at=turn.context.now,
        urgent=urgent,
        area_id=draft.area_id,
    )
    state = replace(turn.state.idle(), stage=Stage.AFTER_RECEIPT, last_case=last)
    return state, effects


def _contact_update(turn: Turn, draft: Draft) -> UpdateContact | None:
    name = draft.name if draft.name and draft.name != turn.context.contact_name else None
    village = turn.village_of(draft.area_id)
    area_id = village if village is not None and village != turn.context.area_id else None
    if name is None and area_id is None:
        return None
    return UpdateContact(name=name, area_id=area_id)


# --- correcting the item right after a receipt ------------------------------------------


def start_correction(turn: Turn) -> Outcome:
    """回复0 / 不对: offer the runners-up (or take the item the message names)."""
    last = turn.state.last_case
    if last is None:
        return correction_handoff(turn)
    number = last.number or _recent_case_number(turn, last)
    if number is None:
        return correction_handoff(turn)
    last = replace(last, number=number)
    state = replace(turn.state, last_case=last)
    turn = replace(turn, state=state)
    top = turn.reading.item_at_least(policy.CONFIRM_BELOW)
    if top is not None and top.code != last.item_code:
        return _reclassify(turn, top.code)
    options = tuple(c for c in last.alternatives if c != last.item_code and turn.item(c))
    options = options[: policy.MAX_CHOICES]
    draft = Draft(candidates=options, description=(turn.reading.raw,))
    reply = (
        turn.reply("correction_choose", choices=_item_choices(turn, options))
        if options
        else turn.reply("correction_describe")
    )
    return _at(turn, Stage.CHOOSE_CORRECTION, draft, reply)


def _recent_case_number(turn: Turn, last: LastCase) -> str | None:
    """The shell did not record the number: the newest open case with the receipt's item."""
    matching = [
        case
        for case in turn.context.cases
        if case.item_code == last.item_code and case.status in {"new", "accepted", "dispatched"}
    ]
    if not matching:
        return None
    return max(matching, key=_case_order).number


def reclassify_chosen(turn: Turn) -> Outcome:
    """The right item, by number or name."""
    index = pick_option(turn, turn.draft.candidates)
    if index is None:
        return reprompt_correction(turn)
    return _reclassify(turn, turn.draft.candidates[index])


def reclassify_described(turn: Turn) -> Outcome:
    """The right item, described in words."""
    top = turn.reading.item_at_least(policy.CHOICES_BELOW)
    if top is None:
        return reprompt_correction(turn)
    return _reclassify(turn, top.code)


def correction_handoff(turn: Turn) -> Outcome:
    """A correction the bot cannot make itself: staff check the item."""
    return _idle(turn, HandOff(HandOffReason.MISCLASSIFIED), turn.reply("correction_handoff"))


def reprompt_correction(turn: Turn) -> Outcome:
    """No item named: ask again, then staff check it."""
    if _gave_up(turn):
        return correction_handoff(turn)
    options = turn.draft.candidates
    reply = (
        turn.reply("choose_item_again", choices=_item_choices(turn, options))
        if options
        else turn.reply("correction_describe")
    )
    return _at(turn, Stage.CHOOSE_CORRECTION, turn.draft, reply, tries=turn.state.tries + 1)


def _reclassify(turn: Turn, code: str) -> Outcome:
    last = turn.state.last_case
    if last is None or last.number is None or turn.item(code) is None:
        return correction_handoff(turn)
    if code == last.item_code:
        return _idle(turn, turn.reply("acknowledge"))
    effects: list[Effect] = [
        ReclassifyCase(number=last.number, item_code=code),
        turn.reply("reclassified", after=AFTER_RECLASSIFY_CASE, item=turn.item_name(code)),
    ]
    state = replace(turn.state.idle(), last_case=replace(last, item_code=code))
    return state, effects


# --- a place right after a receipt: the case just opened gets it ----------------------------


def case_place(turn: Turn) -> tuple[str, int] | None:
    """The case just opened and the place for it, when the message is only a place (和平镇,
    在渔港社区那边); None otherwise, or when the place is ambiguous or the case unknown."""
    last = turn.state.last_case
    reading = turn.reading
    if last is None or not reading.areas or reading.name is not None:
        return None
    if not words.only_place_words(words.squeeze(reading.without_places())):
        return None
    area_id, options = read_place(turn)
    town = turn.town_of(last.area_id)
    if area_id is None and town is not None:  # a shared name: the one in the case's town
        near = [i for i in options if (t := turn.town_of(i)) is not None and t.id == town.id]
        area_id = near[0] if len(near) == 1 else None
    number = last.number or _recent_case_number(turn, last)
    if area_id is None or number is None:
        return None
    if last.area_id is not None and area_id in _above(turn, last.area_id):
        area_id = last.area_id  # 东澳镇 for a case already in 渔港社区: keep the finer place
    return number, area_id


def _above(turn: Turn, area_id: int) -> set[int]:
    """The area and every area above it."""
    return {area_id} | {row.id for row in turn.context.gazetteer.ancestors(area_id)}


def set_case_place(turn: Turn) -> Outcome:
    """和平镇 right after a receipt: the place of the case just opened, not a new request."""
    found = case_place(turn)
    last = turn.state.last_case
    if found is None or last is None:  # the machine only sends CASE_PLACE when one is found
        return show_menu(turn)
    number, area_id = found
    effects: list[Effect] = [
        SetCasePlace(number=number, area_id=area_id),
        turn.reply("case_place_set", after=AFTER_SET_CASE_PLACE, place=turn.area_label(area_id)),
    ]
    last = replace(last, number=number, area_id=area_id)
    return replace(turn.state, last_case=last, tries=0), effects


# --- a resident who says who and where they are ---------------------------------------------

# Words that make a place the resident's home rather than where something happened.
_HOME = ("住", "家在", "我家", "我是", "ilive", "imfrom", "iamfrom", "livein", "myhome")


def introduction(turn: Turn) -> tuple[str | None, int | None] | None:
    """A message that only introduces the resident: 我叫王秀英，住在渔港社区 → (name, area).

    Either a name (我叫…, "my name is …") or a home (住在…, "I live in …") must be given; any
    other words make it something else. None when it is no introduction.
    """
    reading = turn.reading
    rest = words.squeeze(reading.without_places(names=True))
    name: str | None = None
    if reading.name is not None and len(reading.name) >= 2:
        name = reading.name[: policy.MAX_NAME_CHARS]
    elif turn.language == "en" and words.introduces_self_in_english(reading.text):
        name = words.english_name(reading.without_places())
        if name is not None:
            rest = rest.replace(words.squeeze(name), "", 1)
    elif reading.name is not None:
        return None  # 我姓王: a surname alone is not enough to greet by
    area_id, _ = read_place(turn) if reading.areas else (None, ())
    home = area_id is not None and any(word in rest for word in _HOME)
    if name is None and not home:
        return None
    if not words.only_introduction_words(rest):
        return None
    return name, area_id


def introduce(turn: Turn) -> Outcome:
    """我叫王秀英，住在东澳镇渔港社区: remember name and home, and ask what they need."""
    found = introduction(turn)
    if found is None:  # the machine only sends INTRODUCE for an introduction
        return show_menu(turn)
    name, area_id = found
    new_name = name if name is not None and name != turn.context.contact_name else None
    new_area = area_id if area_id is not None and area_id != turn.context.area_id else None
    effects: list[Effect] = []
    if new_name is not None or new_area is not None:
        effects.append(UpdateContact(name=new_name, area_id=new_area))
    if name is not None and area_id is not None:
        reply = turn.reply("introduced_with_place", name=name, place=turn.area_label(area_id))
    elif name is not None:
        reply = turn.reply("introduced", name=name)
    else:
        assert area_id is not None
        reply = turn.reply("introduced_place", place=turn.area_label(area_id))
    return _idle(turn, *effects, reply)


def only_a_place(turn: Turn) -> int | None:
    """The one place a message names when it says nothing else (和平镇, 在西街社区那边)."""
    reading = turn.reading
    if not reading.areas or reading.name is not None:
        return None
    if not words.only_place_words(words.squeeze(reading.without_places())):
        return None
    area_id, _ = read_place(turn)
    return area_id


def describe_at_place(turn: Turn) -> Outcome:
    """A place and nothing else, with nothing pending: keep it and ask what the matter is."""
    area_id = only_a_place(turn)
    if area_id is None:  # the machine only sends PLACE in idle for one place
        return show_menu(turn)
    draft = Draft(area_id=area_id).with_words(turn.reading.raw)
    reply = turn.reply("describe_at_place", place=turn.area_label(area_id))
    return _at(turn, Stage.DESCRIBE, draft, reply)


# --- survey (回访, 好差评) -------------------------------------------------------------------


def record_rating(turn: Turn) -> Outcome:
    """1–5 (or 非常满意 … 非常不满意): record it; 4 and 5 reopen the case."""
    number = turn.state.survey_retry or turn.context.pending_survey
    score = turn.reading.rating
    if number is None or score is None:
        return show_menu(turn)
    key = "rating_sorry" if score >= 4 else "rating_thanks"
    effects: list[Effect] = [RecordRating(number, score), turn.reply(key, number=number)]
    return replace(turn.state.idle(), survey_retry=None), effects


def reask_survey(turn: Turn) -> Outcome:
    """An unclear survey answer: ask once more; after that it is dropped."""
    state = replace(
        turn.state.idle(), stage=Stage.SURVEY_RETRY, survey_retry=turn.context.pending_survey
    )
    return state, [turn.reply("survey_reask")]
