"""ticket history that indicators can be computed from; calendar years; audit columns

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

- tickets: replied_at/closed_at become last_replied_at/last_closed_at (never cleared), with
  first_replied_at/first_closed_at beside them; resolved/satisfaction move to one row per
  closure round (ticket_closures), rebuilt here from the tickets' events; escalation columns.
- bad_review_follow_ups.completed_by_id; at most one live appeal per rating.
- calendar_years: holiday notices loaded by the county.
"""
from alembic import op
import sqlalchemy as sa
import minyi.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ticket_closures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('round', sa.Integer(), nullable=False),
        sa.Column('department_id', sa.Integer(), nullable=True),
        sa.Column('due_date', sa.Date(), nullable=False),
        sa.Column('closed_at', minyi.db.UTCDateTime(), nullable=False),
        sa.Column('closed_by', sa.String(length=64), nullable=False),
        sa.Column('resolved', sa.Boolean(), nullable=True),
        sa.Column('satisfaction', sa.SmallInteger(), nullable=True),
        sa.Column('verdict_at', minyi.db.UTCDateTime(), nullable=True),
        sa.Column('verdict_by', sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            'satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5',
            name=op.f('ck_ticket_closures_satisfaction_range'),
        ),
        sa.ForeignKeyConstraint(
            ['department_id'], ['departments.id'],
            name=op.f('fk_ticket_closures_department_id_departments'),
        ),
        sa.ForeignKeyConstraint(
            ['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_closures_ticket_id_tickets')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_closures')),
        sa.UniqueConstraint('ticket_id', 'round', name='uq_ticket_closures_ticket_round'),
    )
    op.create_index(
        'ix_ticket_closures_department_closed', 'ticket_closures', ['department_id', 'closed_at']
    )
    op.create_table(
        'calendar_years',
        sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('holidays', sa.JSON(), nullable=False),
        sa.Column('workdays', sa.JSON(), nullable=False),
        sa.Column('provisional', sa.Boolean(), nullable=False),
        sa.Column('source', sa.String(length=300), nullable=True),
        sa.Column('imported_at', minyi.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('year', name=op.f('pk_calendar_years')),
    )

    op.drop_index('ix_tickets_department_closed', table_name='tickets')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.alter_column('replied_at', new_column_name='last_replied_at')
        batch_op.alter_column('closed_at', new_column_name='last_closed_at')
        batch_op.add_column(sa.Column('first_replied_at', minyi.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('first_closed_at', minyi.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('escalated_at', minyi.db.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column('escalation_count', sa.Integer(), nullable=False, server_default='0')
        )
    op.create_index('ix_tickets_department_closed', 'tickets', ['department_id', 'last_closed_at'])

    _rebuild_history(op.get_bind())

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_tickets_satisfaction_range'), type_='check')
        batch_op.drop_column('resolved')
        batch_op.drop_column('satisfaction')

    with op.batch_alter_table('bad_review_follow_ups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('completed_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f('fk_bad_review_follow_ups_completed_by_id_staff_users'),
            'staff_users', ['completed_by_id'], ['id'],
        )
    op.create_index(
        'uq_rating_appeals_live', 'rating_appeals', ['rating_id'], unique=True,
        sqlite_where=sa.text("status IN ('pending', 'approved')"),
        postgresql_where=sa.text("status IN ('pending', 'approved')"),
    )


def _rebuild_history(bind) -> None:
    """Closure rounds and first reply/closure times from the events every move recorded."""
    meta = sa.MetaData()
    tickets = sa.Table('tickets', meta, autoload_with=bind)
    events = sa.Table('ticket_events', meta, autoload_with=bind)
    closures = sa.Table('ticket_closures', meta, autoload_with=bind)
    first_of = {}
    for kind in ('replied', 'closed'):
        first_of[kind] = (
            sa.select(sa.func.min(events.c.created_at))
            .where(events.c.ticket_id == tickets.c.id, events.c.kind == kind)
            .scalar_subquery()
        )
    bind.execute(
        tickets.update().values(
            first_replied_at=sa.func.coalesce(first_of['replied'], tickets.c.last_replied_at),
            first_closed_at=sa.func.coalesce(first_of['closed'], tickets.c.last_closed_at),
        )
    )
    rows = bind.execute(
        sa.select(
            events.c.ticket_id, events.c.kind, events.c.actor, events.c.detail,
            events.c.created_at, tickets.c.department_id, tickets.c.due_date,
        )
        .join(tickets, tickets.c.id == events.c.ticket_id)
        .where(events.c.kind.in_(('closed', 'verdict', 'reopened', 'escalated')))
        .order_by(events.c.ticket_id, events.c.id)
    ).all()
    rounds: dict[int, list[dict]] = {}
    for row in rows:
        own = rounds.setdefault(row.ticket_id, [])
        if row.kind == 'closed':
            own.append({
                'ticket_id': row.ticket_id, 'round': len(own) + 1,
                'department_id': row.department_id, 'due_date': row.due_date,
                'closed_at': row.created_at, 'closed_by': row.actor, 'resolved': None,
                'satisfaction': None, 'verdict_at': None, 'verdict_by': None,
            })
        elif own and own[-1]['verdict_at'] is None:
            detail = row.detail or {}
            own[-1].update(
                resolved=detail.get('resolved'), satisfaction=detail.get('satisfaction'),
                verdict_at=row.created_at, verdict_by=row.actor,
            )
    # Tickets imported closed have no events: their single round comes from the columns.
    with_events = set(rounds)
    imported = bind.execute(
        sa.select(
            tickets.c.id, tickets.c.department_id, tickets.c.due_date, tickets.c.last_closed_at,
            tickets.c.resolved, tickets.c.satisfaction,
        ).where(tickets.c.last_closed_at.is_not(None))
    ).all()
    payload = [r for own in rounds.values() for r in own]
    for row in imported:
        if row.id not in with_events:
            payload.append({
                'ticket_id': row.id, 'round': 1, 'department_id': row.department_id,
                'due_date': row.due_date, 'closed_at': row.last_closed_at,
                'closed_by': 'system:import', 'resolved': row.resolved,
                'satisfaction': row.satisfaction,
                'verdict_at': row.last_closed_at if row.resolved is not None else None,
                'verdict_by': 'system:import' if row.resolved is not None else None,
            })
    if payload:
        bind.execute(closures.insert(), payload)
    # A reopened ticket lost its closure time in the old schema; the latest event keeps it.
    latest_closed = (
        sa.select(sa.func.max(events.c.created_at))
        .where(events.c.ticket_id == tickets.c.id, events.c.kind == 'closed')
        .scalar_subquery()
    )
    bind.execute(
        tickets.update()
        .where(tickets.c.last_closed_at.is_(None))
        .values(last_closed_at=latest_closed)
    )


def downgrade() -> None:
    # Closure rounds are not folded back into tickets.resolved/satisfaction: a lossy way down.
    op.drop_index('ix_tickets_department_closed', table_name='tickets')
    op.drop_index('uq_rating_appeals_live', table_name='rating_appeals')
    with op.batch_alter_table('bad_review_follow_ups', schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f('fk_bad_review_follow_ups_completed_by_id_staff_users'), type_='foreignkey'
        )
        batch_op.drop_column('completed_by_id')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resolved', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('satisfaction', sa.SmallInteger(), nullable=True))
        batch_op.drop_column('escalation_count')
        batch_op.drop_column('escalated_at')
        batch_op.drop_column('first_closed_at')
        batch_op.drop_column('first_replied_at')
        batch_op.alter_column('last_closed_at', new_column_name='closed_at')
        batch_op.alter_column('last_replied_at', new_column_name='replied_at')
    op.create_index('ix_tickets_department_closed', 'tickets', ['department_id', 'closed_at'])
    op.drop_table('calendar_years')
    op.drop_index('ix_ticket_closures_department_closed', table_name='ticket_closures')
    op.drop_table('ticket_closures')
