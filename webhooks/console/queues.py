"""The queues: first the work that needs a person, then every case in scope, filtered."""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from cases.access import case_scope, conversation_scope, message_scope
from cases.console_queries import CaseFilter, Cursor, case_list, find_case, work_queues
from cases.models import Area, Department
from cases.models.cases import CaseStatus, WarningLevel
from cases.models.directory import AreaLevel
from cases.models.messaging import Channel
from intents.catalog import catalog
from intents.taxonomy import taxonomy
from webhooks.auth import current_agent, login_required
from webhooks.extensions import get_db, services

bp = Blueprint("queues", __name__, url_prefix="/console")
E = TypeVar("E", CaseStatus, Channel, WarningLevel)


@bp.get("/")
@login_required
def work() -> ResponseReturnValue:
    """Bot cases to review, possible duplicates, hand-off requests and voicemails."""
    db = get_db()
    agent = current_agent()
    queues = work_queues(
        db,
        case_scope(db, agent),
        conversation_scope(db, agent),
        messages=message_scope(db, agent),
    )
    return render_template("console/work.html", queues=queues)


@bp.get("/cases")
@login_required
def cases() -> ResponseReturnValue:
    """All cases in scope, filtered and searched, newest first, a page at a time."""
    db = get_db()
    filters = parse_filter(request.args, services().settings.zone)
    if request.args.get("q") and (found := find_case(db, request.args["q"])) is not None:
        # A typed case number goes straight to the case (if in scope, the page says so).
        return redirect(url_for("case.show", number=found.number))
    page = case_list(
        db,
        case_scope(db, current_agent()),
        filters,
        after=Cursor.decode(request.args.get("after")),
    )
    args = {key: value for key, value in request.args.items() if key != "after" and value}
    return render_template(
        "console/cases.html",
        page=page,
        args=args,
        filters=filters,
        choices=filter_choices(),
    )


def parse_filter(args: MultiDict[str, str], zone: dt.tzinfo) -> CaseFilter:
    """A filter from the query string; anything malformed is ignored, never a 500."""
    status = _enum(CaseStatus, args.get("status"))
    return CaseFilter(
        status=status,
        open_only=args.get("status") == "open",
        category=args.get("category", "")[:64],
        item=args.get("item", "")[:64],
        area_id=_int(args.get("area")),
        unit_id=_int(args.get("unit")),
        channel=_enum(Channel, args.get("channel")),
        warning=_enum(WarningLevel, args.get("warning")),
        received_from=_day(args.get("from"), zone),
        received_to=_day(args.get("to"), zone, next_day=True),
        text=args.get("q", "")[:100],
    )


def filter_choices() -> dict[str, object]:
    """Options of the filter bar's selects."""
    db = get_db()
    return {
        "statuses": [status.value for status in CaseStatus],
        "categories": [(c.code, c.zh, c.en) for c in taxonomy().categories if c.kind != "meta"],
        "items": catalog().items,
        "areas": list(
            db.scalars(
                select(Area)
                .where(Area.level.in_([AreaLevel.TOWN, AreaLevel.VILLAGE]))
                .order_by(Area.path)
            )
        ),
        "units": list(
            db.scalars(
                select(Department).where(Department.active.is_(True)).order_by(Department.id)
            )
        ),
        "channels": [channel.value for channel in Channel],
        "warnings": [level.value for level in WarningLevel],
    }


def _enum(kind: type[E], value: str | None) -> E | None:
    try:
        return kind(value) if value else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _day(value: str | None, zone: dt.tzinfo, *, next_day: bool = False) -> dt.datetime | None:
    try:
        day = dt.date.fromisoformat(value or "")
    except ValueError:
        return None
    if next_day:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(), zone)
