"""Inline keyboards and their callback data (each well under Telegram's 64 bytes).

Buttons carry ids, never names: a stale keyboard pressed after a restart still points at
the right object, and the core refuses what is no longer allowed.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.texts import Texts

PAGE_SIZE = 6
ASPECT_LABELS_EN = {
    "办事效率": "办事效率 Speed",
    "服务态度": "服务态度 Attitude",
    "指引准确": "指引准确 Guidance",
    "其他": "其他 Other",
}


class MenuAction(CallbackData, prefix="m"):
    action: str  # rate, complain, my, lang, help


class Language(CallbackData, prefix="l"):
    code: str


class DepartmentPage(CallbackData, prefix="dp"):
    """A page of the department list; ticket 0 while rating, else the ticket being routed."""

    page: int
    ticket: int = 0


class DepartmentPick(CallbackData, prefix="dd"):
    department: int
    ticket: int = 0


class ServicePick(CallbackData, prefix="sv"):
    service: int


class Score(CallbackData, prefix="sc"):
    score: int


class Aspect(CallbackData, prefix="as"):
    index: int


class SkipComment(CallbackData, prefix="sk"):
    pass


class RouteAccept(CallbackData, prefix="ra"):
    ticket: int


class Verdict(CallbackData, prefix="v"):
    """The 回访 answer: resolved 1/0, then satisfaction 1-5 (0 while not yet given)."""

    number: str
    resolved: int
    satisfaction: int = 0


class SurveyOpen(CallbackData, prefix="so"):
    """Start or resume a round (the /survey list, the invitation's button)."""

    round: int


class SurveyAnswer(CallbackData, prefix="sa"):
    """An answer by button: the question's position in the round's survey, and the score or
    the index of the choice (never the key: the round's version fixes both)."""

    round: int
    question: int
    value: int


class SurveyToggle(CallbackData, prefix="st"):
    """A multiple choice: `picked` is the set of choice indexes as bits; done=1 saves it."""

    round: int
    question: int
    picked: int
    done: int = 0


class SurveySkip(CallbackData, prefix="sq"):
    round: int
    question: int


class SurveySubmit(CallbackData, prefix="ss"):
    """The last step when an answer may become a complaint: file it (1) or not (0)."""

    round: int
    complaint: int


def main_menu(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for action in ("rate", "complain", "my", "lang", "help"):
        builder.button(text=texts.raw(f"menu_{action}"), callback_data=MenuAction(action=action))
    builder.adjust(2, 2, 1)
    return builder.as_markup()


def languages() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text="中文", callback_data=Language(code="zh"))
    builder.button(text="English", callback_data=Language(code="en"))
    return builder.as_markup()


def page_count(items: int) -> int:
    return max(1, -(-items // PAGE_SIZE))


def departments(
    texts: Texts, all_departments: Sequence, page: int, *, ticket: int = 0
) -> InlineKeyboardMarkup:
    """One page of departments, one per row, with previous/next buttons."""
    pages = page_count(len(all_departments))
    page = min(max(page, 1), pages)
    builder = InlineKeyboardBuilder()
    start = (page - 1) * PAGE_SIZE
    for department in all_departments[start : start + PAGE_SIZE]:
        builder.row(
            InlineKeyboardButton(
                text=texts.department(department),
                callback_data=DepartmentPick(department=department.id, ticket=ticket).pack(),
            )
        )
    _pager(builder, texts, page, pages, ticket)
    return builder.as_markup()


def _pager(builder: InlineKeyboardBuilder, texts: Texts, page: int, pages: int, ticket: int):
    nav = []
    if page > 1:
        nav.append(
            InlineKeyboardButton(
                text=texts.raw("prev"),
                callback_data=DepartmentPage(page=page - 1, ticket=ticket).pack(),
            )
        )
    if page < pages:
        nav.append(
            InlineKeyboardButton(
                text=texts.raw("next"),
                callback_data=DepartmentPage(page=page + 1, ticket=ticket).pack(),
            )
        )
    if nav:
        builder.row(*nav)


def services(all_services: Sequence) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for service in all_services:
        builder.row(
            InlineKeyboardButton(
                text=service.name, callback_data=ServicePick(service=service.id).pack()
            )
        )
    return builder.as_markup()


def scores(texts: Texts) -> InlineKeyboardMarkup:
    """The five 好差评 levels, best first, one per row."""
    builder = InlineKeyboardBuilder()
    for score in (5, 4, 3, 2, 1):
        builder.row(
            InlineKeyboardButton(
                text=texts.raw(f"score_{score}"), callback_data=Score(score=score).pack()
            )
        )
    return builder.as_markup()


def aspects(texts: Texts, names: Sequence[str]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for index, name in enumerate(names):
        label = ASPECT_LABELS_EN.get(name, name) if texts.language == "en" else name
        builder.button(text=label, callback_data=Aspect(index=index))
    builder.adjust(2)
    return builder.as_markup()


def skip(texts: Texts) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.raw("skip"), callback_data=SkipComment())
    return builder.as_markup()


def routing(texts: Texts, ticket_id: int, *, suggested: bool) -> InlineKeyboardMarkup:
    """Accept the suggested department (when there is one) or pick another."""
    builder = InlineKeyboardBuilder()
    if suggested:
        builder.button(text=texts.raw("route_accept"), callback_data=RouteAccept(ticket=ticket_id))
    builder.button(
        text=texts.raw("route_pick"), callback_data=DepartmentPage(page=1, ticket=ticket_id)
    )
    builder.adjust(1)
    return builder.as_markup()


def resolved_question(texts: Texts, number: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.raw("yes"), callback_data=Verdict(number=number, resolved=1))
    builder.button(text=texts.raw("no"), callback_data=Verdict(number=number, resolved=0))
    return builder.as_markup()


def satisfaction_question(number: str, resolved: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for score in range(1, 6):
        builder.button(
            text=str(score),
            callback_data=Verdict(number=number, resolved=resolved, satisfaction=score),
        )
    return builder.as_markup()


def link(label: str, url: str) -> InlineKeyboardMarkup:
    """One button that opens `url` (a survey's page on the county's site)."""
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=label, url=url)]])


BUTTON_CHARS = 60  # a choice's text on a button; the whole text is in the message


def survey_invitation(texts: Texts, round_id: int, url: str | None) -> InlineKeyboardMarkup:
    """Answer here in the chat, or on the county's web page (the invitation's own link)."""
    builder = InlineKeyboardBuilder()
    builder.row(
        InlineKeyboardButton(
            text=texts.raw("survey_answer_here"), callback_data=SurveyOpen(round=round_id).pack()
        )
    )
    if url:
        builder.row(InlineKeyboardButton(text=texts.raw("survey_answer"), url=url))
    return builder.as_markup()


def survey_rounds(choices: Sequence[tuple[int, str]]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for round_id, label in choices:
        builder.row(
            InlineKeyboardButton(
                text=_clip(label), callback_data=SurveyOpen(round=round_id).pack()
            )
        )
    return builder.as_markup()


def survey_question(
    texts: Texts, round_id: int, index: int, question, *, picked: int = 0
) -> InlineKeyboardMarkup | None:
    """The buttons of one question (None for text, which is typed); skip when optional."""
    builder = InlineKeyboardBuilder()

    def answer(label: str, value: int) -> InlineKeyboardButton:
        data = SurveyAnswer(round=round_id, question=index, value=value).pack()
        return InlineKeyboardButton(text=label, callback_data=data)

    if question.kind == "rating":
        for score in (5, 4, 3, 2, 1):
            builder.row(answer(texts.raw(f"score_{score}"), score))
    elif question.kind == "rubric":
        builder.row(*(answer(str(level), level) for level in (1, 2, 3, 4, 5)))
    elif question.kind == "nps":
        builder.row(*(answer(str(n), n) for n in range(6)))
        builder.row(*(answer(str(n), n) for n in range(6, 11)))
    elif question.kind == "single":
        for n, choice in enumerate(question.choices):
            builder.row(answer(_clip(choice.text.get(texts.language)), n))
    elif question.kind == "multiple":
        for n, choice in enumerate(question.choices):
            mark = "✅ " if picked >> n & 1 else "▫️ "
            data = SurveyToggle(round=round_id, question=index, picked=picked ^ 1 << n)
            builder.row(
                InlineKeyboardButton(
                    text=mark + _clip(choice.text.get(texts.language)), callback_data=data.pack()
                )
            )
        done = SurveyToggle(round=round_id, question=index, picked=picked, done=1)
        builder.row(InlineKeyboardButton(text=texts.raw("survey_done"), callback_data=done.pack()))
    if not question.required:
        skip = SurveySkip(round=round_id, question=index).pack()
        builder.row(InlineKeyboardButton(text=texts.raw("skip"), callback_data=skip))
    markup = builder.as_markup()
    return markup if markup.inline_keyboard else None


def survey_complaint(texts: Texts, round_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.raw("survey_complaint_yes"),
        callback_data=SurveySubmit(round=round_id, complaint=1),
    )
    builder.button(
        text=texts.raw("survey_complaint_no"),
        callback_data=SurveySubmit(round=round_id, complaint=0),
    )
    builder.adjust(1)
    return builder.as_markup()


def _clip(label: str) -> str:
    return label if len(label) <= BUTTON_CHARS else label[: BUTTON_CHARS - 1] + "…"
