"""Staff accounts (admins) and one's own password (everyone); the audit log (admins).

Every change goes through minyi.services.staff, which checks the permission and writes the
audit entry; these views only parse the form and show the outcome.
"""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for

from minyi.errors import MinyiError
from minyi.models import Role
from minyi.services import audit, catalog
from minyi.services import staff as staff_accounts
from minyi.services.permissions import require
from web.database import db_session, read_session
from web.staff.common import (
    CSRF_ERROR,
    bp,
    csrf_ok,
    error_pair,
    nav_item,
    staff_actor,
    staff_user,
)

nav_item("staff.accounts", "账号", "Accounts", roles=[Role.ADMIN], order=80)
nav_item("staff.audit_log", "审计日志", "Audit log", roles=[Role.ADMIN], order=90)
nav_item("staff.own_password", "修改密码", "Password", order=95)

DONE = {
    "created": ("账号已创建。", "The account was created."),
    "password": ("密码已修改，该账号的其他登录已失效。", "Password changed; sessions ended."),
    "activated": ("账号已启用。", "The account is active again."),
    "deactivated": ("账号已停用，其登录立即失效。", "Account deactivated; it is signed out."),
    "telegram": ("每周摘要的 Telegram 会话已保存。", "The digest's Telegram chat was saved."),
}


def _done():
    return DONE.get(request.args.get("done", ""))


@bp.get("/accounts")
def accounts():
    actor = staff_actor()
    users = staff_accounts.list_staff_users(read_session(), actor=actor)
    return render_template("staff/accounts/list.html", users=users, done=_done())


@bp.route("/accounts/new", methods=["GET", "POST"])
def new_account():
    actor = staff_actor()
    require(actor, "staff.manage")  # the form itself is for admins only
    session = read_session() if request.method == "GET" else db_session()
    departments = catalog.list_departments(session)
    values = request.form if request.method == "POST" else {}
    error = None
    if request.method == "POST":
        if not csrf_ok():
            error = CSRF_ERROR
        else:
            try:
                staff_accounts.create_staff_user(
                    session,
                    username=values.get("username", ""),
                    display_name=values.get("display_name") or None,
                    role=values.get("role", ""),
                    department=_department_ref(values.get("department")),
                    password=values.get("password", ""),
                    actor=actor,
                )
                session.commit()
                return redirect(url_for("staff.accounts", done="created"))
            except MinyiError as exc:
                session.rollback()
                error = error_pair(exc)
    status = 400 if error else 200
    return (
        render_template(
            "staff/accounts/new.html", departments=departments, values=values, error=error
        ),
        status,
    )


def _department_ref(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@bp.route("/accounts/<int:user_id>/password", methods=["GET", "POST"])
def account_password(user_id: int):
    actor = staff_actor()
    session = read_session() if request.method == "GET" else db_session()
    user = staff_accounts.get_staff_user(session, user_id, actor=actor)
    if user.id == actor.staff_user_id:
        return redirect(url_for("staff.own_password"))
    error = None
    if request.method == "POST":
        error = _change_password(session, user, current=None)
        if error is None:
            return redirect(url_for("staff.accounts", done="password"))
    return (
        render_template("staff/accounts/password.html", user=user, own=False, error=error),
        400 if error else 200,
    )


@bp.route("/accounts/<int:user_id>/telegram", methods=["GET", "POST"])
def account_telegram(user_id: int):
    """Where the account's weekly digest goes on Telegram, besides its staff home page."""
    actor = staff_actor()
    require(actor, "staff.manage")
    session = read_session() if request.method == "GET" else db_session()
    user = staff_accounts.get_staff_user(session, user_id, actor=actor)
    value = request.form.get("chat_id", "") if request.method == "POST" else None
    error = None
    if request.method == "POST":
        if not csrf_ok():
            error = CSRF_ERROR
        else:
            try:
                staff_accounts.set_staff_telegram(session, user, value, actor=actor)
                session.commit()
                return redirect(url_for("staff.accounts", done="telegram"))
            except MinyiError as exc:
                session.rollback()
                error = error_pair(exc)
    return (
        render_template("staff/accounts/telegram.html", user=user, value=value, error=error),
        400 if error else 200,
    )


@bp.route("/password", methods=["GET", "POST"])
def own_password():
    session = read_session() if request.method == "GET" else db_session()
    user = staff_accounts.signed_in_staff_user(session, staff_user().id)
    if user is None:
        abort(404)
    error = None
    if request.method == "POST":
        error = _change_password(session, user, current=request.form.get("current_password"))
        if error is None:
            # The session's stamp no longer matches the new password: sign in again with it.
            return redirect(url_for("staff.login", changed=1))
    return (
        render_template("staff/accounts/password.html", user=user, own=True, error=error),
        400 if error else 200,
    )


def _change_password(session, user, *, current: str | None):
    """Set the posted password; the (zh, en) refusal, or None when it was changed."""
    if not csrf_ok():
        return CSRF_ERROR
    new, repeated = request.form.get("password", ""), request.form.get("password_again", "")
    if new != repeated:
        return ("两次输入的新密码不一致。", "The two new passwords differ.")
    try:
        staff_accounts.set_staff_password(
            session, user, password=new, current_password=current, actor=staff_actor()
        )
        session.commit()
    except MinyiError as exc:
        session.rollback()
        return error_pair(exc)
    return None


@bp.post("/accounts/<int:user_id>/active")
def account_active(user_id: int):
    actor = staff_actor()
    session = db_session()
    user = staff_accounts.get_staff_user(session, user_id, actor=actor)
    if not csrf_ok():
        return _list_with_error(CSRF_ERROR)
    active = request.form.get("active") == "1"
    try:
        staff_accounts.set_staff_active(session, user, active=active, actor=actor)
        session.commit()
    except MinyiError as exc:
        session.rollback()
        return _list_with_error(error_pair(exc))
    return redirect(url_for("staff.accounts", done="activated" if active else "deactivated"))


def _list_with_error(error):
    users = staff_accounts.list_staff_users(read_session(), actor=staff_actor())
    return render_template("staff/accounts/list.html", users=users, error=error), 400


@bp.get("/audit")
def audit_log():
    actor = staff_actor()
    session = read_session()
    object_type = request.args.get("type") or None
    page = audit.audit_page(
        session, actor=actor, object_type=object_type, page=request.args.get("page")
    )
    return render_template(
        "staff/audit.html",
        page=page,
        object_type=object_type,
        object_types=audit.audit_object_types(session, actor=actor),
        staff_names=staff_accounts.staff_names(session, {e.staff_user_id for e in page.items}),
        action_name=audit.action_name,
    )
