"""The geometry of the results pages' charts, drawn as inline SVG by the templates.

Server-side and script-free: the page's CSP forbids inline styles, and SVG attributes are not
styles, so bars and dots are placed here in viewBox units and the SVG scales to the phone. The
figures come from surveys.results; nothing is computed here but positions and labels.
"""

from __future__ import annotations

from dataclasses import dataclass

from surveys.definition import RATING_LABELS, Question

WIDTH = 360  # viewBox width; the SVG itself is as wide as its box
LABEL_WIDTH = 118  # the label column of a bar chart
BAR_ROW = 24
PLOT_LEFT, PLOT_RIGHT = 12, WIDTH - 12  # the dumbbell's axis
DUMBBELL_ROW = 54


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    share: float | None
    y: int
    width: float  # of the bar, in viewBox units


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    height: int
    label_width: int = LABEL_WIDTH
    plot_width: int = WIDTH - LABEL_WIDTH - 60
    width: int = WIDTH


def distribution(question: Question, summary: dict, language: str) -> BarChart | None:
    """One bar per answer value (best first for scales) or choice, as wide as its count."""
    counts = summary.get("counts")
    if not counts:
        return None
    if question.kind == "rating":
        items = [(_rating_label(int(v), language), counts[v]) for v in ("5", "4", "3", "2", "1")]
    elif question.kind == "rubric":
        items = [(v, counts[v]) for v in ("5", "4", "3", "2", "1")]
    elif question.kind == "nps":
        items = [(v, counts[v]) for v in map(str, range(10, -1, -1))]
    else:
        names = {c.key: c.text.get(language) for c in question.choices}
        items = [(names.get(key, key), count) for key, count in counts.items()]
    # Choices: the share of respondents (several per person in a multiple choice).
    total = summary.get("n") or 0
    most = max((count for _, count in items), default=0)
    plot = WIDTH - LABEL_WIDTH - 60
    bars = [
        Bar(
            label=_shorten(label, 14 if language == "en" else 8),
            count=count,
            share=count / total if total else None,
            y=index * BAR_ROW,
            width=round(plot * count / most, 1) if most else 0,
        )
        for index, (label, count) in enumerate(items)
    ]
    return BarChart(bars=bars, height=len(bars) * BAR_ROW)


MEASURES = {
    "mean": ("平均分", "Mean score"),
    "satisfaction_rate": ("满意率（4-5 分）", "Satisfied (4-5)"),
    "nps": ("净推荐值 NPS", "NPS"),
}


@dataclass(frozen=True)
class Dumbbell:
    """One measure of a question: last round's value (hollow) and this round's (filled)."""

    label: str
    previous: str  # the values as written, e.g. "4.12" or "63.0%"
    current: str
    x_previous: float | None
    x_current: float | None
    y: int
    significant: bool
    rising: bool | None  # the direction of a significant change
    insufficient: bool
    p: float | None


@dataclass(frozen=True)
class DumbbellChart:
    rows: list[Dumbbell]
    height: int
    low_label: str
    high_label: str
    left: int = PLOT_LEFT
    right: int = PLOT_RIGHT
    width: int = WIDTH


def comparison(question: Question, changes: list[dict], language: str) -> list[DumbbellChart]:
    """The comparison with the previous round as dumbbell charts, one per scale (a mean and a
    rate do not share an axis); only a change the engine flags `significant` is marked."""
    groups: dict[tuple[float, float], list[dict]] = {}
    for change in changes:
        groups.setdefault(_scale(question, change["measure"]), []).append(change)
    charts = []
    for (low, high), members in groups.items():
        rows = []
        for index, change in enumerate(members):
            measure = change["measure"]
            rows.append(
                Dumbbell(
                    label=_measure_label(question, measure, language),
                    previous=_written(measure, change["previous"]),
                    current=_written(measure, change["current"]),
                    x_previous=_x(change["previous"], low, high),
                    x_current=_x(change["current"], low, high),
                    y=index * DUMBBELL_ROW,
                    significant=change["significant"],
                    rising=(change["difference"] or 0) > 0 if change["significant"] else None,
                    insufficient=change["insufficient"],
                    p=change["p"],
                )
            )
        charts.append(
            DumbbellChart(
                rows=rows,
                height=len(rows) * DUMBBELL_ROW + 14,
                low_label=_written(members[0]["measure"], low),
                high_label=_written(members[0]["measure"], high),
            )
        )
    return charts


def _scale(question: Question, measure: str) -> tuple[float, float]:
    if measure == "mean":
        return question.scale
    if measure == "nps":
        return (-100, 100)
    return (0, 1)  # shares and rates


def _x(value: float | None, low: float, high: float) -> float | None:
    if value is None:
        return None
    span = high - low or 1
    return round(PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * (value - low) / span, 1)


def _written(measure: str, value: float | None) -> str:
    if value is None:
        return "—"
    if measure == "mean":
        return f"{value:.2f}"
    if measure == "nps":
        return f"{value:.1f}"
    return f"{value * 100:.1f}%"


def _measure_label(question: Question, measure: str, language: str) -> str:
    if measure.startswith("share:"):
        key = measure.split(":", 1)[1]
        name = next((c.text.get(language) for c in question.choices if c.key == key), key)
        return f"“{_shorten(name, 14)}”" + (" share" if language == "en" else "的比例")
    zh, en = MEASURES.get(measure, (measure, measure))
    return en if language == "en" else zh


def _rating_label(score: int, language: str) -> str:
    zh, en = RATING_LABELS[score]
    return f"{score} {en}" if language == "en" else f"{score} {zh}"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the trend over every round ---------------------------------------------------------------

TREND_HEIGHT = 150
TREND_TOP, TREND_BOTTOM = 22, 30  # room for ▲▼ above, round labels below
TREND_LEFT, TREND_RIGHT = 40, WIDTH - 12
TREND_CI = {"mean": "mean_ci", "satisfaction_rate": "satisfaction_ci", "nps": "nps_ci"}


@dataclass(frozen=True)
class TrendMark:
    """One round of a measure: the value with its 95% interval, as placed on the chart."""

    round: int
    x: float
    y: float | None  # None: 样本不足 in that round (a gap in the line)
    y_low: float | None
    y_high: float | None
    written: str  # the value as written, with its interval and n
    significant: bool  # a significant change from the question's previous round
    rising: bool | None
    p: float | None


@dataclass(frozen=True)
class TrendChart:
    measure: str
    label: str
    marks: list[TrendMark]
    lines: list[str]  # polyline points of each run of rounds with a value
    ticks: list[tuple[float, str]]  # (y, label) of the value axis
    flagged: int  # how many significant changes
    height: int = TREND_HEIGHT
    left: int = TREND_LEFT
    right: int = TREND_RIGHT
    width: int = WIDTH


def trend(question: Question, series: dict, language: str) -> list[TrendChart]:
    """A question's measures over every round (surveys.results.survey_trend): one chart per
    measure, each round a dot with its 95% interval as a whisker, the line broken where a
    round has too few answers, ▲/▼ only on the changes the engine flags significant."""
    points = series.get("points") or []
    if len(points) < 2:
        return []
    measures = ["mean", "nps" if question.kind == "nps" else "satisfaction_rate"]
    step = (TREND_RIGHT - TREND_LEFT) / (len(points) - 1)
    charts = []
    for measure in measures:
        low, high = _scale(question, measure)
        values = [
            bound
            for point in points
            for bound in (point.get(TREND_CI[measure]) or [point.get(measure)])
            if bound is not None
        ]
        if values and measure == "satisfaction_rate":  # zoom to tens of percent
            low = max(0.0, int(min(values) * 10) / 10)
            high = min(1.0, (int(max(values) * 10) + 1) / 10)

        def y(value, low=low, high=high):
            if value is None:
                return None
            span = high - low or 1
            plot = TREND_HEIGHT - TREND_TOP - TREND_BOTTOM
            return round(TREND_TOP + plot * (high - value) / span, 1)

        marks, lines, run = [], [], []
        for index, point in enumerate(points):
            x = round(TREND_LEFT + step * index, 1)
            value = point.get(measure)
            interval = point.get(TREND_CI[measure])
            change = (point.get("changes") or {}).get(measure) or {}
            significant = bool(change.get("significant"))
            written = _written(measure, value)
            if value is not None and interval:
                written += (
                    f"（95%: {_written(measure, interval[0])}–{_written(measure, interval[1])},"
                    f" n={point['n']}）"
                )
            elif value is None:
                written = "样本不足" if language != "en" else "too few answers"
            marks.append(
                TrendMark(
                    round=point["round"],
                    x=x,
                    y=y(value),
                    y_low=y(interval[0]) if interval else None,
                    y_high=y(interval[1]) if interval else None,
                    written=written,
                    significant=significant,
                    rising=(change.get("difference") or 0) > 0 if significant else None,
                    p=change.get("p"),
                )
            )
            if value is None:
                if len(run) > 1:
                    lines.append(" ".join(run))
                run = []
            else:
                run.append(f"{x},{y(value)}")
        if len(run) > 1:
            lines.append(" ".join(run))
        ticks = [(y(v), _written(measure, v)) for v in (high, (low + high) / 2, low)]
        charts.append(
            TrendChart(
                measure=measure,
                label=_measure_label(question, measure, language),
                marks=marks,
                lines=lines,
                ticks=ticks,
                flagged=sum(mark.significant for mark in marks),
            )
        )
    return charts
