import pytest
from sqlalchemy import func, select

from minyi.errors import ValidationFailed
from minyi.models import Channel, Citizen, Role
from minyi.services import citizens, staff
from tests.builders import make_department


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
