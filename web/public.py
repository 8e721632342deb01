"""Pages for citizens on a phone: rate a service, file a complaint, follow it. No sign-in.

Each view parses the form, calls one service function and renders its result; refusals are
the services' own MinyiError messages, shown beside what the citizen typed.
"""

from __future__ import annotations

import io
import logging
from datetime import datetime

import segno
from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from minyi.errors import MinyiError, NotFound, ValidationFailed
from minyi.models import Channel, TicketStatus
from minyi.services import catalog, ratings, ticket_access, tickets
from minyi.services.overview import site_overview
from surveys import rounds as survey_rounds
from web.database import current_settings, db_session, read_session, service_context
from web.forms import (
    ComplaintForm,
    RatingForm,
    VerdictForm,
    csrf_failed,
    posted_csrf_failed,
    submission_source_ref,
)
from web.uploads import clean_photo, discard_photo, store_photo
from web.visitor import current_language, web_citizen

log = logging.getLogger(__name__)

bp = Blueprint("public", __name__)

# The five 好差评 levels, best first, as the citizen sees them.
LEVELS = [
    (5, "非常满意", "Very satisfied"),
    (4, "满意", "Satisfied"),
    (3, "基本满意", "Fairly satisfied"),
    (2, "不满意", "Dissatisfied"),
    (1, "非常不满意", "Very dissatisfied"),
]
LEVEL_NAMES = {n: (zh, en) for n, zh, en in LEVELS}
ASPECTS_EN = {
    "办事效率": "Speed",
    "服务态度": "Attitude",
    "指引准确": "Accurate guidance",
    "其他": "Other",
}
STEPS = [
    (TicketStatus.RECEIVED, "已受理", "Received"),
    (TicketStatus.ASSIGNED, "已派单", "Dispatched"),
    (TicketStatus.IN_PROGRESS, "办理中", "In progress"),
    (TicketStatus.REPLIED, "已答复", "Replied"),
    (TicketStatus.CLOSED, "已办结", "Closed"),
]
CSRF_MESSAGE = (
    "页面已过期或来源无法验证，未保存任何内容。请检查下方内容后重新提交。",
    "The page expired or its origin could not be verified; nothing was saved."
    " Check what you wrote below and submit again.",
)
# Access codes shown on this browser, so a reload or a double submit still shows them.
CODES_KEY = "codes"
CODES_KEPT = 5


@bp.get("/")
def home():
    settings = current_settings()
    overview = site_overview(db_session(), timezone=settings.calendar.timezone)
    return render_template("public/home.html", overview=overview)


@bp.get("/citizen", strict_slashes=False)
def citizen():
    # A survey card only while a round anyone may answer is open: never a dead link.
    open_surveys = survey_rounds.public_rounds(read_session(), service_context())
    return render_template(
        "public/citizen.html",
        open_surveys=open_surveys,
        county_timezone=service_context().timezone,
    )


# -- rating ----------------------------------------------------------------------------------


@bp.get("/rate")
def rate_departments():
    departments = catalog.list_departments(read_session())
    return render_template("public/rate_departments.html", departments=departments)


@bp.get("/rate/<department_code>")
def rate_services(department_code: str):
    db = read_session()
    department = catalog.get_department(db, department_code, active_only=True)
    services = catalog.list_services(db, department)
    return render_template("public/rate_services.html", department=department, services=services)


def _rating_target(service_code: str, outlet_code: str | None):
    """(service, outlet) for the page, or a friendly 404 naming what is unknown."""
    db = read_session()
    try:
        service = catalog.get_service(db, service_code)
        outlet = catalog.get_outlet(db, outlet_code) if outlet_code else None
    except NotFound as exc:
        abort(_unknown(exc))
    return service, outlet


def _unknown(exc: MinyiError):
    page = render_template("public/unknown.html", error=exc)
    return current_app.response_class(page, status=404)


@bp.route("/r/<service_code>", methods=["GET", "POST"])
def rate(service_code: str):
    """The page a service's QR code opens: five levels, an aspect for a 差评, a comment."""
    if request.method == "GET":
        form = RatingForm()
        form.outlet.data = request.args.get("outlet") or None
        return _rating_page(form.fresh(), service_code)
    # The hot path reads the posted fields itself; a RatingForm is built only to show the
    # page again (a refusal), with what the citizen chose kept.
    if posted_csrf_failed():
        return _rating_page(RatingForm(), service_code, error=CSRF_MESSAGE), 400
    posted = request.form
    ctx = service_context()
    score = posted.get("score")
    aspect = posted.get("aspect") or None
    # An aspect belongs to a 差评; one left ticked after switching to a good level is dropped.
    if aspect and not _is_bad(ctx, score):
        aspect = None
    try:
        if not score:
            raise ValidationFailed("请选择一个满意程度", "please choose how satisfied you are")
        # The service looks the service and outlet up itself: no read of our own on this path.
        view = ratings.submit_rating(
            current_app.extensions["minyi"]["session_factory"],
            ctx,
            service=service_code,
            score=score,
            aspect=aspect,
            comment=posted.get("comment"),
            outlet=posted.get("outlet") or None,
            channel=Channel.WEB,
            source_ref=submission_source_ref(posted.get("submission")),
        )
    except NotFound as exc:
        return _unknown(exc)
    except MinyiError as exc:
        error = (exc.message_zh, exc.message_en)
        return _rating_page(RatingForm(), service_code, error=error), 400
    return _thanks_page(view)


# The thanks page shows only the six fields _thanks_page passes it (no comment, no token,
# nothing of the session; base.html adds the language and the address), so it is rendered
# once per distinct (language, address, fields) and then served from a per-app dict: the
# render cost a rating POST more than its checks. A rename or a new deadline is a new key.
THANKS_PAGES_KEPT = 1024  # about 3 KB each


def _thanks_page(view) -> str:
    department = view.department
    fields = (
        view.service_code,
        view.service_name,
        department.name,
        department.name_en or department.name,
        view.score,
        view.follow_up_deadline,
    )
    if current_app.jinja_env.auto_reload:  # a developer editing templates sees every change
        return _render_thanks(*fields)
    pages = current_app.extensions["minyi"].setdefault("thanks_pages", {})
    key = (current_language(), request.script_root, request.full_path, fields)
    page = pages.get(key)
    if page is None:
        page = _render_thanks(*fields)
        if len(pages) >= THANKS_PAGES_KEPT:
            pages.clear()  # new deadlines and names replace old ones; nothing to keep in order
        pages[key] = page
    return page


def _render_thanks(service_code, service_name, department_name, department_name_en, score,
                   deadline) -> str:  # fmt: skip
    """rate_thanks.html of these values only: the template reads nothing else of the rating."""
    return render_template(
        "public/rate_thanks.html",
        service_code=service_code,
        service_name=service_name,
        department_name=department_name,
        department_name_en=department_name_en,
        level=LEVEL_NAMES[score],
        deadline=deadline,
    )


def _rating_page(form: RatingForm, service_code: str, *, error=None):
    service, outlet = _rating_target(service_code, form.outlet.data)
    settings = current_settings()
    return render_template(
        "public/rate.html",
        form=form,
        service=service,
        department=service.department,
        outlet=outlet,
        levels=LEVELS,
        aspects=[(a, ASPECTS_EN.get(a, a)) for a in ratings.ASPECTS],
        max_comment=settings.ratings.max_comment_chars,
        bad_review_max=settings.ratings.bad_review_max_score,
        error=error,
    )


def _is_bad(ctx, score: object) -> bool:
    try:
        return ratings.is_bad_review(ctx, int(str(score)))
    except ValueError:
        return False


def public_rating_url(service, outlet=None) -> str:
    """The public address of a service's rating page (at an outlet): what its QR code holds."""
    base = current_settings().web.public_base_url.rstrip("/")
    return base + url_for(
        "public.rate", service_code=service.code, outlet=outlet.code if outlet else None
    )


def rating_qr_svg(service, outlet=None, *, inline: bool = False) -> str:
    """The 评价二维码 of `public_rating_url` as SVG; `inline` for an HTML page: no size of its
    own (a viewBox instead), so the page's CSS scales it to any print size."""
    code = segno.make(public_rating_url(service, outlet), error="m")
    title = f"{service.name} 评价二维码"
    if inline:
        return code.svg_inline(omitsize=True, border=4, title=title)
    out = io.BytesIO()
    code.save(out, kind="svg", scale=10, border=4, xmldecl=False, title=title)
    return out.getvalue().decode()


@bp.get("/r/<service_code>/qr.svg")
def rating_qr(service_code: str):
    """The service's 评价二维码 as SVG, pointing at the public address of its rating page."""
    outlet_code = request.args.get("outlet") or None
    service, outlet = _rating_target(service_code, outlet_code)
    svg = rating_qr_svg(service, outlet)
    response = current_app.response_class(svg, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


# -- complaints ------------------------------------------------------------------------------


def _service_choices():
    """[(department, [(code, name)])] for the optional service of a complaint."""
    db = read_session()
    return [
        (department, [(s.code, s.name) for s in catalog.list_services(db, department)])
        for department in catalog.list_departments(db)
    ]


@bp.route("/complain", methods=["GET", "POST"])
def complain():
    """File a complaint: text, an optional photo, service and contact phone."""
    form = ComplaintForm()
    settings = current_settings()
    if request.method == "GET":
        form.service.data = request.args.get("service") or ""
        form.fresh()
    page = {
        "form": form,
        "service_choices": _service_choices(),
        "max_text": settings.tickets.max_text_chars,
        "max_photo_mb": settings.web.max_upload_bytes / 1e6,
    }
    if request.method == "GET":
        return render_template("public/complain.html", **page)
    if csrf_failed(form):
        return render_template("public/complain.html", error=CSRF_MESSAGE, **page), 400
    upload_dir = settings.web.upload_dir
    photo = None
    try:
        source_ref = form.source_ref()
        upload = form.photo.data
        if upload is not None and upload.filename:
            data, extension = clean_photo(
                upload.read(settings.web.max_upload_bytes + 1),
                max_bytes=settings.web.max_upload_bytes,
            )
            photo = store_photo(data, extension, upload_dir)
        session_factory = current_app.extensions["minyi"]["session_factory"]
        view = tickets.submit_complaint(
            session_factory,
            service_context(),
            text=form.text.data,
            channel=Channel.WEB,
            citizen=web_citizen(session_factory),
            service=form.service.data or None,
            contact_phone=form.contact_phone.data or None,
            attachments=[("photo", photo)] if photo else [],
            source_ref=source_ref,
        )
    except MinyiError as exc:
        if photo:
            discard_photo(photo, upload_dir)
        status = 429 if exc.code == "limit" else 400
        page["error"] = (exc.message_zh, exc.message_en)
        return render_template("public/complain.html", **page), status
    if photo and ("photo", photo) not in view.attachments:
        discard_photo(photo, upload_dir)  # a double submit: the first post's photo is kept
    with session_factory.begin() as db:
        code = ticket_access.issue_code_for(db, view.id)
    if code is not None:
        remember_access_code(view.number, code)
    return redirect(url_for("public.complaint_filed", number=view.number), code=303)


def remember_access_code(number: str, code: str) -> None:
    """Keep a just-issued access code in this browser's session (the latest few), so a reload
    or a double submit still shows it on the confirmation page."""
    codes = dict(session.get(CODES_KEY) or {})
    codes[number] = code
    session[CODES_KEY] = dict(list(codes.items())[-CODES_KEPT:])


@bp.get("/complain/filed/<number>")
def complaint_filed(number: str):
    """The confirmation: number, department, due date and the status link with its code."""
    code = (session.get(CODES_KEY) or {}).get(number)
    if code is None:
        # Not filed from this browser (or long ago): the code itself opens the status page.
        return redirect(url_for("public.ticket", number=number))
    view = ticket_access.open_ticket(read_session(), number, code)
    status_url = url_for("public.ticket", number=number, code=code)
    return render_template(
        "public/complaint_filed.html",
        ticket=view,
        code=code,
        status_url=status_url,
        full_status_url=current_settings().web.public_base_url.rstrip("/") + status_url,
    )


# -- following a complaint -------------------------------------------------------------------


@bp.get("/t")
def ticket_lookup():
    """The look-up form of /citizen: sends the number and code on to the status page."""
    number = (request.args.get("number") or "").strip()
    if not number or len(number) > 40 or "/" in number:
        return redirect(url_for("public.citizen"))
    code = (request.args.get("code") or "").strip() or None
    return redirect(url_for("public.ticket", number=number, code=code))


@bp.route("/t/<number>", methods=["GET", "POST"])
def ticket(number: str):
    """A complaint's status with its access code; without it, a form asking for the code."""
    form = VerdictForm()
    if request.method == "GET":
        code = request.args.get("code")
        if not code:
            return render_template("public/ticket_code.html", number=number)
        try:
            view = ticket_access.open_ticket(read_session(), number, code)
        except NotFound as exc:
            return render_template(
                "public/ticket_code.html", number=number, error=(exc.message_zh, exc.message_en)
            ), 404
        form.code.data = code
        return _ticket_page(view, form)

    code = form.code.data
    if csrf_failed(form):
        try:
            view = ticket_access.open_ticket(read_session(), number, code)
        except NotFound:
            return render_template("public/ticket_code.html", number=number), 400
        return _ticket_page(view, form, error=CSRF_MESSAGE), 400
    try:
        with current_app.extensions["minyi"]["session_factory"].begin() as db:
            view = ticket_access.record_verdict_with_code(
                db,
                service_context(),
                number,
                code,
                resolved=_yes_no(form.resolved.data),
                satisfaction=form.satisfaction.data or None,
            )
    except NotFound as exc:
        return render_template(
            "public/ticket_code.html", number=number, error=(exc.message_zh, exc.message_en)
        ), 404
    except MinyiError as exc:
        view = ticket_access.open_ticket(read_session(), number, code)
        return _ticket_page(view, form, error=(exc.message_zh, exc.message_en)), 400
    return _ticket_page(view, VerdictForm(formdata=None, code=code), answered=True)


def _yes_no(value: object):
    # The service wants a real bool; anything else goes through as is and is refused there.
    return {"yes": True, "no": False}.get(value, value or None)


def _ticket_page(view, form: VerdictForm, *, error=None, answered: bool = False):
    ctx = service_context()
    current = [s for s, _, _ in STEPS].index(view.status)
    return render_template(
        "public/ticket.html",
        ticket=view,
        form=form,
        steps=STEPS,
        current_step=current,
        levels=LEVELS,
        received_local=_local(ctx, view.received_at),
        error=error,
        answered=answered,
    )


def _local(ctx, moment: datetime) -> str:
    return moment.astimezone(ctx.timezone).strftime("%Y-%m-%d %H:%M")
