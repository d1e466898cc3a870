"""How a case's status reads for its resident, in Chinese and English.

Used in the bot's progress replies (`worker.shell`) and in WeChat template notices
(`worker.delivery`); leaders' reports use their own shorter names (`worker.reports`).
"""

from __future__ import annotations

from cases.models.cases import CaseStatus

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
