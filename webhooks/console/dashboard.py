"""The dashboard: 办结率, 按时办结率, 一次办结率, 满意率, 回访率, colours, volumes, unit league."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from sqlalchemy import select

from cases import metrics
from cases.access import case_scope
from cases.metrics import Period
from cases.models import Area
from cases.models.directory import AreaLevel
from webhooks.auth import current_agent, login_required, now
from webhooks.console import charts
from webhooks.console.labels import CHANNELS, category_name, label
from webhooks.extensions import get_db, services

bp = Blueprint("dashboard", __name__, url_prefix="/console/dashboard")


@bp.get("")
@login_required
def show() -> ResponseReturnValue:
    """Figures for the chosen period (default: this month so far) and area, within scope."""
    db = get_db()
    zone = services().settings.zone
    today = now().astimezone(zone).date()
    first = _date(request.args.get("from")) or today.replace(day=1)
    last = _date(request.args.get("to")) or today
    if last < first:
        first, last = last, first
    area_id = request.args.get("area", "")
    board = metrics.dashboard(
        db,
        Period.days(first, last, zone),
        area_id=int(area_id) if area_id.isdigit() else None,
        scope=case_scope(db, current_agent()),
        zone=zone,
    )
    towns = db.scalars(select(Area).where(Area.level == AreaLevel.TOWN).order_by(Area.path))
    language = str(get_locale() or "zh")[:2]
    return render_template(
        "console/dashboard.html",
        board=board,
        charts=charts,
        by_channel=[(label(CHANNELS, code), n) for code, n in board.volumes["channel"]],
        by_category=[(category_name(code, language), n) for code, n in board.volumes["category"]],
        by_town=[(name or "—", n) for name, n in board.volumes["town"]],
        first=first,
        last=last,
        area_id=area_id,
        towns=list(towns),
        line=metrics.SATISFACTION_LINE,
    )


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value or "")
    except ValueError:
        return None
