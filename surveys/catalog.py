"""Surveys and their versions: import a definition, export it, draft, publish.

Importing a slug that exists makes a new version; a published version is never edited in
place, so the answers given to it keep their meaning. Rounds answer the latest published
version at the time they open.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from minyi.db import insert_or_get
from minyi.errors import IllegalTransition, NotFound, ValidationFailed
from minyi.models import (
    Department,
    RoundStatus,
    Survey,
    SurveyQuestion,
    SurveyRound,
    SurveySchedule,
    SurveyVersion,
)
from minyi.services.context import ServiceContext
from surveys.definition import DefinitionInvalid, SurveyDefinition, parse_definition


@dataclass(frozen=True)
class ImportResult:
    slug: str
    version: int
    created_survey: bool
    # False when the file equals the latest version: importing it again changes nothing.
    created_version: bool
    published: bool


@dataclass(frozen=True)
class SurveySummary:
    slug: str
    title: str
    versions: int
    published_version: int | None
    archived: bool


def import_survey(
    session: Session,
    ctx: ServiceContext,
    definition: SurveyDefinition | dict[str, Any],
    *,
    publish: bool = True,
    at: datetime | None = None,
) -> ImportResult:
    """Store `definition` as a new version of its slug (a new survey the first time).

    Its department codes must exist. A definition equal to the latest version stores nothing.
    """
    if not isinstance(definition, SurveyDefinition):
        definition = parse_definition(definition)
    moment = ctx.moment(at)
    departments = _department_ids(session, definition)
    query = select(Survey).where(Survey.slug == definition.slug)
    survey = session.scalar(query)
    created_survey = survey is None
    if survey is None:
        survey, created_survey = insert_or_get(
            session, Survey(slug=definition.slug, created_at=moment), query
        )
    # Two imports of one slug at once queue here (PostgreSQL) and number their versions in turn.
    session.execute(select(Survey.id).where(Survey.id == survey.id).with_for_update())
    latest = session.scalar(
        select(SurveyVersion)
        .where(SurveyVersion.survey_id == survey.id)
        .order_by(SurveyVersion.number.desc())
        .limit(1)
    )
    canonical = definition.to_dict()
    if latest is not None and latest.definition == canonical:
        if publish and latest.published_at is None:
            latest.published_at = moment
            session.flush()
        return ImportResult(
            survey.slug, latest.number, False, False, latest.published_at is not None
        )
    version = SurveyVersion(
        survey_id=survey.id,
        number=(latest.number if latest else 0) + 1,
        definition=canonical,
        title=definition.title.zh[:200],
        published_at=moment if publish else None,
        created_at=moment,
    )
    session.add(version)
    session.flush()
    _add_questions(session, version, definition, departments)
    return ImportResult(survey.slug, version.number, created_survey, True, publish)


def update_draft(
    session: Session, ctx: ServiceContext, definition: SurveyDefinition | dict[str, Any]
) -> ImportResult:
    """Replace the latest version's definition when it is an unpublished draft; else refuse."""
    if not isinstance(definition, SurveyDefinition):
        definition = parse_definition(definition)
    survey = get_survey(session, definition.slug)
    version = latest_version(session, survey, published_only=False)
    if version is None or version.published_at is not None:
        raise IllegalTransition(
            f"问卷 {survey.slug} 没有草稿：已发布的版本不能修改，请导入为新版本",
            f"survey {survey.slug} has no draft: a published version is never edited,"
            " import it as a new version",
        )
    departments = _department_ids(session, definition)
    for question in list(version.questions):
        session.delete(question)
    session.flush()
    version.definition = definition.to_dict()
    version.title = definition.title.zh[:200]
    _add_questions(session, version, definition, departments)
    return ImportResult(survey.slug, version.number, False, False, False)


def publish_draft(
    session: Session, ctx: ServiceContext, slug: object, *, at: datetime | None = None
) -> ImportResult:
    """Publish the survey's draft version; from then on it is never edited."""
    survey = get_survey(session, slug)
    version = latest_version(session, survey, published_only=False)
    if version is None or version.published_at is not None:
        raise IllegalTransition(
            f"问卷 {survey.slug} 没有待发布的草稿", f"survey {survey.slug} has no draft to publish"
        )
    version.published_at = ctx.moment(at)
    session.flush()
    return ImportResult(survey.slug, version.number, False, False, True)


def copy_survey(
    session: Session, ctx: ServiceContext, slug: object, new_slug: object
) -> ImportResult:
    """Start a new survey from another's latest version (the designer's "copy"), as a draft."""
    source = get_survey(session, slug)
    data = dict(get_version(session, source).definition, slug=new_slug)
    check_new_slug(session, new_slug)
    return import_survey(session, ctx, data, publish=False)


def check_new_slug(session: Session, slug: object) -> None:
    """Refuse a slug that an existing survey has (a new survey must not become its version)."""
    if session.scalar(select(Survey.id).where(Survey.slug == slug)) is not None:
        raise IllegalTransition(f"问卷 {slug} 已存在", f"survey {slug} already exists")


def archive_survey(
    session: Session, ctx: ServiceContext, slug: object, *, at: datetime | None = None
) -> Survey:
    """Archive a survey: no more rounds; its schedule stops. Refused while a round is open."""
    survey = get_survey(session, slug)
    session.execute(select(Survey.id).where(Survey.id == survey.id).with_for_update())
    if survey.archived_at is not None:
        raise IllegalTransition(f"问卷 {survey.slug} 已归档", f"survey {survey.slug} is archived")
    open_round = session.scalar(
        select(SurveyRound.number).where(
            SurveyRound.survey_id == survey.id, SurveyRound.status == RoundStatus.OPEN
        )
    )
    if open_round is not None:
        raise IllegalTransition(
            f"问卷 {survey.slug} 第 {open_round} 轮仍在进行，请先结束",
            f"round {open_round} of {survey.slug} is open: close it first",
        )
    moment = ctx.moment(at)
    for schedule in session.scalars(
        select(SurveySchedule).where(SurveySchedule.survey_id == survey.id)
    ):
        schedule.active = False
    for planned in session.scalars(
        select(SurveyRound).where(
            SurveyRound.survey_id == survey.id, SurveyRound.status == RoundStatus.SCHEDULED
        )
    ):
        planned.status, planned.closed_at = RoundStatus.CLOSED, moment
    survey.archived_at = moment
    session.flush()
    return survey


def get_survey(session: Session, slug: object) -> Survey:
    """The survey with this slug; NotFound otherwise."""
    if not isinstance(slug, str) or not 0 < len(slug) <= 60:
        raise ValidationFailed("问卷标识无效", f"invalid survey slug {slug!r}")
    survey = session.scalar(select(Survey).where(Survey.slug == slug.strip()))
    if survey is None:
        raise NotFound(f"找不到问卷 {slug}", f"unknown survey {slug}")
    return survey


def latest_version(
    session: Session, survey: Survey, *, published_only: bool = True
) -> SurveyVersion | None:
    """The survey's newest (published) version."""
    query = select(SurveyVersion).where(SurveyVersion.survey_id == survey.id)
    if published_only:
        query = query.where(SurveyVersion.published_at.is_not(None))
    return session.scalar(query.order_by(SurveyVersion.number.desc()).limit(1))


def get_version(session: Session, survey: Survey, number: int | None = None) -> SurveyVersion:
    """Version `number` of the survey (the latest one, published or not, when None)."""
    if number is None:
        version = latest_version(session, survey, published_only=False)
    else:
        version = session.scalar(
            select(SurveyVersion).where(
                SurveyVersion.survey_id == survey.id, SurveyVersion.number == number
            )
        )
    if version is None:
        raise NotFound(
            f"问卷 {survey.slug} 没有版本 {number}",
            f"survey {survey.slug} has no version {number}",
        )
    return version


def version_definition(version: SurveyVersion) -> SurveyDefinition:
    """The parsed definition of a version (parsed once per process for each distinct text)."""
    # Keyed by content, not by id: ids repeat across databases (tests, a restored backup).
    return _parse_cached(json.dumps(version.definition, ensure_ascii=False, sort_keys=True))


@lru_cache(maxsize=128)
def _parse_cached(source: str) -> SurveyDefinition:
    return parse_definition(json.loads(source))


def definition_of_text(stored: str) -> SurveyDefinition:
    """The parsed definition of a version's stored JSON text (as the database returns it),
    parsed once per process for each distinct text: keyed by content, like version_definition,
    but without decoding and re-encoding the JSON on every call."""
    return _parse_stored(stored)


@lru_cache(maxsize=128)
def _parse_stored(stored: str) -> SurveyDefinition:
    return _definition_of_data(json.loads(stored))


def _definition_of_data(data: dict) -> SurveyDefinition:
    return _parse_cached(json.dumps(data, ensure_ascii=False, sort_keys=True))


def export_definition(session: Session, slug: object, version: int | None = None) -> dict:
    """The definition file of a survey's version (latest when None), as import reads it."""
    survey = get_survey(session, slug)
    return get_version(session, survey, version).definition


def list_surveys(session: Session) -> list[SurveySummary]:
    """Every survey with its latest title and version numbers, by slug."""
    latest_number = (
        select(SurveyVersion.survey_id, func.max(SurveyVersion.number).label("versions"))
        .group_by(SurveyVersion.survey_id)
        .subquery()
    )
    published = (
        select(SurveyVersion.survey_id, func.max(SurveyVersion.number).label("published"))
        .where(SurveyVersion.published_at.is_not(None))
        .group_by(SurveyVersion.survey_id)
        .subquery()
    )
    rows = session.execute(
        select(Survey, latest_number.c.versions, published.c.published, SurveyVersion.title)
        .join(latest_number, latest_number.c.survey_id == Survey.id)
        .outerjoin(published, published.c.survey_id == Survey.id)
        .join(
            SurveyVersion,
            (SurveyVersion.survey_id == Survey.id)
            & (SurveyVersion.number == latest_number.c.versions),
        )
        .order_by(Survey.slug)
    ).all()
    return [
        SurveySummary(
            survey.slug, title, versions, published_number, survey.archived_at is not None
        )
        for survey, versions, published_number, title in rows
    ]


def _department_ids(session: Session, definition: SurveyDefinition) -> dict[str, int]:
    codes = {q.department for q in definition.questions if q.department}
    if not codes:
        return {}
    found = dict(
        session.execute(
            select(Department.code, Department.id).where(Department.code.in_(codes))
        ).all()
    )
    for index, question in enumerate(definition.questions):
        if question.department and question.department not in found:
            raise DefinitionInvalid(
                f"$.questions[{index}].department",
                f"没有编码为 {question.department} 的部门",
                f"no department has the code {question.department!r}",
            )
    return found


def _add_questions(
    session: Session,
    version: SurveyVersion,
    definition: SurveyDefinition,
    departments: dict[str, int],
) -> None:
    for position, question in enumerate(definition.questions):
        session.add(
            SurveyQuestion(
                version_id=version.id,
                key=question.key,
                position=position,
                kind=question.kind,
                required=question.required,
                department_id=departments.get(question.department or ""),
            )
        )
    session.flush()
