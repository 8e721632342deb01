"""The staff area: every view behind one access check in before_request."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request

from web.errors import error_response

bp = Blueprint("staff", __name__, url_prefix="/staff")

# Endpoints reachable without signing in; everything else in the area is refused.
OPEN_ENDPOINTS = frozenset({"staff.index"})


@bp.before_request
def require_staff():
    """The staff area's single gate, so that no staff view can forget the check."""
    # Staff accounts and sign-in come with the staff issue; until then nobody is signed in.
    g.staff_user = None
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if g.staff_user is None:
        return error_response(401, "工作人员登录功能即将上线。", "Staff sign-in is coming soon.")
    return None


@bp.get("", strict_slashes=False)
def index():
    return render_template("staff/index.html")
