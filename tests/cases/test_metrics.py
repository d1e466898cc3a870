"""Dashboard figures from events, checked against values worked out by hand on both databases."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cases import metrics
from cases.metrics import Counts, Period
from cases.models import Area, Case, CaseEvent, Department, Rating
from cases.models.cases import ActorType, CaseKind, CaseStatus, HandlingKind, WarningLevel
from cases.models.messaging import Channel
from tests.conftest import SHANGHAI, local

NOVEMBER = Period.month(2026, 11, SHANGHAI)
DUE = local(2026, 11, 20, 17, 30)
_numbers = itertools.count(1)


@dataclass(frozen=True)
class Story:
    """One case of the hand-worked example: where it is and what happened to it."""

    unit: str
    town: str
    received: dt.datetime
    status: CaseStatus
    events: tuple[tuple[str, dt.datetime], ...] = ()
    ratings: tuple[tuple[int, dt.datetime], ...] = ()
    due: dt.datetime | None = DUE
    channel: Channel = Channel.SMS
    warning: WarningLevel = WarningLevel.NONE


# civil_affairs (城关) and forestry (东澳); due 11-20 17:30 unless said otherwise.
STORIES = {
    # accepted, resolved in time, rated 非常满意: everything counts.
    "c1": Story(
        "civil_affairs",
        "chengguan",
        local(2026, 11, 2, 0, 30),  # 11-01 16:30 UTC: a local day apart from UTC
        CaseStatus.RATED,
        (("accept", local(2026, 11, 2, 9)), ("resolve", local(2026, 11, 5, 9))),
        ((1, local(2026, 11, 6, 9)),),
        channel=Channel.WECHAT,
    ),
    # returned once (退单), resolved late: resolved, neither on time nor first time.
    "c2": Story(
        "civil_affairs",
        "chengguan",
        local(2026, 11, 3, 10),
        CaseStatus.RESOLVED,
        (
            ("accept", local(2026, 11, 3, 10)),
            ("dispatch", local(2026, 11, 3, 11)),
            ("return", local(2026, 11, 4, 9)),
            ("dispatch", local(2026, 11, 4, 10)),
            ("resolve", local(2026, 11, 24, 9)),
        ),
    ),
    # resolved, rated 非常不满意 and reopened (重办), not yet resolved again.
    "c3": Story(
        "civil_affairs",
        "chengguan",
        local(2026, 11, 4, 10),
        CaseStatus.REOPENED,
        (
            ("accept", local(2026, 11, 4, 10)),
            ("resolve", local(2026, 11, 6, 10)),
            ("reopen", local(2026, 11, 7, 10)),
        ),
        ((5, local(2026, 11, 7, 10)),),
        warning=WarningLevel.RED,
    ),
    # escalated (上报), resolved in time, rated 满意.
    "c4": Story(
        "forestry",
        "dongao",
        local(2026, 11, 5, 10),
        CaseStatus.RATED,
        (
            ("accept", local(2026, 11, 5, 10)),
            ("escalate", local(2026, 11, 6, 10)),
            ("resolve", local(2026, 11, 10, 10)),
        ),
        ((2, local(2026, 11, 11, 10)),),
        channel=Channel.VOICE,
    ),
    # a low-confidence bot case still waiting for review: received, not accepted.
    "c5": Story("forestry", "dongao", local(2026, 11, 6, 10), CaseStatus.NEW),
    # accepted, then rejected (不予受理): not accepted.
    "c6": Story(
        "forestry",
        "dongao",
        local(2026, 11, 7, 10),
        CaseStatus.REJECTED,
        (("accept", local(2026, 11, 7, 10)), ("reject", local(2026, 11, 7, 11))),
    ),
    # a duplicate merged into another case: not in the cohort at all.
    "c7": Story(
        "civil_affairs",
        "chengguan",
        local(2026, 11, 8, 10),
        CaseStatus.MERGED,
        (("accept", local(2026, 11, 8, 10)), ("resolve", local(2026, 11, 8, 11))),
    ),
    # received in October: outside the period, but open now (yellow).
    "c8": Story(
        "civil_affairs",
        "chengguan",
        local(2026, 10, 30, 10),
        CaseStatus.IN_PROGRESS,
        (("accept", local(2026, 10, 30, 10)),),
        warning=WarningLevel.YELLOW,
    ),
    # resolved, rated 不满意, reopened, resolved again within the new promise, rated 非常满意.
    "c9": Story(
        "forestry",
        "dongao",
        local(2026, 11, 9, 10),
        CaseStatus.RATED,
        (
            ("accept", local(2026, 11, 9, 10)),
            ("resolve", local(2026, 11, 10, 10)),
            ("reopen", local(2026, 11, 11, 10)),
            ("resolve", local(2026, 11, 25, 10)),
        ),
        ((4, local(2026, 11, 11, 10)), (1, local(2026, 11, 26, 10))),
        due=local(2026, 12, 2, 17, 30),
        channel=Channel.VOICE,
    ),
}


def add_story(session: Session, story: Story) -> Case:
    """Store one story's case, events and ratings as the lifecycle would have left them."""
    unit = session.scalars(select(Department).where(Department.code == story.unit)).one()
    town = session.scalars(select(Area).where(Area.code == story.town)).one()
    case = Case(
        number=f"20261101{next(_numbers):04d}",
        item_code="infra_streetlight",
        category_code="urban_rural",
        kind=CaseKind.CONCERN,
        handling=HandlingKind.PROMISED,
        status=story.status,
        channel=story.channel,
        town_id=town.id,
        department_id=unit.id,
        received_at=story.received,
        due_at=story.due,
        warning_level=story.warning,
    )
    session.add(case)
    session.flush()
    for action, at in (("create", story.received), *story.events):
        session.add(
            CaseEvent(case_id=case.id, action=action, actor_type=ActorType.AGENT, at=at, data={})
        )
    for score, at in story.ratings:
        session.add(Rating(case_id=case.id, score=score, channel=Channel.SMS, at=at))
    return case


@pytest.fixture
def stories(demo_session: Session) -> Session:
    """The demo county with the nine cases of the hand-worked example."""
    for story in STORIES.values():
        add_story(demo_session, story)
    demo_session.commit()
    return demo_session


def unit_id(session: Session, code: str) -> int:
    """A demo unit's id."""
    return session.scalars(select(Department.id).where(Department.code == code)).one()


def area_id(session: Session, code: str) -> int:
    """A demo area's id."""
    return session.scalars(select(Area.id).where(Area.code == code)).one()


def test_totals_match_the_hand_count(stories: Session) -> None:
    """c1–c6 and c9 are the cohort; the counts are those worked out in the stories' comments."""
    totals = metrics.totals(stories, NOVEMBER)
    assert totals == Counts(
        received=7, accepted=5, resolved=4, on_time=3, first_time=1, rated=3, ratings=5, satisfied=3
    )
    assert totals.resolution_rate == pytest.approx(4 / 5)
    assert totals.on_time_rate == pytest.approx(3 / 4)
    assert totals.first_time_rate == pytest.approx(1 / 4)
    assert totals.satisfaction_rate == pytest.approx(3 / 5)
    assert totals.callback_rate == pytest.approx(3 / 4)


def test_unit_counts_and_league(stories: Session) -> None:
    """Each unit gets its own counts; both are under the 80 % line, lowest first."""
    per_unit = metrics.unit_counts(stories, NOVEMBER)
    civil, forestry = unit_id(stories, "civil_affairs"), unit_id(stories, "forestry")
    assert per_unit[civil] == Counts(3, 3, 2, 1, 1, 1, 2, 1)
    assert per_unit[forestry] == Counts(4, 2, 2, 2, 0, 2, 3, 2)
    league = metrics.unit_league(stories, NOVEMBER)
    assert [row.department_id for row in league] == [civil, forestry]
    assert [row.below_line for row in league] == [True, True]
    assert league[0].name == "清溪县民政局"


def test_as_of_counts_only_earlier_events(stories: Session) -> None:
    """On 11-20 c9 was reopened and not yet resolved again, and c2 not yet resolved."""
    totals = metrics.totals(stories, NOVEMBER, as_of=local(2026, 11, 20))
    assert totals == Counts(
        received=7, accepted=5, resolved=2, on_time=2, first_time=1, rated=2, ratings=4, satisfied=2
    )


def test_area_filter_keeps_the_town(stories: Session) -> None:
    """Filtering by 东澳镇 leaves only the forestry stories (c4, c5, c6, c9)."""
    totals = metrics.totals(stories, NOVEMBER, area_id=area_id(stories, "dongao"))
    assert totals == Counts(4, 2, 2, 2, 0, 2, 3, 2)


def test_scope_condition_applies(stories: Session) -> None:
    """A scope that admits only one unit's cases gives that unit's counts."""
    civil = unit_id(stories, "civil_affairs")
    totals = metrics.totals(stories, NOVEMBER, scope=Case.department_id == civil)
    assert totals == Counts(3, 3, 2, 1, 1, 1, 2, 1)


def test_open_by_colour_is_the_work_at_hand(stories: Session) -> None:
    """Open cases now, whatever the period: c3 red, c5 none, c8 yellow."""
    assert metrics.open_by_colour(stories) == {
        WarningLevel.NONE: 1,
        WarningLevel.YELLOW: 1,
        WarningLevel.ORANGE: 0,
        WarningLevel.RED: 1,
    }


def test_volumes_by_channel_town_and_local_day(stories: Session) -> None:
    """Volumes count the cohort; days are local (c1 arrived 00:30 on 11-02 Beijing time)."""
    assert metrics.volumes(stories, NOVEMBER, "channel") == [
        ("sms", 4),
        ("voice", 2),
        ("wechat", 1),
    ]
    assert metrics.volumes(stories, NOVEMBER, "town") == [("东澳镇", 4), ("城关镇", 3)]
    days = metrics.volumes(stories, NOVEMBER, "day", zone=SHANGHAI)
    assert days[0] == ("2026-11-02", 1)
    assert sum(n for _, n in days) == 7


def test_dashboard_bundles_everything(stories: Session) -> None:
    """The dashboard's totals equal the sum of its league table."""
    board = metrics.dashboard(stories, NOVEMBER, zone=SHANGHAI)
    assert board.totals == sum((row.counts for row in board.units), Counts())
    assert set(board.volumes) == {"channel", "category", "town", "day"}


def test_empty_period_has_no_rates(stories: Session) -> None:
    """With nothing received, rates are None (shown as —), never 0 % or 100 %."""
    totals = metrics.totals(stories, Period.month(2025, 1, SHANGHAI))
    assert totals == Counts()
    assert totals.resolution_rate is None and totals.satisfaction_rate is None


def test_period_helpers() -> None:
    """A December month ends on 1 January; a day range includes its last day."""
    december = Period.month(2026, 12, SHANGHAI)
    assert december.end == local(2027, 1, 1)
    days = Period.days(dt.date(2026, 11, 1), dt.date(2026, 11, 30), SHANGHAI)
    assert days == NOVEMBER
