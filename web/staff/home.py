"""The staff home page: what is waiting for the signed-in account, with links to act on it."""

from __future__ import annotations

from flask import render_template

from minyi.services.digest import latest_digest
from minyi.services.workload import staff_workload
from web.database import read_session, service_context
from web.staff.common import bp, nav_item, staff_actor

nav_item("staff.home", "工作台", "Home", order=0)


@bp.get("/", strict_slashes=False)
def home():
    ctx = service_context()
    workload = staff_workload(
        read_session(), actor=staff_actor(), today=ctx.local_date(ctx.now())
    )
    digest = latest_digest(read_session(), actor=staff_actor())
    return render_template("staff/home.html", workload=workload, digest=digest)
