"""One SQLAlchemy session per request, opened on first use and closed on teardown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from minyi.config import Settings
from minyi.services.context import ServiceContext, default_analyzer


def db_session() -> Session:
    """The session of the current request; the view that writes commits it."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["minyi"]["session_factory"]()
    return g.db_session


def read_session() -> Session:
    """A read-only session for the request (SQLite: a deferred BEGIN that never waits)."""
    if "read_session" not in g:
        g.read_session = current_app.extensions["minyi"]["read_session_factory"]()
    return g.read_session


def current_settings() -> Settings:
    return current_app.extensions["minyi"]["settings"]


def service_context() -> ServiceContext:
    """The app's service context, built on first use: its calendar has the imported years."""
    extensions = current_app.extensions["minyi"]
    if extensions.get("context") is None:
        settings = extensions["settings"]
        extensions["context"] = ServiceContext.from_settings(
            settings,
            session_factory=extensions["session_factory"],
            analyzer=LazyAnalyzer() if settings.nlp.enabled else None,
        )
    return extensions["context"]


class LazyAnalyzer:
    """nlp.analyze, imported on the first text: a web worker starts without loading models."""

    def __init__(self) -> None:
        self._analyze: Callable[[str], Any] | None = None

    def __call__(self, text: str) -> Any:
        if self._analyze is None:
            analyze = default_analyzer()
            if analyze is None:
                raise RuntimeError("the nlp package cannot be imported")
            self._analyze = analyze
        return self._analyze(text)


def close_db_session(_exc: BaseException | None = None) -> None:
    # Closing rolls back whatever the request left uncommitted.
    for key in ("db_session", "read_session"):
        session = g.pop(key, None)
        if session is not None:
            session.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_db_session)
