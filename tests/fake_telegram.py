"""A fake Telegram Bot API that refuses what Telegram refuses, in process or over HTTP.

`FakeTelegram` holds the state (updates to hand out, chats, sent messages) and answers API
methods; `RecordingSession` plugs it into an aiogram Bot without sockets, `FakeBotAPIServer`
serves it on 127.0.0.1 for a real Bot (polling, HTTP encoding, the webhook). Both check a
message the way Telegram does: HTML parse mode with known, balanced tags and escaped `<` `>` `&`,
at most 4,096 visible characters, callback data of 1-64 bytes; and both can answer 429 with
`retry_after` and 403 for chats that blocked the bot.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiogram.client.session.base import BaseSession
from aiohttp import web

BOT_ID = 123456
TOKEN = f"{BOT_ID}:TEST-token_for-the-fake-api"
MESSAGE_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64
ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
    "code", "pre", "blockquote", "tg-emoji",
}  # fmt: skip
ALLOWED_ENTITIES = {"lt", "gt", "amp", "quot"}


class TelegramRefusal(Exception):
    def __init__(self, status: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


class _TelegramHTML(HTMLParser):
    """Telegram's HTML: known tags only, properly nested, no bare < or &."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.visible: list[str] = []
        self.error: str | None = None

    def _fail(self, message: str) -> None:
        self.error = self.error or message

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            self._fail(f'Unsupported start tag "{tag}"')
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self._fail(f'Unexpected end tag "{tag}"')
            return
        self.stack.pop()

    def handle_data(self, data):
        if "<" in data or ">" in data or "&" in data:
            self._fail("Unsupported character: unescaped <, > or &")
        self.visible.append(data)

    def handle_entityref(self, name):
        if name not in ALLOWED_ENTITIES:
            self._fail(f"Unsupported entity &{name};")
        self.visible.append(html.unescape(f"&{name};"))

    def handle_charref(self, name):
        self.visible.append(html.unescape(f"&#{name};"))

    def unknown_decl(self, data):
        self._fail("Unsupported declaration")

    def handle_comment(self, data):
        self._fail("Unsupported comment")


def visible_text(text: str, parse_mode: str | None) -> str:
    """The text Telegram would show, or TelegramRefusal(400) where Telegram refuses it."""
    if parse_mode is None:
        return text
    if parse_mode.upper() != "HTML":
        raise TelegramRefusal(400, f"Bad Request: unsupported parse_mode {parse_mode}")
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.rawdata:  # an unterminated tag such as "<b"
        parser._fail("Can't find end of the entity")
    if parser.stack and not parser.error:
        parser._fail(f'Can\'t find end tag corresponding to start tag "{parser.stack[-1]}"')
    if parser.error:
        raise TelegramRefusal(400, f"Bad Request: can't parse entities: {parser.error}")
    return "".join(parser.visible)


def check_markup(markup: dict | None) -> None:
    """Inline buttons as Telegram checks them: a label and 1-64 bytes of callback data."""
    if not markup:
        return
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if not button.get("text"):
                raise TelegramRefusal(400, "Bad Request: button text is empty")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
                raise TelegramRefusal(400, "Bad Request: BUTTON_DATA_INVALID")


@dataclass
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class FakeTelegram:
    """The Bot API's state: the updates waiting for getUpdates, the messages the bot sent."""

    bot_id: int = BOT_ID
    calls: list[Call] = field(default_factory=list)
    refused: list[tuple[Call, str]] = field(default_factory=list)
    messages: dict[tuple[int, int], dict] = field(default_factory=dict)
    blocked_chats: set[int] = field(default_factory=set)
    unknown_chats: set[int] = field(default_factory=set)
    # Answer the next N sendMessage calls with 429 and this retry_after.
    rate_limit_next: int = 0
    retry_after: int = 1
    webhook: dict | None = None
    # Called with every accepted call (a benchmark's simulated citizens answer the bot).
    listener: Callable[[Call], None] | None = None

    def __post_init__(self) -> None:
        self._message_ids = itertools.count(1)
        self._update_ids = itertools.count(1)
        self._updates: list[dict] = []
        self._new_update = asyncio.Event()
        self._changed = asyncio.Event()

    # -- what a test does -------------------------------------------------------------------

    def push_update(self, update: dict) -> dict:
        """Queue an update for getUpdates (an update_id is given when missing)."""
        update.setdefault("update_id", next(self._update_ids))
        self._updates.append(update)
        self._new_update.set()
        return update

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def sent(self, chat_id: int | None = None) -> list[Call]:
        """sendMessage calls Telegram accepted, oldest first (for one chat if given)."""
        return [
            call
            for call in self.calls
            if call.method == "sendMessage"
            and (chat_id is None or int(call.params["chat_id"]) == chat_id)
        ]

    async def wait_for(self, predicate, timeout: float = 10.0) -> None:
        """Until `predicate()` holds (checked after every API call), or fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("the fake Telegram never saw what the test waited for")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass

    # -- the API ----------------------------------------------------------------------------

    def refuse(self, call: Call, refusal: TelegramRefusal) -> tuple[int, dict]:
        """(HTTP status, JSON body) of a refused call, recorded in `refused`."""
        self.refused.append((call, refusal.description))
        self._changed.set()
        body = {"ok": False, "error_code": refusal.status, "description": refusal.description}
        if refusal.parameters:
            body["parameters"] = refusal.parameters
        return refusal.status, body

    async def handle(self, method: str, params: dict[str, Any]) -> tuple[int, dict]:
        """(HTTP status, JSON body) for one API call, as Telegram answers it."""
        params = {key: _decode(value) for key, value in params.items()}
        call = Call(method, params)
        try:
            if method == "getUpdates":
                result = await self._get_updates(params)
            else:
                result = self._answer(method, params)
        except TelegramRefusal as refusal:
            return self.refuse(call, refusal)
        if method != "getUpdates":
            self.calls.append(call)
            self._changed.set()
            if self.listener is not None:
                self.listener(call)
        return 200, {"ok": True, "result": result}

    async def _get_updates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        # Telegram forgets the updates before the offset: they were confirmed.
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), float(params.get("timeout") or 0))
            except TimeoutError:
                return []
        return [u for u in self._updates if u["update_id"] >= offset][:100]

    def _answer(self, method: str, params: dict) -> Any:
        if method == "getMe":
            return {
                "id": self.bot_id,
                "is_bot": True,
                "first_name": "民意 Minyi",
                "username": "minyi_test_bot",
            }
        if method in ("deleteWebhook", "setMyCommands", "close"):
            self.webhook = None if method == "deleteWebhook" else self.webhook
            return True
        if method == "setWebhook":
            self.webhook = params
            return True
        if method == "answerCallbackQuery":
            if len(params.get("text") or "") > 200:
                raise TelegramRefusal(400, "Bad Request: MESSAGE_TOO_LONG")
            return True
        if method == "sendMessage":
            return self._send(params)
        if method == "editMessageText":
            return self._edit(params)
        if method == "editMessageReplyMarkup":
            return self._edit(params, markup_only=True)
        raise TelegramRefusal(404, f"Not Found: method {method} is not faked")

    def _check_message(self, params: dict) -> str:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise TelegramRefusal(400, "Bad Request: message text is empty")
        visible = visible_text(text, params.get("parse_mode"))
        if len(visible) > MESSAGE_LIMIT:
            raise TelegramRefusal(400, "Bad Request: message is too long")
        check_markup(params.get("reply_markup"))
        return visible

    def _send(self, params: dict) -> dict:
        chat_id = int(params["chat_id"])
        if chat_id in self.blocked_chats:
            raise TelegramRefusal(403, "Forbidden: bot was blocked by the user")
        if chat_id in self.unknown_chats:
            raise TelegramRefusal(400, "Bad Request: chat not found")
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            raise TelegramRefusal(
                429,
                f"Too Many Requests: retry after {self.retry_after}",
                retry_after=self.retry_after,
            )
        visible = self._check_message(params)
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": self.bot_id, "is_bot": True, "first_name": "民意 Minyi"},
            "text": visible,
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _edit(self, params: dict, *, markup_only: bool = False) -> dict:
        key = (int(params["chat_id"]), int(params["message_id"]))
        message = self.messages.get(key)
        if message is None:
            raise TelegramRefusal(400, "Bad Request: message to edit not found")
        if markup_only:
            check_markup(params.get("reply_markup"))
        else:
            visible = self._check_message(params)
            if visible == message["text"] and params.get("reply_markup") == message.get(
                "reply_markup"
            ):
                raise TelegramRefusal(400, "Bad Request: message is not modified")
            message["text"] = visible
        message.pop("reply_markup", None)
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message


def _decode(value: Any) -> Any:
    # Over HTTP every field is a string; objects (reply_markup) are JSON inside it.
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class RecordingSession(BaseSession):
    """An aiogram session that answers from a FakeTelegram: deterministic, no sockets."""

    def __init__(self, telegram: FakeTelegram) -> None:
        super().__init__()
        self.telegram = telegram

    async def make_request(self, bot, method, timeout=None):
        params: dict[str, Any] = {}
        files: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            value = self.prepare_value(value, bot=bot, files=files)
            if value:
                params[key] = value
        status, body = await self.telegram.handle(method.__api_method__, params)
        response = self.check_response(bot, method, status, json.dumps(body))
        return response.result

    async def stream_content(
        self, url, headers=None, timeout=30, chunk_size=65536, raise_for_status=True
    ) -> AsyncGenerator[bytes, None]:
        yield b""

    async def close(self) -> None:
        pass


class FakeBotAPIServer:
    """The FakeTelegram over HTTP on 127.0.0.1 (`/bot<token>/<method>`); can go down and up."""

    def __init__(self, telegram: FakeTelegram, token: str = TOKEN, latency: float = 0.0) -> None:
        self.telegram = telegram
        self.token = token
        # Seconds each call takes before it is handled: Telegram's round trip from a county's
        # server is tens of ms, the loopback's a fraction of one (a benchmark sets it).
        self.latency = latency
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        # How each request's parameters came: "application/json", a form, multipart.
        self.content_types: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port or 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self.url

    async def stop(self) -> None:
        """Go down (connections refused) until start() is called again, on the same port."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        self.content_types.append(request.content_type)
        if self.latency:
            await asyncio.sleep(self.latency)
        method = request.match_info["method"]
        if request.content_type == "application/json":
            try:
                params = await request.json()
            except ValueError:
                params = None
            if not isinstance(params, dict):
                refusal = TelegramRefusal(400, "Bad Request: can't parse JSON")
                status, body = self.telegram.refuse(Call(method, {}), refusal)
                return web.json_response(body, status=status)
        else:
            params = dict(await request.post())
        status, body = await self.telegram.handle(method, params)
        return web.json_response(body, status=status)


class Citizen:
    """A Telegram user in a private chat with the bot: builds their updates."""

    def __init__(self, telegram: FakeTelegram, user_id: int, language_code: str = "zh-hans"):
        self.telegram = telegram
        self.user_id = user_id
        self.language_code = language_code
        self._message_ids = itertools.count(100_000 + user_id * 1000)

    def user(self) -> dict:
        return {
            "id": self.user_id,
            "is_bot": False,
            "first_name": "张三",
            "language_code": self.language_code,
        }

    def message(self, text: str | None = None, **content: Any) -> dict:
        """An update with a private message (text, or photo/location/sticker... in `content`)."""
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": self.user_id, "type": "private", "first_name": "张三"},
            "from": self.user(),
            **content,
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": len(command)}
                ]
        return {"update_id": self.telegram.next_update_id(), "message": message}

    def photo(self, file_id: str, caption: str | None = None) -> dict:
        sizes = [
            {"file_id": f"{file_id}-small", "file_unique_id": f"{file_id}s", "width": 90,
             "height": 90},
            {"file_id": file_id, "file_unique_id": f"{file_id}l", "width": 1280, "height": 960},
        ]  # fmt: skip
        content: dict[str, Any] = {"photo": sizes}
        if caption is not None:
            content["caption"] = caption
        return self.message(**content)

    def location(self, latitude: float, longitude: float) -> dict:
        return self.message(location={"latitude": latitude, "longitude": longitude})

    def press(self, callback_data: str, message: dict | None = None) -> dict:
        """An update with a button press on `message` (a message the bot sent)."""
        query: dict[str, Any] = {
            "id": str(next(self._message_ids)),
            "from": self.user(),
            "chat_instance": f"ci{self.user_id}",
            "data": callback_data,
        }
        if message is not None:
            query["message"] = message
        return {"update_id": self.telegram.next_update_id(), "callback_query": query}

    def last_keyboard_message(self) -> dict:
        """The latest message the bot sent this citizen that still shows buttons."""
        for (chat_id, _), message in sorted(self.telegram.messages.items(), reverse=True):
            if chat_id == self.user_id and message.get("reply_markup"):
                return message
        raise AssertionError("the bot shows this citizen no buttons")

    def button(self, label_part: str) -> tuple[str, dict]:
        """(callback_data, message) of the button whose label contains `label_part`."""
        message = self.last_keyboard_message()
        for row in message["reply_markup"]["inline_keyboard"]:
            for button in row:
                if label_part in button["text"]:
                    return button["callback_data"], message
        labels = [b["text"] for row in message["reply_markup"]["inline_keyboard"] for b in row]
        raise AssertionError(f"no button with {label_part!r} among {labels}")
