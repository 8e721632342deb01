"""Departments, services and outlets: the county's catalogue.

Codes are the catalogue's identity: they are printed in QR codes (`/r/<service code>`) and
named by every import file, so they never change once created; names do. Nothing is ever
deleted: a department, service or outlet is deactivated and its history stays. Every change
is checked against the "catalog.manage" permission and written to the audit log.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, joinedload

from minyi.db import utcnow
from minyi.errors import NotFound, ValidationFailed
from minyi.models import Department, Outlet, Service, Ticket, TicketStatus
from minyi.services.actors import Actor
from minyi.services.audit import record_audit
from minyi.services.permissions import require
from minyi.services.validation import check_flag, check_ref, clean_text
from minyi.services.views import DepartmentRef

# Whoever runs `minyi import catalog` on the server: allowed to manage the catalogue.
COMMAND_LINE = Actor.system("cli", "catalog.manage")

# The widths of the code columns (departments.code is the narrower one).
DEPARTMENT_CODE_CHARS = 32
CODE_CHARS = 40
# Codes go into URLs and QR codes as they are: letters, digits and . _ - only.
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# -- field checks: shared by the forms, the import and the functions below -------------------


def check_code(value: object, *, max_chars: int = CODE_CHARS) -> str:
    """A code of 1-`max_chars` letters, digits, '.', '_' or '-' (it goes into URLs)."""
    if not isinstance(value, str) or not 0 < len(value.strip()) <= max_chars:
        raise ValidationFailed(
            f"编码必须是 1-{max_chars} 个字符", f"code must be 1-{max_chars} characters"
        )
    code = value.strip()
    if not _CODE.match(code):
        raise ValidationFailed(
            f"编码 {code!r} 只能包含字母、数字和 . _ -（且以字母或数字开头）",
            f"code {code!r} may only hold letters, digits and . _ - (starting with a letter"
            " or digit)",
        )
    return code


def check_department_name(value: object) -> str:
    return clean_text(value, field_zh="部门名称", field_en="department name", max_chars=100)


def check_english_name(value: object) -> str | None:
    return clean_text(
        value, field_zh="英文名称", field_en="English name", max_chars=120, required=False
    )


def check_service_name(value: object) -> str:
    return clean_text(value, field_zh="事项名称", field_en="service name", max_chars=200)


def check_outlet_name(value: object) -> str:
    return clean_text(value, field_zh="服务网点名称", field_en="outlet name", max_chars=200)


def check_address(value: object) -> str | None:
    return clean_text(value, field_zh="地址", field_en="address", max_chars=300, required=False)


def check_active(value: object) -> bool:
    """A real yes/no for "in use"."""
    return check_flag(value, field_zh="是否启用", field_en="active")


# -- departments -----------------------------------------------------------------------------


def create_department(
    session: Session,
    *,
    code: str,
    name: str,
    name_en: str | None = None,
    actor: Actor = COMMAND_LINE,
    at: datetime | None = None,
) -> Department:
    """A new, active department with a unique code and name."""
    require(actor, "catalog.manage")
    code = check_code(code, max_chars=DEPARTMENT_CODE_CHARS)
    name = check_department_name(name)
    name_en = check_english_name(name_en)
    if session.scalar(select(Department.id).where(Department.code == code)):
        raise ValidationFailed(f"部门编码 {code} 已存在", f"department code {code} exists")
    _refuse_taken_department_name(session, name)
    department = Department(code=code, name=name, name_en=name_en, active=True)
    session.add(department)
    session.flush()
    _audit(session, actor, "department.create", department, None, _department(department), at)
    return department


def update_department(
    session: Session,
    department: int | str | Department,
    *,
    name: str,
    name_en: str | None,
    actor: Actor,
    at: datetime | None = None,
) -> Department:
    """Rename a department (Chinese and English names); its code stays."""
    require(actor, "catalog.manage")
    department = get_department(session, department)
    name = check_department_name(name)
    name_en = check_english_name(name_en)
    if name != department.name:
        _refuse_taken_department_name(session, name)
    before = _department(department)
    department.name, department.name_en = name, name_en
    _audit_change(session, actor, "department.update", department, before, _department, at)
    return department


def set_department_active(
    session: Session,
    department: int | str | Department,
    *,
    active: object,
    actor: Actor,
    at: datetime | None = None,
) -> Department:
    """Deactivate or reactivate a department; its services can no longer be rated meanwhile.

    Refused while tickets of the department are still open: they would have nobody to
    answer them. Ratings, tickets and accounts of the department stay as they are.
    """
    require(actor, "catalog.manage")
    department = get_department(session, department)
    active = check_active(active)
    if not active and department.active:
        open_tickets = session.scalar(
            select(func.count(Ticket.id)).where(
                Ticket.department_id == department.id, Ticket.status != TicketStatus.CLOSED
            )
        )
        if open_tickets:
            raise ValidationFailed(
                f"{department.name}还有 {open_tickets} 张未办结的工单，请先办结或改派后再停用",
                f"department {department.code} still has {open_tickets} open tickets: close or"
                " reassign them before deactivating it",
            )
    return _switch_active(session, actor, "department", department, active, _department, at)


def _switch_active(session: Session, actor: Actor, kind: str, row, active: bool, snapshot, at):
    """Set `row.active` and audit it as `<kind>.activate` or `<kind>.deactivate`."""
    before = snapshot(row)
    row.active = active
    action = f"{kind}.activate" if active else f"{kind}.deactivate"
    _audit_change(session, actor, action, row, before, snapshot, at)
    return row


def get_department(
    session: Session, ref: int | str | Department, *, active_only: bool = False
) -> Department:
    """A department by object, id or code; NotFound otherwise (also when inactive if asked)."""
    department = _by_ref(session, Department, ref, "部门", "department")
    if active_only and not department.active:
        raise NotFound(
            f"部门 {department.name} 已停用", f"department {department.code} is inactive"
        )
    return department


def list_departments(session: Session, *, active_only: bool = True) -> list[Department]:
    query = select(Department).order_by(Department.id)
    if active_only:
        query = query.where(Department.active.is_(True))
    return list(session.scalars(query))


def department_refs(session: Session) -> tuple[DepartmentRef, ...]:
    """The active departments as DepartmentRefs, in list_departments' order: a picker's
    buttons (the bot's department keyboard) need their ids and names, not the rows."""
    return tuple(DepartmentRef(*row) for row in session.execute(_department_refs_query()))


@functools.cache
def _department_refs_query():
    # Of the table, built once: loading eight Department entities through the ORM cost a
    # bot's department button more CPU than the rest of its read.
    columns = Department.__table__.c
    return (
        select(columns.id, columns.code, columns.name, columns.name_en)
        .where(columns.active.is_(True))
        .order_by(columns.id)
    )


def _refuse_taken_department_name(session: Session, name: str) -> None:
    if session.scalar(select(Department.code).where(Department.name == name)):
        raise ValidationFailed(f"部门名称 {name} 已被使用", f"department name {name} is taken")


# -- services --------------------------------------------------------------------------------


def create_service(
    session: Session,
    *,
    department: int | str | Department,
    code: str,
    name: str,
    actor: Actor = COMMAND_LINE,
    at: datetime | None = None,
) -> Service:
    """A new, active 政务服务事项 of an active department, under its unique 事项编码."""
    require(actor, "catalog.manage")
    department = get_department(session, department, active_only=True)
    code = check_code(code)
    name = check_service_name(name)
    if session.scalar(select(Service.id).where(Service.code == code)):
        raise ValidationFailed(f"事项编码 {code} 已存在", f"service code {code} exists")
    service = Service(department=department, code=code, name=name, active=True)
    session.add(service)
    session.flush()
    _audit(session, actor, "service.create", service, None, _service(service), at)
    return service


def update_service(
    session: Session,
    service: int | str | Service,
    *,
    name: str,
    department: int | str | Department | None = None,
    actor: Actor,
    at: datetime | None = None,
) -> Service:
    """Rename a service or move it to another (active) department; its 事项编码 stays.

    A moved service's past ratings and tickets keep the department they were given to.
    """
    require(actor, "catalog.manage")
    service = get_service(session, service, active_only=False)
    name = check_service_name(name)
    target = service.department
    if department is not None:
        target = get_department(session, department)
        if target.id != service.department_id and not target.active:
            raise ValidationFailed(
                f"部门 {target.name} 已停用，不能把事项移入",
                f"department {target.code} is inactive",
            )
    before = _service(service)
    service.name, service.department = name, target
    _audit_change(session, actor, "service.update", service, before, _service, at)
    return service


def set_service_active(
    session: Session,
    service: int | str | Service,
    *,
    active: object,
    actor: Actor,
    at: datetime | None = None,
) -> Service:
    """Deactivate or reactivate a service: a deactivated one can no longer be rated."""
    require(actor, "catalog.manage")
    service = get_service(session, service, active_only=False)
    active = check_active(active)
    return _switch_active(session, actor, "service", service, active, _service, at)


def get_service(
    session: Session, ref: int | str | Service, *, active_only: bool = True
) -> Service:
    """A service by object, id or code; NotFound otherwise.

    By default only one a citizen may rate: active, of an active department.
    """
    # With its department: every caller names it (a rating's view, a ticket's routing).
    service = _by_ref(session, Service, ref, "服务事项", "service", joinedload(Service.department))
    if active_only and not (service.active and service.department.active):
        raise NotFound(f"找不到服务事项 {service.code}", f"unknown service {service.code}")
    return service


@dataclass(frozen=True)
class ServiceRef:
    """What a submission needs of its service: ids and names, read without ORM objects."""

    id: int
    code: str
    name: str
    department: DepartmentRef


_SERVICE_ROW = select(
    Service.id,
    Service.code,
    Service.name,
    Service.active,
    Department.active,
    Department.id,
    Department.code,
    Department.name,
    Department.name_en,
).join(Department, Service.department_id == Department.id)
# Built once, run with a parameter: building a statement per call costs more than running it.
_SERVICE_BY_ID = _SERVICE_ROW.where(Service.id == bindparam("ref"))
_SERVICE_BY_CODE = _SERVICE_ROW.where(Service.code == bindparam("ref"))
_OUTLET_BY_ID = select(Outlet.id, Outlet.active).where(Outlet.id == bindparam("ref"))
_OUTLET_BY_CODE = select(Outlet.id, Outlet.active).where(Outlet.code == bindparam("ref"))


def service_ref(session: Session, ref: int | str | Service) -> ServiceRef:
    """get_service's answer (a rateable service, NotFound otherwise) as plain values.

    One row of one query: the hot paths (a rating, a complaint naming its service) need no
    ORM objects of the catalogue.
    """
    if isinstance(ref, Service):
        service = get_service(session, ref)
        d = service.department
        return ServiceRef(
            service.id, service.code, service.name, DepartmentRef(d.id, d.code, d.name, d.name_en)
        )
    ref = check_ref(ref, kind_zh="服务事项", kind_en="service")
    query = _SERVICE_BY_ID if isinstance(ref, int) else _SERVICE_BY_CODE
    row = session.connection().execute(query, {"ref": ref}).first()
    if row is None:
        raise NotFound(f"找不到服务事项 {ref}", f"unknown service {ref}")
    service_id, code, name, active, department_active, *department = row
    if not (active and department_active):
        raise NotFound(f"找不到服务事项 {code}", f"unknown service {code}")
    return ServiceRef(service_id, code, name, DepartmentRef(*department))


def outlet_id(session: Session, ref: int | str | Outlet) -> int:
    """The id of the outlet get_outlet would return (active only); NotFound otherwise."""
    if isinstance(ref, Outlet):
        return get_outlet(session, ref).id
    ref = check_ref(ref, kind_zh="服务网点", kind_en="outlet")
    query = _OUTLET_BY_ID if isinstance(ref, int) else _OUTLET_BY_CODE
    row = session.connection().execute(query, {"ref": ref}).first()
    if row is None:
        raise NotFound(f"找不到服务网点 {ref}", f"unknown outlet {ref}")
    if not row.active:
        raise NotFound(f"服务网点 {ref} 已停用", f"outlet {ref} is inactive")
    return row.id


def list_services(session: Session, department: int | str | Department) -> list[Service]:
    """The active services of an active department, by code: what a citizen may rate."""
    department = get_department(session, department, active_only=True)
    return list(
        session.scalars(
            select(Service)
            .where(Service.department_id == department.id, Service.active.is_(True))
            .order_by(Service.code)
        )
    )


def rateable_services(session: Session, departments: list[int] | None = None) -> list[Service]:
    """Every service a citizen may rate now (of the given department ids, if any), by
    department and code, with its department loaded."""
    query = (
        select(Service)
        .join(Service.department)
        .options(joinedload(Service.department))
        .where(Service.active.is_(True), Department.active.is_(True))
        .order_by(Department.id, Service.code)
    )
    if departments is not None:
        query = query.where(Service.department_id.in_(departments))
    return list(session.scalars(query))


def catalogue(session: Session) -> list[tuple[Department, list[Service]]]:
    """Every department with all its services, inactive ones included: the admin's view."""
    services: dict[int, list[Service]] = {}
    for service in session.scalars(select(Service).order_by(Service.code)):
        services.setdefault(service.department_id, []).append(service)
    return [
        (department, services.get(department.id, []))
        for department in list_departments(session, active_only=False)
    ]


# -- outlets ---------------------------------------------------------------------------------


def create_outlet(
    session: Session,
    *,
    code: str,
    name: str,
    address: str | None = None,
    actor: Actor = COMMAND_LINE,
    at: datetime | None = None,
) -> Outlet:
    """A new, active outlet (service hall) with a unique code."""
    require(actor, "catalog.manage")
    code = check_code(code)
    name = check_outlet_name(name)
    address = check_address(address)
    if session.scalar(select(Outlet.id).where(Outlet.code == code)):
        raise ValidationFailed(f"网点编码 {code} 已存在", f"outlet code {code} exists")
    outlet = Outlet(code=code, name=name, address=address, active=True)
    session.add(outlet)
    session.flush()
    _audit(session, actor, "outlet.create", outlet, None, _outlet(outlet), at)
    return outlet


def update_outlet(
    session: Session,
    outlet: int | str | Outlet,
    *,
    name: str,
    address: str | None,
    actor: Actor,
    at: datetime | None = None,
) -> Outlet:
    """Rename an outlet or change its address; its code stays."""
    require(actor, "catalog.manage")
    outlet = get_outlet(session, outlet, active_only=False)
    name = check_outlet_name(name)
    address = check_address(address)
    before = _outlet(outlet)
    outlet.name, outlet.address = name, address
    _audit_change(session, actor, "outlet.update", outlet, before, _outlet, at)
    return outlet


def set_outlet_active(
    session: Session,
    outlet: int | str | Outlet,
    *,
    active: object,
    actor: Actor,
    at: datetime | None = None,
) -> Outlet:
    """Deactivate or reactivate an outlet: new ratings can no longer name a deactivated one."""
    require(actor, "catalog.manage")
    outlet = get_outlet(session, outlet, active_only=False)
    active = check_active(active)
    return _switch_active(session, actor, "outlet", outlet, active, _outlet, at)


def get_outlet(session: Session, ref: int | str | Outlet, *, active_only: bool = True) -> Outlet:
    """An outlet (service hall) by object, id or code; NotFound otherwise (by default also
    when deactivated)."""
    outlet = _by_ref(session, Outlet, ref, "服务网点", "outlet")
    if active_only and not outlet.active:
        raise NotFound(f"服务网点 {outlet.name} 已停用", f"outlet {outlet.code} is inactive")
    return outlet


def list_outlets(session: Session, *, active_only: bool = True) -> list[Outlet]:
    query = select(Outlet).order_by(Outlet.code)
    if active_only:
        query = query.where(Outlet.active.is_(True))
    return list(session.scalars(query))


# -- shared ----------------------------------------------------------------------------------


def _by_ref(session: Session, model, ref: object, kind_zh: str, kind_en: str, *options):
    """`ref` itself when it is a `model` row, else the row with that id or code; NotFound."""
    if isinstance(ref, model):
        return ref
    ref = check_ref(ref, kind_zh=kind_zh, kind_en=kind_en)
    column = model.id if isinstance(ref, int) else model.code
    row = session.scalar(select(model).options(*options).where(column == ref))
    if row is None:
        raise NotFound(f"找不到{kind_zh} {ref}", f"unknown {kind_en} {ref}")
    return row


def _department(department: Department) -> dict[str, Any]:
    return {
        "code": department.code,
        "name": department.name,
        "name_en": department.name_en,
        "active": department.active,
    }


def _service(service: Service) -> dict[str, Any]:
    return {
        "code": service.code,
        "name": service.name,
        "department": service.department.code,
        "active": service.active,
    }


def _outlet(outlet: Outlet) -> dict[str, Any]:
    return {
        "code": outlet.code,
        "name": outlet.name,
        "address": outlet.address,
        "active": outlet.active,
    }


_OBJECT_TYPES = {Department: "department", Service: "service", Outlet: "outlet"}


def _audit(session, actor, action, row, before, after, at) -> None:
    record_audit(
        session,
        actor=actor,
        action=action,
        object_type=_OBJECT_TYPES[type(row)],
        object_id=row.id,
        before=before,
        after=after,
        at=at or utcnow(),
    )


def _audit_change(session, actor, action, row, before, snapshot, at) -> None:
    """Audit the fields that changed (with the code, for the reader); nothing if none did."""
    after = snapshot(row)
    changed = ["code"] + [key for key in after if after[key] != before[key]]
    if len(changed) > 1:
        _audit(
            session,
            actor,
            action,
            row,
            {key: before[key] for key in changed},
            {key: after[key] for key in changed},
            at,
        )
    session.flush()
