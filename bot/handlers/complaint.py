"""/complain: photos and a location (optional), then the text files it; routing shown at once."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, Update

from bot import keyboards
from bot.context import BotServices
from bot.keyboards import DepartmentPage, DepartmentPick, MenuAction, RouteAccept
from bot.replies import alert, answered, say, show, update_ref
from bot.states import ComplainFlow
from bot.texts import Texts
from minyi.errors import LimitReached, MinyiError, ValidationFailed
from minyi.models import Channel, Citizen
from minyi.services.actors import Actor
from minyi.services.catalog import department_refs
from minyi.services.permissions import allowed
from minyi.services.tickets import (
    choose_department,
    get_ticket,
    get_ticket_brief,
)
from minyi.services.views import TicketBrief, TicketView

router = Router(name="complaint")

MAX_PHOTOS = 5
PLAIN_TEXT = F.text & ~F.text.startswith("/")


def _ask(services: BotServices, texts: Texts) -> str:
    limits = services.settings.tickets
    return texts(
        "complain_ask", min=limits.min_text_chars, max=limits.max_text_chars, photos=MAX_PHOTOS
    )


async def _start(state: FSMContext) -> None:
    await state.set_state(ComplainFlow.describe)
    await state.set_data({"photos": []})


@router.message(Command("complain"))
async def start_complaint(
    message: Message, state: FSMContext, services: BotServices, texts: Texts
) -> None:
    await _start(state)
    await message.answer(_ask(services, texts))


@router.callback_query(MenuAction.filter(F.action == "complain"))
async def start_complaint_button(
    callback: CallbackQuery, state: FSMContext, services: BotServices, texts: Texts
) -> None:
    await callback.answer()
    await _start(state)
    await say(callback, _ask(services, texts))


@router.message(ComplainFlow.describe, F.photo, ~F.caption)
async def add_photo(message: Message, state: FSMContext, texts: Texts) -> None:
    data = await state.get_data()
    photos = list(data.get("photos", []))
    if len(photos) >= MAX_PHOTOS:
        await message.answer(texts("complain_photo_limit", photos=MAX_PHOTOS))
        return
    photos.append(message.photo[-1].file_id)  # the largest size Telegram made
    await state.update_data(photos=photos)
    await message.answer(texts("complain_photo_saved", count=len(photos)))


@router.message(ComplainFlow.describe, F.location)
async def add_location(message: Message, state: FSMContext, texts: Texts) -> None:
    location = message.location
    await state.update_data(latitude=location.latitude, longitude=location.longitude)
    await message.answer(texts("complain_location_saved"))


@router.message(ComplainFlow.describe, PLAIN_TEXT)
async def file_text(
    message: Message,
    state: FSMContext,
    services: BotServices,
    texts: Texts,
    citizen: Citizen,
    bot: Bot,
    event_update: Update,
) -> None:
    await _file(
        message, state, services, texts, citizen, message.text, update_ref(bot, event_update)
    )


@router.message(ComplainFlow.describe, F.photo, F.caption)
async def file_photo_with_caption(
    message: Message,
    state: FSMContext,
    services: BotServices,
    texts: Texts,
    citizen: Citizen,
    bot: Bot,
    event_update: Update,
) -> None:
    data = await state.get_data()
    photos = list(data.get("photos", []))[: MAX_PHOTOS - 1] + [message.photo[-1].file_id]
    await state.update_data(photos=photos)
    await _file(
        message, state, services, texts, citizen, message.caption, update_ref(bot, event_update)
    )


@router.message(ComplainFlow.describe, ~F.text.startswith("/"))
async def expect_text(message: Message, services: BotServices, texts: Texts) -> None:
    limits = services.settings.tickets
    await message.answer(
        texts("complain_need_text", min=limits.min_text_chars, max=limits.max_text_chars)
    )


async def _file(message, state, services, texts, citizen, text, source_ref) -> None:
    data = await state.get_data()
    try:
        view = await services.file_complaint(
            text=text,
            channel=Channel.TELEGRAM,
            citizen=citizen,
            latitude=data.get("latitude"),
            longitude=data.get("longitude"),
            attachments=[("photo", file_id) for file_id in data.get("photos", [])],
            source_ref=source_ref,
        )
    except ValidationFailed as error:  # too short or too long: say the limits, keep the flow
        await message.answer(texts.error(error))
        return
    except LimitReached as error:
        await state.clear()
        await message.answer(texts.error(error))
        return
    await state.clear()
    await message.answer(filed_text(texts, view), reply_markup=_routing_keyboard(texts, view))


def filed_text(texts: Texts, view: TicketView) -> str:
    """The answer to a filed complaint: number, suggested department or triage, due date."""
    confidence = f"{view.topic_confidence:.0%}" if view.topic_confidence is not None else None
    if view.department is not None:
        return texts(
            "complain_filed",
            number=view.number,
            department=texts.department(view.department),
            confidence=confidence or "—",
            due=view.due_date.isoformat(),
        )
    suffix = texts("complain_confidence_suffix", confidence=confidence) if confidence else ""
    return texts(
        "complain_triage", number=view.number, confidence=suffix, due=view.due_date.isoformat()
    )


def _routing_keyboard(texts: Texts, view: TicketView):
    if view.first_response_at is not None:  # a redelivered, already accepted complaint
        return None
    return keyboards.routing(texts, view.id, suggested=view.department is not None)


# -- the citizen confirms or corrects the department --------------------------------------------


def _own_ticket(session, ticket_id: int, citizen: Citizen) -> TicketBrief | None:
    try:
        ticket = get_ticket_brief(session, ticket_id)
    except MinyiError:
        return None
    if not allowed(Actor.citizen(citizen), "ticket.view", citizen_id=ticket.citizen_id):
        return None
    return ticket


def _own_ticket_and_departments(session, ticket_id: int, citizen: Citizen):
    ticket = _own_ticket(session, ticket_id, citizen)
    return ticket, (department_refs(session) if ticket is not None else ())


@router.callback_query(RouteAccept.filter())
async def accept_department(
    callback: CallbackQuery,
    callback_data: RouteAccept,
    services: BotServices,
    texts: Texts,
    citizen: Citizen,
) -> None:
    view = await services.read(_own_ticket, callback_data.ticket, citizen)
    if view is None or view.department is None:
        await alert(callback, texts("stale_button"))
        return
    accepted = texts(
        "route_accepted", number=view.number, department=texts.department(view.department)
    )
    await answered(callback, show(callback, accepted))


@router.callback_query(DepartmentPage.filter(F.ticket > 0))
async def list_departments_for_ticket(
    callback: CallbackQuery,
    callback_data: DepartmentPage,
    services: BotServices,
    texts: Texts,
    citizen: Citizen,
) -> None:
    view, departments = await services.read(
        _own_ticket_and_departments, callback_data.ticket, citizen
    )
    if view is None:
        await alert(callback, texts("stale_button"))
        return
    pages = keyboards.page_count(len(departments))
    page = min(max(callback_data.page, 1), pages)
    await answered(
        callback,
        show(
            callback,
            texts("route_choose", number=view.number, page=page, pages=pages),
            keyboards.departments(texts, departments, page, ticket=view.id),
        ),
    )


def _choose(session, services: BotServices, ticket_id: int, department_id: int, citizen):
    ticket = get_ticket(session, ticket_id, for_update=True)
    actor = Actor.citizen(citizen)
    choose_department(session, services.ctx, ticket, department_id, actor=actor)
    return TicketView.of(ticket)


@router.callback_query(DepartmentPick.filter(F.ticket > 0))
async def pick_department_for_ticket(
    callback: CallbackQuery,
    callback_data: DepartmentPick,
    services: BotServices,
    texts: Texts,
    citizen: Citizen,
) -> None:
    try:
        view = await services.write(
            _choose, services, callback_data.ticket, callback_data.department, citizen
        )
    except MinyiError as error:  # already being handled, not theirs, department gone
        await alert(callback, texts.error(error))
        return
    changed = texts(
        "route_changed", number=view.number, department=texts.department(view.department)
    )
    await answered(callback, show(callback, changed))
