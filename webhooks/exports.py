"""CSV and XLSX exports of cases for a period and scope, for agents whose role allows it.

The functions take a session, the agent and the filters, and keep to the agent's scope
(`cases.access.case_scope`). CSV is UTF-8 with a byte-order mark, so Excel opens the Chinese
correctly; every cell that a spreadsheet would read as a formula (= + - @, tab, carriage
return) is neutralised with a leading apostrophe (CSV/formula injection). Phone numbers and
numbers in the summary are masked unless the agent asks for personal data explicitly.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, request
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from bot.masking import mask_phone, mask_sensitive_text
from cases.access import case_scope
from cases.exceptions import PermissionDeniedError
from cases.models import Agent, Area, Case, Contact, Department, Rating
from cases.models.cases import CaseStatus
from cases.models.directory import AgentRole
from cases.service import category_name
from intents.catalog import catalog
from webhooks.auth import current_agent, login_required
from webhooks.extensions import get_db, services
from worker.reports import CHANNEL_NAMES, STATUS_NAMES

# Village proxies work case by case; bulk exports are for towns, units and the county.
EXPORT_ROLES = frozenset(
    {
        AgentRole.ADMIN,
        AgentRole.COUNTY_SUPERVISOR,
        AgentRole.TOWN_WORKER,
        AgentRole.DEPARTMENT_HANDLER,
    }
)
MAX_EXPORT_DAYS = 366
# Dates a request may name: an absurd range is a 400, not an overflow in the date arithmetic.
EARLIEST_EXPORT_YEAR = 2000
LATEST_EXPORT_YEAR = 2099
HEADER = (
    "案件编号",
    "受理时间",
    "渠道",
    "类别",
    "事项",
    "乡镇",
    "村(社区)",
    "承办单位",
    "状态",
    "预警",
    "办结时限",
    "办结时间",
    "是否超期",
    "评价(1-5)",
    "诉求摘要",
    "联系电话",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_WARNINGS = {"none": "正常", "yellow": "黄灯", "orange": "橙灯", "red": "红灯"}


@dataclass(frozen=True)
class ExportFilter:
    """Which cases to export: received from `first` to `last` (local days, both included)."""

    first: dt.date
    last: dt.date
    statuses: tuple[CaseStatus, ...] = ()
    town_code: str | None = None
    item_code: str | None = None

    @classmethod
    def month(cls, period: str) -> ExportFilter:
        """The calendar month "YYYY-MM".

        Raises:
            ValueError: not a month.
        """
        start = dt.datetime.strptime(period, "%Y-%m").date()
        following = (start + dt.timedelta(days=32)).replace(day=1)
        return cls(start, following - dt.timedelta(days=1))


def neutralise(value: str) -> str:
    """A cell value that no spreadsheet will run as a formula."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def export_rows(
    session: Session,
    agent: Agent,
    filters: ExportFilter,
    zone: ZoneInfo,
    *,
    personal: bool = False,
) -> Iterator[list[str]]:
    """The header and one row per case in the agent's scope, oldest first, cells neutralised.

    Raises:
        PermissionDeniedError: the agent's role may not export, or the span is too long.
    """
    if agent.role not in EXPORT_ROLES or not agent.active:
        raise PermissionDeniedError("your role may not export cases")
    if not 0 <= (filters.last - filters.first).days < MAX_EXPORT_DAYS:
        raise PermissionDeniedError(f"export at most {MAX_EXPORT_DAYS} days at a time")
    areas = {area.id: area for area in session.scalars(select(Area))}
    units = {row.id: row.name for row in session.execute(select(Department.id, Department.name))}
    latest_rating = (
        select(Rating.case_id, func.max(Rating.id).label("rating_id"))
        .group_by(Rating.case_id)
        .subquery()
    )
    query = (
        select(Case, Contact.phone, Contact.address, Rating.score)
        .outerjoin(Contact, Contact.id == Case.contact_id)
        .outerjoin(latest_rating, latest_rating.c.case_id == Case.id)
        .outerjoin(Rating, Rating.id == latest_rating.c.rating_id)
        .where(*_conditions(session, agent, filters, zone, areas))
        .order_by(Case.received_at, Case.id)
    )
    yield list(HEADER)
    names = {item.code: item.zh for item in catalog().items}
    for case, phone, address, score in session.execute(query.execution_options(yield_per=500)):
        village = areas.get(case.area_id) if case.area_id else None
        while village is not None and village.level.value == "grid" and village.parent_id:
            village = areas.get(village.parent_id)
        town = areas.get(case.town_id) if case.town_id else None
        number = phone or address or ""
        cells = [
            case.number,
            _local(case.received_at, zone),
            CHANNEL_NAMES.get(case.channel, str(case.channel)),
            category_name(case.category_code),
            names.get(case.item_code, case.item_code),
            town.name if town else "",
            village.name if village and village.level.value == "village" else "",
            units.get(case.department_id, "") if case.department_id else "",
            STATUS_NAMES[case.status],
            _WARNINGS.get(case.warning_level.value, ""),
            _local(case.due_at, zone),
            _local(case.resolved_at, zone),
            "是" if _overdue(case) else "否",
            str(score) if score is not None else "",
            case.summary if personal else mask_sensitive_text(case.summary),
            (number if personal else mask_phone(number)) if number else "",
        ]
        yield [neutralise(cell) for cell in cells]


def export_csv(
    session: Session, agent: Agent, filters: ExportFilter, zone: ZoneInfo, *, personal: bool = False
) -> bytes:
    """The export as CSV that Excel opens correctly: UTF-8 with BOM, CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerows(export_rows(session, agent, filters, zone, personal=personal))
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


def export_xlsx(
    session: Session, agent: Agent, filters: ExportFilter, zone: ZoneInfo, *, personal: bool = False
) -> bytes:
    """The export as an Excel workbook; every cell is a string, none a formula."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import TYPE_STRING
    from openpyxl.styles import Font

    workbook = Workbook(write_only=False)
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "案件"
    for row_number, row in enumerate(
        export_rows(session, agent, filters, zone, personal=personal), start=1
    ):
        for column, value in enumerate(row, start=1):
            cell = sheet.cell(row=row_number, column=column)
            cell.value = value
            cell.data_type = TYPE_STRING  # openpyxl would take "=…" for a formula otherwise
            if row_number == 1:
                cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for letter, width in zip(
        "ABCDEFGHIJKLMNOP",
        (14, 18, 10, 10, 24, 10, 12, 20, 8, 6, 18, 18, 8, 8, 40, 14),
        strict=True,
    ):
        sheet.column_dimensions[letter].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _conditions(
    session: Session,
    agent: Agent,
    filters: ExportFilter,
    zone: ZoneInfo,
    areas: dict[int, Area],
) -> list[ColumnElement[bool]]:
    start = dt.datetime.combine(filters.first, dt.time(), zone)
    end = dt.datetime.combine(filters.last + dt.timedelta(days=1), dt.time(), zone)
    conditions: list[ColumnElement[bool]] = [
        case_scope(session, agent),
        Case.received_at >= start,
        Case.received_at < end,
    ]
    if filters.statuses:
        conditions.append(Case.status.in_(filters.statuses))
    if filters.item_code:
        conditions.append(Case.item_code == filters.item_code)
    if filters.town_code:
        town = next((a for a in areas.values() if a.code == filters.town_code), None)
        conditions.append(Case.town_id == (town.id if town else -1))
    return conditions


def _local(moment: dt.datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else ""


def _overdue(case: Case) -> bool:
    if case.due_at is None:
        return False
    done = case.resolved_at or case.closed_at
    return done > case.due_at if done else case.warning_level.value == "red"


# ---- the console's download links ------------------------------------------------------------

bp = Blueprint("exports", __name__, url_prefix="/console/exports")

_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@bp.get("/cases.<any(csv,xlsx):fmt>")
@login_required
def download_cases(fmt: str) -> Response:
    """Download the cases of ?period=YYYY-MM (or ?from=&to=) in the agent's scope."""
    agent = current_agent()
    if agent.role not in EXPORT_ROLES:
        abort(403)
    filters = _filters_from_request()
    make = export_csv if fmt == "csv" else export_xlsx
    personal = request.args.get("personal") == "1"
    try:
        body = make(get_db(), agent, filters, services().clock.hours.zone, personal=personal)
    except PermissionDeniedError:
        abort(403)
    name = f"cases-{filters.first:%Y%m%d}-{filters.last:%Y%m%d}.{fmt}"
    return Response(
        body,
        content_type=_MEDIA[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def _filters_from_request() -> ExportFilter:
    args = request.args
    try:
        if args.get("from") and args.get("to"):
            filters = ExportFilter(
                dt.date.fromisoformat(args["from"]), dt.date.fromisoformat(args["to"])
            )
        else:
            today = dt.date.today()
            filters = ExportFilter.month(args.get("period") or f"{today:%Y-%m}")
        statuses = tuple(CaseStatus(s) for s in args.get("status", "").split(",") if s)
    except ValueError:
        abort(400, description=_("Give the dates as YYYY-MM-DD, or the month as YYYY-MM."))
    if filters.first > filters.last:
        abort(400, description=_("The start date is after the end date."))
    if filters.first.year < EARLIEST_EXPORT_YEAR or filters.last.year > LATEST_EXPORT_YEAR:
        abort(
            400,
            description=_(
                "Give dates between %(first)d and %(last)d.",
                first=EARLIEST_EXPORT_YEAR,
                last=LATEST_EXPORT_YEAR,
            ),
        )
    if (filters.last - filters.first).days >= MAX_EXPORT_DAYS:
        abort(400, description=_("Export at most %(days)d days at a time.", days=MAX_EXPORT_DAYS))
    return ExportFilter(
        filters.first,
        filters.last,
        statuses,
        args.get("town") or None,
        args.get("item") or None,
    )
