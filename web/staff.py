"""The staff area: every view behind one access check in before_request."""

from __future__ import annotations

from flask import Blueprint, g

from web.errors import error_response

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.before_request
def require_staff():
    """The staff area's single gate, so that no staff view can forget the check."""
    # Staff accounts exist in the core, but the sign-in page comes with the staff-area issue:
    # until then nobody is signed in and the area is not offered at all (no placeholder page).
    g.staff_user = None
    if g.staff_user is None:
        return error_response(404)
    return None
