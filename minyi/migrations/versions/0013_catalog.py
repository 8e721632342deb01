"""catalogue: outlets (service halls) can be deactivated like departments and services

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing halls stay in use: the server default fills the new column for them.
    op.add_column(
        'outlets', sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table('outlets') as batch:
        batch.drop_column('active')
