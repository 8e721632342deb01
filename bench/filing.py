"""CPU of filing and routing one complaint, in-process (what the bot's writer thread spends).

    python bench/filing.py                    # 500 complaints on a new SQLite file
    python bench/filing.py --count 2000 --profile 25
    python bench/filing.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/filing.py --count 2000 --group 4   # commit_together with and without savepoints

The classifier runs first for every text (as `analyze_complaint` does, before the writer's
turn), outside the measurement; then each complaint is filed and routed by `file_analyzed`
in its own transaction, as the bot's writer does, by citizens with a photo and a location.
Prints CPU per complaint (time.process_time, robust to the machine's load) and the
statements per complaint; --profile N prints the N costliest functions (cProfile).

Measured 2026-12-02 on the shared 2-core machine, SQLite synchronous=FULL, 500 complaints:

    ORM (file_ticket + route_ticket, one flush)   CPU 11.6 ms, 11.3 statements  (load 1.4)
    plain INSERTs (store_complaint)               CPU  2.7 ms,  6.5 statements  (load 3.0)

--group 4, 2000 complaints, alternated groups, 2026-12-02 evening (load 2.8-3.2, CI running):
a savepoint each 1.64 ms and 8.5 statements, optimistic 1.21 ms and 6.5 (PostgreSQL: 2.52
-> 2.02 ms): what the bot's filing process saves by committing its batches optimistically.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from private_db import private_engine  # noqa: E402

from minyi.config import load_settings  # noqa: E402
from minyi.db import commit_together, make_session_factory  # noqa: E402
from minyi.migrate import upgrade  # noqa: E402
from minyi.models import Channel  # noqa: E402
from minyi.services.citizens import get_or_create_citizen  # noqa: E402
from minyi.services.context import ServiceContext  # noqa: E402
from minyi.services.tickets import analyze_complaint, file_analyzed  # noqa: E402
from tests.bot_support import add_catalogue  # noqa: E402

COMPLAINTS = [
    "小区门口的路灯坏了一个多月了，晚上出行很不安全，请尽快修理。",
    "公司拖欠三个月工资，多次讨要无果，希望劳动部门帮忙解决欠薪问题。",
    "学校门口早晚高峰交通拥堵严重，孩子上学很危险，建议增设交警疏导。",
    "楼下餐馆油烟直排，噪音扰民到深夜，多次沟通无效，请环保部门处理。",
    "医保异地就医备案手续太复杂，网上办理一直失败，希望简化流程。",
    "感谢县人社局的工作人员，耐心帮我办好了社保转移，服务态度非常好！",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="database URL (default: a new SQLite file)")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--citizens", type=int, default=100)
    parser.add_argument("--profile", type=int, default=0, help="print the N costliest functions")
    parser.add_argument(
        "--group",
        type=int,
        default=0,
        help="instead: commit N at a time as the bot's filing process does (commit_together),"
        " with a savepoint each and optimistically, alternated",
    )
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="minyi-bench-filing-")
    url = args.url or f"sqlite:///{folder}/minyi.db"
    os.environ.pop("MINYI_CONFIG", None)
    settings = load_settings(database={"url": url}, tickets={"daily_limit_per_citizen": 1000})
    ctx = ServiceContext.from_settings(settings)
    with private_engine(settings, url, "bench_filing") as engine:
        upgrade(engine)
        factory = make_session_factory(engine)
        add_catalogue(factory)
        with factory.begin() as session:
            citizens = [
                get_or_create_citizen(session, channel=Channel.TELEGRAM, external_id=30_000 + n)
                for n in range(args.citizens)
            ]
        analyzed = [
            analyze_complaint(
                ctx,
                text=COMPLAINTS[n % len(COMPLAINTS)],
                channel=Channel.TELEGRAM,
                citizen=citizens[n % len(citizens)],
                latitude=30.5,
                longitude=114.3,
                attachments=[("photo", f"file-{n}")],
                source_ref=f"bench:{n}",
            )
            for n in range(args.count + 20)
        ]
        for fields in analyzed[:20]:  # warm up: statement caches, the first directory read
            with factory.begin() as session:
                file_analyzed(session, ctx, fields)
        if args.group:
            compare_groups(engine, factory, ctx, analyzed[20:], args.group)
            return
        statements = 0

        def count(*_args) -> None:
            nonlocal statements
            statements += 1

        event.listen(engine, "before_cursor_execute", count)
        profile = cProfile.Profile() if args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profile:
            profile.enable()
        for fields in analyzed[20:]:
            with factory.begin() as session:
                file_analyzed(session, ctx, fields)
        if profile:
            profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        event.remove(engine, "before_cursor_execute", count)
        print(
            f"{engine.dialect.name}: {args.count} complaints filed and routed, "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        per = 1000 / args.count
        print(
            f"  CPU {cpu * per:.2f} ms per complaint (wall {wall * per:.2f} ms),"
            f" {statements / args.count:.1f} statements per complaint"
        )
        if profile:
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)


def compare_groups(engine, factory, ctx, analyzed: list, size: int) -> None:
    """CPU and statements per complaint committed `size` at a time, with a savepoint each
    (as the bot's threads) and optimistically (as its filing process), in alternate rounds."""
    statements = dict.fromkeys(("savepoints", "optimistic"), 0)
    cpu = dict.fromkeys(statements, 0.0)
    groups = [analyzed[n : n + size] for n in range(0, len(analyzed), size)]
    current = "savepoints"

    def count(*_args) -> None:
        statements[current] += 1

    event.listen(engine, "before_cursor_execute", count)
    for n, group in enumerate(groups):
        current = "optimistic" if n % 2 else "savepoints"
        work = [(file_analyzed, (ctx, fields), {}) for fields in group]
        started = time.process_time()
        outcomes = commit_together(factory, work, optimistic=current == "optimistic")
        cpu[current] += time.process_time() - started
        assert all(done for done, _ in outcomes), outcomes
    event.remove(engine, "before_cursor_execute", count)
    filed = {name: sum(len(g) for g in groups[start::2]) for start, name in enumerate(cpu)}
    print(f"{engine.dialect.name}: {len(analyzed)} complaints in groups of {size},"
          f" load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    for name in cpu:
        print(f"  {name:10}  CPU {cpu[name] / filed[name] * 1000:.2f} ms per complaint,"
              f" {statements[name] / filed[name]:.1f} statements")  # fmt: skip


if __name__ == "__main__":
    main()
