"""Read-only figures for the public home page and the scheduler's housekeeping jobs."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from minyi.db import utcnow
from minyi.models import Department, Rating, Service, Ticket, TicketStatus

DEFAULT_TIMEZONE = "Asia/Shanghai"


def site_overview(
    session: Session, *, timezone: str = DEFAULT_TIMEZONE, now: datetime | None = None
) -> dict:
    """Live counts for the home page: departments, services, ratings this month, open tickets."""
    tz = ZoneInfo(timezone)
    local_now = (now or utcnow()).astimezone(tz)
    month_start = datetime.combine(local_now.date().replace(day=1), time.min, tzinfo=tz)
    return {
        "departments": session.scalar(
            select(func.count(Department.id)).where(Department.active.is_(True))
        ),
        # What a citizen can rate: an active service of an active department.
        "services": session.scalar(
            select(func.count(Service.id))
            .join(Service.department)
            .where(Service.active.is_(True), Department.active.is_(True))
        ),
        "ratings_this_month": session.scalar(
            select(func.count(Rating.id)).where(
                Rating.created_at >= month_start, Rating.excluded.is_(False)
            )
        ),
        "open_tickets": session.scalar(
            select(func.count(Ticket.id)).where(Ticket.status != TicketStatus.CLOSED)
        ),
        "month": local_now.strftime("%Y-%m"),
    }


def count_overdue_tickets(session: Session, *, today: date) -> int:
    """Tickets not closed whose current due date lies before `today` (the county's date)."""
    return session.scalar(
        select(func.count(Ticket.id)).where(
            Ticket.status != TicketStatus.CLOSED, Ticket.due_date < today
        )
    )


def check_database(session: Session) -> None:
    """Run `SELECT 1`; raises the driver's error when the database cannot be reached."""
    session.execute(text("SELECT 1")).scalar_one()
