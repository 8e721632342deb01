"""The real bot process against a fake Bot API server on 127.0.0.1: polling, the webhook, exits.

The bot runs as `minyi serve`/`minyi bot` run it (Runtime → BotThread → bot.app.run_polling),
with aiogram's own HTTP session, the real NLP and an SQLite file; the fake server runs on its
own thread and refuses what Telegram refuses.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner

from minyi.cli import main
from minyi.db import make_engine, make_session_factory
from minyi.errors import MinyiError
from minyi.models import Role
from minyi.runtime import Runtime, run_bot
from minyi.services import tickets
from minyi.services.actors import Actor
from tests.bot_support import STREET_LIGHT, add_catalogue, bot_settings
from tests.builders import make_staff
from tests.fake_telegram import Citizen, FakeBotAPIServer, FakeTelegram


class ServerThread:
    """A FakeBotAPIServer on its own event loop and thread; sync helpers for the test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.telegram: FakeTelegram | None = None
        self.server: FakeBotAPIServer | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> ServerThread:
        self._thread.start()

        async def build():
            self.telegram = FakeTelegram()
            self.server = FakeBotAPIServer(self.telegram)
            await self.server.start()

        asyncio.run_coroutine_threadsafe(build(), self.loop).result(10)
        return self

    @property
    def url(self) -> str:
        return self.server.url

    def push(self, update: dict) -> None:
        self.loop.call_soon_threadsafe(self.telegram.push_update, update)

    def wait_for(self, predicate, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = predicate()
            if found:
                return found
            time.sleep(0.02)
        raise AssertionError("the fake Bot API never saw what the test waited for")

    def texts_to(self, chat_id: int) -> list[str]:
        return [
            call.params["text"]
            for call in list(self.telegram.calls)
            if call.method in ("sendMessage", "editMessageText")
            and int(call.params["chat_id"]) == chat_id
        ]

    def stop(self) -> None:
        async def shutdown():
            await self.server.stop()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:  # long polls still waiting for updates
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def api_server():
    server = ServerThread().start()
    yield server
    server.stop()


@pytest.fixture
def county_db(tmp_path, settings, _sqlite_template):
    """A migrated SQLite file with the test catalogue, where bot_settings(tmp_path) points."""
    shutil.copyfile(_sqlite_template, tmp_path / "minyi.db")
    engine = make_engine(settings, f"sqlite:///{tmp_path}/minyi.db")
    factory = make_session_factory(engine)
    add_catalogue(factory)
    yield factory
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _staff_closes(factory, settings, number: str) -> None:
    from minyi.services.context import ServiceContext

    ctx = ServiceContext.from_settings(settings, analyzer=None)
    with factory.begin() as session:
        admin = Actor.staff(make_staff(session, role=Role.ADMIN))
        ticket = tickets.get_ticket(session, number, for_update=True)
        tickets.start(session, ctx, ticket, actor=admin)
        tickets.reply(session, ctx, ticket, actor=admin, text="路灯已修复，感谢您的反映。")
        tickets.close(session, ctx, ticket, actor=admin)


def _message_with(server: ServerThread, chat_id: int, text_part: str) -> dict:
    for (chat, _), message in sorted(server.telegram.messages.items(), reverse=True):
        if chat == chat_id and text_part in message["text"]:
            return message
    return {}


def test_a_citizen_complains_by_polling_and_hears_back_through_the_outbox(
    api_server, county_db, tmp_path
):
    settings = bot_settings(tmp_path, api_base_url=api_server.url)
    citizen = Citizen(api_server.telegram, 701)
    runtime = Runtime(settings, web=False, scheduler=False, bot=True)
    runtime.start()
    try:
        api_server.push(citizen.message("/start"))
        api_server.wait_for(lambda: any("隐私说明" in t for t in api_server.texts_to(701)))
        api_server.push(citizen.message("/complain"))
        api_server.wait_for(lambda: any("请用文字描述" in t for t in api_server.texts_to(701)))
        api_server.push(citizen.message(STREET_LIGHT))
        filed = api_server.wait_for(
            lambda: next((t for t in api_server.texts_to(701) if "工单号" in t), None)
        )
        # The real classifier routes a street light to housing and construction.
        assert "县住房和城乡建设局" in filed
        number = re.search(r"MY-\d{8}-\d{4}", filed).group()

        _staff_closes(county_db, settings, number)
        question = api_server.wait_for(lambda: _message_with(api_server, 701, "问题解决了吗"))
        assert any("路灯已修复" in t for t in api_server.texts_to(701))
        yes = question["reply_markup"]["inline_keyboard"][0][0]
        api_server.push(citizen.press(yes["callback_data"], question))
        scores = api_server.wait_for(lambda: _message_with(api_server, 701, "满意程度"))
        five = scores["reply_markup"]["inline_keyboard"][0][4]
        api_server.push(citizen.press(five["callback_data"], scores))
        api_server.wait_for(lambda: any("感谢您的回访评价" in t for t in api_server.texts_to(701)))
    finally:
        runtime.close()
    assert not runtime.bot.is_alive() and runtime.bot.error is None
    assert api_server.telegram.refused == []
    with county_db() as session:
        ticket = tickets.get_ticket(session, number)
        assert (ticket.resolved, ticket.satisfaction) == (True, 5)


def test_the_webhook_takes_updates_with_the_secret_and_refuses_others(
    api_server, county_db, tmp_path
):
    port = _free_port()
    settings = bot_settings(
        tmp_path,
        api_base_url=api_server.url,
        webhook_url=f"http://127.0.0.1:{port}/telegram/hook",
        webhook_secret="county-secret_42",
        webhook_port=port,
    )
    citizen = Citizen(api_server.telegram, 702)
    runtime = Runtime(settings, web=False, scheduler=False, bot=True)
    runtime.start()
    try:
        api_server.wait_for(lambda: api_server.telegram.webhook is not None)
        assert api_server.telegram.webhook["url"] == f"http://127.0.0.1:{port}/telegram/hook"
        assert api_server.telegram.webhook["secret_token"] == "county-secret_42"

        def post(update: dict, secret: str) -> int:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/telegram/hook",
                data=json.dumps(update).encode(),
                headers={
                    "Content-Type": "application/json",
                    "X-Telegram-Bot-Api-Secret-Token": secret,
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status
            except urllib.error.HTTPError as error:
                return error.code

        assert post(citizen.message("/help"), "wrong-secret") == 401
        assert post(citizen.message("/start"), "county-secret_42") == 200
        api_server.wait_for(lambda: any("隐私说明" in t for t in api_server.texts_to(702)))
        assert not any("/rate" in t for t in api_server.texts_to(702))  # /help never ran
    finally:
        runtime.close()
    assert not runtime.bot.is_alive() and runtime.bot.error is None


def test_minyi_bot_without_a_token_exits_1_in_both_languages(tmp_path, monkeypatch, settings):
    monkeypatch.delenv("MINYI_BOT__TOKEN", raising=False)
    result = CliRunner().invoke(main, ["bot"])
    assert result.exit_code == 1
    assert "未配置机器人令牌" in result.output and "no bot token" in result.output


def test_a_token_telegram_refuses_ends_minyi_bot_with_an_error(api_server, county_db, tmp_path):
    settings = bot_settings(tmp_path, api_base_url=api_server.url, token="999:not-our-token")
    with pytest.raises(MinyiError) as refused:  # returns: the process does not hang
        run_bot(settings)
    assert (
        "Unauthorized" in refused.value.message_en and "机器人异常退出" in refused.value.message_zh
    )
