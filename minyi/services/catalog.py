"""Departments, services and outlets: the county's catalogue."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from minyi.errors import NotFound, ValidationFailed
from minyi.models import Department, Outlet, Service
from minyi.services.validation import check_ref, clean_text
from minyi.services.views import DepartmentRef


def create_department(
    session: Session, *, code: str, name: str, name_en: str | None = None
) -> Department:
    code = _code(code)
    name = clean_text(name, field_zh="部门名称", field_en="department name", max_chars=100)
    name_en = clean_text(
        name_en, field_zh="英文名称", field_en="English name", max_chars=120, required=False
    )
    if session.scalar(
        select(Department.id).where((Department.code == code) | (Department.name == name))
    ):
        raise ValidationFailed(
            f"部门 {code} / {name} 已存在", f"department {code} / {name} exists"
        )
    department = Department(code=code, name=name, name_en=name_en)
    session.add(department)
    session.flush()
    return department


def create_service(session: Session, *, department: Department, code: str, name: str) -> Service:
    department = get_department(session, department, active_only=True)
    code = _code(code)
    name = clean_text(name, field_zh="事项名称", field_en="service name", max_chars=200)
    if session.scalar(select(Service.id).where(Service.code == code)):
        raise ValidationFailed(f"事项编码 {code} 已存在", f"service code {code} exists")
    service = Service(department=department, code=code, name=name)
    session.add(service)
    session.flush()
    return service


def create_outlet(session: Session, *, code: str, name: str, address: str | None = None) -> Outlet:
    code = _code(code)
    name = clean_text(name, field_zh="服务网点名称", field_en="outlet name", max_chars=200)
    address = clean_text(
        address, field_zh="地址", field_en="address", max_chars=300, required=False
    )
    if session.scalar(select(Outlet.id).where(Outlet.code == code)):
        raise ValidationFailed(f"网点编码 {code} 已存在", f"outlet code {code} exists")
    outlet = Outlet(code=code, name=name, address=address)
    session.add(outlet)
    session.flush()
    return outlet


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


def get_service(session: Session, ref: int | str | Service) -> Service:
    """An active service by object, id or code; NotFound otherwise."""
    # With its department: every caller names it (a rating's view, a ticket's routing).
    service = _by_ref(session, Service, ref, "服务事项", "service", joinedload(Service.department))
    if not service.active:
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
    Department.id,
    Department.code,
    Department.name,
    Department.name_en,
).join(Department, Service.department_id == Department.id)
# Built once, run with a parameter: building a statement per call costs more than running it.
_SERVICE_BY_ID = _SERVICE_ROW.where(Service.id == bindparam("ref"))
_SERVICE_BY_CODE = _SERVICE_ROW.where(Service.code == bindparam("ref"))
_OUTLET_BY_ID = select(Outlet.id).where(Outlet.id == bindparam("ref"))
_OUTLET_BY_CODE = select(Outlet.id).where(Outlet.code == bindparam("ref"))


def service_ref(session: Session, ref: int | str | Service) -> ServiceRef:
    """get_service's answer (an active service, NotFound otherwise) as plain values.

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
    service_id, code, name, active, *department = row
    if not active:
        raise NotFound(f"找不到服务事项 {code}", f"unknown service {code}")
    return ServiceRef(service_id, code, name, DepartmentRef(*department))


def outlet_id(session: Session, ref: int | str | Outlet) -> int:
    """The id of the outlet get_outlet would return; NotFound otherwise."""
    if isinstance(ref, Outlet):
        return ref.id
    ref = check_ref(ref, kind_zh="服务网点", kind_en="outlet")
    query = _OUTLET_BY_ID if isinstance(ref, int) else _OUTLET_BY_CODE
    found = session.connection().execute(query, {"ref": ref}).scalar()
    if found is None:
        raise NotFound(f"找不到服务网点 {ref}", f"unknown outlet {ref}")
    return found


def get_outlet(session: Session, ref: int | str | Outlet) -> Outlet:
    """An outlet (service hall) by object, id or code; NotFound otherwise."""
    return _by_ref(session, Outlet, ref, "服务网点", "outlet")


def list_departments(session: Session, *, active_only: bool = True) -> list[Department]:
    query = select(Department).order_by(Department.id)
    if active_only:
        query = query.where(Department.active.is_(True))
    return list(session.scalars(query))


def _code(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 40:
        raise ValidationFailed("编码必须是 1-40 个字符", "code must be 1-40 characters")
    return value.strip()


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
