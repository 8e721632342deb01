"""The complaint inbox: ticket list, triage queue, a ticket's page with its moves, decisions.

Every query and every move is minyi.services.inbox's: these views parse the request, call
it, and show the outcome. Another department's ticket is a 404 (NotFound), a move the rules
refuse a 403 (PermissionDenied); a move the state machine refuses, bad input and a forged
CSRF token show the message on the page, with what was typed kept, and change nothing.
"""

from __future__ import annotations

from pathlib import Path

from flask import abort, redirect, render_template, request, send_from_directory, url_for

from minyi.errors import IllegalTransition, ValidationFailed
from minyi.models import Role
from minyi.services import catalog, inbox
from minyi.services.inbox import InboxFilters
from minyi.services.permissions import require
from web.database import current_settings, db_session, read_session, service_context
from web.staff.common import CSRF_ERROR, bp, csrf_ok, error_pair, nav_item, staff_actor

nav_item("staff.tickets", "工单", "Tickets", order=10)
nav_item("staff.triage", "待分拣", "Triage", roles=[Role.ADMIN, Role.ANALYST], order=15)
nav_item("staff.decisions", "审批", "Decisions", roles=[Role.ADMIN], order=20)

DONE = {
    "assign": ("已派单。", "The ticket was assigned."),
    "start": (
        "已受理，市民将收到“办理中”通知。",
        "Accepted: the citizen is told it is being handled.",
    ),
    "reply": (
        "已回复：答复将发送给市民，并显示在其查询页面。",
        "Replied: the answer is sent to the citizen and shows on their status page.",
    ),
    "close": ("已办结，市民将收到回访评价邀请。", "Closed: the citizen is asked for a verdict."),
    "reassign": ("已改派。", "The ticket was sent to the other department."),
    "request_extension": (
        "延期申请已提交，待管理员审批。",
        "Extension requested: an administrator decides.",
    ),
    "decide_extension": ("延期申请已审批。", "The extension was decided."),
    "handle_escalation": ("升级工单已处理。", "The escalation was handled."),
}
# The form fields a move may read (apply_action checks them); anything else is ignored.
ACTION_FIELDS = ("department", "reason", "text", "working_days", "decision", "note")
PHOTO_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


def _done():
    return DONE.get(request.args.get("done", ""))


# -- the list ----------------------------------------------------------------------------------


@bp.get("/tickets")
def tickets():
    actor = staff_actor()
    session, ctx = read_session(), service_context()
    choices = inbox.filter_choices(session, ctx, actor=actor)
    error = None
    try:
        filters = inbox.parse_filters(request.args)
        page = inbox.list_tickets(
            session, ctx, actor=actor, filters=filters, page=request.args.get("page")
        )
    except ValidationFailed as exc:
        error, filters, page = error_pair(exc), InboxFilters(), None
    return (
        render_template(
            "staff/tickets/list.html",
            page=page,
            filters=filters,
            values=request.args,
            choices=choices,
            error=error,
            inbox=inbox,
        ),
        400 if error else 200,
    )


# -- one ticket --------------------------------------------------------------------------------


@bp.get("/tickets/<number>")
def ticket(number: str):
    return _ticket_page(number, done=_done())


def _ticket_page(
    number: str, *, error=None, values=None, posted=None, status: int = 200, done=None
):
    actor = staff_actor()
    session = read_session()
    detail = inbox.ticket_detail(session, service_context(), number, actor=actor)
    departments = catalog.list_departments(session) if "reassign" in detail.actions else []
    settings = current_settings()
    return (
        render_template(
            "staff/tickets/detail.html",
            detail=detail,
            ticket=detail.ticket,
            departments=departments,
            values=values or {},
            posted=posted,
            error=error,
            done=done,
            inbox=inbox,
            max_reply=settings.tickets.max_text_chars,
            max_extension=settings.tickets.max_extension_working_days,
        ),
        status,
    )


@bp.post("/tickets/<number>/actions/<action>")
def ticket_action(number: str, action: str):
    if action not in inbox.ACTIONS:
        abort(404)
    actor = staff_actor()
    values = {name: request.form.get(name) for name in ACTION_FIELDS}
    if not csrf_ok():
        return _ticket_page(number, error=CSRF_ERROR, values=values, posted=action, status=400)
    session = db_session()
    try:
        inbox.apply_action(session, service_context(), number, action, actor=actor, fields=values)
        session.commit()
    except (ValidationFailed, IllegalTransition) as exc:
        # Refused by the state machine or the checks: nothing was written; say why.
        session.rollback()
        status = 409 if isinstance(exc, IllegalTransition) else 400
        return _ticket_page(
            number, error=error_pair(exc), values=values, posted=action, status=status
        )
    if request.form.get("back") == "decisions":
        return redirect(url_for("staff.decisions", done=action), code=303)
    return redirect(url_for("staff.ticket", number=number, done=action), code=303)


@bp.get("/tickets/<number>/attachments/<int:index>")
def ticket_attachment(number: str, index: int):
    """A photo a citizen uploaded with the web form, for staff who may see the ticket."""
    kind, reference = inbox.ticket_attachment(read_session(), number, index, actor=staff_actor())
    mimetype = PHOTO_TYPES.get(Path(reference).suffix.lower())
    if kind != "photo" or mimetype is None:  # a Telegram file id is no file of ours
        abort(404)
    response = send_from_directory(
        Path(current_settings().web.upload_dir).resolve(), reference, mimetype=mimetype
    )
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


# -- triage ------------------------------------------------------------------------------------


@bp.get("/triage")
def triage():
    return _triage_page(done=request.args.get("done"))


def _triage_page(*, error=None, done=None, status: int = 200):
    actor = staff_actor()
    session, ctx = read_session(), service_context()
    page = inbox.triage_queue(session, ctx, actor=actor, page=request.args.get("page"))
    return (
        render_template(
            "staff/tickets/triage.html",
            page=page,
            departments=catalog.list_departments(session),
            error=error,
            assigned=done if isinstance(done, str) and len(done) <= 40 else None,
        ),
        status,
    )


@bp.post("/triage/<number>")
def triage_assign(number: str):
    actor = staff_actor()
    require(actor, "ticket.assign")
    if not csrf_ok():
        return _triage_page(error=CSRF_ERROR, status=400)
    session = db_session()
    try:
        inbox.apply_action(
            session,
            service_context(),
            number,
            "assign",
            actor=actor,
            fields={"department": request.form.get("department")},
        )
        session.commit()
    except (ValidationFailed, IllegalTransition) as exc:
        session.rollback()
        status = 409 if isinstance(exc, IllegalTransition) else 400
        return _triage_page(error=error_pair(exc), status=status)
    return redirect(url_for("staff.triage", done=number), code=303)


# -- the admins' decisions ---------------------------------------------------------------------


@bp.get("/decisions")
def decisions():
    actor = staff_actor()
    require(actor, "ticket.decide_extension")
    session, ctx = read_session(), service_context()
    return render_template(
        "staff/tickets/decisions.html",
        extensions=inbox.pending_extensions(session, ctx, actor=actor),
        escalations=inbox.escalation_queue(session, ctx, actor=actor),
        done=_done(),
    )
