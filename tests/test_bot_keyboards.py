"""Keyboards: their layout, the ids their buttons carry, and the fixed ones built once."""

from __future__ import annotations

from types import SimpleNamespace

from bot import keyboards
from bot.keyboards import Aspect, DepartmentPage, DepartmentPick, MenuAction, RouteAccept
from bot.texts import Texts
from minyi.services.ratings import ASPECTS


def layout(markup) -> list[list[str]]:
    return [[button.text for button in row] for row in markup.inline_keyboard]


def data(markup) -> list[str]:
    return [button.callback_data for row in markup.inline_keyboard for button in row]


def test_the_main_menu_is_two_two_one_in_each_language_and_built_once():
    zh, en = keyboards.main_menu(Texts("zh")), keyboards.main_menu(Texts("en"))
    assert layout(zh) == [
        ["⭐ 评价服务", "📝 我要投诉"],
        ["📋 我的工单", "🌐 语言 / Language"],
        ["❓ 帮助"],
    ]
    assert layout(en)[0][0] != layout(zh)[0][0]
    assert [MenuAction.unpack(d).action for d in data(en)] == [
        "rate",
        "complain",
        "my",
        "lang",
        "help",
    ]
    assert keyboards.main_menu(Texts("zh")) is zh  # one frozen markup sent with every message
    assert keyboards.scores(Texts("en")) is keyboards.scores(Texts("en"))


def test_aspects_come_in_pairs_labelled_in_english_for_english():
    assert layout(keyboards.aspects(Texts("zh"), ASPECTS)) == [
        ["办事效率", "服务态度"],
        ["指引准确", "其他"],
    ]
    english = keyboards.aspects(Texts("en"), list(ASPECTS[:3]))
    assert layout(english) == [["办事效率 Speed", "服务态度 Attitude"], ["指引准确 Guidance"]]
    assert [Aspect.unpack(d).index for d in data(english)] == [0, 1, 2]


def test_department_pages_of_six_with_previous_and_next():
    departments = [
        SimpleNamespace(id=n, name=f"部门{n}", name_en=f"Dept {n}") for n in range(1, 14)
    ]
    texts = Texts("en")
    first = keyboards.departments(texts, departments, 1, ticket=42)
    assert layout(first) == [[f"Dept {n}"] for n in range(1, 7)] + [[texts.raw("next")]]
    picks = [DepartmentPick.unpack(d) for d in data(first)[:6]]
    assert [(p.department, p.ticket) for p in picks] == [(n, 42) for n in range(1, 7)]
    assert DepartmentPage.unpack(data(first)[6]) == DepartmentPage(page=2, ticket=42)
    middle = keyboards.departments(texts, departments, 2, ticket=42)
    assert layout(middle)[-1] == [texts.raw("prev"), texts.raw("next")]
    last = keyboards.departments(texts, departments, 99)  # past the end: the last page
    assert layout(last) == [["Dept 13"], [texts.raw("prev")]]
    assert DepartmentPage.unpack(data(last)[-1]) == DepartmentPage(page=2, ticket=0)
    one_page = keyboards.departments(texts, departments[:3], 1)
    assert layout(one_page) == [["Dept 1"], ["Dept 2"], ["Dept 3"]]  # no pager


def test_routing_offers_accept_only_with_a_suggestion():
    texts = Texts("zh")
    suggested = keyboards.routing(texts, 7, suggested=True)
    assert layout(suggested) == [[texts.raw("route_accept")], [texts.raw("route_pick")]]
    assert RouteAccept.unpack(data(suggested)[0]).ticket == 7
    assert DepartmentPage.unpack(data(suggested)[1]) == DepartmentPage(page=1, ticket=7)
    assert layout(keyboards.routing(texts, 7, suggested=False)) == [[texts.raw("route_pick")]]


def test_a_question_without_buttons_has_no_keyboard():
    typed = SimpleNamespace(kind="text", required=True, choices=[])
    assert keyboards.survey_question(Texts("zh"), 1, 0, typed) is None
    optional = SimpleNamespace(kind="text", required=False, choices=[])
    assert layout(keyboards.survey_question(Texts("zh"), 1, 0, optional)) == [["跳过"]]
