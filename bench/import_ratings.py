"""Time `minyi import ratings` end to end on a generated 1,000,000-row CSV.

    python bench/import_ratings.py                  # SQLite files in a temp dir
    python bench/import_ratings.py --rows 200000 --modes live,no-nlp
    python bench/import_ratings.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test

The CSV is written once; each mode then imports it into a fresh database with a demo-like
catalogue, in a process of its own (so peak RSS is per mode):

- `live`: the default, committed batches next to a running site, comments scored by the NLP;
- `no-nlp`: the same with `--no-nlp`;
- `offline`: `--offline` (one transaction, indexes rebuilt), NLP on.

On PostgreSQL each run works in a schema of its own, dropped at the end. Prints seconds,
rows/s, CPU seconds and peak RSS; the target is < 30 s for 1,000,000 rows on SQLite.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

# Run as a script, this folder comes first on sys.path and its nlp.py would shadow the package:
# the checkout goes before it (the folder stays, for private_db).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from private_db import private_engine  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from minyi.config import load_settings  # noqa: E402
from minyi.importer import RATING_COLUMNS, import_ratings, tqdm_progress  # noqa: E402
from minyi.migrate import upgrade  # noqa: E402
from minyi.models import BadReviewFollowUp, Citizen, Department, Outlet, Rating, Service  # noqa: E402
from minyi.services.context import ServiceContext  # noqa: E402

CATALOGUE = {
    "zwfw": ("政务服务中心", ["综合受理", "证照打印", "企业开办", "工程建设项目审批", "帮办代办"]),
    "rsj": (
        "人社局",
        [
            "社保卡申领",
            "养老保险参保登记",
            "失业保险金申领",
            "就业登记",
            "职称评审",
            "劳动争议仲裁",
        ],
    ),
    "ybj": ("医保局", ["医保参保登记", "异地就医备案", "门诊慢特病认定", "医疗费用报销"]),
    "zjj": ("住建局", ["商品房预售许可", "建筑工程施工许可", "住房公积金提取", "物业投诉受理"]),
    "jtysj": ("交通运输局", ["道路运输经营许可", "出租车投诉", "公交线路咨询"]),
    "wjj": ("卫健局", ["出生医学证明", "医师执业注册", "母婴保健服务"]),
    "jyj": ("教育局", ["义务教育入学登记", "学籍变更", "教师资格认定"]),
    "sthjj": ("生态环境局", ["环评审批", "排污许可", "噪声污染投诉"]),
    "scjgj": ("市场监管局", ["个体工商户登记", "食品经营许可", "消费投诉举报"]),
    "gaj": ("公安局户籍", ["户口迁移", "居民身份证办理", "出入境证件办理"]),
    "mzj": ("民政局", ["婚姻登记", "最低生活保障申请", "殡葬服务"]),
    "zrzyj": ("自然资源局", ["不动产登记", "宅基地审批"]),
    "swj": ("税务局", ["发票领用", "个税汇算", "社保费缴纳"]),
    "nyncj": ("农业农村局", ["农机购置补贴", "动物防疫证明"]),
    "tyjrswj": ("退役军人事务局", ["优待证申领", "抚恤补助"]),
}
COMMENTS = [
    "办事效率高，工作人员态度好",
    "排队时间太长了",
    "窗口人员解释得很清楚，谢谢",
    "材料要求反复变化，跑了三趟",
    "系统经常卡顿，希望改进",
    "一次办好，很满意",
    "工作人员不耐烦",
    "指引标识不清楚，找不到窗口",
    "线上预约很方便",
    "'); DROP TABLE ratings; --",
    "<script>alert(1)</script>",
    '=HYPERLINK("http://x")',
]


def build_catalogue(engine) -> None:
    with engine.begin() as conn:
        for dep_code, (name, services) in CATALOGUE.items():
            dep_id = conn.execute(
                insert(Department.__table__)
                .values(
                    code=dep_code, name=name, active=True, created_at=datetime.now().astimezone()
                )
                .returning(Department.__table__.c.id)
            ).scalar_one()
            for n, service in enumerate(services, 1):
                conn.execute(
                    insert(Service.__table__).values(
                        code=f"{dep_code}-{n:03d}", name=service, department_id=dep_id, active=True
                    )
                )
        conn.execute(
            insert(Outlet.__table__),
            [{"code": f"hall-{n}", "name": f"第{n}服务大厅"} for n in range(1, 6)],
        )


OPENINGS = [
    "",
    "今天",
    "上午来办事，",
    "第二次来了，",
    "带老人来办，",
    "帮家里人办，",
    "网上预约后",
]
ENDINGS = ["", "，谢谢", "，希望改进", "！", "。"]


def comment_for(rng: random.Random) -> str:
    """A comment from a few thousand distinct ones, as a county's short reviews repeat."""
    ending = rng.choice(ENDINGS) if rng.random() < 0.7 else f"，等了{rng.randint(2, 90)}分钟"
    return rng.choice(OPENINGS) + rng.choice(COMMENTS) + ending


def write_csv(path: Path, rows: int, service_codes: list[str], seed: int = 7) -> None:
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, 8, 0, 0)
    span = int(timedelta(days=300).total_seconds())
    scores = [5] * 50 + [4] * 25 + [3] * 10 + [2] * 8 + [1] * 7
    channels = ["web", "telegram", "import", "survey", "phone"]
    aspects = ["", "", "", "办事效率", "服务态度", "指引准确"]
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(RATING_COLUMNS)
        for n in range(rows):
            created = start + timedelta(seconds=rng.randrange(span))
            score = rng.choice(scores)
            done = ""
            if score <= 2 and rng.random() < 0.6:
                done = (created + timedelta(days=rng.randint(1, 9))).isoformat(" ")
            out.writerow(
                [
                    created.isoformat(" "),
                    rng.choice(service_codes),
                    score,
                    comment_for(rng) if rng.random() < 0.4 else "",
                    rng.choice(aspects),
                    rng.choice(channels),
                    f"hall-{rng.randint(1, 5)}" if rng.random() < 0.5 else "",
                    f"c{rng.randrange(100_000)}" if rng.random() < 0.5 else "",
                    f"old-{n}",
                    done,
                ]
            )


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


MODES = {"live": (True, False), "no-nlp": (False, False), "offline": (True, True)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", help="database URL (default: a fresh SQLite file per mode)")
    parser.add_argument("--modes", default="live,no-nlp,offline", help="comma-separated")
    parser.add_argument("--progress", action="store_true", help="show a tqdm bar")
    parser.add_argument("--csv", help=argparse.SUPPRESS)  # a child process: import this file
    args = parser.parse_args()
    if args.csv:
        return run_mode(args, Path(args.csv))
    with tempfile.TemporaryDirectory(prefix="minyi-bench-") as tmp:
        csv_path = Path(tmp) / "ratings.csv"
        t0 = time.perf_counter()
        write_csv(csv_path, args.rows, [code for code, _dep in service_codes()])
        print(
            f"generated {args.rows:,} rows ({csv_path.stat().st_size / 1e6:.0f} MB) in "
            f"{time.perf_counter() - t0:.1f} s; load average {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} CPUs"
        )
        for mode in args.modes.split(","):
            child = [sys.executable, __file__, "--csv", str(csv_path), "--modes", mode]
            child += ["--rows", str(args.rows)] + (["--url", args.url] if args.url else [])
            child += ["--progress"] if args.progress else []
            if subprocess.run(child, check=False).returncode != 0:
                return 1
    return 0


def service_codes() -> list[tuple[str, str]]:
    return [
        (f"{dep}-{n:03d}", dep)
        for dep, (_name, services) in CATALOGUE.items()
        for n in range(1, len(services) + 1)
    ]


def run_mode(args, csv_path: Path) -> int:
    """Import `csv_path` once in the mode asked for, into a fresh database; print the figures."""
    mode = args.modes
    nlp, offline = MODES[mode]
    settings = load_settings()
    with tempfile.TemporaryDirectory(prefix="minyi-bench-db-") as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        with private_engine(settings, url, "minyi_bench") as engine:
            upgrade(engine)
            build_catalogue(engine)
            ctx = ServiceContext.from_settings(settings, **({} if nlp else {"analyzer": None}))
            progress = tqdm_progress(f"导入评价 {mode}") if args.progress else None
            t0, cpu0 = time.perf_counter(), time.process_time()
            report = import_ratings(engine, ctx, csv_path, progress=progress, offline=offline)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            if progress is not None:
                progress.close()
            with engine.connect() as conn:
                stored = conn.scalar(select(func.count()).select_from(Rating.__table__))
                scored = conn.scalar(
                    select(func.count()).where(Rating.__table__.c.sentiment_score.is_not(None))
                )
                follow_ups = conn.scalar(
                    select(func.count()).select_from(BadReviewFollowUp.__table__)
                )
                citizens = conn.scalar(select(func.count()).select_from(Citizen.__table__))
    assert stored == report.rows == args.rows, (stored, report.rows, args.rows)
    print(
        f"{mode:8} {engine.dialect.name}: {seconds:6.2f} s  {stored / seconds:9,.0f} rows/s  "
        f"CPU {cpu:6.2f} s  peak RSS {peak_rss_mb():4.0f} MB  ({report.batches} batches, "
        f"{follow_ups:,} follow-ups, {citizens:,} citizens, {scored:,} comments scored, "
        f"{report.analysed:,} distinct texts analysed, load {os.getloadavg()[0]:.1f})"
    )
    if engine.dialect.name == "sqlite":
        print(f"         {'OK:' if seconds < 30 else 'SLOWER than'} the 30 s target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
