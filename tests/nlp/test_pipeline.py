"""The public pipeline: one call gives topic, sentiment and keywords; odd input is safe."""

import json

import pytest

import nlp
from nlp import pipeline, segment, topic

COMPLAINT = (
    "我在某建筑公司打工两年，公司一直拖欠工资，也不给我们缴纳养老保险，"
    "劳动监察大队去了两次都没有结果，请人社局帮助我们农民工讨回血汗钱。"
)


def test_analyze_returns_every_field():
    result = nlp.analyze(COMPLAINT)
    assert isinstance(result, pipeline.Analysis)
    assert result.topic == "劳动和社会保障"
    assert result.topic_top3[0] == (result.topic, result.topic_probability)
    assert result.needs_review is (result.topic_probability < topic.DEFAULT_REVIEW_THRESHOLD)
    assert 0.0 <= result.sentiment_score <= 1.0
    assert result.sentiment_label in {"negative", "neutral", "positive"}
    assert result.keywords and all(isinstance(k, str) for k in result.keywords)
    assert len(result.keywords) <= pipeline.KEYWORDS_PER_TEXT
    with pytest.raises(AttributeError):
        result.topic = "x"  # frozen
    data = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    assert data["topic"] == "劳动和社会保障"
    assert data["topic_top3"][0] == [result.topic, round(result.topic_probability, 4)]
    assert data["topic_probability"] == round(result.topic_probability, 4)


def test_review_threshold_is_passed_through():
    prob = nlp.analyze(COMPLAINT).topic_probability
    assert nlp.analyze(COMPLAINT, review_threshold=prob + 1e-9).needs_review is True
    assert nlp.analyze(COMPLAINT, review_threshold=0.0).needs_review is False


def test_analyze_many_matches_analyze():
    texts = [COMPLAINT, "医院乱收费", "", "小区路灯坏了半年没人修"]
    for many, one in zip(nlp.analyze_many(texts), [nlp.analyze(t) for t in texts], strict=True):
        # Batched scoring sums in another order: equal up to float32 rounding.
        assert many.topic_probability == pytest.approx(one.topic_probability, abs=1e-5)
        assert [label for label, _ in many.topic_top3] == [label for label, _ in one.topic_top3]
        assert (many.topic, many.needs_review, many.sentiment_score, many.keywords) == (
            one.topic,
            one.needs_review,
            one.sentiment_score,
            one.keywords,
        )
    assert nlp.analyze_many([]) == []
    assert [a.topic for a in nlp.analyze_many(iter(texts))] == [
        a.topic for a in nlp.analyze_many(texts)
    ]


EMPTY_LIKE = ["", "   \n\t ", "😀😡👍🏻🎉", "\ud800", "\ud800\udfff\ud83d", None, "。。。！！！"]


@pytest.mark.parametrize("text", EMPTY_LIKE)
def test_text_with_nothing_to_go_on_is_neutral_and_needs_review(text):
    result = nlp.analyze(text)
    assert result.topic is None
    assert result.topic_probability == 0.0
    assert result.topic_top3 == ()
    assert result.needs_review is True
    assert result.sentiment_score == pipeline.NEUTRAL_SCORE
    assert result.sentiment_label == "neutral"
    assert result.keywords == []


@pytest.mark.parametrize(
    "text",
    [
        "hello, the water has been cut off since Monday",
        "1234567890 13800138000",
        "WiFi密码wrong😡小区停水3天了!!! call 12345 no answer",
        "医院\ud800乱收费",
        "投诉" * 50_000,
        "小区停水" + "\x00\x07" + "水费",
        12345,
    ],
)
def test_odd_input_gives_a_defined_result(text):
    result = nlp.analyze(text)
    assert isinstance(result, pipeline.Analysis)
    assert result.topic is None or result.topic in topic.model().labels
    assert 0.0 <= result.topic_probability <= 1.0
    assert 0.0 <= result.sentiment_score <= 1.0
    assert result.sentiment_label in {"negative", "neutral", "positive"}
    json.dumps(result.to_dict(), ensure_ascii=False)


def test_a_100000_character_letter_is_cut_to_what_the_models_read():
    letter = ("小区门口的垃圾站臭气熏天，蚊蝇滋生，环卫部门很久没有清运。" * 4000)[:100_000]
    # Only the first MAX_CHARS characters are read (which keeps it fast: bench/nlp.py times it).
    result = nlp.analyze(letter)
    assert result.to_dict() == nlp.analyze(letter[: segment.MAX_CHARS]).to_dict()
    assert result.topic is not None


def test_a_failing_step_does_not_lose_the_others(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("model broken")

    monkeypatch.setattr(topic, "model", boom)
    result = nlp.analyze(COMPLAINT)
    assert result.topic is None and result.needs_review is True
    assert result.keywords  # keywords still computed


def test_a_fresh_process_needs_no_training_data(tmp_path):
    import os
    import subprocess
    import sys

    code = (
        "import json, nlp; "
        "print(json.dumps(nlp.analyze('公司拖欠工资三个月了').to_dict(), ensure_ascii=False))"
    )
    env = dict(os.environ, MINYI_NLP_DATA=str(tmp_path / "nowhere"), MINYI_NLP_CACHE=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(out.stdout)["topic"] == "劳动和社会保障"


# Texts unlike nlp.pipeline.WARM_UP_TEXTS, each down a path that loads something on first
# need: words missing from the dictionary (the HMM), a code with letters and digits (jieba's
# HMM tables), traditional characters (zhconv), English.
AFTER_WARM_UP = [
    "耄耋老人饕餮般吃光了邻居的噼里啪啦",
    "Q9号楼zz88室门口的4.5米长的水管漏水",
    "醫院門口的違章停車問題嚴重",
    "Please fix the broken traffic light at the crossing",
]

# Run in a fresh interpreter (this one has loaded everything already): argv[1] warms up,
# argv[2] is applied to each text of argv[3]; prints what was loaded and what was imported.
WARM_UP_CHECK = """
import json, sys
import nlp
from nlp import keywords, normalize, segment

exec(sys.argv[1])
loaded = {
    "arrays": segment._arrays is not None,
    "hmm": segment._hmm is not None,
    "zhconv": bool(normalize._converter),
    "idf": keywords._idf is not None,
}
before = set(sys.modules)
results = [eval(sys.argv[2])(text) for text in json.loads(sys.argv[3])]
print(json.dumps({
    "loaded": loaded,
    "imported_after": sorted(set(sys.modules) - before),
    "pkg_resources": "pkg_resources" in sys.modules,
    "results": [repr(r) for r in results],
}, ensure_ascii=False))
"""


def _after_warm_up(folder, warm_up: str, work: str) -> dict:
    import os
    import subprocess
    import sys

    texts = json.dumps(AFTER_WARM_UP, ensure_ascii=False)
    out = subprocess.run(
        [sys.executable, "-c", WARM_UP_CHECK, warm_up, work, texts],
        cwd=folder,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout)


def test_after_warm_up_no_text_imports_or_loads_anything(tmp_path):
    report = _after_warm_up(tmp_path, "nlp.warm_up()", "nlp.analyze")
    assert report["loaded"] == {"arrays": True, "hmm": True, "zhconv": True, "idf": True}
    assert report["imported_after"] == []
    # jieba imported for the HMM tables without pkg_resources (0.1 s and a warning).
    assert report["pkg_resources"] is False
    assert "topic=None" in report["results"][3]  # English: not routed, yet analysed


def test_the_segmenters_warm_up_loads_the_hmm_tables(tmp_path):
    # Its own warm-up, not nlp.warm_up's sample texts, loads them: a sample that stops
    # reaching the HMM must not bring the import back into the first complaint.
    report = _after_warm_up(tmp_path, "segment.warm_up()", "segment.segment")
    assert report["loaded"]["arrays"] and report["loaded"]["hmm"]
    assert report["imported_after"] == [] and report["pkg_resources"] is False
    assert "'4.5'" in report["results"][1]  # the decimal went through the HMM's cut


def test_normalizes_warm_up_loads_zhconv(tmp_path):
    report = _after_warm_up(tmp_path, "normalize.warm_up()", "normalize.normalize")
    assert report["loaded"]["zhconv"]
    assert report["imported_after"] == []
    assert report["results"][2] == repr("医院门口的违章停车问题严重")


# What the shipped models say of a fixed sample (labels, probabilities to 4 places, keywords):
# a speed change must leave every figure as it is. Regenerate only when the artifacts change.
PINNED = [
    (
        "小区物业长期不作为，电梯经常坏，业主多次反映没有人管，请住建局督促整改。",
        (
            "商贸旅游",
            0.6789,
            True,
            0.1013,
            ["不作为", "没有人管", "住建局", "电梯", "整改"],
            "投诉",
            0.9974,
        ),
    ),
    (
        "谢谢你们，问题已经解决了，非常满意",
        ("城乡建设", 0.5824, True, 0.8888, ["谢谢你们", "满意"], "表扬", 0.9933),
    ),
    (
        "醫保報銷太慢了",
        ("劳动和社会保障", 0.9543, False, 0.1035, ["太慢", "医保报销"], "投诉", 0.604),
    ),
    (
        "请问新生儿医保怎么办理？需要带什么材料",
        (
            "劳动和社会保障",
            0.9661,
            False,
            0.0912,
            ["新生儿", "医保", "材料", "办理", "需要"],
            "咨询",
            0.9992,
        ),
    ),
    (
        "建议在学校门口增设红绿灯，方便学生过马路",
        (
            "城乡建设",
            0.7388,
            True,
            0.7578,
            ["增设", "红绿灯", "马路", "门口", "方便"],
            "建议",
            0.9965,
        ),
    ),
    (
        "公司拖欠工资三个月，也不给缴纳养老保险，劳动监察部门一直没有结果",
        (
            "劳动和社会保障",
            0.9999,
            False,
            0.0117,
            ["不给", "没有结果", "监察部门", "拖欠工资", "养老保险"],
            "投诉",
            0.9644,
        ),
    ),
    (
        "A市A3区魏家坡巷污水横流，臭气熏天",
        (
            "环境保护",
            0.8171,
            True,
            0.2269,
            ["魏家坡巷", "横流", "臭气熏天", "污水"],
            "投诉",
            0.8315,
        ),
    ),
    ("hello world", (None, 0.0, True, 0.5, ["world"], None, 0.0)),
    ("", (None, 0.0, True, 0.5, [], None, 0.0)),
]


def test_pinned_sample_keeps_its_labels_and_probabilities():
    texts = [text for text, _ in PINNED]
    for results in (nlp.analyze_many(texts), [nlp.analyze(t) for t in texts]):
        got = [
            (
                a.topic,
                round(a.topic_probability, 4),
                a.needs_review,
                round(a.sentiment_score, 4),
                a.keywords,
                a.request_type,
                round(a.request_type_probability, 4),
            )
            for a in results
        ]
        assert got == [expected for _, expected in PINNED]
