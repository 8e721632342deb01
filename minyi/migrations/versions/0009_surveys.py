"""surveys: versioned definitions, schedules, rounds, invitations, responses and answers

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

The survey engine (surveys/) keeps each published definition as an immutable version with its
questions as rows, rounds with open and close times (planned from schedules by the worker),
single-use invitations stored as token hashes, one response per respondent and round (drafts
while answering), and submitted answers in one table that results aggregate.
"""
from alembic import op
import sqlalchemy as sa
import minyi.db


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('surveys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=60), nullable=False),
    sa.Column('archived_at', minyi.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', minyi.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_surveys')),
    sa.UniqueConstraint('slug', name=op.f('uq_surveys_slug'))
    )
    op.create_table('survey_schedules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('cron', sa.String(length=100), nullable=False),
    sa.Column('open_days', sa.Integer(), nullable=False),
    sa.Column('invitation_only', sa.Boolean(), nullable=False),
    sa.Column('invite_subscribers', sa.Boolean(), nullable=False),
    sa.Column('remind_hours_before', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', minyi.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_survey_schedules_survey_id_surveys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_schedules'))
    )
    with op.batch_alter_table('survey_schedules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_schedules_survey_id'), ['survey_id'], unique=False)

    op.create_table('survey_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('published_at', minyi.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', minyi.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_survey_versions_survey_id_surveys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_versions')),
    sa.UniqueConstraint('survey_id', 'number', name='uq_survey_versions_number')
    )
    op.create_table('survey_questions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_survey_questions_department_id_departments')),
    sa.ForeignKeyConstraint(['version_id'], ['survey_versions.id'], name=op.f('fk_survey_questions_version_id_survey_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_questions')),
    sa.UniqueConstraint('version_id', 'key', name='uq_survey_questions_key')
    )
    with op.batch_alter_table('survey_questions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_questions_department_id'), ['department_id'], unique=False)

    op.create_table('survey_rounds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=True),
    sa.Column('version_id', sa.Integer(), nullable=True),
    sa.Column('schedule_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('scheduled', 'open', 'closed', name='round_status', native_enum=False, length=20), nullable=False),
    sa.Column('opens_at', minyi.db.UTCDateTime(), nullable=False),
    sa.Column('closes_at', minyi.db.UTCDateTime(), nullable=False),
    sa.Column('invitation_only', sa.Boolean(), nullable=False),
    sa.Column('invite_subscribers', sa.Boolean(), nullable=False),
    sa.Column('remind_at', minyi.db.UTCDateTime(), nullable=True),
    sa.Column('opened_at', minyi.db.UTCDateTime(), nullable=True),
    sa.Column('closed_at', minyi.db.UTCDateTime(), nullable=True),
    sa.Column('invitations_done_at', minyi.db.UTCDateTime(), nullable=True),
    sa.Column('reminders_done_at', minyi.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', minyi.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['schedule_id'], ['survey_schedules.id'], name=op.f('fk_survey_rounds_schedule_id_survey_schedules')),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_survey_rounds_survey_id_surveys')),
    sa.ForeignKeyConstraint(['version_id'], ['survey_versions.id'], name=op.f('fk_survey_rounds_version_id_survey_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_rounds')),
    sa.UniqueConstraint('schedule_id', 'opens_at', name='uq_survey_rounds_schedule_opens'),
    sa.UniqueConstraint('survey_id', 'number', name='uq_survey_rounds_number')
    )
    with op.batch_alter_table('survey_rounds', schema=None) as batch_op:
        batch_op.create_index('ix_survey_rounds_status_opens', ['status', 'opens_at'], unique=False)

    op.create_table('survey_invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('citizen_id', sa.Integer(), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('reminder_token_hash', sa.String(length=64), nullable=True),
    sa.Column('reminded_at', minyi.db.UTCDateTime(), nullable=True),
    sa.Column('used_at', minyi.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', minyi.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_survey_invitations_citizen_id_citizens')),
    sa.ForeignKeyConstraint(['round_id'], ['survey_rounds.id'], name=op.f('fk_survey_invitations_round_id_survey_rounds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_invitations')),
    sa.UniqueConstraint('reminder_token_hash', name=op.f('uq_survey_invitations_reminder_token_hash')),
    sa.UniqueConstraint('round_id', 'citizen_id', name='uq_survey_invitations_citizen'),
    sa.UniqueConstraint('token_hash', name=op.f('uq_survey_invitations_token_hash'))
    )
    with op.batch_alter_table('survey_invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_invitations_citizen_id'), ['citizen_id'], unique=False)

    op.create_table('survey_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('respondent_key', sa.String(length=100), nullable=False),
    sa.Column('citizen_id', sa.Integer(), nullable=True),
    sa.Column('invitation_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.Enum('telegram', 'web', 'survey', 'import', 'phone', name='channel', native_enum=False, length=20), nullable=False),
    sa.Column('draft', sa.JSON(), nullable=True),
    sa.Column('file_complaints', sa.Boolean(), nullable=False),
    sa.Column('started_at', minyi.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', minyi.db.UTCDateTime(), nullable=False),
    sa.Column('submitted_at', minyi.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_survey_responses_citizen_id_citizens')),
    sa.ForeignKeyConstraint(['invitation_id'], ['survey_invitations.id'], name=op.f('fk_survey_responses_invitation_id_survey_invitations')),
    sa.ForeignKeyConstraint(['round_id'], ['survey_rounds.id'], name=op.f('fk_survey_responses_round_id_survey_rounds')),
    sa.ForeignKeyConstraint(['version_id'], ['survey_versions.id'], name=op.f('fk_survey_responses_version_id_survey_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_responses')),
    sa.UniqueConstraint('round_id', 'respondent_key', name='uq_survey_responses_respondent')
    )
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_responses_citizen_id'), ['citizen_id'], unique=False)
        batch_op.create_index('ix_survey_responses_round_submitted', ['round_id', 'submitted_at'], unique=False)

    op.create_table('survey_answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.SmallInteger(), nullable=True),
    sa.Column('choice', sa.String(length=400), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('topic', sa.String(length=40), nullable=True),
    sa.Column('sentiment_label', sa.String(length=10), nullable=True),
    sa.Column('sentiment_score', sa.Float(), nullable=True),
    sa.Column('keywords', sa.JSON(), nullable=True),
    sa.Column('analysed_at', minyi.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['question_id'], ['survey_questions.id'], name=op.f('fk_survey_answers_question_id_survey_questions')),
    sa.ForeignKeyConstraint(['response_id'], ['survey_responses.id'], name=op.f('fk_survey_answers_response_id_survey_responses')),
    sa.ForeignKeyConstraint(['round_id'], ['survey_rounds.id'], name=op.f('fk_survey_answers_round_id_survey_rounds')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_survey_answers_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_answers')),
    sa.UniqueConstraint('response_id', 'question_id', name='uq_survey_answers_question')
    )
    with op.batch_alter_table('survey_answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_answers_question_id'), ['question_id'], unique=False)
        batch_op.create_index('ix_survey_answers_round_question', ['round_id', 'question_id'], unique=False)
        batch_op.create_index(
            'ix_survey_answers_unanalysed', ['id'], unique=False,
            sqlite_where=sa.text('text IS NOT NULL AND analysed_at IS NULL'),
            postgresql_where=sa.text('text IS NOT NULL AND analysed_at IS NULL'),
        )


    op.create_table('survey_answer_counts',
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.String(length=400), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['question_id'], ['survey_questions.id'], name=op.f('fk_survey_answer_counts_question_id_survey_questions')),
    sa.ForeignKeyConstraint(['round_id'], ['survey_rounds.id'], name=op.f('fk_survey_answer_counts_round_id_survey_rounds')),
    sa.PrimaryKeyConstraint('round_id', 'question_id', 'value', name=op.f('pk_survey_answer_counts'))
    )


def downgrade() -> None:
    op.drop_table('survey_answer_counts')
    with op.batch_alter_table('survey_answers', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_answers_unanalysed')
        batch_op.drop_index('ix_survey_answers_round_question')
        batch_op.drop_index(batch_op.f('ix_survey_answers_question_id'))

    op.drop_table('survey_answers')
    with op.batch_alter_table('survey_responses', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_responses_round_submitted')
        batch_op.drop_index(batch_op.f('ix_survey_responses_citizen_id'))

    op.drop_table('survey_responses')
    with op.batch_alter_table('survey_invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_invitations_citizen_id'))

    op.drop_table('survey_invitations')
    with op.batch_alter_table('survey_rounds', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_rounds_status_opens')

    op.drop_table('survey_rounds')
    with op.batch_alter_table('survey_questions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_questions_department_id'))

    op.drop_table('survey_questions')
    op.drop_table('survey_versions')
    with op.batch_alter_table('survey_schedules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_schedules_survey_id'))

    op.drop_table('survey_schedules')
    op.drop_table('surveys')
