"""Server-side SVG charts of the indicator pages: an interval plot and small trend charts.

Drawn as markup in the page (no script, nothing fetched), coloured by classes of site.css
(the page's CSP forbids inline styles), each with a <title> per mark so that a screen reader
or a hover tells the exact figure. Every text that comes from data is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

from minyi.services.indicator_reports import IntervalPlot, TrendPoint

Pick = Callable[[str, str], str]


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _clip(name: str, chars: int) -> str:
    return name if len(name) <= chars else name[: chars - 1] + "…"


def _share_axis(values: Sequence[float], *, minimum_span: float = 0.2) -> tuple[float, float]:
    """A 0-1 axis at whole tens of percent around `values`, at least `minimum_span` wide."""
    low = math.floor(min(values) * 10) / 10
    high = math.ceil(max(values) * 10) / 10
    while high - low < minimum_span - 1e-9:
        low, high = (max(0.0, low - 0.1), high) if low > 0 else (low, min(1.0, high + 0.1))
        if low == 0.0 and high == 1.0:
            break
    return max(0.0, low), min(1.0, high)


def _ticks(low: float, high: float) -> list[float]:
    step = 0.1 if high - low <= 0.6 else 0.2
    count = round((high - low) / step)
    return [round(low + step * i, 4) for i in range(count + 1)]


def _tone(direction: str | None, higher_is_better: bool) -> str:
    """The colour class of a department against the county (or of a change)."""
    if direction in (None, "within"):
        return "iv-same"
    good = (direction == "above") == higher_is_better
    return "iv-good" if good else "iv-bad"


def interval_plot_svg(plot: IntervalPlot, t: Pick) -> Markup:
    """Each department's share as a point with its 95% interval, the county's share as a line."""
    if not plot.plotted:
        return Markup("")
    # Narrow enough to stay legible on a phone: each name sits above its interval.
    width, value_width, row_height, top = 400, 52, 38, 30
    left, right = 22, width - value_width
    values = [bound for row in plot.plotted for bound in (row.estimate.low, row.estimate.high)]
    if plot.county.value is not None:
        values.append(plot.county.value)
    low, high = _share_axis(values)
    height = top + row_height * len(plot.plotted) + 12

    def x(value: float) -> float:
        return round(left + (value - low) / (high - low) * (right - left), 1)

    parts = [
        f'<svg class="chart interval-plot" viewBox="0 0 {width} {height}" role="img"'
        f' aria-labelledby="iv-title-{plot.measure}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="iv-title-{plot.measure}">'
        + escape(t(f"各部门{plot.zh}及95%置信区间", f"{plot.en} by department, 95% intervals"))
        + "</title>",
    ]
    for tick in _ticks(low, high):
        parts.append(
            f'<line class="grid" x1="{x(tick)}" y1="{top - 6}" x2="{x(tick)}" y2="{height - 8}"/>'
            f'<text class="tick" x="{x(tick)}" y="{top - 12}" text-anchor="middle">'
            f"{tick * 100:.0f}%</text>"
        )
    for index, row in enumerate(plot.plotted):
        estimate = row.estimate
        y = top + row_height * index + 26  # the interval; its name 14 units above
        tone = _tone(row.versus_county, plot.higher_is_better)
        versus_zh, versus_en = {
            "above": ("，整个区间高于全县", "; the whole interval is above the county"),
            "below": ("，整个区间低于全县", "; the whole interval is below the county"),
            "within": ("，与全县无显著差异", "; not different from the county"),
            None: ("", ""),
        }[row.versus_county]
        shown = f"{_percent(estimate.value)}"
        bounds = f"{_percent(estimate.low)}–{_percent(estimate.high)}"
        n = estimate.denominator
        label = t(
            f"{row.name}：{plot.zh} {shown}（95%区间 {bounds}，n={n}）{versus_zh}",
            f"{row.name}: {plot.en} {shown} (95% interval {bounds}, n={n})"
            f"{versus_en}",
        )
        parts.append(
            f'<g class="{tone}"><title>{escape(label)}</title>'
            f'<text class="label" x="{left}" y="{y - 9}">{escape(_clip(row.name, 24))}</text>'
            f'<line class="ci" x1="{x(estimate.low)}" y1="{y}" x2="{x(estimate.high)}" y2="{y}"/>'
            f'<circle class="point" cx="{x(estimate.value)}" cy="{y}" r="4.5"/>'
            f'<text class="value" x="{right + 6}" y="{y + 4}">{_percent(estimate.value)}</text>'
            "</g>"
        )
    if plot.county.value is not None:
        cx = x(plot.county.value)
        county = t("全县", "County") + f" {_percent(plot.county.value)}"
        parts.append(
            f'<line class="reference" x1="{cx}" y1="{top - 4}" x2="{cx}" y2="{height - 8}"/>'
            f'<text class="reference-label" x="{cx + 4}" y="{height - 1}">{escape(county)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _period_ticks(labels: Sequence[str], xs: Sequence[float], baseline: float) -> str:
    """Period ticks without the year (10, W43, Q4), the year under the first of each year."""
    parts = []
    years = [label.partition("-")[0] for label in labels]
    for index, (label, x) in enumerate(zip(labels, xs, strict=True)):
        year, _, rest = label.partition("-")
        parts.append(
            f'<text class="tick" x="{x}" y="{baseline}" text-anchor="middle">{escape(rest)}</text>'
        )
        starts_year = index > 0 and years[index - 1] != year
        # The first tick names its year unless the next one starts a year (they would touch).
        first = index == 0 and (len(years) == 1 or years[1] == year)
        if starts_year or first:
            parts.append(
                f'<text class="tick year" x="{x}" y="{baseline + 12}" text-anchor="middle">'
                f"{escape(year)}</text>"
            )
    return "".join(parts)


def trend_svg(
    points: Sequence[TrendPoint],
    t: Pick,
    *,
    title: str,
    share: bool = True,
    higher_is_better: bool = True,
) -> Markup:
    """One indicator over consecutive periods: a line (broken where 样本不足), the 95% band of
    a share, and ▲/▼ on a change that is significant at 95% against the period before."""
    width, height, left, right, top, bottom = 360, 180, 44, 14, 14, 42
    known = [p for p in points if p.value is not None]
    if share:
        spread = [v for p in known for v in (p.estimate.low, p.estimate.high)] or [0.0, 1.0]
        low, high = _share_axis(spread)
    else:
        values = [p.value for p in known] or [0.0, 100.0]
        low = max(0.0, math.floor(min(values) / 10) * 10)
        high = min(100.0, math.ceil(max(values) / 10) * 10)
        if high - low < 20:
            low, high = max(0.0, high - 20), max(20.0, high)
    step = (width - left - right) / max(len(points) - 1, 1)

    def x(index: int) -> float:
        return round(left + step * index, 1)

    def y(value: float) -> float:
        return round(top + (high - value) / (high - low) * (height - top - bottom), 1)

    def shown(value: float) -> str:
        return _percent(value) if share else f"{value:.1f}"

    parts = [
        f'<svg class="chart trend" viewBox="0 0 {width} {height}" role="img"'
        ' xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    ticks = _ticks(low, high) if share else [low, (low + high) / 2, high]
    for tick in ticks:
        parts.append(
            f'<line class="grid" x1="{left}" y1="{y(tick)}" x2="{width - right}" y2="{y(tick)}"/>'
            f'<text class="tick" x="{left - 4}" y="{y(tick) + 4}" text-anchor="end">'
            f"{tick * 100:.0f}%</text>"
            if share
            else f'<line class="grid" x1="{left}" y1="{y(tick)}" x2="{width - right}"'
            f' y2="{y(tick)}"/><text class="tick" x="{left - 4}" y="{y(tick) + 4}"'
            f' text-anchor="end">{tick:.0f}</text>'
        )
    # Bands and lines run over consecutive known points only: a gap is a gap.
    runs: list[list[int]] = [[]]
    for index, point in enumerate(points):
        if point.value is None:
            runs.append([])
        else:
            runs[-1].append(index)
    for run in (r for r in runs if r):
        if share:
            upper = " ".join(f"{x(i)},{y(points[i].estimate.high)}" for i in run)
            lower = " ".join(f"{x(i)},{y(points[i].estimate.low)}" for i in reversed(run))
            parts.append(f'<polygon class="band" points="{upper} {lower}"/>')
        if len(run) > 1:
            line = " ".join(f"{x(i)},{y(points[i].value)}" for i in run)
            parts.append(f'<polyline class="line" points="{line}"/>')
    insufficient = t("样本不足", "too few data")
    for index, point in enumerate(points):
        cx = x(index)
        if point.value is None:
            parts.append(
                f'<g class="missing"><title>{escape(point.period)}：{escape(insufficient)}</title>'
                f'<circle cx="{cx}" cy="{height - bottom - 4}" r="3"/></g>'
            )
            continue
        detail = shown(point.value)
        if share and point.estimate is not None:
            detail += (
                f"（95%: {_percent(point.estimate.low)}–{_percent(point.estimate.high)},"
                f" n={point.estimate.denominator}）"
            )
        mark = ""
        if point.significant and point.change:
            up = point.change > 0
            tone = "iv-good" if up == higher_is_better else "iv-bad"
            arrow_y = y(point.value) - 9 if up else y(point.value) + 17
            mark = (
                f'<text class="change {tone}" x="{cx}" y="{arrow_y}" text-anchor="middle">'
                f"{'▲' if up else '▼'}</text>"
            )
            detail += t("，较上期显著", ", significant change") + (
                t("上升", " up") if up else t("下降", " down")
            )
        parts.append(
            f"<g><title>{escape(point.period)}：{escape(detail)}</title>"
            f'<circle class="point" cx="{cx}" cy="{y(point.value)}" r="3.5"/>{mark}</g>'
        )
    parts.append(_period_ticks([p.period for p in points], [x(i) for i in range(len(points))],
                               height - bottom + 16))  # fmt: skip
    if not known:
        parts.append(
            f'<text class="empty" x="{(left + width - right) / 2}"'
            f' y="{(top + height - bottom) / 2}"'
            f' text-anchor="middle">{escape(t("各期均样本不足", "too few data in every period"))}'
            "</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def counts_svg(counts: Sequence[tuple[str, int, int]], t: Pick) -> Markup:
    """Ratings and complaints per period as pairs of bars."""
    width, height, left, right, top, bottom = 360, 180, 44, 14, 14, 42
    peak = max([max(r, k) for _, r, k in counts] + [1])
    scale = 10 ** max(len(str(peak)) - 1, 0)
    high = math.ceil(peak / scale) * scale
    slot = (width - left - right) / max(len(counts), 1)
    bar = max(slot / 2 - 2, 2)

    def y(value: float) -> float:
        return round(top + (high - value) / high * (height - top - bottom), 1)

    parts = [
        f'<svg class="chart trend" viewBox="0 0 {width} {height}" role="img"'
        ' xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(t('评价数与投诉数', 'Ratings and complaints'))}</title>",
    ]
    for tick in (0, high / 2, high):
        parts.append(
            f'<line class="grid" x1="{left}" y1="{y(tick)}" x2="{width - right}" y2="{y(tick)}"/>'
            f'<text class="tick" x="{left - 4}" y="{y(tick) + 4}" text-anchor="end">'
            f"{tick:,.0f}</text>"
        )
    for index, (period, rated, filed) in enumerate(counts):
        x0 = round(left + slot * index + 1, 1)
        label = t(f"{period}：评价 {rated} 条，投诉 {filed} 件", f"{period}: {rated} ratings,"
                  f" {filed} complaints")  # fmt: skip
        parts.append(
            f"<g><title>{escape(label)}</title>"
            f'<rect class="bar-ratings" x="{x0}" y="{y(rated)}" width="{bar:.1f}"'
            f' height="{y(0) - y(rated):.1f}"/>'
            f'<rect class="bar-tickets" x="{x0 + bar:.1f}" y="{y(filed)}" width="{bar:.1f}"'
            f' height="{y(0) - y(filed):.1f}"/></g>'
        )
    centres = [round(left + slot * index + 1 + bar, 1) for index in range(len(counts))]
    parts.append(_period_ticks([c[0] for c in counts], centres, height - bottom + 16))
    parts.append("</svg>")
    return Markup("".join(parts))
