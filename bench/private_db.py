"""The database a bench works in: SQLite as given, or a PostgreSQL schema of its own.

On PostgreSQL the schema is created for the run and dropped at the end, so a bench never
touches anyone's tables (the tests' schemas included).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from minyi.config import Settings
from minyi.db import make_engine


@contextmanager
def private_engine(settings: Settings, url: str, name: str) -> Iterator[Engine]:
    """An engine on `url` (not yet migrated); on PostgreSQL inside a fresh schema `name_PID`."""
    schema = admin = None
    if make_url(url).get_backend_name() == "postgresql":
        schema = f"{name}_{os.getpid()}"
        admin = make_engine(settings, url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        url = url.render_as_string(hide_password=False)
    engine = make_engine(settings, url)
    try:
        yield engine
    finally:
        engine.dispose()
        if admin is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()


def finish_bulk_load(raw, cursor, *, postgres: bool, tables: tuple[str, ...]) -> None:
    """End a raw bulk load: move PostgreSQL's sequences past the explicit ids, then ANALYZE."""
    if postgres:
        for table in tables:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT max(id) FROM {table}))"
            )
        raw.commit()
        raw.driver_connection.autocommit = True
        cursor.execute("VACUUM ANALYZE")
    else:
        cursor.execute("COMMIT")
        cursor.execute("ANALYZE")


def timed(function, repeat: int) -> tuple[float, float]:
    """p50 and p99 in milliseconds of `function` called `repeat` times (after one warm-up)."""
    function()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    return statistics.median(samples), p99
