"""Admins keep the county's catalogue on the web and print its QR posters; nobody else may."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from minyi.models import AuditEntry, Department, Outlet, Service
from minyi.services import catalog, tickets
from minyi.services.actors import Actor
from tests.builders import make_ticket
from tests.web_support import csrf_token_of, sign_in

# Input checks and page rules that no database behaviour decides: SQLite alone is enough
# (each PostgreSQL run costs a schema truncate).
SQLITE_ONLY = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)

LIST = "/staff/catalog"


def snapshot(session_factory):
    """Everything the catalogue pages can change, and the audit log's length."""
    with session_factory() as s:
        rows = [
            (type(row).__name__, row.code, row.name, row.active)
            for model in (Department, Service, Outlet)
            for row in s.scalars(select(model).order_by(model.id))
        ]
        return rows, s.scalar(select(func.count(AuditEntry.id)))


@pytest.fixture
def admin(web_client, staff_world):
    sign_in(web_client, "admin1")
    return web_client


@pytest.fixture
def outlet(session_factory):
    with session_factory.begin() as s:
        return catalog.create_outlet(
            s, code="hall-1f", name="政务服务中心一楼", address="县府路 1 号"
        )


def routes(world, outlet_id: int) -> list[tuple[str, str]]:
    own, service = world.own.id, world.own_service.id
    return [
        ("GET", LIST),
        ("GET", "/staff/catalog/departments/new"),
        ("POST", "/staff/catalog/departments/new"),
        ("GET", f"/staff/catalog/departments/{own}"),
        ("POST", f"/staff/catalog/departments/{own}"),
        ("POST", f"/staff/catalog/departments/{own}/active"),
        ("GET", "/staff/catalog/services/new"),
        ("POST", "/staff/catalog/services/new"),
        ("GET", f"/staff/catalog/services/{service}"),
        ("POST", f"/staff/catalog/services/{service}"),
        ("POST", f"/staff/catalog/services/{service}/active"),
        ("GET", f"/staff/catalog/services/{service}/poster"),
        ("GET", "/staff/catalog/outlets/new"),
        ("POST", "/staff/catalog/outlets/new"),
        ("GET", f"/staff/catalog/outlets/{outlet_id}"),
        ("POST", f"/staff/catalog/outlets/{outlet_id}"),
        ("POST", f"/staff/catalog/outlets/{outlet_id}/active"),
        ("GET", f"/staff/catalog/outlets/{outlet_id}/posters"),
    ]


@SQLITE_ONLY
@pytest.mark.parametrize("username", ["analyst1", "hr1"])
def test_analysts_and_officers_get_403_everywhere_and_change_nothing(
    web_client, staff_world, outlet, session_factory, username
):
    sign_in(web_client, username)
    token = csrf_token_of(web_client, "/staff/")
    before = snapshot(session_factory)
    form = {"csrf_token": token, "code": "x1", "name": "某局", "active": "0", "department": "1"}
    for method, path in routes(staff_world, outlet.id):
        response = web_client.open(path, method=method, data=form if method == "POST" else None)
        assert response.status_code == 403, (method, path)
    assert snapshot(session_factory) == before
    assert f'href="{LIST}"' not in web_client.get("/staff/").get_data(as_text=True)


@SQLITE_ONLY
def test_signed_out_visitors_are_sent_to_the_sign_in(web_client, staff_world, outlet):
    for method, path in routes(staff_world, outlet.id):
        response = web_client.open(path, method=method)
        assert response.status_code == 302 and "/staff/login" in response.headers["Location"]


@SQLITE_ONLY
def test_the_admin_sees_every_department_service_and_outlet(admin, staff_world, outlet):
    assert f'href="{LIST}"' in admin.get("/staff/").get_data(as_text=True)
    html = admin.get(LIST).get_data(as_text=True)
    for text in (
        "县人力资源和社会保障局",
        "HR bureau",
        "社保卡申领",
        "县交通运输局",
        "道路运输证",
    ):
        assert text in html
    assert "政务服务中心一楼" in html and "县府路 1 号" in html
    assert f"/staff/catalog/services/{staff_world.own_service.id}/poster" in html
    assert f"/staff/catalog/outlets/{outlet.id}/posters" in html


def test_the_admin_adds_a_department_a_service_and_an_outlet(admin, session_factory):
    token = csrf_token_of(admin, "/staff/catalog/departments/new")
    response = admin.post(
        "/staff/catalog/departments/new",
        data={"csrf_token": token, "code": "wjw", "name": "县卫生健康局", "name_en": "Health"},
    )
    assert response.status_code == 302
    assert "已新建" in admin.get(response.headers["Location"]).get_data(as_text=True)
    with session_factory() as s:
        department = catalog.get_department(s, "wjw")
    response = admin.post(
        "/staff/catalog/services/new",
        data={
            "csrf_token": token,
            "code": "wjw-01",
            "name": "医师执业注册",
            "department": str(department.id),
        },
    )
    assert response.status_code == 302
    response = admin.post(
        "/staff/catalog/outlets/new",
        data={"csrf_token": token, "code": "town-dh", "name": "大河镇便民服务中心", "address": ""},
    )
    assert response.status_code == 302
    with session_factory() as s:
        assert catalog.get_service(s, "wjw-01").department.code == "wjw"
        assert catalog.get_outlet(s, "town-dh").address is None
        actions = s.scalars(
            select(AuditEntry.action).where(AuditEntry.actor == "staff:admin1")
        ).all()
        assert actions == ["department.create", "service.create", "outlet.create"]
    # The new service is rateable at once, from its QR code's page.
    assert admin.get("/r/wjw-01?outlet=town-dh").status_code == 200


@SQLITE_ONLY
@pytest.mark.parametrize(
    "path, fields, message",
    [
        ("departments/new", {"code": "", "name": "县某局"}, "编码必须是 1-32 个字符"),
        ("departments/new", {"code": "a b", "name": "县某局"}, "只能包含字母"),
        ("departments/new", {"code": "zz", "name": "县交通运输局"}, "已被使用"),
        ("departments/new", {"code": "zz", "name": "局" * 101}, "部门名称太长"),
        ("departments/new", {"code": "zz", "name": "  "}, "部门名称不能为空"),
        ("services/new", {"code": "zz-1", "name": "某事项", "department": ""}, "请选择所属部门"),
        ("services/new", {"code": "zz-1", "name": "某事项", "department": "999"}, "找不到部门"),
        (
            "services/new",
            {"code": "zz-1", "name": "某事项", "department": "abc"},
            "请选择所属部门",
        ),
        ("outlets/new", {"code": "zz<script>", "name": "某大厅"}, "只能包含字母"),
        ("outlets/new", {"code": "zz", "name": "某大厅", "address": "路" * 301}, "地址太长"),
    ],
)
def test_bad_input_shows_the_message_keeps_what_was_typed_and_changes_nothing(
    admin, staff_world, session_factory, path, fields, message
):
    before = snapshot(session_factory)
    url = f"/staff/catalog/{path}"
    response = admin.post(url, data={"csrf_token": csrf_token_of(admin, url)} | fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and message in html
    typed = fields["name"].strip()
    if typed and len(typed) < 100:
        assert f'value="{typed}"' in html
    if "<script>" in fields["code"]:
        assert "<script>" not in html and "zz&lt;script&gt;" in html
    assert snapshot(session_factory) == before


def test_renames_and_moves_keep_codes_and_are_audited(admin, staff_world, outlet, session_factory):
    own, other, service = staff_world.own, staff_world.other, staff_world.own_service
    token = csrf_token_of(admin, LIST)
    edit = f"/staff/catalog/departments/{own.id}"
    form_page = admin.get(edit).get_data(as_text=True)
    assert 'value="县人力资源和社会保障局"' in form_page and 'name="code"' not in form_page
    response = admin.post(
        edit, data={"csrf_token": token, "name": "县人社局", "name_en": "", "code": "hacked"}
    )
    assert response.status_code == 302
    response = admin.post(
        f"/staff/catalog/services/{service.id}",
        data={"csrf_token": token, "name": "社会保障卡申领", "department": str(other.id)},
    )
    assert response.status_code == 302
    response = admin.post(
        f"/staff/catalog/outlets/{outlet.id}",
        data={"csrf_token": token, "name": "政务服务中心", "address": "县府路 2 号"},
    )
    assert response.status_code == 302
    with session_factory() as s:
        department = catalog.get_department(s, own.id)
        assert (department.code, department.name, department.name_en) == (
            own.code,
            "县人社局",
            None,
        )
        moved = catalog.get_service(s, service.id)
        assert (moved.name, moved.department_id) == ("社会保障卡申领", other.id)
        assert catalog.get_outlet(s, outlet.id).address == "县府路 2 号"
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "department.update")).one()
        assert entry.before == {"code": own.code, "name": own.name, "name_en": "HR bureau"}
        assert entry.after == {"code": own.code, "name": "县人社局", "name_en": None}
    audit_page = admin.get("/staff/audit").get_data(as_text=True)
    assert "修改部门" in audit_page and "修改服务事项" in audit_page


@SQLITE_ONLY
def test_a_bad_rename_keeps_what_was_typed(admin, staff_world, session_factory):
    before = snapshot(session_factory)
    edit = f"/staff/catalog/departments/{staff_world.own.id}"
    response = admin.post(
        edit,
        data={"csrf_token": csrf_token_of(admin, edit), "name": "县交通运输局", "name_en": "Mine"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "已被使用" in html
    assert 'value="县交通运输局"' in html and 'value="Mine"' in html
    assert snapshot(session_factory) == before


def test_a_forged_token_changes_nothing(admin, staff_world, outlet, session_factory):
    before = snapshot(session_factory)
    forged = {"csrf_token": "forged", "code": "zz", "name": "县某局", "active": "0"}
    forged["department"] = str(staff_world.own.id)
    for method, path in routes(staff_world, outlet.id):
        if method == "POST":
            response = admin.post(path, data=forged)
            assert response.status_code == 400, path
            assert "未做任何修改" in response.get_data(as_text=True)
    assert snapshot(session_factory) == before


def test_deactivating_a_service_stops_its_rating_page_until_reactivated(
    admin, staff_world, session_factory
):
    service = staff_world.own_service
    token = csrf_token_of(admin, LIST)
    toggle = f"/staff/catalog/services/{service.id}/active"
    response = admin.post(toggle, data={"csrf_token": token, "active": "0"})
    assert response.status_code == 302
    assert "已停用" in admin.get(response.headers["Location"]).get_data(as_text=True)
    assert admin.get(f"/r/{service.code}").status_code == 404
    assert admin.get(f"/staff/catalog/services/{service.id}/poster").status_code == 404
    assert admin.post(toggle, data={"csrf_token": token, "active": "1"}).status_code == 302
    assert admin.get(f"/r/{service.code}").status_code == 200


def test_deactivating_a_department_takes_its_services_off_the_public_pages(
    admin, staff_world, session_factory
):
    own, service = staff_world.own, staff_world.own_service
    token = csrf_token_of(admin, LIST)
    assert (
        admin.post(
            f"/staff/catalog/departments/{own.id}/active",
            data={"csrf_token": token, "active": "0"},
        ).status_code
        == 302
    )
    assert admin.get(f"/r/{service.code}").status_code == 404
    assert own.name not in admin.get("/rate").get_data(as_text=True)
    html = admin.get(LIST).get_data(as_text=True)
    assert "部门已停用" in html
    assert f"/staff/catalog/services/{service.id}/poster" not in html


def test_a_department_with_open_tickets_stays_active_with_the_reason_shown(
    admin, staff_world, session_factory, ctx
):
    with session_factory.begin() as s:
        ticket = make_ticket(s, ctx)
        admin_actor = Actor.staff(s.get(type(staff_world.admin), staff_world.admin.id))
        tickets.assign(s, ctx, ticket, staff_world.own.id, actor=admin_actor)
    before = snapshot(session_factory)
    response = admin.post(
        f"/staff/catalog/departments/{staff_world.own.id}/active",
        data={"csrf_token": csrf_token_of(admin, LIST), "active": "0"},
    )
    assert response.status_code == 400
    assert "1 张未办结的工单" in response.get_data(as_text=True)
    assert snapshot(session_factory) == before


@SQLITE_ONLY
def test_unknown_ids_are_404(admin, staff_world):
    for path in (
        "/staff/catalog/departments/999",
        "/staff/catalog/services/999",
        "/staff/catalog/outlets/999",
        "/staff/catalog/services/999/poster",
        "/staff/catalog/outlets/999/posters",
    ):
        assert admin.get(path).status_code == 404, path
    token = csrf_token_of(admin, LIST)
    response = admin.post(
        "/staff/catalog/services/999/active", data={"csrf_token": token, "active": "0"}
    )
    assert response.status_code == 404


# --------------------------------------------------------------------------- posters


@SQLITE_ONLY
def test_a_service_poster_names_it_and_holds_a_scalable_qr_to_its_public_page(
    admin, web_app, staff_world, outlet
):
    web_app.extensions["minyi"]["settings"].web.public_base_url = "https://my.county.gov.cn/"
    service = staff_world.own_service
    html = admin.get(f"/staff/catalog/services/{service.id}/poster").get_data(as_text=True)
    (poster,) = re.findall(r'<section class="poster".*?</section>', html, re.S)
    assert "社保卡申领" in poster and "县人力资源和社会保障局" in poster and "HR bureau" in poster
    assert f"https://my.county.gov.cn/r/{service.code}<" in poster
    assert re.search(r'<svg viewBox="0 0 \d+ \d+"', poster)  # no fixed size: CSS scales it
    # For one hall: the QR code and the printed address carry ?outlet=, so ratings count there.
    html = admin.get(f"/staff/catalog/services/{service.id}/poster?outlet=hall-1f").get_data(
        as_text=True
    )
    assert f"https://my.county.gov.cn/r/{service.code}?outlet=hall-1f" in html
    assert "政务服务中心一楼" in html
    assert admin.get(f"/staff/catalog/services/{service.id}/poster?outlet=nope").status_code == 404


@SQLITE_ONLY
def test_an_outlets_page_has_every_rateable_services_poster_or_the_chosen_departments(
    admin, staff_world, outlet, session_factory
):
    with session_factory.begin() as s:
        closed = catalog.create_service(
            s, department=staff_world.own.id, code="rsj-closed", name="已取消的事项"
        )
        catalog.set_service_active(s, closed, active=False, actor=catalog.COMMAND_LINE)
    page = f"/staff/catalog/outlets/{outlet.id}/posters"
    html = admin.get(page).get_data(as_text=True)
    posters = re.findall(r'<section class="poster".*?</section>', html, re.S)
    assert len(posters) == 2 and "已取消的事项" not in html
    assert all("?outlet=hall-1f" in poster for poster in posters)
    html = admin.get(f"{page}?department={staff_world.other.id}").get_data(as_text=True)
    (poster,) = re.findall(r'<section class="poster".*?</section>', html, re.S)
    assert "道路运输证" in poster
    with session_factory.begin() as s:
        catalog.set_outlet_active(s, outlet.id, active=False, actor=catalog.COMMAND_LINE)
    assert admin.get(page).status_code == 404
