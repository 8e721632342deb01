"""The staff area: sign-in, then one module per area on the one `staff` blueprint.

Every view sits behind the gate in web/staff/auth.py (before_request), so no view can
forget it; conventions for a new area are in web/staff/common.py.
"""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import generate_csrf

from web.staff import (  # noqa: F401  (each registers routes on bp)
    accounts,
    auth,
    catalog,
    followups,
    home,
    indicators,
    praise,
    survey_results,
    survey_rounds,
    surveys,
    tickets,
)
from web.staff.auth import login_manager, require_staff  # noqa: F401
from web.staff.common import bp  # noqa: F401


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    # Staff forms are plain HTML with `{{ csrf_token() }}`; views check it with csrf_ok().
    app.jinja_env.globals.setdefault("csrf_token", generate_csrf)
    app.register_blueprint(bp)
