"""tickets: request type (诉求类型) and its probability; the department a praise names

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_type', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('request_type_probability', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('praise_department_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_tickets_praise_department_id_departments'),
            'departments',
            ['praise_department_id'],
            ['id'],
        )


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_tickets_praise_department_id_departments'), type_='foreignkey'
        )
        batch_op.drop_column('praise_department_id')
        batch_op.drop_column('request_type_probability')
        batch_op.drop_column('request_type')
