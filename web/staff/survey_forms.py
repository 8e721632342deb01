"""The designer's question form: posted fields to a definition entry and back, nothing more.

Fields are named after the entry's parts (`key`, `text.zh`, `choices.0.key`, `levels.3.zh`,
`show_if.0.key` / `show_if.0.values`, `min`, `max_chars`…). What is typed is passed on as typed
(a number only when it looks like one), so every rule — key formats, lengths, ranges, choices,
show_if references — is the engine's (surveys.definition), whose refusal names the JSON path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from surveys.definition import KINDS, SCALES

# The kinds in the order the "add a question" menu offers them, with their names.
KIND_NAMES: dict[str, tuple[str, str]] = {
    "rating": ("评分题（1-5 好差评）", "Rating (1-5, 好差评 labels)"),
    "nps": ("推荐度（0-10 NPS）", "Recommendation (0-10, NPS)"),
    "single": ("单选题", "Single choice"),
    "multiple": ("多选题", "Multiple choice"),
    "text": ("填空题", "Free text"),
    "rubric": ("等级量表（1-5，每级有描述）", "Rubric (1-5, each level described)"),
}
assert tuple(sorted(KIND_NAMES)) == tuple(sorted(KINDS))

BLANK_ROWS = 3  # empty choice / condition rows offered below the filled ones
MORE_ROWS = 5  # added by the form's "more rows" button
LEVELS = (1, 2, 3, 4, 5)
_ROW_FIELD = re.compile(r"(choices|show_if)\.(\d{1,3})\.(\w+)")
_SEPARATORS = re.compile(r"[\s,，、;；]+")


def kind_of(value: object) -> str | None:
    return value if isinstance(value, str) and value in KIND_NAMES else None


def question_from_form(
    form: Mapping[str, str], kind: str, *, earlier: list[dict[str, Any]]
) -> dict[str, Any]:
    """The definition entry the form describes (`earlier`: the questions asked before it)."""
    entry: dict[str, Any] = {
        "key": form.get("key", "").strip(),
        "type": kind,
        "text": text_of(form, "text", required=True),
    }
    help_text = text_of(form, "help")
    if help_text is not None:
        entry["help"] = help_text
    entry["required"] = form.get("required") == "1"
    department = form.get("department", "").strip()
    if department:
        entry["department"] = department
    conditions = {}
    for _, row in _rows(form, "show_if"):
        source, typed = row.get("key", "").strip(), row.get("values", "").strip()
        if source or typed:
            conditions[source] = _condition_values(typed, _kind_of_key(earlier, source))
    if conditions:
        entry["show_if"] = conditions
    if kind in ("single", "multiple"):
        entry["choices"] = [
            {"key": row.get("key", "").strip(), "text": text_of(row, "", required=True)}
            for _, row in _rows(form, "choices")
            if any(row.get(part, "").strip() for part in ("key", "zh", "en"))
        ]
    if kind == "multiple":
        for name in ("min", "max"):
            if form.get(name, "").strip():
                entry[name] = number_of(form[name])
    if kind == "text":
        if form.get("max_chars", "").strip():
            entry["max_chars"] = number_of(form["max_chars"])
        if form.get("complaint") == "1":
            entry["complaint"] = True
    if kind == "rubric":
        levels = {}
        for level in LEVELS:
            described = text_of(form, f"levels.{level}")
            if described is not None:
                levels[str(level)] = described
        entry["levels"] = levels
    return entry


def form_from_question(entry: Mapping[str, Any]) -> dict[str, str]:
    """The form fields of a stored definition entry (to edit it)."""
    values = {"key": entry.get("key", ""), "required": "1" if entry.get("required") else ""}
    for name in ("text", "help"):
        for language, text in (entry.get(name) or {}).items():
            values[f"{name}.{language}"] = text
    if entry.get("department"):
        values["department"] = entry["department"]
    for index, (source, accepted) in enumerate((entry.get("show_if") or {}).items()):
        values[f"show_if.{index}.key"] = source
        values[f"show_if.{index}.values"] = ", ".join(str(value) for value in accepted)
    for index, choice in enumerate(entry.get("choices") or []):
        values[f"choices.{index}.key"] = choice["key"]
        for language, text in choice["text"].items():
            values[f"choices.{index}.{language}"] = text
    for name in ("min", "max", "max_chars"):
        if name in entry:
            values[name] = str(entry[name])
    if entry.get("complaint"):
        values["complaint"] = "1"
    for level, text in (entry.get("levels") or {}).items():
        for language, described in text.items():
            values[f"levels.{level}.{language}"] = described
    return values


def choice_rows(values: Mapping[str, str], *, extra: int = BLANK_ROWS) -> list[dict[str, str]]:
    """The choice rows to show: the filled ones in order (as the engine numbers them), then
    `extra` empty ones."""
    filled = [
        row
        for _, row in _rows(values, "choices")
        if any(row.get(part, "").strip() for part in ("key", "zh", "en"))
    ]
    return filled + [{} for _ in range(extra)]


def condition_rows(values: Mapping[str, str], *, extra: int = 1) -> list[dict[str, str]]:
    filled = [
        row
        for _, row in _rows(values, "show_if")
        if row.get("key", "").strip() or row.get("values", "").strip()
    ]
    return filled + [{} for _ in range(extra)]


def error_place(path: str | None, index: int | None) -> tuple[str | None, int | None]:
    """Which part of question `index`'s form a refusal's JSON path points at: (part, row)."""
    if not path or index is None:
        return None, None
    prefix = f"$.questions[{index}]"
    if not path.startswith(prefix + "."):
        return None, None
    match = re.match(r"(\w+)(?:\[(\d+)\])?", path[len(prefix) + 1 :])
    if match is None:
        return None, None
    return match.group(1), int(match.group(2)) if match.group(2) else None


def _rows(form: Mapping[str, str], group: str) -> list[tuple[int, dict[str, str]]]:
    rows: dict[int, dict[str, str]] = {}
    for name in form:
        match = _ROW_FIELD.fullmatch(name)
        if match and match.group(1) == group:
            rows.setdefault(int(match.group(2)), {})[match.group(3)] = form.get(name, "")
    return sorted(rows.items())


def text_of(form: Mapping[str, str], name: str, *, required: bool = False) -> dict | None:
    """A {"zh", "en"} text from `name.zh` / `name.en` (`zh` / `en` when name is "")."""
    prefix = f"{name}." if name else ""
    zh = form.get(f"{prefix}zh", "").strip()
    en = form.get(f"{prefix}en", "").strip()
    if not zh and not en and not required:
        return None
    return {"zh": zh} | ({"en": en} if en else {})


def number_of(typed: str) -> int | str:
    """A typed whole number as an int; anything else as typed, for the engine to refuse."""
    typed = typed.strip()
    return int(typed) if re.fullmatch(r"-?[0-9]{1,6}", typed) else typed


def _kind_of_key(earlier: list[dict[str, Any]], key: str) -> str | None:
    return next((q.get("type") for q in earlier if q.get("key") == key), None)


def _condition_values(typed: str, source_kind: str | None) -> list[int | str]:
    """The accepted answers as typed ("1, 2" or "hall、agent"): numbers for a numeric source."""
    tokens = [token for token in _SEPARATORS.split(typed) if token]
    if source_kind in SCALES:
        return [number_of(token) for token in tokens]
    return tokens
