"""When recurring rounds open: monthly, quarterly or a cron expression, in the county's time.

Pure: no database. Monthly and quarterly are preset cron expressions (the 1st at 09:00; the 1st
of January, April, July and October at 09:00), so every schedule is one expression.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from minyi.errors import ValidationFailed

PRESETS = {"monthly": "0 9 1 * *", "quarterly": "0 9 1 1,4,7,10 *"}
KINDS = ("monthly", "quarterly", "cron")


def schedule_expression(kind: object, cron: object = None) -> str:
    """The cron expression of a schedule kind (`cron` only for kind "cron"), checked."""
    if kind not in KINDS:
        raise ValidationFailed(
            f"未知周期 {kind!r}（可选：monthly、quarterly、cron）",
            f"unknown schedule {kind!r} (monthly, quarterly or cron)",
        )
    if kind != "cron":
        if cron is not None:
            raise ValidationFailed(
                "只有 cron 周期需要表达式", "only a cron schedule takes an expression"
            )
        return PRESETS[kind]
    if not isinstance(cron, str) or len(cron) > 100 or len(cron.split()) != 5:
        raise ValidationFailed(
            "cron 表达式须为 5 段：分 时 日 月 周，如 “0 9 1 * *”",
            'a cron expression has 5 fields: minute hour day month weekday, e.g. "0 9 1 * *"',
        )
    try:
        cron_trigger(cron, ZoneInfo("UTC"))
    except ValueError as exc:
        raise ValidationFailed(
            f"cron 表达式无效：{exc}", f"invalid cron expression {cron!r}: {exc}"
        ) from None
    return " ".join(cron.split())


def next_opening(cron: str, timezone: ZoneInfo, after: datetime) -> datetime | None:
    """The first opening strictly after `after` (aware), or None if the expression never fires."""
    trigger = cron_trigger(cron, timezone)
    return trigger.get_next_fire_time(None, after + timedelta(seconds=1))


def next_window(
    cron: str, timezone: ZoneInfo, after: datetime, open_days: int, now: datetime
) -> datetime | None:
    """The next opening after `after` whose window has not already ended by `now`.

    A worker that was down for months does not open and close every missed round in a burst:
    windows that ended while it was down are skipped; one in progress still opens (late).
    """
    # An opening later than now - open_days is one whose window is still running or ahead.
    return next_opening(cron, timezone, max(after, now - timedelta(days=open_days)))


# Crontab numbers weekdays from Sunday (0 or 7); APScheduler 3 numbers them from Monday and its
# from_crontab passes numbers through (agronholm/apscheduler#286, fixed only in 4.x), so
# "0 9 * * 1" would open on Tuesdays. Numbers are therefore spelled as day names, which mean
# the same to both.
_CRON_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def cron_trigger(cron: str, timezone: ZoneInfo) -> CronTrigger:
    """The APScheduler trigger of a standard 5-field crontab expression (weekday 0 = Sunday)."""
    fields = cron.split()
    if len(fields) == 5:
        fields[4] = _weekday_names(fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=timezone)


def _weekday_names(field: str) -> str:
    """A crontab weekday field with its numbers as names ("1-5" -> "mon,tue,wed,thu,fri")."""
    names: list[str] = []
    for part in field.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            span = "0-6" if step else span
        if span == "*" or not all(bound.isdigit() for bound in span.split("-")):
            names.append(part)  # "*", names and anything odd: APScheduler judges them
            continue
        bounds = [int(bound) for bound in span.split("-")]
        first, last = bounds[0], bounds[-1]
        if step and len(bounds) == 1:
            last = 6  # "1/2" is "from Monday, every other day"
        if not (0 <= first <= 7 and 0 <= last <= 7 and first <= last) or (
            step and not step.isdigit()
        ):
            names.append(part)
            continue
        for number in range(first, last + 1, int(step) if step else 1):
            name = _CRON_DAY_NAMES[number]
            if name not in names:
                names.append(name)
    return ",".join(names)
