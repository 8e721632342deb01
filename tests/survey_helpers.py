"""What the survey tests share: the documented template and a county that can import it."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

from tests.builders import make_department

DOCS = Path(__file__).resolve().parent.parent / "docs" / "surveys.md"
HALL = "hall-2026"


@cache
def _template_text() -> str:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("### Example: a county service-hall survey", 1)[1]
    return section.split("```json\n", 1)[1].split("```", 1)[0]


def hall_template() -> dict:
    """The service-hall template of docs/surveys.md, exactly as documented (a fresh copy)."""
    return copy.deepcopy(json.loads(_template_text()))


def hall_asking_first_visit() -> dict:
    """The hall template with a question put first: every question of the version it makes
    is a new row (a new id), whatever its key."""
    template = hall_template()
    template["questions"].insert(
        0,
        {
            "key": "first_visit",
            "type": "single",
            "text": {"zh": "您是第一次到大厅办事吗？"},
            "choices": [
                {"key": "yes", "text": {"zh": "是"}},
                {"key": "no", "text": {"zh": "不是"}},
            ],
        },
    )
    return template


def make_hall_departments(session) -> None:
    for code in ("zwfw", "rsj", "ybj"):
        make_department(session, code=code)


def full_answers(**overrides) -> dict:
    """A complete, valid web form for the hall survey (as the form would post it)."""
    answers = {
        "overall": "4",
        "recommend": "9",
        "how": "hall",
        "service": "social",
        "social_rating": "5",
        "visits": "one",
        "improve": ["queue", "guide"],
        "norms": "4",
        "suggest": "希望增加周末办理时间",
    }
    answers.update(overrides)
    return {key: value for key, value in answers.items() if value is not None}


def stored_answers(session_factory) -> int:
    """How many answers the responses hold (each response keeps its answers in one column)."""
    from sqlalchemy import select

    from minyi.models import SurveyResponse

    with session_factory() as session:
        return sum(len(a or {}) for a in session.scalars(select(SurveyResponse.answers)))


def results_as_recounted(session_factory, ctx, round_id) -> dict:
    """A round's results from its kept counts, checked against a recount of its answers
    (counts filed under another version's question ids, say, would differ)."""
    from surveys import results
    from surveys.counts import rebuild_counts

    with session_factory.begin() as session:
        kept = results.round_results(session, ctx, round_id, min_sample=1)
        rebuild_counts(session, round_id)
        assert results.round_results(session, ctx, round_id, min_sample=1) == kept
    return kept
