"""The processes: `serve` (web + scheduler + bot when a token is set), `web`, `worker`, `bot`.

One Runtime runs any subset of the three pieces; the entry points below pick theirs. The
scheduler only runs jobs while it holds the scheduler lease (minyi.lease), so a `worker`
started beside a `serve`, or twice, stands by instead of running every job twice.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

from waitress import wasyncore
from waitress.server import create_server

from minyi.config import Settings
from minyi.db import make_engine, make_session_factory
from minyi.errors import ConfigInvalid, MinyiError
from minyi.jobs import LEASE_RETRY_SECONDS, LeasedScheduler
from minyi.lease import scheduler_lease

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
        # Called when the bot ends on its own (an error): a bot-only process then stops too.
        self.on_exit: Callable[[], None] | None = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            # An async run_polling returns a coroutine here; a blocking one runs until it ends.
            result = self._run_polling(self._settings)
            if inspect.isawaitable(result):
                asyncio.run(self._main(result))
        except Exception as error:
            self.error = error
            log.exception(
                "机器人异常退出，网站和调度器继续运行 / the bot stopped with an error;"
                " web and scheduler keep running"
            )
        finally:
            if self.on_exit is not None and not self._stopping:
                self.on_exit()

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
        finally:
            with self._lock:  # the loop closes next: stop() must not schedule on it
                self._loop = self._task = None

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


def start_bot(
    settings: Settings, *, on_exit: Callable[[], None] | None = None
) -> BotThread | None:
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
    thread.on_exit = on_exit
    thread.start()
    log.info("机器人已启动 / bot polling started")
    return thread


class Runtime:
    """The pieces of one process, startable and stoppable from code (tests, a service wrapper)."""

    def __init__(
        self,
        settings: Settings,
        *,
        host: str | None = None,
        port: int | None = None,
        threads: int = WEB_THREADS,
        web: bool = True,
        scheduler: bool = True,
        bot: bool = True,
        lease_retry_seconds: float = LEASE_RETRY_SECONDS,
    ) -> None:
        # A copy: start() may fill in the public address, and the caller's settings stay theirs.
        self.settings = settings.model_copy(deep=True)
        self.host = settings.web.host if host is None else host
        self.port = settings.web.port if port is None else port
        self.threads = threads
        self.with_web = web
        self.with_scheduler = scheduler
        self.with_bot = bot
        self.lease_retry_seconds = lease_retry_seconds
        self.engine = None
        self.scheduler: LeasedScheduler | None = None
        self.bot: BotThread | None = None
        self._server = None
        self._map: dict = {}
        self._stopped = threading.Event()
        self._started = False
        self._closed = False

    def start(self) -> str | None:
        """Bind the port, start the scheduler and the bot; returns the URL (None without web)."""
        self.engine = make_engine(self.settings)
        session_factory = make_session_factory(self.engine)
        try:
            if self.with_web:
                # Binding first: a port already in use fails before any job or bot has started.
                self._server = self._bind(session_factory)
                self._default_public_address()
            if self.with_scheduler:
                self.scheduler = LeasedScheduler(
                    self.settings,
                    session_factory,
                    scheduler_lease(self.engine),
                    retry_seconds=self.lease_retry_seconds,
                )
                self.scheduler.start()
            if self.with_bot:
                self.bot = start_bot(self.settings, on_exit=None if self._serving() else self.stop)
        except BaseException:
            self.close()
            raise
        self._started = True
        return self.url if self._server is not None else None

    def _serving(self) -> bool:
        """Whether anything but the bot runs here (then a failed bot leaves the rest running)."""
        return self.with_web or self.with_scheduler

    def _bind(self, session_factory):
        from web import create_app

        app = create_app(self.settings, session_factory=session_factory)
        try:
            return create_server(
                app,
                map=self._map,
                host=self.host,
                port=self.port,
                threads=self.threads,
                ident="Minyi",
            )
        except (OSError, ValueError) as exc:
            raise _listen_error(self.host, self.port, exc) from None

    def _default_public_address(self) -> None:
        """Without `[web] public_base_url`, links and QR codes point at where this server listens.

        The configured default names port 5000; `minyi serve --port 8080` would otherwise print
        status links and QR codes that lead nowhere. A server listening on every interface has no
        one address citizens use, so it keeps the loopback name and says what to set.
        """
        web = self.settings.web
        if "public_base_url" in web.model_fields_set:
            return
        host, port = self._listening()
        if host in ("0.0.0.0", "[::]", ""):  # _listening brackets an IPv6 address
            log.warning(
                "未设置 [web] public_base_url：二维码和查询链接将指向 127.0.0.1，群众无法打开 /"
                " [web] public_base_url is not set: QR codes and status links will point at"
                " 127.0.0.1, which citizens cannot open"
            )
            host = "127.0.0.1"
        web.public_base_url = f"http://{host}:{port}"

    def _listening(self) -> tuple[str, int]:
        server = self._server
        host, port = (
            server.effective_listen[0]
            if hasattr(server, "effective_listen")
            else (server.effective_host, server.effective_port)
        )
        return (f"[{host}]" if ":" in str(host) else str(host)), int(port)

    @property
    def url(self) -> str:
        host, port = self._listening()
        return f"http://{host}:{port}/"

    def run(self) -> None:
        """Serve HTTP (or, without web, wait) until stop() or Ctrl-C, then shut everything down."""
        try:
            if self._server is not None:
                self._server.run()
            else:
                # Wake up now and then: a SIGTERM that Linux hands to one of the scheduler's
                # threads does not interrupt a wait in the main thread, whose Python handler
                # (raising KeyboardInterrupt) then only runs when the wait returns.
                while not self._stopped.wait(0.5):
                    pass
        finally:
            self.close()

    def stop(self) -> None:
        """Ask the serving loop to end; callable from any thread."""
        self._stopped.set()
        trigger = next((d for d in list(self._map.values()) if hasattr(d, "pull_trigger")), None)
        if trigger is not None:
            # The loop runs until its socket map is empty; empty it from inside the loop thread.
            trigger.pull_trigger(lambda: wasyncore.close_all(self._map))

    def close(self) -> None:
        """Stop the bot and the scheduler, close the sockets and the database; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stopped.set()
        if self.bot is not None:
            self.bot.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        if self._server is not None:
            wasyncore.close_all(self._map)
            self._server.task_dispatcher.shutdown()
        if self.engine is not None:
            self.engine.dispose()
        if self._started:  # a refused start says why in its error, nothing more
            log.info("已停止并关闭数据库连接 / stopped, database connections closed")


def _listen_error(host: str, port: int, exc: Exception) -> ConfigInvalid:
    """One two-language sentence for a port or address waitress cannot listen on."""
    code = getattr(exc, "errno", None)
    if code == errno.EADDRINUSE:
        return ConfigInvalid(
            f"端口 {port} 已被占用（{host}），请换一个端口（--port 或 [web] port）"
            "或先停止占用它的程序",
            f"port {port} is already in use on {host}; choose another one (--port or"
            " [web] port) or stop the program that holds it",
        )
    if code == errno.EACCES:
        return ConfigInvalid(
            f"无权监听端口 {port}（{host}）：1024 以下的端口需要管理员权限",
            f"no permission to listen on port {port} on {host}: ports below 1024 need"
            " administrator rights",
        )
    return ConfigInvalid(
        f"无法监听 {host}:{port}，请检查 --host 或 [web] host（{exc}）",
        f"cannot listen on {host}:{port}; check --host or [web] host ({exc})",
    )


def serve(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    lease_retry_seconds: float = LEASE_RETRY_SECONDS,
) -> None:
    """Run web + scheduler (+ bot) in this process until Ctrl-C or SIGTERM."""
    _run(
        Runtime(settings, host=host, port=port, lease_retry_seconds=lease_retry_seconds),
        "Minyi 已启动 / running at {url}",
    )


def serve_web(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Run the web site only (no scheduler, no bot) until Ctrl-C or SIGTERM."""
    _run(
        Runtime(settings, host=host, port=port, scheduler=False, bot=False),
        "Minyi 网站已启动（不含定时任务）/ web only, running at {url}",
    )


def run_worker(settings: Settings, *, lease_retry_seconds: float = LEASE_RETRY_SECONDS) -> None:
    """Run the scheduler only, until Ctrl-C or SIGTERM; stands by while another holds the lease."""
    _run(
        Runtime(settings, web=False, bot=False, lease_retry_seconds=lease_retry_seconds),
        f"Minyi 调度进程已启动（pid {os.getpid()}）/ scheduler worker started (pid {os.getpid()})",
    )


def run_bot(settings: Settings) -> None:
    """Run the Telegram bot and the outbox sender only, until Ctrl-C, SIGTERM or a bot error."""
    from bot.app import missing_token

    if not settings.bot.token:
        raise missing_token()
    runtime = Runtime(settings, web=False, scheduler=False, bot=True)
    _run(
        runtime,
        f"Minyi 机器人已启动（pid {os.getpid()}）/ Telegram bot started (pid {os.getpid()})",
    )
    error = runtime.bot.error if runtime.bot is not None else None
    if error is not None:
        raise MinyiError(
            f"机器人异常退出：{error}（请检查 [bot] token 和 api_base_url）",
            f"the bot stopped: {error} (check [bot] token and api_base_url)",
        )


def _run(runtime: Runtime, banner: str) -> None:
    previous = None
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (systemd, docker stop) ends the process like Ctrl-C does, even during start.
        previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        url = runtime.start()
        print(banner.format(url=url), flush=True)
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
