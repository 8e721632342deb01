"""差评 follow-ups in steps: who verified and rectified, and what each of them wrote

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""
import contextlib
import warnings

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

VERIFIED_FK = 'fk_bad_review_follow_ups_verified_by_id_staff_users'
RECTIFIED_FK = 'fk_bad_review_follow_ups_rectified_by_id_staff_users'


@contextlib.contextmanager
def _follow_ups_table():
    # SQLite rebuilds the table and reflects staff_users on the way: SQLAlchemy cannot reflect
    # its lower(username) index and warns, but that table is left as it is.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            'ignore', 'Skipped unsupported reflection of expression-based index', sa.exc.SAWarning
        )
        with op.batch_alter_table('bad_review_follow_ups', schema=None) as batch_op:
            yield batch_op


def upgrade() -> None:
    with _follow_ups_table() as batch_op:
        batch_op.add_column(sa.Column('verified_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('verification_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('rectified_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('rectification_note', sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f(VERIFIED_FK), 'staff_users', ['verified_by_id'], ['id']
        )
        batch_op.create_foreign_key(
            batch_op.f(RECTIFIED_FK), 'staff_users', ['rectified_by_id'], ['id']
        )
    # A follow-up completed before the steps existed was verified and rectified by whoever
    # reported it back, in that one go.
    op.execute(
        "UPDATE bad_review_follow_ups SET verified_by_id = completed_by_id,"
        " rectified_by_id = completed_by_id"
        " WHERE completed_by_id IS NOT NULL"
    )


def downgrade() -> None:
    with _follow_ups_table() as batch_op:
        batch_op.drop_constraint(batch_op.f(RECTIFIED_FK), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f(VERIFIED_FK), type_='foreignkey')
        batch_op.drop_column('rectification_note')
        batch_op.drop_column('rectified_by_id')
        batch_op.drop_column('verification_note')
        batch_op.drop_column('verified_by_id')
