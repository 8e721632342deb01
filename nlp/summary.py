"""Extractive summary of a set of complaints: the sentences most of them have in common."""

from __future__ import annotations

import logging
import re

from nlp.keywords import keyword_candidates, tfidf_matrix
from nlp.segment import MAX_CHARS, segment

log = logging.getLogger(__name__)

MAX_SENTENCE_CHARS = 60
# Beyond this many sentences the rest of a very large set adds nothing to a 3-line summary.
MAX_SENTENCES = 20_000
# Two chosen sentences closer than this (cosine of TF-IDF word vectors) say the same thing.
DUPLICATE_COSINE = 0.6

_SENTENCE_END_RE = re.compile(r"[。！？!?；;\n\r]+")
_CLAUSE_RE = re.compile(r"(?<=[，,、：:])")
_MEANINGFUL_RE = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
_SQUEEZE_RE = re.compile(r"[\W_]+")


def _safe(text: object) -> str:
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    # Keep the citizen's characters (no NFKC) so a summary line is a verbatim quote.
    return text.encode("utf-8", "replace").decode("utf-8")[:MAX_CHARS]


def sentences(text: object, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    """Sentences of `text` (split on 。！？!?； and newlines), long ones cut at commas."""
    out: list[str] = []
    for raw in _SENTENCE_END_RE.split(_safe(text)):
        sent = raw.strip(" \t\u3000，,、：:")
        if len(_MEANINGFUL_RE.findall(sent)) < 4:
            continue
        if len(sent) <= max_chars:
            out.append(sent)
            continue
        # A long run-on sentence becomes clause groups that each fit, still verbatim.
        piece = ""
        for clause in _CLAUSE_RE.split(sent):
            if piece and len(piece) + len(clause) > max_chars:
                out.append(piece.rstrip("，,、：: "))
                piece = ""
            piece += clause
            while len(piece) > max_chars:
                out.append(piece[:max_chars])
                piece = piece[max_chars:]
        piece = piece.rstrip("，,、：: ")
        if len(_MEANINGFUL_RE.findall(piece)) >= 4:
            out.append(piece)
    return out


def summarize(texts: list[object], n: int = 3, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    """The `n` sentences closest to the centre of the set, near-repeats left out.

    Each text counts once in the centre (a long letter does not outweigh ten short
    complaints); a sentence's score is its cosine to that centre.
    """
    try:
        return _summarize(list(texts or []), n, max_chars)
    except Exception:  # a summary is decoration: never fail the caller over it
        log.exception("summary failed")
        return []


def _summarize(texts: list[object], n: int, max_chars: int) -> list[str]:
    import numpy as np

    if n <= 0:
        return []
    sents: list[str] = []
    owner: list[int] = []
    for t, text in enumerate(texts):
        for s in sentences(text, max_chars):
            sents.append(s)
            owner.append(t)
        if len(sents) >= MAX_SENTENCES:
            break
    if not sents:
        return []
    words = [keyword_candidates(segment(s)) for s in sents]
    keep = [i for i, w in enumerate(words) if w]
    if not keep:
        return sents[:1] if n else []
    sents = [sents[i] for i in keep]
    owner_arr = np.asarray([owner[i] for i in keep])
    x = tfidf_matrix([words[i] for i in keep])
    # Per-text vector = normalised sum of its sentences; the centre = mean of the texts.
    import scipy.sparse as sp

    n_texts = int(owner_arr.max()) + 1
    member = sp.csr_matrix(
        (np.ones(len(sents)), (owner_arr, np.arange(len(sents)))), shape=(n_texts, len(sents))
    )
    per_text = member @ x
    norms = np.sqrt(np.asarray(per_text.multiply(per_text).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    centre = np.asarray((sp.diags(1.0 / norms) @ per_text).mean(axis=0)).ravel()
    scores = x @ centre
    # A very short fragment can sit near the centre while saying little.
    lengths = np.array([len(_MEANINGFUL_RE.findall(s)) for s in sents], dtype=np.float64)
    scores = scores * np.minimum(1.0, lengths / 8.0)
    order = np.lexsort((np.arange(len(sents)), -scores))
    chosen: list[int] = []
    seen: set[str] = set()
    for i in order:
        key = _SQUEEZE_RE.sub("", sents[i])
        if key in seen:
            continue
        if chosen:
            sims = (x[chosen] @ x[i].T).toarray().ravel()
            if sims.max() >= DUPLICATE_COSINE:
                continue
        seen.add(key)
        chosen.append(int(i))
        if len(chosen) >= n:
            break
    return [sents[i] for i in chosen]
