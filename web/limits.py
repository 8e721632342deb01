"""Per-client limits on public submits and staff sign-in (Flask-Limiter, Redis optional)."""

from __future__ import annotations

from flask import Flask, current_app, request
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

# Staff sign-in: only failed attempts count (a wrong password is a 401, a forged form a 400),
# per client address and per account name, so neither a script nor a guesser who changes
# address gets far; a 429 page says to wait.
LOGIN_ENDPOINT = "staff.login"
LOGIN_LIMITS = {
    "MINYI_LOGIN_CLIENT_LIMIT": ("20 per 15 minutes", get_remote_address),
    "MINYI_LOGIN_ACCOUNT_LIMIT": ("5 per 15 minutes", lambda: _login_account()),
}


def _login_account() -> str:
    username = request.form.get("username", "")
    return "account:" + (username.strip().lower()[:64] if isinstance(username, str) else "")


def _failed_sign_in(response) -> bool:
    return response.status_code in (400, 401)


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
    for key, (default, key_func) in LOGIN_LIMITS.items():
        app.config.setdefault(key, default)
        app.view_functions[LOGIN_ENDPOINT] = limiter.limit(
            _configured(key), key_func=key_func, methods=["POST"], deduct_when=_failed_sign_in
        )(app.view_functions[LOGIN_ENDPOINT])
    return limiter


def _configured(key: str):
    # Read at request time, so a deployment (or a test) can change it after create_app.
    return lambda: current_app.config[key]
