"""How a case reads for its resident, in Chinese and English: its status, item and unit.

Used in the bot's replies (`worker.shell`), notifications (`worker.notify`) and WeChat
template notices (`worker.delivery`); leaders' reports use their own shorter status names
(`worker.reports`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from cases.models import Case, Department
from cases.models.cases import CaseStatus
from intents.catalog import catalog

STATUS_TEXT: dict[CaseStatus, tuple[str, str]] = {
    CaseStatus.NEW: ("待受理", "received, awaiting review"),
    CaseStatus.ACCEPTED: ("已受理", "accepted"),
    CaseStatus.DISPATCHED: ("已交办", "sent to the handling unit"),
    CaseStatus.IN_PROGRESS: ("办理中", "in progress"),
    CaseStatus.AWAITING_MATERIALS: ("待补办材料", "waiting for your materials"),
    CaseStatus.ESCALATED: ("已上报", "escalated"),
    CaseStatus.RESOLVED: ("已办结", "resolved"),
    CaseStatus.RATED: ("已回访", "resolved and rated"),
    CaseStatus.CLOSED: ("已结案", "closed"),
    CaseStatus.REOPENED: ("重新办理", "reopened"),
    CaseStatus.REJECTED: ("不予受理", "not accepted"),
    CaseStatus.MERGED: ("已合并", "merged with another case"),
}


def item_name(code: str, language: str, fallback: str | None = None) -> str:
    """The catalog item's name in `language` ("en" or Chinese); `fallback` (else the code) for
    an item the catalog no longer has."""
    try:
        item = catalog().item(code)
    except KeyError:
        return fallback if fallback is not None else code
    return item.en if language == "en" else item.zh


def unit_name(session: Session, case: Case, language: str) -> str | None:
    """The name of the unit holding the case (`department_name`), None when it has none.

    Naming the right unit in English is worth the shorter UCS-2 segments a Chinese name costs.
    """
    unit = session.get(Department, case.department_id) if case.department_id else None
    return department_name(unit, language) if unit is not None else None


def department_name(unit: Department, language: str) -> str:
    """A unit's name in `language`: in English its English name, else its Chinese one."""
    return unit.name_en if language == "en" and unit.name_en else unit.name
