"""公示: the public progress page at /public/… — per county, town and village.

What residents see: the headline figures of the month and the year (from `cases.metrics`) and
the recent public matters — roads, streetlights, water, garbage, pollution, safety hazards —
with their catalog item, place, status and dates. Never a name, a number, an address or a
resident's own words. Everything else is counted but not listed: that someone in a village
applied for 低保, asked for relief or has a family dispute is personal, even without a name.

Pages are cheap: each is rendered at most once per `CACHE_SECONDS` per process, and sent with
Cache-Control and an ETag so browsers and proxies keep it too.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, abort, render_template, request
from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from cases import metrics
from cases.metrics import Counts, Period
from cases.models import Area, Case
from cases.models.cases import CaseKind, CaseStatus
from cases.models.directory import AreaLevel
from intents.catalog import catalog
from webhooks.extensions import get_db, services
from worker.reports import STATUS_NAMES

bp = Blueprint("public", __name__, url_prefix="/public")

CACHE_SECONDS = 120
RECENT_CASES = 30
# Categories of concerns about shared places (公共事务), which may be listed one by one.
PUBLIC_CATEGORIES = ("urban_rural", "public_safety")
_CACHE_KEY = "zhitong_public_cache"


@dataclass(frozen=True)
class Listed:
    """One line of the public list: nothing that could identify the resident."""

    item_name: str
    place: str
    status: str
    done: bool
    received: dt.date
    resolved: dt.date | None


class PageCache:
    """A tiny in-process cache of rendered pages, each kept for `ttl` seconds."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._pages: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get_or_render(self, key: str, render: Callable[[], str]) -> str:
        """The cached page for `key`, rendered anew when missing or stale."""
        now = self.clock()
        with self._lock:
            found = self._pages.get(key)
        if found is not None and found[0] > now:
            return found[1]
        page = render()
        with self._lock:
            if len(self._pages) > 1000:  # a bound, should crawlers walk every village
                self._pages.clear()
            self._pages[key] = (now + self.ttl, page)
        return page

    def clear(self) -> None:
        """Forget every page."""
        with self._lock:
            self._pages.clear()


def init_app(app: Flask) -> None:
    """Register the public pages and their cache."""
    app.extensions[_CACHE_KEY] = PageCache(CACHE_SECONDS)
    app.register_blueprint(bp)


def page_cache() -> PageCache:
    """The app's page cache."""
    from flask import current_app

    cache: PageCache = current_app.extensions[_CACHE_KEY]
    return cache


@bp.get("/")
def county_page() -> Response:
    """The county: figures, its towns, recent concerns."""
    return _cached("county", lambda: _render(None))


@bp.get("/<town_code>/")
def town_page(town_code: str) -> Response:
    """A town: figures, its villages, recent concerns."""
    return _cached(f"town:{town_code}", lambda: _render(_area(town_code, AreaLevel.TOWN)))


@bp.get("/<town_code>/<village_code>/")
def village_page(town_code: str, village_code: str) -> Response:
    """A village or community: figures and recent concerns."""
    town = _area(town_code, AreaLevel.TOWN)
    village = _area(village_code, AreaLevel.VILLAGE)
    if village.parent_id != town.id:
        abort(404)
    return _cached(f"village:{village_code}", lambda: _render(village, town))


@bp.errorhandler(404)
def not_found(_error: Exception) -> tuple[str, int]:
    """A plain Chinese page for an unknown place."""
    return render_template("public/missing.html"), 404


def _cached(key: str, render: Callable[[], str]) -> Response:
    html = page_cache().get_or_render(key, render)
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    response.add_etag()
    response.make_conditional(request)
    return response


def _area(code: str, level: AreaLevel) -> Area:
    area = get_db().scalars(select(Area).where(Area.code == code, Area.level == level)).first()
    if area is None:
        abort(404)
    return area


def _render(area: Area | None, town: Area | None = None) -> str:
    session = get_db()
    zone = services().clock.hours.zone
    today = dt.datetime.now(zone).date()
    month = Period.month(today.year, today.month, zone)
    year = Period.days(dt.date(today.year, 1, 1), today, zone)
    area_id = area.id if area is not None else None
    county = session.scalars(select(Area).where(Area.level == AreaLevel.COUNTY)).first()
    children = _children(session, area if area is not None else county)
    return render_template(
        "public/area.html",
        area=area,
        town=town,
        county=county,
        children=children,
        month=metrics.totals(session, month, area_id=area_id),
        year=metrics.totals(session, year, area_id=area_id),
        month_label=f"{today.year}年{today.month}月",
        year_label=f"{today.year}年",
        recent=_recent(session, area, zone),
        updated=dt.datetime.now(zone).strftime("%Y-%m-%d %H:%M"),
        cache_minutes=CACHE_SECONDS // 60,
    )


def _children(session: Session, area: Area | None) -> list[Area]:
    if area is None or area.level not in {AreaLevel.COUNTY, AreaLevel.TOWN}:
        return []
    return list(session.scalars(select(Area).where(Area.parent_id == area.id).order_by(Area.id)))


def listed_publicly() -> ColumnElement[bool]:
    """A WHERE condition on `Case`: the matters that may be listed one by one in public.

    Concerns about shared places, once looked at; everything else is only counted. Open311's
    listing without a key follows this same rule.
    """
    return and_(
        Case.kind == CaseKind.CONCERN,
        Case.category_code.in_(PUBLIC_CATEGORIES),
        Case.status.not_in((CaseStatus.MERGED, CaseStatus.NEW)),
    )


def _recent(session: Session, area: Area | None, zone: dt.tzinfo) -> list[Listed]:
    """The latest public matters in the area, newest first: item, place, status, dates."""
    query = select(Case).where(listed_publicly())
    if area is not None:
        inside = select(Area.id).where(Area.path.startswith(area.path))
        query = query.where(Case.area_id.in_(inside) | Case.town_id.in_(inside))
    cases = list(session.scalars(query.order_by(Case.received_at.desc()).limit(RECENT_CASES)))
    area_ids = {i for case in cases for i in (case.area_id, case.town_id) if i}
    areas = (
        {a.id: a for a in session.scalars(select(Area).where(Area.id.in_(area_ids)))}
        if area_ids
        else {}
    )
    parents = {a.parent_id for a in areas.values() if a.level is AreaLevel.GRID and a.parent_id}
    if parents - set(areas):
        areas |= {a.id: a for a in session.scalars(select(Area).where(Area.id.in_(parents)))}
    names = {item.code: item.zh for item in catalog().items}
    return [
        Listed(
            item_name=names.get(case.item_code, case.item_code),
            place=_place(areas, case),
            status=STATUS_NAMES[case.status],
            done=case.resolved_at is not None or case.status is CaseStatus.REJECTED,
            received=case.received_at.astimezone(zone).date(),
            resolved=case.resolved_at.astimezone(zone).date() if case.resolved_at else None,
        )
        for case in cases
    ]


def _place(areas: dict[int, Area], case: Case) -> str:
    """Town and village names; a grid is shown as its village (a grid is a few households)."""
    place = areas.get(case.area_id) if case.area_id else None
    if place is not None and place.level is AreaLevel.GRID and place.parent_id:
        place = areas.get(place.parent_id)
    town = areas.get(case.town_id) if case.town_id else None
    parts = [p.name for p in (town, place) if p is not None and p.level is not AreaLevel.COUNTY]
    return "".join(dict.fromkeys(parts)) or "—"


def rate_text(counts: Counts, name: str) -> str:
    """A rate of `counts` as a percentage, "—" when there is nothing to divide by."""
    value: float | None = getattr(counts, name)
    return "—" if value is None else f"{value * 100:.1f}%"


@bp.app_template_filter("public_rate")
def _public_rate(counts: Counts, name: str) -> str:
    return rate_text(counts, name)
