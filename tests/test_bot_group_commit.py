"""BotServices.write on SQLite: writes that queue up commit together, each in a savepoint;
where reads run; complaints classified together."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import event, func, select

from bot.app import build_services
from minyi.db import commit_together
from minyi.errors import ValidationFailed
from minyi.models import Channel, Citizen
from minyi.services.citizens import get_or_create_citizen
from tests.bot_support import STREET_LIGHT, async_test, bot_settings, fake_analyzer


def _register(session, external_id: int) -> int:
    return get_or_create_citizen(session, channel=Channel.TELEGRAM, external_id=external_id).id


def _register_then_refuse(session, external_id: int) -> int:
    _register(session, external_id)
    raise ValidationFailed("不行", "refused")


@pytest.fixture
def services(engine, tmp_path):
    return build_services(bot_settings(tmp_path), engine)


def _commits(engine) -> list:
    commits: list = []
    event.listen(engine, "commit", lambda conn: commits.append(conn))
    return commits


@async_test
async def test_queued_writes_share_one_commit_and_a_failure_is_rolled_back_alone(services, engine):
    commits = _commits(engine)
    outcomes = await asyncio.gather(
        services.write(_register, 1),
        services.write(_register, 2),
        services.write(_register_then_refuse, 3),
        services.write(_register, 4),
        return_exceptions=True,
    )
    assert isinstance(outcomes[2], ValidationFailed)
    assert all(isinstance(o, int) for i, o in enumerate(outcomes) if i != 2)
    with services.read_factory() as session:
        stored = set(session.scalars(select(Citizen.external_id)))
    assert stored == {"1", "2", "4"}  # the refused write left nothing behind
    if engine.dialect.name == "sqlite":
        assert len(commits) == 1  # one commit, one fsync, for the four
    else:
        assert len(commits) == 3  # PostgreSQL: a transaction each (the refused one rolled back)


@pytest.mark.parametrize("failing", [None, 2])
def test_an_optimistic_group_commits_as_the_savepoints_would(services, engine, failing):
    runs: list[int] = []

    def register(session, external_id: int) -> int:
        runs.append(external_id)
        if external_id == failing:
            return _register_then_refuse(session, external_id)
        return _register(session, external_id)

    commits = _commits(engine)
    outcomes = commit_together(
        services.session_factory, [(register, (n,), {}) for n in (1, 2, 3)], optimistic=True
    )
    with services.read_factory() as session:
        stored = set(session.scalars(select(Citizen.external_id)))
    if failing is None:
        assert [done for done, _ in outcomes] == [True, True, True]
        assert stored == {"1", "2", "3"} and runs == [1, 2, 3]  # once each, no savepoints
    else:
        assert [done for done, _ in outcomes] == [True, False, True]
        assert isinstance(outcomes[1][1], ValidationFailed)
        assert stored == {"1", "3"}  # the refused write's citizen was rolled back with it
        assert runs == [1, 2, 1, 2, 3]  # rolled back at the refusal, then each in a savepoint
    assert len(commits) == 1


@async_test
async def test_a_write_alone_is_a_transaction_of_its_own(services, engine):
    commits = _commits(engine)
    first = await services.write(_register, 7)
    with pytest.raises(ValidationFailed):
        await services.write(_register_then_refuse, 8)
    assert await services.write(_register, 7) == first  # committed: found again
    with services.read_factory() as session:
        assert session.scalar(select(func.count()).select_from(Citizen)) == 1
    assert len(commits) == 2


def _thread_of_read(session) -> int:
    session.connection()  # the read-only transaction has begun
    return threading.get_ident()


@async_test
async def test_a_short_read_runs_on_the_event_loop_on_sqlite_only_and_a_scan_in_a_thread(
    services, engine
):
    loop_thread = threading.get_ident()
    on_read = await services.read(_thread_of_read)
    assert (on_read == loop_thread) == (engine.dialect.name == "sqlite")
    assert await services.scan(_thread_of_read) != loop_thread
    await services.write(_register, 9)
    # What was committed is read, on the loop as in a thread.
    found = await services.read(lambda session: session.scalar(select(Citizen.external_id)))
    assert found == "9"


@async_test
async def test_complaints_that_arrive_together_are_classified_in_one_call(services):
    batches = []

    def classify_many(texts):
        batches.append(list(texts))
        return [fake_analyzer(text) for text in texts]

    services.ctx.analyzer, services.ctx.batch_analyzer = fake_analyzer, classify_many
    wages = "公司拖欠三个月工资，多次讨要无果，希望劳动部门帮忙解决欠薪问题。"
    street, refused, owed = await asyncio.gather(
        services.analyze_complaint(text=STREET_LIGHT, channel=Channel.TELEGRAM),
        services.analyze_complaint(text="短", channel=Channel.TELEGRAM),
        services.analyze_complaint(text=wages, channel=Channel.TELEGRAM),
        return_exceptions=True,
    )
    assert batches == [[STREET_LIGHT, wages]]
    assert isinstance(refused, ValidationFailed)  # raised to its own caller only
    assert street["analysis"].topic == "城乡建设"
    assert owed["analysis"].topic == "劳动和社会保障"
    # One arriving alone is classified alone (the single-text call).
    alone = await services.analyze_complaint(text=STREET_LIGHT, channel=Channel.TELEGRAM)
    assert alone["analysis"].topic == "城乡建设" and len(batches) == 1
