"""Request type (投诉/咨询/建议/表扬): the shipped model, its cue rules, odd input, training."""

import json

import pytest
from click.testing import CliRunner

import nlp
from nlp import request_type as rt
from nlp import request_type_train
from nlp.cli import nlp as nlp_cli
from nlp.segment import clean_text


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("谢谢你们，问题已经解决了，非常满意", "表扬"),
        ("县医保局的工作人员服务热情，耐心帮我办好了报销，点赞", "表扬"),
        ("请问灵活就业人员的社保怎么缴纳", "咨询"),
        ("孩子户口不在学区，明年能报名上小学吗？", "咨询"),
        ("建议在学校门口增设红绿灯", "建议"),
        ("公司拖欠工资三个月，老板不接电话，请帮帮我们", "投诉"),
        ("小区门口的路灯坏了一个月了，请尽快维修，谢谢", "投诉"),
        ("醫保報銷太慢了，三個月還沒到賬", "投诉"),
    ],
)
def test_request_type_of_clear_messages(text, label):
    result = nlp.analyze(text)
    assert result.request_type == label
    assert 0.5 < result.request_type_probability <= 1.0


def test_the_thank_you_of_the_issue_is_filed_with_confidence():
    result = rt.classify("谢谢你们，问题已经解决了，非常满意")
    assert result.label == "表扬" and result.probability >= 0.8
    assert [label for label, _ in result.scores][0] == "表扬"
    assert sum(p for _, p in result.scores) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("咨询公积金贷款额度", "咨询"),
        ("请问：低保怎么申请", "咨询"),
        ("关于增设公交线路的建议", "建议"),
        ("建议延长图书馆开放时间", "建议"),
        ("投诉某饭店卫生差", "投诉"),
        ("举报工地夜间施工", "投诉"),
        ("表扬县医院急诊科", "表扬"),
        ("给环保局点个赞", "表扬"),
        ("反映的问题已经解决了", None),  # 反映的…: not a complaint opening
        ("小区停水三天了，谢谢", None),  # a closing 谢谢 is no praise cue
        ("这次不点赞了", None),
    ],
)
def test_cue_rules(text, cue):
    assert rt.cue_label(clean_text(text)) == cue


def test_the_model_never_reads_a_cue_word():
    text = clean_text("请问，我想咨询一下建议投诉表扬的流程？谢谢")
    assert not any(cue in rt.strip_cues(text) for cue in ("请问", "咨询", "建议", "投诉", "谢谢"))
    words = rt.model_words(["请问", "咨询", "流程", "?"], text)
    # Content words, the question marker, then where the cue-free text starts and ends.
    assert words[:2] == ["流程", "<q>"]
    assert words[2:] == ["^我", "^我想", "^我想 ", "程$", "流程$", "的流程$"]
    assert not any(cue in marker for marker in words for cue in rt.CUE_WORDS)


@pytest.mark.parametrize(
    ("text", "unhappy"),
    [
        ("谢谢，但是问题还是没解决，很不满意", True),
        ("感谢回复，不过我对处理结果不满意", True),
        ("非常感谢，可是到现在也没人管", True),
        ("反映了三次，一直没有回复", True),
        ("谢谢你们，问题已经解决了，非常满意", False),
        ("没有不满意的地方，服务很好", False),  # nothing to complain of
        ("问题已经处理好了，谢谢", False),
    ],
)
def test_dissatisfaction_is_recognised(text, unhappy):
    assert rt.dissatisfied(clean_text(text)) is unhappy


@pytest.mark.parametrize(
    "text",
    [
        "谢谢，但是问题还是没解决，很不满意",
        "感谢回复，不过我对处理结果不满意",
        "这次不满意，下次希望改进",
        "点赞是不可能的，问题根本没解决",
        "给你们点个赞吧，反映了半年都没人管",
    ],
)
def test_dissatisfaction_overrides_thanks(text):
    """Thanks or a praise word next to 不满意/没解决 is never filed as praise."""
    assert rt.cue_label(clean_text(text)) != "表扬"
    result = nlp.analyze(text)
    assert result.request_type != "表扬", result.request_type_probability


def test_dissatisfaction_divides_only_the_praise_odds():
    probs = rt.np.array([0.1, 0.1, 0.1, 0.7])
    out = rt.combine(probs, list(rt.LABELS), None, None, True)
    assert out.argmax() == 0 and out[3] == pytest.approx(0.7 / 20 / (0.3 + 0.7 / 20))
    assert out[0] == pytest.approx(out[1]) == pytest.approx(out[2])


def test_sentiment_moves_only_the_praise_odds():
    probs = rt.combine(rt.np.array([0.25, 0.25, 0.25, 0.25]), list(rt.LABELS), None, 0.9)
    assert probs.argmax() == rt.LABELS.index("表扬")
    assert probs[0] == pytest.approx(probs[1])
    neutral = rt.combine(rt.np.array([0.4, 0.3, 0.2, 0.1]), list(rt.LABELS), None, 0.5)
    assert neutral.tolist() == pytest.approx([0.4, 0.3, 0.2, 0.1])


@pytest.mark.parametrize(
    "text", ["", None, "😀😀", "hello, thank you so much", "\ud800\udfff", 42, "谢" * 100_000]
)
def test_odd_input_gives_a_defined_result(text):
    result = rt.classify(text)
    assert result.label is None or result.label in rt.LABELS
    assert 0.0 <= result.probability <= 1.0
    analysis = nlp.analyze(text)
    assert analysis.request_type in (None, *rt.LABELS)
    json.dumps(analysis.to_dict(), ensure_ascii=False)


def test_english_has_no_request_type():
    result = nlp.analyze("Thank you, the problem is solved")
    assert result.request_type is None and result.request_type_probability == 0.0


def test_a_broken_model_leaves_the_other_results(monkeypatch):
    def boom():
        raise RuntimeError("artifact corrupt")

    monkeypatch.setattr(rt, "model", boom)
    result = nlp.analyze("公司拖欠工资三个月")
    assert result.request_type is None and result.topic == "劳动和社会保障"


def test_evaluate_request_type_prints_the_topic_report_shape(tmp_path):
    path = tmp_path / "rt.csv"
    path.write_text(
        "text,label\n谢谢你们，问题已经解决了，非常满意,表扬\n请问低保怎么申请,咨询\n"
        "建议增设红绿灯,建议\n路灯坏了一个月没人修,投诉\n路灯坏了一个月没人修,表扬\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(nlp_cli, ["evaluate", "--task", "request_type", "--data", path])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"task", "n", "accuracy", "macro_f1", "per_label", "texts_per_second"}
    assert data["task"] == "request_type" and data["n"] == 5
    assert data["accuracy"] == 0.8
    assert data["per_label"]["表扬"]["recall"] == 0.5


def test_evaluate_request_type_refuses_other_labels(tmp_path):
    path = tmp_path / "rt.csv"
    path.write_text("text,label\n路灯坏了,城乡建设\n", encoding="utf-8")
    result = CliRunner().invoke(nlp_cli, ["evaluate", "--task", "request_type", "--data", path])
    assert result.exit_code == 2 and "none of the labels" in result.output


def test_training_on_the_written_examples_alone(tmp_path):
    # No board data or reviews in tmp_path: the shipped written examples are enough to run.
    report = request_type_train.train(tmp_path, tmp_path / "out", folds=2)
    assert report["rows_per_source"] == {"written": 120}
    for part in (
        "cues_removed_model_only",
        "cues_removed_model_and_negation_rule",
        "pipeline_on_original_text",
    ):
        assert 0.0 <= report[part]["all"]["accuracy"] <= 1.0
    repeated = report["repeated"]
    assert repeated["runs"] == request_type_train.REPEATS and repeated["folds"] == 2
    accuracy = repeated["cues_removed_model_only"]["accuracy"]
    assert 0.0 <= accuracy["mean"] <= 1.0 and accuracy["sd"] >= 0.0
    model = rt.TopicModel.load(tmp_path / "out" / rt.ARTIFACT)
    assert model.labels == list(rt.LABELS)


def test_title_cues_label_the_board_messages():
    assert request_type_train.title_label("咨询A市公积金贷款问题") == "咨询"
    assert request_type_train.title_label("关于增设公交站的建议") == "建议"
    assert request_type_train.title_label("投诉物业乱收费") == "投诉"
    assert request_type_train.title_label("建议查处投诉无门的问题") is None  # two types
    assert request_type_train.title_label("A3区路灯不亮") is None
