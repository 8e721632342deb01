"""`minyi nlp …`: classify a text, retrain the shipped artifacts, evaluate on a labelled CSV.

Run standalone as `python -m nlp.cli`; the core adds the `nlp` group to the `minyi` command.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import click

TOPIC_TASK = "topic"
SENTIMENT_TASK = "sentiment"
REQUEST_TYPE_TASK = "request_type"
# Thresholds of the coverage/accuracy table `evaluate --task topic` prints.
COVERAGE_THRESHOLDS = tuple(round(0.3 + 0.05 * i, 2) for i in range(14))  # 0.30 … 0.95


@click.group("nlp")
def nlp() -> None:
    """Chinese text analysis: topic routing, sentiment, keywords."""


STDIN = "-"


def text_input(command):
    """TEXT argument and --file option of `classify`, shared with the core's variant."""
    command = click.option(
        "--file",
        "file",
        type=click.Path(exists=True, dir_okay=False, allow_dash=True),
        default=None,
        help="从文件读取文字（UTF-8 或 GB18030；- 为标准输入）/ read the text from FILE "
        "(UTF-8 or GB18030; - for stdin).",
    )(command)
    return click.argument("text", required=False)(command)


def read_text_input(text: str | None, file: str | None) -> str:
    """The text to classify from TEXT, `-` (stdin) or --file; refuses none, both and empty."""
    if text is not None and file is not None:
        raise click.UsageError("TEXT 与 --file 只能给一个 / give TEXT or --file, not both")
    if text is None and file is None:
        raise click.UsageError(
            "请给出文字、--file FILE，或用 - 从标准输入读取 / "
            "give the TEXT, --file FILE, or - to read standard input"
        )
    if text is not None and text != STDIN:
        content = text
    elif (file or STDIN) == STDIN:
        content = _decode(sys.stdin.buffer.read(), "stdin")
    else:
        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            raise click.UsageError(
                f"无法读取 {file} / cannot read {file}: {exc.strerror}"
            ) from None
        content = _decode(data, file)
    if not content.strip():
        raise click.UsageError(
            "没有可分析的文字（输入为空）/ nothing to classify: the input is empty"
        )
    return content


def _decode(data: bytes, name: str) -> str:
    # Windows tools in China still write GB18030/GBK; try UTF-8 (with or without BOM) first.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise click.UsageError(
        f"{name} 不是 UTF-8 或 GB18030 文字 / {name} is neither UTF-8 nor GB18030 text"
    )


def _default_threshold() -> float:
    from nlp.topic import DEFAULT_REVIEW_THRESHOLD

    return DEFAULT_REVIEW_THRESHOLD


def threshold_option(command):
    """--threshold of `classify` and `evaluate`: the shipped, cross-validated default."""
    return click.option(
        "--threshold",
        type=click.FloatRange(0, 1),
        default=None,
        help="话题概率低于此值需人工分拣 / below this topic probability the result needs "
        "review [default: the model's cross-validated threshold].",
    )(command)


@nlp.command("classify")
@text_input
@threshold_option
def classify_cmd(text: str | None, file: str | None, threshold: float) -> None:
    """Analyse TEXT (or --file FILE, or - for stdin) and print the result as JSON."""
    from nlp.pipeline import analyze

    content = read_text_input(text, file)
    if threshold is None:
        threshold = _default_threshold()
    click.echo(
        json.dumps(analyze(content, review_threshold=threshold).to_dict(), ensure_ascii=False)
    )


@nlp.command("train")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Shared data directory [default: $MINYI_NLP_DATA or <repo>/../shared/data].",
)
@click.option(
    "--messages",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Topic CSV [default: DATA/tipdm2020_messages/train.csv].",
)
@click.option(
    "--waimai",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Sentiment CSV [default: DATA/waimai_10k/train.csv].",
)
@click.option(
    "--hotel",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Sentiment CSV [default: DATA/chnsenticorp_htl/train.csv].",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Artifact directory [default: the package's nlp/artifacts].",
)
def train_cmd(data_dir, messages, waimai, hotel, out) -> None:
    """Rebuild the nlp artifacts and print the cross-validated scores as JSON.

    Needs scikit-learn, which serving does not: pip install 'minyi[train]'.
    """
    _require_training_packages()
    from nlp import train

    data_dir = data_dir or train.default_data_dir()
    messages = messages or data_dir / "tipdm2020_messages" / "train.csv"
    waimai = waimai or data_dir / "waimai_10k" / "train.csv"
    hotel = hotel or data_dir / "chnsenticorp_htl" / "train.csv"
    out = out or train.ARTIFACTS_DIR
    for path in (messages, waimai, hotel):
        if not path.is_file():
            raise click.UsageError(f"training data not found: {path} (see --data)")
    try:
        report = train.train_all(
            messages=messages, waimai=waimai, hotel=hotel, out=out, data_dir=data_dir
        )
    except (ValueError, KeyError) as exc:
        raise click.UsageError(f"cannot train: {exc}") from exc
    click.echo(json.dumps(report, ensure_ascii=False, indent=2))


TRAIN_INSTALL = "pip install 'minyi[train]'"


def _require_training_packages() -> None:
    """Stop with the install command when scikit-learn (the `train` extra) is missing."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        click.echo(
            f"错误：重新训练模型需要 scikit-learn（运行网站不需要）。请安装：{TRAIN_INSTALL}"
            "（make test 会安装它）\n"
            f"Error: retraining the models needs scikit-learn (serving does not). "
            f"Install it with: {TRAIN_INSTALL} (make test installs it)",
            err=True,
        )
        sys.exit(1)


@nlp.command("evaluate")
@click.option(
    "--task", type=click.Choice([TOPIC_TASK, SENTIMENT_TASK, REQUEST_TYPE_TASK]), required=True
)
@click.option(
    "--data",
    "data_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Labelled UTF-8 CSV.",
)
@click.option(
    "--text-column",
    default=None,
    help="Text column [default: `text`; else for topic `title`+`body` (falling back "
    "to `body_seg` when both are empty), for sentiment `body`].",
)
@click.option("--label-column", default="label", show_default=True)
@threshold_option
def evaluate_cmd(
    task: str,
    data_path: Path,
    text_column: str | None,
    label_column: str,
    threshold: float | None,
) -> None:
    """Score the shipped model on a labelled CSV; prints one JSON object.

    Topic labels are the first-level topic names; sentiment labels are 0/1 and a score of
    at least 0.5 counts as positive; request_type labels are 投诉, 咨询, 建议, 表扬.
    texts_per_second covers the pipeline (for sentiment: normalisation, segmentation and the
    sentiment model). For topic it also gives selective routing: the share of texts routed
    without review at the threshold (auto_routed_share), how many of those are right
    (auto_routed_accuracy) and the same for a range of thresholds (coverage).
    """
    header, rows = _read_labelled_csv(data_path)
    if label_column not in header:
        raise click.BadParameter(
            f"no column {label_column!r} in {data_path} (columns: {', '.join(header)})",
            param_hint="--label-column",
        )
    texts = _texts(task, header, rows, text_column, data_path)
    gold = [(r.get(label_column) or "").strip() for r in rows]
    if task == SENTIMENT_TASK:
        bad = sorted({g for g in gold if g not in ("0", "1")})
        if bad:
            raise click.BadParameter(
                f"sentiment labels must be 0 or 1, found {', '.join(map(repr, bad[:5]))}",
                param_hint="--label-column",
            )
    elif task == REQUEST_TYPE_TASK:
        from nlp.request_type import LABELS

        _check_labels(gold, LABELS, "request type")
    else:
        from nlp.topic import model

        _check_labels(gold, model().labels, "topic")
    _predict(task, texts[:1])  # load the models outside the timed part
    started = time.perf_counter()
    predicted, probabilities = _predict(task, texts)
    elapsed = time.perf_counter() - started
    result = {"task": task, **classification_report(gold, predicted)}
    result["texts_per_second"] = round(len(texts) / elapsed, 1) if elapsed > 0 else None
    if task == TOPIC_TASK:
        if threshold is None:
            threshold = _default_threshold()
        at = selective_routing(gold, predicted, probabilities, threshold)
        result |= {"threshold": threshold, **at}
        result["coverage"] = [
            {"threshold": t, **selective_routing(gold, predicted, probabilities, t)}
            for t in COVERAGE_THRESHOLDS
        ]
    click.echo(json.dumps(result, ensure_ascii=False))


def selective_routing(gold, predicted, probabilities, threshold: float) -> dict:
    """Share of texts routed without review at `threshold` and the accuracy of those."""
    routed = [
        g == p
        for g, p, prob in zip(gold, predicted, probabilities, strict=True)
        if p is not None and prob >= threshold
    ]
    return {
        "auto_routed_share": round(len(routed) / len(gold), 4) if gold else 0.0,
        "auto_routed_accuracy": round(sum(routed) / len(routed), 4) if routed else None,
    }


def _check_labels(gold: list[str], labels, kind: str) -> None:
    """Refuse a file with none of the model's labels; warn about labels it cannot predict."""
    known = set(labels)
    unknown = sorted({g for g in gold if g not in known})
    if len(unknown) == len(set(gold)):
        raise click.BadParameter(
            f"none of the labels is a {kind} of the model ({', '.join(sorted(known))}); "
            f"found {', '.join(map(repr, unknown[:5]))}",
            param_hint="--label-column",
        )
    if unknown:
        click.echo(
            f"警告：{len(unknown)} 个标签不在模型主题中，这些行必然判错 / warning: labels the "
            f"model cannot predict, counted as errors: {', '.join(map(repr, unknown[:5]))}",
            err=True,
        )


def _read_labelled_csv(path: Path) -> tuple[list[str], list[dict]]:
    csv.field_size_limit(10_000_000)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in reader.fieldnames or []]
            reader.fieldnames = header
            rows = list(reader)
    except FileNotFoundError:
        raise click.BadParameter(f"file not found: {path}", param_hint="--data") from None
    except (UnicodeDecodeError, csv.Error, OSError) as exc:
        raise click.BadParameter(
            f"cannot read {path} as UTF-8 CSV: {exc}", param_hint="--data"
        ) from None
    if not header:
        raise click.BadParameter(f"{path} is empty", param_hint="--data")
    if not rows:
        raise click.BadParameter(f"{path} has a header but no rows", param_hint="--data")
    return header, rows


def _texts(task, header, rows, text_column, path) -> list[str]:
    if text_column is not None:
        if text_column not in header:
            raise click.BadParameter(
                f"no column {text_column!r} in {path} (columns: {', '.join(header)})",
                param_hint="--text-column",
            )
        return [r.get(text_column) or "" for r in rows]
    if "text" in header:
        return [r.get("text") or "" for r in rows]
    if task in (TOPIC_TASK, REQUEST_TYPE_TASK) and {"title", "body"} <= set(header):
        from nlp.train import topic_text

        return [topic_text(r) for r in rows]
    if "body" in header:
        return [r.get("body") or "" for r in rows]
    raise click.BadParameter(
        f"{path} has no text column (looked for 'text', 'title'+'body', 'body'); "
        "name one with --text-column",
        param_hint="--text-column",
    )


def _predict(task: str, texts: list[str]) -> tuple[list[str | None], list[float]]:
    """The task's prediction for each text and its probability, as the pipeline gives them
    (a text with too little Chinese gets no topic or type and a neutral sentiment)."""
    from nlp.pipeline import analyze_many

    if task == SENTIMENT_TASK:
        from nlp import sentiment
        from nlp.normalize import has_enough_chinese
        from nlp.segment import clean_text, segment

        cleaned = [clean_text(t) for t in texts]
        tokens = [segment(t) if has_enough_chinese(t) else [] for t in cleaned]
        scores = sentiment.score_many(
            (tok, text if tok else "") for tok, text in zip(tokens, cleaned, strict=True)
        )
        return ["1" if score >= 0.5 else "0" for score in scores], scores
    analyses = analyze_many(texts)
    if task == REQUEST_TYPE_TASK:
        return [a.request_type for a in analyses], [a.request_type_probability for a in analyses]
    return [a.topic for a in analyses], [a.topic_probability for a in analyses]


def classification_report(gold: list[str], predicted: list[str | None]) -> dict:
    """n, accuracy, macro-F1 and per-label precision/recall/F1/support.

    Labels are those in `gold` or `predicted` (as scikit-learn does); a missing prediction
    (None: nothing to go on) counts as wrong.
    """
    n = len(gold)
    labels = sorted(set(gold) | {p for p in predicted if p is not None})
    per_label = {}
    f1s = []
    for label in labels:
        tp = sum(1 for g, p in zip(gold, predicted) if g == label and p == label)
        n_pred = sum(1 for p in predicted if p == label)
        support = sum(1 for g in gold if g == label)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1s.append(f1)
        per_label[label] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": support,
        }
    correct = sum(1 for g, p in zip(gold, predicted) if g == p)
    macro = sum(f1s) / len(f1s) if f1s else 0.0
    return {
        "n": n,
        "accuracy": round(correct / n, 4) if n else 0.0,
        "macro_f1": round(macro, 4),
        "per_label": per_label,
    }


if __name__ == "__main__":
    nlp()
