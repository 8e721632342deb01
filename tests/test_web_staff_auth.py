"""Staff sign-in, the area's gate, sign-out, throttling, and the home page's counts."""

from __future__ import annotations

import pytest

from minyi.models import Role, StaffUser
from minyi.services import staff as staff_accounts
from minyi.services.actors import Actor
from tests.builders import make_staff
from tests.web_support import PASSWORD, csrf_token_of, sign_in


def test_every_staff_page_sends_a_stranger_to_the_sign_in(web_client, staff_world):
    for path in ("/staff", "/staff/"):
        response = web_client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/staff/login?next=")
    # An address that is no page is a plain 404, signed in or not.
    assert web_client.get("/staff/anything-at-all").status_code == 404
    page = web_client.get("/staff/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="username"' in html and 'name="password"' in html and "工作人员登录" in html


@pytest.mark.postgres
def test_sign_in_then_home_names_the_account_and_its_department(web_client, staff_world):
    response = sign_in(web_client, "hr1")
    assert response.status_code == 302 and response.headers["Location"] == "/staff/"
    html = web_client.get("/staff/").get_data(as_text=True)
    assert "张社保" in html and "县人力资源和社会保障局" in html and "部门工作人员" in html
    assert "退出登录" in html


def test_usernames_match_regardless_of_case(web_client, staff_world):
    assert sign_in(web_client, "HR1").status_code == 302


@pytest.mark.parametrize(
    "username, password",
    [("hr1", "wrong-password-1"), ("nobody", PASSWORD), ("", ""), ("hr1' OR '1'='1", "x")],
)
def test_wrong_credentials_are_refused_with_one_message(
    web_client, staff_world, username, password
):
    response = sign_in(web_client, username, password)
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert "用户名或密码错误" in html
    assert web_client.get("/staff/").status_code == 302  # still signed out


def test_a_forged_csrf_token_signs_nobody_in(web_client, staff_world):
    csrf_token_of(web_client)
    response = web_client.post(
        "/staff/login", data={"csrf_token": "forged", "username": "hr1", "password": PASSWORD}
    )
    assert response.status_code == 400
    assert "未做任何修改" in response.get_data(as_text=True)
    assert web_client.get("/staff/").status_code == 302


def test_next_goes_back_to_the_page_asked_for_but_never_off_site(web_client, staff_world):
    assert sign_in(web_client, "hr1", next_path="/staff/").headers["Location"] == "/staff/"
    web_client.post("/staff/logout", data={"csrf_token": csrf_token_of(web_client, "/staff/")})
    response = sign_in(web_client, "hr1", next_path="//evil.example/x")
    assert response.headers["Location"] == "/staff/"


def test_sign_out_needs_the_form_and_ends_the_session(web_client, staff_world):
    sign_in(web_client, "hr1")
    # A link or a forged post cannot sign anyone out ...
    assert web_client.get("/staff/logout").status_code == 405
    web_client.post("/staff/logout", data={"csrf_token": "forged"})
    assert web_client.get("/staff/").status_code == 200
    # ... the menu's button does.
    token = csrf_token_of(web_client, "/staff/")
    response = web_client.post("/staff/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert web_client.get("/staff/").status_code == 302


def test_a_deactivated_account_is_signed_out_on_its_next_request(
    web_client, staff_world, session_factory
):
    sign_in(web_client, "hr1")
    assert web_client.get("/staff/").status_code == 200
    with session_factory.begin() as session:
        user = session.get(StaffUser, staff_world.officer.id)
        admin = Actor.staff(session.get(StaffUser, staff_world.admin.id))
        staff_accounts.set_staff_active(session, user, active=False, actor=admin)
    assert web_client.get("/staff/").status_code == 302
    assert sign_in(web_client, "hr1").status_code == 401


def test_a_changed_password_ends_the_other_sessions(web_app, staff_world, session_factory):
    first, second = web_app.test_client(), web_app.test_client()
    sign_in(first, "hr1")
    sign_in(second, "hr1")
    with session_factory.begin() as session:
        user = session.get(StaffUser, staff_world.officer.id)
        admin = Actor.staff(session.get(StaffUser, staff_world.admin.id))
        staff_accounts.set_staff_password(
            session, user, password="a-new-password-7", actor=admin
        )
    assert first.get("/staff/").status_code == 302
    assert second.get("/staff/").status_code == 302
    assert sign_in(first, "hr1", "a-new-password-7").status_code == 302


def test_failed_sign_ins_are_throttled_per_account(web_app, staff_world):
    web_app.config["MINYI_LOGIN_ACCOUNT_LIMIT"] = "3 per 15 minutes"
    client = web_app.test_client()
    statuses = [sign_in(client, "hr1", "wrong-password-1").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    # Now even the right password waits: the account is locked for a while ...
    locked = sign_in(client, "HR1")
    assert locked.status_code == 429 and "请求过于频繁" in locked.get_data(as_text=True)
    # ... while another account is not.
    assert sign_in(client, "jt1").status_code == 302


def test_failed_sign_ins_are_throttled_per_client(web_app, staff_world):
    web_app.config["MINYI_LOGIN_CLIENT_LIMIT"] = "4 per 15 minutes"
    client = web_app.test_client()
    names = ["a1", "a2", "a3", "a4", "a5"]
    statuses = [sign_in(client, name, "wrong-password-1").status_code for name in names]
    assert statuses == [401, 401, 401, 401, 429]


def test_successful_sign_ins_do_not_use_up_the_allowance(web_app, staff_world):
    web_app.config["MINYI_LOGIN_ACCOUNT_LIMIT"] = "2 per 15 minutes"
    client = web_app.test_client()
    for _ in range(4):
        assert sign_in(client, "hr1").status_code == 302
        client.post("/staff/logout", data={"csrf_token": csrf_token_of(client, "/staff/")})


def test_session_cookie_is_httponly_and_samesite(web_client, staff_world):
    response = sign_in(web_client, "hr1")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_session_cookie_is_secure_behind_https(settings, session_factory, ctx, staff_world):
    from web import create_app

    settings.web.secret_key = "test-secret"
    settings.web.public_base_url = "https://minyi.example.gov.cn"
    app = create_app(settings, session_factory=session_factory)
    app.extensions["minyi"]["context"] = ctx
    client = app.test_client()
    assert "Secure" in sign_in(client, "hr1").headers["Set-Cookie"]


def test_home_counts_what_waits_for_the_department(
    web_client, staff_world, session_factory, ctx
):
    from minyi.services import ratings
    from tests.builders import make_ticket

    with session_factory.begin() as session:
        for _ in range(2):
            ticket = make_ticket(session, ctx)
            ticket.department_id = staff_world.own.id
        make_ticket(session, ctx).department_id = staff_world.other.id
        ratings.record_rating(session, ctx, service=staff_world.own_service.id, score=1,
                              channel="web")
    sign_in(web_client, "hr1")
    html = web_client.get("/staff/").get_data(as_text=True)
    assert tile_value(html, "未办结工单") == "2"
    assert tile_value(html, "待整改差评") == "1"
    assert "待审核申诉" not in html  # admins' tiles only

    web_client.post("/staff/logout", data={"csrf_token": csrf_token_of(web_client, "/staff/")})
    sign_in(web_client, "admin1")
    html = web_client.get("/staff/").get_data(as_text=True)
    assert tile_value(html, "未办结工单") == "3" and "待审核申诉" in html


def tile_value(html: str, label: str) -> str:
    import re

    match = re.search(rf"<dt>{label}</dt>\s*<dd>(?:<a [^>]*>)?(\d+)", html)
    assert match, label
    return match.group(1)


def test_an_account_made_on_the_command_line_can_sign_in(web_client, session_factory):
    with session_factory.begin() as session:
        make_staff(session, Role.ANALYST, username="Survey.Lead", password="survey-2026-x")
    assert sign_in(web_client, "survey.lead", "survey-2026-x").status_code == 302
    assert "分析员" in web_client.get("/staff/").get_data(as_text=True)
