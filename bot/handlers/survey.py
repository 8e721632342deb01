"""/survey and the invitation's button: a round answered one question at a time.

Inline keyboards, not native polls (those close within minutes). Each answer is saved by the
engine as it arrives (surveys.responses.save_answer), so the next question always comes from
the database: after a restart, /survey (or the invitation's button again) resumes where the
citizen stopped, whatever the FSM storage kept. Buttons carry the round, the question's
position and the score or choice index; the engine refuses what is no longer allowed (a
closed round, a submitted response), and the citizen reads its message.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import F, Router, html
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot import keyboards
from bot.context import BotServices
from bot.keyboards import SurveyAnswer, SurveyOpen, SurveySkip, SurveySubmit, SurveyToggle
from bot.replies import alert, show
from bot.states import SurveyFlow
from bot.texts import Safe, Texts, clip
from minyi.errors import MinyiError, ValidationFailed
from minyi.models import Channel, Citizen
from surveys.definition import Question
from surveys.responses import (
    Respondent,
    ResponseView,
    rounds_for_citizen,
    save_answer,
    start_response,
    submit_and_route,
)
from surveys.rounds import RoundView, get_round_by_id

router = Router(name="survey")

QUESTION_CHARS = 1000  # a question's text and help in a message; levels come on top


@dataclass(frozen=True)
class Step:
    """Where a citizen is in a round: its view and their response so far."""

    round: RoundView
    response: ResponseView


def _respondent(citizen: Citizen) -> Respondent:
    return Respondent.of_citizen(citizen, Channel.TELEGRAM)


def _step(session, ctx, round_id: int, citizen: Citizen) -> Step:
    round_view = RoundView.of(get_round_by_id(session, round_id))
    return Step(round_view, start_response(session, ctx, round_id, _respondent(citizen)))


def _answer(session, ctx, round_id: int, citizen: Citizen, index: int, raw) -> Step:
    """Save one answer given by position (a button) or as typed; the citizen's next step."""
    round_view = RoundView.of(get_round_by_id(session, round_id))
    question = _question_at(round_view, index)
    value = raw(question) if callable(raw) else raw
    response = save_answer(session, ctx, round_id, _respondent(citizen), question.key, value)
    return Step(round_view, response)


def _question_at(round_view: RoundView, index: int) -> Question:
    questions = round_view.definition.questions if round_view.definition else ()
    if not 0 <= index < len(questions):
        raise ValidationFailed("这个按钮已失效", "this button is out of date")
    return questions[index]


def _choice(index: int):
    """The value of a button: a score, or the key of the choice at `index`."""

    def value(question: Question):
        if question.kind in ("single", "multiple"):
            if not 0 <= index < len(question.choices):
                raise ValidationFailed("这个按钮已失效", "this button is out of date")
            return question.choices[index].key
        return index

    return value


def _picked(mask: int):
    def value(question: Question):
        return [c.key for n, c in enumerate(question.choices) if mask >> n & 1]

    return value


# -- entering a round ------------------------------------------------------------------------


@router.message(Command("survey"))
async def list_surveys(
    message: Message, state: FSMContext, services: BotServices, texts: Texts, citizen: Citizen
) -> None:
    found = await services.read(rounds_for_citizen, services.ctx, citizen)
    if not found:
        await state.clear()
        await message.answer(texts("survey_none"))
        return
    if len(found) > 1:
        await state.clear()
        labels = [
            (
                round_view.id,
                texts.raw("survey_round_label").format(
                    title=round_view.definition.title.get(texts.language),
                    closes=_local(services, round_view.closes_at),
                ),
            )
            for round_view, _ in found
        ]
        await message.answer(texts("survey_choose"), reply_markup=keyboards.survey_rounds(labels))
        return
    step = await services.write(_step, services.ctx, found[0][0].id, citizen)
    text, markup = await _present(step, state, services, texts, citizen, opening=True)
    await message.answer(text, reply_markup=markup)


@router.callback_query(SurveyOpen.filter())
async def open_survey(
    callback: CallbackQuery,
    callback_data: SurveyOpen,
    state: FSMContext,
    services: BotServices,
    texts: Texts,
    citizen: Citizen,
) -> None:
    try:
        step = await services.write(_step, services.ctx, callback_data.round, citizen)
    except MinyiError as error:  # closed, not invited, unknown round
        await alert(callback, texts.error(error))
        return
    await callback.answer()
    text, markup = await _present(step, state, services, texts, citizen, opening=True)
    # A new message: the invitation (or the list) stays readable above it.
    await callback.bot.send_message(callback.from_user.id, text, reply_markup=markup)


# -- answers ---------------------------------------------------------------------------------


@router.callback_query(SurveyAnswer.filter())
async def answer_by_button(
    callback: CallbackQuery,
    callback_data: SurveyAnswer,
    state: FSMContext,
    services: BotServices,
    texts: Texts,
    citizen: Citizen,
) -> None:
    raw = _choice(callback_data.value)
    await _save_and_go_on(callback, callback_data.round, callback_data.question, raw, state,
                          services, texts, citizen)  # fmt: skip


@router.callback_query(SurveySkip.filter())
async def skip_question(
    callback: CallbackQuery,
    callback_data: SurveySkip,
    state: FSMContext,
    services: BotServices,
    texts: Texts,
    citizen: Citizen,
) -> None:
    await _save_and_go_on(callback, callback_data.round, callback_data.question, None, state,
                          services, texts, citizen)  # fmt: skip


@router.callback_query(SurveyToggle.filter(F.done == 0))
async def toggle_choice(
    callback: CallbackQuery, callback_data: SurveyToggle, services: BotServices, texts: Texts
) -> None:
    # Nothing is saved until "done": the keyboard itself carries the choices so far.
    try:
        round_view = await services.read(_round_view, callback_data.round)
        question = _question_at(round_view, callback_data.question)
    except MinyiError as error:
        await alert(callback, texts.error(error))
        return
    if question.kind != "multiple" or callback_data.picked >> len(question.choices):
        await alert(callback, texts("stale_button"))
        return
    await callback.answer()
    markup = keyboards.survey_question(
        texts, round_view.id, callback_data.question, question, picked=callback_data.picked
    )
    if isinstance(callback.message, Message):
        await callback.message.edit_reply_markup(reply_markup=markup)


@router.callback_query(SurveyToggle.filter(F.done == 1))
async def finish_choices(
    callback: CallbackQuery,
    callback_data: SurveyToggle,
    state: FSMContext,
    services: BotServices,
    texts: Texts,
    citizen: Citizen,
) -> None:
    raw = _picked(callback_data.picked)
    await _save_and_go_on(callback, callback_data.round, callback_data.question, raw, state,
                          services, texts, citizen)  # fmt: skip


@router.message(SurveyFlow.text, F.text, ~F.text.startswith("/"))
async def answer_by_text(
    message: Message, state: FSMContext, services: BotServices, texts: Texts, citizen: Citizen
) -> None:
    data = await state.get_data()
    try:
        step = await services.write(
            _answer, services.ctx, data["round"], citizen, data["question"], message.text
        )
    except MinyiError as error:  # too long, a closed round: say why, keep waiting
        await message.answer(texts.error(error))
        return
    text, markup = await _present(step, state, services, texts, citizen)
    await message.answer(text, reply_markup=markup)


@router.message(SurveyFlow.text, ~F.text)
async def expect_text(message: Message, texts: Texts) -> None:
    await message.answer(texts("survey_text_only"))


async def _save_and_go_on(callback, round_id, index, raw, state, services, texts, citizen):
    try:
        step = await services.write(_answer, services.ctx, round_id, citizen, index, raw)
    except MinyiError as error:  # refused (required, too many), closed, submitted already
        await alert(callback, texts.error(error))
        return
    await callback.answer()
    text, markup = await _present(step, state, services, texts, citizen)
    await show(callback, text, markup)


# -- the end ---------------------------------------------------------------------------------


@router.callback_query(SurveySubmit.filter(F.complaint.in_({0, 1})))
async def submit_survey(
    callback: CallbackQuery,
    callback_data: SurveySubmit,
    state: FSMContext,
    services: BotServices,
    texts: Texts,
    citizen: Citizen,
) -> None:
    try:
        round_view = await services.read(_round_view, callback_data.round)
        text = await _submit(round_view, services, texts, citizen, callback_data.complaint == 1)
    except MinyiError as error:
        await alert(callback, texts.error(error))
        return
    await state.clear()
    await callback.answer()
    await show(callback, text)


async def _submit(
    round_view: RoundView, services: BotServices, texts: Texts, citizen: Citizen, complaint: bool
) -> str:
    view = await services.call(
        submit_and_route,
        services.session_factory,
        services.ctx,
        round_view.id,
        _respondent(citizen),
        file_complaints=complaint,
    )
    title = round_view.definition.title.get(texts.language)
    if not view.submitted_now:
        return texts("survey_already", title=title)
    lines = [texts("survey_thanks", title=title)]
    lines += [texts("survey_thanks_complaint", number=c.number) for c in view.complaints]
    lines += [
        texts("survey_complaint_refused", message=en if texts.language == "en" else zh)
        for _, zh, en in view.complaints_refused
    ]
    return "\n\n".join(lines)


def _round_view(session, round_id: int) -> RoundView:
    return RoundView.of(get_round_by_id(session, round_id))


async def _present(
    step: Step,
    state: FSMContext,
    services: BotServices,
    texts: Texts,
    citizen: Citizen,
    *,
    opening: bool = False,
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The message for the citizen's next step: a question, the complaint offer, or thanks."""
    round_view, response = step.round, step.response
    definition = round_view.definition
    title = definition.title.get(texts.language)
    if response.submitted:
        await state.clear()
        return texts("survey_already", title=title), None
    header = ""
    if opening and not response.answers:
        intro = definition.intro.get(texts.language) if definition.intro else ""
        header = texts(
            "survey_start",
            title=title,
            round=round_view.number,
            closes=_local(services, round_view.closes_at),
            intro=clip(intro, QUESTION_CHARS),
        )
    elif opening:
        header = texts("survey_resume", title=title)
    if response.next_key is None:
        await state.clear()
        if _offers_complaint(definition, response):
            text = texts("survey_complaint_q")
            return _joined(header, text), keyboards.survey_complaint(texts, round_view.id)
        return _joined(header, await _submit(round_view, services, texts, citizen, False)), None
    question = definition.question(response.next_key)
    index = definition.keys.index(question.key)
    answered, shown = response.progress
    text = texts(
        "survey_question",
        title=title,
        n=answered + 1,
        total=shown,
        question=Safe(_question_text(question, texts)),
    )
    if question.kind == "text":
        await state.set_state(SurveyFlow.text)
        await state.set_data({"round": round_view.id, "question": index})
    else:
        await state.clear()
    markup = keyboards.survey_question(texts, round_view.id, index, question)
    return _joined(header, text), markup


def _question_text(question: Question, texts: Texts) -> str:
    """The question in the citizen's language with what it needs to be answered (escaped)."""
    lines = [html.quote(clip(question.text.get(texts.language), QUESTION_CHARS))]
    if question.required:
        lines[0] += texts.raw("survey_required")
    if question.help:
        lines.append(f"<i>{html.quote(clip(question.help.get(texts.language), 300))}</i>")
    if question.kind == "rubric":
        levels = dict(question.levels)
        for level in (1, 2, 3, 4, 5):
            if level in levels:
                described = clip(levels[level].get(texts.language), 200)
                lines.append(texts("survey_level", level=level, text=described))
    elif question.kind == "nps":
        lines.append(texts("survey_nps_hint"))
    elif question.kind == "multiple":
        if question.max_choices < len(question.choices):
            lines.append(texts("survey_multiple_max_hint", max=question.max_choices))
        else:
            lines.append(texts("survey_multiple_hint"))
    elif question.kind == "text":
        lines.append(texts("survey_text_hint", max=question.max_chars))
    return "\n".join(lines)


def _offers_complaint(definition, response: ResponseView) -> bool:
    return any(
        question.kind == "text" and question.complaint and response.answers.get(question.key)
        for question in definition.questions
        if question.key in response.shown_keys
    )


def _joined(header: str, text: str) -> str:
    return Safe(f"{header}\n\n{text}") if header else text


def _local(services: BotServices, moment) -> str:
    return f"{moment.astimezone(services.ctx.timezone):%Y-%m-%d %H:%M}"
