"""民情专报: the monthly report for decision makers, as printable HTML and a PDF made from it.

`generate_monthly_report(period)` is the job (and `zhitong report` the command): it gathers a
month's figures, renders `report_templates/report.html` with charts drawn by matplotlib (PNG,
inlined, Chinese labels in a CJK font found on disk) and, when asked, prints it to PDF with
WeasyPrint. Nothing is fetched from outside: no web fonts, no CDN.

What the report holds, all computed by set-based queries:

- volumes by category, town and channel, this month against the last, and a 12-month trend;
- the dashboard's headline rates (办结率, 按时办结率, 一次办结率, 满意率, 回访率) from
  `cases.metrics`, counted as at the month's end so a re-run gives the same figures;
- repeated problems (共性问题): concerns of the same catalog item whose texts are alike
  (character n-gram TF-IDF, cosine ≥ `SIMILARITY`) reported from two or more villages, with
  sample texts masked;
- overdue cases and dissatisfied ratings (score 4–5);
- the unit league table, with the 80 % satisfaction line (约谈).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bot.masking import mask_sensitive_text
from cases import metrics
from cases.lifecycle import OPEN_STATUSES
from cases.metrics import Counts, Period, UnitRow
from cases.models import Area, Case, Department, Rating
from cases.models.cases import CaseKind, CaseStatus
from cases.models.messaging import Channel
from cases.service import category_name
from intents.catalog import catalog
from worker.exceptions import WorkerError

log = logging.getLogger(__name__)

JOB = "worker.reports.generate_monthly_report"
TEMPLATES = Path(__file__).resolve().parent / "report_templates"
TREND_MONTHS = 12
SIMILARITY = 0.45  # cosine of character 2–3-gram TF-IDF vectors: "the same problem"
MIN_CLUSTER_VILLAGES = 2  # a 共性问题 is reported from more than one village
TOP_CLUSTERS = 10
LISTED_CASES = 15
SAMPLE_TEXTS = 3
SAMPLE_LENGTH = 60
_PERIOD = re.compile(r"^(20[0-9]{2})-(0[1-9]|1[0-2])$")
# Fonts with Chinese glyphs that Debian and PyPI packages install (fonts-noto-cjk,
# fonts-wqy-microhei, fonts-wqy-zenhei, fonts-arphic-*), by family and by file name.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "AR PL UMing CN",
)
_CJK_FILE_HINTS = ("notosanscjk", "notosanssc", "sourcehansans", "wqy", "uming", "ukai")
_FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")

# The Chinese names residents and leaders know the statuses and channels by.
STATUS_NAMES: dict[CaseStatus, str] = {
    CaseStatus.NEW: "待审核",
    CaseStatus.ACCEPTED: "已受理",
    CaseStatus.DISPATCHED: "已交办",
    CaseStatus.IN_PROGRESS: "办理中",
    CaseStatus.AWAITING_MATERIALS: "待补办",
    CaseStatus.ESCALATED: "已上报",
    CaseStatus.RESOLVED: "已办结",
    CaseStatus.RATED: "已回访",
    CaseStatus.CLOSED: "已结案",
    CaseStatus.REOPENED: "重办",
    CaseStatus.REJECTED: "不予受理",
    CaseStatus.MERGED: "已合并",
}
CHANNEL_NAMES: dict[Channel, str] = {
    Channel.SMS: "短信",
    Channel.WHATSAPP: "WhatsApp",
    Channel.VOICE: "热线电话",
    Channel.WECHAT: "微信公众号",
    Channel.WEB: "网页",
    Channel.WALK_IN: "窗口登记",
    Channel.PATROL: "网格巡查",
    Channel.API: "系统对接",
}


class ReportError(WorkerError):
    """A report that cannot be made: a bad period, or no PDF maker on this machine."""


@dataclass(frozen=True)
class Volume:
    """Cases of one category, town or channel this month and last month."""

    name: str
    count: int
    previous: int

    @property
    def change(self) -> float | None:
        """Relative change against last month (None when last month had none)."""
        return (self.count - self.previous) / self.previous if self.previous else None


@dataclass(frozen=True)
class Cluster:
    """A repeated problem: alike concerns of one item from several villages."""

    item_name: str
    count: int
    villages: tuple[str, ...]
    samples: tuple[str, ...]


@dataclass(frozen=True)
class ListedCase:
    """One line of the overdue or dissatisfied list (no personal data)."""

    number: str
    item_name: str
    place: str
    unit: str
    status: str
    detail: str


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows for one month."""

    period: str
    county: str
    generated_at: dt.datetime
    totals: Counts
    previous_totals: Counts
    by_category: list[Volume]
    by_town: list[Volume]
    by_channel: list[Volume]
    trend_months: list[str]
    trend: dict[str, list[int]]  # category name -> counts per month of trend_months
    clusters: list[Cluster]
    overdue_count: int
    overdue: list[ListedCase]
    dissatisfied_count: int
    dissatisfied: list[ListedCase]
    units: list[UnitRow]
    charts: dict[str, str] = field(default_factory=dict)  # name -> data: URI of a PNG


def parse_period(period: str) -> tuple[int, int]:
    """Year and month of "YYYY-MM".

    Raises:
        ReportError: anything else.
    """
    found = _PERIOD.match(period.strip())
    if not found:
        raise ReportError(f"a period is a month written YYYY-MM, not {period!r}")
    return int(found.group(1)), int(found.group(2))


def previous_period(now: dt.datetime, zone: ZoneInfo) -> str:
    """The month before the one `now` falls in: what the monthly job reports on."""
    first = now.astimezone(zone).date().replace(day=1)
    last_month = first - dt.timedelta(days=1)
    return f"{last_month:%Y-%m}"


def build_report(session: Session, period: str, zone: ZoneInfo, *, now: dt.datetime) -> ReportData:
    """Gather a month's figures (no charts yet; `render_html` draws them)."""
    year, month = parse_period(period)
    current = Period.month(year, month, zone)
    before = Period.month(year - (month == 1), 12 if month == 1 else month - 1, zone)
    as_of = min(now, current.end)
    areas = {area.id: area for area in session.scalars(select(Area))}
    units = {row.id: row.name for row in session.execute(select(Department.id, Department.name))}
    per_unit = metrics.unit_counts(session, current, as_of=as_of)
    county = next((a.name for a in areas.values() if a.parent_id is None), "")
    return ReportData(
        period=f"{year:04d}-{month:02d}",
        county=county,
        generated_at=now,
        totals=sum(per_unit.values(), Counts()),
        previous_totals=metrics.totals(session, before, as_of=current.start),
        by_category=_volumes(session, current, before, "category", zone, category_name),
        by_town=_volumes(session, current, before, "town", zone, lambda name: name or "（未定位）"),
        by_channel=_volumes(session, current, before, "channel", zone, _channel_name),
        trend_months=(months := _trend_months(year, month)),
        trend=_trend(session, months, zone),
        clusters=repeated_problems(session, current, areas),
        overdue_count=(overdue := _overdue(session, current, as_of, areas, units))[0],
        overdue=overdue[1],
        dissatisfied_count=(unhappy := _dissatisfied(session, current, areas, units))[0],
        dissatisfied=unhappy[1],
        units=metrics.unit_league(session, current, per_unit=per_unit),
    )


def repeated_problems(session: Session, period: Period, areas: dict[int, Area]) -> list[Cluster]:
    """共性问题: alike concerns of one item reported from several villages, largest first."""
    rows = session.execute(
        select(Case.item_code, Case.area_id, Case.description).where(
            metrics.cohort_filter(period), Case.kind == CaseKind.CONCERN
        )
    )
    by_item: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for item_code, area_id, description in rows:
        village = _village_name(areas, area_id)
        text = " ".join(description.split())
        if village and text:
            by_item[item_code].append((village, text))
    names = {item.code: item.zh for item in catalog().items}
    clusters = [
        cluster
        for item_code, entries in by_item.items()
        for cluster in _cluster(names.get(item_code, item_code), entries)
    ]
    return sorted(clusters, key=lambda c: (-len(c.villages), -c.count, c.item_name))[:TOP_CLUSTERS]


def _cluster(item_name: str, entries: Sequence[tuple[str, str]]) -> list[Cluster]:
    """Group alike texts of one item; keep the groups that span several villages."""
    if len({village for village, _ in entries}) < MIN_CLUSTER_VILLAGES:
        return []
    # Identical texts are one point with a weight: repeated templates cost nothing.
    distinct = Counter(_normalise(text) for _, text in entries)
    keys = list(distinct)
    labels = _similar_groups(keys)
    group_of_key = dict(zip(keys, labels, strict=True))
    members: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for village, text in entries:
        members[group_of_key[_normalise(text)]].append((village, text))
    found = []
    for group in members.values():
        villages = sorted({village for village, _ in group})
        if len(villages) < MIN_CLUSTER_VILLAGES:
            continue
        samples = list(dict.fromkeys(_sample(text) for _, text in group))[:SAMPLE_TEXTS]
        found.append(Cluster(item_name, len(group), tuple(villages), tuple(samples)))
    return found


def _similar_groups(texts: list[str]) -> list[int]:
    """A group label per text: connected components of cosine similarity ≥ SIMILARITY."""
    if len(texts) == 1:
        return [0]
    from scipy.sparse.csgraph import connected_components
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectors = TfidfVectorizer(analyzer="char", ngram_range=(2, 3), min_df=1).fit_transform(texts)
    similarity = vectors @ vectors.T
    similarity.data[similarity.data < SIMILARITY] = 0
    similarity.eliminate_zeros()
    _, labels = connected_components(similarity, directed=False)
    return [int(label) for label in labels]


def _normalise(text: str) -> str:
    """Text for comparing: no numbers (they are masked anyway), spaces or punctuation."""
    return re.sub(r"[\W\d_]+", "", mask_sensitive_text(text)) or text


def _sample(text: str) -> str:
    masked = mask_sensitive_text(text)
    return masked if len(masked) <= SAMPLE_LENGTH else masked[: SAMPLE_LENGTH - 1] + "…"


def _village_name(areas: dict[int, Area], area_id: int | None) -> str:
    area = areas.get(area_id) if area_id else None
    while area is not None and area.level.value == "grid" and area.parent_id:
        area = areas.get(area.parent_id)
    return area.name if area is not None and area.level.value == "village" else ""


def _place_name(areas: dict[int, Area], case: Case) -> str:
    town_area = areas.get(case.town_id) if case.town_id else None
    town = town_area.name if town_area is not None else ""
    village = _village_name(areas, case.area_id)
    return "".join(part for part in (town, village) if part) or "（未定位）"


def _volumes(
    session: Session,
    current: Period,
    before: Period,
    dimension: metrics.Dimension,
    zone: ZoneInfo,
    name_of: Any,
) -> list[Volume]:
    now_counts = metrics.volumes(session, current, dimension, zone=zone)
    then = dict(metrics.volumes(session, before, dimension, zone=zone))
    keys = [key for key, _ in now_counts] + [key for key in then if key not in dict(now_counts)]
    counts = dict(now_counts)
    return [Volume(name_of(key), counts.get(key, 0), then.get(key, 0)) for key in keys]


def _channel_name(code: str) -> str:
    try:
        return CHANNEL_NAMES[Channel(code)]
    except ValueError:
        return code


def _trend_months(year: int, month: int) -> list[str]:
    months = []
    for back in range(TREND_MONTHS - 1, -1, -1):
        index = year * 12 + (month - 1) - back
        months.append(f"{index // 12:04d}-{index % 12 + 1:02d}")
    return months


def _trend(session: Session, months: list[str], zone: ZoneInfo) -> dict[str, list[int]]:
    """Cases received per category and month, for the trend chart (one grouped query)."""
    first = Period.month(*parse_period(months[0]), zone)
    last = Period.month(*parse_period(months[-1]), zone)
    month_key = func.substr(metrics.local_day(session, Case.received_at, zone), 1, 7)
    rows = session.execute(
        select(month_key, Case.category_code, func.count())
        .where(
            Case.received_at >= first.start,
            Case.received_at < last.end,
            Case.status != CaseStatus.MERGED,
        )
        .group_by(month_key, Case.category_code)
    )
    index = {month: position for position, month in enumerate(months)}
    trend: dict[str, list[int]] = {}
    for month, category, count in rows:
        series = trend.setdefault(category_name(category), [0] * len(months))
        if month in index:
            series[index[month]] += int(count)
    return dict(sorted(trend.items(), key=lambda item: -sum(item[1])))


def _overdue(
    session: Session,
    period: Period,
    as_of: dt.datetime,
    areas: dict[int, Area],
    units: dict[int, str],
) -> tuple[int, list[ListedCase]]:
    """Cases of the month resolved late, or still open past their deadline at `as_of`."""
    late = or_(
        and_(Case.resolved_at.is_not(None), Case.resolved_at > Case.due_at),
        and_(Case.status.in_(OPEN_STATUSES), Case.due_at < as_of),
    )
    where = and_(metrics.cohort_filter(period), Case.due_at.is_not(None), late)
    count = session.scalar(select(func.count()).select_from(Case).where(where)) or 0
    # The earliest deadlines are, as a rule, the latest cases; the exact order is made in Python
    # on a few more than are listed (date arithmetic differs between the two databases).
    cases = session.scalars(
        select(Case).where(where).order_by(Case.due_at, Case.id).limit(LISTED_CASES * 4)
    ).all()
    ranked = sorted(
        cases, key=lambda c: -((c.resolved_at or as_of) - (c.due_at or as_of)).total_seconds()
    )[:LISTED_CASES]
    return count, [
        _listed(case, areas, units, f"超期{_late_days(case, as_of)}天") for case in ranked
    ]


def _late_days(case: Case, as_of: dt.datetime) -> int:
    assert case.due_at is not None
    return max(1, -(-int(((case.resolved_at or as_of) - case.due_at).total_seconds()) // 86400))


def _dissatisfied(
    session: Session, period: Period, areas: dict[int, Area], units: dict[int, str]
) -> tuple[int, list[ListedCase]]:
    """Ratings of 4–5 (不满意) given during the month, newest first."""
    where = and_(
        Rating.at >= period.start,
        Rating.at < period.end,
        Rating.score > metrics.SATISFIED_MAX_SCORE,
    )
    count = session.scalar(select(func.count()).select_from(Rating).where(where)) or 0
    rows = session.execute(
        select(Case, Rating.score, Rating.comment)
        .join(Rating, Rating.case_id == Case.id)
        .where(where)
        .order_by(Rating.at.desc(), Rating.id.desc())
        .limit(LISTED_CASES)
    )
    listed = []
    for case, score, comment in rows:
        words = {4: "不满意", 5: "非常不满意"}.get(score, str(score))
        detail = words + (f"：{_sample(comment)}" if comment.strip() else "")
        listed.append(_listed(case, areas, units, detail))
    return count, listed


def _listed(case: Case, areas: dict[int, Area], units: dict[int, str], detail: str) -> ListedCase:
    names = {item.code: item.zh for item in catalog().items}
    return ListedCase(
        number=case.number,
        item_name=names.get(case.item_code, case.item_code),
        place=_place_name(areas, case),
        unit=units.get(case.department_id, "") if case.department_id else "",
        status=STATUS_NAMES[case.status],
        detail=detail,
    )


# ---- charts ------------------------------------------------------------------------------------


def cjk_font_file() -> Path | None:
    """A font file with Chinese glyphs installed on this machine, if any."""
    return _cjk_font_file()


@cache
def _cjk_font_file() -> Path | None:
    candidates = [
        path
        for folder in _FONT_DIRS
        if folder.is_dir()
        for path in folder.rglob("*")
        if path.suffix.lower() in {".ttc", ".ttf", ".otf"}
        and any(hint in path.name.lower().replace("-", "") for hint in _CJK_FILE_HINTS)
    ]
    preferred = sorted(
        candidates, key=lambda p: ("sc" not in p.name.lower(), "bold" in p.name.lower(), p.name)
    )
    return preferred[0] if preferred else None


def draw_charts(data: ReportData) -> dict[str, str]:
    """The report's charts as PNG data: URIs, labelled in Chinese."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    font = cjk_font_file()
    if font is not None:
        font_manager.fontManager.addfont(str(font))
        family = font_manager.FontProperties(fname=str(font)).get_name()
        plt.rcParams["font.family"] = [family, "DejaVu Sans"]
    else:
        log.warning("no CJK font found: chart labels will show boxes (install fonts-wqy-microhei)")
    plt.rcParams["axes.unicode_minus"] = False
    charts = {
        "category": _bar_chart(
            plt, data.by_category[:12], f"{data.period} 各类别诉求量（与上月对比）"
        ),
        "town": _bar_chart(plt, data.by_town[:12], f"{data.period} 各乡镇诉求量（与上月对比）"),
        "channel": _bar_chart(plt, data.by_channel, f"{data.period} 各渠道诉求量（与上月对比）"),
        "trend": _trend_chart(plt, data),
    }
    plt.close("all")
    return charts


def _bar_chart(plt: Any, volumes: Sequence[Volume], title: str) -> str:
    figure, axes = plt.subplots(figsize=(7.2, 3.2), dpi=110)
    names = [volume.name for volume in volumes]
    positions = range(len(volumes))
    axes.bar(
        [p - 0.2 for p in positions],
        [v.previous for v in volumes],
        0.4,
        label="上月",
        color="#c7d2dc",
    )
    axes.bar(
        [p + 0.2 for p in positions], [v.count for v in volumes], 0.4, label="本月", color="#1f5f8b"
    )
    axes.set_xticks(
        list(positions),
        names,
        rotation=30 if len(names) > 5 else 0,
        ha="right" if len(names) > 5 else "center",
        fontsize=8,
    )
    axes.set_title(title, fontsize=10)
    axes.set_ylabel("件数", fontsize=8)
    axes.legend(fontsize=8, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return _png(plt, figure)


def _trend_chart(plt: Any, data: ReportData) -> str:
    figure, axes = plt.subplots(figsize=(7.2, 3.2), dpi=110)
    labels = [f"{month[2:4]}年{int(month[5:])}月" for month in data.trend_months]
    positions = list(range(len(labels)))
    totals = [sum(series[i] for series in data.trend.values()) for i in positions]
    axes.plot(positions, totals, marker="o", linewidth=2, color="#1f5f8b", label="合计")
    for name, series in list(data.trend.items())[:4]:
        axes.plot(positions, series, marker=".", linewidth=1, label=name)
    axes.set_xticks(positions, labels, fontsize=7)
    axes.set_title(f"近{len(labels)}个月诉求量走势（按类别）", fontsize=10)
    axes.set_ylabel("件数", fontsize=8)
    axes.tick_params(labelsize=8)
    axes.legend(fontsize=7, frameon=False, ncol=3)
    axes.spines[["top", "right"]].set_visible(False)
    return _png(plt, figure)


def _png(plt: Any, figure: Any) -> str:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# ---- output ------------------------------------------------------------------------------------


def render_html(data: ReportData, zone: ZoneInfo) -> str:
    """The printable HTML report, self-contained (charts inlined, no outside assets)."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"])
    )
    environment.filters["percent"] = _percent
    environment.filters["change"] = _change
    charts = data.charts or draw_charts(data)
    return environment.get_template("report.html").render(
        report=data,
        charts=charts,
        generated=data.generated_at.astimezone(zone).strftime("%Y年%m月%d日 %H:%M"),
        title=_title(data),
        line=metrics.SATISFACTION_LINE,
        fonts=", ".join(f'"{family}"' for family in CJK_FAMILIES),
    )


def render_pdf(html: str, path: Path) -> Path:
    """Print the HTML report to a PDF file with WeasyPrint.

    Raises:
        ReportError: WeasyPrint or its system libraries (Pango) are missing.
    """
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)  # a line per step
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:
        raise ReportError(f"cannot make a PDF here: {exc}") from exc
    HTML(string=html, base_url=str(TEMPLATES)).write_pdf(str(path))
    return path


def write_report(
    session: Session,
    period: str,
    out_dir: Path,
    zone: ZoneInfo,
    *,
    now: dt.datetime,
    pdf: bool = True,
) -> Path:
    """Build and write `zhitong-report-YYYY-MM.html` (and `.pdf`); the path of the last one."""
    data = build_report(session, period, zone, now=now)
    html = render_html(data, zone)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"zhitong-report-{data.period}.html"
    html_path.write_text(html, encoding="utf-8")
    if not pdf:
        return html_path
    return render_pdf(html, out_dir / f"zhitong-report-{data.period}.pdf")


def generate_monthly_report(
    period: str | None = None, out_dir: str | None = None, pdf: bool = True
) -> Path:
    """The monthly job: the report of `period` (default: last month) as HTML and PDF.

    Files go to `out_dir`, by default `<instance>/reports/`. Running it twice overwrites the
    same files with the same figures (they are counted as at the month's end).
    """
    from cases.db import session_scope
    from worker import runtime

    services = runtime.current()
    zone = services.clock.hours.zone
    now = dt.datetime.now(dt.UTC)
    chosen = period or previous_period(now, zone)
    folder = Path(out_dir) if out_dir else services.settings.instance_path / "reports"
    with session_scope(services.sessions) as session:
        path = write_report(session, chosen, folder, zone, now=now, pdf=pdf)
    log.info("report written", extra={"period": chosen, "path": str(path)})
    return path


def _title(data: ReportData) -> str:
    year, month = data.period.split("-")
    return f"{data.county}民情专报（{int(year)}年{int(month)}月）"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _change(volume: Volume) -> str:
    if volume.change is None:
        return "新增" if volume.count else "—"
    return f"{volume.change * 100:+.0f}%"
