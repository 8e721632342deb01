"""The scheduler's survey work, one transaction per unit, safe to run twice or after a crash.

`run_rounds` plans the next round of each schedule, opens the rounds whose time has come and
closes those past their closing time; `run_invitations` invites subscribers and reminds
non-responders in batches; `run_text_analysis` analyses new free-text answers. minyi.jobs
calls them every minute. Each unit re-reads its round under a lock and does nothing when the
work is already done, and invitations and reminders are unique per citizen and round, so a
job run twice, or two workers in the seconds before a lost lease is noticed, deliver nothing
twice; a restart continues from the last committed batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import sessionmaker

from minyi.services.context import ServiceContext
from surveys import results, rounds

log = logging.getLogger(__name__)

INVITE_BATCH = 500
# Per job run, so one run ends in bounded time; the next run (a minute later) continues.
MAX_BATCHES_PER_RUN = 20


@dataclass(frozen=True)
class RoundsRun:
    planned: int
    opened: int
    closed: int


@dataclass(frozen=True)
class InvitationsRun:
    invited: int
    reminded: int


def run_rounds(session_factory: sessionmaker, ctx: ServiceContext) -> RoundsRun:
    """Plan, open and close rounds as the clock says."""
    now = ctx.now()
    with session_factory.begin() as session:
        planned = rounds.plan_rounds(session, ctx, at=now)
    with session_factory.begin() as session:
        to_open, to_close = rounds.rounds_due(session, at=now)
    opened = closed = 0
    # Closing first: a round that ended makes way for the survey's next one.
    for round_id in to_close:
        with session_factory.begin() as session:
            closed += rounds.close_due_round(session, ctx, round_id, at=now)
    for round_id in to_open:
        with session_factory.begin() as session:
            opened += rounds.open_due_round(session, ctx, round_id, at=now)
    if planned or opened or closed:
        log.info(
            "调查轮次：新排期 %d，开始 %d，结束 %d / survey rounds: %d planned, %d opened,"
            " %d closed",
            len(planned),
            opened,
            closed,
            len(planned),
            opened,
            closed,
        )
    return RoundsRun(len(planned), opened, closed)


def run_invitations(
    session_factory: sessionmaker,
    ctx: ServiceContext,
    *,
    batch: int = INVITE_BATCH,
    max_batches: int = MAX_BATCHES_PER_RUN,
) -> InvitationsRun:
    """Invite subscribers of open rounds, then remind non-responders, batch by batch."""
    now = ctx.now()
    with session_factory.begin() as session:
        to_invite = rounds.rounds_to_invite(session, at=now)
    # One budget for both steps: a run sends at most max_batches batches in all.
    invited, budget = _in_batches(
        session_factory,
        to_invite,
        max_batches,
        batch,
        lambda session, round_id: rounds.invite_subscribers(
            session, ctx, round_id, limit=batch, at=now
        ),
    )
    with session_factory.begin() as session:
        to_remind = rounds.rounds_to_remind(session, at=now)
    reminded, _ = _in_batches(
        session_factory,
        to_remind,
        budget,
        batch,
        lambda session, round_id: rounds.remind_non_responders(
            session, ctx, round_id, limit=batch, at=now
        ),
    )
    if invited or reminded:
        log.info(
            "调查邀请 %d 人，提醒 %d 人 / survey invitations: %d invited, %d reminded",
            invited,
            reminded,
            invited,
            reminded,
        )
    return InvitationsRun(invited, reminded)


def _in_batches(session_factory, round_ids, budget: int, batch: int, step) -> tuple[int, int]:
    """Run `step` per round, a transaction a batch, until each round is done or the budget is.

    Returns (how many `step` handled, batches left of the budget).
    """
    done = 0
    for round_id in round_ids:
        while budget > 0:
            with session_factory.begin() as session:
                count = step(session, round_id)
            budget -= 1
            done += count
            if count < batch:
                break
    return done, budget


def run_text_analysis(
    session_factory: sessionmaker, ctx: ServiceContext, *, batch: int = 200, max_batches: int = 10
) -> int:
    """Analyse new free-text answers (topics, sentiment, keywords) for the results."""
    total = 0
    for _ in range(max_batches):
        with session_factory.begin() as session:
            count = results.analyse_text_answers(session, ctx, limit=batch)
        total += count
        if count < batch:
            break
    return total
