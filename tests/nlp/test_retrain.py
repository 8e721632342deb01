"""Retraining on a tiny reference set: gate, versions, no-new-data, corrupt artifacts, reload."""

from __future__ import annotations

import json

import pytest

import nlp
from nlp import department, retrain
from nlp.model_store import ModelStore, StoreError, use_model_dir
from nlp.segment import clean_text, content_words, segment
from nlp.topic import TopicModel
from tests.retrain_support import TOPIC_TEMPLATES, charging_corrections, tiny_reference

# Places the corrections never name: the models must generalise to them.
UNSEEN = ["南关", "城北"]
AGREEING = [
    (t.format(p), label)
    for label, templates in TOPIC_TEMPLATES.items()
    for t in templates
    for p in "甲乙"
]
COMMENTS = [("窗口办事很快，非常满意", 1), ("排队两小时没人管，太差了", 0)]


@pytest.fixture
def data_dir(tmp_path):
    return tiny_reference(tmp_path / "data")


@pytest.fixture
def store(tmp_path):
    return ModelStore(tmp_path / "var" / "nlp")


def run(store, data_dir, county, **kwargs):
    kwargs.setdefault("folds", 2)
    kwargs.setdefault("tolerance", 0.05)  # folds of 12 messages: one error moves F1 by 0.08
    kwargs.setdefault("min_department_examples", 3)
    return retrain.retrain(store, county, data_dir=data_dir, **kwargs)


def topic_of(store, version, text):
    model = TopicModel.load(store.path(version) / "topic.npz")
    cleaned = clean_text(text)
    probs, _ = model.probabilities([content_words(segment(cleaned))], [cleaned])
    return model.labels[probs[0].argmax()]


def test_no_county_data_builds_no_version(store, data_dir):
    result = run(store, data_dir, retrain.CountyData())
    assert result.status == "no_new_data" and "no new county data" in result.message_en
    assert "没有新的本县数据" in result.message_zh
    assert store.versions() == [] and store.active_name() is None
    assert [a["status"] for a in store.attempts()] == ["no_new_data"]


def test_corrections_teach_the_corrected_kind_of_text_and_the_same_data_adds_nothing(
    store, data_dir
):
    first = run(store, data_dir, retrain.CountyData(topic=AGREEING, sentiment=COMMENTS))
    assert first.status == "activated" and first.version == "v0001"
    probes = [t.format(p) for p in UNSEEN for t in ("{}小区充电桩坏了", "{}充电桩不能用")]
    assert {topic_of(store, "v0001", text) for text in probes} != {"交通运输"}

    county = retrain.CountyData(
        topic=AGREEING + charging_corrections("交通运输"), sentiment=COMMENTS
    )
    second = run(store, data_dir, county)
    assert second.status == "activated" and store.active_name() == "v0002"
    assert {topic_of(store, "v0002", text) for text in probes} == {"交通运输"}
    manifest = store.manifest("v0002")
    assert manifest["previous"] == "v0001" and manifest["retrained"] == ["topic"]
    assert manifest["data"]["county"]["topic_examples"] == len(county.topic)
    assert set(manifest["files"]) == {"topic.npz", "sentiment.npz", "county_data.json"}
    # Sentiment had nothing new: v0001's artifact is carried over unchanged.
    assert manifest["files"]["sentiment.npz"] == store.manifest("v0001")["files"]["sentiment.npz"]
    rows = {(r["model"], r["metric"]): r for r in second.comparison}
    assert rows["topic", "county_accuracy"]["new"] > rows["topic", "county_accuracy"]["old"]
    assert rows["sentiment", "accuracy_waimai"]["retrained"] is False

    again = run(store, data_dir, county)
    assert again.status == "no_new_data" and store.versions() == ["v0001", "v0002"]
    assert store.active_name() == "v0002"


def test_a_candidate_that_scores_worse_on_the_reference_is_refused(store, data_dir):
    # The county insists that school complaints are transport: the board disagrees.
    school = [(t.format(p), "交通运输") for t in TOPIC_TEMPLATES["教育文体"] for p in "甲乙丙丁"]
    county = retrain.CountyData(topic=school)
    result = run(store, data_dir, county, tolerance=0.0)
    assert result.status == "refused", result.comparison
    assert "dropped" in result.message_en and "下降" in result.message_zh
    dropped = [r for r in result.comparison if not r["ok"]]
    assert dropped and all(r["new"] < r["old"] for r in dropped)
    assert store.versions() == [] and store.active_name() is None
    assert not list(store.models_dir.glob(".staging-*"))
    # The same data again is not retrained (unless forced).
    assert run(store, data_dir, county, tolerance=0.0).status == "no_new_data"
    assert run(store, data_dir, county, tolerance=0.0, force=True).status == "refused"


def test_a_corrupt_candidate_artifact_leaves_the_active_version(store, data_dir, monkeypatch):
    assert run(store, data_dir, retrain.CountyData(topic=AGREEING)).status == "activated"

    def half_written(ref, county, out):
        (out / "sentiment.npz").write_bytes(b"PK\x03\x04 not a model")

    monkeypatch.setattr(retrain, "fit_sentiment", half_written)
    result = run(store, data_dir, retrain.CountyData(topic=AGREEING, sentiment=COMMENTS))
    assert result.status == "refused"
    assert "sentiment.npz" in result.message_en and "无法读取" in result.message_zh
    assert store.versions() == ["v0001"] and store.active_name() == "v0001"
    assert not list(store.models_dir.glob(".staging-*"))


def test_a_corrupt_active_version_refuses_the_retrain(store, data_dir):
    assert run(store, data_dir, retrain.CountyData(topic=AGREEING)).status == "activated"
    with open(store.path("v0001") / "topic.npz", "r+b") as fh:
        fh.write(b"garbage")
    result = run(store, data_dir, retrain.CountyData(topic=AGREEING, sentiment=COMMENTS))
    assert result.status == "refused" and "corrupt" in result.message_en
    assert store.versions() == ["v0001"] and store.active_name() == "v0001"


def test_missing_reference_data_is_refused_in_both_languages(store, tmp_path):
    result = run(store, tmp_path / "nowhere", retrain.CountyData(topic=AGREEING))
    assert result.status == "refused" and "reference training data not found" in result.message_en
    assert "找不到参考训练数据" in result.message_zh


def test_the_shipped_recipe_is_cross_validated_once_and_cached(store, data_dir, monkeypatch):
    assert run(store, data_dir, retrain.CountyData(topic=AGREEING)).status == "activated"
    cached = json.loads((store.root / retrain.SHIPPED_SCORES).read_text(encoding="utf-8"))
    assert cached["scores"]["topic"]["macro_f1_title_body"] > 0.5
    store.rollback()
    calls = []
    real = retrain.topic_cv
    monkeypatch.setattr(retrain, "topic_cv", lambda *a: calls.append(a) or real(*a))
    run(store, data_dir, retrain.CountyData(topic=AGREEING[:-1]))
    assert len(calls) == 1  # the candidate only; the shipped recipe's scores were cached


def test_serving_picks_up_a_retrained_version_and_a_rollback(store, data_dir):
    use_model_dir(store.root, check_seconds=0)
    text = "南关小区的充电桩坏了好几天"
    shipped_topic = nlp.analyze(text).topic
    county = retrain.CountyData(topic=AGREEING + charging_corrections("交通运输"))
    assert run(store, data_dir, county).status == "activated"
    assert nlp.analyze(text).topic == "交通运输"
    store.rollback()
    assert nlp.analyze(text).topic == shipped_topic


def test_departments_are_learned_from_enough_corrections(store, data_dir):
    county = retrain.CountyData(
        topic=AGREEING,
        department=[(t, "jtysj") for t, _ in charging_corrections()] + [("河道堵塞了", "slj")],
    )
    result = run(store, data_dir, county, min_department_examples=5)
    assert result.status == "activated"
    assert set(result.department["learned"]) == {"jtysj"}  # slj has 1 of 5
    assert result.department["learned"]["jtysj"]["leave_one_out_recall"] >= 0.9
    use_model_dir(store.root, check_seconds=0)
    found = department.suggest("南关小区充电桩坏了", ["zjj", "jtysj"], min_examples=5)
    assert found is not None and found.code == "jtysj" and found.examples == 24
    assert department.suggest("南关学校乱收补课费", ["zjj", "jtysj"], min_examples=5) is None
    assert department.suggest("南关小区充电桩坏了", ["zjj"], min_examples=5) is None
    # A county that now asks for more corrections than jtysj has: keywords decide again.
    assert department.suggest("南关小区充电桩坏了", ["jtysj"], min_examples=30) is None


def test_county_data_round_trips_and_fingerprints_ignore_order():
    county = retrain.CountyData(
        topic=[("甲", "城乡建设"), ("乙", "教育文体")], sentiment=[("好", 1)]
    )
    assert retrain.CountyData.from_json(county.to_json()) == county
    swapped = retrain.CountyData(topic=county.topic[::-1], sentiment=county.sentiment)
    assert swapped.fingerprints() == county.fingerprints()
    assert county.new_rows("topic", retrain.CountyData(topic=[("乙", "教育文体")])) == {0}


def test_store_errors_carry_both_languages():
    err = StoreError("中文", "English")
    assert (err.message_zh, err.message_en, str(err)) == ("中文", "English", "English")
