"""/my: the citizen's tickets with status, due date and the department's latest reply."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.context import BotServices
from bot.keyboards import MenuAction
from bot.replies import say
from bot.texts import MESSAGE_LIMIT, Safe, Texts, clip, visible_length
from minyi.models import Citizen
from minyi.services.citizens import list_citizen_tickets
from minyi.services.views import TicketView

router = Router(name="tickets")

SHOWN = 10
TEXT_CHARS = 80
REPLY_CHARS = 200


def render_tickets(texts: Texts, views: list[TicketView]) -> str:
    """The list as one message, always within Telegram's 4,096 characters."""
    if not views:
        return texts("my_none")
    parts = [texts("my_header", count=len(views))]
    for view in views:
        if view.department is not None:
            department = texts("my_department", department=texts.department(view.department))
        else:
            department = texts("my_triage")
        item = texts(
            "my_item",
            number=view.number,
            status=texts.status(view.status),
            due=view.due_date.isoformat(),
            department=department,
            text=clip(view.text, TEXT_CHARS),
        )
        if view.reply_text:
            item += "\n" + texts("my_reply", reply=clip(view.reply_text, REPLY_CHARS))
        if view.awaiting_verdict:
            item += "\n" + texts("my_awaiting_verdict")
        parts.append(item)
    message = "\n\n".join(parts)
    while visible_length(message) > MESSAGE_LIMIT and len(parts) > 2:
        parts.pop()
        message = "\n\n".join(parts)
    return Safe(message)


async def _my(services: BotServices, texts: Texts, citizen: Citizen) -> str:
    views = await services.read(list_citizen_tickets, citizen, limit=SHOWN)
    return render_tickets(texts, views)


@router.message(Command("my"))
async def show_my_tickets(
    message: Message, services: BotServices, texts: Texts, citizen: Citizen
) -> None:
    await message.answer(await _my(services, texts, citizen))


@router.callback_query(MenuAction.filter(F.action == "my"))
async def show_my_tickets_button(
    callback: CallbackQuery, services: BotServices, texts: Texts, citizen: Citizen
) -> None:
    await callback.answer()
    await say(callback, await _my(services, texts, citizen))
