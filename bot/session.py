"""How the bot talks to the Bot API: aiogram's aiohttp session, with a JSON body and cached models.

Both are about CPU: the bot makes one or two Bot API calls for every update, and on one
event loop a call's CPU is time every other citizen's update waits.
"""

from __future__ import annotations

import json

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.methods.base import Response
from aiohttp import BytesPayload


class JsonBodySession(AiohttpSession):
    """Sends a method's fields as one JSON object instead of an urlencoded form.

    The Bot API accepts both ("application/json" is one of its four ways to pass
    parameters). The fields are the very strings aiogram's form carries (a keyboard is the
    JSON text of it, as in the form), so Telegram reads the same values; what changes is the
    encoding: an urlencoded form percent-escapes every byte of Chinese text (three escapes a
    character), which cost about twice building the JSON (bench: ~100 vs ~55 us a message
    with a keyboard). A method that uploads a file still goes as aiogram's multipart form.
    """

    def build_form_data(self, bot, method):
        files: dict = {}
        fields = {}
        for key, value in method.model_dump(warnings=False).items():
            value = self.prepare_value(value, bot=bot, files=files)
            if value:
                fields[key] = value
        if files:
            return super().build_form_data(bot, method)
        body = json.dumps(fields, ensure_ascii=False).encode()
        return BytesPayload(body, content_type="application/json")


class KeepResponseModels(BaseRequestMiddleware):
    """Holds on to the pydantic model aiogram parses each API answer with.

    aiogram reads an answer with `Response[method.__returning__]`; pydantic keeps such
    generic models in a WeakValueDictionary, so after a garbage collection the next call
    builds the model again, a few ms of CPU, and that was a third of all API calls of
    bench/bot.py. One strong reference per return type makes every later call a dict hit.
    """

    _models: dict = {}  # shared by every bot of the process, as pydantic's cache is

    async def __call__(self, make_request, bot, method):
        returning = method.__returning__
        if returning not in self._models:
            self._models[returning] = Response[returning]
        return await make_request(bot, method)
