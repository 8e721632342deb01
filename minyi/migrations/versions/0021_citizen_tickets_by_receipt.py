"""tickets: a citizen's tickets by receipt (citizen_id, received_at)

The daily complaint limit counts the citizen's tickets of the day at every filing; with an
index on citizen_id alone that read every ticket the citizen had ever filed. The new index
leads with the same column, so it serves every query ix_tickets_citizen_id did (the foreign
key's lookups included) and replaces it.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02
"""
from alembic import op


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_tickets_citizen_received', 'tickets', ['citizen_id', 'received_at'])
    op.drop_index('ix_tickets_citizen_id', table_name='tickets')


def downgrade() -> None:
    op.create_index('ix_tickets_citizen_id', 'tickets', ['citizen_id'])
    op.drop_index('ix_tickets_citizen_received', table_name='tickets')
