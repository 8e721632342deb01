"""Online backup of the SQLite database: a consistent copy taken while the site keeps serving.

sqlite3's backup API copies the database page by page inside one read transaction. Under WAL a
reader never blocks the writers, so the bot and the web keep writing while the copy is taken;
the copy holds exactly what was committed when it started. PostgreSQL is backed up with its
own tools (pg_dump), which the README describes.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import make_url

from minyi.config import Settings
from minyi.db import utcnow
from minyi.errors import NotFound, ValidationFailed

BACKUP_DIRECTORY = "backups"
# What a person checks first in a backup: the reference data and what citizens sent.
MAIN_TABLES = (
    "departments",
    "services",
    "outlets",
    "staff_users",
    "citizens",
    "ratings",
    "tickets",
    "ticket_events",
    "outbox",
)


@dataclass(frozen=True)
class BackupReport:
    """Where the copy went, how big it is, what the integrity check said, rows per main table."""

    path: Path
    size_bytes: int
    integrity: str
    row_counts: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        counts = ", ".join(f"{table} {count:,}" for table, count in self.row_counts.items())
        return "\n".join(
            [
                f"备份完成 / backup written: {self.path}",
                f"大小 / size: {_human_size(self.size_bytes)} ({self.size_bytes:,} bytes)",
                f"完整性检查 / integrity check: {self.integrity}",
                f"行数 / rows: {counts}",
            ]
        )


def backup_database(
    settings: Settings, output: Path | None = None, *, now: datetime | None = None
) -> BackupReport:
    """Copy the configured SQLite database to `output` (default: a timestamped file beside it)."""
    source = sqlite_database_path(settings.database.url)
    if output is None:
        moment = (now or utcnow()).astimezone(ZoneInfo(settings.calendar.timezone))
        output = source.parent / BACKUP_DIRECTORY / f"minyi-{moment:%Y%m%d-%H%M%S}.db"
    output = output.resolve()
    if output == source:
        raise ValidationFailed(
            "备份文件不能是数据库本身", "the backup file cannot be the database itself"
        )
    timeout_seconds = settings.database.sqlite_busy_timeout_ms / 1000
    output.parent.mkdir(parents=True, exist_ok=True)
    _reserve(output)
    try:
        _copy(source, output, timeout_seconds)
    except BaseException as exc:
        output.unlink(missing_ok=True)
        if isinstance(exc, sqlite3.Error):
            raise ValidationFailed(
                f"无法备份 {source}：{exc}", f"cannot back up {source}: {exc}"
            ) from None
        raise
    return _inspect(output)


def sqlite_database_path(url: str) -> Path:
    """The absolute path of the SQLite file named by `url`; refuses anything else."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        raise ValidationFailed(
            "minyi backup 只备份 SQLite 数据库；PostgreSQL 请用 pg_dump 备份，例如"
            " pg_dump --format=custom --file=minyi.dump <数据库URL>（恢复用 pg_restore，"
            "见 README「Backups」一节）",
            "minyi backup copies SQLite databases only; back up PostgreSQL with pg_dump, e.g."
            " pg_dump --format=custom --file=minyi.dump <database URL> (restore with"
            " pg_restore; see the README, Backups)",
        )
    if backend != "sqlite":
        raise ValidationFailed(
            f"minyi backup 只备份 SQLite 数据库，不支持 {backend}",
            f"minyi backup copies SQLite databases only, not {backend}",
        )
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        raise ValidationFailed(
            "内存数据库随进程消失，无法备份", "an in-memory database cannot be backed up"
        )
    path = Path(database).resolve()
    if not path.is_file():
        raise NotFound(
            f"数据库文件不存在：{path}（请先运行 minyi init，或检查 [database] url）",
            f"no database file at {path} (run minyi init first, or check [database] url)",
        )
    return path


def _reserve(output: Path) -> None:
    # O_EXCL: an existing file is refused even if it appears between a check and the copy.
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ValidationFailed(
            f"备份文件已存在，不会覆盖：{output}",
            f"the backup file already exists and is not overwritten: {output}",
        ) from None
    os.close(fd)


def _copy(source: Path, output: Path, timeout_seconds: float) -> None:
    src = sqlite3.connect(source, timeout=timeout_seconds)
    try:
        dst = sqlite3.connect(output)
        try:
            # All pages in one step: a stepwise copy restarts whenever another connection
            # writes, and may never finish on a busy site; one step is one WAL snapshot.
            src.backup(dst)
            # The copy is one self-contained file, without -wal/-shm beside it.
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()


def _inspect(output: Path) -> BackupReport:
    # Read-only: checking the copy must not change it.
    copy = sqlite3.connect(f"{output.as_uri()}?mode=ro", uri=True)
    try:
        problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
        present = {
            row[0] for row in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        row_counts = {
            table: copy.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            for table in MAIN_TABLES
            if table in present
        }
    finally:
        copy.close()
    if problems != ["ok"]:
        # Kept, not deleted: when the database itself is damaged this copy may be all there is.
        raise ValidationFailed(
            f"备份副本未通过完整性检查（已保留以便检查：{output}）：{'; '.join(problems[:5])}",
            f"the copy failed the integrity check (kept for inspection: {output}):"
            f" {'; '.join(problems[:5])}",
        )
    return BackupReport(output, output.stat().st_size, "ok", row_counts)


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
