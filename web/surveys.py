"""Answering a survey on a phone: /s/<slug> shows the open round's form and takes it once.

The form is plain HTML that works without JavaScript: every question is on the page, fields
are named by question key and valued by score or choice key (`overall=5`,
`improve=queue&improve=guide`), and the surveys engine checks everything (ranges, choices,
show_if, required) when the form is posted. A small script (static/js/survey.js) hides the
questions that do not apply and moves the progress bar as the respondent answers; the server
applies the same show_if either way.

Who answers: the holder of an invitation link (`?t=…`, single use), or in a public round this
browser, by the random id in the signed session cookie (plus the rate limit of web/limits.py).
The engine keeps one response per respondent and round, so a second post stores nothing.
Control fields start with "_" (question keys start with a letter), so no question can shadow
them.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm

from minyi.errors import IllegalTransition, MinyiError, NotFound, PermissionDenied
from minyi.models import RoundStatus
from surveys import catalog, rounds
from surveys.answers import AnswersInvalid, readable_answers
from surveys.definition import RATING_LABELS, Question, SurveyDefinition
from surveys.responses import Respondent, ResponseView, response_status, submit_and_route
from surveys.rounds import RoundView
from web.database import read_session, service_context
from web.forms import posted_csrf_failed
from web.public import CSRF_MESSAGE, remember_access_code
from web.visitor import browser_id, current_language

log = logging.getLogger(__name__)

bp = Blueprint("surveys", __name__)

TOKEN_FIELD = "_t"  # the invitation token, carried from ?t= into the form
ROUND_FIELD = "_round"  # the round the form was shown for
COMPLAINT_FIELD = "_complaint"  # "yes": file the complaint-enabled answers as complaints
# Session keys: the outcome shown once after a submit, and the complaints filed per round.
OUTCOME_KEY = "survey_outcome"
FILED_KEY = "survey_filed"
FILED_ROUNDS_KEPT = 5

NPS_ENDS = (("完全不可能", "Not at all likely"), ("极有可能", "Extremely likely"))


class SurveyForm(FlaskForm):
    """CSRF only: the answers are read by question key, straight from the request."""

    class Meta:
        csrf_field_name = "_csrf"


@bp.route("/s/<slug>", methods=["GET", "POST"])
def answer(slug: str):
    """The open round of a survey: its form, or "already answered" once submitted."""
    token = _token()
    if request.method == "POST":
        # The round the form was shown for, as this process last read it: a round's
        # definition never changes once it is open, and the submit reads the round's status
        # and times again in its own transaction, so a round closed meanwhile is refused
        # there; then the page is looked up afresh below.
        known = _known_rounds().get(slug)
        if known is not None and request.form.get(ROUND_FIELD) == str(known.id):
            respondent = Respondent.invited(token) if token else Respondent.web(browser_id())
            outcome = _take_form(known, respondent, token, fresh=False)
            if outcome is not None:
                return outcome
            _known_rounds().pop(slug, None)
    ctx = service_context()
    db = read_session()
    try:
        round_view = rounds.open_round_for(db, ctx, slug)
    except IllegalTransition:
        _known_rounds().pop(slug, None)
        return _not_open(slug)
    except MinyiError:  # an unknown or malformed slug
        return _unknown(slug)
    respondent = Respondent.invited(token) if token else Respondent.web(browser_id())
    if request.method == "POST":
        return _take_form(round_view, respondent, token)
    _remember_round(round_view)
    try:
        existing = response_status(db, ctx, round_view.id, respondent)
    except MinyiError as refused:
        return _refused(round_view, refused)
    if existing is not None and existing.submitted:
        return _done(round_view, existing)
    answers = existing.answers if existing is not None else {}
    return _form_page(round_view, token, answers=answers)


def _token() -> str | None:
    token = request.form.get(TOKEN_FIELD) if request.method == "POST" else request.args.get("t")
    return (token.strip() or None) if token else None


KNOWN_ROUNDS_KEPT = 256  # surveys whose open round a process keeps (a county has a few)


def _known_rounds() -> dict[str, RoundView]:
    """slug -> the open round this app's process last showed (one dict per app)."""
    return current_app.extensions["minyi"].setdefault("survey_rounds", {})


def _remember_round(round_view: RoundView) -> None:
    known = _known_rounds()
    if len(known) >= KNOWN_ROUNDS_KEPT and round_view.slug not in known:
        known.clear()
    known[round_view.slug] = round_view


def _take_form(
    round_view: RoundView, respondent: Respondent, token: str | None, *, fresh: bool = True
):
    """The posted form, stored or refused. With `fresh=False` (the round as this process last
    read it) a refusal of the round itself returns None, so that the caller reads it again."""
    definition = round_view.definition
    posted = _posted_answers(definition)
    # Checked on the posted field: a SurveyForm (and the fresh token it signs) is built only
    # when the page is shown again (_form_page).
    if posted_csrf_failed(SurveyForm.Meta.csrf_field_name):
        return _form_page(round_view, token, answers=posted, error=CSRF_MESSAGE), 400
    if request.form.get(ROUND_FIELD) != str(round_view.id):
        # The round this page was shown for has ended and another one opened meanwhile.
        notice = (
            "您打开页面时的那一轮调查已结束，现在是新的一轮。请检查下面的回答后重新提交。",
            "The round this page was opened for has ended and a new one is open."
            " Check your answers below and submit again.",
        )
        return _form_page(round_view, token, answers=posted, error=notice), 409
    try:
        view = submit_and_route(
            current_app.extensions["minyi"]["session_factory"],
            service_context(),
            round_view,  # kept or just read: the engine rereads only its status and times
            respondent,
            answers=posted,
            file_complaints=request.form.get(COMPLAINT_FIELD) == "yes",
        )
    except AnswersInvalid as refused:
        return _form_page(round_view, token, answers=posted, errors=refused.errors), 400
    except IllegalTransition as refused:
        if not fresh:  # e.g. closed since this process read it: the caller looks again
            return None
        return _refused(round_view, refused)
    except MinyiError as refused:
        return _refused(round_view, refused)
    if view.submitted_now:
        _remember_outcome(round_view, view)
    else:  # a repeat: the next page says "already answered", not "thank you"
        session.pop(OUTCOME_KEY, None)
    # Post/redirect/get: a reload shows the outcome instead of posting again.
    return redirect(url_for("surveys.answer", slug=round_view.slug, t=token), code=303)


def _posted_answers(definition: SurveyDefinition) -> dict[str, Any]:
    """The form's answers by question key, every question included (unanswered as empty)."""
    answers: dict[str, Any] = {}
    form = request.form  # once: each use of the request proxy looks up the request context
    for question in definition.questions:
        values = form.getlist(question.key)
        if question.kind == "multiple" or len(values) > 1:
            answers[question.key] = values
        else:
            answers[question.key] = values[0] if values else None
    for key in form:
        # Not a question of this survey and not ours: the engine refuses it by name.
        if not key.startswith("_") and key not in answers:
            answers[key] = form.getlist(key)
    return answers


def _remember_outcome(round_view: RoundView, view: ResponseView) -> None:
    for complaint in view.complaints:
        if complaint.access_code:
            remember_access_code(complaint.number, complaint.access_code)
    filed = dict(session.get(FILED_KEY) or {})
    if view.complaints:
        filed[str(round_view.id)] = [c.number for c in view.complaints]
        session[FILED_KEY] = dict(list(filed.items())[-FILED_ROUNDS_KEPT:])
    session[OUTCOME_KEY] = {
        "round": round_view.id,
        "refused": [list(refusal) for refusal in view.complaints_refused],
    }


# -- pages -----------------------------------------------------------------------------------


def _form_page(
    round_view: RoundView,
    token: str | None,
    *,
    answers: dict[str, Any],
    errors: dict[str, tuple[str, str]] | None = None,
    error: tuple[str, str] | None = None,
    preview: bool = False,
):
    definition = round_view.definition
    language = current_language()
    readable = readable_answers(definition, answers)
    shown = {q.key for q in definition.shown_questions(readable)}
    applicable = [q for q in definition.questions if q.key in shown]
    answered = sum(1 for q in applicable if q.key in readable)
    errors = errors or {}
    return render_template(
        "surveys/answer.html",
        round=round_view,
        definition=definition,
        questions=[_question_view(definition, q, language) for q in definition.questions],
        values={key: _as_strings(value) for key, value in answers.items()},
        shown=shown,
        progress=(answered, len(applicable)),
        errors=errors,
        # Once some answers are known, the questions they rule out are marked as such.
        judged=bool(readable),
        error=error,
        form=SurveyForm(),
        token=token,
        token_field=TOKEN_FIELD,
        round_field=ROUND_FIELD,
        complaint_field=COMPLAINT_FIELD,
        complaint_after=_last_complaint_question(definition),
        file_complaints=request.form.get(COMPLAINT_FIELD) == "yes",
        closes_local=_local(round_view.closes_at),
        preview=preview,
    )


def preview_page(definition: SurveyDefinition, version: int):
    """The answering page of `definition` exactly as respondents will see it, but inert: it
    posts nothing (the staff designer shows it in a phone-sized frame)."""
    now = service_context().now()
    stand_in = RoundView(
        id=0,
        slug=definition.slug,
        number=None,
        status=RoundStatus.SCHEDULED,
        opens_at=now,
        closes_at=now + timedelta(days=rounds.DEFAULT_OPEN_DAYS),
        invitation_only=False,
        invite_subscribers=False,
        version=version,
        definition=definition,
    )
    return _form_page(stand_in, None, answers={}, preview=True)


def _done(round_view: RoundView, view: ResponseView):
    outcome = session.pop(OUTCOME_KEY, None)
    just_now = isinstance(outcome, dict) and outcome.get("round") == round_view.id
    codes = session.get("codes") or {}
    numbers = (session.get(FILED_KEY) or {}).get(str(round_view.id), [])
    complaints = [(number, codes.get(number)) for number in numbers]
    return render_template(
        "surveys/done.html",
        round=round_view,
        definition=round_view.definition,
        response=view,
        just_now=just_now,
        refused=outcome.get("refused", []) if just_now else [],
        complaints=complaints,
        submitted_local=_local(view.submitted_at),
    )


def _not_open(slug: str):
    # The survey exists but has no round open now: say so, with its title when there is one.
    try:
        title = catalog.export_definition(read_session(), slug)["title"]
    except MinyiError:
        title = None
    page = render_template("surveys/not_open.html", slug=slug, title=title)
    return current_app.response_class(page, status=404)


def _unknown(slug: str):
    page = render_template("surveys/unknown.html", slug=slug)
    return current_app.response_class(page, status=404)


def _refused(round_view: RoundView, refused: MinyiError):
    status = 400
    if isinstance(refused, PermissionDenied):
        status = 403
    elif isinstance(refused, NotFound):
        status = 404
    elif isinstance(refused, IllegalTransition):
        status = 409
    page = render_template(
        "surveys/refused.html",
        round=round_view,
        definition=round_view.definition,
        message=(refused.message_zh, refused.message_en),
        invitation_only=round_view.invitation_only,
    )
    return current_app.response_class(page, status=status)


# -- what the template shows of a question ---------------------------------------------------


def _question_view(definition: SurveyDefinition, question: Question, language: str) -> dict:
    """The labels of a question in the visitor's language; the rules stay with the engine."""
    view: dict[str, Any] = {
        "q": question,
        "number": definition.questions.index(question) + 1,
        "text": question.text.get(language),
        "text_zh": question.text.zh,
        "help": question.help.get(language) if question.help else None,
        "condition": _condition(definition, question, language),
        "show_if": {key: list(values) for key, values in question.show_if},
        "options": [],
    }
    if question.kind == "rating":
        view["options"] = [
            (str(score), RATING_LABELS[score][0], RATING_LABELS[score][1])
            for score in (5, 4, 3, 2, 1)
        ]
    elif question.kind == "rubric":
        levels = dict(question.levels)
        view["options"] = [
            (str(level), str(level), levels[level].get(language) if level in levels else "")
            for level in (5, 4, 3, 2, 1)
        ]
    elif question.kind == "nps":
        view["options"] = [(str(n), str(n), "") for n in range(11)]
        view["ends"] = [ends[1] if language == "en" else ends[0] for ends in NPS_ENDS]
    elif question.kind in ("single", "multiple"):
        view["options"] = [(c.key, c.text.get(language), "") for c in question.choices]
    return view


def _condition(definition: SurveyDefinition, question: Question, language: str) -> str | None:
    """When a show_if question applies, in words (shown when no script hides it)."""
    if not question.show_if:
        return None
    parts = []
    for key, values in question.show_if:
        source = definition.question(key)
        number = definition.questions.index(source) + 1
        labels = [_value_label(source, value, language) for value in values]
        if language == "en":
            parts.append(f"question {number} is answered " + " or ".join(f"“{x}”" for x in labels))
        else:
            parts.append(f"第 {number} 题选择" + "或".join(f"“{x}”" for x in labels))
    if language == "en":
        return "Answer only if " + " and ".join(parts) + "."
    return "仅当" + "，且".join(parts) + "时回答。"


def _value_label(question: Question, value: object, language: str) -> str:
    if question.kind == "rating" and value in RATING_LABELS:
        zh, en = RATING_LABELS[value]
        return en if language == "en" else zh
    for choice in question.choices:
        if choice.key == value:
            return choice.text.get(language)
    return str(value)


def _last_complaint_question(definition: SurveyDefinition) -> str | None:
    keys = [q.key for q in definition.questions if q.kind == "text" and q.complaint]
    return keys[-1] if keys else None


def _as_strings(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def _local(moment) -> str:
    return moment.astimezone(service_context().timezone).strftime("%Y-%m-%d %H:%M")
