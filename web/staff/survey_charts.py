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
