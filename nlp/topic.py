"""Topic routing: a linear model over word and character n-grams, shipped as plain arrays.

The artifact (`nlp/artifacts/topic.npz`) holds the feature vocabulary, IDF weights, the
coefficients and a softmax temperature fitted on cross-validated scores; scoring is a sparse
dot product in numpy, so neither scikit-learn nor pickles are needed at run time.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from itertools import chain, islice, pairwise, repeat
from operator import add
from pathlib import Path

import numpy as np

from nlp.keytable import KeyTable
from nlp.model_store import ACTIVE
from nlp.segment import clean_text, content_words, segment

log = logging.getLogger(__name__)

ARTIFACT = "topic.npz"
# Below this probability a text needs review (goes to triage with its top 3). Chosen by
# `nlp.train.train_topic` from 5-fold cross-validation: the lowest threshold at which the
# auto-routed messages (title + body) are >= 97.5 % right; it is kept in the artifact's
# meta["review_threshold"] and a test checks the two agree. docs/nlp.md has the trade-off.
DEFAULT_REVIEW_THRESHOLD = 0.92

# Runs of Chinese characters: character n-grams never cross punctuation, digits or Latin.
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]+")


@dataclass(frozen=True)
class TopicResult:
    """A routing decision: best label, its calibrated probability, the top 3, review flag."""

    label: str | None
    probability: float
    top3: tuple[tuple[str, float], ...]
    needs_review: bool


def word_features(words: list[str]) -> list[str]:
    """Word features: each content word and each pair of adjacent content words."""
    feats = ["w" + w for w in words]
    feats += ["b" + a + "_" + b for a, b in pairwise(words)]
    return feats


def char_features(text: str) -> list[str]:
    """Character 1-3 grams inside runs of Han characters (never across other characters)."""
    feats: list[str] = []
    for run in _HAN_RUN.findall(text):
        feats += run
        feats += map(add, run, run[1:])
        feats += map("".join, zip(run, run[1:], run[2:], strict=False))
    return feats


def topic_features(tokens: list[str], text: str, words: list[str] | None = None) -> list[str]:
    """Feature strings of one text: content words, word bigrams, character 1-3 grams.

    `text` must already be cleaned (`clean_text`); `tokens` are its jieba tokens. Word
    features carry a Latin prefix, so they never collide with the Han character n-grams.
    `words` may pass `content_words(tokens)` when the caller already has them. Training uses
    these strings; scoring computes the same features with array operations (`TopicModel`).
    """
    if words is None:
        words = content_words(tokens)
    return word_features(words) + char_features(text)


# Han characters U+4E00..U+9FFF as integers 0..HAN_SPAN-1; an n-gram is a base-HAN_SPAN number.
_HAN_FIRST = 0x4E00
HAN_SPAN = 0x9FFF - _HAN_FIRST + 1


def _is_han_gram(term: str) -> bool:
    return 1 <= len(term) <= 3 and all("\u4e00" <= ch <= "\u9fff" for ch in term)


def _gram_key(term: str) -> int:
    key = 0
    for ch in term:
        key = key * HAN_SPAN + ord(ch) - _HAN_FIRST
    return key


class TopicModel:
    """A linear topic model: sublinear TF-IDF, L2-normalised, scores softmaxed at temperature.

    Word features are found through a dict; character n-grams as integer keys in hash tables
    (`KeyTable`) for a whole batch at once, which is what makes scoring cheap.
    """

    def __init__(self, vocabulary, idf, coef, intercept, labels, temperature=1.0, meta=None):
        self.idf = np.asarray(idf, dtype=np.float32)
        self.coef = np.asarray(coef, dtype=np.float32)  # shape (n_features, n_labels)
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.labels: list[str] = list(labels)
        self.temperature = float(temperature)
        self.meta: dict = dict(meta or {})
        self.word_index: dict[str, int] = {}
        grams: dict[int, tuple[list[int], list[int]]] = {1: ([], []), 2: ([], []), 3: ([], [])}
        for term, i in vocabulary.items():
            if _is_han_gram(term):
                grams[len(term)][0].append(_gram_key(term))
                grams[len(term)][1].append(i)
            else:
                self.word_index[term] = i
        self.gram_index = {n: _sorted_index(keys, ids) for n, (keys, ids) in grams.items()}

    @property
    def n_features(self) -> int:
        return len(self.idf)

    # -- persistence -------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the model as one compressed .npz (arrays plus a JSON header; no pickles)."""
        terms = sorted(self.word_index, key=self.word_index.__getitem__)
        blob = "\n".join(terms).encode("utf-8")
        header = {"labels": self.labels, "temperature": self.temperature, "meta": self.meta}
        grams = {}
        for n, (keys, ids) in self.gram_index.items():
            grams[f"gram{n}_keys"] = keys
            grams[f"gram{n}_ids"] = ids.astype(np.int32)
        with open(path, "wb") as fh:
            np.savez_compressed(
                fh,
                words=np.frombuffer(blob, dtype=np.uint8),
                word_ids=np.array([self.word_index[t] for t in terms], dtype=np.int32),
                **grams,
                idf=self.idf.astype(np.float32),
                coef=self.coef.astype(np.float16),
                intercept=self.intercept.astype(np.float32),
                header=np.frombuffer(json.dumps(header, ensure_ascii=False).encode(), np.uint8),
            )

    @classmethod
    def load(cls, path) -> TopicModel:
        """Read a model written by `save` (a path or an importlib Traversable)."""
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
            header = json.loads(npz["header"].tobytes().decode("utf-8"))
            model = cls(
                vocabulary={},
                idf=npz["idf"],
                coef=npz["coef"].astype(np.float32),
                intercept=npz["intercept"],
                labels=header["labels"],
                temperature=header["temperature"],
                meta=header.get("meta", {}),
            )
            blob = npz["words"].tobytes().decode("utf-8")
            terms = blob.split("\n") if blob else []
            model.word_index = dict(zip(terms, npz["word_ids"].tolist(), strict=True))
            model.gram_index = {
                n: (npz[f"gram{n}_keys"], npz[f"gram{n}_ids"].astype(np.int64)) for n in (1, 2, 3)
            }
        return model

    # -- scoring -----------------------------------------------------------------------
    def _word_tables(self) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
        # word_index by raw word and by (word, next word), so that scoring builds no strings;
        # rebuilt if word_index is replaced.
        if getattr(self, "_words_for", None) is not self.word_index:
            unigrams, bigrams = {}, {}
            for term, i in self.word_index.items():
                if term[:1] == "w":
                    unigrams[term[1:]] = i
                elif term[:1] == "b" and term.count("_") == 1:
                    a, b = term[1:].split("_")
                    bigrams[a, b] = i
            self._word_maps = unigrams, bigrams
            self._words_for = self.word_index
        return self._word_maps

    def _word_hits(self, word_lists) -> tuple[np.ndarray, np.ndarray]:
        word_lists = list(word_lists)
        flat = list(chain.from_iterable(word_lists))
        if "_" in "".join(flat):
            # A word holding the bigram separator: only the feature strings are unambiguous.
            ids: list[int] = []
            lengths = []
            get = self.word_index.get
            for words in word_lists:
                feats = word_features(words)
                ids += map(get, feats, repeat(-1, len(feats)))
                lengths.append(len(feats))
            owner = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
            idx = np.array(ids, dtype=np.int64)
        else:
            # All texts' words in one list: one lookup pass for the words, one for the pairs
            # (pairs that straddle two texts are looked up too, then dropped).
            unigrams, bigrams = self._word_tables()
            size = len(flat)
            uni = np.fromiter(map(unigrams.get, flat, repeat(-1)), dtype=np.int64, count=size)
            pairs = zip(flat, islice(flat, 1, None))
            bi = np.fromiter(
                map(bigrams.get, pairs, repeat(-1)), dtype=np.int64, count=max(size - 1, 0)
            )
            lengths = np.fromiter(map(len, word_lists), dtype=np.int64, count=len(word_lists))
            word_owner = np.repeat(np.arange(len(word_lists), dtype=np.int64), lengths)
            same = word_owner[:-1] == word_owner[1:]
            owner = np.concatenate([word_owner, word_owner[:-1][same]])
            idx = np.concatenate([uni, bi[same]])
        hit = idx >= 0
        return owner[hit], idx[hit]

    def _gram_hits(self, texts) -> tuple[np.ndarray, np.ndarray]:
        # All texts as one code-point array, each followed by a separator (not Han).
        joined = "\n".join(texts) + "\n"
        cp = np.frombuffer(joined.encode("utf-32-le", "replace"), dtype=np.uint32)
        cp = cp.astype(np.int64) - _HAN_FIRST
        owner_of = np.repeat(np.arange(len(texts), dtype=np.int64), [len(t) + 1 for t in texts])
        han = (cp >= 0) & (cp < HAN_SPAN)
        starts = {1: np.flatnonzero(han)}
        han2 = han[:-1] & han[1:]
        starts[2] = np.flatnonzero(han2)
        starts[3] = np.flatnonzero(han2[:-1] & han[2:])
        owners, ids = [], []
        tables = self._gram_tables()
        for n, pos in starts.items():
            key = cp[pos]
            for k in range(1, n):
                key = key * HAN_SPAN + cp[pos + k]
            gram_ids = tables[n].lookup(key)
            found = gram_ids >= 0
            owners.append(owner_of[pos[found]])
            ids.append(gram_ids[found])
        if not ids:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(owners), np.concatenate(ids)

    def _gram_tables(self) -> dict[int, KeyTable]:
        # Hash tables over gram_index (built on first use, rebuilt if gram_index is replaced):
        # one or two reads per n-gram instead of a binary search.
        if getattr(self, "_tables_for", None) is not self.gram_index:
            self._tables = {n: KeyTable(keys, ids) for n, (keys, ids) in self.gram_index.items()}
            self._tables_for = self.gram_index
        return self._tables

    def decision(
        self, word_lists: list[list[str]], texts: list[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Raw linear scores, shape (n, labels), and a mask of texts with known features.

        `word_lists[i]` are the content words of the cleaned `texts[i]`.
        """
        n = len(texts)
        scores = np.zeros((n, len(self.labels)), dtype=np.float32)
        if n == 0:
            return scores, np.zeros(0, dtype=bool)
        wo, wi = self._word_hits(word_lists)
        go, gi = self._gram_hits(texts)
        # (text, feature) pairs with their counts, from one sort instead of a Python loop.
        v = self.n_features
        pairs, tf = _counts(np.concatenate([wo, go]) * v + np.concatenate([wi, gi]))
        owner, idx = np.divmod(pairs, v)
        lengths = np.bincount(owner, minlength=n)
        known = lengths > 0
        if len(idx):
            # Sublinear TF times IDF, L2-normalised per text, as in TfidfVectorizer.
            w = (np.log(tf.astype(np.float32)) + 1.0) * self.idf[idx]
            norms = np.sqrt(np.bincount(owner, weights=w * w, minlength=n)).astype(np.float32)
            w /= norms[owner]
            starts = (np.cumsum(lengths) - lengths)[known]
            # np.take and an in-place product: the same floats as coef[idx] * w[:, None], at
            # a third of the time (no second (features x labels) temporary).
            weighted = np.take(self.coef, idx, axis=0)
            weighted *= w[:, None]
            scores[known] = np.add.reduceat(weighted, starts, axis=0)
        scores += self.intercept
        return scores, known

    def probabilities(self, word_lists, texts) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated label probabilities, shape (n, labels), and the known-features mask."""
        scores, known = self.decision(word_lists, texts)
        return softmax(scores.astype(np.float64) / self.temperature), known

    def predict(
        self, word_lists, texts, review_threshold: float = DEFAULT_REVIEW_THRESHOLD
    ) -> list[TopicResult]:
        """One TopicResult per cleaned text (with its content words)."""
        probs, known = self.probabilities(word_lists, texts)
        # The top 3 of every text from one sort (stable: ties keep the label order).
        order = np.argsort(-probs, axis=1, kind="stable")[:, :3]
        top = np.take_along_axis(probs, order, axis=1).tolist()
        labels = self.labels
        out = []
        for ids, ps, k in zip(order.tolist(), top, known.tolist(), strict=True):
            if not k:
                out.append(TopicResult(None, 0.0, (), True))
                continue
            top3 = tuple(zip(map(labels.__getitem__, ids), ps, strict=True))
            out.append(TopicResult(top3[0][0], ps[0], top3, ps[0] < review_threshold))
        return out


def _counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(values, return_counts=True) by one sort (faster than numpy's hashing here)."""
    values = np.sort(values)
    if not len(values):
        return values, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    return values[starts], np.diff(np.append(starts, len(values)))


def _sorted_index(keys: list[int], ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    keys_a = np.array(keys, dtype=np.int64)
    order = np.argsort(keys_a, kind="stable")
    return keys_a[order], np.array(ids, dtype=np.int64)[order]


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    z = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def model() -> TopicModel:
    """The active topic model: the county's active version when there is one
    (`nlp.model_store`), else the shipped artifact; loaded once per version."""
    return ACTIVE.get(ARTIFACT, TopicModel.load)


def classify_tokens(
    tokens: list[str], text: str, *, review_threshold: float = DEFAULT_REVIEW_THRESHOLD
) -> TopicResult:
    """Route an already segmented, cleaned text."""
    return model().predict([content_words(tokens)], [text], review_threshold)[0]


def classify(text: object, *, review_threshold: float = DEFAULT_REVIEW_THRESHOLD) -> TopicResult:
    """Route a raw text to one of the first-level topics; never raises on bad input."""
    cleaned = clean_text(text)
    return classify_tokens(segment(cleaned), cleaned, review_threshold=review_threshold)


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Mean |confidence - accuracy| of the top label over equal-width confidence bins."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in pairwise(edges):
        in_bin = (conf > lo) & (conf <= hi)
        if in_bin.any():
            ece += in_bin.mean() * abs(conf[in_bin].mean() - correct[in_bin].mean())
    return float(ece)


def fit_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature minimising log loss of `scores` against label indices `y`."""

    def nll(t: float) -> float:
        p = softmax(scores / t)
        return -float(np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))

    lo, hi = math.log(0.01), math.log(10.0)
    # Golden-section search on log T: the loss is unimodal in T.
    g = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(math.exp(c)), nll(math.exp(d))
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(math.exp(d))
    return math.exp((a + b) / 2)
