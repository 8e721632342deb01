"""The worker's survey jobs with a controlled clock: open, invite, remind, close, twice, restart.

The jobs are called as the scheduler calls them (minyi.jobs functions without arguments), with
the clock in the jobs' context, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from minyi import jobs
from minyi.errors import IllegalTransition
from minyi.models import (
    Channel,
    OutboxMessage,
    RoundStatus,
    SurveyAnswer,
    SurveyInvitation,
    SurveyRound,
)
from surveys import catalog, rounds
from surveys.responses import Respondent, submit_response
from surveys.worker import InvitationsRun, RoundsRun, run_invitations
from tests.builders import make_citizen
from tests.survey_helpers import HALL, full_answers, hall_template, make_hall_departments

pytestmark = pytest.mark.usefixtures("engine")

DEC_1_0900 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Beijing


@pytest.fixture
def worker(settings, session_factory, clock, monkeypatch):
    """The jobs' context as the worker sets it, with the test's clock."""
    jobs.build_scheduler(settings, session_factory)
    monkeypatch.setitem(jobs._context, "clock", clock)
    return jobs


@pytest.fixture
def county(session_factory, ctx):
    """The hall survey, three Telegram subscribers, and citizens who must not be invited."""
    with session_factory.begin() as session:
        make_hall_departments(session)
        catalog.import_survey(session, ctx, hall_template())
        subscribers = [make_citizen(session) for _ in range(3)]
        for citizen in subscribers:
            citizen.subscribed = True
        make_citizen(session)  # not subscribed
        web = make_citizen(session, channel=Channel.WEB)
        web.subscribed = True  # subscribed, but the outbox only reaches Telegram
    return [citizen.id for citizen in subscribers]


def messages(session_factory, kind: str) -> list[OutboxMessage]:
    with session_factory() as session:
        return list(
            session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
            )
        )


def the_rounds(session_factory) -> list[SurveyRound]:
    with session_factory() as session:
        return list(session.scalars(select(SurveyRound).order_by(SurveyRound.id)))


def test_a_monthly_round_opens_invites_reminds_and_closes(
    worker, session_factory, ctx, clock, county
):
    with session_factory.begin() as session:
        rounds.schedule_survey(session, ctx, HALL, kind="monthly", open_days=7)
    assert worker.survey_rounds() == RoundsRun(planned=1, opened=0, closed=0)
    assert worker.survey_rounds() == RoundsRun(planned=0, opened=0, closed=0)  # run twice
    (planned,) = the_rounds(session_factory)
    assert planned.status == RoundStatus.SCHEDULED and planned.opens_at == DEC_1_0900
    assert planned.closes_at == DEC_1_0900 + timedelta(days=7)
    assert worker.survey_invitations() == InvitationsRun(0, 0)

    clock.now = DEC_1_0900
    assert worker.survey_rounds() == RoundsRun(planned=0, opened=1, closed=0)
    # The next run plans January's round; December's stays the open one.
    assert worker.survey_rounds() == RoundsRun(planned=1, opened=0, closed=0)
    december, january = the_rounds(session_factory)
    assert (december.number, december.status, december.version_id) == (1, RoundStatus.OPEN, 1)
    assert january.opens_at == datetime(2027, 1, 1, 1, 0, tzinfo=UTC) and january.number is None

    assert worker.survey_invitations() == InvitationsRun(invited=3, reminded=0)
    assert worker.survey_invitations() == InvitationsRun(invited=0, reminded=0)  # twice
    invitations = messages(session_factory, rounds.INVITATION_KIND)
    assert sorted(m.citizen_id for m in invitations) == sorted(county)
    payload = invitations[0].payload
    assert payload["slug"] == HALL and payload["round_id"] == december.id
    assert payload["round"] == 1 and payload["title"]["en"].startswith("County service hall")
    assert payload["url"].startswith("http://127.0.0.1:5000/s/hall-2026?t=")
    assert payload["closes_at"] == december.closes_at.isoformat()
    assert {m.dedupe_key for m in invitations} == {
        f"survey-invite:{december.id}:{citizen_id}" for citizen_id in county
    }

    # The first subscriber answers; the others are reminded once, a day before closing.
    with session_factory.begin() as session:
        submit_response(
            session,
            ctx,
            december.id,
            Respondent(Channel.TELEGRAM, citizen_id=county[0]),
            answers=full_answers(),
        )
    clock.now = december.closes_at - timedelta(hours=24, minutes=1)
    assert worker.survey_invitations() == InvitationsRun(0, 0)  # not yet
    clock.advance(minutes=1)
    assert worker.survey_invitations() == InvitationsRun(invited=0, reminded=2)
    assert worker.survey_invitations() == InvitationsRun(invited=0, reminded=0)
    reminders = messages(session_factory, rounds.REMINDER_KIND)
    assert sorted(m.citizen_id for m in reminders) == sorted(county[1:])
    # The reminder's link opens the same invitation as the first one.
    token = reminders[0].payload["url"].split("?t=")[1]
    with session_factory() as session:
        invitation = session.scalar(
            select(SurveyInvitation).where(SurveyInvitation.citizen_id == reminders[0].citizen_id)
        )
    assert invitation.reminder_token_hash == rounds.hash_token(token)

    clock.now = december.closes_at
    assert worker.survey_rounds() == RoundsRun(planned=0, opened=0, closed=1)
    assert worker.survey_rounds() == RoundsRun(planned=0, opened=0, closed=0)
    assert the_rounds(session_factory)[0].status == RoundStatus.CLOSED
    with session_factory.begin() as session, pytest.raises(IllegalTransition):
        submit_response(
            session, ctx, december.id, Respondent.invited(token), answers=full_answers()
        )

    # A restart registers the jobs again; running them delivers nothing new.
    jobs.build_scheduler(ctx.settings, session_factory)
    assert worker.survey_rounds() == RoundsRun(0, 0, 0)
    assert worker.survey_invitations() == InvitationsRun(0, 0)
    assert len(messages(session_factory, rounds.INVITATION_KIND)) == 3
    assert len(messages(session_factory, rounds.REMINDER_KIND)) == 2


def test_the_next_round_closes_the_previous_and_answers_the_new_version(
    worker, session_factory, ctx, clock, county
):
    with session_factory.begin() as session:
        rounds.schedule_survey(session, ctx, HALL, kind="cron", cron="0 9 * * 1", open_days=10)
    worker.survey_rounds()
    (first,) = the_rounds(session_factory)
    clock.now = first.opens_at
    worker.survey_rounds()
    changed = hall_template()
    changed["title"]["zh"] = "第二版"
    with session_factory.begin() as session:
        catalog.import_survey(session, ctx, changed)
    worker.survey_rounds()  # plans next Monday's round, while this one is open for 10 days
    clock.now = first.opens_at + timedelta(days=7)
    assert worker.survey_rounds().opened == 1
    first, second = the_rounds(session_factory)
    assert first.status == RoundStatus.CLOSED and first.closed_at == clock.now
    assert (second.number, second.status, second.version_id) == (2, RoundStatus.OPEN, 2)


def test_a_window_missed_while_the_worker_was_down_is_skipped(
    worker, session_factory, ctx, clock, county
):
    with session_factory.begin() as session:
        rounds.schedule_survey(session, ctx, HALL, kind="monthly", open_days=7)
    worker.survey_rounds()
    clock.now = DEC_1_0900 + timedelta(days=20)  # December's window ended on the 8th
    assert worker.survey_rounds() == RoundsRun(planned=0, opened=0, closed=0)
    assert worker.survey_rounds() == RoundsRun(planned=1, opened=0, closed=0)
    december, january = the_rounds(session_factory)
    assert december.status == RoundStatus.CLOSED and december.number is None
    assert january.status == RoundStatus.SCHEDULED
    assert worker.survey_invitations() == InvitationsRun(0, 0)


def test_invitations_resume_after_a_crash_and_survive_two_workers(
    worker, session_factory, ctx, clock, county
):
    with session_factory.begin() as session:
        for _ in range(27):
            make_citizen(session).subscribed = True
        round_ = rounds.open_round(session, ctx, HALL, invite_subscribers=True)
    # A worker that stops after one committed batch of 4 ("crash")...
    assert run_invitations(session_factory, ctx, batch=4, max_batches=1).invited == 4
    with session_factory() as session:
        assert session.get(SurveyRound, round_.id).invitations_done_at is None
    # ...and two workers at once (the seconds before a lost lease is noticed) finish the job.
    errors: list[Exception] = []

    def work():
        try:
            run_invitations(session_factory, ctx, batch=5)
        except Exception as exc:  # noqa: BLE001  (counted: the test expects none)
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    sent = messages(session_factory, rounds.INVITATION_KIND)
    assert len(sent) == 30 and len({m.citizen_id for m in sent}) == 30
    with session_factory() as session:
        assert session.scalar(select(func.count(SurveyInvitation.id))) == 30
        assert session.get(SurveyRound, round_.id).invitations_done_at is not None
        progress = rounds.round_progress(session, round_.id)
    assert progress["subscribers_invited"] == 30 and progress["messages_queued"] == 30
    assert progress["invitations_complete"] and progress["messages_sent"] == 0


def test_the_text_job_analyses_new_answers_once(worker, session_factory, ctx, county):
    with session_factory.begin() as session:
        round_ = rounds.open_round(session, ctx, HALL)
        submit_response(
            session,
            ctx,
            round_.id,
            Respondent.web("b" * 20),
            answers=full_answers(suggest="社保窗口排队时间太长，希望增加窗口"),
        )
    assert worker.survey_text_analysis() == 1
    assert worker.survey_text_analysis() == 0
    with session_factory() as session:
        answer = session.scalar(select(SurveyAnswer).where(SurveyAnswer.text.is_not(None)))
    assert answer.analysed_at is not None and answer.sentiment_label is not None
    assert answer.topic is not None and answer.keywords


def test_the_survey_jobs_are_registered_with_fixed_ids(settings, session_factory):
    scheduler = jobs.build_scheduler(settings, session_factory)
    for job_id, function in (
        (jobs.SURVEY_ROUNDS_JOB_ID, jobs.survey_rounds),
        (jobs.SURVEY_INVITATIONS_JOB_ID, jobs.survey_invitations),
        (jobs.SURVEY_TEXTS_JOB_ID, jobs.survey_text_analysis),
    ):
        job = scheduler.get_job(job_id)
        assert job.func is function and job.args == () and job.kwargs == {}
        assert job.trigger.interval == timedelta(minutes=jobs.SURVEY_JOB_MINUTES)
