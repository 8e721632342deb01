"""Praise (表扬) that citizens filed: read by the departments they thank.

A text nlp reads as praise is filed by `tickets.record_praise` (live) or the bulk importer
with the same rule (`tickets.decide_routing`): closed at once, in no inbox, with
`praise_department_id` the department it thanks. This module lists it for staff: an
officer sees their own department's, analysts and admins every department's (and the praise
no department was recognised for), narrowed by department and by the day it was received.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from minyi.errors import NotFound, ValidationFailed
from minyi.models import Channel, Department, Role, Ticket
from minyi.services.actors import Actor
from minyi.services.context import ServiceContext
from minyi.services.paging import DEFAULT_PER_PAGE, Page, paginate
from minyi.services.permissions import require
from minyi.services.tickets import praise_filed
from minyi.services.validation import check_day, check_ref
from minyi.services.views import DepartmentRef, department_ref

# The department filter's value for praise no department was recognised for.
NO_DEPARTMENT = "none"
# A period longer than this is refused (a typo such as 2205 for 2025 would scan everything).
MAX_PERIOD_DAYS = 3660


@dataclass(frozen=True)
class PraiseFilter:
    """department: a code or id, NO_DEPARTMENT, or None for all; days are local dates."""

    department: int | str | None = None
    date_from: date | None = None
    date_to: date | None = None


def check_praise_filter(
    *, department: object = None, date_from: object = None, date_to: object = None
) -> PraiseFilter:
    """A filter from typed values or a form's text; ValidationFailed names the bad one."""
    first = check_day(date_from, field_zh="起始日期", field_en="from date")
    last = check_day(date_to, field_zh="截止日期", field_en="to date")
    if first is not None and last is not None:
        if first > last:
            raise ValidationFailed(
                "起始日期不能晚于截止日期", "the from date must not be after the to date"
            )
        if (last - first).days > MAX_PERIOD_DAYS:
            raise ValidationFailed(
                "时间段最长 10 年，请检查日期",
                "the period may be at most 10 years: check the dates",
            )
    ref: int | str | None = None
    if department is not None and not (isinstance(department, str) and not department.strip()):
        if isinstance(department, str) and department.strip() == NO_DEPARTMENT:
            ref = NO_DEPARTMENT
        else:
            ref = check_ref(department, kind_zh="部门", kind_en="department")
            if isinstance(ref, str) and ref.isascii() and ref.isdigit():
                ref = int(ref)
    return PraiseFilter(department=ref, date_from=first, date_to=last)


@dataclass(frozen=True)
class PraiseRow:
    """One praise as staff read it (the citizen is not shown)."""

    number: str
    text: str
    received_at: datetime
    channel: Channel
    department: DepartmentRef | None  # the department thanked; None: not recognised
    probability: float | None  # nlp's request-type probability


def _check_can_view(actor: Actor) -> None:
    if not isinstance(actor, Actor) or actor.kind != "staff":
        raise NotFound("找不到该页面", "no such page")
    # An officer is checked against their own department (one without is refused).
    require(actor, "praise.view", department_id=actor.department_id)


def list_praise(
    session: Session,
    ctx: ServiceContext,
    *,
    actor: Actor,
    filters: PraiseFilter | None = None,
    page: object = 1,
    per_page: int = DEFAULT_PER_PAGE,
) -> Page:
    """The praise `actor` may read, newest first: a Page of PraiseRow.

    An officer reads their own department's only; naming another department (or praise
    with none) is a NotFound, as another department's ticket is. Analysts and admins read
    all of it. Any page number that is not a positive whole number is page 1.
    """
    _check_can_view(actor)
    filters = filters or PraiseFilter()
    conditions = [praise_filed()]
    if actor.role == Role.OFFICER:
        conditions.append(Ticket.praise_department_id == actor.department_id)
    if filters.department == NO_DEPARTMENT:
        if actor.role == Role.OFFICER:
            raise NotFound("找不到部门 none", "unknown department none")
        conditions.append(Ticket.praise_department_id.is_(None))
    elif filters.department is not None:
        column = Department.id if isinstance(filters.department, int) else Department.code
        department = session.scalar(select(Department).where(column == filters.department))
        if department is None or (
            actor.role == Role.OFFICER and department.id != actor.department_id
        ):
            raise NotFound(
                f"找不到部门 {filters.department}", f"unknown department {filters.department}"
            )
        conditions.append(Ticket.praise_department_id == department.id)
    if filters.date_from is not None:
        conditions.append(Ticket.received_at >= ctx.local_midnight(filters.date_from))
    if filters.date_to is not None:
        end = ctx.local_midnight(filters.date_to + timedelta(days=1))
        conditions.append(Ticket.received_at < end)
    found = paginate(
        session,
        select(Ticket)
        .options(joinedload(Ticket.praise_department))
        .where(*conditions)
        .order_by(Ticket.received_at.desc(), Ticket.id.desc()),
        page=page,
        per_page=per_page,
    )
    rows = [
        PraiseRow(
            number=ticket.number,
            text=ticket.text,
            received_at=ticket.received_at,
            channel=Channel(ticket.channel),
            department=department_ref(ticket.praise_department),
            probability=ticket.request_type_probability,
        )
        for ticket in found.items
    ]
    return Page(items=rows, number=found.number, per_page=found.per_page, total=found.total)


def praise_departments(session: Session, *, actor: Actor) -> list[DepartmentRef]:
    """The departments `actor` may narrow the list to: none for an officer (theirs only)."""
    _check_can_view(actor)
    if actor.role == Role.OFFICER:
        return []
    return [
        department_ref(department)
        for department in session.scalars(select(Department).order_by(Department.code))
    ]
