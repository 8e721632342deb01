"""The scheduler: periodic housekeeping jobs, run by exactly one process.

Jobs are module-level functions that take only plain arguments and find the settings and the
session factory in this module's context, so a persistent job store (SQLAlchemyJobStore, for
a separate worker process) could store them as well. The default job store is memory: the
jobs are registered again at every start, which is why each has a fixed id and
`replace_existing=True`. Never start a scheduler inside gunicorn workers: two schedulers on one
job store run every job twice.

Across processes, `LeasedScheduler` runs the jobs only while it holds the scheduler lease
(minyi.lease): a second `minyi worker` (or a worker beside `minyi serve`) stands by and takes
over when the holder ends. The jobs stay idempotent anyway, so the few seconds in which a holder
that lost its database connection has not yet noticed can never deliver anything twice.
"""

from __future__ import annotations

import logging
import threading
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import sessionmaker

from minyi.config import Settings
from minyi.db import utcnow
from minyi.lease import Lease
from minyi.services.overview import count_overdue_tickets

log = logging.getLogger(__name__)

REPORT_OVERDUE_JOB_ID = "report_overdue_tickets"
REPORT_OVERDUE_MINUTES = 30
# Surveys (surveys.worker): each job finds its work in the database, so a minute's delay after
# a restart is all a missed run costs, and a run twice does nothing twice.
SURVEY_ROUNDS_JOB_ID = "survey_rounds"
SURVEY_INVITATIONS_JOB_ID = "survey_invitations"
SURVEY_TEXTS_JOB_ID = "survey_text_analysis"
SURVEY_JOB_MINUTES = 1
REFRESH_INDICATORS_JOB_ID = "refresh_indicator_rollups"
REFRESH_INDICATORS_SECONDS = 60
# Officers' weekly digests, at [indicators] digest_weekday/digest_time; also once at start,
# so a worker that was down at that moment makes them late rather than never.
WEEKLY_DIGEST_JOB_ID = "weekly_digest"
LEASE_RETRY_SECONDS = 10.0

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
    for job_id, function, name in (
        (SURVEY_ROUNDS_JOB_ID, survey_rounds, "开始与结束调查轮次 / open and close survey rounds"),
        (SURVEY_INVITATIONS_JOB_ID, survey_invitations, "调查邀请与提醒 / survey invitations"),
        (SURVEY_TEXTS_JOB_ID, survey_text_analysis, "分析问卷文字答案 / analyse survey texts"),
    ):
        scheduler.add_job(
            function,
            trigger="interval",
            minutes=SURVEY_JOB_MINUTES,
            id=job_id,
            name=name,
            replace_existing=True,
            next_run_time=utcnow().astimezone(tz),
        )
    scheduler.add_job(
        refresh_indicator_rollups,
        trigger="interval",
        seconds=REFRESH_INDICATORS_SECONDS,
        id=REFRESH_INDICATORS_JOB_ID,
        name="更新指标汇总 / fold stale days into the indicator rollup",
        replace_existing=True,
    )
    hour, minute = settings.indicators.digest_time.split(":")
    scheduler.add_job(
        weekly_digest,
        trigger="cron",
        day_of_week=settings.indicators.digest_weekday,
        hour=int(hour),
        minute=int(minute),
        id=WEEKLY_DIGEST_JOB_ID,
        name="部门工作人员每周摘要 / officers' weekly digest",
        replace_existing=True,
        next_run_time=utcnow().astimezone(tz),
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


class LeasedScheduler:
    """The process's scheduler, running the jobs only while it holds the scheduler lease.

    start() tries the lease at once; a watcher thread then checks it every `retry_seconds`:
    a standby tries to take it over, a holder that lost it stops its jobs and stands by again.
    """

    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker,
        lease: Lease,
        *,
        retry_seconds: float = LEASE_RETRY_SECONDS,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.lease = lease
        self.retry_seconds = retry_seconds
        self.scheduler: BackgroundScheduler | None = None
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._standby_logged = False
        self._watcher: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether this process holds the lease and its jobs are scheduled."""
        return self.scheduler is not None and self.scheduler.running

    def start(self) -> None:
        """Take the lease now if it is free, and keep watching it until stop()."""
        self._check()
        self._watcher = threading.Thread(target=self._watch, name="minyi-lease", daemon=True)
        self._watcher.start()

    def wait_for(self, *, running: bool, timeout: float) -> bool:
        """Block until `running` is as asked (True) or `timeout` seconds pass (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: self.running == running, timeout)

    def stop(self) -> None:
        """Stop the jobs (waiting for a running one), give the lease up; safe to call twice."""
        self._stopping.set()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join()
        self._stop_jobs()
        self.lease.release()

    def _watch(self) -> None:
        while not self._stopping.wait(self.retry_seconds):
            self._check()

    def _check(self) -> None:
        try:
            if self.running:
                if not self.lease.is_held():
                    log.error(
                        "调度租约已丢失（数据库连接中断？），本进程停止执行定时任务，稍后重试接管。"
                        " / The scheduler lease was lost (database connection dropped?):"
                        " this process stops running jobs and will try to take over again."
                    )
                    self._stop_jobs()
                    self.lease.release()
                return
            if self.lease.try_acquire():
                self._start_jobs()
            else:
                self._log_standby()
        except Exception:  # noqa: BLE001  (a database outage must not end the watcher)
            log.exception(
                "检查调度租约失败，%g 秒后重试 / checking the scheduler lease failed;"
                " retrying in %g s",
                self.retry_seconds,
                self.retry_seconds,
            )
            if not self.running:
                self.lease.release()

    def _start_jobs(self) -> None:
        if self._stopping.is_set():
            self.lease.release()
            return
        took_over = self._standby_logged
        log.info(
            "已取得调度租约，本进程执行定时任务%s / holding the scheduler lease (%s):"
            " this process runs the jobs%s",
            "（接替原持有者）" if took_over else "",
            self.lease.description,
            " (took over from the previous holder)" if took_over else "",
        )
        self._standby_logged = False
        scheduler = build_scheduler(self.settings, self.session_factory)
        start_scheduler(scheduler)
        with self._changed:
            self.scheduler = scheduler
            self._changed.notify_all()

    def _stop_jobs(self) -> None:
        with self._changed:
            scheduler, self.scheduler = self.scheduler, None
            self._changed.notify_all()
        if scheduler is not None:
            shutdown_scheduler(scheduler)

    def _log_standby(self) -> None:
        # Once per standby period, not at every retry: a standby may wait for days.
        if self._standby_logged:
            return
        self._standby_logged = True
        holder = self.lease.holder
        log.warning(
            "另一个调度进程%s持有调度租约，本进程待命，每 %g 秒重试一次，"
            "对方停止后自动接替。 / Another scheduler%s holds the scheduler lease (%s):"
            " this process stands by, retries every %g s and takes over when it stops.",
            f"（{holder}）" if holder else "",
            self.retry_seconds,
            f" ({holder})" if holder else "",
            self.lease.description,
            self.retry_seconds,
        )


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


def _survey_context(*, nlp: bool = False):
    from minyi.services.context import ServiceContext

    settings: Settings = _context["settings"]  # type: ignore[assignment]
    session_factory: sessionmaker = _context["session_factory"]  # type: ignore[assignment]
    extra = {} if nlp else {"analyzer": None}
    # A test may set a clock; the jobs read the time only through the context.
    if "clock" in _context:
        extra["clock"] = _context["clock"]
    ctx = ServiceContext.from_settings(settings, session_factory=session_factory, **extra)
    return session_factory, ctx


def _read_only(session_factory: sessionmaker) -> sessionmaker:
    """Sessions on the same database that take no write lock: a job's long reads go there,
    so that citizens' writes (SQLite has one writer) never wait for them."""
    from minyi.db import make_session_factory

    return make_session_factory(session_factory.kw["bind"], read_only=True)


def survey_rounds():
    """Plan, open and close survey rounds as the clock says (surveys.worker.run_rounds)."""
    from surveys.worker import run_rounds

    return run_rounds(*_survey_context())


def survey_invitations():
    """Invite subscribers to open rounds and remind non-responders once, in batches."""
    from surveys.worker import run_invitations

    return run_invitations(*_survey_context())


def survey_text_analysis() -> int:
    """Analyse new free-text survey answers (topics, sentiment, keywords)."""
    from surveys.worker import run_text_analysis

    return run_text_analysis(*_survey_context(nlp=True))


def refresh_indicator_rollups() -> int:
    """Fold the days writes marked stale into the indicator rollup, and cache the medians of
    the recent periods; idempotent.

    Readers are exact without it (they recompute stale days on the fly); it keeps them fast.
    """
    from minyi.indicators import apply_refresh, fill_medians, plan_refresh, recent_periods

    session_factory, ctx = _survey_context()
    # The recomputation of the stale days reads without the write lock; the write that
    # follows is short. The medians are computed under the lock: a refresh between reading
    # and writing them could not be told apart from no change, and they are a few indexed reads.
    with _read_only(session_factory)() as session:
        plan = plan_refresh(session, ctx)
    with session_factory.begin() as session:
        handled = apply_refresh(session, plan)
        # Ended periods only: a current one is forgotten by the next rating of the day anyway.
        today = ctx.local_date(ctx.now())
        fill_medians(session, ctx, [p for p in recent_periods(ctx) if p.last < today])
    if handled:
        log.debug("indicator rollup: %d stale markers folded in", handled)
    return handled


def weekly_digest() -> int:
    """Make last week's digest for every officer who has none and queue it to those with a
    Telegram chat id; idempotent (one digest and one message per officer and week)."""
    from minyi.services.digest import make_weekly_digests, plan_weekly_digests

    session_factory, ctx = _survey_context()
    # The seconds of topic analysis run without the write lock; the write itself is short.
    with _read_only(session_factory)() as session:
        week, payloads = plan_weekly_digests(session, ctx)
    with session_factory.begin() as session:
        run = make_weekly_digests(session, ctx, week, payloads)
    if run.created or run.queued:
        log.info(
            "每周摘要 %s：新建 %d 份，排队发送 %d 条 / weekly digest %s: %d made, %d queued",
            run.week, run.created, run.queued, run.week, run.created, run.queued,
        )  # fmt: skip
    return run.created

