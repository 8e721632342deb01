"""Ratings (好差评) and the follow-up every 差评 opens."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, joinedload, sessionmaker

from minyi.db import insert_unless_taken
from minyi.errors import ValidationFailed
from minyi.indicators import mark_moment_stale
from minyi.models import BadReviewFollowUp, Channel, Citizen, FollowUpStatus, Rating, Service
from minyi.services.catalog import ServiceRef, outlet_id, service_ref
from minyi.services.context import ServiceContext

# The loop a 差评 opens and the exclusion appeals live in minyi.services.followups; the names
# stay importable from here for the callers (demo, importer, tests) that used them first.
from minyi.services.followups import (  # noqa: F401
    complete_follow_up,
    decide_exclusion,
    request_exclusion,
)
from minyi.services.validation import check_channel, check_score, check_source_ref, clean_text
from minyi.services.views import RatingView

log = logging.getLogger(__name__)


# The aspect that failed, as the citizen picks it (好差评 sub-items in plain words).
ASPECTS = ("办事效率", "服务态度", "指引准确", "其他")


def follow_up_deadline(ctx: ServiceContext, created: datetime) -> date:
    """The working day by which a 差评 given at `created` must be rectified and reported back."""
    return ctx.calendar.add_working_days(
        ctx.local_date(created), ctx.settings.ratings.follow_up_working_days
    )


def is_bad_review(ctx: ServiceContext, score: int) -> bool:
    return score <= ctx.settings.ratings.bad_review_max_score


def check_comment(ctx: ServiceContext, comment: object) -> str | None:
    """An optional rating comment, trimmed and within the configured length."""
    return clean_text(
        comment,
        field_zh="评价内容",
        field_en="comment",
        max_chars=ctx.settings.ratings.max_comment_chars,
        required=False,
    )


def check_aspect(aspect: object) -> str | None:
    """An optional aspect: one of ASPECTS or a short free label (an imported sub-item)."""
    return clean_text(aspect, field_zh="评价项", field_en="aspect", max_chars=40, required=False)


@dataclass(frozen=True)
class RatingDraft:
    """A rating checked and ready to store: every rule applied, nothing written yet."""

    service: ServiceRef
    outlet_id: int | None
    citizen_id: int | None
    score: int
    aspect: str | None
    comment: str | None
    channel: Channel
    source_ref: str | None
    created_at: datetime
    sentiment_score: float | None
    # The 差评 rule: set for a score <= the bound, the follow-up's working-day deadline.
    follow_up_deadline: date | None


def check_rating(
    session: Session,
    ctx: ServiceContext,
    *,
    service,
    score: object,
    comment: object = None,
    citizen: Citizen | None = None,
    channel: Channel | str = Channel.WEB,
    outlet=None,
    aspect: object = None,
    source_ref: object = None,
    at: datetime | None = None,
) -> RatingDraft:
    """A rating checked and resolved, ready for `store_rating`; ValidationFailed or NotFound.

    In this order: the values are validated, the comment's sentiment is computed, and only
    then is the database read (service, outlet). On a write session that first read opens
    the transaction, so the NLP never runs while the SQLite write lock is held.
    """
    score = check_score(score)
    comment = check_comment(ctx, comment)
    aspect = check_aspect(aspect)
    channel = check_channel(channel)
    source_ref = check_source_ref(source_ref)
    if citizen is not None and not isinstance(citizen, Citizen):
        raise ValidationFailed("市民身份无效", "citizen must be a registered citizen")
    created = ctx.moment(at)
    sentiment = _comment_sentiment(ctx, comment)
    return RatingDraft(
        service=service_ref(session, service),
        outlet_id=outlet_id(session, outlet) if outlet is not None else None,
        citizen_id=citizen.id if citizen is not None else None,
        score=score,
        aspect=aspect,
        comment=comment,
        channel=channel,
        source_ref=source_ref,
        created_at=created,
        sentiment_score=sentiment,
        follow_up_deadline=follow_up_deadline(ctx, created) if is_bad_review(ctx, score) else None,
    )


def store_rating(session: Session, draft: RatingDraft) -> int | None:
    """Insert a checked rating, its follow-up (a 差评) and its indicator marker; the new id.

    None when the same (channel, source_ref) is already stored, also when both arrive at
    once: a double submit is not counted twice. Plain INSERTs, no ORM unit of work: this is
    the write every rating from the web and the bot takes.
    """
    department_id = draft.service.department.id
    rating_id = insert_unless_taken(
        session,
        Rating.__table__,
        {
            "service_id": draft.service.id,
            "department_id": department_id,
            "outlet_id": draft.outlet_id,
            "citizen_id": draft.citizen_id,
            "score": draft.score,
            "aspect": draft.aspect,
            "comment": draft.comment,
            "channel": draft.channel,
            "source_ref": draft.source_ref,
            "sentiment_score": draft.sentiment_score,
            "excluded": False,
            "created_at": draft.created_at,
        },
        ("channel", "source_ref"),
    )
    if rating_id is None:
        return None
    connection = session.connection()
    if draft.follow_up_deadline is not None:
        connection.execute(
            _INSERT_FOLLOW_UP,
            {
                "rating_id": rating_id,
                "department_id": department_id,
                "status": FollowUpStatus.OPEN,
                "deadline": draft.follow_up_deadline,
                "created_at": draft.created_at,
            },
        )
    # What the ORM's after_flush hook (minyi.models) would mark for these rows.
    mark_moment_stale(connection, department_id, draft.created_at)
    return rating_id


_INSERT_FOLLOW_UP = insert(BadReviewFollowUp.__table__)


def _stored_twin(session: Session, draft: RatingDraft) -> Rating:
    """The rating already stored under the draft's (channel, source_ref)."""
    return session.scalars(
        select(Rating)
        .options(joinedload(Rating.service).joinedload(Service.department))
        .where(Rating.channel == draft.channel, Rating.source_ref == draft.source_ref)
    ).one()


def record_rating(session: Session, ctx: ServiceContext, **fields) -> Rating:
    """Store a 1-5 rating; a score <= the 差评 bound opens a follow-up with a deadline.

    Takes the keyword arguments of `check_rating`. The same (channel, source_ref) twice
    returns the first rating, also when both arrive at once: a double submit is not counted
    twice.
    """
    draft = check_rating(session, ctx, **fields)
    rating_id = store_rating(session, draft)
    if rating_id is None:
        return _stored_twin(session, draft)
    return session.get(Rating, rating_id)


def submit_rating(session_factory: sessionmaker, ctx: ServiceContext, **fields) -> RatingView:
    """Record a rating in its own, short transaction; a view readable after it has closed.

    Takes the keyword arguments of `check_rating`. The values are checked before the write
    transaction opens and the comment's sentiment is computed outside it, so the SQLite
    write lock is held only for the lookups and the INSERTs.
    """
    with session_factory.begin() as session:
        draft = check_rating(session, ctx, **fields)
        rating_id = store_rating(session, draft)
        if rating_id is None:
            return RatingView.of(_stored_twin(session, draft))
    return RatingView(
        id=rating_id,
        service_code=draft.service.code,
        service_name=draft.service.name,
        department=draft.service.department,
        score=draft.score,
        aspect=draft.aspect,
        comment=draft.comment,
        channel=str(draft.channel),
        created_at=draft.created_at,
        excluded=False,
        follow_up_deadline=draft.follow_up_deadline,
        follow_up_status=FollowUpStatus.OPEN if draft.follow_up_deadline else None,
    )


def _comment_sentiment(ctx: ServiceContext, comment: str | None) -> float | None:
    if not comment or ctx.analyzer is None:
        return None
    try:
        return float(ctx.analyzer(comment).sentiment_score)
    except Exception:  # a model failure must never lose the rating
        log.exception("sentiment failed for a rating comment")
        return None
