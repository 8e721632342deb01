"""The embedded runtime: web (waitress) + scheduler (+ bot when a token is set) in one process."""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from waitress import wasyncore
from waitress.server import create_server

from minyi.config import Settings
from minyi.db import make_engine, make_session_factory
from minyi.jobs import build_scheduler, shutdown_scheduler, start_scheduler

log = logging.getLogger(__name__)

WEB_THREADS = 8


class BotThread(threading.Thread):
    """Runs `bot.app.run_polling(settings)` on its own asyncio loop, cancelled on stop().

    The contract for the bot package: `run_polling` is an `async def` that polls until it is
    cancelled, and starts aiogram with `handle_signals=False` (signals belong to the main thread).
    """

    def __init__(self, run_polling: Callable[[Settings], Any], settings: Settings) -> None:
        super().__init__(name="minyi-bot", daemon=True)
        self._run_polling = run_polling
        self._settings = settings
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False

    def run(self) -> None:
        try:
            # An async run_polling returns a coroutine here; a blocking one runs until it ends.
            result = self._run_polling(self._settings)
            if inspect.isawaitable(result):
                asyncio.run(self._main(result))
        except Exception:
            log.exception(
                "机器人异常退出，网站和调度器继续运行 / the bot stopped with an error;"
                " web and scheduler keep running"
            )

    async def _main(self, polling: Any) -> None:
        with self._lock:
            if self._stopping:
                if inspect.iscoroutine(polling):
                    polling.close()
                return
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.ensure_future(polling)
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stopping = True
            if self._loop is not None and self._task is not None:
                self._loop.call_soon_threadsafe(self._task.cancel)
        self.join(timeout)
        if self.is_alive():
            log.warning(
                "机器人未在 %.0f 秒内停止 / the bot did not stop within %.0f s", timeout, timeout
            )


def start_bot(settings: Settings) -> BotThread | None:
    """Start polling in a thread when a token is configured and the bot package is importable."""
    if not settings.bot.token:
        return None
    try:
        from bot.app import run_polling
    except ImportError as exc:
        log.warning(
            "已配置机器人令牌，但无法加载机器人模块（%s）：本次只启动网站和调度器。"
            " / A bot token is set but the bot package cannot be loaded (%s):"
            " running the web and the scheduler only.",
            exc,
            exc,
        )
        return None
    thread = BotThread(run_polling, settings)
    thread.start()
    log.info("机器人已启动 / bot polling started")
    return thread


class Runtime:
    """The pieces `serve` runs, startable and stoppable from code (tests, a service wrapper)."""

    def __init__(
        self,
        settings: Settings,
        *,
        host: str | None = None,
        port: int | None = None,
        threads: int = WEB_THREADS,
    ) -> None:
        self.settings = settings
        self.host = settings.web.host if host is None else host
        self.port = settings.web.port if port is None else port
        self.threads = threads
        self.engine = None
        self.scheduler = None
        self.bot: BotThread | None = None
        self._server = None
        self._map: dict = {}
        self._closed = False

    def start(self) -> str:
        """Bind the port, start the scheduler and the bot; returns the URL. run() serves."""
        from web import create_app

        self.engine = make_engine(self.settings)
        session_factory = make_session_factory(self.engine)
        app = create_app(self.settings, session_factory=session_factory)
        # Binding first: a port already in use fails before any job or bot has started.
        self._server = create_server(
            app, map=self._map, host=self.host, port=self.port, threads=self.threads, ident="Minyi"
        )
        try:
            self.scheduler = build_scheduler(self.settings, session_factory)
            start_scheduler(self.scheduler)
            self.bot = start_bot(self.settings)
        except BaseException:
            self.close()
            raise
        return self.url

    @property
    def url(self) -> str:
        server = self._server
        host, port = (
            server.effective_listen[0]
            if hasattr(server, "effective_listen")
            else (server.effective_host, server.effective_port)
        )
        if ":" in str(host):
            host = f"[{host}]"
        return f"http://{host}:{port}/"

    def run(self) -> None:
        """Serve HTTP until stop() or Ctrl-C, then shut everything down."""
        try:
            self._server.run()
        finally:
            self.close()

    def stop(self) -> None:
        """Ask the serving loop to end; callable from any thread."""
        trigger = next((d for d in list(self._map.values()) if hasattr(d, "pull_trigger")), None)
        if trigger is not None:
            # The loop runs until its socket map is empty; empty it from inside the loop thread.
            trigger.pull_trigger(lambda: wasyncore.close_all(self._map))

    def close(self) -> None:
        """Stop the bot and the scheduler, close the sockets and the database; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.bot is not None:
            self.bot.stop()
        if self.scheduler is not None:
            shutdown_scheduler(self.scheduler)
        if self._server is not None:
            wasyncore.close_all(self._map)
            self._server.task_dispatcher.shutdown()
        if self.engine is not None:
            self.engine.dispose()
        log.info("调度器、机器人和数据库连接已关闭 / scheduler, bot and database closed")


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Run web + scheduler (+ bot) in this process until Ctrl-C or SIGTERM."""
    runtime = Runtime(settings, host=host, port=port)
    url = runtime.start()
    print(f"Minyi 已启动 / running at {url}", flush=True)
    previous = None
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (systemd, docker stop) ends the server loop like Ctrl-C does.
        previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        runtime.run()
    except KeyboardInterrupt:
        pass
    finally:
        runtime.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print("Minyi 已停止 / stopped", flush=True)


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
