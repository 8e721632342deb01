"""Imported holiday notices in the database, coverage notices and the `minyi calendar` commands."""

import logging
from datetime import date

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import sessionmaker

from minyi import workdays
from minyi.cli import main
from minyi.config import load_settings
from minyi.db import make_engine, make_session_factory
from minyi.errors import ValidationFailed
from minyi.models import CalendarYear
from minyi.services.calendar import (
    calendar_notices,
    check_calendar_at_start,
    import_calendar_file,
    load_calendar,
    read_calendar,
    warn_about_calendar,
)
from minyi.services.context import ServiceContext
from minyi.workdays import Coverage, WorkCalendar

NOTICE_2027 = """
# 2027 as a county would type it from the notice (the days here are made up for the test).
[2027]
source = "国务院办公厅关于2027年部分节假日安排的通知（测试）"
holidays = [
  "2027-01-01", "2027-01-02", "2027-01-03",
  "2027-02-05", "2027-02-06", "2027-02-07", "2027-02-08",
  "2027-02-09", "2027-02-10", "2027-02-11", "2027-02-12",
  "2027-10-01", "2027-10-02", "2027-10-03", "2027-10-04",
  "2027-10-05", "2027-10-06", "2027-10-07",
]
workdays = ["2027-02-20", "2027-09-26", "2027-10-09"]

[2028]
provisional = true
holidays = ["2028-01-01"]
"""


@pytest.fixture(autouse=True)
def _fresh_missing_year_warnings(monkeypatch):
    monkeypatch.setattr(workdays, "_warned_missing_years", set())


def write(tmp_path, text, name="notice.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def stored_years(session_factory):
    with session_factory() as session:
        return session.scalars(select(CalendarYear.year).order_by(CalendarYear.year)).all()


def test_an_imported_notice_is_stored_and_used_by_a_fresh_context(
    settings, session_factory, tmp_path
):
    with session_factory.begin() as session:
        imported = import_calendar_file(session, write(tmp_path, NOTICE_2027))
    assert [(table.year, replaced) for table, replaced in imported] == [
        (2027, False),
        (2028, False),
    ]
    assert stored_years(session_factory) == [2027, 2028]

    ctx = ServiceContext.from_settings(settings, session_factory=session_factory, analyzer=None)
    calendar = ctx.calendar
    assert calendar.coverage(2027) is Coverage.CONFIRMED
    assert calendar.coverage(2028) is Coverage.PROVISIONAL
    assert calendar.years[2027].origin == "imported"
    assert calendar.years[2027].source == "国务院办公厅关于2027年部分节假日安排的通知（测试）"
    assert calendar.years[2028].source == "notice.toml"  # the file name when it names none
    assert calendar.years[2027].imported_at is not None
    # The imported 国庆 runs to 10-07 with a 调休 Saturday 10-09; the shipped one ended 10-03.
    assert calendar.add_working_days(date(2027, 9, 30), 1) == date(2027, 10, 8)
    assert calendar.is_working_day(date(2027, 10, 9))
    # Shipped years are untouched; a context without the database does not see the import.
    assert not calendar.is_working_day(date(2026, 10, 7))
    plain = ServiceContext.from_settings(settings, analyzer=None)
    assert plain.calendar.coverage(2027) is Coverage.PROVISIONAL


def test_configuration_corrects_an_imported_year(settings, session_factory, tmp_path):
    with session_factory.begin() as session:
        import_calendar_file(session, write(tmp_path, NOTICE_2027))
    county = load_settings(
        database={"url": settings.database.url},
        calendar={"extra_holidays": ["2027-10-09"], "extra_workdays": ["2027-10-07"]},
    )
    with session_factory() as session:
        calendar = load_calendar(county, session)
    assert not calendar.is_working_day(date(2027, 10, 9))
    assert calendar.is_working_day(date(2027, 10, 7))


def test_a_reimport_replaces_the_year(session_factory, tmp_path):
    with session_factory.begin() as session:
        import_calendar_file(session, write(tmp_path, NOTICE_2027))
    second = '[2027]\nsource = "更正"\nholidays = ["2027-01-01", "2027-10-01"]\n'
    with session_factory.begin() as session:
        imported = import_calendar_file(session, write(tmp_path, second, "fix.toml"))
    assert [(table.year, replaced) for table, replaced in imported] == [(2027, True)]
    with session_factory() as session:
        row = session.get(CalendarYear, 2027)
        assert row.holidays == ["2027-01-01", "2027-10-01"] and row.workdays == []
        assert row.source == "更正" and row.provisional is False
        calendar = load_calendar(load_settings(), session)
    # 2028 of the first file stays; 2027 has only the new days.
    assert stored_years(session_factory) == [2027, 2028]
    assert calendar.is_working_day(date(2027, 10, 4))
    assert not calendar.is_working_day(date(2027, 10, 1))


BAD_FILES = {
    "not TOML": "[2027\nholidays = []",
    "no year": "title = 'notice'\n",
    "a date outside its year": '[2027]\nholidays = ["2028-01-01"]',
    "not an ISO date": '[2027]\nholidays = ["2027/10/01"]',
    "holiday and workday": '[2027]\nholidays = ["2027-10-09"]\nworkdays = ["2027-10-09"]',
    "a weekday as workday": '[2027]\nholidays = ["2027-10-01"]\nworkdays = ["2027-10-04"]',
    "a duplicate": '[2027]\nholidays = ["2027-10-01", "2027-10-01"]',
    "a typo in a key": '[2027]\nholidays = ["2027-10-01"]\nworkday = ["2027-10-09"]',
    "one bad year of two": '[2028]\nholidays = ["2028-01-01"]\n[2029]\nholidays = ["2028-01-01"]',
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_bad_file_stores_nothing(session_factory, tmp_path, kind):
    with session_factory.begin() as session:
        import_calendar_file(session, write(tmp_path, '[2030]\nholidays = ["2030-01-01"]\n'))
    with pytest.raises(ValidationFailed) as refused:
        with session_factory.begin() as session:
            import_calendar_file(session, write(tmp_path, BAD_FILES[kind], "bad.toml"))
    assert refused.value.message_zh.startswith("日历文件有误，未导入任何年份")
    assert refused.value.message_en.startswith("calendar file refused, no year imported")
    # The earlier import is all that is stored.
    assert stored_years(session_factory) == [2030]


def test_unreadable_files_are_refused(session_factory, tmp_path):
    gbk = tmp_path / "gbk.toml"
    gbk.write_bytes('[2027]\nsource = "国务院办公厅通知"\nholidays = []\n'.encode("gbk"))
    with pytest.raises(ValidationFailed, match="UTF-8"):
        with session_factory.begin() as session:
            import_calendar_file(session, gbk)
    with pytest.raises(ValidationFailed, match="cannot read"):
        with session_factory.begin() as session:
            import_calendar_file(session, tmp_path / "missing.toml")
    assert stored_years(session_factory) == []


# -- notices for admins and entry points ---------------------------------------------------------


def test_notices_name_the_provisional_and_missing_years(settings, session_factory, tmp_path):
    ctx = ServiceContext.from_settings(settings, session_factory=session_factory, analyzer=None)
    # The test clock stands on 2026-11-25 in Beijing: 2026 is confirmed, 2027 provisional.
    [notice] = calendar_notices(ctx)
    assert (notice.year, notice.coverage) == (2027, Coverage.PROVISIONAL)
    assert "2027 年的节假日安排为暂定" in notice.message_zh
    assert "The 2027 holiday calendar is provisional" in notice.message_en

    in_2027 = calendar_notices(ctx, date(2027, 3, 1))
    assert [(n.year, n.coverage) for n in in_2027] == [
        (2027, Coverage.PROVISIONAL),
        (2028, Coverage.MISSING),
    ]
    assert "节假日日历没有 2028 年" in in_2027[1].message_zh
    assert "has no 2028" in in_2027[1].message_en

    with session_factory.begin() as session:
        import_calendar_file(session, write(tmp_path, NOTICE_2027))
    ctx = ServiceContext.from_settings(settings, session_factory=session_factory, analyzer=None)
    assert calendar_notices(ctx, date(2026, 12, 1)) == []
    assert [(n.year, n.coverage) for n in calendar_notices(ctx, date(2027, 3, 1))] == [
        (2028, Coverage.PROVISIONAL)
    ]


def test_warn_about_calendar_logs_each_notice(caplog):
    with caplog.at_level(logging.WARNING, logger="minyi.services.calendar"):
        notices = warn_about_calendar(WorkCalendar(), date(2029, 6, 1))
    assert [n.year for n in notices] == [2029, 2030]
    assert [r.getMessage() for r in caplog.records] == [str(n) for n in notices]
    assert all(r.levelno == logging.WARNING for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="minyi.services.calendar"):
        assert warn_about_calendar(WorkCalendar(), date(2025, 6, 1)) == []
    assert caplog.records == []


def test_check_at_start_reads_the_imported_years(settings, session_factory, tmp_path, caplog):
    with session_factory.begin() as session:
        import_calendar_file(session, write(tmp_path, NOTICE_2027))
    with caplog.at_level(logging.WARNING, logger="minyi.services.calendar"):
        calendar = check_calendar_at_start(settings, session_factory, date(2026, 12, 1))
    assert calendar.coverage(2027) is Coverage.CONFIRMED
    assert caplog.records == []


def test_check_at_start_survives_an_unmigrated_database(settings, tmp_path, caplog):
    engine = create_engine(f"sqlite:///{tmp_path}/empty.db")
    with caplog.at_level(logging.WARNING, logger="minyi.services.calendar"):
        calendar = check_calendar_at_start(settings, sessionmaker(bind=engine), date(2026, 12, 1))
    engine.dispose()
    assert calendar.coverage(2027) is Coverage.PROVISIONAL
    assert ["2027" in r.getMessage() for r in caplog.records] == [True]


# -- the commands --------------------------------------------------------------------------------


@pytest.fixture
def run(settings, tmp_path, monkeypatch):
    """Invoke the CLI on a fresh SQLite database, on 2026-12-01 in the county."""
    monkeypatch.setattr("minyi.cli._county_today", lambda settings: date(2026, 12, 1))
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/cli.db"\n', encoding="utf-8")

    def invoke(*args):
        return CliRunner().invoke(main, ["--config", str(config), *args])

    return invoke


def cli_years(tmp_path):
    engine = make_engine(load_settings(), f"sqlite:///{tmp_path}/cli.db")
    with make_session_factory(engine)() as session:
        count = session.scalar(select(func.count()).select_from(CalendarYear))
    engine.dispose()
    return count


def test_calendar_commands_have_help(run):
    for args in (
        ["calendar", "--help"],
        ["calendar", "status", "--help"],
        ["calendar", "import", "--help"],
    ):
        result = run(*args)
        assert result.exit_code == 0 and "Usage" in result.output, args


def test_status_shows_each_year(run):
    assert run("init").exit_code == 0
    result = run("calendar", "status")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines[:4]] == ["2024", "2025", "2026", "2027"]
    assert lines[0].startswith("2024  已确认 confirmed  内置 shipped  假日 holidays 30")
    assert "国办发明电〔2023〕7号" in lines[0]
    assert lines[3].startswith("2027  暂定 provisional  内置 shipped  假日 holidays 13")
    assert "调休上班 workdays 0" in lines[3]
    assert lines[4].startswith("注意 / note: 2027 年的节假日安排为暂定")


def test_import_then_status(run, tmp_path):
    assert run("init").exit_code == 0
    result = run("calendar", "import", str(write(tmp_path, NOTICE_2027)))
    assert result.exit_code == 0, result.output
    assert "已导入 / imported 2027: 假日 holidays 18  调休上班 workdays 3" in result.output
    assert "已导入 / imported 2028: 假日 holidays 1  调休上班 workdays 0，暂定 / provisional" in (
        result.output
    )
    assert "重启后" in result.output and "after a restart" in result.output
    again = run("calendar", "import", str(write(tmp_path, NOTICE_2027)))
    assert again.output.count("替换先前导入 / replaces the earlier import") == 2

    lines = run("calendar", "status").output.splitlines()
    assert lines[3].startswith("2027  已确认 confirmed  导入 imported 20")
    assert lines[3].endswith("国务院办公厅关于2027年部分节假日安排的通知（测试）")
    assert lines[4].startswith("2028  暂定 provisional  导入 imported")
    assert not any(line.startswith("注意") for line in lines)  # next year (2027) is confirmed


def test_a_refused_import_exits_1_in_two_languages(run, tmp_path):
    assert run("init").exit_code == 0
    bad = '[2027]\nholidays = ["2027-10-01", "2026-10-01"]\nworkdays = ["2027-10-04"]\n'
    result = run("calendar", "import", str(write(tmp_path, bad)))
    assert result.exit_code == 1
    assert "错误：日历文件有误，未导入任何年份" in result.output
    assert "[2027] holidays：2026-10-01 不在 2027 年内" in result.output
    assert "[2027] 2027-10-04 是星期一：调休上班日只能是周六或周日" in result.output
    assert "Error: calendar file refused, no year imported" in result.output
    assert "[2027] holidays: 2026-10-01 is not in 2027" in result.output
    assert cli_years(tmp_path) == 0
    assert run("calendar", "import", str(tmp_path / "nope.toml")).exit_code == 2


def test_init_and_serve_warn_about_the_calendar(run, monkeypatch, caplog):
    served = []
    monkeypatch.setattr("minyi.runtime.serve", lambda settings, **kwargs: served.append(kwargs))
    with caplog.at_level(logging.WARNING, logger="minyi.services.calendar"):
        assert run("init").exit_code == 0
        assert run("serve", "--port", "8123").exit_code == 0
    assert served == [{"host": None, "port": 8123}]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and all("2027" in m and "provisional" in m for m in messages)


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_reading_the_calendar_does_not_wait_for_a_writer(settings, session_factory):
    # A writer holds SQLite's write lock (BEGIN IMMEDIATE); a context built meanwhile only reads.
    with session_factory.begin() as writer:
        writer.add(CalendarYear(year=2031, holidays=["2031-01-01"], workdays=[]))
        writer.flush()
        ctx = ServiceContext.from_settings(settings, session_factory=session_factory)
        # The uncommitted year is not visible to the reader yet.
        assert ctx.calendar.coverage(2031) is Coverage.MISSING
    assert read_calendar(settings, session_factory).coverage(2031) is Coverage.CONFIRMED


def test_the_web_context_has_the_imported_years(settings, session_factory, tmp_path):
    from web import create_app
    from web.database import service_context

    with session_factory.begin() as session:
        import_calendar_file(session, write(tmp_path, NOTICE_2027))
    app = create_app(settings, session_factory=session_factory)
    with app.app_context():
        ctx = service_context()
        assert service_context() is ctx  # built once per app
    assert ctx.calendar.coverage(2027) is Coverage.CONFIRMED
    assert calendar_notices(ctx, date(2026, 12, 1)) == []
