"""Checks shared by the services: citizen text, scores, lengths."""

from __future__ import annotations

import re

from minyi.errors import ValidationFailed

# Control characters other than tab/newline break PostgreSQL (NUL) and terminals.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(
    value: object,
    *,
    field_zh: str,
    field_en: str,
    max_chars: int,
    min_chars: int = 1,
    required: bool = True,
) -> str | None:
    """Return `value` trimmed and made storable, or raise ValidationFailed."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationFailed(f"{field_zh}不能为空", f"{field_en} must not be empty")
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{field_zh}必须是文字", f"{field_en} must be text")
    # Lone surrogates from broken clients cannot be stored in UTF-8.
    text = value.encode("utf-8", "replace").decode("utf-8")
    text = CONTROL_CHARS.sub("", text).strip()
    if len(text) < min_chars:
        raise ValidationFailed(
            f"{field_zh}太短，请至少写 {min_chars} 个字",
            f"{field_en} is too short: at least {min_chars} characters",
        )
    if len(text) > max_chars:
        raise ValidationFailed(
            f"{field_zh}太长（{len(text)} 字），最多 {max_chars} 字",
            f"{field_en} is too long ({len(text)} characters, at most {max_chars})",
        )
    return text


def check_score(
    value: object, *, low: int = 1, high: int = 5, field_zh: str = "评分", field_en: str = "score"
) -> int:
    """An integer score within [low, high]; bools and floats are refused, digit strings taken."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed(
            f"{field_zh}必须是 {low} 到 {high} 之间的整数",
            f"{field_en} must be a whole number from {low} to {high}",
        )
    return value
