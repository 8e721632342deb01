"""Pages for citizens and visitors: no sign-in."""

from __future__ import annotations

from flask import Blueprint, render_template

from minyi.services.overview import site_overview
from web.database import current_settings, db_session

bp = Blueprint("public", __name__)

# What the citizen area will offer; each entry turns into a link when its page lands.
CITIZEN_ACTIONS = [
    (
        "评价服务",
        "Rate a service",
        "为办理过的政务服务事项打分（1-5 星）并留言。",
        "Score a public service you used (1-5) and leave a comment.",
    ),
    (
        "投诉建议",
        "Complaints and suggestions",
        "反映问题或提出建议，可附照片和位置，自动转交负责部门。",
        "Report a problem or suggest an improvement; it reaches the right department.",
    ),
    (
        "查询进度",
        "Track progress",
        "凭受理编号查看诉求的办理进度和部门答复，并评价办理结果。",
        "Follow your complaint by its number, read the department's reply and rate the outcome.",
    ),
    (
        "参与调查",
        "Take a survey",
        "参加县里定期开展的满意度调查。",
        "Answer the county's periodic satisfaction surveys.",
    ),
]


@bp.get("/")
def home():
    settings = current_settings()
    overview = site_overview(db_session(), timezone=settings.calendar.timezone)
    return render_template("public/home.html", overview=overview)


@bp.get("/citizen", strict_slashes=False)
def citizen():
    return render_template("public/citizen.html", actions=CITIZEN_ACTIONS)
