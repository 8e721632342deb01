"""The JSON API; errors under /api/ are JSON too (see web.errors)."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from minyi.services import inbox
from minyi.services.overview import check_database
from web.database import db_session, read_session, service_context
from web.errors import error_response

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/health")
def health():
    """Liveness plus a `SELECT 1`, for a load balancer or a monitoring probe."""
    try:
        check_database(db_session())
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
        log.error("数据库不可用 / database unavailable: %s", detail)
        return jsonify(status="error", database="error", detail=detail), 503
    return jsonify(status="ok", database="ok")


@bp.get("/tickets/<number>")
def ticket(number: str):
    """A ticket's staff detail as JSON, under the staff pages' rule (another department: 404)."""
    if not current_user.is_authenticated:
        return error_response(401, "请先登录工作人员账号", "sign in with a staff account first")
    detail = inbox.ticket_detail(
        read_session(), service_context(), number, actor=current_user.actor
    )
    return jsonify(detail.as_dict())
