"""What is waiting for a staff member: the counts on the staff home page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from minyi.errors import PermissionDenied
from minyi.models import (
    BadReviewFollowUp,
    DecisionStatus,
    ExtensionRequest,
    FollowUpStatus,
    RatingAppeal,
    Role,
    Ticket,
    TicketStatus,
)
from minyi.services.actors import Actor
from minyi.services.tickets import MOVES


@dataclass(frozen=True)
class Workload:
    open_tickets: int
    overdue_tickets: int
    triage: int
    open_follow_ups: int
    overdue_follow_ups: int
    # Only admins decide these; zero for everybody else.
    pending_extensions: int
    pending_appeals: int
    escalations: int


def staff_workload(session: Session, *, actor: Actor, today: date) -> Workload:
    """The counts for `actor`: an officer's own department, everything for admins and analysts."""
    if actor.kind != "staff" or actor.role is None:
        raise PermissionDenied("仅限工作人员", "staff only")
    own = actor.department_id if actor.role == Role.OFFICER else None

    def count(model, *conditions) -> int:
        query = select(func.count()).select_from(model).where(*conditions)
        if own is not None:
            query = query.where(model.department_id == own)
        return session.scalar(query) or 0

    open_ticket = Ticket.status != TicketStatus.CLOSED
    open_follow_up = BadReviewFollowUp.status.in_([FollowUpStatus.OPEN, FollowUpStatus.RECTIFIED])
    is_admin = actor.role == Role.ADMIN
    return Workload(
        open_tickets=count(Ticket, open_ticket),
        overdue_tickets=count(Ticket, open_ticket, Ticket.due_date < today),
        triage=0 if own is not None else count(Ticket, open_ticket, Ticket.needs_triage.is_(True)),
        open_follow_ups=count(BadReviewFollowUp, open_follow_up),
        overdue_follow_ups=count(
            BadReviewFollowUp, open_follow_up, BadReviewFollowUp.deadline < today
        ),
        pending_extensions=(
            # Counted as the decisions queue lists them: a request whose ticket was replied to
            # or closed meanwhile can no longer be decided (see inbox.pending_extensions).
            session.scalar(
                select(func.count(ExtensionRequest.id))
                .join(Ticket, Ticket.id == ExtensionRequest.ticket_id)
                .where(
                    ExtensionRequest.status == DecisionStatus.PENDING,
                    Ticket.status.in_(MOVES["request_extension"]),
                )
            )
            if is_admin
            else 0
        ),
        pending_appeals=(
            session.scalar(
                select(func.count(RatingAppeal.id)).where(
                    RatingAppeal.status == DecisionStatus.PENDING
                )
            )
            if is_admin
            else 0
        ),
        escalations=count(Ticket, Ticket.escalated.is_(True)) if is_admin else 0,
    )
