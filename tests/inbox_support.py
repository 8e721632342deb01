"""A small county for the inbox tests: two departments, one account of each kind, tickets."""

from __future__ import annotations

from dataclasses import dataclass

from minyi.models import Department, Role, StaffUser, Ticket
from minyi.services import tickets
from minyi.services.actors import Actor
from tests.builders import make_department, make_staff, make_ticket

PASSWORD = "correct-horse-9"


@dataclass
class County:
    zjj: Department
    rsj: Department
    admin: StaffUser
    analyst: StaffUser
    officer: StaffUser  # of zjj
    other_officer: StaffUser  # of rsj

    def actor(self, role: str) -> Actor:
        """The actor of one of the accounts: admin, analyst, officer or other_officer."""
        return Actor.staff(getattr(self, role))


def make_county(session) -> County:
    zjj = make_department(session, code="zjj", name="住建局", name_en="Housing")
    rsj = make_department(session, code="rsj", name="人社局", name_en="Labour")
    county = County(
        zjj=zjj,
        rsj=rsj,
        admin=make_staff(session, Role.ADMIN, username="admin1", password=PASSWORD),
        analyst=make_staff(session, Role.ANALYST, username="analyst1", password=PASSWORD),
        officer=make_staff(
            session, Role.OFFICER, department=zjj, username="zjj_officer", password=PASSWORD
        ),
        other_officer=make_staff(
            session, Role.OFFICER, department=rsj, username="rsj_officer", password=PASSWORD
        ),
    )
    session.flush()
    return county


def assigned_ticket(session, ctx, county: County, department: str = "zjj", **fields) -> Ticket:
    """A ticket filed and routed to `department` by the admin (status assigned)."""
    ticket = make_ticket(session, ctx, **fields)
    tickets.assign(session, ctx, ticket, department, actor=county.actor("admin"))
    return ticket


def advance(session, ctx, county: County, ticket: Ticket, *steps: str) -> Ticket:
    """Move `ticket` on as its department's officer would: start, reply, close."""
    department = ticket.department_id
    actor = county.actor("officer" if department == county.zjj.id else "other_officer")
    for step in steps:
        if step == "start":
            tickets.start(session, ctx, ticket, actor=actor)
        elif step == "reply":
            tickets.reply(session, ctx, ticket, actor=actor, text="已安排维修，明天修好。")
        elif step == "close":
            tickets.close(session, ctx, ticket, actor=actor)
        else:
            raise ValueError(step)
    return ticket
