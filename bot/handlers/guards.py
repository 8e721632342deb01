"""Messages no flow should read: forwarded ones (not the citizen's own words)."""

from aiogram import F, Router
from aiogram.types import Message

from bot.texts import Texts

router = Router(name="guards")


@router.message(F.forward_origin)
async def refuse_forwarded(message: Message, texts: Texts) -> None:
    await message.answer(texts("forwarded_ignored"))
