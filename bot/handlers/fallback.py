"""Anything no feature took: a short helpful answer, never silence and never a crash."""

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message

from bot import keyboards
from bot.replies import alert
from bot.texts import Texts

router = Router(name="fallback")


@router.message(F.text.startswith("/"))
async def answer_unknown_command(message: Message, texts: Texts) -> None:
    await message.answer(texts("unknown_command"))


@router.message(F.text)
async def answer_unknown_text(message: Message, texts: Texts) -> None:
    await message.answer(texts("unknown"), reply_markup=keyboards.main_menu(texts))


@router.message(F.photo | F.location)
async def answer_media_outside_a_complaint(message: Message, texts: Texts) -> None:
    await message.answer(texts("media_outside_flow"), reply_markup=keyboards.main_menu(texts))


@router.message()
async def answer_unsupported(message: Message, texts: Texts) -> None:
    # Stickers, voice, video, files.
    await message.answer(texts("unsupported_media"), reply_markup=keyboards.main_menu(texts))


@router.edited_message()
async def answer_edited(message: Message, texts: Texts) -> None:
    await message.answer(texts("edited_ignored"))


@router.callback_query()
async def answer_stale_button(callback: CallbackQuery, texts: Texts) -> None:
    # An old keyboard (after a restart, a finished flow) or a forged callback_data.
    await alert(callback, texts("stale_button"))
