"""Working-day arithmetic: weekends, public holidays and make-up working days (调休).

The holidays of a year come from its State Council notice: shipped in minyi/data/holidays.toml,
or imported by a county into the database (`minyi calendar import FILE`, same format), which
replaces the shipped table of that year. `[calendar] extra_holidays / extra_workdays` in the
configuration override both. A year known to neither is counted Monday to Friday, with a
warning, because a wrong due date is better announced than silent.
"""

from __future__ import annotations

import logging
import re
import threading
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from importlib import resources

from minyi.errors import ValidationFailed

log = logging.getLogger(__name__)

FIRST_YEAR, LAST_YEAR = 2000, 2099
# Plausibility bounds for one year's notice. The national notices give 28-33 days off (weekends
# inside the runs included), at most 8 make-up days, runs of at most 9 days, and every 调休
# working day lies within 12 days of a holiday; the bounds leave room for a county's own days.
MAX_HOLIDAYS = 40
MAX_WORKDAYS = 12
MAX_HOLIDAY_RUN = 12
MAX_WORKDAY_DISTANCE = 14
SOURCE_MAX_LENGTH = 300
_YEAR_KEYS = {"holidays", "workdays", "provisional", "source"}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WEEKDAYS_ZH = "一二三四五六日"


class Coverage(StrEnum):
    """How far a year's working days can be trusted."""

    CONFIRMED = "confirmed"  # from the State Council's notice
    PROVISIONAL = "provisional"  # statutory days only, the notice is not out yet
    MISSING = "missing"  # not in the table: Monday to Friday

    @property
    def label_zh(self) -> str:
        return {"confirmed": "已确认", "provisional": "暂定", "missing": "缺失"}[self.value]


@dataclass(frozen=True)
class YearTable:
    """One year's days off and make-up working days, as one notice gives them."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    provisional: bool = False
    source: str | None = None
    # "shipped" (minyi/data/holidays.toml) or "imported" (the database).
    origin: str = "shipped"
    imported_at: datetime | None = None

    @property
    def coverage(self) -> Coverage:
        return Coverage.PROVISIONAL if self.provisional else Coverage.CONFIRMED


def parse_calendar_toml(text: str, *, origin: str, default_source: str | None = None):
    """The year tables of a holidays.toml-format text, checked strictly; refuses any problem.

    Every problem of the file is collected, so that a county fixes its file in one pass; a
    single one refuses the whole file (nothing is half-imported).
    """
    problems: list[tuple[str, str]] = []
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _invalid([(f"不是有效的 TOML：{exc}", f"not valid TOML: {exc}")]) from exc
    if not raw:
        raise _invalid([("文件中没有 [年份] 表", "the file has no [YYYY] table")])
    tables = []
    for key, value in raw.items():
        table = _parse_year_table(key, value, problems, origin, default_source)
        if table is not None:
            tables.append(table)
    if problems:
        raise _invalid(problems)
    return sorted(tables, key=lambda t: t.year)


def _parse_year_table(key, value, problems, origin, default_source) -> YearTable | None:
    if not re.fullmatch(r"\d{4}", key) or not FIRST_YEAR <= int(key) <= LAST_YEAR:
        problems.append(
            (
                f"[{key}]：表名须为 {FIRST_YEAR}-{LAST_YEAR} 之间的年份",
                f"[{key}]: a table name must be a year from {FIRST_YEAR} to {LAST_YEAR}",
            )
        )
        return None
    if not isinstance(value, dict):
        problems.append((f"{key}：须为 [{key}] 表", f"{key}: must be a [{key}] table"))
        return None
    year = int(key)
    start = len(problems)

    def problem(zh: str, en: str) -> None:
        problems.append((f"[{year}] {zh}", f"[{year}] {en}"))

    unknown = sorted(set(value) - _YEAR_KEYS)
    if unknown:
        names = ", ".join(unknown)
        problem(
            f"未知的键：{names}（可用 holidays、workdays、provisional、source）",
            f"unknown key(s): {names} (allowed: holidays, workdays, provisional, source)",
        )
    if "holidays" not in value:
        problem("缺少 holidays 列表", "the holidays list is missing")
    holidays = _parse_days(year, "holidays", value.get("holidays", []), problem)
    workdays = _parse_days(year, "workdays", value.get("workdays", []), problem)

    provisional = value.get("provisional", False)
    if not isinstance(provisional, bool):
        problem("provisional 须为 true 或 false", "provisional must be true or false")
    source = value.get("source", default_source)
    if source is not None and (
        not isinstance(source, str) or not source.strip() or len(source) > SOURCE_MAX_LENGTH
    ):
        problem(
            f"source 须为 1-{SOURCE_MAX_LENGTH} 个字符的文字",
            f"source must be text of 1-{SOURCE_MAX_LENGTH} characters",
        )

    for day in sorted(holidays & workdays):
        problem(
            f"{day} 既是假日又是调休上班日", f"{day} is both a holiday and a make-up working day"
        )
    for day in sorted(workdays):
        if day.weekday() < 5:
            problem(
                f"{day} 是星期{_WEEKDAYS_ZH[day.weekday()]}：调休上班日只能是周六或周日",
                f"{day} is a {day:%A}: a make-up working day must be a Saturday or a Sunday",
            )
        elif holidays and min(abs((day - h).days) for h in holidays) > MAX_WORKDAY_DISTANCE:
            problem(
                f"调休上班日 {day} 距任何假日都超过 {MAX_WORKDAY_DISTANCE} 天",
                f"make-up working day {day} is more than {MAX_WORKDAY_DISTANCE} days"
                " from any holiday",
            )
    _check_plausible(holidays, workdays, problem)
    if len(problems) > start:
        return None
    return YearTable(
        year=year,
        holidays=frozenset(holidays),
        workdays=frozenset(workdays),
        provisional=provisional,
        source=source.strip() if source else None,
        origin=origin,
    )


def _parse_days(year: int, name: str, values, problem) -> set[date]:
    if not isinstance(values, list):
        problem(f"{name} 须为日期列表", f"{name} must be a list of dates")
        return set()
    days: set[date] = set()
    for value in values:
        day = _parse_day(value)
        if day is None:
            problem(
                f"{name}：{value!r} 不是 YYYY-MM-DD 格式的日期",
                f"{name}: {value!r} is not a YYYY-MM-DD date",
            )
        elif day.year != year:
            problem(f"{name}：{day} 不在 {year} 年内", f"{name}: {day} is not in {year}")
        elif day in days:
            problem(f"{name}：{day} 重复", f"{name}: {day} is listed twice")
        else:
            days.add(day)
    return days


def _parse_day(value) -> date | None:
    # A TOML date literal is ISO already; a datetime is not a day. A string must be exactly
    # YYYY-MM-DD: date.fromisoformat alone also takes 20280101 and week dates.
    if type(value) is date:
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _check_plausible(holidays: set[date], workdays: set[date], problem) -> None:
    if len(holidays) > MAX_HOLIDAYS:
        problem(
            f"假日 {len(holidays)} 天，超过合理上限 {MAX_HOLIDAYS} 天",
            f"{len(holidays)} holidays, more than the plausible {MAX_HOLIDAYS}",
        )
    if len(workdays) > MAX_WORKDAYS:
        problem(
            f"调休上班日 {len(workdays)} 天，超过合理上限 {MAX_WORKDAYS} 天",
            f"{len(workdays)} make-up working days, more than the plausible {MAX_WORKDAYS}",
        )
    for first, last in _runs(sorted(holidays)):
        length = (last - first).days + 1
        if length > MAX_HOLIDAY_RUN:
            problem(
                f"{first} 至 {last} 连续放假 {length} 天，超过合理上限 {MAX_HOLIDAY_RUN} 天",
                f"{first} to {last} is a run of {length} days off, more than the"
                f" plausible {MAX_HOLIDAY_RUN}",
            )


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """(first, last) of each run of consecutive days in the sorted `days`."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and (day - runs[-1][1]).days == 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _invalid(problems: list[tuple[str, str]]) -> ValidationFailed:
    return ValidationFailed(
        "日历文件有误，未导入任何年份：\n  " + "\n  ".join(zh for zh, _ in problems),
        "calendar file refused, no year imported:\n  " + "\n  ".join(en for _, en in problems),
        problems=problems,
    )


@lru_cache(maxsize=1)
def shipped_years() -> tuple[YearTable, ...]:
    """The year tables shipped in minyi/data/holidays.toml."""
    raw = resources.files("minyi").joinpath("data", "holidays.toml").read_text(encoding="utf-8")
    return tuple(parse_calendar_toml(raw, origin="shipped"))


# Years already warned about in this process: a loop over a missing year warns once.
_warned_missing_years: set[int] = set()
_warned_lock = threading.Lock()


def _warn_missing_year(year: int) -> None:
    with _warned_lock:
        if year in _warned_missing_years:
            return
        _warned_missing_years.add(year)
    log.warning(
        "节假日日历没有 %s 年：该年按周一至周五计算工作日，请导入当年的国务院放假通知"
        "（minyi calendar import FILE）。"
        " / The holiday calendar has no %s: its working days are counted Monday to Friday;"
        " import that year's State Council notice (minyi calendar import FILE).",
        year,
        year,
    )


class WorkCalendar:
    """Which days are working days: shipped and imported years plus the county's corrections."""

    def __init__(
        self,
        extra_holidays: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
        *,
        years: Iterable[YearTable] = (),
    ) -> None:
        tables = {table.year: table for table in shipped_years()}
        # An imported year replaces the shipped table of that year as a whole.
        tables.update({table.year: table for table in years})
        self.years: dict[int, YearTable] = dict(sorted(tables.items()))
        holidays = frozenset().union(*(t.holidays for t in self.years.values()))
        workdays = frozenset().union(*(t.workdays for t in self.years.values()))
        # The configuration has the last word over both tables.
        extra_holidays, extra_workdays = frozenset(extra_holidays), frozenset(extra_workdays)
        self.holidays = (holidays | extra_holidays) - extra_workdays
        self.workdays = (workdays - extra_holidays) | extra_workdays

    @classmethod
    def from_settings(cls, settings, years: Iterable[YearTable] = ()) -> WorkCalendar:
        """The calendar of `settings`, with `years` (imported from the database) if given."""
        return cls(settings.calendar.extra_holidays, settings.calendar.extra_workdays, years=years)

    def coverage(self, year: int) -> Coverage:
        """Whether `year` is confirmed by a notice, provisional, or missing."""
        table = self.years.get(year)
        return Coverage.MISSING if table is None else table.coverage

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        if day.year not in self.years:
            _warn_missing_year(day.year)
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
