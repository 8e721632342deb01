"""Per-client limits on public submits and staff sign-in (Flask-Limiter, Redis optional)."""

from __future__ import annotations

import functools
import threading
import time

from flask import Flask, abort, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from limits.storage import Storage

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


class ProcessMemoryStorage(Storage):
    """Fixed-window counters in this process's memory, expired when next looked at.

    limits' own memory:// storage starts a timer thread after every hit to expire counters;
    under load that thread start and its wake-ups cost a rating POST more than the count
    itself. Here an expired counter is dropped when its key is read again, and a sweep every
    SWEEP_EVERY hits drops the ones nobody came back for, so memory stays bounded.
    """

    STORAGE_SCHEME = ["minyi-memory"]
    SWEEP_EVERY = 10_000

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}  # key -> (count, expires at)
        self._hits = 0

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        with self._lock:
            self._hits += 1
            if self._hits % self.SWEEP_EVERY == 0:
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            count, expires = self._counts.get(key, (0, 0.0))
            if expires <= now:
                count, expires = 0, now + expiry
            count += amount
            self._counts[key] = (count, expires)
            return count

    def get(self, key: str) -> int:
        count, expires = self._counts.get(key, (0, 0.0))
        return count if expires > time.time() else 0

    def get_expiry(self, key: str) -> float:
        _, expires = self._counts.get(key, (0, 0.0))
        return expires if expires > time.time() else time.time()

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock:
            cleared = len(self._counts)
            self._counts = {}
        return cleared

    def clear(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)


def init_app(app: Flask, settings: Settings) -> Limiter:
    """A limiter for this app, wrapped around the endpoints of LIMITS."""
    limiter = Limiter(
        get_remote_address,
        app=app,
        # Counters per process without Redis (one worker, or a test); see ProcessMemoryStorage.
        storage_uri=settings.web.redis_url or "minyi-memory://",
        key_prefix="minyi",
        default_limits=[],
        headers_enabled=False,
    )
    for endpoint, (key, default, methods) in LIMITS.items():
        app.config.setdefault(key, default)
        view = app.view_functions[endpoint]
        app.view_functions[endpoint] = _per_client(limiter, endpoint, key, methods)(view)
    for key, (default, key_func) in LOGIN_LIMITS.items():
        app.config.setdefault(key, default)
        app.view_functions[LOGIN_ENDPOINT] = limiter.limit(
            _configured(key), key_func=key_func, methods=["POST"], deduct_when=_failed_sign_in
        )(app.view_functions[LOGIN_ENDPOINT])
    if not (app.config.get("RATELIMIT_DEFAULT") or app.config.get("RATELIMIT_APPLICATION")):
        # Flask-Limiter's before_request pass applies default and application-wide limits;
        # there are none (every limit above sits on its view), yet it walked its exemption
        # and blueprint tables on every request, a tenth of a rating POST's CPU.
        app.before_request_funcs[None].remove(limiter._check_request_limit)
    return limiter


def _per_client(limiter: Limiter, endpoint: str, key: str, methods: list[str] | None):
    """A view counted per client address against the limits in app.config[key].

    What Flask-Limiter's own decorator does for a plain limit (its strategy and storage, its
    RATELIMIT_ENABLED switch, the first breach a 429), without the per-request walk over
    exemptions, blueprints and meta limits that cost a rating POST more than the count.
    """

    def decorate(view):
        @functools.wraps(view)
        def limited(*args, **kwargs):
            if limiter.enabled and (methods is None or request.method in methods):
                client = get_remote_address()
                strategy = limiter.limiter
                for item in _parsed(current_app.config[key]):
                    if not strategy.hit(item, "minyi", client, endpoint):
                        abort(429)
            return view(*args, **kwargs)

        return limited

    return decorate


@functools.lru_cache(maxsize=64)
def _parsed(limits: str) -> tuple[RateLimitItem, ...]:
    # Read at request time (a deployment or a test may change it), parsed once per value;
    # the smallest window first, as Flask-Limiter orders them.
    return tuple(sorted(parse_many(limits)))


def _configured(key: str):
    # Read at request time, so a deployment (or a test) can change it after create_app.
    return lambda: current_app.config[key]
