"""Sentiment: the shipped model loads and judges civic feedback; odd input never raises."""

from __future__ import annotations

import csv
import math

import pytest

from nlp import sentiment
from nlp.segment import clean_text, segment

# Hand-written citizen comments about county services: a sanity check of the domain transfer
# from the review corpora. Not training data.
CIVIC_POSITIVE = [
    "窗口工作人员态度很好，十分钟就办完了",
    "办事大厅的小姑娘很耐心，一次就讲清楚了，点赞",
    "社保卡补办很快，服务热情，非常满意",
    "网上就能办，不用跑腿，方便多了，感谢政府",
    "民警同志帮我找回了钱包，非常感谢",
]
CIVIC_NEGATIVE = [
    "排队两个小时没人管，打12345也没人接",
    "工作人员态度恶劣，跑了三趟都没办成",
    "窗口只开一个，等了一上午，太失望了",
    "投诉了三次都没有回复，问题一直没解决",
    "小区垃圾堆了一个星期没人清理，臭气熏天",
]

BAD_INPUT = [
    None,
    "",
    "   \t\n ",
    "😀😀😀🎉",
    "12345 67890",
    "hello world OK",
    "\ud800\udfff lone surrogates \udc00",
    "好" * 100_000,
    "服务很好" * 25_000,
    b"\xe5\xa5\xbd bytes",
    12345,
]


def test_shipped_artifact_loads_plain_arrays():
    path = sentiment.artifact_path()
    assert path.is_file()
    assert path.stat().st_size < 8_000_000
    model = sentiment.SentimentModel.load(path)
    assert len(model) > 10_000
    assert model.char_n >= 1


@pytest.mark.parametrize("text", CIVIC_POSITIVE)
def test_clearly_positive_civic_feedback(text):
    value = sentiment.score(text)
    assert value >= 0.6, (text, value)
    assert sentiment.label_for(value) == "positive"


@pytest.mark.parametrize("text", CIVIC_NEGATIVE)
def test_clearly_negative_civic_feedback(text):
    value = sentiment.score(text)
    assert value < 0.4, (text, value)
    assert sentiment.label_for(value) == "negative"


def test_negation_flips_the_score():
    assert sentiment.score("服务态度很好") > 0.5 > sentiment.score("服务态度很不好")
    assert sentiment.score("办得很满意") > 0.5 > sentiment.score("办得很不满意")


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (0.0, "negative"),
        (0.39, "negative"),
        (0.4, "neutral"),
        (sentiment.NEUTRAL_SCORE, "neutral"),
        (0.59, "neutral"),
        (0.6, "positive"),
        (1.0, "positive"),
        (float("nan"), "neutral"),
        (None, "neutral"),
        ("bad", "neutral"),
    ],
)
def test_label_for_bands(value, label):
    assert sentiment.label_for(value) == label


@pytest.mark.parametrize("text", BAD_INPUT)
def test_bad_input_gives_a_score_in_range(text):
    value = sentiment.score(text)
    assert isinstance(value, float)
    assert 0.0 <= value <= 1.0
    tokens = segment(text)
    assert sentiment.score_tokens(tokens, clean_text(text)) == pytest.approx(value)


@pytest.mark.parametrize("text", [None, "", "   ", "😀😀😀🎉"])
def test_empty_or_unknown_input_is_neutral(text):
    assert sentiment.score(text) == sentiment.NEUTRAL_SCORE
    assert sentiment.score_tokens([], "") == sentiment.NEUTRAL_SCORE


def test_score_tokens_tolerates_wrong_types():
    assert sentiment.score_tokens(None, None) == sentiment.NEUTRAL_SCORE
    assert 0.0 <= sentiment.score_tokens("不是列表", "服务很差") <= 1.0
    assert 0.0 <= sentiment.score_tokens([1, None, "很差"], "很差") <= 1.0
    assert sentiment.score_many([None, ("x",), 5]) == [sentiment.NEUTRAL_SCORE] * 3


def test_score_tokens_and_score_many_agree_with_score():
    texts = CIVIC_POSITIVE + CIVIC_NEGATIVE + ["房间还可以，就是早餐太差了。", "一般般吧"]
    items = [(segment(t), clean_text(t)) for t in texts]
    direct = [sentiment.score(t) for t in texts]
    assert [sentiment.score_tokens(tk, tx) for tk, tx in items] == pytest.approx(direct)
    assert sentiment.score_many(items) == pytest.approx(direct)
    assert all(0.0 < v < 1.0 for v in direct)


def test_fast_scoring_matches_the_feature_definition():
    # The runtime path (split dicts, hashed sums) must equal a plain dot product over
    # features(), which is what the trainer fits.
    model = sentiment.model()
    table = {f: (w, r2) for f, w, r2 in model.vocabulary()}
    for text in CIVIC_POSITIVE + CIVIC_NEGATIVE:
        cleaned = clean_text(text)
        tokens = segment(cleaned)
        feats = sentiment.features(tokens, cleaned, model.char_n, model.bigrams)
        assert len(feats) == len(set(feats))
        known = [table[f] for f in feats if f in table]
        z = model.bias + sum(w for w, _ in known) / math.sqrt(sum(r2 for _, r2 in known))
        assert model.decision(tokens, cleaned) == pytest.approx(z, rel=1e-9, abs=1e-9)


def test_features_keep_negation_contrast_and_last_clause():
    tokens = ["房间", "不", "干净", "，", "但是", "服务", "好", "。"]
    feats = sentiment.features(tokens, "房间不干净，但是服务好。", char_n=2)
    assert "w不" in feats and "n干净" in feats
    assert "a服务" in feats and "a房间" not in feats
    assert "e服务" in feats and "e好" in feats and "e房间" not in feats
    assert "c不干" in feats and "c不干净" not in feats


def _write(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "body", "label"])
        writer.writerows((i, body, label) for i, (body, label) in enumerate(rows))


def test_tiny_training_run_round_trips(tmp_path):
    from nlp import sentiment_train

    good = ["味道很好，送得很快", "服务热情周到，非常满意", "干净卫生，下次还来", "很好很方便"]
    bad = ["太难吃了，送得很慢", "态度很差，再也不来了", "又脏又贵，很失望", "等了很久没人管"]
    rows = [(f"{t}{i}", 1) for i in range(6) for t in good]
    rows += [(f"{t}{i}", 0) for i in range(6) for t in bad]
    _write(tmp_path / "w.csv", rows)
    _write(tmp_path / "h.csv", rows[::2])
    result = sentiment_train.train(tmp_path / "w.csv", tmp_path / "h.csv", tmp_path, folds=2)
    assert set(result["cv"]) == {"waimai", "hotel"}
    assert result["cv"]["waimai"]["mean"] > 0.9
    model = sentiment.SentimentModel.load(tmp_path / sentiment.ARTIFACT_NAME)
    assert model.score_tokens(segment("服务热情，很满意"), "服务热情，很满意") > 0.5
    assert model.score_tokens(segment("态度很差，很失望"), "态度很差，很失望") < 0.5


def test_batch_scoring_matches_the_single_text_path():
    # scores() builds features for a whole batch with arrays; it must give the same values as
    # the per-text dict path, whatever the batch holds (odd characters, empty, very long).
    model = sentiment.model()
    texts = (
        CIVIC_POSITIVE
        + CIVIC_NEGATIVE
        + [
            "房间还可以，就是早餐太差了。",
            "不是不好，只是没有想象中干净",
            "",
            "😀😀😀🎉",
            "WiFi密码wrong😡小区停水3天了!!! call 12345",
            "小区停水\x00\x07水费",
            "医院\ud800乱收费",
            "服务很好" * 1250,
            "a",
            "好",
        ]
    )
    tokens = [segment(t) for t in texts]
    batch = model.scores(tokens, texts)
    single = [model.score_tokens(tk, tx) for tk, tx in zip(tokens, texts, strict=True)]
    assert batch == pytest.approx(single, rel=0, abs=1e-9)
    # Alone or in a batch, a text gets exactly the same score.
    assert [model.scores([tk], [tx])[0] for tk, tx in zip(tokens, texts)] == batch
    assert model.scores([], []) == []


def test_word_ids_cover_the_word_features():
    model = sentiment.model()
    for tokens in (
        ["房间", "不", "干净", "，", "但是", "服务", "好", "。"],
        ["，", "不"],
        [],
        ["没有", "人", "管", "不过", "还行", "。", "。"],
    ):
        negated, after, last = sentiment._scoped_tokens(tokens)
        feats = {"w" + t for t in tokens} | {"n" + t for t in negated}
        feats |= {"a" + t for t in after} | {"e" + t for t in last}
        assert feats == set(sentiment.word_features(tokens))
    assert model.kind_ids["w"]  # the shipped model has plain word features
