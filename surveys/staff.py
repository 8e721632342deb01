"""What the staff area does with surveys: design them, run their rounds, read their results.

Each function takes the acting staff account, checks it against the permission table
(`survey.manage` for analysts and admins; `survey.results` and `survey.export` for reading),
records changes in the audit log, and calls the engine, which holds every survey rule.

The designer edits a survey as its definition (the file format of docs/surveys.md), one
change at a time: the title, or one question added, replaced, removed or moved. The whole
definition is then checked by the engine's parse_definition, so a bad edit is refused with the
JSON path of the problem and nothing changes. A draft is replaced in place; a published version
is never edited: the edit becomes a new draft version beside it, and the published one keeps
answering rounds until the draft is published. Every edit names the revision of the definition
it was made from, so a stale page, a second analyst's page or a double submit changes nothing.

Officers read the results of the questions tied to their own department, and only of surveys
that have such questions (another survey is a 404 to them, as another department's ticket is).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from minyi.errors import IllegalTransition, NotFound
from minyi.models import (
    RoundStatus,
    Survey,
    SurveyQuestion,
    SurveyRound,
    SurveySchedule,
    SurveyVersion,
)
from minyi.services.actors import Actor
from minyi.services.audit import record_audit
from minyi.services.context import ServiceContext
from minyi.services.permissions import allowed, require
from surveys import catalog, rounds
from surveys.catalog import ImportResult
from surveys.definition import SurveyDefinition, parse_definition, parse_definition_json
from surveys.results import compare_rounds, round_results, survey_trend
from surveys.rounds import RoundView, ScheduleView

# A new survey starts with the question every satisfaction survey asks; the analyst may edit
# or replace it (a definition has at least one question).
STARTER_QUESTION = {
    "key": "overall",
    "type": "rating",
    "required": True,
    "text": {"zh": "您对本次服务的总体评价是？", "en": "Overall, how satisfied are you?"},
}


# -- what the pages show -----------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyRow:
    """One survey in the staff list: its state and its rounds."""

    slug: str
    title: str
    versions: int
    published_version: int | None
    draft_version: int | None  # the latest version when it is not published yet
    archived: bool
    rounds: int  # rounds that have opened
    open_round: int | None  # the number of the round open now
    open_until: datetime | None
    schedule: str | None  # monthly, quarterly or cron when recurring rounds are set


@dataclass(frozen=True)
class VersionRow:
    number: int
    title: str
    published_at: datetime | None
    created_at: datetime
    rounds: int


@dataclass(frozen=True)
class Workbench:
    """One survey as the designer shows it: its latest version, to edit or to start from."""

    slug: str
    archived: bool
    version: int
    published: bool  # the latest version is published: an edit makes a new draft
    published_version: int | None
    definition: SurveyDefinition
    data: dict[str, Any]  # the canonical definition, a copy the caller may change
    revision: str
    versions: list[VersionRow]
    open_round: RoundView | None


def revision_of(version: SurveyVersion) -> str:
    """A short fingerprint of a version's number and definition: what an edit was made from."""
    text = json.dumps(version.definition, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(f"{version.number}:{text}".encode()).hexdigest()[:16]


def survey_list(session: Session, *, actor: Actor) -> list[SurveyRow]:
    """The surveys this account may open: all of them for analysts and admins; for an officer,
    those asking questions tied to their department."""
    summaries = catalog.list_surveys(session)
    if not allowed(actor, "survey.manage"):
        require(actor, "survey.results", department_id=actor.department_id)
        mine = set(
            session.scalars(
                select(Survey.slug)
                .join(SurveyVersion, SurveyVersion.survey_id == Survey.id)
                .join(SurveyQuestion, SurveyQuestion.version_id == SurveyVersion.id)
                .where(SurveyQuestion.department_id == actor.department_id)
                .distinct()
            )
        )
        summaries = [s for s in summaries if s.slug in mine]
    if not summaries:
        return []
    ids = dict(session.execute(select(Survey.slug, Survey.id)).all())
    opened = dict(
        session.execute(
            select(SurveyRound.survey_id, func.count(SurveyRound.number))
            .where(SurveyRound.number.is_not(None))
            .group_by(SurveyRound.survey_id)
        ).all()
    )
    open_now = {
        survey_id: (number, closes)
        for survey_id, number, closes in session.execute(
            select(SurveyRound.survey_id, SurveyRound.number, SurveyRound.closes_at).where(
                SurveyRound.status == RoundStatus.OPEN
            )
        )
    }
    schedules = dict(
        session.execute(
            select(SurveySchedule.survey_id, SurveySchedule.kind).where(
                SurveySchedule.active.is_(True)
            )
        ).all()
    )
    out = []
    for summary in summaries:
        survey_id = ids[summary.slug]
        number, closes = open_now.get(survey_id, (None, None))
        draft = summary.versions if summary.published_version != summary.versions else None
        out.append(
            SurveyRow(
                slug=summary.slug,
                title=summary.title,
                versions=summary.versions,
                published_version=summary.published_version,
                draft_version=draft,
                archived=summary.archived,
                rounds=opened.get(survey_id, 0),
                open_round=number,
                open_until=closes,
                schedule=schedules.get(survey_id),
            )
        )
    return out


def workbench(
    session: Session, slug: object, *, actor: Actor, version: int | None = None
) -> Workbench:
    """The designer's view of a survey (its latest version unless `version` is given)."""
    require(actor, "survey.manage")
    survey = catalog.get_survey(session, slug)
    shown = catalog.get_version(session, survey, version)
    published = catalog.latest_version(session, survey)
    rounds_per_version = dict(
        session.execute(
            select(SurveyRound.version_id, func.count(SurveyRound.id))
            .where(SurveyRound.survey_id == survey.id, SurveyRound.version_id.is_not(None))
            .group_by(SurveyRound.version_id)
        ).all()
    )
    versions = [
        VersionRow(
            v.number, v.title, v.published_at, v.created_at, rounds_per_version.get(v.id, 0)
        )
        for v in sorted(survey.versions, key=lambda v: -v.number)
    ]
    open_round = session.scalar(
        select(SurveyRound).where(
            SurveyRound.survey_id == survey.id, SurveyRound.status == RoundStatus.OPEN
        )
    )
    return Workbench(
        slug=survey.slug,
        archived=survey.archived_at is not None,
        version=shown.number,
        published=shown.published_at is not None,
        published_version=published.number if published else None,
        definition=catalog.version_definition(shown),
        data=copy.deepcopy(shown.definition),
        revision=revision_of(shown),
        versions=versions,
        open_round=RoundView.of(open_round) if open_round is not None else None,
    )


# -- designing ---------------------------------------------------------------------------------


def create_survey(
    session: Session,
    ctx: ServiceContext,
    *,
    slug: object,
    title: dict[str, str],
    intro: dict[str, str] | None,
    actor: Actor,
) -> ImportResult:
    """A new survey as a draft, starting with STARTER_QUESTION; its slug must be new."""
    require(actor, "survey.manage")
    data: dict[str, Any] = {"slug": slug, "title": title}
    if intro is not None:
        data["intro"] = intro
    data["questions"] = [copy.deepcopy(STARTER_QUESTION)]
    definition = parse_definition(data)
    catalog.check_new_slug(session, definition.slug)
    result = catalog.import_survey(session, ctx, definition, publish=False)
    _audit(session, ctx, actor, "survey.create", result.slug, after={"version": result.version})
    return result


def save_definition(
    session: Session,
    ctx: ServiceContext,
    slug: object,
    data: dict[str, Any],
    *,
    revision: object,
    actor: Actor,
) -> ImportResult:
    """Store an edited definition of `slug`, made from the latest version at `revision`.

    A draft is replaced; an edit of a published version becomes a new draft version. Refused
    (nothing changes) when the survey changed since the page was made, or is archived.
    """
    require(actor, "survey.manage")
    survey, latest = _latest_for_change(session, slug, revision)
    data = dict(data, slug=survey.slug)  # the slug is the survey's name: never edited
    definition = parse_definition(data)
    if latest.published_at is None:
        result = catalog.update_draft(session, ctx, definition)
    else:
        result = catalog.import_survey(session, ctx, definition, publish=False)
    _audit(
        session,
        ctx,
        actor,
        "survey.edit",
        survey.slug,
        before={"version": latest.number, "published": latest.published_at is not None},
        after={"version": result.version},
    )
    return result


def publish_survey(
    session: Session, ctx: ServiceContext, slug: object, *, revision: object, actor: Actor
) -> ImportResult:
    """Publish the draft the page showed; from then on that version is never edited."""
    require(actor, "survey.manage")
    survey, _ = _latest_for_change(session, slug, revision)
    result = catalog.publish_draft(session, ctx, survey.slug)
    _audit(session, ctx, actor, "survey.publish", survey.slug, after={"version": result.version})
    return result


def archive_survey(session: Session, ctx: ServiceContext, slug: object, *, actor: Actor) -> None:
    """Archive a survey (no more rounds; refused while one is open)."""
    require(actor, "survey.manage")
    survey = catalog.archive_survey(session, ctx, slug)
    _audit(session, ctx, actor, "survey.archive", survey.slug)


def copy_survey(
    session: Session, ctx: ServiceContext, slug: object, new_slug: object, *, actor: Actor
) -> ImportResult:
    """Start a new survey (a draft) from another's latest version."""
    require(actor, "survey.manage")
    result = catalog.copy_survey(session, ctx, slug, new_slug)
    _audit(session, ctx, actor, "survey.copy", result.slug, after={"from": str(slug)})
    return result


def import_definition(
    session: Session, ctx: ServiceContext, source: str | bytes, *, actor: Actor
) -> ImportResult:
    """Import a definition file as a draft (a new survey, or a new version of its slug)."""
    require(actor, "survey.manage")
    definition = parse_definition_json(source)
    existing = session.scalar(select(Survey).where(Survey.slug == definition.slug))
    if existing is not None and existing.archived_at is not None:
        raise _archived(existing)
    result = catalog.import_survey(session, ctx, definition, publish=False)
    if result.created_version:
        after = {"version": result.version}
        _audit(session, ctx, actor, "survey.import", result.slug, after=after)
    return result


def export_definition(
    session: Session, slug: object, *, actor: Actor, version: int | None = None
) -> dict:
    """A version's definition file (the latest when None), as `minyi survey import` reads it."""
    require(actor, "survey.manage")
    return catalog.export_definition(session, slug, version)


def question_index(data: dict[str, Any], key: object) -> int:
    """The position of question `key` in a definition; NotFound when it has none."""
    for index, question in enumerate(data.get("questions", [])):
        if question.get("key") == key:
            return index
    raise NotFound(f"问卷中没有问题 {key}", f"the survey has no question {key!r}")


def with_question(
    data: dict[str, Any], question: dict[str, Any], *, index: int | None = None
) -> dict[str, Any]:
    """The definition with `question` replacing question `index` (appended when None)."""
    out = copy.deepcopy(data)
    if index is None:
        out["questions"].append(question)
    else:
        out["questions"][index] = question
    return out


def without_question(data: dict[str, Any], index: int) -> dict[str, Any]:
    out = copy.deepcopy(data)
    del out["questions"][index]
    return out


def moved_question(data: dict[str, Any], index: int, offset: int) -> dict[str, Any]:
    """The definition with question `index` moved `offset` places (kept within the list)."""
    out = copy.deepcopy(data)
    questions = out["questions"]
    target = max(0, min(len(questions) - 1, index + offset))
    questions.insert(target, questions.pop(index))
    return out


def _latest_for_change(
    session: Session, slug: object, revision: object
) -> tuple[Survey, SurveyVersion]:
    survey = catalog.get_survey(session, slug)
    # Two analysts saving one survey at once queue here (PostgreSQL); the second is stale.
    session.execute(select(Survey.id).where(Survey.id == survey.id).with_for_update())
    if survey.archived_at is not None:
        raise _archived(survey)
    latest = catalog.latest_version(session, survey, published_only=False)
    if latest is None or revision != revision_of(latest):
        raise IllegalTransition(
            "问卷在您打开页面后已被修改（或这是一次重复提交），未做任何修改。请查看最新内容后再操作。",
            "The survey changed after this page was opened (or the form was sent twice);"
            " nothing was changed. Check the latest version and try again.",
        )
    return survey, latest


def _archived(survey: Survey) -> IllegalTransition:
    return IllegalTransition(
        f"问卷 {survey.slug} 已归档，不能再修改；可复制它开始新问卷",
        f"survey {survey.slug} is archived and cannot change; copy it to start a new one",
    )


# -- rounds ------------------------------------------------------------------------------------


def survey_rounds(session: Session, slug: object, *, actor: Actor) -> list[RoundView]:
    require(actor, "survey.manage")
    return rounds.survey_rounds(session, slug)


def rounds_revision(session: Session, slug: object) -> str:
    """A fingerprint of a survey's rounds and schedule: what a rounds page was made from.

    Round changes name it, so a second click on "open" or "plan" (or a page left open while
    the worker opened a round) changes nothing.
    """
    survey = catalog.get_survey(session, slug)
    state = session.execute(
        select(SurveyRound.id, SurveyRound.status)
        .where(SurveyRound.survey_id == survey.id)
        .order_by(SurveyRound.id)
    ).all()
    schedule = session.scalar(
        select(func.max(SurveySchedule.id)).where(
            SurveySchedule.survey_id == survey.id, SurveySchedule.active.is_(True)
        )
    )
    text = json.dumps([[i, str(s)] for i, s in state] + [schedule])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_rounds_revision(session: Session, slug: object, revision: object) -> None:
    survey = catalog.get_survey(session, slug)
    session.execute(select(Survey.id).where(Survey.id == survey.id).with_for_update())
    if revision != rounds_revision(session, slug):
        raise IllegalTransition(
            "调查轮次在您打开页面后已有变化（或这是一次重复提交），未做任何修改。请查看最新情况后再操作。",
            "The rounds changed after this page was opened (or the form was sent twice);"
            " nothing was changed. Check them again and retry.",
        )


def survey_schedule(session: Session, slug: object, *, actor: Actor) -> ScheduleView | None:
    require(actor, "survey.manage")
    return rounds.active_schedule(session, slug)


def round_progress(
    session: Session, slug: object, round_id: int, *, actor: Actor
) -> dict[str, Any]:
    """Invitations sent, answered and reminded of one round of `slug`."""
    require(actor, "survey.manage")
    _round_of(session, slug, round_id)
    return rounds.round_progress(session, round_id)


def open_round(
    session: Session,
    ctx: ServiceContext,
    slug: object,
    *,
    revision: object,
    actor: Actor,
    **options: Any,
) -> RoundView:
    """A one-off round, now or planned (the engine's open_round takes the options)."""
    require(actor, "survey.manage")
    _check_rounds_revision(session, slug, revision)
    opened = rounds.open_round(session, ctx, slug, **options)
    _audit(
        session,
        ctx,
        actor,
        "survey.open_round",
        opened.slug,
        after={
            "round_id": opened.id,
            "number": opened.number,
            "opens_at": opened.opens_at.isoformat(),
            "closes_at": opened.closes_at.isoformat(),
        },
    )
    return opened


def close_round(
    session: Session,
    ctx: ServiceContext,
    slug: object,
    round_id: int,
    *,
    revision: object,
    actor: Actor,
) -> RoundView:
    require(actor, "survey.manage")
    _check_rounds_revision(session, slug, revision)
    _round_of(session, slug, round_id)
    closed = rounds.close_round(session, ctx, round_id)
    _audit(session, ctx, actor, "survey.close_round", closed.slug, after={"round_id": closed.id})
    return closed


def schedule_rounds(
    session: Session,
    ctx: ServiceContext,
    slug: object,
    *,
    revision: object,
    actor: Actor,
    **options: Any,
) -> ScheduleView:
    """Recurring rounds (the engine's schedule_survey takes the options)."""
    require(actor, "survey.manage")
    _check_rounds_revision(session, slug, revision)
    schedule = rounds.schedule_survey(session, ctx, slug, **options)
    _audit(
        session,
        ctx,
        actor,
        "survey.schedule",
        schedule.slug,
        after={"kind": schedule.kind, "cron": schedule.cron, "open_days": schedule.open_days},
    )
    return schedule


def stop_schedule(
    session: Session, ctx: ServiceContext, slug: object, *, revision: object, actor: Actor
) -> int:
    require(actor, "survey.manage")
    _check_rounds_revision(session, slug, revision)
    stopped = rounds.stop_schedule(session, ctx, slug)
    if stopped:
        _audit(session, ctx, actor, "survey.unschedule", str(slug))
    return stopped


def invitation_links(
    session: Session,
    ctx: ServiceContext,
    slug: object,
    round_id: int,
    count: object,
    *,
    actor: Actor,
) -> list[str]:
    """Single-use links for a round of `slug`, shown once (only their hashes are kept)."""
    require(actor, "survey.manage")
    _round_of(session, slug, round_id)
    links = rounds.create_invitations(session, ctx, round_id, count)
    _audit(
        session,
        ctx,
        actor,
        "survey.invitations",
        str(slug),
        after={"round_id": round_id, "count": len(links)},
    )
    return links


def _round_of(session: Session, slug: object, round_id: int) -> SurveyRound:
    """Round `round_id`, which must belong to `slug` (another survey's round is a 404)."""
    survey = catalog.get_survey(session, slug)
    found = rounds.get_round_by_id(session, round_id)
    if found.survey_id != survey.id:
        raise NotFound(f"找不到调查轮次 {round_id}", f"unknown round {round_id}")
    return found


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffResults:
    """One round's results as this account may read them, with the comparison."""

    slug: str
    round: RoundView
    rounds: list[RoundView]  # every round that has opened, the latest first
    results: dict[str, Any]  # surveys.results.round_results, limited to `keys`
    comparison: dict[str, Any]  # surveys.results.compare_rounds, limited to `keys`
    trend: dict[str, Any]  # surveys.results.survey_trend over every round, limited to `keys`
    keys: tuple[str, ...]  # the questions shown, in the order asked
    limited: bool  # an officer's view: only their department's questions
    may_export: bool


def survey_results(
    session: Session,
    ctx: ServiceContext,
    slug: object,
    *,
    actor: Actor,
    round_number: int | None = None,
    previous_number: int | None = None,
) -> StaffResults | None:
    """A round's results (the latest opened when None) and its comparison with the previous
    round (or round `previous_number`), limited to what this account may read; None for a
    manager when no round has opened yet."""
    require(actor, "survey.results", department_id=actor.department_id)
    manager = allowed(actor, "survey.manage")
    if not manager and not any(row.slug == slug for row in survey_list(session, actor=actor)):
        raise NotFound(f"找不到问卷 {slug}", f"unknown survey {slug}")
    opened = [r for r in rounds.survey_rounds(session, slug) if r.number is not None]
    if not opened and round_number is None and manager:
        return None  # nothing to show yet (an officer's page of such a survey is a 404)
    round_ = rounds.get_round(session, slug, round_number)
    previous = (
        rounds.get_round(session, slug, previous_number) if previous_number is not None else None
    )
    results = round_results(session, ctx, round_.id)
    comparison = compare_rounds(session, ctx, round_.id, previous.id if previous else None)
    view = RoundView.of(round_)
    keys = view.definition.keys if view.definition else ()
    if not manager:
        departments = _question_departments(session, round_.version_id)
        keys = tuple(
            key
            for key in keys
            if departments.get(key) is not None
            and allowed(actor, "survey.results", department_id=departments[key])
        )
        if not keys:
            raise NotFound(
                f"第 {round_.number} 轮没有本部门的问题",
                f"round {round_.number} asks nothing of your department",
            )
    results = dict(results, questions={k: results["questions"][k] for k in keys})
    results["insufficient"] = [k for k in results["insufficient"] if k in keys]
    comparison = dict(
        comparison,
        questions={k: v for k, v in comparison["questions"].items() if k in keys},
    )
    trend = survey_trend(session, ctx, slug, keys=keys)
    return StaffResults(
        slug=view.slug,
        round=view,
        rounds=opened,
        results=results,
        comparison=comparison,
        trend=trend,
        keys=keys,
        limited=not manager,
        may_export=allowed(actor, "survey.export"),
    )


def check_export(
    session: Session, slug: object, *, actor: Actor, round_number: int | None = None
) -> str:
    """The survey's slug when this account may export its responses (and the round exists),
    checked before a download starts streaming."""
    require(actor, "survey.export")
    survey = catalog.get_survey(session, slug)
    if round_number is not None:
        rounds.get_round(session, survey.slug, round_number)
    return survey.slug


def _question_departments(session: Session, version_id: int | None) -> dict[str, int | None]:
    return dict(
        session.execute(
            select(SurveyQuestion.key, SurveyQuestion.department_id).where(
                SurveyQuestion.version_id == version_id
            )
        ).all()
    )


def _audit(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    action: str,
    slug: str,
    *,
    before: dict | None = None,
    after: dict | None = None,
) -> None:
    record_audit(
        session,
        actor=actor,
        action=action,
        object_type="survey",
        object_id=slug,
        before=before,
        after=after,
        at=ctx.now(),
    )
    session.flush()
