"""The scheduler lease: the right to run the scheduled jobs, held by one process at a time.

Two schedulers on one database (two `minyi worker`, or a worker and a `serve`) would run every
job twice. Whoever holds the lease runs the jobs; the others stand by. No table is needed:

- PostgreSQL: a session-level advisory lock, held on a dedicated connection for as long as the
  scheduler runs. The server releases it when that connection ends, so a crashed worker never
  keeps it; the holder checks the connection and stops its jobs when the lock is gone.
- SQLite file: an exclusive OS lock (flock) on `<database>.scheduler.lock` beside the database;
  the kernel releases it when the process ends, however it ends.
- SQLite in memory: the database is private to this process, so there is nothing to share.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from minyi.errors import ConfigInvalid

log = logging.getLogger(__name__)

LOCK_FILE_SUFFIX = ".scheduler.lock"


class Lease(Protocol):
    """What a scheduler needs from a lease; every method is safe to call at any time."""

    description: str
    holder: str | None  # who held it at the last refused attempt, when known

    def try_acquire(self) -> bool:
        """Take the lease if it is free (True), or leave it to its holder (False)."""

    def is_held(self) -> bool:
        """Whether this process still holds the lease (a lost connection loses it)."""

    def release(self) -> None:
        """Give the lease up; harmless when it is not held."""


class FileLease:
    """An exclusive flock on a file beside the SQLite database, released when the process ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"file lock {path}"
        self.holder: str | None = None
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _lock_file(fd):
            os.close(fd)
            self.holder = self._written_holder()
            return False
        if not self._is_the_file(fd):
            # Deleted or replaced while we locked it: a lock on a file nobody else can find.
            os.close(fd)
            return False
        # Who holds it is only for people reading the logs; the lock itself is what counts.
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        self._fd = fd
        return True

    def is_held(self) -> bool:
        if self._fd is None:
            return False
        if self._is_the_file(self._fd):
            return True
        # Someone deleted the lock file: a new process would lock a new file, so stop here.
        self.release()
        return False

    def _is_the_file(self, fd: int) -> bool:
        try:
            on_disk = os.stat(self.path)
        except FileNotFoundError:
            return False
        held = os.fstat(fd)
        return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)

    def _written_holder(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8").strip() or None
        except (OSError, UnicodeDecodeError):
            return None

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        _unlock_file(fd)
        os.close(fd)


class AdvisoryLease:
    """A PostgreSQL session-level advisory lock on its own connection, kept for the lease's life.

    The key is derived from the server's own names for the database and the schema (not from the
    URL, which two hosts may spell differently), so schedulers of one Minyi database always meet
    on the same key and two Minyi databases or schemas on one server never do.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.description = "PostgreSQL advisory lock"
        self.key: int | None = None
        self.holder: str | None = None
        self._connection: Connection | None = None

    def try_acquire(self) -> bool:
        if self._connection is not None:
            return self.is_held()
        # Autocommit: the connection stays idle outside any transaction for hours, so no
        # idle-in-transaction timeout kills it and it holds no snapshot back from VACUUM.
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            database, schema = connection.execute(
                text(
                    "SELECT current_database(),"
                    " coalesce(current_schema(), current_setting('search_path'))"
                )
            ).one()
            key = self.key = advisory_key(database, schema)
            self.description = f"PostgreSQL advisory lock {key} on {database}.{schema}"
            taken = connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
            if taken:
                # Names the holder in pg_stat_activity, for a standby's log and for the DBA.
                connection.execute(
                    text("SELECT set_config('application_name', :name, false)"),
                    {"name": f"minyi scheduler pid {os.getpid()} on {socket.gethostname()}"[:63]},
                )
            else:
                self.holder = connection.scalar(
                    text(
                        "SELECT a.application_name FROM pg_locks l"
                        " JOIN pg_stat_activity a ON a.pid = l.pid"
                        " WHERE l.locktype = 'advisory' AND l.granted"
                        " AND l.classid = :high AND l.objid = :low AND l.objsubid = 1"
                    ),
                    _key_parts(key),
                )
        except BaseException:
            # Invalidated, not pooled: a connection that may hold the lock must really close.
            connection.invalidate()
            connection.close()
            raise
        if not taken:
            connection.close()
            return False
        self._connection = connection
        return True

    def is_held(self) -> bool:
        connection = self._connection
        if connection is None:
            return False
        try:
            held = connection.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND pid = pg_backend_pid() AND classid = :high AND objid = :low"
                    " AND objsubid = 1"
                ),
                _key_parts(self.key),
            )
        except DBAPIError as exc:
            # The server is gone or ended this session: the lock went with it.
            log.debug("lease connection failed: %s", exc)
            held = 0
        if not held:
            self._drop_connection()
        return bool(held)

    def release(self) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        except DBAPIError as exc:
            log.debug("lease already lost with its connection: %s", exc)
        self._drop_connection()

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            # Never hand a connection that may still hold the lock back to the pool.
            connection.invalidate()
            connection.close()
        except DBAPIError:
            pass


class ProcessLease:
    """For `sqlite://` in memory: no other process can see the database, so the lease is free."""

    description = "in-memory database (no lease needed)"
    holder = None

    def __init__(self) -> None:
        self._held = False

    def try_acquire(self) -> bool:
        self._held = True
        return True

    def is_held(self) -> bool:
        return self._held

    def release(self) -> None:
        self._held = False


def advisory_key(database: str, schema: str) -> int:
    """The advisory lock key of one Minyi database and schema: a stable positive 63-bit integer."""
    digest = hashlib.sha256(f"minyi.scheduler\0{database}\0{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


def _key_parts(key: int) -> dict[str, int]:
    # pg_locks shows a bigint advisory key as two 32-bit halves, with objsubid 1.
    return {"high": key >> 32, "low": key & 0xFFFFFFFF}


def lock_file_path(database: str) -> Path:
    """The lock file of an SQLite database file: `<database>.scheduler.lock`, beside it."""
    path = Path(database).resolve()
    return path.with_name(path.name + LOCK_FILE_SUFFIX)


def scheduler_lease(engine: Engine) -> Lease:
    """The lease that fits `engine`'s database."""
    backend = engine.url.get_backend_name()
    if backend == "sqlite":
        database = engine.url.database or ""
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            return ProcessLease()
        return FileLease(lock_file_path(database))
    if backend == "postgresql":
        return AdvisoryLease(engine)
    raise ConfigInvalid(
        f"调度器只支持 SQLite 和 PostgreSQL 数据库，不支持 {backend}",
        f"the scheduler supports SQLite and PostgreSQL only, not {backend}",
    )


if os.name == "nt":  # pragma: no cover - the suite runs on POSIX
    import msvcrt

    def _lock_file(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock_file(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock_file(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock_file(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
