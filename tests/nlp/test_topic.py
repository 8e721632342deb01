"""Topic routing with the shipped model: known complaints, probabilities, review flag."""

from importlib import resources

import numpy as np
import pytest

from nlp import topic
from nlp.segment import clean_text, content_words, segment

LABELS = {"城乡建设", "劳动和社会保障", "教育文体", "商贸旅游", "环境保护", "卫生计生", "交通运输"}

LETTERS = [
    (
        "城乡建设",
        (
            "A3区魏家坡小区物业不作为，小区路灯坏了半年没人修，楼道堆满杂物，"
            "消防通道被车辆堵死，业主多次向社区反映都得不到解决，请住建局督促物业整改。"
        ),
    ),
    (
        "劳动和社会保障",
        (
            "我在某建筑公司打工两年，公司一直拖欠工资，也不给我们缴纳养老保险和医疗保险，"
            "劳动监察大队去了两次都没有结果，请人社局帮助我们农民工讨回血汗钱。"
        ),
    ),
    (
        "教育文体",
        (
            "我家孩子今年六岁，按学区应该在附近小学就读，但学校说学位已满不能入学，"
            "我们户口和房产都在学区内，请教育局核实义务教育招生政策，保障孩子上学的权利。"
        ),
    ),
    (
        "商贸旅游",
        (
            "我在某商场购买的电视机出现质量问题，商家拒绝退换，还说是人为损坏，"
            "多次协商无果，请市场监管部门依法查处这家商家侵害消费者权益的行为。"
        ),
    ),
    (
        "环境保护",
        (
            "我们小区旁边的化工厂每天晚上偷偷排放废气，气味刺鼻，居民晚上不敢开窗，"
            "附近河道的水也变黑发臭，请环保局尽快调查处理这家企业的污染问题。"
        ),
    ),
    (
        "卫生计生",
        (
            "我母亲在县人民医院住院期间，医生护士态度恶劣，乱开检查乱收费，"
            "出院结算时费用明细对不上，请卫健委调查医院的违规收费和医疗服务问题。"
        ),
    ),
    (
        "交通运输",
        (
            "从我们镇到县城的客运班车经常不按时发车，司机随意加价，车辆超载严重，"
            "乘客安全得不到保障，请交通运输局加强对这条客运线路的监管。"
        ),
    ),
]

CHAT = [
    ("劳动和社会保障", "公司拖欠工资三个月了"),
    ("教育文体", "孩子上幼儿园收费太高"),
    ("环境保护", "工厂排放废气污染严重"),
    ("卫生计生", "医院乱收费"),
    ("城乡建设", "小区路灯坏了半年，下水道堵塞也没人修"),
    ("交通运输", "出租车司机拒载还乱收费"),
]


@pytest.mark.parametrize(("label", "text"), LETTERS + CHAT)
def test_known_complaints_route_to_their_topic(label, text):
    result = topic.classify(text)
    assert result.label == label, result


def test_top3_is_sorted_distinct_and_sums_to_at_most_one():
    for _, text in LETTERS + CHAT:
        result = topic.classify(text)
        probs = [p for _, p in result.top3]
        assert len(result.top3) == 3
        assert probs == sorted(probs, reverse=True)
        assert len({label for label, _ in result.top3}) == 3
        assert {label for label, _ in result.top3} <= LABELS
        assert sum(probs) <= 1.0 + 1e-6
        assert result.top3[0] == (result.label, result.probability)
        assert 0.0 < result.probability <= 1.0


def test_needs_review_follows_the_threshold():
    text = LETTERS[0][1]
    prob = topic.classify(text).probability
    assert topic.classify(text, review_threshold=prob - 0.01).needs_review is False
    assert topic.classify(text, review_threshold=min(1.0, prob + 0.01)).needs_review is True
    # The default threshold is 0.5.
    assert topic.classify(text).needs_review is (prob < 0.5)


def test_ambiguous_text_has_low_confidence():
    result = topic.classify("你好，想问一下这个事情怎么办")
    assert result.probability < topic.classify(LETTERS[1][1]).probability


def test_text_without_known_features_needs_review_with_no_label():
    for text in ["", "   ", "😀😀😀", "\ud800"]:
        result = topic.classify(text)
        assert result == topic.TopicResult(None, 0.0, (), True)


def test_shipped_artifact_loads_from_the_package_without_sklearn_pickles():
    path = resources.files("nlp").joinpath("artifacts", topic.ARTIFACT)
    assert path.is_file()
    assert path.stat().st_size < 12 * 1024 * 1024
    with path.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
        assert {"words", "gram1_keys", "idf", "coef", "intercept", "header"} <= set(npz.files)
    model = topic.TopicModel.load(path)
    assert set(model.labels) == LABELS
    assert model.coef.shape == (model.n_features, len(LABELS))
    n_grams = sum(len(keys) for keys, _ in model.gram_index.values())
    assert len(model.word_index) + n_grams == model.n_features
    assert model.meta["cv"]["macro_f1_title_body"]["mean"] > 0.88


def test_batch_scores_equal_single_scores():
    texts = [clean_text(t) for _, t in LETTERS + CHAT] + [""]
    words = [content_words(segment(t)) for t in texts]
    m = topic.model()
    batch = m.predict(words, texts)
    single = [m.predict([w], [t])[0] for w, t in zip(words, texts, strict=True)]
    for b, s in zip(batch, single, strict=True):
        assert (b.label, b.needs_review) == (s.label, s.needs_review)
        assert [label for label, _ in b.top3] == [label for label, _ in s.top3]
        assert b.probability == pytest.approx(s.probability, abs=1e-5)
    scores_batch, known_batch = m.decision(words, texts)
    scores_single = np.concatenate([m.decision([w], [t])[0] for w, t in zip(words, texts)])
    np.testing.assert_allclose(scores_batch, scores_single, atol=1e-5)
    assert known_batch.tolist() == [True] * (len(texts) - 1) + [False]
    assert m.decision([], [])[0].shape == (0, len(m.labels))


def test_features_are_word_and_han_character_grams():
    feats = topic.topic_features(["小区", "停水", "了"], "小区停水了!ab区")
    assert {"w小区", "w停水", "b小区_停水", "小", "区停", "停水了", "区"} <= set(feats)
    assert not any("!" in f or "a" in f for f in feats)
    assert feats.count("区") == 2


def test_temperature_fit_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 5)) * 3
    probs = topic.softmax(logits / 2.0)
    y = np.array([rng.choice(5, p=p) for p in probs])
    assert topic.fit_temperature(logits, y) == pytest.approx(2.0, rel=0.1)


def test_calibration_error_is_zero_for_perfect_confidence_and_large_when_overconfident():
    y = np.array([0, 1, 0, 1])
    perfect = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert topic.expected_calibration_error(perfect, y) == pytest.approx(0.0)
    wrong_but_sure = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert topic.expected_calibration_error(wrong_but_sure, y) == pytest.approx(0.5)


def test_character_grams_are_found_at_the_edges_of_the_han_block():
    vocab = {"一": 0, "一丁": 1, "鿿": 2, "丁一鿿": 3, "w小区": 4, "丁": 5}
    n = len(vocab)
    model = topic.TopicModel(vocab, np.ones(n), np.eye(n), np.zeros(n), [str(i) for i in range(n)])
    scores, known = model.decision([["小区"], [], []], ["一丁一鿿", "abc", "丁"])
    assert known.tolist() == [True, False, True]
    # Text 0 holds 一 twice, 一丁, 丁一鿿, 鿿, 丁, and the word 小区: weights ∝ 1 + ln(tf).
    raw = np.array([1 + np.log(2), 1, 1, 1, 1, 1])
    np.testing.assert_allclose(scores[0], raw / np.linalg.norm(raw), rtol=1e-5)
    np.testing.assert_allclose(scores[2], [0, 0, 0, 0, 0, 1])


def test_saved_model_loads_back_identically(tmp_path):
    m = topic.model()
    m.save(tmp_path / "t.npz")
    back = topic.TopicModel.load(tmp_path / "t.npz")
    assert back.word_index == m.word_index and back.labels == m.labels
    texts = [clean_text(t) for _, t in CHAT]
    words = [content_words(segment(t)) for t in texts]
    np.testing.assert_allclose(back.decision(words, texts)[0], m.decision(words, texts)[0])


def test_gram_hash_tables_find_exactly_the_vocabulary_grams():
    # _gram_hits (hash tables over integer keys) against a plain lookup of char_features().
    m = topic.model()
    texts = [clean_text(t) for _, t in LETTERS + CHAT] + ["一丁一鿿", "abc", "丁", "", "丁丁丁丁"]
    expected = []
    for i, text in enumerate(texts):
        for gram in topic.char_features(text):
            keys, ids = m.gram_index[len(gram)]
            key = topic._gram_key(gram)
            j = np.searchsorted(keys, key)
            if j < len(keys) and keys[j] == key:
                expected.append((i, int(ids[j])))
    owners, ids = m._gram_hits(texts)
    assert sorted(zip(owners.tolist(), ids.tolist(), strict=True)) == sorted(expected)
    assert expected  # the shipped vocabulary knows these grams


def test_word_hits_equal_a_lookup_of_the_feature_strings():
    m = topic.model()
    texts = [clean_text(t) for _, t in LETTERS + CHAT]
    word_lists = [content_words(segment(t)) for t in texts] + [[], ["小区"], ["a_b", "小区"]]

    def plain(lists):
        pairs = []
        for i, words in enumerate(lists):
            feats = topic.word_features(words)
            pairs += [(i, m.word_index[f]) for f in feats if f in m.word_index]
        return pairs

    # The same (text, feature) hits; their order is free (decision sorts them).
    for lists in (word_lists[:-1], word_lists):  # without and with the string fallback
        owners, ids = m._word_hits(lists)
        assert sorted(zip(owners.tolist(), ids.tolist(), strict=True)) == sorted(plain(lists))


def test_the_default_threshold_is_the_one_cross_validation_chose():
    meta = topic.model().meta
    assert topic.DEFAULT_REVIEW_THRESHOLD == meta["review_threshold"]
    at = meta["cv"]["auto_routed_at_threshold"]
    assert at["threshold"] == meta["review_threshold"]
    assert at["auto_routed_accuracy"] >= 0.97
