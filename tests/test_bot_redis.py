"""A restart in the middle of a flow resumes from Redis: every answer was saved as it came.

Needs the Redis named by MINYI_TEST_REDIS_URL (CI sets it); when it is set and Redis is down,
the test fails instead of skipping.
"""

from __future__ import annotations

import os
import uuid

import pytest
from aiogram.fsm.storage.base import DefaultKeyBuilder
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import Update
from sqlalchemy import select

from bot.app import build_dispatcher, create_bot
from bot.middlewares import RedisUpdateLog
from minyi.models import Rating
from tests.bot_support import async_test, texts_of
from tests.fake_telegram import RecordingSession

REDIS_URL = os.environ.get("MINYI_TEST_REDIS_URL")

pytestmark = pytest.mark.skipif(not REDIS_URL, reason="MINYI_TEST_REDIS_URL not set (CI sets it)")


async def _process(env, prefix: str):
    """A fresh bot process's dispatcher on Redis (new connections, nothing in memory)."""
    storage = RedisStorage.from_url(REDIS_URL, key_builder=DefaultKeyBuilder(prefix=prefix))
    try:
        await storage.redis.ping()
    except Exception as exc:  # noqa: BLE001  (fail, never skip, when CI asked for Redis)
        pytest.fail(f"Redis at {REDIS_URL} is required but unreachable: {exc}")
    update_log = RedisUpdateLog(storage.redis, prefix=prefix)
    bot = create_bot(env.services.settings, RecordingSession(env.telegram))
    dispatcher = build_dispatcher(env.services, storage=storage, update_log=update_log)
    return bot, dispatcher, storage


async def _feed(env, bot, dispatcher, update) -> str:
    before = len(env.telegram.calls)
    await dispatcher.feed_update(bot, Update.model_validate(update, context={"bot": bot}))
    assert env.telegram.refused == []
    return texts_of(env.telegram.calls[before:])


@async_test
async def test_a_rating_interrupted_by_a_restart_resumes_from_redis(bot_env):
    prefix = f"minyi-test-{uuid.uuid4().hex}"
    citizen = bot_env.citizen(801)
    bot, dispatcher, storage = await _process(bot_env, prefix)
    try:
        await _feed(bot_env, bot, dispatcher, citizen.message("/rate"))
        for label in ("县教育局", "事项2", "不满意"):
            data, message = citizen.button(label)
            last = citizen.press(data, message)
            await _feed(bot_env, bot, dispatcher, last)
    finally:
        await storage.close()

    bot, dispatcher, storage = await _process(bot_env, prefix)  # the restarted process
    try:
        # Telegram redelivers the last update it had no answer for: handled once already.
        assert await _feed(bot_env, bot, dispatcher, last) == ""
        data, message = citizen.button("办事效率")
        assert "意见或建议" in await _feed(bot_env, bot, dispatcher, citizen.press(data, message))
        shown = await _feed(bot_env, bot, dispatcher, citizen.message("等了两个小时才办完"))
        assert "2026-12-02" in shown and "县教育局" in shown
    finally:
        await storage.redis.delete(*await storage.redis.keys(f"{prefix}:*"))
        await storage.close()
    with bot_env.services.session_factory() as session:
        rating = session.scalars(select(Rating)).one()
        assert (rating.score, rating.aspect, rating.comment) == (
            2,
            "办事效率",
            "等了两个小时才办完",
        )
        assert rating.service_id == bot_env.catalogue["jyj"]["services"][1]
