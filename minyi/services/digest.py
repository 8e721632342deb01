"""The weekly digest of each department officer: last week's complaints, topics, satisfaction.

Made by a scheduler job (minyi.jobs.weekly_digest) once per officer and ISO week: the unique
key (officer, week) of `staff_digests` makes a second run, or two workers at once, add
nothing. The officer reads it on the staff home page; an officer whose account has a
Telegram chat id also gets it through the outbox, with a dedupe key per officer and week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from minyi.db import insert_or_get
from minyi.errors import PermissionDenied
from minyi.indicators import Period, department_indicators, parse_period, periods_containing
from minyi.models import (
    Channel,
    OutboxMessage,
    Role,
    StaffDigest,
    StaffUser,
    Ticket,
    TicketStatus,
)
from minyi.services.actors import Actor
from minyi.services.citizens import get_or_create_citizen
from minyi.services.context import ServiceContext
from minyi.services.indicator_reports import topic_digest
from minyi.services.outbox import enqueue_message

DIGEST_KIND = "staff_digest"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def digest_week(ctx: ServiceContext, now: datetime | None = None) -> Period:
    """The ISO week the latest scheduled digest run (weekday and time of [indicators]) is
    about: the week before the one that run falls in."""
    settings = ctx.settings.indicators
    local_now = (now or ctx.now()).astimezone(ctx.timezone)
    hour, minute = (int(part) for part in settings.digest_time.split(":"))
    monday = local_now.date() - timedelta(days=local_now.weekday())
    run_day = monday + timedelta(days=WEEKDAYS.index(settings.digest_weekday))
    scheduled = datetime.combine(run_day, time(hour, minute), tzinfo=ctx.timezone)
    if local_now < scheduled:
        run_day -= timedelta(days=7)
    week_label = periods_containing(run_day)[1]
    return parse_period(week_label).previous()


def _rate(row: dict[str, Any], key: str) -> dict[str, Any]:
    change = row["changes"][key]
    return {
        "rate": row[key],
        "denominator": row["denominators"][key],
        "previous": change["previous"],
        "change": change["change"],
        "significant": change["significant"],
    }


def build_digest(
    session: Session, ctx: ServiceContext, department_id: int, week: Period
) -> dict[str, Any]:
    """What one department's digest of `week` says (a JSON-ready dict)."""
    row = department_indicators(session, ctx, week, department=department_id)[0]
    topics = topic_digest(session, ctx, week, department_id, top=3, with_terms=False)
    # Still open and past their due date at the end of the week (as far as known now).
    overdue = session.scalar(
        select(func.count())
        .select_from(Ticket)
        .where(
            Ticket.department_id == department_id,
            Ticket.status != TicketStatus.CLOSED,
            Ticket.due_date <= week.last,
        )
    )

    def lines(items) -> list[dict[str, Any]]:
        return [
            {"topic": line.topic, "count": line.count, "previous": line.previous,
             "example": line.example_number}
            for line in items
        ]  # fmt: skip

    return {
        "week": week.label,
        "first": week.first.isoformat(),
        "last": week.last.isoformat(),
        "department": row["department"],
        "department_name": row["department_name"],
        "new_tickets": topics.tickets,
        "previous_tickets": topics.previous_tickets,
        "overdue_open": overdue or 0,
        "top_topics": lines(topics.top),
        "rising_topics": lines(topics.rising),
        "enough_to_compare": topics.enough_to_compare,
        "satisfaction": _rate(row, "satisfaction_rate"),
        "on_time_closure": _rate(row, "on_time_closure_rate"),
        "ratings": row["ratings"],
    }


@dataclass(frozen=True)
class DigestRun:
    week: str
    created: int  # digests made by this run
    queued: int  # Telegram messages queued by this run
    officers: int


def plan_weekly_digests(
    session: Session, ctx: ServiceContext, week: Period | str | None = None
) -> tuple[Period, dict[int, dict[str, Any]]]:
    """The digest payload of `week` (default: digest_week) per department that has an active
    officer still without one. Reads only: the job runs it outside any write transaction, since
    the topic analysis takes seconds and SQLite has one writer at a time (a citizen's rating
    must not wait for it)."""
    week = _week(ctx, week)
    missing = (
        select(StaffUser.department_id)
        .where(_active_officer(), StaffUser.department_id.is_not(None))
        .where(
            ~select(StaffDigest.id)
            .where(StaffDigest.staff_user_id == StaffUser.id, StaffDigest.week == week.label)
            .exists()
        )
        .distinct()
    )
    departments = sorted(session.scalars(missing))
    return week, {d: build_digest(session, ctx, d, week) for d in departments}


def make_weekly_digests(
    session: Session,
    ctx: ServiceContext,
    week: Period | str | None = None,
    payloads: dict[int, dict[str, Any]] | None = None,
) -> DigestRun:
    """Store the digest of `week` for every active officer who has none yet, and queue it to
    those with a Telegram chat id; running it again adds nothing. `payloads` (per department,
    from plan_weekly_digests) are computed here when not given."""
    week = _week(ctx, week)
    officers = list(
        session.scalars(select(StaffUser).where(_active_officer()).order_by(StaffUser.id))
    )
    made: dict[int, dict[str, Any]] = dict(payloads or {})  # one computation per department
    created = queued = 0
    for officer in officers:
        existing = select(StaffDigest).where(
            StaffDigest.staff_user_id == officer.id, StaffDigest.week == week.label
        )
        digest = session.scalar(existing)
        if digest is None:
            if officer.department_id not in made:
                made[officer.department_id] = build_digest(
                    session, ctx, officer.department_id, week
                )
            digest, was_created = insert_or_get(
                session,
                StaffDigest(
                    staff_user_id=officer.id,
                    week=week.label,
                    payload=made[officer.department_id],
                    created_at=ctx.now(),
                ),
                existing,
            )
            created += was_created
        if officer.telegram_chat_id:
            queued += _queue(session, ctx, officer, digest)
    session.flush()
    return DigestRun(week.label, created, queued, len(officers))


def _week(ctx: ServiceContext, week: Period | str | None) -> Period:
    if week is None:
        return digest_week(ctx)
    return week if isinstance(week, Period) else parse_period(week)


def _active_officer():
    return (StaffUser.role == Role.OFFICER) & StaffUser.active.is_(True)


def _queue(session: Session, ctx: ServiceContext, officer: StaffUser, digest: StaffDigest) -> int:
    """Queue the digest to the officer's Telegram chat (its identity on the channel); 1 when
    this call queued it, 0 when it was queued before."""
    key = f"digest:{officer.id}:{digest.week}"
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)):
        return 0
    chat = get_or_create_citizen(
        session, channel=Channel.TELEGRAM, external_id=officer.telegram_chat_id
    )
    home = ctx.settings.web.public_base_url.rstrip("/") + "/staff/"
    enqueue_message(
        session,
        citizen_id=chat.id,
        kind=DIGEST_KIND,
        dedupe_key=key,
        payload=dict(digest.payload) | {"home": home},
        at=ctx.now(),
    )
    return 1


def latest_digest(session: Session, *, actor: Actor) -> dict[str, Any] | None:
    """The newest digest of the signed-in officer (None for analysts, admins, or none yet)."""
    if not isinstance(actor, Actor) or actor.kind != "staff":
        raise PermissionDenied("仅限工作人员", "staff only")
    if actor.role != Role.OFFICER:
        return None
    digest = session.scalar(
        select(StaffDigest)
        .where(StaffDigest.staff_user_id == actor.staff_user_id)
        .order_by(StaffDigest.week.desc(), StaffDigest.id.desc())
        .limit(1)
    )
    return None if digest is None else dict(digest.payload)
