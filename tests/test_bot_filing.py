"""The bot's filing process (bot/worker.py): complaints classified and stored by a child.

The child is started as `minyi bot` starts it, with its own engine on the test database
(SQLite file, and PostgreSQL in CI) and the real NLP models.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal

import pytest
from sqlalchemy import func, select

from bot.app import BotProcess, build_services
from bot.worker import FilingProcess, FilingStopped
from minyi.config import load_settings
from minyi.db import make_session_factory
from minyi.errors import LimitReached, NotFound, ValidationFailed
from minyi.models import Channel, Citizen, Ticket, TicketNumberCounter
from minyi.services.citizens import get_or_create_citizen
from minyi.services.context import ServiceContext
from minyi.services.tickets import check_complaint
from tests.bot_support import STREET_LIGHT, add_catalogue, async_test
from tests.fake_telegram import TOKEN, FakeTelegram, RecordingSession

WAGES = "工地老板拖欠我们三个月工资一直不给，请劳动部门帮忙讨薪。"


@pytest.fixture
def filing_env(engine):
    settings = load_settings(
        database={"url": engine.url.render_as_string(hide_password=False)},
        bot={"token": TOKEN},
        tickets={"daily_limit_per_citizen": 3},
    )
    factory = make_session_factory(engine)
    add_catalogue(factory)
    with factory.begin() as session:
        citizen = get_or_create_citizen(session, channel=Channel.TELEGRAM, external_id=7001)
    return settings, factory, citizen


def _fields(citizen: Citizen, text: str, ref: str, **more) -> dict:
    return {
        "text": text,
        "channel": Channel.TELEGRAM,
        "citizen": citizen,
        "source_ref": ref,
        **more,
    }


@contextlib.asynccontextmanager
async def running(settings):
    """A started filing process, stopped at the end."""
    filing = FilingProcess(settings)
    await filing.start()
    try:
        yield filing
    finally:
        await filing.stop()


def _stored(factory) -> list[Ticket]:
    with factory() as session:
        return list(session.scalars(select(Ticket).order_by(Ticket.id)))


@async_test
async def test_the_child_classifies_and_stores_a_complaint_and_answers_its_view(filing_env):
    settings, factory, citizen = filing_env
    async with running(settings) as filing:
        assert filing.pid not in (None, os.getpid())
        view = await filing.file(
            _fields(
                citizen,
                STREET_LIGHT,
                "tg:1:1",
                latitude=30.27,
                longitude=120.15,
                attachments=[("photo", "file-abc")],
            )  # fmt: skip
        )
    [ticket] = _stored(factory)
    assert view.number == ticket.number and view.number.startswith("MY-")
    assert ticket.citizen_id == citizen.id and ticket.source_ref == "tg:1:1"
    assert view.attachments == (("photo", "file-abc"),)
    assert view.topic is not None and view.topic == ticket.topic  # the real classifier ran
    assert (view.department is None) == ticket.needs_triage


@async_test
async def test_a_refused_complaint_raises_the_services_error_in_both_languages(filing_env):
    settings, factory, citizen = filing_env
    with pytest.raises(ValidationFailed) as here:
        check_complaint(
            ServiceContext.from_settings(settings, analyzer=None), text="短", channel="telegram"
        )
    async with running(settings) as filing:
        with pytest.raises(ValidationFailed) as there:
            await filing.file(_fields(citizen, "短", "tg:1:2"))
        for n in range(3):
            await filing.file(_fields(citizen, f"{STREET_LIGHT}（第{n + 1}次）", f"tg:1:{10 + n}"))
        with pytest.raises(LimitReached) as limit:
            await filing.file(_fields(citizen, WAGES, "tg:1:20"))
        # A double submit of one already filed is never refused: the same ticket again.
        again = await filing.file(_fields(citizen, f"{STREET_LIGHT}（第1次）", "tg:1:10"))
    assert (there.value.message_zh, there.value.message_en) == (
        here.value.message_zh,
        here.value.message_en,
    )
    assert "每天最多 3 件" in limit.value.message_zh and "limit is 3" in limit.value.message_en
    stored = _stored(factory)
    assert len(stored) == 3
    assert again.number == stored[0].number


@async_test
async def test_complaints_arriving_together_are_each_stored_once_or_refused_alone(filing_env):
    settings, factory, _ = filing_env
    with factory.begin() as session:
        citizens = [
            get_or_create_citizen(session, channel=Channel.TELEGRAM, external_id=7100 + n)
            for n in range(10)
        ]
    async with running(settings) as filing:
        outcomes = await asyncio.gather(
            *(
                filing.file(_fields(c, WAGES if n % 2 else STREET_LIGHT, f"tg:2:{n}"))
                for n, c in enumerate(citizens)
            ),
            filing.file(_fields(citizens[0], "", "tg:2:empty")),
            filing.file(_fields(citizens[1], "路" * 6000, "tg:2:huge")),
            return_exceptions=True,
        )
    views, refused = outcomes[:10], outcomes[10:]
    assert all(isinstance(error, ValidationFailed) for error in refused)
    assert not any(isinstance(view, BaseException) for view in views), views
    stored = _stored(factory)
    assert sorted(t.number for t in stored) == sorted(v.number for v in views)
    assert len({t.number for t in stored}) == 10
    assert {t.source_ref for t in stored} == {f"tg:2:{n}" for n in range(10)}


@async_test
async def test_a_child_that_died_is_started_again_by_the_next_complaint(filing_env):
    settings, factory, citizen = filing_env
    async with running(settings) as filing:
        first_pid = filing.pid
        os.kill(first_pid, signal.SIGKILL)
        for _ in range(200):  # the bot's side notices the closed socket
            if not filing.running:
                break
            await asyncio.sleep(0.05)
        assert not filing.running
        view = await filing.file(_fields(citizen, STREET_LIGHT, "tg:3:1"))
        assert filing.pid not in (None, first_pid)
    assert [t.number for t in _stored(factory)] == [view.number]


@async_test
async def test_a_complaint_waiting_when_the_child_dies_gets_an_error_not_silence(filing_env):
    settings, _, citizen = filing_env
    async with running(settings) as filing:
        os.kill(filing.pid, signal.SIGSTOP)  # it reads nothing more...
        waiting = asyncio.create_task(filing.file(_fields(citizen, STREET_LIGHT, "tg:4:1")))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        os.kill(filing.pid, signal.SIGKILL)  # ...and dies before answering
        with pytest.raises(FilingStopped):
            await asyncio.wait_for(waiting, 10)


@async_test
async def test_stopping_ends_the_child(filing_env):
    settings, _, _ = filing_env
    filing = FilingProcess(settings)
    await filing.start()
    pid = filing.pid
    await filing.stop()
    assert not filing.running and filing.pid is None
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped: no such child any more


def test_refusals_pickle_with_both_languages_and_their_details():
    error = NotFound("没有找到工单", "no such ticket", number="MY-20261125-0001")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is NotFound
    assert (copy.message_zh, copy.message_en, copy.details) == (
        "没有找到工单",
        "no such ticket",
        {"number": "MY-20261125-0001"},
    )
    assert str(copy) == str(error)


@async_test
async def test_the_warm_up_at_start_leaves_nothing_in_the_database(filing_env):
    settings, factory, citizen = filing_env
    filing = FilingProcess(settings)
    await filing.start()  # has classified and filed its samples, then rolled them back
    await filing.stop()
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 0
        assert session.scalar(select(func.count()).select_from(TicketNumberCounter)) == 0
        assert list(session.scalars(select(Citizen.id))) == [citizen.id]


@async_test
async def test_the_bot_starts_its_filing_process_on_the_database_it_uses(filing_env, tmp_path):
    settings, factory, citizen = filing_env
    # Settings that name another file: the engine the services were given is what counts.
    elsewhere = settings.model_copy(
        update={
            "database": settings.database.model_copy(
                update={"url": f"sqlite:///{tmp_path}/elsewhere.db"}
            )
        }
    )
    services = build_services(elsewhere, factory.kw["bind"])
    process = BotProcess.build(
        elsewhere, services=services, session=RecordingSession(FakeTelegram()), sender=False
    )
    await process._on_startup()
    try:
        assert services.filing is not None and services.filing.running
        view = await services.file_complaint(**_fields(citizen, STREET_LIGHT, "tg:5:1"))
    finally:
        await process._on_shutdown()
    assert services.filing is None
    assert [t.number for t in _stored(factory)] == [view.number]
    assert not (tmp_path / "elsewhere.db").exists()


@async_test
async def test_complaints_over_the_daily_limit_together_are_refused_and_the_rest_stored(
    filing_env,
):
    settings, factory, citizen = filing_env  # the limit is 3 a day
    async with running(settings) as filing:
        for n in range(2):
            await filing.file(_fields(citizen, f"{STREET_LIGHT}（第{n + 1}次）", f"tg:6:{n}"))
        outcomes = await asyncio.gather(
            *(
                filing.file(_fields(citizen, f"{WAGES}（{n}）", f"tg:6:{10 + n}"))
                for n in range(3)
            ),
            return_exceptions=True,
        )
    refused = [o for o in outcomes if isinstance(o, LimitReached)]
    filed = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(refused) == 2 and len(filed) == 1, outcomes
    assert len(_stored(factory)) == 3
