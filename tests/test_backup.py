"""`minyi backup`: a consistent copy of the SQLite database taken while it is written to."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from minyi.backup import backup_database
from minyi.cli import main
from minyi.db import make_engine, make_session_factory
from minyi.errors import NotFound, ValidationFailed
from minyi.models import Rating
from minyi.services import ratings
from tests.builders import make_service

BATCH = 3  # ratings per writer transaction: a consistent copy holds whole batches only


@pytest.fixture
def database(settings, tmp_path, _sqlite_template) -> Path:
    """The migrated SQLite file that `settings` names."""
    path = tmp_path / "minyi.db"
    shutil.copyfile(_sqlite_template, path)
    return path


def copy_count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as copy:
        return copy.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_backup_while_another_thread_writes_holds_every_committed_batch(
    settings, database, ctx, tmp_path
):
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        service_id = make_service(session).id
    committed = 0
    some_written, stop = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def write() -> None:
        nonlocal committed
        try:
            while not stop.is_set():
                with factory.begin() as session:
                    for _ in range(BATCH):
                        ratings.record_rating(session, ctx, service=service_id, score=4)
                committed += BATCH
                if committed >= 10 * BATCH:
                    some_written.set()
        except BaseException as exc:  # noqa: BLE001  (reported by the test below)
            failures.append(exc)
            some_written.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert some_written.wait(30)
        before = committed
        report = backup_database(settings, tmp_path / "copy.db")
        after = committed
    finally:
        stop.set()
        writer.join(30)
    assert not failures
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Rating)) == committed
    engine.dispose()

    copied = copy_count(report.path, "ratings")
    assert before <= copied <= after + BATCH and copied % BATCH == 0
    assert report.integrity == "ok" and report.row_counts["ratings"] == copied
    with sqlite3.connect(report.path) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    # One self-contained file: nothing beside it is needed to restore it.
    assert sorted(p.name for p in tmp_path.glob("copy.db*")) == ["copy.db"]
    assert report.size_bytes == report.path.stat().st_size > 0


def test_default_output_is_timestamped_in_county_time_beside_the_database(settings, database):
    # 17:00:05 UTC on 30 November is 01:00:05 on 1 December in Beijing.
    report = backup_database(settings, now=datetime(2026, 11, 30, 17, 0, 5, tzinfo=UTC))
    assert report.path == database.parent / "backups" / "minyi-20261201-010005.db"
    assert report.path.is_absolute() and report.path.is_file()
    if os.name == "posix":  # citizens' data: readable by the owner only
        assert stat.S_IMODE(report.path.stat().st_mode) == 0o600
    assert set(report.row_counts) >= {"departments", "services", "ratings", "tickets"}
    assert copy_count(report.path, "alembic_version") == 1


def test_an_existing_file_is_never_overwritten(settings, database, tmp_path):
    target = tmp_path / "precious.db"
    target.write_bytes(b"last week's backup")
    with pytest.raises(ValidationFailed, match="already exists") as refused:
        backup_database(settings, target)
    assert "不会覆盖" in refused.value.message_zh
    assert target.read_bytes() == b"last week's backup"
    with pytest.raises(ValidationFailed, match="cannot be the database itself"):
        backup_database(settings, database)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://minyi@db.invalid/minyi",
        "postgresql://minyi@db.invalid/minyi",
    ],
)
def test_postgresql_is_refused_with_the_pg_dump_advice(settings, url, tmp_path):
    settings.database.url = url
    with pytest.raises(ValidationFailed, match="pg_dump") as refused:
        backup_database(settings, tmp_path / "copy.db")
    assert "pg_dump" in refused.value.message_zh and "pg_restore" in refused.value.message_en
    assert not (tmp_path / "copy.db").exists()


def test_in_memory_and_missing_databases_are_refused(settings, tmp_path):
    settings.database.url = "sqlite://"
    with pytest.raises(ValidationFailed, match="in-memory"):
        backup_database(settings)
    settings.database.url = f"sqlite:///{tmp_path}/nowhere/minyi.db"
    with pytest.raises(NotFound, match="minyi init"):
        backup_database(settings)
    assert not (tmp_path / "nowhere").exists()  # neither a database nor a backup folder made


def test_a_file_that_is_not_a_database_is_refused_and_leaves_no_copy(settings, database, tmp_path):
    database.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ValidationFailed, match="cannot back up"):
        backup_database(settings, tmp_path / "copy.db")
    assert not (tmp_path / "copy.db").exists()


def test_backup_command_prints_path_size_check_and_counts(settings, database, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{database}"\n', encoding="utf-8")
    target = tmp_path / "out" / "copy.db"

    def run(*args):
        return CliRunner().invoke(main, ["--config", str(config), "backup", *args])

    result = run("--output", "out/copy.db")  # relative to the working directory (tmp_path)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"备份完成 / backup written: {target}"
    assert (
        lines[1].startswith("大小 / size: ") and f"({target.stat().st_size:,} bytes)" in lines[1]
    )
    assert lines[2] == "完整性检查 / integrity check: ok"
    assert lines[3].startswith("行数 / rows: departments 0, services 0,")
    again = run("--output", str(target))
    assert again.exit_code == 1 and "已存在" in again.output and "already exists" in again.output

    config.write_text('[database]\nurl = "postgresql+psycopg://minyi@db.invalid/minyi"\n')
    refused = run()
    assert refused.exit_code == 1
    assert "pg_dump" in refused.output and "Traceback" not in refused.output
