"""The working-day calendar in the database: imported notices, coverage status and notices."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from minyi.config import Settings
from minyi.db import READ_ONLY
from minyi.errors import ValidationFailed
from minyi.models import CalendarYear
from minyi.workdays import Coverage, WorkCalendar, YearTable, parse_calendar_toml

if TYPE_CHECKING:
    from minyi.services.context import ServiceContext

log = logging.getLogger(__name__)


def imported_years(session: Session) -> list[YearTable]:
    """The year tables a county imported, oldest year first."""
    rows = session.scalars(select(CalendarYear).order_by(CalendarYear.year))
    return [
        YearTable(
            year=row.year,
            holidays=frozenset(date.fromisoformat(day) for day in row.holidays),
            workdays=frozenset(date.fromisoformat(day) for day in row.workdays),
            provisional=row.provisional,
            source=row.source,
            origin="imported",
            imported_at=row.imported_at,
        )
        for row in rows
    ]


def load_calendar(settings: Settings, session: Session) -> WorkCalendar:
    """The calendar of `settings` with the years imported into the database."""
    return WorkCalendar.from_settings(settings, years=imported_years(session))


def read_calendar(settings: Settings, session_factory: sessionmaker) -> WorkCalendar:
    """The calendar of `settings` with the imported years, read in its own short session."""
    with session_factory() as session:
        # A read: on SQLite it must not queue for the write lock behind the site's writers.
        session.connection(execution_options={READ_ONLY: True})
        return load_calendar(settings, session)


def read_calendar_file(path: Path) -> list[YearTable]:
    """The year tables of a notice file in holidays.toml format, checked strictly."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            f"{path}：日历文件须为 UTF-8 编码", f"{path}: a calendar file must be UTF-8"
        ) from exc
    except OSError as exc:
        raise ValidationFailed(
            f"无法读取日历文件 {path}：{exc.strerror}", f"cannot read {path}: {exc.strerror}"
        ) from exc
    return parse_calendar_toml(text, origin="imported", default_source=path.name)


def store_calendar_years(session: Session, tables: list[YearTable]) -> list[bool]:
    """Store `tables`, each replacing an earlier import of its year; flushes.

    Returns, per table, whether it replaced an earlier import.
    """
    years = [table.year for table in tables]
    earlier = set(session.scalars(select(CalendarYear.year).where(CalendarYear.year.in_(years))))
    session.execute(delete(CalendarYear).where(CalendarYear.year.in_(years)))
    session.add_all(
        CalendarYear(
            year=table.year,
            holidays=sorted(day.isoformat() for day in table.holidays),
            workdays=sorted(day.isoformat() for day in table.workdays),
            provisional=table.provisional,
            source=table.source,
        )
        for table in tables
    )
    session.flush()
    return [table.year in earlier for table in tables]


def import_calendar_file(session: Session, path: Path) -> list[tuple[YearTable, bool]]:
    """Check the notice file at `path` and store all its years, or refuse it whole.

    Returns each year's table with whether it replaced an earlier import.
    """
    tables = read_calendar_file(path)
    return list(zip(tables, store_calendar_years(session, tables), strict=True))


def calendar_status(calendar: WorkCalendar, today: date) -> list[tuple[int, YearTable | None]]:
    """Every year the calendar knows with its table, plus the current and next year if missing."""
    years = sorted(set(calendar.years) | {today.year, today.year + 1})
    return [(year, calendar.years.get(year)) for year in years]


@dataclass(frozen=True)
class CalendarNotice:
    """A bilingual note for admins about a year whose working days cannot be fully trusted."""

    year: int
    coverage: Coverage
    message_zh: str
    message_en: str

    def __str__(self) -> str:
        return f"{self.message_zh} / {self.message_en}"


def notices_for(calendar: WorkCalendar, today: date) -> list[CalendarNotice]:
    """Notices for the current and the next year when they are provisional or missing."""
    notices = []
    for year in (today.year, today.year + 1):
        coverage = calendar.coverage(year)
        if coverage is Coverage.PROVISIONAL:
            notices.append(
                CalendarNotice(
                    year,
                    coverage,
                    f"{year} 年的节假日安排为暂定（仅含法定假日，未含调休）："
                    f"国务院通知发布后请用 minyi calendar import 导入。",
                    f"The {year} holiday calendar is provisional (statutory days only, no"
                    f" 调休 swaps): import the State Council's notice with"
                    f" `minyi calendar import` once it is published.",
                )
            )
        elif coverage is Coverage.MISSING:
            notices.append(
                CalendarNotice(
                    year,
                    coverage,
                    f"节假日日历没有 {year} 年：该年按周一至周五计算工作日，"
                    f"期限可能有误；请用 minyi calendar import 导入当年通知。",
                    f"The holiday calendar has no {year}: its working days are counted Monday"
                    f" to Friday and deadlines may be wrong; import that year's notice with"
                    f" `minyi calendar import`.",
                )
            )
    return notices


def calendar_notices(ctx: ServiceContext, today: date | None = None) -> list[CalendarNotice]:
    """What the staff area shows admins about the calendar of `ctx` (today: the county's)."""
    if today is None:
        today = ctx.local_date(ctx.now())
    return notices_for(ctx.calendar, today)


def warn_about_calendar(calendar: WorkCalendar, today: date) -> list[CalendarNotice]:
    """Log a warning for the current and next year when provisional or missing (entry points)."""
    notices = notices_for(calendar, today)
    for notice in notices:
        log.warning("%s", notice)
    return notices


def check_calendar_at_start(
    settings: Settings, session_factory: sessionmaker, today: date | None = None
) -> WorkCalendar:
    """The calendar of a starting process, its gaps logged; tolerates a database not yet up.

    An entry point calls this before it serves. A database that cannot be read here is
    reported by the entry point's own first use of it, so the shipped table stands in.
    """
    try:
        calendar = read_calendar(settings, session_factory)
    except SQLAlchemyError as exc:
        log.debug("imported calendar years unreadable at start: %s", exc)
        calendar = WorkCalendar.from_settings(settings)
    if today is None:
        from zoneinfo import ZoneInfo

        today = datetime.now(ZoneInfo(settings.calendar.timezone)).date()
    warn_about_calendar(calendar, today)
    return calendar
