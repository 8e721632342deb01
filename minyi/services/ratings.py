"""Ratings (好差评) and the follow-up every 差评 opens."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from minyi.errors import IllegalTransition, PermissionDenied, ValidationFailed
from minyi.models import (
    BadReviewFollowUp,
    Channel,
    Citizen,
    DecisionStatus,
    FollowUpStatus,
    Outlet,
    Rating,
    RatingAppeal,
    Role,
)
from minyi.services.actors import Actor
from minyi.services.catalog import get_service
from minyi.services.context import ServiceContext
from minyi.services.outbox import enqueue_message
from minyi.services.validation import check_score, clean_text

log = logging.getLogger(__name__)


def record_rating(
    session: Session,
    ctx: ServiceContext,
    *,
    service,
    score: object,
    comment: object = None,
    citizen: Citizen | None = None,
    channel: Channel | str = Channel.WEB,
    outlet: Outlet | None = None,
    aspect: str | None = None,
    source_ref: str | None = None,
    at: datetime | None = None,
) -> Rating:
    """Store a 1-5 rating; a score <= the 差评 bound opens a follow-up with a deadline.

    The same (channel, source_ref) twice returns the first rating: a double submit is not
    counted twice.
    """
    score = check_score(score)
    comment = clean_text(
        comment,
        field_zh="评价内容",
        field_en="comment",
        max_chars=ctx.settings.ratings.max_comment_chars,
        required=False,
    )
    service = get_service(session, service)
    channel = Channel(channel)
    if source_ref is not None:
        existing = session.scalar(
            select(Rating).where(Rating.channel == channel, Rating.source_ref == source_ref)
        )
        if existing is not None:
            return existing
    if aspect is not None and (not isinstance(aspect, str) or len(aspect) > 40):
        raise ValidationFailed("评价项无效", "invalid aspect")
    created = at or ctx.now()
    rating = Rating(
        service_id=service.id,
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
    session.add(rating)
    if score <= ctx.settings.ratings.bad_review_max_score:
        deadline = ctx.calendar.add_working_days(
            ctx.local_date(created), ctx.settings.ratings.follow_up_working_days
        )
        rating.follow_up = BadReviewFollowUp(
            department_id=service.department_id, deadline=deadline, created_at=created
        )
    session.flush()
    return rating


def complete_follow_up(
    session: Session,
    ctx: ServiceContext,
    follow_up: BadReviewFollowUp,
    *,
    actor: Actor,
    note: object,
    at: datetime | None = None,
) -> BadReviewFollowUp:
    """Mark a 差评 verified, rectified and reported back; the citizen is asked to rate again."""
    if follow_up.status == FollowUpStatus.COMPLETED:
        raise IllegalTransition("该差评已整改反馈", "this follow-up is already completed")
    _check_department(actor, follow_up.department_id)
    note = clean_text(note, field_zh="整改说明", field_en="rectification note", max_chars=2000)
    moment = at or ctx.now()
    follow_up.verified_at = follow_up.verified_at or moment
    follow_up.rectified_at = follow_up.rectified_at or moment
    follow_up.completed_at = moment
    follow_up.status = FollowUpStatus.COMPLETED
    follow_up.note = note
    rating = follow_up.rating
    if rating.citizen_id is not None:
        enqueue_message(
            session,
            citizen_id=rating.citizen_id,
            kind="follow_up_done",
            dedupe_key=f"follow_up:{follow_up.id}:done",
            payload={"rating_id": rating.id, "note": note},
            at=moment,
        )
    session.flush()
    return follow_up


def request_exclusion(
    session: Session, ctx: ServiceContext, rating: Rating, *, actor: Actor, reason: object
) -> RatingAppeal:
    """Ask to exclude a malicious rating; it stays counted until an admin approves."""
    if actor.kind != "staff":
        raise PermissionDenied("只有工作人员可以申诉", "only staff can appeal a rating")
    _check_department(actor, rating.department_id)
    reason = clean_text(reason, field_zh="申诉理由", field_en="reason", max_chars=2000)
    appeal = RatingAppeal(
        rating_id=rating.id,
        reason=reason,
        requested_by_id=actor.staff_user_id,
        created_at=ctx.now(),
    )
    session.add(appeal)
    session.flush()
    return appeal


def decide_exclusion(
    session: Session, ctx: ServiceContext, appeal: RatingAppeal, *, actor: Actor, approve: bool
) -> RatingAppeal:
    """An admin approves (the rating leaves the indicators) or refuses an appeal."""
    if not actor.is_admin:
        raise PermissionDenied("只有管理员可以审核申诉", "only an admin can decide an appeal")
    if appeal.status != DecisionStatus.PENDING:
        raise IllegalTransition("该申诉已审核", "this appeal is already decided")
    appeal.status = DecisionStatus.APPROVED if approve else DecisionStatus.REFUSED
    appeal.decided_by_id = actor.staff_user_id
    appeal.decided_at = ctx.now()
    if approve:
        session.get(Rating, appeal.rating_id).excluded = True
    session.flush()
    return appeal


def _check_department(actor: Actor, department_id: int) -> None:
    if actor.role == Role.OFFICER and actor.department_id != department_id:
        raise PermissionDenied("只能处理本部门的事项", "officers act on their own department only")


def _comment_sentiment(ctx: ServiceContext, comment: str | None) -> float | None:
    if not comment or ctx.analyzer is None:
        return None
    try:
        return float(ctx.analyzer(comment).sentiment_score)
    except Exception:  # a model failure must never lose the rating
        log.exception("sentiment failed for a rating comment")
        return None
