"""Department indicators in the staff area: the county overview with its interval plot, a
department's page (trends, topics), its classified complaint summary, the printable monthly
report and the exports of the indicator table.

Analysts and admins read every department; an officer reads their own (the overview takes
them there; another department is a 404). Who may read what is decided by the service layer
(minyi.services.indicator_reports); the views parse the query string and render.
"""

from __future__ import annotations

import io
import re

from flask import Response, current_app, redirect, render_template, request, url_for

from minyi.errors import ValidationFailed
from minyi.indicators import INSUFFICIENT_ZH, Period, write_csv, write_xlsx
from minyi.services import indicator_reports as reports
from web.database import read_session, service_context
from web.staff import charts
from web.staff.common import bp, error_pair, nav_item, staff_actor
from web.visitor import pick

nav_item("staff.indicators", "指标", "Indicators", order=30)

TICKET_PAGE = "/staff/tickets/{number}"
# Shown with each department's figures, in this order (the engine's TABLE_COLUMNS keys).
HEADLINE_KEYS = (
    "satisfaction_rate",
    "on_time_closure_rate",
    "response_rate",
    "resolution_rate",
    "callback_satisfaction_rate",
    "bad_reviews_rectified_on_time",
    "negative_share",
)
NAMES = {key: (zh, en) for key, (zh, en, _) in reports.MEASURES.items()} | {
    "index": ("综合指数", "index"),
    "mean_score": ("平均分", "mean score"),
    "median_first_reply_hours": ("首次答复中位时长", "median hours to first reply"),
}


@bp.app_template_filter("share")
def share_filter(value: float | None) -> str:
    """A share as a percentage with one decimal; 样本不足 when it is empty."""
    if value is None:
        return pick(INSUFFICIENT_ZH, "too few data")
    return f"{value * 100:.1f}%"


@bp.app_template_global("ticket_url")
def ticket_url(number: str) -> str:
    """The staff page of ticket `number`."""
    return TICKET_PAGE.format(number=number)


def _period() -> Period:
    return reports.period_or_default(service_context(), request.args.get("period"))


def _topic_cache() -> reports.TopicCache | None:
    return current_app.extensions["minyi"].get("topic_cache")


def _bad_request(exc: ValidationFailed, endpoint: str, **values):
    """The page's filter form again, with what was wrong; nothing is looked up."""
    return (
        render_template(
            "staff/indicators/bad_request.html",
            error=error_pair(exc),
            typed=request.args.get("period", "")[:40],
            action=url_for(endpoint, **values),
        ),
        400,
    )


def _context() -> dict:
    ctx = service_context()
    today = ctx.local_date(ctx.now())
    return {
        "names": NAMES,
        "measures": reports.MEASURES,
        "headline_keys": HEADLINE_KEYS,
        "min_denominator": ctx.settings.indicators.min_denominator,
        "today": today,
        "provisional": lambda period: reports.is_provisional(period, today),
        "charts": charts,
    }


@bp.get("/indicators")
def indicators():
    """Every department for a period, as an interval plot and a table in code order
    (?service=CODE: that service on its department's page)."""
    own = reports.own_department(read_session(), actor=staff_actor())
    query = {key: request.args[key] for key in ("period", "service") if request.args.get(key)}
    if own is not None:  # an officer: their own department is their overview
        return redirect(url_for("staff.department_indicators", code=own.code, **query))
    if "service" in query:  # one service: its department's page shows it
        service = reports.visible_service(read_session(), query["service"], actor=staff_actor())
        return redirect(
            url_for("staff.department_indicators", code=service.department.code, **query)
        )
    try:
        period = _period()
        measure = reports.check_measure(request.args.get("measure"))
    except ValidationFailed as exc:
        return _bad_request(exc, "staff.indicators")
    overview = reports.county_overview(
        read_session(), service_context(), period, actor=staff_actor(), measure=measure
    )
    return render_template("staff/indicators/overview.html", overview=overview, **_context())


@bp.get("/indicators/departments/<code>")
def department_indicators(code: str):
    """One department: its figures and changes, 12 periods of trends, top and rising topics;
    ?service=CODE: the same for one of its services."""
    try:
        period = _period()
    except ValidationFailed as exc:
        return _bad_request(exc, "staff.department_indicators", code=code)
    page = reports.department_page(
        read_session(),
        service_context(),
        period,
        code,
        actor=staff_actor(),
        topics=_topic_cache(),
        service=request.args.get("service") or None,
    )
    return render_template("staff/indicators/department.html", page=page, **_context())


@bp.get("/indicators/departments/<code>/complaints")
def complaint_summary(code: str):
    """The period's complaints of a department by topic and by hot issue, for its review."""
    try:
        period = _period()
    except ValidationFailed as exc:
        return _bad_request(exc, "staff.complaint_summary", code=code)
    summary = reports.department_complaint_summary(
        read_session(), service_context(), period, code, actor=staff_actor()
    )
    return render_template(
        "staff/indicators/complaints.html", summary=summary, period=period, **_context()
    )


@bp.get("/indicators/report")
def indicator_report():
    """The printable monthly report: the county summary and a page per department."""
    try:
        period = _period()
    except ValidationFailed as exc:
        return _bad_request(exc, "staff.indicator_report")
    report = reports.monthly_report(
        read_session(),
        service_context(),
        period,
        actor=staff_actor(),
        department=request.args.get("department") or None,
        topics=_topic_cache(),
    )
    return render_template("staff/indicators/report.html", report=report, **_context())


@bp.get("/indicators/export.<any(csv, xlsx):file_format>")
def export_indicators(file_format: str):
    """The indicator table as CSV or XLSX, as `minyi indicators --format csv|xlsx` writes it;
    an officer's holds their own department."""
    try:
        period = _period()
    except ValidationFailed as exc:
        return _bad_request(exc, "staff.indicators")
    department = request.args.get("department") or None
    service = request.args.get("service") or None
    rows = reports.indicator_rows(
        read_session(), service_context(), period, actor=staff_actor(), department=department,
        service=service,
    )  # fmt: skip
    own = reports.own_department(read_session(), actor=staff_actor())
    if department is None and service is None and own is None:
        stem = f"indicators-{period.label}"
    else:
        code = rows[0]["department"] + (f"-{rows[0]['service']}" if service else "")
        stem = f"indicators-{period.label}-{re.sub(r'[^A-Za-z0-9_.-]', '_', code)}"
    if file_format == "csv":
        text = io.StringIO()
        write_csv(rows, text)
        body, mimetype = text.getvalue().encode("utf-8"), "text/csv; charset=utf-8"
    else:
        data = io.BytesIO()
        write_xlsx(rows, data)
        body = data.getvalue()
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{stem}.{file_format}"'},
    )
