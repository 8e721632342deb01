"""The staff readings of the indicators (minyi.services.indicator_reports): intervals against
the county, trends, rising topics; hand-computed numbers, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from minyi.indicators import parse_period
from minyi.models import Role
from minyi.services import indicator_reports as reports
from minyi.services import tickets
from minyi.services.actors import Actor
from tests.builders import make_department, make_staff, make_ticket

BJ = ZoneInfo("Asia/Shanghai")


def row(code, measure, numerator, denominator, value):
    return {
        "department": code,
        "department_name": code.upper(),
        measure: value,
        "numerators": {measure: numerator},
        "denominators": {measure: denominator},
    }


def test_the_interval_plot_compares_whole_intervals_with_the_county():
    rows = [
        row("a", "satisfaction_rate", 95, 100, 0.95),  # Wilson 88.8%-97.8%
        row("b", "satisfaction_rate", 80, 100, 0.80),  # 71.1%-86.7%
        row("c", "satisfaction_rate", 40, 100, 0.40),  # 30.9%-49.8%
        row("d", "satisfaction_rate", 29, 29, None),  # 29 < 30: 样本不足
    ]
    plot = reports.interval_plot(rows, "satisfaction_rate", 30)
    # The county pools every rating, the small sample too: 244/329 = 74.2%.
    assert plot.county.value == pytest.approx(0.7416, abs=1e-4)
    assert [(p.department, p.versus_county) for p in plot.plotted] == [
        ("a", "above"), ("b", "within"), ("c", "below"),
    ]  # fmt: skip
    assert plot.plotted[0].estimate.low == pytest.approx(0.8882, abs=1e-4)
    assert [p.department for p in plot.insufficient] == ["d"]
    assert plot.insufficient[0].estimate.value is None


def test_a_lower_negative_share_is_the_good_side():
    plot = reports.interval_plot(
        [row("a", "negative_share", 5, 100, 0.05), row("b", "negative_share", 60, 100, 0.6)],
        "negative_share",
        30,
    )
    assert plot.higher_is_better is False
    assert [p.versus_county for p in plot.plotted] == ["above", "below"]


def test_trend_periods_and_defaults(ctx, clock):
    clock.now = datetime(2026, 1, 1, 1, tzinfo=UTC)  # 1 January 09:00 in Beijing
    assert reports.last_complete_month(ctx).label == "2025-12"
    assert reports.period_or_default(ctx, "  ").label == "2025-12"
    labels = [p.label for p in reports.trend_periods(parse_period("2026-W02"), 4)]
    assert labels == ["2025-W51", "2025-W52", "2026-W01", "2026-W02"]
    assert reports.is_provisional(parse_period("2026-01"), date(2026, 1, 31))
    assert not reports.is_provisional(parse_period("2026-01"), date(2026, 2, 1))


@pytest.mark.usefixtures("engine")
def test_a_topic_rises_only_when_its_share_rose_significantly(session, ctx):
    department = make_department(session)
    admin = Actor.staff(make_staff(session, Role.ADMIN))
    # September: 5 of 40 about water, October: 20 of 40. z = (0.5 - 0.125) / 0.1036 = 3.62.
    for month, water in ((9, 5), (10, 20)):
        for n in range(40):
            at = datetime(2026, month, 1 + n % 28, 10, tzinfo=BJ)
            topic = "供水" if n < water else "道路"
            text = f"{'小区停水三天了' if n < water else '路面坑洼'}，第{n}号反映，请尽快处理。"
            ticket = make_ticket(session, ctx, text=text, at=at)
            tickets.assign(session, ctx, ticket, department, actor=admin, at=at)
            ticket.topic = topic
    session.commit()
    digest = reports.topic_digest(session, ctx, parse_period("2026-10"), department.id)
    assert digest.tickets == digest.previous_tickets == 40 and digest.enough_to_compare
    assert [(t.topic, t.count, t.previous, t.rising) for t in digest.top] == [
        ("供水", 20, 5, True), ("道路", 20, 35, False),
    ]  # fmt: skip
    assert [t.topic for t in digest.rising] == ["供水"]
    water = digest.top[0]
    assert water.share == 0.5 and water.previous_share == 0.125
    assert "停水" in water.example_text and water.example_number.startswith("MY-")
    # September against August (no complaints): too few to compare, nothing rises.
    september = reports.topic_digest(session, ctx, parse_period("2026-09"), department.id)
    assert not september.enough_to_compare and september.rising == []


@pytest.mark.usefixtures("engine")
def test_the_topic_cache_serves_a_digest_until_its_complaints_change(session, ctx, monkeypatch):
    departments = [make_department(session), make_department(session)]
    admin = Actor.staff(make_staff(session, Role.ADMIN))
    filed = []
    for n in range(6):
        at = datetime(2026, 10, 1 + n, 10, tzinfo=BJ)
        ticket = make_ticket(session, ctx, text=f"小区停水三天了，第{n}号反映。", at=at)
        tickets.assign(session, ctx, ticket, departments[0], actor=admin, at=at)
        ticket.topic = "供水"
        filed.append(ticket)
    session.commit()
    made = []
    original = reports.topic_digest
    monkeypatch.setattr(
        reports, "topic_digest", lambda *args, **kw: made.append(args[3]) or original(*args, **kw)
    )
    cache = reports.TopicCache()
    october, own = parse_period("2026-10"), departments[0].id

    def counts(period=october, **options):
        digest = cache.digest(session, ctx, period, own, **options)
        return [(line.topic, line.count) for line in digest.top]

    assert counts() == [("供水", 6)] and counts() == [("供水", 6)]
    assert len(made) == 1 and (cache.hits, cache.misses) == (1, 1)
    # Other options or another period are other entries.
    assert counts(top=3, with_terms=False) == [("供水", 6)]
    assert counts(parse_period("2026-11")) == []
    assert len(made) == 3
    # A reclassified complaint, a new one, one moved away: each is seen at once.
    filed[0].topic = "道路"
    session.commit()
    assert counts() == [("供水", 5), ("道路", 1)]
    at = datetime(2026, 10, 20, 10, tzinfo=BJ)
    ticket = make_ticket(session, ctx, text="路面坑洼，请尽快处理。", at=at)
    tickets.assign(session, ctx, ticket, departments[0], actor=admin, at=at)
    ticket.topic = "道路"
    session.commit()
    assert counts() == [("供水", 5), ("道路", 2)]
    tickets.reassign(
        session, ctx, filed[1], departments[1], actor=admin, reason="不属于本部门职责"
    )
    session.commit()
    assert counts() == [("供水", 4), ("道路", 2)]
    # A complaint of the previous period counts too (it decides what is rising).
    at = datetime(2026, 9, 20, 10, tzinfo=BJ)
    ticket = make_ticket(session, ctx, text="小区停水。", at=at)
    tickets.assign(session, ctx, ticket, departments[0], actor=admin, at=at)
    session.commit()
    before = len(made)
    assert cache.digest(session, ctx, october, own).previous_tickets == 1
    assert len(made) == before + 1
    # Bounded: the least recently used entry goes first.
    small = reports.TopicCache(size=1)
    small.digest(session, ctx, october, own)
    small.digest(session, ctx, parse_period("2026-09"), own)
    small.digest(session, ctx, october, own)
    assert small.misses == 3 and small.hits == 0
