"""The morning digest: one SMS per unit with warned cases, once per unit and day."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cases.models import Contact, Message
from cases.models.cases import CaseStatus, WarningLevel
from cases.settings import load_settings
from tests.worker.test_breach import HOUR, NOW, add_case, install_services, queued_jobs, stored
from worker.digest import UnitWarnings, digest_text, send_morning_digests, sms_segments
from worker.runtime import Services

MORNING = NOW.replace(hour=8, minute=0)  # Monday 23 November 2026


@pytest.fixture
def services(engine: Engine, tmp_path: Path) -> Iterator[Services]:
    """Runtime services on the test database with a private in-memory Redis."""
    redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    yield install_services(engine, redis, load_settings(instance_path=tmp_path))


@pytest.fixture
def warned(demo_session: Session) -> Session:
    """Civil affairs: one red, one orange, two yellow; forestry: one yellow; health: none."""
    rows = [
        ("civil_affairs", "202611200001", WarningLevel.YELLOW, 30),
        ("civil_affairs", "202611200002", WarningLevel.RED, -5),
        ("civil_affairs", "202611200003", WarningLevel.ORANGE, 2),
        ("civil_affairs", "202611200004", WarningLevel.YELLOW, 20),
        ("civil_affairs", "202611200005", WarningLevel.RED, 0),  # closed: not counted
        ("forestry", "202611200006", WarningLevel.YELLOW, 10),
        ("health", "202611200007", WarningLevel.NONE, 90),
    ]
    for code, number, level, hours in rows:
        status = CaseStatus.CLOSED if number.endswith("5") else CaseStatus.IN_PROGRESS
        add_case(
            demo_session, code, number=number, level=level, due_at=NOW + hours * HOUR, status=status
        )
    return demo_session


def test_digest_goes_to_each_warned_unit_once_a_day(warned: Session, services: Services) -> None:
    """Units with warned open cases get one SMS each; a second run the same day sends none."""
    first = send_morning_digests(MORNING)
    assert (first.sent, first.already) == (2, 0)
    again = send_morning_digests(MORNING + 2 * HOUR)
    assert (again.sent, again.already) == (0, 2)
    messages = stored(services, Message)
    assert len(messages) == 2
    contacts = stored(services, Contact)
    assert {c.phone for c in contacts} == {"+8613900001101", "+8613900001107"}
    assert len([n for n, _ in queued_jobs(services.redis) if "deliver" in n]) == 2


def test_digest_lists_counts_and_the_worst_cases(warned: Session, services: Services) -> None:
    """The unit's counts by light, worst first (red, orange, then the earliest yellow)."""
    send_morning_digests(MORNING)
    bodies = sorted(m.body for m in stored(services, Message))
    assert bodies[1] == (
        "【直通】11月23日预警：清溪县民政局红灯1件、橙灯1件、黄灯2件。"
        "最紧急：202611200002、202611200003、202611200004、202611200001。请及时处理。"
    )
    assert all(m.case_id is None and m.event_id is None for m in stored(services, Message))


def test_next_working_day_gets_a_new_digest(warned: Session, services: Services) -> None:
    """The claim is per day: the next morning each unit gets its digest again."""
    send_morning_digests(MORNING)
    assert send_morning_digests(MORNING + 24 * HOUR).sent == 2


def test_no_digest_on_a_holiday(warned: Session, services: Services) -> None:
    """On a day off (a Sunday) nothing is sent."""
    sunday = MORNING - 24 * HOUR
    result = send_morning_digests(sunday)
    assert (result.sent, result.working_day) == (0, False)


def test_a_failed_write_releases_the_claim(
    warned: Session, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If storing a unit's digest fails, the retried job still sends it."""
    from worker import digest

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(digest, "queue_staff_sms", broken)
    with pytest.raises(RuntimeError):
        send_morning_digests(MORNING)
    monkeypatch.undo()
    assert send_morning_digests(MORNING).sent == 2


def test_digest_fits_two_segments_however_many_cases() -> None:
    """With a long unit name and many cases, only as many numbers as fit are listed."""
    numbers = tuple(f"2026112{i:05d}" for i in range(20))
    warnings = UnitWarnings(1, 120, 340, 1999, numbers)
    for language, unit, day in [
        ("zh", "清溪县人力资源和社会保障局", "11月23日"),
        ("en", "Qingxi County Human Resources and Social Security Bureau", "2026-11-23"),
    ]:
        text = digest_text(language, unit, day, warnings)
        listed = [number for number in numbers if number in text]
        assert sms_segments(text) <= 2, language
        assert listed == list(numbers[: len(listed)]) and 1 <= len(listed) < 20, language


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("红" * 70, 1),
        ("红" * 71, 2),
        ("红" * 134, 2),
        ("红" * 135, 3),
    ],
)
def test_sms_segments(text: str, segments: int) -> None:
    """GSM 7-bit texts split at 160/153 (extended characters count twice), others at 70/67."""
    assert sms_segments(text) == segments
