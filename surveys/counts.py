"""Answer counts per round, UTC day, question and value: bumped at each submit, read by the
results and by 调查满意度.

Answers are written once (at submit) and never changed, so counting them as they arrive is
exact, and a round's results cost the same for 100 responses as for 100,000.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from minyi.models import SurveyAnswerCount, SurveyQuestion, SurveyResponse
from surveys.catalog import version_definition
from surveys.definition import Question
from surveys.rounds import get_round_by_id

CHUNK = 5000


def count_value(question: Question, answer: Any) -> str:
    """The counted value of a stored answer: the number, the choice(s), "" for text."""
    if question.scale is not None:
        return str(answer)
    if question.kind == "multiple":
        return ";".join(answer)
    if question.kind == "single":
        return answer
    return ""


def count_day(submitted_at: datetime) -> date:
    """The day a submit is counted in: its UTC date (a county's time zone may change)."""
    return submitted_at.astimezone(UTC).date()


def bump_counts(
    session: Session, round_id: int, submitted_at: datetime, values: list[tuple[int, str]]
) -> None:
    """Add one to each (question id, value) of a round on the submit's day (one upsert,
    executed for each row).

    Rows go in a fixed order, so two submits to one round lock them in the same order and
    never deadlock on PostgreSQL.
    """
    if not values:
        return
    connection = session.connection()
    dialect = connection.dialect.name
    day = count_day(submitted_at)
    connection.execute(
        _UPSERT[dialect if dialect == "postgresql" else "sqlite"],
        [
            {"round_id": round_id, "day": day, "question_id": q, "value": v}
            for q, v in sorted(values)
        ],
    )


def _upsert(insert):
    # One constant statement per dialect, so SQLAlchemy compiles it once.
    table = SurveyAnswerCount.__table__
    return (
        insert(table)
        .values(
            round_id=bindparam("round_id"),
            day=bindparam("day"),
            question_id=bindparam("question_id"),
            value=bindparam("value"),
            count=1,
        )
        .on_conflict_do_update(
            index_elements=[table.c.round_id, table.c.day, table.c.question_id, table.c.value],
            set_={"count": table.c.count + 1},
        )
    )


_UPSERT = {"postgresql": _upsert(postgresql.insert), "sqlite": _upsert(sqlite.insert)}


def read_counts(session: Session, round_id: int, version_id: int) -> dict[str, dict]:
    """key -> {value: count} of a round: ints for numeric questions, strings otherwise."""
    questions = {
        question_id: (key, kind)
        for question_id, key, kind in session.execute(
            select(SurveyQuestion.id, SurveyQuestion.key, SurveyQuestion.kind).where(
                SurveyQuestion.version_id == version_id
            )
        )
    }
    out: dict[str, dict] = defaultdict(dict)
    rows = session.execute(
        select(
            SurveyAnswerCount.question_id,
            SurveyAnswerCount.value,
            func.sum(SurveyAnswerCount.count),
        )
        .where(SurveyAnswerCount.round_id == round_id)
        .group_by(SurveyAnswerCount.question_id, SurveyAnswerCount.value)
    )
    for question_id, value, count in rows:
        key, kind = questions[question_id]
        out[key][int(value) if kind in ("rating", "rubric", "nps") else value] = int(count)
    return out


def rebuild_counts(session: Session, round_id: int) -> int:
    """Recount a round from its responses' answers (a repair, or after a bulk load); returns
    the rows written."""
    round_ = get_round_by_id(session, round_id)
    session.execute(delete(SurveyAnswerCount).where(SurveyAnswerCount.round_id == round_.id))
    definition = version_definition(round_.version) if round_.version else None
    ids = dict(
        session.execute(
            select(SurveyQuestion.key, SurveyQuestion.id).where(
                SurveyQuestion.version_id == round_.version_id
            )
        ).all()
    )
    counts: dict[tuple[date, int, str], int] = defaultdict(int)
    rows = session.execute(
        select(SurveyResponse.submitted_at, SurveyResponse.answers)
        .where(SurveyResponse.round_id == round_.id, SurveyResponse.submitted_at.is_not(None))
        .execution_options(yield_per=CHUNK)
    )
    for submitted_at, answers in rows:
        day = count_day(submitted_at)
        for key, value in (answers or {}).items():
            question = definition.question(key) if definition else None
            if value is not None and question is not None and key in ids:
                counts[(day, ids[key], count_value(question, value))] += 1
    session.add_all(
        SurveyAnswerCount(round_id=round_.id, day=d, question_id=q, value=v, count=c)
        for (d, q, v), c in counts.items()
    )
    session.flush()
    return len(counts)
