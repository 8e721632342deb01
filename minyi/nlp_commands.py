"""`minyi nlp retrain`, `rollback` and `models`: the county's own model versions.

The core reads the county's data (routing corrections, rated comments) and hands it to
nlp.retrain as plain lists; the versions live under [nlp] model_dir, and every process that
serves nlp picks the active one up within seconds (nlp.model_store).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from minyi.errors import MinyiError

CLI_ACTOR_NAME = "cli"


def model_store(settings):
    from nlp.model_store import ModelStore

    return ModelStore(Path(settings.nlp.model_dir))


def _store_error(err) -> MinyiError:
    return MinyiError(err.message_zh, err.message_en)


def _format_option(command):
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help="输出格式 / output format",
    )(command)


@click.command("retrain")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="参考训练数据目录 / the shipped reference data [default: $MINYI_NLP_DATA or "
    "<repo>/../shared/data].",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(0, 0.1),
    default=None,
    help="参考得分允许的最大下降 / largest drop of a reference score still accepted "
    "[default: 0.002].",
)
@click.option(
    "--folds",
    type=click.IntRange(2, 10),
    default=5,
    show_default=True,
    help="交叉验证折数 / folds",
)
@click.option(
    "--force",
    is_flag=True,
    help="即使上次候选被拒且数据未变也重新训练 / retrain even when the last candidate was "
    "refused on the same data",
)
@_format_option
@click.pass_obj
def retrain_cmd(runtime, data_dir, tolerance, folds, force, fmt) -> None:
    """用本县的纠正派单和评价重新训练模型 / retrain the models with the county's routing
    corrections and rated comments; the candidate becomes active only when its
    cross-validated scores on the reference data do not drop.

    Exit 0 when a version was activated or there was nothing new, 1 when refused.
    """
    from nlp.cli import _require_training_packages

    _require_training_packages()
    from minyi.services.actors import Actor
    from minyi.services.learning import county_examples
    from nlp import retrain, train
    from nlp.model_store import StoreError

    settings = runtime.settings
    data_dir = data_dir or train.default_data_dir()
    with runtime.session_factory()() as session:
        examples = county_examples(
            session, settings, actor=Actor.system(CLI_ACTOR_NAME, "nlp.retrain")
        )
    county = retrain.CountyData(examples.topic, examples.department, examples.sentiment)
    try:
        result = retrain.retrain(
            model_store(settings),
            county,
            data_dir=data_dir,
            min_department_examples=settings.nlp.min_corrections_per_department,
            tolerance=retrain.DEFAULT_TOLERANCE if tolerance is None else tolerance,
            folds=folds,
            force=force,
        )
    except StoreError as err:
        raise _store_error(err) from None
    report = result.to_dict() | {
        "county_data": result.counts
        | {"corrections_without_topic": examples.corrections_without_topic}
    }
    if fmt == "json":
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _print_retrain(result, examples.corrections_without_topic)
    if result.status == "refused":
        if fmt == "json":
            click.echo(f"错误：{result.message_zh}\nError: {result.message_en}", err=True)
        sys.exit(1)


def _print_retrain(result, without_topic: int) -> None:
    counts = result.counts
    click.echo(
        f"本县数据 / county data: 话题样本 topic examples {counts.get('topic_examples', 0)}, "
        f"部门样本 department examples {counts.get('department_examples', 0)} "
        f"(无法确定话题 without a topic: {without_topic}), "
        f"评价 rated comments +{counts.get('sentiment_positive', 0)}"
        f" / -{counts.get('sentiment_negative', 0)}"
    )
    if result.comparison:
        before = result.active_before or "shipped"
        rows = [
            ("指标 / metric", f"当前 / active ({before})", "候选 / candidate", "变化 / change")
        ]
        for row in result.comparison:
            if row["old"] is None and row["new"] is None:
                continue
            mark = "" if row["gated"] else " *"
            change = _change(row["change"]) + ("" if row["ok"] else "  ✗")
            if not row["retrained"]:
                change += "  (未重训 / not retrained)"
            rows.append(
                (
                    f"{row['label_zh']} / {row['label_en']}{mark}",
                    _figure(row["old"]),
                    _figure(row["new"]),
                    change,
                )
            )
        click.echo(_table(rows))
        click.echo("* 仅供参考，不参与把关 / shown only, not gated")
    if result.department and result.department.get("learned"):
        learned = ", ".join(
            f"{code} ({info['examples']}, LOO {info['leave_one_out_recall']:.2f})"
            for code, info in result.department["learned"].items()
        )
        click.echo(f"按纠正学习的部门 / departments learned from corrections: {learned}")
    stream_err = result.status == "refused"
    click.echo(f"{result.message_zh}\n{result.message_en}", err=stream_err)


def _figure(value) -> str:
    return "—" if value is None else f"{value:.4f}"


def _change(value) -> str:
    return "—" if value is None else f"{value:+.4f}"


def _table(rows: list[tuple[str, ...]]) -> str:
    import unicodedata

    def width(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)

    widths = [max(width(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [c + " " * (w - width(c)) for c, w in zip(r, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


@click.command("rollback")
@click.option(
    "--to",
    "target",
    default=None,
    help="回退到指定版本（或 shipped）/ go back to this version (or shipped) "
    "[default: the one active before].",
)
@click.pass_obj
def rollback_cmd(runtime, target) -> None:
    """恢复之前的模型版本 / restore the model version active before the current one."""
    from nlp.model_store import StoreError

    store = model_store(runtime.settings)
    try:
        with store.lock():
            before, after = store.rollback(target)
    except StoreError as err:
        raise _store_error(err) from None
    after_zh = "随程序发布的模型" if after == "shipped" else after
    after_en = "the shipped models" if after == "shipped" else after
    click.echo(
        f"已回退：{before} → {after_zh}（网站与机器人数秒内生效）\n"
        f"rolled back: {before} → {after_en} (the web and the bot follow within seconds)"
    )


@click.command("models")
@_format_option
@click.pass_obj
def models_cmd(runtime, fmt) -> None:
    """列出模型版本 / list the model versions, the active one marked."""
    store = model_store(runtime.settings)
    infos = store.describe()
    active = store.active_name()
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "model_dir": str(store.root.absolute()),
                    "active": active or "shipped",
                    "versions": [
                        {
                            "version": info.name,
                            "active": info.active,
                            "ok": info.problem is None,
                            "problem": info.problem and info.problem[1],
                            "created": (info.manifest or {}).get("created"),
                            "previous": (info.manifest or {}).get("previous"),
                            "retrained": (info.manifest or {}).get("retrained"),
                            "data": (info.manifest or {}).get("data"),
                            "scores": (info.manifest or {}).get("scores"),
                        }
                        for info in infos
                    ],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    rows = [
        (
            "",
            "版本 / version",
            "创建 / created",
            "重训 / retrained",
            "话题F1 / topic F1",
            "状态 / state",
        )
    ]
    for info in infos:
        manifest = info.manifest or {}
        topic = (manifest.get("scores") or {}).get("topic") or {}
        rows.append(
            (
                "*" if info.active else "",
                info.name,
                str(manifest.get("created") or "—"),
                ",".join(manifest.get("retrained") or []) or "—",
                _figure(topic.get("macro_f1_title_body")),
                "正常 / ok" if info.problem is None else f"损坏 / corrupt: {info.problem[1]}",
            )
        )
    rows.append(("*" if active is None else "", "shipped", "—", "—", "—", "随程序发布 / shipped"))
    click.echo(f"模型目录 / model dir: {store.root.absolute()}")
    click.echo(_table(rows))
