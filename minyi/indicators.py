"""Department indicators per period from a rollup kept exact by recomputation (docs/indicators.md).

The facts live in the base tables (ratings, follow-ups, tickets, closure rounds). The rollup
`indicator_daily` holds summable counts per department × service × county-local day; a
change marks the department-days it touched stale (the after_flush hook in minyi.models, or
`mark_days_stale` for bulk writers) in the same transaction. A query sums the rollup over the
period and recomputes the stale days from the base tables on the fly; `refresh_rollups`
writes those recomputed days back. Rows are only ever recomputed, never incremented, so a
late edit (a follow-up completed later, an appeal approved, an extension, a reopen) cannot
make them drift. The median is not summable and is taken from the base rows of the period.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Date,
    Interval,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    not_,
    or_,
    select,
    text,
    type_coerce,
)
from sqlalchemy.orm import Session

from minyi.errors import ValidationFailed
from minyi.models import (
    BadReviewFollowUp,
    Department,
    FollowUpStatus,
    IndicatorDaily,
    IndicatorDepartmentDaily,
    IndicatorDepartmentMonthly,
    IndicatorMedian,
    IndicatorStale,
    Rating,
    Service,
    SurveyAnswerCount,
    SurveyQuestion,
    SurveyResponse,
    SurveyRound,
    Ticket,
    TicketClosure,
    TicketStatus,
    ticket_stale_marks,
)
from minyi.services.catalog import get_department, get_service
from minyi.services.context import ServiceContext

COUNT_COLUMNS = (
    "score_1",
    "score_2",
    "score_3",
    "score_4",
    "score_5",
    "follow_ups_on_time",
    "follow_ups_late",
    "follow_ups_open",
    "tickets",
    "sentiment_known",
    "negative",
    "responded_on_time",
    "responded_late",
    "unresponded",
    "due",
    "closed_on_time",
    "closures",
    "resolved_answers",
    "resolved_yes",
    "satisfaction_answers",
    "satisfied_answers",
)
UNTIL_COLUMNS = ("follow_ups_open_until", "unresponded_until")  # latest deadline: max
FIRST_COLUMNS = ("follow_ups_open_first", "unresponded_first")  # earliest deadline: min
DATE_COLUMNS = frozenset(UNTIL_COLUMNS + FIRST_COLUMNS)
ROLLUP_COLUMNS = COUNT_COLUMNS + UNTIL_COLUMNS + FIRST_COLUMNS
ROLLUP_TABLES = (IndicatorDaily.__table__, IndicatorDepartmentDaily.__table__)
# What a period's sums carry besides the rollup columns (see _rollup_sums).
# (open count, earliest and latest deadline, and what the sums say about those still in time)
PENDING = (
    (
        "follow_ups_open",
        "follow_ups_open_first",
        "follow_ups_open_until",
        "follow_ups_pending",
        "follow_ups_mixed",
        "follow_ups_pending_from",
    ),
    (
        "unresponded",
        "unresponded_first",
        "unresponded_until",
        "unresponded_pending",
        "unresponded_mixed",
        "unresponded_from",
    ),
)
SUM_EXTRAS = (
    "due_counted",
    *(name for family in PENDING for name in family[3:5]),
    *(family[5] for family in PENDING),
)
COUNT_SUMS = frozenset((*COUNT_COLUMNS, *SUM_EXTRAS[:5]))

# The keys of one department's indicators, in the order the JSON and the table give them.
INDICATOR_KEYS = (
    "ratings",
    "mean_score",
    "satisfaction_rate",
    "satisfaction_ci",
    "bad_reviews",
    "bad_reviews_rectified_on_time",
    "tickets",
    "response_rate",
    "on_time_closure_rate",
    "resolution_rate",
    "callback_satisfaction_rate",
    "median_first_reply_hours",
    "negative_share",
    "index",
)
# Shares compared with the previous period by a two-proportion test.
PROPORTIONS = (
    "satisfaction_rate",
    "bad_reviews_rectified_on_time",
    "response_rate",
    "on_time_closure_rate",
    "resolution_rate",
    "callback_satisfaction_rate",
    "negative_share",
)
Z_95 = 1.959963984540054  # two-sided 95%

_EARLIEST_YEAR = 2000  # time-zone offsets are resolved from here on (see _offset_spans)


# --- periods -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A month (2026-10), an ISO week (2026-W43) or a quarter (2026-Q4) of local dates."""

    label: str
    first: date  # first local day
    last: date  # last local day (inclusive)

    def previous(self) -> Period:
        """The period of the same kind just before this one."""
        return parse_period(_previous_label(self))

    def days(self) -> Iterator[date]:
        day = self.first
        while day <= self.last:
            yield day
            day += timedelta(days=1)


_MONTH = re.compile(r"(\d{4})-(\d{2})")
_WEEK = re.compile(r"(\d{4})-W(\d{2})")
_QUARTER = re.compile(r"(\d{4})-Q(\d)")


# Years a period may lie in: a trend of 12 periods before the earliest still has dates.
EARLIEST_PERIOD_YEAR, LATEST_PERIOD_YEAR = 1900, 9998


def parse_period(value: object) -> Period:
    """A Period from YYYY-MM, YYYY-Www or YYYY-Qn; ValidationFailed for anything else."""
    label = str(value).strip().upper() if isinstance(value, str) else ""
    year = int(label[:4]) if label[:4].isdigit() else 0
    if not EARLIEST_PERIOD_YEAR <= year <= LATEST_PERIOD_YEAR:
        label = ""  # refused below, like any malformed period
    try:
        if match := _MONTH.fullmatch(label):
            year, month = int(match[1]), int(match[2])
            first = date(year, month, 1)
            following = date(year + month // 12, month % 12 + 1, 1)
            return Period(label, first, following - timedelta(days=1))
        if match := _WEEK.fullmatch(label):
            first = date.fromisocalendar(int(match[1]), int(match[2]), 1)
            return Period(label, first, first + timedelta(days=6))
        if (match := _QUARTER.fullmatch(label)) and 1 <= int(match[2]) <= 4:
            year, quarter = int(match[1]), int(match[2])
            first = date(year, 3 * quarter - 2, 1)
            following = date(year + quarter // 4, (3 * quarter) % 12 + 1, 1)
            return Period(label, first, following - timedelta(days=1))
    except ValueError:  # month 13, week 54, year 0
        pass
    raise ValidationFailed(
        f"统计期「{value}」格式不对：应为 2026-10（月）、2026-W43（ISO 周）或 2026-Q4（季度）",
        f"period {value!r} is malformed: use 2026-10 (month), 2026-W43 (ISO week)"
        " or 2026-Q4 (quarter)",
    )


def periods_containing(day: date) -> tuple[str, str, str]:
    """The month, ISO week and quarter a local day lies in, as period labels."""
    year, week, _ = day.isocalendar()
    return (
        f"{day.year}-{day.month:02d}",
        f"{year}-W{week:02d}",
        f"{day.year}-Q{(day.month - 1) // 3 + 1}",
    )


def _previous_label(period: Period) -> str:
    before = period.first - timedelta(days=1)
    if "W" in period.label:
        year, week, _ = before.isocalendar()
        return f"{year}-W{week:02d}"
    if "Q" in period.label:
        return f"{before.year}-Q{(before.month - 1) // 3 + 1}"
    return f"{before.year}-{before.month:02d}"


# --- local dates in SQL --------------------------------------------------------------------


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC moment a county-local day begins."""
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


@lru_cache(maxsize=16)
def _offset_spans(zone: str, last_year: int) -> tuple[tuple[datetime | None, int], ...]:
    """(UTC moment from which it applies, offset in minutes) for each offset the zone uses.

    Found by stepping a day at a time and bisecting to the minute: zoneinfo has no public
    list of transitions. Asia/Shanghai yields a single span.
    """
    tz = ZoneInfo(zone)

    def offset(moment: datetime) -> int:
        return int(moment.astimezone(tz).utcoffset().total_seconds() // 60)

    moment = datetime(_EARLIEST_YEAR, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    spans: list[tuple[datetime | None, int]] = [(None, offset(moment))]
    step = timedelta(days=1)
    while moment < end:
        following = moment + step
        if offset(following) != spans[-1][1]:
            low, high = moment, following
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if offset(middle) == spans[-1][1] else (low, middle)
            spans.append((high.replace(second=0, microsecond=0), offset(following)))
        moment = following
    return tuple(spans)


class LocalDates:
    """Builds the SQL expression of a UTC column's county-local date, on SQLite and PostgreSQL."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.dialect = session.get_bind().dialect.name
        zone = ctx.settings.calendar.timezone
        self.spans = _offset_spans(zone, ctx.local_date(ctx.now()).year + 1)

    def _shifted(self, column, minutes: int):
        if self.dialect == "postgresql":
            interval = literal_column(f"INTERVAL '{minutes} minutes'", Interval)
            return type_coerce(func.date(column + interval), Date)
        return type_coerce(func.date(column, f"{minutes:+d} minutes"), Date)

    def of(self, column):
        """The local date of `column` (a UTCDateTime) as a SQL date expression."""
        if len(self.spans) == 1:
            return self._shifted(column, self.spans[0][1])
        whens = [
            (column < start, self._shifted(column, previous))
            for (start, _), (_, previous) in zip(self.spans[1:], self.spans, strict=False)
        ]
        return case(*whens, else_=self._shifted(column, self.spans[-1][1]))


def _as_date(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


# --- computing buckets from the base tables ------------------------------------------------

Bucket = tuple[int, int, date]  # department id, service id (0: none), local day


def _blank() -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COUNT_COLUMNS, 0)
    row.update(dict.fromkeys(UNTIL_COLUMNS + FIRST_COLUMNS))
    return row


def _count(condition) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def compute_buckets(
    session: Session,
    ctx: ServiceContext,
    first: date,
    last: date,
    *,
    department_ids: Iterable[int] | None = None,
    service_id: int | None = None,
) -> dict[Bucket, dict[str, Any]]:
    """The rollup rows of local days first..last, computed from the base tables (GROUP BY)."""
    tz = ctx.timezone
    start, end = _local_midnight(first, tz), _local_midnight(last + timedelta(days=1), tz)
    local = LocalDates(session, ctx)
    departments = None if department_ids is None else sorted(set(department_ids))
    rows: dict[Bucket, dict[str, Any]] = defaultdict(_blank)

    def scoped(statement, department_column, service_column):
        if departments is not None:
            statement = statement.where(department_column.in_(departments))
        if service_id is not None:
            statement = statement.where(func.coalesce(service_column, 0) == service_id)
        return statement

    def collect(statement, names):
        for dept, service, day, *values in session.execute(statement):
            row = rows[(dept, service or 0, _as_date(day))]
            for name, value in zip(names, values, strict=True):
                row[name] = _as_date(value) if name in DATE_COLUMNS else int(value or 0)

    # Ratings by their creation day; their 差评 follow-ups (an excluded one never counts).
    r, f = Rating, BadReviewFollowUp
    day = local.of(r.created_at)
    completed = f.status == FollowUpStatus.COMPLETED
    on_time = and_(completed, f.completed_at.is_not(None), local.of(f.completed_at) <= f.deadline)
    still_open = f.status.in_([FollowUpStatus.OPEN, FollowUpStatus.RECTIFIED])
    statement = (
        select(
            r.department_id,
            r.service_id,
            day,
            *(_count(r.score == score) for score in range(1, 6)),
            _count(on_time),
            _count(and_(completed, ~on_time)),
            _count(still_open),
            func.max(case((still_open, f.deadline))),
            func.min(case((still_open, f.deadline))),
        )
        .outerjoin(f, and_(f.rating_id == r.id, f.status != FollowUpStatus.EXCLUDED))
        .where(r.excluded.is_(False), r.created_at >= start, r.created_at < end)
        .group_by(r.department_id, r.service_id, day)
    )
    collect(
        scoped(statement, r.department_id, r.service_id),
        (
            *(f"score_{score}" for score in range(1, 6)),
            "follow_ups_on_time",
            "follow_ups_late",
            "follow_ups_open",
            "follow_ups_open_until",
            "follow_ups_open_first",
        ),
    )

    # Tickets by their receipt day (a ticket in triage belongs to no department yet).
    t = Ticket
    day = local.of(t.received_at)
    service = func.coalesce(t.service_id, 0)
    responded = t.first_response_at.is_not(None)
    in_window = and_(responded, local.of(t.first_response_at) <= t.response_due_date)
    statement = (
        select(
            t.department_id,
            service,
            day,
            func.count(),
            _count(t.sentiment_label.is_not(None)),
            _count(t.sentiment_label == "negative"),
            _count(in_window),
            _count(and_(responded, ~in_window)),
            _count(~responded),
            func.max(case((~responded, t.response_due_date))),
            func.min(case((~responded, t.response_due_date))),
        )
        .where(t.department_id.is_not(None), t.received_at >= start, t.received_at < end)
        .group_by(t.department_id, service, day)
    )
    collect(
        scoped(statement, t.department_id, t.service_id),
        (
            "tickets",
            "sentiment_known",
            "negative",
            "responded_on_time",
            "responded_late",
            "unresponded",
            "unresponded_until",
            "unresponded_first",
        ),
    )

    # Tickets by their current due date; on time = closed now, latest closure by that date.
    closed_on_time = and_(
        t.status == TicketStatus.CLOSED,
        t.last_closed_at.is_not(None),
        local.of(t.last_closed_at) <= t.due_date,
    )
    statement = (
        select(t.department_id, service, t.due_date, func.count(), _count(closed_on_time))
        .where(t.department_id.is_not(None), t.due_date >= first, t.due_date <= last)
        .group_by(t.department_id, service, t.due_date)
    )
    collect(scoped(statement, t.department_id, t.service_id), ("due", "closed_on_time"))

    # Closure rounds by their closing day, for the department that closed them.
    c = TicketClosure
    day = local.of(c.closed_at)
    statement = (
        select(
            c.department_id,
            service,
            day,
            func.count(),
            _count(c.resolved.is_not(None)),
            _count(c.resolved.is_(True)),
            _count(c.satisfaction.is_not(None)),
            _count(c.satisfaction >= 4),
        )
        .join(t, t.id == c.ticket_id)
        .where(c.department_id.is_not(None), c.closed_at >= start, c.closed_at < end)
        .group_by(c.department_id, service, day)
    )
    collect(
        scoped(statement, c.department_id, t.service_id),
        (
            "closures",
            "resolved_answers",
            "resolved_yes",
            "satisfaction_answers",
            "satisfied_answers",
        ),
    )
    return dict(rows)


# --- stale markers and refreshing ----------------------------------------------------------


def mark_days_stale(
    session_or_connection, first: date, last: date, *, department_id: int | None = None
) -> None:
    """Mark local days first..last stale (every department unless one is named).

    For writers that bypass the ORM (the bulk importer): call it in the same transaction as
    the rows written, with the range of local days those rows count in (creation, receipt,
    due and closing days).
    """
    days = []
    day = first
    while day <= last:
        days.append({"department_id": department_id or 0, "day": day, "at": None})
        day += timedelta(days=1)
    if days:
        session_or_connection.execute(insert(IndicatorStale), days)


def mark_moment_stale(session_or_connection, department_id: int, at: datetime) -> None:
    """Mark the local day of `at` stale for one department, as an ORM flush of a rating does.

    For a single row written without the ORM (a web rating's INSERT): same transaction.
    """
    session_or_connection.execute(
        _MARK_STALE, {"department_id": department_id, "at": at, "day": None}
    )


def mark_new_ticket_stale(
    session_or_connection, department_id: int, received_at: datetime, due_date: date
) -> None:
    """Mark what a new ticket row counts in (its receipt's local day and its due day) stale
    for its department, as an ORM flush of a ticket does.

    For a ticket INSERTed without the ORM (a complaint's plain INSERTs): same transaction.
    """
    marks = ticket_stale_marks({department_id}, {received_at}, {due_date})
    session_or_connection.execute(
        _MARK_STALE, [{"department_id": dept, "at": at, "day": day} for dept, at, day in marks]
    )


_MARK_STALE = insert(IndicatorStale)


def mark_everything_stale(session: Session) -> None:
    """Mark every day of every department stale (after a change of [calendar] timezone)."""
    session.execute(insert(IndicatorStale), [{"department_id": 0, "at": None, "day": None}])


@dataclass
class StaleDays:
    """What the stale markers read at one moment say must be recomputed."""

    ids: list[int]
    everything: bool
    all_departments: set[date]  # days stale for every department
    pairs: set[tuple[int, date]]  # (department id, day)

    def covers(self, department_id: int, day: date) -> bool:
        return self.everything or day in self.all_departments or (department_id, day) in self.pairs

    def days(self) -> set[date]:
        return self.all_departments | {day for _, day in self.pairs}


def read_stale(session: Session, ctx: ServiceContext) -> StaleDays:
    """The stale markers as department-days in the county's local dates."""
    stale = StaleDays([], False, set(), set())
    for marker_id, dept, at, day in session.execute(
        select(
            IndicatorStale.id, IndicatorStale.department_id, IndicatorStale.at, IndicatorStale.day
        )
    ):
        stale.ids.append(marker_id)
        if at is None and day is None:
            stale.everything = True
            continue
        local_day = ctx.local_date(at) if at is not None else _as_date(day)
        if dept:
            stale.pairs.add((dept, local_day))
        else:
            stale.all_departments.add(local_day)
    return stale


def _ranges(days: Iterable[date], gap: int = 7) -> list[tuple[date, date]]:
    """Sorted days joined into ranges, bridging gaps of up to `gap` days (fewer queries)."""
    ranges: list[list[date]] = []
    for day in sorted(set(days)):
        if ranges and (day - ranges[-1][1]).days <= gap:
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return [(first, last) for first, last in ranges]


def _base_range(session: Session) -> tuple[date, date] | None:
    """The first and last local day any base row counts in (None on an empty database)."""
    moments = session.execute(
        select(
            select(func.min(Rating.created_at)).scalar_subquery(),
            select(func.max(Rating.created_at)).scalar_subquery(),
            select(func.min(Ticket.received_at)).scalar_subquery(),
            select(func.max(Ticket.received_at)).scalar_subquery(),
            select(func.max(TicketClosure.closed_at)).scalar_subquery(),
        )
    ).one()
    dates = session.execute(select(func.min(Ticket.due_date), func.max(Ticket.due_date))).one()
    known = [m.date() for m in moments if m is not None]
    known += [_as_date(d) for d in dates if d is not None]
    if not known:
        return None
    # A day either side: a UTC date and the local date of one moment differ by at most one.
    return min(known) - timedelta(days=1), max(known) + timedelta(days=1)


def _recompute(session: Session, ctx: ServiceContext, stale: StaleDays) -> dict[Bucket, dict]:
    """Fresh rows for every bucket the stale days cover (rows of empty buckets omitted)."""
    fresh: dict[Bucket, dict] = {}
    if stale.everything:
        span = _base_range(session)
        ranges = [span] if span else []
    else:
        ranges = _ranges(stale.days())
    for first, last in ranges:
        if stale.everything or any(first <= day <= last for day in stale.all_departments):
            departments = None
        else:
            departments = {dept for dept, day in stale.pairs if first <= day <= last}
        for bucket, row in compute_buckets(
            session, ctx, first, last, department_ids=departments
        ).items():
            if stale.covers(bucket[0], bucket[2]):
                fresh[bucket] = row
    return fresh


def _lock_rollups(session: Session) -> None:
    # Two refreshers recomputing one day would both delete and insert its rows: serialise
    # them. SQLite already did (BEGIN IMMEDIATE); PostgreSQL takes a transaction lock.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": 0x6D696E7969})


@dataclass(frozen=True)
class RefreshPlan:
    """The stale markers read at one moment and the rows their days should now have."""

    stale: StaleDays
    fresh: dict[Bucket, dict]


def plan_refresh(session: Session, ctx: ServiceContext) -> RefreshPlan | None:
    """Read the stale markers and recompute their days (reads only); None when none is stale.

    Run it in a read-only session so that the recomputation, the slow part, holds no write
    lock: citizens' ratings go on being written meanwhile (their markers are not in the plan).
    """
    stale = read_stale(session, ctx)
    if not stale.ids:
        return None
    return RefreshPlan(stale, _recompute(session, ctx, stale))


def _markers_left(session: Session, ids: list[int]) -> int:
    return sum(
        session.scalar(select(func.count()).where(IndicatorStale.id.in_(chunk))) or 0
        for chunk in _chunks(ids)
    )


def apply_refresh(session: Session, plan: RefreshPlan | None) -> int:
    """Write a plan's rows in place of its days' rows and drop its markers; flushes.

    Returns the number of markers handled: 0 when another refresher folded any of them in
    since the plan was read (its rows may be newer than the plan's, so the plan is dropped;
    whatever is still stale is the next refresh's). A writer's marker committed after the
    plan was read is not among its markers, so it survives.
    """
    if plan is None:
        return 0
    _lock_rollups(session)
    stale, fresh = plan.stale, plan.fresh
    if _markers_left(session, stale.ids) != len(stale.ids):
        return 0
    for rollup in ROLLUP_TABLES:
        if stale.everything:
            session.execute(delete(rollup))
            continue
        for chunk in _chunks(sorted(stale.all_departments)):
            session.execute(delete(rollup).where(rollup.c.day.in_(chunk)))
        for day, departments in _departments_by_day(stale).items():
            for chunk in _chunks(sorted(departments)):
                session.execute(
                    delete(rollup).where(rollup.c.day == day, rollup.c.department_id.in_(chunk))
                )
    _insert_rows(session, fresh)
    _rewrite_months(session, stale, fresh)
    _forget_medians(session, stale)
    for chunk in _chunks(stale.ids):
        session.execute(delete(IndicatorStale).where(IndicatorStale.id.in_(chunk)))
    session.flush()
    return len(stale.ids)


def refresh_rollups(session: Session, ctx: ServiceContext) -> int:
    """Recompute the stale department-days into the rollup and drop their markers in one
    transaction (`session`'s); flushes. The scheduler's job splits the two halves."""
    _lock_rollups(session)
    return apply_refresh(session, plan_refresh(session, ctx))


def _forget_medians(session: Session, stale: StaleDays) -> None:
    """Delete the cached medians of every period a stale day lies in."""
    medians = IndicatorMedian.__table__
    if stale.everything:
        session.execute(delete(medians))
        return
    labels = sorted({label for day in stale.all_departments for label in periods_containing(day)})
    for chunk in _chunks(labels):
        session.execute(delete(medians).where(medians.c.period.in_(chunk)))
    by_label: dict[str, set[int]] = defaultdict(set)
    for day, departments in _departments_by_day(stale).items():
        for label in periods_containing(day):
            by_label[label] |= departments
    for label, departments in by_label.items():
        for chunk in _chunks(sorted(departments)):
            chosen = medians.c.department_id.in_(chunk)
            session.execute(delete(medians).where(medians.c.period == label, chosen))


def fill_medians(session: Session, ctx: ServiceContext, periods: Iterable[Period | str]) -> int:
    """Cache the median first-reply hours of every department for `periods`; flushes.

    Only departments with no cached row and no stale day in the period are computed (a stale
    one is computed by readers until the next refresh). Returns the rows written.
    """
    stale = read_stale(session, ctx)
    if stale.everything:
        return 0
    periods = [p if isinstance(p, Period) else parse_period(p) for p in periods]
    departments = set(session.scalars(select(Department.id)))
    cached: dict[str, set[int]] = defaultdict(set)
    for chunk in _chunks([period.label for period in periods]):
        for dept, label in session.execute(
            select(IndicatorMedian.department_id, IndicatorMedian.period).where(
                IndicatorMedian.period.in_(chunk)
            )
        ):
            cached[label].add(dept)
    written = 0
    for period in periods:
        missing = {
            dept
            for dept in departments - cached[period.label]
            if not _stale_in(stale, dept, period)
        }
        if not missing:
            continue
        computed = _median_reply_hours(session, ctx, period, sorted(missing), None)
        rows = [
            {
                "department_id": dept,
                "period": period.label,
                "replied": computed.get(dept, (0, None))[0],
                "median_hours": computed.get(dept, (0, None))[1],
            }
            for dept in sorted(missing)
        ]
        session.execute(insert(IndicatorMedian.__table__), rows)
        written += len(rows)
    session.flush()
    return written


def recent_periods(ctx: ServiceContext, count: int = 13) -> list[Period]:
    """The current and the `count` - 1 previous months, weeks and quarters (trend pages)."""
    periods = []
    for label in periods_containing(ctx.local_date(ctx.now())):
        period = parse_period(label)
        for _ in range(count):
            periods.append(period)
            period = period.previous()
    return periods


def _stale_in(stale: StaleDays, dept: int, period: Period) -> bool:
    if stale.everything:
        return True
    return any(
        period.first <= day <= period.last
        for day in stale.all_departments | {d for p, d in stale.pairs if p == dept}
    )


def _departments_by_day(stale: StaleDays) -> dict[date, set[int]]:
    """The stale (department, day) pairs by day, days stale for all left out: a refresh
    deletes a day's rows of its departments in one statement (a rating marks today only)."""
    by_day: dict[date, set[int]] = defaultdict(set)
    for dept, day in stale.pairs:
        if day not in stale.all_departments:
            by_day[day].add(dept)
    return by_day


def _pairs_by_department(stale: StaleDays) -> dict[int, set[date]]:
    """The stale (department, day) pairs by department, days stale for all left out."""
    by_department: dict[int, set[date]] = defaultdict(set)
    for dept, day in stale.pairs:
        if day not in stale.all_departments:
            by_department[dept].add(day)
    return by_department


def department_rows(rows: dict[Bucket, dict]) -> dict[tuple[int, date], dict[str, Any]]:
    """Service rows summed per department-day: the rows of indicator_department_daily."""
    summed: dict[tuple[int, date], dict[str, Any]] = defaultdict(_blank)
    for (dept, _service, day), row in rows.items():
        _add(summed[(dept, day)], row)
    return dict(summed)


def _insert_rows(session: Session, rows: dict[Bucket, dict]) -> None:
    values = [
        {"department_id": dept, "service_id": service, "day": day, **row}
        for (dept, service, day), row in rows.items()
    ]
    for chunk in _chunks(values, 2000):
        session.execute(insert(IndicatorDaily.__table__), chunk)
    values = [
        {"department_id": dept, "day": day, **row}
        for (dept, day), row in department_rows(rows).items()
    ]
    for chunk in _chunks(values, 2000):
        session.execute(insert(IndicatorDepartmentDaily.__table__), chunk)


# --- the month level ------------------------------------------------------------------------

MONTHLY = IndicatorDepartmentMonthly.__table__


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(first: date) -> date:
    """The last day of the month that begins on `first`."""
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return following - timedelta(days=1)


def month_rows(rows: dict[tuple[int, date], dict]) -> dict[tuple[int, date], dict[str, Any]]:
    """Department-day rows summed per department-month (the indicator_department_monthly rows)."""
    summed: dict[tuple[int, date], dict[str, Any]] = defaultdict(_blank)
    for (dept, day), row in rows.items():
        _add(summed[(dept, month_start(day))], row)
    return dict(summed)


def _insert_months(session: Session, rows: dict[tuple[int, date], dict]) -> None:
    values = [
        {"department_id": dept, "month": month, **row} for (dept, month), row in rows.items()
    ]
    for chunk in _chunks(values, 2000):
        session.execute(insert(MONTHLY), chunk)


def _rewrite_months(session: Session, stale: StaleDays, fresh: dict[Bucket, dict]) -> None:
    """Rewrite the month rows of every department-month a stale day lies in, from the
    department rows just written (the same transaction: the two levels always agree)."""
    if stale.everything:
        session.execute(delete(MONTHLY))
        _insert_months(session, month_rows(department_rows(fresh)))
        return
    # month -> departments (None: every department)
    months: dict[date, set[int] | None] = {month_start(day): None for day in stale.all_departments}
    for dept, days in _pairs_by_department(stale).items():
        for month in {month_start(day) for day in days}:
            if month in months and months[month] is None:
                continue
            months.setdefault(month, set()).add(dept)
    daily = IndicatorDepartmentDaily.__table__
    for month, departments in sorted(months.items(), key=lambda item: item[0]):
        removed = delete(MONTHLY).where(MONTHLY.c.month == month)
        summed = (
            select(
                daily.c.department_id,
                literal(month, Date),
                *(func.sum(daily.c[name]) for name in COUNT_COLUMNS),
                *(func.max(daily.c[name]) for name in UNTIL_COLUMNS),
                *(func.min(daily.c[name]) for name in FIRST_COLUMNS),
            )
            .where(daily.c.day >= month, daily.c.day <= month_end(month))
            .group_by(daily.c.department_id)
        )
        if departments is not None:
            chosen = sorted(departments)
            removed = removed.where(MONTHLY.c.department_id.in_(chosen))
            summed = summed.where(daily.c.department_id.in_(chosen))
        session.execute(removed)
        session.execute(
            insert(MONTHLY).from_select(
                ["department_id", "month", *COUNT_COLUMNS, *UNTIL_COLUMNS, *FIRST_COLUMNS],
                summed,
            )
        )


def month_covered(stale: StaleDays, department_id: int, month: date) -> bool:
    """Whether a stale marker touches the department in the month beginning on `month`."""
    if stale.everything:
        return True
    last = month_end(month)
    return any(month <= day <= last for day in stale.all_departments) or any(
        dept == department_id and month <= day <= last for dept, day in stale.pairs
    )


def _chunks(items: list, size: int = 500) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class RebuildReport:
    buckets: int
    differed: int  # stored rows (either table) that were not what the base tables say

    def __str__(self) -> str:
        return (
            f"已重建 {self.buckets} 个统计单元，其中 {self.differed} 个与原汇总不同"
            f" / rebuilt {self.buckets} buckets, {self.differed} differed from the stored rollup"
        )


def rebuild_rollups(session: Session, ctx: ServiceContext) -> RebuildReport:
    """Recompute the whole rollup from the base tables, and say how many rows were wrong.

    A bucket still marked stale is compared as readers see it (recomputed), so a rebuild
    right after writes reports 0 when the markers did their job.
    """
    _lock_rollups(session)
    markers = read_stale(session, ctx)
    span = _base_range(session)
    fresh = compute_buckets(session, ctx, *span) if span else {}
    if markers.everything:
        pending = fresh  # every stored row is stale: nothing stored can be wrong
    else:
        pending = _recompute(session, ctx, markers) if markers.ids else {}
    stored = {
        (row.department_id, row.service_id, row.day): {
            name: getattr(row, name) for name in ROLLUP_COLUMNS
        }
        for row in session.scalars(select(IndicatorDaily))
    }
    # What the rollup means today: stored rows, with stale buckets recomputed.
    effective = {
        bucket: row for bucket, row in stored.items() if not markers.covers(bucket[0], bucket[2])
    }
    effective.update(pending)
    differed = sum(
        1
        for bucket in set(fresh) | set(effective)
        if _row_or_blank(fresh, bucket) != _row_or_blank(effective, bucket)
    )
    # The department table is derived from the service table: it must agree with it too.
    stored_departments = {
        (row.department_id, _as_date(row.day)): {n: getattr(row, n) for n in ROLLUP_COLUMNS}
        for row in session.scalars(select(IndicatorDepartmentDaily))
    }
    effective_departments = {
        key: row for key, row in stored_departments.items() if not markers.covers(*key)
    }
    effective_departments.update(department_rows(pending))
    fresh_departments = department_rows(fresh)
    differed += sum(
        1
        for key in set(fresh_departments) | set(effective_departments)
        if _row_or_blank(fresh_departments, key) != _row_or_blank(effective_departments, key)
    )
    # The month rows are derived from the department rows; a month a marker touches is read
    # day by day, so only the others can be wrong.
    fresh_months = month_rows(fresh_departments)
    stored_months = {
        key: row for key, row in department_monthly_rows(session).items()
        if not month_covered(markers, *key)
    }  # fmt: skip
    differed += sum(
        1
        for key in set(fresh_months) | set(stored_months)
        if not month_covered(markers, *key)
        and _row_or_blank(fresh_months, key) != _row_or_blank(stored_months, key)
    )
    for rollup in ROLLUP_TABLES:
        session.execute(delete(rollup))
    session.execute(delete(MONTHLY))
    session.execute(delete(IndicatorMedian.__table__))
    _insert_rows(session, fresh)
    _insert_months(session, fresh_months)
    session.execute(delete(IndicatorStale).where(IndicatorStale.id.in_(markers.ids)))
    session.flush()
    return RebuildReport(len(fresh), differed)


def _row_or_blank(rows: dict, key: tuple) -> dict:
    return rows.get(key) or _blank()


# --- the indicators of a period ------------------------------------------------------------


@lru_cache(maxsize=8)
def _sums_statement(table, by_department: bool, by_service: bool):
    """The period-sum query over `table`, built once (building it costs more than running it)."""
    today = bindparam("today", type_=Date)
    statement = (
        select(
            table.department_id,
            *(func.sum(getattr(table, name)) for name in COUNT_COLUMNS),
            *(func.max(getattr(table, name)) for name in UNTIL_COLUMNS),
            *(func.min(getattr(table, name)) for name in FIRST_COLUMNS),
            func.sum(case((table.day < today, table.due), else_=table.closed_on_time)),
            # Open ones all still in time (earliest deadline not passed) are counted here;
            # a day whose open ones straddle today is "mixed" and read from the base rows.
            *(
                expression
                for count, first, until, *_ in PENDING
                for expression in (
                    func.sum(
                        case((getattr(table, first) >= today, getattr(table, count)), else_=0)
                    ),
                    func.sum(
                        case(
                            (
                                and_(
                                    getattr(table, first) < today,
                                    getattr(table, until) >= today,
                                ),
                                1,
                            ),
                            else_=0,
                        )
                    ),
                )
            ),
            # The first day whose open follow-ups or unanswered tickets may be in time.
            func.min(case((table.follow_ups_open_until >= today, table.day))),
            func.min(case((table.unresponded_until >= today, table.day))),
        )
        .where(
            table.day >= bindparam("first", type_=Date),
            table.day <= bindparam("last", type_=Date),
        )
        .group_by(table.department_id)
    )
    if by_department:
        statement = statement.where(
            table.department_id.in_(bindparam("departments", expanding=True))
        )
    if by_service:
        statement = statement.where(IndicatorDaily.service_id == bindparam("service"))
    return statement


def _rollup_sums(
    session: Session,
    ctx: ServiceContext,
    period: Period,
    today: date,
    department_ids: list[int] | None,
    service_id: int | None,
    stale: StaleDays,
    months: dict[date, dict[int, dict[str, Any]]],
) -> dict[int, dict[str, Any]]:
    """Per department: the rollup summed over the period, stale days recomputed on the fly.

    A whole month of the period that has ended is read from its month row (`months`, see
    _settled_months) when that row is settled: no stale marker touches the department in
    that month and every open follow-up and unanswered ticket of it is past its deadline,
    so nothing in it depends on today. Every other department-month, and the days of the
    period outside such months, are summed day by day (_day_sums).

    Adds `due_counted`: tickets due in P whose due date has passed, plus those due today or
    later that are already closed on time (one still open and not yet due is not late yet).
    """
    eligible = _eligible_months(period, today) if service_id is None else []
    totals: dict[int, dict[str, Any]] = defaultdict(_blank)
    rest = month_end(eligible[-1]) + timedelta(days=1) if eligible else period.first
    if rest <= period.last:
        _merge(totals, _day_sums(session, ctx, rest, period.last, today, department_ids,
                                 service_id, stale))  # fmt: skip
    wanted = None if department_ids is None else set(department_ids)
    for month in eligible:
        last = month_end(month)
        if stale.everything or any(month <= day <= last for day in stale.all_departments):
            _merge(totals, _day_sums(session, ctx, month, last, today, department_ids,
                                     service_id, stale))  # fmt: skip
            continue
        unsettled = {dept for dept, day in stale.pairs if month <= day <= last}
        for dept, row in months.get(month, {}).items():
            if dept in unsettled or (wanted is not None and dept not in wanted):
                continue
            if any((row[until] or date.min) >= today for until in UNTIL_COLUMNS):
                unsettled.add(dept)  # some still in time: read its days
                continue
            total = totals[dept]
            _add(total, row)
            total["due_counted"] = total.get("due_counted", 0) + row["due"]
        if wanted is not None:
            unsettled &= wanted
        if unsettled:
            _merge(totals, _day_sums(session, ctx, month, last, today, sorted(unsettled),
                                     service_id, stale))  # fmt: skip
    return totals


def _eligible_months(period: Period, today: date) -> list[date]:
    """The first days of the months wholly inside `period` that ended before `today`."""
    months = []
    month = period.first
    while month.day == 1 and month_end(month) <= period.last and month_end(month) < today:
        months.append(month)
        month = month_end(month) + timedelta(days=1)
    return months


def _settled_months(
    session: Session,
    periods: Iterable[Period],
    today: date,
    department_ids: list[int] | None,
    stale: StaleDays,
) -> dict[date, dict[int, dict[str, Any]]]:
    """The stored month rows of the ended months of `periods` (one query), month by month."""
    months = sorted({month for period in periods for month in _eligible_months(period, today)})
    if not months or stale.everything:
        return {}
    parameters: dict[str, Any] = {"months": months}
    if department_ids is not None:
        parameters["departments"] = list(department_ids)
    result: dict[date, dict[int, dict[str, Any]]] = defaultdict(dict)
    counted = len(COUNT_COLUMNS)
    for dept, month, *values in session.execute(
        _month_statement(department_ids is not None), parameters
    ):
        row = dict(zip(COUNT_COLUMNS, values[:counted], strict=True))
        for name, value in zip(ROLLUP_COLUMNS[counted:], values[counted:], strict=True):
            row[name] = _as_date(value)
        result[_as_date(month)][dept] = row
    return result


@lru_cache(maxsize=2)
def _month_statement(by_department: bool):
    statement = select(
        MONTHLY.c.department_id, MONTHLY.c.month, *(MONTHLY.c[name] for name in ROLLUP_COLUMNS)
    ).where(MONTHLY.c.month.in_(bindparam("months", expanding=True)))
    if by_department:
        statement = statement.where(
            MONTHLY.c.department_id.in_(bindparam("departments", expanding=True))
        )
    return statement


def _merge(totals: dict[int, dict[str, Any]], part: dict[int, dict[str, Any]]) -> None:
    """Add one part of a period's sums (its own days) to the totals, department by department."""
    for dept, row in part.items():
        total = totals[dept]
        _add(total, row)
        for name in SUM_EXTRAS[:5]:
            total[name] = total.get(name, 0) + row.get(name, 0)
        for name in SUM_EXTRAS[5:]:
            if row.get(name) is not None:
                total[name] = min(total.get(name) or row[name], row[name])


def _day_sums(
    session: Session,
    ctx: ServiceContext,
    first: date,
    last: date,
    today: date,
    department_ids: list[int] | None,
    service_id: int | None,
    stale: StaleDays,
) -> dict[int, dict[str, Any]]:
    """Per department: the day rows of first..last summed, stale days recomputed on the fly."""
    table = IndicatorDepartmentDaily if service_id is None else IndicatorDaily
    in_period = StaleDays(
        stale.ids,
        stale.everything,
        {first + timedelta(days=n) for n in range((last - first).days + 1)}
        if stale.everything
        else {day for day in stale.all_departments if first <= day <= last},
        {(dept, day) for dept, day in stale.pairs if first <= day <= last},
    )
    totals: dict[int, dict[str, Any]] = defaultdict(_blank)
    if not in_period.everything:
        statement = _sums_statement(table, department_ids is not None, service_id is not None)
        parameters = {"first": first, "last": last, "today": today}
        if department_ids is not None:
            parameters["departments"] = list(department_ids)
        if service_id is not None:
            parameters["service"] = service_id
        if in_period.all_departments:
            statement = statement.where(table.day.not_in(sorted(in_period.all_departments)))
        for dept, days in _pairs_by_department(in_period).items():
            statement = statement.where(
                ~and_(table.department_id == dept, table.day.in_(sorted(days)))
            )
        for dept, *values in session.execute(statement, parameters):
            row = totals[dept]
            for name, value in zip((*ROLLUP_COLUMNS, *SUM_EXTRAS), values, strict=True):
                row[name] = int(value or 0) if name in COUNT_SUMS else _as_date(value)
    for range_first, range_last in _ranges(in_period.days()):
        departments = department_ids
        if not in_period.everything and not any(
            range_first <= day <= range_last for day in in_period.all_departments
        ):
            # Only the departments stale in this range: read through their indexes.
            stale_departments = {
                d for d, day in in_period.pairs if range_first <= day <= range_last
            }
            departments = sorted(
                stale_departments
                if department_ids is None
                else stale_departments & set(department_ids)
            )
            if not departments:
                continue
        fresh = compute_buckets(
            session, ctx, range_first, range_last, department_ids=departments,
            service_id=service_id,
        )  # fmt: skip
        for (dept, _service, day), row in fresh.items():
            if in_period.covers(dept, day):
                total = totals[dept]
                _add(total, row)
                due = row["due"] if day < today else row["closed_on_time"]
                total["due_counted"] = total.get("due_counted", 0) + due
                for count, early, until, pending, mixed, start in PENDING:
                    if row[early] is not None and row[early] >= today:
                        total[pending] = total.get(pending, 0) + row[count]
                    elif (row[until] or date.min) >= today:
                        total[mixed] = total.get(mixed, 0) + 1
                    if (row[until] or date.min) >= today:
                        total[start] = min(total.get(start) or day, day)
    return totals


def _add(total: dict[str, Any], row: dict[str, Any]) -> None:
    for name in COUNT_COLUMNS:
        total[name] += row[name]
    for name in UNTIL_COLUMNS:
        if row[name] is not None and (total[name] is None or row[name] > total[name]):
            total[name] = row[name]
    for name in FIRST_COLUMNS:
        if row[name] is not None and (total[name] is None or row[name] < total[name]):
            total[name] = row[name]


def _period_window(ctx: ServiceContext, period: Period) -> tuple[datetime, datetime]:
    tz = ctx.timezone
    return _local_midnight(period.first, tz), _local_midnight(period.last + timedelta(days=1), tz)


def _still_pending(
    session: Session,
    ctx: ServiceContext,
    period: Period,
    today: date,
    sums: dict[int, dict[str, Any]],
    service_id: int | None,
) -> tuple[dict[int, int], dict[int, int]]:
    """Per department: open follow-ups and unanswered tickets of P still within their time.

    The rollup keeps each day's earliest and latest deadline of the open ones: a day whose
    earliest is today or later is counted whole in the sums; only a department with a day
    whose deadlines straddle today (settings changed, an import) is counted from the base
    rows, from its first day that may be in time.
    """
    _, end = _period_window(ctx, period)
    r, f, t = Rating, BadReviewFollowUp, Ticket
    results = []
    for (_, _, _, pending, mixed, from_key), base in zip(PENDING, ("ratings", "t"), strict=True):
        departments = {
            dept: row[from_key]
            for dept, row in sums.items()
            if row.get(mixed) and row.get(from_key)
        }
        summed = {
            dept: row.get(pending, 0) for dept, row in sums.items() if dept not in departments
        }
        if not departments:
            results.append(summed)
            continue
        start = _local_midnight(min(departments.values()), ctx.timezone)
        if base == "ratings":
            # Driven from the few follow-ups not yet due, through (department, deadline):
            # every follow-up belongs to some department, so listing them all loses none.
            # Two steps, so no planner starts from a week of ratings instead.
            waiting = list(
                session.scalars(
                    select(f.rating_id).where(
                        f.department_id.in_(select(Department.id).scalar_subquery()),
                        f.deadline >= today,
                        f.status.in_([FollowUpStatus.OPEN, FollowUpStatus.RECTIFIED]),
                    )
                )
            )
            counts: dict[int, int] = defaultdict(int)
            for chunk in _chunks(waiting, 5000):
                statement = (
                    select(r.department_id, func.count())
                    .where(
                        r.id.in_(chunk),
                        r.department_id.in_(sorted(departments)),
                        r.created_at >= start,
                        r.created_at < end,
                        r.excluded.is_(False),
                    )
                    .group_by(r.department_id)
                )
                if service_id is not None:
                    statement = statement.where(r.service_id == service_id)
                for dept, count in session.execute(statement):
                    counts[dept] += count
            results.append(summed | dict(counts))
            continue
        statement = (
            select(t.department_id, func.count())
            .where(
                t.department_id.in_(sorted(departments)),
                t.received_at >= start,
                t.received_at < end,
                t.first_response_at.is_(None),
                t.response_due_date >= today,
            )
            .group_by(t.department_id)
        )
        if service_id is not None:
            statement = statement.where(t.service_id == service_id)
        results.append(summed | dict(session.execute(statement).all()))
    return results[0], results[1]


def _median_reply_hours(
    session: Session,
    ctx: ServiceContext,
    period: Period,
    department_ids: list[int] | None,
    service_id: int | None,
) -> dict[int, tuple[int, float]]:
    """Per department: (replied tickets received in P, median hours from receipt to reply).

    Medians do not add up across days, so this reads the period's base rows (an index-only
    scan of ix_tickets_received_reply) and lets the database pick the middle one or two rows.
    """
    start, end = _period_window(ctx, period)
    t = Ticket
    if session.get_bind().dialect.name == "postgresql":
        hours = func.extract("epoch", t.first_replied_at - t.received_at) / 3600.0
    else:
        hours = (func.julianday(t.first_replied_at) - func.julianday(t.received_at)) * 24.0
    hours = hours.label("hours")
    ranked = select(
        t.department_id,
        hours,
        func.row_number().over(partition_by=t.department_id, order_by=hours).label("rank"),
        func.count().over(partition_by=t.department_id).label("n"),
    ).where(
        t.received_at >= start,
        t.received_at < end,
        t.department_id.is_not(None),
        t.first_replied_at.is_not(None),
    )
    if department_ids is not None:
        ranked = ranked.where(t.department_id.in_(department_ids))
    if service_id is not None:
        ranked = ranked.where(t.service_id == service_id)
    ranked = ranked.subquery()
    # The middle row of an odd count, the two middle rows of an even one (integer division).
    statement = (
        select(ranked.c.department_id, func.max(ranked.c.n), func.avg(ranked.c.hours))
        .where(ranked.c.rank.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2]))
        .group_by(ranked.c.department_id)
    )
    return {dept: (int(n), float(median)) for dept, n, median in session.execute(statement)}


def _medians(
    session: Session,
    ctx: ServiceContext,
    period: Period,
    department_ids: list[int] | None,
    service_id: int | None,
    stale: StaleDays,
    all_ids: list[int],
) -> dict[int, tuple[int, float]]:
    """The medians of `period`: cached ones where no stale day says otherwise, else computed."""
    if service_id is not None:
        return _median_reply_hours(session, ctx, period, department_ids, service_id)
    statement = select(
        IndicatorMedian.department_id, IndicatorMedian.replied, IndicatorMedian.median_hours
    ).where(IndicatorMedian.period == period.label)
    if department_ids is not None:
        statement = statement.where(IndicatorMedian.department_id.in_(department_ids))
    result = {
        dept: (replied, median)
        for dept, replied, median in session.execute(statement)
        if not _stale_in(stale, dept, period)
    }
    wanted = set(department_ids if department_ids is not None else all_ids)
    missing = sorted(wanted - set(result))
    if missing:
        result.update(_median_reply_hours(session, ctx, period, missing, None))
    return {dept: value for dept, value in result.items() if value[0]}


@dataclass
class Totals:
    """The sums one department's indicators are computed from."""

    counts: dict[str, int]
    bad_pending: int  # open follow-ups still before their deadline (left out)
    unanswered_pending: int  # unanswered tickets still inside their response window
    due_counted: int  # tickets due in P whose due date has passed, or closed on time
    replied: int = 0  # replied tickets received in P
    median_reply_hours: float | None = None


def _totals(
    session: Session,
    ctx: ServiceContext,
    period: Period,
    department_ids: list[int] | None,
    service_id: int | None,
    *,
    today: date,
    stale: StaleDays,
    months: dict[date, dict[int, dict[str, Any]]],
    all_ids: list[int],
    with_median: bool = True,
) -> dict[int, Totals]:
    sums = _rollup_sums(session, ctx, period, today, department_ids, service_id, stale, months)
    bad_pending, unanswered_pending = _still_pending(session, ctx, period, today, sums, service_id)
    medians = (
        _medians(session, ctx, period, department_ids, service_id, stale, all_ids)
        if with_median
        else {}
    )
    totals = {
        dept: Totals(
            counts={name: int(row.get(name) or 0) for name in COUNT_COLUMNS},
            bad_pending=bad_pending.get(dept, 0),
            unanswered_pending=unanswered_pending.get(dept, 0),
            due_counted=int(row.get("due_counted", 0)),
        )
        for dept, row in sums.items()
    }
    for dept, (replied, median) in medians.items():
        total = totals.setdefault(dept, Totals(_blank_counts(), 0, 0, 0))
        total.replied, total.median_reply_hours = replied, median
    return totals


def _blank_counts() -> dict[str, int]:
    return dict.fromkeys(COUNT_COLUMNS, 0)


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default)."""
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - margin), min(1.0, centre + margin)


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """The pooled two-proportion z statistic of x1/n1 against x2/n2 (None: no variance)."""
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return None
    return (x1 / n1 - x2 / n2) / math.sqrt(variance)


def significant_change(x1: int, n1: int, x2: int, n2: int) -> bool:
    """Whether x1/n1 differs from x2/n2 at 95% (two-sided pooled two-proportion z-test).

    False when either share has no denominator or the pooled share is 0 or 1 (no variance).
    """
    if n1 <= 0 or n2 <= 0:
        return False
    z = two_proportion_z(x1, n1, x2, n2)
    return z is not None and abs(z) >= Z_95


def _shares(totals: Totals) -> dict[str, tuple[int, int]]:
    """(numerator, denominator) of every proportion, plus the mean's."""
    c = totals.counts
    ratings = sum(c[f"score_{s}"] for s in range(1, 6))
    score_sum = sum(s * c[f"score_{s}"] for s in range(1, 6))
    follow_ups_open_past = c["follow_ups_open"] - totals.bad_pending
    unanswered_past = c["unresponded"] - totals.unanswered_pending
    return {
        "mean_score": (score_sum, ratings),
        "satisfaction_rate": (c["score_4"] + c["score_5"], ratings),
        "bad_reviews_rectified_on_time": (
            c["follow_ups_on_time"],
            c["follow_ups_on_time"] + c["follow_ups_late"] + follow_ups_open_past,
        ),
        "response_rate": (
            c["responded_on_time"],
            c["responded_on_time"] + c["responded_late"] + unanswered_past,
        ),
        "on_time_closure_rate": (c["closed_on_time"], totals.due_counted),
        "resolution_rate": (c["resolved_yes"], c["resolved_answers"]),
        "callback_satisfaction_rate": (c["satisfied_answers"], c["satisfaction_answers"]),
        "negative_share": (c["negative"], c["sentiment_known"]),
    }


def _indicators(totals: Totals, ctx: ServiceContext) -> dict[str, Any]:
    settings = ctx.settings
    minimum = settings.indicators.min_denominator
    bound = settings.ratings.bad_review_max_score
    c = totals.counts
    shares = _shares(totals)
    result: dict[str, Any] = {
        "ratings": shares["mean_score"][1],
        "bad_reviews": sum(c[f"score_{s}"] for s in range(1, bound + 1)),
        "tickets": c["tickets"],
    }
    insufficient = []
    for key, (numerator, denominator) in shares.items():
        if denominator < minimum:
            result[key] = None
            insufficient.append(key)
        else:
            value = numerator / denominator
            result[key] = round(value, 2 if key == "mean_score" else 4)
    ratings = result["ratings"]
    if result["satisfaction_rate"] is None:
        result["satisfaction_ci"] = None
    else:
        low, high = wilson_interval(shares["satisfaction_rate"][0], ratings)
        result["satisfaction_ci"] = [round(low, 4), round(high, 4)]
    if totals.replied < minimum:
        result["median_first_reply_hours"] = None
        insufficient.append("median_first_reply_hours")
    else:
        result["median_first_reply_hours"] = round(totals.median_reply_hours, 1)
    weights = {
        "response_rate": settings.indicators.weight_response,
        "resolution_rate": settings.indicators.weight_resolution,
        "callback_satisfaction_rate": settings.indicators.weight_satisfaction,
    }
    components = [shares[key][0] / shares[key][1] for key in weights if result[key] is not None]
    if len(components) < len(weights):
        result["index"] = None
        insufficient.append("index")
    else:
        total_weight = sum(weights.values())
        weighted = sum(w * shares[k][0] / shares[k][1] for k, w in weights.items())
        result["index"] = round(100 * weighted / total_weight, 1)
    result["insufficient"] = [key for key in INDICATOR_KEYS if key in insufficient]
    result["denominators"] = {key: shares[key][1] for key in PROPORTIONS} | {
        "median_first_reply_hours": totals.replied
    }
    result["numerators"] = {key: shares[key][0] for key in PROPORTIONS}
    result["_shares"] = shares
    return result


def _proportions(totals: Totals, minimum: int) -> dict[str, Any]:
    """Only what a change needs of a period: its shares (None below the minimum)."""
    shares = _shares(totals)
    result: dict[str, Any] = {
        key: None if shares[key][1] < minimum else round(shares[key][0] / shares[key][1], 4)
        for key in PROPORTIONS
    }
    result["_shares"] = shares
    return result


def _changes(current: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """Each share against the previous period; flagged only when significant at 95%."""
    changes = {}
    for key in PROPORTIONS:
        now, before = current[key], previous[key]
        if now is None or before is None:
            changes[key] = {"previous": before, "change": None, "significant": False}
            continue
        (x1, n1), (x2, n2) = current["_shares"][key], previous["_shares"][key]
        changes[key] = {
            "previous": before,
            "change": round(x1 / n1 - x2 / n2, 4),
            "significant": significant_change(x1, n1, x2, n2),
        }
    return changes


# -- survey scores beside the indicators ----------------------------------------------------


# The one rule of 调查满意度 (docs/indicators.md): the answers to the rating questions tied to
# a department, in the responses submitted in the period, the share scoring 4-5. The
# department's indicators and surveys.results.department_scores both count through here.
SATISFACTION_KIND = "rating"
SATISFIED_SCORES = (4, 5)


def survey_score_counts(
    session: Session,
    start: datetime,
    end: datetime,
    department_ids: Iterable[int] | None = None,
    kinds: tuple[str, ...] = (SATISFACTION_KIND,),
) -> dict[int, dict[str, dict[int, int]]]:
    """department id -> question kind -> {score: answers} of the questions of `kinds` tied to
    the department, over the responses submitted in [start, end).

    Read from the kept answer counts (a few rows per round and UTC day however many
    responses it had): all of those of a round wholly inside the window, those of the whole
    days of the window for a round across its edge, whose responses of the part-days at the
    window's edges are read one by one.
    """
    query = select(
        SurveyQuestion.id,
        SurveyQuestion.version_id,
        SurveyQuestion.key,
        SurveyQuestion.kind,
        SurveyQuestion.department_id,
    ).where(SurveyQuestion.department_id.is_not(None), SurveyQuestion.kind.in_(kinds))
    if department_ids is not None:
        query = query.where(SurveyQuestion.department_id.in_(list(department_ids)))
    questions = session.execute(query).all()
    out: dict[int, dict[str, dict[int, int]]] = {}
    if not questions:
        return out

    def add(department_id: int, kind: str, score: int, count: int) -> None:
        per_kind = out.setdefault(department_id, {}).setdefault(kind, {})
        per_kind[score] = per_kind.get(score, 0) + count

    by_id = {row.id: (row.department_id, row.kind) for row in questions}
    by_key: dict[int, dict[str, tuple[int, str]]] = defaultdict(dict)
    for row in questions:
        by_key[row.version_id][row.key] = (row.department_id, row.kind)
    asked = SurveyRound.version_id.in_(list(by_key))
    inside = and_(SurveyRound.opens_at >= start, SurveyRound.closes_at <= end)
    # A round wholly inside the window: all of its counts, whatever the day.
    rounds_inside = select(SurveyRound.id).where(asked, inside)
    # A round across an edge: its counts of the window's whole UTC days, and the responses of
    # the part-days at the window's edges one by one.
    rounds = select(SurveyRound.id).where(
        asked, SurveyRound.opens_at < end, SurveyRound.closes_at > start, not_(inside)
    )
    first_day = start.astimezone(UTC).date()
    if datetime.combine(first_day, time.min, tzinfo=UTC) < start:
        first_day += timedelta(days=1)
    end_day = end.astimezone(UTC).date()  # days before it end by `end`
    whole_days = SurveyAnswerCount.round_id.in_(rounds_inside)
    slices = [(start, end)]
    if first_day < end_day:
        whole_days = or_(
            whole_days,
            and_(
                SurveyAnswerCount.round_id.in_(rounds),
                SurveyAnswerCount.day >= first_day,
                SurveyAnswerCount.day < end_day,
            ),
        )
        slices = [
            (start, datetime.combine(first_day, time.min, tzinfo=UTC)),
            (datetime.combine(end_day, time.min, tzinfo=UTC), end),
        ]
    counted = session.execute(
        select(
            SurveyAnswerCount.question_id,
            SurveyAnswerCount.value,
            func.sum(SurveyAnswerCount.count),
        )
        .where(whole_days, SurveyAnswerCount.question_id.in_(list(by_id)))
        .group_by(SurveyAnswerCount.question_id, SurveyAnswerCount.value)
    )
    for question_id, value, count in counted:
        add(*by_id[question_id], int(value), int(count))
    # The part-days: each asked key's score read from the responses' answers in SQL (JSON
    # path), counted per version and score.
    versions_of: dict[str, list[int]] = defaultdict(list)
    for version_id, keys in by_key.items():
        for key in keys:
            versions_of[key].append(version_id)
    for since, until in slices:
        if since >= until:
            continue
        for key, version_ids in versions_of.items():
            score = SurveyResponse.answers[key].as_integer()
            rows = session.execute(
                select(SurveyResponse.version_id, score, func.count())
                .where(
                    SurveyResponse.round_id.in_(rounds),
                    SurveyResponse.version_id.in_(version_ids),
                    SurveyResponse.submitted_at >= since,
                    SurveyResponse.submitted_at < until,
                    score.is_not(None),
                )
                .group_by(SurveyResponse.version_id, score)
            )
            for version_id, value, count in rows:
                add(*by_key[version_id][key], int(value), int(count))
    return out


def survey_satisfaction(
    session: Session,
    start: datetime,
    end: datetime,
    department_ids: Iterable[int] | None = None,
) -> dict[int, tuple[int, int]]:
    """department id -> (answers scoring 4-5, answers) of 调查满意度 over [start, end)."""
    return {
        department_id: satisfied_of(kinds.get(SATISFACTION_KIND, {}))
        for department_id, kinds in survey_score_counts(
            session, start, end, department_ids
        ).items()
    }


def satisfied_of(scores: dict[int, int]) -> tuple[int, int]:
    """(answers scoring 4-5, answers) of a score -> count mapping."""
    return sum(scores.get(s, 0) for s in SATISFIED_SCORES), sum(scores.values())


def survey_share(satisfied: int, answers: int, minimum: int) -> tuple[float | None, list | None]:
    """(调查满意度, its Wilson 95% interval), both None below the minimum sample."""
    if answers < max(minimum, 1):
        return None, None
    low, high = wilson_interval(satisfied, answers)
    return round(satisfied / answers, 4), [round(low, 4), round(high, 4)]


def _survey_figure(now: tuple[int, int], before: tuple[int, int], minimum: int) -> dict[str, Any]:
    """调查满意度: the share of a department's survey ratings scoring 4-5, its Wilson
    interval, and its change against the previous period (flagged only when significant)."""
    satisfied, answers = now
    before_satisfied, before_answers = before
    rate, interval = survey_share(satisfied, answers, minimum)
    previous, _ = survey_share(before_satisfied, before_answers, minimum)
    both = rate is not None and previous is not None
    return {
        "satisfaction_rate": rate,
        "satisfaction_ci": interval,
        "satisfied": satisfied,
        "answers": answers,
        "insufficient": rate is None,
        "change": {
            "previous": previous,
            "change": (
                round(satisfied / answers - before_satisfied / before_answers, 4) if both else None
            ),
            "significant": both
            and significant_change(satisfied, answers, before_satisfied, before_answers),
        },
    }


def department_indicators(
    session: Session,
    ctx: ServiceContext,
    period: Period | str,
    department=None,
    service=None,
) -> list[dict[str, Any]]:
    """The indicators of every department (or one, or one service) for `period`; read-only.

    One dict per department, ordered by code: `department`, `department_name`, `service`,
    `period`, every key of INDICATOR_KEYS, `insufficient`, `denominators`, `numerators` (of
    the shares), `changes` (against the previous period) and `survey` (调查满意度, see
    survey_satisfaction; None for a service). A period without data gives
    zeros and nulls.
    """
    if not isinstance(period, Period):
        period = parse_period(period)
    # An inactive service still has its history.
    service_row: Service | None = (
        get_service(session, service, active_only=False) if service is not None else None
    )
    if department is not None:
        departments = [get_department(session, department)]
    elif service_row is not None:
        departments = [service_row.department]
    else:
        departments = list(session.scalars(select(Department).order_by(Department.code)))
    if service_row is not None and service_row.department_id != departments[0].id:
        raise ValidationFailed(
            f"事项 {service_row.code} 不属于部门 {departments[0].code}",
            f"service {service_row.code} does not belong to department {departments[0].code}",
        )
    ids = [dept.id for dept in departments] if department or service_row else None
    service_id = service_row.id if service_row else None
    today = ctx.local_date(ctx.now())
    stale = read_stale(session, ctx)
    before = period.previous()
    # The month rows of both periods in one query (none for a service: it reads its days).
    months = (
        {}
        if service_id is not None
        else _settled_months(session, (period, before), today, ids, stale)
    )
    common = {"today": today, "stale": stale, "months": months,
              "all_ids": [dept.id for dept in departments]}  # fmt: skip
    current = _totals(session, ctx, period, ids, service_id, **common)
    # The previous period only feeds the changes of the shares: no median needed.
    previous = _totals(session, ctx, before, ids, service_id, with_median=False, **common)
    empty = Totals(_blank_counts(), 0, 0, 0)
    surveys_now = surveys_before = None
    if service_row is None:  # survey questions are tied to departments, not to services
        surveys_now = survey_satisfaction(session, *_period_window(ctx, period), ids)
        surveys_before = survey_satisfaction(session, *_period_window(ctx, before), ids)
    minimum = ctx.settings.indicators.min_denominator
    result = []
    for dept in departments:
        now = _indicators(current.get(dept.id, empty), ctx)
        shares_before = _proportions(previous.get(dept.id, empty), minimum)
        row = {
            "department": dept.code,
            "department_name": dept.name,
            "service": service_row.code if service_row else None,
            "period": period.label,
        }
        row.update({key: now[key] for key in INDICATOR_KEYS})
        row["insufficient"] = now["insufficient"]
        row["denominators"] = now["denominators"]
        row["numerators"] = now["numerators"]
        row["changes"] = _changes(now, shares_before)
        row["survey"] = (
            _survey_figure(
                surveys_now.get(dept.id, (0, 0)), surveys_before.get(dept.id, (0, 0)), minimum
            )
            if surveys_now is not None
            else None
        )
        result.append(row)
    return result


def rollup_rows(session: Session) -> dict[Bucket, dict[str, Any]]:
    """The stored rollup, bucket by bucket (for checks and tests)."""
    return {
        (row.department_id, row.service_id, _as_date(row.day)): {
            name: getattr(row, name) for name in ROLLUP_COLUMNS
        }
        for row in session.scalars(select(IndicatorDaily))
    }


def department_monthly_rows(session: Session) -> dict[tuple[int, date], dict[str, Any]]:
    """The stored month rollup, department-month by department-month."""
    return {
        (row.department_id, _as_date(row.month)): {
            name: _as_date(getattr(row, name)) if name in DATE_COLUMNS else getattr(row, name)
            for name in ROLLUP_COLUMNS
        }
        for row in session.scalars(select(IndicatorDepartmentMonthly))
    }


def department_rollup_rows(session: Session) -> dict[tuple[int, date], dict[str, Any]]:
    """The stored department rollup, department-day by department-day."""
    return {
        (row.department_id, _as_date(row.day)): {
            name: getattr(row, name) for name in ROLLUP_COLUMNS
        }
        for row in session.scalars(select(IndicatorDepartmentDaily))
    }


# --- tables and exports --------------------------------------------------------------------

INSUFFICIENT_ZH = "样本不足"
# (key, Chinese heading, English heading, kind) of the indicator table's columns.
TABLE_COLUMNS = (
    ("department", "部门", "department", "text"),
    ("ratings", "评价数", "ratings", "count"),
    ("mean_score", "平均分", "mean score", "number"),
    ("satisfaction_rate", "满意率", "satisfaction", "share"),
    ("satisfaction_ci", "满意率95%区间", "satisfaction 95% CI", "interval"),
    ("bad_reviews", "差评数", "bad reviews", "count"),
    ("bad_reviews_rectified_on_time", "差评按时整改率", "rectified on time", "share"),
    ("tickets", "工单数", "tickets", "count"),
    ("response_rate", "按时响应率", "response rate", "share"),
    ("on_time_closure_rate", "按时办结率", "closed on time", "share"),
    ("resolution_rate", "解决率", "resolution", "share"),
    ("callback_satisfaction_rate", "回访满意率", "callback satisfaction", "share"),
    ("median_first_reply_hours", "首次答复中位时长(小时)", "median first reply (h)", "number"),
    ("negative_share", "负面占比", "negative share", "share"),
    ("index", "综合指数", "index", "number"),
)


def _cell(row: dict[str, Any], key: str, kind: str, *, for_screen: bool) -> Any:
    value = row[key]
    if key == "department" and row.get("service"):
        value = f"{value}/{row['service']}"
    if value is None:
        return INSUFFICIENT_ZH if for_screen or kind != "count" else None
    if kind == "interval":
        low, high = value
        return f"{low * 100:.1f}%–{high * 100:.1f}%" if for_screen else f"{low:.4f}–{high:.4f}"
    if kind == "share" and for_screen:
        change = row.get("changes", {}).get(key)
        mark = ""
        if change and change["significant"]:
            mark = " ↑" if change["change"] > 0 else " ↓"
        return f"{value * 100:.1f}%{mark}"
    return value


def indicator_table(rows: list[dict[str, Any]], *, for_screen: bool = True) -> list[list[Any]]:
    """The indicator rows as a table: heading rows (Chinese, English), one row per department.

    On screen a share is a percentage with ↑/↓ when its change against the previous period
    is significant at 95%; in files it stays a fraction. An empty value reads 样本不足.
    """
    if for_screen:  # two short heading rows read better in a terminal than one long one
        headings = [[zh for _, zh, _, _ in TABLE_COLUMNS], [en for _, _, en, _ in TABLE_COLUMNS]]
        headings[0].insert(1, "统计期")
        headings[1].insert(1, "period")
    else:
        headings = [[f"{zh} {en}" for _, zh, en, _ in TABLE_COLUMNS]]
        headings[0].insert(1, "统计期 period")
    body = []
    for row in rows:
        cells = [_cell(row, key, kind, for_screen=for_screen) for key, _, _, kind in TABLE_COLUMNS]
        cells.insert(1, row["period"])
        body.append(cells)
    return [*headings, *body]


def write_csv(rows: list[dict[str, Any]], stream) -> None:
    """The indicator table as CSV (UTF-8 with BOM, so spreadsheet programs read the Chinese)."""
    import csv

    stream.write("\ufeff")
    writer = csv.writer(stream)
    for line in indicator_table(rows, for_screen=False):
        writer.writerow(["" if cell is None else cell for cell in line])


def write_xlsx(rows: list[dict[str, Any]], path) -> None:
    """The indicator table as an XLSX workbook with one sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = rows[0]["period"] if rows else "indicators"
    for line in indicator_table(rows, for_screen=False):
        sheet.append(line)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "C2"
    for column, (_, _, _, kind) in zip(
        sheet.iter_cols(min_row=2), TABLE_COLUMNS[1:], strict=False
    ):
        if kind == "share":
            for cell in column:
                if isinstance(cell.value, float):
                    cell.number_format = "0.0%"
    book.save(path)


# --- the classified complaint summary ------------------------------------------------------

UNCLASSIFIED_ZH = "未分类"


def complaint_summary(
    session: Session, ctx: ServiceContext, period: Period | str, department
) -> dict[str, Any]:
    """The complaints a department received in `period`, grouped by topic and by hot issue.

    Each group has its count, the count of the previous period, keywords, the share of
    negative texts, an extractive summary of what citizens say and its ticket numbers;
    near-duplicate complaints (the same matter filed again) are listed too. Read-only.
    """
    from nlp.duplicates import group_near_duplicates
    from nlp.hot import hot_issues
    from nlp.keywords import keywords_for_set
    from nlp.summary import summarize

    if not isinstance(period, Period):
        period = parse_period(period)
    dept = get_department(session, department)
    previous_period = period.previous()
    current = department_tickets(session, ctx, period, dept.id)
    previous = department_tickets(session, ctx, previous_period, dept.id)

    def describe(group: list[Ticket]) -> dict[str, Any]:
        texts = [t.text for t in group]
        analysed = [t for t in group if t.sentiment_label is not None]
        negative = sum(1 for t in analysed if t.sentiment_label == "negative")
        return {
            "count": len(group),
            "keywords": keywords_for_set(texts, k=5),
            "negative_share": round(negative / len(analysed), 4) if analysed else None,
            "summary": summarize(texts, n=2),
            "tickets": [t.number for t in group],
        }

    by_topic: dict[str, list[Ticket]] = defaultdict(list)
    for ticket in current:
        by_topic[ticket.topic or UNCLASSIFIED_ZH].append(ticket)
    before: dict[str, int] = defaultdict(int)
    for ticket in previous:
        before[ticket.topic or UNCLASSIFIED_ZH] += 1
    topics = [
        {"topic": topic, **describe(group), "previous": before[topic],
         "change": len(group) - before[topic]}
        for topic, group in sorted(by_topic.items(), key=lambda item: (-len(item[1]), item[0]))
    ]  # fmt: skip

    # Hot issues over both periods at once, so each issue's previous count is its own.
    both = previous + current
    records = [
        {"text": t.text, "time": t.received_at, "id": index} for index, t in enumerate(both)
    ]
    _, end = _period_window(ctx, period)
    current_ids = {t.id for t in current}
    hot = []
    for issue in hot_issues(records, top=10, now=end):
        members = [both[i] for i in issue.indices]
        in_period = [t for t in members if t.id in current_ids]
        if not in_period:
            continue
        hot.append(
            {
                "title": issue.title,
                "places": issue.places,
                "heat": round(issue.heat, 2),
                **describe(in_period),
                "previous": len(members) - len(in_period),
                "change": 2 * len(in_period) - len(members),
            }
        )
    duplicates = [
        [current[i].number for i in group]
        for group in group_near_duplicates([t.text for t in current])
    ]
    return {
        "department": dept.code,
        "department_name": dept.name,
        "period": period.label,
        "previous_period": previous_period.label,
        "tickets": len(current),
        "previous_tickets": len(previous),
        "topics": topics,
        "hot_issues": hot,
        "near_duplicates": duplicates,
    }


def department_tickets(
    session: Session,
    ctx: ServiceContext,
    period: Period,
    department_id: int,
    service_id: int | None = None,
) -> list[Ticket]:
    """The tickets a department holds that were received in `period` (about one service when
    `service_id` is given), oldest first."""
    start, end = _period_window(ctx, period)
    statement = (
        select(Ticket)
        .where(
            Ticket.department_id == department_id,
            Ticket.received_at >= start,
            Ticket.received_at < end,
        )
        .order_by(Ticket.received_at, Ticket.id)
    )
    if service_id is not None:
        statement = statement.where(Ticket.service_id == service_id)
    return list(session.scalars(statement))
