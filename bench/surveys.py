"""Survey engine figures: results of a 100,000-response round, and the submit path.

    python bench/surveys.py                       # SQLite file in a temp dir
    python bench/surveys.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/surveys.py --responses 100000 --submits 2000 --web-requests 1000
    python bench/surveys.py --responses 2000 --web-rounds 5   # the web figure, quickly
    python bench/surveys.py --only-web --web-rounds 5         # parts 1 and 2 skipped

1. Results: a round of the service-hall template (docs/surveys.md) with N submitted
   responses spread over the round's week (about 7 answers each, bulk-loaded and then
   counted with rebuild_counts, as submit_response counts them one by one), then
   `round_results` timed (median and slowest of 7 runs after a warm-up). Target: < 300 ms for
   100,000 responses. Then the trend over every round (`survey_trend`) and the departments'
   调查满意度 (`minyi.indicators.survey_satisfaction`) for a period holding the whole round
   and one cutting it a day before it closes (its whole UTC days read from the day counts,
   the part-day from the responses).
2. Engine submit path: `submit_response` of a 10-answer form, each in its own transaction,
   one after another, beside a bare one-row insert transaction in the same run: the engine's
   share of a web submission (its rate ratio and p50/p99).
3. Web submissions (the issue's figure): the site under gunicorn (2 sync workers, as the
   README serves it) taking POST /s/hall-2026 with the 10-question form from browsers that
   each loaded the page first (cookie and CSRF token fetched before the clock starts, as a
   citizen reads before submitting), beside the bare Flask + SQLAlchemy insert endpoint of
   bench/web_bare.py, in alternating rounds of the same run, from 2 client processes.
   Every answer is checked (303 to the thanks page; one stored response per post).
   Target: the site >= 55% of the bare endpoint's requests/s, p99 < 20 ms.
On PostgreSQL the script works in a schema of its own, dropped at the end.

Measured (SQLite, 2 shared cores, other helpers' test suites and benchmarks running; the load
average is printed with the web figures because it moves them more than any code change):

- Before the h-survey work (02:48-02:52, load average 4.6 rising to 12.8): web 26 req/s
  against bare 79 (per round 31/130, 26/61, 26/79): 33%, p99 287 ms.
- After it (100,000 responses, 03:20-03:24, load average 5.1-5.8): round_results median
  89 ms, slowest 98 ms; engine submit_response 140/s (p50 8.0 ms, p99 16.0 ms) against a
  bare insert transaction 183/s (77%); web 66 req/s against bare 162 (per round 59/192,
  66/115, 105/162, i.e. 31%, 57%, 65%): 41% of the medians, p99 104 ms (bare p99 42 ms).
- Again at 03:52-03:58 (load average 8.3-9.5): round_results median 129 ms, slowest
  175 ms; survey_trend 72 ms; 调查满意度 13 ms with the round inside the period, 562 ms
  across its edge; engine 79/s against bare 126/s (62%); web 37 req/s against bare 88
  (per round 40%, 37%, 50%): 42%, p99 243 ms (bare p99 97 ms).
  Neither target is met on this machine under this load: with synchronous=FULL every commit
  is an fsync, and a submit still writes about 19 WAL pages (was 28) against the bare
  insert's 2; the p99 of the bare endpoint alone is 42 ms here.

2026-12-02, answers as one JSON column of the response (text answers alone keep a row, the
counts kept per UTC day; migration 0020_survey). The machine was ~2.5x slower than the issue
author's and very busy (other helpers' suites and benchmarks; load averages below), so the
figures move by 2x from one minute to the next; only same-run comparisons mean anything:

- WAL pages per web submit (in-process, Flask test client, 20,000 responses preloaded,
  autocheckpoint off; repeatable whatever the load): 21.2 before, 8.6 after (responses 4.1,
  text answers 3.3 for two text answers, counts 1.0); the bare insert writes about 2.
- round_results of 100,000 responses, old and new code in alternation, each on its own
  database of the same bulk load (07:40-07:44, load average 13.8-14.1): before 451-609 ms
  median, after 237-320 ms (the database is 35 MB instead of 59 MB).
- Whole script, 100,000 responses (07:09-07:28, load average 8.7 rising to 14.2):
  round_results median 336 ms, slowest 407 ms; survey_trend 373 ms; 调查满意度 with the
  round inside the period 77 ms, across its edge 691 ms (the part-day's answers were then
  decoded in Python; they are now read by JSON path in SQL); engine submit_response 35/s
  (p50 25.7 ms, p99 93.8 ms) against a bare insert transaction 58/s (60%); web 32 req/s
  against bare 63 (per round 39/63, 27/65, 32/61: 63%, 41%, 53%): 51% of the medians, p99
  243 ms (bare p99 128 ms), load average 13.7.
- The old code the same morning (06:27-06:34, 20,000 responses, load average 4.8-7.4):
  engine 64/s against bare 87/s (74%); web 38 req/s against bare 62 (per round 42%, 62%,
  87%): 62% of the medians, p99 198 ms (bare p99 116 ms). The web ratio swings more between
  rounds of one run than between the two versions of the code; the page count is the
  figure that shows the change.

Later on 2026-12-02 (the quiet-machine figure of the morning, load 1.7: bare 633 req/s, p99
11.4 ms; the survey page 298 req/s, p50 12.9, p99 23.1 ms: 47%, per round 38% 61% 47%), the
survey POST shed what the rating POST had shed: CSRF checked on the posted `_csrf` field
(no SurveyForm built nor a fresh token signed), the round the process kept passed to the
engine with its question ids (no SELECT of the round and its 7 KB definition, none of the
ids), the form checked before the write transaction begins, the round's state checked by
the response's INSERT itself (INSERT ... SELECT ... WHERE EXISTS), the session cookie's
signing serializer kept per app. Figures (bench/surveys_cpu.py, in-process):

- callgrind instructions per POST (repeatable whatever the load): 7.42 M before, 5.88 M
  after (bare insert 1.93 M); CPU per POST with old and new tree alternating (14:09, load
  2.0-3.0, noisy): before 3.32-4.30 ms, after 2.67-3.64 ms (bare 0.71-1.14 ms).
- the SQLite write lock held per submit (BEGIN IMMEDIATE to the commit's return, fsync
  included; in-process, 14:05, load 2.9, the new tree at b882a3e): 1.22 ms before, 0.58 ms
  after (bare 0.50 ms); a minute later, with the disk busy, 3.2 and 5.3 ms (bare 3.0 and
  2.9): then fsync dominates.
- Through gunicorn, old tree (`--responses 1000 --submits 100`) and new tree
  (`--only-web`) alternating, 3 rounds x 1000 posts each (14:10-14:15, load average
  2.9-4.5, other helpers' work running): before 49%, 42%, 46% of bare (bare 604, 420,
  720 req/s; the site 295, 175, 330; p99 22.3, 37.2, 25.1 ms); after 79%, 55%, 65% (bare
  362, 406, 252; the site 286, 222, 163; p99 29.3, 32.9, 46.3 ms; the last run shared the
  machine with an in-process probe). The ratio target is met in these runs; p99 < 20 ms is
  not at this load (the bare endpoint's own p99 was 17-27 ms in the same runs).
- What a POST still costs (cProfile shares, in-process): the write transaction about a third
  (BEGIN IMMEDIATE and the INSERT 11%, the day counts' upsert 5%, the text answers' rows
  3%, the commit and the session's close 7%), Flask's session cookie 15% (read 6%, the
  outcome written for the thanks page 9%), parsing the form 8%, checking the answers 5%,
  CSRF 4%, the 303 and its URL 2%.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from private_db import private_engine  # noqa: E402

from bench import web as web_bench  # noqa: E402  (its server and HTTP helpers)
from minyi.config import load_settings  # noqa: E402
from minyi.db import make_session_factory, utcnow  # noqa: E402
from minyi.indicators import survey_satisfaction  # noqa: E402
from minyi.migrate import upgrade  # noqa: E402
from minyi.models import (  # noqa: E402
    Channel,
    OutboxMessage,
    SurveyAnswer,
    SurveyQuestion,
    SurveyResponse,
)
from minyi.services import catalog as core_catalog  # noqa: E402
from minyi.services import citizens  # noqa: E402
from minyi.services.context import ServiceContext  # noqa: E402
from surveys import catalog, results, rounds  # noqa: E402
from surveys.counts import rebuild_counts  # noqa: E402
from surveys.responses import Respondent, submit_response  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs" / "surveys.md"


def hall_template() -> dict:
    section = DOCS.read_text(encoding="utf-8").split("### Example: a county service-hall survey")[
        1
    ]
    return json.loads(section.split("```json\n", 1)[1].split("```", 1)[0])


FORM = {
    "overall": "2",
    "recommend": "7",
    "how": "hall",
    "service": "social",
    "social_rating": "3",
    "visits": "two",
    "improve": ["queue", "guide"],
    "norms": "3",
    "why": "排队时间太长，窗口太少",
    "suggest": "希望增加周末办理时间",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: an SQLite file in a temp dir)")
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--submits", type=int, default=2000)
    parser.add_argument("--web-requests", type=int, default=1000, help="per endpoint and round")
    parser.add_argument("--web-rounds", type=int, default=3)
    parser.add_argument("--web-warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument(
        "--only-web", action="store_true", help="the web submissions alone (part 3)"
    )
    args = parser.parse_args()
    for name in [n for n in os.environ if n.startswith("MINYI_")]:
        del os.environ[name]
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{tmp}/bench.db"
        settings = load_settings(database={"url": url})
        with private_engine(settings, url, "bench_surveys") as engine:
            run(engine, settings, args)


def run(engine, settings, args) -> None:
    upgrade(engine)
    factory = make_session_factory(engine)
    ctx = ServiceContext.from_settings(settings, analyzer=None)
    print(f"backend: {engine.url.get_backend_name()}")
    with factory.begin() as session:
        for code in ("zwfw", "rsj", "ybj"):
            core_catalog.create_department(session, code=code, name=f"部门 {code}")
        catalog.import_survey(session, ctx, hall_template())
        big = rounds.open_round(session, ctx, "hall-2026")
    if not args.only_web:
        bench_results(factory, ctx, big.id, args.responses)
    with factory.begin() as session:
        rounds.close_round(session, ctx, big.id)
        fresh = rounds.open_round(session, ctx, "hall-2026")
    if not args.only_web:
        bench_submits(factory, ctx, fresh.id, args.submits)
    bench_web(engine, factory, fresh.id, args)


def bench_results(factory, ctx, round_id: int, responses: int) -> None:
    started = time.perf_counter()
    answers = load_responses(factory, round_id, responses)
    print(
        f"loaded {responses:,} responses ({answers:,} answers) in"
        f" {time.perf_counter() - started:.1f} s (bulk insert, not measured)"
    )
    with factory() as session:
        results.round_results(session, ctx, round_id)  # warm-up
        timings = []
        for _ in range(7):
            start = time.perf_counter()
            out = results.round_results(session, ctx, round_id)
            timings.append((time.perf_counter() - start) * 1000)
    assert out["responses"] == responses, out["responses"]
    print(
        f"round_results, {responses:,} responses: median {statistics.median(timings):.0f} ms,"
        f" slowest {max(timings):.0f} ms (target < 300 ms); overall mean"
        f" {out['questions']['overall']['mean']}, NPS {out['questions']['recommend']['nps']}"
    )
    with factory() as session:
        trend = timed(lambda: results.survey_trend(session, ctx, "hall-2026"))
        round_ = rounds.get_round_by_id(session, round_id)
        opens, closes = round_.opens_at, round_.closes_at
        # Both read the whole UTC days from the kept day counts; the one that cuts the round
        # (at a time of day, not a midnight) reads its two part-days response by response.
        inside = timed(lambda: survey_satisfaction(session, opens, closes + timedelta(days=1)))
        across = timed(
            lambda: survey_satisfaction(session, opens - timedelta(days=1), closes - timedelta(1))
        )
    zwfw = next(iter(inside[1].values()))
    cut = next(iter(across[1].values()))
    assert 0 < cut[1] < zwfw[1], (inside[1], across[1])  # the last day is outside
    print(
        f"survey_trend (every round): {trend[0]:.1f} ms; 调查满意度 of the departments,"
        f" round inside the period {inside[0]:.1f} ms ({zwfw[1]:,} rating answers), round"
        f" across its edge {across[0]:.1f} ms ({cut[1]:,})"
    )


def timed(work, runs: int = 5) -> tuple[float, object]:
    """(median ms of `runs` calls after a warm-up, the last result)."""
    out = work()
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        out = work()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings), out


def load_responses(factory, round_id: int, count: int) -> int:
    """Bulk-insert `count` submitted responses with plausible answers; returns the answers."""
    rng = random.Random(11)
    with factory() as session:
        round_ = rounds.get_round_by_id(session, round_id)
        version_id = round_.version_id
        definition = catalog.version_definition(round_.version)
        ids = dict(
            session.execute(
                select(SurveyQuestion.key, SurveyQuestion.id).where(
                    SurveyQuestion.version_id == version_id
                )
            ).all()
        )
        opens, closes = round_.opens_at, round_.closes_at
    # Submit times spread evenly over the round's days, as a week of citizens answering.
    step = (closes - opens - timedelta(minutes=1)) / count
    total = 0
    chunk = 5000
    for first in range(0, count, chunk):
        size = min(chunk, count - first)
        response_rows = []
        answer_rows = []
        for n in range(first, first + size):
            submitted = opens + step * n + timedelta(seconds=30)
            answers = random_answers(definition, rng)
            response_rows.append(
                {
                    "id": n + 1,
                    "round_id": round_id,
                    "version_id": version_id,
                    "respondent_key": f"web:bench-{n:010d}",
                    "channel": Channel.WEB,
                    "answers": answers,
                    "file_complaints": False,
                    "started_at": submitted - timedelta(minutes=3),
                    "updated_at": submitted,
                    "submitted_at": submitted,
                }
            )
            answer_rows += [  # the text answers also get a row (the NLP's work items)
                {"response_id": n + 1, "round_id": round_id, "question_id": ids[key], "text": v}
                for key, v in answers.items()
                if definition.question(key).kind == "text"
            ]
            total += len(answers)
        with factory.begin() as session:
            connection = session.connection()  # Core executemany: the load is setup only
            connection.execute(insert(SurveyResponse.__table__), response_rows)
            if answer_rows:
                connection.execute(insert(SurveyAnswer.__table__), answer_rows)
    # Bulk-loaded answers bypass submit_response, so count them once, as a repair would.
    with factory.begin() as session:
        rebuild_counts(session, round_id)
    if factory.kw["bind"].dialect.name == "postgresql":
        with factory.begin() as session:
            session.execute(
                text(
                    "SELECT setval('survey_responses_id_seq',"
                    " (SELECT max(id) FROM survey_responses))"
                )
            )
            session.execute(text("ANALYZE"))
    return total


def random_answers(definition, rng: random.Random) -> dict:
    """One respondent's answers, show_if respected; text for about 1 in 10."""
    answers: dict = {}
    for question in definition.questions:
        if not question.is_shown(answers):
            continue
        if question.scale is not None:
            low, high = question.scale
            answers[question.key] = min(high, max(low, round(rng.gauss((low + high) * 0.6, 1.5))))
        elif question.kind == "single":
            answers[question.key] = rng.choice(question.choice_keys)
        elif question.kind == "multiple":
            picked = set(rng.sample(question.choice_keys, rng.randint(1, question.max_choices)))
            answers[question.key] = [k for k in question.choice_keys if k in picked]
        elif rng.random() < 0.1:
            answers[question.key] = "希望增加窗口，减少排队时间"
    return answers


def bench_submits(factory, ctx, round_id: int, count: int) -> None:
    with factory.begin() as session:
        citizen = citizens.get_or_create_citizen(session, channel="web", external_id="bench")
        citizen_id = citizen.id
    submit_times = []
    started = time.perf_counter()
    for n in range(count):
        start = time.perf_counter()
        with factory.begin() as session:
            view = submit_response(
                session, ctx, round_id, Respondent.web(f"bench-submit-{n:010d}"), answers=FORM
            )
        submit_times.append((time.perf_counter() - start) * 1000)
    submit_seconds = time.perf_counter() - started
    assert view.submitted_now and len(view.answers) == 10, view.answers
    bare_times = []
    started = time.perf_counter()
    for n in range(count):
        start = time.perf_counter()
        with factory.begin() as session:
            session.execute(
                insert(OutboxMessage).values(
                    citizen_id=citizen_id,
                    kind="bench",
                    dedupe_key=f"bench:{n}",
                    payload={"n": n},
                    attempts=0,
                    next_attempt_at=utcnow(),
                    created_at=utcnow(),
                )
            )
        bare_times.append((time.perf_counter() - start) * 1000)
    bare_seconds = time.perf_counter() - started
    submit_rate, bare_rate = count / submit_seconds, count / bare_seconds
    quantiles = statistics.quantiles(submit_times, n=100)
    print(
        f"engine submit_response (10 answers, one transaction each): {submit_rate:.0f}/s,"
        f" p50 {quantiles[49]:.1f} ms, p99 {quantiles[98]:.1f} ms"
    )
    print(
        f"bare one-row insert transaction: {bare_rate:.0f}/s; submit at"
        f" {submit_rate / bare_rate:.0%} of it (the issue's figure, target >= 55% and p99"
        " < 20 ms, is measured through the web page below)"
    )


# -- 3. through the web page ------------------------------------------------------------------

SURVEY_PATH = "/s/hall-2026"
HIDDEN = re.compile(rb'name="(_csrf|_round)" type="hidden" value="([^"]+)"')
BARE_TABLE_SQL = {
    "sqlite": web_bench.BARE_TABLE_SQL,
    "postgresql": (
        "CREATE TABLE bench_bare_rows (id SERIAL PRIMARY KEY, score INTEGER NOT NULL,"
        " source_ref VARCHAR(80) UNIQUE, created_at TIMESTAMP NOT NULL)"
    ),
}


def web_pages(port: int, path: str, count: int) -> list[tuple[bytes, dict]]:
    """`count` citizens' browsers: each loads the survey page (its cookie and hidden fields)
    and fills in the form; the posts come later, on the clock."""
    bodies = []
    for _ in range(count):
        status, page, cookie = web_bench.request(port, "GET", path, None, {})
        if status != 200:
            raise SystemExit(f"GET {path}: {status} {page[:200]!r}")
        fields = {k.decode(): v.decode() for k, v in HIDDEN.findall(page)}
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": cookie.split(";", 1)[0],
        }
        bodies.append((urllib.parse.urlencode(fields | FORM, doseq=True).encode(), headers))
    return bodies


def bare_bodies(count: int) -> list[tuple[bytes, dict]]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return [
        (
            urllib.parse.urlencode(
                {"score": random.randint(1, 5), "submission": secrets.token_urlsafe(18)}
            ).encode(),
            headers,
        )
        for _ in range(count)
    ]


def web_client(port: int, path: str, bodies: list, threads: int, expect: int) -> tuple:
    """One client process: `threads` threads posting `bodies`; (latencies, errors)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def run(mine_bodies) -> None:
        mine, bad = [], []
        for body, headers in mine_bodies:
            started = time.perf_counter()
            status, page, _ = web_bench.request(port, "POST", path, body, headers)
            mine.append(time.perf_counter() - started)
            if status != expect:
                bad.append(f"{status} {page[:120]!r}")
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    pool = [threading.Thread(target=run, args=(bodies[i::threads],)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return latencies, errors


def web_load(port: int, path: str, requests: int, concurrency: int, survey: bool) -> dict:
    """`requests` posts from `concurrency` connections in 2 client processes, timed."""
    processes = 2
    threads = max(1, concurrency // processes)
    shares = [requests // processes + (1 if i < requests % processes else 0) for i in range(2)]
    with ProcessPoolExecutor(processes) as pool:
        if survey:  # the pages are loaded first, off the clock
            bodies = list(pool.map(web_pages, [port] * 2, [path] * 2, shares))
        else:
            bodies = [bare_bodies(n) for n in shares]
        expect = 303 if survey else 200
        started = time.perf_counter()
        results = list(
            pool.map(web_client, [port] * 2, [path] * 2, bodies, [threads] * 2, [expect] * 2)
        )
        elapsed = time.perf_counter() - started
    latencies = sorted(x for lat, _ in results for x in lat)
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": [e for _, err in results for e in err],
        "count": len(latencies),
    }


def bench_web(engine, factory, round_id: int, args) -> None:
    dialect = engine.dialect.name
    with engine.begin() as conn:
        conn.execute(text(BARE_TABLE_SQL[dialect]))
    with factory() as session:
        before = session.scalar(
            select(func.count())
            .select_from(SurveyResponse)
            .where(SurveyResponse.round_id == round_id, SurveyResponse.submitted_at.is_not(None))
        )
    url = engine.url.render_as_string(hide_password=False)
    with tempfile.TemporaryDirectory(prefix="minyi-bench-surveys-") as tmp:
        folder = Path(tmp)
        env = dict(
            {k: v for k, v in os.environ.items() if not k.startswith(("MINYI_", "FLASK_"))},
            MINYI_DATABASE__URL=url,
            MINYI_WEB__SECRET_KEY=secrets.token_hex(32),
            MINYI_WEB__UPLOAD_DIR=str(folder / "uploads"),
            FLASK_MINYI_SURVEY_LIMIT="1000000 per minute",
            PYTHONPATH=str(ROOT),
        )
        endpoints = [
            ("bare Flask + SQLAlchemy INSERT", "bench.web_bare:app", "/bare", False),
            (f"Minyi POST {SURVEY_PATH} (10 answers)", "web:create_app()", SURVEY_PATH, True),
        ]
        ports = [web_bench.free_port() for _ in endpoints]
        servers = []
        runs: list[list[dict]] = [[] for _ in endpoints]
        try:
            for (_, app, _, _), port in zip(endpoints, ports, strict=True):
                servers.append(web_bench.serve(app, env, port, args.workers, folder))
            for (_, _, path, survey), port in zip(endpoints, ports, strict=True):
                web_load(port, path, args.web_warmup, args.concurrency, survey)
            # Rounds alternate between the two, so a busy moment of the machine hits both.
            for _ in range(args.web_rounds):
                for i, (endpoint, port) in enumerate(zip(endpoints, ports, strict=True)):
                    path, survey = endpoint[2], endpoint[3]
                    runs[i].append(
                        web_load(port, path, args.web_requests, args.concurrency, survey)
                    )
        finally:
            for server in servers:
                server.terminate()
                server.wait(30)
    with factory() as session:
        stored = (
            session.scalar(
                select(func.count())
                .select_from(SurveyResponse)
                .where(
                    SurveyResponse.round_id == round_id, SurveyResponse.submitted_at.is_not(None)
                )
            )
            - before
        )
    expected = args.web_warmup + sum(run["count"] for run in runs[1])
    print(
        f"\nweb: {args.web_rounds} rounds x {args.web_requests} posts per endpoint"
        f" (+{args.web_warmup} warm-up), {args.concurrency} connections, gunicorn -w"
        f" {args.workers}, {dialect}, {os.cpu_count()} cores"
    )
    print(f"{'endpoint':40} {'req/s per round':>22} {'median':>7} {'p50 ms':>7} {'p99 ms':>7}")
    summary = []
    for (name, _, _, _), results_ in zip(endpoints, runs, strict=True):
        rps = statistics.median(r["rps"] for r in results_)
        p50 = statistics.median(r["p50"] for r in results_)
        p99 = statistics.median(r["p99"] for r in results_)
        per_round = " ".join(f"{r['rps']:.0f}" for r in results_)
        print(f"{name:40} {per_round:>22} {rps:7.0f} {p50:7.2f} {p99:7.2f}")
        summary.append((rps, p99, [e for r in results_ for e in r["errors"]]))
    (bare_rps, _, bare_errors), (site_rps, site_p99, site_errors) = summary
    ratio = site_rps / bare_rps
    pairs = " ".join(
        f"{site['rps'] / bare['rps']:.0%}" for bare, site in zip(runs[0], runs[1], strict=True)
    )
    print(
        f"survey page / bare: {ratio:.0%} of the medians (target >= 55%), per round {pairs};"
        f" p99 {site_p99:.1f} ms (< 20 ms); load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"responses stored: {stored} for {expected} accepted posts; errors: bare"
        f" {len(bare_errors)}, survey {len(site_errors)}"
    )
    for error in (bare_errors + site_errors)[:5]:
        print("  error:", error)


if __name__ == "__main__":
    main()
