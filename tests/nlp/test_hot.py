"""Hot issues rank a burst above scattered complaints; rising terms find a planted surge."""

import random
from datetime import datetime, timedelta, timezone

import pytest

from nlp.hot import extract_places, heat_index, hot_issues, parse_time, rising_terms

T0 = datetime(2024, 6, 1, 8, 0)

BURST = [  # 8 complaints about one estate's water cut within two days
    "幸福家园小区停水两天了，物业不给说法，老人孩子没水用。",
    "幸福家园小区突然停水，也没有提前通知，什么时候恢复供水？",
    "反映幸福家园小区停水问题，已经一天一夜没有自来水了。",
    "幸福家园小区3栋停水，物业电话打不通，请自来水公司尽快恢复供水。",
    "幸福家园小区大面积停水，居民做饭洗澡都成问题。",
    "请问幸福家园小区停水什么时候结束？家里有婴儿急需用水。",
    "幸福家园小区连续停水，物业说是管道爆裂，但一直没人来修。",
    "幸福家园小区停水快两天，超市桶装水都卖光了。",
]
SCATTERED = [  # 2 complaints about a street light, two months apart
    "城南路路灯坏了很久，晚上出行不安全，希望修一修路灯。",
    "城南路的路灯又坏了，晚上一片漆黑，路灯一直没人修。",
]
OTHERS = [
    "实验小学门口早高峰交通拥堵，建议增加交警疏导。",
    "农贸市场占道经营严重，影响通行。",
    "社保卡丢失后如何补办？",
    "医保报销比例是多少？",
]


def _records():
    recs = []
    for k, text in enumerate(BURST):
        recs.append({"id": f"b{k}", "text": text, "time": T0 + timedelta(hours=5 * k)})
    recs.append({"id": "s0", "text": SCATTERED[0], "time": T0 - timedelta(days=60)})
    recs.append({"id": "s1", "text": SCATTERED[1], "time": T0 + timedelta(days=1)})
    for k, text in enumerate(OTHERS):
        recs.append({"id": f"o{k}", "text": text, "time": T0 - timedelta(days=10 * k)})
    return recs


def test_burst_of_eight_ranks_above_two_scattered():
    issues = hot_issues(_records())
    assert len(issues) >= 2
    top, second = issues[0], issues[1]
    assert sorted(top.ids) == [f"b{k}" for k in range(8)]
    assert top.count == 8 and top.indices == list(range(8))
    assert sorted(second.ids) == ["s0", "s1"]
    assert top.heat > second.heat
    assert "停水" in top.keywords
    assert "幸福家园小区" in top.places
    assert "幸福家园" in top.title and "停水" in top.title
    assert top.summary and all(any(s in t for t in BURST) for s in top.summary)
    assert top.first == T0 and top.last == T0 + timedelta(hours=35)
    # Unrelated one-off complaints are not hot issues.
    assert not any(i.startswith("o") for h in issues for i in h.ids)


def test_likes_raise_heat_and_min_count_one_admits_singletons():
    recs = _records()
    recs[-1]["likes"] = 5000
    issues = hot_issues(recs, min_count=1)
    assert issues[0].ids == ["o3"] and issues[0].likes == 5000
    assert len(hot_issues(recs, top=3, min_count=1)) == 3


def test_heat_formula():
    day = timedelta(days=1)
    assert heat_index(8, 0, T0, T0 + day, T0 + day) > heat_index(2, 0, T0, T0 + 60 * day, T0)
    # Same count, shorter span = a burst = hotter.
    assert heat_index(5, 0, T0, T0 + day, T0 + day) > heat_index(
        5, 0, T0, T0 + 90 * day, T0 + 90 * day
    )
    # Age halves heat at most.
    fresh = heat_index(5, 10, T0, T0, T0)
    old = heat_index(5, 10, T0, T0, T0 + 3650 * day)
    assert fresh / 2 <= old < fresh
    assert heat_index(0, 0, None, None, None) == 0


def test_records_as_tuples_objects_and_strings():
    tuples = [(t, T0.isoformat(), 0, k) for k, t in enumerate(BURST)]
    assert hot_issues(tuples)[0].count == 8
    assert hot_issues(BURST)[0].count == 8  # plain strings: no time, still grouped

    class Rec:
        def __init__(self, text):
            self.title, self.body, self.time, self.likes = "", text, "2024/6/1 8:00:00", "3"

    (issue,) = hot_issues([Rec(t) for t in BURST])
    assert issue.likes == 24 and issue.first == T0


def test_extract_places():
    places = extract_places("A市A3区幸福家园小区门口的麓谷大道夜间施工，春华镇金鼎村也有")
    assert places[0] == "A市A3区"
    assert {"幸福家园小区", "麓谷大道", "春华镇金鼎村"} <= set(places)
    assert extract_places("城管在路面执法，我们小区的道路坏了") == []


def test_parse_time():
    assert parse_time("2019/2/14 20:00:00") == datetime(2019, 2, 14, 20)
    aware = datetime(2024, 6, 1, 8, tzinfo=timezone(timedelta(hours=8)))
    assert parse_time(aware) == datetime(2024, 6, 1, 0)
    assert parse_time("yesterday") is None and parse_time(None) is None


def _period(rng, n, surge=0):
    stable = ["停车难", "噪音扰民", "物业服务差", "路灯不亮", "垃圾清运", "学校招生", "社保卡补办"]
    texts = [f"{rng.choice(stable)}，请处理。编号{rng.randint(1, 9)}号楼" for _ in range(n)]
    for k in range(surge):
        texts[k] = f"小区电梯故障困人，电梯维保不到位。{texts[k]}"
    return texts


def test_rising_terms_find_a_planted_surge_and_not_stable_terms():
    rng = random.Random(11)
    previous = _period(rng, 200, surge=2)
    current = _period(rng, 200, surge=30)
    rising = rising_terms(current, previous, min_count=5)
    terms = {r.term: r for r in rising}
    assert "电梯" in terms
    lift = terms["电梯"]
    assert lift.current_count == 30 and lift.previous_count == 2
    assert lift.current_rate == pytest.approx(0.15) and lift.ratio == pytest.approx(15.0)
    assert lift.p_value < 1e-5 and lift.q_value <= 0.05
    for stable in ("停车难", "噪音扰民", "路灯", "物业", "垃圾"):
        assert stable not in terms


def test_rising_terms_corrects_for_many_tests():
    rng = random.Random(5)
    # Two samples of the same distribution: nothing should rise.
    assert rising_terms(_period(rng, 300), _period(rng, 300), min_count=3) == []


@pytest.mark.parametrize(
    "bad",
    [
        [],
        [""],
        ["😀"],
        ["a" * 100_000],
        ["\ud800停水"],
        None,
        [None],
        [{"text": None, "time": "bad", "likes": "x"}],
        [(None,)],
        [42],
    ],
)
def test_bad_input_never_raises(bad):
    assert isinstance(hot_issues(bad), list)
    assert isinstance(hot_issues(bad, min_count=1), list)
    assert isinstance(rising_terms(bad, bad), list)
    assert isinstance(rising_terms(BURST, bad), list)
    assert isinstance(extract_places(bad[0] if bad else None), list)
