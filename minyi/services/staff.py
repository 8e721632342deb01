"""Staff accounts: admins, analysts and department officers."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from minyi.db import utcnow
from minyi.errors import NotFound, ValidationFailed
from minyi.models import Role, StaffUser
from minyi.services.actors import Actor
from minyi.services.audit import record_audit
from minyi.services.catalog import get_department
from minyi.services.permissions import require
from minyi.services.validation import check_flag, clean_text

_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
MIN_PASSWORD_CHARS = 10
# werkzeug's scrypt default; tests swap in a cheap method, since hashing cost is their bottleneck.
PASSWORD_METHOD = "scrypt"
# Whoever runs `minyi user add` on the server: allowed to manage accounts, recorded as such.
COMMAND_LINE = Actor.system("cli", "staff.manage")


def check_password(password: object) -> str:
    """A password of at least MIN_PASSWORD_CHARS characters that is not only digits."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise ValidationFailed(
            f"密码至少 {MIN_PASSWORD_CHARS} 位",
            f"password must have at least {MIN_PASSWORD_CHARS} characters",
        )
    if password.isdigit():
        raise ValidationFailed(
            "密码不能只有数字，请加入字母或符号",
            "password must not be only digits: add letters or symbols",
        )
    return password


def find_staff_user(session: Session, username: object) -> StaffUser | None:
    """The account with this username, matched regardless of case."""
    if not isinstance(username, str) or not _USERNAME.match(username.strip()):
        return None
    return session.scalar(
        select(StaffUser).where(func.lower(StaffUser.username) == username.strip().lower())
    )


def create_staff_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role | str,
    display_name: str | None = None,
    department=None,
    actor: Actor = COMMAND_LINE,
    at: datetime | None = None,
) -> StaffUser:
    """A new staff account; an officer belongs to exactly one department, nobody else to one."""
    require(actor, "staff.manage")
    if not isinstance(username, str) or not _USERNAME.match(username.strip()):
        raise ValidationFailed(
            "用户名须为 2-64 位字母、数字或 _.-", "username must be 2-64 letters, digits or _.-"
        )
    username = username.strip()
    try:
        role = Role(role)
    except ValueError:
        raise ValidationFailed(
            f"未知角色 {role!r}（admin/analyst/officer）",
            f"unknown role {role!r} (admin/analyst/officer)",
        ) from None
    check_password(password)
    display_name = clean_text(
        display_name, field_zh="显示名", field_en="display name", max_chars=100, required=False
    )
    dept = get_department(session, department, active_only=True) if department else None
    if role == Role.OFFICER and dept is None:
        raise ValidationFailed("部门工作人员必须指定所属部门", "an officer needs a department")
    if role != Role.OFFICER and dept is not None:
        raise ValidationFailed(
            "只有部门工作人员（officer）属于某个部门；管理员和分析员不指定部门",
            "only officers belong to a department: leave it out for admins and analysts",
        )
    if find_staff_user(session, username) is not None:
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
    record_audit(
        session,
        actor=actor,
        action="staff.create",
        object_type="staff_user",
        object_id=user.id,
        after=_account(user, dept),
        at=at or utcnow(),
    )
    return user


def set_staff_active(
    session: Session, user: StaffUser, *, active: object, actor: Actor, at: datetime | None = None
) -> StaffUser:
    """Deactivate (or reactivate) an account; its history stays. Admins only, audited."""
    require(actor, "staff.manage")
    active = check_flag(active, field_zh="是否启用", field_en="active")
    if not active and actor.staff_user_id == user.id:
        raise ValidationFailed("不能停用自己的账号", "you cannot deactivate your own account")
    before = {"active": user.active}
    user.active = active
    record_audit(
        session,
        actor=actor,
        action="staff.activate" if active else "staff.deactivate",
        object_type="staff_user",
        object_id=user.id,
        before=before,
        after={"active": active},
        at=at or utcnow(),
    )
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> StaffUser | None:
    """The active user with these credentials (username in any case), or None."""
    user = find_staff_user(session, username)
    if user is None or not user.active or not isinstance(password, str):
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    return user


def _account(user: StaffUser, department) -> dict:
    return {
        "username": user.username,
        "role": user.role.value,
        "department": department.code if department else None,
        "active": user.active,
    }


def signed_in_staff_user(session: Session, user_id: object) -> StaffUser | None:
    """The active account with this id and its department, for a session cookie; else None."""
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
        return None
    user = session.scalar(
        select(StaffUser).options(joinedload(StaffUser.department)).where(StaffUser.id == user_id)
    )
    return user if user is not None and user.active else None


def password_stamp(user: StaffUser) -> str:
    """A short digest of the stored hash: it changes whenever the password does."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def list_staff_users(session: Session, *, actor: Actor) -> list[StaffUser]:
    """Every account, active ones first, then by role and username (admins only)."""
    require(actor, "staff.manage")
    return list(
        session.scalars(
            select(StaffUser)
            .options(joinedload(StaffUser.department))
            .order_by(StaffUser.active.desc(), StaffUser.role, func.lower(StaffUser.username))
        )
    )


def get_staff_user(session: Session, user_id: object, *, actor: Actor) -> StaffUser:
    """One account by id (admins only); NotFound otherwise."""
    require(actor, "staff.manage")
    user = None
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        user = session.get(StaffUser, user_id)
    if user is None:
        raise NotFound(f"找不到工作人员账号 {user_id}", f"unknown staff account {user_id}")
    return user


def set_staff_password(
    session: Session,
    user: StaffUser,
    *,
    password: object,
    actor: Actor,
    current_password: object = None,
    at: datetime | None = None,
) -> StaffUser:
    """A new password: admins set anyone's; everyone changes their own with the current one.

    Audited without any hash; the account's other sessions end (their stamp no longer matches).
    """
    own = actor.kind == "staff" and actor.staff_user_id == user.id
    if own:
        if not isinstance(current_password, str) or not check_password_hash(
            user.password_hash, current_password
        ):
            raise ValidationFailed("当前密码不正确", "the current password is wrong")
    else:
        require(actor, "staff.manage")
    check_password(password)
    user.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)
    record_audit(
        session,
        actor=actor,
        action="staff.password",
        object_type="staff_user",
        object_id=user.id,
        after={"password": "changed"},
        at=at or utcnow(),
    )
    session.flush()
    return user


def staff_names(session: Session, user_ids: set[int | None]) -> dict[int, str]:
    """Display names of these accounts, for pages that list who did something."""
    ids = {user_id for user_id in user_ids if user_id}
    if not ids:
        return {}
    rows = session.execute(
        select(StaffUser.id, StaffUser.display_name, StaffUser.username).where(
            StaffUser.id.in_(ids)
        )
    )
    return {row.id: f"{row.display_name} ({row.username})" for row in rows}


_TELEGRAM_CHAT_ID = re.compile(r"^-?\d{1,20}$")


def set_staff_telegram(
    session: Session,
    user: StaffUser,
    chat_id: object,
    *,
    actor: Actor = COMMAND_LINE,
    at: datetime | None = None,
) -> StaffUser:
    """Where the account's weekly digest goes on Telegram (a numeric chat id); None or "" for
    nowhere (the staff home page only). Admins only, audited."""
    require(actor, "staff.manage")
    value = None
    if chat_id is not None and not (isinstance(chat_id, str) and not chat_id.strip()):
        value = str(chat_id).strip() if isinstance(chat_id, str | int) else ""
        if isinstance(chat_id, bool) or not _TELEGRAM_CHAT_ID.match(value):
            raise ValidationFailed(
                "Telegram 会话编号应为数字（可在机器人处发送 /start 后由管理员查询）",
                "a Telegram chat id is a number (an integer, possibly negative)",
            )
    before = {"telegram_chat_id": user.telegram_chat_id}
    user.telegram_chat_id = value
    record_audit(
        session,
        actor=actor,
        action="staff.telegram",
        object_type="staff_user",
        object_id=user.id,
        before=before,
        after={"telegram_chat_id": value},
        at=at or utcnow(),
    )
    session.flush()
    return user
