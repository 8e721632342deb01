"""Reproducible training of the shipped nlp artifacts from the shared data (fixed seeds).

Topic rows: the text of a message is its title and body (`title。body`); rows of the public
data that only keep the contestants' segmented copy (`body_seg`) use those tokens joined. Each
row with a title is also added as a titles-only copy, so one model serves chat-length messages
and long letters. Scores are stratified, duplicate-aware 5-fold cross-validation.
"""

from __future__ import annotations

import csv
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nlp.segment import clean_text, segment
from nlp.topic import (
    ARTIFACT,
    TopicModel,
    expected_calibration_error,
    fit_temperature,
    softmax,
    topic_features,
)

log = logging.getLogger(__name__)

SEED = 20240601
FOLDS = 5
# LinearSVC settings chosen by 5-fold cross-validation on the training split.
SVC_C = 1.0
MIN_DF = 3
# Features kept after a first fit (largest |coefficient|): a small vocabulary keeps the dict
# lookups of run-time scoring in cache, which matters more than the last 0.1 point of F1.
MAX_FEATURES = 150_000

# Also train on the segmented copy of rows that have raw text: a quarter of the messages only
# exist in that stop-word-free form, and routing must handle both.
SEGMENTED_COPIES = True
# Titles-only copies per titled row: chat messages are as short as titles.
TITLE_COPIES = 2

# Selective routing: the shipped review threshold is the lowest probability at which the
# cross-validated predictions on whole messages (title + body) that reach it are right at
# least this often, plus a margin for the noise of one split (about ±0.004 at 2,000 routed
# messages). Below it a message goes to triage with its top 3.
AUTO_ROUTED_ACCURACY = 0.97
ACCURACY_MARGIN = 0.005
THRESHOLD_GRID = tuple(round(0.30 + 0.01 * i, 2) for i in range(70))  # 0.30 … 0.99

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"


def default_data_dir() -> Path:
    """Where the shared training data lives: $MINYI_NLP_DATA, else `<repo>/../shared/data`."""
    env = os.environ.get("MINYI_NLP_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass
class TopicRow:
    """One labelled message: full text, optional title, label and a duplicate-group key."""

    text: str
    title: str
    label: str
    group: str = field(default="")
    segmented: str = field(default="")  # the contestants' segmented copy, when `text` is raw


def topic_text(row: dict) -> str:
    """The text of a message row: `text`, else `title。body`, else the joined `body_seg`."""
    if (row.get("text") or "").strip():
        return row["text"]
    title = (row.get("title") or "").strip()
    body = (row.get("body") or "").strip()
    if title or body:
        return f"{title}。{body}" if title and body else title or body
    return "".join((row.get("body_seg") or "").split())


def read_csv(path: Path) -> list[dict]:
    """All rows of a UTF-8 CSV (BOM tolerated) as dicts."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def load_topic_rows(path: Path) -> list[TopicRow]:
    """Labelled topic rows from a tipdm2020_messages-style CSV."""
    rows = []
    for r in read_csv(path):
        text = topic_text(r)
        if not text.strip() or not r.get("label"):
            continue
        seg = (r.get("body_seg") or "").strip()
        group = seg or clean_text(text)
        segmented = "".join(seg.split()) if (r.get("body") or "").strip() else ""
        rows.append(
            TopicRow(text, (r.get("title") or "").strip(), r["label"].strip(), group, segmented)
        )
    return rows


def _features(text: str) -> list[str]:
    cleaned = clean_text(text)
    return topic_features(segment(cleaned), cleaned)


def _fit(
    feature_lists,
    labels,
    classes,
    *,
    c=SVC_C,
    min_df=MIN_DF,
    max_features=MAX_FEATURES,
    sample_weight=None,
):
    """Fit vectoriser + LinearSVC, then refit on the strongest features; (vectoriser, clf).

    `sample_weight` (one per row, optional) scales each row's share of the loss."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    y = [classes.index(label) for label in labels]

    def fit(vocabulary=None):
        vec = TfidfVectorizer(
            analyzer=_identity,
            lowercase=False,
            sublinear_tf=True,
            min_df=1 if vocabulary else min_df,
            vocabulary=vocabulary,
            dtype=np.float32,
            norm="l2",
        )
        x = vec.fit_transform(feature_lists)
        clf = LinearSVC(C=c, class_weight="balanced", random_state=SEED).fit(
            x, y, sample_weight=sample_weight
        )
        return vec, clf

    vec, clf = fit()
    if max_features and len(vec.vocabulary_) > max_features:
        strength = np.abs(clf.coef_).max(axis=0)
        keep = np.sort(np.argsort(-strength, kind="stable")[:max_features])
        terms = vec.get_feature_names_out()[keep]
        vec, clf = fit({t: i for i, t in enumerate(terms)})
    return vec, clf


def _identity(x):
    return x


def _augmented(rows: list[TopicRow], full, titles, idx, segmented=None):
    """Training feature lists and labels for rows `idx`: full texts plus titles-only copies
    (and, when given, copies in the segmented stop-word-free form some rows only have)."""
    feats, labels = [], []
    for i in idx:
        feats.append(full[i])
        labels.append(rows[i].label)
        if titles[i] is not None:
            feats += [titles[i]] * TITLE_COPIES
            labels += [rows[i].label] * TITLE_COPIES
        if segmented is not None and segmented[i] is not None:
            feats.append(segmented[i])
            labels.append(rows[i].label)
    return feats, labels


def _groups(rows: list[TopicRow]) -> np.ndarray:
    ids: dict[str, int] = {}
    return np.array([ids.setdefault(r.group, len(ids)) for r in rows])


def train_topic(
    messages_csv: Path, out_dir: Path = ARTIFACTS_DIR, *, folds: int = FOLDS, seed: int = SEED
) -> dict:
    """Cross-validate, fit on all rows and write `topic.npz`; returns the CV scores."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedGroupKFold

    started = time.perf_counter()
    rows = load_topic_rows(Path(messages_csv))
    if len(rows) < folds * 2:
        raise ValueError(f"{messages_csv}: too few labelled rows ({len(rows)})")
    classes = sorted({r.label for r in rows})
    y = np.array([classes.index(r.label) for r in rows])
    full = [_features(r.text) for r in rows]
    titles = [_features(r.title) if r.title else None for r in rows]
    segmented = [
        _features(r.segmented) if r.segmented and SEGMENTED_COPIES else None for r in rows
    ]

    scores_full, scores_title, scores_traditional = [], [], []
    oof_scores, oof_y = [], []
    full_scores = np.zeros((len(rows), len(classes)))  # out-of-fold, for the threshold
    fold_of = np.zeros(len(rows), dtype=int)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (tr, te) in enumerate(splitter.split(np.zeros(len(rows)), y, _groups(rows))):
        vec, clf = _fit(*_augmented(rows, full, titles, tr, segmented), classes)
        dec = clf.decision_function(vec.transform([full[i] for i in te]))
        scores_full.append(f1_score(y[te], dec.argmax(1), average="macro"))
        oof_scores.append(dec)
        oof_y.append(y[te])
        full_scores[te] = dec
        fold_of[te] = fold
        tt = [i for i in te if titles[i] is not None]
        if tt:
            dec_t = clf.decision_function(vec.transform([titles[i] for i in tt]))
            scores_title.append(f1_score(y[tt], dec_t.argmax(1), average="macro"))
            oof_scores.append(dec_t)
            oof_y.append(y[tt])
            # The same titles written in traditional characters: normalisation converts
            # them back, so routing should not notice.
            traditional = [_features(to_traditional(rows[i].title)) for i in tt]
            dec_tr = clf.decision_function(vec.transform(traditional))
            scores_traditional.append(f1_score(y[tt], dec_tr.argmax(1), average="macro"))
        log.info("topic fold %d: macro-F1 %.4f", fold, scores_full[-1])
    oof_scores, oof_y = np.concatenate(oof_scores), np.concatenate(oof_y)
    temperature = fit_temperature(oof_scores, oof_y)
    ece = expected_calibration_error(softmax(oof_scores / temperature), oof_y)
    full_probs = softmax(full_scores / temperature)
    coverage = coverage_table(full_probs, y, fold_of)
    threshold = choose_threshold(coverage)

    vec, clf = _fit(*_augmented(rows, full, titles, range(len(rows)), segmented), classes)
    report = {
        "rows": len(rows),
        "rows_with_title": sum(t is not None for t in titles),
        "folds": folds,
        "macro_f1_title_body": _mean_sd(scores_full),
        "macro_f1_titles_only": _mean_sd(scores_title),
        "macro_f1_titles_traditional": _mean_sd(scores_traditional),
        "review_threshold": threshold,
        "auto_routed_at_threshold": next(
            (row for row in coverage if row["threshold"] == threshold), None
        ),
        "coverage_table": [row for row in coverage if round(row["threshold"] * 100) % 5 == 0],
        "temperature": round(temperature, 4),
        "calibration_error": round(ece, 4),
        "features": len(vec.vocabulary_),
    }
    model = TopicModel(
        vocabulary={t: int(i) for t, i in vec.vocabulary_.items()},
        idf=vec.idf_,
        coef=clf.coef_.T,
        intercept=clf.intercept_,
        labels=classes,
        temperature=temperature,
        meta={
            "cv": report,
            "seed": seed,
            "C": SVC_C,
            "min_df": MIN_DF,
            "max_features": MAX_FEATURES,
            "review_threshold": threshold,
        },
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(out_dir / ARTIFACT)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["artifact_bytes"] = (out_dir / ARTIFACT).stat().st_size
    return report


def to_traditional(text: str) -> str:
    """`text` in traditional characters as written in Taiwan (zhconv zh-tw, phrase-aware)."""
    from nlp.normalize import _import_quietly

    return _import_quietly("zhconv.zhconv").convert(text, "zh-tw")


def coverage_table(probs: np.ndarray, y: np.ndarray, fold_of: np.ndarray) -> list[dict]:
    """Auto-routed share and accuracy at each threshold of THRESHOLD_GRID (pooled over the
    folds, plus the lowest fold's accuracy), from out-of-fold probabilities."""
    best = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    table = []
    for t in THRESHOLD_GRID:
        routed = best >= t
        per_fold = [
            float(correct[routed & (fold_of == f)].mean())
            for f in np.unique(fold_of)
            if (routed & (fold_of == f)).any()
        ]
        table.append(
            {
                "threshold": t,
                "auto_routed_share": round(float(routed.mean()), 4),
                "auto_routed_accuracy": round(float(correct[routed].mean()), 4)
                if routed.any()
                else None,
                "lowest_fold_accuracy": round(min(per_fold), 4) if per_fold else None,
            }
        )
    return table


def choose_threshold(table: list[dict]) -> float:
    """The lowest threshold whose pooled auto-routed accuracy reaches the target + margin."""
    wanted = AUTO_ROUTED_ACCURACY + ACCURACY_MARGIN
    for row in table:
        if row["auto_routed_accuracy"] is not None and row["auto_routed_accuracy"] >= wanted:
            return row["threshold"]
    return THRESHOLD_GRID[-1]


def _mean_sd(values: list[float]) -> dict:
    if not values:
        return {"mean": None, "sd": None, "folds": []}
    return {
        "mean": round(float(np.mean(values)), 4),
        "sd": round(float(np.std(values)), 4),
        "folds": [round(float(v), 4) for v in values],
    }


def train_all(*, messages: Path, waimai: Path, hotel: Path, out: Path, data_dir: Path) -> dict:
    """Rebuild every nlp artifact into `out`; returns the cross-validated scores of each."""
    out = Path(out)
    report = {"topic": train_topic(messages, out)}
    report["request_type"] = _train_request_type(data_dir, out)
    report["sentiment"] = _train_sentiment(waimai, hotel, out)
    report["keywords"] = _train_keywords(data_dir, out)
    return report


def _train_request_type(data_dir: Path, out: Path) -> dict:
    from nlp import request_type_train

    return request_type_train.train(data_dir, out)


def _train_sentiment(waimai: Path, hotel: Path, out: Path) -> dict:
    from nlp import sentiment_train

    return sentiment_train.train(waimai_csv=waimai, hotel_csv=hotel, out_dir=out)


def _train_keywords(data_dir: Path, out: Path) -> dict:
    from nlp import keywords

    try:
        table = keywords.build_idf(Path(data_dir), out / keywords.IDF_FILE)
    except FileNotFoundError as exc:
        return {"skipped": f"keyword IDF not rebuilt: {exc.filename} missing"}
    return {"documents": table["n_docs"], "words": len(table["idf"])}
