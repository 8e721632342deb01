"""A complaint's public status page: opened with its access code, answered by its filer.

The number alone reveals nothing: an unknown number and a wrong code are refused alike, with
the same message and about the same work, so a stranger cannot learn which numbers exist.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from minyi.errors import NotFound, PermissionDenied, ValidationFailed
from minyi.models import Citizen, Ticket
from minyi.services.actors import Actor
from minyi.services.context import ServiceContext
from minyi.services.tickets import (
    ACCESS_CODE_HASH,
    get_ticket,
    issue_access_code,
    record_verdict,
    verify_access_code,
)
from minyi.services.views import TicketView

# Checked against when the number is unknown, so that the refusal costs the same hashing.
_UNKNOWN_TICKET_HASH = f"{ACCESS_CODE_HASH}$minyi$" + "0" * 64


def _refusal() -> NotFound:
    return NotFound(
        "受理编号或查询码不正确，请核对后重试",
        "the ticket number or the access code is not correct",
    )


def _unlocked_ticket(
    session: Session, number: object, code: object, *, for_update: bool = False
) -> Ticket:
    ticket = None
    if isinstance(number, str):  # a public number, never an id: ids can be counted through
        try:
            ticket = get_ticket(session, number, for_update=for_update)
        except (NotFound, ValidationFailed):
            ticket = None
    if ticket is None:
        check_password_hash(_UNKNOWN_TICKET_HASH, str(code)[:64])
        raise _refusal()
    if not verify_access_code(ticket, code):
        raise _refusal()
    return ticket


def open_ticket(session: Session, number: object, code: object) -> TicketView:
    """The complaint `number` when `code` is its access code; NotFound otherwise."""
    return TicketView.of(_unlocked_ticket(session, number, code))


def issue_code_for(session: Session, ticket_id: int) -> str | None:
    """A new access code for a just-filed ticket; None if it already has one (double submit)."""
    return issue_access_code(get_ticket(session, ticket_id, for_update=True))


def record_verdict_with_code(
    session: Session,
    ctx: ServiceContext,
    number: object,
    code: object,
    *,
    resolved: object,
    satisfaction: object = None,
    at: datetime | None = None,
) -> TicketView:
    """The 回访 answer given on the status page: the code holder answers as the ticket's filer.

    Whoever holds the code is the person the code was shown to, so the answer is recorded as
    the citizen who filed, even from another browser than the one that filed.
    """
    ticket = _unlocked_ticket(session, number, code, for_update=True)
    citizen = session.get(Citizen, ticket.citizen_id) if ticket.citizen_id else None
    if citizen is None:
        raise PermissionDenied(
            "该工单没有登记提交人，无法在线评价", "this ticket has no filer who could answer"
        )
    record_verdict(
        session,
        ctx,
        ticket,
        actor=Actor.citizen(citizen),
        resolved=resolved,
        satisfaction=satisfaction,
        at=at,
    )
    return TicketView.of(ticket)
