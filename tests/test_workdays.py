from datetime import date

import pytest

from minyi.workdays import WorkCalendar


@pytest.fixture
def cal():
    return WorkCalendar()


def test_weekend_is_skipped(cal):
    # Friday 2026-11-27 + 1 working day = Monday 2026-11-30.
    assert cal.add_working_days(date(2026, 11, 27), 1) == date(2026, 11, 30)
    assert cal.add_working_days(date(2026, 11, 27), 5) == date(2026, 12, 4)


def test_national_day_holiday_is_skipped(cal):
    # Tue 2026-09-29 + 3: Wed 30 Sep, then 1-7 Oct are holidays, Thu 8 Oct, Fri 9 Oct.
    assert cal.add_working_days(date(2026, 9, 29), 3) == date(2026, 10, 9)


def test_make_up_working_day_counts(cal):
    # Saturday 2026-10-10 is a 调休 working day: Fri 9 Oct + 1 = Sat 10 Oct.
    assert cal.is_working_day(date(2026, 10, 10))
    assert cal.add_working_days(date(2026, 10, 9), 1) == date(2026, 10, 10)
    # Sunday 2026-01-04 too, right after the New Year holiday.
    assert cal.add_working_days(date(2025, 12, 31), 1) == date(2026, 1, 4)


def test_spring_festival_2025(cal):
    # Friday 2025-01-24 + 1: Sunday 26 Jan is a make-up working day.
    assert cal.add_working_days(date(2025, 1, 24), 1) == date(2025, 1, 26)
    # Monday 27 Jan + 1: holidays 28 Jan - 4 Feb, Wed 5 Feb.
    assert cal.add_working_days(date(2025, 1, 27), 1) == date(2025, 2, 5)


def test_county_overrides():
    cal = WorkCalendar(extra_holidays=[date(2026, 12, 1)], extra_workdays=[date(2026, 10, 2)])
    assert not cal.is_working_day(date(2026, 12, 1))
    assert cal.is_working_day(date(2026, 10, 2))
    assert cal.add_working_days(date(2026, 11, 30), 1) == date(2026, 12, 2)


def test_working_days_between(cal):
    assert cal.working_days_between(date(2026, 11, 27), date(2026, 12, 4)) == 5
    assert cal.working_days_between(date(2026, 12, 4), date(2026, 11, 27)) == -5
    assert cal.add_working_days(date(2026, 11, 27), 0) == date(2026, 11, 27)
