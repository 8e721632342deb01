"""/start, /help, /cancel and the main menu; every command works in every state."""

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import keyboards
from bot.keyboards import MenuAction
from bot.replies import answered, say
from bot.texts import Texts, clip

router = Router(name="start")


@router.message(CommandStart())
async def show_start(message: Message, state: FSMContext, texts: Texts) -> None:
    await state.clear()
    name = message.from_user.first_name if message.from_user else None
    if name:
        name = ("，" if texts.language == "zh" else ", ") + clip(name, 40)
    greeting = texts("greeting", name=name or "")
    await message.answer(f"{greeting}\n\n{texts('privacy')}")
    await message.answer(texts("menu"), reply_markup=keyboards.main_menu(texts))


@router.message(Command("help"))
async def show_help(message: Message, texts: Texts) -> None:
    await message.answer(texts("help"), reply_markup=keyboards.main_menu(texts))


@router.callback_query(MenuAction.filter(F.action == "help"))
async def show_help_button(callback: CallbackQuery, texts: Texts) -> None:
    await answered(callback, say(callback, texts("help")))


@router.message(Command("cancel"))
async def cancel_flow(message: Message, state: FSMContext, texts: Texts) -> None:
    if await state.get_state() is None:
        await message.answer(texts("nothing_to_cancel"), reply_markup=keyboards.main_menu(texts))
        return
    await state.clear()
    await message.answer(texts("cancelled"), reply_markup=keyboards.main_menu(texts))
