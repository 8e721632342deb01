"""Per-client limits on the public submits (Flask-Limiter; Redis when `[web] redis_url` is set)."""

from __future__ import annotations

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from minyi.config import Settings

# endpoint -> (app.config key, default, methods limited). Generous: a service hall's Wi-Fi
# puts many citizens behind one address; the limits stop scripts, not people.
LIMITS = {
    "public.rate": ("MINYI_RATING_LIMIT", "30 per minute;600 per day", ["POST"]),
    "public.complain": ("MINYI_COMPLAINT_LIMIT", "10 per minute;100 per day", ["POST"]),
    # Looking a ticket up tries an access code, also by GET: limited on every method.
    "public.ticket": ("MINYI_LOOKUP_LIMIT", "30 per minute;500 per day", None),
    # One response per browser is the engine's rule; this caps a script that clears cookies.
    "surveys.answer": ("MINYI_SURVEY_LIMIT", "30 per minute;600 per day", ["POST"]),
}


def init_app(app: Flask, settings: Settings) -> Limiter:
    """A limiter for this app, wrapped around the endpoints of LIMITS."""
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings.web.redis_url or "memory://",
        key_prefix="minyi",
        default_limits=[],
        headers_enabled=False,
    )
    for endpoint, (key, default, methods) in LIMITS.items():
        app.config.setdefault(key, default)
        view = app.view_functions[endpoint]
        app.view_functions[endpoint] = limiter.limit(_configured(key), methods=methods)(view)
    return limiter


def _configured(key: str):
    # Read at request time, so a deployment (or a test) can change it after create_app.
    return lambda: current_app.config[key]
