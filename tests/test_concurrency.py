"""Several writers at once, as the bot, the web and the worker will be: nothing fails or doubles.

Each unit of work runs in its own `session_factory.begin()`, from threads released together,
on a real SQLite file and on PostgreSQL (the `engine` fixture runs both).
"""

from __future__ import annotations

import shutil
import sqlite3
import threading

import pytest
from sqlalchemy import func, select

from minyi.db import begin_immediate, make_engine, make_session_factory
from minyi.errors import IllegalTransition
from minyi.models import Channel, Citizen, OutboxMessage, Rating, Ticket
from minyi.services import catalog, citizens, ratings, staff, tickets
from minyi.services.actors import Actor

THREADS = 6
PER_THREAD = 8


def run_together(work) -> list[BaseException]:
    """Run work(thread_no) in THREADS threads started at once; the errors they raised."""
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def target(n: int) -> None:
        barrier.wait()
        try:
            work(n)
        except BaseException as exc:  # noqa: BLE001  (collected and asserted on below)
            with lock:
                errors.append(exc)

    pool = [threading.Thread(target=target, args=(n,)) for n in range(THREADS)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(60)
    return errors


@pytest.fixture
def service_code(session_factory):
    with session_factory.begin() as session:
        department = catalog.create_department(session, code="zwfw", name="政务服务中心")
        catalog.create_service(session, department=department, code="zwfw-01", name="综合受理")
    return "zwfw-01"


def test_first_contact_and_complaint_from_many_threads(session_factory, ctx):
    def work(thread: int) -> None:
        for i in range(PER_THREAD):
            with session_factory.begin() as session:
                # Read first (is the citizen known?), then write: the case deferred SQLite
                # transactions lose at once under WAL.
                citizen = citizens.get_or_create_citizen(
                    session, channel=Channel.TELEGRAM, external_id=f"{thread}-{i}"
                )
                tickets.file_ticket(
                    session,
                    ctx,
                    text="路灯坏了一个多月，请尽快修理。",
                    channel="telegram",
                    citizen=citizen,
                )

    assert run_together(work) == []
    with session_factory() as session:
        numbers = session.scalars(select(Ticket.number)).all()
        assert session.scalar(select(func.count()).select_from(Citizen)) == THREADS * PER_THREAD
    assert len(numbers) == len(set(numbers)) == THREADS * PER_THREAD


def test_ratings_from_many_threads(session_factory, ctx, service_code):
    def work(thread: int) -> None:
        for i in range(PER_THREAD):
            with session_factory.begin() as session:
                ratings.record_rating(
                    session, ctx, service=service_code, score=1 + (thread + i) % 5, channel="web"
                )

    assert run_together(work) == []
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Rating)) == THREADS * PER_THREAD


def test_double_submits_store_one_row_and_return_it_to_everyone(
    session_factory, ctx, service_code
):
    seen: dict[str, set[int]] = {"rating": set(), "ticket": set(), "citizen": set()}
    lock = threading.Lock()

    def work(thread: int) -> None:
        for i in range(PER_THREAD):
            with session_factory.begin() as session:
                citizen = citizens.get_or_create_citizen(
                    session, channel="web", external_id=f"same-{i}"
                )
                rating = ratings.record_rating(
                    session,
                    ctx,
                    service=service_code,
                    score=2,
                    channel="web",
                    source_ref=f"form-{i}",
                    citizen=citizen,
                )
                ticket = tickets.file_ticket(
                    session,
                    ctx,
                    text="窗口排队两个小时没人管。",
                    channel="web",
                    source_ref=f"form-{i}",
                    citizen=citizen,
                )
                ids = (rating.id, ticket.id, citizen.id)
            with lock:
                for kind, row_id in zip(("rating", "ticket", "citizen"), ids, strict=True):
                    seen[kind].add(row_id)

    assert run_together(work) == []
    with session_factory() as session:
        for model in (Rating, Ticket):
            per_ref = session.execute(
                select(model.source_ref, func.count()).group_by(model.source_ref)
            ).all()
            assert sorted(per_ref) == sorted((f"form-{i}", 1) for i in range(PER_THREAD))
        # Each 差评 opened exactly one follow-up, and every caller got the stored row back.
        assert session.scalar(select(func.count()).select_from(Citizen)) == PER_THREAD
        stored = {
            "rating": set(session.scalars(select(Rating.id))),
            "ticket": set(session.scalars(select(Ticket.id))),
            "citizen": set(session.scalars(select(Citizen.id))),
        }
        # A lost race gives its number back: the day's numbers have no gaps.
        numbers = session.scalars(select(Ticket.number)).all()
    assert seen == stored
    assert sorted(int(number[-4:]) for number in numbers) == list(range(1, PER_THREAD + 1))


@pytest.fixture
def sqlite_factory(settings, tmp_path, _sqlite_template):
    """A write session factory on a migrated SQLite file with one service, code zwfw-01."""
    path = tmp_path / "locks.db"
    shutil.copyfile(_sqlite_template, path)
    engine = make_engine(settings, f"sqlite:///{path}")
    factory = make_session_factory(engine)
    with factory.begin() as session:
        department = catalog.create_department(session, code="zwfw", name="政务服务中心")
        catalog.create_service(session, department=department, code="zwfw-01", name="综合受理")
    yield factory
    engine.dispose()


def test_a_reader_does_not_wait_for_a_writer(sqlite_factory, ctx):
    reader_factory = make_session_factory(sqlite_factory.kw["bind"], read_only=True)
    with sqlite_factory.begin() as writing:
        ratings.record_rating(writing, ctx, service="zwfw-01", score=5)
        # The write lock is held now; a read-only session still reads the committed state.
        with reader_factory.begin() as reading:
            assert reading.scalar(select(func.count()).select_from(Rating)) == 0
    with reader_factory() as reading:
        assert reading.scalar(select(func.count()).select_from(Rating)) == 1


def test_write_sessions_take_the_sqlite_lock_at_begin(sqlite_factory):
    engine = sqlite_factory.kw["bind"]
    with sqlite_factory.begin() as session:
        connection = session.connection()
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        # A second connection cannot start a write transaction while this one is open,
        # although this one has not written anything yet.
        raw = engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA busy_timeout=0")
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                raw.driver_connection.execute("BEGIN IMMEDIATE")
        finally:
            raw.close()


def test_a_writer_waits_for_the_lock_another_connection_holds_then_writes(
    sqlite_factory, ctx, settings
):
    engine = sqlite_factory.kw["bind"]
    holder = engine.raw_connection()
    holder.driver_connection.execute("BEGIN IMMEDIATE")
    released = threading.Timer(0.05, lambda: holder.driver_connection.execute("COMMIT"))
    released.start()
    try:
        # Polls while the other connection holds the lock, then writes once it is free.
        ratings.submit_rating(sqlite_factory, ctx, service="zwfw-01", score=4)
    finally:
        released.join()
        holder.close()
    with sqlite_factory() as session:
        assert session.scalar(select(func.count()).select_from(Rating)) == 1
        timeout = session.connection().exec_driver_sql("PRAGMA busy_timeout").scalar()
        assert timeout == settings.database.sqlite_busy_timeout_ms  # restored after BEGIN


def test_a_writer_gives_up_after_busy_timeout_as_sqlite_would(sqlite_factory, ctx):
    engine = sqlite_factory.kw["bind"]
    holder, waiter = engine.raw_connection(), engine.raw_connection()
    try:
        holder.driver_connection.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            begin_immediate(waiter.driver_connection, busy_timeout_ms=30)
        holder.driver_connection.execute("ROLLBACK")
    finally:
        waiter.close()
        holder.close()


def test_two_staff_accepting_one_ticket_at_once_move_it_once(session_factory, ctx):
    with session_factory.begin() as session:
        department = catalog.create_department(session, code="zjj", name="住建局")
        admin = staff.create_staff_user(
            session, username="boss", password="correct-horse-9", role="admin"
        )
        officer = staff.create_staff_user(
            session,
            username="clerk",
            password="correct-horse-9",
            role="officer",
            department=department,
        )
        ticket = tickets.file_ticket(session, ctx, text="路灯坏了一个多月。", channel="web")
        tickets.assign(session, ctx, ticket, "zjj", actor=Actor.staff(admin))
        number, actors = ticket.number, [Actor.staff(admin), Actor.staff(officer)]
    refused: list[BaseException] = []
    lock = threading.Lock()

    def work(thread: int) -> None:
        try:
            with session_factory.begin() as session:
                found = tickets.get_ticket(session, number, for_update=True)
                tickets.start(session, ctx, found, actor=actors[thread % 2])
        except IllegalTransition as exc:
            with lock:
                refused.append(exc)

    assert run_together(work) == []
    assert len(refused) == THREADS - 1
    with session_factory() as session:
        kinds = [e.kind for e in tickets.get_ticket(session, number).events]
        assert kinds.count("started") == 1
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0  # no citizen
