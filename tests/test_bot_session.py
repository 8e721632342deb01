"""The bot's Bot API session: a JSON body with the fields aiogram's form carries, over HTTP."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import SendDocument, SendMessage
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup
from aiohttp import BytesPayload, FormData

from bot.app import create_bot
from bot.session import JsonBodySession
from tests.bot_support import async_test
from tests.fake_telegram import FakeBotAPIServer, FakeTelegram

# Chinese, HTML the bot means, and characters a form or JSON must escape.
TEXT = '<b>工单 MY-20261203-0001</b>：路灯 &amp; 坏了 "一个月" + 100% \\ 请处理'
KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[[InlineKeyboardButton(text="接受 ✓", callback_data="ok:1")]]
)


def _with_token(settings, token: str):
    return settings.model_copy(update={"bot": settings.bot.model_copy(update={"token": token})})


def _form_fields(form: FormData) -> dict:
    payload = form()
    return dict(parse_qsl(payload.decode(), keep_blank_values=True))


def test_the_json_body_carries_exactly_the_fields_of_aiograms_form(settings):
    settings = _with_token(settings, "1:x")
    json_session = JsonBodySession()
    bot = create_bot(settings, json_session)
    method = SendMessage(chat_id=701, text=TEXT, reply_markup=KEYBOARD)
    body = json_session.build_form_data(bot, method)
    assert isinstance(body, BytesPayload) and body.content_type == "application/json"
    sent = json.loads(body.decode())
    assert sent == _form_fields(AiohttpSession().build_form_data(bot, method))
    assert sent["text"] == TEXT and sent["parse_mode"] == "HTML"
    assert json.loads(sent["reply_markup"])["inline_keyboard"][0][0]["text"] == "接受 ✓"


def test_a_method_that_uploads_a_file_still_goes_as_a_multipart_form(settings):
    settings = _with_token(settings, "1:x")
    session = JsonBodySession()
    bot = create_bot(settings, session)
    report = BufferedInputFile("编号,状态\n".encode(), filename="周报.csv")
    form = session.build_form_data(bot, SendDocument(chat_id=701, document=report))
    assert isinstance(form, FormData)
    assert form().content_type.startswith("multipart/form-data")


@async_test
async def test_the_bot_api_reads_the_json_body_as_it_read_the_form(settings):
    telegram = FakeTelegram()
    server = FakeBotAPIServer(telegram)
    await server.start()
    settings = _with_token(settings, server.token)
    session = JsonBodySession(api=TelegramAPIServer.from_base(server.url))
    bot = create_bot(settings, session)
    try:
        sent = await bot.send_message(701, TEXT, reply_markup=KEYBOARD)
        edited = await bot.edit_message_text(
            "已转交 <i>县交通运输局</i>", chat_id=701, message_id=sent.message_id
        )
    finally:
        await session.close()
        await server.stop()
    assert server.content_types == ["application/json", "application/json"]
    assert telegram.refused == []
    stored = telegram.messages[(701, sent.message_id)]
    assert stored["text"] == edited.text == "已转交 县交通运输局"
    # What the bot got back is aiogram's parsed Message, bound to the bot.
    assert sent.text == '工单 MY-20261203-0001：路灯 & 坏了 "一个月" + 100% \\ 请处理'
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "ok:1"
    assert sent.bot is bot


@async_test
async def test_a_malformed_json_body_is_refused_like_telegram_does():
    import aiohttp

    telegram = FakeTelegram()
    server = FakeBotAPIServer(telegram)
    await server.start()
    try:
        async with aiohttp.ClientSession() as client:
            url = f"{server.url}/bot{server.token}/sendMessage"
            for body in (b"{not json", b"[1, 2]"):
                async with client.post(
                    url, data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    assert response.status == 400
                    assert "can't parse JSON" in (await response.json())["description"]
    finally:
        await server.stop()
    assert [description for _, description in telegram.refused] == [
        "Bad Request: can't parse JSON"
    ] * 2
