"""Admins manage accounts on the web; everyone changes their own password; the audit log."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from minyi.models import AuditEntry, StaffUser
from tests.web_support import PASSWORD, csrf_token_of, sign_in


def count_users(session_factory) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count(StaffUser.id)))


def new_account_form(client, **fields) -> dict:
    return {"csrf_token": csrf_token_of(client, "/staff/accounts/new"), "username": "hr2",
            "display_name": "钱社保", "role": "officer", "password": "new-officer-1"} | fields


@pytest.mark.postgres
def test_an_admin_creates_an_officer_who_can_then_sign_in(web_app, staff_world, session_factory):
    admin = web_app.test_client()
    sign_in(admin, "admin1")
    form = new_account_form(admin, department=str(staff_world.own.id))
    response = admin.post("/staff/accounts/new", data=form)
    assert response.status_code == 302
    listing = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "账号已创建" in listing and "钱社保" in listing

    officer = web_app.test_client()
    assert sign_in(officer, "HR2", "new-officer-1").status_code == 302
    assert "县人力资源和社会保障局" in officer.get("/staff/").get_data(as_text=True)
    with session_factory() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert entry.action == "staff.create" and entry.actor == "staff:admin1"
        assert entry.after["department"] == staff_world.own.code


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"department": ""}, "部门工作人员必须指定所属部门"),
        ({"role": "analyst", "department": "own"}, "只有部门工作人员"),
        ({"username": "HR1", "department": "own"}, "已被使用"),
        ({"password": "123456789012", "department": "own"}, "不能只有数字"),
        ({"password": "short", "department": "own"}, "至少 10 位"),
        ({"role": "superuser", "department": ""}, "未知角色"),
        ({"username": "<script>", "department": "own"}, "用户名须为"),
    ],
)
def test_bad_accounts_are_refused_with_what_was_typed_kept(
    web_client, staff_world, session_factory, fields, message
):
    sign_in(web_client, "admin1")
    before = count_users(session_factory)
    if fields.get("department") == "own":
        fields = fields | {"department": str(staff_world.own.id)}
    response = web_client.post("/staff/accounts/new", data=new_account_form(web_client, **fields))
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and message in html
    assert 'value="钱社保"' in html  # the form keeps what was typed
    assert count_users(session_factory) == before


def test_a_forged_token_creates_nothing(web_client, staff_world, session_factory):
    sign_in(web_client, "admin1")
    before = count_users(session_factory)
    form = new_account_form(web_client, csrf_token="forged", department=str(staff_world.own.id))
    response = web_client.post("/staff/accounts/new", data=form)
    assert response.status_code == 400 and "未做任何修改" in response.get_data(as_text=True)
    assert count_users(session_factory) == before


@pytest.mark.parametrize("role", ["analyst", "officer"])
def test_only_admins_reach_accounts_and_the_audit_log(web_client, staff_world, role):
    sign_in(web_client, {"analyst": "analyst1", "officer": "hr1"}[role])
    home = web_client.get("/staff/").get_data(as_text=True)
    assert "/staff/accounts" not in home and "/staff/audit" not in home  # not in the menu
    user_id = staff_world.other_officer.id
    for path in ("/staff/accounts", "/staff/accounts/new", "/staff/audit",
                 f"/staff/accounts/{user_id}/password", f"/staff/accounts/{user_id}/telegram"):
        assert web_client.get(path).status_code == 403, path
    token = csrf_token_of(web_client, "/staff/password")
    response = web_client.post(
        f"/staff/accounts/{user_id}/active", data={"csrf_token": token, "active": "0"}
    )
    assert response.status_code == 403
    assert sign_in(web_client.application.test_client(), "jt1").status_code == 302


def test_an_admin_deactivates_and_reactivates_an_account(web_app, staff_world):
    admin, officer = web_app.test_client(), web_app.test_client()
    sign_in(admin, "admin1")
    sign_in(officer, "jt1")
    user_id = staff_world.other_officer.id
    token = csrf_token_of(admin, "/staff/accounts")
    response = admin.post(f"/staff/accounts/{user_id}/active",
                          data={"csrf_token": token, "active": "0"})
    assert response.status_code == 302
    assert officer.get("/staff/").status_code == 302  # signed out at once
    admin.post(f"/staff/accounts/{user_id}/active", data={"csrf_token": token, "active": "1"})
    assert sign_in(officer, "jt1").status_code == 302


@pytest.mark.postgres
def test_an_admin_sets_and_clears_an_officers_digest_chat(
    web_client, staff_world, session_factory
):
    sign_in(web_client, "admin1")
    user_id = staff_world.officer.id
    path = f"/staff/accounts/{user_id}/telegram"
    token = csrf_token_of(web_client, path)

    refused = web_client.post(path, data={"csrf_token": token, "chat_id": "12ab<script>"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "会话编号应为数字" in page
    assert "<script>" not in page and "12ab&lt;script&gt;" in page  # kept, escaped
    forged = web_client.post(path, data={"csrf_token": "forged", "chat_id": "4242"})
    assert forged.status_code == 400
    with session_factory() as session:
        assert session.get(StaffUser, user_id).telegram_chat_id is None

    saved = web_client.post(path, data={"csrf_token": token, "chat_id": " -100123 "})
    assert saved.status_code == 302
    listing = web_client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "Telegram 会话已保存" in listing and "-100123" in listing
    web_client.post(path, data={"csrf_token": token, "chat_id": ""})
    with session_factory() as session:
        assert session.get(StaffUser, user_id).telegram_chat_id is None
        actions = session.scalars(select(AuditEntry.action)).all()
        assert actions.count("staff.telegram") == 2
    assert "设置摘要 Telegram 会话" in web_client.get("/staff/audit").get_data(as_text=True)


def test_an_admin_cannot_deactivate_themselves(web_client, staff_world):
    sign_in(web_client, "admin1")
    token = csrf_token_of(web_client, "/staff/accounts")
    response = web_client.post(f"/staff/accounts/{staff_world.admin.id}/active",
                               data={"csrf_token": token, "active": "0"})
    assert response.status_code == 400 and "不能停用自己的账号" in response.get_data(as_text=True)
    assert web_client.get("/staff/").status_code == 200


def test_an_unknown_account_is_a_404(web_client, staff_world):
    sign_in(web_client, "admin1")
    assert web_client.get("/staff/accounts/999999/password").status_code == 404


def test_an_admin_resets_a_password(web_app, staff_world):
    admin = web_app.test_client()
    sign_in(admin, "admin1")
    path = f"/staff/accounts/{staff_world.officer.id}/password"
    token = csrf_token_of(admin, path)
    mismatch = admin.post(path, data={"csrf_token": token, "password": "reset-pass-01",
                                      "password_again": "reset-pass-02"})
    assert mismatch.status_code == 400 and "不一致" in mismatch.get_data(as_text=True)
    done = admin.post(path, data={"csrf_token": token, "password": "reset-pass-01",
                                  "password_again": "reset-pass-01"})
    assert done.status_code == 302
    assert sign_in(web_app.test_client(), "hr1").status_code == 401
    assert sign_in(web_app.test_client(), "hr1", "reset-pass-01").status_code == 302


def test_everyone_changes_their_own_password_with_the_current_one(web_app, staff_world):
    client = web_app.test_client()
    sign_in(client, "hr1")
    token = csrf_token_of(client, "/staff/password")
    wrong = client.post("/staff/password", data={
        "csrf_token": token, "current_password": "not-it-at-all",
        "password": "my-new-pass-1", "password_again": "my-new-pass-1"})
    assert wrong.status_code == 400 and "当前密码不正确" in wrong.get_data(as_text=True)
    done = client.post("/staff/password", data={
        "csrf_token": token, "current_password": PASSWORD,
        "password": "my-new-pass-1", "password_again": "my-new-pass-1"})
    assert done.status_code == 302 and "changed=1" in done.headers["Location"]
    assert "请用新密码重新登录" in client.get(done.headers["Location"]).get_data(as_text=True)
    assert sign_in(client, "hr1", "my-new-pass-1").status_code == 302


def test_the_audit_log_shows_who_changed_what(web_client, staff_world):
    sign_in(web_client, "admin1")
    token = csrf_token_of(web_client, "/staff/accounts")
    web_client.post(f"/staff/accounts/{staff_world.other_officer.id}/active",
                    data={"csrf_token": token, "active": "0"})
    html = web_client.get("/staff/audit").get_data(as_text=True)
    assert "staff.deactivate" in html and "王管理 (admin1)" in html
    assert "active=True" in html and "active=False" in html
    filtered = web_client.get("/staff/audit?type=no_such_kind").get_data(as_text=True)
    assert "暂无记录" in filtered
    # A page number that is no number is page 1, not an error.
    assert web_client.get("/staff/audit?page=abc").status_code == 200
    assert re.search(r"共 \d+ 条", html)


def test_passwords_never_reach_the_audit_log(web_client, staff_world, session_factory):
    sign_in(web_client, "admin1")
    path = f"/staff/accounts/{staff_world.officer.id}/password"
    token = csrf_token_of(web_client, path)
    web_client.post(path, data={"csrf_token": token, "password": "reset-pass-01",
                                "password_again": "reset-pass-01"})
    with session_factory() as session:
        for entry in session.scalars(select(AuditEntry)):
            text = f"{entry.before} {entry.after}"
            assert "reset-pass-01" not in text and "pbkdf2" not in text and "scrypt" not in text


def staff_menu(html: str) -> str:
    return html.split('<nav class="staff-nav"', 1)[1].split("</nav>", 1)[0]


def test_each_role_sees_its_own_menu(web_app, staff_world):
    menus = {}
    for username in ("admin1", "analyst1", "hr1"):
        client = web_app.test_client()
        sign_in(client, username)
        menus[username] = staff_menu(client.get("/staff/").get_data(as_text=True))
    assert "/staff/accounts" in menus["admin1"] and "/staff/audit" in menus["admin1"]
    for username in ("analyst1", "hr1"):
        assert "/staff/accounts" not in menus[username]
        assert "/staff/audit" not in menus[username]
        assert "/staff/password" in menus[username]
