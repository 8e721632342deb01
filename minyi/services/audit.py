"""The audit log of staff changes: who changed what, when, from what to what."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from minyi.models import AuditEntry
from minyi.services.actors import Actor
from minyi.services.paging import Page, paginate
from minyi.services.permissions import require

# What each recorded action means, for the audit page; an action missing here shows its code.
ACTION_NAMES: dict[str, tuple[str, str]] = {
    "staff.create": ("新建账号", "account created"),
    "staff.activate": ("启用账号", "account reactivated"),
    "staff.deactivate": ("停用账号", "account deactivated"),
    "staff.password": ("修改密码", "password changed"),
    "staff.telegram": ("设置摘要 Telegram 会话", "digest Telegram chat set"),
    "follow_up.verify": ("核实差评", "差评 verified"),
    "follow_up.rectify": ("整改差评", "差评 rectified"),
    "follow_up.complete": ("差评反馈市民", "差评 answered to the citizen"),
    "appeal.request": ("申请排除评价", "exclusion appeal filed"),
    "appeal.decide": ("审核排除申诉", "exclusion appeal decided"),
    "department.create": ("新建部门", "department created"),
    "department.update": ("修改部门", "department renamed"),
    "department.activate": ("启用部门", "department reactivated"),
    "department.deactivate": ("停用部门", "department deactivated"),
    "service.create": ("新建服务事项", "service created"),
    "service.update": ("修改服务事项", "service changed"),
    "service.activate": ("启用服务事项", "service reactivated"),
    "service.deactivate": ("停用服务事项", "service deactivated"),
    "outlet.create": ("新建服务网点", "outlet created"),
    "outlet.update": ("修改服务网点", "outlet changed"),
    "outlet.activate": ("启用服务网点", "outlet reactivated"),
    "outlet.deactivate": ("停用服务网点", "outlet deactivated"),
    "catalog.import": ("导入目录", "catalogue imported"),
    "survey.create": ("新建问卷", "survey created"),
    "survey.edit": ("修改问卷草稿", "survey draft edited"),
    "survey.import": ("导入问卷定义", "survey definition imported"),
    "survey.publish": ("发布问卷", "survey published"),
    "survey.copy": ("复制问卷", "survey copied"),
    "survey.archive": ("归档问卷", "survey archived"),
    "survey.open_round": ("开始调查轮次", "survey round opened or planned"),
    "survey.close_round": ("结束调查轮次", "survey round closed"),
    "survey.schedule": ("设置定期调查", "recurring rounds scheduled"),
    "survey.unschedule": ("停止定期调查", "recurring rounds stopped"),
    "survey.invitations": ("生成邀请链接", "invitation links made"),
}


def action_name(action: str) -> tuple[str, str]:
    return ACTION_NAMES.get(action, (action, action))


def record_audit(
    session: Session,
    *,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    at: datetime,
) -> AuditEntry:
    """Append one entry; entries are never changed or deleted."""
    entry = AuditEntry(
        actor=actor.label,
        staff_user_id=actor.staff_user_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=before,
        after=after,
        created_at=at,
    )
    session.add(entry)
    return entry


def audit_entries(
    session: Session,
    *,
    actor: Actor,
    object_type: str | None = None,
    object_id: object = None,
    limit: int = 200,
) -> list[AuditEntry]:
    """The latest entries, newest first (admins only)."""
    require(actor, "audit.view")
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(max(1, min(limit, 1000)))
    if object_type is not None:
        query = query.where(AuditEntry.object_type == object_type)
    if object_id is not None:
        query = query.where(AuditEntry.object_id == str(object_id))
    return list(session.scalars(query))


def audit_page(
    session: Session,
    *,
    actor: Actor,
    object_type: str | None = None,
    action: str | None = None,
    page: object = 1,
    per_page: int = 50,
) -> Page:
    """One page of the log, newest first, optionally of one kind of object or action."""
    require(actor, "audit.view")
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if object_type:
        query = query.where(AuditEntry.object_type == object_type[:40])
    if action:
        query = query.where(AuditEntry.action == action[:40])
    return paginate(session, query, page=page, per_page=per_page)


def audit_object_types(session: Session, *, actor: Actor) -> list[str]:
    """The kinds of object the log holds, for the page's filter."""
    require(actor, "audit.view")
    return list(session.scalars(select(AuditEntry.object_type).distinct().order_by("object_type")))
