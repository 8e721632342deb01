"""Concurrent writers against the core, on SQLite and PostgreSQL: how many writes fail?

    python bench/concurrency.py                       # SQLite file in a temp dir
    python bench/concurrency.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/concurrency.py --threads 8 --per-thread 25

Three scenarios, each from N threads at once, every unit of work in its own
`session_factory.begin()` as the adapters do:
- first contact + complaint: get_or_create_citizen (a new citizen) + file_ticket
- plain ratings: record_rating
- double submit: every thread submits the same (channel, source_ref) rating and ticket
Prints failures, distinct ticket numbers and rows per source_ref; the target is 0 failures,
all numbers distinct and exactly one row per source_ref. On PostgreSQL the script works in a
schema of its own, dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from private_db import private_engine  # noqa: E402

from minyi.config import load_settings  # noqa: E402
from minyi.db import make_session_factory  # noqa: E402
from minyi.migrate import upgrade  # noqa: E402
from minyi.models import Channel, Rating, Ticket  # noqa: E402
from minyi.services import catalog, citizens, ratings, tickets  # noqa: E402
from minyi.services.context import ServiceContext  # noqa: E402


def run_threads(threads: int, work) -> tuple[int, list[str], float]:
    """Run work(thread_no) in `threads` threads released together; (failures, errors, seconds)."""
    barrier = threading.Barrier(threads)
    failures: list[str] = []
    lock = threading.Lock()

    def target(n: int) -> None:
        barrier.wait()
        for error in work(n):
            with lock:
                failures.append(error)

    pool = [threading.Thread(target=target, args=(n,)) for n in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return len(failures), failures, time.perf_counter() - started


def attempt(unit) -> str | None:
    try:
        unit()
    except Exception as exc:  # noqa: BLE001  (counting every failure is the point)
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: an SQLite file in a temp dir)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--per-thread", type=int, default=25)
    args = parser.parse_args()

    for name in [n for n in os.environ if n.startswith("MINYI_")]:
        del os.environ[name]
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{tmp}/bench.db"
        settings = load_settings(database={"url": url})
        with private_engine(settings, url, "bench_concurrency") as engine:
            upgrade(engine)
            factory = make_session_factory(engine)
            ctx = ServiceContext.from_settings(settings, analyzer=None)
            with factory.begin() as session:
                department = catalog.create_department(session, code="bench", name="测试部门")
                catalog.create_service(session, department=department, code="svc", name="测试事项")
            report(engine.url.get_backend_name(), args, factory, ctx)


def report(backend: str, args, factory, ctx) -> None:
    n, per = args.threads, args.per_thread
    print(f"backend: {backend}; {n} threads x {per} units each")

    def complaints(thread: int):
        for i in range(per):

            def unit(i=i):
                with factory.begin() as session:
                    citizen = citizens.get_or_create_citizen(
                        session, channel=Channel.TELEGRAM, external_id=f"{thread}-{i}"
                    )
                    tickets.file_ticket(
                        session,
                        ctx,
                        text="小区门口的路灯坏了一个多月了，请尽快修理。",
                        channel=Channel.TELEGRAM,
                        citizen=citizen,
                    )

            error = attempt(unit)
            if error:
                yield error

    failed, errors, seconds = run_threads(n, complaints)
    with factory() as session:
        numbers = session.scalars(select(Ticket.number)).all()
    print(
        f"first contact + complaint: {failed} of {n * per} failed, {len(numbers)} stored, "
        f"{len(set(numbers))} distinct numbers, {seconds:.2f} s"
        + (f"; e.g. {Counter(errors).most_common(1)[0][0]}" if errors else "")
    )

    def plain_ratings(thread: int):
        for i in range(per):

            def unit(i=i):
                with factory.begin() as session:
                    ratings.record_rating(
                        session, ctx, service="svc", score=1 + (thread + i) % 5, channel="web"
                    )

            error = attempt(unit)
            if error:
                yield error

    failed, errors, seconds = run_threads(n, plain_ratings)
    print(
        f"plain ratings: {failed} of {n * per} failed, {seconds:.2f} s"
        + (f"; e.g. {Counter(errors).most_common(1)[0][0]}" if errors else "")
    )

    def double_submits(thread: int):
        for i in range(per):
            ref = f"form-{i}"

            def rating_unit(ref=ref):
                with factory.begin() as session:
                    ratings.record_rating(
                        session, ctx, service="svc", score=4, channel="web", source_ref=ref
                    )

            def ticket_unit(ref=ref):
                with factory.begin() as session:
                    tickets.file_ticket(
                        session,
                        ctx,
                        text="公交站牌被撞坏了，请尽快维修。",
                        channel="web",
                        source_ref=ref,
                    )

            for unit in (rating_unit, ticket_unit):
                error = attempt(unit)
                if error:
                    yield error

    failed, errors, seconds = run_threads(n, double_submits)
    with factory() as session:
        per_rating_ref = session.execute(
            select(Rating.source_ref, func.count())
            .where(Rating.source_ref.is_not(None))
            .group_by(Rating.source_ref)
        ).all()
        per_ticket_ref = session.execute(
            select(Ticket.source_ref, func.count())
            .where(Ticket.source_ref.is_not(None))
            .group_by(Ticket.source_ref)
        ).all()
    worst = max([c for _, c in per_rating_ref + per_ticket_ref] or [0])
    print(
        f"double submit: {failed} of {2 * n * per} failed; {len(per_rating_ref)} rating refs "
        f"and {len(per_ticket_ref)} ticket refs of {per} each, at most {worst} row per ref, "
        f"{seconds:.2f} s" + (f"; e.g. {Counter(errors).most_common(1)[0][0]}" if errors else "")
    )


if __name__ == "__main__":
    main()
