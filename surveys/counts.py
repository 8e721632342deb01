"""Answer counts per round, question and value: bumped at each submit, read by the results.

Answers are written once (at submit) and never changed, so counting them as they arrive is
exact, and a round's results cost the same for 100 responses as for 100,000.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from minyi.models import SurveyAnswer, SurveyAnswerCount, SurveyQuestion, SurveyRound
from surveys.definition import Question


def count_value(question: Question, answer: Any) -> str:
    """The counted value of a stored answer: the number, the choice(s), "" for text."""
    if question.scale is not None:
        return str(answer)
    if question.kind == "multiple":
        return ";".join(answer)
    if question.kind == "single":
        return answer
    return ""


def bump_counts(session: Session, round_id: int, values: list[tuple[int, str]]) -> None:
    """Add one to each (question id, value) of a round (one upsert, executed for each row).

    Rows go in a fixed order, so two submits to one round lock them in the same order and
    never deadlock on PostgreSQL.
    """
    if not values:
        return
    connection = session.connection()
    dialect = connection.dialect.name
    connection.execute(
        _UPSERT[dialect if dialect == "postgresql" else "sqlite"],
        [{"round_id": round_id, "question_id": q, "value": v} for q, v in sorted(values)],
    )


def _upsert(insert):
    # One constant statement per dialect, so SQLAlchemy compiles it once.
    table = SurveyAnswerCount.__table__
    return (
        insert(table)
        .values(
            round_id=bindparam("round_id"),
            question_id=bindparam("question_id"),
            value=bindparam("value"),
            count=1,
        )
        .on_conflict_do_update(
            index_elements=[table.c.round_id, table.c.question_id, table.c.value],
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
            SurveyAnswerCount.question_id, SurveyAnswerCount.value, SurveyAnswerCount.count
        ).where(SurveyAnswerCount.round_id == round_id)
    )
    for question_id, value, count in rows:
        key, kind = questions[question_id]
        out[key][int(value) if kind in ("rating", "rubric", "nps") else value] = count
    return out


def rebuild_counts(session: Session, round_id: int) -> int:
    """Recount a round from its answers (a repair, or after a bulk load); returns rows written."""
    session.execute(delete(SurveyAnswerCount).where(SurveyAnswerCount.round_id == round_id))
    rows = session.execute(
        select(
            SurveyAnswer.question_id,
            SurveyAnswer.number,
            SurveyAnswer.choice,
            func.count(),
        )
        .where(
            # The round's version's questions: the answers' index leads by question.
            SurveyAnswer.question_id.in_(
                select(SurveyQuestion.id).where(
                    SurveyQuestion.version_id
                    == select(SurveyRound.version_id)
                    .where(SurveyRound.id == round_id)
                    .scalar_subquery()
                )
            ),
            SurveyAnswer.round_id == round_id,
        )
        .group_by(SurveyAnswer.question_id, SurveyAnswer.number, SurveyAnswer.choice)
    ).all()
    counts: dict[tuple[int, str], int] = defaultdict(int)
    for question_id, number, choice, count in rows:
        value = str(number) if number is not None else (choice if choice is not None else "")
        counts[(question_id, value)] += count
    session.add_all(
        SurveyAnswerCount(round_id=round_id, question_id=q, value=v, count=c)
        for (q, v), c in counts.items()
    )
    session.flush()
    return len(counts)
