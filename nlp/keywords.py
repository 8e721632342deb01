"""Keywords of one citizen text or of a set of texts: content words weighted by TF-IDF.

The IDF table (nlp/artifacts/idf.json) is built from public government message-board data by
`python -m nlp.keywords build-idf` and shipped with the package; words it does not know get
the largest IDF, since a word never seen on the board is as specific as a word can be.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from itertools import compress
from pathlib import Path

from nlp.segment import content_words, kept_tokens, segment, stopwords

log = logging.getLogger(__name__)

IDF_FILE = "idf.json"
# Words seen in fewer documents than this are left out of the table (they get max_idf
# anyway), which keeps the artifact small.
MIN_DF = 2

# Anonymised place codes (A, A3, K9) and bare numbers/units carry no meaning as keywords.
_CODE_RE = re.compile(r"^(?:[A-Za-z]\d{0,3}|\d+[A-Za-z]{0,2}|[A-Za-z]{1,2}\d+)$")

# A negation and the word it negates are one keyword: 不+满意 is 不满意, not 满意 (the
# opposite complaint); 不+作为 is 不作为. jieba keeps some of them whole already (没人管).
NEGATIONS = frozenset(
    "不 没 没有 未 无 别 莫 勿 非 不再 从不 从没 从未 并不 并没有 毫无 没人 无人 不太 不够".split()  # noqa: SIM905
)
# The longest word joined to a negation (longer words are phrases, not one verb or adjective).
_NEGATED_MAX_CHARS = 3
_HAN_WORD_RE = re.compile(r"^[\u4e00-\u9fff]+$")

_idf_lock = threading.Lock()
_idf: tuple[dict[str, float], float] | None = None


def _read_data_lines(name: str) -> list[str]:
    data = resources.files("nlp").joinpath("data", name).read_text(encoding="utf-8")
    return [ln.strip() for ln in data.splitlines() if ln.strip() and not ln.startswith("#")]


@lru_cache(maxsize=1)
def keyword_stopwords() -> frozenset[str]:
    """Civic words too common on a complaint board to describe one (问题, 反映, 领导…)."""
    try:
        return frozenset(_read_data_lines("keyword_stopwords.txt"))
    except OSError:  # a broken install still gives keywords, only noisier ones
        log.warning("nlp/data/keyword_stopwords.txt missing")
        return frozenset()


def idf_table() -> tuple[dict[str, float], float]:
    """The shipped IDF table and the IDF given to unknown words, loaded once (thread-safe)."""
    global _idf
    if _idf is None:
        with _idf_lock:
            if _idf is None:
                try:
                    raw = (
                        resources.files("nlp")
                        .joinpath("artifacts", IDF_FILE)
                        .read_text(encoding="utf-8")
                    )
                    data = json.loads(raw)
                    _idf = (dict(data["idf"]), float(data["max_idf"]))
                except (OSError, ValueError, KeyError, TypeError):
                    # Without the table every word weighs the same: keywords degrade to the
                    # most frequent content words, which is still useful.
                    log.warning("nlp/artifacts/%s missing or unreadable; flat IDF", IDF_FILE)
                    _idf = ({}, 1.0)
    return _idf


def keyword_candidates(tokens: Iterable[str], words: list[str] | None = None) -> list[str]:
    """Content words of `tokens` that may be keywords (no civic boilerplate, no place codes).

    `words` may pass `content_words(tokens)` when the caller already has them.
    """
    tokens = list(tokens)
    # jieba reads "A3区麓谷大道" as A3 | 区麓 | 谷 …: give the unit character back to the code.
    # Most texts have no code before a unit character: one C-level search says so.
    if _CODE_THEN_UNIT.search("\n".join(tokens)):
        for i in range(1, len(tokens)):
            t = tokens[i]
            if len(t) > 1 and t[0] in "市区县" and _CODE_RE.match(tokens[i - 1]):
                tokens[i] = t[1:]
                words = None
    if not NEGATIONS.isdisjoint(tokens):
        tokens = join_negations(tokens)
        words = None
    if words is None:
        words = content_words(tokens)
    return kept_tokens(words, _candidate, _is_candidate)


def _is_candidate(t: str) -> bool:
    return not (
        t in keyword_stopwords()
        or len(t) > 20
        or _CODE_RE.match(t)
        or (t.isascii() and (len(t) < 3 or t.lower() in english_stopwords()))
    )


# Whether a content word may be a keyword, by word (nlp.segment.kept_tokens).
_candidate: dict[str, bool] = {}


def join_negations(tokens: list[str]) -> list[str]:
    """`tokens` with each negation joined to the short Chinese word after it (不 满意 -> 不满意).

    A word that is a stop word (不 的), another negation, or not Chinese stays apart.
    """
    # Only the negations are visited (found by one C-level pass); the rest is copied in slices.
    # A joined word is never a negation, so no negation is ever swallowed by the one before.
    size = len(tokens)
    stop = stopwords()
    out: list[str] = []
    done = 0
    for i in compress(range(size), map(NEGATIONS.__contains__, tokens)):
        if i + 1 < size:
            nxt = tokens[i + 1]
            if (
                len(nxt) <= _NEGATED_MAX_CHARS
                and nxt not in NEGATIONS
                and nxt not in stop
                and _HAN_WORD_RE.match(nxt)
            ):
                out += tokens[done:i]
                out.append(tokens[i] + nxt)
                done = i + 2
    out += tokens[done:]
    return out


@lru_cache(maxsize=1)
def english_stopwords() -> frozenset[str]:
    """Common English function words (lower case): never keywords of an English message."""
    try:
        return frozenset(w.lower() for w in _read_data_lines("english_stopwords.txt"))
    except OSError:
        log.warning("nlp/data/english_stopwords.txt missing")
        return frozenset()


# A token matching _CODE_RE followed by one starting with a unit character, in the tokens
# joined by newlines (`$` in _CODE_RE also matches before a token's own trailing newline).
_CODE_THEN_UNIT = re.compile(
    r"(?:^|\n)(?:[A-Za-z]\d{0,3}|\d+[A-Za-z]{0,2}|[A-Za-z]{1,2}\d+)\n?\n[市区县]"
)


def keywords_for_tokens(
    tokens: list[str], k: int = 5, words: list[str] | None = None
) -> list[str]:
    """The `k` words of one segmented text with the highest term frequency × IDF.

    `words` may pass `content_words(tokens)` when the caller already has them.
    """
    if k <= 0 or not tokens:
        return []
    try:
        words = keyword_candidates(tokens, words)
    except TypeError:
        return []
    if not words:
        return []
    idf, max_idf = idf_table()
    get = idf.get
    tf = Counter(words)  # keys in order of first occurrence
    # Ties go to the word met first (a stable sort keeps first-occurrence order): titles and
    # opening lines say what a complaint is about.
    weight = {w: -c * get(w, max_idf) for w, c in tf.items()}
    return sorted(weight, key=weight.__getitem__)[:k]


def keywords(text: object, k: int = 5) -> list[str]:
    """The `k` most characteristic words of one text (empty list for empty or odd input)."""
    return keywords_for_tokens(segment(text), k)


def weighted_keywords_for_set(texts: Iterable[object], k: int = 10) -> list[tuple[str, float]]:
    """Keywords of a set of texts with their scores: Σ over texts of (1 + ln tf) × IDF."""
    if k <= 0:
        return []
    idf, max_idf = idf_table()
    score: Counter[str] = Counter()
    doc_freq: Counter[str] = Counter()
    first: dict[str, int] = {}
    n = 0
    for text in texts if texts is not None else ():
        tf = Counter(keyword_candidates(segment(text)))
        for w, c in tf.items():
            score[w] += (1.0 + math.log(c)) * idf.get(w, max_idf)
            first.setdefault(w, n)
        doc_freq.update(tf.keys())
        n += 1
    # A word from a single text of a larger set is that text's detail, not the set's theme.
    if n >= 4 and any(c >= 2 for c in doc_freq.values()):
        score = Counter({w: s for w, s in score.items() if doc_freq[w] >= 2})
    if not score:
        return []
    ranked = sorted(score.items(), key=lambda kv: (-kv[1], first[kv[0]]))
    return [(w, round(s, 4)) for w, s in ranked[:k]]


def keywords_for_set(texts: Iterable[object], k: int = 10) -> list[str]:
    """The `k` words that best characterise a set of texts (TF-IDF summed over the texts)."""
    return [w for w, _ in weighted_keywords_for_set(texts, k)]


def tfidf_matrix(token_lists: list[list[str]], extra_weight: dict[str, float] | None = None):
    """Row-normalised (1 + ln tf) × IDF matrix (scipy CSR), one row per list of words.

    Columns are the words in order of first appearance; `extra_weight` multiplies the weight
    of chosen words (e.g. place names when grouping by place).
    """
    import numpy as np
    import scipy.sparse as sp

    idf, max_idf = idf_table()
    vocab: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    vals: list[int] = []
    for r, words in enumerate(token_lists):
        counts: Counter[int] = Counter(vocab.setdefault(w, len(vocab)) for w in words)
        rows.extend([r] * len(counts))
        cols.extend(counts.keys())
        vals.extend(counts.values())
    extra = extra_weight or {}
    weights = np.fromiter(
        (idf.get(w, max_idf) * extra.get(w, 1.0) for w in vocab),
        dtype=np.float64,
        count=len(vocab),
    )
    x = sp.csr_matrix(
        (np.asarray(vals, dtype=np.float64), (rows, cols)), shape=(len(token_lists), len(vocab))
    )
    x.data = (1.0 + np.log(x.data)) * weights[x.indices]
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return (sp.diags(1.0 / norms) @ x).tocsr()


# --- building the IDF artifact -------------------------------------------------------------

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _corpus_documents(data_dir: Path) -> Iterable[str]:
    import csv

    csv.field_size_limit(10_000_000)
    messages = data_dir / "tipdm2020_messages" / "train.csv"
    with messages.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            body = row.get("body") or "".join((row.get("body_seg") or "").split())
            yield f"{row.get('title') or ''}\n{body}"
    for name in ("tipdm2020_hot_messages", "tipdm2020_replies"):
        path = data_dir / name / "train.csv"
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                yield f"{row.get('title') or ''}\n{row.get('body') or ''}"


def build_idf(data_dir: Path, out: Path, min_df: int = MIN_DF) -> dict:
    """Count document frequencies of content words over the board data and write the table."""
    seen: set[str] = set()
    df: Counter[str] = Counter()
    n_docs = 0
    for doc in _corpus_documents(data_dir):
        key = "".join(doc.split())
        if not key or key in seen:  # the same message posted twice counts once
            continue
        seen.add(key)
        n_docs += 1
        df.update(set(content_words(segment(doc))))
    # Smoothed IDF as in scikit-learn: ln((1 + N) / (1 + df)) + 1.
    max_idf = math.log((1 + n_docs) / 2) + 1
    idf = {
        w: round(math.log((1 + n_docs) / (1 + c)) + 1, 3)
        for w, c in sorted(df.items())
        if c >= min_df
    }
    table = {
        "source": "tipdm2020_messages + tipdm2020_hot_messages + tipdm2020_replies (train)",
        "n_docs": n_docs,
        "min_df": min_df,
        "max_idf": round(max_idf, 3),
        "idf": idf,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    return table


def main(argv: list[str] | None = None) -> None:
    """`python -m nlp.keywords build-idf [--data DIR] [--out FILE]`."""
    import click

    @click.group()
    def cli() -> None:
        """Keyword tools."""

    @cli.command("build-idf")
    @click.option(
        "--data",
        "data_dir",
        type=click.Path(path_type=Path),
        default=DEFAULT_DATA,
        show_default=True,
        help="Directory holding the tipdm2020_* datasets.",
    )
    @click.option(
        "--out",
        type=click.Path(path_type=Path),
        default=Path(__file__).resolve().parent / "artifacts" / IDF_FILE,
        show_default=True,
    )
    @click.option("--min-df", type=int, default=MIN_DF, show_default=True)
    def build_idf_cmd(data_dir: Path, out: Path, min_df: int) -> None:
        """Rebuild the IDF table from the message-board data."""
        table = build_idf(data_dir, out, min_df)
        click.echo(
            f"{out}: {table['n_docs']} documents, {len(table['idf'])} words, "
            f"{out.stat().st_size / 1e6:.2f} MB"
        )

    cli.main(args=argv, prog_name="python -m nlp.keywords")


if __name__ == "__main__":
    main()
