"""One real `minyi nlp retrain` on the shared data plus a synthetic county, old vs new.

    python bench/retrain.py [--workdir DIR] [--folds 5] [--json]

Builds a county in a fresh SQLite database under DIR (default: a temporary directory):
departments as in config.example.toml, and routing corrections of three kinds that a
county's staff make again and again, in chat-style wording generated from templates:

- construction noise at night -> 生态环境局 (sthjj, topic 环境保护), which the board often
  files under 城乡建设;
- broken street lights and manhole covers -> 城管局 (cgj): the topic (城乡建设) is right, but
  the keywords send them to the first candidate, 住建局;
- shared bikes blocking pavements -> 交通运输局 (jtysj);

plus rated comments (1-2 and 4-5 with a comment). It runs `minyi nlp retrain` (the
shipped data as reference, $MINYI_NLP_DATA or <repo>/../shared/data), prints its table,
and then where the models and the core send held-out texts of the three kinds (places the
corrections never name) before and after. Takes minutes: every cross-validation fold
refits the topic model on ~20,000 rows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TRAIN_PLACES = ["东城区", "西湖街道", "南山镇", "北苑小区", "河西新村", "桥东社区", "城关镇"]
TRAIN_PLACES += ["幸福里", "锦绣花园", "人民路"]
PROBE_PLACES = ["滨江路", "凤凰小区", "新华街"]
KINDS = {
    "sthjj": [
        "{}附近工地晚上十一点还在施工，噪音吵得根本睡不着",
        "{}的建筑工地凌晨两点还在打桩，严重扰民",
        "{}旁边工地夜里施工机器轰鸣，老人孩子都没法休息",
        "{}工地夜间施工噪音太大，投诉几次都没人管",
    ],
    "cgj": [
        "{}的路灯坏了好几盏，晚上一片漆黑",
        "{}人行道上的井盖丢了，很危险",
        "{}主干道路灯不亮一个多月了，没人来修",
        "{}路口井盖松动，车一压就响",
    ],
    "jtysj": [
        "{}共享单车乱停乱放，把人行道都堵死了",
        "{}地铁口的共享电单车堆成山，行人没法走",
        "{}公交站旁边停满了共享单车，上下车很不方便",
        "{}共享单车占用盲道，希望有人管管",
    ],
}
COMMENTS = {
    5: [
        "窗口工作人员很耐心，十分钟就办好了",
        "办事效率高，一次就办成，非常满意",
        "大厅环境好，引导员热情，点赞",
        "网上预约很方便，到了就办，满意",
    ],
    4: ["整体不错，就是排队稍微久了点", "服务态度挺好的，材料一次说清楚了"],
    2: ["排队等了一个多小时，窗口只开了两个", "工作人员态度冷淡，问什么都不耐烦"],
    1: [
        "跑了三趟都没办成，每次都说缺材料",
        "电话一直打不通，去了现场也没人管",
        "系统老是出故障，白跑一趟，太失望了",
    ],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the retrain report as JSON")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="minyi-retrain-"))
    workdir.mkdir(parents=True, exist_ok=True)

    from click.testing import CliRunner
    from sqlalchemy import select

    from minyi.cli import main as minyi
    from minyi.config import load_settings
    from minyi.db import make_engine, make_session_factory
    from minyi.models import Department, RoutingCorrection, Ticket
    from minyi.services import catalog, ratings, tickets
    from minyi.services.context import ServiceContext
    from nlp import model_store

    config = workdir / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{workdir}/county.db"\n[nlp]\nmodel_dir = "{workdir}/nlp"\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    assert runner.invoke(minyi, ["--config", str(config), "init"]).exit_code == 0
    settings = load_settings(config)
    factory = make_session_factory(make_engine(settings))
    ctx = ServiceContext.from_settings(settings)
    codes = sorted({c for cs in settings.nlp.topic_departments.values() for c in cs})

    with factory.begin() as session:
        for code in codes:
            catalog.create_department(session, code=code, name=f"示范县{code}")
    with factory.begin() as session:
        by_code = {d.code: d for d in session.scalars(select(Department))}
        service = catalog.create_service(
            session, department=by_code["rsj"], code="s1", name="窗口"
        )
        corrections = 0
        for code, templates in KINDS.items():
            for place in TRAIN_PLACES:
                for template in templates:
                    text = template.format(place)
                    ticket = tickets.file_ticket(session, ctx, text=text, channel="web")
                    analysis = ctx.analyzer(text)
                    predicted = tickets.department_for_topic(session, ctx, analysis.topic, text)
                    if predicted is not None and predicted.code == code:
                        continue  # routed right: staff correct nothing
                    ticket.topic = analysis.topic
                    session.add(
                        RoutingCorrection(
                            ticket_id=ticket.id,
                            text=text,
                            predicted_topic=analysis.topic,
                            predicted_department_id=predicted.id if predicted else None,
                            corrected_department_id=by_code[code].id,
                        )
                    )
                    corrections += 1
        comments = 0
        for score, texts in COMMENTS.items():
            for text in texts:
                for prefix in ("", "今天来办社保，", "第二次来了，"):
                    ratings.record_rating(
                        session, ctx, service=service, score=score, comment=prefix + text
                    )
                    comments += 1
    print(f"county: {corrections} routing corrections, {comments} rated comments ({workdir})")

    probes = [(code, t.format(p)) for code, ts in KINDS.items() for t in ts for p in PROBE_PLACES]
    before = where_routed(factory, ctx, probes, tickets, Ticket)
    started = time.perf_counter()
    result = runner.invoke(
        minyi,
        ["--config", str(config), "nlp", "retrain", "--folds", str(args.folds)]
        + (["--format", "json"] if args.json else []),
    )
    print(result.output)
    print(f"retrain: exit {result.exit_code}, {time.perf_counter() - started:.0f} s")
    model_store.use_model_dir(settings.nlp.model_dir, check_seconds=0)
    after = where_routed(factory, ctx, probes, tickets, Ticket)
    print(
        "held-out texts (places the corrections never name), routed to the corrected department:"
    )
    for code in KINDS:
        n = sum(1 for c, _ in probes if c == code)
        print(f"  {code}: before {before[code]}/{n}, after {after[code]}/{n}")
    return result.exit_code


def where_routed(factory, ctx, probes, tickets, Ticket) -> dict[str, int]:
    """How many probe texts of each kind the core would send to their corrected department."""
    hits = dict.fromkeys({code for code, _ in probes}, 0)
    with factory() as session:
        for code, text in probes:
            analysis = ctx.analyzer(text)
            department = tickets.department_for_topic(session, ctx, analysis.topic, text)
            hits[code] += department is not None and department.code == code
    return hits


if __name__ == "__main__":
    raise SystemExit(main())
