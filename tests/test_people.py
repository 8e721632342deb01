import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from minyi.errors import PermissionDenied, ValidationFailed
from minyi.models import Channel, Citizen, Role, StaffUser
from minyi.services import audit, citizens, staff
from minyi.services.actors import Actor
from tests.builders import make_department, make_staff


def test_citizen_registered_once_per_channel_identity(session):
    a = citizens.get_or_create_citizen(
        session, channel="telegram", external_id=42, display_name="张三", language="zh-hans"
    )
    b = citizens.get_or_create_citizen(session, channel=Channel.TELEGRAM, external_id="42")
    web = citizens.get_or_create_citizen(session, channel="web", external_id="42")
    session.commit()
    assert a.id == b.id != web.id
    assert a.language == "zh"
    assert session.scalar(select(func.count()).select_from(Citizen)) == 2


@pytest.mark.parametrize(
    "channel, external", [("fax", "1"), ("web", ""), ("web", None), ("web", "x" * 200)]
)
def test_bad_citizen_identity(session, channel, external):
    with pytest.raises(ValidationFailed):
        citizens.get_or_create_citizen(session, channel=channel, external_id=external)


def test_staff_roles_and_authentication(session):
    dept = make_department(session)
    officer = staff.create_staff_user(
        session,
        username="li.officer",
        password="s3cret-pass",
        role="officer",
        department=dept.code,
    )
    session.commit()
    assert officer.department_id == dept.id and officer.role == Role.OFFICER
    assert staff.authenticate(session, "li.officer", "s3cret-pass").id == officer.id
    assert staff.authenticate(session, "li.officer", "wrong-pass") is None
    assert staff.authenticate(session, "nobody", "s3cret-pass") is None


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"username": "a"}, "用户名"),
        ({"username": "bad name!"}, "用户名"),
        ({"password": "short"}, "密码"),
        ({"role": "king"}, "角色"),
        ({"role": "officer", "department": None}, "部门"),
    ],
)
def test_bad_staff_accounts(session, fields, message):
    base = {"username": "wang", "password": "long-enough-1", "role": "admin"}
    with pytest.raises(ValidationFailed, match=message):
        staff.create_staff_user(session, **(base | fields))


def test_duplicate_username(session):
    staff.create_staff_user(session, username="wang", password="long-enough-1", role="admin")
    with pytest.raises(ValidationFailed, match="已被使用"):
        staff.create_staff_user(session, username="wang", password="long-enough-2", role="analyst")


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"password": "123456789012"}, "只有数字"),
        ({"password": "nine-char"}, "至少 10 位"),
        ({"password": None}, "密码"),
        ({"role": "admin", "department": "d-x"}, "只有部门工作人员"),
        ({"role": "analyst", "department": "d-x"}, "只有部门工作人员"),
    ],
)
def test_password_policy_and_departments_only_for_officers(session, fields, message):
    make_department(session, code="d-x", name="某部门")
    base = {"username": "zhao", "password": "long-enough-1", "role": "admin"}
    with pytest.raises(ValidationFailed, match=message):
        staff.create_staff_user(session, **(base | fields))
    assert session.scalar(select(func.count()).select_from(StaffUser)) == 0


def test_usernames_are_one_account_regardless_of_case(session):
    user = staff.create_staff_user(
        session, username="Wang", password="long-enough-1", role="admin"
    )
    with pytest.raises(ValidationFailed, match="已被使用"):
        staff.create_staff_user(session, username="wANG", password="long-enough-2", role="admin")
    assert staff.authenticate(session, "WANG", "long-enough-1").id == user.id
    assert staff.authenticate(session, " wang ", "long-enough-1").id == user.id


def test_the_database_refuses_a_second_username_differing_in_case(session):
    staff.create_staff_user(session, username="liu", password="long-enough-1", role="admin")
    session.commit()
    session.add(StaffUser(username="LIU", display_name="x", password_hash="x", role=Role.ADMIN))
    with pytest.raises(IntegrityError):
        session.flush()


def test_account_changes_are_audited_and_only_admins_manage(session):
    admin_user = staff.create_staff_user(
        session, username="boss", password="long-enough-1", role="admin"
    )
    analyst = staff.create_staff_user(
        session, username="ana", password="long-enough-1", role="analyst"
    )
    admin = Actor.staff(admin_user)
    with pytest.raises(PermissionDenied):
        staff.create_staff_user(
            session,
            username="x1",
            password="long-enough-1",
            role="admin",
            actor=Actor.staff(analyst),
        )
    with pytest.raises(ValidationFailed):
        staff.set_staff_active(session, admin_user, active=False, actor=admin)
    staff.set_staff_active(session, analyst, active=False, actor=admin)
    assert staff.authenticate(session, "ana", "long-enough-1") is None
    entries = audit.audit_entries(session, actor=admin, object_type="staff_user")
    assert [(e.action, e.actor) for e in entries] == [
        ("staff.deactivate", "staff:boss"),
        ("staff.create", "system:cli"),
        ("staff.create", "system:cli"),
    ]
    assert entries[0].before == {"active": True} and entries[0].after == {"active": False}
    assert entries[1].after["role"] == "analyst"
    with pytest.raises(PermissionDenied):
        audit.audit_entries(session, actor=Actor.staff(make_staff(session, Role.ANALYST)))
