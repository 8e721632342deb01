"""/rate: department → service → the five 好差评 levels → (差评) aspect → comment → thanks."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, Update

from bot import keyboards
from bot.context import BotServices
from bot.keyboards import (
    Aspect,
    DepartmentPage,
    DepartmentPick,
    MenuAction,
    Score,
    ServicePick,
    SkipComment,
)
from bot.replies import alert, say, show, update_ref
from bot.states import RateFlow
from bot.texts import Texts
from minyi.errors import ValidationFailed
from minyi.models import Channel, Citizen
from minyi.services.catalog import department_refs, list_departments, list_services
from minyi.services.ratings import ASPECTS, check_comment, is_bad_review, submit_rating

router = Router(name="rating")


async def _start(state: FSMContext, services: BotServices, texts: Texts):
    await state.set_state(RateFlow.department)
    await state.set_data({})
    departments = await services.read(department_refs)
    pages = keyboards.page_count(len(departments))
    return texts("rate_department", page=1, pages=pages), keyboards.departments(
        texts, departments, 1
    )


@router.message(Command("rate"))
async def start_rating(
    message: Message, state: FSMContext, services: BotServices, texts: Texts
) -> None:
    text, markup = await _start(state, services, texts)
    await message.answer(text, reply_markup=markup)


@router.callback_query(MenuAction.filter(F.action == "rate"))
async def start_rating_button(
    callback: CallbackQuery, state: FSMContext, services: BotServices, texts: Texts
) -> None:
    await callback.answer()
    text, markup = await _start(state, services, texts)
    await say(callback, text, markup)


@router.callback_query(RateFlow.department, DepartmentPage.filter(F.ticket == 0))
async def turn_department_page(
    callback: CallbackQuery, callback_data: DepartmentPage, services: BotServices, texts: Texts
) -> None:
    await callback.answer()
    departments = await services.read(department_refs)
    pages = keyboards.page_count(len(departments))
    page = min(max(callback_data.page, 1), pages)
    await show(
        callback,
        texts("rate_department", page=page, pages=pages),
        keyboards.departments(texts, departments, page),
    )


@router.callback_query(RateFlow.department, DepartmentPick.filter(F.ticket == 0))
async def choose_department(
    callback: CallbackQuery,
    callback_data: DepartmentPick,
    state: FSMContext,
    services: BotServices,
    texts: Texts,
) -> None:
    found = await services.read(_department_services, callback_data.department)
    if found is None:
        await alert(callback, texts("stale_button"))
        return
    department, department_services = found
    if not department_services:
        await alert(callback, texts("rate_no_services"))
        return
    await callback.answer()
    await state.update_data(department_id=department.id)
    await state.set_state(RateFlow.service)
    await show(
        callback,
        texts("rate_service", department=texts.department(department)),
        keyboards.services(department_services),
    )


def _department_services(session, department_id: int):
    departments = {d.id: d for d in list_departments(session)}
    department = departments.get(department_id)
    if department is None:
        return None
    return department, list_services(session, department)


@router.callback_query(RateFlow.service, ServicePick.filter())
async def choose_service(
    callback: CallbackQuery,
    callback_data: ServicePick,
    state: FSMContext,
    services: BotServices,
    texts: Texts,
) -> None:
    data = await state.get_data()
    offered = await services.read(list_services, data["department_id"])
    service = next((s for s in offered if s.id == callback_data.service), None)
    if service is None:
        await alert(callback, texts("stale_button"))
        return
    await callback.answer()
    await state.update_data(service_id=service.id)
    await state.set_state(RateFlow.score)
    await show(callback, texts("rate_score", service=service.name), keyboards.scores(texts))


@router.callback_query(RateFlow.score, Score.filter(F.score.in_({1, 2, 3, 4, 5})))
async def choose_score(
    callback: CallbackQuery,
    callback_data: Score,
    state: FSMContext,
    services: BotServices,
    texts: Texts,
) -> None:
    await callback.answer()
    await state.update_data(score=callback_data.score)
    if is_bad_review(services.ctx, callback_data.score):
        await state.set_state(RateFlow.aspect)
        await show(callback, texts("rate_aspect"), keyboards.aspects(texts, ASPECTS))
        return
    await state.set_state(RateFlow.comment)
    await show(callback, texts("rate_comment"), keyboards.skip(texts))


@router.callback_query(RateFlow.aspect, Aspect.filter(F.index.in_(set(range(len(ASPECTS))))))
async def choose_aspect(
    callback: CallbackQuery, callback_data: Aspect, state: FSMContext, texts: Texts
) -> None:
    await callback.answer()
    await state.update_data(aspect=ASPECTS[callback_data.index])
    await state.set_state(RateFlow.comment)
    await show(callback, texts("rate_comment"), keyboards.skip(texts))


@router.callback_query(RateFlow.comment, SkipComment.filter())
async def skip_comment(
    callback: CallbackQuery,
    state: FSMContext,
    services: BotServices,
    texts: Texts,
    citizen: Citizen,
    bot: Bot,
    event_update: Update,
) -> None:
    await callback.answer()
    thanks = await _submit(state, services, texts, citizen, update_ref(bot, event_update), None)
    await show(callback, thanks)


@router.message(RateFlow.comment, F.text, ~F.text.startswith("/"))
async def write_comment(
    message: Message,
    state: FSMContext,
    services: BotServices,
    texts: Texts,
    citizen: Citizen,
    bot: Bot,
    event_update: Update,
) -> None:
    try:
        check_comment(services.ctx, message.text)
    except ValidationFailed as error:  # too long: say the limit, keep the flow
        await message.answer(texts.error(error))
        return
    ref = update_ref(bot, event_update)
    thanks = await _submit(state, services, texts, citizen, ref, message.text)
    await message.answer(thanks)


async def _submit(state, services, texts, citizen, source_ref, comment) -> str:
    data = await state.get_data()
    rating = await services.call(
        submit_rating,
        services.session_factory,
        services.ctx,
        service=data["service_id"],
        score=data["score"],
        aspect=data.get("aspect"),
        comment=comment,
        citizen=citizen,
        channel=Channel.TELEGRAM,
        source_ref=source_ref,
    )
    await state.clear()
    if rating.follow_up_deadline is None:
        return texts("rate_thanks")
    return texts(
        "rate_thanks_bad",
        department=texts.department(rating.department),
        deadline=rating.follow_up_deadline.isoformat(),
    )


@router.message(
    StateFilter(RateFlow.department, RateFlow.service, RateFlow.score, RateFlow.aspect),
    ~F.text.startswith("/"),
)
async def expect_buttons(message: Message, texts: Texts) -> None:
    await message.answer(texts("use_buttons"))
