"""Working-day arithmetic: weekends, public holidays and make-up working days (调休)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def _shipped_calendar() -> tuple[frozenset[date], frozenset[date]]:
    raw = resources.files("minyi").joinpath("data", "holidays.toml").read_text(encoding="utf-8")
    holidays: set[date] = set()
    workdays: set[date] = set()
    for year in tomllib.loads(raw).values():
        holidays.update(date.fromisoformat(d) for d in year["holidays"])
        workdays.update(date.fromisoformat(d) for d in year["workdays"])
    return frozenset(holidays), frozenset(workdays)


class WorkCalendar:
    """Which days are working days, with the shipped table plus the county's own corrections."""

    def __init__(self, extra_holidays: Iterable[date] = (), extra_workdays: Iterable[date] = ()):
        holidays, workdays = _shipped_calendar()
        extra_workdays = frozenset(extra_workdays)
        self.holidays = (holidays | frozenset(extra_holidays)) - extra_workdays
        self.workdays = workdays | extra_workdays

    @classmethod
    def from_settings(cls, settings) -> WorkCalendar:
        return cls(settings.calendar.extra_holidays, settings.calendar.extra_workdays)

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: date, days: int) -> date:
        """The `days`-th working day after `start` (the start day itself never counts)."""
        if days < 0:
            raise ValueError("days must be >= 0")
        current = start
        remaining = days
        while remaining:
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative when end is before start."""
        if end < start:
            return -self.working_days_between(end, start)
        return sum(
            1
            for n in range(1, (end - start).days + 1)
            if self.is_working_day(start + timedelta(days=n))
        )
