"""The case lifecycle: the table of actions, their guards, and the append-only history."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases.clock import Clock
from cases.exceptions import ActionRefusedError, AppendOnlyError, TransitionError
from cases.lifecycle import ACTIONS, ActionContext, Actor, allowed_actions, perform
from cases.models import Case, CaseEvent
from cases.models.cases import ActorType, CaseKind, CaseStatus, HandlingKind, WarningLevel
from cases.models.messaging import Channel

SHANGHAI = ZoneInfo("Asia/Shanghai")
S = CaseStatus
OPEN = {
    S.NEW,
    S.ACCEPTED,
    S.DISPATCHED,
    S.IN_PROGRESS,
    S.AWAITING_MATERIALS,
    S.ESCALATED,
    S.REOPENED,
}
EVERY = set(S)
AGENT = Actor(ActorType.AGENT, id=7, name="王梦婷")


def at(*parts: int) -> dt.datetime:
    """An aware Asia/Shanghai datetime."""
    return dt.datetime(*parts, tzinfo=SHANGHAI)  # type: ignore[misc]


# The lifecycle of DESIGN.md written out independently of cases.lifecycle:
# action → (statuses it may start from, status it leads to or None to keep it, resident sees it).
GRAPH: dict[str, tuple[set[CaseStatus], CaseStatus | None, bool]] = {
    "accept": ({S.NEW}, S.ACCEPTED, True),
    "reject": ({S.NEW, S.ACCEPTED}, S.REJECTED, True),
    "dispatch": ({S.ACCEPTED, S.ESCALATED, S.REOPENED}, S.DISPATCHED, True),
    "sign": ({S.DISPATCHED}, S.IN_PROGRESS, True),
    "return": ({S.DISPATCHED}, S.ACCEPTED, False),
    "request_materials": ({S.ACCEPTED, S.IN_PROGRESS}, S.AWAITING_MATERIALS, True),
    "receive_materials": ({S.AWAITING_MATERIALS}, S.IN_PROGRESS, True),
    "escalate": ({S.ACCEPTED, S.DISPATCHED, S.IN_PROGRESS, S.REOPENED}, S.ESCALATED, True),
    "resolve": ({S.ACCEPTED, S.IN_PROGRESS, S.REOPENED}, S.RESOLVED, True),
    "rate": ({S.RESOLVED}, S.RATED, False),
    "reopen": ({S.RESOLVED, S.RATED}, S.REOPENED, True),
    "close": ({S.RESOLVED, S.RATED}, S.CLOSED, False),
    "merge": (OPEN, S.MERGED, True),
    "unmerge": ({S.MERGED}, S.IN_PROGRESS, False),  # back to the status before the merge
    "request_extension": (OPEN - {S.NEW}, None, False),
    "approve_extension": (OPEN - {S.NEW}, None, True),
    "deny_extension": (OPEN - {S.NEW}, None, False),
    "create": ({S.NEW}, None, False),
    "remind": (OPEN, None, False),
    "supervise": (OPEN, None, False),
    "assign": (OPEN, None, False),
    "reclassify": (OPEN, None, False),
    "warn": (OPEN, None, False),
    "note": (EVERY, None, False),
    "message": (EVERY, None, True),
}
NEEDS_NOTE = [
    "reject",
    "return",
    "request_materials",
    "resolve",
    "request_extension",
    "deny_extension",
    "supervise",
    "note",
    "message",
]
PAIRS = [(action, status) for action in GRAPH for status in S]
NOW = at(2026, 10, 9, 10, 0)


def make_case(status: CaseStatus = S.IN_PROGRESS, **values: Any) -> Case:
    """A case in memory: 3 working days received Tue 2026-09-29 08:30, due Fri 2026-10-09 17:30."""
    fields: dict[str, Any] = {
        "id": 41,
        "number": "202609290001",
        "item_code": "infra_road",
        "category_code": "urban_rural",
        "kind": CaseKind.CONCERN,
        "handling": HandlingKind.PROMISED,
        "channel": Channel.SMS,
        "status": status,
        "received_at": at(2026, 9, 29, 8, 30),
        "due_at": at(2026, 10, 9, 17, 30),
        "yellow_at": at(2026, 9, 30, 17, 30),
        "orange_at": at(2026, 10, 9, 10, 18),
        "dispatched_at": at(2026, 10, 8, 9, 0),
        "paused_seconds": 0,
        "extension_days": 0,
        "escalation_count": 0,
        "return_count": 0,
        "reopen_count": 0,
        "warning_level": WarningLevel.NONE,
    }
    fields.update(values)
    return Case(**fields)


def past_event(
    case: Case, action: str, data: dict[str, Any] | None = None, **values: Any
) -> CaseEvent:
    """Append an earlier event to a case's history (in memory)."""
    return CaseEvent(
        case=case,
        action=action,
        actor_type=ActorType.AGENT,
        at=at(2026, 10, 8, 9, 0),
        from_status=values.pop("from_status", case.status),
        to_status=values.pop("to_status", case.status),
        data=data or {},
        **values,
    )


def context(clock: Clock, now: dt.datetime = NOW, **data: Any) -> ActionContext:
    """An action context at `now` with the given action data."""
    return ActionContext(now=now, clock=clock, data=data)


def prepared(action: str, status: CaseStatus) -> Case:
    """A case in `status` whose history lets `action`'s guards pass."""
    case = make_case(status)
    if action in {"approve_extension", "deny_extension"}:
        past_event(case, "request_extension", {"days": 2})
    if action == "unmerge":
        past_event(case, "merge", from_status=S.IN_PROGRESS, to_status=S.MERGED)
    return case


@pytest.mark.parametrize(("action", "status"), PAIRS)
def test_every_action_from_every_status(clock: Clock, action: str, status: CaseStatus) -> None:
    """Allowed pairs change the status as drawn and add one event; every other pair is refused."""
    case = prepared(action, status)
    events_before = len(case.events)
    sources, target, visible = GRAPH[action]
    ctx = context(clock, days=2, duplicate_of_id=99, score=1)
    if status not in sources:
        with pytest.raises(TransitionError, match=action):
            perform(case, action, AGENT, ctx, note="理由")
        assert case.status is status
        assert len(case.events) == events_before
        return
    event = perform(case, action, AGENT, ctx, note=" 理由 ")
    expected = target or status
    assert case.status is expected
    assert case.events[events_before:] == [event]
    assert (event.action, event.from_status, event.to_status) == (action, status, expected)
    assert (event.actor_type, event.actor_id, event.actor_name) == (ActorType.AGENT, 7, "王梦婷")
    assert event.note == "理由"
    assert event.visible_to_resident is visible
    assert event.at == NOW
    assert case.updated_at == NOW


def test_table_covers_the_whole_graph() -> None:
    """The lifecycle table has exactly the actions of the graph, no more."""
    assert set(ACTIONS) == set(GRAPH)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (S.NEW, {"accept", "reject", "merge", "create", "remind", "supervise", "assign"}),
        (S.CLOSED, {"note", "message"}),
        (S.REJECTED, {"note", "message"}),
        (S.MERGED, {"unmerge", "note", "message"}),
    ],
)
def test_allowed_actions(status: CaseStatus, expected: set[str]) -> None:
    """allowed_actions lists what the table permits from a status."""
    assert expected <= set(allowed_actions(make_case(status)))
    assert set(allowed_actions(make_case(status))) == {
        a for a, (src, _, _) in GRAPH.items() if status in src
    }


def test_unknown_action_refused(clock: Clock) -> None:
    """An action that is not in the table is a TransitionError."""
    with pytest.raises(TransitionError, match="unknown action"):
        perform(make_case(), "teleport", AGENT, context(clock))


@pytest.mark.parametrize("action", NEEDS_NOTE)
@pytest.mark.parametrize("note", ["", "   ", "\n\t"])
def test_actions_needing_a_note_refuse_empty_notes(clock: Clock, action: str, note: str) -> None:
    """Reasons, results and messages cannot be empty; nothing changes."""
    status = min(GRAPH[action][0], key=list(S).index)
    case = prepared(action, status)
    before = len(case.events)
    with pytest.raises(ActionRefusedError, match=action):
        perform(case, action, AGENT, context(clock, days=2), note=note)
    assert case.status is status
    assert len(case.events) == before


def test_visibility_can_be_overridden(clock: Clock) -> None:
    """An internal note the agent shares becomes visible to the resident."""
    event = perform(make_case(), "note", AGENT, context(clock), note="已联系", visible=True)
    assert event.visible_to_resident is True


def test_event_data_is_json_safe(clock: Clock) -> None:
    """Dates in the action data are stored as ISO strings."""
    event = perform(
        make_case(),
        "remind",
        AGENT,
        context(clock, until=at(2026, 10, 9, 12, 0), day=dt.date(2026, 10, 9)),
    )
    assert event.data == {"until": "2026-10-09T12:00:00+08:00", "day": "2026-10-09"}


# 退单: Thu 2026-11-19 dispatch; Sat/Sun do not count.
@pytest.mark.parametrize(
    ("dispatched", "now", "allowed"),
    [
        (at(2026, 11, 19, 10, 0), at(2026, 11, 19, 16, 0), True),
        (at(2026, 11, 19, 10, 0), at(2026, 11, 20, 16, 0), True),  # Friday: 1
        (at(2026, 11, 19, 10, 0), at(2026, 11, 22, 16, 0), True),  # Sunday: still 1
        (at(2026, 11, 19, 10, 0), at(2026, 11, 23, 17, 0), True),  # Monday: 2
        (at(2026, 11, 19, 10, 0), at(2026, 11, 24, 9, 0), False),  # Tuesday: 3
        (at(2026, 9, 30, 10, 0), at(2026, 10, 8, 17, 0), True),  # National Day does not count
        (at(2026, 9, 30, 10, 0), at(2026, 10, 9, 17, 0), True),
        (at(2026, 9, 30, 10, 0), at(2026, 10, 10, 9, 0), False),  # 调休 Saturday counts
    ],
)
def test_return_within_two_working_days(
    clock: Clock, dispatched: dt.datetime, now: dt.datetime, allowed: bool
) -> None:
    """A unit may send a dispatch back within 2 working days, not later."""
    case = make_case(S.DISPATCHED, dispatched_at=dispatched)
    if not allowed:
        with pytest.raises(ActionRefusedError, match="2 working days"):
            perform(case, "return", AGENT, context(clock, now), note="不属于本单位职责")
        assert case.status is S.DISPATCHED
        return
    perform(case, "return", AGENT, context(clock, now), note="不属于本单位职责")
    assert case.status is S.ACCEPTED
    assert (case.return_count, case.reason, case.dispatched_at) == (1, "不属于本单位职责", None)


def test_dispatch_records_time_and_clears_signature(clock: Clock) -> None:
    """交办 sets dispatched_at and waits for a new 签收."""
    case = make_case(S.ESCALATED, signed_at=at(2026, 10, 8, 9, 0))
    perform(case, "dispatch", AGENT, context(clock))
    assert (case.dispatched_at, case.signed_at) == (NOW, None)
    perform(case, "sign", AGENT, context(clock, at(2026, 10, 9, 11, 0)))
    assert case.signed_at == at(2026, 10, 9, 11, 0)


@pytest.mark.parametrize(
    ("granted", "days", "allowed"),
    [
        (0, 10, True),
        (0, 11, False),
        (8, 2, True),
        (8, 3, False),
        (10, 1, False),
    ],
)
def test_extension_limited_to_ten_working_days(
    clock: Clock, granted: int, days: int, allowed: bool
) -> None:
    """Requests that would take the extensions past 10 working days in all are refused."""
    case = make_case(extension_days=granted)
    if allowed:
        perform(case, "request_extension", AGENT, context(clock, days=days), note="需现场勘查")
        assert case.events[-1].data == {"days": days}
    else:
        with pytest.raises(ActionRefusedError, match="10 working days"):
            perform(case, "request_extension", AGENT, context(clock, days=days), note="需现场勘查")


@pytest.mark.parametrize("days", [None, 0, -1, "3", 2.5])
def test_extension_needs_whole_days(clock: Clock, days: object) -> None:
    """An extension request states a whole number of working days."""
    with pytest.raises(ActionRefusedError, match="whole number"):
        perform(
            make_case(), "request_extension", AGENT, context(clock, days=days), note="需现场勘查"
        )


def test_extension_needs_a_deadline(clock: Clock) -> None:
    """A case without a deadline cannot be extended."""
    with pytest.raises(ActionRefusedError, match="no deadline"):
        perform(
            make_case(due_at=None), "request_extension", AGENT, context(clock, days=2), note="x"
        )


@pytest.mark.parametrize("action", ["approve_extension", "deny_extension"])
def test_decision_needs_a_pending_request(clock: Clock, action: str) -> None:
    """Approving or denying without a waiting request is refused."""
    with pytest.raises(ActionRefusedError, match="no extension request"):
        perform(make_case(), action, AGENT, context(clock), note="不同意")


def test_approve_moves_deadline(clock: Clock) -> None:
    """Approval extends the due date by the requested working days and counts them."""
    case = make_case()
    perform(case, "request_extension", AGENT, context(clock, days=2), note="需现场勘查")
    perform(case, "approve_extension", AGENT, context(clock))
    assert case.due_at == at(2026, 10, 12, 17, 30)  # Fri → 调休 Sat → Mon
    assert case.extension_days == 2
    assert case.yellow_at is not None and case.orange_at is not None
    assert case.received_at < case.yellow_at < case.orange_at < case.due_at


def test_request_is_decided_once(clock: Clock) -> None:
    """After approval (or denial) the request is no longer pending."""
    case = make_case()
    perform(case, "request_extension", AGENT, context(clock, days=2), note="需现场勘查")
    perform(case, "deny_extension", AGENT, context(clock), note="期限内可办结")
    assert case.due_at == at(2026, 10, 9, 17, 30)
    with pytest.raises(ActionRefusedError):
        perform(case, "approve_extension", AGENT, context(clock))


def test_materials_pause_and_resume_the_clock(clock: Clock) -> None:
    """待补办 stops the clock; receiving the materials moves the deadline by the paused time."""
    case = make_case()
    perform(
        case,
        "request_materials",
        AGENT,
        context(clock, at(2026, 10, 8, 12, 0)),
        note="请补充房产证复印件",
    )
    assert (case.status, case.paused_at) == (S.AWAITING_MATERIALS, at(2026, 10, 8, 12, 0))
    perform(case, "receive_materials", AGENT, context(clock, at(2026, 10, 9, 12, 0)))
    assert case.status is S.IN_PROGRESS
    assert case.paused_at is None
    assert case.due_at == at(2026, 10, 10, 17, 30)  # one working day later: the 调休 Saturday
    assert case.yellow_at == at(2026, 9, 30, 17, 30)  # already passed; stays
    assert case.paused_seconds == 24 * 3600
    assert case.warning_level is WarningLevel.YELLOW


def test_merge_needs_the_surviving_case(clock: Clock) -> None:
    """A merge without another case's id is refused."""
    for data in ({}, {"duplicate_of_id": 41}, {"duplicate_of_id": "12"}):
        with pytest.raises(ActionRefusedError, match="surviving case"):
            perform(make_case(), "merge", AGENT, context(clock, **data), note="重复")


def test_merge_and_unmerge(clock: Clock) -> None:
    """Merging ends the case as a duplicate; unmerging restores the status it had."""
    case = make_case(S.DISPATCHED)
    perform(case, "merge", AGENT, context(clock, duplicate_of_id=12), note="与12号重复")
    assert (case.status, case.duplicate_of_id, case.closed_at, case.reason) == (
        S.MERGED,
        12,
        NOW,
        "与12号重复",
    )
    perform(case, "unmerge", AGENT, context(clock, at(2026, 10, 9, 11, 0)))
    assert (case.status, case.duplicate_of_id, case.closed_at) == (S.DISPATCHED, None, None)
    assert case.events[-1].to_status is S.DISPATCHED


def test_unmerge_without_merge_in_history_refused(clock: Clock) -> None:
    """A merged case whose history lacks the merge cannot guess its old status."""
    with pytest.raises(ActionRefusedError, match="no merge"):
        perform(make_case(S.MERGED), "unmerge", AGENT, context(clock))


@pytest.mark.parametrize("status", [S.RESOLVED, S.RATED])
def test_reopen_gives_fresh_fifteen_working_days(clock: Clock, status: CaseStatus) -> None:
    """重办 starts a new 15-working-day promise from the moment of reopening."""
    case = make_case(status, handling=HandlingKind.IMMEDIATE, resolved_at=at(2026, 9, 29, 9, 0))
    perform(case, "reopen", AGENT, context(clock, at(2026, 9, 30, 10, 0)))
    assert case.due_at == at(2026, 10, 27, 17, 30)
    assert clock.calendar.working_days_between(dt.date(2026, 9, 30), dt.date(2026, 10, 27)) == 15
    assert (case.handling, case.reopen_count, case.resolved_at) == (HandlingKind.PROMISED, 1, None)
    assert case.warning_level is WarningLevel.NONE


def test_resolve_records_result(clock: Clock) -> None:
    """办结 stores the result text and time."""
    case = make_case()
    perform(case, "resolve", AGENT, context(clock), note="路面已修复")
    assert (case.resolved_at, case.result_text) == (NOW, "路面已修复")


@pytest.mark.parametrize(
    ("score", "allowed"),
    [(1, True), (5, True), (0, False), (6, False), ("3", False), (None, False)],
)
def test_rating_is_a_score_from_one_to_five(clock: Clock, score: object, allowed: bool) -> None:
    """A rating outside 1–5 is refused."""
    case = make_case(S.RESOLVED)
    if allowed:
        perform(case, "rate", AGENT, context(clock, score=score))
        assert case.status is S.RATED
    else:
        with pytest.raises(ActionRefusedError, match="1 to 5"):
            perform(case, "rate", AGENT, context(clock, score=score))


@pytest.fixture
def stored_case(session: Session, clock: Clock) -> Case:
    """A case with two events, committed to the test database."""
    case = make_case(S.NEW, id=None, dispatched_at=None)
    session.add(case)
    session.add(perform(case, "create", AGENT, context(clock)))
    session.add(perform(case, "accept", AGENT, context(clock)))
    session.commit()
    return case


def test_events_are_stored_in_order(session: Session, stored_case: Case) -> None:
    """The history reads back in the order it was written."""
    session.expire_all()
    actions = session.scalars(
        select(CaseEvent.action).where(CaseEvent.case_id == stored_case.id).order_by(CaseEvent.id)
    )
    assert list(actions) == ["create", "accept"]
    assert session.get(Case, stored_case.id).status is S.ACCEPTED  # type: ignore[union-attr]


def test_modifying_an_event_is_refused(session: Session, stored_case: Case) -> None:
    """Changing a stored case event fails on flush."""
    stored_case.events[0].note = "改写历史"
    with pytest.raises(AppendOnlyError):
        session.flush()
    session.rollback()


def test_deleting_an_event_is_refused(session: Session, stored_case: Case) -> None:
    """Deleting a stored case event fails on flush."""
    session.delete(stored_case.events[1])
    with pytest.raises(AppendOnlyError):
        session.flush()
    session.rollback()


def test_appending_after_storage_is_allowed(
    session: Session, stored_case: Case, clock: Clock
) -> None:
    """New events can always be added to a stored case."""
    session.add(perform(stored_case, "remind", AGENT, context(clock)))
    session.commit()
    session.expire_all()
    assert (
        session.scalar(select(CaseEvent.action).order_by(CaseEvent.id.desc()).limit(1)) == "remind"
    )
