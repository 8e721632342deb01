"""Error pages in Chinese and English; JSON under /api/."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from minyi.errors import MinyiError, NotFound, PermissionDenied

log = logging.getLogger(__name__)

TITLES = {
    400: ("请求有误", "Bad request"),
    401: ("请先登录", "Sign-in required"),
    403: ("无权访问", "Forbidden"),
    404: ("页面不存在", "Page not found"),
    405: ("不支持该请求方式", "Method not allowed"),
    413: ("提交的内容过大", "Request too large"),
    429: ("请求过于频繁，请稍后再试", "Too many requests, please try again later"),
    500: ("服务器内部错误", "Internal server error"),
    503: ("服务暂时不可用", "Service unavailable"),
}

HINTS = {
    404: (
        "您访问的地址不存在或已被移除。",
        "The address you asked for does not exist or was removed.",
    ),
    500: (
        "系统出现故障，已记录，请稍后再试。",
        "Something went wrong on our side; it has been logged.",
    ),
}


def wants_json() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def error_response(status: int, message_zh: str | None = None, message_en: str | None = None):
    """A bilingual error page, or a JSON body for API requests."""
    title_zh, title_en = TITLES.get(status, ("出错了", "Error"))
    hint_zh, hint_en = HINTS.get(status, ("", ""))
    message_zh = message_zh or hint_zh
    message_en = message_en or hint_en
    if wants_json():
        body = {"error": title_en, "error_zh": title_zh, "status": status}
        if message_en:
            body.update(message=message_en, message_zh=message_zh)
        return jsonify(body), status
    page = render_template(
        "error.html",
        status=status,
        title_zh=title_zh,
        title_en=title_en,
        message_zh=message_zh,
        message_en=message_en,
    )
    return page, status


def _http_error(exc: HTTPException):
    if exc.code is None or exc.code < 400:  # redirects raised as exceptions pass through
        return exc
    return error_response(exc.code)


def _internal_error(exc: HTTPException):
    original = getattr(exc, "original_exception", None)
    if original is not None:
        log.error("未处理的异常 / unhandled exception on %s", request.path, exc_info=original)
    return error_response(500)


def _domain_error(exc: MinyiError):
    status = 400
    if isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, PermissionDenied):
        status = 403
    return error_response(status, exc.message_zh, exc.message_en)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(500, _internal_error)
    app.register_error_handler(MinyiError, _domain_error)
