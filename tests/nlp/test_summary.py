"""Extractive summary: quotes from the inputs, the shared complaint first, no repeats."""

import pytest

from nlp.summary import sentences, summarize

COMPLAINTS = [
    "幸福家园小区已经停水三天了。物业说是管道维修，但一直没有公告。老人和孩子生活很不方便！",
    "幸福家园小区停水三天，没有任何通知。我们去物业问，物业说不清楚什么时候来水。",
    "请问幸福家园小区什么时候恢复供水？已经停水三天了，附近超市的桶装水都卖光了。",
    "幸福家园小区停水三天了，没有任何通知！",
    "小区门口的路灯坏了一个月，晚上出行不安全。",
]


def test_sentences_are_verbatim_and_short():
    text = COMPLAINTS[0] + "另外，" + "，".join(["楼道里堆满杂物无人清理"] * 10) + "。"
    for s in sentences(text, max_chars=40):
        assert s in text
        assert len(s) <= 40


def test_summary_quotes_the_inputs_and_leads_with_the_common_complaint():
    summary = summarize(COMPLAINTS, n=3)
    assert 1 <= len(summary) <= 3
    joined = "\n".join(COMPLAINTS)
    for s in summary:
        assert s in joined
    assert "停水" in summary[0]
    assert not any("路灯" in s for s in summary[:2])


def test_near_identical_sentences_appear_once():
    summary = summarize(COMPLAINTS, n=3)
    count = sum(1 for s in summary if "停水三天" in s and "没有任何通知" in s)
    assert count <= 1
    assert len(set(summary)) == len(summary)


def test_n_limits_the_summary():
    assert len(summarize(COMPLAINTS, n=1)) == 1
    assert summarize(COMPLAINTS, n=0) == []


@pytest.mark.parametrize(
    "bad",
    [[], [""], ["😀😀"], ["好"], ["a" * 100_000], ["\ud800停水三天没人管了"], None, [None, 3]],
)
def test_bad_input_never_raises(bad):
    assert isinstance(summarize(bad), list)
