import logging
from datetime import date, timedelta

import pytest

from minyi import workdays
from minyi.errors import ValidationFailed
from minyi.workdays import Coverage, WorkCalendar, parse_calendar_toml, shipped_years


@pytest.fixture(autouse=True)
def _fresh_missing_year_warnings(monkeypatch):
    # The missing-year warning is once per process; each test starts as a fresh process.
    monkeypatch.setattr(workdays, "_warned_missing_years", set())


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


# -- 2024 ----------------------------------------------------------------------------------------


def test_2024_spring_festival_sla(cal):
    # Mon 02-05 + 15: 6-9 Feb (除夕 included), Sun 18 Feb (调休), 19-23, 26-29 Feb, Fri 1 Mar.
    assert cal.add_working_days(date(2024, 2, 5), 15) == date(2024, 3, 1)


def test_2024_new_year_eve_is_a_working_day(cal):
    # The 2024 notice gives 初一-初八 (02-10..17) off; 除夕 Fri 02-09 is a working day.
    assert cal.is_working_day(date(2024, 2, 9))
    assert not any(cal.is_working_day(date(2024, 2, d)) for d in range(10, 18))


@pytest.mark.parametrize(
    "sunday_or_saturday",
    ["2024-02-04", "2024-02-18", "2024-04-07", "2024-04-28", "2024-05-11", "2024-09-14",
     "2024-09-29", "2024-10-12"],
)  # fmt: skip
def test_2024_make_up_days_are_working_days(cal, sunday_or_saturday):
    day = date.fromisoformat(sunday_or_saturday)
    assert day.weekday() >= 5
    assert cal.is_working_day(day)


def test_2024_holidays(cal):
    off = "01-01 04-04 04-05 05-01 05-02 05-03 06-10 09-16 09-17 10-01 10-04 10-07".split()
    assert [d for d in off if cal.is_working_day(date.fromisoformat(f"2024-{d}"))] == []
    # Around the May holiday: Sun 04-28 works, 05-01..05-05 off, Mon 05-06 works.
    assert cal.add_working_days(date(2024, 4, 26), 1) == date(2024, 4, 28)
    assert cal.add_working_days(date(2024, 4, 30), 1) == date(2024, 5, 6)
    # Sun 29 and Mon 30 Sep, Tue 8 to Fri 11 Oct, Sat 12 Oct.
    assert cal.working_days_between(date(2024, 9, 27), date(2024, 10, 12)) == 7


# -- coverage: confirmed, provisional, missing ---------------------------------------------------


def test_coverage_of_the_shipped_years(cal):
    assert [(y, cal.coverage(y)) for y in range(2023, 2029)] == [
        (2023, Coverage.MISSING),
        (2024, Coverage.CONFIRMED),
        (2025, Coverage.CONFIRMED),
        (2026, Coverage.CONFIRMED),
        (2027, Coverage.PROVISIONAL),
        (2028, Coverage.MISSING),
    ]
    assert all(cal.years[y].source for y in (2024, 2025, 2026, 2027))


def test_2027_holds_only_the_statutory_days(cal):
    table = cal.years[2027]
    assert table.provisional and table.workdays == frozenset()
    assert sorted(d.isoformat() for d in table.holidays) == [
        "2027-01-01",
        "2027-02-05", "2027-02-06", "2027-02-07", "2027-02-08",
        "2027-04-05",
        "2027-05-01", "2027-05-02",
        "2027-06-09",
        "2027-09-15",
        "2027-10-01", "2027-10-02", "2027-10-03",
    ]  # fmt: skip
    # No guessed 调休: 国庆 ends on 10-03, Mon 10-04 is a working day until the notice says not.
    assert cal.is_working_day(date(2027, 10, 4))
    # 除夕 Fri 02-05 to 初三 Mon 02-08: Thu 02-04 + 1 = Tue 02-09.
    assert cal.add_working_days(date(2027, 2, 4), 1) == date(2027, 2, 9)


def test_a_provisional_year_computes_without_a_warning(cal, caplog):
    with caplog.at_level(logging.WARNING, logger="minyi.workdays"):
        assert cal.add_working_days(date(2027, 9, 14), 1) == date(2027, 9, 16)
    assert caplog.records == []


def test_a_missing_year_counts_weekdays_and_warns_once(cal, caplog):
    with caplog.at_level(logging.WARNING, logger="minyi.workdays"):
        # Mon 2030-09-30 + 5: no National Day in the table, so Tue 1 Oct to Mon 7 Oct.
        assert cal.add_working_days(date(2030, 9, 30), 5) == date(2030, 10, 7)
        assert cal.is_working_day(date(2030, 1, 1))
        assert not cal.is_working_day(date(2030, 1, 5))  # a Saturday
        # Another calendar of the same process does not repeat it.
        assert WorkCalendar().add_working_days(date(2030, 2, 1), 1) == date(2030, 2, 4)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert "2030" in messages[0] and "minyi calendar import" in messages[0]
    assert caplog.records[0].levelno == logging.WARNING


def test_each_missing_year_warns_once(cal, caplog):
    with caplog.at_level(logging.WARNING, logger="minyi.workdays"):
        cal.working_days_between(date(2029, 12, 1), date(2031, 1, 31))
        cal.working_days_between(date(2029, 12, 1), date(2031, 1, 31))
    assert sorted(int(r.args[0]) for r in caplog.records) == [2029, 2030, 2031]


# -- precedence: shipped < imported < configuration ----------------------------------------------


def test_county_overrides():
    cal = WorkCalendar(extra_holidays=[date(2026, 12, 1)], extra_workdays=[date(2026, 10, 2)])
    assert not cal.is_working_day(date(2026, 12, 1))
    assert cal.is_working_day(date(2026, 10, 2))
    assert cal.add_working_days(date(2026, 11, 30), 1) == date(2026, 12, 2)


def test_an_imported_year_replaces_the_shipped_one_and_config_beats_both():
    [imported] = parse_calendar_toml(
        """
        [2026]
        holidays = ["2026-10-01", "2026-10-02"]
        workdays = ["2026-10-10"]
        """,
        origin="imported",
    )
    cal = WorkCalendar(years=[imported])
    assert cal.years[2026].origin == "imported"
    # The shipped 10-03..10-07 and the shipped 调休 Sat 09-20 are gone with the shipped table.
    assert cal.is_working_day(date(2026, 10, 5)) and not cal.is_working_day(date(2026, 9, 20))
    assert not cal.is_working_day(date(2026, 10, 2)) and cal.is_working_day(date(2026, 10, 10))
    # Other years keep their shipped tables.
    assert not cal.is_working_day(date(2025, 10, 8))

    county = WorkCalendar(
        [date(2026, 10, 10)], [date(2026, 10, 2)], years=[imported]
    )  # a holiday on the imported 调休 day, a working day on an imported holiday
    assert not county.is_working_day(date(2026, 10, 10))
    assert county.is_working_day(date(2026, 10, 2))


def test_working_days_between(cal):
    assert cal.working_days_between(date(2026, 11, 27), date(2026, 12, 4)) == 5
    assert cal.working_days_between(date(2026, 12, 4), date(2026, 11, 27)) == -5
    assert cal.add_working_days(date(2026, 11, 27), 0) == date(2026, 11, 27)


# -- the file format -----------------------------------------------------------------------------


def test_the_shipped_table_passes_the_import_checks():
    assert [t.year for t in shipped_years()] == [2024, 2025, 2026, 2027]
    assert all(t.origin == "shipped" for t in shipped_years())


GOOD = """
[2028]
source = "国务院办公厅关于2028年部分节假日安排的通知"
holidays = ["2028-01-01", 2028-01-24, "2028-01-25"]
workdays = ["2028-01-22"]

[2029]
provisional = true
holidays = ["2029-01-01"]
"""


def test_a_good_file_parses():
    first, second = parse_calendar_toml(GOOD, origin="imported", default_source="notice.toml")
    assert first.year == 2028 and not first.provisional
    assert first.holidays == {date(2028, 1, 1), date(2028, 1, 24), date(2028, 1, 25)}
    assert first.workdays == {date(2028, 1, 22)}
    assert first.source == "国务院办公厅关于2028年部分节假日安排的通知"
    assert second.provisional and second.workdays == frozenset()
    assert second.source == "notice.toml"


def _refusal(text: str) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as refused:
        parse_calendar_toml(text, origin="imported")
    assert refused.value.message_zh.startswith("日历文件有误，未导入任何年份")
    assert refused.value.message_en.startswith("calendar file refused, no year imported")
    return refused.value


@pytest.mark.parametrize(
    ("text", "zh", "en"),
    [
        ("[2028\nholidays = []", "不是有效的 TOML", "not valid TOML"),
        ("# nothing\n", "没有 [年份] 表", "no [YYYY] table"),
        ("[28]\nholidays = []", "表名须为", "must be a year"),
        ("[1900]\nholidays = []", "表名须为", "must be a year"),
        ("[calendar]\nholidays = []", "表名须为", "must be a year"),
        ("2028 = 5", "须为 [2028] 表", "must be a [2028] table"),
        ("[2028]\nholidays = []\nworkday = []", "未知的键：workday", "unknown key(s): workday"),
        ("[2028]\nworkdays = []", "缺少 holidays", "holidays list is missing"),
        ('[2028]\nholidays = "2028-01-01"', "须为日期列表", "must be a list of dates"),
        ('[2028]\nholidays = ["2028/01/01"]', "'2028/01/01' 不是 YYYY-MM-DD", "not a YYYY-MM-DD"),
        ('[2028]\nholidays = ["20280101"]', "不是 YYYY-MM-DD", "not a YYYY-MM-DD"),
        ('[2028]\nholidays = ["2028-02-30"]', "不是 YYYY-MM-DD", "not a YYYY-MM-DD"),
        ("[2028]\nholidays = [2028-01-01T08:00:00]", "不是 YYYY-MM-DD", "not a YYYY-MM-DD"),
        ("[2028]\nholidays = [20280101]", "不是 YYYY-MM-DD", "not a YYYY-MM-DD"),
        ('[2028]\nholidays = ["2029-01-01"]', "2029-01-01 不在 2028 年内", "is not in 2028"),
        ('[2028]\nholidays = ["2028-01-01", "2028-01-01"]', "重复", "listed twice"),
        ('[2028]\nholidays = []\nworkdays = ["2028-01-22", "2028-01-22"]', "重复", "twice"),
        (
            '[2028]\nholidays = ["2028-01-22"]\nworkdays = ["2028-01-22"]',
            "既是假日又是调休上班日",
            "both a holiday and a make-up working day",
        ),
        (
            '[2028]\nholidays = ["2028-01-24"]\nworkdays = ["2028-01-26"]',
            "2028-01-26 是星期三：调休上班日只能是周六或周日",
            "is a Wednesday: a make-up working day must be a Saturday or a Sunday",
        ),
        (
            '[2028]\nholidays = ["2028-01-24"]\nworkdays = ["2028-03-04"]',
            "距任何假日都超过 14 天",
            "more than 14 days from any holiday",
        ),
        ('[2028]\nholidays = []\nprovisional = "yes"', "provisional 须为", "true or false"),
        ('[2028]\nholidays = []\nsource = ""', "source 须为", "source must be text"),
        ("[2028]\nholidays = []\nsource = 7", "source 须为", "source must be text"),
    ],
)
def test_a_bad_file_is_refused(text, zh, en):
    refused = _refusal(text)
    assert zh in refused.message_zh
    assert en in refused.message_en


def _dates(first: date, count: int, step: int = 1) -> str:
    """A TOML list of `count` dates from `first`, `step` days apart."""
    return "[" + ", ".join(f'"{first + timedelta(days=step * n)}"' for n in range(count)) + "]"


def test_implausible_tables_are_refused():
    refused = _refusal(f"[2028]\nholidays = {_dates(date(2028, 3, 1), 31)}")
    assert "2028-03-01 至 2028-03-31 连续放假 31 天，超过合理上限 12 天" in refused.message_zh
    assert "2028-03-01 to 2028-03-31 is a run of 31 days off" in refused.message_en

    mondays = _dates(date(2028, 1, 3), 41, step=7)
    refused = _refusal(f"[2028]\nholidays = {mondays}")
    assert "假日 41 天，超过合理上限 40 天" in refused.message_zh
    assert "41 holidays, more than the plausible 40" in refused.message_en

    # 13 make-up Saturdays, each near a Friday holiday.
    fridays, saturdays = _dates(date(2028, 1, 7), 13, step=7), _dates(date(2028, 1, 8), 13, step=7)
    refused = _refusal(f"[2028]\nholidays = {fridays}\nworkdays = {saturdays}")
    assert "调休上班日 13 天，超过合理上限 12 天" in refused.message_zh
    assert refused.details["problems"] == [
        (
            "[2028] 调休上班日 13 天，超过合理上限 12 天",
            "[2028] 13 make-up working days, more than the plausible 12",
        )
    ]


def test_every_problem_of_a_file_is_listed_and_no_year_is_kept():
    refused = _refusal(
        """
        [2028]
        holidays = ["2028-01-01"]

        [2029]
        holidays = ["2029-13-01", "2028-05-01"]
        workdays = ["2029-01-02"]
        """
    )
    problems = refused.details["problems"]
    assert len(problems) == 3
    assert all(zh.startswith("[2029] ") and en.startswith("[2029] ") for zh, en in problems)
