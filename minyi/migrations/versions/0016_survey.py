"""survey answers: one (question_id, round_id) index instead of (question_id) and (round_id, question_id)

Each of the two old indexes put a submit's answers on as many index pages as it has questions,
so a 10-question submit wrote about 28 pages to the SQLite WAL; one index leading by question
serves the lookups of both (a question's answers, and a round's answers to given questions)
and the foreign-key checks of deleted draft questions, for about 19 pages a submit.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('survey_answers') as batch_op:
        batch_op.create_index(
            'ix_survey_answers_question_round', ['question_id', 'round_id'], unique=False
        )
        batch_op.drop_index('ix_survey_answers_round_question')
        batch_op.drop_index('ix_survey_answers_question_id')


def downgrade() -> None:
    with op.batch_alter_table('survey_answers') as batch_op:
        batch_op.create_index('ix_survey_answers_question_id', ['question_id'], unique=False)
        batch_op.create_index(
            'ix_survey_answers_round_question', ['round_id', 'question_id'], unique=False
        )
        batch_op.drop_index('ix_survey_answers_question_round')
