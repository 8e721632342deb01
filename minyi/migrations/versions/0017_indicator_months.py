"""indicator_department_monthly: the department rollup summed per local month

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

COUNTS = (
    'score_1', 'score_2', 'score_3', 'score_4', 'score_5',
    'follow_ups_on_time', 'follow_ups_late', 'follow_ups_open',
    'tickets', 'sentiment_known', 'negative', 'responded_on_time', 'responded_late',
    'unresponded', 'due', 'closed_on_time', 'closures', 'resolved_answers', 'resolved_yes',
    'satisfaction_answers', 'satisfied_answers',
)
UNTIL = ('follow_ups_open_until', 'unresponded_until')
FIRST = ('follow_ups_open_first', 'unresponded_first')


def upgrade() -> None:
    op.create_table(
        'indicator_department_monthly',
        sa.Column('department_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS[:8]),
        sa.Column('follow_ups_open_until', sa.Date(), nullable=True),
        sa.Column('follow_ups_open_first', sa.Date(), nullable=True),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS[8:14]),
        sa.Column('unresponded_until', sa.Date(), nullable=True),
        sa.Column('unresponded_first', sa.Date(), nullable=True),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS[14:]),
        sa.PrimaryKeyConstraint(
            'department_id', 'month', name=op.f('pk_indicator_department_monthly')
        ),
    )
    op.create_index(
        'ix_indicator_department_monthly_month', 'indicator_department_monthly', ['month'],
        unique=False,
    )
    # The months of the existing department rows (stale ones included: a reader skips the
    # month of a stale day, and the refresh that handles the day rewrites its month).
    if op.get_bind().dialect.name == 'postgresql':
        month = "CAST(date_trunc('month', day) AS date)"
    else:
        month = "date(day, 'start of month')"
    columns = (*COUNTS, *UNTIL, *FIRST)
    sums = (
        *(f'sum({name})' for name in COUNTS),
        *(f'max({name})' for name in UNTIL),
        *(f'min({name})' for name in FIRST),
    )
    op.execute(
        f"INSERT INTO indicator_department_monthly (department_id, month, {', '.join(columns)})"
        f" SELECT department_id, {month}, {', '.join(sums)} FROM indicator_department_daily"
        f" GROUP BY department_id, {month}"
    )


def downgrade() -> None:
    op.drop_index(
        'ix_indicator_department_monthly_month', table_name='indicator_department_monthly'
    )
    op.drop_table('indicator_department_monthly')
