"""What staff read about department indicators, limited to what the reader may see.

The figures come from the engine (minyi.indicators, read-only). This module decides whose
figures an actor gets — an officer their own department only (another department is "not
found", exactly like an unknown code), analysts and admins every department — and shapes
them for the API, the overview with its interval plot, a department's page (trends, top and
rising topics), the classified complaint summary and the monthly report. Nothing here writes.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter, OrderedDict, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from minyi.errors import NotFound, PermissionDenied, ValidationFailed
from minyi.indicators import (
    PROPORTIONS,
    TABLE_COLUMNS,
    Period,
    _period_window,
    complaint_summary,
    department_indicators,
    department_tickets,
    parse_period,
    significant_change,
    wilson_interval,
)
from minyi.models import Department, Role, Service, Ticket
from minyi.services.actors import Actor
from minyi.services.catalog import get_department, get_service
from minyi.services.context import ServiceContext
from minyi.services.permissions import require

# A period typed into a form or a query string is at most this long before it is parsed.
MAX_PERIOD_CHARS = 20
TREND_PERIODS = 12
UNCLASSIFIED_ZH = "未分类"

_HEADINGS = {key: (zh, en) for key, zh, en, _ in TABLE_COLUMNS}
# The shares an interval plot or a trend can show, and which way is good.
MEASURES: dict[str, tuple[str, str, bool]] = {
    key: (*_HEADINGS[key], key != "negative_share") for key in PROPORTIONS
}


# --- periods and access --------------------------------------------------------------------


def last_complete_month(ctx: ServiceContext) -> Period:
    """The month before the county's current local month (the default of every page)."""
    today = ctx.local_date(ctx.now())
    return parse_period(f"{today.year}-{today.month:02d}").previous()


def period_or_default(ctx: ServiceContext, value: object) -> Period:
    """The period typed in `value`, or the last complete month when nothing was typed."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return last_complete_month(ctx)
    if isinstance(value, str) and len(value) > MAX_PERIOD_CHARS:
        value = value[:MAX_PERIOD_CHARS] + "…"
    return parse_period(value)


def _staff(actor: Actor) -> Actor:
    if not isinstance(actor, Actor) or actor.kind != "staff" or actor.role is None:
        raise PermissionDenied("仅限工作人员", "staff only")
    return actor


def _is_officer(actor: Actor) -> bool:
    return actor.role == Role.OFFICER


def visible_department(session: Session, ref: object, *, actor: Actor) -> Department:
    """The department `ref` (code or id) if `actor` may read its indicators; NotFound if not.

    An officer asking for another department is told it does not exist, with the same
    message as for an unknown code, so the answer says nothing about other departments.
    """
    _staff(actor)
    department = get_department(session, ref)
    if _is_officer(actor) and department.id != actor.department_id:
        shown = ref.code if isinstance(ref, Department) else str(ref).strip()
        raise NotFound(f"找不到部门 {shown}", f"unknown department {shown}")
    require(actor, "indicators.view", department_id=department.id)
    return department


def visible_service(session: Session, ref: object, *, actor: Actor) -> Service:
    """The service `ref` (code or id, inactive ones too: they keep their history) if `actor`
    may read its indicators; NotFound if not. An officer asking for another department's
    service is told it does not exist, exactly as for an unknown code."""
    _staff(actor)
    shown = ref.code if isinstance(ref, Service) else str(ref).strip()
    unknown = NotFound(f"找不到服务事项 {shown}", f"unknown service {shown}")
    try:
        service = get_service(session, ref, active_only=False)
    except NotFound:
        raise unknown from None
    if _is_officer(actor) and service.department_id != actor.department_id:
        raise unknown
    require(actor, "indicators.view", department_id=service.department_id)
    return service


def check_service_of(service: Service | None, department: Department) -> None:
    """ValidationFailed when `service` is not one of `department`'s."""
    if service is not None and service.department_id != department.id:
        raise ValidationFailed(
            f"服务事项 {service.code} 不属于部门 {department.code}",
            f"service {service.code} does not belong to department {department.code}",
        )


def department_services(session: Session, department: Department) -> list[Service]:
    """A department's services by code (inactive ones too), for choosing one to read."""
    return list(
        session.scalars(
            select(Service).where(Service.department_id == department.id).order_by(Service.code)
        )
    )


def own_department(session: Session, *, actor: Actor) -> Department | None:
    """An officer's own department; None for analysts and admins (they read the county)."""
    _staff(actor)
    if not _is_officer(actor):
        return None
    return visible_department(session, actor.department_id, actor=actor)


def require_county_view(actor: Actor) -> None:
    """Every department at once (overview, county report, full export): analysts and admins."""
    require(_staff(actor), "indicators.view_county")


def indicator_rows(
    session: Session,
    ctx: ServiceContext,
    period: Period | str,
    *,
    actor: Actor,
    department: object = None,
    service: object = None,
) -> list[dict[str, Any]]:
    """The engine's rows (the CLI's JSON) that `actor` may read: an officer's own department
    when no department is asked for, one department, or every department; with `service`,
    the one row of that service (an officer: of their own department only)."""
    if service is not None:
        found = visible_service(session, service, actor=actor)
        if department is not None:
            check_service_of(found, visible_department(session, department, actor=actor))
        return department_indicators(session, ctx, period, service=found)
    if department is not None:
        dept = visible_department(session, department, actor=actor)
    else:
        dept = own_department(session, actor=actor)
        if dept is None:
            require_county_view(actor)
    return department_indicators(session, ctx, period, department=dept)


# --- intervals and the overview ------------------------------------------------------------


def check_measure(value: object) -> str:
    """A share the pages can plot (satisfaction_rate when nothing was chosen)."""
    if value is None or value == "":
        return "satisfaction_rate"
    if isinstance(value, str) and value in MEASURES:
        return value
    raise ValidationFailed(
        "无法按该指标作图，请从列表中选择", "that indicator cannot be plotted: choose one listed"
    )


@dataclass(frozen=True)
class Estimate:
    """One share with its Wilson 95% interval; value None: 样本不足 (below min_denominator)."""

    value: float | None
    low: float | None
    high: float | None
    numerator: int
    denominator: int

    @classmethod
    def of(cls, row: dict[str, Any], measure: str) -> Estimate:
        numerator = row["numerators"][measure]
        denominator = row["denominators"][measure]
        value = row[measure]
        if value is None:
            return cls(None, None, None, numerator, denominator)
        low, high = wilson_interval(numerator, denominator)
        return cls(value, low, high, numerator, denominator)


@dataclass(frozen=True)
class PlotRow:
    """A department on the interval plot, compared with the county as a whole."""

    department: str
    name: str
    estimate: Estimate
    # "above" / "below": the whole interval lies above / below the county's share;
    # "within": the interval contains it; None when the county has too little data.
    versus_county: str | None


@dataclass(frozen=True)
class IntervalPlot:
    measure: str
    zh: str
    en: str
    higher_is_better: bool
    county: Estimate
    plotted: list[PlotRow]  # enough data: ordered by the share, every one with its interval
    insufficient: list[PlotRow]  # 样本不足: listed by code, never ranked


def interval_plot(rows: list[dict[str, Any]], measure: str, minimum: int) -> IntervalPlot:
    """The interval plot of `measure` over the departments of `rows` (one period)."""
    numerator = sum(row["numerators"][measure] for row in rows)
    denominator = sum(row["denominators"][measure] for row in rows)
    if denominator >= minimum:
        low, high = wilson_interval(numerator, denominator)
        county = Estimate(numerator / denominator, low, high, numerator, denominator)
    else:
        county = Estimate(None, None, None, numerator, denominator)
    plotted, insufficient = [], []
    for row in rows:
        estimate = Estimate.of(row, measure)
        if estimate.value is None:
            insufficient.append(PlotRow(row["department"], row["department_name"], estimate, None))
            continue
        versus = None
        if county.value is not None:
            if estimate.low > county.value:
                versus = "above"
            elif estimate.high < county.value:
                versus = "below"
            else:
                versus = "within"
        plotted.append(PlotRow(row["department"], row["department_name"], estimate, versus))
    plotted.sort(key=lambda item: (-item.estimate.value, item.department))
    insufficient.sort(key=lambda item: item.department)
    zh, en, better = MEASURES[measure]
    return IntervalPlot(measure, zh, en, better, county, plotted, insufficient)


@dataclass(frozen=True)
class Overview:
    period: Period
    rows: list[dict[str, Any]]  # every department, ordered by code (never by a figure)
    plot: IntervalPlot


def county_overview(
    session: Session,
    ctx: ServiceContext,
    period: Period | str,
    *,
    actor: Actor,
    measure: object = None,
) -> Overview:
    """Every department's indicators for `period`, with the interval plot of `measure`."""
    require_county_view(actor)
    measure = check_measure(measure)
    period = period if isinstance(period, Period) else parse_period(period)
    rows = department_indicators(session, ctx, period)
    minimum = ctx.settings.indicators.min_denominator
    return Overview(period, rows, interval_plot(rows, measure, minimum))


# --- trends --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendPoint:
    period: str
    estimate: Estimate | None  # None for the index and other values without an interval
    value: float | None
    # Against the period before it: a change is flagged only when significant at 95%.
    change: float | None = None
    significant: bool = False


def trend_periods(period: Period, count: int = TREND_PERIODS) -> list[Period]:
    """`count` periods of `period`'s kind ending with it, oldest first."""
    periods = [period]
    while len(periods) < count:
        periods.append(periods[-1].previous())
    return periods[::-1]


def trend_points(rows: list[dict[str, Any]], key: str) -> list[TrendPoint]:
    """The points of one indicator over the rows of consecutive periods (one department)."""
    points = []
    for row in rows:
        if key in PROPORTIONS:
            change = row["changes"][key]
            points.append(
                TrendPoint(
                    row["period"], Estimate.of(row, key), row[key],
                    change["change"], change["significant"],
                )
            )  # fmt: skip
        else:
            points.append(TrendPoint(row["period"], None, row[key]))
    return points


TREND_KEYS = (
    "satisfaction_rate",
    "on_time_closure_rate",
    "response_rate",
    "resolution_rate",
    "callback_satisfaction_rate",
    "bad_reviews_rectified_on_time",
    "negative_share",
    "index",
)


# --- topics --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicLine:
    """One topic of a department's complaints in a period, with a complaint that shows it."""

    topic: str
    count: int
    share: float
    previous: int
    previous_share: float | None
    # Its share of the complaints rose against the previous period, significant at 95%.
    rising: bool
    example_number: str | None
    example_text: str


@dataclass(frozen=True)
class TopicDigest:
    period: str
    previous_period: str
    tickets: int
    previous_tickets: int
    top: list[TopicLine]
    rising: list[TopicLine]
    # Whether both periods have enough complaints (min_denominator) to call a topic rising.
    enough_to_compare: bool
    rising_terms: list[str] = field(default_factory=list)


def _example(group: list[Ticket]) -> tuple[str | None, str]:
    """The complaint whose sentence is closest to what the group says (nlp.summary)."""
    from nlp.summary import summarize

    texts = [ticket.text for ticket in group]
    sentence = next(iter(summarize(texts, n=1)), None)
    if sentence:
        for ticket in group:
            if sentence in ticket.text:
                return ticket.number, sentence
    first = group[0]
    return first.number, first.text[:60] + ("…" if len(first.text) > 60 else "")


def topic_digest(
    session: Session,
    ctx: ServiceContext,
    period: Period,
    department_id: int,
    *,
    top: int = 5,
    with_terms: bool = True,
    service_id: int | None = None,
) -> TopicDigest:
    """A department's top and rising complaint topics in `period`, against the period before
    (only the complaints about one service when `service_id` is given).

    A topic rises when its share of the department's complaints went up and a two-proportion
    test finds the change significant at 95%; with fewer than min_denominator complaints in
    either period nothing is called rising. With `with_terms`, the words used in significantly
    more complaints than before (nlp.hot.rising_terms) are given too.
    """
    previous_period = period.previous()
    current = department_tickets(session, ctx, period, department_id, service_id)
    previous = department_tickets(session, ctx, previous_period, department_id, service_id)
    minimum = ctx.settings.indicators.min_denominator
    enough = len(current) >= minimum and len(previous) >= minimum
    groups: dict[str, list[Ticket]] = defaultdict(list)
    for ticket in current:
        groups[ticket.topic or UNCLASSIFIED_ZH].append(ticket)
    before = Counter(ticket.topic or UNCLASSIFIED_ZH for ticket in previous)
    lines = []
    for topic, group in groups.items():
        count, was = len(group), before[topic]
        share = count / len(current)
        previous_share = was / len(previous) if previous else None
        rising = (
            enough
            and previous_share is not None
            and share > previous_share
            and significant_change(count, len(current), was, len(previous))
        )
        lines.append((topic, group, count, share, was, previous_share, rising))
    lines.sort(key=lambda line: (-line[2], line[0]))

    def described(line) -> TopicLine:
        topic, group, count, share, was, previous_share, rising = line
        number, text = _example(group)
        return TopicLine(
            topic, count, round(share, 4), was,
            None if previous_share is None else round(previous_share, 4),
            rising, number, text,
        )  # fmt: skip

    shown = [described(line) for line in lines[:top]]
    by_topic = {line.topic: line for line in shown}
    rising = [by_topic.get(line[0]) or described(line) for line in lines if line[6]]
    terms: list[str] = []
    if with_terms and current and previous:
        from nlp.hot import rising_terms

        found = rising_terms([t.text for t in current], [t.text for t in previous], top=8)
        terms = [term.term for term in found]
    return TopicDigest(
        period.label, previous_period.label, len(current), len(previous),
        shown, rising[:top], enough, terms,
    )  # fmt: skip


class TopicCache:
    """Topic digests kept per department, period and options, each with the fingerprint of
    the complaints it was made from (ids and topics of the department's complaints in the
    period and the one before). A new, reassigned or reclassified complaint changes the
    fingerprint, and the digest is made again; a closed period's stays until evicted.

    The analysis (nlp summaries and rising terms over every complaint of two periods) is the
    slow part of a department's page; the fingerprint is one narrow query. One per web app
    (thread-safe), bounded to `size` entries, least recently used evicted first.
    """

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.hits = self.misses = 0
        self._entries: OrderedDict[tuple, tuple[bytes, TopicDigest]] = OrderedDict()
        self._lock = threading.Lock()

    def digest(
        self,
        session: Session,
        ctx: ServiceContext,
        period: Period,
        department_id: int,
        *,
        top: int = 5,
        with_terms: bool = True,
        service_id: int | None = None,
    ) -> TopicDigest:
        """topic_digest(...), from the cache while the complaints it read are unchanged."""
        key = (
            department_id, service_id, period.label, top, with_terms,
            ctx.settings.indicators.min_denominator, ctx.settings.calendar.timezone,
        )  # fmt: skip
        mark = topic_fingerprint(session, ctx, period, department_id, service_id)
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found[0] == mark:
                self._entries.move_to_end(key)
                self.hits += 1
                return found[1]
            self.misses += 1
        digest = topic_digest(
            session, ctx, period, department_id, top=top, with_terms=with_terms,
            service_id=service_id,
        )  # fmt: skip
        with self._lock:
            self._entries[key] = (mark, digest)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return digest

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def topic_fingerprint(
    session: Session,
    ctx: ServiceContext,
    period: Period,
    department_id: int,
    service_id: int | None = None,
) -> bytes:
    """A digest of what topic_digest reads: the ids and topics of the department's complaints
    received in `period` and the period before (a complaint's text and number never change)."""
    start, _ = _period_window(ctx, period.previous())
    middle, end = _period_window(ctx, period)
    statement = (
        select(Ticket.id, Ticket.topic, Ticket.received_at >= middle)
        .where(
            Ticket.department_id == department_id,
            Ticket.received_at >= start,
            Ticket.received_at < end,
        )
        .order_by(Ticket.id)
    )
    if service_id is not None:
        statement = statement.where(Ticket.service_id == service_id)
    rows = session.execute(statement)
    fingerprint = hashlib.blake2b(digest_size=16)
    for ticket_id, topic, current in rows:
        fingerprint.update(f"{ticket_id}\x1f{topic}\x1f{bool(current)}\x1e".encode())
    return fingerprint.digest()


def _topics(
    cache: TopicCache | None,
    session: Session,
    ctx: ServiceContext,
    period: Period,
    department_id: int,
    **options,
) -> TopicDigest:
    if cache is None:
        return topic_digest(session, ctx, period, department_id, **options)
    return cache.digest(session, ctx, period, department_id, **options)


# --- a department's page -------------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentPage:
    department: Department
    period: Period
    row: dict[str, Any]  # the engine's row of `period`
    trends: dict[str, list[TrendPoint]]
    counts: list[tuple[str, int, int]]  # (period, ratings, tickets), oldest first
    topics: TopicDigest
    service: Service | None = None  # the one service read, or the whole department
    services: list[Service] = field(default_factory=list)  # the department's, to choose from


def department_page(
    session: Session,
    ctx: ServiceContext,
    period: Period | str,
    department: object,
    *,
    actor: Actor,
    topics: TopicCache | None = None,
    service: object = None,
) -> DepartmentPage:
    """One department's indicators, their trend over the last 12 periods, and its topics
    (from `topics` while the department's complaints are unchanged); with `service`, those
    of one of its services."""
    dept = visible_department(session, department, actor=actor)
    chosen = visible_service(session, service, actor=actor) if service is not None else None
    check_service_of(chosen, dept)
    period = period if isinstance(period, Period) else parse_period(period)
    rows = [
        department_indicators(session, ctx, each, department=dept, service=chosen)[0]
        for each in trend_periods(period)
    ]
    return DepartmentPage(
        department=dept,
        period=period,
        row=rows[-1],
        trends={key: trend_points(rows, key) for key in TREND_KEYS},
        counts=[(row["period"], row["ratings"], row["tickets"]) for row in rows],
        topics=_topics(
            topics, session, ctx, period, dept.id, service_id=chosen.id if chosen else None
        ),
        service=chosen,
        services=department_services(session, dept),
    )


def department_complaint_summary(
    session: Session,
    ctx: ServiceContext,
    period: Period | str,
    department: object,
    *,
    actor: Actor,
) -> dict[str, Any]:
    """The classified complaint summary a department reviews (minyi.indicators)."""
    dept = visible_department(session, department, actor=actor)
    return complaint_summary(session, ctx, period, dept)


# --- the monthly report --------------------------------------------------------------------

REPORT_PLOTS = ("satisfaction_rate", "on_time_closure_rate", "callback_satisfaction_rate")


@dataclass(frozen=True)
class ReportPage:
    row: dict[str, Any]
    trend: list[TrendPoint]  # satisfaction over the last 12 periods
    topics: TopicDigest


@dataclass(frozen=True)
class MonthlyReport:
    period: Period
    county: bool  # with the county summary (every department) in front
    rows: list[dict[str, Any]]
    plots: list[IntervalPlot]
    pages: list[ReportPage]
    generated_on: date


def monthly_report(
    session: Session,
    ctx: ServiceContext,
    period: Period | str,
    *,
    actor: Actor,
    department: object = None,
    topics: TopicCache | None = None,
) -> MonthlyReport:
    """The printable report of `period`: a county summary and a page per department, or the
    page of one department (what an officer may print)."""
    period = period if isinstance(period, Period) else parse_period(period)
    if department is not None:
        departments: Department | None = visible_department(session, department, actor=actor)
    else:
        require_county_view(actor)
        departments = None
    # One query per period for all the departments at once: the trend of every page.
    history = [
        department_indicators(session, ctx, each, department=departments)
        for each in trend_periods(period)
    ]
    rows = history[-1]
    minimum = ctx.settings.indicators.min_denominator
    by_department: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for period_rows in history:
        for row in period_rows:
            by_department[row["department"]].append(row)
    ids = dict(session.execute(select(Department.code, Department.id)).all())
    pages = [
        ReportPage(
            row,
            trend_points(by_department[row["department"]], "satisfaction_rate"),
            _topics(
                topics, session, ctx, period, ids[row["department"]], top=3, with_terms=False
            ),
        )
        for row in rows
    ]
    return MonthlyReport(
        period=period,
        county=departments is None,
        rows=rows,
        plots=[interval_plot(rows, measure, minimum) for measure in REPORT_PLOTS]
        if departments is None
        else [],
        pages=pages,
        generated_on=ctx.local_date(ctx.now()),
    )


def is_provisional(period: Period, today: date) -> bool:
    """Whether `period` has not ended yet, so that its figures may still move."""
    return period.last >= today
