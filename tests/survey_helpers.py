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
