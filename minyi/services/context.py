"""What service functions need besides the session: settings, the calendar, the clock, NLP."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
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
    # texts -> their analyses in one call (nlp.analyze_many); used by bulk work such as the
    # importer. Without it, `analyze_texts` calls `analyzer` once per text.
    batch_analyzer: Callable[[list[str]], list[Any]] | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, *, session_factory: sessionmaker | None = None, **kwargs: Any
    ) -> ServiceContext:
        """A context for `settings`; with `session_factory`, its database's imported years too."""
        if settings.nlp.enabled:
            use_active_models(settings)
        if "analyzer" not in kwargs and settings.nlp.enabled:
            kwargs["analyzer"] = default_analyzer()
            if kwargs["analyzer"] is not None:
                kwargs.setdefault("batch_analyzer", default_batch_analyzer())
        if "calendar" not in kwargs:
            kwargs["calendar"] = (
                WorkCalendar.from_settings(settings)
                if session_factory is None
                else read_calendar(settings, session_factory)
            )
        return cls(settings=settings, **kwargs)

    def analyze_texts(self, texts: list[str]) -> list[Any] | None:
        """The analyses of `texts` in order, as one batch when possible; None without NLP."""
        if self.batch_analyzer is not None:
            return list(self.batch_analyzer(texts))
        if self.analyzer is not None:
            return [self.analyzer(text) for text in texts]
        return None

    def warm_up(self) -> None:
        """Load the analyzer's models and tables now, not on the first complaint: for nlp's
        own analyzer `nlp.warm_up()` (every table it would load on first need, the HMM's
        jieba import included), one call of any other; nothing without NLP."""
        if self.analyzer is None:
            return
        try:
            import nlp
        except ImportError:
            nlp = None
        if nlp is not None and self.analyzer is nlp.analyze:
            nlp.warm_up()
        else:
            self.analyzer("预热")

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

    def local_midnight(self, day: date) -> datetime:
        """The moment the county's calendar `day` begins (bounds of a filter by local dates)."""
        return datetime.combine(day, time.min, tzinfo=self.timezone)


def use_active_models(settings: Settings) -> None:
    """Have nlp serve the active retrained version under [nlp] model_dir (re-checked every
    few seconds, so `minyi nlp retrain` and `rollback` take effect without a restart)."""
    try:
        from nlp.model_store import use_model_dir
    except ImportError:
        return
    use_model_dir(Path(settings.nlp.model_dir))


def default_analyzer() -> Callable[[str], Any] | None:
    """nlp.analyze when the nlp package and its model are importable, else None."""
    try:
        from nlp import analyze
    except ImportError:
        return None
    return analyze


def default_batch_analyzer() -> Callable[[list[str]], list[Any]] | None:
    """nlp.analyze_many when the nlp package is importable, else None."""
    try:
        from nlp import analyze_many
    except ImportError:
        return None
    return analyze_many
