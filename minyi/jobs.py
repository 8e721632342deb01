"""The scheduler: periodic housekeeping jobs, run by exactly one process.

Jobs are module-level functions that take only plain arguments and find the settings and the
session factory in this module's context, so a persistent job store (SQLAlchemyJobStore, for
a separate worker process) could store them as well. The default job store is memory: the
jobs are registered again at every start, which is why each has a fixed id and
`replace_existing=True`. Never start a scheduler inside gunicorn workers: two schedulers on one
job store run every job twice.
"""

from __future__ import annotations

import logging
import threading
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import sessionmaker

from minyi.config import Settings
from minyi.db import utcnow
from minyi.services.overview import count_overdue_tickets

log = logging.getLogger(__name__)

REPORT_OVERDUE_JOB_ID = "report_overdue_tickets"
REPORT_OVERDUE_MINUTES = 30

_lock = threading.Lock()
_context: dict[str, object] = {}
_running: BackgroundScheduler | None = None


class SchedulerAlreadyRunning(RuntimeError):
    """A second scheduler in one process would run every job twice."""


def build_scheduler(settings: Settings, session_factory: sessionmaker) -> BackgroundScheduler:
    """A not-yet-started scheduler with every Minyi job registered; start it once per process."""
    with _lock:
        if _running is not None and _running.running:
            raise SchedulerAlreadyRunning(
                "本进程已有一个运行中的调度器 / a scheduler is already running in this process"
            )
        _context.update(settings=settings, session_factory=session_factory)
    tz = ZoneInfo(settings.calendar.timezone)
    scheduler = BackgroundScheduler(
        timezone=tz,
        # A job that missed runs while the machine slept runs once, never in a burst.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    scheduler.add_job(
        report_overdue_tickets,
        trigger="interval",
        minutes=REPORT_OVERDUE_MINUTES,
        id=REPORT_OVERDUE_JOB_ID,
        name="统计逾期诉求 / count overdue tickets",
        replace_existing=True,
        next_run_time=utcnow().astimezone(tz),  # once at start, then every half hour
    )
    return scheduler


def start_scheduler(scheduler: BackgroundScheduler) -> None:
    """Start `scheduler`, refusing a second running one in this process."""
    global _running
    with _lock:
        if _running is not None and _running.running:
            raise SchedulerAlreadyRunning(
                "本进程已有一个运行中的调度器 / a scheduler is already running in this process"
            )
        scheduler.start()
        _running = scheduler


def shutdown_scheduler(scheduler: BackgroundScheduler, *, wait: bool = True) -> None:
    """Stop `scheduler` (waiting for a running job by default); safe to call twice."""
    global _running
    with _lock:
        if scheduler.running:
            scheduler.shutdown(wait=wait)
        if _running is scheduler:
            _running = None


def report_overdue_tickets() -> int:
    """Count the open tickets past their due date and log the figure; read-only, so idempotent."""
    settings: Settings = _context["settings"]  # type: ignore[assignment]
    session_factory: sessionmaker = _context["session_factory"]  # type: ignore[assignment]
    today = utcnow().astimezone(ZoneInfo(settings.calendar.timezone)).date()
    with session_factory() as session, session.begin():
        overdue = count_overdue_tickets(session, today=today)
    if overdue:
        log.warning(
            "逾期未办结诉求 %d 件 / %d open tickets are past their due date", overdue, overdue
        )
    else:
        log.info("无逾期诉求 / no overdue tickets")
    return overdue
