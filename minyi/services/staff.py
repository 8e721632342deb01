"""Staff accounts: admins, analysts and department officers."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from minyi.errors import ValidationFailed
from minyi.models import Role, StaffUser
from minyi.services.catalog import get_department
from minyi.services.validation import clean_text

_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
MIN_PASSWORD_CHARS = 8
# werkzeug's scrypt default; tests swap in a cheap method, since hashing cost is their bottleneck.
PASSWORD_METHOD = "scrypt"


def create_staff_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role | str,
    display_name: str | None = None,
    department=None,
) -> StaffUser:
    """A new staff account; an officer must belong to exactly one department."""
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise ValidationFailed(
            "用户名须为 2-64 位字母、数字或 _.-", "username must be 2-64 letters, digits or _.-"
        )
    try:
        role = Role(role)
    except ValueError:
        raise ValidationFailed(
            f"未知角色 {role!r}（admin/analyst/officer）",
            f"unknown role {role!r} (admin/analyst/officer)",
        ) from None
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise ValidationFailed(
            f"密码至少 {MIN_PASSWORD_CHARS} 位",
            f"password must have at least {MIN_PASSWORD_CHARS} characters",
        )
    display_name = clean_text(
        display_name, field_zh="显示名", field_en="display name", max_chars=100, required=False
    )
    dept = get_department(session, department) if department is not None else None
    if role == Role.OFFICER and dept is None:
        raise ValidationFailed("部门工作人员必须指定所属部门", "an officer needs a department")
    if session.scalar(select(StaffUser.id).where(StaffUser.username == username)):
        raise ValidationFailed(f"用户名 {username} 已被使用", f"username {username} is taken")
    user = StaffUser(
        username=username,
        display_name=display_name or username,
        password_hash=generate_password_hash(password, method=PASSWORD_METHOD),
        role=role,
        department_id=dept.id if dept else None,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> StaffUser | None:
    """The active user with these credentials, or None."""
    user = session.scalar(select(StaffUser).where(StaffUser.username == username))
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        return None
    return user
