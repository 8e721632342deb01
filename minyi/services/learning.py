"""What the county's own data can teach nlp: routing corrections and rated comments.

`county_examples` reads them and hands back plain (text, label) lists; nlp.retrain does the
rest (nlp stays free of the database).

- A routing correction is the ticket's text with the department staff chose. The latest
  correction of a ticket wins (a ticket assigned, then reassigned, was wrong the first
  time). Its topic is the predicted one when the chosen department serves that topic (only
  the department was wrong), else the one topic whose [nlp] topic_departments list the
  department, else unknown (the department example is still kept).
- A rated comment is a rating's comment with score 1-2 (negative) or 4-5 (positive);
  3 says nothing either way, and ratings excluded by an approved appeal are left out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from minyi.config import Settings
from minyi.models import Department, Rating, RoutingCorrection
from minyi.services.actors import Actor
from minyi.services.permissions import require

NEGATIVE_MAX_SCORE = 2
POSITIVE_MIN_SCORE = 4


@dataclass
class CountyExamples:
    """Training examples from the county's data, as plain lists."""

    topic: list[tuple[str, str]] = field(default_factory=list)
    department: list[tuple[str, str]] = field(default_factory=list)
    sentiment: list[tuple[str, int]] = field(default_factory=list)
    # Corrections whose department serves several topics (or none): no topic example.
    corrections_without_topic: int = 0


def topics_of_departments(settings: Settings) -> dict[str, list[str]]:
    """Department code -> the topics whose [nlp] topic_departments list it, in file order."""
    topics: dict[str, list[str]] = defaultdict(list)
    for topic, codes in settings.nlp.topic_departments.items():
        for code in codes:
            topics[code].append(topic)
    return topics


def corrected_topic(
    topics_of: dict[str, list[str]], predicted_topic: str | None, department_code: str
) -> str | None:
    """The topic a correction to `department_code` implies (see the module docstring)."""
    topics = topics_of.get(department_code, [])
    if predicted_topic in topics:
        return predicted_topic
    return topics[0] if len(topics) == 1 else None


def county_examples(session: Session, settings: Settings, *, actor: Actor) -> CountyExamples:
    """The county's routing corrections and rated comments as training examples."""
    require(actor, "nlp.retrain")
    latest = select(func.max(RoutingCorrection.id)).group_by(RoutingCorrection.ticket_id)
    corrections = session.execute(
        select(RoutingCorrection.text, RoutingCorrection.predicted_topic, Department.code)
        .join(Department, Department.id == RoutingCorrection.corrected_department_id)
        .where(RoutingCorrection.id.in_(latest))
        .order_by(RoutingCorrection.id)
    ).all()
    out = CountyExamples()
    topics_of = topics_of_departments(settings)
    for text, predicted, code in corrections:
        text = (text or "").strip()
        if not text:
            continue
        out.department.append((text, code))
        topic = corrected_topic(topics_of, predicted, code)
        if topic is None:
            out.corrections_without_topic += 1
        else:
            out.topic.append((text, topic))
    rated = session.execute(
        select(Rating.comment, Rating.score)
        .where(
            Rating.comment.is_not(None),
            Rating.excluded.is_(False),
            (Rating.score <= NEGATIVE_MAX_SCORE) | (Rating.score >= POSITIVE_MIN_SCORE),
        )
        .order_by(Rating.id)
    ).all()
    for comment, score in rated:
        comment = comment.strip()
        if comment:
            out.sentiment.append((comment, 1 if score >= POSITIVE_MIN_SCORE else 0))
    return out
