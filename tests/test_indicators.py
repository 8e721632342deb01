"""Every indicator against hand-computed fixtures (docs/indicators.md), SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from minyi import indicators
from minyi.errors import ValidationFailed
from minyi.indicators import department_indicators, parse_period, refresh_rollups
from minyi.models import Role
from minyi.services import ratings, tickets
from minyi.services.actors import Actor
from minyi.services.context import ServiceContext
from tests.builders import make_citizen, make_department, make_service, make_staff, make_ticket

BJ = ZoneInfo("Asia/Shanghai")


def local(year, month, day, hour=10, minute=0):
    """A moment given in Beijing time."""
    return datetime(year, month, day, hour, minute, tzinfo=BJ)


def with_minimum(settings, minimum):
    return settings.model_copy(
        update={"indicators": settings.indicators.model_copy(update={"min_denominator": minimum})}
    )


@pytest.fixture
def small_ctx(settings, clock):
    """Services whose indicators need a denominator of 1 only, so small fixtures show rates."""
    return ServiceContext.from_settings(with_minimum(settings, 1), analyzer=None, clock=clock)


@pytest.fixture
def county(session):
    zjj = make_department(session, code="zjj", name="住建局")
    rsj = make_department(session, code="rsj", name="人社局")
    permit = make_service(session, zjj, code="permit", name="施工许可")
    housing = make_service(session, zjj, code="housing", name="公积金提取")
    insurance = make_service(session, rsj, code="insurance", name="社保卡申领")
    admin = make_staff(session, Role.ADMIN)
    citizen = make_citizen(session)
    session.commit()
    return {
        "zjj": zjj,
        "rsj": rsj,
        "permit": permit,
        "housing": housing,
        "insurance": insurance,
        "admin": Actor.staff(admin),
        "citizen": citizen,
        "citizen_actor": Actor.citizen(citizen),
    }


def one(rows, code="zjj"):
    return next(row for row in rows if row["department"] == code)


def indicators_of(session, ctx, period, **kwargs):
    """The indicators, read both with stale days recomputed on the fly and after a refresh."""
    live = department_indicators(session, ctx, period, **kwargs)
    refresh_rollups(session, ctx)
    session.commit()
    refreshed = department_indicators(session, ctx, period, **kwargs)
    assert live == refreshed
    return refreshed


# --- periods -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "first", "last", "previous"),
    [
        ("2026-10", date(2026, 10, 1), date(2026, 10, 31), "2026-09"),
        ("2026-01", date(2026, 1, 1), date(2026, 1, 31), "2025-12"),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29), "2024-01"),
        ("2026-W01", date(2025, 12, 29), date(2026, 1, 4), "2025-W52"),
        ("2026-W53", date(2026, 12, 28), date(2027, 1, 3), "2026-W52"),
        ("2026-q4", date(2026, 10, 1), date(2026, 12, 31), "2026-Q3"),
        ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31), "2025-Q4"),
    ],
)
def test_periods_are_local_calendar_ranges(label, first, last, previous):
    period = parse_period(label)
    assert (period.first, period.last) == (first, last)
    assert period.previous().label == previous


@pytest.mark.parametrize(
    "label",
    ["2026-13", "2026-00", "2026-W54", "2025-W53", "2026-Q5", "2026", "", "10/2026", None,
     "0001-01", "1899-W01", "9999-Q1"],
)
def test_malformed_periods_are_refused(label):
    with pytest.raises(ValidationFailed) as refused:
        parse_period(label)
    assert "2026-W43" in refused.value.message_en and "统计期" in refused.value.message_zh


# --- ratings ---------------------------------------------------------------------------------


def test_rating_indicators_with_local_period_edges_and_an_excluded_rating(
    session, small_ctx, county
):
    ctx, permit = small_ctx, county["permit"]
    # Edges in Beijing time: 00:00 on 1 October is 16:00 UTC on 30 September.
    outside = [local(2026, 9, 30, 23, 59), local(2026, 11, 1, 0, 0)]
    inside = [local(2026, 10, 1, 0, 0), local(2026, 10, 31, 23, 59), local(2026, 10, 15)]
    for at in outside:
        ratings.record_rating(session, ctx, service=permit, score=1, at=at)
    scores = [5, 4, 2]
    for at, score in zip(inside, scores, strict=True):
        ratings.record_rating(session, ctx, service=permit, score=score, at=at)
    malicious = ratings.record_rating(session, ctx, service=permit, score=1, at=local(2026, 10, 9))
    officer = Actor.staff(make_staff(session, Role.OFFICER, department=county["zjj"]))
    appeal = ratings.request_exclusion(session, ctx, malicious, actor=officer, reason="恶意刷评")
    ratings.decide_exclusion(session, ctx, appeal, actor=county["admin"], approve=True)
    session.commit()

    row = one(indicators_of(session, ctx, "2026-10"))
    assert row["ratings"] == 3
    assert row["mean_score"] == pytest.approx(3.67)
    assert row["satisfaction_rate"] == pytest.approx(0.6667)
    low, high = row["satisfaction_ci"]
    # Wilson 95% for 2/3: 0.2077 .. 0.9385
    assert (low, high) == (pytest.approx(0.2077, abs=1e-4), pytest.approx(0.9385, abs=1e-4))
    assert row["bad_reviews"] == 1
    assert one(indicators_of(session, ctx, "2026-09"))["ratings"] == 1
    assert one(indicators_of(session, ctx, "2026-11"))["ratings"] == 1
    # A week and a quarter use the same local edges.
    # 28 September - 4 October: the last minute of September and the first of October.
    assert one(indicators_of(session, ctx, "2026-W40"))["ratings"] == 2
    assert one(indicators_of(session, ctx, "2026-Q4"))["ratings"] == 4
    assert one(indicators_of(session, ctx, "2026-10"), "rsj")["ratings"] == 0


@pytest.mark.parametrize(("count", "shown"), [(29, False), (30, True)])
def test_a_rate_needs_the_minimum_denominator(session, ctx, county, count, shown):
    for n in range(count):
        score = 5 if n % 3 else 3
        ratings.record_rating(
            session, ctx, service=county["permit"], score=score, at=local(2026, 10, 2 + n % 20)
        )
    session.commit()
    row = one(indicators_of(session, ctx, "2026-10"))
    assert row["ratings"] == count  # counts are always given
    if shown:
        assert row["satisfaction_rate"] == pytest.approx(20 / 30, abs=1e-4)
        assert row["mean_score"] == pytest.approx((20 * 5 + 10 * 3) / 30, abs=0.01)
        assert "satisfaction_rate" not in row["insufficient"]
        assert row["satisfaction_ci"] is not None
    else:
        assert row["satisfaction_rate"] is None and row["mean_score"] is None
        assert row["satisfaction_ci"] is None
        assert {"mean_score", "satisfaction_rate"} <= set(row["insufficient"])
    assert row["index"] is None and "index" in row["insufficient"]


def test_bad_reviews_rectified_on_time(session, small_ctx, clock, county):
    ctx, permit, admin = small_ctx, county["permit"], county["admin"]
    clock.now = local(2026, 11, 25)

    # Given Tuesday 6 October (in the National Day holiday): the deadline is 5 working days on.
    def bad(at):
        return ratings.record_rating(session, ctx, service=permit, score=1, at=at).follow_up

    on_time = bad(local(2026, 10, 12))
    late = bad(local(2026, 10, 12))
    overdue = bad(local(2026, 10, 12))
    excluded = bad(local(2026, 10, 13))
    deadline = on_time.deadline
    assert deadline == date(2026, 10, 19)
    # Completed at 23:30 Beijing on the deadline day (15:30 UTC): on time by the local date.
    ratings.complete_follow_up(
        session, ctx, on_time, actor=admin, note="已整改", at=local(2026, 10, 19, 23, 30)
    )
    ratings.complete_follow_up(
        session, ctx, late, actor=admin, note="已整改", at=local(2026, 10, 20, 0, 10)
    )
    officer = Actor.staff(make_staff(session, Role.OFFICER, department=county["zjj"]))
    appeal = ratings.request_exclusion(session, ctx, excluded.rating, actor=officer, reason="恶意")
    ratings.decide_exclusion(session, ctx, appeal, actor=admin, approve=True)
    # Late in November: one open follow-up still inside its deadline, one past it.
    clock.now = local(2026, 11, 25)
    bad(local(2026, 11, 24))  # deadline 1 December: not yet counted
    past = bad(local(2026, 11, 2))  # deadline 9 November: counted, not on time
    session.commit()
    del overdue, past

    october = one(indicators_of(session, ctx, "2026-10"))
    assert october["bad_reviews"] == 3
    assert october["bad_reviews_rectified_on_time"] == pytest.approx(1 / 3, abs=1e-4)
    assert october["denominators"]["bad_reviews_rectified_on_time"] == 3
    november = one(indicators_of(session, ctx, "2026-11"))
    assert november["bad_reviews"] == 2
    assert november["bad_reviews_rectified_on_time"] == 0.0
    assert november["denominators"]["bad_reviews_rectified_on_time"] == 1


# --- tickets ---------------------------------------------------------------------------------


def handled_ticket(session, ctx, county, received, *, department="zjj", service=None, **steps):
    """File, assign and optionally start, reply, close and answer a ticket at given moments."""
    admin = county["admin"]
    ticket = make_ticket(session, ctx, citizen=county["citizen"], service=service, at=received)
    tickets.assign(session, ctx, ticket, department, actor=admin, at=received)
    if "started" in steps:
        tickets.start(session, ctx, ticket, actor=admin, at=steps["started"])
    if "replied" in steps:
        tickets.reply(session, ctx, ticket, actor=admin, text="已处理完毕", at=steps["replied"])
    if "closed" in steps:
        tickets.close(session, ctx, ticket, actor=admin, at=steps["closed"])
    if "verdict" in steps:
        resolved, satisfaction, at = steps["verdict"]
        tickets.record_verdict(
            session,
            ctx,
            ticket,
            actor=county["citizen_actor"],
            resolved=resolved,
            satisfaction=satisfaction,
            at=at,
        )
    return ticket


@pytest.fixture
def roomy_ctx(settings, clock):
    """Minimum denominator 1 and no daily complaint limit for the one test citizen."""
    settings = with_minimum(settings, 1)
    settings = settings.model_copy(
        update={"tickets": settings.tickets.model_copy(update={"daily_limit_per_citizen": 1000})}
    )
    return ServiceContext.from_settings(settings, analyzer=None, clock=clock)


def test_response_rate_and_median_first_reply(session, roomy_ctx, clock, county):
    ctx = roomy_ctx
    clock.now = local(2026, 11, 25, 12)
    # Received Monday 12 October 09:00: the response window ends Tuesday 13 October.
    monday = local(2026, 10, 12, 9)
    handled_ticket(
        session,
        ctx,
        county,
        monday,
        started=monday + timedelta(hours=1),
        replied=monday + timedelta(hours=2),
    )
    handled_ticket(session, ctx, county, monday, started=local(2026, 10, 13, 23, 59))
    handled_ticket(
        session,
        ctx,
        county,
        monday,
        started=local(2026, 10, 14, 0, 1),
        replied=local(2026, 10, 14, 3),
    )
    handled_ticket(session, ctx, county, monday)  # never answered: window passed, not on time
    handled_ticket(
        session,
        ctx,
        county,
        monday,
        started=monday + timedelta(hours=4),
        replied=monday + timedelta(hours=4),
    )
    # Received Wednesday 25 November, not answered yet: still inside its window, left out.
    handled_ticket(session, ctx, county, local(2026, 11, 25, 9))
    session.commit()

    october = one(indicators_of(session, ctx, "2026-10"))
    assert october["tickets"] == 5
    assert october["response_rate"] == pytest.approx(3 / 5)
    assert october["denominators"]["response_rate"] == 5
    # Replies after 2, 42 and 4 hours: the median of three.
    assert october["median_first_reply_hours"] == pytest.approx(4.0)
    assert october["denominators"]["median_first_reply_hours"] == 3
    november = one(indicators_of(session, ctx, "2026-11"))
    assert november["tickets"] == 1
    assert november["response_rate"] is None and "response_rate" in november["insufficient"]


def test_on_time_closure_with_extensions_and_a_reopen(session, roomy_ctx, clock, county):
    ctx, admin = roomy_ctx, county["admin"]
    clock.now = local(2026, 12, 20)
    received = local(2026, 9, 21, 9)  # due 15 working days later, after the October holiday
    first = handled_ticket(session, ctx, county, received)
    due = first.due_date
    assert due.month == 10
    # 1: closed at 23:00 Beijing on its due date: on time.
    tickets.start(session, ctx, first, actor=admin, at=received)
    tickets.reply(session, ctx, first, actor=admin, text="已处理", at=received)
    tickets.close(
        session,
        ctx,
        first,
        actor=admin,
        at=datetime.combine(due, datetime.min.time(), BJ) + timedelta(hours=23),
    )
    # 2: closed the morning after: late.
    late = handled_ticket(
        session,
        ctx,
        county,
        received,
        started=received,
        replied=received,
        closed=datetime.combine(due + timedelta(days=1), datetime.min.time(), BJ)
        + timedelta(hours=9),
    )
    # 3: an approved extension moves it out of October (due in November).
    extended = handled_ticket(session, ctx, county, received, started=received)
    request = tickets.request_extension(
        session, ctx, extended, actor=admin, working_days=10, reason="需现场勘查"
    )
    tickets.decide_extension(session, ctx, request, actor=admin, approve=True)
    # 4: a refused extension leaves it due in October; it is still open: not on time.
    refused = handled_ticket(session, ctx, county, received, started=received)
    request = tickets.request_extension(
        session, ctx, refused, actor=admin, working_days=10, reason="需现场勘查"
    )
    tickets.decide_extension(session, ctx, request, actor=admin, approve=False)
    # 5: closed on time, then reopened by "not resolved": not closed, so not on time.
    reopened = handled_ticket(
        session,
        ctx,
        county,
        received,
        started=received,
        replied=received,
        closed=received + timedelta(days=2),
        verdict=(False, 2, received + timedelta(days=3)),
    )
    session.commit()
    assert extended.due_date.month == 11 and refused.due_date == due
    assert reopened.status.value == "in_progress" and late.status.value == "closed"

    october = one(indicators_of(session, ctx, "2026-10"))
    assert october["denominators"]["on_time_closure_rate"] == 4
    assert october["on_time_closure_rate"] == pytest.approx(1 / 4)
    november = one(indicators_of(session, ctx, "2026-11"))
    assert november["denominators"]["on_time_closure_rate"] == 1
    assert november["on_time_closure_rate"] == 0.0


def test_resolution_and_callback_satisfaction_count_each_closure_round(
    session, roomy_ctx, clock, county
):
    ctx, admin = roomy_ctx, county["admin"]
    clock.now = local(2026, 12, 20)
    received = local(2026, 10, 5, 9)
    # Round 1 closed in October, answered "not resolved, 2"; round 2 closed in November,
    # answered "resolved, 5". October counts round 1, November round 2.
    ticket = handled_ticket(
        session,
        ctx,
        county,
        received,
        started=received,
        replied=received,
        closed=local(2026, 10, 20),
        verdict=(False, 2, local(2026, 10, 21)),
    )
    tickets.reply(session, ctx, ticket, actor=admin, text="再次处理", at=local(2026, 11, 2))
    tickets.close(session, ctx, ticket, actor=admin, at=local(2026, 11, 3))
    tickets.record_verdict(
        session,
        ctx,
        ticket,
        actor=county["citizen_actor"],
        resolved=True,
        satisfaction=5,
        at=local(2026, 11, 4),
    )
    # Closed in October: resolved, 4; resolved without a satisfaction answer; no answer at all.
    handled_ticket(
        session,
        ctx,
        county,
        received,
        started=received,
        replied=received,
        closed=local(2026, 10, 22),
        verdict=(True, 4, local(2026, 10, 23)),
    )
    handled_ticket(
        session,
        ctx,
        county,
        received,
        started=received,
        replied=received,
        closed=local(2026, 10, 22),
        verdict=(True, None, local(2026, 10, 23)),
    )
    handled_ticket(
        session,
        ctx,
        county,
        received,
        started=received,
        replied=received,
        closed=local(2026, 10, 31, 23, 59),
    )
    session.commit()

    october = one(indicators_of(session, ctx, "2026-10"))
    assert october["denominators"]["resolution_rate"] == 3
    assert october["resolution_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert october["denominators"]["callback_satisfaction_rate"] == 2
    assert october["callback_satisfaction_rate"] == pytest.approx(0.5)
    november = one(indicators_of(session, ctx, "2026-11"))
    assert (november["resolution_rate"], november["callback_satisfaction_rate"]) == (1.0, 1.0)


def test_negative_share_index_weights_and_services(session, roomy_ctx, clock, county):
    ctx = roomy_ctx
    clock.now = local(2026, 12, 20)
    received = local(2026, 10, 12, 9)
    labels = ["negative", "negative", "neutral", None]
    made = []
    for n, label in enumerate(labels):
        service = county["permit"] if n < 2 else county["housing"]
        ticket = handled_ticket(
            session,
            ctx,
            county,
            received,
            service=service,
            started=received,
            replied=received + timedelta(hours=1),
            closed=received + timedelta(days=1),
            verdict=(n != 3, 5 if n < 3 else 1, received + timedelta(days=2)),
        )
        ticket.sentiment_label = label
        made.append(ticket)
    session.commit()

    row = one(indicators_of(session, ctx, "2026-10"))
    assert row["negative_share"] == pytest.approx(2 / 3, abs=1e-4)  # of the analysed ones
    assert row["denominators"]["negative_share"] == 3
    # response 4/4, resolution 3/4, satisfaction 3/4: 100 × (30·1 + 35·0.75 + 35·0.75) / 100
    assert row["response_rate"] == 1.0
    assert row["index"] == pytest.approx(82.5)
    permit = one(indicators_of(session, ctx, "2026-10", service="permit"))
    assert permit["service"] == "permit" and permit["tickets"] == 2
    assert permit["negative_share"] == 1.0 and permit["index"] == 100.0
    only = indicators_of(session, ctx, "2026-10", department="zjj")
    assert [r["department"] for r in only] == ["zjj"]
    with pytest.raises(ValidationFailed):
        department_indicators(session, ctx, "2026-10", department="rsj", service="permit")


def test_a_period_without_data_gives_zeros_and_nulls(session, ctx, county):
    rows = indicators_of(session, ctx, "2031-W07")
    assert [row["department"] for row in rows] == ["rsj", "zjj"]
    for row in rows:
        assert row["period"] == "2031-W07"
        assert (row["ratings"], row["bad_reviews"], row["tickets"]) == (0, 0, 0)
        for key in indicators.INDICATOR_KEYS:
            if key not in ("ratings", "bad_reviews", "tickets"):
                assert row[key] is None, key
        assert "index" in row["insufficient"]
        assert all(change["significant"] is False for change in row["changes"].values())


@pytest.mark.parametrize(
    ("previous_good", "current_good", "significant"), [(30, 55, True), (30, 36, False)]
)
def test_a_change_is_flagged_only_when_significant(
    session, ctx, county, previous_good, current_good, significant
):
    # 60 ratings a month; the share of 4-5 goes from 30/60 to 55/60 (z ≈ 4.9) or 36/60 (z ≈ 1.1)
    for month, good in ((9, previous_good), (10, current_good)):
        for n in range(60):
            ratings.record_rating(
                session,
                ctx,
                service=county["permit"],
                score=5 if n < good else 3,
                at=local(2026, month, 1 + n % 28, 12),
            )
    session.commit()
    change = one(indicators_of(session, ctx, "2026-10"))["changes"]["satisfaction_rate"]
    assert change["previous"] == 0.5
    assert change["change"] == pytest.approx((current_good - 30) / 60, abs=1e-4)
    assert change["significant"] is significant


def test_two_proportion_z_and_wilson_by_hand():
    # p1 = 0.6 (60/100), p2 = 0.5 (50/100): pooled 0.55, se = sqrt(.55·.45·.02) = 0.070356
    assert indicators.two_proportion_z(60, 100, 50, 100) == pytest.approx(1.4213, abs=1e-4)
    assert indicators.two_proportion_z(0, 40, 0, 40) is None
    assert indicators.wilson_interval(0, 30) == (0.0, pytest.approx(0.1135, abs=1e-4))


@pytest.mark.parametrize(
    "x1, n1, x2, n2, significant",
    [
        # pooled 0.57, se = sqrt(.57·.43·.02) = 0.070014, z = 0.14 / 0.070014 = 2.000
        (64, 100, 50, 100, True),
        # pooled 0.565, se = sqrt(.565·.435·.02) = 0.070111, z = 0.13 / 0.070111 = 1.854
        (63, 100, 50, 100, False),
        # a fall counts as much as a rise: z = -2.000
        (50, 100, 64, 100, True),
        # pooled 0.5, se = sqrt(.25·.05) = 0.111803, z = 0.5 / 0.111803 = 4.472
        (30, 40, 10, 40, True),
        # no variance (all 0 or all 1) and no denominator are never significant
        (0, 40, 0, 40, False),
        (40, 40, 40, 40, False),
        (3, 30, 0, 0, False),
    ],
)
def test_significant_change_by_hand(x1, n1, x2, n2, significant):
    assert indicators.significant_change(x1, n1, x2, n2) is significant


def test_median_of_an_even_count_is_the_mean_of_the_middle_two(session, roomy_ctx, clock, county):
    clock.now = local(2026, 12, 20)
    received = local(2026, 10, 12, 9)
    for hours in (20, 1, 10, 2):
        handled_ticket(session, roomy_ctx, county, received, started=received,
                       replied=received + timedelta(hours=hours))  # fmt: skip
    handled_ticket(session, roomy_ctx, county, received, department="rsj", started=received,
                   replied=received + timedelta(hours=7))  # fmt: skip
    session.commit()
    rows = indicators_of(session, roomy_ctx, "2026-10")
    assert one(rows)["median_first_reply_hours"] == 6.0
    assert one(rows)["denominators"]["median_first_reply_hours"] == 4
    assert one(rows, "rsj")["median_first_reply_hours"] == 7.0


def test_open_follow_ups_of_one_day_with_deadlines_either_side_of_today(
    session, small_ctx, clock, county
):
    # One day's follow-ups normally share a deadline; an import under older rules may not.
    clock.now = local(2026, 11, 25)
    made = [
        ratings.record_rating(
            session, small_ctx, service=county["permit"], score=1, at=local(2026, 11, 20)
        ).follow_up
        for _ in range(3)
    ]
    made[0].deadline = date(2026, 11, 23)  # passed: counted, not on time
    made[1].deadline = date(2026, 11, 24)  # passed
    assert made[2].deadline >= date(2026, 11, 25)  # still in time: left out
    session.commit()
    row = one(indicators_of(session, small_ctx, "2026-11"))
    assert row["denominators"]["bad_reviews_rectified_on_time"] == 2
    assert row["bad_reviews_rectified_on_time"] == 0.0
