"""Train the shipped sentiment model on food-delivery and hotel reviews together, with CV.

One model is trained on both corpora (waimai_10k: short, mostly negative; chnsenticorp_htl:
long, mostly positive). Cross-validation is stratified 5-fold per corpus: fold k trains on the
other folds of both corpora and measures each corpus's held-out fold separately, scoring with
the same pure-Python code (`nlp.sentiment.SentimentModel`) that runs in production.

Run `python -m nlp.sentiment_train [--waimai CSV] [--hotel CSV] [--out DIR]`.
scikit-learn is needed here only, never at scoring time.
"""

from __future__ import annotations

import csv
import logging
import statistics
import time
from pathlib import Path

import numpy as np

from nlp.segment import clean_text, segment
from nlp.sentiment import ARTIFACT_NAME, SentimentModel, features

log = logging.getLogger(__name__)

SEED = 20261127
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_WAIMAI = DEFAULT_DATA / "waimai_10k" / "train.csv"
DEFAULT_HOTEL = DEFAULT_DATA / "chnsenticorp_htl" / "train.csv"
DEFAULT_OUT = Path(__file__).resolve().parent / "artifacts"

# Chosen by 5-fold CV on the train splits of both corpora (see the module docstring).
DEFAULT_CONFIG = {
    "char_n": 4,  # character 1..4-grams
    "bigrams": False,  # word bigrams add size but no accuracy over char 4-grams
    "min_df": 2,  # a feature must occur in two training texts
    "C": 10.0,  # inverse L2 strength of the logistic regression
    "nb_alpha": 1.0,  # smoothing of the naive-Bayes log-count ratios
    "hotel_weight": 1.0,  # sample weight of a hotel review relative to a waimai review
    "max_features": 40_000,  # keep the largest weights (0: all); 255k -> 40k costs no CV accuracy
}


def read_corpus(path: Path | str) -> tuple[list[list[str]], list[str], np.ndarray]:
    """Tokens, cleaned texts and 0/1 labels of a csv with `body` and `label` columns."""
    texts, labels = [], []
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            text = clean_text(row.get("body"))
            label = (row.get("label") or "").strip()
            if not text or label not in ("0", "1"):
                continue
            texts.append(text)
            labels.append(int(label))
    tokens = [segment(t) for t in texts]
    return tokens, texts, np.asarray(labels, dtype=np.int64)


def fit(
    feature_lists: list[list[str]], y: np.ndarray, weight: np.ndarray, config: dict
) -> SentimentModel:
    """Fit NB-LR (NB log-count ratio scaling, L2 normalisation, logistic regression)."""
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import normalize

    vec = CountVectorizer(
        analyzer=_identity, binary=True, min_df=int(config["min_df"]), dtype=np.float64
    )
    x = vec.fit_transform(feature_lists)
    alpha = float(config["nb_alpha"])
    pos = alpha + x[y == 1].T @ weight[y == 1]
    neg = alpha + x[y == 0].T @ weight[y == 0]
    ratios = np.log((pos / pos.sum()) / (neg / neg.sum()))
    xr = normalize(x @ sparse.diags(ratios))
    clf = LogisticRegression(
        C=float(config["C"]), solver="liblinear", max_iter=5000, random_state=SEED
    )
    clf.fit(xr, y, sample_weight=weight)
    vocab = vec.get_feature_names_out()
    coef = clf.coef_[0]
    limit = int(config.get("max_features") or 0)
    if 0 < limit < len(vocab):
        # Keep the features with the largest weights and refit on them alone: a small
        # vocabulary keeps the scoring dicts in cache (throughput) and the artifact small.
        keep = np.sort(np.argsort(-np.abs(coef * ratios), kind="stable")[:limit])
        x, ratios, vocab = x[:, keep], ratios[keep], vocab[keep]
        xr = normalize(x @ sparse.diags(ratios))
        clf.fit(xr, y, sample_weight=weight)
        coef = clf.coef_[0]
    vocab = vocab.tolist()
    return SentimentModel(
        vocab,
        (coef * ratios).astype(np.float32),
        (ratios * ratios).astype(np.float32),
        float(clf.intercept_[0]),
        {k: config[k] for k in ("char_n", "bigrams")} | {"trained": dict(config)},
    )


def _identity(x):
    return x


def _features(tokens, texts, config) -> list[list[str]]:
    return [
        [f for f in features(tk, tx, config["char_n"], config["bigrams"]) if "\n" not in f]
        for tk, tx in zip(tokens, texts, strict=True)
    ]


def _accuracy(model: SentimentModel, tokens, texts, y) -> float:
    pred = [model.score_tokens(tk, tx) >= 0.5 for tk, tx in zip(tokens, texts, strict=True)]
    return float(np.mean(np.asarray(pred, dtype=np.int64) == y))


def cross_validate(corpora: dict, config: dict, folds: int = 5) -> dict:
    """Per-corpus accuracy of the combined model over stratified folds."""
    from sklearn.model_selection import StratifiedKFold

    splits = {
        name: list(
            StratifiedKFold(folds, shuffle=True, random_state=SEED).split(
                np.zeros(len(c[2])), c[2]
            )
        )
        for name, c in corpora.items()
    }
    feats = {name: _features(c[0], c[1], config) for name, c in corpora.items()}
    scores: dict[str, list[float]] = {name: [] for name in corpora}
    for k in range(folds):
        train_x, train_y, train_w = [], [], []
        for name, (_, _, y) in corpora.items():
            idx = splits[name][k][0]
            train_x += [feats[name][i] for i in idx]
            train_y.append(y[idx])
            train_w.append(np.full(len(idx), _weight(name, config)))
        model = fit(train_x, np.concatenate(train_y), np.concatenate(train_w), config)
        for name, (tokens, texts, y) in corpora.items():
            idx = splits[name][k][1]
            acc = _accuracy(model, [tokens[i] for i in idx], [texts[i] for i in idx], y[idx])
            scores[name].append(acc)
        log.info("fold %d: %s", k + 1, {n: round(v[-1], 4) for n, v in scores.items()})
    return {
        name: {
            "mean": statistics.fmean(v),
            "sd": statistics.stdev(v) if len(v) > 1 else 0.0,
            "folds": v,
        }
        for name, v in scores.items()
    }


def _weight(name: str, config: dict) -> float:
    return float(config["hotel_weight"]) if name == "hotel" else 1.0


def train(
    waimai_csv: Path | str = DEFAULT_WAIMAI,
    hotel_csv: Path | str = DEFAULT_HOTEL,
    out_dir: Path | str = DEFAULT_OUT,
    folds: int = 5,
    config: dict | None = None,
) -> dict:
    """Cross-validate, then fit on all rows and write `sentiment.npz`; returns the CV scores."""
    config = DEFAULT_CONFIG | (config or {})
    started = time.perf_counter()
    corpora = {"waimai": read_corpus(waimai_csv), "hotel": read_corpus(hotel_csv)}
    result: dict = {"task": "sentiment", "config": config}
    if folds and folds > 1:
        result["cv"] = cross_validate(corpora, config, folds)
    feats, ys, ws = [], [], []
    for name, (tokens, texts, y) in corpora.items():
        feats += _features(tokens, texts, config)
        ys.append(y)
        ws.append(np.full(len(y), _weight(name, config)))
    model = fit(feats, np.concatenate(ys), np.concatenate(ws), config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / ARTIFACT_NAME
    model.save(path)
    result.update(
        n_train={name: len(c[2]) for name, c in corpora.items()},
        n_features=len(model),
        artifact=str(path),
        artifact_bytes=path.stat().st_size,
        seconds=round(time.perf_counter() - started, 1),
    )
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line: train, print CV accuracy per corpus, write the artifact."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m nlp.sentiment_train", description=__doc__)
    parser.add_argument("--waimai", default=str(DEFAULT_WAIMAI))
    parser.add_argument("--hotel", default=str(DEFAULT_HOTEL))
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--config", default="{}", help="JSON overrides of DEFAULT_CONFIG")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = train(args.waimai, args.hotel, args.out, args.folds, json.loads(args.config))
    for name, s in result.get("cv", {}).items():
        print(f"{name}: CV accuracy {s['mean']:.4f} ± {s['sd']:.4f} ({len(s['folds'])} folds)")
    print(
        f"features {result['n_features']}, artifact {result['artifact_bytes'] / 1e6:.2f} MB "
        f"-> {result['artifact']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
