"""Who is on a public page: their language (remembered in a cookie) and their web identity."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Blueprint, Flask, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from minyi.models import Channel, Citizen
from minyi.services.citizens import get_or_create_citizen

LANGUAGES = ("zh", "en")
LANGUAGE_COOKIE = "minyi_lang"
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600
# The signed session cookie carries this random id: it is the browser's citizen identity.
WEB_ID_KEY = "web_id"

bp = Blueprint("visitor", __name__)


def current_language() -> str:
    """The visitor's language: the remembered choice, else Chinese."""
    if "lang" not in g:
        chosen = request.cookies.get(LANGUAGE_COOKIE)
        g.lang = chosen if chosen in LANGUAGES else "zh"
    return g.lang


def pick(zh: str, en: str) -> str:
    """The text in the visitor's language (templates call it as `t`)."""
    return en if current_language() == "en" else zh


def local_path(target: str | None, *, default: str | None = None) -> str:
    """`target` when it is a path on this site, else `default` (the citizens' menu)."""
    # Only a path on this site: an open redirect would let a phishing link borrow our name.
    fallback = default or url_for("public.citizen")
    if not target or not target.startswith("/") or target.startswith("//"):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return fallback
    return target


@bp.get("/lang/<language>")
def switch_language(language: str):
    """Remember the chosen language and go back to the page the visitor was on."""
    response = redirect(local_path(request.args.get("next")))
    if language in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            language,
            max_age=LANGUAGE_COOKIE_SECONDS,
            httponly=True,
            samesite="Lax",
        )
    return response


def browser_id() -> str:
    """This browser's random id, kept in the signed session cookie (made on first use)."""
    web_id = session.get(WEB_ID_KEY)
    if not isinstance(web_id, str) or not 16 <= len(web_id) <= 64:
        web_id = secrets.token_urlsafe(24)
        session[WEB_ID_KEY] = web_id
        session.permanent = True
    return web_id


def web_citizen(session_factory) -> Citizen:
    """The citizen of this browser, registered on first use (random id in the session)."""
    web_id = browser_id()
    with session_factory.begin() as db:
        return get_or_create_citizen(db, channel=Channel.WEB, external_id=web_id)


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, its signing serializer built once per set of keys.

    Flask builds a new serializer (and its signer settings) to read the cookie and again to
    write it, on every request; the keys change only with the configuration, so it is kept
    for as long as SECRET_KEY and SECRET_KEY_FALLBACKS stay the same. Same cookie, same
    signature: the serializer itself keeps nothing between calls.
    """

    def __init__(self) -> None:
        self._kept: tuple[tuple, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        kept = self._kept
        if kept is None or kept[0] != keys:
            kept = self._kept = (keys, super().get_signing_serializer(app))
        return kept[1]


def init_app(app: Flask) -> None:
    app.session_interface = SessionCookies()  # one per app: its keys are the app's
    app.register_blueprint(bp)
    app.jinja_env.globals.update(t=pick, current_language=current_language)
