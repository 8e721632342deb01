"""Praise (表扬) citizens filed: officers read their own department's, analysts and admins all.

Every rule (who reads what, the filters, what counts as praise) is minyi.services.praise's;
this view parses the query string, calls it and shows the page. A bad filter shows its
message with what was typed kept; another department (for an officer) is a 404.
"""

from __future__ import annotations

from flask import render_template, request

from minyi.errors import MinyiError, NotFound, PermissionDenied
from minyi.models import Role
from minyi.services import inbox, praise
from web.database import read_session, service_context
from web.staff.common import bp, error_pair, nav_item, staff_actor

nav_item("staff.praise_list", "表扬", "Praise", order=32)

PER_PAGE = 50
FILTER_KEYS = ("department", "date_from", "date_to")


@bp.get("/praise")
def praise_list():
    actor = staff_actor()
    session, ctx = read_session(), service_context()
    typed = {key: request.args.get(key, "") for key in FILTER_KEYS}
    departments = praise.praise_departments(session, actor=actor)
    error = page = None
    try:
        filters = praise.check_praise_filter(**typed)
        page = praise.list_praise(
            session,
            ctx,
            actor=actor,
            filters=filters,
            page=request.args.get("page"),
            per_page=PER_PAGE,
        )
    except (NotFound, PermissionDenied):
        raise
    except MinyiError as exc:
        error = error_pair(exc)
    return (
        render_template(
            "staff/praise/list.html",
            page=page,
            typed=typed,
            pager_args={key: value for key, value in typed.items() if value},
            departments=departments,
            no_department=praise.NO_DEPARTMENT,
            channel_zh=inbox.CHANNEL_ZH,
            # Analysts and admins may open the ticket itself; an officer reads it here.
            ticket_links=actor.role != Role.OFFICER,
            error=error,
        ),
        400 if error else 200,
    )
