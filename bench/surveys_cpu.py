"""CPU per survey POST (/s/<slug>, the 10-answer form) in one process, beside the bare insert.

    python bench/surveys_cpu.py                        # 500 posts, after 100 warm-up posts
    python bench/surveys_cpu.py --profile /tmp/survey.prof   # cProfile (CPU time) of the posts
    python bench/surveys_cpu.py --tree /tmp/base       # another checkout's code, same script
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.%p \
        .venv/bin/python bench/surveys_cpu.py --callgrind --posts 100

The site is built as gunicorn builds it (`web.create_app()` from the environment) on an
SQLite file of a temp dir, with the service-hall template of docs/surveys.md open; each
browser loads the page first (its cookie and hidden fields, off the clock, as in
bench/surveys.py), then the posts go one after another through the Flask test client: the
whole WSGI app (routing, the session cookie, CSRF, the limiter, the engine's write
transaction, the 303), no sockets and no gunicorn. The bare endpoint of bench/web_bare.py is
posted the same way, so the two figures are the CPU a request costs each app. Every post is
checked (303, one stored response each).

Under callgrind (`--callgrind`) only the measured posts are instrumented: the instruction
count divided by the posts is a figure that does not move with the machine's load. `--tree`
imports minyi/web/surveys from another checkout (e.g. a worktree of main), so that old and
new code are measured by the same script, alternating. Figures: bench/surveys.py's docstring
(2026-12-02: 7.42 M instructions a survey POST before the work on it, 5.88 M after; the
bare insert 1.93 M).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def callgrind(on: bool, part: str = "") -> None:
    """Switch callgrind's instrumentation of this process on, or off and dump what it counted
    as a part of its own (`callgrind_annotate FILE.1`: the site, FILE.2: the bare insert)."""
    pid = str(os.getpid())
    if on:
        subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
        return
    subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)
    subprocess.run(["callgrind_control", f"--dump={part}", pid], check=True, capture_output=True)


HIDDEN = re.compile(r'name="(_csrf|_round)" type="hidden" value="([^"]+)"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--profile", metavar="FILE", help="cProfile of the site's posts")
    parser.add_argument("--callgrind", action="store_true", help="instrument only the posts")
    parser.add_argument("--tree", type=Path, default=BENCH.parent, help="checkout to import")
    args = parser.parse_args()
    tree = args.tree.resolve()
    # Run as a script, this folder is sys.path[0] and bench/web.py would shadow `web`.
    # The tree's packages are imported first; then bench/ may join the path (private_db).
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
    sys.path.insert(0, str(tree))
    for name in [n for n in os.environ if n.startswith(("MINYI_", "FLASK_"))]:
        del os.environ[name]
    folder = tempfile.mkdtemp(prefix="minyi-bench-surveys-cpu-")
    os.environ.update(
        MINYI_DATABASE__URL=f"sqlite:///{folder}/minyi.db",
        MINYI_WEB__SECRET_KEY=secrets.token_hex(32),
        MINYI_WEB__UPLOAD_DIR=f"{folder}/uploads",
        FLASK_MINYI_SURVEY_LIMIT="1000000 per minute",
    )

    from sqlalchemy import func, select, text

    import web
    from minyi.config import load_settings
    from minyi.db import make_engine, make_session_factory
    from minyi.migrate import upgrade
    from minyi.models import SurveyResponse
    from minyi.services import catalog as core_catalog
    from minyi.services.context import ServiceContext
    from surveys import catalog, rounds

    sys.path.append(str(BENCH))
    from bench.surveys import FORM, hall_template
    from bench.web import BARE_TABLE_SQL

    settings = load_settings()
    engine = make_engine(settings)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text(BARE_TABLE_SQL))
    factory = make_session_factory(engine)
    ctx = ServiceContext.from_settings(settings, analyzer=None)
    with factory.begin() as session:
        for code in ("zwfw", "rsj", "ybj"):
            core_catalog.create_department(session, code=code, name=f"部门 {code}")
        catalog.import_survey(session, ctx, hall_template())
        rounds.open_round(session, ctx, "hall-2026")

    from bench import web_bare

    print(f"code from {Path(web.__file__).resolve().parent.parent}")
    site = web.create_app().test_client
    path = "/s/hall-2026"

    def browsers(count: int) -> list:
        """`count` browsers that loaded the page: (client, body)."""
        out = []
        for _ in range(count):
            client = site()
            page = client.get(path).get_data(as_text=True)
            fields = dict(HIDDEN.findall(page))
            out.append((client, urllib.parse.urlencode(fields | FORM, doseq=True)))
        return out

    def post_all(posts: list, expect: int, profile: str | None = None, count: str = "") -> float:
        profiler = cProfile.Profile(time.process_time) if profile else None
        if count:
            callgrind(True)
        if profiler is not None:
            profiler.enable()
        started = time.process_time()
        for client, target, body in posts:
            response = client.post(
                target, data=body, content_type="application/x-www-form-urlencoded"
            )
            if response.status_code != expect:
                raise SystemExit(f"POST {target}: {response.status_code} {response.data[:200]!r}")
        spent = time.process_time() - started
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        if count:
            callgrind(False, count)
        return spent

    def bare(count: int) -> list:
        client = web_bare.app.test_client()
        return [
            (client, "/bare", f"score=4&submission={secrets.token_urlsafe(18)}")
            for _ in range(count)
        ]

    post_all([(c, path, b) for c, b in browsers(args.warmup)], 303)
    post_all(bare(args.warmup), 200)
    measured = [(c, path, b) for c, b in browsers(args.posts)]
    load = os.getloadavg()[0]
    site_cpu = post_all(measured, 303, args.profile, "survey" if args.callgrind else "")
    bare_cpu = post_all(bare(args.posts), 200, count="bare" if args.callgrind else "")
    with factory() as session:
        stored = session.scalar(
            select(func.count())
            .select_from(SurveyResponse)
            .where(SurveyResponse.submitted_at.is_not(None))
        )
    assert stored == args.warmup + args.posts, stored
    print(
        f"CPU per POST: survey {site_cpu / args.posts * 1000:.2f} ms, bare insert"
        f" {bare_cpu / args.posts * 1000:.2f} ms ({args.posts} posts each, load average"
        f" {load:.1f}); {stored} responses stored"
    )


if __name__ == "__main__":
    main()
