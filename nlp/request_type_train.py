"""Training and cross-validation of the request-type model (`nlp.request_type`).

What the data offers, all from the shared training splits:

- board messages (tipdm2020_messages, _hot_messages, _replies) whose title names the type:
  咨询/请问/想了解… -> 咨询, 建议/提议 -> 建议, 投诉/举报/反映/请求/求助… -> 投诉 (a title with
  cues of two types is left out);
- short reviews (waimai_10k, chnsenticorp_htl): positive ones are what thanks and praise of a
  service read like (表扬), negative ones complaints (投诉), so that the style of a review does
  not by itself mean praise;
- nlp/data/request_type_examples.csv: short messages written for this project, 30 of each
  type, in the words citizens use in a chat.

Every cue word is taken out of the texts the model trains and is tested on (see
`nlp.request_type.strip_cues`), so the cross-validated figures say how well the rest of a text
gives its type away. They are reported for the model alone and for the model with the cue
rules on the original texts, overall and per source.
"""

from __future__ import annotations

import csv
import logging
import random
import re
import time
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np

from nlp import request_type as rt
from nlp.segment import clean_text, segment
from nlp.topic import TopicModel, fit_temperature, softmax, topic_features

log = logging.getLogger(__name__)

SEED = 20240611
FOLDS = 5
MAX_FEATURES = 60_000
# Reviews sampled per dataset and polarity (they outnumber the board's cued titles).
REVIEWS_POSITIVE = 700
REVIEWS_NEGATIVE = 300
EXAMPLES_FILE = "request_type_examples.csv"

_TITLE_CUES = (
    (rt.QUESTION, re.compile(r"咨询|请问|询问|想问|问一下|想了解")),
    (rt.SUGGESTION, re.compile(r"建议|提议")),
    (rt.COMPLAINT, re.compile(r"投诉|举报|反映|曝光|控告|请求|恳请|求助")),
)


def title_label(title: str) -> str | None:
    """The type a board title names, or None (no cue, or cues of two types)."""
    found = {label for label, pattern in _TITLE_CUES if pattern.search(title)}
    return found.pop() if len(found) == 1 else None


def _read(path: Path) -> list[dict]:
    csv.field_size_limit(10_000_000)
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def load_rows(data_dir: Path, examples: Path | None = None) -> list[dict]:
    """Labelled rows {text, label, source} from the shared data and the written examples."""
    rows: list[dict] = []
    seen: set[str] = set()
    for name in ("tipdm2020_messages", "tipdm2020_hot_messages", "tipdm2020_replies"):
        path = Path(data_dir) / name / "train.csv"
        if not path.is_file():
            continue
        for r in _read(path):
            title = (r.get("title") or "").strip()
            label = title_label(title) if title else None
            if label is None:
                continue
            body = (r.get("body") or "").strip()
            key = clean_text(title + body)
            if key in seen:  # the same message in two of the datasets
                continue
            seen.add(key)
            rows.append(
                {"text": f"{title}。{body}" if body else title, "label": label, "source": "board"}
            )
    rng = random.Random(SEED)
    for name in ("waimai_10k", "chnsenticorp_htl"):
        path = Path(data_dir) / name / "train.csv"
        if not path.is_file():
            continue
        reviews = _read(path)
        for polarity, label, count in (
            ("1", rt.PRAISE, REVIEWS_POSITIVE),
            ("0", rt.COMPLAINT, REVIEWS_NEGATIVE),
        ):
            picked = [r["body"] for r in reviews if r.get("label") == polarity and r.get("body")]
            rng.shuffle(picked)
            rows += [{"text": t, "label": label, "source": "review"} for t in picked[:count]]
    examples_text = (
        Path(examples).read_text(encoding="utf-8")
        if examples is not None
        else resources.files("nlp").joinpath("data", EXAMPLES_FILE).read_text(encoding="utf-8")
    )
    for r in csv.DictReader(examples_text.splitlines()):
        if r.get("text") and r.get("label") in rt.LABELS:
            rows.append({"text": r["text"], "label": r["label"], "source": "written"})
    return rows


def features(text: str) -> tuple[list[str], str]:
    """(model feature strings, cleaned original text) of one raw text."""
    cleaned = clean_text(text)
    tokens = segment(cleaned)
    words = rt.model_words(tokens, cleaned)
    return topic_features(tokens, rt.strip_cues(cleaned), words), cleaned


def train(
    data_dir: Path,
    out_dir: Path,
    *,
    folds: int = FOLDS,
    seed: int = SEED,
    examples: Path | None = None,
) -> dict:
    """Cross-validate, fit on every row and write request_type.npz; returns the CV report."""
    from sklearn.model_selection import StratifiedGroupKFold

    from nlp.train import _fit

    started = time.perf_counter()
    rows = load_rows(Path(data_dir), examples)
    labels = list(rt.LABELS)
    counts = Counter(r["label"] for r in rows)
    if len(rows) < folds * 4 or any(counts[label] < folds for label in labels):
        raise ValueError(f"too few request-type rows per label: {dict(counts)}")
    feats, cleaned = zip(*(features(r["text"]) for r in rows), strict=True)
    y = np.array([labels.index(r["label"]) for r in rows])
    groups = np.unique([c for c in cleaned], return_inverse=True)[1]
    dec = np.zeros((len(rows), len(labels)))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold_of = np.zeros(len(rows), dtype=int)
    for fold, (tr, te) in enumerate(splitter.split(np.zeros(len(rows)), y, groups)):
        vec, clf = _fit(
            [feats[i] for i in tr],
            [rows[i]["label"] for i in tr],
            labels,
            max_features=MAX_FEATURES,
        )
        dec[te] = _decision(clf, vec, [feats[i] for i in te], labels)
        fold_of[te] = fold
        log.info("request type fold %d done", fold)
    temperature = fit_temperature(dec, y)
    probs = softmax(dec / temperature)
    model_only = probs.argmax(1)
    with_cues = np.array(
        [
            rt.combine(p, labels, rt.cue_label(c)).argmax()
            for p, c in zip(probs, cleaned, strict=True)
        ]
    )
    sentiments = _sentiments(cleaned)
    complete = np.array(
        [
            rt.combine(p, labels, rt.cue_label(c), s).argmax()
            for p, c, s in zip(probs, cleaned, sentiments, strict=True)
        ]
    )
    sources = np.array([r["source"] for r in rows])
    report = {
        "rows": len(rows),
        "rows_per_label": {label: counts[label] for label in labels},
        "rows_per_source": dict(Counter(sources.tolist())),
        "folds": folds,
        "cues_removed_model_only": _scores(y, model_only, labels, sources, fold_of),
        "model_with_cue_rules_on_original_text": _scores(y, with_cues, labels, sources, fold_of),
        # What the pipeline does: model, cue rules and the sentiment odds for praise. The
        # review rows' figure is optimistic here: the sentiment model was trained on them.
        "pipeline_on_original_text": _scores(y, complete, labels, sources, fold_of),
        "temperature": round(temperature, 4),
        # The written examples the cross-validated classifier (with the rules) gets wrong.
        "written_errors": [
            [rows[i]["text"], rows[i]["label"], labels[complete[i]]]
            for i in np.flatnonzero((sources == "written") & (complete != y))
        ],
    }
    vec, clf = _fit(list(feats), [r["label"] for r in rows], labels, max_features=MAX_FEATURES)
    coef = np.zeros((len(vec.vocabulary_), len(labels)), dtype=np.float32)
    intercept = np.zeros(len(labels), dtype=np.float32)
    for k, cls in enumerate(clf.classes_):
        coef[:, cls] = clf.coef_[k]
        intercept[cls] = clf.intercept_[k]
    model = TopicModel(
        vocabulary={t: int(i) for t, i in vec.vocabulary_.items()},
        idf=vec.idf_,
        coef=coef,
        intercept=intercept,
        labels=labels,
        temperature=temperature,
        meta={"cv": report, "seed": seed, "max_features": MAX_FEATURES},
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(out_dir / rt.ARTIFACT)
    report["features"] = len(vec.vocabulary_)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["artifact_bytes"] = (out_dir / rt.ARTIFACT).stat().st_size
    return report


def _sentiments(cleaned) -> list[float]:
    from nlp import sentiment

    return sentiment.score_segmented([segment(c) for c in cleaned], list(cleaned))


def _decision(clf, vec, feature_lists, labels) -> np.ndarray:
    """Decision values in `labels` order (a fold may lack a class: it gets -inf-like scores)."""
    raw = clf.decision_function(vec.transform(feature_lists))
    out = np.full((len(feature_lists), len(labels)), -10.0)
    for k, cls in enumerate(clf.classes_):
        out[:, cls] = raw[:, k]
    return out


def _scores(y, predicted, labels, sources, fold_of) -> dict:
    from sklearn.metrics import f1_score

    def block(mask):
        if not mask.any():
            return None
        per = f1_score(
            y[mask], predicted[mask], labels=range(len(labels)), average=None, zero_division=0
        )
        present = sorted(set(y[mask].tolist()))
        return {
            "n": int(mask.sum()),
            "accuracy": round(float((y[mask] == predicted[mask]).mean()), 4),
            "macro_f1": round(float(np.mean([per[i] for i in present])), 4),
            "f1": {labels[i]: round(float(per[i]), 4) for i in present},
        }

    everything = np.ones(len(y), dtype=bool)
    per_fold = [
        float((y[fold_of == f] == predicted[fold_of == f]).mean()) for f in np.unique(fold_of)
    ]
    return {
        "all": block(everything),
        "accuracy_sd_over_folds": round(float(np.std(per_fold)), 4),
        "praise_f1_by_fold": [
            round(
                float(
                    f1_score(
                        y[fold_of == f] == labels.index(rt.PRAISE),
                        predicted[fold_of == f] == labels.index(rt.PRAISE),
                    )
                ),
                4,
            )
            for f in np.unique(fold_of)
        ],
        **{source: block(sources == source) for source in sorted(set(sources.tolist()))},
    }
