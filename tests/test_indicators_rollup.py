"""The rollup equals a from-scratch computation after random writes, late edits and imports."""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select, update

from minyi.db import make_session_factory
from minyi.errors import MinyiError
from minyi.indicators import (
    apply_refresh,
    department_indicators,
    department_monthly_rows,
    department_rollup_rows,
    department_rows,
    fill_medians,
    mark_days_stale,
    mark_everything_stale,
    month_rows,
    plan_refresh,
    rebuild_rollups,
    refresh_rollups,
    rollup_rows,
)
from minyi.models import (
    BadReviewFollowUp,
    Channel,
    FollowUpStatus,
    IndicatorDepartmentDaily,
    IndicatorDepartmentMonthly,
    IndicatorMedian,
    IndicatorStale,
    Rating,
    Role,
    Ticket,
    TicketStatus,
)
from minyi.services import ratings, tickets
from minyi.services.actors import Actor
from minyi.services.context import ServiceContext
from tests.builders import make_citizen, make_department, make_service, make_staff, make_ticket

BJ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 9, 20, tzinfo=BJ)
SPAN_MINUTES = 75 * 24 * 60
PERIODS = ["2026-09", "2026-10", "2026-11", "2026-W44", "2026-Q4"]


def local_day(moment: datetime, zone: ZoneInfo = BJ) -> date:
    return moment.astimezone(zone).date()


def reference_rollup(session, zone: ZoneInfo = BJ) -> dict:
    """The rollup recomputed in Python from the ORM objects: the definition, independently."""
    rows: dict = defaultdict(
        lambda: {
            "score_1": 0, "score_2": 0, "score_3": 0, "score_4": 0, "score_5": 0,
            "follow_ups_on_time": 0, "follow_ups_late": 0, "follow_ups_open": 0,
            "follow_ups_open_until": None, "follow_ups_open_first": None,
            "tickets": 0, "sentiment_known": 0, "negative": 0,
            "responded_on_time": 0, "responded_late": 0, "unresponded": 0,
            "unresponded_until": None, "unresponded_first": None,
            "due": 0, "closed_on_time": 0, "closures": 0,
            "resolved_answers": 0, "resolved_yes": 0, "satisfaction_answers": 0,
            "satisfied_answers": 0,
        }
    )  # fmt: skip

    def latest(row, name, day):
        row[name] = day if row[name] is None else max(row[name], day)
        first = name.replace("_until", "_first")
        row[first] = day if row[first] is None else min(row[first], day)

    session.expire_all()
    for rating in session.scalars(select(Rating)):
        if rating.excluded:
            continue
        row = rows[(rating.department_id, rating.service_id, local_day(rating.created_at, zone))]
        row[f"score_{rating.score}"] += 1
        follow_up = rating.follow_up
        if follow_up is None or follow_up.status == FollowUpStatus.EXCLUDED:
            continue
        if follow_up.status == FollowUpStatus.COMPLETED:
            on_time = (
                follow_up.completed_at is not None
                and local_day(follow_up.completed_at, zone) <= follow_up.deadline
            )
            row["follow_ups_on_time" if on_time else "follow_ups_late"] += 1
        else:
            row["follow_ups_open"] += 1
            latest(row, "follow_ups_open_until", follow_up.deadline)
    for ticket in session.scalars(select(Ticket)):
        service = ticket.service_id or 0
        for closure in ticket.closures:
            if closure.department_id is None:
                continue
            row = rows[(closure.department_id, service, local_day(closure.closed_at, zone))]
            row["closures"] += 1
            row["resolved_answers"] += closure.resolved is not None
            row["resolved_yes"] += closure.resolved is True
            row["satisfaction_answers"] += closure.satisfaction is not None
            row["satisfied_answers"] += (closure.satisfaction or 0) >= 4
        if ticket.department_id is None:
            continue
        row = rows[(ticket.department_id, service, local_day(ticket.received_at, zone))]
        row["tickets"] += 1
        row["sentiment_known"] += ticket.sentiment_label is not None
        row["negative"] += ticket.sentiment_label == "negative"
        if ticket.first_response_at is None:
            row["unresponded"] += 1
            latest(row, "unresponded_until", ticket.response_due_date)
        elif local_day(ticket.first_response_at, zone) <= ticket.response_due_date:
            row["responded_on_time"] += 1
        else:
            row["responded_late"] += 1
        row = rows[(ticket.department_id, service, ticket.due_date)]
        row["due"] += 1
        row["closed_on_time"] += (
            ticket.status == TicketStatus.CLOSED
            and local_day(ticket.last_closed_at, zone) <= ticket.due_date
        )
    return dict(rows)


class RandomCounty:
    """Random writes through the services, plus raw imports, with refreshes in between."""

    def __init__(self, session, ctx, seed):
        self.session, self.ctx = session, ctx
        self.random = random.Random(seed)
        self.departments = [make_department(session) for _ in range(3)]
        self.services = [make_service(session, d) for d in self.departments for _ in range(2)]
        self.admin = Actor.staff(make_staff(session, Role.ADMIN))
        self.citizens = [make_citizen(session) for _ in range(4)]
        self.refreshes = 0
        session.commit()

    def moment(self) -> datetime:
        # Often within minutes of a local midnight, where a wrong time zone would show.
        minutes = self.random.randrange(SPAN_MINUTES)
        if self.random.random() < 0.4:
            minutes = minutes // 1440 * 1440 + self.random.choice([-2, -1, 0, 1, 2])
        return (START + timedelta(minutes=minutes)).astimezone(UTC)

    def later(self, moment: datetime) -> datetime:
        if self.random.random() < 0.5:  # a minute either side of a later local midnight
            day = local_day(moment) + timedelta(days=self.random.choice([1, 1, 2, 2, 3, 8]))
            midnight = datetime.combine(day, datetime.min.time(), BJ)
            return (midnight + timedelta(minutes=self.random.choice([-1, 1]))).astimezone(UTC)
        return moment + timedelta(minutes=self.random.choice([5, 600, 1439, 1441, 4320, 12000]))

    def pick(self, statement):
        found = list(self.session.scalars(statement))
        return self.random.choice(found) if found else None

    def step(self) -> None:
        action = self.random.choice(
            ["rate", "file", "move", "move", "refresh"] * 3
            + ["follow_up"] * 2
            + ["appeal", "verdict", "extend", "reassign", "label", "bulk_import"]
        )
        try:
            getattr(self, action)()
        except MinyiError:
            self.session.rollback()  # a refused move changes nothing; so does the test
            return
        self.session.commit()

    def rate(self):
        ratings.record_rating(
            self.session, self.ctx, service=self.random.choice(self.services),
            score=self.random.randint(1, 5), at=self.moment(),
        )  # fmt: skip

    def follow_up(self):
        follow_up = self.pick(
            select(BadReviewFollowUp).where(BadReviewFollowUp.status == FollowUpStatus.OPEN)
        )
        if follow_up is not None:
            ratings.complete_follow_up(
                self.session, self.ctx, follow_up, actor=self.admin, note="已整改",
                at=self.later(follow_up.created_at),
            )  # fmt: skip

    def appeal(self):
        rating = self.pick(select(Rating).where(Rating.excluded.is_(False)))
        if rating is None:
            return
        officer = Actor.staff(
            make_staff(self.session, Role.OFFICER, department=rating.service.department)
        )
        appeal = ratings.request_exclusion(
            self.session, self.ctx, rating, actor=officer, reason="恶意评价"
        )
        ratings.decide_exclusion(
            self.session, self.ctx, appeal, actor=self.admin, approve=self.random.random() < 0.7
        )

    def file(self):
        received = self.moment()
        service = self.random.choice([None, *self.services])
        ticket = make_ticket(
            self.session, self.ctx, citizen=self.random.choice(self.citizens),
            service=service, at=received,
        )  # fmt: skip
        if self.random.random() < 0.85:
            department = service.department if service else self.random.choice(self.departments)
            tickets.assign(self.session, self.ctx, ticket, department, actor=self.admin,
                           at=received)  # fmt: skip

    def move(self):
        ticket = self.pick(
            select(Ticket).where(
                Ticket.status.in_([TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS,
                                   TicketStatus.REPLIED])
            )
        )  # fmt: skip
        if ticket is None:
            return
        at = self.later(ticket.events[-1].created_at)
        if ticket.status == TicketStatus.ASSIGNED:
            tickets.start(self.session, self.ctx, ticket, actor=self.admin, at=at)
        elif ticket.status == TicketStatus.IN_PROGRESS:
            tickets.reply(self.session, self.ctx, ticket, actor=self.admin, text="已答复", at=at)
        else:
            tickets.close(self.session, self.ctx, ticket, actor=self.admin, at=at)

    def verdict(self):
        ticket = self.pick(select(Ticket).where(Ticket.status == TicketStatus.CLOSED))
        if ticket is None or ticket.citizen is None:
            return
        tickets.record_verdict(
            self.session, self.ctx, ticket, actor=Actor.citizen(ticket.citizen),
            resolved=self.random.random() < 0.6,
            satisfaction=self.random.choice([None, 1, 2, 3, 4, 5]),
            at=self.later(ticket.events[-1].created_at),
        )  # fmt: skip

    def extend(self):
        ticket = self.pick(
            select(Ticket).where(
                Ticket.status.in_([TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS])
            )
        )
        if ticket is None:
            return
        request = tickets.request_extension(
            self.session, self.ctx, ticket, actor=self.admin,
            working_days=self.random.randint(1, 15), reason="需要协调",
        )  # fmt: skip
        tickets.decide_extension(
            self.session, self.ctx, request, actor=self.admin, approve=self.random.random() < 0.5
        )

    def reassign(self):
        ticket = self.pick(
            select(Ticket).where(
                Ticket.status.in_([TicketStatus.ASSIGNED, TicketStatus.IN_PROGRESS])
            )
        )
        if ticket is None:
            return
        others = [d for d in self.departments if d.id != ticket.department_id]
        tickets.reassign(
            self.session, self.ctx, ticket, self.random.choice(others), actor=self.admin,
            reason="不属于本部门职责",
        )  # fmt: skip

    def label(self):
        ticket = self.pick(select(Ticket))
        if ticket is not None:
            ticket.sentiment_label = self.random.choice([None, "negative", "neutral", "positive"])

    def refresh(self):
        refresh_rollups(self.session, self.ctx)
        fill_medians(self.session, self.ctx, PERIODS)
        self.refreshes += 1

    def bulk_import(self):
        """What the bulk importer does: rows written past the ORM, then the days marked stale."""
        session, rng = self.session, self.random
        moments = [self.moment() for _ in range(rng.randint(1, 6))]
        service = rng.choice(self.services)
        session.execute(
            insert(Rating.__table__),
            [
                {
                    "service_id": service.id,
                    "department_id": service.department_id,
                    "score": rng.randint(1, 5),
                    "channel": Channel.IMPORT.value,
                    "excluded": False,
                    "created_at": moment,
                }
                for moment in moments
            ],
        )
        days = [local_day(moment) for moment in moments]
        mark_days_stale(session, min(days), max(days))


def roomy(settings):
    tickets_settings = settings.tickets.model_copy(update={"daily_limit_per_citizen": 10_000})
    return settings.model_copy(update={"tickets": tickets_settings})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollup_equals_a_from_scratch_computation_after_random_writes(
    session, settings, clock, seed
):
    clock.now = datetime(2026, 11, 20, 4, tzinfo=UTC)
    ctx = ServiceContext.from_settings(roomy(settings), analyzer=None, clock=clock)
    county = RandomCounty(session, ctx, seed)
    for _ in range(300):
        county.step()
    assert county.refreshes > 0
    # Read with stale days still pending: the same answer as after the refresh.
    periods = PERIODS
    before = [department_indicators(session, ctx, p) for p in periods]
    refresh_rollups(session, ctx)
    session.commit()
    assert session.scalar(select(IndicatorStale.id)) is None
    reference = reference_rollup(session)
    assert rollup_rows(session) == reference
    assert department_rollup_rows(session) == department_rows(reference)
    assert department_monthly_rows(session) == month_rows(department_rows(reference))
    assert [department_indicators(session, ctx, p) for p in periods] == before
    # Cached medians give what the tickets give.
    fill_medians(session, ctx, periods)
    assert session.scalar(select(func.count()).select_from(IndicatorMedian)) > 0
    assert [department_indicators(session, ctx, p) for p in periods] == before
    report = rebuild_rollups(session, ctx)
    assert report.differed == 0 and report.buckets == len(reference_rollup(session))
    assert session.scalar(select(func.count()).select_from(IndicatorMedian)) == 0
    assert [department_indicators(session, ctx, p) for p in periods] == before


def from_scratch(session, ctx, period):
    """The indicators computed from the base tables alone: every day marked stale, undone."""
    nested = session.begin_nested()
    mark_everything_stale(session)
    rows = department_indicators(session, ctx, period)
    nested.rollback()
    return rows


@pytest.mark.parametrize("seed", [4, 5])
def test_month_rows_answer_what_the_base_tables_say_whatever_the_day(
    session, settings, clock, seed
):
    """A past month is read from its month row only when nothing in it depends on today:
    around month ends, while follow-ups and response windows of the month are still open,
    and long after, the answer is the from-scratch one."""
    clock.now = datetime(2026, 11, 20, 4, tzinfo=UTC)
    ctx = ServiceContext.from_settings(roomy(settings), analyzer=None, clock=clock)
    county = RandomCounty(session, ctx, seed)
    for _ in range(250):
        county.step()
    # 差评 and unanswered complaints at the end of October: in time for a few days more.
    for n, service in enumerate(county.services):
        at = datetime(2026, 10, 29 + n % 3, 20, tzinfo=BJ).astimezone(UTC)
        ratings.record_rating(session, ctx, service=service, score=1, at=at)
        ticket = make_ticket(session, ctx, citizen=county.citizens[0], service=service, at=at)
        tickets.assign(session, ctx, ticket, service.department, actor=county.admin, at=at)
    session.commit()
    refresh_rollups(session, ctx)
    session.commit()
    assert department_monthly_rows(session)
    # Stale days of one department in October, left unrefreshed: its month is read by day.
    rating = session.scalars(
        select(Rating).where(Rating.excluded.is_(False)).order_by(Rating.id)
    ).first()
    rating.score = 6 - rating.score
    session.flush()
    for now in (
        datetime(2026, 10, 31, 15, 59, tzinfo=UTC),  # 23:59 on 31 October, Beijing
        datetime(2026, 10, 31, 16, 1, tzinfo=UTC),  # 00:01 on 1 November
        datetime(2026, 11, 3, 4, tzinfo=UTC),
        datetime(2026, 11, 30, 16, 1, tzinfo=UTC),
        datetime(2026, 12, 20, 4, tzinfo=UTC),
        datetime(2027, 2, 1, 4, tzinfo=UTC),
    ):
        clock.now = now
        for period in ("2026-09", "2026-10", "2026-11", "2026-Q4", "2026-W44", "2026-12"):
            assert department_indicators(session, ctx, period) == from_scratch(
                session, ctx, period
            ), (now, period)
    refresh_rollups(session, ctx)
    session.commit()
    for period in ("2026-10", "2026-Q4"):
        assert department_indicators(session, ctx, period) == from_scratch(session, ctx, period)


def test_rebuild_finds_and_repairs_a_wrong_row(session, ctx):
    service = make_service(session)
    ratings.record_rating(
        session, ctx, service=service, score=5, at=datetime(2026, 10, 3, tzinfo=UTC)
    )
    refresh_rollups(session, ctx)
    session.execute(update(IndicatorDepartmentDaily).values(score_5=7))
    session.execute(update(IndicatorDepartmentMonthly).values(score_5=9))
    session.commit()
    # A past month reads its month row, a week its day rows.
    assert department_indicators(session, ctx, "2026-10")[0]["ratings"] == 9
    assert department_indicators(session, ctx, "2026-W40")[0]["ratings"] == 7
    report = rebuild_rollups(session, ctx)
    session.commit()
    assert (report.buckets, report.differed) == (1, 2)
    assert department_indicators(session, ctx, "2026-10")[0]["ratings"] == 1
    assert department_indicators(session, ctx, "2026-W40")[0]["ratings"] == 1


def test_a_late_edit_marks_the_old_day_stale(session, ctx):
    service = make_service(session)
    rating = ratings.record_rating(session, ctx, service=service, score=1,
                                   at=datetime(2026, 10, 3, tzinfo=UTC))  # fmt: skip
    refresh_rollups(session, ctx)
    session.commit()
    assert session.scalar(select(IndicatorStale.id)) is None
    admin = Actor.staff(make_staff(session, Role.ADMIN))
    ratings.complete_follow_up(session, ctx, rating.follow_up, actor=admin, note="已整改",
                               at=datetime(2026, 10, 5, tzinfo=UTC))  # fmt: skip
    session.commit()
    marked = session.execute(select(IndicatorStale.department_id, IndicatorStale.at)).all()
    assert marked == [(service.department_id, datetime(2026, 10, 3, tzinfo=UTC))]
    row = department_indicators(session, ctx, "2026-10")[0]
    assert row["denominators"]["bad_reviews_rectified_on_time"] == 1


def test_concurrent_writers_and_refreshers_end_exact(engine, session_factory, settings, clock):
    clock.now = datetime(2026, 11, 20, 4, tzinfo=UTC)
    ctx = ServiceContext.from_settings(roomy(settings), analyzer=None, clock=clock)
    with session_factory.begin() as session:
        services = [make_service(session) for _ in range(3)]
        service_ids = [s.id for s in services]
        admin = make_staff(session, Role.ADMIN)
        admin_actor = Actor.staff(admin)
    errors = []

    def write(seed):
        rng = random.Random(seed)
        try:
            for _ in range(25):
                with session_factory.begin() as session:
                    rating = ratings.record_rating(
                        session, ctx, service=rng.choice(service_ids), score=rng.randint(1, 5),
                        at=datetime(2026, 10, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(900)),
                    )  # fmt: skip
                    if rating.follow_up is not None and rng.random() < 0.5:
                        ratings.complete_follow_up(
                            session, ctx, rating.follow_up, actor=admin_actor, note="已整改",
                            at=rating.created_at + timedelta(days=rng.randint(0, 12)),
                        )  # fmt: skip
        except Exception as exc:  # noqa: BLE001  (reported by the main thread)
            errors.append(exc)

    stop = threading.Event()
    read_only = make_session_factory(engine, read_only=True)

    def refresh(split):
        # One refresher in one transaction, one as the scheduler's job does it: the plan
        # read without the write lock, then applied (or dropped) in a short write.
        try:
            while not stop.is_set():
                if split:
                    with read_only() as session:
                        plan = plan_refresh(session, ctx)
                    with session_factory.begin() as session:
                        apply_refresh(session, plan)
                else:
                    with session_factory.begin() as session:
                        refresh_rollups(session, ctx)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    refreshers = [threading.Thread(target=refresh, args=(split,)) for split in (False, True)]
    for thread in writers + refreshers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in refreshers:
        thread.join()
    assert errors == []
    with session_factory.begin() as session:
        refresh_rollups(session, ctx)
    with session_factory() as session:
        reference = reference_rollup(session)
        assert rollup_rows(session) == reference
        assert department_rollup_rows(session) == department_rows(reference)
        assert (
            sum(r["ratings"] for r in department_indicators(session, ctx, "2026-10"))
            + sum(r["ratings"] for r in department_indicators(session, ctx, "2026-11"))
            == 50
        )


def test_a_plan_applied_late_keeps_newer_writes_stale(session_factory, engine, settings, clock):
    clock.now = datetime(2026, 11, 20, 4, tzinfo=UTC)
    ctx = ServiceContext.from_settings(roomy(settings), analyzer=None, clock=clock)
    read_only = make_session_factory(engine, read_only=True)
    day = datetime(2026, 11, 3, 2, tzinfo=UTC)
    with session_factory.begin() as session:
        service = make_service(session).id
        ratings.record_rating(session, ctx, service=service, score=5, at=day)

    def plan():
        with read_only() as session:
            return plan_refresh(session, ctx)

    def rate(score):
        with session_factory.begin() as session:
            ratings.record_rating(session, ctx, service=service, score=score, at=day)

    def apply(planned):
        with session_factory.begin() as session:
            return apply_refresh(session, planned)

    def november_ratings():
        with session_factory() as session:
            return department_indicators(session, ctx, "2026-11")[0]["ratings"]

    # A plan whose markers another refresh folded in is dropped, even when the markers
    # written since then have the same ids (SQLite reuses the ids of an emptied table
    # unless AUTOINCREMENT says otherwise).
    older = plan()
    assert apply(plan()) == 1
    rate(4)
    assert apply(older) == 0
    assert apply(plan()) == 1
    assert november_ratings() == 2
    # A rating written while a plan is read is not in its rows, but its marker survives the
    # plan's write: readers still count it, and the next refresh folds it in.
    rate(5)
    older = plan()
    rate(1)
    assert apply(older) == 1
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(IndicatorStale)) == 1
    assert november_ratings() == 4
    # Two plans of the same markers: the newer one applied first wins, the older is dropped
    # (its rows lack the rating written between them).
    older = plan()
    rate(2)
    newer = plan()
    assert apply(newer) == 2
    assert apply(older) == 0
    assert apply(plan()) == 0 and plan() is None
    with session_factory() as session:
        assert rollup_rows(session) == reference_rollup(session)
        assert department_rollup_rows(session) == department_rows(reference_rollup(session))
    assert november_ratings() == 5


def test_a_ticket_counts_once_it_has_a_department(session, ctx):
    department = make_department(session)
    ticket = make_ticket(session, ctx, at=datetime(2026, 10, 3, tzinfo=UTC))
    session.commit()
    refresh_rollups(session, ctx)
    assert rollup_rows(session) == {}  # in triage: no department's ticket yet
    admin = Actor.staff(make_staff(session, Role.ADMIN))
    tickets.assign(session, ctx, ticket, department, actor=admin)
    session.commit()
    row = department_indicators(session, ctx, "2026-10", department=department.code)[0]
    assert row["tickets"] == 1
    refresh_rollups(session, ctx)
    assert rollup_rows(session) == reference_rollup(session)


def test_local_days_follow_a_time_zone_with_daylight_saving(session, settings, clock):
    # New York leaves daylight saving at 02:00 on 1 November 2026 (UTC-4 to UTC-5).
    zone = ZoneInfo("America/New_York")
    calendar = settings.calendar.model_copy(update={"timezone": "America/New_York"})
    ctx = ServiceContext.from_settings(
        settings.model_copy(update={"calendar": calendar}), analyzer=None, clock=clock
    )
    service = make_service(session)
    edges = [datetime(2026, 11, 1, 4, tzinfo=UTC), datetime(2026, 11, 2, 5, tzinfo=UTC),
             datetime(2026, 3, 8, 5, tzinfo=UTC), datetime(2026, 3, 9, 4, tzinfo=UTC)]  # fmt: skip
    for edge in edges:
        for minutes in (-1, 0, 1):
            ratings.record_rating(session, ctx, service=service, score=3,
                                  at=edge + timedelta(minutes=minutes))  # fmt: skip
    session.commit()
    refresh_rollups(session, ctx)
    assert rollup_rows(session) == reference_rollup(session, zone)
    october = department_indicators(session, ctx, "2026-10")[0]["ratings"]
    assert october == 1  # 23:59 on 31 October, New York time (03:59 UTC, UTC-4)


def test_the_scheduler_job_folds_stale_days_in(session_factory, settings, monkeypatch):
    from minyi import jobs

    monkeypatch.setitem(jobs._context, "settings", settings)
    monkeypatch.setitem(jobs._context, "session_factory", session_factory)
    ctx = ServiceContext.from_settings(settings, analyzer=None)
    with session_factory.begin() as session:
        ratings.record_rating(session, ctx, service=make_service(session), score=4)
    assert jobs.refresh_indicator_rollups() >= 1
    assert jobs.refresh_indicator_rollups() == 0
    with session_factory() as session:
        assert len(rollup_rows(session)) == 1


def test_a_cached_median_gives_way_to_a_late_reply(session, settings, clock):
    clock.now = datetime(2026, 11, 20, 4, tzinfo=UTC)
    ctx = ServiceContext.from_settings(roomy(settings), analyzer=None, clock=clock)
    minimum = ctx.settings.indicators.model_copy(update={"min_denominator": 1})
    ctx.settings = ctx.settings.model_copy(update={"indicators": minimum})
    department = make_department(session)
    admin = Actor.staff(make_staff(session, Role.ADMIN))
    received = datetime(2026, 10, 5, 1, tzinfo=UTC)
    waiting = []
    for hours in (2, 4, 6):
        ticket = make_ticket(session, ctx, at=received)
        tickets.assign(session, ctx, ticket, department, actor=admin, at=received)
        tickets.start(session, ctx, ticket, actor=admin, at=received)
        if hours < 6:
            tickets.reply(session, ctx, ticket, actor=admin, text="已答复",
                          at=received + timedelta(hours=hours))  # fmt: skip
        else:
            waiting.append(ticket)
    session.commit()
    refresh_rollups(session, ctx)
    assert fill_medians(session, ctx, ["2026-10"]) == 1
    session.commit()

    def median():
        return department_indicators(session, ctx, "2026-10")[0]["median_first_reply_hours"]

    assert median() == 3.0
    # A late reply: the cache row is no longer trusted, readers compute from the tickets.
    tickets.reply(session, ctx, waiting[0], actor=admin, text="已答复",
                  at=received + timedelta(hours=30))  # fmt: skip
    session.commit()
    assert median() == 4.0
    refresh_rollups(session, ctx)  # drops the cached row with the marker
    session.commit()
    assert session.scalar(select(func.count()).select_from(IndicatorMedian)) == 0
    assert median() == 4.0
    assert fill_medians(session, ctx, ["2026-10"]) == 1
    assert median() == 4.0
