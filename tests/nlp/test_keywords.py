"""Keywords of one complaint and of a set: civic terms come out, boilerplate does not."""

import json
from importlib import resources

import pytest

from nlp.keywords import keywords, keywords_for_set, keywords_for_tokens
from nlp.segment import segment

WATER = (
    "您好，我们幸福家园小区从昨天开始停水，物业也不管，已经三天没有自来水了，请相关部门尽快解决。"
)
NOISE = "A3区麓谷大道工地夜间施工噪音扰民，凌晨两点还在打桩，严重影响居民休息，希望城管处理。"

BAD_INPUT = [
    "",
    "   ",
    "😀🙏😡",
    "a" * 100_000,
    "停" * 100_000,
    "\ud800停水\udfff",
    "12345 6789",
    "hello world",
    None,
    42,
]


def test_obvious_civic_terms_come_first():
    assert "停水" in keywords(WATER, k=3)
    noise = keywords(NOISE, k=5)
    assert "噪音扰民" in noise and {"施工", "打桩", "工地"} & set(noise)


def test_boilerplate_and_place_codes_are_not_keywords():
    words = keywords(WATER, k=10) + keywords(NOISE, k=10)
    for junk in ("您好", "问题", "相关部门", "尽快", "解决", "A3", "希望", "严重"):
        assert junk not in words


def test_tokens_and_text_agree_and_k_is_respected():
    assert keywords_for_tokens(segment(WATER), k=4) == keywords(WATER, k=4)
    assert len(keywords(WATER, k=2)) == 2
    assert keywords(WATER, k=0) == []


def test_repeated_word_outranks_a_word_said_once():
    text = "垃圾站臭气熏天，垃圾站就在楼下，垃圾站夏天蚊蝇很多，偶尔有流浪猫。"
    assert keywords(text, k=1) == ["垃圾站"]


def test_set_keywords_find_the_shared_theme():
    texts = [
        "锦绣华庭小区停水两天了，物业电话打不通。",
        "城南供水管网爆管，周边几个小区停水，什么时候恢复供水？",
        "我家停水一整天，自来水公司也没有提前通知。",
        "学校门口早高峰拥堵。",
    ]
    top = keywords_for_set(texts, k=3)
    assert top[0] == "停水"
    assert "拥堵" not in top  # said by one text of four
    assert keywords_for_set([], k=5) == []


def test_shipped_idf_table_is_small_and_knows_civic_words():
    path = resources.files("nlp").joinpath("artifacts", "idf.json")
    raw = path.read_bytes()
    assert len(raw) < 2_000_000
    table = json.loads(raw)
    idf = table["idf"]
    # A word on every other complaint weighs less than a specific problem.
    assert idf["小区"] < idf["停水"] <= table["max_idf"]


@pytest.mark.parametrize("bad", BAD_INPUT)
def test_bad_input_never_raises(bad):
    assert isinstance(keywords(bad), list)
    assert isinstance(keywords_for_set([bad, bad]), list)


@pytest.mark.parametrize(
    "tokens",
    [
        ["A3", "区麓", "谷", "大道", "工地", "噪音"],
        ["A3", "区", "B2", "市场", "A", "市", "停水", "停水"],
        ["K9", "县城", "学校", "٣", "区政府", "市场", "A3\n", "区麓"],
        segment(WATER),
        segment(NOISE),
    ],
)
def test_passing_content_words_changes_nothing(tokens):
    from nlp.segment import content_words

    words = content_words(tokens)
    for k in (1, 3, 5, 10):
        assert keywords_for_tokens(tokens, k, words) == keywords_for_tokens(tokens, k)


@pytest.mark.parametrize(
    ("text", "whole"),
    [
        ("我对处理结果非常不满意", "不满意"),
        ("小区垃圾堆了一个月，没人管", "没人管"),
        ("街道办不作为，推来推去", "不作为"),
        ("反映了三次，没有人管", "没有人管"),
    ],
)
def test_a_negation_stays_with_its_word(text, whole):
    words = keywords(text, k=5)
    assert whole in words
    assert whole[-2:] not in words  # never the bare opposite (满意, 作为)


def test_a_negation_is_not_joined_to_a_stop_word_or_latin():
    from nlp.keywords import join_negations

    assert join_negations(["不", "的"]) == ["不", "的"]
    assert join_negations(["不", "OK"]) == ["不", "OK"]
    assert join_negations(["不", "不"]) == ["不", "不"]
    assert join_negations(["没有", "结果"]) == ["没有结果"]
    assert join_negations(["不"]) == ["不"]


def test_keywords_of_english_text_are_not_function_words():
    words = keywords("The water is off and nobody is answering the hotline, it is terrible", k=5)
    assert words and not {"The", "the", "is", "it", "and", "off"} & set(words)
    assert "water" in words
