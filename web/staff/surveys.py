"""The survey designer (analysts and admins): list, create, edit, preview, publish, copy,
archive, import and export definitions.

Every change goes through surveys.staff, which checks the permission, keeps a published
version untouched (an edit of it becomes a new draft) and lets the engine check the whole
definition; these views turn forms into definition entries (web/staff/survey_forms.py) and
show the outcome. A refused change shows the engine's message (with the JSON path) on the page
with what was typed kept, and changes nothing. Officers get a 403 on every page here; their
results pages are in web/staff/survey_results.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Response, redirect, render_template, request, url_for

from minyi.errors import IllegalTransition, MinyiError, NotFound, PermissionDenied
from minyi.services import catalog as departments
from minyi.services.permissions import allowed, require
from surveys import staff as staff_surveys
from surveys.definition import RATING_LABELS
from web.database import db_session, read_session, service_context
from web.staff import survey_forms as forms
from web.staff.common import CSRF_ERROR, bp, csrf_ok, error_pair, nav_item, staff_actor
from web.surveys import preview_page

# Officers open the list too: it shows them the surveys asking about their department, with
# links to those results only.
nav_item("staff.surveys", "问卷", "Surveys", order=60)

DONE = {
    "created": (
        "问卷已创建（草稿）。请添加问题，预览无误后发布。",
        "The survey was created as a draft: add questions, preview it, then publish.",
    ),
    "saved": ("已保存到草稿。", "Saved to the draft."),
    "new_version": (
        "已发布的版本保持不变，修改已存为新的草稿版本。",
        "The published version is unchanged; the edit was saved as a new draft version.",
    ),
    "deleted": ("问题已删除。", "The question was deleted."),
    "moved": ("顺序已调整。", "The order was changed."),
    "published": (
        "已发布。此版本从此不再修改；下一轮调查将使用它。",
        "Published. This version will never change; the next round asks it.",
    ),
    "archived": ("问卷已归档，不再开始新的轮次。", "Archived: no more rounds will open."),
    "copied": ("已复制为新问卷（草稿）。", "Copied into a new survey (a draft)."),
    "imported": ("定义已导入为草稿。", "The definition was imported as a draft."),
    "unchanged": (
        "导入的定义与最新版本相同，未做修改。",
        "The file equals the latest version; nothing changed.",
    ),
}

PREVIEW_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'self'"
)


def survey_manager():
    """The signed-in account, which must be allowed to design surveys (a 403 otherwise)."""
    actor = staff_actor()
    require(actor, "survey.manage")
    return actor


def _done():
    return DONE.get(request.args.get("done", ""))


@dataclass
class Outcome:
    """What a change came to: its result, or the refusal shown on the page."""

    result: Any = None
    error: tuple[str, str] | None = None
    status: int = 200
    path: str | None = None  # the JSON path of a refused definition


def attempt_change(change) -> Outcome:
    """Run `change(session)` in the request's session and commit it, unless it is refused.

    A forged or expired CSRF token is refused before anything is read; a 404 or 403 is raised
    to the error pages.
    """
    if not csrf_ok():
        return Outcome(error=CSRF_ERROR, status=400)
    session = db_session()
    try:
        result = change(session)
        session.commit()
    except (NotFound, PermissionDenied):
        session.rollback()
        raise
    except MinyiError as exc:
        session.rollback()
        status = 409 if isinstance(exc, IllegalTransition) else 400
        return Outcome(error=error_pair(exc), status=status, path=exc.details.get("path"))
    return Outcome(result=result)


# -- the list and a new survey -----------------------------------------------------------------


@bp.get("/surveys")
def surveys():
    actor = staff_actor()
    rows = staff_surveys.survey_list(read_session(), actor=actor)
    return render_template(
        "staff/surveys/list.html",
        rows=rows,
        manage=allowed(actor, "survey.manage"),
        done=_done(),
    )


@bp.route("/surveys/new", methods=["GET", "POST"])
def new_survey():
    actor = survey_manager()
    values = request.form if request.method == "POST" else {}
    outcome = Outcome()
    if request.method == "POST":
        outcome = attempt_change(
            lambda session: staff_surveys.create_survey(
                session,
                service_context(),
                slug=values.get("slug", "").strip(),
                title=forms.text_of(values, "title", required=True),
                intro=forms.text_of(values, "intro"),
                actor=actor,
            )
        )
        if outcome.error is None:
            return redirect(url_for("staff.survey", slug=outcome.result.slug, done="created"))
    return (
        render_template(
            "staff/surveys/new.html",
            values=values,
            error=outcome.error,
            starter=staff_surveys.STARTER_QUESTION,
        ),
        outcome.status,
    )


@bp.route("/surveys/import", methods=["GET", "POST"])
def import_survey():
    actor = survey_manager()
    typed = request.form.get("definition", "")
    outcome = Outcome()
    if request.method == "POST":
        upload = request.files.get("file")
        source: str | bytes = typed
        if upload is not None and upload.filename:
            source = upload.read()
            # Refused, the file's text comes back in the box to be corrected there.
            typed = source.decode("utf-8", "replace").lstrip("\ufeff")
        outcome = attempt_change(
            lambda session: staff_surveys.import_definition(
                session, service_context(), source, actor=actor
            )
        )
        if outcome.error is None:
            result = outcome.result
            done = "imported" if result.created_version else "unchanged"
            return redirect(url_for("staff.survey", slug=result.slug, done=done))
    return (
        render_template("staff/surveys/import.html", typed=typed, error=outcome.error),
        outcome.status,
    )


# -- one survey ----------------------------------------------------------------------------------


def _workbench_page(slug: str, *, error=None, typed=None, status: int = 200, done=None):
    actor = staff_actor()
    session = read_session()
    bench = staff_surveys.workbench(session, slug, actor=actor)
    return (
        render_template(
            "staff/surveys/survey.html",
            bench=bench,
            kinds=forms.KIND_NAMES,
            department_names=_department_names(session),
            condition_labels=_condition_labels(bench),
            error=error,
            done=done,
            typed=typed or {},
        ),
        status,
    )


@bp.get("/surveys/<slug>")
def survey(slug: str):
    survey_manager()
    return _workbench_page(slug, done=_done())


def _save(slug: str, data_of, *, done: str = "saved", typed=None):
    """Save the definition `data_of(workbench)` gives; back to the survey page either way."""
    actor = survey_manager()
    bench = staff_surveys.workbench(read_session(), slug, actor=actor)
    revision = request.form.get("_rev")
    outcome = attempt_change(
        lambda session: staff_surveys.save_definition(
            session, service_context(), slug, data_of(bench), revision=revision, actor=actor
        )
    )
    if outcome.error is not None:
        return _workbench_page(slug, error=outcome.error, typed=typed, status=outcome.status)
    if bench.published:
        done = "new_version"
    return redirect(url_for("staff.survey", slug=slug, done=done))


@bp.post("/surveys/<slug>/settings")
def survey_settings(slug: str):
    def data_of(bench):
        data = dict(bench.data, title=forms.text_of(request.form, "title", required=True))
        intro = forms.text_of(request.form, "intro")
        data.pop("intro", None)
        if intro is not None:
            data["intro"] = intro
        return data

    return _save(slug, data_of, typed=request.form.to_dict())


@bp.post("/surveys/<slug>/questions/<key>/delete")
def delete_question(slug: str, key: str):
    return _save(
        slug,
        lambda bench: staff_surveys.without_question(
            bench.data, staff_surveys.question_index(bench.data, key)
        ),
        done="deleted",
    )


@bp.post("/surveys/<slug>/questions/<key>/move")
def move_question(slug: str, key: str):
    offset = {"up": -1, "down": 1}.get(request.form.get("direction", ""), 0)
    return _save(
        slug,
        lambda bench: staff_surveys.moved_question(
            bench.data, staff_surveys.question_index(bench.data, key), offset
        ),
        done="moved",
    )


@bp.post("/surveys/<slug>/publish")
def publish_survey(slug: str):
    actor = survey_manager()
    revision = request.form.get("_rev")
    outcome = attempt_change(
        lambda session: staff_surveys.publish_survey(
            session, service_context(), slug, revision=revision, actor=actor
        )
    )
    if outcome.error is not None:
        return _workbench_page(slug, error=outcome.error, status=outcome.status)
    return redirect(url_for("staff.survey", slug=slug, done="published"))


@bp.post("/surveys/<slug>/archive")
def archive_survey(slug: str):
    actor = survey_manager()
    outcome = attempt_change(
        lambda session: staff_surveys.archive_survey(session, service_context(), slug, actor=actor)
    )
    if outcome.error is not None:
        return _workbench_page(slug, error=outcome.error, status=outcome.status)
    return redirect(url_for("staff.survey", slug=slug, done="archived"))


@bp.post("/surveys/<slug>/copy")
def copy_survey(slug: str):
    actor = survey_manager()
    new_slug = request.form.get("new_slug", "").strip()
    outcome = attempt_change(
        lambda session: staff_surveys.copy_survey(
            session, service_context(), slug, new_slug, actor=actor
        )
    )
    if outcome.error is not None:
        return _workbench_page(
            slug, error=outcome.error, typed={"new_slug": new_slug}, status=outcome.status
        )
    return redirect(url_for("staff.survey", slug=outcome.result.slug, done="copied"))


@bp.get("/surveys/<slug>/definition.json")
def survey_definition(slug: str):
    """The definition file, as `minyi survey export-definition` prints it."""
    actor = survey_manager()
    version = request.args.get("version", type=int)
    definition = staff_surveys.export_definition(
        read_session(), slug, actor=actor, version=version
    )
    name = f"{definition['slug']}" + (f"-v{version}" if version else "") + ".json"
    return Response(
        json.dumps(definition, ensure_ascii=False, indent=2) + "\n",
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/surveys/<slug>/preview")
def survey_preview(slug: str):
    """The answering page of a version, inert, for the designer's phone-sized frame."""
    actor = survey_manager()
    bench = staff_surveys.workbench(
        read_session(), slug, actor=actor, version=request.args.get("version", type=int)
    )
    response = preview_page(bench.definition, bench.version)
    if isinstance(response, str):
        response = Response(response)
    # The answering page may be framed by the designer's own pages, and by nothing else.
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY
    return response


# -- one question ------------------------------------------------------------------------------


# Not under /questions/: "new" is a valid question key.
@bp.route("/surveys/<slug>/new-question", methods=["GET", "POST"])
def new_question(slug: str):
    return _question_page(slug, None)


@bp.route("/surveys/<slug>/questions/<key>", methods=["GET", "POST"])
def edit_question(slug: str, key: str):
    return _question_page(slug, key)


def _question_page(slug: str, key: str | None):
    actor = survey_manager()
    session = read_session()
    bench = staff_surveys.workbench(session, slug, actor=actor)
    questions = bench.data["questions"]
    index = staff_surveys.question_index(bench.data, key) if key is not None else None
    stored = questions[index] if index is not None else None
    kind = forms.kind_of(request.values.get("type")) or (stored["type"] if stored else None)
    earlier = questions[:index] if index is not None else questions
    outcome = Outcome()
    extra = request.form.get("_rows", type=int) or 0
    if request.method == "POST" and kind is not None:
        values = request.form.to_dict()
        if "_more" in request.form:
            # More empty rows, nothing saved: what was typed comes back as it was.
            extra = min(extra + forms.MORE_ROWS, 50)
        else:
            entry = forms.question_from_form(request.form, kind, earlier=earlier)
            data = staff_surveys.with_question(bench.data, entry, index=index)
            revision = request.form.get("_rev")
            outcome = attempt_change(
                lambda s: staff_surveys.save_definition(
                    s, service_context(), slug, data, revision=revision, actor=actor
                )
            )
            if outcome.error is None:
                done = "new_version" if bench.published else "saved"
                return redirect(
                    url_for("staff.survey", slug=slug, done=done, _anchor=f"q-{entry['key']}")
                )
    elif stored is not None:
        values = forms.form_from_question(stored)
    else:
        values = {}
    place, row = forms.error_place(outcome.path, len(questions) if index is None else index)
    return (
        render_template(
            "staff/surveys/question.html",
            bench=bench,
            key=key,
            kind=kind,
            kinds=forms.KIND_NAMES,
            values=values,
            choices=forms.choice_rows(values, extra=forms.BLANK_ROWS + extra),
            conditions=forms.condition_rows(values),
            extra=extra,
            sources=[q for q in earlier if q["type"] != "text"],
            departments=departments.list_departments(session),
            levels=forms.LEVELS,
            rating_labels=RATING_LABELS,
            error=outcome.error,
            error_part=place,
            error_row=row,
        ),
        outcome.status,
    )


# -- what the pages write in words ---------------------------------------------------------------


def _department_names(session) -> dict[str, str]:
    return {d.code: d.name for d in departments.list_departments(session, active_only=False)}


def _condition_labels(bench) -> dict[str, str]:
    """Each show_if question's condition in words ("仅当 how 为 hall、agent")."""
    out = {}
    for question in bench.definition.questions:
        if question.show_if:
            out[question.key] = "；".join(
                f"{key} ∈ {{{', '.join(str(v) for v in values)}}}"
                for key, values in question.show_if
            )
    return out
