"""Charts drawn on the server as inline SVG: no script, no outside asset, Chinese labels.

Each function returns markup ready for a template. Labels are escaped; sizes are in the SVG's
own units and the picture scales to its container (viewBox), so it fits a phone and a desk.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

BAR_HEIGHT = 22
LABEL_WIDTH = 150
CHART_WIDTH = 560
COLUMN_AREA_HEIGHT = 160


def bar_chart(rows: Sequence[tuple[str, int]], *, title: str, limit: int = 12) -> Markup:
    """Horizontal bars, one per row, largest first as given; at most `limit` rows."""
    shown = list(rows)[:limit]
    if not shown:
        return _empty(title)
    peak = max(count for _label, count in shown) or 1
    span = CHART_WIDTH - LABEL_WIDTH - 60
    height = BAR_HEIGHT * len(shown) + 8
    parts = [_open(title, CHART_WIDTH, height)]
    for index, (label, count) in enumerate(shown):
        y = 4 + index * BAR_HEIGHT
        width = max(1, round(span * count / peak))
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end" class="lbl">'
            f"{escape(_shorten(label, 12))}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{width}" height="{BAR_HEIGHT - 6}" '
            f'class="bar"><title>{escape(label)}: {count}</title></rect>'
            f'<text x="{LABEL_WIDTH + width + 4}" y="{y + 15}" class="num">{count}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def column_chart(rows: Sequence[tuple[str, int]], *, title: str) -> Markup:
    """Vertical columns in the order given (days), with a date label every few columns."""
    if not rows:
        return _empty(title)
    peak = max(count for _label, count in rows) or 1
    step = CHART_WIDTH / len(rows)
    height = COLUMN_AREA_HEIGHT + 40
    every = max(1, len(rows) // 8)
    parts = [_open(title, CHART_WIDTH, height)]
    for index, (label, count) in enumerate(rows):
        bar = round(COLUMN_AREA_HEIGHT * count / peak)
        x = index * step
        parts.append(
            f'<rect x="{x + step * 0.1:.1f}" y="{10 + COLUMN_AREA_HEIGHT - bar}" '
            f'width="{max(step * 0.8, 1):.1f}" height="{bar}" class="bar">'
            f"<title>{escape(label)}: {count}</title></rect>"
        )
        if index % every == 0:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{COLUMN_AREA_HEIGHT + 30}" '
                f'text-anchor="middle" class="lbl">{escape(label[5:])}</text>'
            )
    parts.append(
        f'<text x="2" y="10" class="num">{peak}</text>'
        f'<line x1="0" x2="{CHART_WIDTH}" y1="{COLUMN_AREA_HEIGHT + 10}" '
        f'y2="{COLUMN_AREA_HEIGHT + 10}" class="axis"/></svg>'
    )
    return Markup("".join(parts))


def _open(title: str, width: int, height: int) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
    )


def _empty(title: str) -> Markup:
    return Markup(f'<p class="muted" aria-label="{escape(title)}">—</p>')


def _shorten(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"
