"""What service functions need besides the session: settings, the calendar, the clock, NLP."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import sessionmaker

from minyi.config import Settings
from minyi.db import utcnow
from minyi.services.calendar import read_calendar
from minyi.services.validation import check_moment
from minyi.workdays import WorkCalendar


@dataclass
class ServiceContext:
    settings: Settings
    calendar: WorkCalendar
    # text -> an nlp.Analysis-like object; None when NLP is switched off or not installed.
    analyzer: Callable[[str], Any] | None = None
    clock: Callable[[], datetime] = field(default=utcnow)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, session_factory: sessionmaker | None = None, **kwargs: Any
    ) -> ServiceContext:
        """A context for `settings`; with `session_factory`, its database's imported years too."""
        if "analyzer" not in kwargs and settings.nlp.enabled:
            kwargs["analyzer"] = default_analyzer()
        if "calendar" not in kwargs:
            kwargs["calendar"] = (
                WorkCalendar.from_settings(settings)
                if session_factory is None
                else read_calendar(settings, session_factory)
            )
        return cls(settings=settings, **kwargs)

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.calendar.timezone)

    def now(self) -> datetime:
        return self.clock()

    def moment(self, at: object = None) -> datetime:
        """`at` when given (it must be timezone-aware), else now: the time a change records."""
        if at is None:
            return self.clock()
        return check_moment(at)

    def local_date(self, moment: datetime) -> date:
        """The county's calendar date of an aware `moment`."""
        return moment.astimezone(self.timezone).date()


def default_analyzer() -> Callable[[str], Any] | None:
    """nlp.analyze when the nlp package and its model are importable, else None."""
    try:
        from nlp import analyze
    except ImportError:
        return None
    return analyze
