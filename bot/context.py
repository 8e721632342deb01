"""What handlers get besides the update: the core's services, run off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from bot.worker import FilingProcess
from minyi.config import Settings
from minyi.db import commit_together
from minyi.models import Channel, Citizen
from minyi.services.citizens import find_citizen, get_or_create_citizen
from minyi.services.context import ServiceContext
from minyi.services.tickets import analyze_complaints, file_analyzed
from minyi.services.views import TicketView

T = TypeVar("T")

# At most this many queued writes share one commit (BotServices.write).
GROUP_COMMIT_MAX = 32
# At most this many queued complaints are classified in one call (analyze_complaint).
ANALYSIS_BATCH_MAX = 16


class ThreadBatches:
    """Runs `run(items)` in a thread for what was submitted; what is submitted while a batch
    runs (or waits for its turn) goes into the next batch, together.

    `run` returns one (done, value) per item, in order: (True, its result) or (False, the
    exception that item alone raised, given to that item's caller). `turn`, when given, is
    held around each batch (the process's writer's turn). A caller cancelled meanwhile is
    skipped. One mechanism for the group commit and the classifier's batches.
    """

    def __init__(
        self,
        run: Callable[[list], list[tuple[bool, Any]]],
        limit: int,
        turn: Callable[[], contextlib.AbstractAsyncContextManager] | None = None,
    ) -> None:
        self.run = run
        self.limit = limit
        self.turn = turn or contextlib.nullcontext
        self._queued: list[tuple[Any, asyncio.Future]] = []
        self._task: asyncio.Task | None = None

    async def submit(self, item: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._queued.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queued:
            async with self.turn():
                batch = self._queued[: self.limit]
                del self._queued[: self.limit]
                try:
                    outcomes = await asyncio.to_thread(self.run, [item for item, _ in batch])
                except asyncio.CancelledError:  # the bot is stopping: nobody waits forever
                    for _, future in batch + self._queued:
                        future.cancel()
                    self._queued.clear()
                    raise
                except Exception as error:  # noqa: BLE001 (raised again in every caller)
                    outcomes = [(False, error)] * len(batch)
            for (_, future), (done, value) in zip(batch, outcomes, strict=True):
                if future.done():  # its caller was cancelled meanwhile
                    continue
                if done:
                    future.set_result(value)
                else:
                    future.set_exception(value)


class CitizenCache:
    """Recently seen citizens by Telegram user id, so an update needs no database read.

    One bot process per token owns its citizens' language; /lang updates the entry.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._entries: OrderedDict[int, Citizen] = OrderedDict()

    def get(self, user_id: int) -> Citizen | None:
        citizen = self._entries.get(user_id)
        if citizen is not None:
            self._entries.move_to_end(user_id)
        return citizen

    def put(self, user_id: int, citizen: Citizen) -> None:
        self._entries[user_id] = citizen
        self._entries.move_to_end(user_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


@dataclass
class BotServices:
    """Settings, session factories and the service context shared by every handler."""

    settings: Settings
    session_factory: sessionmaker
    read_factory: sessionmaker
    ctx: ServiceContext
    citizens: CitizenCache = field(default_factory=CitizenCache)
    # The child process that classifies and stores complaints (bot/worker.py), when started.
    filing: FilingProcess | None = None
    _writers: asyncio.Semaphore | None = field(default=None, repr=False)
    _group_commits: ThreadBatches = field(init=False, repr=False)
    _analyses: ThreadBatches = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._group_commits = ThreadBatches(
            functools.partial(commit_together, self.session_factory),
            GROUP_COMMIT_MAX,
            turn=lambda: self.writers,
        )
        self._analyses = ThreadBatches(self._analyze_batch, ANALYSIS_BATCH_MAX)

    @property
    def writers(self) -> asyncio.Semaphore:
        """How many write transactions may run at once from this process.

        SQLite takes one writer at a time anyway: queueing here instead of in busy_timeout
        means a burst of complaints waits its turn rather than failing with "locked".
        """
        if self._writers is None:
            engine = self.session_factory.kw["bind"]
            self._writers = asyncio.Semaphore(1 if engine.dialect.name == "sqlite" else 8)
        return self._writers

    async def write(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `work(session, ...)` in a thread, in a write transaction; its result once that
        transaction has committed.

        On SQLite, writes that queue up while another is running are committed together
        (group commit): one transaction, each write in a savepoint of its own, so a write
        that fails is rolled back alone and the others still commit. With synchronous=FULL
        every commit waits for the disk (5-15 ms on a busy machine), with SQLite's write lock
        held; one fsync for a group instead of one each is what lets a hundred citizens
        filing at once through. Nobody is answered before the commit that holds their row,
        so what a citizen is told was stored survives a power cut as before. A write that
        finds no queue runs alone, exactly as one transaction of its own.
        """
        if not self._sqlite:
            async with self.writers:
                return await asyncio.to_thread(
                    self._in_session, self.session_factory, work, args, kwargs
                )
        return await self._group_commits.submit((work, args, kwargs))

    def settings_for_children(self) -> Settings:
        """The settings with the database this process actually uses (its engine's URL, which
        a caller may have given apart from the settings): a child process must write there."""
        url = self.session_factory.kw["bind"].url.render_as_string(hide_password=False)
        database = self.settings.database.model_copy(update={"url": url})
        return self.settings.model_copy(update={"database": database})

    @property
    def _sqlite(self) -> bool:
        return self.session_factory.kw["bind"].dialect.name == "sqlite"

    async def read(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `work(session, ...)` in a read-only transaction: an update's short read (the
        citizen, their ticket behind a button, a page of departments). On SQLite it runs
        right here on the event loop; on other databases in a thread.

        The one exception to "the bot's database work goes through a thread", and the rule
        for it lives here: under WAL a SQLite reader never waits for a writer (it takes no
        lock a writer holds) and these reads are indexed SELECTs of a file in the page cache,
        100-300 us of CPU, less than the hop to a thread and back costs the event loop
        (copying the context, the executor's queue, waking the loop, and waiting for the GIL
        behind the classifier or the writer, 1-2 ms of wall time under load). A server
        database answers over the network: there the loop must not wait, so the thread.
        Reads whose size grows with the data (the outbox's round) use `scan`.
        """
        if self._sqlite:
            return self._in_session(self.read_factory, work, args, kwargs)
        return await self.scan(work, *args, **kwargs)

    async def scan(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `work(session, ...)` in a thread, in a read-only transaction, on every database."""
        return await asyncio.to_thread(self._in_session, self.read_factory, work, args, kwargs)

    async def file_complaint(self, **fields: Any) -> TicketView:
        """Check, classify and store a complaint (`tickets.analyze_complaint`, then
        `file_analyzed`): the filed ticket's view once committed, or the service's error.

        In the filing process when it runs (bot/worker.py: that CPU off the event loop's
        core), else here: the classifier in a thread without a writer's turn, then the write.
        """
        if self.filing is not None:
            return await self.filing.file(fields)
        analyzed = await self.analyze_complaint(**fields)
        return await self.write(file_analyzed, self.ctx, analyzed)

    async def analyze_complaint(self, **fields: Any) -> dict[str, Any]:
        """`tickets.analyze_complaint` in a thread: the complaint checked (its error raised
        here) and classified, ready for `file_analyzed`.

        Complaints that arrive while the classifier is busy are classified together, in one
        call: nlp reads a batch of texts for a fraction of what it takes for each alone
        (~0.35 instead of ~1.3 ms of CPU a text for four), and with a hundred citizens at
        once two to four complaints were being classified at any moment, each paying the
        whole price and its own thread hop.
        """
        return await self._analyses.submit(fields)

    def _analyze_batch(self, complaints: list[dict[str, Any]]) -> list[tuple[bool, Any]]:
        return [
            (not isinstance(outcome, Exception), outcome)
            for outcome in analyze_complaints(self.ctx, complaints)
        ]

    async def call(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a service that writes in transactions of its own (submit_complaint) in a thread."""
        async with self.writers:
            return await asyncio.to_thread(work, *args, **kwargs)

    @staticmethod
    def _in_session(factory: sessionmaker, work, args, kwargs):
        with factory.begin() as session:
            return work(session, *args, **kwargs)

    async def citizen_for(self, user_id: int, language_code: str | None) -> Citizen:
        """The citizen behind a Telegram user, registered on first contact."""
        citizen = self.citizens.get(user_id)
        if citizen is not None:
            return citizen
        citizen = await self.read(_find_telegram_citizen, user_id)
        if citizen is None:
            citizen = await self.write(_register_telegram_citizen, user_id, language_code)
        self.citizens.put(user_id, citizen)
        return citizen


def _find_telegram_citizen(session: Session, user_id: int) -> Citizen | None:
    return find_citizen(session, channel=Channel.TELEGRAM, external_id=user_id)


def _register_telegram_citizen(
    session: Session, user_id: int, language_code: str | None
) -> Citizen:
    from bot.texts import resolve_language

    return get_or_create_citizen(
        session,
        channel=Channel.TELEGRAM,
        external_id=user_id,
        language=resolve_language(language_code),
    )
