"""Run Alembic migrations from code, so `minyi init` and the tests need no alembic.ini."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("minyi").joinpath("migrations")))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database of `engine` to `revision`."""
    _migrate(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database of `engine` back to `revision` (tests of a migration's way back)."""
    _migrate(engine, command.downgrade, revision)


def _migrate(engine: Engine, step, revision: str) -> None:
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # SQLite alters a table by copying it; with foreign keys on, dropping the old copy
            # fails. The pragma only takes effect outside a transaction, hence the raw call.
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                cfg = alembic_config()
                cfg.attributes["connection"] = connection
                step(cfg, revision)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
                    if broken is not None:
                        raise RuntimeError(f"migration broke a foreign key: {tuple(broken)}")
        finally:
            if sqlite:
                connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")


def is_empty(engine: Engine) -> bool:
    """True when the database has no Minyi tables yet."""
    return not inspect(engine).has_table("departments")
