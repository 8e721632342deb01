"""A survey definition: the JSON file format of docs/surveys.md, parsed and checked.

Pure: no database. `parse_definition` turns the decoded JSON into frozen objects or raises
DefinitionInvalid naming the JSON path of the first problem (`$.questions[2].choices[0].key`);
`SurveyDefinition.to_dict` writes the canonical form back, so import and export round-trip.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from minyi.errors import ValidationFailed

KINDS = ("rating", "nps", "single", "multiple", "text", "rubric")

# The national 好差评 labels of a 1-5 rating, best first.
RATING_LABELS: dict[int, tuple[str, str]] = {
    5: ("非常满意", "very satisfied"),
    4: ("满意", "satisfied"),
    3: ("基本满意", "fairly satisfied"),
    2: ("不满意", "dissatisfied"),
    1: ("非常不满意", "very dissatisfied"),
}

# The scale of each numeric kind, inclusive.
SCALES: dict[str, tuple[int, int]] = {"rating": (1, 5), "rubric": (1, 5), "nps": (0, 10)}

# Question keys are form field names and export columns: keep them plain.
QUESTION_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Choice keys are form values and are joined with ";" in exports, so no ";" or spaces.
CHOICE_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,59}")

MAX_QUESTIONS = 100
MAX_CHOICES = 50
DEFAULT_MAX_CHARS = 500
MAX_TEXT_CHARS = 5000

_TOP_FIELDS = ("slug", "title", "intro", "questions")
_COMMON_FIELDS = ("key", "type", "text", "help", "required", "department", "show_if")
_KIND_FIELDS = {
    "rating": (),
    "nps": (),
    "rubric": ("levels",),
    "single": ("choices",),
    "multiple": ("choices", "min", "max"),
    "text": ("max_chars", "complaint"),
}


class DefinitionInvalid(ValidationFailed):
    """A malformed survey definition; `path` is the JSON path of the problem."""

    def __init__(self, path: str, message_zh: str, message_en: str) -> None:
        super().__init__(
            f"问卷定义有误，{path}：{message_zh}",
            f"invalid survey definition at {path}: {message_en}",
            path=path,
        )
        self.path = path


@dataclass(frozen=True)
class Text:
    """A text in Chinese and, optionally, English."""

    zh: str
    en: str | None = None

    def get(self, language: str = "zh") -> str:
        """The text in `language` ("en" falls back to Chinese when there is no English)."""
        return self.en if language == "en" and self.en else self.zh

    def to_dict(self) -> dict[str, str]:
        return {"zh": self.zh} | ({"en": self.en} if self.en else {})


@dataclass(frozen=True)
class Choice:
    key: str
    text: Text


@dataclass(frozen=True)
class Question:
    key: str
    kind: str
    text: Text
    required: bool = False
    help: Text | None = None
    department: str | None = None  # a department code
    # {"other_key": (values…)}: shown only when each named earlier answer is one of its values.
    show_if: tuple[tuple[str, tuple[int | str, ...]], ...] = ()
    choices: tuple[Choice, ...] = ()
    min_choices: int = 0
    max_choices: int = 0
    max_chars: int = DEFAULT_MAX_CHARS
    levels: tuple[tuple[int, Text], ...] = ()
    # A text answer the respondent may agree to have filed as a complaint.
    complaint: bool = False

    @property
    def scale(self) -> tuple[int, int] | None:
        """(lowest, highest) answer of a numeric question; None for the others."""
        return SCALES.get(self.kind)

    @cached_property  # a question never changes; every answer to it is checked against these
    def choice_keys(self) -> tuple[str, ...]:
        return tuple(choice.key for choice in self.choices)

    def is_shown(self, answers: Mapping[str, Any]) -> bool:
        """Whether `answers` (key -> stored answer) meet this question's show_if."""
        for key, values in self.show_if:
            answer = answers.get(key)
            if answer is None:
                return False
            given = answer if isinstance(answer, list | tuple) else [answer]
            if not any(value in values for value in given):
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "type": self.kind, "text": self.text.to_dict()}
        if self.help:
            out["help"] = self.help.to_dict()
        out["required"] = self.required
        if self.department:
            out["department"] = self.department
        if self.show_if:
            out["show_if"] = {key: list(values) for key, values in self.show_if}
        if self.kind in ("single", "multiple"):
            out["choices"] = [{"key": c.key, "text": c.text.to_dict()} for c in self.choices]
        if self.kind == "multiple":
            out["min"], out["max"] = self.min_choices, self.max_choices
        if self.kind == "rubric":
            out["levels"] = {str(level): text.to_dict() for level, text in self.levels}
        if self.kind == "text":
            out["max_chars"] = self.max_chars
            if self.complaint:
                out["complaint"] = True
        return out


@dataclass(frozen=True)
class SurveyDefinition:
    slug: str
    title: Text
    questions: tuple[Question, ...]
    intro: Text | None = None
    _by_key: dict[str, Question] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_key.update((q.key, q) for q in self.questions)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(q.key for q in self.questions)

    def question(self, key: str) -> Question | None:
        return self._by_key.get(key)

    def shown_questions(self, answers: Mapping[str, Any]) -> list[Question]:
        """The questions a respondent with `answers` (stored form) sees, in order.

        show_if is applied in order, as at submit: an answer to a hidden question does not
        count for the conditions of later ones.
        """
        shown: list[Question] = []
        kept: dict[str, Any] = {}
        for question in self.questions:
            if question.is_shown(kept):
                shown.append(question)
                if answers.get(question.key) is not None:
                    kept[question.key] = answers[question.key]
        return shown

    def to_dict(self) -> dict[str, Any]:
        """The canonical file form; parse_definition(d.to_dict()) == d."""
        out: dict[str, Any] = {"slug": self.slug, "title": self.title.to_dict()}
        if self.intro:
            out["intro"] = self.intro.to_dict()
        out["questions"] = [q.to_dict() for q in self.questions]
        return out


def parse_definition_json(source: str | bytes) -> SurveyDefinition:
    """Parse a definition file's content; a JSON syntax error names its line and column."""
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DefinitionInvalid(
                "$", "文件不是 UTF-8 编码", "the file is not UTF-8 encoded"
            ) from None
    try:
        data = json.loads(source.lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        raise DefinitionInvalid(
            "$",
            f"不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列）：{exc.msg}",
            f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}",
        ) from None
    return parse_definition(data)


def parse_definition(data: object) -> SurveyDefinition:
    """Check a decoded definition and return it as frozen objects, or raise DefinitionInvalid."""
    top = _object(data, "$")
    _known_fields(top, "$", _TOP_FIELDS)
    slug = _required(top, "$", "slug")
    if not isinstance(slug, str) or not SLUG.fullmatch(slug):
        raise DefinitionInvalid(
            "$.slug",
            "须为 2-60 个小写字母、数字或连字符，以字母或数字开头",
            "must be 2-60 lowercase letters, digits or hyphens, starting with a letter or digit",
        )
    title = _text(_required(top, "$", "title"), "$.title", max_chars=200)
    intro = _text(top["intro"], "$.intro", max_chars=2000) if "intro" in top else None
    items = _required(top, "$", "questions")
    if not isinstance(items, list) or not items:
        raise DefinitionInvalid("$.questions", "须为非空数组", "must be a non-empty array")
    if len(items) > MAX_QUESTIONS:
        raise DefinitionInvalid(
            "$.questions",
            f"最多 {MAX_QUESTIONS} 个问题",
            f"at most {MAX_QUESTIONS} questions",
        )
    questions: list[Question] = []
    for index, item in enumerate(items):
        questions.append(_question(item, f"$.questions[{index}]", questions))
    return SurveyDefinition(slug=slug, title=title, intro=intro, questions=tuple(questions))


def _question(data: object, path: str, earlier: list[Question]) -> Question:
    item = _object(data, path)
    key = _required(item, path, "key")
    if not isinstance(key, str) or not QUESTION_KEY.fullmatch(key):
        raise DefinitionInvalid(
            f"{path}.key",
            "须为 1-40 个小写字母、数字或下划线，以字母开头",
            "must be 1-40 lowercase letters, digits or underscores, starting with a letter",
        )
    if any(q.key == key for q in earlier):
        raise DefinitionInvalid(f"{path}.key", f"问题标识 {key} 重复", f"duplicate key {key!r}")
    kind = _required(item, path, "type")
    if kind not in KINDS:
        raise DefinitionInvalid(
            f"{path}.type",
            f"未知题型 {kind!r}（可选：{'、'.join(KINDS)}）",
            f"unknown type {kind!r} (one of {', '.join(KINDS)})",
        )
    _known_fields(item, path, _COMMON_FIELDS + _KIND_FIELDS[kind], kind=kind)
    fields: dict[str, Any] = {
        "key": key,
        "kind": kind,
        "text": _text(_required(item, path, "text"), f"{path}.text", max_chars=1000),
        "required": _bool(item.get("required", False), f"{path}.required"),
    }
    if "help" in item:
        fields["help"] = _text(item["help"], f"{path}.help", max_chars=1000)
    if "department" in item:
        code = item["department"]
        if not isinstance(code, str) or not 0 < len(code) <= 32:
            raise DefinitionInvalid(
                f"{path}.department", "须为部门编码", "must be a department code"
            )
        fields["department"] = code
    if kind in ("single", "multiple"):
        fields["choices"] = _choices(_required(item, path, "choices"), f"{path}.choices")
    if kind == "multiple":
        count = len(fields["choices"])
        low = _int(item.get("min", 0), f"{path}.min", 0, count)
        high = _int(item.get("max", count), f"{path}.max", 1, count)
        if low > high:
            raise DefinitionInvalid(
                f"{path}.min",
                f"min（{low}）大于 max（{high}）",
                f"min ({low}) exceeds max ({high})",
            )
        fields["min_choices"], fields["max_choices"] = low, high
    if kind == "rubric":
        fields["levels"] = _levels(_required(item, path, "levels"), f"{path}.levels")
    if kind == "text":
        fields["max_chars"] = _int(
            item.get("max_chars", DEFAULT_MAX_CHARS), f"{path}.max_chars", 1, MAX_TEXT_CHARS
        )
        fields["complaint"] = _bool(item.get("complaint", False), f"{path}.complaint")
    if "show_if" in item:
        fields["show_if"] = _show_if(item["show_if"], f"{path}.show_if", earlier)
    return Question(**fields)


def _choices(data: object, path: str) -> tuple[Choice, ...]:
    if not isinstance(data, list) or not 2 <= len(data) <= MAX_CHOICES:
        raise DefinitionInvalid(
            path,
            f"须为 2-{MAX_CHOICES} 个选项的数组",
            f"must be an array of 2-{MAX_CHOICES} choices",
        )
    choices: list[Choice] = []
    for index, item in enumerate(data):
        where = f"{path}[{index}]"
        entry = _object(item, where)
        _known_fields(entry, where, ("key", "text"))
        key = _required(entry, where, "key")
        if not isinstance(key, str) or not CHOICE_KEY.fullmatch(key):
            raise DefinitionInvalid(
                f"{where}.key",
                "须为 1-40 个小写字母、数字、下划线或连字符",
                "must be 1-40 lowercase letters, digits, underscores or hyphens",
            )
        if any(c.key == key for c in choices):
            raise DefinitionInvalid(
                f"{where}.key", f"选项标识 {key} 重复", f"duplicate choice key {key!r}"
            )
        choices.append(Choice(key, _text(_required(entry, where, "text"), f"{where}.text", 200)))
    return tuple(choices)


def _levels(data: object, path: str) -> tuple[tuple[int, Text], ...]:
    entries = _object(data, path)
    if not entries:
        raise DefinitionInvalid(path, "至少描述一个等级", "describe at least one level")
    levels = []
    for name, text in entries.items():
        if name not in ("1", "2", "3", "4", "5"):
            raise DefinitionInvalid(
                f"{path}.{name}", '等级须为 "1" 到 "5"', 'levels are "1" to "5"'
            )
        levels.append((int(name), _text(text, f"{path}.{name}", max_chars=1000)))
    return tuple(sorted(levels))


def _show_if(data: object, path: str, earlier: list[Question]) -> tuple:
    conditions = _object(data, path)
    if not conditions:
        raise DefinitionInvalid(path, "不能为空对象", "must name at least one question")
    out = []
    for key, values in conditions.items():
        where = f"{path}.{key}"
        source = next((q for q in earlier if q.key == key), None)
        if source is None:
            raise DefinitionInvalid(
                where,
                f"须引用排在前面的问题（没有 {key}）",
                f"must refer to an earlier question (no earlier {key!r})",
            )
        if source.kind == "text":
            raise DefinitionInvalid(
                where, "不能以填空题作为条件", "a text question cannot be a condition"
            )
        if not isinstance(values, list) or not values:
            raise DefinitionInvalid(where, "须为非空数组", "must be a non-empty array")
        for index, value in enumerate(values):
            _check_condition_value(source, value, f"{where}[{index}]")
        out.append((key, tuple(values)))
    return tuple(out)


def _check_condition_value(source: Question, value: object, path: str) -> None:
    if source.scale is not None:
        low, high = source.scale
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise DefinitionInvalid(
                path,
                f"问题 {source.key} 的答案为 {low} 到 {high} 的整数",
                f"answers to {source.key!r} are whole numbers from {low} to {high}",
            )
    elif value not in source.choice_keys:
        raise DefinitionInvalid(
            path,
            f"问题 {source.key} 没有选项 {value!r}",
            f"question {source.key!r} has no choice {value!r}",
        )


def _object(data: object, path: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise DefinitionInvalid(path, "须为对象", "must be an object")
    return data


def _known_fields(item: dict, path: str, known: tuple[str, ...], *, kind: str | None = None):
    for name in item:
        if name not in known:
            if kind is not None and any(name in fields for fields in _KIND_FIELDS.values()):
                raise DefinitionInvalid(
                    f"{path}.{name}", f"{kind} 题型不使用此字段", f"not used by type {kind}"
                )
            raise DefinitionInvalid(
                f"{path}.{name}",
                f"未知字段（可用：{'、'.join(known)}）",
                f"unknown field (known: {', '.join(known)})",
            )


def _required(item: dict, path: str, name: str) -> Any:
    if name not in item:
        raise DefinitionInvalid(f"{path}.{name}", "缺少此字段", "is missing")
    return item[name]


def _text(data: object, path: str, max_chars: int) -> Text:
    entry = _object(data, path)
    _known_fields(entry, path, ("zh", "en"))
    zh = _required(entry, path, "zh")
    if not isinstance(zh, str) or not zh.strip():
        raise DefinitionInvalid(f"{path}.zh", "须为非空文字", "must be non-empty text")
    en = entry.get("en")
    if en is not None and not isinstance(en, str):
        raise DefinitionInvalid(f"{path}.en", "须为文字", "must be text")
    for lang, value in (("zh", zh), ("en", en)):
        if value is not None and len(value) > max_chars:
            raise DefinitionInvalid(
                f"{path}.{lang}", f"最多 {max_chars} 字", f"at most {max_chars} characters"
            )
    return Text(zh.strip(), en.strip() or None if en else None)


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise DefinitionInvalid(path, "须为 true 或 false", "must be true or false")
    return value


def _int(value: object, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DefinitionInvalid(
            path, f"须为 {low} 到 {high} 的整数", f"must be a whole number from {low} to {high}"
        )
    return value
