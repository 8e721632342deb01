"""indicator_stale: ids never reused on SQLite (AUTOINCREMENT)

The scheduler's refresh reads the stale markers and recomputes their days without the write
lock, then, in a short write, applies its rows only if all the markers it read are still
there. Without AUTOINCREMENT SQLite hands the ids of deleted markers out again once the table
is empty, so a marker written after the plan could pass for one of its own and be dropped
with the plan's older rows. PostgreSQL's sequence never reuses an id: nothing to do there.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""
from alembic import op


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    with op.batch_alter_table(
        'indicator_stale', recreate='always', table_kwargs={'sqlite_autoincrement': True}
    ):
        pass


def downgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    with op.batch_alter_table(
        'indicator_stale', recreate='always', table_kwargs={'sqlite_autoincrement': False}
    ):
        pass
