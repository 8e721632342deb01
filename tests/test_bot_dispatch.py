"""How updates reach handlers: the feature routers' handlers in one router, in their order."""

from __future__ import annotations

import pytest
from aiogram import F, Router

from bot.handlers import ROUTERS, fresh_router
from tests.bot_support import async_test, texts_of


def test_one_router_holds_every_features_handlers_in_order():
    merged = fresh_router()
    for event in ("message", "callback_query", "edited_message"):
        expected = [h.callback for router in ROUTERS for h in router.observers[event].handlers]
        assert [h.callback for h in merged.observers[event].handlers] == expected
    assert fresh_router() is not merged  # each dispatcher gets its own


def test_a_feature_router_with_filters_of_its_own_is_refused():
    # Its filter would apply to its handlers only: merged, it would be lost.
    guarded = Router(name="guarded")
    guarded.message.filter(F.chat.type == "private")

    @guarded.message()
    async def anything(message) -> None:
        pass

    with pytest.raises(ValueError, match="guarded"):
        fresh_router((*ROUTERS, guarded))


@async_test
async def test_the_first_matching_handler_answers_as_with_separate_routers(bot_env):
    # A command inside a flow goes to the command (an earlier feature), not to the flow's step;
    # a forwarded text goes to the guard before any flow reads it.
    citizen = bot_env.citizen(601)
    await bot_env.say(citizen, "/complain")
    assert "已取消" in await bot_env.say(citizen, "/cancel")
    await bot_env.say(citizen, "/complain")
    forwarded = citizen.message("路灯坏了很久了，一直没有人来修理，请尽快处理一下。")
    forwarded["message"]["forward_origin"] = {"type": "hidden_user", "date": 1,
                                               "sender_user_name": "某人"}  # fmt: skip
    assert "转发" in texts_of(await bot_env.feed(forwarded))
