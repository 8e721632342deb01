"""The bot process: dispatcher, storage, the outbox sender; polling or a webhook server.

`run_polling(settings)` is the entry the runtime starts (in `minyi serve` on its own thread,
in `minyi bot` alone): it runs until cancelled, with `handle_signals=False` because signals
belong to the main thread. With `[bot] webhook_url` set it serves the webhook instead.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import ErrorEvent

from bot.context import BotServices
from bot.handlers import fresh_router
from bot.middlewares import CitizenContext, MemoryUpdateLog, RedisUpdateLog, UpdateOnce
from bot.outbox import OutboxSender
from bot.replies import alert
from bot.session import JsonBodySession, KeepResponseModels
from bot.texts import Texts
from bot.worker import FilingProcess
from minyi.config import Settings
from minyi.db import make_engine, make_session_factory
from minyi.errors import ConfigInvalid, MinyiError
from minyi.services.context import ServiceContext

log = logging.getLogger(__name__)


def build_services(settings: Settings, engine=None) -> BotServices:
    """The core's services for the bot: one engine, a write and a read-only session factory."""
    engine = engine or make_engine(settings)
    session_factory = make_session_factory(engine)
    return BotServices(
        settings=settings,
        session_factory=session_factory,
        read_factory=make_session_factory(engine, read_only=True),
        ctx=ServiceContext.from_settings(settings, session_factory=session_factory),
    )


def create_bot(settings: Settings, session=None) -> Bot:
    """A Bot for `[bot] token` through `[bot] api_base_url`, answering in HTML."""
    token = settings.bot.token
    if not token:
        raise missing_token()
    if session is None:
        session = JsonBodySession(api=TelegramAPIServer.from_base(settings.bot.api_base_url))
    session.middleware(KeepResponseModels())
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def missing_token() -> ConfigInvalid:
    return ConfigInvalid(
        "未配置机器人令牌：请在配置文件 [bot] token 或环境变量 MINYI_BOT__TOKEN 中设置"
        "（向 Telegram 的 @BotFather 申请）",
        "no bot token: set [bot] token in the config file or MINYI_BOT__TOKEN"
        " (ask Telegram's @BotFather for one)",
    )


def build_storage(settings: Settings) -> tuple[BaseStorage, object]:
    """FSM storage and the log of seen updates: Redis when `[bot] redis_url` is set."""
    if settings.bot.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        storage = RedisStorage.from_url(settings.bot.redis_url)
        return storage, RedisUpdateLog(storage.redis)
    return MemoryStorage(), MemoryUpdateLog()


def build_dispatcher(
    services: BotServices, *, storage: BaseStorage | None = None, update_log=None
) -> Dispatcher:
    """The dispatcher with every feature router in order and the bot's middlewares."""
    dispatcher = Dispatcher(storage=storage or MemoryStorage(), services=services)
    dispatcher.update.outer_middleware(UpdateOnce(update_log or MemoryUpdateLog()))
    dispatcher.update.outer_middleware(CitizenContext(services))
    dispatcher.include_router(fresh_router())
    dispatcher.errors.register(answer_error)
    return dispatcher


async def answer_error(event: ErrorEvent, texts: Texts | None = None) -> bool:
    """A refusal in the citizen's words, anything else logged and apologised for."""
    texts = texts or Texts("zh")
    error = event.exception
    if isinstance(error, MinyiError):
        text = texts.error(error)
    else:
        log.error("update %s failed", event.update.update_id, exc_info=error)
        text = texts("error")
    update = event.update
    try:
        if update.callback_query is not None:
            await alert(update.callback_query, text)
        elif update.message is not None:
            await update.message.answer(text)
    except Exception:  # Telegram unreachable: the log above is all we can do
        log.exception("could not tell the citizen about the error")
    return True


@dataclass
class BotProcess:
    """One bot's pieces, so tests and benchmarks can build, run and close them as a whole."""

    settings: Settings
    services: BotServices
    bot: Bot
    dispatcher: Dispatcher
    sender: OutboxSender | None
    update_log: object = None
    sender_task: asyncio.Task | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls, settings: Settings, *, services=None, session=None, sender: bool = True
    ) -> BotProcess:
        services = services or build_services(settings)
        storage, update_log = build_storage(settings)
        bot = create_bot(settings, session)
        dispatcher = build_dispatcher(services, storage=storage, update_log=update_log)
        outbox = OutboxSender(bot, services) if sender else None
        process = cls(settings, services, bot, dispatcher, outbox, update_log)
        dispatcher.startup.register(process._on_startup)
        dispatcher.shutdown.register(process._on_shutdown)
        return process

    async def _on_startup(self) -> None:
        if self.settings.bot.filing_process and self.services.filing is None:
            self.services.filing = FilingProcess(self.services.settings_for_children())
            await self.services.filing.start()  # its models loaded: not on the first complaint
        if self.services.ctx.analyzer is not None:
            # Loading the models takes about half a second (rating comments still need
            # them here): not on the first update.
            await asyncio.to_thread(self.services.ctx.warm_up)
        freeze_long_lived()
        if self.sender is not None:
            self.sender_task = asyncio.create_task(self.sender.run(), name="minyi-outbox")

    async def _on_shutdown(self) -> None:
        if self.sender_task is not None:
            self.sender_task.cancel()
            try:
                await self.sender_task
            except asyncio.CancelledError:
                pass
        if self.services.filing is not None:
            await self.services.filing.stop()
            self.services.filing = None
        await self.dispatcher.storage.close()
        await self.update_log.close()

    def polling_options(self) -> dict:
        """What start_polling gets besides the bot: at most `[bot] max_concurrent_updates`
        updates in the dispatcher at once; the next are fetched when one is done."""
        return {"tasks_concurrency_limit": self.settings.bot.max_concurrent_updates}

    async def poll(self, *, polling_timeout: int = 10) -> None:
        """Long polling until cancelled; then stops gracefully and closes the session."""
        polling = asyncio.create_task(
            self.dispatcher.start_polling(
                self.bot,
                handle_signals=False,
                polling_timeout=polling_timeout,
                **self.polling_options(),
            )
        )
        try:
            await asyncio.shield(polling)
        except asyncio.CancelledError:
            await self._stop(polling)
            raise

    async def _stop(self, polling: asyncio.Task) -> None:
        try:
            await self.dispatcher.stop_polling()
        except RuntimeError:  # cancelled before polling had started
            polling.cancel()
        try:
            await polling
        except asyncio.CancelledError:
            pass

    async def serve_webhook(self) -> None:
        """Register the webhook with Telegram and serve it until cancelled."""
        from aiohttp import web

        runner = web.AppRunner(self.webhook_app())
        await runner.setup()
        bot_settings = self.settings.bot
        site = web.TCPSite(runner, bot_settings.webhook_host, bot_settings.webhook_port)
        await site.start()
        log.info(
            "机器人 webhook 监听 / bot webhook listening on %s:%s%s",
            bot_settings.webhook_host,
            bot_settings.webhook_port,
            webhook_path(self.settings),
        )
        try:
            await self.bot.set_webhook(
                bot_settings.webhook_url,
                secret_token=bot_settings.webhook_secret,
                allowed_updates=self.dispatcher.resolve_used_update_types(),
            )
            await asyncio.Event().wait()  # until cancelled
        finally:
            await runner.cleanup()

    def webhook_app(self):
        """The aiohttp application that receives Telegram's POSTs (secret token checked)."""
        from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
        from aiohttp import web

        app = web.Application()
        SimpleRequestHandler(
            self.dispatcher, self.bot, secret_token=self.settings.bot.webhook_secret
        ).register(app, path=webhook_path(self.settings))
        setup_application(app, self.dispatcher, bot=self.bot)
        return app


def freeze_long_lived() -> None:
    """Keep what the process has loaded by now (NLP models, aiogram, SQLAlchemy's mappers)
    out of the garbage collector's full passes.

    Those are some 270,000 objects that live as long as the process; every full collection
    walked them all, 100-250 ms with the event loop stopped, and with the allocation rate of
    a hundred citizens at once that came every few seconds: the longest waits of an update.
    Frozen objects are never collected (they were never going to be); anything allocated
    later is collected as before.
    """
    gc.collect()
    gc.freeze()


def webhook_path(settings: Settings) -> str:
    """The path Telegram POSTs to: the one in `[bot] webhook_url` (a reverse proxy keeps it)."""
    return urlsplit(settings.bot.webhook_url or "").path or "/"


async def run_polling(settings: Settings) -> None:
    """Run the bot (polling, or the webhook when configured) and the outbox until cancelled."""
    process = BotProcess.build(settings)
    if settings.bot.webhook_url:
        await process.serve_webhook()
    else:
        await process.poll()
