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
    with engine.begin() as connection:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def is_empty(engine: Engine) -> bool:
    """True when the database has no Minyi tables yet."""
    return not inspect(engine).has_table("departments")
