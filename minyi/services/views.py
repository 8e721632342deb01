"""Plain, read-only results for adapters: readable after the session that made them closed.

A bot handler or a view gets one of these from the service layer and renders it; it never
touches a lazy relationship of a detached ORM row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from minyi.models import FollowUpStatus, Rating, Ticket, TicketStatus

STATUS_ZH = {
    TicketStatus.RECEIVED: "已受理",
    TicketStatus.ASSIGNED: "已派单",
    TicketStatus.IN_PROGRESS: "办理中",
    TicketStatus.REPLIED: "已答复",
    TicketStatus.CLOSED: "已办结",
}


@dataclass(frozen=True)
class DepartmentRef:
    id: int
    code: str
    name: str
    name_en: str | None


@dataclass(frozen=True)
class EventView:
    kind: str
    from_status: str | None
    to_status: str | None
    actor: str
    at: datetime
    detail: dict | None


@dataclass(frozen=True)
class ClosureView:
    round: int
    closed_at: datetime
    due_date: date
    resolved: bool | None
    satisfaction: int | None
    verdict_at: datetime | None


@dataclass(frozen=True)
class TicketView:
    id: int
    number: str
    status: TicketStatus
    channel: str
    text: str
    location: str | None
    citizen_id: int | None
    service_id: int | None
    # Masked (138****5678): a view may reach staff pages, which never show the full number.
    contact_phone_masked: str | None
    attachments: tuple[tuple[str, str], ...]  # (kind, reference)
    department: DepartmentRef | None
    predicted_department: DepartmentRef | None
    topic: str | None
    topic_confidence: float | None
    needs_triage: bool
    sentiment_label: str | None
    keywords: tuple[str, ...]
    received_at: datetime
    response_due_date: date
    due_date: date
    original_due_date: date
    first_response_at: datetime | None
    first_replied_at: datetime | None
    last_replied_at: datetime | None
    reply_text: str | None
    first_closed_at: datetime | None
    last_closed_at: datetime | None
    reopen_count: int
    bounce_count: int
    escalated: bool
    closures: tuple[ClosureView, ...]
    events: tuple[EventView, ...]

    @property
    def status_zh(self) -> str:
        return STATUS_ZH[self.status]

    @property
    def resolved(self) -> bool | None:
        return self.closures[-1].resolved if self.closures else None

    @property
    def satisfaction(self) -> int | None:
        return self.closures[-1].satisfaction if self.closures else None

    @property
    def awaiting_verdict(self) -> bool:
        """Closed and the citizen has not yet answered "resolved?" for this round."""
        return (
            self.status == TicketStatus.CLOSED
            and bool(self.closures)
            and self.closures[-1].verdict_at is None
        )

    @classmethod
    def of(cls, ticket: Ticket) -> TicketView:
        """Read everything from `ticket` while its session is open."""
        return cls(
            id=ticket.id,
            number=ticket.number,
            status=TicketStatus(ticket.status),
            channel=str(ticket.channel),
            text=ticket.text,
            location=ticket.location,
            citizen_id=ticket.citizen_id,
            service_id=ticket.service_id,
            contact_phone_masked=mask_phone(ticket.contact_phone),
            attachments=tuple((a.kind, a.reference) for a in ticket.attachments),
            department=department_ref(ticket.department),
            predicted_department=department_ref(ticket.predicted_department),
            topic=ticket.topic,
            topic_confidence=ticket.topic_confidence,
            needs_triage=ticket.needs_triage,
            sentiment_label=ticket.sentiment_label,
            keywords=tuple(ticket.keywords or ()),
            received_at=ticket.received_at,
            response_due_date=ticket.response_due_date,
            due_date=ticket.due_date,
            original_due_date=ticket.original_due_date,
            first_response_at=ticket.first_response_at,
            first_replied_at=ticket.first_replied_at,
            last_replied_at=ticket.last_replied_at,
            reply_text=ticket.reply_text,
            first_closed_at=ticket.first_closed_at,
            last_closed_at=ticket.last_closed_at,
            reopen_count=ticket.reopen_count,
            bounce_count=ticket.bounce_count,
            escalated=ticket.escalated,
            closures=tuple(
                ClosureView(
                    c.round, c.closed_at, c.due_date, c.resolved, c.satisfaction, c.verdict_at
                )
                for c in ticket.closures
            ),
            events=tuple(
                EventView(e.kind, e.from_status, e.to_status, e.actor, e.created_at, e.detail)
                for e in ticket.events
            ),
        )


@dataclass(frozen=True)
class TicketBrief:
    """What a button on a ticket needs: its number, owner, status and department."""

    id: int
    number: str
    citizen_id: int | None
    status: TicketStatus
    department: DepartmentRef | None
    first_response_at: datetime | None


@dataclass(frozen=True)
class RatingView:
    id: int
    service_code: str
    service_name: str
    department: DepartmentRef
    score: int
    aspect: str | None
    comment: str | None
    channel: str
    created_at: datetime
    excluded: bool
    follow_up_deadline: date | None
    follow_up_status: FollowUpStatus | None

    @property
    def is_bad_review(self) -> bool:
        return self.follow_up_deadline is not None

    @classmethod
    def of(cls, rating: Rating) -> RatingView:
        """Read everything from `rating` while its session is open."""
        follow_up = rating.follow_up
        return cls(
            id=rating.id,
            service_code=rating.service.code,
            service_name=rating.service.name,
            department=department_ref(rating.service.department),
            score=rating.score,
            aspect=rating.aspect,
            comment=rating.comment,
            channel=str(rating.channel),
            created_at=rating.created_at,
            excluded=rating.excluded,
            follow_up_deadline=follow_up.deadline if follow_up else None,
            follow_up_status=FollowUpStatus(follow_up.status) if follow_up else None,
        )


def mask_phone(phone: str | None) -> str | None:
    """A phone number as staff see it: 138****5678 (first 3 and last 4 digits kept)."""
    if not phone:
        return phone
    if len(phone) <= 7:
        return phone[:1] + "*" * (len(phone) - 2) + phone[-1:]
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_external_id(external_id: str | None) -> str | None:
    """A channel identity (a Telegram user id) as staff see it: only its last 2 characters."""
    if not external_id:
        return external_id
    return "*" * max(len(external_id) - 2, 4) + external_id[-2:]


def department_ref(department) -> DepartmentRef | None:
    """A Department row as a DepartmentRef (None stays None)."""
    if department is None:
        return None
    return DepartmentRef(department.id, department.code, department.name, department.name_en)
