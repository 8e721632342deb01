"""Ratings (好差评) and the follow-up every 差评 opens."""

from __future__ import annotations

import logging
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from minyi.db import insert_or_get
from minyi.errors import ValidationFailed
from minyi.models import BadReviewFollowUp, Channel, Citizen, Rating
from minyi.services.catalog import get_outlet, get_service
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


def record_rating(
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
) -> Rating:
    """Store a 1-5 rating; a score <= the 差评 bound opens a follow-up with a deadline.

    The same (channel, source_ref) twice returns the first rating, also when both arrive at
    once: a double submit is not counted twice.
    """
    score = check_score(score)
    comment = check_comment(ctx, comment)
    aspect = check_aspect(aspect)
    channel = check_channel(channel)
    source_ref = check_source_ref(source_ref)
    if citizen is not None and not isinstance(citizen, Citizen):
        raise ValidationFailed("市民身份无效", "citizen must be a registered citizen")
    service = get_service(session, service)
    outlet = get_outlet(session, outlet) if outlet is not None else None
    created = ctx.moment(at)
    same_submission = select(Rating).where(
        Rating.channel == channel, Rating.source_ref == source_ref
    )
    if source_ref is not None:
        existing = session.scalar(same_submission)
        if existing is not None:
            return existing
    rating = Rating(
        service=service,  # the object, not only its id: RatingView.of needs no query for it
        department_id=service.department_id,
        outlet_id=outlet.id if outlet else None,
        citizen_id=citizen.id if citizen else None,
        score=score,
        aspect=aspect,
        comment=comment,
        channel=channel,
        source_ref=source_ref,
        created_at=created,
    )
    rating.sentiment_score = _comment_sentiment(ctx, comment)
    # Set either way, so that reading it back (RatingView.of) never asks the database.
    rating.follow_up = None
    if is_bad_review(ctx, score):
        rating.follow_up = BadReviewFollowUp(
            department_id=service.department_id,
            deadline=follow_up_deadline(ctx, created),
            created_at=created,
        )
    rating, _ = insert_or_get(session, rating, same_submission if source_ref is not None else None)
    return rating


def submit_rating(session_factory: sessionmaker, ctx: ServiceContext, **fields) -> RatingView:
    """Record a rating in its own transaction; a view readable after it has closed.

    Takes the keyword arguments of `record_rating`.
    """
    with session_factory.begin() as session:
        return RatingView.of(record_rating(session, ctx, **fields))


def _comment_sentiment(ctx: ServiceContext, comment: str | None) -> float | None:
    if not comment or ctx.analyzer is None:
        return None
    try:
        return float(ctx.analyzer(comment).sentiment_score)
    except Exception:  # a model failure must never lose the rating
        log.exception("sentiment failed for a rating comment")
        return None
