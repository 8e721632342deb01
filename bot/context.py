"""What handlers get besides the update: the core's services, run off the event loop."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from minyi.config import Settings
from minyi.models import Channel, Citizen
from minyi.services.citizens import find_citizen, get_or_create_citizen
from minyi.services.context import ServiceContext

T = TypeVar("T")


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
    _writers: asyncio.Semaphore | None = field(default=None, repr=False)

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
        """Run `work(session, ...)` in a thread, in one write transaction of its own."""
        async with self.writers:
            return await asyncio.to_thread(
                self._in_session, self.session_factory, work, args, kwargs
            )

    async def read(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `work(session, ...)` in a thread, in a read-only transaction."""
        return await asyncio.to_thread(self._in_session, self.read_factory, work, args, kwargs)

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
