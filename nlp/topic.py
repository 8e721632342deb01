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
import threading
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise, repeat
from operator import add
from pathlib import Path

import numpy as np

from nlp.segment import clean_text, content_words, segment

log = logging.getLogger(__name__)

ARTIFACT = "topic.npz"
DEFAULT_REVIEW_THRESHOLD = 0.5

# Runs of Chinese characters: character n-grams never cross punctuation, digits or Latin.
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]+")


@dataclass(frozen=True)
class TopicResult:
    """A routing decision: best label, its calibrated probability, the top 3, review flag."""

    label: str | None
    probability: float
    top3: tuple[tuple[str, float], ...]
    needs_review: bool


def topic_features(tokens: list[str], text: str, words: list[str] | None = None) -> list[str]:
    """Feature strings of one text: content words, word bigrams, character 1-3 grams.

    `text` must already be cleaned (`clean_text`); `tokens` are its jieba tokens. Word
    features carry a Latin prefix, so they never collide with the Han character n-grams.
    `words` may pass `content_words(tokens)` when the caller already has them.
    """
    if words is None:
        words = content_words(tokens)
    feats = ["w" + w for w in words]
    feats += ["b" + a + "_" + b for a, b in pairwise(words)]
    for run in _HAN_RUN.findall(text):
        feats += run
        feats += map(add, run, run[1:])
        feats += map("".join, zip(run, run[1:], run[2:], strict=False))
    return feats


class TopicModel:
    """A linear topic model: sublinear TF-IDF, L2-normalised, scores softmaxed at temperature."""

    def __init__(self, vocabulary, idf, coef, intercept, labels, temperature=1.0, meta=None):
        self.vocabulary: dict[str, int] = vocabulary
        self.idf = np.asarray(idf, dtype=np.float32)
        self.coef = np.asarray(coef, dtype=np.float32)  # shape (n_features, n_labels)
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.labels: list[str] = list(labels)
        self.temperature = float(temperature)
        self.meta: dict = dict(meta or {})

    # -- persistence -------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the model as one compressed .npz (arrays plus a JSON header; no pickles)."""
        terms = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        blob = "\n".join(terms).encode("utf-8")
        header = {
            "labels": self.labels,
            "temperature": self.temperature,
            "meta": self.meta,
        }
        with open(path, "wb") as fh:
            np.savez_compressed(
                fh,
                vocabulary=np.frombuffer(blob, dtype=np.uint8),
                idf=self.idf.astype(np.float32),
                coef=self.coef.astype(np.float16),
                intercept=self.intercept.astype(np.float32),
                header=np.frombuffer(json.dumps(header, ensure_ascii=False).encode(), np.uint8),
            )

    @classmethod
    def load(cls, path) -> TopicModel:
        """Read a model written by `save` (a path or an importlib Traversable)."""
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
            terms = npz["vocabulary"].tobytes().decode("utf-8").split("\n")
            header = json.loads(npz["header"].tobytes().decode("utf-8"))
            return cls(
                vocabulary=dict(zip(terms, range(len(terms)))),
                idf=npz["idf"],
                coef=npz["coef"].astype(np.float32),
                intercept=npz["intercept"],
                labels=header["labels"],
                temperature=header["temperature"],
                meta=header.get("meta", {}),
            )

    # -- scoring -----------------------------------------------------------------------
    def decision(self, feature_lists: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Raw linear scores, shape (n, labels), and a mask of texts with known features."""
        n = len(feature_lists)
        if n == 1:
            return self._decision_one(feature_lists[0])
        vocab_get = self.vocabulary.get
        ids: list[int] = []
        lengths = np.zeros(n, dtype=np.int64)
        for row, feats in enumerate(feature_lists):
            ids += map(vocab_get, feats, repeat(-1, len(feats)))
            lengths[row] = len(feats)
        # (text, feature) pairs with their counts, from one sort instead of a Python loop.
        owner = np.repeat(np.arange(n, dtype=np.int64), lengths)
        idx = np.array(ids, dtype=np.int64)
        hit = idx >= 0
        pairs, tf = np.unique(owner[hit] * len(self.idf) + idx[hit], return_counts=True)
        owner, idx = np.divmod(pairs, len(self.idf))
        lengths = np.bincount(owner, minlength=n)
        scores = np.zeros((n, len(self.labels)), dtype=np.float32)
        known = lengths > 0
        if len(idx):
            # Sublinear TF times IDF, L2-normalised per text, as in TfidfVectorizer.
            w = (np.log(tf.astype(np.float32)) + 1.0) * self.idf[idx]
            norms = np.sqrt(np.bincount(owner, weights=w * w, minlength=n)).astype(np.float32)
            w /= norms[owner]
            starts = (np.cumsum(lengths) - lengths)[known]
            scores[known] = np.add.reduceat(self.coef[idx] * w[:, None], starts, axis=0)
        scores += self.intercept
        return scores, known

    def _decision_one(self, feats: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """`decision` for one text with fewer numpy calls (single-text latency)."""
        vocab_get = self.vocabulary.get
        ids = [i for i in map(vocab_get, feats) if i is not None]
        if not ids:
            return self.intercept[None, :].copy(), np.zeros(1, dtype=bool)
        idx, tf = np.unique(np.array(ids, dtype=np.int64), return_counts=True)
        w = (np.log(tf.astype(np.float32)) + 1.0) * self.idf[idx]
        w /= np.sqrt(np.dot(w, w))
        return (w @ self.coef[idx] + self.intercept)[None, :], np.ones(1, dtype=bool)

    def probabilities(self, feature_lists: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated label probabilities, shape (n, labels), and the known-features mask."""
        scores, known = self.decision(feature_lists)
        return softmax(scores.astype(np.float64) / self.temperature), known

    def predict_features(
        self, feature_lists: list[list[str]], review_threshold: float = DEFAULT_REVIEW_THRESHOLD
    ) -> list[TopicResult]:
        """One TopicResult per feature list."""
        probs, known = self.probabilities(feature_lists)
        return [
            self._result(p, k, review_threshold) for p, k in zip(probs, known, strict=True)
        ]

    def _result(self, probs: np.ndarray, known: bool, threshold: float) -> TopicResult:
        if not known:
            return TopicResult(None, 0.0, (), True)
        order = np.argsort(-probs, kind="stable")[:3]
        top3 = tuple((self.labels[i], float(probs[i])) for i in order)
        best, prob = top3[0]
        return TopicResult(best, prob, top3, prob < threshold)


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    z = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


_model_lock = threading.Lock()
_model: TopicModel | None = None


def model() -> TopicModel:
    """The shipped topic model, loaded once on first use (thread-safe)."""
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                _model = TopicModel.load(resources.files("nlp").joinpath("artifacts", ARTIFACT))
    return _model


def classify_tokens(
    tokens: list[str], text: str, *, review_threshold: float = DEFAULT_REVIEW_THRESHOLD
) -> TopicResult:
    """Route an already segmented, cleaned text."""
    return model().predict_features([topic_features(tokens, text)], review_threshold)[0]


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
