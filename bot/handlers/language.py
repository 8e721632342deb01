"""/lang: Chinese or English, remembered for the citizen (also for outbox messages)."""

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot import keyboards
from bot.context import BotServices
from bot.keyboards import Language, MenuAction
from bot.replies import answered, say, show
from bot.texts import Texts
from minyi.models import Citizen
from minyi.services.citizens import set_language

router = Router(name="language")


@router.message(Command("lang"))
async def ask_language(message: Message, texts: Texts) -> None:
    await message.answer(texts("choose_language"), reply_markup=keyboards.languages())


@router.callback_query(MenuAction.filter(F.action == "lang"))
async def ask_language_button(callback: CallbackQuery, texts: Texts) -> None:
    await answered(callback, say(callback, texts("choose_language"), keyboards.languages()))


@router.callback_query(Language.filter())
async def choose_language(
    callback: CallbackQuery,
    callback_data: Language,
    citizen: Citizen,
    services: BotServices,
) -> None:
    updated = await services.write(set_language, citizen, callback_data.code)
    services.citizens.put(callback.from_user.id, updated)
    texts = Texts(updated.language)
    await callback.answer()
    await show(callback, texts("language_set"))
    await say(callback, texts("menu"), keyboards.main_menu(texts))
