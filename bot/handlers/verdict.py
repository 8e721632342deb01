"""The 回访 buttons the outbox sends on closure: resolved? (是/否), then satisfied? (1-5)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery

from bot import keyboards
from bot.context import BotServices
from bot.keyboards import Verdict
from bot.replies import alert, answered, show
from bot.texts import Texts
from minyi.errors import MinyiError
from minyi.models import Citizen
from minyi.services.actors import Actor
from minyi.services.permissions import allowed
from minyi.services.tickets import get_ticket, record_verdict
from minyi.services.views import TicketView

router = Router(name="verdict")


def _awaiting(session, number: str, citizen: Citizen) -> bool:
    try:
        ticket = get_ticket(session, number)
    except MinyiError:
        return False
    view = TicketView.of(ticket)
    own = allowed(Actor.citizen(citizen), "ticket.verdict", citizen_id=view.citizen_id)
    return own and view.awaiting_verdict


@router.callback_query(Verdict.filter(F.resolved.in_({0, 1}) & (F.satisfaction == 0)))
async def answer_resolved(
    callback: CallbackQuery,
    callback_data: Verdict,
    services: BotServices,
    texts: Texts,
    citizen: Citizen,
) -> None:
    if not await services.read(_awaiting, callback_data.number, citizen):
        await alert(callback, texts("stale_button"))
        return
    question = texts("verdict_satisfied_q", number=callback_data.number)
    markup = keyboards.satisfaction_question(callback_data.number, callback_data.resolved)
    await answered(callback, show(callback, question, markup))


def _record(session, services: BotServices, number: str, citizen, resolved: bool, score: int):
    ticket = get_ticket(session, number, for_update=True)
    record_verdict(
        session,
        services.ctx,
        ticket,
        actor=Actor.citizen(citizen),
        resolved=resolved,
        satisfaction=score,
    )
    return TicketView.of(ticket)


@router.callback_query(
    Verdict.filter(F.resolved.in_({0, 1}) & F.satisfaction.in_({1, 2, 3, 4, 5}))
)
async def answer_satisfaction(
    callback: CallbackQuery,
    callback_data: Verdict,
    services: BotServices,
    texts: Texts,
    citizen: Citizen,
) -> None:
    resolved = callback_data.resolved == 1
    try:
        view = await services.write(
            _record, services, callback_data.number, citizen, resolved, callback_data.satisfaction
        )
    except MinyiError as error:  # answered already (a second tap, an old message)
        await alert(callback, texts.error(error))
        return
    await callback.answer()
    if resolved:
        text = texts("verdict_thanks")
    elif view.escalated:
        text = texts("verdict_escalated", number=view.number)
    else:
        text = texts("verdict_reopened", number=view.number)
    await show(callback, text)
