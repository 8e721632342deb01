"""Time every department's indicators for one month over 5,000,000 ratings and 500,000 tickets.

    python bench/indicators.py                    # SQLite file in a temp dir
    python bench/indicators.py --rows 500000      # a tenth of the size while developing
    python bench/indicators.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test

Generates two years of history (ratings with their 差评 follow-ups, tickets with one closure
round each when closed) straight into the tables, then builds the rollup
(`rebuild_rollups`, what `minyi indicators rebuild` does) and prints: the load time of the
base rows, the time to build the rollup, p50/p99 of `department_indicators` for one past
month (all departments, one department, one service), a quarter, and the month just ended
(windows still open; then with fresh writes pending in the stale markers), and p50/p99 of
the staff overview page and of a department's page (through the Flask app, signed in as an
admin): with the topic analysis made on every request (no cache, as before the cache) and
cached, in the same run, and of one service's page. On PostgreSQL the script works in a
schema of its own, dropped at the end. The target: p99 < 50 ms on both databases for all
departments and one month.

Measured on a 2-core machine shared with other helpers (load average 5 to 7 during the
PostgreSQL run, 7 to 10 during the SQLite one), 200 calls per figure, full size
(5,000,000 ratings, 500,000 tickets):

                                                   PostgreSQL 15        SQLite
    load the base rows                             661 s                891 s
    build the rollup                               50 s                 164 s
    2026-10, all departments                       p50 21, p99 30 ms    p50 10, p99 18 ms
    2026-10, one department                        p50 7, p99 14 ms     p50 6, p99 14 ms
    2026-10, one service                           p50 14, p99 24 ms    p50 14, p99 132 ms
    2026-Q3, all departments                       p50 36, p99 92 ms    p50 21, p99 79 ms
    2026-11, all departments (windows open)        p50 25, p99 48 ms    p50 33, p99 59 ms
    overview page 2026-10                          p50 33, p99 70 ms    p50 57, p99 204 ms
    department page, topics on every request       p50 341, p99 742 ms  p50 509, p99 1133 ms
    department page, topics cached                 p50 59, p99 121 ms   p50 96, p99 435 ms
    one service's page, topics cached              p50 163, p99 279 ms  p50 177, p99 484 ms
    2026-11 with 50 fresh ratings pending          p50 113, p99 241 ms  p50 199, p99 368 ms
    2026-10, medians not cached                    p50 64, p99 133 ms   p50 286, p99 782 ms

Before the month level (same machine, load 3 to 9): 2026-10 all departments p50 21, p99
62 ms on PostgreSQL (8 round trips, the period summed from 930 department-days in SQL);
now 4 round trips read 60 month rows. In one session at a tenth of the size on PostgreSQL
(load about 6), the old code against the new: 2026-10 p50 44 -> 13 ms, 2026-Q3 45 -> 17 ms,
2026-11 42 -> 21 ms. The department page's topic cache: 341 -> 59 ms p50 on PostgreSQL,
509 -> 96 ms on SQLite, in the same run each.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from private_db import finish_bulk_load, private_engine, timed  # noqa: E402

from minyi.config import load_settings  # noqa: E402
from minyi.db import make_session_factory  # noqa: E402
from minyi.indicators import (  # noqa: E402
    department_indicators,
    fill_medians,
    rebuild_rollups,
    recent_periods,
)
from minyi.migrate import upgrade  # noqa: E402
from minyi.services import ratings as rating_service  # noqa: E402
from minyi.services.context import ServiceContext  # noqa: E402

DEPARTMENTS = 30
SERVICES_PER_DEPARTMENT = 5
FIRST_DAY = datetime(2024, 12, 1, tzinfo=UTC) - timedelta(hours=8)  # local midnight, Beijing
DAYS = 730
NOW = datetime(2026, 12, 1, 2, tzinfo=UTC)  # 1 December 2026, 10:00 in Beijing
BATCH = 50_000
STAMP = "%Y-%m-%d %H:%M:%S.%f"


def build_catalogue(connection) -> list[tuple[int, int]]:
    """(service id, department id) of the generated departments and services."""
    created = datetime(2024, 1, 1).strftime(STAMP)
    services = []
    for d in range(1, DEPARTMENTS + 1):
        connection.execute(
            text(
                "INSERT INTO departments (id, code, name, active, created_at)"
                " VALUES (:id, :code, :name, true, :at)"
            ),
            {"id": d, "code": f"d{d:02d}", "name": f"部门{d:02d}", "at": created},
        )
        for s in range(SERVICES_PER_DEPARTMENT):
            service_id = d * 100 + s
            connection.execute(
                text(
                    "INSERT INTO services (id, department_id, code, name, active)"
                    " VALUES (:id, :d, :code, :name, true)"
                ),
                {"id": service_id, "d": d, "code": f"s{service_id}", "name": f"事项{service_id}"},
            )
            services.append((service_id, d))
    return services


def rating_rows(count: int, services, rng: random.Random):
    """Batches of (ratings, follow-ups) rows as tuples in the tables' column order."""
    rating_id = follow_up_id = 0
    while rating_id < count:
        ratings, follow_ups = [], []
        for _ in range(min(BATCH, count - rating_id)):
            rating_id += 1
            service, department = rng.choice(services)
            created = FIRST_DAY + timedelta(seconds=rng.randrange(DAYS * 86400))
            score = rng.choices((1, 2, 3, 4, 5), (4, 6, 10, 30, 50))[0]
            excluded = rng.random() < 0.005
            ratings.append(
                (rating_id, service, department, score, "web", excluded, created.strftime(STAMP))
            )
            if score <= 2:
                follow_up_id += 1
                deadline = (created + timedelta(days=7, hours=8)).date()
                done = created + timedelta(hours=rng.randrange(12 * 24))
                if excluded:
                    status, completed = "excluded", None
                elif done < NOW and rng.random() < 0.9:
                    status, completed = "completed", done.strftime(STAMP)
                else:
                    status, completed = "open", None
                follow_ups.append(
                    (
                        follow_up_id, rating_id, department, status, deadline.isoformat(),
                        completed, created.strftime(STAMP),
                    )
                )  # fmt: skip
        yield ratings, follow_ups


def ticket_rows(count: int, services, rng: random.Random):
    """Batches of (tickets, closures) rows as tuples in the tables' column order."""
    ticket_id = 0
    while ticket_id < count:
        tickets, closures = [], []
        for _ in range(min(BATCH, count - ticket_id)):
            ticket_id += 1
            service, department = rng.choice(services)
            received = FIRST_DAY + timedelta(seconds=rng.randrange(DAYS * 86400))
            local_day = (received + timedelta(hours=8)).date()
            response_due = local_day + timedelta(days=1)
            due = local_day + timedelta(days=21)
            responded = received + timedelta(hours=rng.randrange(1, 60))
            replied = responded + timedelta(hours=rng.randrange(1, 200))
            closed = replied + timedelta(hours=rng.randrange(1, 300))
            status = "closed" if closed < NOW else "in_progress"
            label = rng.choices(("negative", "neutral", "positive"), (5, 3, 2))[0]

            def stamp(moment):
                return moment.strftime(STAMP) if moment < NOW else None

            tickets.append(
                (
                    ticket_id, f"B-{ticket_id:08d}", "web", "小区路灯坏了很久没人修", status,
                    department, service, False, label, received.strftime(STAMP),
                    response_due.isoformat(), stamp(responded), due.isoformat(),
                    due.isoformat(), stamp(replied), stamp(replied),
                    stamp(closed), stamp(closed), 0, 0, False, 0, received.strftime(STAMP),
                )
            )  # fmt: skip
            if status == "closed":
                answered = rng.random() < 0.7
                closures.append(
                    (
                        ticket_id, ticket_id, 1, department, due.isoformat(),
                        closed.strftime(STAMP), "bench",
                        (rng.random() < 0.8) if answered else None,
                        rng.choices((1, 2, 3, 4, 5), (1, 1, 2, 4, 6))[0] if answered else None,
                    )
                )  # fmt: skip
        yield tickets, closures


RATING_SQL = (
    "INSERT INTO ratings (id, service_id, department_id, score, channel, excluded, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
FOLLOW_UP_SQL = (
    "INSERT INTO bad_review_follow_ups (id, rating_id, department_id, status, deadline,"
    " completed_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
TICKET_SQL = (
    "INSERT INTO tickets (id, number, channel, text, status, department_id, service_id,"
    " needs_triage, sentiment_label, received_at, response_due_date, first_response_at,"
    " due_date, original_due_date, first_replied_at, last_replied_at, first_closed_at,"
    " last_closed_at, reopen_count, bounce_count, escalated, escalation_count, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
CLOSURE_SQL = (
    "INSERT INTO ticket_closures (id, ticket_id, round, department_id, due_date, closed_at,"
    " closed_by, resolved, satisfaction) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _table_of(sql: str) -> tuple[str, str]:
    table = sql.split()[2]
    columns = sql[sql.index("(") + 1 : sql.index(")")]
    return table, columns


def load(engine, args) -> float:
    """Write the generated base rows; returns the seconds it took."""
    rng = random.Random(7)
    started = time.perf_counter()
    with engine.begin() as connection:
        services = build_catalogue(connection)
    raw = engine.raw_connection()
    try:
        postgres = engine.dialect.name == "postgresql"
        cursor = raw.cursor()

        def write(sql, rows):
            if not rows:
                return
            if postgres:  # COPY is PostgreSQL's bulk path
                table, columns = _table_of(sql)
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(sql, rows)

        if not postgres:
            cursor.execute("BEGIN")
        for ratings, follow_ups in rating_rows(args.rows, services, rng):
            write(RATING_SQL, ratings)
            write(FOLLOW_UP_SQL, follow_ups)
        for tickets, closures in ticket_rows(args.tickets, services, rng):
            write(TICKET_SQL, tickets)
            write(CLOSURE_SQL, closures)
        # COPY gave explicit ids: move the sequences past them for later inserts.
        finish_bulk_load(raw, cursor, postgres=postgres, tables=(
            "departments", "services", "ratings", "bad_review_follow_ups", "tickets",
            "ticket_closures",
        ))  # fmt: skip
    finally:
        raw.close()
    return time.perf_counter() - started



def run(engine, settings, args) -> None:
    upgrade(engine)
    loaded = load(engine, args)
    print(f"load {args.rows:,} ratings + {args.tickets:,} tickets: {loaded:.1f} s")
    ctx = ServiceContext.from_settings(settings, analyzer=None, clock=lambda: NOW)
    writer = make_session_factory(engine)
    started = time.perf_counter()
    with writer.begin() as session:
        report = rebuild_rollups(session, ctx)
    print(f"build rollup ({report.buckets:,} buckets): {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    with writer.begin() as session:
        cached = fill_medians(session, ctx, recent_periods(ctx))
    print(
        f"cache the medians of 13 months, weeks and quarters ({cached} rows):"
        f" {time.perf_counter() - started:.1f} s"
    )

    reader = make_session_factory(engine, read_only=True)

    def query(period, **kwargs):
        def once():
            with reader() as session:
                rows = department_indicators(session, ctx, period, **kwargs)
            assert rows and rows[0]["period"] == period
            return rows

        return once

    rows = query("2026-10")()
    sample = next(row for row in rows if row["department"] == "d01")
    print(
        f"  d01 2026-10: {sample['ratings']} ratings, satisfaction {sample['satisfaction_rate']},"
        f" {sample['tickets']} tickets, index {sample['index']},"
        f" median reply {sample['median_first_reply_hours']} h"
    )
    for label, function in (
        ("2026-10, all departments", query("2026-10")),
        ("2026-10, one department", query("2026-10", department="d07")),
        ("2026-10, one service", query("2026-10", service="s702")),
        ("2026-Q3, all departments", query("2026-Q3")),
        ("2026-11, all departments (pending windows)", query("2026-11")),
    ):
        p50, p99 = timed(function, args.repeat)
        print(f"query {label}: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    for label, function in staff_pages(engine, settings, ctx):
        p50, p99 = timed(function, args.repeat)
        print(f"page {label}: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    # Fresh writes through the services leave stale markers: readers recompute those days.
    with writer.begin() as session:
        for n in range(50):
            rating_service.record_rating(
                session, ctx, service=100 + n % 5, score=1 + n % 5, at=NOW - timedelta(days=n % 20)
            )
    p50, p99 = timed(query("2026-11"), args.repeat)
    print(f"query 2026-11 with 50 fresh ratings pending: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    # A month whose medians are not cached: computed from the tickets on every read.
    with writer.begin() as session:
        session.execute(text("DELETE FROM indicator_medians"))
    p50, p99 = timed(query("2026-10"), args.repeat)
    print(f"query 2026-10, medians not cached: p50 {p50:.1f} ms, p99 {p99:.1f} ms")


def staff_pages(engine, settings, ctx):
    """(label, one request) of the staff indicator pages, through the Flask app as an admin."""
    from minyi.services.staff import create_staff_user
    from web import create_app

    settings.web.secret_key = "bench"
    with make_session_factory(engine).begin() as session:
        create_staff_user(
            session, username="bench-admin", password="bench-password-1", role="admin"
        )
    app = create_app(settings, session_factory=make_session_factory(engine))
    app.config["WTF_CSRF_ENABLED"] = False  # the bench signs in with a plain post
    app.extensions["minyi"]["context"] = ctx
    client = app.test_client()
    signed_in = client.post(
        "/staff/login", data={"username": "bench-admin", "password": "bench-password-1"}
    )
    assert signed_in.status_code == 302, signed_in.status_code

    cache = app.extensions["minyi"]["topic_cache"]

    def page(path, cached=True):
        def once():
            app.extensions["minyi"]["topic_cache"] = cache if cached else None
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)

        return once

    department = "/staff/indicators/departments/d07?period=2026-10"
    return (
        ("overview 2026-10 (30 departments, interval plot)",
         page("/staff/indicators?period=2026-10")),
        ("department d07 2026-10, topics analysed on every request (no cache)",
         page(department, cached=False)),
        ("department d07 2026-10 (12 months of trends, topics cached)", page(department)),
        ("service s702 of d07 2026-10 (trends, topics cached)",
         page(department + "&service=s702")),
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="ratings to generate")
    parser.add_argument("--tickets", type=int, help="tickets (default: rows / 10)")
    parser.add_argument("--repeat", type=int, default=200, help="timed queries per figure")
    parser.add_argument("--url", help="database URL (default: a SQLite file in a temp dir)")
    args = parser.parse_args()
    if args.tickets is None:
        args.tickets = args.rows // 10
    with tempfile.TemporaryDirectory(prefix="minyi-bench-") as tmp:
        url = args.url or f"sqlite:///{tmp}/bench.db"
        settings = load_settings(database={"url": url})
        with private_engine(settings, url, "minyi_bench") as engine:
            run(engine, settings, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
