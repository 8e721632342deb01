"""The database a bench works in: SQLite as given, or a PostgreSQL schema of its own.

On PostgreSQL the schema is created for the run and dropped at the end, so a bench never
touches anyone's tables (the tests' schemas included).
"""

from __future__ import annotations

import os
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
