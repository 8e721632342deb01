"""Every permission rule × every kind of actor, through the services that enforce them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from minyi.errors import NotFound, PermissionDenied
from minyi.models import Role, Ticket, TicketEvent, TicketStatus
from minyi.services import permissions, ratings, tickets
from minyi.services.actors import Actor
from tests.builders import make_citizen, make_department, make_service, make_staff, make_ticket

S = TicketStatus
ACTORS = ["admin", "analyst", "own_officer", "other_officer", "filer", "stranger", "system"]


@pytest.fixture
def people(session):
    own = make_department(session, code="zjj", name="住建局")
    other = make_department(session, code="rsj", name="人社局")
    filer = make_citizen(session)
    found = {
        "admin": Actor.staff(make_staff(session, Role.ADMIN)),
        "analyst": Actor.staff(make_staff(session, Role.ANALYST)),
        "own_officer": Actor.staff(make_staff(session, Role.OFFICER, department=own)),
        "other_officer": Actor.staff(make_staff(session, Role.OFFICER, department=other)),
        "filer": Actor.citizen(filer),
        "stranger": Actor.citizen(make_citizen(session)),
        # A process with no listed power: being "the system" grants nothing by itself.
        "system": Actor.system("scheduler"),
        "_filer": filer,
        "_own": own,
        "_other": other,
    }
    session.commit()
    return found


def _ticket_at(session, ctx, people, status):
    ticket = make_ticket(session, ctx, citizen=people["_filer"])
    admin, officer = people["admin"], people["own_officer"]
    steps = {
        S.ASSIGNED: lambda: tickets.assign(session, ctx, ticket, "zjj", actor=admin),
        S.IN_PROGRESS: lambda: tickets.start(session, ctx, ticket, actor=officer),
        S.REPLIED: lambda: tickets.reply(session, ctx, ticket, actor=officer, text="已处理"),
        S.CLOSED: lambda: tickets.close(session, ctx, ticket, actor=officer),
    }
    for reached, step in steps.items():
        if ticket.status == status:
            break
        step()
        assert ticket.status == reached
    session.commit()
    return ticket


# action -> (status the ticket must be in, the call, the actors allowed)
TICKET_ACTIONS = {
    "assign": (
        S.RECEIVED,
        lambda s, c, t, a: tickets.assign(s, c, t, "zjj", actor=a),
        {"admin", "analyst"},
    ),
    "reassign": (
        S.ASSIGNED,
        lambda s, c, t, a: tickets.reassign(s, c, t, "rsj", actor=a, reason="不属本部门"),
        {"admin", "own_officer"},
    ),
    "start": (
        S.ASSIGNED,
        lambda s, c, t, a: tickets.start(s, c, t, actor=a),
        {"admin", "own_officer"},
    ),
    "reply": (
        S.IN_PROGRESS,
        lambda s, c, t, a: tickets.reply(s, c, t, actor=a, text="已经修好"),
        {"admin", "own_officer"},
    ),
    "close": (
        S.REPLIED,
        lambda s, c, t, a: tickets.close(s, c, t, actor=a),
        {"admin", "own_officer"},
    ),
    "verdict": (
        S.CLOSED,
        lambda s, c, t, a: tickets.record_verdict(s, c, t, actor=a, resolved=True, satisfaction=5),
        {"filer"},
    ),
    "request_extension": (
        S.IN_PROGRESS,
        lambda s, c, t, a: tickets.request_extension(
            s, c, t, actor=a, working_days=3, reason="需协调"
        ),
        {"admin", "own_officer"},
    ),
}


@pytest.mark.parametrize("who", ACTORS)
@pytest.mark.parametrize("action", list(TICKET_ACTIONS))
def test_ticket_moves_by_actor(session, ctx, people, action, who):
    status, call, allowed = TICKET_ACTIONS[action]
    ticket = _ticket_at(session, ctx, people, status)
    events = len(ticket.events)
    if who in allowed:
        call(session, ctx, ticket, people[who])
        session.commit()
        assert len(ticket.events) == events + 1
        return
    with pytest.raises(PermissionDenied) as info:
        call(session, ctx, ticket, people[who])
    assert info.value.message_zh and info.value.message_en
    session.rollback()
    fresh = session.get(Ticket, ticket.id)
    assert fresh.status == status
    assert (
        len(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).all())
        == events
    )


@pytest.mark.parametrize("who", ACTORS)
def test_only_an_admin_decides_extensions(session, ctx, people, who):
    ticket = _ticket_at(session, ctx, people, S.IN_PROGRESS)
    request = tickets.request_extension(
        session, ctx, ticket, actor=people["own_officer"], working_days=2, reason="需现场勘查"
    )
    session.commit()
    due = ticket.due_date
    if who == "admin":
        tickets.decide_extension(session, ctx, request, actor=people[who], approve=True)
        assert ticket.due_date > due
        return
    with pytest.raises(PermissionDenied):
        tickets.decide_extension(session, ctx, request, actor=people[who], approve=True)
    assert ticket.due_date == due


@pytest.mark.parametrize("who", ACTORS)
def test_rating_follow_up_and_appeal_by_actor(session, ctx, people, who):
    service = make_service(session, department=people["_own"])
    rating = ratings.record_rating(session, ctx, service=service, score=1, comment="态度差")
    session.commit()
    may_act = who in {"admin", "own_officer"}
    if may_act:
        ratings.complete_follow_up(
            session, ctx, rating.follow_up, actor=people[who], note="已整改"
        )
        assert rating.follow_up.completed_by_id == people[who].staff_user_id
        appeal = ratings.request_exclusion(session, ctx, rating, actor=people[who], reason="恶意")
    else:
        with pytest.raises(PermissionDenied):
            ratings.complete_follow_up(session, ctx, rating.follow_up, actor=people[who], note="x")
        with pytest.raises(PermissionDenied):
            ratings.request_exclusion(session, ctx, rating, actor=people[who], reason="恶意")
        appeal = ratings.request_exclusion(
            session, ctx, rating, actor=people["admin"], reason="恶意"
        )
        assert rating.follow_up.completed_at is None
    if who == "admin":
        ratings.decide_exclusion(session, ctx, appeal, actor=people[who], approve=True)
        assert rating.excluded
    else:
        with pytest.raises(PermissionDenied):
            ratings.decide_exclusion(session, ctx, appeal, actor=people[who], approve=True)
        assert not rating.excluded


@pytest.mark.parametrize("who", ACTORS)
def test_escalation_queue_is_for_admins(session, ctx, people, who):
    if who == "admin":
        assert tickets.escalated_tickets(session, actor=people[who]) == []
    else:
        with pytest.raises(PermissionDenied):
            tickets.escalated_tickets(session, actor=people[who])


def test_system_actor_has_only_its_listed_powers(session, ctx, people):
    ticket = _ticket_at(session, ctx, people, S.RECEIVED)
    router = Actor.system("nlp", "ticket.assign")
    assert permissions.allowed(router, "ticket.assign")
    assert not permissions.allowed(router, "ticket.decide_extension")
    assert not router.is_admin and not Actor.system("anything").is_admin
    tickets.assign(session, ctx, ticket, "zjj", actor=router)
    with pytest.raises(PermissionDenied):
        tickets.start(session, ctx, ticket, actor=router)


def test_a_deactivated_account_cannot_act(session, people):
    user = make_staff(session, Role.ADMIN)
    user.active = False
    with pytest.raises(PermissionDenied):
        Actor.staff(user)


def test_an_inactive_department_cannot_receive_tickets(session, ctx, people):
    ticket = _ticket_at(session, ctx, people, S.ASSIGNED)
    people["_other"].active = False
    session.flush()
    with pytest.raises(NotFound) as info:
        tickets.reassign(session, ctx, ticket, "rsj", actor=people["admin"], reason="改派")
    assert "inactive" in info.value.message_en
    fresh = _ticket_at(session, ctx, people, S.RECEIVED)
    with pytest.raises(NotFound) as info:
        tickets.assign(session, ctx, fresh, "rsj", actor=people["admin"])
    assert "inactive" in info.value.message_en
