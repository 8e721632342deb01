"""Praise (表扬) citizens filed: officers read their own department's, analysts and admins all.

Every rule (who reads what, the filters, what counts as praise) is minyi.services.praise's;
this view parses the query string, calls it and shows the page. A bad filter shows its
message with what was typed kept; another department (for an officer) is a 404.
"""

from __future__ import annotations

from flask import render_template

from minyi.services import inbox, praise
from web.database import read_session, service_context
from web.staff.common import bp, filtered_listing, nav_item, staff_actor

nav_item("staff.praise_list", "表扬", "Praise", order=32)

PER_PAGE = 50
FILTER_KEYS = ("department", "date_from", "date_to")


@bp.get("/praise")
def praise_list():
    actor = staff_actor()
    session, ctx = read_session(), service_context()
    departments = praise.praise_departments(session, actor=actor)
    listing = filtered_listing(
        FILTER_KEYS,
        praise.check_praise_filter,
        lambda filters, number: praise.list_praise(
            session, ctx, actor=actor, filters=filters, page=number, per_page=PER_PAGE
        ),
    )
    return (
        render_template(
            "staff/praise/list.html",
            page=listing.page,
            typed=listing.typed,
            pager_args=listing.pager_args,
            departments=departments,
            no_department=praise.NO_DEPARTMENT,
            channel_zh=inbox.CHANNEL_ZH,
            error=listing.error,
        ),
        400 if listing.error else 200,
    )
