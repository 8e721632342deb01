"""Fixtures for the bot tests: a county catalogue, the bot's services, a fake Telegram."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot.app import build_dispatcher, build_services, create_bot
from bot.context import BotServices
from minyi.config import load_settings
from minyi.services.context import ServiceContext
from tests.builders import FakeAnalysis, make_department, make_service
from tests.fake_telegram import TOKEN, Call, Citizen, FakeTelegram, RecordingSession

# Eight departments: two pages of the department keyboard (six a page).
CATALOGUE = [
    ("zjj", "县住房和城乡建设局", "County Housing and Construction Bureau"),
    ("cgj", "县城市管理局", "County Urban Management Bureau"),
    ("jtysj", "县交通运输局", "County Transport Bureau"),
    ("jyj", "县教育局", "County Education Bureau"),
    ("rsj", "县人力资源和社会保障局", "County Human Resources and Social Security Bureau"),
    ("ybj", "县医疗保障局", "County Healthcare Security Bureau"),
    ("wjj", "县卫生健康委员会", "County Health Commission"),
    ("scjgj", "县市场监督管理局", "County Market Regulation Bureau"),
]

STREET_LIGHT = "小区门口的路灯坏了一个多月了，晚上出行很不安全，请尽快修理。"
UNCLEAR = "有个事情想反映一下，不知道该找谁，麻烦帮忙看看怎么处理。"


def fake_analyzer(text: str) -> FakeAnalysis:
    """Deterministic routing: street lights and wages are sure, anything else is unsure."""
    if "路灯" in text:
        return FakeAnalysis("城乡建设", 0.92)
    if "欠薪" in text or "工资" in text:
        return FakeAnalysis("劳动和社会保障", 0.88)
    return FakeAnalysis("城乡建设", 0.31, needs_review=True)


def async_test(function):
    """Run an async test function in its own event loop (pytest sees its fixtures)."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        return asyncio.run(function(*args, **kwargs))

    return run


def bot_settings(tmp_path, **bot):
    return load_settings(
        database={"url": f"sqlite:///{tmp_path}/minyi.db"}, bot={"token": TOKEN} | bot
    )


def add_catalogue(session_factory) -> dict[str, dict]:
    """The eight departments with two services each; {code: {"id", "services": [ids]}}."""
    catalogue = {}
    with session_factory.begin() as session:
        for code, name, name_en in CATALOGUE:
            department = make_department(session, code=code, name=name, name_en=name_en)
            services = [
                make_service(session, department, code=f"{code}-{n}", name=f"{name[1:-1]}事项{n}")
                for n in (1, 2)
            ]
            catalogue[code] = {"id": department.id, "services": [s.id for s in services]}
    return catalogue


@dataclass
class BotEnv:
    """One bot over a recording session: feed it updates, read what it sent."""

    services: BotServices
    telegram: FakeTelegram
    bot: Bot
    dispatcher: Dispatcher
    catalogue: dict
    clock: object
    citizens: dict[int, Citizen] = field(default_factory=dict)

    def citizen(self, user_id: int = 501, language_code: str = "zh-hans") -> Citizen:
        if user_id not in self.citizens:
            self.citizens[user_id] = Citizen(self.telegram, user_id, language_code)
        return self.citizens[user_id]

    async def feed(self, update: dict, *, allow_refusals: bool = False) -> list[Call]:
        """Hand one update to the dispatcher; the API calls it made (none refused)."""
        before_calls, before_refused = len(self.telegram.calls), len(self.telegram.refused)
        parsed = Update.model_validate(update, context={"bot": self.bot})
        await self.dispatcher.feed_update(self.bot, parsed)
        refused = self.telegram.refused[before_refused:]
        assert allow_refusals or not refused, f"Telegram refused: {refused}"
        return self.telegram.calls[before_calls:]

    async def say(self, citizen: Citizen, text: str) -> str:
        """The citizen sends `text`; the text of the bot's answers, joined."""
        return texts_of(await self.feed(citizen.message(text)))

    async def tap(self, citizen: Citizen, label_part: str) -> str:
        """The citizen presses the button labelled with `label_part` on the latest keyboard."""
        data, message = citizen.button(label_part)
        return texts_of(await self.feed(citizen.press(data, message)))


def texts_of(calls: list[Call]) -> str:
    """What the citizen reads: sent and edited texts, and button pop-ups."""
    shown = []
    for call in calls:
        if call.method in ("sendMessage", "editMessageText"):
            shown.append(call.params["text"])
        elif call.method == "answerCallbackQuery" and call.params.get("text"):
            shown.append(call.params["text"])
    return "\n".join(shown)


def make_bot_services(settings, engine, clock) -> BotServices:
    services = build_services(settings, engine)
    services.ctx = ServiceContext.from_settings(
        settings, analyzer=fake_analyzer, clock=clock, calendar=services.ctx.calendar
    )
    return services


@pytest.fixture
def bot_env(engine, tmp_path, monkeypatch, clock):
    """The bot over a recording session, on SQLite and (in CI) PostgreSQL."""
    settings = bot_settings(tmp_path)
    services = make_bot_services(settings, engine, clock)
    catalogue = add_catalogue(services.session_factory)
    telegram = FakeTelegram()
    bot = create_bot(settings, RecordingSession(telegram))
    dispatcher = build_dispatcher(services)
    return BotEnv(services, telegram, bot, dispatcher, catalogue, clock)
