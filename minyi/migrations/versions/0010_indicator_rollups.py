"""indicator rollups: summable counts per department (and service) and local day, stale markers

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa
import minyi.db


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

COUNTS = (
    'score_1', 'score_2', 'score_3', 'score_4', 'score_5',
    'follow_ups_on_time', 'follow_ups_late', 'follow_ups_open',
)
TICKET_COUNTS = (
    'tickets', 'sentiment_known', 'negative', 'responded_on_time', 'responded_late',
    'unresponded',
)
CLOSURE_COUNTS = (
    'due', 'closed_on_time', 'closures', 'resolved_answers', 'resolved_yes',
    'satisfaction_answers', 'satisfied_answers',
)


def _counts() -> list[sa.Column]:
    def count(name):
        return sa.Column(name, sa.Integer(), nullable=False)

    return [
        *(count(name) for name in COUNTS),
        sa.Column('follow_ups_open_until', sa.Date(), nullable=True),
        sa.Column('follow_ups_open_first', sa.Date(), nullable=True),
        *(count(name) for name in TICKET_COUNTS),
        sa.Column('unresponded_until', sa.Date(), nullable=True),
        sa.Column('unresponded_first', sa.Date(), nullable=True),
        *(count(name) for name in CLOSURE_COUNTS),
    ]


def upgrade() -> None:
    op.create_table(
        'indicator_daily',
        sa.Column('department_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('service_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        *_counts(),
        sa.PrimaryKeyConstraint(
            'department_id', 'service_id', 'day', name=op.f('pk_indicator_daily')
        ),
    )
    op.create_index('ix_indicator_daily_day', 'indicator_daily', ['day'], unique=False)
    op.create_table(
        'indicator_department_daily',
        sa.Column('department_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        *_counts(),
        sa.PrimaryKeyConstraint(
            'department_id', 'day', name=op.f('pk_indicator_department_daily')
        ),
    )
    op.create_index(
        'ix_indicator_department_daily_day', 'indicator_department_daily', ['day'], unique=False
    )
    op.create_table(
        'indicator_medians',
        sa.Column('department_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('period', sa.String(length=8), nullable=False),
        sa.Column('replied', sa.Integer(), nullable=False),
        sa.Column('median_hours', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('department_id', 'period', name=op.f('pk_indicator_medians')),
    )
    op.create_table(
        'indicator_stale',
        sa.Column(
            'id',
            sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
            nullable=False,
        ),
        sa.Column('department_id', sa.Integer(), nullable=False),
        sa.Column('at', minyi.db.UTCDateTime(), nullable=True),
        sa.Column('day', sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_indicator_stale')),
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index(
            'ix_tickets_department_received_reply',
            ['department_id', 'received_at', 'first_replied_at', 'service_id'],
            unique=False,
        )
    # Existing history: one marker with neither a moment nor a day means "every day"; the
    # first refresh (or `minyi indicators rebuild`) computes it from the base tables.
    op.execute(
        "INSERT INTO indicator_stale (department_id) SELECT 0 "
        "WHERE EXISTS (SELECT 1 FROM ratings) OR EXISTS (SELECT 1 FROM tickets)"
    )


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_department_received_reply')
    op.drop_table('indicator_stale')
    op.drop_table('indicator_medians')
    op.drop_index('ix_indicator_department_daily_day', table_name='indicator_department_daily')
    op.drop_table('indicator_department_daily')
    op.drop_index('ix_indicator_daily_day', table_name='indicator_daily')
    op.drop_table('indicator_daily')
