"""Entry points (`web`, `worker`, `serve`), the scheduler lease, and a port already in use."""

from __future__ import annotations

import logging
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import make_url

from minyi import jobs
from minyi.cli import main
from minyi.db import make_engine, make_session_factory
from minyi.lease import (
    AdvisoryLease,
    FileLease,
    ProcessLease,
    advisory_key,
    lock_file_path,
    scheduler_lease,
)
from minyi.runtime import Runtime
from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[1]
POSIX_ONLY = pytest.mark.skipif(os.name != "posix", reason="signals to child processes")
RETRY = 0.05  # seconds between lease attempts in these tests


@pytest.fixture
def sqlite_settings(settings, tmp_path, _sqlite_template):
    """Settings naming a migrated SQLite file, for code that builds its own engine."""
    shutil.copyfile(_sqlite_template, tmp_path / "minyi.db")
    return settings


@pytest.fixture
def overdue_runs(monkeypatch):
    """Counts runs of the scheduled job, per thread name, instead of touching the database."""
    runs: queue.Queue[str] = queue.Queue()

    def report_overdue_tickets() -> int:
        runs.put(threading.current_thread().name)
        return 0

    monkeypatch.setattr(jobs, "report_overdue_tickets", report_overdue_tickets)
    return runs


def leased(settings, engine) -> jobs.LeasedScheduler:
    return jobs.LeasedScheduler(
        settings, make_session_factory(engine), scheduler_lease(engine), retry_seconds=RETRY
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def taken_port() -> socket.socket:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder


class Child:
    """A `minyi` child process whose output lines are collected as they arrive."""

    def __init__(self, code: str, *args: str, database_url: str, cwd: Path) -> None:
        env = dict(
            os.environ,
            MINYI_DATABASE__URL=database_url,
            MINYI_WEB__SECRET_KEY="test-secret-key-for-child-processes",
            PYTHONPATH=str(ROOT),
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._arrived: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._arrived.put(line)
        self._arrived.put(None)

    def wait_for(self, pattern: str, timeout: float = 20) -> re.Match:
        """The first line so far or to come matching `pattern`; fails with the output so far."""
        for line in self.lines:
            if match := re.search(pattern, line):
                return match
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._arrived.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                pytest.fail(f"no line matching {pattern!r} in:\n{''.join(self.lines)}")
            self.lines.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=20)
        self.wait_for_end()
        return code

    def wait_for_end(self) -> None:
        while (line := self._arrived.get(timeout=20)) is not None:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


CLI = "import sys; from minyi.cli import main; sys.argv[0] = 'minyi'; main()"
WORKER = (
    "import logging, sys; from minyi.config import load_settings;"
    " from minyi.runtime import run_worker;"
    " logging.basicConfig(level=logging.INFO, format='%(name)s: %(message)s');"
    " run_worker(load_settings(), lease_retry_seconds=float(sys.argv[1]))"
)


@pytest.fixture
def children():
    started: list[Child] = []
    yield started
    for child in started:
        child.kill()


# -- in-process: which pieces each entry point starts --------------------------------------------


def test_web_only_runtime_serves_http_and_starts_no_scheduler(sqlite_settings, tmp_path):
    runtime = Runtime(sqlite_settings, host="127.0.0.1", port=0, scheduler=False, bot=False)
    url = runtime.start()
    server = threading.Thread(target=runtime.run)
    server.start()
    try:
        with urllib.request.urlopen(url + "api/health", timeout=5) as response:
            assert response.status == 200 and b'"ok"' in response.read()
        assert runtime.scheduler is None and jobs._running is None
        # A web process never even looks at the lease: a worker started later gets it at once.
        lease = FileLease(lock_file_path(str(tmp_path / "minyi.db")))
        assert lease.try_acquire()
        lease.release()
    finally:
        runtime.stop()
        server.join(10)
    assert not server.is_alive()


def _status_link_of_a_web_complaint(base: str) -> str:
    """File a complaint through the served page, as a phone would; the link it shows to keep."""
    import http.cookiejar
    import urllib.parse

    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    page = browser.open(base + "complain", timeout=10).read().decode()
    hidden = r'name="(csrf_token|submission)" type="hidden" value="([^"]+)"'
    fields = dict(re.findall(hidden, page))
    fields["text"] = "小区门口路灯坏了一个多月，晚上走路很危险，请尽快修复。"
    body = urllib.parse.urlencode(fields).encode()
    filed = browser.open(base + "complain", data=body, timeout=30).read().decode()
    return re.search(r"(https?://[^\s<\"]+/t/MY-[0-9-]+\?code=)", filed).group(1)


def test_links_point_at_the_served_port_unless_a_public_address_is_set(sqlite_settings):
    assert "public_base_url" not in sqlite_settings.web.model_fields_set
    runtime = Runtime(sqlite_settings, host="127.0.0.1", port=0, scheduler=False, bot=False)
    url = runtime.start()
    server = threading.Thread(target=runtime.run)
    server.start()
    try:
        assert not url.endswith(":5000/")
        assert _status_link_of_a_web_complaint(url).startswith(url + "t/MY-")
        assert sqlite_settings.web.public_base_url == "http://127.0.0.1:5000"  # caller's copy
    finally:
        runtime.stop()
        server.join(10)
    configured = sqlite_settings.model_copy(deep=True)
    configured.web = configured.web.model_validate({"public_base_url": "http://minyi.example.cn"})
    runtime = Runtime(configured, host="127.0.0.1", port=0, scheduler=False, bot=False)
    url = runtime.start()
    server = threading.Thread(target=runtime.run)
    server.start()
    try:
        assert _status_link_of_a_web_complaint(url).startswith("http://minyi.example.cn/t/MY-")
    finally:
        runtime.stop()
        server.join(10)


def test_worker_runtime_runs_jobs_without_a_web_server(sqlite_settings, overdue_runs):
    runtime = Runtime(sqlite_settings, web=False, bot=False, lease_retry_seconds=RETRY)
    assert runtime.start() is None
    waiting = threading.Thread(target=runtime.run)
    waiting.start()
    try:
        assert runtime.scheduler.running and runtime._server is None
        assert overdue_runs.get(timeout=10)  # the job runs once at start
        assert jobs._running is runtime.scheduler.scheduler
    finally:
        runtime.stop()
        waiting.join(10)
    assert not waiting.is_alive() and not runtime.scheduler.running and jobs._running is None


# -- the lease -----------------------------------------------------------------------------------


def test_two_schedulers_on_one_database_only_one_runs_jobs_then_the_other_takes_over(
    settings, engine, overdue_runs, caplog
):
    first, second = leased(settings, engine), leased(settings, engine)
    with caplog.at_level(logging.INFO, logger="minyi.jobs"):
        first.start()
        second.start()
        try:
            assert first.running and not second.running
            assert overdue_runs.get(timeout=10)
            # The standby has no scheduler at all, so it cannot run a job.
            assert second.scheduler is None
            assert "another scheduler" in caplog.text.lower() and "stands by" in caplog.text
            assert "持有调度租约，本进程待命" in caplog.text
            first.stop()
            assert second.wait_for(running=True, timeout=10)
            assert overdue_runs.get(timeout=10)
            assert "took over from the previous holder" in caplog.text
            assert not first.running and first.scheduler is None
        finally:
            second.stop()
            first.stop()
    assert overdue_runs.empty()  # two runs in all: one per holder, never one per scheduler


def test_standby_logs_once_not_at_every_retry(settings, engine, caplog):
    holder = scheduler_lease(engine)
    assert holder.try_acquire()
    standby = leased(settings, engine)
    try:
        with caplog.at_level(logging.WARNING, logger="minyi.jobs"):
            standby.start()
            assert not standby.wait_for(running=True, timeout=RETRY * 10)
        assert caplog.text.count("stands by") == 1
    finally:
        standby.stop()
        holder.release()
    assert not standby.running


def test_file_lease_is_exclusive_names_its_holder_and_frees_on_release(tmp_path):
    path = lock_file_path(str(tmp_path / "minyi.db"))
    assert path == tmp_path / "minyi.db.scheduler.lock"
    first, second = FileLease(path), FileLease(path)
    assert first.try_acquire() and first.try_acquire()  # again: still held, no error
    assert not second.try_acquire() and not second.is_held()
    assert f"pid {os.getpid()}" in second.holder
    first.release()
    first.release()
    assert not first.is_held()
    assert second.try_acquire()
    second.release()


def test_a_deleted_lock_file_ends_the_lease(tmp_path):
    path = tmp_path / "minyi.db.scheduler.lock"
    first = FileLease(path)
    assert first.try_acquire() and first.is_held()
    path.unlink()  # e.g. someone cleaning up var/ while the worker runs
    second = FileLease(path)
    assert second.try_acquire()  # a new file, a new lock: so the first must let go
    assert not first.is_held()
    second.release()


def test_lock_file_is_found_from_any_working_directory(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    absolute = lock_file_path(str(tmp_path / "minyi.db"))
    monkeypatch.chdir(tmp_path / "sub")
    assert lock_file_path("../minyi.db") == absolute


def test_each_database_gets_its_kind_of_lease(settings, tmp_path):
    engines = {
        url: make_engine(settings, url)
        for url in (
            f"sqlite:///{tmp_path}/minyi.db",
            "sqlite://",
            "postgresql+psycopg://minyi@db.invalid/minyi",  # never connected to here
        )
    }
    try:
        file_lease, memory, advisory = (scheduler_lease(e) for e in engines.values())
    finally:
        for engine in engines.values():
            engine.dispose()
    assert isinstance(file_lease, FileLease)
    assert file_lease.path == tmp_path / "minyi.db.scheduler.lock"
    assert isinstance(advisory, AdvisoryLease) and advisory.key is None
    # An in-memory database is private to its process: nothing to share, always free.
    assert isinstance(memory, ProcessLease) and memory.try_acquire() and memory.is_held()
    memory.release()
    assert not memory.is_held()


@pytest.mark.postgres
def test_advisory_lease_key_depends_on_database_and_schema(settings, _pg_schema):
    same_schema = AdvisoryLease(_pg_schema)
    assert same_schema.try_acquire()
    # Another search_path on the same database is another Minyi: another key. (A schema of its
    # own for this process, so parallel runs on one server never meet on it either.)
    other_url = make_url(PG_URL).update_query_dict(
        {"options": f"-csearch_path=minyi_lease_probe_{os.getpid()}"}
    )
    other = make_engine(settings, other_url.render_as_string(hide_password=False))
    other_schema, same_again = AdvisoryLease(other), AdvisoryLease(_pg_schema)
    try:
        assert other_schema.try_acquire()
        assert other_schema.key != same_schema.key
        assert not same_again.try_acquire() and same_again.key == same_schema.key
        assert same_again.holder.startswith(f"minyi scheduler pid {os.getpid()}")
    finally:
        other_schema.release()
        same_schema.release()
        other.dispose()
    assert same_again.try_acquire()  # released: free again
    same_again.release()
    assert advisory_key("test", "a") != advisory_key("test", "b") != advisory_key("other", "b")
    assert 0 < advisory_key("test", "a") < 2**63


@pytest.mark.postgres
def test_a_lost_lease_connection_stops_the_jobs_and_the_standby_takes_over(
    settings, _pg_schema, overdue_runs, caplog
):
    first, second = leased(settings, _pg_schema), leased(settings, _pg_schema)
    first.start()
    second.start()
    try:
        assert first.running and not second.running
        key = first.lease.key
        admin = make_engine(settings, PG_URL)
        with admin.connect() as conn:
            # What a network cut or a server restart does to the holder's session.
            terminated = conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_locks"
                    " WHERE locktype = 'advisory' AND classid = :high AND objid = :low"
                ),
                {"high": key >> 32, "low": key & 0xFFFFFFFF},
            )
        admin.dispose()
        assert terminated == 1
        with caplog.at_level(logging.ERROR, logger="minyi.jobs"):
            assert first.wait_for(running=False, timeout=30)
        assert "调度租约已丢失" in caplog.text and "lease was lost" in caplog.text
        # Both retry: the standby usually wins, but the old holder, reconnected, may win the
        # race too. Either way exactly one of them runs the jobs again.
        deadline = time.monotonic() + 30
        while not (first.running or second.running) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert first.running != second.running
    finally:
        first.stop()
        second.stop()


# -- real processes ------------------------------------------------------------------------------


@POSIX_ONLY
def test_minyi_web_serves_and_runs_no_scheduler(sqlite_settings, tmp_path, children):
    child = Child(
        CLI,
        "web",
        "--host",
        "127.0.0.1",
        "--port",
        str(free_port()),
        database_url=sqlite_settings.database.url,
        cwd=tmp_path,
    )
    children.append(child)
    url = child.wait_for(r"web only, running at (http://127\.0\.0\.1:\d+/)").group(1)
    with urllib.request.urlopen(url + "api/health", timeout=5) as response:
        assert response.status == 200
    assert child.stop() == 0
    assert "Minyi 已停止 / stopped" in child.output
    assert "Scheduler started" not in child.output and "scheduler lease" not in child.output
    assert not (tmp_path / "minyi.db.scheduler.lock").exists()


@POSIX_ONLY
def test_minyi_worker_runs_the_jobs_until_sigterm(sqlite_settings, tmp_path, children):
    child = Child(CLI, "worker", database_url=sqlite_settings.database.url, cwd=tmp_path)
    children.append(child)
    child.wait_for(r"scheduler worker started \(pid \d+\)")
    child.wait_for(r"holding the scheduler lease \(file lock .*minyi\.db\.scheduler\.lock\)")
    child.wait_for(r"no overdue tickets")  # the job ran against the database
    assert child.stop() == 0
    assert "Minyi 已停止 / stopped" in child.output and "Traceback" not in child.output


@POSIX_ONLY
def test_a_crashed_worker_is_replaced_by_the_standby(sqlite_settings, tmp_path, children):
    url = sqlite_settings.database.url
    first = Child(WORKER, str(RETRY), database_url=url, cwd=tmp_path)
    children.append(first)
    first.wait_for(r"holding the scheduler lease")
    second = Child(WORKER, str(RETRY), database_url=url, cwd=tmp_path)
    children.append(second)
    pid = first.process.pid
    standby = second.wait_for(
        r"Another scheduler \((pid \d+) on [^)]+\) holds the scheduler lease"
    )
    assert standby.group(1) == f"pid {pid}"
    # SIGKILL: no clean shutdown, no release; the kernel frees the lock with the process.
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    second.wait_for(r"took over from the previous holder")
    second.wait_for(r"no overdue tickets")
    assert second.stop() == 0


LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING) ")


@POSIX_ONLY
def test_a_taken_port_is_one_message_and_exit_1(sqlite_settings, tmp_path):
    holder = taken_port()
    port = holder.getsockname()[1]
    try:
        child = Child(
            CLI,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            database_url=sqlite_settings.database.url,
            cwd=tmp_path,
        )
        child.wait_for_end()
        assert child.process.wait(timeout=20) == 1
    finally:
        holder.close()
    # Log records of the start-up checks (e.g. a provisional holiday year) may come first;
    # what the program itself says is the two-language error and nothing else.
    lines = [line for line in child.output.splitlines() if not LOG_RECORD.match(line)]
    assert lines and all(line.startswith(("错误：", "Error: ")) for line in lines), lines
    assert f"端口 {port} 已被占用" in child.output
    assert f"port {port} is already in use" in child.output
    assert "Traceback" not in child.output


def test_web_command_refuses_a_taken_port_before_anything_starts(sqlite_settings, tmp_path):
    holder = taken_port()
    port = holder.getsockname()[1]
    try:
        result = CliRunner().invoke(
            main,
            ["web", "--host", "127.0.0.1", "--port", str(port)],
            env={"MINYI_DATABASE__URL": sqlite_settings.database.url},
        )
    finally:
        holder.close()
    assert result.exit_code == 1
    assert f"端口 {port} 已被占用" in result.output
    assert f"Error: port {port} is already in use on 127.0.0.1" in result.output


def test_serve_with_a_taken_port_starts_no_scheduler(sqlite_settings, tmp_path, overdue_runs):
    from minyi.errors import ConfigInvalid

    holder = taken_port()
    runtime = Runtime(sqlite_settings, host="127.0.0.1", port=holder.getsockname()[1])
    try:
        with pytest.raises(ConfigInvalid, match="already in use"):
            runtime.start()
    finally:
        holder.close()
    assert runtime.scheduler is None and jobs._running is None and overdue_runs.empty()
    lease = FileLease(lock_file_path(str(tmp_path / "minyi.db")))
    assert lease.try_acquire()
    lease.release()


def test_new_commands_have_help():
    for command in ("web", "worker", "backup"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output, command
