"""The JSON API; errors under /api/ are JSON too (see web.errors)."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from minyi.services import inbox
from minyi.services.indicator_reports import indicator_rows, period_or_default
from minyi.services.overview import check_database
from web.database import db_session, read_session, service_context
from web.errors import error_response

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api")
# Everything else under /api is staff data: one gate, like the staff pages' (web/staff/auth.py).
OPEN_ENDPOINTS = {"api.health"}


@bp.before_request
def require_staff():
    if request.endpoint not in OPEN_ENDPOINTS and not current_user.is_authenticated:
        return error_response(401, "请先登录工作人员账号", "sign in with a staff account first")
    return None


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
    detail = inbox.ticket_detail(
        read_session(), service_context(), number, actor=current_user.actor
    )
    return jsonify(detail.as_dict())


@bp.get("/indicators")
def indicators():
    """The rows of `minyi indicators --format json` for ?period= (&department=, &service=);
    staff only.

    An officer gets their own department (another one, or another department's service, is
    a 404, like an unknown code). With service=CODE: the one row of that service.
    """
    period = request.args.get("period", "")
    if not period.strip():
        return error_response(
            400,
            "缺少统计期：请用 period 参数指定，例如 2026-10、2026-W43 或 2026-Q4",
            "period is missing: give it as ?period=2026-10, 2026-W43 or 2026-Q4",
        )
    ctx = service_context()
    rows = indicator_rows(
        read_session(),
        ctx,
        period_or_default(ctx, period),
        actor=current_user.actor,
        department=request.args.get("department") or None,
        service=request.args.get("service") or None,
    )
    return jsonify(rows)
