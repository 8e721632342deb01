"""The JSON API; errors under /api/ are JSON too (see web.errors)."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy.exc import SQLAlchemyError

from minyi.services.overview import check_database
from web.database import db_session

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
