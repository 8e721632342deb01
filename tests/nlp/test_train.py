"""The training path on a tiny generated data set: artifact written, runtime equals sklearn."""

import csv

import numpy as np
import pytest

from nlp import train
from nlp.segment import clean_text, content_words, segment
from nlp.topic import TopicModel, topic_features

TEMPLATES = {
    "城乡建设": ["小区{}物业不管", "{}路灯坏了没人修", "{}小区违章建筑"],
    "教育文体": ["{}学校乱收补课费", "{}孩子入学难", "{}幼儿园收费高"],
    "交通运输": ["{}公交车不按时发车", "{}出租车拒载", "{}客运班车超载"],
}
PLACES = ["东城", "西城", "南湖", "北山", "河西", "桥东"]


def tiny_csv(path):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["title", "body", "body_seg", "label"])
        for label, templates in TEMPLATES.items():
            for i, place in enumerate(PLACES):
                t = templates[i % 3].format(place)
                if i % 2:
                    w.writerow([t, f"{t}，请尽快处理。", "", label])
                else:
                    w.writerow(["", "", " ".join(segment(t + "请处理")), label])
    return path


def test_topic_text_prefers_text_then_title_body_then_segmented_copy():
    assert train.topic_text({"text": "甲", "title": "乙", "body": "丙"}) == "甲"
    assert train.topic_text({"title": "乙", "body": "丙"}) == "乙。丙"
    assert train.topic_text({"title": "", "body": "丙"}) == "丙"
    assert train.topic_text({"title": "乙", "body": ""}) == "乙"
    assert train.topic_text({"title": "", "body": "", "body_seg": "小区 停水"}) == "小区停水"


def test_default_data_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MINYI_NLP_DATA", str(tmp_path))
    assert train.default_data_dir() == tmp_path
    monkeypatch.delenv("MINYI_NLP_DATA")
    assert train.default_data_dir().parts[-2:] == ("shared", "data")


def test_train_topic_writes_a_model_equal_to_sklearn(tmp_path):
    report = train.train_topic(tiny_csv(tmp_path / "m.csv"), tmp_path, folds=2)
    assert report["rows"] == 18 and report["rows_with_title"] == 9
    assert len(report["macro_f1_title_body"]["folds"]) == 2
    assert report["temperature"] > 0
    model = TopicModel.load(tmp_path / "topic.npz")
    assert model.labels == sorted(TEMPLATES)
    assert model.meta["cv"]["rows"] == 18

    # The numpy scorer reproduces scikit-learn's TF-IDF + LinearSVC decision function.
    rows = train.load_topic_rows(tmp_path / "m.csv")
    full = [train._features(r.text) for r in rows]
    titles = [train._features(r.title) if r.title else None for r in rows]
    vec, clf = train._fit(*train._augmented(rows, full, titles, range(len(rows))), model.labels)
    probe = [clean_text(t) for t in ["东城小区物业不管", "学校补课费", "公交车 拒载 taxi", "一丁"]]
    feats = [topic_features(segment(t), t) for t in probe]
    ours, known = model.decision([content_words(segment(t)) for t in probe], probe)
    assert known[:3].all()
    np.testing.assert_allclose(ours, clf.decision_function(vec.transform(feats)), atol=2e-3)
    assert [model.labels[i] for i in ours.argmax(1)][:3] == ["城乡建设", "教育文体", "交通运输"]


def test_train_topic_refuses_a_file_without_enough_rows(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("title,body,label\n甲,乙,城乡建设\n", encoding="utf-8")
    with pytest.raises(ValueError, match="too few"):
        train.train_topic(path, tmp_path)


def test_fit_keeps_only_the_strongest_features(tmp_path):
    rows = train.load_topic_rows(tiny_csv(tmp_path / "m.csv"))
    full = [train._features(r.text) for r in rows]
    labels = [r.label for r in rows]
    classes = sorted(set(labels))
    vec_all, _ = train._fit(full, labels, classes, min_df=1, max_features=0)
    vec, clf = train._fit(full, labels, classes, min_df=1, max_features=20)
    assert len(vec_all.vocabulary_) > 20
    assert len(vec.vocabulary_) == 20 and clf.coef_.shape == (3, 20)
    assert set(vec.vocabulary_) < set(vec_all.vocabulary_)


def test_rows_with_raw_text_also_train_on_their_segmented_copy(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(
        "title,body,body_seg,label\n"
        "小区停水,小区停水三天了,小区 停水 三天,城乡建设\n"
        ",,学校 乱收费,教育文体\n",
        encoding="utf-8",
    )
    raw, seg_only = train.load_topic_rows(path)
    assert (raw.text, raw.segmented) == ("小区停水。小区停水三天了", "小区停水三天")
    assert (seg_only.text, seg_only.segmented) == ("学校乱收费", "")
    full = [["a"], ["b"]]
    titles = [["t"], None]
    feats, labels = train._augmented([raw, seg_only], full, titles, [0, 1], [["s"], None])
    assert feats == [["a"]] + [["t"]] * train.TITLE_COPIES + [["s"], ["b"]]
    assert labels == ["城乡建设"] * (train.TITLE_COPIES + 2) + ["教育文体"]
