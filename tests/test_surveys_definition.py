"""The survey file format, answer checks, statistics and schedules: the pure parts of surveys/."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from scipy import stats as scipy_stats

from minyi.errors import ValidationFailed
from surveys import stats
from surveys.answers import AnswersInvalid, check_answer, check_answers, complete_answers
from surveys.definition import (
    DefinitionInvalid,
    parse_definition,
    parse_definition_json,
)
from surveys.schedule import PRESETS, next_opening, next_window, schedule_expression
from tests.survey_helpers import hall_template

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_the_documented_template_parses_and_round_trips():
    definition = parse_definition(hall_template())
    assert definition.slug == "hall-2026"
    assert definition.keys[:3] == ("overall", "recommend", "how")
    kinds = {q.kind for q in definition.questions}
    assert kinds == {"rating", "nps", "single", "multiple", "rubric", "text"}
    overall = definition.question("overall")
    assert overall.required and overall.department == "zwfw" and overall.scale == (1, 5)
    assert definition.question("improve").min_choices == 1
    assert definition.question("improve").max_choices == 2
    assert definition.question("why").complaint and definition.question("why").max_chars == 300
    assert dict(definition.question("norms").levels)[5].zh.startswith("热情规范")
    # The canonical form parses back to the same definition, and is itself stable.
    canonical = definition.to_dict()
    assert parse_definition(canonical) == definition
    assert parse_definition(canonical).to_dict() == canonical
    assert parse_definition_json(json.dumps(canonical).encode("utf-8")) == definition


def _mutate(change):
    data = hall_template()
    change(data)
    return data


def _question(data, key):
    return next(q for q in data["questions"] if q["key"] == key)


BAD_DEFINITIONS = [
    (lambda d: d.pop("slug"), "$.slug"),
    (lambda d: d.update(slug="Hall 2026"), "$.slug"),
    (lambda d: d.update(extra=1), "$.extra"),
    (lambda d: d["title"].update(zh="  "), "$.title.zh"),
    (lambda d: d["title"].update(fr="Enquête"), "$.title.fr"),
    (lambda d: d.update(questions=[]), "$.questions"),
    (lambda d: d["questions"][0].update(type="slider"), "$.questions[0].type"),
    (lambda d: d["questions"][1].update(key="overall"), "$.questions[1].key"),
    (lambda d: d["questions"][1].update(key="Recommend"), "$.questions[1].key"),
    (lambda d: d["questions"][0].update(requird=True), "$.questions[0].requird"),
    (lambda d: d["questions"][0].update(required="yes"), "$.questions[0].required"),
    (lambda d: d["questions"][0].update(choices=[]), "$.questions[0].choices"),
    (
        lambda d: d["questions"][2]["choices"][1].update(key="hall"),
        "$.questions[2].choices[1].key",
    ),
    (lambda d: d["questions"][2]["choices"][1].update(key="a;b"), "$.questions[2].choices[1].key"),
    (
        lambda d: d["questions"][2].update(choices=d["questions"][2]["choices"][:1]),
        "$.questions[2].choices",
    ),
    (
        lambda d: d["questions"][3].update(show_if={"how": ["bus"]}),
        "$.questions[3].show_if.how[0]",
    ),
    (
        lambda d: d["questions"][3].update(show_if={"visits": ["one"]}),
        "$.questions[3].show_if.visits",
    ),
    (lambda d: d["questions"][3].update(show_if={"how": []}), "$.questions[3].show_if.how"),
    (
        lambda d: _question(d, "why").update(show_if={"overall": [6]}),
        "$.questions[9].show_if.overall[0]",
    ),
    (
        lambda d: _question(d, "suggest").update(show_if={"why": ["x"]}),
        "$.questions[10].show_if.why",
    ),
    (lambda d: _question(d, "improve").update(min=3), "$.questions[7].min"),
    (lambda d: _question(d, "improve").update(max=9), "$.questions[7].max"),
    (lambda d: _question(d, "why").update(max_chars=0), "$.questions[9].max_chars"),
    (
        lambda d: _question(d, "norms")["levels"].update({"6": {"zh": "超"}}),
        "$.questions[8].levels.6",
    ),
    (lambda d: _question(d, "norms").pop("levels"), "$.questions[8].levels"),
    (lambda d: _question(d, "overall").update(department=""), "$.questions[0].department"),
]


@pytest.mark.parametrize(("change", "path"), BAD_DEFINITIONS)
def test_a_malformed_definition_names_the_json_path(change, path):
    with pytest.raises(DefinitionInvalid) as refused:
        parse_definition(_mutate(change))
    assert refused.value.path == path
    assert path in refused.value.message_en and path in refused.value.message_zh


def test_a_field_of_another_type_is_named_as_such():
    data = _mutate(lambda d: d["questions"][0].update(max_chars=10))
    with pytest.raises(DefinitionInvalid, match="not used by type rating"):
        parse_definition(data)


def test_a_json_syntax_error_gives_line_and_column():
    with pytest.raises(DefinitionInvalid) as refused:
        parse_definition_json('{"slug": "x",\n  "title": }')
    assert "line 2, column 12" in refused.value.message_en
    assert "第 2 行第 12 列" in refused.value.message_zh
    with pytest.raises(DefinitionInvalid, match="not UTF-8"):
        parse_definition_json("问卷".encode("gb18030"))
    with pytest.raises(DefinitionInvalid, match=r"at \$: must be an object"):
        parse_definition_json("[]")


def test_answers_are_checked_and_normalised_by_type():
    definition = parse_definition(hall_template())
    q = definition.question
    assert check_answer(q("overall"), "5") == 5 and check_answer(q("overall"), [" 3 "]) == 3
    assert check_answer(q("recommend"), 0) == 0 and check_answer(q("recommend"), "10") == 10
    assert check_answer(q("how"), "online") == "online"
    # Multiple choices come back in the question's order, duplicates merged.
    assert check_answer(q("improve"), ["guide", "queue", "guide"]) == ["queue", "guide"]
    assert check_answer(q("improve"), "queue") == ["queue"]
    assert check_answer(q("suggest"), "  很好  ") == "很好"
    for empty in (None, "", "  ", [], [""]):
        assert check_answer(q("improve"), empty) is None
    bad = [
        ("overall", 6),
        ("overall", 0),
        ("overall", "²"),
        ("overall", True),
        ("overall", 4.5),
        ("recommend", 11),
        ("norms", "6"),
        ("how", "bus"),
        ("how", ["hall", "online"]),
        ("improve", ["queue", "guide", "attitude"]),
        ("improve", ["queue", "teleport"]),
        ("improve", {"queue": 1}),
        ("suggest", "字" * 501),
        ("suggest", 42),
    ]
    for key, value in bad:
        with pytest.raises(ValidationFailed):
            check_answer(q(key), value)


def test_check_answers_names_every_refused_key_at_once():
    definition = parse_definition(hall_template())
    with pytest.raises(AnswersInvalid) as refused:
        check_answers(definition, {"overall": "9", "how": "bus", "nope": "1", "visits": "one"})
    assert set(refused.value.errors) == {"overall", "how", "nope"}
    zh, en = refused.value.errors["how"]
    assert "没有这个选项" in zh and "'bus'" in en


def test_show_if_hides_answers_and_chains():
    definition = parse_definition(hall_template())
    answers = {"overall": 5, "how": "online", "service": "social", "social_rating": 2, "why": "x"}
    kept = complete_answers(definition, answers)
    # service is asked only at the hall; social_rating depends on service, why on a low overall.
    assert kept == {"overall": 5, "how": "online"}
    shown = [q.key for q in definition.shown_questions({"overall": 2, "how": "hall"})]
    assert "service" in shown and "why" in shown and "social_rating" not in shown


def test_required_answers_missing_are_named():
    definition = parse_definition(hall_template())
    with pytest.raises(AnswersInvalid) as refused:
        complete_answers(definition, {"recommend": 3})
    assert set(refused.value.errors) == {"overall", "how"}


def test_mean_interval_matches_scipy():
    counts = {1: 3, 2: 5, 3: 10, 4: 20, 5: 12}
    values = [v for v, c in counts.items() for _ in range(c)]
    n, mean, sd = stats.mean_sd(counts)
    assert n == 50 and math.isclose(mean, sum(values) / 50)
    low, high = stats.mean_interval(n, mean, sd)
    expected = scipy_stats.t.interval(0.95, n - 1, loc=mean, scale=scipy_stats.sem(values))
    assert math.isclose(low, expected[0]) and math.isclose(high, expected[1])
    assert stats.mean_interval(1, 4.0, None) is None


def test_wilson_and_nps_and_tests():
    low, high = stats.wilson_interval(81, 100)
    assert round(low, 4) == 0.7222 and round(high, 4) == 0.8749
    assert stats.wilson_interval(0, 0) is None
    n, score, (low, high) = stats.nps({10: 50, 8: 30, 3: 20})
    assert n == 100 and math.isclose(score, 30.0) and low < 30 < high
    # A clear change is significant, a small one on small samples is not.
    assert stats.two_proportion_p(80, 100, 50, 100) < 0.001
    assert stats.two_proportion_p(52, 100, 50, 100) > 0.5
    assert stats.welch_p(100, 4.5, 0.5, 100, 3.0, 0.5) < 0.001
    assert stats.welch_p(30, 4.0, 1.0, 30, 3.95, 1.0) > 0.5
    assert stats.nps_difference_p({10: 80, 3: 20}, {10: 20, 3: 80}) < 0.001


def test_schedules_open_in_the_county_time():
    assert schedule_expression("monthly") == PRESETS["monthly"]
    assert schedule_expression("cron", "0  8 * * 1") == "0 8 * * 1"
    after = datetime(2026, 11, 25, 2, tzinfo=UTC)
    monthly = next_opening(PRESETS["monthly"], SHANGHAI, after)
    assert monthly == datetime(2026, 12, 1, 9, tzinfo=SHANGHAI)
    quarterly = next_opening(PRESETS["quarterly"], SHANGHAI, after)
    assert quarterly == datetime(2027, 1, 1, 9, tzinfo=SHANGHAI)
    # Exactly at an opening, the next one is the following month's.
    assert next_opening(PRESETS["monthly"], SHANGHAI, monthly) == datetime(
        2027, 1, 1, 9, tzinfo=SHANGHAI
    )
    for kind, cron in (
        ("weekly", None),
        ("cron", "0 9 1 *"),
        ("cron", "0 25 * * *"),
        ("monthly", "0 9 1 * *"),
    ):
        with pytest.raises(ValidationFailed):
            schedule_expression(kind, cron)


def test_missed_windows_are_skipped_not_replayed():
    long_ago = datetime(2026, 1, 1, tzinfo=UTC)
    now = datetime(2026, 11, 25, 2, tzinfo=UTC)
    # Windows of 7 days: November's ended on the 8th, so December's is next.
    assert next_window(PRESETS["monthly"], SHANGHAI, long_ago, 7, now) == datetime(
        2026, 12, 1, 9, tzinfo=SHANGHAI
    )
    # Windows of 30 days: November's is still running and opens (late).
    assert next_window(PRESETS["monthly"], SHANGHAI, long_ago, 30, now) == datetime(
        2026, 11, 1, 9, tzinfo=SHANGHAI
    )
    assert next_window(PRESETS["monthly"], SHANGHAI, now + timedelta(days=40), 7, now) > now
