"""The Flask adapter: an app factory with one blueprint per audience (public, staff, api)."""

from __future__ import annotations

import logging
import secrets

from flask import Flask
from sqlalchemy.orm import sessionmaker

from minyi.config import Settings, load_settings
from minyi.db import make_engine, make_session_factory
from minyi.services.indicator_reports import TopicCache

log = logging.getLogger(__name__)

# Generated once per process, so every app of this process signs sessions alike.
_process_secret_key: str | None = None


def create_app(
    settings: Settings | None = None, *, session_factory: sessionmaker | None = None
) -> Flask:
    """The web app for `settings`; builds the engine unless a session factory is given."""
    settings = settings or load_settings()
    engine = None
    if session_factory is None:
        engine = make_engine(settings)
        session_factory = make_session_factory(engine)
    # Pages that only read use a deferred transaction, so they never queue behind writers.
    read_session_factory = make_session_factory(session_factory.kw["bind"], read_only=True)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.web.secret_key or _generated_secret_key(),
        JSON_AS_ASCII=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web.public_base_url.startswith("https://"),
        # A photo up to [web] max_upload_bytes plus the form's text; beyond that, a 413 page.
        MAX_CONTENT_LENGTH=settings.web.max_upload_bytes + 256 * 1024,
        # A citizen may take a while over a complaint: the token lives as long as the session.
        WTF_CSRF_TIME_LIMIT=None,
    )
    # Flask's own FLASK_* variables (e.g. FLASK_MINYI_RATING_LIMIT="60 per minute", see
    # web/limits.py) tune the web layer without a settings key.
    app.config.from_prefixed_env()
    app.json.ensure_ascii = False
    app.extensions["minyi"] = {
        "settings": settings,
        "session_factory": session_factory,
        "read_session_factory": read_session_factory,
        # Only set when this factory made the engine; the caller owns an engine it passed in.
        "engine": engine,
        # Department pages' topic analysis, per department and period (see TopicCache).
        "topic_cache": TopicCache(),
    }

    from web import api, database, errors, limits, public, staff, surveys, visitor

    database.init_app(app)
    errors.init_app(app)
    visitor.init_app(app)
    app.register_blueprint(public.bp)
    staff.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(surveys.bp)
    app.extensions["minyi"]["limiter"] = limits.init_app(app, settings)

    @app.context_processor
    def _site_names() -> dict:
        zh, _, en = settings.web.site_name.partition(" / ")
        return {"site_name_zh": zh.strip(), "site_name_en": en.strip()}

    @app.after_request
    def _security_headers(response):
        # Every script, style and font is served by the app itself (no CDN), so 'self' suffices.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
            "form-action 'self'; frame-ancestors 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return app


def _generated_secret_key() -> str:
    global _process_secret_key
    if _process_secret_key is None:
        _process_secret_key = secrets.token_hex(32)
        log.warning(
            "未配置 [web] secret_key，已为本进程生成临时密钥："
            "重启后登录会话失效，多进程部署须配置。"
            " / [web] secret_key is not set; using a random per-process key: sessions end on"
            " restart, and several web workers need a shared key (MINYI_WEB__SECRET_KEY)."
        )
    return _process_secret_key
