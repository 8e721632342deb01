"""One SQLAlchemy session per request, opened on first use and closed on teardown."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from minyi.config import Settings
from minyi.services.context import ServiceContext


def db_session() -> Session:
    """The session of the current request; the view that writes commits it."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["minyi"]["session_factory"]()
    return g.db_session


def current_settings() -> Settings:
    return current_app.extensions["minyi"]["settings"]


def service_context() -> ServiceContext:
    """The app's service context, built on first use: its calendar has the imported years."""
    extensions = current_app.extensions["minyi"]
    if extensions.get("context") is None:
        extensions["context"] = ServiceContext.from_settings(
            extensions["settings"], session_factory=extensions["session_factory"]
        )
    return extensions["context"]


def close_db_session(_exc: BaseException | None = None) -> None:
    # Closing rolls back whatever the request left uncommitted.
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_db_session)
