"""The county's catalogue: departments, services and outlets are created, renamed and
deactivated by admins only, every change audited, history kept."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from minyi.errors import NotFound, PermissionDenied, ValidationFailed
from minyi.models import Rating, Role
from minyi.services import audit, catalog, ratings, staff, tickets
from minyi.services.actors import Actor
from minyi.services.views import DepartmentRef, department_ref
from tests.builders import make_department, make_service, make_staff, make_ticket

# Input checks and page rules that no database behaviour decides: SQLite alone is enough
# (each PostgreSQL run costs a schema truncate).
SQLITE_ONLY = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


@pytest.fixture
def admin(session):
    return Actor.staff(make_staff(session, Role.ADMIN, username="boss"))


def entries(session, admin, object_type):
    return [
        (e.action, e.before, e.after)
        for e in reversed(audit.audit_entries(session, actor=admin, object_type=object_type))
    ]


def test_department_changes_are_audited_before_and_after(session, admin):
    department = catalog.create_department(session, code="rsj", name="人社局", actor=admin)
    catalog.update_department(
        session, "rsj", name="人力资源和社会保障局", name_en="HRSS Bureau", actor=admin
    )
    # Saving the same names again changes nothing and writes no entry.
    catalog.update_department(
        session, department, name="人力资源和社会保障局", name_en="HRSS Bureau", actor=admin
    )
    catalog.set_department_active(session, department.id, active=False, actor=admin)
    catalog.set_department_active(session, department, active=True, actor=admin)
    assert entries(session, admin, "department") == [
        (
            "department.create",
            None,
            {"code": "rsj", "name": "人社局", "name_en": None, "active": True},
        ),
        (
            "department.update",
            {"code": "rsj", "name": "人社局", "name_en": None},
            {"code": "rsj", "name": "人力资源和社会保障局", "name_en": "HRSS Bureau"},
        ),
        (
            "department.deactivate",
            {"code": "rsj", "active": True},
            {"code": "rsj", "active": False},
        ),
        ("department.activate", {"code": "rsj", "active": False}, {"code": "rsj", "active": True}),
    ]
    assert {e.actor for e in audit.audit_entries(session, actor=admin)} == {
        "system:cli",
        "staff:boss",
    }


@SQLITE_ONLY
def test_only_admins_and_the_command_line_manage_the_catalogue(session, admin):
    department = make_department(session)
    officer = Actor.staff(make_staff(session, Role.OFFICER, department=department.code))
    analyst = Actor.staff(make_staff(session, Role.ANALYST))
    for actor in (officer, analyst, staff.COMMAND_LINE, tickets.ROUTER):
        with pytest.raises(PermissionDenied):
            catalog.create_department(session, code="x", name="某局", actor=actor)
        with pytest.raises(PermissionDenied):
            catalog.update_department(session, department, name="改名", name_en=None, actor=actor)
        with pytest.raises(PermissionDenied):
            catalog.set_department_active(session, department, active=False, actor=actor)
        with pytest.raises(PermissionDenied):
            catalog.create_outlet(session, code="hall", name="大厅", actor=actor)
    assert catalog.get_department(session, department.id).active
    assert catalog.create_outlet(session, code="hall", name="大厅", actor=admin).active


@SQLITE_ONLY
@pytest.mark.parametrize(
    "code, message",
    [
        ("", "1-32"),
        ("x" * 33, "1-32"),  # departments.code is 32 wide: PostgreSQL would refuse 33
        ("rsj 01", "letters, digits"),
        ("rsj/01", "letters, digits"),
        ("-rsj", "letters, digits"),
        ("人社", "letters, digits"),
        (None, "1-32"),
    ],
)
def test_department_codes_fit_a_url(session, admin, code, message):
    with pytest.raises(ValidationFailed) as info:
        catalog.create_department(session, code=code, name="某局", actor=admin)
    assert message in info.value.message_en and info.value.message_zh


@SQLITE_ONLY
def test_names_are_checked_and_unique(session, admin):
    catalog.create_department(session, code="rsj", name="人社局", actor=admin)
    zjj = catalog.create_department(session, code="zjj", name="住建局", actor=admin)
    with pytest.raises(ValidationFailed, match="taken"):
        catalog.update_department(session, zjj, name="人社局", name_en=None, actor=admin)
    with pytest.raises(ValidationFailed, match="exists"):
        catalog.create_department(session, code="rsj", name="另一个局", actor=admin)
    with pytest.raises(ValidationFailed, match="empty"):
        catalog.update_department(session, zjj, name="  ", name_en=None, actor=admin)
    with pytest.raises(ValidationFailed, match="too long"):
        catalog.update_department(session, zjj, name="局" * 101, name_en=None, actor=admin)
    service = catalog.create_service(
        session, department=zjj, code="zjj-01", name="公积金", actor=admin
    )
    with pytest.raises(ValidationFailed, match="exists"):
        catalog.create_service(session, department=zjj, code="zjj-01", name="又一个", actor=admin)
    with pytest.raises(ValidationFailed, match="too long"):
        catalog.update_service(session, service, name="事" * 201, actor=admin)
    assert catalog.get_department(session, "zjj").name == "住建局"
    assert catalog.get_service(session, "zjj-01").name == "公积金"


def test_a_deactivated_service_is_no_longer_rateable_and_keeps_its_ratings(session, ctx, admin):
    service = make_service(session)
    ratings.record_rating(session, ctx, service=service.code, score=4)
    catalog.set_service_active(session, service, active=False, actor=admin)
    with pytest.raises(NotFound):
        ratings.record_rating(session, ctx, service=service.code, score=5)
    with pytest.raises(NotFound):
        make_ticket(session, ctx, service=service.code)
    assert catalog.list_services(session, service.department) == []
    assert session.scalar(select(func.count()).select_from(Rating)) == 1
    catalog.set_service_active(session, service.code, active=True, actor=admin)
    assert ratings.record_rating(session, ctx, service=service.code, score=5).score == 5


def test_a_deactivated_departments_services_are_not_rateable(session, ctx, admin):
    service = make_service(session)
    department = service.department
    catalog.set_department_active(session, department, active=False, actor=admin)
    with pytest.raises(NotFound):
        ratings.record_rating(session, ctx, service=service.code, score=5)
    with pytest.raises(NotFound):
        catalog.list_services(session, department)
    assert department not in catalog.list_departments(session)
    assert service not in catalog.rateable_services(session)
    assert service.active  # its own flag is untouched: reactivating the department is enough
    # Staff still find it, to rename or reactivate it.
    assert catalog.get_service(session, service.code, active_only=False) is service
    catalog.update_service(session, service, name="新名称", actor=admin)
    catalog.set_department_active(session, department, active=True, actor=admin)
    assert catalog.rateable_services(session) == [service]


def test_department_refs_are_the_active_departments_as_listed(session, admin):
    kept, dropped, renamed = (make_department(session) for _ in range(3))
    catalog.set_department_active(session, dropped, active=False, actor=admin)
    catalog.update_department(session, renamed, name="新名称", name_en="New", actor=admin)
    refs = catalog.department_refs(session)
    assert refs == tuple(department_ref(d) for d in catalog.list_departments(session))
    assert department_ref(kept) in refs and department_ref(dropped) not in refs
    assert DepartmentRef(renamed.id, renamed.code, "新名称", "New") in refs


def test_a_department_with_open_tickets_cannot_be_deactivated(session, ctx, admin):
    department = make_department(session)
    ticket = make_ticket(session, ctx)
    tickets.assign(session, ctx, ticket, department, actor=admin)
    with pytest.raises(ValidationFailed) as info:
        catalog.set_department_active(session, department, active=False, actor=admin)
    assert "1 open tickets" in info.value.message_en and "1 张未办结" in info.value.message_zh
    assert department.active


def test_a_service_moves_to_another_active_department_only(session, ctx, admin):
    service = make_service(session)
    old = service.department
    rating = ratings.record_rating(session, ctx, service=service.code, score=4)
    new = make_department(session)
    closed = make_department(session)
    catalog.set_department_active(session, closed, active=False, actor=admin)
    with pytest.raises(ValidationFailed, match="inactive"):
        catalog.update_service(session, service, name=service.name, department=closed, actor=admin)
    assert service.department_id == old.id
    catalog.update_service(session, service, name=service.name, department=new.code, actor=admin)
    assert service.department_id == new.id
    assert rating.department_id == old.id  # the past stays with the department it was given to
    (entry,) = audit.audit_entries(session, actor=admin, object_type="service", limit=1)
    assert entry.before["department"] == old.code and entry.after["department"] == new.code


def test_a_deactivated_outlet_cannot_be_named_by_new_ratings(session, ctx, admin):
    service = make_service(session)
    outlet = catalog.create_outlet(session, code="hall-1", name="第一大厅", actor=admin)
    ratings.record_rating(session, ctx, service=service, score=5, outlet="hall-1")
    catalog.update_outlet(session, outlet, name="政务服务大厅", address="县府路 1 号", actor=admin)
    catalog.set_outlet_active(session, "hall-1", active=False, actor=admin)
    with pytest.raises(NotFound):
        ratings.record_rating(session, ctx, service=service, score=5, outlet="hall-1")
    assert catalog.list_outlets(session) == []
    assert catalog.list_outlets(session, active_only=False) == [outlet]
    assert [action for action, *_ in entries(session, admin, "outlet")] == [
        "outlet.create",
        "outlet.update",
        "outlet.deactivate",
    ]
    with pytest.raises(ValidationFailed):
        catalog.set_outlet_active(session, outlet, active="no", actor=admin)
    assert not outlet.active


def test_catalogue_lists_every_department_with_all_its_services(session, admin):
    a = make_department(session, code="a1")
    b = make_department(session, code="b1")
    s2 = make_service(session, department=a, code="a-02")
    s1 = make_service(session, department=a, code="a-01")
    catalog.set_service_active(session, s2, active=False, actor=admin)
    catalog.set_department_active(session, b, active=False, actor=admin)
    assert catalog.catalogue(session) == [(a, [s1, s2]), (b, [])]
    assert catalog.rateable_services(session, [b.id]) == []
    assert catalog.rateable_services(session, [a.id]) == [s1]
