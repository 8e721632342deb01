"""Engine and session factory built from settings; every SQLite detail lives here."""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Engine,
    MetaData,
    Select,
    Table,
    bindparam,
    cast,
    create_engine,
    event,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from minyi.config import Settings, parse_database_url
from minyi.errors import ConfigInvalid

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


T = TypeVar("T")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(settings: Settings, url: str | None = None) -> Engine:
    """An engine for `url` (default: settings.database.url) with backend-specific tuning."""
    url = parse_database_url(url or settings.database.url)
    kwargs: dict = {"echo": settings.database.echo}
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        kwargs["connect_args"] = {"check_same_thread": False}
        if database in ("", ":memory:"):
            # One shared connection, or each checkout would see its own empty database.
            kwargs["poolclass"] = StaticPool
        else:
            _create_folder(Path(database).parent)
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        synchronous = settings.database.sqlite_synchronous
        _tune_sqlite(engine, settings.database.sqlite_busy_timeout_ms, synchronous)
    return engine


def _create_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        folder = folder.absolute()
        blocker = next(
            (p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder
        )
        raise ConfigInvalid(
            f"无法创建数据库文件夹 {folder}：{blocker} 是文件而不是文件夹",
            f"cannot create the database folder {folder}: {blocker} is a file, not a folder",
        ) from None
    except OSError as exc:  # no permission, read-only file system
        raise ConfigInvalid(
            f"无法创建数据库文件夹 {folder.absolute()}：{exc.strerror}",
            f"cannot create the database folder {folder.absolute()}: {exc.strerror}",
        ) from None


# Execution option of a read-only session factory: its transactions start deferred.
READ_ONLY = "minyi_read_only"


def _tune_sqlite(engine: Engine, busy_timeout_ms: int, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # pysqlite's own BEGIN handling breaks SAVEPOINT and defers locks; we issue BEGIN.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed complaint survives a power cut, not only a crash of the process.
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Under WAL a deferred transaction that has read cannot upgrade to a write lock: it
        # fails at once with "database is locked", whatever busy_timeout says. IMMEDIATE takes
        # the write lock at BEGIN, so a second writer waits (busy_timeout) instead of failing.
        if conn.get_execution_options().get(READ_ONLY):
            # On the driver's connection, as BEGIN IMMEDIATE: through exec_driver_sql this
            # statement cost a bot's button read as much CPU as its SELECT.
            conn.connection.dbapi_connection.execute("BEGIN")
        else:
            begin_immediate(conn.connection.dbapi_connection, busy_timeout_ms)


# How long a writer polls for the write lock itself before SQLite's busy handler takes over.
POLL_SECONDS = 0.2
POLL_INTERVAL = 0.0003


def begin_immediate(dbapi_conn, busy_timeout_ms: int) -> None:
    """BEGIN IMMEDIATE, polling for the write lock every 0.3 ms while another writer holds it.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20 ms... between its tries, so a
    writer that finds the lock taken for 1.5 ms (another web worker's INSERT and fsync)
    sleeps 3 ms, and one that misses twice sleeps 8: that, not the work, made the p99 of
    a rating POST. Polling hands the lock over within a fraction of a millisecond; after
    POLL_SECONDS the rest of busy_timeout is SQLite's to wait, as before.
    """
    dbapi_conn.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + min(POLL_SECONDS, busy_timeout_ms / 1000)
        while True:
            try:
                dbapi_conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    break
            time.sleep(POLL_INTERVAL)
    finally:
        dbapi_conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    dbapi_conn.execute("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker:
    """The one session policy: `with factory.begin() as session:` is one unit of work.

    Write sessions (the default) lock SQLite at BEGIN so concurrent writers queue; a read-only
    factory (pages and reports that never write) starts deferred and never waits for writers.
    """
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind=bind, expire_on_commit=False)


def commit_together(
    session_factory: sessionmaker, group: list, *, optimistic: bool = False
) -> list[tuple[bool, object]]:
    """Run each (work, args, kwargs) of `group` as `work(session, *args, **kwargs)`, all in one
    transaction, each in a savepoint of its own: one that fails is rolled back alone and the
    others still commit. (done, its result or its error) for each, in order; every one
    failed if the commit did. A group of one is a plain transaction of its own.

    `optimistic`: first all without savepoints (through SQLAlchemy a savepoint and its
    release cost a third of a complaint's filing); when one raises, the whole transaction is
    rolled back and the group runs again as above. Only for work that may run twice and a
    caller that keeps no ORM object of the rolled-back session (the bot's filing process).
    """
    if optimistic or len(group) == 1:
        try:
            with session_factory.begin() as session:
                return [(True, work(session, *args, **kwargs)) for work, args, kwargs in group]
        except Exception as error:  # noqa: BLE001 (raised again in the write's caller)
            if len(group) == 1:
                return [(False, error)]
            # One of them failed: each in a savepoint of its own, below.
    outcomes: list[tuple[bool, object]] = []
    try:
        with session_factory.begin() as session:
            for work, args, kwargs in group:
                try:
                    with session.begin_nested():
                        outcomes.append((True, work(session, *args, **kwargs)))
                except Exception as error:  # noqa: BLE001 (raised again in its caller)
                    outcomes.append((False, error))
    except Exception as error:  # noqa: BLE001 (the commit failed: none was stored)
        return [(False, error)] * len(group)
    return outcomes


def insert_or_get(
    session: Session,
    row: T,
    existing: Select | None,
    *,
    before_insert: Callable[[], None] | None = None,
) -> tuple[T, bool]:
    """Insert `row` in a savepoint; if a unique key loses a race, return the row that won.

    Returns (row, created). Two writers submitting the same thing (a double-clicked form, a
    retried bot update) must end with one row and no error on every database: on PostgreSQL the
    second INSERT waits for the first transaction and then violates the unique key.
    `existing` finds the winner; None means the row has no key to race on (a plain insert).
    `before_insert` runs inside the savepoint, so what it draws (a ticket number) is given
    back when the race is lost.
    """
    if existing is None:
        if before_insert is not None:
            before_insert()
        session.add(row)
        session.flush()
        return row, True
    try:
        with session.begin_nested():
            if before_insert is not None:
                before_insert()
            session.add(row)
    except IntegrityError:
        winner = session.scalar(existing)
        if winner is None:  # another constraint failed: not a double submit
            raise
        return winner, False
    return row, True


def insert_unless_taken(
    session: Session,
    table: Table,
    values: dict,
    key: tuple[str, ...],
    *,
    only_if: ColumnElement[bool] | None = None,
):
    """INSERT one row unless a row with the same unique `key` exists; its id, or None.

    The Core counterpart of insert_or_get for a hot path: `INSERT ... ON CONFLICT (key) DO
    NOTHING RETURNING id` is one statement, with no SAVEPOINT and no SELECT first. A row
    another transaction is inserting with that key makes PostgreSQL wait for it; if it
    commits, nothing is inserted here and None says to read the winner. Other constraints
    (a check, a foreign key) still raise. SQL NULLs never conflict, so a row without a key is
    always inserted.

    `only_if`: a condition checked by the same statement (`INSERT ... SELECT ... WHERE`), e.g.
    an EXISTS on another table whose parameters are named after the row's columns
    (bindparam("round_id")); None then also means it did not hold. Pass a constant (a
    module-level condition): the statement is built once for each.
    """
    connection = session.connection()
    names = tuple(values) if only_if is not None else ()
    statement = _insert_unless_taken(connection.dialect.name, table, key, only_if, names)
    return connection.execute(statement, values).scalar_one_or_none()


@functools.cache
def _insert_unless_taken(
    dialect: str,
    table: Table,
    key: tuple[str, ...],
    only_if: ColumnElement[bool] | None,
    names: tuple[str, ...],
):
    # Built once: constructing the statement with .values() each time costs more CPU than
    # SQLite takes to run it.
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    if only_if is not None:

        def value(name: str):
            param = bindparam(name, type_=table.c[name].type)
            # PostgreSQL types the parameters of a SELECT list as text unless told; SQLite
            # must not be told (its CAST to a type it does not know makes a date a number).
            return cast(param, table.c[name].type) if dialect == "postgresql" else param

        statement = statement.from_select(names, select(*map(value, names)).where(only_if))
    return statement.on_conflict_do_nothing(
        index_elements=[table.c[name] for name in key]
    ).returning(table.c.id)
