"""Checks shared by the services: citizen text, scores, lengths."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, tzinfo

from minyi.errors import NotFound, ValidationFailed
from minyi.models import Channel

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
    # Most text needs no change: printable (no control characters, no lone surrogates) and
    # already trimmed. Returning it at once is what lets a bulk import call this per cell.
    if (
        isinstance(value, str)
        and value
        and min_chars <= len(value) <= max_chars
        and value.isprintable()
        and not value[0].isspace()
        and not value[-1].isspace()
    ):
        return value
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
    # isdigit() also accepts "²" and "٣", which int() refuses or reads differently.
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed(
            f"{field_zh}必须是 {low} 到 {high} 之间的整数",
            f"{field_en} must be a whole number from {low} to {high}",
        )
    return value


def check_channel(value: object) -> Channel:
    """A known channel (telegram, web, survey, import, phone)."""
    try:
        return Channel(value)
    except ValueError:
        known = "/".join(c.value for c in Channel)
        raise ValidationFailed(
            f"未知渠道 {value!r}（可选：{known}）", f"unknown channel {value!r} ({known})"
        ) from None


def check_flag(value: object, *, field_zh: str, field_en: str) -> bool:
    """A real yes/no: True or False, never a string such as "no" (which is truthy)."""
    if not isinstance(value, bool):
        raise ValidationFailed(f"{field_zh}必须是“是”或“否”", f"{field_en} must be yes or no")
    return value


def check_moment(value: object, *, field_zh: str = "时间", field_en: str = "time") -> datetime:
    """An aware datetime; a naive one is ambiguous (UTC? the county's time?) and refused."""
    if not isinstance(value, datetime):
        raise ValidationFailed(f"{field_zh}必须是日期时间", f"{field_en} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationFailed(
            f"{field_zh}缺少时区", f"{field_en} must carry a time zone (naive datetime given)"
        )
    return value


def check_day(value: object, *, field_zh: str = "日期", field_en: str = "date") -> date | None:
    """An optional calendar day: a date, or YYYY-MM-DD text; empty means none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationFailed(
        f"{field_zh}格式应为 年-月-日（如 2026-01-31）",
        f"{field_en} must be a date written YYYY-MM-DD (e.g. 2026-01-31)",
    )


def check_local_moment(
    value: object,
    zone: tzinfo,
    *,
    end_of_day: bool = False,
    field_zh: str = "时间",
    field_en: str = "time",
) -> datetime | None:
    """An optional ISO date or time as typed (a form's datetime-local, the command line).

    A time without an offset is the county's local time in `zone`. A bare date is the start
    of that day, or with `end_of_day` its end (a round closing "on 2026-12-31" stays open all
    of it). Empty means none.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value.strip()) > 40:
        raise ValidationFailed(f"{field_zh}必须是日期时间", f"{field_en} must be a date or time")
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + timedelta(days=1 if end_of_day else 0)
            return datetime.combine(day, time.min, tzinfo=zone)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            f"{field_zh}须为日期或时间，如 2026-12-31 或 2026-12-31T18:00",
            f"{field_en} must be an ISO date or time, e.g. 2026-12-31 or 2026-12-31T18:00",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


# Recorded history starts here: an earlier time is a typo or an unset date (1900-01-01).
EARLIEST_DAY = date(2000, 1, 1)
# A clock a little ahead of ours is tolerated, a time further in the future is not.
FUTURE_SLACK = timedelta(days=1)


def recorded_moment_bounds(now: datetime, zone: tzinfo) -> tuple[datetime, datetime]:
    """The earliest and latest aware time `check_recorded_moment` accepts."""
    return datetime.combine(EARLIEST_DAY, time.min, zone), now + FUTURE_SLACK


def check_recorded_moment(
    value: object,
    *,
    now: datetime,
    zone: tzinfo,
    field_zh: str = "时间",
    field_en: str = "time",
) -> datetime:
    """An aware time of something that happened: not before 2000-01-01 local, not in the future."""
    value = check_moment(value, field_zh=field_zh, field_en=field_en)
    earliest, latest = recorded_moment_bounds(now, zone)
    shown = f"{value.astimezone(zone):%Y-%m-%d %H:%M}"
    if value < earliest:
        raise ValidationFailed(
            f"{field_zh} {shown} 早于 {EARLIEST_DAY}，不是有效的记录",
            f"{field_en} {shown} is before {EARLIEST_DAY}: not a plausible record",
        )
    if value > latest:
        raise ValidationFailed(
            f"{field_zh} {shown} 在未来", f"{field_en} {shown} is in the future"
        )
    return value


MAX_ID = 2**31 - 1


def check_ref(value: object, *, kind_zh: str, kind_en: str) -> int | str:
    """An object reference: an id (int, not bool) or a non-empty code of at most 80 characters."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationFailed(f"{kind_zh}标识无效", f"invalid {kind_en} reference {value!r}")
    if isinstance(value, str) and not 0 < len(value.strip()) <= 80:
        raise ValidationFailed(f"{kind_zh}标识无效", f"invalid {kind_en} reference {value!r}")
    # Ids are 32-bit on PostgreSQL: a larger number would be a driver error, not "unknown".
    if isinstance(value, int) and not 0 < value <= MAX_ID:
        raise NotFound(f"找不到{kind_zh} {value}", f"unknown {kind_en} {value}")
    return value.strip() if isinstance(value, str) else value


def check_source_ref(value: object) -> str | None:
    """The caller's id of a submission (form token, bot update, import row), at most 80 chars."""
    return clean_text(
        value, field_zh="提交标识", field_en="source_ref", max_chars=80, required=False
    )
