"""Fixtures and helpers for web tests of the staff area: an app, accounts of every role.

Imported by tests/conftest.py, so every test module may ask for `web_app`, `web_client` and
`staff_world`, and call `sign_in` / `csrf_token_of`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from minyi.models import Role
from tests.builders import make_department, make_service, make_staff
from web import create_app

PASSWORD = "correct-horse-9"
# src=/href=/action= or a CSS url() pointing at another host, with or without a scheme: what
# a page that loads nothing from outside (no CDN) never holds.
EXTERNAL_URL = re.compile(
    r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//"""
    r"""|url\(\s*["']?(?:https?:)?//""",
    re.IGNORECASE,
)
CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                        r'type="hidden" name="csrf_token" value="([^"]+)"')


@pytest.fixture
def web_app(settings, session_factory, ctx, tmp_path):
    """The web app on the test database, with the test clock and no NLP."""
    settings.web.secret_key = "test-secret"
    settings.web.upload_dir = str(tmp_path / "uploads")
    app = create_app(settings, session_factory=session_factory)
    app.extensions["minyi"]["context"] = ctx
    return app


@pytest.fixture
def web_client(web_app):
    return web_app.test_client()


@dataclass
class StaffWorld:
    """Two departments (own, other), a service each, and one account per role."""

    own: object
    other: object
    own_service: object
    other_service: object
    admin: object
    analyst: object
    officer: object  # of `own`
    other_officer: object  # of `other`

    def account(self, role: str):
        return getattr(self, role)


@pytest.fixture
def staff_world(session_factory) -> StaffWorld:
    with session_factory.begin() as session:
        own = make_department(session, name="县人力资源和社会保障局", name_en="HR bureau")
        other = make_department(session, name="县交通运输局", name_en="Transport bureau")
        world = StaffWorld(
            own=own,
            other=other,
            own_service=make_service(session, department=own, name="社保卡申领"),
            other_service=make_service(session, department=other, name="道路运输证"),
            admin=make_staff(session, Role.ADMIN, username="admin1", display_name="王管理"),
            analyst=make_staff(session, Role.ANALYST, username="analyst1", display_name="李分析"),
            officer=make_staff(
                session, Role.OFFICER, department=own, username="hr1", display_name="张社保"
            ),
            other_officer=make_staff(
                session, Role.OFFICER, department=other, username="jt1", display_name="赵交通"
            ),
        )
    return world


def csrf_token_of(client, path: str = "/staff/login") -> str:
    """The CSRF token a page of `path` carries for this client's session."""
    html = client.get(path).get_data(as_text=True)
    match = CSRF_INPUT.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


def sign_in(client, username: str, password: str = PASSWORD, *, next_path: str | None = None):
    """Post the sign-in form as a browser would (with its CSRF token); returns the response."""
    token = csrf_token_of(client)
    url = "/staff/login" + (f"?next={next_path}" if next_path else "")
    return client.post(url, data={"csrf_token": token, "username": username, "password": password})
