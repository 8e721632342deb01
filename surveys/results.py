"""Results of a round, the comparison with the previous round, and department scores.

Everything is computed from the answer counts kept at each submit (surveys.counts: per
question and value), so a round of 100,000 responses needs no per-response work. Free-text
answers are analysed by the worker (`analyse_text_answers`); their topics, sentiment and
keywords are aggregated here. Like the indicators, a mean, share or NPS whose sample is below
`[indicators] min_denominator` is null and its question listed under `insufficient`; counts
are always given.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from minyi.indicators import SATISFACTION_KIND, satisfied_of, survey_score_counts, survey_share
from minyi.models import (
    Department,
    SurveyAnswer,
    SurveyAnswerCount,
    SurveyInvitation,
    SurveyQuestion,
    SurveyResponse,
    SurveyRound,
    SurveyVersion,
)
from minyi.services.catalog import get_department
from minyi.services.context import ServiceContext
from surveys import stats
from surveys.catalog import get_survey, version_definition
from surveys.counts import read_counts
from surveys.definition import Question
from surveys.rounds import get_round_by_id, previous_round

log = logging.getLogger(__name__)

# Keywords of a text question are drawn from its latest answers, not all of a huge round.
KEYWORD_SAMPLE = 2000
TOP_KEYWORDS = 10


def round_results(
    session: Session, ctx: ServiceContext, round_id: object, *, min_sample: int | None = None
) -> dict[str, Any]:
    """Per question: counts, mean with 95% interval, NPS, shares; response count and rate."""
    round_ = get_round_by_id(session, round_id)
    minimum = ctx.settings.indicators.min_denominator if min_sample is None else min_sample
    out: dict[str, Any] = {
        "survey": round_.survey.slug,
        "round": round_.number,
        "version": round_.version.number if round_.version else None,
        "status": str(round_.status),
        "opens_at": round_.opens_at.isoformat(),
        "closes_at": round_.closes_at.isoformat(),
        "min_sample": minimum,
    }
    submitted = (SurveyResponse.round_id == round_.id, SurveyResponse.submitted_at.is_not(None))
    # count(*) is answered from the (round_id, submitted_at) index alone.
    responses = session.scalar(select(func.count()).select_from(SurveyResponse).where(*submitted))
    invited = session.scalar(
        select(func.count(SurveyInvitation.id)).where(SurveyInvitation.round_id == round_.id)
    )
    out["responses"] = responses
    out["invited"] = invited or None
    if invited:
        invited_responses = session.scalar(
            select(func.count(SurveyResponse.invitation_id)).where(*submitted)
        )
        out["response_rate"] = invited_responses / invited
        out["response_rate_ci"] = _pair(stats.wilson_interval(invited_responses, invited))
    else:
        out["response_rate"] = out["response_rate_ci"] = None
    out["questions"] = {}
    out["insufficient"] = []
    if round_.version is None:
        return out
    definition = version_definition(round_.version)
    counts = _value_counts(session, round_.id, round_.version_id)
    texts = _text_summaries(session, round_.id, round_.version_id, definition)
    for question in definition.questions:
        summary = summarise(question, counts.get(question.key, {}), minimum)
        if question.kind == "text":
            summary |= texts.get(question.key, _empty_text_summary())
        if summary.pop("_insufficient", False):
            out["insufficient"].append(question.key)
        out["questions"][question.key] = summary
    return out


def summarise(question: Question, values: dict, minimum: int) -> dict[str, Any]:
    """One question's figures from its counts (value -> count; for multiple, combo -> count)."""
    summary: dict[str, Any] = {"type": question.kind, "department": question.department}
    if question.scale is not None:
        low, high = question.scale
        counts = {v: values.get(v, 0) for v in range(low, high + 1)}
        n, mean, sd = stats.mean_sd(counts)
        enough = n >= minimum and n > 0
        summary |= {
            "n": n,
            "counts": {str(v): c for v, c in counts.items()},
            "mean": _round(mean) if enough else None,
            "mean_ci": _pair(stats.mean_interval(n, mean, sd)) if enough else None,
        }
        if question.kind == "nps":
            _, score, interval = stats.nps(counts)
            summary |= {
                "promoters": sum(c for v, c in counts.items() if v >= 9),
                "passives": counts[7] + counts[8],
                "detractors": sum(c for v, c in counts.items() if v <= 6),
                "nps": _round(score) if enough else None,
                "nps_ci": _pair(interval) if enough else None,
            }
        else:
            satisfied = counts[4] + counts[5]
            summary |= {
                "satisfied": satisfied,
                "satisfaction_rate": _round(satisfied / n) if enough else None,
                "satisfaction_ci": _pair(stats.wilson_interval(satisfied, n)) if enough else None,
            }
        summary["_insufficient"] = not enough
        return summary
    if question.kind in ("single", "multiple"):
        per_choice = Counter()
        n = 0
        for combo, count in values.items():
            n += count
            for key in combo.split(";") if question.kind == "multiple" else [combo]:
                per_choice[key] += count
        enough = n >= minimum and n > 0
        summary |= {
            "n": n,
            "counts": {key: per_choice.get(key, 0) for key in question.choice_keys},
            "shares": {
                key: _round(per_choice.get(key, 0) / n) if enough else None
                for key in question.choice_keys
            },
        }
        summary["_insufficient"] = not enough
        return summary
    summary["n"] = sum(values.values())
    return summary


def compare_rounds(
    session: Session,
    ctx: ServiceContext,
    round_id: object,
    previous_id: object = None,
    *,
    min_sample: int | None = None,
) -> dict[str, Any]:
    """Each comparable measure of a round against the previous one (or `previous_id`).

    A change is `significant` only when its test gives p < 0.05 and both samples reach the
    minimum: Welch's t for means, the two-proportion z-test for shares, a z-test for NPS.
    Questions are matched by key (and type) across versions.
    """
    round_ = get_round_by_id(session, round_id)
    if previous_id is None:
        previous = previous_round(session, round_)
    else:
        previous = get_round_by_id(session, previous_id)
    minimum = ctx.settings.indicators.min_denominator if min_sample is None else min_sample
    out: dict[str, Any] = {
        "survey": round_.survey.slug,
        "round": round_.number,
        "previous": previous.number if previous else None,
        "questions": {},
    }
    if previous is None or round_.version is None or previous.version is None:
        return out
    now_def = version_definition(round_.version)
    then_def = version_definition(previous.version)
    now_counts = _value_counts(session, round_.id, round_.version_id)
    then_counts = _value_counts(session, previous.id, previous.version_id)
    for question in now_def.questions:
        earlier = then_def.question(question.key)
        if earlier is None or earlier.kind != question.kind or question.kind == "text":
            continue
        changes = _changes(
            question,
            now_counts.get(question.key, {}),
            then_counts.get(question.key, {}),
            minimum,
        )
        out["questions"][question.key] = {"type": question.kind, "changes": changes}
    return out


def _changes(question: Question, now: dict, then: dict, minimum: int) -> list[dict[str, Any]]:
    changes = []
    if question.scale is not None:
        low, high = question.scale
        a = {v: now.get(v, 0) for v in range(low, high + 1)}
        b = {v: then.get(v, 0) for v in range(low, high + 1)}
        n1, m1, sd1 = stats.mean_sd(a)
        n2, m2, sd2 = stats.mean_sd(b)
        enough = min(n1, n2) >= max(minimum, 1)
        p = stats.welch_p(n1, m1, sd1, n2, m2, sd2) if enough else None
        changes.append(_change("mean", m1, m2, n1, n2, p, enough))
        if question.kind == "nps":
            _, s1, _ = stats.nps(a)
            _, s2, _ = stats.nps(b)
            p = stats.nps_difference_p(a, b) if enough else None
            changes.append(_change("nps", s1, s2, n1, n2, p, enough))
        else:
            k1, k2 = a[4] + a[5], b[4] + b[5]
            p = stats.two_proportion_p(k1, n1, k2, n2) if enough else None
            r1 = k1 / n1 if n1 else None
            r2 = k2 / n2 if n2 else None
            changes.append(_change("satisfaction_rate", r1, r2, n1, n2, p, enough))
        return changes
    now_choice, n1 = _per_choice(question, now)
    then_choice, n2 = _per_choice(question, then)
    enough = min(n1, n2) >= max(minimum, 1)
    for key in question.choice_keys:
        k1, k2 = now_choice.get(key, 0), then_choice.get(key, 0)
        p = stats.two_proportion_p(k1, n1, k2, n2) if enough else None
        r1 = k1 / n1 if n1 else None
        r2 = k2 / n2 if n2 else None
        changes.append(_change(f"share:{key}", r1, r2, n1, n2, p, enough))
    return changes


def _change(measure, current, previous, n1, n2, p, enough) -> dict[str, Any]:
    both = current is not None and previous is not None
    return {
        "measure": measure,
        "current": _round(current) if enough else None,
        "previous": _round(previous) if enough else None,
        "difference": _round(current - previous) if enough and both else None,
        "n": n1,
        "previous_n": n2,
        "p": _round(p) if p is not None else None,
        "significant": bool(enough and p is not None and p < stats.ALPHA),
        "insufficient": not enough,
    }


def _per_choice(question: Question, values: dict) -> tuple[Counter, int]:
    counts: Counter = Counter()
    n = 0
    for combo, count in values.items():
        n += count
        for key in combo.split(";") if question.kind == "multiple" else [combo]:
            counts[key] += count
    return counts, n


def survey_trend(
    session: Session,
    ctx: ServiceContext,
    slug: object,
    *,
    keys: tuple[str, ...] | None = None,
    min_sample: int | None = None,
) -> dict[str, Any]:
    """Every opened round of a survey, per rating, rubric and NPS question: the mean (and the
    share answering 4-5, or the NPS) with its 95% interval, oldest round first.

    Questions are those of the latest round's version (or `keys` of them), matched by key and
    type in earlier versions. Each point's `changes` test it against the question's previous
    point (Welch's t for the mean, the two-proportion z-test for the share, a z-test for the
    NPS); a change is `significant` only when p < 0.05 and both rounds reach the minimum
    sample. A mean, share or NPS below the minimum is null, as in round_results. One query
    reads the kept counts of every round.
    """
    survey = get_survey(session, slug)
    minimum = ctx.settings.indicators.min_denominator if min_sample is None else min_sample
    opened = session.execute(
        select(SurveyRound.id, SurveyRound.number, SurveyRound.opens_at, SurveyRound.version_id)
        .where(SurveyRound.survey_id == survey.id, SurveyRound.number.is_not(None))
        .order_by(SurveyRound.number)
    ).all()
    round_ids = [row.id for row in opened]
    responses = (
        dict(
            session.execute(
                select(SurveyResponse.round_id, func.count())
                .where(
                    SurveyResponse.round_id.in_(round_ids),
                    SurveyResponse.submitted_at.is_not(None),
                )
                .group_by(SurveyResponse.round_id)
            ).all()
        )
        if round_ids
        else {}
    )
    out: dict[str, Any] = {
        "survey": survey.slug,
        "min_sample": minimum,
        "rounds": [
            {
                "round": row.number,
                "opens_at": row.opens_at.isoformat(),
                "responses": responses.get(row.id, 0),
            }
            for row in opened
        ],
        "questions": {},
    }
    latest = next((row for row in reversed(opened) if row.version_id is not None), None)
    if latest is None:
        return out
    definition = version_definition(session.get(SurveyVersion, latest.version_id))
    wanted = [
        q for q in definition.questions if q.scale is not None and (keys is None or q.key in keys)
    ]
    if not wanted:
        return out
    kinds = {q.key: q.kind for q in wanted}
    counts: dict[tuple[int, str], dict[int, int]] = {}
    rows = session.execute(
        select(
            SurveyAnswerCount.round_id,
            SurveyQuestion.key,
            SurveyQuestion.kind,
            SurveyAnswerCount.value,
            func.sum(SurveyAnswerCount.count),
        )
        .join(SurveyQuestion, SurveyQuestion.id == SurveyAnswerCount.question_id)
        .where(
            SurveyAnswerCount.round_id.in_(round_ids),
            SurveyQuestion.key.in_(kinds),
            SurveyQuestion.kind.in_(("rating", "rubric", "nps")),
        )
        .group_by(
            SurveyAnswerCount.round_id,
            SurveyQuestion.key,
            SurveyQuestion.kind,
            SurveyAnswerCount.value,
        )
    )
    for round_id, key, kind, value, count in rows:
        if kinds[key] == kind:  # a key reused for another type asks something else
            counts.setdefault((round_id, key), {})[int(value)] = int(count)
    numbers = {row.id: row.number for row in opened}
    asked = _asked_in(session, {row.version_id for row in opened if row.version_id}, kinds)
    for question in wanted:
        low, high = question.scale
        points: list[dict[str, Any]] = []
        before: dict[int, int] | None = None
        for row in opened:
            if (row.version_id, question.key) not in asked:
                continue  # that round's version did not ask it
            values = counts.get((row.id, question.key), {})
            scale = {v: values.get(v, 0) for v in range(low, high + 1)}
            summary = summarise(question, values, minimum)
            point = {"round": numbers[row.id], "n": summary["n"]}
            point |= {k: summary[k] for k in _TREND_FIGURES[question.kind]}
            point["insufficient"] = summary["_insufficient"]
            point["changes"] = None
            if before is not None:
                point["changes"] = {
                    change["measure"]: {
                        "previous_round": points[-1]["round"],
                        "difference": change["difference"],
                        "p": change["p"],
                        "significant": change["significant"],
                    }
                    for change in _changes(question, scale, before, minimum)
                }
            points.append(point)
            before = scale
        out["questions"][question.key] = {
            "type": question.kind,
            "department": question.department,
            "points": points,
        }
    return out


_TREND_FIGURES = {
    "rating": ("mean", "mean_ci", "satisfaction_rate", "satisfaction_ci"),
    "rubric": ("mean", "mean_ci", "satisfaction_rate", "satisfaction_ci"),
    "nps": ("mean", "mean_ci", "nps", "nps_ci"),
}


def _asked_in(session: Session, version_ids: set[int], kinds: dict[str, str]) -> set:
    """(version id, key) of the versions that ask each question with the same type."""
    if not version_ids:
        return set()
    rows = session.execute(
        select(SurveyQuestion.version_id, SurveyQuestion.key, SurveyQuestion.kind).where(
            SurveyQuestion.version_id.in_(version_ids), SurveyQuestion.key.in_(kinds)
        )
    )
    return {(version, key) for version, key, kind in rows if kinds[key] == kind}


def department_scores(
    session: Session,
    ctx: ServiceContext,
    department: object,
    *,
    start: datetime,
    end: datetime,
    min_sample: int | None = None,
) -> dict[str, Any]:
    """Survey answers tied to a department, submitted in [start, end), beside its indicators.

    `survey_answers`, `survey_mean_score` and `survey_satisfaction_rate` (with its Wilson
    interval) are those of 调查满意度: the department's rating questions, counted by the
    indicators' own rule (minyi.indicators.survey_score_counts) and small-sample rule; NPS
    questions give `survey_nps`.
    """
    dept: Department = get_department(session, department)
    minimum = ctx.settings.indicators.min_denominator if min_sample is None else min_sample
    kinds = survey_score_counts(
        session, start, end, [dept.id], kinds=(SATISFACTION_KIND, "nps")
    ).get(dept.id, {})
    scores = kinds.get(SATISFACTION_KIND, {})
    nps_counts = kinds.get("nps", {})
    satisfied, n = satisfied_of(scores)
    _, mean, _ = stats.mean_sd(scores)
    rate, interval = survey_share(satisfied, n, minimum)
    nps_n, nps_score, nps_interval = stats.nps(nps_counts)
    insufficient = []
    if rate is None:
        insufficient += ["survey_mean_score", "survey_satisfaction_rate"]
    if nps_n < minimum or nps_n == 0:
        insufficient.append("survey_nps")
    return {
        "department": dept.code,
        "survey_answers": n,
        "survey_mean_score": _round(mean) if rate is not None else None,
        "survey_satisfaction_rate": rate,
        "survey_satisfaction_ci": interval,
        "survey_nps_answers": nps_n,
        "survey_nps": _round(nps_score) if "survey_nps" not in insufficient else None,
        "survey_nps_ci": _pair(nps_interval) if "survey_nps" not in insufficient else None,
        "insufficient": insufficient,
    }


def analyse_text_answers(session: Session, ctx: ServiceContext, *, limit: int = 200) -> int:
    """Run the NLP over up to `limit` text answers not analysed yet; returns how many."""
    if ctx.analyzer is None:
        return 0
    answers = session.scalars(
        select(SurveyAnswer)
        .where(SurveyAnswer.text.is_not(None), SurveyAnswer.analysed_at.is_(None))
        .order_by(SurveyAnswer.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    now = ctx.now()
    for answer in answers:
        answer.analysed_at = now
        try:
            analysis = ctx.analyzer(answer.text)
        except Exception:
            # One text the NLP cannot take must not block every later one: left unlabelled.
            log.exception("analysing survey answer %s failed; left without labels", answer.id)
            continue
        answer.topic = analysis.topic
        answer.sentiment_label = analysis.sentiment_label
        answer.sentiment_score = float(analysis.sentiment_score)
        answer.keywords = list(analysis.keywords)
    session.flush()
    return len(answers)


# -- queries ---------------------------------------------------------------------------------


def _value_counts(session: Session, round_id: int, version_id: int) -> dict[str, dict]:
    """key -> {value: count}: numbers for numeric questions, choice strings for choices."""
    return read_counts(session, round_id, version_id)


def _text_summaries(session: Session, round_id: int, version_id: int, definition) -> dict:
    text_keys = [q.key for q in definition.questions if q.kind == "text"]
    if not text_keys:
        return {}
    ids = dict(
        session.execute(
            select(SurveyQuestion.id, SurveyQuestion.key).where(
                SurveyQuestion.version_id == version_id, SurveyQuestion.key.in_(text_keys)
            )
        ).all()
    )
    summaries = {key: _empty_text_summary() for key in text_keys}
    rows = session.execute(
        select(
            SurveyAnswer.question_id,
            SurveyAnswer.topic,
            SurveyAnswer.sentiment_label,
            func.count(SurveyAnswer.analysed_at),
            func.count(SurveyAnswer.ticket_id),
        )
        .where(SurveyAnswer.round_id == round_id, SurveyAnswer.question_id.in_(ids))
        .group_by(SurveyAnswer.question_id, SurveyAnswer.topic, SurveyAnswer.sentiment_label)
    ).all()
    for question_id, topic, label, analysed, filed in rows:
        summary = summaries[ids[question_id]]
        summary["analysed"] += analysed
        summary["complaints_filed"] += filed
        if topic:
            summary["topics"][topic] = summary["topics"].get(topic, 0) + analysed
        if label:
            summary["sentiment"][label] = summary["sentiment"].get(label, 0) + analysed
    for question_id, key in ids.items():
        words: Counter = Counter()
        if not summaries[key]["analysed"]:
            continue
        for keywords in session.scalars(
            select(SurveyAnswer.keywords)
            .where(
                SurveyAnswer.round_id == round_id,
                SurveyAnswer.question_id == question_id,
                SurveyAnswer.analysed_at.is_not(None),
            )
            .order_by(SurveyAnswer.id.desc())
            .limit(KEYWORD_SAMPLE)
        ):
            words.update(keywords or ())
        summaries[key]["keywords"] = [word for word, _ in words.most_common(TOP_KEYWORDS)]
        summaries[key]["topics"] = dict(
            sorted(summaries[key]["topics"].items(), key=lambda item: -item[1])
        )
    return summaries


def _empty_text_summary() -> dict[str, Any]:
    return {"analysed": 0, "topics": {}, "sentiment": {}, "keywords": [], "complaints_filed": 0}


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _pair(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [round(interval[0], 4), round(interval[1], 4)]
