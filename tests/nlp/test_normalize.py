"""Normalisation before every model: half-width, no URLs or emoji, traditional as simplified."""

import pytest

import nlp
from nlp import normalize, pipeline
from nlp.normalize import has_enough_chinese
from nlp.segment import clean_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("醫保報銷太慢了", "医保报销太慢了"),
        ("謝謝你們，問題已經解決了，非常滿意", "谢谢你们,问题已经解决了,非常满意"),
        ("軟體壞了", "软件坏了"),  # phrase-aware: Taiwan's word, not only its characters
        ("ＡＢＣ１２３！", "ABC123!"),
        ("好😀👍🏻棒🇨🇳", "好 棒"),
        ("停水了❤️‍🔥", "停水了"),
        ("看这里https://example.com/a?b=1时代 www.example.cn/x 好", "看这里 时代   好"),
        ("\ud800医院\udfff", "?医院?"),
        (None, ""),
        (12345, "12345"),
    ],
)
def test_normalize(raw, expected):
    assert normalize.normalize(raw) == expected


def test_simplified_text_never_loads_the_converter(monkeypatch):
    def refuse():
        raise AssertionError("the converter was loaded for simplified text")

    monkeypatch.setattr(normalize, "_zhconv", refuse)
    text = "小区物业长期不作为。电梯经常坏。业主多次反映没有人管。ABC 123"
    assert normalize.normalize(text) == text


def test_a_broken_converter_keeps_the_text(monkeypatch):
    def broken(text, locale):
        raise RuntimeError("tables corrupt")

    monkeypatch.setattr(normalize, "_zhconv", lambda: broken)
    assert normalize.normalize("醫保報銷") == "醫保報銷"


def test_clean_text_caps_the_length_after_normalising():
    assert len(clean_text("醫" * 100_000)) == 5000
    assert set(clean_text("醫" * 100_000)) == {"医"}


@pytest.mark.parametrize(
    ("text", "enough"),
    [
        ("医保", True),
        ("好", False),
        ("", False),
        ("hello, the water has been cut off since Monday", False),
        ("the 医院 charged me twice for the same test", False),
        ("WiFi密码wrong 小区停水3天了!!! call 12345 no answer", True),
        ("12345 67890", False),
    ],
)
def test_has_enough_chinese(text, enough):
    assert has_enough_chinese(text) is enough


@pytest.mark.parametrize(
    "text",
    ["hello, the water has been cut off since Monday", "😀😡👍", "", "https://example.com", "好"],
)
def test_too_little_chinese_is_neutral_and_needs_review(text):
    result = nlp.analyze(text)
    assert result.topic is None and result.topic_probability == 0.0
    assert result.needs_review is True
    assert result.sentiment_score == pipeline.NEUTRAL_SCORE
    assert result.sentiment_label == "neutral"


def test_traditional_text_is_routed_like_the_simplified_one():
    traditional = nlp.analyze("醫保報銷太慢了，醫院說要等三個月")
    simplified = nlp.analyze("医保报销太慢了，医院说要等三个月")
    assert traditional.to_dict() == simplified.to_dict()
    assert traditional.topic in {"卫生计生", "劳动和社会保障"}


def test_full_width_and_emoji_do_not_change_the_result():
    plain = nlp.analyze("公司拖欠工资3个月，请人社局帮忙")
    decorated = nlp.analyze("公司拖欠工资３个月😡😡，请人社局帮忙🙏 https://t.cn/xyz")
    assert decorated.topic == plain.topic
    assert decorated.keywords == plain.keywords
