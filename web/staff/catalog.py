"""The county's catalogue for admins: departments, services and outlets, and QR posters.

Every change goes through minyi.services.catalog, which checks "catalog.manage" and writes
the audit entry; these views parse the form, show the refusal beside what was typed, and
render. Codes are fixed once created (they are printed in the QR codes), so the edit forms
change names only. Posters are plain pages with print CSS: one poster per A4 sheet.
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from markupsafe import Markup

from minyi.errors import MinyiError, ValidationFailed
from minyi.models import Role
from minyi.services import catalog
from minyi.services.permissions import require
from web.database import db_session, read_session
from web.public import public_rating_url, rating_qr_svg
from web.staff.common import CSRF_ERROR, bp, csrf_ok, error_pair, nav_item, staff_actor

nav_item("staff.catalog_index", "部门与事项", "Catalogue", roles=[Role.ADMIN], order=70)

KIND_NAMES = {
    "department": ("部门", "department"),
    "service": ("服务事项", "service"),
    "outlet": ("服务网点", "outlet"),
}
DONE = {
    "created": ("已新建。", "Created."),
    "saved": ("已保存。", "Saved."),
    "activated": ("已重新启用。", "Active again."),
    "deactivated": (
        "已停用：不能再对其评价，历史记录保留。",
        "Deactivated: it can no longer be rated; its history stays.",
    ),
}


def _actor():
    """The signed-in admin; anyone else gets the 403 page before any form is shown."""
    actor = staff_actor()
    require(actor, "catalog.manage")
    return actor


# -- the list --------------------------------------------------------------------------------


@bp.get("/catalog")
def catalog_index():
    _actor()
    return _index_page(done=DONE.get(request.args.get("done", "")))


def _index_page(*, done=None, error=None, status=200):
    session = read_session()
    page = render_template(
        "staff/catalog/index.html",
        catalogue=catalog.catalogue(session),
        outlets=catalog.list_outlets(session, active_only=False),
        done=done,
        error=error,
    )
    return page, status


# -- departments -----------------------------------------------------------------------------


@bp.route("/catalog/departments/new", methods=["GET", "POST"])
def new_department():
    actor = _actor()
    return _form(
        "department",
        None,
        lambda session, values: catalog.create_department(
            session,
            code=values.get("code", ""),
            name=values.get("name", ""),
            name_en=values.get("name_en") or None,
            actor=actor,
        ),
    )


@bp.route("/catalog/departments/<int:department_id>", methods=["GET", "POST"])
def edit_department(department_id: int):
    actor = _actor()
    department = catalog.get_department(_session(), department_id)
    return _form(
        "department",
        department,
        lambda session, values: catalog.update_department(
            session,
            department,
            name=values.get("name", ""),
            name_en=values.get("name_en") or None,
            actor=actor,
        ),
    )


@bp.post("/catalog/departments/<int:department_id>/active")
def department_active(department_id: int):
    actor = _actor()
    department = catalog.get_department(db_session(), department_id)
    return _set_active(catalog.set_department_active, department, actor)


# -- services --------------------------------------------------------------------------------


@bp.route("/catalog/services/new", methods=["GET", "POST"])
def new_service():
    actor = _actor()
    return _form(
        "service",
        None,
        lambda session, values: catalog.create_service(
            session,
            department=_department_ref(values.get("department")),
            code=values.get("code", ""),
            name=values.get("name", ""),
            actor=actor,
        ),
        initial={"department": request.args.get("department", "")},
    )


@bp.route("/catalog/services/<int:service_id>", methods=["GET", "POST"])
def edit_service(service_id: int):
    actor = _actor()
    service = catalog.get_service(_session(), service_id, active_only=False)
    return _form(
        "service",
        service,
        lambda session, values: catalog.update_service(
            session,
            service,
            name=values.get("name", ""),
            department=_department_ref(values.get("department")),
            actor=actor,
        ),
    )


@bp.post("/catalog/services/<int:service_id>/active")
def service_active(service_id: int):
    actor = _actor()
    service = catalog.get_service(db_session(), service_id, active_only=False)
    return _set_active(catalog.set_service_active, service, actor)


def _department_ref(value: str | None) -> int:
    if not value or not value.isdigit():
        raise ValidationFailed("请选择所属部门", "choose the department")
    return int(value)


# -- outlets ---------------------------------------------------------------------------------


@bp.route("/catalog/outlets/new", methods=["GET", "POST"])
def new_outlet():
    actor = _actor()
    return _form(
        "outlet",
        None,
        lambda session, values: catalog.create_outlet(
            session,
            code=values.get("code", ""),
            name=values.get("name", ""),
            address=values.get("address") or None,
            actor=actor,
        ),
    )


@bp.route("/catalog/outlets/<int:outlet_id>", methods=["GET", "POST"])
def edit_outlet(outlet_id: int):
    actor = _actor()
    outlet = catalog.get_outlet(_session(), outlet_id, active_only=False)
    return _form(
        "outlet",
        outlet,
        lambda session, values: catalog.update_outlet(
            session,
            outlet,
            name=values.get("name", ""),
            address=values.get("address") or None,
            actor=actor,
        ),
    )


@bp.post("/catalog/outlets/<int:outlet_id>/active")
def outlet_active(outlet_id: int):
    actor = _actor()
    outlet = catalog.get_outlet(db_session(), outlet_id, active_only=False)
    return _set_active(catalog.set_outlet_active, outlet, actor)


# -- shared form handling --------------------------------------------------------------------


def _session():
    return read_session() if request.method == "GET" else db_session()


def _form(kind: str, obj, save, *, initial: dict | None = None):
    """Show the add/edit form of `kind`; on POST call `save(session, form)` and commit."""
    session = _session()
    if request.method == "POST":
        values, error = request.form, None
        if not csrf_ok():
            error = CSRF_ERROR
        else:
            try:
                save(session, values)
                session.commit()
                return redirect(url_for("staff.catalog_index", done="saved" if obj else "created"))
            except MinyiError as exc:
                session.rollback()
                error = error_pair(exc)
    else:
        values, error = initial or _values_of(kind, obj), None
    page = render_template(
        "staff/catalog/form.html",
        kind=kind,
        kind_name=KIND_NAMES[kind],
        obj=obj,
        values=values,
        departments=_department_choices(session, obj) if kind == "service" else [],
        error=error,
    )
    return page, 400 if error else 200


def _values_of(kind: str, obj) -> dict:
    if obj is None:
        return {}
    values = {"code": obj.code, "name": obj.name}
    if kind == "department":
        values["name_en"] = obj.name_en or ""
    elif kind == "service":
        values["department"] = str(obj.department_id)
    else:
        values["address"] = obj.address or ""
    return values


def _department_choices(session, service):
    """Active departments, and a service's own even when it is deactivated."""
    departments = catalog.list_departments(session, active_only=False)
    own = service.department_id if service is not None else None
    return [d for d in departments if d.active or d.id == own]


def _set_active(setter, obj, actor):
    session = db_session()
    if not csrf_ok():
        return _index_page(error=CSRF_ERROR, status=400)
    active = request.form.get("active") == "1"
    try:
        setter(session, obj, active=active, actor=actor)
        session.commit()
    except MinyiError as exc:
        session.rollback()
        return _index_page(error=error_pair(exc), status=400)
    return redirect(url_for("staff.catalog_index", done="activated" if active else "deactivated"))


# -- QR posters ------------------------------------------------------------------------------


@bp.get("/catalog/services/<int:service_id>/poster")
def service_poster(service_id: int):
    """One service's poster, optionally tied to an outlet (`?outlet=<code>`)."""
    _actor()
    session = read_session()
    service = catalog.get_service(session, service_id)  # only a rateable one gets a poster
    outlet_code = request.args.get("outlet") or None
    outlet = catalog.get_outlet(session, outlet_code) if outlet_code else None
    return render_template(
        "staff/catalog/posters.html",
        posters=[_poster(service, outlet)],
        service=service,
        outlet=outlet,
        outlets=catalog.list_outlets(session),
    )


@bp.get("/catalog/outlets/<int:outlet_id>/posters")
def outlet_posters(outlet_id: int):
    """Every rateable service's poster for one hall, or those of the departments chosen."""
    _actor()
    session = read_session()
    outlet = catalog.get_outlet(session, outlet_id)
    departments = catalog.list_departments(session)
    chosen = [int(v) for v in request.args.getlist("department") if v.isdigit()]
    services = catalog.rateable_services(session, chosen or None)
    return render_template(
        "staff/catalog/posters.html",
        posters=[_poster(service, outlet) for service in services],
        service=None,
        outlet=outlet,
        departments=departments,
        chosen=set(chosen),
    )


def _poster(service, outlet) -> dict:
    return {
        "service": service,
        "department": service.department,
        "outlet": outlet,
        "url": public_rating_url(service, outlet),
        # segno escapes the title it embeds; the rest of the SVG is its own markup.
        "qr": Markup(rating_qr_svg(service, outlet, inline=True)),
    }
