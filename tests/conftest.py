"""Fixtures: settings -> engine (SQLite, and PostgreSQL when its URL is set) -> sessions -> ctx.

PostgreSQL runs when MINYI_TEST_DATABASE_URL is set (CI sets it); then an unreachable server
fails the run instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from minyi.config import load_settings
from minyi.db import Base, make_engine, make_session_factory
from minyi.migrate import upgrade
from minyi.services.context import ServiceContext

PG_URL = os.environ.get("MINYI_TEST_DATABASE_URL")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pytest_collection_modifyitems(config, items):
    if PG_URL:
        return
    skip = pytest.mark.skip(reason="MINYI_TEST_DATABASE_URL not set (CI sets it)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):
    monkeypatch.setattr("minyi.services.staff.PASSWORD_METHOD", "pbkdf2:sha256:1000")


@pytest.fixture(autouse=True)
def _shipped_nlp_models():
    """Every test starts and ends on the shipped nlp models: a retrained version activated
    under one test's tmp_path must not serve the next test."""
    from nlp.model_store import use_model_dir

    use_model_dir(None)
    yield
    use_model_dir(None)


@pytest.fixture
def settings(tmp_path, monkeypatch):
    """Built-in defaults only: no config.toml or MINYI_* variable of the developer leaks in."""
    for name in list(os.environ):
        if name.startswith("MINYI_") and name != "MINYI_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return load_settings(database={"url": f"sqlite:///{tmp_path}/minyi.db"})


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory):
    """One migrated SQLite file per test session; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    settings = load_settings(database={"url": f"sqlite:///{path}"})
    engine = make_engine(settings)
    upgrade(engine)
    raw = engine.raw_connection()  # outside any transaction, as a checkpoint needs
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_schema():
    """A private, migrated schema on the test PostgreSQL for this pytest worker."""
    if not PG_URL:
        pytest.skip("MINYI_TEST_DATABASE_URL not set")
    # Unique per process: two pytest runs on one server must not drop each other's tables.
    schema = f"minyi_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    settings = load_settings(database={"url": PG_URL})
    admin = make_engine(settings)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001  (fail, never skip, when CI asked for PostgreSQL)
        pytest.fail(f"PostgreSQL at {PG_URL} is required but unreachable: {exc}")
    admin.dispose()
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(settings, url.render_as_string(hide_password=False))
    upgrade(engine)
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def engine(request, settings, tmp_path, _sqlite_template):
    if request.param == "sqlite":
        path = tmp_path / "minyi.db"
        shutil.copyfile(_sqlite_template, path)
        eng = make_engine(settings, f"sqlite:///{path}")
        yield eng
        eng.dispose()
    else:
        eng = request.getfixturevalue("_pg_schema")
        yield eng
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with eng.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def session_factory(engine):
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory):
    with session_factory() as s:
        yield s


class Clock:
    """A settable clock for services: starts on a Wednesday, 10:00 in Beijing."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def ctx(settings, clock):
    """Services without NLP (tests that need routing pass their own analyzer)."""
    return ServiceContext.from_settings(settings, analyzer=None, clock=clock)


# The bot's fixtures (bot_env) live beside its fake Telegram.
from tests.bot_support import bot_env  # noqa: E402, F401

# The staff area's fixtures (web_app, web_client, staff_world) live beside its helpers.
from tests.web_support import staff_world, web_app, web_client  # noqa: E402, F401
