"""Hot issues (many citizens, one place, one problem) and terms rising against last period."""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from nlp.keywords import keyword_candidates, keyword_stopwords, keywords_for_set, tfidf_matrix
from nlp.segment import clean_text, segment, stopwords
from nlp.summary import sentences, summarize

log = logging.getLogger(__name__)

# Cosine (TF-IDF of content words + place names) above which two texts are one issue. Read by
# eye on the message board: 0.3 joins rewordings of one complaint about one estate without
# joining two estates' water cuts.
DEFAULT_SIMILARITY = 0.3
# Clusters whose centres are this close are one issue seen from two sides.
MERGE_SIMILARITY = 0.5
# Place names count this much more than other words when comparing texts.
PLACE_WEIGHT = 2.0
# Texts naming different specific places (two estates) rarely share a problem on the ground.
OTHER_PLACE_PENALTY = 0.5
HALF_LIFE_DAYS = 30.0
_CHUNK = 1000

# --- places ---------------------------------------------------------------------------------

# Anonymised or real administrative units: A市A3区, A7县, 西地省.
_ADMIN_RE = re.compile(r"(?:[\u4e00-\u9fff]{2}省)?(?:[A-Z]\d{0,2}[市区县])+")
# Where a named place ends; the lookaheads keep 路面, 城管, 村民, 园区 from looking like places.
_PLACE_SUFFIX_RE = re.compile(
    r"小区|花园|家园|新城|公寓|社区|街道|大道|广场|大厦|中学|小学|学校|幼儿园|医院|公园|市场|"
    r"大桥|高速|地铁站|高铁站|车站|"
    r"路(?![面灯况费线由过径人口段上边])|街(?![道头边上])|巷|村(?![民委级组里])|镇(?![长上])|乡(?![下村亲镇])|"
    r"湾|苑|(?<!政)府(?![办])|园(?![区林艺丁长])|城(?![区管市乡镇里中际])"
)
_NAME_BOUNDARY_RE = re.compile(r"[A-Z]\d{0,2}[市区县]|[^\u4e00-\u9fff0-9]")
_COUNTED_RE = re.compile(r"^[\d一二三两几百千万每某各]|[个所家座条些]")
# One-character verbs and prepositions that end a name when read backwards (去|星沙八医院).
_NAME_BREAK_CHARS = frozenset(
    "去做找对到回是在经由向往跟同即就为被让请说叫称把给从而以沿及和与或但且至自"
)
_NAME_TOKEN_RE = re.compile(r"^[\u4e00-\u9fff0-9]+$")
_NOT_NAME = frozenset(
    [
        "在",
        "的",
        "了",
        "到",
        "从",
        "对",
        "向",
        "给",
        "被",
        "把",
        "和",
        "与",
        "及",
        "是",
        "有",
        "无",
        "我",
        "我们",
        "我家",
        "本",
        "该",
        "此",
        "这",
        "那",
        "这个",
        "那个",
        "这里",
        "那里",
        "附近",
        "旁边",
        "周边",
        "周围",
        "对面",
        "门口",
        "位于",
        "住在",
        "家住",
        "居住",
        "地处",
        "所在",
        "关于",
        "投诉",
        "反映",
        "建议",
        "咨询",
        "举报",
        "请问",
        "请",
        "要求",
        "希望",
        "整个",
        "全",
        "各",
        "各个",
        "一个",
        "多个",
        "新",
        "老",
        "旧",
        "大",
        "小",
        "市",
        "区",
        "县",
        "省",
        "镇",
        "乡",
        "村",
        "路",
        "城",
        "其他",
        "其它",
        "所有",
        "部分",
        "哪个",
        "哪些",
        "每个",
        "整治",
        "建设",
        "规划",
        "管理",
        "物业",
        "业主",
        "开发商",
        "居民",
        "学生",
        "孩子",
    ]
)
_GENERIC_PLACES = frozenset(
    [
        "道路",
        "马路",
        "公路",
        "铁路",
        "网路",
        "出路",
        "思路",
        "一路",
        "沿路",
        "街道",
        "社区",
        "小区",
        "学校",
        "医院",
        "公园",
        "市场",
        "村里",
        "乡镇",
        "农村",
        "城市",
        "县城",
        "城区",
        "全城",
        "进城",
        "满城",
        "老城",
        "新城",
        "校园",
        "家园",
        "花园",
        "园区",
        "乡村",
    ]
)
# Common nouns that end like a place name: 水泥路 is a kind of road, 说道路 a misparse.
_GENERIC_ENDINGS = (
    "道路",
    "马路",
    "公路",
    "铁路",
    "水泥路",
    "网路",
    "出路",
    "思路",
    "线路",
    "进城",
    "县城",
    "农村",
    "乡村",
    "城乡",
    "全城",
    "满城",
)


def extract_places(text: object) -> list[str]:
    """Place names in `text`, in order: administrative units (A市A3区) and named places
    (幸福家园小区, 金毛湾, 麓谷大道), found by suffix and trimmed back to their name."""
    s = clean_text(text)
    if not s:
        return []
    found: list[str] = [m.group(0) for m in _ADMIN_RE.finditer(s)]
    named: list[str] = []
    last_end = -1
    for m in _PLACE_SUFFIX_RE.finditer(s):
        if named and m.start() == last_end:
            # 幸福家园 + 小区: a place word right after a place is part of its name.
            named[-1] += m.group(0)
            last_end = m.end()
            continue
        # The name lies after the last administrative unit or punctuation before the suffix.
        window = _NAME_BOUNDARY_RE.split(s[max(0, m.start() - 10) : m.start()])[-1]
        name = ""
        for tok in reversed(segment(window) if window else []):
            if (
                tok in _NOT_NAME
                or tok in _NAME_BREAK_CHARS
                or tok in _GENERIC_PLACES
                or not _NAME_TOKEN_RE.match(tok)
                or len(name) + len(tok) > 8
                or tok in stopwords()
                or tok in keyword_stopwords()
            ):
                break
            name = tok + name
        # A lone digit run (3栋, 6路), a single character or a count (3个小区) is not a name.
        if len(name) < 2 or name.isdigit() or _COUNTED_RE.search(name):
            continue
        place = name + m.group(0)
        if not place.endswith(_GENERIC_ENDINGS):
            named.append(place)
            last_end = m.end()
    # 魅力之城 and 魅力之城小区 are one place: keep the longer spelling.
    for p in named:
        if not any(p != q and p in q for q in named):
            found.append(p)
    out: list[str] = []
    for p in found:
        if p not in out:
            out.append(p)
    return out


def _tag_idf() -> float:
    """The IDF tfidf_matrix gives a word it has never seen, which place tags always are."""
    from nlp.keywords import idf_table

    return idf_table()[1]


def _specific(places: Iterable[str]) -> set[str]:
    return {p for p in places if not _ADMIN_RE.fullmatch(p)}


# --- records --------------------------------------------------------------------------------

_TIME_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y.%m.%d",
)


def parse_time(value: object) -> datetime | None:
    """A naive datetime (UTC if the value was aware) from a datetime, date or common string."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str) and value.strip():
        v = value.strip()
        try:
            return parse_time(datetime.fromisoformat(v))
        except ValueError:
            pass
        for fmt in _TIME_FORMATS:
            try:
                return datetime.strptime(v, fmt)
            except ValueError:
                continue
    return None


@dataclass
class _Record:
    text: str
    title: str
    time: datetime | None
    likes: int
    id: Any


def _field(rec: object, name: str, default: Any = None) -> Any:
    if isinstance(rec, Mapping):
        return rec.get(name, default)
    return getattr(rec, name, default)


def _to_int(value: object) -> int:
    try:
        return max(int(float(value)), 0)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return 0


def _record(rec: object) -> _Record:
    """Accept a mapping, an object with attributes, a (text, time, likes, id) tuple or a str."""
    if isinstance(rec, str):
        return _Record(rec, "", None, 0, None)
    if isinstance(rec, Sequence) and not isinstance(rec, Mapping):
        items = list(rec) + [None] * 4
        return _Record(str(items[0] or ""), "", parse_time(items[1]), _to_int(items[2]), items[3])
    title = str(_field(rec, "title") or "")
    text = _field(rec, "text")
    if not text:
        text = "\n".join(x for x in (title, str(_field(rec, "body") or "")) if x)
    return _Record(
        str(text or ""),
        title,
        parse_time(_field(rec, "time")),
        _to_int(_field(rec, "likes")),
        _field(rec, "id"),
    )


# --- hot issues -----------------------------------------------------------------------------


@dataclass
class HotIssue:
    """A group of texts about one place and problem, with its heat (see `hot_issues`)."""

    indices: list[int]
    title: str
    summary: list[str]
    keywords: list[str]
    places: list[str]
    count: int
    first: datetime | None
    last: datetime | None
    likes: int
    heat: float
    ids: list[Any] = field(default_factory=list)


def heat_index(
    count: int,
    likes: int,
    first: datetime | None,
    last: datetime | None,
    now: datetime | None,
    half_life_days: float = HALF_LIFE_DAYS,
) -> float:
    """Heat = (2·ln(1+count) + ln(1+likes) + ln(1 + count / (1 + span_days/7))) × recency.

    The count is the main term (log-scaled: the 10th complaint adds less than the 2nd); likes
    add the citizens who agreed without writing; the burst term is complaints per week over
    the group's own time span, so 8 complaints in two days beat 8 spread over a year;
    recency = 0.5 + 0.5·2^(−age/half_life), age = days from the group's last text to `now`,
    so an old issue fades to half its heat but is never hidden.
    """
    count = max(count, 0)
    span_days = (last - first).total_seconds() / 86400 if first and last else 0.0
    burst = math.log1p(count / (1.0 + max(span_days, 0.0) / 7.0))
    base = 2.0 * math.log1p(count) + math.log1p(max(likes, 0)) + burst
    if now is None or last is None or half_life_days <= 0:
        return round(base, 4)
    age_days = max((now - last).total_seconds() / 86400, 0.0)
    return round(base * (0.5 + 0.5 * 2.0 ** (-age_days / half_life_days)), 4)


def _neighbours(x, threshold: float, specific: list[set[str]]) -> list[dict[int, float]]:
    """For each row, the other rows at cosine >= threshold (place conflicts penalised)."""
    n = x.shape[0]
    xt = x.T.tocsr()
    nbrs: list[dict[int, float]] = [{} for _ in range(n)]
    low = threshold * OTHER_PLACE_PENALTY if specific else threshold
    for start in range(0, n, _CHUNK):
        block = (x[start : start + _CHUNK] @ xt).tocoo()
        mask = (block.data >= min(low, threshold)) & (block.col != block.row + start)
        for r, c, v in zip(
            (block.row[mask] + start).tolist(),
            block.col[mask].tolist(),
            block.data[mask].tolist(),
            strict=True,
        ):
            a, b = specific[r], specific[c]
            if a and b and not (a & b):
                v *= OTHER_PLACE_PENALTY
            if v >= threshold:
                nbrs[r][c] = v
    return nbrs


def _cluster(x, threshold: float, specific: list[set[str]]) -> list[list[int]]:
    """Star clustering (centre + its neighbours, best-connected centres first), then clusters
    whose centres are close are merged; unlike single linkage this does not chain."""
    import numpy as np

    n = x.shape[0]
    nbrs = _neighbours(x, threshold, specific)
    order = sorted(range(n), key=lambda i: (-len(nbrs[i]), -sum(nbrs[i].values()), i))
    label = [-1] * n
    clusters: list[list[int]] = []
    for c in order:
        if label[c] >= 0 or not nbrs[c]:
            continue
        members = [c] + [j for j in nbrs[c] if label[j] < 0]
        if len(members) < 2:
            continue
        for j in members:
            label[j] = len(clusters)
        clusters.append(sorted(members))
    if len(clusters) > 1:
        import scipy.sparse as sp

        rows = np.concatenate([[k] * len(m) for k, m in enumerate(clusters)])
        cols = np.concatenate(clusters)
        member = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(clusters), n))
        centres = member @ x
        norms = np.sqrt(np.asarray(centres.multiply(centres).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        centres = (sp.diags(1.0 / norms) @ centres).tocsr()
        sims = (centres @ centres.T).tocoo()
        # One level only: a cluster joins its closest larger cluster unless that one has
        # itself joined another, so merges cannot chain across the whole board.
        best: dict[int, tuple[float, int]] = {}
        for a, b, v in zip(sims.row.tolist(), sims.col.tolist(), sims.data.tolist(), strict=True):
            larger = (len(clusters[b]), -b) > (len(clusters[a]), -a)
            if v >= MERGE_SIMILARITY and larger and v > best.get(a, (0.0, -1))[0]:
                best[a] = (v, b)
        into = {a: b for a, (_, b) in best.items() if b not in best}
        merged: dict[int, list[int]] = {}
        for k, m in enumerate(clusters):
            merged.setdefault(into.get(k, k), []).extend(m)
        clusters = [sorted(m) for m in merged.values()]
    covered = {i for m in clusters for i in m}
    clusters.extend([i] for i in range(n) if i not in covered)
    return clusters


def hot_issues(
    records: Iterable[object],
    top: int = 20,
    min_count: int = 2,
    similarity: float = DEFAULT_SIMILARITY,
    now: datetime | None = None,
    half_life_days: float = HALF_LIFE_DAYS,
) -> list[HotIssue]:
    """The `top` hottest issues among `records`, hottest first (formula: `heat_index`).

    A record is a mapping or object with `text` (or `title` + `body`), `time`, `likes` and
    `id`, or a (text, time, likes, id) tuple. Groups of fewer than `min_count` texts are left
    out (pass 1 to let a single much-liked message count). `now` defaults to the latest time
    among the records.
    """
    try:
        recs = [_record(r) for r in (records or [])]
        return _hot_issues(recs, top, min_count, similarity, now, half_life_days)
    except Exception:  # hot issues feed a dashboard: an empty list beats an error page
        log.exception("hot issue detection failed")
        return []


def _hot_issues(recs, top, min_count, similarity, now, half_life_days) -> list[HotIssue]:
    import numpy as np

    if not recs or top <= 0:
        return []
    places = [extract_places(r.text) for r in recs]
    specific = [_specific(p) for p in places]
    # Named places join the words as tags. Their weight comes from this set (a place in
    # half the texts says little), times PLACE_WEIGHT; A市/A3区 are too coarse to count.
    place_df = Counter(p for ps in specific for p in ps)
    n = len(recs)
    place_weight = {
        f"@{p}": PLACE_WEIGHT * (math.log((1 + n) / (1 + c)) + 1) / _tag_idf()
        for p, c in place_df.items()
    }
    words = [
        keyword_candidates(segment(_ADMIN_RE.sub(r" \g<0> ", r.text)))
        + [f"@{p}" for p in sorted(ps)]
        for r, ps in zip(recs, specific, strict=True)
    ]
    x = tfidf_matrix(words, place_weight)
    clusters = _cluster(x, similarity, specific)
    if now is None:
        times = [r.time for r in recs if r.time]
        now = max(times) if times else None
    else:
        now = parse_time(now)
    issues = []
    for members in clusters:
        if len(members) < max(min_count, 1) or not any(recs[i].text.strip() for i in members):
            continue
        times = sorted(recs[i].time for i in members if recs[i].time)
        likes = sum(recs[i].likes for i in members)
        first, last = (times[0], times[-1]) if times else (None, None)
        heat = heat_index(len(members), likes, first, last, now, half_life_days)
        issues.append((heat, members, first, last, likes))
    issues.sort(key=lambda t: (-t[0], t[1][0]))
    out: list[HotIssue] = []
    for heat, members, first, last, likes in issues[:top]:
        sub = x[members]
        centre = np.asarray(sub.mean(axis=0)).ravel()
        rep = members[int(np.argmax(sub @ centre))]
        title = recs[rep].title or next(iter(sentences(recs[rep].text, 40)), recs[rep].text[:40])
        texts = [recs[i].text for i in members]
        counts = Counter(p for i in members for p in dict.fromkeys(places[i]))
        ranked_places = sorted(
            counts, key=lambda p: (_ADMIN_RE.fullmatch(p) is not None, -counts[p], p)
        )
        out.append(
            HotIssue(
                indices=list(members),
                title=title,
                summary=summarize(texts, n=2),
                keywords=keywords_for_set(texts, k=5),
                places=ranked_places[:5],
                count=len(members),
                first=first,
                last=last,
                likes=likes,
                heat=heat,
                ids=[recs[i].id for i in members],
            )
        )
    return out


# --- rising terms ---------------------------------------------------------------------------


@dataclass
class RisingTerm:
    """A term used in significantly more texts this period than the last one."""

    term: str
    current_count: int  # texts of the current period containing the term
    previous_count: int
    current_rate: float  # share of the period's texts containing it
    previous_rate: float
    ratio: float  # current_rate / previous_rate, with +0.5 smoothing when previous is 0
    p_value: float  # one-sided Fisher exact test (hypergeometric), current > previous
    q_value: float  # Benjamini-Hochberg adjusted p-value over all terms tested


def _document_terms(texts: Iterable[object]) -> tuple[Counter[str], int]:
    df: Counter[str] = Counter()
    n = 0
    for t in texts or []:
        df.update(set(keyword_candidates(segment(t))))
        n += 1
    return df, n


def rising_terms(
    current_texts: Iterable[object],
    previous_texts: Iterable[object],
    min_count: int = 5,
    alpha: float = 0.05,
    top: int = 50,
) -> list[RisingTerm]:
    """Terms whose share of texts rose significantly from the previous period to this one.

    Each term seen in at least `min_count` current texts is tested with a one-sided Fisher
    exact test on document counts (exact for the small counts of a county's week); the cutoff
    controls the false discovery rate at `alpha` across all terms tested (Benjamini-Hochberg),
    since hundreds of terms are tested at once. Needs texts in both periods. Sorted by
    p-value, then ratio.
    """
    try:
        return _rising_terms(current_texts, previous_texts, min_count, alpha, top)
    except Exception:
        log.exception("rising terms failed")
        return []


def _rising_terms(current_texts, previous_texts, min_count, alpha, top) -> list[RisingTerm]:
    import numpy as np
    from scipy.stats import hypergeom

    cur, n1 = _document_terms(current_texts)
    prev, n0 = _document_terms(previous_texts)
    if n1 == 0 or n0 == 0:
        return []
    terms = [t for t, c in cur.items() if c >= max(min_count, 1) and c / n1 > prev[t] / n0]
    if not terms:
        return []
    c = np.array([cur[t] for t in terms])
    p = np.array([prev[t] for t in terms])
    # P(X >= c) for X ~ Hypergeom(total n1+n0 texts, c+p containing the term, n1 drawn).
    pvals = hypergeom.sf(c - 1, n1 + n0, c + p, n1)
    # Every term that reached min_count was a test, including those that did not rise.
    m = sum(1 for t, k in cur.items() if k >= max(min_count, 1))
    order = np.argsort(pvals, kind="stable")
    ranked = pvals[order] * m / np.arange(1, len(order) + 1)
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    q = np.empty_like(q_sorted)
    q[order] = q_sorted
    out = []
    for i, t in enumerate(terms):
        if q[i] > alpha:
            continue
        r1, r0 = c[i] / n1, p[i] / n0
        ratio = r1 / r0 if p[i] else ((c[i] + 0.5) / (n1 + 1)) / (0.5 / (n0 + 1))
        out.append(
            RisingTerm(
                t,
                int(c[i]),
                int(p[i]),
                round(float(r1), 4),
                round(float(r0), 4),
                round(float(ratio), 3),
                float(pvals[i]),
                float(q[i]),
            )
        )
    out.sort(key=lambda r: (r.p_value, -r.ratio, r.term))
    return out[: max(top, 0)]


# --- evaluation on the board data ------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """`python -m nlp.hot show FILE.csv [--top N]`: print the hottest issues of a CSV with
    columns title, body, time, likes (the shape of tipdm2020_hot_messages)."""
    import csv
    import sys
    import time as _time

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] != "show":
        print(main.__doc__)
        return
    top = int(args[args.index("--top") + 1]) if "--top" in args else 10
    csv.field_size_limit(10_000_000)
    with open(args[1], encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    t0 = _time.perf_counter()
    issues = hot_issues(rows, top=top)
    elapsed = _time.perf_counter() - t0
    print(f"{len(rows)} messages, {elapsed:.1f} s")
    for k, h in enumerate(issues, 1):
        span = f"{h.first:%Y-%m-%d} .. {h.last:%Y-%m-%d}" if h.first and h.last else "?"
        print(f"\n#{k} heat {h.heat:.2f}  n={h.count}  likes={h.likes}  {span}")
        print(f"   title: {h.title}")
        print(f"   places: {' / '.join(h.places)}   keywords: {' '.join(h.keywords)}")
        for i in h.indices[:6]:
            print(f"     - {rows[i].get('title', '')[:60]}  ({rows[i].get('likes', '')})")


if __name__ == "__main__":
    main()
