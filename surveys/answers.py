"""Checking one answer against its question, and a whole set against the survey.

Pure: no database. Answers arrive as the web form or the bot sends them ("5", ["queue",
"guide"], a string) and leave in their stored form: an int for rating, rubric and nps, a choice
key for single, a list of choice keys in the question's order for multiple, text for text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minyi.errors import ValidationFailed
from minyi.services.validation import clean_text
from surveys.definition import Question, SurveyDefinition


class AnswersInvalid(ValidationFailed):
    """Some answers were refused; `errors` maps each question key to its (zh, en) message."""

    def __init__(self, errors: dict[str, tuple[str, str]]) -> None:
        first_key, (first_zh, first_en) = next(iter(errors.items()))
        more_zh = f"（另有 {len(errors) - 1} 处）" if len(errors) > 1 else ""
        more_en = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first_zh}{more_zh}", f"{first_en}{more_en}", errors=errors)
        self.errors = errors


def is_empty(value: object) -> bool:
    """No answer: None, blank text or an empty selection."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple) and not any(
        not (isinstance(v, str) and not v.strip()) for v in value
    )


def check_answer(question: Question, value: object) -> Any:
    """The stored form of `value` for `question` (None when empty), or ValidationFailed."""
    if is_empty(value):
        return None
    name_zh, name_en = f"“{question.text.zh}”", f"{question.key!r}"
    if question.scale is not None:
        low, high = question.scale
        if isinstance(value, list | tuple) and len(value) == 1:
            value = value[0]
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValidationFailed(
                f"{name_zh}的答案须为 {low} 到 {high} 的整数",
                f"the answer to {name_en} must be a whole number from {low} to {high}",
            )
        return value
    if question.kind == "single":
        if isinstance(value, list | tuple) and len(value) == 1:
            value = value[0]
        if not isinstance(value, str) or value not in question.choice_keys:
            raise ValidationFailed(
                f"{name_zh}没有这个选项", f"{value!r} is not a choice of {name_en}"
            )
        return value
    if question.kind == "multiple":
        picked = [value] if isinstance(value, str) else value
        if not isinstance(picked, list | tuple):
            raise ValidationFailed(
                f"{name_zh}的答案须为选项列表",
                f"the answer to {name_en} must be a list of choices",
            )
        picked = [v for v in picked if not (isinstance(v, str) and not v.strip())]
        unknown = [v for v in picked if not isinstance(v, str) or v not in question.choice_keys]
        if unknown:
            raise ValidationFailed(
                f"{name_zh}没有选项 {unknown[0]!r}", f"{unknown[0]!r} is not a choice of {name_en}"
            )
        chosen = set(picked)
        if len(chosen) < max(question.min_choices, 1):
            raise ValidationFailed(
                f"{name_zh}请至少选 {question.min_choices} 项",
                f"choose at least {question.min_choices} for {name_en}",
            )
        if len(chosen) > question.max_choices:
            raise ValidationFailed(
                f"{name_zh}最多选 {question.max_choices} 项",
                f"choose at most {question.max_choices} for {name_en}",
            )
        return [key for key in question.choice_keys if key in chosen]
    return clean_text(
        value, field_zh=name_zh, field_en=f"the answer to {name_en}", max_chars=question.max_chars
    )


def check_answers(definition: SurveyDefinition, given: Mapping[str, object]) -> dict[str, Any]:
    """Every given answer checked; unknown keys refused; empty answers left out.

    Raises AnswersInvalid naming each refused key, so a form can show every message at once.
    """
    stored, errors = check_each(definition, given)
    if errors:
        raise AnswersInvalid(errors)
    return stored


def check_each(
    definition: SurveyDefinition, given: Mapping[str, object]
) -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:
    """(the stored form of each acceptable non-empty answer, the (zh, en) refusal of each other).

    Unknown keys are refused. Nothing is raised: the caller decides what a refusal means.
    """
    errors: dict[str, tuple[str, str]] = {}
    stored: dict[str, Any] = {}
    for key, value in given.items():
        question = definition.question(key)
        if question is None:
            errors[key] = (f"问卷没有问题 {key}", f"the survey has no question {key!r}")
            continue
        try:
            answer = check_answer(question, value)
        except ValidationFailed as refused:
            errors[key] = (refused.message_zh, refused.message_en)
            continue
        if answer is not None:
            stored[key] = answer
    return stored, errors


def complete_answers(definition: SurveyDefinition, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers to keep at submit: hidden questions' answers dropped, required ones checked.

    `answers` are already in stored form. show_if is applied in order, so a question whose
    condition depends on a dropped answer is hidden as well.
    """
    kept: dict[str, Any] = {}
    errors: dict[str, tuple[str, str]] = {}
    for question in definition.questions:
        if not question.is_shown(kept):
            continue
        answer = answers.get(question.key)
        if answer is not None:
            kept[question.key] = answer
        elif question.required:
            errors[question.key] = (
                f"请回答“{question.text.zh}”",
                f"{question.key!r} is required",
            )
    if errors:
        raise AnswersInvalid(errors)
    return kept


def readable_answers(definition: SurveyDefinition, given: Mapping[str, object]) -> dict[str, Any]:
    """The answers of `given` (as posted) that pass their own check, in stored form.

    The others (refused, empty or unknown) are left out: for showing which questions apply and
    how far a refused form got, never for storing.
    """
    return check_each(definition, given)[0]
