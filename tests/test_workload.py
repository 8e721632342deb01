"""The staff home page's counts: an officer's own department, admins' decisions queues."""

from __future__ import annotations

import pytest

from minyi.errors import PermissionDenied
from minyi.models import Role
from minyi.services import tickets
from minyi.services.actors import Actor
from minyi.services.workload import staff_workload
from tests.builders import make_department, make_staff, make_ticket


def test_counts_follow_the_role_and_the_decisions_queue(session, ctx):
    own, other = make_department(session), make_department(session)
    admin = Actor.staff(make_staff(session, Role.ADMIN))
    officer = Actor.staff(make_staff(session, Role.OFFICER, department=own))
    mine = make_ticket(session, ctx)
    tickets.assign(session, ctx, mine, own, actor=admin)
    tickets.assign(session, ctx, make_ticket(session, ctx), other, actor=admin)
    make_ticket(session, ctx)  # still waiting in triage
    today = ctx.local_date(ctx.now())

    assert staff_workload(session, actor=officer, today=today).open_tickets == 1
    county = staff_workload(session, actor=admin, today=today)
    assert (county.open_tickets, county.triage, county.pending_extensions) == (3, 1, 0)

    tickets.request_extension(
        session, ctx, mine, actor=officer, working_days=3, reason="需要现场勘查"
    )
    assert staff_workload(session, actor=admin, today=today).pending_extensions == 1
    assert staff_workload(session, actor=officer, today=today).pending_extensions == 0
    # Once the ticket is answered the request can no longer be decided: not counted either.
    tickets.start(session, ctx, mine, actor=officer)
    tickets.reply(session, ctx, mine, actor=officer, text="已派人到现场处理。")
    assert staff_workload(session, actor=admin, today=today).pending_extensions == 0


def test_only_staff_have_a_workload(session, ctx):
    with pytest.raises(PermissionDenied):
        staff_workload(session, actor=Actor.system("job"), today=ctx.local_date(ctx.now()))
