"""The fake Bot API is as strict as Telegram, and our keyboards stay within its limits."""

from __future__ import annotations

import pytest

from bot import keyboards
from bot.texts import Texts
from minyi.config import MAX_NUMBER_PREFIX_CHARS
from tests.fake_telegram import TelegramRefusal, check_markup, visible_text


@pytest.mark.parametrize(
    "text",
    ["<b>open", "a < b", "x > y", "Tom & Jerry", "&nbsp;", "<script>x</script>", "<b><i>x</b></i>",
     "</b>", "<b"],
)  # fmt: skip
def test_the_fake_refuses_html_telegram_refuses(text):
    with pytest.raises(TelegramRefusal) as refusal:
        visible_text(text, "HTML")
    assert refusal.value.status == 400 and "can't parse entities" in refusal.value.description


def test_the_fake_counts_what_telegram_shows():
    assert visible_text("<b>工单</b> &lt;1&gt; &amp; <i>ok</i>", "HTML") == "工单 <1> & ok"
    assert visible_text("a < b & c", None) == "a < b & c"  # no parse mode: taken as is


def test_callback_data_over_64_bytes_is_refused():
    check_markup({"inline_keyboard": [[{"text": "ok", "callback_data": "x" * 64}]]})
    with pytest.raises(TelegramRefusal):
        check_markup({"inline_keyboard": [[{"text": "ok", "callback_data": "汉" * 22}]]})


def test_our_longest_callback_data_fits():
    number = f"{'X' * MAX_NUMBER_PREFIX_CHARS}-20261231-9999"
    markups = [
        keyboards.satisfaction_question(number, 1),
        keyboards.resolved_question(Texts("en"), number),
        keyboards.routing(Texts("zh"), 2**31 - 1, suggested=True),
    ]
    for markup in markups:
        for row in markup.inline_keyboard:
            for button in row:
                assert len(button.callback_data.encode()) <= 64


def test_both_languages_say_everything():
    from bot.texts import EN, ZH

    assert ZH.keys() == EN.keys()
