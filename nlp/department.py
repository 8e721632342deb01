"""Department routing learned from a county's routing corrections (nearest centroid).

The seven board topics are coarser than a county's departments, and keywords choose among a
topic's candidates. Once staff have sent enough texts of one kind to a department, those
texts say more than the keywords: for each such department the model keeps the centroid of
the TF-IDF vectors (the topic model's features: content words, word pairs, Han 1-3 grams)
of the texts staff sent there. A new text goes to that department when its cosine to the
centroid reaches the department's threshold: the similarity that only REFERENCE_SHARE of
the board's messages reach (they are the everyday mix; almost none is that county's kind of
case), and at least MIN_SIMILARITY.

Stored as a TopicModel (coef = the unit centroids, no intercept), so scoring is the topic
model's sparse dot product and the artifact is plain arrays. Trained by `nlp.retrain`.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np

from nlp.model_store import ACTIVE
from nlp.segment import clean_text, content_words, segment
from nlp.topic import TopicModel, topic_features

log = logging.getLogger(__name__)

ARTIFACT = "department.npz"
# Share of the board's messages allowed to reach a department's threshold.
REFERENCE_SHARE = 0.02
MIN_SIMILARITY = 0.2
MAX_FEATURES = 200_000


@dataclass(frozen=True)
class DepartmentSuggestion:
    """A learned department for a text: its code, the similarity and the department's bar."""

    code: str
    similarity: float
    threshold: float
    examples: int


def _identity(x):
    return x


def _features(text: str) -> list[str]:
    cleaned = clean_text(text)
    return topic_features(segment(cleaned), cleaned)


def train(
    examples: list[tuple[str, str]],
    reference_texts: list[str],
    *,
    min_examples: int,
    reference_features: list[list[str]] | None = None,
) -> tuple[TopicModel | None, dict]:
    """The centroid model of the departments with at least `min_examples` corrections.

    `examples` are (text, department code) pairs; `reference_texts` the board's messages
    (for the IDF weights and the thresholds), or their topic features when the caller has
    them already (`reference_features`). Returns (model or None, report); the report
    gives per department the corrections, the threshold and the leave-one-out share of its
    own corrections that the model sends back to it.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    counts = Counter(code for _, code in examples)
    learned = sorted(code for code, n in counts.items() if n >= max(1, min_examples))
    report: dict = {
        "min_examples": min_examples,
        "examples": dict(sorted(counts.items())),
        "learned": {},
    }
    if not learned:
        return None, report
    own_feats = [_features(text) for text, _ in examples]
    ref_feats = (
        reference_features
        if reference_features is not None
        else [_features(text) for text in reference_texts]
    )
    vec = TfidfVectorizer(
        analyzer=_identity,
        lowercase=False,
        sublinear_tf=True,
        min_df=1,
        max_features=MAX_FEATURES,
        dtype=np.float32,
        norm="l2",
    )
    vec.fit(own_feats + ref_feats)
    x_own = vec.transform(own_feats)
    x_ref = vec.transform(ref_feats) if ref_feats else None
    codes = np.array([code for _, code in examples])
    centroids = np.zeros((len(learned), x_own.shape[1]), dtype=np.float32)
    thresholds = []
    for k, code in enumerate(learned):
        rows = x_own[codes == code]
        total = np.asarray(rows.sum(axis=0)).ravel()
        centroids[k] = total / max(np.linalg.norm(total), 1e-12)
        bar = MIN_SIMILARITY
        if x_ref is not None and x_ref.shape[0]:
            sims = x_ref @ centroids[k]
            bar = max(bar, float(np.quantile(sims, 1.0 - REFERENCE_SHARE)))
        thresholds.append(round(bar, 4))
    # Leave one out: each correction against the centroids without it.
    for k, code in enumerate(learned):
        idx = np.flatnonzero(codes == code)
        rows = x_own[idx]
        total = np.asarray(rows.sum(axis=0)).ravel()
        hits = 0
        for i in range(rows.shape[0]):
            v = rows[i].toarray().ravel()
            rest = total - v
            rest /= max(np.linalg.norm(rest), 1e-12)
            sims = centroids @ v
            sims[k] = float(rest @ v)
            best = int(np.argmax(sims / np.array(thresholds)))
            hits += best == k and sims[k] >= thresholds[k]
        report["learned"][code] = {
            "examples": int(counts[code]),
            "threshold": thresholds[k],
            "leave_one_out_recall": round(hits / len(idx), 4),
        }
    model = TopicModel(
        vocabulary={t: int(i) for t, i in vec.vocabulary_.items()},
        idf=vec.idf_,
        coef=centroids.T,
        intercept=np.zeros(len(learned), dtype=np.float32),
        labels=learned,
        meta={
            "kind": "department_centroids",
            "thresholds": thresholds,
            "examples": [int(counts[c]) for c in learned],
            "min_examples": min_examples,
            "report": report,
        },
    )
    return model, report


def model() -> TopicModel | None:
    """The active version's department model; None before any retrain learned one."""
    return ACTIVE.get(ARTIFACT, TopicModel.load)


def suggest(
    text: object, candidates: list[str], *, min_examples: int
) -> DepartmentSuggestion | None:
    """The candidate department whose corrections `text` is like, if one has at least
    `min_examples` of them; None otherwise (the caller's keywords decide). Never raises."""
    try:
        m = model()
        if m is None or not candidates:
            return None
        thresholds = m.meta.get("thresholds", [])
        examples = m.meta.get("examples", [])
        usable = [
            i
            for i, code in enumerate(m.labels)
            if code in candidates and examples[i] >= min_examples
        ]
        if not usable:
            return None
        cleaned = clean_text(text)
        scores, known = m.decision([content_words(segment(cleaned))], [cleaned])
        if not known[0]:
            return None
        # The department cleared by the widest margin (relative to its own bar).
        best = max(usable, key=lambda i: scores[0, i] / thresholds[i])
        similarity = float(scores[0, best])
        if similarity < thresholds[best]:
            return None
        return DepartmentSuggestion(
            m.labels[best], similarity, float(thresholds[best]), int(examples[best])
        )
    except Exception:
        log.exception("learned department routing failed; keywords decide")
        return None
