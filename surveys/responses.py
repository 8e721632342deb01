"""Answering a round: one response per respondent, answers saved as they arrive, one submit.

The bot saves each answer as it arrives (`save_answer`), so a restart mid-survey loses
nothing and the next question is known (`ResponseView.next_key`); the web posts the whole form
to `submit_response`. Either way the server applies show_if and the required rules, a second
submit stores nothing, and a used invitation cannot answer again.

A text question marked `"complaint": true` lets the respondent agree that its answer be filed
as a complaint: with `file_complaints=True` the text goes through the same filing function as
every other complaint (minyi.services.tickets.file_ticket), in the submit's transaction;
`submit_and_route` then routes it by NLP as `submit_complaint` does.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, insert, select
from sqlalchemy.orm import Session, sessionmaker

from minyi.db import insert_or_get, insert_unless_taken
from minyi.errors import IllegalTransition, MinyiError, PermissionDenied, ValidationFailed
from minyi.models import (
    Channel,
    Citizen,
    RoundStatus,
    SurveyAnswer,
    SurveyInvitation,
    SurveyQuestion,
    SurveyResponse,
    SurveyRound,
)
from minyi.services.context import ServiceContext
from minyi.services.tickets import (
    check_complaint_text,
    file_ticket,
    get_ticket,
    issue_access_code,
    route_ticket,
)
from minyi.services.validation import check_channel
from surveys.answers import AnswersInvalid, check_answer, check_each, complete_answers
from surveys.catalog import version_definition
from surveys.counts import bump_counts, count_value
from surveys.definition import SurveyDefinition
from surveys.rounds import RoundView, get_round_by_id, hash_token, round_view

log = logging.getLogger(__name__)

WEB_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True)
class Respondent:
    """Who answers: a known citizen, the holder of an invitation token, or a web visitor.

    Build one with `Respondent.of_citizen`, `Respondent.invited` or `Respondent.web`.
    """

    channel: Channel
    citizen_id: int | None = None
    token: str | None = None
    web_id: str | None = None  # a random id the web keeps in a signed cookie

    @classmethod
    def of_citizen(cls, citizen: Citizen, channel: Channel | str | None = None) -> Respondent:
        return cls(check_channel(channel or citizen.channel), citizen_id=citizen.id)

    @classmethod
    def invited(cls, token: str, channel: Channel | str = Channel.WEB) -> Respondent:
        return cls(check_channel(channel), token=token)

    @classmethod
    def web(cls, web_id: str) -> Respondent:
        return cls(Channel.WEB, web_id=web_id)


@dataclass(frozen=True)
class FiledComplaint:
    key: str
    ticket_id: int
    number: str
    access_code: str | None  # shown once, opens the public status page


@dataclass(frozen=True)
class ResponseView:
    """A respondent's response as adapters show it, readable after the session closed."""

    id: int
    round_id: int
    answers: dict[str, Any]  # key -> stored answer (None: skipped)
    shown_keys: tuple[str, ...]  # the questions this respondent sees, in order
    next_key: str | None  # the first shown question not answered or skipped yet
    submitted_at: datetime | None
    # True only for the call that submitted it; a repeated submit gets False and stored nothing.
    submitted_now: bool = False
    complaints: tuple[FiledComplaint, ...] = ()
    # Text answers the respondent wanted filed but the complaint rules refused: (key, zh, en).
    complaints_refused: tuple[tuple[str, str, str], ...] = ()

    @property
    def submitted(self) -> bool:
        return self.submitted_at is not None

    @property
    def progress(self) -> tuple[int, int]:
        """(questions answered or skipped, questions shown)."""
        return sum(1 for key in self.shown_keys if key in self.answers), len(self.shown_keys)


def response_status(
    session: Session, ctx: ServiceContext, round_id: object, respondent: Respondent
) -> ResponseView | None:
    """The respondent's response to the round if there is one; writes nothing (for page views)."""
    round_ = get_round_by_id(session, round_id)
    key, _, _ = _identify(session, round_, respondent)
    response = session.scalar(
        select(SurveyResponse).where(
            SurveyResponse.round_id == round_.id, SurveyResponse.respondent_key == key
        )
    )
    if response is None:
        return None
    return _view(session, response, version_definition(round_.version))


def start_response(
    session: Session,
    ctx: ServiceContext,
    round_id: object,
    respondent: Respondent,
    *,
    at: datetime | None = None,
) -> ResponseView:
    """The respondent's response to an open round, created on first call, resumed after."""
    now = ctx.moment(at)
    round_ = _answerable_round(session, round_id, now)
    response = _response_for(session, round_, respondent, now)
    return _view(session, response, version_definition(round_.version))


def save_answer(
    session: Session,
    ctx: ServiceContext,
    round_id: object,
    respondent: Respondent,
    key: object,
    value: object,
    *,
    at: datetime | None = None,
) -> ResponseView:
    """Check and keep one answer (None skips an optional question) before the submit.

    Refused for a question the earlier answers hide, an empty required answer, a submitted
    response and a round that is not open.
    """
    now = ctx.moment(at)
    round_ = _answerable_round(session, round_id, now)
    definition = version_definition(round_.version)
    question = definition.question(key) if isinstance(key, str) else None
    if question is None:
        raise ValidationFailed(f"问卷没有问题 {key}", f"the survey has no question {key!r}")
    response = _response_for(session, round_, respondent, now, lock=True)
    _refuse_submitted(response)
    answer = check_answer(question, value)
    if answer is None and question.required:
        raise ValidationFailed(f"请回答“{question.text.zh}”", f"{question.key!r} is required")
    draft = dict(response.draft or {})
    given = {k: v for k, v in draft.items() if v is not None}
    shown = {q.key for q in definition.shown_questions(given)}
    if question.key not in shown:
        raise ValidationFailed(
            f"根据前面的回答，“{question.text.zh}”不需要回答",
            f"{question.key!r} does not apply given the earlier answers",
        )
    draft[question.key] = answer
    response.draft = draft  # a new dict: JSON columns only notice reassignment
    response.updated_at = now
    if respondent.channel != response.channel:
        response.channel = respondent.channel
    session.flush()
    return _view(session, response, definition)


def submit_response(
    session: Session,
    ctx: ServiceContext,
    round_id: object,
    respondent: Respondent,
    *,
    answers: dict[str, object] | None = None,
    file_complaints: bool = False,
    at: datetime | None = None,
) -> ResponseView:
    """Submit the respondent's answers: the saved ones plus `answers` (a whole web form).

    Every refused answer is named at once (AnswersInvalid.errors, by key) and nothing is
    stored. A response already submitted stores nothing and comes back with
    submitted_now=False. With `file_complaints`, each complaint-enabled text answer is filed
    as a complaint (channel survey); a complaint the rules refuse (too short, the daily limit)
    leaves the response submitted and is listed in complaints_refused.

    `round_id` may be a RoundView the caller kept (the web process keeps the open round it
    showed): its status and times are read again in this transaction (by the INSERT itself
    in the common case), the rest is used as it is, since a round's version never changes
    once it has one.
    """
    if not isinstance(file_complaints, bool):
        raise ValidationFailed("是否转为投诉须为是或否", "file_complaints must be true or false")
    now = ctx.moment(at)
    known = round_id if isinstance(round_id, RoundView) and round_id.definition else None
    # The round's plain columns and its cached definition: all the common case needs.
    view = known or round_view(session, round_id)
    definition = view.definition
    if answers is not None and not isinstance(answers, dict):
        raise ValidationFailed("答案格式无效", "answers must be a mapping of question keys")
    who = _identify(session, view, respondent)
    # With a kept round no statement has run yet: the form is checked before the write
    # transaction begins (on SQLite, before the write lock is taken).
    form = _whole_form(definition, who, answers)
    if form is not None:
        first = _submit_first(session, ctx, view, respondent, who, form, file_complaints, now)
        if first is not None:
            return first
    round_ = get_round_by_id(session, view.id)
    if round_.version_id != view.version_id:  # kept before the round had its version
        definition = version_definition(round_.version) if round_.version else None
    existing = _existing_response(session, round_, who[0])
    if existing is not None and existing.submitted_at is not None:
        return _view(session, existing, definition)
    round_ = _answerable_round(session, round_, now)
    # Checked before anything is written, so a refused form leaves no trace.
    kept = _kept_answers(definition, existing.draft if existing else None, answers)
    response = _response_for(
        session, round_, respondent, now, lock=True, who=who, known=existing is not None
    )
    if response.submitted_at is not None:  # submitted meanwhile by a concurrent request
        return _view(session, response, definition)
    if response.draft != (existing.draft if existing else None):  # saved meanwhile
        kept = _kept_answers(definition, response.draft, answers)
    citizen = session.get(Citizen, response.citizen_id) if response.citizen_id else None
    complaints, refused = _store_answers(
        session, ctx, round_, definition, response, kept, citizen, file_complaints, now
    )
    response.answers = kept
    response.draft = None
    response.file_complaints = file_complaints
    response.submitted_at = now
    response.updated_at = now
    response.channel = respondent.channel
    if response.invitation_id is not None:
        invitation = session.get(SurveyInvitation, response.invitation_id)
        invitation.used_at = now
    session.flush()
    return _submitted_view(session, response, definition, kept, complaints, refused)


def _whole_form(
    definition: SurveyDefinition | None,
    who: tuple[str, int | None, SurveyInvitation | None],
    answers: dict[str, object] | None,
) -> dict[str, Any] | None:
    """The answers _submit_first would store: a whole valid form, not from an invitation;
    None when that is not the case (the general path then has the rules)."""
    if answers is None or definition is None or who[2] is not None:
        return None
    try:
        return _kept_answers(definition, None, answers)
    except AnswersInvalid:
        return None


def _submit_first(
    session: Session,
    ctx: ServiceContext,
    round_: RoundView,
    respondent: Respondent,
    who: tuple[str, int | None, SurveyInvitation | None],
    kept: dict[str, Any],
    file_complaints: bool,
    now: datetime,
) -> ResponseView | None:
    """The web's common case in fewer statements: a whole valid form (`kept`, by
    _whole_form) from a respondent with no response in this round yet is inserted as
    submitted, with no SELECT first, no SAVEPOINT and no UPDATE after; the INSERT itself
    checks that the round is open now with this version (_ANSWERABLE), so a round the caller
    kept needs no read of its own. None when that is not the case (a closed round, or the
    respondent's row exists already, e.g. a saved draft): then submit_response takes its
    general path, which has the rules for all of those.
    """
    key, citizen_id, _ = who
    definition = round_.definition
    if not round_.is_answerable(now):  # as the caller read it: no need to try
        return None
    response_id = insert_unless_taken(
        session,
        SurveyResponse.__table__,
        {
            "round_id": round_.id,
            "version_id": round_.version_id,
            "respondent_key": key,
            "citizen_id": citizen_id,
            "invitation_id": None,
            "channel": respondent.channel,
            "draft": None,
            "answers": kept,
            "file_complaints": file_complaints,
            "started_at": now,
            "updated_at": now,
            "submitted_at": now,
        },
        ("round_id", "respondent_key"),
        only_if=_ANSWERABLE,
    )
    if response_id is None:  # a row of the respondent, or the round closed: the general path
        return None
    # Not added to the session: it only carries the new row's values to the helpers below.
    response = SurveyResponse(id=response_id, round_id=round_.id, submitted_at=now)
    citizen = session.get(Citizen, citizen_id) if citizen_id and file_complaints else None
    complaints, refused = _store_answers(
        session, ctx, round_, definition, response, kept, citizen, file_complaints, now
    )
    return _submitted_view(session, response, definition, kept, complaints, refused)


def _submitted_view(
    session: Session,
    response: SurveyResponse,
    definition: SurveyDefinition,
    kept: dict[str, Any],
    complaints: list,
    refused: list,
) -> ResponseView:
    """What a submit returns, by either path: the response with the complaints it filed."""
    return replace(
        _view(session, response, definition, answers=kept),
        submitted_now=True,
        complaints=tuple(complaints),
        complaints_refused=tuple(refused),
    )


def _store_answers(
    session: Session,
    ctx: ServiceContext,
    round_: SurveyRound | RoundView,
    definition: SurveyDefinition,
    response: SurveyResponse,
    kept: dict[str, Any],
    citizen: Citizen | None,
    file_complaints: bool,
    now: datetime,
) -> tuple[list[FiledComplaint], list[tuple[str, str, str]]]:
    """Write a submit's text answer rows and its counts (the answers themselves are the
    response's `answers`), filing the complaints asked for; what was filed and what the
    complaint rules refused."""
    questions = getattr(round_, "question_ids", None)  # a RoundView read with the round
    if questions is None:
        questions = _question_ids(session, round_.version_id)
    complaints: list[FiledComplaint] = []
    refused: list[tuple[str, str, str]] = []
    counted: list[tuple[int, str]] = []
    rows: list[dict[str, Any]] = []
    for key, value in kept.items():
        question = definition.question(key)
        counted.append((questions[key], count_value(question, value)))
        if question.kind != "text":
            continue
        row = {
            "response_id": response.id,
            "round_id": round_.id,
            "question_id": questions[key],
            "text": value,
            "ticket_id": None,
        }
        rows.append(row)
        if question.complaint and file_complaints:
            filed = _file_complaint(session, ctx, response, key, value, citizen, now)
            if isinstance(filed, FiledComplaint):
                row["ticket_id"] = filed.ticket_id
                complaints.append(filed)
            else:
                refused.append((key, *filed))
    # One Core executemany for the text answers (every row has the same columns).
    if rows:
        session.connection().execute(_INSERT_ANSWERS, rows)
    # Last, so that on PostgreSQL the round's shared count rows stay locked only briefly.
    bump_counts(session, round_.id, now, counted)
    return complaints, refused


def submit_and_route(
    session_factory: sessionmaker,
    ctx: ServiceContext,
    round_id: object,
    respondent: Respondent,
    **options: Any,
) -> ResponseView:
    """`submit_response` in its own transaction, then each filed complaint routed in another.

    A complaint is committed with the response before NLP runs: a classifier failure leaves
    it in triage instead of losing it (or the response). The classifier reads the text with
    no transaction open, so the SQLite write lock is never held for NLP.
    """
    with session_factory.begin() as session:
        view = submit_response(session, ctx, round_id, respondent, **options)
    for complaint in view.complaints:
        try:
            analysis = None
            if ctx.analyzer is not None:  # the text as file_ticket stored it
                analysis = ctx.analyzer(check_complaint_text(ctx, view.answers[complaint.key]))
            with session_factory.begin() as session:
                ticket = get_ticket(session, complaint.ticket_id, for_update=True)
                route_ticket(session, ctx, ticket, analysis=analysis)
        except Exception:
            log.exception("routing failed for ticket %s; left in triage", complaint.ticket_id)
    return view


def rounds_for_citizen(
    session: Session, ctx: ServiceContext, citizen: Citizen, *, at: datetime | None = None
) -> list[tuple[RoundView, ResponseView | None]]:
    """The rounds a citizen can answer now (public ones, and those they are invited to).

    Each comes with the citizen's response when one is started; submitted ones are left out.
    For the bot's /survey command and a "your surveys" page.
    """
    now = ctx.moment(at)
    invited = exists().where(
        SurveyInvitation.round_id == SurveyRound.id, SurveyInvitation.citizen_id == citizen.id
    )
    open_rounds = session.scalars(
        select(SurveyRound)
        .where(
            SurveyRound.status == RoundStatus.OPEN,
            SurveyRound.opens_at <= now,
            SurveyRound.closes_at > now,
            SurveyRound.invitation_only.is_(False) | invited,
        )
        .order_by(SurveyRound.closes_at, SurveyRound.id)
    ).all()
    out = []
    for round_ in open_rounds:
        response = _existing_response(session, round_, f"citizen:{citizen.id}")
        if response is not None and response.submitted_at is not None:
            continue
        definition = version_definition(round_.version)
        view = _view(session, response, definition) if response is not None else None
        out.append((RoundView.of(round_), view))
    return out


# -- helpers ---------------------------------------------------------------------------------


def _answerable_round(session: Session, round_id: object, now: datetime) -> SurveyRound:
    round_ = round_id if isinstance(round_id, SurveyRound) else get_round_by_id(session, round_id)
    if round_.status == RoundStatus.CLOSED or round_.closes_at <= now:
        raise IllegalTransition(
            f"问卷 {round_.survey.slug} 的这一轮调查已结束",
            f"this round of {round_.survey.slug} is closed",
        )
    if round_.status != RoundStatus.OPEN or round_.opens_at > now:
        raise IllegalTransition(
            f"问卷 {round_.survey.slug} 的这一轮调查尚未开始",
            f"this round of {round_.survey.slug} has not opened yet",
        )
    return round_


def _kept_answers(
    definition: SurveyDefinition, draft: dict | None, answers: dict[str, object] | None
) -> dict[str, Any]:
    """The answers a submit stores: the draft, overridden by the form, then show_if applied.

    Refused values and missing required answers are reported together, in question order.
    """
    merged = {k: v for k, v in (draft or {}).items() if v is not None}
    errors: dict[str, tuple[str, str]] = {}
    if answers:
        checked, errors = check_each(definition, answers)
        for key in answers:
            # A field left empty in the form clears what chat saved for it; so does a refused one.
            if key in checked:
                merged[key] = checked[key]
            else:
                merged.pop(key, None)
    if errors:  # a question the answers rule out is dropped whatever its value: no refusal
        shown = {q.key for q in definition.shown_questions(merged)}
        errors = {k: m for k, m in errors.items() if k in shown or definition.question(k) is None}
    try:
        kept = complete_answers(definition, merged)
    except AnswersInvalid as missing:
        # A refused value explains itself better than "required".
        errors = missing.errors | errors
    if errors:
        order = {key: n for n, key in enumerate(definition.keys)}
        raise AnswersInvalid(
            dict(sorted(errors.items(), key=lambda item: order.get(item[0], len(order))))
        )
    return kept


def _identify(
    session: Session, round_: SurveyRound | RoundView, respondent: Respondent
) -> tuple[str, int | None, SurveyInvitation | None]:
    """(respondent key, citizen id, invitation) of a respondent in this round, or refuse."""
    if not isinstance(respondent, Respondent):
        raise ValidationFailed("缺少答卷人", "no respondent given")
    given = [x is not None for x in (respondent.citizen_id, respondent.token, respondent.web_id)]
    if sum(given) != 1:
        raise ValidationFailed(
            "答卷人须为市民、邀请链接或网页访客之一",
            "a respondent is a citizen, an invitation token or a web visitor: exactly one",
        )
    if respondent.token is not None:
        invitation = _invitation_by_token(session, round_, respondent.token)
        if invitation.citizen_id is not None:
            return f"citizen:{invitation.citizen_id}", invitation.citizen_id, invitation
        return f"invitation:{invitation.id}", None, invitation
    if respondent.citizen_id is not None:
        invitation = session.scalar(
            select(SurveyInvitation).where(
                SurveyInvitation.round_id == round_.id,
                SurveyInvitation.citizen_id == respondent.citizen_id,
            )
        )
        if invitation is None and round_.invitation_only:
            raise PermissionDenied(
                "本次调查仅限受邀市民参加", "this round is open to invited citizens only"
            )
        return f"citizen:{respondent.citizen_id}", respondent.citizen_id, invitation
    if not isinstance(respondent.web_id, str) or not WEB_ID.fullmatch(respondent.web_id):
        raise ValidationFailed("网页访客标识无效", "invalid web visitor id")
    if round_.invitation_only:
        raise PermissionDenied(
            "本次调查仅限受邀市民参加，请使用邀请链接",
            "this round is open to invited citizens only: use the invitation link",
        )
    return f"web:{respondent.web_id}", None, None


def _invitation_by_token(
    session: Session, round_: SurveyRound | RoundView, token: object
) -> SurveyInvitation:
    if not isinstance(token, str) or not 10 <= len(token) <= 100:
        raise ValidationFailed("邀请链接无效", "invalid invitation link")
    digest = hash_token(token.strip())
    invitation = session.scalar(
        select(SurveyInvitation).where(
            SurveyInvitation.round_id == round_.id,
            (SurveyInvitation.token_hash == digest)
            | (SurveyInvitation.reminder_token_hash == digest),
        )
    )
    if invitation is None:
        raise ValidationFailed(
            "邀请链接无效或不属于本次调查", "the invitation link is invalid or for another round"
        )
    return invitation


def _existing_response(session: Session, round_: SurveyRound, key: str) -> SurveyResponse | None:
    return session.scalar(
        select(SurveyResponse).where(
            SurveyResponse.round_id == round_.id, SurveyResponse.respondent_key == key
        )
    )


def _response_for(
    session: Session,
    round_: SurveyRound,
    respondent: Respondent,
    now: datetime,
    *,
    lock: bool = False,
    who: tuple[str, int | None, SurveyInvitation | None] | None = None,
    known: bool = True,
) -> SurveyResponse:
    """The respondent's response, inserted when there is none (`known=False`: the caller just
    found none in this transaction, so go straight to the insert, which settles any race)."""
    key, citizen_id, invitation = who or _identify(session, round_, respondent)
    query = select(SurveyResponse).where(
        SurveyResponse.round_id == round_.id, SurveyResponse.respondent_key == key
    )
    existing = query
    if lock:
        # populate_existing: a row this session read before the lock was waited for must be
        # reread, or a submit committed meanwhile by another request (PostgreSQL's row lock
        # returns the new version) is not seen and its answers are inserted a second time.
        query = query.with_for_update().execution_options(populate_existing=True)
    response = session.scalar(query) if known else None
    if response is None:
        if invitation is not None and invitation.used_at is not None:
            raise IllegalTransition("此邀请链接已使用过", "this invitation has already been used")
        response, created = insert_or_get(
            session,
            SurveyResponse(
                round_id=round_.id,
                version_id=round_.version_id,
                respondent_key=key,
                citizen_id=citizen_id,
                invitation_id=invitation.id if invitation else None,
                channel=respondent.channel,
                started_at=now,
                updated_at=now,
            ),
            existing,
        )
        # A row this transaction just inserted is invisible to others: nothing to lock.
        if lock and not created:
            session.refresh(response, with_for_update=True)
    return response


def _refuse_submitted(response: SurveyResponse) -> None:
    if response.submitted_at is not None:
        raise IllegalTransition(
            "您已提交过本次调查，答案不能再修改", "this response was already submitted"
        )


def _view(
    session: Session,
    response: SurveyResponse,
    definition: SurveyDefinition | None,
    *,
    answers: dict[str, Any] | None = None,
) -> ResponseView:
    if answers is not None:
        answers = dict(answers)
    elif response.submitted_at is not None:
        answers = dict(response.answers or {})
    else:
        answers = dict(response.draft or {})
    given = {k: v for k, v in answers.items() if v is not None}
    shown = definition.shown_questions(given) if definition else []
    shown_keys = tuple(q.key for q in shown)
    next_key = None
    if response.submitted_at is None:
        next_key = next((key for key in shown_keys if key not in answers), None)
    return ResponseView(
        id=response.id,
        round_id=response.round_id,
        answers=answers,
        shown_keys=shown_keys,
        next_key=next_key,
        submitted_at=response.submitted_at,
    )


# The round of the response being inserted is open at its submit time, with its version:
# the parameters are the new row's own columns (see _submit_first).
_ANSWERABLE = exists().where(
    SurveyRound.id == bindparam("round_id"),
    SurveyRound.version_id == bindparam("version_id"),
    SurveyRound.status == RoundStatus.OPEN,
    SurveyRound.opens_at <= bindparam("submitted_at"),
    SurveyRound.closes_at > bindparam("submitted_at"),
)
_INSERT_ANSWERS = insert(SurveyAnswer.__table__)
# Built once: constructing a statement per submit costs more than SQLite takes to run it.
_QUESTION_IDS = select(SurveyQuestion.key, SurveyQuestion.id).where(
    SurveyQuestion.version_id == bindparam("version_id")
)


def _question_ids(session: Session, version_id: int) -> dict[str, int]:
    rows = session.connection().execute(_QUESTION_IDS, {"version_id": version_id})
    return dict(rows.all())


def _file_complaint(
    session: Session,
    ctx: ServiceContext,
    response: SurveyResponse,
    key: str,
    text: str,
    citizen: Citizen | None,
    now: datetime,
) -> FiledComplaint | tuple[str, str]:
    try:
        # A refusal (too short, the daily limit) must not undo the response: a savepoint.
        with session.begin_nested():
            ticket = file_ticket(
                session,
                ctx,
                text=text,
                channel=Channel.SURVEY,
                citizen=citizen,
                source_ref=f"survey:{response.id}:{key}",
                at=now,
            )
            code = issue_access_code(ticket)
            session.flush()
    except MinyiError as refused:
        return refused.message_zh, refused.message_en
    return FiledComplaint(key, ticket.id, ticket.number, code)


__all__ = [
    "AnswersInvalid",
    "FiledComplaint",
    "Respondent",
    "ResponseView",
    "response_status",
    "rounds_for_citizen",
    "save_answer",
    "start_response",
    "submit_and_route",
    "submit_response",
]
