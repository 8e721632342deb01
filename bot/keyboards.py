"""Inline keyboards and their callback data (each well under Telegram's 64 bytes).

Buttons carry ids, never names: a stale keyboard pressed after a restart still points at
the right object, and the core refuses what is no longer allowed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.texts import Texts

PAGE_SIZE = 6
ASPECT_LABELS_EN = {
    "办事效率": "办事效率 Speed",
    "服务态度": "服务态度 Attitude",
    "指引准确": "指引准确 Guidance",
    "其他": "其他 Other",
}
MENU_ACTIONS = ("rate", "complain", "my", "lang", "help")


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


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def _markup(rows: Iterable[Sequence[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[list(row) for row in rows if row])


# Keyboards with no ids in them are built once per language: aiogram's objects are frozen,
# so one markup can go out with any number of messages. Building one (InlineKeyboardBuilder
# deep-copies every button it exports) cost more CPU than the rest of most handlers.


def main_menu(texts: Texts) -> InlineKeyboardMarkup:
    return _main_menu(texts.language)


@functools.cache
def _main_menu(language: str) -> InlineKeyboardMarkup:
    texts = Texts(language)
    menu = [_button(texts.raw(f"menu_{a}"), MenuAction(action=a)) for a in MENU_ACTIONS]
    return _markup([menu[0:2], menu[2:4], menu[4:]])


@functools.cache
def languages() -> InlineKeyboardMarkup:
    return _markup(
        [[_button("中文", Language(code="zh")), _button("English", Language(code="en"))]]
    )


def page_count(items: int) -> int:
    return max(1, -(-items // PAGE_SIZE))


def departments(
    texts: Texts, all_departments: Sequence, page: int, *, ticket: int = 0
) -> InlineKeyboardMarkup:
    """One page of departments, one per row, with previous/next buttons."""
    pages = page_count(len(all_departments))
    page = min(max(page, 1), pages)
    start = (page - 1) * PAGE_SIZE
    rows = [
        [_button(texts.department(d), DepartmentPick(department=d.id, ticket=ticket))]
        for d in all_departments[start : start + PAGE_SIZE]
    ]
    nav = []
    if page > 1:
        nav.append(_button(texts.raw("prev"), DepartmentPage(page=page - 1, ticket=ticket)))
    if page < pages:
        nav.append(_button(texts.raw("next"), DepartmentPage(page=page + 1, ticket=ticket)))
    rows.append(nav)
    return _markup(rows)


def services(all_services: Sequence) -> InlineKeyboardMarkup:
    return _markup([_button(s.name, ServicePick(service=s.id))] for s in all_services)


def scores(texts: Texts) -> InlineKeyboardMarkup:
    """The five 好差评 levels, best first, one per row."""
    return _scores(texts.language)


@functools.cache
def _scores(language: str) -> InlineKeyboardMarkup:
    texts = Texts(language)
    return _markup([_button(texts.raw(f"score_{n}"), Score(score=n))] for n in (5, 4, 3, 2, 1))


def aspects(texts: Texts, names: Sequence[str]) -> InlineKeyboardMarkup:
    return _aspects(texts.language, tuple(names))


@functools.cache
def _aspects(language: str, names: tuple[str, ...]) -> InlineKeyboardMarkup:
    labels = [ASPECT_LABELS_EN.get(n, n) if language == "en" else n for n in names]
    buttons = [_button(label, Aspect(index=index)) for index, label in enumerate(labels)]
    return _markup(buttons[n : n + 2] for n in range(0, len(buttons), 2))


def skip(texts: Texts) -> InlineKeyboardMarkup:
    return _skip(texts.language)


@functools.cache
def _skip(language: str) -> InlineKeyboardMarkup:
    return _markup([[_button(Texts(language).raw("skip"), SkipComment())]])


def routing(texts: Texts, ticket_id: int, *, suggested: bool) -> InlineKeyboardMarkup:
    """Accept the suggested department (when there is one) or pick another."""
    pick = [_button(texts.raw("route_pick"), DepartmentPage(page=1, ticket=ticket_id))]
    if not suggested:
        return _markup([pick])
    return _markup([[_button(texts.raw("route_accept"), RouteAccept(ticket=ticket_id))], pick])


def resolved_question(texts: Texts, number: str) -> InlineKeyboardMarkup:
    return _markup(
        [
            [
                _button(texts.raw("yes"), Verdict(number=number, resolved=1)),
                _button(texts.raw("no"), Verdict(number=number, resolved=0)),
            ]
        ]
    )


def satisfaction_question(number: str, resolved: int) -> InlineKeyboardMarkup:
    verdicts = (Verdict(number=number, resolved=resolved, satisfaction=n) for n in range(1, 6))
    return _markup([[_button(str(v.satisfaction), v) for v in verdicts]])


def link(label: str, url: str) -> InlineKeyboardMarkup:
    """One button that opens `url` (a survey's page on the county's site)."""
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=label, url=url)]])


BUTTON_CHARS = 60  # a choice's text on a button; the whole text is in the message


def survey_invitation(texts: Texts, round_id: int, url: str | None) -> InlineKeyboardMarkup:
    """Answer here in the chat, or on the county's web page (the invitation's own link)."""
    rows = [[_button(texts.raw("survey_answer_here"), SurveyOpen(round=round_id))]]
    if url:
        rows.append([InlineKeyboardButton(text=texts.raw("survey_answer"), url=url)])
    return _markup(rows)


def survey_rounds(choices: Sequence[tuple[int, str]]) -> InlineKeyboardMarkup:
    return _markup([_button(_clip(label), SurveyOpen(round=r))] for r, label in choices)


def survey_question(
    texts: Texts, round_id: int, index: int, question, *, picked: int = 0
) -> InlineKeyboardMarkup | None:
    """The buttons of one question (None for text, which is typed); skip when optional."""

    def answer(label: str, value: int) -> InlineKeyboardButton:
        return _button(label, SurveyAnswer(round=round_id, question=index, value=value))

    rows: list[list[InlineKeyboardButton]] = []
    if question.kind == "rating":
        rows += ([answer(texts.raw(f"score_{score}"), score)] for score in (5, 4, 3, 2, 1))
    elif question.kind == "rubric":
        rows.append([answer(str(level), level) for level in (1, 2, 3, 4, 5)])
    elif question.kind == "nps":
        rows.append([answer(str(n), n) for n in range(6)])
        rows.append([answer(str(n), n) for n in range(6, 11)])
    elif question.kind == "single":
        for n, choice in enumerate(question.choices):
            rows.append([answer(_clip(choice.text.get(texts.language)), n)])
    elif question.kind == "multiple":
        for n, choice in enumerate(question.choices):
            mark = "✅ " if picked >> n & 1 else "▫️ "
            data = SurveyToggle(round=round_id, question=index, picked=picked ^ 1 << n)
            rows.append([_button(mark + _clip(choice.text.get(texts.language)), data)])
        done = SurveyToggle(round=round_id, question=index, picked=picked, done=1)
        rows.append([_button(texts.raw("survey_done"), done)])
    if not question.required:
        rows.append([_button(texts.raw("skip"), SurveySkip(round=round_id, question=index))])
    return _markup(rows) if rows else None


def survey_complaint(texts: Texts, round_id: int) -> InlineKeyboardMarkup:
    choices = (("survey_complaint_yes", 1), ("survey_complaint_no", 0))
    return _markup(
        [_button(texts.raw(key), SurveySubmit(round=round_id, complaint=c))] for key, c in choices
    )


def _clip(label: str) -> str:
    return label if len(label) <= BUTTON_CHARS else label[: BUTTON_CHARS - 1] + "…"
