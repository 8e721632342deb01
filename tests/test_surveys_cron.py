"""Cron schedules count weekdays as crontab does (0 and 7 Sunday), not as APScheduler 3 does."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from minyi.errors import ValidationFailed
from surveys.schedule import next_opening, schedule_expression

BEIJING = ZoneInfo("Asia/Shanghai")
WEDNESDAY = datetime(2026, 11, 25, 10, 0, tzinfo=BEIJING)


@pytest.mark.parametrize(
    ("weekdays", "first_opening"),
    [
        ("1", "2026-11-30"),  # Monday
        ("0", "2026-11-29"),  # Sunday
        ("7", "2026-11-29"),  # Sunday again
        ("mon", "2026-11-30"),
        ("1-5", "2026-11-26"),  # Monday to Friday: tomorrow, Thursday
        ("6,0", "2026-11-28"),  # the weekend: Saturday first
        ("*/3", "2026-11-28"),  # Sunday, Wednesday (past 09:00 already) and Saturday
    ],
)
def test_weekday_numbers_follow_crontab(weekdays, first_opening):
    expression = schedule_expression("cron", f"0 9 * * {weekdays}")
    opening = next_opening(expression, BEIJING, WEDNESDAY)
    assert opening.date().isoformat() == first_opening
    assert (opening.hour, opening.minute) == (9, 0)


@pytest.mark.parametrize("weekdays", ["8", "1-9", "x", "5-1"])
def test_impossible_weekdays_are_refused(weekdays):
    with pytest.raises(ValidationFailed):
        schedule_expression("cron", f"0 9 * * {weekdays}")
