"""tickets: indexes for the staff inbox (open tickets by due date; by status and receipt)

ix_tickets_status_received replaces ix_tickets_status: it leads with the same column, so it
serves every query the old one did, and also the ones ordered by receipt within a status.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

OPEN = sa.text("status != 'closed'")


def upgrade() -> None:
    op.create_index(
        'ix_tickets_open_due', 'tickets', ['due_date'], sqlite_where=OPEN, postgresql_where=OPEN
    )
    op.create_index(
        'ix_tickets_open_department_due', 'tickets', ['department_id', 'due_date'],
        sqlite_where=OPEN, postgresql_where=OPEN,
    )
    op.create_index('ix_tickets_status_received', 'tickets', ['status', 'received_at'])
    op.drop_index('ix_tickets_status', table_name='tickets')
    op.create_index('ix_tickets_received', 'tickets', ['received_at'])


def downgrade() -> None:
    op.drop_index('ix_tickets_received', table_name='tickets')
    op.create_index('ix_tickets_status', 'tickets', ['status'])
    op.drop_index('ix_tickets_status_received', table_name='tickets')
    op.drop_index('ix_tickets_open_department_due', table_name='tickets')
    op.drop_index('ix_tickets_open_due', table_name='tickets')
