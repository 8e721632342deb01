"""Small helpers handlers share to answer: in place when a button was pressed, else anew."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.texts import plain


async def show(
    callback: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    """Replace the pressed keyboard's message with `text`; a new message if it cannot be edited."""
    message = callback.message
    if isinstance(message, Message):
        try:
            await message.edit_text(text, reply_markup=markup)
            return
        except TelegramBadRequest as error:
            if "not modified" in str(error):
                return
            # Too old to edit (48 h) or deleted by the citizen: say it in a new message.
    await callback.bot.send_message(callback.from_user.id, text, reply_markup=markup)


async def answered(callback: CallbackQuery, reply: Awaitable) -> None:
    """Answer the button press (the citizen's spinner stops) and send `reply` together: one
    round trip to Telegram instead of one after the other (the handler's time, under load
    mostly the wait for the event loop around each call)."""
    await asyncio.gather(_acknowledge(callback), reply)


async def _acknowledge(callback: CallbackQuery) -> None:
    # aiogram's method objects are awaitable but not coroutines, which gather needs.
    await callback.answer()


async def alert(callback: CallbackQuery, text: str) -> None:
    """A short pop-up answer to a button: plain text, at most 200 characters (Telegram's)."""
    await callback.answer(plain(text)[:200], show_alert=True)


def update_ref(bot, event_update) -> str:
    """The core's source_ref for an update: Telegram redelivering it files nothing twice."""
    return f"tg:{bot.id}:{event_update.update_id}"


async def say(callback: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None):
    """A new message to the citizen who pressed a button."""
    await callback.bot.send_message(callback.from_user.id, text, reply_markup=markup)
