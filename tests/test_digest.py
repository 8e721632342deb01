"""The officers' weekly digest: which week, what it says, made once, sent once, shown at home.

The job is called as the scheduler calls it (minyi.jobs.weekly_digest without arguments), with
the test clock in the jobs' context; SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from minyi import jobs
from minyi.errors import ValidationFailed
from minyi.models import AuditEntry, OutboxMessage, Role, StaffDigest, StaffUser
from minyi.services import ratings, staff, tickets
from minyi.services.actors import Actor
from minyi.services.digest import DIGEST_KIND, digest_week
from minyi.services.outbox import Delivery
from tests.builders import make_staff, make_ticket
from tests.web_support import sign_in

BJ = ZoneInfo("Asia/Shanghai")

pytestmark = pytest.mark.usefixtures("engine")
# Pure Python (the week, the bot's words, the checks of a chat id): SQLite suffices.
sqlite_only = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


def local(year, month, day, hour=10, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=BJ)


@sqlite_only
@pytest.mark.parametrize(
    "moment, week",
    [
        (local(2026, 11, 25, 10), "2026-W47"),  # Wednesday: Monday's run was about W47
        (local(2026, 11, 30, 7, 59), "2026-W47"),  # Monday before 08:00: still that run
        (local(2026, 11, 30, 8, 0), "2026-W48"),  # Monday 08:00: the run about W48
        (local(2027, 1, 4, 9), "2026-W53"),  # 2026 has 53 ISO weeks
    ],
)
def test_the_digested_week_is_the_one_before_the_latest_run(ctx, moment, week):
    assert digest_week(ctx, moment).label == week


@sqlite_only
def test_the_run_moment_comes_from_the_settings(ctx, monkeypatch):
    monkeypatch.setattr(ctx.settings.indicators, "digest_weekday", "fri")
    monkeypatch.setattr(ctx.settings.indicators, "digest_time", "17:30")
    assert digest_week(ctx, local(2026, 11, 27, 17, 29)).label == "2026-W46"
    assert digest_week(ctx, local(2026, 11, 27, 17, 30)).label == "2026-W47"


@pytest.fixture
def worker(settings, session_factory, clock, monkeypatch):
    jobs.build_scheduler(settings, session_factory)
    monkeypatch.setitem(jobs._context, "clock", clock)
    clock.now = local(2026, 11, 23, 8, 0)  # Monday 08:00: the digest of W47
    return jobs


@pytest.fixture
def officers(staff_world, session_factory, ctx):
    """hr1 with a Telegram chat, jt1 without, an inactive officer; W47 complaints of `own`."""
    with session_factory.begin() as session:
        hr1 = session.get(StaffUser, staff_world.officer.id)
        staff.set_staff_telegram(session, hr1, "123456789")
        gone = make_staff(session, Role.OFFICER, department=staff_world.own.id, username="old1")
        gone.active = False
        admin = Actor.staff(session.get(StaffUser, staff_world.admin.id))
        for n in range(3):
            at = local(2026, 11, 16 + n)
            ticket = make_ticket(session, ctx, at=at)
            tickets.assign(session, ctx, ticket, staff_world.own.id, actor=admin, at=at)
            ticket.topic = "城乡建设"
        ticket.due_date = date(2026, 11, 20)  # open and past due by the end of the week
        for n in range(4):
            ratings.record_rating(session, ctx, service=staff_world.own_service.id, score=5,
                                  at=local(2026, 11, 17))  # fmt: skip
    return staff_world


def count(session_factory, model, *where):
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_the_job_run_twice_makes_one_digest_per_officer_and_sends_once(
    worker, officers, session_factory
):
    assert worker.weekly_digest() == 2  # hr1 and jt1; the inactive officer gets none
    assert worker.weekly_digest() == 0
    assert count(session_factory, StaffDigest) == 2
    with session_factory() as session:
        messages = list(session.scalars(select(OutboxMessage)))
        assert len(messages) == 1
        message = messages[0]
        assert message.kind == DIGEST_KIND
        assert message.dedupe_key == f"digest:{officers.officer.id}:2026-W47"
        payload = message.payload
        assert payload["week"] == "2026-W47" and payload["department"] == officers.own.code
        assert payload["new_tickets"] == 3 and payload["previous_tickets"] == 0
        assert payload["overdue_open"] == 1
        assert payload["top_topics"][0]["topic"] == "城乡建设"
        assert payload["top_topics"][0]["count"] == 3
        assert payload["ratings"] == 4 and payload["satisfaction"]["rate"] is None  # 4 < 30
        assert payload["home"].endswith("/staff/")
        other = session.scalar(
            select(StaffDigest).where(StaffDigest.staff_user_id == officers.other_officer.id)
        )
        assert other.payload["new_tickets"] == 0


@sqlite_only
def test_the_digests_are_worked_out_while_another_writer_holds_the_lock(
    worker, officers, session_factory, ctx, engine
):
    # The topic analysis takes seconds on a real county; it must not hold SQLite's one write
    # lock, or a citizen's rating posted meanwhile would wait for it and fail.
    from minyi.db import make_session_factory
    from minyi.services.digest import make_weekly_digests, plan_weekly_digests

    holder = engine.raw_connection()
    try:
        holder.driver_connection.execute("BEGIN IMMEDIATE")  # another writer, mid-transaction
        with make_session_factory(engine, read_only=True)() as session:
            week, payloads = plan_weekly_digests(session, ctx)
    finally:
        holder.driver_connection.execute("ROLLBACK")
        holder.close()
    assert week.label == "2026-W47"
    assert sorted(payloads) == sorted({officers.own.id, officers.other.id})
    assert payloads[officers.own.id]["new_tickets"] == 3
    with session_factory.begin() as session:
        run = make_weekly_digests(session, ctx, week, payloads)
    assert run.created == 2 and count(session_factory, StaffDigest) == 2
    with session_factory() as session:  # nothing left to plan for that week
        assert plan_weekly_digests(session, ctx, week)[1] == {}


def test_a_chat_id_added_later_gets_that_week_once(worker, officers, session_factory):
    worker.weekly_digest()
    with session_factory.begin() as session:
        jt1 = session.get(StaffUser, officers.other_officer.id)
        staff.set_staff_telegram(session, jt1, "-1001234")
    worker.weekly_digest()
    worker.weekly_digest()
    assert count(session_factory, OutboxMessage) == 2
    assert count(session_factory, StaffDigest) == 2


def test_the_officer_sees_the_digest_at_home(worker, officers, web_client, web_app):
    sign_in(web_client, "hr1")
    assert "每周摘要" not in web_client.get("/staff/").get_data(as_text=True)
    worker.weekly_digest()
    html = web_client.get("/staff/").get_data(as_text=True)
    digest = html[html.index("每周摘要 2026-W47") :]
    assert "新收投诉 3 件（前一周 0 件）" in digest
    assert "周末时已超期未办结 1 件" in digest
    assert "样本不足" in digest and "城乡建设 3" in digest
    assert f"/staff/indicators/departments/{officers.own.code}?period=2026-W47" in digest
    admin = web_app.test_client()
    sign_in(admin, "admin1")
    assert "每周摘要" not in admin.get("/staff/").get_data(as_text=True)


@sqlite_only
def test_the_bot_renders_the_digest_escaped_in_the_officers_language():
    from bot.outbox import RENDERERS, render

    assert DIGEST_KIND in RENDERERS
    payload = {
        "week": "2026-W47", "first": "2026-11-16", "last": "2026-11-22",
        "department_name": "县<b>人社局", "new_tickets": 31, "previous_tickets": 20,
        "overdue_open": 2, "ratings": 60,
        "satisfaction": {"rate": 0.9, "previous": 0.7, "change": 0.2, "significant": True},
        "top_topics": [{"topic": "社保", "count": 12}], "rising_topics": [],
        "home": "https://county.example/staff/",
    }  # fmt: skip
    now = datetime(2026, 11, 30, tzinfo=BJ)
    text, markup = render(Delivery(1, DIGEST_KIND, payload, "1", "zh", 0, now), BJ)
    assert markup is None
    assert "县&lt;b&gt;人社局 每周摘要 2026-W47" in text
    assert "新收投诉 31 件（前一周 20 件），已超期未办结 2 件" in text
    assert "满意率 90.0%（60 条评价），较前一周显著上升 20.0 个百分点" in text
    assert "主要问题：社保 12" in text and "占比显著上升" not in text
    english, _ = render(Delivery(1, DIGEST_KIND, payload, "1", "en", 0, now), BJ)
    assert "significantly up 20.0 points" in english


@sqlite_only
def test_a_telegram_chat_id_is_checked_and_audited(session, staff_world):
    user = session.get(StaffUser, staff_world.officer.id)
    for bad in ("abc", "12 34", "1" * 21, True, 1.5):
        with pytest.raises(ValidationFailed):
            staff.set_staff_telegram(session, user, bad)
    assert user.telegram_chat_id is None
    staff.set_staff_telegram(session, user, -100123)
    assert user.telegram_chat_id == "-100123"
    staff.set_staff_telegram(session, user, "")
    assert user.telegram_chat_id is None
    officer = Actor.staff(user)
    with pytest.raises(Exception, match="manage staff accounts"):
        staff.set_staff_telegram(session, user, "1", actor=officer)
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "staff.telegram"))
    assert [entry.after["telegram_chat_id"] for entry in entries] == ["-100123", None]


@sqlite_only
def test_the_cli_sets_and_clears_the_chat(settings, session_factory, staff_world, monkeypatch):
    from minyi.cli import main

    monkeypatch.setenv("MINYI_DATABASE__URL", str(session_factory.kw["bind"].url))
    runner = CliRunner()
    result = runner.invoke(main, ["user", "telegram", "hr1", "4242"])
    assert result.exit_code == 0, result.output
    with session_factory() as session:
        assert session.get(StaffUser, staff_world.officer.id).telegram_chat_id == "4242"
    assert runner.invoke(main, ["user", "telegram", "hr1", "--clear"]).exit_code == 0
    assert runner.invoke(main, ["user", "telegram", "hr1"]).exit_code == 2
    assert runner.invoke(main, ["user", "telegram", "nobody", "1"]).exit_code == 2
    with session_factory() as session:
        assert session.get(StaffUser, staff_world.officer.id).telegram_chat_id is None
