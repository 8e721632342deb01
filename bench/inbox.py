"""Time the staff inbox over many tickets: the list (filters, search, paging) and a ticket's
page with its similar tickets.

    python bench/inbox.py                     # 500,000 tickets in a SQLite file, temp dir
    python bench/inbox.py --tickets 100000    # smaller while developing
    python bench/inbox.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test

Generates two years of tickets over 30 departments with varied texts (places × problems ×
details, so reworded near-duplicates exist as they do in a county), written straight into
the table, then prints p50/p99 in milliseconds of minyi.services.inbox calls for an officer
(one department) and for an admin (every department). On PostgreSQL the script works in a
schema of its own, dropped at the end.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from private_db import finish_bulk_load, private_engine, timed  # noqa: E402

from minyi.config import load_settings  # noqa: E402
from minyi.db import make_session_factory  # noqa: E402
from minyi.migrate import upgrade  # noqa: E402
from minyi.models import Role, StaffUser, Ticket  # noqa: E402
from minyi.services import inbox  # noqa: E402
from minyi.services.actors import Actor  # noqa: E402
from minyi.services.context import ServiceContext  # noqa: E402

DEPARTMENTS = 30
FIRST_DAY = datetime(2024, 12, 1, tzinfo=UTC) - timedelta(hours=8)
DAYS = 730
NOW = datetime(2026, 12, 1, 2, tzinfo=UTC)  # 1 December 2026, 10:00 in Beijing
BATCH = 50_000
STAMP = "%Y-%m-%d %H:%M:%S.%f"
PLACES = [f"{a}{b}" for a in ("幸福", "建设", "人民", "解放", "和平", "新华", "朝阳", "滨河")
          for b in ("小区", "路", "街", "村", "社区")]  # fmt: skip
PROBLEMS = [
    "路灯坏了很久没人修，晚上出行很不安全",
    "下水道堵塞，污水漫到路面上",
    "工地夜间施工噪音扰民，影响休息",
    "垃圾清运不及时，气味很大",
    "公交车站台破损，下雨天没法等车",
    "养老金到账延迟，老人生活困难",
    "医保报销手续复杂，跑了好几趟",
    "学校门口交通拥堵，孩子上学不安全",
    "农贸市场占道经营，车辆无法通行",
    "自来水水压太低，高楼层经常停水",
    "公司拖欠工资三个月不发",
    "小区电梯经常故障，多次困人",
]
DETAILS = ["请尽快处理", "已经反映过多次", "希望有关部门重视", "附近居民意见很大", "盼复"]
TOPICS = ["城乡建设", "环境保护", "交通运输", "劳动和社会保障", "卫生计生", "商贸旅游"]
TICKET_SQL = (
    "INSERT INTO tickets (id, number, channel, text, status, department_id, needs_triage,"
    " topic, topic_confidence, sentiment_label, received_at, response_due_date, due_date,"
    " original_due_date, reopen_count, bounce_count, escalated, escalation_count, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def ticket_rows(count: int, rng: random.Random):
    """Batches of ticket rows in TICKET_SQL's column order; the latest weeks still open."""
    ticket_id = 0
    step = DAYS * 86400 / count
    while ticket_id < count:
        rows = []
        for _ in range(min(BATCH, count - ticket_id)):
            ticket_id += 1
            # Ids follow the receipt time, as filing gives them.
            received = FIRST_DAY + timedelta(seconds=ticket_id * step + rng.random() * step)
            local_day = (received + timedelta(hours=8)).date()
            age = (NOW - received).days
            status = "closed" if age > 25 else rng.choice(("assigned", "in_progress", "replied"))
            triage = age < 3 and rng.random() < 0.1
            text_ = (
                f"{rng.choice(PLACES)}{rng.randrange(1, 30)}号附近{rng.choice(PROBLEMS)}，"
                f"{rng.choice(DETAILS)}。"
            )
            rows.append(
                (
                    ticket_id, f"MY-{local_day:%Y%m%d}-{ticket_id:07d}",
                    "web", text_, "received" if triage else status,
                    None if triage else rng.randrange(1, DEPARTMENTS + 1), triage,
                    rng.choice(TOPICS), rng.random(),
                    rng.choices(("negative", "neutral", "positive"), (5, 3, 2))[0],
                    received.strftime(STAMP), (local_day + timedelta(days=1)).isoformat(),
                    (local_day + timedelta(days=21)).isoformat(),
                    (local_day + timedelta(days=21)).isoformat(), 0, 0, False, 0,
                    received.strftime(STAMP),
                )
            )  # fmt: skip
        yield rows


def load(engine, count: int) -> float:
    """Write the departments, two staff accounts and `count` tickets; returns the seconds."""
    rng = random.Random(11)
    started = time.perf_counter()
    with engine.begin() as connection:
        for d in range(1, DEPARTMENTS + 1):
            connection.execute(
                text(
                    "INSERT INTO departments (id, code, name, active, created_at)"
                    " VALUES (:id, :code, :name, true, :at)"
                ),
                {"id": d, "code": f"d{d:02d}", "name": f"部门{d:02d}", "at": "2024-01-01"},
            )
        for user_id, role, department in ((1, "admin", None), (2, "officer", 1)):
            connection.execute(
                text(
                    "INSERT INTO staff_users (id, username, display_name, password_hash, role,"
                    " department_id, active, created_at)"
                    " VALUES (:id, :name, :name, 'x', :role, :d, true, '2024-01-01')"
                ),
                {"id": user_id, "name": f"{role}1", "role": role, "d": department},
            )
    raw = engine.raw_connection()
    try:
        postgres = engine.dialect.name == "postgresql"
        cursor = raw.cursor()
        if not postgres:
            cursor.execute("BEGIN")
        columns = TICKET_SQL[TICKET_SQL.index("(") + 1 : TICKET_SQL.index(")")]
        for rows in ticket_rows(count, rng):
            if postgres:
                with cursor.copy(f"COPY tickets ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(TICKET_SQL, rows)
        tables = ("departments", "staff_users", "tickets")
        finish_bulk_load(raw, cursor, postgres=postgres, tables=tables)
    finally:
        raw.close()
    return time.perf_counter() - started



def run(engine, settings, args) -> None:
    upgrade(engine)
    print(f"load {args.tickets:,} tickets: {load(engine, args.tickets):.1f} s")
    ctx = ServiceContext.from_settings(settings, analyzer=None, clock=lambda: NOW)
    reader = make_session_factory(engine, read_only=True)
    with reader() as session:
        users = {u.role: u for u in session.scalars(select(StaffUser))}
        actors = {
            "officer": Actor.staff(users[Role.OFFICER]),
            "admin": Actor.staff(users[Role.ADMIN]),
        }
        # A recent ticket of the officer's department and an old one.
        recent = session.scalar(
            select(Ticket.number)
            .where(Ticket.department_id == 1)
            .order_by(Ticket.id.desc())
            .limit(1)
        )
        old = session.scalar(
            select(Ticket.number).where(Ticket.department_id == 1).order_by(Ticket.id).limit(1)
        )
    filters = inbox.parse_filters
    cases = [
        ("list, first page", {}),
        ("list, page 40", {"page": 40}),
        ("list, overdue or due soon", {"filters": filters({"overdue": "1", "due_soon": "1"})}),
        ("list, status + topic + sentiment", {"filters": filters(
            {"status": "in_progress", "topic": "城乡建设", "sentiment": "negative"})}),
        ("list, search 路灯", {"filters": filters({"q": "路灯"})}),
        ("list, received in June 2026", {"filters": filters(
            {"from": "2026-06-01", "to": "2026-06-30"})}),
    ]  # fmt: skip
    print(f"{'call':<44} {'who':<8} {'p50 ms':>8} {'p99 ms':>8}")
    for name, kwargs in cases:
        for who, actor in actors.items():
            with reader() as session:
                p50, p99 = timed(
                    lambda: inbox.list_tickets(session, ctx, actor=actor, **kwargs), args.repeat
                )
            print(f"{name:<44} {who:<8} {p50:8.1f} {p99:8.1f}")
    with reader() as session:
        p50, p99 = timed(
            lambda: inbox.triage_queue(session, ctx, actor=actors["admin"]), args.repeat
        )
    print(f"{'triage queue':<44} {'admin':<8} {p50:8.1f} {p99:8.1f}")
    for label, number in (("recent", recent), ("two years old", old)):
        for who, actor in actors.items():
            with reader() as session:
                detail = inbox.ticket_detail(session, ctx, number, actor=actor)
                p50, p99 = timed(
                    lambda: inbox.ticket_detail(session, ctx, number, actor=actor), args.repeat
                )
            name = f"ticket page + similar ({label}, {len(detail.similar)} found)"
            print(f"{name:<44} {who:<8} {p50:8.1f} {p99:8.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--url", help="database URL (default: a SQLite file in a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite:///{folder}/bench.db"
        settings = load_settings(database={"url": url})
        with private_engine(settings, url, "bench_inbox") as engine:
            run(engine, settings, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
