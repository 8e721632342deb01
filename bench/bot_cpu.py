"""CPU per update of the bot's own code, in one process, beside the echo bot of bench/bot.py.

    python bench/bot_cpu.py                      # 20 citizens x 5 complaints, one at a time
    python bench/bot_cpu.py --profile /tmp/cpu   # cProfile of each bot (FILE, FILE.echo)
    python bench/bot_cpu.py --at-once 8          # 8 citizens' updates at once: batches form
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.%p \
        .venv/bin/python bench/bot_cpu.py --callgrind --users 4 --rounds 2 --only minyi

The same complaint flow as bench/bot.py (/complain, a photo, a location, the text, the button)
is fed to `Dispatcher.feed_update` over the tests' recording session: no sockets, no polling,
no other process, the updates one after another. So what is measured is the CPU of what the
bot does for an update (the middlewares, routers and filters, FSM, keyboards, texts, the
database work and the NLP in their threads, building and parsing the Bot API calls), not the
HTTP of the calls nor any waiting; the fake Telegram's own checks are in both bots' figures.
The filing process is off here (`[bot] filing_process = false`): its work is counted in
this process instead, so the figure is everything the bot spends, wherever `minyi bot`
runs it. It prints CPU per update for both bots (the process, every thread) and per step
of the flow.

Under callgrind (`--callgrind`) only the measured updates are instrumented: the instruction
count (`callgrind_annotate FILE | head`) divided by the updates is the CPU per update as a
figure that does not move with the machine's load, for comparing two versions of the code;
with `--step text` (or another step) only that step's updates are counted.

2026-12-02, the button's reads (Core selects of the ticket brief and of catalog.department_refs,
a read's BEGIN on the driver's connection), alternated with the code before, load 0.2-1.1:
button 3.32-3.79 -> 2.66-3.01 ms of CPU (echo 0.65), all updates 3.4-3.7 -> 3.1-3.5 ms (the
text step's classifier dominates and moves more). Callgrind, --users 4 --rounds 2: button
4.99 -> 4.38 M instructions an update (echo 1.78 M), all updates 5.61 -> 5.49 M.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiogram.types import Update  # noqa: E402
from private_db import private_engine  # noqa: E402

from bench.bot import COMPLAINTS, echo_dispatcher  # noqa: E402
from bot.app import BotProcess, build_services, create_bot  # noqa: E402
from minyi.config import load_settings  # noqa: E402
from minyi.db import make_session_factory  # noqa: E402
from minyi.migrate import upgrade  # noqa: E402
from tests.bot_support import add_catalogue  # noqa: E402
from tests.fake_telegram import TOKEN, Citizen, FakeTelegram, RecordingSession  # noqa: E402

STEPS = ("/complain", "photo", "location", "text", "button")


def script(user_id: int, rounds: int):
    """(step, what the citizen does) for each update of `rounds` complaints."""
    for r in range(rounds):
        yield "/complain", ("text", "/complain")
        yield "photo", ("photo", f"photo-{user_id}-{r}")
        yield "location", ("location", None)
        yield "text", ("text", f"{COMPLAINTS[(user_id + r) % 5]}（第{r + 1}次）")
        yield "button", ("press", None)


def update_for(citizen: Citizen, telegram: FakeTelegram, kind: str, value) -> dict:
    if kind == "text":
        return citizen.message(value)
    if kind == "photo":
        return citizen.photo(value)
    if kind == "location":
        return citizen.location(30.27, 120.15)
    # Minyi: accept the department (after triage, open the list); echo: any button.
    message = telegram.messages[max(k for k in telegram.messages if k[0] == citizen.user_id)]
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        for button in row:
            if "部门正确" in button["text"] or "选择其他部门" in button["text"]:
                return citizen.press(button["callback_data"], message)
    return citizen.press("pressed", message)


def callgrind(on: bool) -> None:
    """Switch callgrind's instrumentation of this process on or off."""
    switch = ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())]
    subprocess.run(switch, check=True, capture_output=True)


async def run(
    bot,
    dispatcher,
    telegram,
    users,
    rounds,
    profile=None,
    *,
    first_user=10_000,
    count=False,
    only_step=None,
    at_once=1,
):
    """CPU seconds by step and in all, feeding every citizen's updates one after another;
    with `at_once` > 1 that many citizens' scripts at once (by step then means little)."""
    citizens = [Citizen(telegram, first_user + n) for n in range(users)]
    by_step = dict.fromkeys(STEPS, 0.0)
    profiler = cProfile.Profile(time.process_time) if profile else None
    if count and only_step is None:
        callgrind(True)
    total = -time.process_time()
    if profiler is not None:
        profiler.enable()

    async def play(citizen: Citizen) -> None:
        for step, (kind, value) in script(citizen.user_id, rounds):
            update = Update.model_validate(
                update_for(citizen, telegram, kind, value), context={"bot": bot}
            )
            counted = count and step == only_step
            if counted:
                callgrind(True)
            started = time.process_time()
            await dispatcher.feed_update(bot, update)
            by_step[step] += time.process_time() - started
            if counted:
                callgrind(False)

    for first in range(0, len(citizens), at_once):
        await asyncio.gather(*(play(citizen) for citizen in citizens[first : first + at_once]))
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    total += time.process_time()
    if count and only_step is None:
        callgrind(False)
    assert not telegram.refused, telegram.refused[:3]
    return total, by_step


def show(name: str, total: float, by_step: dict, updates: int, rounds: int) -> None:
    steps = "  ".join(f"{s} {t / (updates / 5) * 1000:.2f}" for s, t in by_step.items())
    print(f"  {name}: CPU {total / updates * 1000:.2f} ms an update; by step (ms): {steps}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=["minyi", "echo"])
    parser.add_argument("--profile", metavar="FILE", help="cProfile into FILE and FILE.echo")
    parser.add_argument(
        "--callgrind", action="store_true", help="instrument only the measured updates"
    )
    parser.add_argument(
        "--step", choices=STEPS, help="with --callgrind: instrument only this step's updates"
    )
    parser.add_argument(
        "--at-once",
        type=int,
        default=1,
        help="citizens whose updates are fed at once (as bench/bot.py's crowd): batches form",
    )
    parser.add_argument("--warmup", type=int, default=2, help="citizens run first, not counted")
    args = parser.parse_args()
    if args.profile:
        # Threads' work inline, so that the profile sees it (and not the hops to them).
        async def inline(work, /, *args, **kwargs):
            return work(*args, **kwargs)

        asyncio.to_thread = inline

    folder = tempfile.mkdtemp(prefix="minyi-bench-bot-cpu-")
    url = f"sqlite:///{folder}/minyi.db"
    os.environ.pop("MINYI_CONFIG", None)
    settings = load_settings(
        database={"url": url},
        # Every instruction in this process (callgrind follows one): the classifier and the
        # filing in the bot's threads, not in the filing process `minyi bot` starts.
        bot={"token": TOKEN, "filing_process": False},
        tickets={"daily_limit_per_citizen": 1000},
    )
    updates = args.users * args.rounds * 5

    async def both():
        with private_engine(settings, url, "bench_bot_cpu") as engine:
            upgrade(engine)
            add_catalogue(make_session_factory(engine))
            print(f"{args.users} citizens one after another, {args.rounds} complaints each:"
                  f" {updates} updates (load average {os.getloadavg()[0]:.1f})")  # fmt: skip
            if args.only in (None, "minyi"):
                telegram = FakeTelegram()
                process = BotProcess.build(
                    settings,
                    services=build_services(settings, engine),
                    session=RecordingSession(telegram),
                    sender=False,
                )
                await process._on_startup()  # loads the NLP models, freezes what is loaded
                await run(
                    process.bot, process.dispatcher, telegram, args.warmup, args.rounds,
                    first_user=90_000,
                )  # fmt: skip
                total, by_step = await run(
                    process.bot, process.dispatcher, telegram, args.users, args.rounds,
                    args.profile, count=args.callgrind, only_step=args.step, at_once=args.at_once,
                )  # fmt: skip
                show("minyi bot", total, by_step, updates, args.rounds)
            if args.only in (None, "echo"):
                telegram = FakeTelegram()
                bot = create_bot(settings, RecordingSession(telegram))
                dispatcher = echo_dispatcher()
                await run(bot, dispatcher, telegram, args.warmup, args.rounds, first_user=90_000)
                profile = f"{args.profile}.echo" if args.profile else None
                total, by_step = await run(
                    bot, dispatcher, telegram, args.users, args.rounds, profile,
                    count=args.callgrind, only_step=args.step, at_once=args.at_once,
                )  # fmt: skip
                show("echo bot ", total, by_step, updates, args.rounds)

    asyncio.run(both())


if __name__ == "__main__":
    main()
