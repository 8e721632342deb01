"""Rounds: one-off and scheduled openings, closing, invitations and the reminder.

A survey has at most one open round at a time; it answers the latest published version at
the moment it opened. Invitations are single use and stored as token hashes; each goes out
through the outbox with a dedupe key per citizen and round, so a job run twice (or restarted
half-way) invites nobody twice and reminds nobody twice.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, bindparam, cast, exists, func, join, select
from sqlalchemy.orm import Session, contains_eager, joinedload

from minyi.db import insert_or_get
from minyi.errors import IllegalTransition, NotFound, ValidationFailed
from minyi.models import (
    Channel,
    Citizen,
    OutboxMessage,
    RoundStatus,
    Survey,
    SurveyInvitation,
    SurveyQuestion,
    SurveyResponse,
    SurveyRound,
    SurveySchedule,
    SurveyVersion,
)
from minyi.services.context import ServiceContext
from minyi.services.outbox import enqueue_message
from minyi.services.validation import check_moment, check_ref
from surveys.catalog import definition_of_text, get_survey, latest_version, version_definition
from surveys.definition import SurveyDefinition
from surveys.schedule import next_window, schedule_expression

log = logging.getLogger(__name__)

DEFAULT_OPEN_DAYS = 7
DEFAULT_REMIND_HOURS = 24
INVITATION_KIND = "survey_invitation"
REMINDER_KIND = "survey_reminder"


@dataclass(frozen=True)
class RoundView:
    """A round as adapters show it, readable after the session closed."""

    id: int
    slug: str
    number: int | None
    status: RoundStatus
    opens_at: datetime
    closes_at: datetime
    invitation_only: bool
    invite_subscribers: bool
    version: int | None
    definition: SurveyDefinition | None  # None until the round opens
    version_id: int | None = None
    # key -> question id of the round's version (read with the round by round_view and
    # open_round_for; None from RoundView.of): a submit's counts and text rows need them.
    question_ids: dict[str, int] | None = field(default=None, compare=False)

    @property
    def title(self) -> str:
        return self.definition.title.zh if self.definition else self.slug

    def is_answerable(self, now: datetime) -> bool:
        """Open and within its times: the only state in which answers are accepted."""
        return self.status == RoundStatus.OPEN and self.opens_at <= now < self.closes_at

    @classmethod
    def of(cls, round_: SurveyRound) -> RoundView:
        version = round_.version
        return cls(
            id=round_.id,
            slug=round_.survey.slug,
            number=round_.number,
            status=RoundStatus(round_.status),
            opens_at=round_.opens_at,
            closes_at=round_.closes_at,
            invitation_only=round_.invitation_only,
            invite_subscribers=round_.invite_subscribers,
            version=version.number if version else None,
            definition=version_definition(version) if version else None,
            version_id=round_.version_id,
        )

    @classmethod
    def of_row(cls, row) -> RoundView:
        """From a row of _ROUND_COLUMNS: no ORM objects, the definition parsed once per process
        for each distinct stored text (a published version's text never changes)."""
        return cls(
            id=row.id,
            slug=row.slug,
            number=row.number,
            status=RoundStatus(row.status),
            opens_at=row.opens_at,
            closes_at=row.closes_at,
            invitation_only=row.invitation_only,
            invite_subscribers=row.invite_subscribers,
            version=row.version_number,
            definition=(
                definition_of_text(row.definition_text)
                if row.definition_text is not None
                else None
            ),
            version_id=row.version_id,
            question_ids=_question_ids_of(row.question_ids) if row.version_id else None,
        )


@dataclass(frozen=True)
class ScheduleView:
    id: int
    slug: str
    kind: str
    cron: str
    open_days: int
    invitation_only: bool
    invite_subscribers: bool
    remind_hours_before: int
    active: bool


def hash_token(token: str) -> str:
    """How an invitation token is stored: its SHA-256 (tokens are random, 128 bits)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(16)


def survey_link(ctx: ServiceContext, slug: str, token: str | None = None) -> str:
    """The public web address of a survey (with an invitation token when given)."""
    base = ctx.settings.web.public_base_url.rstrip("/")
    return f"{base}/s/{slug}" + (f"?t={token}" if token else "")


def set_subscription(session: Session, citizen: Citizen, subscribed: object) -> Citizen:
    """Subscribe a citizen to survey invitations, or unsubscribe them (the bot's /subscribe)."""
    if not isinstance(subscribed, bool):
        raise ValidationFailed("订阅须为是或否", "subscribed must be true or false")
    if not isinstance(citizen, Citizen):
        raise ValidationFailed("市民身份无效", "citizen must be a registered citizen")
    citizen.subscribed = subscribed
    session.flush()
    return citizen


def open_round(
    session: Session,
    ctx: ServiceContext,
    slug: object,
    *,
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
    invitation_only: bool = False,
    invite_subscribers: bool = False,
    remind_hours_before: int = DEFAULT_REMIND_HOURS,
    at: datetime | None = None,
) -> RoundView:
    """A one-off round: open now (or planned for `opens_at`), closing at `closes_at`.

    Defaults: opens now, closes after DEFAULT_OPEN_DAYS days. Refused while another round of
    the survey is open, and for a survey with no published version.
    """
    now = ctx.moment(at)
    survey = _lock_survey(session, slug)
    _check_publishable(session, survey)
    start = (
        now if opens_at is None else check_moment(opens_at, field_zh="开始时间", field_en="opens")
    )
    start = max(start, now)
    end = (
        start + timedelta(days=DEFAULT_OPEN_DAYS)
        if closes_at is None
        else check_moment(closes_at, field_zh="结束时间", field_en="closes")
    )
    if end <= start:
        raise ValidationFailed(
            "结束时间须晚于开始时间（和现在）",
            "the round must close after it opens (and after now)",
        )
    flags = _check_flags(invitation_only, invite_subscribers, remind_hours_before)
    current = _open_round_of(session, survey.id) if start <= now else None
    if current is not None:
        raise IllegalTransition(
            f"问卷 {survey.slug} 第 {current.number} 轮正在进行"
            f"（至 {_local(ctx, current.closes_at)}），请先结束它",
            f"round {current.number} of {survey.slug} is open until"
            f" {_local(ctx, current.closes_at)}: close it first",
        )
    round_ = SurveyRound(
        survey_id=survey.id,
        status=RoundStatus.SCHEDULED,
        opens_at=start,
        closes_at=end,
        remind_at=_remind_at(start, end, flags[2]),
        created_at=now,
        invitation_only=flags[0],
        invite_subscribers=flags[1],
    )
    session.add(round_)
    session.flush()
    if start <= now:
        _open(session, survey, round_, now)
    return RoundView.of(round_)


def schedule_survey(
    session: Session,
    ctx: ServiceContext,
    slug: object,
    *,
    kind: str,
    cron: str | None = None,
    open_days: int = DEFAULT_OPEN_DAYS,
    invitation_only: bool = False,
    invite_subscribers: bool = True,
    remind_hours_before: int = DEFAULT_REMIND_HOURS,
    at: datetime | None = None,
) -> ScheduleView:
    """Recurring rounds (monthly, quarterly or cron); the worker plans and opens each one.

    A survey has one active schedule: a new one replaces (deactivates) the previous.
    """
    now = ctx.moment(at)
    survey = _lock_survey(session, slug)
    _check_publishable(session, survey)
    expression = schedule_expression(kind, cron)
    if isinstance(open_days, bool) or not isinstance(open_days, int) or not 1 <= open_days <= 92:
        raise ValidationFailed("每轮开放天数须为 1-92", "open_days must be from 1 to 92")
    flags = _check_flags(invitation_only, invite_subscribers, remind_hours_before)
    for previous in session.scalars(
        select(SurveySchedule).where(
            SurveySchedule.survey_id == survey.id, SurveySchedule.active.is_(True)
        )
    ):
        previous.active = False
        # Its planned, not yet opened round goes with it.
        for planned in session.scalars(
            select(SurveyRound).where(
                SurveyRound.schedule_id == previous.id,
                SurveyRound.status == RoundStatus.SCHEDULED,
            )
        ):
            planned.status = RoundStatus.CLOSED
            planned.closed_at = now
    schedule = SurveySchedule(
        survey_id=survey.id,
        kind=kind,
        cron=expression,
        open_days=open_days,
        invitation_only=flags[0],
        invite_subscribers=flags[1],
        remind_hours_before=flags[2],
        active=True,
        created_at=now,
    )
    session.add(schedule)
    session.flush()
    return _schedule_view(schedule, survey.slug)


def stop_schedule(session: Session, ctx: ServiceContext, slug: object) -> int:
    """Deactivate the survey's schedules and cancel their planned rounds; returns how many."""
    survey = _lock_survey(session, slug)
    now = ctx.now()
    stopped = 0
    for schedule in session.scalars(
        select(SurveySchedule).where(
            SurveySchedule.survey_id == survey.id, SurveySchedule.active.is_(True)
        )
    ):
        schedule.active = False
        stopped += 1
        for planned in session.scalars(
            select(SurveyRound).where(
                SurveyRound.schedule_id == schedule.id,
                SurveyRound.status == RoundStatus.SCHEDULED,
            )
        ):
            planned.status, planned.closed_at = RoundStatus.CLOSED, now
    session.flush()
    return stopped


def close_round(
    session: Session, ctx: ServiceContext, round_id: object, *, at: datetime | None = None
) -> RoundView:
    """Close a round now (a planned one is cancelled); a closed round is refused."""
    round_ = get_round_by_id(session, round_id, for_update=True)
    if round_.status == RoundStatus.CLOSED:
        raise IllegalTransition(
            f"问卷 {round_.survey.slug} 的这一轮已结束",
            f"this round of {round_.survey.slug} is closed",
        )
    round_.status = RoundStatus.CLOSED
    round_.closed_at = ctx.moment(at)
    session.flush()
    return RoundView.of(round_)


# Built once and run with a parameter: the page and the submit of every visitor use them.
# What answering needs of a round, as plain columns: no ORM objects to build, and the
# definition as its stored text, which keys the parsed definition (definition_of_text), so a
# page view or a submit neither decodes nor re-encodes the JSON. The version's question ids
# come along as "key:id,key:id" (keys are letters, digits and _), so that a submit of a round
# the web process kept needs no SELECT of its own for them.
_QUESTION_IDS = (
    select(func.aggregate_strings(SurveyQuestion.key + ":" + cast(SurveyQuestion.id, Text), ","))
    .where(SurveyQuestion.version_id == SurveyRound.version_id)
    .scalar_subquery()
)
_ROUND_COLUMNS = select(
    SurveyRound.id,
    SurveyRound.number,
    SurveyRound.status,
    SurveyRound.opens_at,
    SurveyRound.closes_at,
    SurveyRound.invitation_only,
    SurveyRound.invite_subscribers,
    SurveyRound.version_id,
    Survey.slug,
    SurveyVersion.number.label("version_number"),
    cast(SurveyVersion.definition, Text).label("definition_text"),
    _QUESTION_IDS.label("question_ids"),
).select_from(
    join(SurveyRound, Survey, Survey.id == SurveyRound.survey_id).outerjoin(
        SurveyVersion, SurveyVersion.id == SurveyRound.version_id
    )
)
_OPEN_ROUND = (
    _ROUND_COLUMNS.where(Survey.slug == bindparam("slug"), SurveyRound.status == RoundStatus.OPEN)
    .order_by(SurveyRound.opens_at.desc())
    .limit(1)
)
_ROUND_VIEW = _ROUND_COLUMNS.where(SurveyRound.id == bindparam("id"))
_ROUND_TO_ANSWER = (
    select(SurveyRound)
    .where(SurveyRound.id == bindparam("id"))
    .options(joinedload(SurveyRound.survey, innerjoin=True), joinedload(SurveyRound.version))
)


def open_round_for(
    session: Session, ctx: ServiceContext, slug: object, *, at: datetime | None = None
) -> RoundView:
    """The round of `slug` that can be answered now; NotFound / IllegalTransition otherwise."""
    now = ctx.moment(at)
    # One query for the page of every visitor; the survey alone is looked up to explain a miss.
    row = session.execute(_OPEN_ROUND, {"slug": slug}).first() if isinstance(slug, str) else None
    if row is None or not row.opens_at <= now < row.closes_at:
        survey_slug = row.slug if row is not None else get_survey(session, slug).slug
        raise IllegalTransition(
            f"问卷 {survey_slug} 当前没有进行中的调查",
            f"survey {survey_slug} has no open round now",
        )
    return RoundView.of_row(row)


def round_view(session: Session, round_id: object) -> RoundView:
    """A round by id as a RoundView, read in one statement (the submit's hot path); NotFound
    otherwise. Its status and times are read now, so a round closed meanwhile shows closed."""
    ref = check_ref(round_id, kind_zh="调查轮次", kind_en="round")
    if not isinstance(ref, int):
        raise ValidationFailed("调查轮次标识无效", f"invalid round id {round_id!r}")
    row = session.execute(_ROUND_VIEW, {"id": ref}).first()
    if row is None:
        raise NotFound(f"找不到调查轮次 {ref}", f"unknown round {ref}")
    return RoundView.of_row(row)


def _question_ids_of(aggregated: str | None) -> dict[str, int]:
    """The "key:id,key:id" of _QUESTION_IDS as a dict."""
    if not aggregated:
        return {}
    pairs = (pair.split(":") for pair in aggregated.split(","))
    return {key: int(question_id) for key, question_id in pairs}


def public_rounds(
    session: Session, ctx: ServiceContext, *, at: datetime | None = None
) -> list[RoundView]:
    """The rounds anyone may answer on the web now (open, not invitation-only), soonest closing
    first: what the citizen menu offers."""
    now = ctx.moment(at)
    found = session.scalars(
        select(SurveyRound)
        .where(
            SurveyRound.status == RoundStatus.OPEN,
            SurveyRound.invitation_only.is_(False),
            SurveyRound.opens_at <= now,
            SurveyRound.closes_at > now,
        )
        .order_by(SurveyRound.closes_at, SurveyRound.id)
    ).all()
    return [RoundView.of(round_) for round_ in found]


def get_round_by_id(
    session: Session, round_id: object, *, for_update: bool = False
) -> SurveyRound:
    """A round by id; NotFound otherwise (`for_update` before changing it)."""
    ref = check_ref(round_id, kind_zh="调查轮次", kind_en="round")
    if not isinstance(ref, int):
        raise ValidationFailed("调查轮次标识无效", f"invalid round id {round_id!r}")
    if for_update:
        query = select(SurveyRound).where(SurveyRound.id == ref).with_for_update(of=SurveyRound)
        round_ = session.scalar(query)
    else:
        # What answering reads of a round comes in the same query (the submit's hot path).
        round_ = session.scalar(_ROUND_TO_ANSWER, {"id": ref})
    if round_ is None:
        raise NotFound(f"找不到调查轮次 {ref}", f"unknown round {ref}")
    return round_


def get_round(session: Session, slug: object, number: int | None = None) -> SurveyRound:
    """Round `number` of a survey; without a number the latest one that has opened."""
    survey = get_survey(session, slug)
    query = select(SurveyRound).where(SurveyRound.survey_id == survey.id)
    if number is None:
        query = query.where(SurveyRound.number.is_not(None)).order_by(SurveyRound.number.desc())
    else:
        query = query.where(SurveyRound.number == number)
    round_ = session.scalar(query.limit(1))
    if round_ is None:
        which_zh = f"第 {number} 轮" if number is not None else "已开始的轮次"
        which_en = f"round {number}" if number is not None else "a round that has opened"
        raise NotFound(
            f"问卷 {survey.slug} 没有{which_zh}", f"survey {survey.slug} has no {which_en}"
        )
    return round_


def survey_rounds(session: Session, slug: object) -> list[RoundView]:
    """Every round of a survey, the latest first (planned ones, not yet numbered, on top)."""
    survey = get_survey(session, slug)
    found = session.scalars(
        select(SurveyRound)
        .where(SurveyRound.survey_id == survey.id)
        .options(contains_eager(SurveyRound.survey), joinedload(SurveyRound.version))
        .join(Survey, Survey.id == SurveyRound.survey_id)
        .order_by(SurveyRound.number.desc().nulls_first(), SurveyRound.opens_at.desc())
    ).all()
    return [RoundView.of(round_) for round_ in found]


def active_schedule(session: Session, slug: object) -> ScheduleView | None:
    """The survey's active schedule of recurring rounds, if it has one."""
    survey = get_survey(session, slug)
    schedule = session.scalar(
        select(SurveySchedule)
        .where(SurveySchedule.survey_id == survey.id, SurveySchedule.active.is_(True))
        .order_by(SurveySchedule.id.desc())
        .limit(1)
    )
    return _schedule_view(schedule, survey.slug) if schedule is not None else None


def previous_round(session: Session, round_: SurveyRound) -> SurveyRound | None:
    """The round of the same survey that opened just before this one."""
    if round_.number is None:
        return None
    return session.scalar(
        select(SurveyRound)
        .where(
            SurveyRound.survey_id == round_.survey_id,
            SurveyRound.number.is_not(None),
            SurveyRound.number < round_.number,
        )
        .order_by(SurveyRound.number.desc())
        .limit(1)
    )


# -- what the worker does, one unit each ---------------------------------------------------------


def plan_rounds(session: Session, ctx: ServiceContext, *, at: datetime | None = None) -> list[int]:
    """Plan the next round of every active schedule that has none waiting; returns new ids."""
    now = ctx.moment(at)
    created: list[int] = []
    waiting = exists().where(
        SurveyRound.schedule_id == SurveySchedule.id, SurveyRound.status == RoundStatus.SCHEDULED
    )
    schedules = session.scalars(
        select(SurveySchedule)
        .join(Survey, Survey.id == SurveySchedule.survey_id)
        .where(SurveySchedule.active.is_(True), Survey.archived_at.is_(None), ~waiting)
        .order_by(SurveySchedule.id)
    ).all()
    for schedule in schedules:
        last = session.scalar(
            select(func.max(SurveyRound.opens_at)).where(SurveyRound.schedule_id == schedule.id)
        )
        # The first round opens at the first opening after the schedule was made.
        after = last or schedule.created_at - timedelta(seconds=1)
        opening = next_window(schedule.cron, ctx.timezone, after, schedule.open_days, now)
        if opening is None:
            continue
        closes = opening + timedelta(days=schedule.open_days)
        round_, new = insert_or_get(
            session,
            SurveyRound(
                survey_id=schedule.survey_id,
                schedule_id=schedule.id,
                status=RoundStatus.SCHEDULED,
                opens_at=opening,
                closes_at=closes,
                remind_at=_remind_at(opening, closes, schedule.remind_hours_before),
                invitation_only=schedule.invitation_only,
                invite_subscribers=schedule.invite_subscribers,
                created_at=now,
            ),
            select(SurveyRound).where(
                SurveyRound.schedule_id == schedule.id, SurveyRound.opens_at == opening
            ),
        )
        if new:
            created.append(round_.id)
    return created


def rounds_due(session: Session, *, at: datetime) -> tuple[list[int], list[int]]:
    """(ids of planned rounds due to open, ids of rounds due to close) at `at`."""
    to_open = session.scalars(
        select(SurveyRound.id)
        .where(SurveyRound.status == RoundStatus.SCHEDULED, SurveyRound.opens_at <= at)
        .order_by(SurveyRound.opens_at, SurveyRound.id)
    ).all()
    to_close = session.scalars(
        select(SurveyRound.id)
        .where(SurveyRound.status == RoundStatus.OPEN, SurveyRound.closes_at <= at)
        .order_by(SurveyRound.id)
    ).all()
    return list(to_open), list(to_close)


def open_due_round(
    session: Session, ctx: ServiceContext, round_id: int, *, at: datetime | None = None
) -> bool:
    """Open a planned round whose time has come (closing the survey's previous one).

    Returns False when there was nothing to do (already opened, or its window is over: then
    it is closed without ever opening).
    """
    now = ctx.moment(at)
    round_ = get_round_by_id(session, round_id, for_update=True)
    if round_.status != RoundStatus.SCHEDULED or round_.opens_at > now:
        return False
    survey = _lock_survey(session, round_.survey.slug)
    if round_.closes_at <= now or latest_version(session, survey) is None:
        round_.status, round_.closed_at = RoundStatus.CLOSED, now
        session.flush()
        return False
    current = _open_round_of(session, survey.id)
    if current is not None:
        # Its period is over: the new round of the same survey takes over.
        current.status, current.closed_at = RoundStatus.CLOSED, now
        session.flush()
    _open(session, survey, round_, now)
    return True


def close_due_round(
    session: Session, ctx: ServiceContext, round_id: int, *, at: datetime | None = None
) -> bool:
    """Close an open round past its closing time; False when there was nothing to do."""
    now = ctx.moment(at)
    round_ = get_round_by_id(session, round_id, for_update=True)
    if round_.status != RoundStatus.OPEN or round_.closes_at > now:
        return False
    round_.status, round_.closed_at = RoundStatus.CLOSED, now
    session.flush()
    return True


def rounds_to_invite(session: Session, *, at: datetime) -> list[int]:
    """Open rounds whose subscribers are not all invited yet."""
    return list(
        session.scalars(
            select(SurveyRound.id)
            .where(
                SurveyRound.status == RoundStatus.OPEN,
                SurveyRound.invite_subscribers.is_(True),
                SurveyRound.invitations_done_at.is_(None),
                SurveyRound.closes_at > at,
            )
            .order_by(SurveyRound.id)
        ).all()
    )


def rounds_to_remind(session: Session, *, at: datetime) -> list[int]:
    """Open rounds past their reminder time whose invitations are out and not all reminded."""
    return list(
        session.scalars(
            select(SurveyRound.id)
            .where(
                SurveyRound.status == RoundStatus.OPEN,
                SurveyRound.remind_at <= at,
                SurveyRound.closes_at > at,
                SurveyRound.reminders_done_at.is_(None),
                (SurveyRound.invitations_done_at.is_not(None))
                | SurveyRound.invite_subscribers.is_(False),
            )
            .order_by(SurveyRound.id)
        ).all()
    )


def invite_subscribers(
    session: Session,
    ctx: ServiceContext,
    round_id: int,
    *,
    limit: int = 500,
    at: datetime | None = None,
) -> int:
    """Invite up to `limit` subscribed Telegram citizens not invited yet; returns how many.

    Each gets an invitation (token hashed) and an outbox message; when fewer than `limit`
    remain, the round is marked as fully invited. Resumable: a restart continues where the
    last committed batch ended.
    """
    now = ctx.moment(at)
    round_ = get_round_by_id(session, round_id, for_update=True)
    if (
        round_.status != RoundStatus.OPEN
        or not round_.invite_subscribers
        or round_.invitations_done_at is not None
        or round_.closes_at <= now
    ):
        return 0
    invited = exists().where(
        SurveyInvitation.round_id == round_.id, SurveyInvitation.citizen_id == Citizen.id
    )
    citizens = session.execute(
        select(Citizen.id, Citizen.language)
        .where(Citizen.subscribed.is_(True), Citizen.channel == Channel.TELEGRAM, ~invited)
        .order_by(Citizen.id)
        .limit(limit)
    ).all()
    for citizen_id, language in citizens:
        token = new_token()
        # No race to guard against: the round's row lock (PostgreSQL) or SQLite's write lock
        # serialises invitation batches, and the unique (round, citizen) key backs that up.
        invitation = SurveyInvitation(
            round_id=round_.id, citizen_id=citizen_id, token_hash=hash_token(token), created_at=now
        )
        session.add(invitation)
        session.flush()
        enqueue_message(
            session,
            citizen_id=citizen_id,
            kind=INVITATION_KIND,
            dedupe_key=f"survey-invite:{round_.id}:{citizen_id}",
            payload=_message_payload(ctx, round_, invitation, token, language),
            at=now,
        )
    if len(citizens) < limit:
        round_.invitations_done_at = now
    session.flush()
    return len(citizens)


def remind_non_responders(
    session: Session,
    ctx: ServiceContext,
    round_id: int,
    *,
    limit: int = 500,
    at: datetime | None = None,
) -> int:
    """Remind up to `limit` invited citizens who have not submitted, once each; returns how many.

    The reminder carries a link of its own (a second token of the same invitation).
    """
    now = ctx.moment(at)
    round_ = get_round_by_id(session, round_id, for_update=True)
    if (
        round_.status != RoundStatus.OPEN
        or round_.remind_at is None
        or round_.remind_at > now
        or round_.closes_at <= now
        or round_.reminders_done_at is not None
    ):
        return 0
    answered = exists().where(
        SurveyResponse.round_id == round_.id,
        SurveyResponse.citizen_id == SurveyInvitation.citizen_id,
        SurveyResponse.submitted_at.is_not(None),
    )
    rows = session.execute(
        select(SurveyInvitation, Citizen.language)
        .join(Citizen, Citizen.id == SurveyInvitation.citizen_id)
        .where(
            SurveyInvitation.round_id == round_.id,
            SurveyInvitation.reminded_at.is_(None),
            SurveyInvitation.used_at.is_(None),
            Citizen.subscribed.is_(True),
            ~answered,
        )
        .order_by(SurveyInvitation.id)
        .limit(limit)
        .with_for_update(of=SurveyInvitation)
    ).all()
    for invitation, language in rows:
        token = new_token()
        invitation.reminder_token_hash = hash_token(token)
        invitation.reminded_at = now
        enqueue_message(
            session,
            citizen_id=invitation.citizen_id,
            kind=REMINDER_KIND,
            dedupe_key=f"survey-remind:{round_.id}:{invitation.citizen_id}",
            payload=_message_payload(ctx, round_, invitation, token, language),
            at=now,
        )
    if len(rows) < limit:
        round_.reminders_done_at = now
    session.flush()
    return len(rows)


def create_invitations(
    session: Session, ctx: ServiceContext, round_id: object, count: int
) -> list[str]:
    """`count` anonymous single-use invitation links (to print or send another way).

    The tokens are returned once and stored only as hashes.
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100_000:
        raise ValidationFailed("邀请数量须为 1-100000", "count must be from 1 to 100000")
    round_ = get_round_by_id(session, round_id)
    if round_.status == RoundStatus.CLOSED:
        raise IllegalTransition("这一轮调查已结束", "this round is closed")
    now = ctx.now()
    links = []
    for _ in range(count):
        token = new_token()
        session.add(
            SurveyInvitation(round_id=round_.id, token_hash=hash_token(token), created_at=now)
        )
        links.append(survey_link(ctx, round_.survey.slug, token))
    session.flush()
    return links


def round_progress(session: Session, round_id: object) -> dict[str, Any]:
    """Invitations, reminders, messages delivered and responses of a round, for staff."""
    round_ = get_round_by_id(session, round_id)
    invitations = session.execute(
        select(
            func.count(SurveyInvitation.id),
            func.count(SurveyInvitation.citizen_id),
            func.count(SurveyInvitation.reminded_at),
            func.count(SurveyInvitation.used_at),
        ).where(SurveyInvitation.round_id == round_.id)
    ).one()
    prefix = f"survey-invite:{round_.id}:"
    sent, failed, queued = session.execute(
        select(
            func.count(OutboxMessage.sent_at),
            func.count(OutboxMessage.failed_at),
            func.count(OutboxMessage.id),
        ).where(OutboxMessage.dedupe_key.like(prefix + "%"))
    ).one()
    responses = session.execute(
        select(func.count(SurveyResponse.id), func.count(SurveyResponse.submitted_at)).where(
            SurveyResponse.round_id == round_.id
        )
    ).one()
    return {
        "round": round_.number,
        "status": str(round_.status),
        "invitations": invitations[0],
        "subscribers_invited": invitations[1],
        "invitations_complete": round_.invitations_done_at is not None,
        "reminded": invitations[2],
        "invitations_used": invitations[3],
        "messages_queued": queued,
        "messages_sent": sent,
        "messages_failed": failed,
        "responses_started": responses[0],
        "responses_submitted": responses[1],
    }


# -- helpers ---------------------------------------------------------------------------------


def _lock_survey(session: Session, slug: object) -> Survey:
    survey = get_survey(session, slug)
    # Serialises openings of one survey on PostgreSQL (SQLite serialises every writer).
    session.execute(select(Survey.id).where(Survey.id == survey.id).with_for_update())
    if survey.archived_at is not None:
        raise IllegalTransition(f"问卷 {survey.slug} 已归档", f"survey {survey.slug} is archived")
    return survey


def _check_publishable(session: Session, survey: Survey) -> None:
    if latest_version(session, survey) is None:
        raise IllegalTransition(
            f"问卷 {survey.slug} 还没有发布的版本",
            f"survey {survey.slug} has no published version",
        )


def _check_flags(invitation_only: object, invite: object, remind_hours: object):
    for value, zh, en in (
        (invitation_only, "仅限受邀", "invitation_only"),
        (invite, "邀请订阅者", "invite_subscribers"),
    ):
        if not isinstance(value, bool):
            raise ValidationFailed(f"{zh}须为是或否", f"{en} must be true or false")
    if (
        isinstance(remind_hours, bool)
        or not isinstance(remind_hours, int)
        or not (0 <= remind_hours <= 24 * 30)
    ):
        raise ValidationFailed(
            "提前提醒小时数须为 0-720", "remind_hours_before must be from 0 to 720"
        )
    return invitation_only, invite, remind_hours


def _remind_at(opens: datetime, closes: datetime, hours: int) -> datetime | None:
    if hours <= 0:
        return None
    return max(opens, closes - timedelta(hours=hours))


def _open_round_of(session: Session, survey_id: int) -> SurveyRound | None:
    return session.scalar(
        select(SurveyRound)
        .where(SurveyRound.survey_id == survey_id, SurveyRound.status == RoundStatus.OPEN)
        .order_by(SurveyRound.opens_at.desc())
        .limit(1)
    )


def _open(session: Session, survey: Survey, round_: SurveyRound, now: datetime) -> None:
    last = session.scalar(
        select(func.max(SurveyRound.number)).where(SurveyRound.survey_id == survey.id)
    )
    round_.number = (last or 0) + 1
    round_.version_id = latest_version(session, survey).id
    round_.status = RoundStatus.OPEN
    round_.opened_at = now
    session.flush()


def _message_payload(
    ctx: ServiceContext,
    round_: SurveyRound,
    invitation: SurveyInvitation,
    token: str,
    language: str,
) -> dict[str, Any]:
    # Everything the bot needs to render the message without reading the survey tables.
    definition = version_definition(round_.version)
    return {
        "slug": round_.survey.slug,
        "round_id": round_.id,
        "round": round_.number,
        "invitation_id": invitation.id,
        "title": definition.title.to_dict(),
        "closes_at": round_.closes_at.isoformat(),
        "url": survey_link(ctx, round_.survey.slug, token),
        "language": language,
    }


def _schedule_view(schedule: SurveySchedule, slug: str) -> ScheduleView:
    return ScheduleView(
        schedule.id,
        slug,
        schedule.kind,
        schedule.cron,
        schedule.open_days,
        schedule.invitation_only,
        schedule.invite_subscribers,
        schedule.remind_hours_before,
        schedule.active,
    )


def _local(ctx: ServiceContext, moment: datetime) -> str:
    return moment.astimezone(ctx.timezone).strftime("%Y-%m-%d %H:%M")
