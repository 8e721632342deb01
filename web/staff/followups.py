"""差评 follow-ups (everyone: officers their own department) and exclusion appeals (admins).

Every rule lives in minyi.services.followups: who may see or act (another department's
follow-up is a 404, a read-only analyst gets a 403), the order of the steps, the deadline,
what reaches the citizen. These views parse the form, call one service and show the outcome;
a refused step shows its message on the page with what was typed kept, and changes nothing.
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for

from minyi.errors import MinyiError, NotFound, PermissionDenied
from minyi.models import Role
from minyi.services import followups
from web.database import db_session, read_session, service_context
from web.public import ASPECTS_EN, LEVEL_NAMES
from web.staff.common import (
    CSRF_ERROR,
    bp,
    csrf_ok,
    error_pair,
    filtered_listing,
    nav_item,
    staff_actor,
)

nav_item("staff.follow_ups", "差评整改", "Follow-ups", order=30)
nav_item("staff.appeals", "评价申诉", "Appeals", roles=[Role.ADMIN], order=35)

PER_PAGE = 50  # rows of the queue on one page

# The query-string keys of the queue's filter form, in the order check_queue_filter takes them.
FILTER_KEYS = ("status", "overdue", "due_soon", "service", "department", "date_from", "date_to")

# step -> (service call, the form field that holds its text, what the page says once done)
STEPS = {
    "verify": (followups.verify_follow_up, ("核实情况已记录。", "The verification is recorded.")),
    "rectify": (
        followups.rectify_follow_up,
        ("整改情况已记录。", "The rectification is recorded."),
    ),
    "answer": (
        followups.complete_follow_up,
        ("已反馈市民，本条差评整改完成。", "The citizen was answered; this follow-up is done."),
    ),
}
APPEALED = ("申诉已提交，待管理员审核。", "The appeal was filed; an admin will decide it.")
DECIDED = {
    "approve": (
        "申诉已通过：该评价不再计入指标（记录保留）。",
        "Approved: the rating is excluded.",
    ),
    "refuse": ("申诉未通过：该评价继续计入指标。", "Refused: the rating still counts."),
}
# What the appeal form posts, as the yes/no the service takes.
DECISIONS = {"approve": True, "refuse": False}


def _page_names() -> dict:
    return {
        "level_names": LEVEL_NAMES,
        "aspects_en": ASPECTS_EN,
        "status_filters": followups.STATUS_FILTERS,
    }


@bp.get("/follow-ups")
def follow_ups():
    actor = staff_actor()
    ctx = service_context()
    session = read_session()
    listing = filtered_listing(
        FILTER_KEYS,
        followups.check_queue_filter,
        lambda filters, number: followups.follow_up_queue(
            session, ctx, actor=actor, filters=filters, page=number, per_page=PER_PAGE
        ),
    )
    return (
        render_template(
            "staff/followups/list.html",
            page=listing.page,
            typed=listing.typed,
            pager_args=listing.pager_args,
            services=followups.follow_up_services(session, actor=actor),
            departments=followups.follow_up_departments(session, actor=actor),
            today=ctx.local_date(ctx.now()),
            error=listing.error,
            **_page_names(),
        ),
        400 if listing.error else 200,
    )


def _detail_page(follow_up_id: int, *, error=None, posted: str | None = None, done=None):
    detail = followups.follow_up_detail(
        read_session(), service_context(), follow_up_id, actor=staff_actor()
    )
    return (
        render_template(
            "staff/followups/detail.html",
            detail=detail,
            error=error,
            done=done,
            # The form that was refused gets back what was typed into it.
            posted=posted,
            typed=request.form.get("text", "") if posted else "",
            **_page_names(),
        ),
        400 if error else 200,
    )


@bp.get("/follow-ups/<int:follow_up_id>")
def follow_up(follow_up_id: int):
    done = STEPS.get(request.args.get("done", ""), (None, None))[1]
    if request.args.get("done") == "appeal":
        done = APPEALED
    return _detail_page(follow_up_id, done=done)


@bp.post("/follow-ups/<int:follow_up_id>/<any(verify, rectify, answer, appeal):step>")
def follow_up_step(follow_up_id: int, step: str):
    actor = staff_actor()
    ctx = service_context()
    session = db_session()
    # Found (or a 404 for another department's) before anything else is looked at.
    found = followups.get_follow_up(session, follow_up_id, actor=actor, for_update=True)
    if not csrf_ok():
        session.rollback()
        return _detail_page(follow_up_id, error=CSRF_ERROR, posted=step)
    text = request.form.get("text")
    try:
        if step == "appeal":
            followups.request_exclusion(session, ctx, found.rating, actor=actor, reason=text)
        else:
            STEPS[step][0](session, ctx, found, actor=actor, note=text)
        session.commit()
    except (NotFound, PermissionDenied):
        session.rollback()
        raise
    except MinyiError as exc:
        session.rollback()
        return _detail_page(follow_up_id, error=error_pair(exc), posted=step)
    return redirect(url_for("staff.follow_up", follow_up_id=follow_up_id, done=step))


def _appeals_page(*, error=None, done=None):
    page = followups.pending_appeals(
        read_session(), actor=staff_actor(), page=request.args.get("page")
    )
    return (
        render_template(
            "staff/followups/appeals.html", page=page, error=error, done=done, **_page_names()
        ),
        400 if error else 200,
    )


@bp.get("/appeals")
def appeals():
    return _appeals_page(done=DECIDED.get(request.args.get("done", "")))


@bp.post("/appeals/<int:appeal_id>")
def decide_appeal(appeal_id: int):
    actor = staff_actor()
    ctx = service_context()
    session = db_session()
    appeal = followups.get_appeal(session, appeal_id, actor=actor, for_update=True)
    if not csrf_ok():
        session.rollback()
        return _appeals_page(error=CSRF_ERROR)
    decision = request.form.get("decision", "")
    try:
        followups.decide_exclusion(
            session, ctx, appeal, actor=actor, approve=DECISIONS.get(decision)
        )
        session.commit()
    except (NotFound, PermissionDenied):
        session.rollback()
        raise
    except MinyiError as exc:
        session.rollback()
        return _appeals_page(error=error_pair(exc))
    return redirect(url_for("staff.appeals", done=decision))
