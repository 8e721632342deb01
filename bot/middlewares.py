"""Outer middlewares: each update once, private chats only, the citizen and their language."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.types import TelegramObject, Update

from bot.context import BotServices
from bot.texts import Texts

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

# Telegram redelivers an update it did not see acknowledged; a day covers any restart.
SEEN_UPDATE_SECONDS = 24 * 3600


class MemoryUpdateLog:
    """The most recent update ids seen by this process."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._seen: OrderedDict[tuple[int, int], None] = OrderedDict()

    async def first_time(self, bot_id: int, update_id: int) -> bool:
        key = (bot_id, update_id)
        if key in self._seen:
            return False
        self._seen[key] = None
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return True

    async def close(self) -> None:
        pass


class RedisUpdateLog:
    """Update ids seen by any process of this bot, kept in Redis for a day (survives restarts)."""

    def __init__(self, redis, prefix: str = "minyi") -> None:
        self.redis = redis
        self.prefix = prefix

    async def first_time(self, bot_id: int, update_id: int) -> bool:
        key = f"{self.prefix}:bot:{bot_id}:update:{update_id}"
        return bool(await self.redis.set(key, 1, nx=True, ex=SEEN_UPDATE_SECONDS))

    async def close(self) -> None:
        await self.redis.aclose()


class UpdateOnce(BaseMiddleware):
    """Drops an update whose id was already handled (a redelivery after a restart)."""

    def __init__(self, update_log) -> None:
        self.update_log = update_log

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]):
        if isinstance(event, Update):
            bot = data["bot"]
            if not await self.update_log.first_time(bot.id, event.update_id):
                log.info("update %s delivered again: ignored", event.update_id)
                return None
        return await handler(event, data)


class CitizenContext(BaseMiddleware):
    """Puts `citizen` and `texts` (their language) into the handler data; private chats only."""

    def __init__(self, services: BotServices) -> None:
        self.services = services

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]):
        user = data.get("event_from_user")
        chat = data.get("event_chat")
        if user is None or user.is_bot:
            return None
        if chat is not None and chat.type != ChatType.PRIVATE:
            # A group is no place for a complaint: answer a message once, ignore the rest.
            if isinstance(event, Update) and event.message is not None:
                from bot.texts import resolve_language

                texts = Texts(resolve_language(user.language_code))
                await event.message.reply(texts("group_only_private"))
            return None
        citizen = await self.services.citizen_for(user.id, user.language_code)
        data["citizen"] = citizen
        data["texts"] = Texts(citizen.language)
        return await handler(event, data)
