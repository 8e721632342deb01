"""`nlp classify` and `nlp evaluate` through click's runner, on small CSVs written here."""

import csv
import json
import sys

import pytest
from click.testing import CliRunner

from nlp import topic
from nlp.cli import classification_report, nlp

CLEAR = [
    ("城乡建设", "小区物业不作为，路灯坏了半年没人修，消防通道被车辆堵死，请住建局督促物业整改。"),
    ("劳动和社会保障", "公司一直拖欠工资，也不给我们缴纳养老保险，请人社局帮助农民工讨回血汗钱。"),
    ("教育文体", "孩子按学区应该在附近小学就读，学校却说学位已满不能入学，请教育局核实招生政策。"),
    ("环境保护", "小区旁边的化工厂每天晚上偷偷排放废气，气味刺鼻，请环保局调查这家企业的污染。"),
    ("卫生计生", "县人民医院医生态度恶劣，乱开检查乱收费，请卫健委调查医院的违规收费问题。"),
    ("交通运输", "镇到县城的客运班车经常不按时发车，司机随意加价，车辆超载，请交通运输局监管。"),
]


def write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run(*args):
    return CliRunner().invoke(nlp, [str(a) for a in args])


def test_classify_prints_json():
    result = run("classify", CLEAR[1][1])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["topic"] == "劳动和社会保障"
    assert set(data) == {
        "topic",
        "topic_probability",
        "topic_top3",
        "needs_review",
        "sentiment_score",
        "sentiment_label",
        "keywords",
        "request_type",
        "request_type_probability",
    }
    assert "劳动和社会保障" in result.output  # not \u-escaped


def long_complaint(label_index=1, chars=50_000):
    """A clear complaint repeated past `chars`: longer than an argument the OS accepts."""
    text = CLEAR[label_index][1]
    return text * (chars // len(text) + 1)


def test_classify_reads_a_long_text_from_a_file(tmp_path):
    path = tmp_path / "complaint.txt"
    path.write_text(long_complaint(), encoding="utf-8")
    result = run("classify", "--file", path)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["topic"] == "劳动和社会保障"


def test_classify_reads_standard_input_with_a_dash():
    for args in (["classify", "-"], ["classify", "--file", "-"]):
        result = CliRunner().invoke(nlp, args, input=long_complaint(3).encode("utf-8"))
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["topic"] == "环境保护"


def test_classify_reads_a_gb18030_file(tmp_path):
    path = tmp_path / "gbk.txt"
    path.write_bytes(CLEAR[2][1].encode("gb18030"))
    result = run("classify", "--file", path)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["topic"] == "教育文体"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["classify"], None, "--file FILE"),
        (["classify", ""], None, "input is empty"),
        (["classify", " \n\t "], None, "input is empty"),
        (["classify", "-"], b"  \n", "input is empty"),
        (["classify", "小区停水", "--file", "-"], b"x", "not both"),
        (["classify", "--file", "/no/such/file.txt"], None, "does not exist"),
        (["classify", "--file", "."], None, "is a directory"),
    ],
)
def test_classify_refuses_missing_or_empty_input(args, stdin, message):
    result = CliRunner().invoke(nlp, args, input=stdin)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_classify_refuses_an_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"\xef\xbb\xbf \n")  # a BOM and blanks only
    result = run("classify", "--file", path)
    assert result.exit_code == 2
    assert "没有可分析的文字" in result.output and "input is empty" in result.output


def test_evaluate_topic_on_a_text_column(tmp_path):
    # Six clear complaints with their true labels, plus one deliberately mislabelled row.
    rows = [(text, label) for label, text in CLEAR]
    rows.append((CLEAR[2][1], "商贸旅游"))
    path = write_csv(tmp_path / "topic.csv", ["text", "label"], rows)
    result = run("evaluate", "--task", "topic", "--data", path)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert set(data) == {
        "task",
        "n",
        "accuracy",
        "macro_f1",
        "per_label",
        "texts_per_second",
        "threshold",
        "auto_routed_share",
        "auto_routed_accuracy",
        "coverage",
    }
    assert data["task"] == "topic"
    assert data["n"] == 7
    predicted = [topic.classify(text).label for text, _ in rows]
    expected = sum(p == g for p, (_, g) in zip(predicted, rows)) / 7
    assert data["accuracy"] == pytest.approx(expected, abs=1e-4)
    assert data["accuracy"] == pytest.approx(6 / 7, abs=1e-4)
    assert data["per_label"]["商贸旅游"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 1,
    }
    assert data["per_label"]["教育文体"]["precision"] == 0.5
    assert data["per_label"]["教育文体"]["recall"] == 1.0
    assert data["texts_per_second"] > 0


def test_evaluate_topic_defaults_to_title_plus_body(tmp_path):
    rows = [
        ("某小区噪音扰民", "", "环境保护"),
        ("", CLEAR[4][1], "卫生计生"),
        ("拖欠工资", "公司三个月没发工资", "劳动和社会保障"),
    ]
    path = write_csv(tmp_path / "messages.csv", ["title", "body", "label"], rows)
    data = json.loads(run("evaluate", "--task", "topic", "--data", path).output)
    assert data["n"] == 3
    assert data["accuracy"] == 1.0


def test_evaluate_topic_with_named_columns(tmp_path):
    rows = [(label, text) for label, text in CLEAR]
    path = write_csv(tmp_path / "t.csv", ["一级标签", "留言详情"], rows)
    result = run(
        "evaluate",
        "--task",
        "topic",
        "--data",
        path,
        "--text-column",
        "留言详情",
        "--label-column",
        "一级标签",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["accuracy"] == 1.0


def test_evaluate_sentiment(tmp_path):
    from nlp import sentiment

    rows = [
        ("菜很好吃，送餐也很快，好评", "1"),
        ("等了两个小时还没送到，太差了", "0"),
        ("服务态度非常好，下次还来", "1"),
        ("饭菜是冷的，还少送了一份", "0"),
    ]
    path = write_csv(
        tmp_path / "s.csv", ["id", "body", "label"], [(i, t, y) for i, (t, y) in enumerate(rows)]
    )
    result = run("evaluate", "--task", "sentiment", "--data", path)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["task"] == "sentiment" and data["n"] == 4
    assert set(data["per_label"]) <= {"0", "1"}
    scores = [sentiment.score(t) for t, _ in rows]
    expected = sum((s >= 0.5) == (y == "1") for s, (_, y) in zip(scores, rows)) / 4
    assert data["accuracy"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--text-column", "content"], "no column 'content'"),
        (["--label-column", "category"], "no column 'category'"),
    ],
)
def test_evaluate_missing_column_is_a_usage_error(tmp_path, args, message):
    path = write_csv(tmp_path / "t.csv", ["text", "label"], [(CLEAR[0][1], CLEAR[0][0])])
    result = run("evaluate", "--task", "topic", "--data", path, *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, KeyError)


def test_evaluate_without_any_text_column_is_a_usage_error(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["content", "label"], [("x", "交通运输")])
    result = run("evaluate", "--task", "topic", "--data", path)
    assert result.exit_code == 2
    assert "--text-column" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        (b"", "is empty"),
        (b"text,label\n", "no rows"),
        (b"\xff\xfe\x00bad", "UTF-8"),
    ],
)
def test_evaluate_bad_file_is_a_usage_error(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_bytes(content)
    result = run("evaluate", "--task", "topic", "--data", path)
    assert result.exit_code == 2
    assert message in result.output


def test_evaluate_sentiment_rejects_labels_other_than_0_and_1(tmp_path):
    path = write_csv(tmp_path / "s.csv", ["text", "label"], [("很好", "positive")])
    result = run("evaluate", "--task", "sentiment", "--data", path)
    assert result.exit_code == 2
    assert "0 or 1" in result.output


def test_report_counts_missing_predictions_as_wrong():
    report = classification_report(["a", "a", "b"], ["a", None, "b"])
    assert report["n"] == 3
    assert report["accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["per_label"]["a"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": 0.6667,
        "support": 2,
    }
    assert report["macro_f1"] == pytest.approx((2 / 3 + 1) / 2, abs=1e-4)


def test_train_without_scikit_learn_prints_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now raises ImportError
    result = run("train", "--data", tmp_path, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "scikit-learn" in result.output and "pip install 'minyi[train]'" in result.output
    assert "make test" in result.output
    assert result.output.startswith("错误：") and "\nError: " in result.output
    assert not (tmp_path / "out").exists()


def test_train_with_missing_data_is_a_usage_error(tmp_path):
    result = run("train", "--data", tmp_path, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "training data not found" in result.output


def test_train_rebuilds_artifacts_from_given_csvs(tmp_path):
    from nlp.topic import TopicModel
    from tests.nlp.test_train import tiny_csv

    reviews = [
        ("菜很好吃，送得也快", "1"),
        ("味道不错，下次再来", "1"),
        ("服务热情，好评", "1"),
        ("太难吃了，再也不点", "0"),
        ("送餐慢了一个小时", "0"),
        ("房间很脏，态度差", "0"),
    ]
    waimai = write_csv(
        tmp_path / "waimai.csv",
        ["id", "body", "label"],
        [(i, t, y) for i, (t, y) in enumerate(reviews * 3)],
    )
    hotel = write_csv(
        tmp_path / "hotel.csv",
        ["id", "body", "label"],
        [(i, t, y) for i, (t, y) in enumerate(reviews[::-1] * 3)],
    )
    out = tmp_path / "artifacts"
    result = run(
        "train",
        "--data",
        tmp_path,
        "--messages",
        tiny_csv(tmp_path / "m.csv"),
        "--waimai",
        waimai,
        "--hotel",
        hotel,
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["topic"]["rows"] == 18
    assert "mean" in report["topic"]["macro_f1_title_body"]
    assert "skipped" in report["keywords"]  # no message-board data in tmp_path
    assert (out / "topic.npz").is_file() and (out / "sentiment.npz").is_file()
    assert TopicModel.load(out / "topic.npz").labels == ["交通运输", "城乡建设", "教育文体"]


def test_evaluate_topic_refuses_a_file_with_no_topic_labels(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["text", "label"], [("很好吃", "1"), ("太慢了", "0")])
    result = run("evaluate", "--task", "topic", "--data", path)
    assert result.exit_code == 2
    assert "none of the labels" in result.output


def test_evaluate_topic_warns_about_unknown_labels_and_counts_them_wrong(tmp_path):
    label, text = CLEAR[0]
    path = write_csv(tmp_path / "t.csv", ["text", "label"], [(text, label), (text, "农业农村")])
    result = CliRunner().invoke(nlp, ["evaluate", "--task", "topic", "--data", str(path)])
    assert result.exit_code == 0
    assert "农业农村" in result.stderr
    report = json.loads(result.stdout)
    assert report["n"] == 2 and report["accuracy"] == 0.5


def test_evaluate_topic_reports_selective_routing(tmp_path):
    rows = [(text, label) for label, text in CLEAR]
    rows.append((CLEAR[2][1], "商贸旅游"))  # confidently wrong
    rows.append(("hello, the road is broken", "交通运输"))  # no topic: never auto-routed
    path = write_csv(tmp_path / "topic.csv", ["text", "label"], rows)
    probs = [topic.classify(text).probability for text, _ in rows[:-1]]
    data = json.loads(run("evaluate", "--task", "topic", "--data", path).output)
    assert data["threshold"] == topic.DEFAULT_REVIEW_THRESHOLD
    routed = [i for i, p in enumerate(probs) if p >= data["threshold"]]
    assert data["auto_routed_share"] == round(len(routed) / 8, 4)
    right = sum(1 for i in routed if rows[i][0] != CLEAR[2][1] or rows[i][1] == "教育文体")
    assert data["auto_routed_accuracy"] == round(right / len(routed), 4)
    table = {row["threshold"]: row for row in data["coverage"]}
    assert table[0.3]["auto_routed_share"] == 0.875  # all but the English row
    shares = [row["auto_routed_share"] for row in data["coverage"]]
    assert shares == sorted(shares, reverse=True)
    low = json.loads(run("evaluate", "--task", "topic", "--data", path, "--threshold", 0).output)
    assert low["threshold"] == 0 and low["auto_routed_share"] == 0.875
    assert low["auto_routed_accuracy"] == round(6 / 7, 4)
