"""The web shell (app factory, blueprints, error pages), the scheduler and the embedded runtime."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import types
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import flask
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker

import web
from minyi import jobs
from minyi.errors import ValidationFailed
from minyi.models import Rating, Ticket, TicketStatus
from minyi.runtime import Runtime, start_bot
from minyi.services import ratings
from minyi.services.overview import count_overdue_tickets, site_overview
from tests.builders import make_department, make_service, make_ticket
from tests.web_support import EXTERNAL_URL
from web import create_app

PAGES = ["/", "/citizen", "/staff", "/no-such-page"]


@pytest.fixture
def app(settings, session_factory):
    return create_app(settings, session_factory=session_factory)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def sqlite_settings(settings, tmp_path, _sqlite_template):
    """Settings naming a migrated SQLite file, for code that builds its own engine."""
    shutil.copyfile(_sqlite_template, tmp_path / "minyi.db")
    return settings


# -- pages ---------------------------------------------------------------------------------------


def test_home_page_is_real_and_bilingual(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert 'name="viewport"' in html
    assert "示范县民意平台" in html and "Minyi demo county" in html
    assert "您的意见，我们认真对待" in html and "Your feedback, taken seriously" in html
    assert 'href="/citizen"' in html and "群众入口" in html
    assert 'href="/staff/login"' in html and "工作人员入口" in html
    assert "/static/css/site.css" in html


def test_home_page_shows_live_figures(client, session_factory, ctx):
    with session_factory.begin() as session:
        department = make_department(session)
        make_department(session)
        service = make_service(session, department=department)
        ratings.record_rating(session, ctx, service=service, score=5, at=datetime.now(UTC))
        make_ticket(session, ctx)
    html = client.get("/").get_data(as_text=True)
    figures = dict(re.findall(r"<dt>(\S+) .*?</dt>\s*<dd>(\d+)</dd>", html, re.DOTALL))
    assert figures == {"参与部门": "2", "服务事项": "1", "本月评价": "1", "办理中诉求": "1"}


def test_site_name_comes_from_settings(settings, session_factory):
    settings.web.site_name = "青山县民意平台 / Qingshan County Minyi"
    html = (
        create_app(settings, session_factory=session_factory)
        .test_client()
        .get("/")
        .get_data(as_text=True)
    )
    assert "青山县民意平台" in html and "Qingshan County Minyi" in html


def test_citizen_page_lists_the_actions(client):
    response = client.get("/citizen")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for action in ("评价服务", "投诉建议", "查询进度"):
        assert action in html
    assert "即将上线" not in html  # every card leads to a page that exists
    assert client.get("/citizen/").status_code == 200


def test_staff_area_is_closed_behind_its_guard(app, client):
    # Every staff endpoint passes through the one guard: a view added later cannot forget it.
    app.add_url_rule("/staff/probe", endpoint="staff.probe", view_func=lambda: "secret")
    assert web.staff.require_staff in app.before_request_funcs["staff"]
    for path in ("/staff", "/staff/probe"):
        refused = client.get(path)
        assert refused.status_code == 302
        assert refused.headers["Location"].startswith("/staff/login")
        assert "secret" not in refused.get_data(as_text=True)


def test_static_assets_are_served_and_local(client):
    css = client.get("/static/css/site.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert "http://" not in css.get_data(as_text=True) and "https://" not in css.get_data(
        as_text=True
    )
    assert client.get("/static/favicon.svg").status_code == 200


def test_no_page_loads_anything_from_outside(client):
    for path in PAGES:
        response = client.get(path)
        html = response.get_data(as_text=True)
        assert not EXTERNAL_URL.search(html), path
        for asset in re.findall(r"""(?:src|href)="(/static/[^"]+)\"""", html):
            assert client.get(asset).status_code == 200, asset
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]


# -- errors --------------------------------------------------------------------------------------


def test_404_page_is_chinese_first(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "页面不存在" in html and "Page not found" in html
    assert html.index("页面不存在") < html.index("Page not found")


def test_api_errors_are_json(client):
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json["error"] == "Page not found" and response.json["error_zh"] == "页面不存在"
    assert client.post("/api/health").json["status"] == 405


def test_500_and_domain_errors_render_bilingual_pages(app, client, caplog):
    def boom():
        raise RuntimeError("kaputt")

    def refused():
        raise ValidationFailed("评分须为 1-5", "score must be 1-5")

    app.add_url_rule("/boom", view_func=boom)
    app.add_url_rule("/api/boom", endpoint="api_boom", view_func=boom)
    app.add_url_rule("/refused", view_func=refused)
    with caplog.at_level(logging.ERROR, logger="web.errors"):
        page = client.get("/boom")
    assert page.status_code == 500
    assert "服务器内部错误" in page.get_data(as_text=True) and "kaputt" not in page.get_data(
        as_text=True
    )
    assert "kaputt" in caplog.text
    assert client.get("/api/boom").json["error_zh"] == "服务器内部错误"
    bad = client.get("/refused")
    assert bad.status_code == 400
    assert "评分须为 1-5" in bad.get_data(as_text=True) and "score must be 1-5" in bad.get_data(
        as_text=True
    )


# -- API -----------------------------------------------------------------------------------------


def test_health_reports_the_database(client):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_health_is_503_when_the_database_is_down(settings, tmp_path):
    broken = create_engine(f"sqlite:///{tmp_path}/missing-dir/nested/minyi.db")
    app = create_app(settings, session_factory=sessionmaker(bind=broken))
    response = app.test_client().get("/api/health")
    assert response.status_code == 503
    assert response.json["status"] == "error" and response.json["database"] == "error"
    assert response.json["detail"]
    broken.dispose()


# -- app factory ---------------------------------------------------------------------------------


def test_app_keeps_settings_and_session_factory(app, settings, session_factory):
    assert app.extensions["minyi"]["settings"] is settings
    assert app.extensions["minyi"]["session_factory"] is session_factory


def test_one_session_per_request_closed_on_teardown(settings, engine):
    opened: list[TrackingSession] = []

    class TrackingSession(Session):
        closed = False

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            opened.append(self)

        def close(self):
            self.closed = True
            super().close()

    factory = sessionmaker(bind=engine, class_=TrackingSession, expire_on_commit=False)
    client = create_app(settings, session_factory=factory).test_client()
    client.get("/")
    client.get("/api/health")
    client.get("/citizen")  # reads the open survey rounds for its survey card
    client.get("/lang/en")  # touches no database: opens no session
    assert len(opened) == 3 and all(s.closed for s in opened)


def test_create_app_builds_its_engine_from_settings(sqlite_settings):
    app = create_app(sqlite_settings)
    assert app.test_client().get("/api/health").json["database"] == "ok"
    app.extensions["minyi"]["engine"].dispose()


def test_secret_key_from_settings_or_generated_once_per_process(
    settings, session_factory, monkeypatch, caplog
):
    monkeypatch.setattr(web, "_process_secret_key", None)
    with caplog.at_level(logging.WARNING, logger="web"):
        first = create_app(settings, session_factory=session_factory)
        second = create_app(settings, session_factory=session_factory)
    assert first.secret_key == second.secret_key and len(first.secret_key) >= 32
    assert caplog.text.count("secret_key is not set") == 1
    settings.web.secret_key = "configured-secret"
    assert create_app(settings, session_factory=session_factory).secret_key == "configured-secret"


def test_a_changed_secret_key_signs_the_session_from_the_next_request_on(
    settings, session_factory
):
    """The session's signing serializer is kept per set of keys (web.visitor.SessionCookies):
    a key rotated in the configuration, with the old one as a fallback, is used at once."""
    settings.web.secret_key = "first-secret"
    app = create_app(settings, session_factory=session_factory)

    @app.get("/_visits")
    def visits():
        flask.session["visits"] = flask.session.get("visits", 0) + 1
        return str(flask.session["visits"])

    client = app.test_client()
    assert [client.get("/_visits").text for _ in range(2)] == ["1", "2"]
    app.config.update(SECRET_KEY="second-secret", SECRET_KEY_FALLBACKS=["first-secret"])
    assert client.get("/_visits").text == "3"  # read with the fallback, signed with the new
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert client.get("/_visits").text == "4"
    app.config["SECRET_KEY"] = "third-secret"
    assert client.get("/_visits").text == "1"  # signed with a key no longer accepted


# -- overview service ----------------------------------------------------------------------------


def test_overview_counts_this_month_in_the_county_time_zone(session, ctx):
    service = make_service(session)
    # 2026-11-01 01:00 in Beijing is still October in UTC; 2026-10-31 23:00 in Beijing is not.
    november = ratings.record_rating(
        session, ctx, service=service, score=4, at=datetime(2026, 10, 31, 17, 0, tzinfo=UTC)
    )
    ratings.record_rating(
        session, ctx, service=service, score=4, at=datetime(2026, 10, 31, 15, 0, tzinfo=UTC)
    )
    excluded = ratings.record_rating(
        session, ctx, service=service, score=5, at=datetime(2026, 11, 20, tzinfo=UTC)
    )
    excluded.excluded = True
    open_ticket = make_ticket(session, ctx)
    closed = make_ticket(session, ctx)
    closed.status = TicketStatus.CLOSED
    session.flush()
    assert november.created_at == datetime(2026, 10, 31, 17, 0, tzinfo=UTC)

    figures = site_overview(
        session, timezone="Asia/Shanghai", now=datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    )
    assert figures == {
        "departments": 1,
        "services": 1,
        "ratings_this_month": 1,
        "open_tickets": 1,
        "month": "2026-11",
    }
    assert open_ticket.status != TicketStatus.CLOSED
    assert session.scalar(select(Rating.id).where(Rating.excluded.is_(True))) == excluded.id


def test_count_overdue_tickets(session, ctx):
    late = make_ticket(session, ctx)
    make_ticket(session, ctx)
    closed_late = make_ticket(session, ctx)
    closed_late.status = TicketStatus.CLOSED
    session.flush()
    today = late.due_date  # the second ticket is due today: not overdue yet
    late.due_date = closed_late.due_date = today - timedelta(days=3)
    session.flush()
    assert count_overdue_tickets(session, today=today) == 1
    assert (
        session.scalar(
            select(Ticket.id).where(Ticket.due_date < today, Ticket.status != TicketStatus.CLOSED)
        )
        == late.id
    )


# -- scheduler -----------------------------------------------------------------------------------


def test_build_scheduler_registers_jobs_with_fixed_ids(settings, session_factory):
    scheduler = jobs.build_scheduler(settings, session_factory)
    assert not scheduler.running
    assert [job.id for job in scheduler.get_jobs()] == [
        jobs.REPORT_OVERDUE_JOB_ID,
        jobs.SURVEY_ROUNDS_JOB_ID,
        jobs.SURVEY_INVITATIONS_JOB_ID,
        jobs.SURVEY_TEXTS_JOB_ID,
        jobs.REFRESH_INDICATORS_JOB_ID,
        jobs.WEEKLY_DIGEST_JOB_ID,
    ]
    job = scheduler.get_job(jobs.REPORT_OVERDUE_JOB_ID)
    assert job.func is jobs.report_overdue_tickets and job.args == () and job.kwargs == {}
    assert job.trigger.interval == timedelta(minutes=jobs.REPORT_OVERDUE_MINUTES)
    digest = scheduler.get_job(jobs.WEEKLY_DIGEST_JOB_ID)
    assert digest.func is jobs.weekly_digest and digest.args == ()
    # Monday 08:00 in the county's time zone by default ([indicators] digest_*).
    assert str(digest.trigger) == "cron[day_of_week='mon', hour='8', minute='0']"
    assert str(digest.trigger.timezone) == "Asia/Shanghai"


def test_overdue_job_counts_and_logs(settings, session_factory, ctx, caplog):
    with session_factory.begin() as session:
        ticket = make_ticket(session, ctx)
        ticket.due_date = datetime.now(UTC).date() - timedelta(days=5)
    jobs.build_scheduler(settings, session_factory)
    with caplog.at_level(logging.INFO, logger="minyi.jobs"):
        assert jobs.report_overdue_tickets() == 1
        assert jobs.report_overdue_tickets() == 1  # read-only: running twice changes nothing
    assert "1 open tickets are past their due date" in caplog.text


def test_only_one_running_scheduler_per_process(settings, session_factory):
    first = jobs.build_scheduler(settings, session_factory)
    jobs.start_scheduler(first)
    try:
        with pytest.raises(jobs.SchedulerAlreadyRunning):
            jobs.build_scheduler(settings, session_factory)
        with pytest.raises(jobs.SchedulerAlreadyRunning):
            jobs.start_scheduler(first)
    finally:
        jobs.shutdown_scheduler(first)
    jobs.shutdown_scheduler(first)  # twice is harmless
    second = jobs.build_scheduler(settings, session_factory)
    assert not second.running


# -- runtime -------------------------------------------------------------------------------------


def test_runtime_serves_web_and_scheduler_then_stops(sqlite_settings):
    runtime = Runtime(sqlite_settings, host="127.0.0.1", port=0)
    url = runtime.start()
    server = threading.Thread(target=runtime.run)
    server.start()
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url) and not url.endswith(":0/")
        assert runtime.scheduler.running
        with urllib.request.urlopen(url + "api/health", timeout=5) as response:
            assert response.status == 200 and b'"ok"' in response.read()
        with urllib.request.urlopen(url, timeout=5) as response:
            assert "示范县民意平台" in response.read().decode()
    finally:
        runtime.stop()
        server.join(10)
    assert not server.is_alive()
    assert not runtime.scheduler.running
    runtime.close()  # idempotent


def test_without_a_token_no_bot_starts(settings):
    assert start_bot(settings) is None


def test_bot_package_missing_is_a_warning_not_a_crash(settings, monkeypatch, caplog):
    settings.bot.token = "123:abc"
    monkeypatch.setitem(sys.modules, "bot.app", None)  # makes `import bot.app` fail
    with caplog.at_level(logging.WARNING, logger="minyi.runtime"):
        assert start_bot(settings) is None
    assert "无法加载机器人模块" in caplog.text and "cannot be loaded" in caplog.text


def test_bot_runs_in_its_own_loop_and_is_cancelled_on_stop(settings, monkeypatch):
    started, cancelled = threading.Event(), threading.Event()

    async def run_polling(received_settings):
        import asyncio

        assert received_settings is settings
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    settings.bot.token = "123:abc"
    monkeypatch.setitem(sys.modules, "bot.app", types.SimpleNamespace(run_polling=run_polling))
    thread = start_bot(settings)
    assert started.wait(5)
    thread.stop(timeout=5)
    assert cancelled.is_set() and not thread.is_alive()


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM to a child process is a POSIX test")
def test_serve_prints_the_url_and_stops_on_sigterm(sqlite_settings, tmp_path):
    code = (
        "from minyi.config import load_settings; from minyi.runtime import serve; "
        "serve(load_settings(), host='127.0.0.1', port=0)"
    )
    env = dict(
        os.environ,
        MINYI_DATABASE__URL=sqlite_settings.database.url,
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()
        match = re.fullmatch(r"Minyi 已启动 / running at (http://127\.0\.0\.1:\d+/)\n", line)
        assert match, line + child.stderr.read() if child.poll() is not None else line
        with urllib.request.urlopen(match.group(1), timeout=5) as response:
            assert response.status == 200
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=15)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    assert "Minyi 已停止 / stopped" in out
