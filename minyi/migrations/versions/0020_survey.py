"""survey answers on the response row; text answer rows only; answer counts per UTC day

A submit wrote a response row, one answer row per question (each on its own index page) and
the count rows: about ten times the pages of a plain insert. Now the answers are one JSON
column of the response, survey_answers keeps only the text answers (the NLP's work items and
the complaints' links) with two indexes instead of three and no unique (response, question),
the citizen index leaves out the web visitors' responses (no citizen), and the counts are kept
per UTC day of submission (without a rowid table on SQLite), so that a period cutting a round
reads its whole days from them.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02
"""
from collections import defaultdict

from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

CHUNK = 5000
NUMERIC = ('rating', 'rubric', 'nps')

responses = sa.table(
    'survey_responses',
    sa.column('id', sa.Integer()),
    sa.column('round_id', sa.Integer()),
    sa.column('version_id', sa.Integer()),
    sa.column('submitted_at', sa.DateTime()),
    sa.column('answers', sa.JSON()),
)


def _count_value(kind, value):
    # As surveys.counts.count_value: the number, the choice(s) joined by ";", "" for text.
    if kind in NUMERIC:
        return str(value)
    if kind == 'multiple':
        return ';'.join(value)
    if kind == 'single':
        return value
    return ''


def _create_counts(*, by_day: bool):
    """survey_answer_counts as this revision keeps it (per UTC day) or as 0019 did."""
    day = ['day'] if by_day else []
    return op.create_table(
        'survey_answer_counts',
        sa.Column('round_id', sa.Integer(), nullable=False),
        *([sa.Column('day', sa.Date(), nullable=False)] if by_day else []),
        sa.Column('question_id', sa.Integer(), nullable=False),
        sa.Column('value', sa.String(length=400), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['question_id'], ['survey_questions.id'],
            name=op.f('fk_survey_answer_counts_question_id_survey_questions'),
        ),
        sa.ForeignKeyConstraint(
            ['round_id'], ['survey_rounds.id'],
            name=op.f('fk_survey_answer_counts_round_id_survey_rounds'),
        ),
        sa.PrimaryKeyConstraint(
            'round_id', *day, 'question_id', 'value', name=op.f('pk_survey_answer_counts')
        ),
        **({'sqlite_with_rowid': False} if by_day else {}),
    )


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table('survey_responses') as batch_op:
        batch_op.add_column(sa.Column('answers', sa.JSON(), nullable=True))

    questions = {
        qid: (version_id, key, kind)
        for qid, version_id, key, kind in bind.execute(
            sa.text('SELECT id, version_id, key, kind FROM survey_questions')
        )
    }
    by_key = {(v, key): (qid, kind) for qid, (v, key, kind) in questions.items()}

    # Each submitted response's answer rows become its answers column, chunk by chunk.
    last = 0
    update = (
        responses.update()
        .where(responses.c.id == sa.bindparam('rid'))
        .values(answers=sa.bindparam('stored'))
    )
    while True:
        ids = [
            row[0]
            for row in bind.execute(
                sa.text(
                    'SELECT id FROM survey_responses WHERE submitted_at IS NOT NULL AND id > :last'
                    ' ORDER BY id LIMIT :n'
                ),
                {'last': last, 'n': CHUNK},
            )
        ]
        if not ids:
            break
        last = ids[-1]
        stored = {rid: {} for rid in ids}
        rows = bind.execute(
            sa.text(
                'SELECT response_id, question_id, number, choice, text FROM survey_answers'
                ' WHERE response_id >= :first AND response_id <= :last'
            ),
            {'first': ids[0], 'last': last},
        )
        for rid, qid, number, choice, text in rows:
            if rid not in stored:
                continue
            _, key, kind = questions[qid]
            if number is not None:
                value = number
            elif kind == 'multiple':
                value = choice.split(';') if choice else []
            elif choice is not None:
                value = choice
            else:
                value = text
            stored[rid][key] = value
        # Ordered as the questions are, like a submit's answers.
        bind.execute(update, [{'rid': rid, 'stored': answers} for rid, answers in stored.items()])

    # Only the text answers keep a row; a skipped text needs none.
    op.execute(
        "DELETE FROM survey_answers WHERE text IS NULL OR question_id IN"
        " (SELECT id FROM survey_questions WHERE kind <> 'text')"
    )
    with op.batch_alter_table('survey_answers') as batch_op:
        batch_op.drop_constraint('uq_survey_answers_question', type_='unique')
        batch_op.drop_index('ix_survey_answers_question_round')
        batch_op.drop_column('number')
        batch_op.drop_column('choice')
        batch_op.alter_column('text', existing_type=sa.Text(), nullable=False)
        batch_op.create_index('ix_survey_answers_round_id', ['round_id'], unique=False)
    # A web visitor's response has no citizen: the citizen index leaves those rows out.
    with op.batch_alter_table('survey_responses') as batch_op:
        batch_op.drop_index('ix_survey_responses_citizen_id')
        batch_op.create_index(
            'ix_survey_responses_citizen_id', ['citizen_id'], unique=False,
            sqlite_where=sa.text('citizen_id IS NOT NULL'),
            postgresql_where=sa.text('citizen_id IS NOT NULL'),
        )

    # The counts, per UTC day of submission, recounted from the answers columns.
    op.drop_table('survey_answer_counts')
    counts_table = _create_counts(by_day=True)
    counts = defaultdict(int)
    query = (
        sa.select(
            responses.c.round_id,
            responses.c.version_id,
            responses.c.submitted_at,
            responses.c.answers,
        )
        .where(responses.c.submitted_at.is_not(None))
        .execution_options(yield_per=CHUNK)
    )
    for round_id, version_id, submitted_at, answers in bind.execute(query):
        for key, value in (answers or {}).items():
            if value is None or (version_id, key) not in by_key:
                continue
            qid, kind = by_key[(version_id, key)]
            counts[(round_id, submitted_at.date(), qid, _count_value(kind, value))] += 1
    rows = [
        {'round_id': r, 'day': d, 'question_id': q, 'value': v, 'count': c}
        for (r, d, q, v), c in counts.items()
    ]
    for first in range(0, len(rows), CHUNK):
        op.bulk_insert(counts_table, rows[first:first + CHUNK])


def downgrade() -> None:
    bind = op.get_bind()
    questions = {
        (version_id, key): (qid, kind)
        for qid, version_id, key, kind in bind.execute(
            sa.text('SELECT id, version_id, key, kind FROM survey_questions')
        )
    }
    with op.batch_alter_table('survey_answers') as batch_op:
        batch_op.add_column(sa.Column('number', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('choice', sa.String(length=400), nullable=True))
        batch_op.alter_column('text', existing_type=sa.Text(), nullable=True)
        batch_op.drop_index('ix_survey_answers_round_id')

    # Every answer but the text ones (they kept their rows) becomes a row again.
    answers_table = sa.table(
        'survey_answers',
        sa.column('response_id', sa.Integer()),
        sa.column('round_id', sa.Integer()),
        sa.column('question_id', sa.Integer()),
        sa.column('number', sa.SmallInteger()),
        sa.column('choice', sa.String()),
    )
    query = (
        sa.select(responses.c.id, responses.c.round_id, responses.c.version_id, responses.c.answers)
        .where(responses.c.submitted_at.is_not(None))
        .execution_options(yield_per=CHUNK)
    )
    rows = []
    for rid, round_id, version_id, answers in bind.execute(query).all():
        for key, value in (answers or {}).items():
            qid, kind = questions.get((version_id, key), (None, None))
            if qid is None or value is None or kind == 'text':
                continue
            number = value if kind in NUMERIC else None
            choice = None if kind in NUMERIC else _count_value(kind, value)
            rows.append({'response_id': rid, 'round_id': round_id, 'question_id': qid,
                         'number': number, 'choice': choice})  # fmt: skip
    for first in range(0, len(rows), CHUNK):
        op.bulk_insert(answers_table, rows[first:first + CHUNK])
    with op.batch_alter_table('survey_answers') as batch_op:
        batch_op.create_unique_constraint(
            'uq_survey_answers_question', ['response_id', 'question_id']
        )
        batch_op.create_index(
            'ix_survey_answers_question_round', ['question_id', 'round_id'], unique=False
        )
    with op.batch_alter_table('survey_responses') as batch_op:
        batch_op.drop_index('ix_survey_responses_citizen_id')
        batch_op.create_index('ix_survey_responses_citizen_id', ['citizen_id'], unique=False)
        batch_op.drop_column('answers')

    # The day counts summed back into one count per round, question and value.
    totals = [
        {'round_id': r, 'question_id': q, 'value': v, 'count': int(n)}
        for r, q, v, n in bind.execute(
            sa.text(
                'SELECT round_id, question_id, value, SUM(count) FROM survey_answer_counts'
                ' GROUP BY round_id, question_id, value'
            )
        )
    ]
    op.drop_table('survey_answer_counts')
    counts_table = _create_counts(by_day=False)
    for first in range(0, len(totals), CHUNK):
        op.bulk_insert(counts_table, totals[first:first + CHUNK])
