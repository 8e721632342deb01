"""The migrations build exactly the models' schema, and 0002 keeps the history of old tickets."""

from __future__ import annotations

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from minyi.db import Base, make_engine
from minyi.migrate import upgrade
from minyi.models import Ticket, TicketClosure

# SQLite's reflection skips expression indexes (lower(username)); PostgreSQL compares them.
EXPRESSION_INDEXES = {"uq_staff_users_username_lower"}


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_migrated_schema_matches_the_models(engine):
    sqlite = engine.dialect.name == "sqlite"

    def include(obj, name, type_, reflected, compare_to):
        # The scheduler's job store owns its table; migrations never manage it.
        if type_ == "table" and name == "apscheduler_jobs":
            return False
        return not (sqlite and type_ == "index" and name in EXPRESSION_INDEXES)

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_0002_rebuilds_closure_rounds_from_the_events(settings, tmp_path):
    engine = make_engine(settings, f"sqlite:///{tmp_path}/old.db")
    upgrade(engine, "0001")
    t = [f"2026-03-0{d} 02:00:00.000000" for d in range(1, 8)]
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO departments (id, code, name, active, created_at) "
                "VALUES (1, 'zjj', '住建局', 1, :t)"
            ),
            {"t": t[0]},
        )
        c.execute(
            text(
                "INSERT INTO tickets (id, number, channel, text, status, department_id,"
                " needs_triage, received_at, response_due_date, due_date, original_due_date,"
                " replied_at,"
                " closed_at, resolved, satisfaction, reopen_count, bounce_count, escalated,"
                " updated_at) VALUES (1, 'MY-20260301-0001', 'web', '路灯坏了', 'closed', 1, 0,"
                " :t0, '2026-03-02', '2026-03-20', '2026-03-20', :t4, :t5, 1, 5, 1, 0, 0, :t6)"
            ),
            {"t0": t[0], "t4": t[4], "t5": t[5], "t6": t[6]},
        )
        events = [
            ("replied", t[1], None),
            ("closed", t[2], None),
            ("reopened", t[3], {"resolved": False, "satisfaction": 2}),
            ("replied", t[4], None),
            ("closed", t[5], None),
            ("verdict", t[6], {"resolved": True, "satisfaction": 5}),
        ]
        for kind, at, detail in events:
            c.execute(
                text(
                    "INSERT INTO ticket_events (ticket_id, kind, actor, detail, created_at)"
                    " VALUES (1, :k, 'citizen:1', :d, :at)"
                ),
                {"k": kind, "d": json.dumps(detail) if detail else None, "at": at},
            )
    upgrade(engine)
    with engine.connect() as c:
        session = Session(bind=c)
        ticket = session.scalar(select(Ticket))
        rounds = [
            (r.round, r.resolved, r.satisfaction)
            for r in session.scalars(select(TicketClosure).order_by(TicketClosure.round))
        ]
        assert rounds == [(1, False, 2), (2, True, 5)]
        assert ticket.first_replied_at.day == 2 and ticket.last_replied_at.day == 5
        assert ticket.first_closed_at.day == 3 and ticket.last_closed_at.day == 6
        session.close()
    engine.dispose()


def test_0013_keeps_the_outlets_already_stored_in_use(settings, tmp_path):
    engine = make_engine(settings, f"sqlite:///{tmp_path}/old.db")
    upgrade(engine, "0010")
    with engine.begin() as c:
        c.execute(text("INSERT INTO outlets (id, code, name) VALUES (1, 'hall-1f', '一楼大厅')"))
    upgrade(engine)
    with engine.connect() as c:
        assert c.execute(text("SELECT code, active FROM outlets")).all() == [("hall-1f", 1)]
    engine.dispose()
