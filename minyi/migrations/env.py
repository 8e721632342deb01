"""Alembic environment: the URL comes from Minyi's settings, or from the caller's connection."""

from __future__ import annotations

from alembic import context

from minyi import models  # noqa: F401  (registers every table on Base.metadata)
from minyi.db import Base

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to):
    # The scheduler owns its own table; migrations must never drop it.
    return not (type_ == "table" and name == "apscheduler_jobs")


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from minyi.config import load_settings
        from minyi.db import make_engine

        engine = make_engine(load_settings())
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
