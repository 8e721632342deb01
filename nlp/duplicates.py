"""Near-duplicate citizen texts: the same complaint posted twice or reworded.

Texts are compared as TF-IDF vectors of character bigrams (punctuation, spaces and emoji
dropped), by cosine similarity. Character bigrams survive rewording, word-order changes and
segmentation differences better than words do. Candidate pairs come from a sparse product
that leaves out the most common bigrams (小区, 问题…), which keeps 10,000 texts to seconds;
every candidate is then scored on its full vector, so the similarity reported is exact.
"""

from __future__ import annotations

import logging
import re
from typing import NamedTuple

from nlp.segment import clean_text

log = logging.getLogger(__name__)

# Cosine of character-bigram TF-IDF vectors above which two texts are one complaint. Measured
# on hand-written rewordings: reworded duplicates score 0.45-0.8, distinct complaints about
# the same kind of problem (two water cuts in two estates) 0.1-0.3.
DEFAULT_THRESHOLD = 0.4
# Bigrams in more than this share of texts are left out of candidate generation only.
_CANDIDATE_MAX_DF = 0.02
_CHUNK = 1000
_HASH_BITS = 22

_DROP_RE = re.compile(r"[\W_]+")
# Courtesy and board boilerplate shared by unrelated messages; dropped before comparing.
_BOILERPLATE_RE = re.compile(
    r"尊敬的(?:\w{0,6}?)领导|领导(?:您|你)好|(?:您|你)好|谢谢|感谢|请问|希望|请?尽快解决|"
    r"(?:相关|有关)部门|反映|问题"
)


class Duplicate(NamedTuple):
    """One candidate that repeats a text: its index and the cosine similarity (0-1)."""

    index: int
    similarity: float


def normalise(text: object) -> str:
    """Text reduced to what duplicates share: letters, digits and CJK, lower-cased."""
    return _DROP_RE.sub("", _BOILERPLATE_RE.sub("", clean_text(text))).lower()


def shingles(text: object) -> list[str]:
    """Character bigrams of the normalised text (the single character if only one)."""
    s = normalise(text)
    if len(s) < 2:
        return [s] if s else []
    return [s[i : i + 2] for i in range(len(s) - 1)]


def _bigram_codes(text: object):
    """Character bigrams of the normalised text as int64 codes (code point pairs)."""
    import numpy as np

    s = normalise(text)
    cp = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    if len(cp) < 2:
        return cp  # one character stands for itself; code points never collide with pairs
    return (cp[:-1] + 1) * 0x110000 + cp[1:]


def _vectorise(texts: list[object]):
    """L2-normalised sublinear TF-IDF matrix of character bigrams (scipy CSR, float32).

    Built with numpy on code-point pairs instead of a Python vocabulary: 10,000 letters take
    well under a second.
    """
    import numpy as np
    import scipy.sparse as sp

    codes = [_bigram_codes(t) for t in texts]
    lengths = np.fromiter((len(c) for c in codes), dtype=np.int64, count=len(codes))
    if not lengths.sum():
        return None
    flat = np.concatenate(codes).astype(np.uint64)
    rows = np.repeat(np.arange(len(codes)), lengths)
    # Hash the bigrams into 2^22 columns (Fibonacci hashing) rather than sorting a
    # vocabulary: a collision between two rare bigrams moves a similarity by a hair.
    hashed = (flat * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - _HASH_BITS)
    # Only the columns some text uses, renumbered 0..k-1: the same vectors and similarities,
    # without arrays of 2^22 entries, which made one text against a few hundred cost ~0.4 s.
    used, cols = np.unique(hashed, return_inverse=True)
    x = sp.csr_matrix(
        (np.ones(len(flat), dtype=np.float32), (rows, cols.ravel())),
        shape=(len(codes), len(used)),
    )
    x.sum_duplicates()
    x.data = 1.0 + np.log(x.data)
    df = np.bincount(x.indices, minlength=len(used))
    idf = (np.log((1 + len(codes)) / (1 + df)) + 1.0).astype(np.float32)
    x.data *= idf[x.indices]
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    x = sp.diags((1.0 / norms).astype(np.float32)) @ x
    return x.tocsr()


def _candidate_pairs(x, cutoff: float):
    """Index pairs (i < j) whose similarity over the less common bigrams reaches `cutoff`."""
    import numpy as np
    import scipy.sparse as sp

    n = x.shape[0]
    df = np.diff(x.tocsc().indptr)
    max_df = max(20, int(_CANDIDATE_MAX_DF * n))
    common = df > max_df
    # Rows are re-normalised over the bigrams kept, so texts made only of common bigrams
    # still find their twins; a text with no rare bigram at all keeps its full vector.
    xr = x.copy()
    xr.data[common[xr.indices]] = 0.0
    xr.eliminate_zeros()
    norms = np.sqrt(np.asarray(xr.multiply(xr).sum(axis=1)).ravel())
    empty = norms == 0
    if empty.any():
        xr = (sp.diags(empty.astype(np.float32)) @ x + xr).tocsr()
        norms = np.where(empty, 1.0, norms)
    xr = (sp.diags((1.0 / norms).astype(np.float32)) @ xr).tocsr()
    xt = xr.T.tocsr()
    rows, cols = [], []
    for start in range(0, n, _CHUNK):
        block = (xr[start : start + _CHUNK] @ xt).tocoo()
        mask = (block.data >= cutoff) & (block.col > block.row + start)
        rows.append(block.row[mask] + start)
        cols.append(block.col[mask])
    if not rows:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(rows), np.concatenate(cols)


def _pair_similarity(x, i, j):
    """Exact cosine of rows i[k] and j[k] of the normalised matrix x."""
    import numpy as np

    if len(i) == 0:
        return np.empty(0, dtype=np.float32)
    out = np.empty(len(i), dtype=np.float32)
    step = 200_000
    for s in range(0, len(i), step):
        out[s : s + step] = np.asarray(
            x[i[s : s + step]].multiply(x[j[s : s + step]]).sum(axis=1)
        ).ravel()
    return out


def similar_pairs(texts: list[object], threshold: float = DEFAULT_THRESHOLD):
    """All pairs (i, j, similarity) with i < j and cosine similarity >= `threshold`."""
    texts = list(texts or [])
    if len(texts) < 2:
        return []
    x = _vectorise(texts)
    if x is None:
        return []
    # Similarity over the rarer bigrams tracks the full one; 0.6 × threshold lets through
    # pairs whose shared bigrams are mostly common ones, then every pair is scored exactly.
    i, j = _candidate_pairs(x, max(threshold, 0.0) * 0.6)
    sim = _pair_similarity(x, i, j)
    keep = sim >= threshold - 1e-6
    return [
        (int(a), int(b), round(min(float(s), 1.0), 4))
        for a, b, s in zip(i[keep], j[keep], sim[keep], strict=True)
    ]


def group_near_duplicates(
    texts: list[object], threshold: float = DEFAULT_THRESHOLD, min_size: int = 2
) -> list[list[int]]:
    """Groups of indices of texts that repeat one another (linked by similarity >= threshold).

    Groups are connected components of the "similar" relation, largest first; texts with no
    near-duplicate are left out unless `min_size` is 1. Empty texts never group.
    """
    try:
        texts = list(texts or [])
        pairs = similar_pairs(texts, threshold)
    except Exception:  # a grouping failure must not break the caller's request
        log.exception("near-duplicate grouping failed")
        return [[i] for i in range(len(texts))] if min_size <= 1 else []
    parent = list(range(len(texts)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b, _ in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for i in range(len(texts)):
        groups.setdefault(find(i), []).append(i)
    out = [g for g in groups.values() if len(g) >= max(min_size, 1)]
    out.sort(key=lambda g: (-len(g), g[0]))
    return out


def find_duplicates_of(
    text: object,
    candidates: list[object],
    threshold: float = DEFAULT_THRESHOLD,
    top: int = 10,
) -> list[Duplicate]:
    """Candidates that repeat `text`, most similar first, as (index, similarity) pairs."""
    try:
        candidates = list(candidates or [])
        if not candidates or not normalise(text):
            return []
        x = _vectorise([*candidates, text])
        if x is None:
            return []
        sims = (x[:-1] @ x[-1].T).toarray().ravel()
    except Exception:
        log.exception("duplicate lookup failed")
        return []
    order = sorted(
        (i for i in range(len(candidates)) if sims[i] >= threshold - 1e-6),
        key=lambda i: (-sims[i], i),
    )
    return [Duplicate(i, round(min(float(sims[i]), 1.0), 4)) for i in order[: max(top, 0)]]
