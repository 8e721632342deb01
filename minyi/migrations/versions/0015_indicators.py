"""weekly digests: staff_users.telegram_chat_id, staff_digests (one per officer and ISO week)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa
import minyi.db


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('staff_users', sa.Column('telegram_chat_id', sa.String(length=32), nullable=True))
    op.create_table(
        'staff_digests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('staff_user_id', sa.Integer(), nullable=False),
        sa.Column('week', sa.String(length=10), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('created_at', minyi.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ['staff_user_id'], ['staff_users.id'],
            name=op.f('fk_staff_digests_staff_user_id_staff_users'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_digests')),
        sa.UniqueConstraint('staff_user_id', 'week', name='uq_staff_digests_user_week'),
    )


def downgrade() -> None:
    op.drop_table('staff_digests')
    with op.batch_alter_table('staff_users') as batch:
        batch.drop_column('telegram_chat_id')
