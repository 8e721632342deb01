"""Retraining from a county's own data: candidates cross-validated against the active models.

The core gathers what the county's staff and citizens taught it and hands it over as plain
lists (`CountyData`): topic and department examples from routing corrections, sentiment
examples from rated comments (1-2 negative, 4-5 positive). `retrain` then:

1. builds nothing when the county has no data that the active version was not trained on;
2. for each model whose county data changed (topic, sentiment), cross-validates the
   candidate recipe (the shipped reference data plus the county's) on the shipped reference
   sets with the same folds as the active recipe: county rows are only ever trained on in
   the reference folds, and their own folds measure the candidate on them (reported, not
   gated). The active recipe's scores come from its manifest, or are computed once;
3. lets the candidate replace the active version only when no reference score drops by more
   than `tolerance`; the candidate is written as a new version (artifacts, the county data
   it learned from, a manifest with hashes), loaded back as a check, and activated.

Department routing is learned from the corrections as centroids (`nlp.department`); the
board has no departments, so it has no reference score and is reported only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nlp import department as department_mod
from nlp import sentiment_train, train
from nlp.model_store import SHIPPED, ModelStore, StoreError, now_iso
from nlp.segment import clean_text, segment
from nlp.sentiment import ARTIFACT_NAME as SENTIMENT_ARTIFACT
from nlp.sentiment import SentimentModel
from nlp.topic import ARTIFACT as TOPIC_ARTIFACT
from nlp.topic import DEFAULT_REVIEW_THRESHOLD, TopicModel, fit_temperature, softmax

log = logging.getLogger(__name__)

COUNTY_FILE = "county_data.json"
SHIPPED_SCORES = "shipped_scores.json"
# A county correction weighs like this many board messages: it is that county's truth, and
# a few dozen of them would vanish among 20,000 training rows otherwise.
COUNTY_COPIES = 3
# The largest drop of a reference score that still counts as "no drop": about a tenth of
# the folds' standard deviation of topic macro-F1 (0.016).
DEFAULT_TOLERANCE = 0.002
# Bump when the cross-validation changes: cached scores then no longer compare.
PROCEDURE = "retrain-1"

TOPIC, SENTIMENT, DEPARTMENT = "topic", "sentiment", "department"
# The reference scores a candidate must keep (a drop beyond the tolerance refuses it).
GATED = {
    TOPIC: ("macro_f1_title_body", "macro_f1_titles_only", "auto_routed_accuracy"),
    SENTIMENT: ("accuracy_waimai", "accuracy_hotel"),
}
METRIC_LABELS = {
    "macro_f1_title_body": ("话题 macro-F1（标题+正文）", "topic macro-F1, title + body"),
    "macro_f1_titles_only": ("话题 macro-F1（仅标题）", "topic macro-F1, titles only"),
    "auto_routed_share": ("自动派单比例", "auto-routed share"),
    "auto_routed_accuracy": ("自动派单准确率", "auto-routed accuracy"),
    "accuracy_waimai": ("情感准确率（外卖评论）", "sentiment accuracy, waimai"),
    "accuracy_hotel": ("情感准确率（酒店评论）", "sentiment accuracy, hotel"),
    "county_accuracy": ("本县新数据准确率", "accuracy on the county's new data"),
}


@dataclass
class CountyData:
    """What a county taught the models, as plain (text, label) pairs."""

    topic: list[tuple[str, str]] = field(default_factory=list)
    department: list[tuple[str, str]] = field(default_factory=list)
    sentiment: list[tuple[str, int]] = field(default_factory=list)

    def rows(self, kind: str) -> list[tuple[str, object]]:
        return list(getattr(self, kind))

    def fingerprint(self, kind: str) -> str:
        """A hash of one kind's rows, order-free: equal fingerprints mean nothing new."""
        rows = sorted(json.dumps([t, lab], ensure_ascii=False) for t, lab in self.rows(kind))
        return hashlib.sha256("\n".join(rows).encode("utf-8")).hexdigest()

    def fingerprints(self) -> dict[str, str]:
        return {kind: self.fingerprint(kind) for kind in (TOPIC, DEPARTMENT, SENTIMENT)}

    def counts(self) -> dict:
        return {
            "topic_examples": len(self.topic),
            "department_examples": len(self.department),
            "sentiment_positive": sum(1 for _, y in self.sentiment if y == 1),
            "sentiment_negative": sum(1 for _, y in self.sentiment if y == 0),
        }

    def to_json(self) -> str:
        return json.dumps(
            {"topic": self.topic, "department": self.department, "sentiment": self.sentiment},
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> CountyData:
        data = json.loads(text)
        return cls(
            topic=[(str(t), str(y)) for t, y in data.get("topic", [])],
            department=[(str(t), str(y)) for t, y in data.get("department", [])],
            sentiment=[(str(t), int(y)) for t, y in data.get("sentiment", [])],
        )

    def new_rows(self, kind: str, seen: CountyData) -> set[int]:
        """Indexes of this kind's rows that `seen` does not have."""
        known = set(seen.rows(kind))
        return {i for i, row in enumerate(self.rows(kind)) if tuple(row) not in known}


@dataclass
class RetrainResult:
    """What a retrain did, for the core to print (both languages) and tests to check."""

    status: str  # activated | refused | no_new_data
    message_zh: str
    message_en: str
    active_before: str | None
    active_after: str | None
    version: str | None = None
    comparison: list[dict] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    department: dict | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "active_before": self.active_before or SHIPPED,
            "active_after": self.active_after or SHIPPED,
            "version": self.version,
            "comparison": self.comparison,
            "county_data": self.counts,
            "department": self.department,
            "seconds": self.seconds,
        }


# -- reference data ---------------------------------------------------------------------------
@dataclass
class Reference:
    """The shipped training splits, featurised once per retrain."""

    data_dir: Path
    folds: int
    seed: int
    _topic: dict | None = None
    _sentiment: dict | None = None

    def files(self) -> dict[str, Path]:
        d = self.data_dir
        return {
            TOPIC: d / "tipdm2020_messages" / "train.csv",
            "waimai": d / "waimai_10k" / "train.csv",
            "hotel": d / "chnsenticorp_htl" / "train.csv",
        }

    def check(self) -> None:
        missing = [str(p) for p in self.files().values() if not p.is_file()]
        if missing:
            raise StoreError(
                f"找不到参考训练数据：{', '.join(missing)}",
                f"reference training data not found: {', '.join(missing)}",
            )

    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"{PROCEDURE}|{self.folds}|{self.seed}".encode())
        for name, path in sorted(self.files().items()):
            digest.update(name.encode())
            with open(path, "rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()

    def topic(self) -> dict:
        if self._topic is None:
            rows = train.load_topic_rows(self.files()[TOPIC])
            if len(rows) < self.folds * 2:
                raise StoreError(
                    f"参考话题数据太少（{len(rows)} 行）",
                    f"too few reference topic rows ({len(rows)})",
                )
            classes = sorted({r.label for r in rows})
            self._topic = {
                "rows": rows,
                "classes": classes,
                "y": np.array([classes.index(r.label) for r in rows]),
                "full": [train._features(r.text) for r in rows],
                "titles": [train._features(r.title) if r.title else None for r in rows],
                "segmented": [
                    train._features(r.segmented)
                    if r.segmented and train.SEGMENTED_COPIES
                    else None
                    for r in rows
                ],
            }
        return self._topic

    def sentiment(self) -> dict:
        if self._sentiment is None:
            files = self.files()
            self._sentiment = {
                "waimai": sentiment_train.read_corpus(files["waimai"]),
                "hotel": sentiment_train.read_corpus(files["hotel"]),
            }
        return self._sentiment


def _county_folds(n: int, folds: int, seed: int) -> np.ndarray:
    order = np.random.RandomState(seed).permutation(n)
    fold_of = np.empty(n, dtype=int)
    fold_of[order] = np.arange(n) % folds
    return fold_of


# -- topic ------------------------------------------------------------------------------------
def topic_cv(ref: Reference, county: list[tuple[str, str]], new: set[int]) -> dict:
    """Cross-validated reference scores of the recipe "reference + `county`" (the active
    recipe's folds), its out-of-fold accuracy on the `new` county rows, and the temperature
    and review threshold it implies."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedGroupKFold

    t = ref.topic()
    rows, classes, y = t["rows"], t["classes"], t["y"]
    county_feats = [train._features(text) for text, _ in county]
    county_y = np.array([classes.index(label) for _, label in county], dtype=int)
    county_fold = _county_folds(len(county), ref.folds, ref.seed)
    f1_full, f1_title = [], []
    oof, oof_y = [], []
    full_scores = np.zeros((len(rows), len(classes)))
    fold_of = np.zeros(len(rows), dtype=int)
    county_correct = []
    splitter = StratifiedGroupKFold(n_splits=ref.folds, shuffle=True, random_state=ref.seed)
    for k, (tr, te) in enumerate(splitter.split(np.zeros(len(rows)), y, train._groups(rows))):
        feats, labels = train._augmented(rows, t["full"], t["titles"], tr, t["segmented"])
        for i in np.flatnonzero(county_fold != k):
            feats += [county_feats[i]] * COUNTY_COPIES
            labels += [county[i][1]] * COUNTY_COPIES
        vec, clf = train._fit(feats, labels, classes)
        dec = clf.decision_function(vec.transform([t["full"][i] for i in te]))
        f1_full.append(f1_score(y[te], dec.argmax(1), average="macro"))
        full_scores[te] = dec
        fold_of[te] = k
        oof += [dec]
        oof_y += [y[te]]
        tt = [i for i in te if t["titles"][i] is not None]
        if tt:
            dec_t = clf.decision_function(vec.transform([t["titles"][i] for i in tt]))
            f1_title.append(f1_score(y[tt], dec_t.argmax(1), average="macro"))
            oof += [dec_t]
            oof_y += [y[tt]]
        held = [i for i in np.flatnonzero(county_fold == k) if i in new]
        if held:
            dec_c = clf.decision_function(vec.transform([county_feats[i] for i in held]))
            county_correct += (dec_c.argmax(1) == county_y[held]).tolist()
        log.info("retrain topic fold %d: macro-F1 %.4f", k, f1_full[-1])
    oof_scores, oof_labels = np.concatenate(oof), np.concatenate(oof_y)
    temperature = fit_temperature(oof_scores, oof_labels)
    probs = softmax(full_scores / temperature)
    coverage = train.coverage_table(probs, y, fold_of)
    at = _routed_at(probs, y, DEFAULT_REVIEW_THRESHOLD)
    return {
        "macro_f1_title_body": round(float(np.mean(f1_full)), 4),
        "macro_f1_titles_only": round(float(np.mean(f1_title)), 4) if f1_title else None,
        "auto_routed_share": at[0],
        "auto_routed_accuracy": at[1],
        "county_accuracy": round(float(np.mean(county_correct)), 4) if county_correct else None,
        "county_new_rows": len(county_correct),
        "folds": [round(float(v), 4) for v in f1_full],
        "temperature": round(temperature, 4),
        "review_threshold": train.choose_threshold(coverage),
    }


def _routed_at(probs: np.ndarray, y: np.ndarray, threshold: float) -> tuple[float, float | None]:
    routed = probs.max(axis=1) >= threshold
    correct = probs.argmax(axis=1) == y
    accuracy = round(float(correct[routed].mean()), 4) if routed.any() else None
    return round(float(routed.mean()), 4), accuracy


def fit_topic(ref: Reference, county: list[tuple[str, str]], scores: dict, out: Path) -> None:
    """Fit the topic model on every reference and county row and write topic.npz."""
    t = ref.topic()
    rows, classes = t["rows"], t["classes"]
    feats, labels = train._augmented(
        rows, t["full"], t["titles"], range(len(rows)), t["segmented"]
    )
    for text, label in county:
        feats += [train._features(text)] * COUNTY_COPIES
        labels += [label] * COUNTY_COPIES
    vec, clf = train._fit(feats, labels, classes)
    TopicModel(
        vocabulary={term: int(i) for term, i in vec.vocabulary_.items()},
        idf=vec.idf_,
        coef=clf.coef_.T,
        intercept=clf.intercept_,
        labels=classes,
        temperature=scores["temperature"],
        meta={
            "cv": scores,
            "seed": ref.seed,
            "C": train.SVC_C,
            "min_df": train.MIN_DF,
            "max_features": train.MAX_FEATURES,
            "review_threshold": scores["review_threshold"],
            "county_rows": len(county),
            "county_copies": COUNTY_COPIES,
        },
    ).save(out / TOPIC_ARTIFACT)


# -- sentiment --------------------------------------------------------------------------------
def _county_sentiment(county: list[tuple[str, int]]):
    texts = [clean_text(text) for text, _ in county]
    keep = [i for i, text in enumerate(texts) if text]
    texts = [texts[i] for i in keep]
    tokens = [segment(text) for text in texts]
    y = np.array([county[i][1] for i in keep], dtype=np.int64)
    return tokens, texts, y, keep


def sentiment_cv(ref: Reference, county: list[tuple[str, int]], new: set[int]) -> dict:
    """Cross-validated reference accuracy of "reference + `county`" per corpus (the folds of
    nlp.sentiment_train), and its out-of-fold accuracy on the `new` county comments."""
    from sklearn.model_selection import StratifiedKFold

    config = sentiment_train.DEFAULT_CONFIG
    corpora = ref.sentiment()
    splits = {
        name: list(
            StratifiedKFold(ref.folds, shuffle=True, random_state=sentiment_train.SEED).split(
                np.zeros(len(c[2])), c[2]
            )
        )
        for name, c in corpora.items()
    }
    feats = {name: sentiment_train._features(c[0], c[1], config) for name, c in corpora.items()}
    c_tokens, c_texts, c_y, keep = _county_sentiment(county)
    c_feats = sentiment_train._features(c_tokens, c_texts, config)
    c_fold = _county_folds(len(c_y), ref.folds, ref.seed)
    c_new = np.array([keep[i] in new for i in range(len(keep))], dtype=bool)
    scores: dict[str, list[float]] = {name: [] for name in corpora}
    county_correct: list[bool] = []
    for k in range(ref.folds):
        xs, ys, ws = [], [], []
        for name, (_, _, y) in corpora.items():
            idx = splits[name][k][0]
            xs += [feats[name][i] for i in idx]
            ys.append(y[idx])
            ws.append(np.full(len(idx), sentiment_train._weight(name, config)))
        idx = np.flatnonzero(c_fold != k)
        xs += [c_feats[i] for i in idx]
        ys.append(c_y[idx])
        ws.append(np.ones(len(idx)))
        model = sentiment_train.fit(xs, np.concatenate(ys), np.concatenate(ws), config)
        for name, (tokens, texts, y) in corpora.items():
            idx = splits[name][k][1]
            scores[name].append(
                sentiment_train._accuracy(
                    model, [tokens[i] for i in idx], [texts[i] for i in idx], y[idx]
                )
            )
        held = np.flatnonzero((c_fold == k) & c_new)
        for i in held:
            county_correct.append((model.score_tokens(c_tokens[i], c_texts[i]) >= 0.5) == c_y[i])
        log.info("retrain sentiment fold %d done", k)
    return {
        "accuracy_waimai": round(float(np.mean(scores["waimai"])), 4),
        "accuracy_hotel": round(float(np.mean(scores["hotel"])), 4),
        "county_accuracy": round(float(np.mean(county_correct)), 4) if county_correct else None,
        "county_new_rows": len(county_correct),
    }


def fit_sentiment(ref: Reference, county: list[tuple[str, int]], out: Path) -> None:
    """Fit the sentiment model on both reference corpora and the county's comments."""
    config = sentiment_train.DEFAULT_CONFIG
    xs, ys, ws = [], [], []
    for name, (tokens, texts, y) in ref.sentiment().items():
        xs += sentiment_train._features(tokens, texts, config)
        ys.append(y)
        ws.append(np.full(len(y), sentiment_train._weight(name, config)))
    c_tokens, c_texts, c_y, _ = _county_sentiment(county)
    xs += sentiment_train._features(c_tokens, c_texts, config)
    ys.append(c_y)
    ws.append(np.ones(len(c_y)))
    model = sentiment_train.fit(xs, np.concatenate(ys), np.concatenate(ws), config)
    model.save(out / SENTIMENT_ARTIFACT)


# -- the old model's figures --------------------------------------------------------------------
def _old_county_accuracy(kind: str, store: ModelStore, active: str | None, county, new):
    """The active model's accuracy on the county rows it was not trained on."""
    rows = [county[i] for i in sorted(new)]
    if not rows:
        return None
    folder = store.path(active) if active else None
    if kind == TOPIC:
        path = folder / TOPIC_ARTIFACT if folder and (folder / TOPIC_ARTIFACT).is_file() else None
        m = TopicModel.load(path or train.ARTIFACTS_DIR / TOPIC_ARTIFACT)
        from nlp.segment import content_words

        texts = [clean_text(text) for text, _ in rows]
        probs, _ = m.probabilities([content_words(segment(x)) for x in texts], texts)
        return round(
            float(np.mean([m.labels[p.argmax()] == lab for p, (_, lab) in zip(probs, rows)])),
            4,
        )
    name = SENTIMENT_ARTIFACT
    path = folder / name if folder and (folder / name).is_file() else train.ARTIFACTS_DIR / name
    m = SentimentModel.load(path)
    texts = [clean_text(text) for text, _ in rows]
    return round(
        float(
            np.mean(
                [
                    (m.score_tokens(segment(x), x) >= 0.5) == bool(y)
                    for x, (_, y) in zip(texts, rows)
                ]
            )
        ),
        4,
    )


def _baseline_scores(
    store: ModelStore, ref: Reference, active: str | None, seen: CountyData, fingerprint: str
) -> dict:
    """The active recipe's reference scores: from its manifest (or the cached shipped
    scores) when they were made on the same reference data, else computed now."""
    if active is not None:
        manifest = store.manifest(active)
        if manifest.get("reference_fingerprint") == fingerprint and manifest.get("scores"):
            return manifest["scores"]
    else:
        cached = store.root / SHIPPED_SCORES
        try:
            data = json.loads(cached.read_text(encoding="utf-8"))
            if data.get("reference_fingerprint") == fingerprint:
                return data["scores"]
        except (FileNotFoundError, ValueError, KeyError, AttributeError):
            pass
    log.info("computing the cross-validated scores of the active models (%s)", active or SHIPPED)
    scores = {
        TOPIC: topic_cv(ref, seen.topic, set()),
        SENTIMENT: sentiment_cv(ref, seen.sentiment, set()),
    }
    if active is None:
        store.root.mkdir(parents=True, exist_ok=True)
        (store.root / SHIPPED_SCORES).write_text(
            json.dumps({"reference_fingerprint": fingerprint, "scores": scores}, indent=2),
            encoding="utf-8",
        )
    return scores


def _seen_data(store: ModelStore, active: str | None) -> CountyData:
    """The county data the active version learned from (none for the shipped models)."""
    if active is None:
        return CountyData()
    path = store.path(active) / COUNTY_FILE
    if not path.is_file():
        return CountyData()
    try:
        return CountyData.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError) as exc:
        raise StoreError(
            f"当前版本 {active} 的 {COUNTY_FILE} 无法读取：{exc}",
            f"{COUNTY_FILE} of the active version {active} cannot be read: {exc}",
        ) from None


# -- the whole retrain ----------------------------------------------------------------------------
def retrain(
    store: ModelStore,
    county: CountyData,
    *,
    data_dir: Path,
    min_department_examples: int = 20,
    tolerance: float = DEFAULT_TOLERANCE,
    folds: int = train.FOLDS,
    seed: int = train.SEED,
    force: bool = False,
) -> RetrainResult:
    """Build, compare and (when no reference score drops) activate a candidate version."""
    started = time.perf_counter()
    with store.lock():
        result = _retrain(
            store, county, Path(data_dir), min_department_examples, tolerance, folds, seed, force
        )
    result.seconds = round(time.perf_counter() - started, 1)
    store.log_attempt(
        {
            "status": result.status,
            "active_before": result.active_before or SHIPPED,
            "version": result.version,
            "fingerprints": county.fingerprints(),
            "comparison": result.comparison,
            "seconds": result.seconds,
        }
    )
    return result


def _retrain(store, county, data_dir, min_department_examples, tolerance, folds, seed, force):
    active = store.active_name()
    counts = county.counts()

    def refused(zh: str, en: str, comparison=None, status="refused") -> RetrainResult:
        return RetrainResult(status, zh, en, active, active, None, comparison or [], counts)

    # Labels the reference data does not have cannot be learned: drop them up front.
    ref = Reference(data_dir, folds, seed)
    try:
        if active is not None:
            store.verify(active)
        seen = _seen_data(store, active)
        ref.check()
        labels = set(ref.topic()["classes"])
    except StoreError as err:
        return refused(err.message_zh, err.message_en)
    unknown = sum(1 for _, label in county.topic if label not in labels)
    county = CountyData(
        [(t, lab) for t, lab in county.topic if lab in labels],
        list(county.department),
        [(t, int(y)) for t, y in county.sentiment if y in (0, 1)],
    )
    counts = county.counts() | {"topic_unknown_labels_dropped": unknown}
    fingerprints = county.fingerprints()
    changed = [
        kind
        for kind in (TOPIC, SENTIMENT, DEPARTMENT)
        if fingerprints[kind] != seen.fingerprint(kind)
    ]
    if not changed:
        where = active or "随程序发布的模型"
        where_en = active or "the shipped models"
        return refused(
            f"没有新的本县数据（纠正派单与带评语的评价与当前模型 {where} 训练时相同），"
            "未生成新版本",
            f"no new county data (routing corrections and rated comments are those the active "
            f"models, {where_en}, were trained on): no new version was built",
            status="no_new_data",
        )
    last = next((a for a in reversed(store.attempts()) if a.get("status") != "no_new_data"), None)
    if (
        not force
        and last is not None
        and last.get("status") == "refused"
        and last.get("fingerprints") == fingerprints
        and last.get("active_before") == (active or SHIPPED)
    ):
        return refused(
            "自上次被拒绝的候选模型以来没有新的本县数据，未重新训练（--force 可强制重试）",
            "no new county data since the last refused candidate: not retrained "
            "(--force retries anyway)",
            status="no_new_data",
        )
    fingerprint = ref.fingerprint()
    old = _baseline_scores(store, ref, active, seen, fingerprint)
    new = {kind: dict(old[kind]) for kind in (TOPIC, SENTIMENT)}
    if TOPIC in changed:
        new[TOPIC] = topic_cv(ref, county.topic, county.new_rows(TOPIC, seen))
    if SENTIMENT in changed:
        new[SENTIMENT] = sentiment_cv(ref, county.sentiment, county.new_rows(SENTIMENT, seen))
    comparison = []
    for kind in (TOPIC, SENTIMENT):
        old_kind = dict(old[kind])
        if kind in changed:
            old_kind["county_accuracy"] = _old_county_accuracy(
                kind, store, active, county.rows(kind), county.new_rows(kind, seen)
            )
        else:
            new[kind]["county_accuracy"] = old_kind["county_accuracy"] = None
        for metric in (*GATED[kind], "auto_routed_share", "county_accuracy"):
            if metric not in new[kind]:
                continue
            before, after = old_kind.get(metric), new[kind].get(metric)
            gated = metric in GATED[kind]
            ok = (
                not gated
                or kind not in changed
                or before is None
                or after is None
                or after >= before - tolerance
            )
            comparison.append(
                {
                    "model": kind,
                    "metric": metric,
                    "label_zh": METRIC_LABELS[metric][0],
                    "label_en": METRIC_LABELS[metric][1],
                    "old": before,
                    "new": after,
                    "change": None
                    if before is None or after is None
                    else round(after - before, 4),
                    "gated": gated,
                    "ok": ok,
                    "retrained": kind in changed,
                }
            )
    dropped = [row for row in comparison if not row["ok"]]
    if dropped:
        names_zh = "、".join(r["label_zh"] for r in dropped)
        names_en = ", ".join(r["label_en"] for r in dropped)
        return refused(
            f"候选模型在参考数据上的交叉验证得分下降（{names_zh}），当前模型保持不变",
            f"the candidate's cross-validated scores on the reference data dropped "
            f"({names_en}): the active models stay as they are",
            comparison,
        )
    staging = store.staging_dir()
    try:
        department_report = _build(
            store, ref, county, seen, active, changed, new, staging, min_department_examples
        )
        _check_loads(staging)
        (staging / COUNTY_FILE).write_text(county.to_json(), encoding="utf-8")
        name = store.add_version(
            staging,
            {
                "created": now_iso(),
                "previous": active or SHIPPED,
                "retrained": changed,
                "data": {"county": counts, "reference": _reference_counts(ref)},
                "county_fingerprints": fingerprints,
                "reference_fingerprint": fingerprint,
                "scores": new,
                "compared_with": {"version": active or SHIPPED, "scores": old},
                "tolerance": tolerance,
                "department": department_report,
            },
        )
    except StoreError as err:
        store.discard(staging)
        return refused(err.message_zh, err.message_en, comparison)
    except Exception:
        store.discard(staging)
        raise
    try:
        store.activate(name)  # checks the hashes once more
    except StoreError as err:
        return refused(err.message_zh, err.message_en, comparison)
    return RetrainResult(
        "activated",
        f"已启用新模型版本 {name}（之前：{active or '随程序发布的模型'}）",
        f"model version {name} is now active (before: {active or 'the shipped models'})",
        active,
        name,
        name,
        comparison,
        counts,
        department_report,
    )


def _build(store, ref, county, seen, active, changed, new, staging, min_department_examples):
    """Write the candidate's artifacts: retrained ones fitted, the others carried over."""
    folder = store.path(active) if active else None
    for kind, artifact in ((TOPIC, TOPIC_ARTIFACT), (SENTIMENT, SENTIMENT_ARTIFACT)):
        if kind in changed:
            if kind == TOPIC:
                fit_topic(ref, county.topic, new[TOPIC], staging)
            else:
                fit_sentiment(ref, county.sentiment, staging)
        elif folder is not None and (folder / artifact).is_file():
            shutil.copyfile(folder / artifact, staging / artifact)
    report = None
    if county.department:
        # The board's messages, whole and as titles, set each department's bar.
        t = ref.topic()
        model, report = department_mod.train(
            county.department,
            [],
            min_examples=min_department_examples,
            reference_features=t["full"] + [f for f in t["titles"] if f is not None],
        )
        if model is not None:
            model.save(staging / department_mod.ARTIFACT)
    return report


def _check_loads(staging: Path) -> None:
    """Load every written artifact back and score one text: a file that does not is refused."""
    probe = "小区门口的路灯坏了一个月没人修"
    cleaned = clean_text(probe)
    tokens = segment(cleaned)
    from nlp.segment import content_words

    for path in sorted(staging.glob("*.npz")):
        try:
            if path.name == SENTIMENT_ARTIFACT:
                SentimentModel.load(path).score_tokens(tokens, cleaned)
            else:
                TopicModel.load(path).decision([content_words(tokens)], [cleaned])
        except Exception as exc:  # noqa: BLE001  (any failure means an unusable artifact)
            raise StoreError(
                f"候选模型文件 {path.name} 无法读取（{exc}），当前模型保持不变",
                f"the candidate's {path.name} cannot be read back ({exc}): the active models "
                "stay as they are",
            ) from None


def _reference_counts(ref: Reference) -> dict:
    t = ref.topic()
    return {
        "topic_messages": len(t["rows"]),
        "sentiment_waimai": len(ref.sentiment()["waimai"][2]),
        "sentiment_hotel": len(ref.sentiment()["hotel"][2]),
    }
