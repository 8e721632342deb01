"""tickets: (praise_department_id, received_at) index for a department's 表扬 page

An officer's praise page read every closed ticket of the county in receipt order to find the
few thanking their department; praise_department_id is set on praise only, so this index
holds a handful of rows (partial: NULLs left out) and serves the page newest first.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets') as batch_op:
        batch_op.create_index(
            'ix_tickets_praise_department_received',
            ['praise_department_id', 'received_at'],
            unique=False,
            sqlite_where=sa.text('praise_department_id IS NOT NULL'),
            postgresql_where=sa.text('praise_department_id IS NOT NULL'),
        )


def downgrade() -> None:
    with op.batch_alter_table('tickets') as batch_op:
        batch_op.drop_index('ix_tickets_praise_department_received')
