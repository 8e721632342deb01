"""Signing in and out, and the staff area's single gate (Flask-Login).

Flask-Login keeps the account id in the signed session cookie; on every request the loader
reads the account again, so a deactivated account or a changed password ends its sessions
at once. Failed sign-ins are throttled per client and per account (web/limits.py).
"""

from __future__ import annotations

from flask import g, redirect, render_template, request, session, url_for
from flask_login import LoginManager, current_user, login_user, logout_user
from wtforms import PasswordField, StringField

from minyi.services import staff as staff_accounts
from web.database import read_session
from web.staff.common import CSRF_ERROR, StaffForm, StaffPrincipal, bp, csrf_ok
from web.visitor import local_path

login_manager = LoginManager()
# The gate below redirects by itself; Flask-Login's own flash message is not wanted.
login_manager.login_message = None
login_manager.session_protection = "basic"

# Endpoints of the staff blueprint that are open without an account.
OPEN_ENDPOINTS = {"staff.login"}
LOGIN_FAILED = (
    "用户名或密码错误，或账号已停用。",
    "Wrong username or password, or the account is deactivated.",
)

PASSWORD_CHANGED = (
    "密码已修改，请用新密码重新登录。",
    "Password changed: sign in with the new one.",
)


class LoginForm(StaffForm):
    username = StringField()
    password = PasswordField()


@login_manager.user_loader
def load_principal(session_id: str) -> StaffPrincipal | None:
    user_part, _, stamp = session_id.partition(":")
    if not user_part.isdigit():
        return None
    user = staff_accounts.signed_in_staff_user(read_session(), int(user_part))
    if user is None or staff_accounts.password_stamp(user) != stamp:
        return None
    return principal_of(user)


def principal_of(user) -> StaffPrincipal:
    return StaffPrincipal(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        department_id=user.department_id,
        department_name=user.department.name if user.department else None,
        password_stamp=staff_accounts.password_stamp(user),
    )


@bp.before_request
def require_staff():
    """The staff area's single gate, so that no staff view can forget the check."""
    g.staff_user = current_user._get_current_object() if current_user.is_authenticated else None
    if g.staff_user is None and "_user_id" in session:
        # The account was deactivated or its password changed: forget the session for good,
        # so that reactivating the account later does not revive it.
        session.clear()
    if g.staff_user is None and request.endpoint not in OPEN_ENDPOINTS:
        return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
    return None


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    target = local_path(request.args.get("next"), default=url_for("staff.home"))
    if request.method == "GET":
        if g.staff_user is not None:
            return redirect(target)
        notice = PASSWORD_CHANGED if request.args.get("changed") else None
        return render_template("staff/login.html", form=form, error=None, notice=notice)
    if not csrf_ok(form):
        return render_template("staff/login.html", form=form, error=CSRF_ERROR), 400
    user = staff_accounts.authenticate(read_session(), form.username.data, form.password.data)
    if user is None:
        # 401 is what the throttle counts (web/limits.py): only failures use up the allowance.
        return render_template("staff/login.html", form=form, error=LOGIN_FAILED), 401
    # A fresh session on sign-in, so a session id planted before it is worth nothing.
    session.clear()
    login_user(principal_of(user))
    return redirect(target)


@bp.post("/logout")
def logout():
    if csrf_ok():
        logout_user()
        session.clear()
    return redirect(url_for("staff.login"))
