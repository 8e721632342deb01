"""The survey engine on a database (SQLite, and PostgreSQL when its URL is set).

Versions, rounds, answering (chat one answer at a time, the web one form), invitations,
complaints from free text, results, the comparison of rounds, department scores and exports.
"""

from __future__ import annotations

import csv
import threading
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from minyi.errors import IllegalTransition, NotFound, PermissionDenied, ValidationFailed
from minyi.models import (
    Channel,
    RoundStatus,
    SurveyAnswer,
    SurveyInvitation,
    SurveyResponse,
    Ticket,
    TicketStatus,
)
from surveys import catalog, export, results, rounds
from surveys.answers import AnswersInvalid
from surveys.counts import rebuild_counts
from surveys.definition import DefinitionInvalid
from surveys.responses import (
    Respondent,
    response_status,
    rounds_for_citizen,
    save_answer,
    start_response,
    submit_and_route,
    submit_response,
)
from tests.builders import FakeAnalysis, make_citizen
from tests.survey_helpers import (
    HALL,
    full_answers,
    hall_asking_first_visit,
    hall_template,
    make_hall_departments,
    results_as_recounted,
    stored_answers,
)

pytestmark = pytest.mark.usefixtures("engine")


@pytest.fixture
def hall(session_factory, ctx):
    """The documented hall survey imported into a county that has its departments."""
    with session_factory.begin() as session:
        make_hall_departments(session)
        catalog.import_survey(session, ctx, hall_template())
    return HALL


@pytest.fixture
def open_hall(session_factory, ctx, hall):
    with session_factory.begin() as session:
        return rounds.open_round(session, ctx, hall)


def web(n: int) -> Respondent:
    return Respondent.web(f"browser-{n:012d}")


def count(session_factory, model, *where) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


# -- versions --------------------------------------------------------------------------------


def test_importing_a_slug_again_makes_a_new_version_only_when_it_changed(
    session_factory, ctx, hall
):
    changed = hall_template()
    changed["questions"][0]["text"]["zh"] = "总体而言，您满意吗？"
    with session_factory.begin() as session:
        same = catalog.import_survey(session, ctx, hall_template())
        new = catalog.import_survey(session, ctx, changed)
    assert (same.version, same.created_version) == (1, False)
    assert (new.version, new.created_version, new.created_survey) == (2, True, False)
    with session_factory() as session:
        assert catalog.export_definition(session, HALL)["questions"][0]["text"]["zh"] == (
            "总体而言，您满意吗？"
        )
        first = catalog.export_definition(session, HALL, 1)
        assert first["questions"][0]["text"]["zh"] == "您对本次在大厅办事的总体评价是？"
        # The export is the canonical form: importing it again stores nothing.
        assert catalog.import_survey(session, ctx, first).created_version is True  # v3 = v1
        summaries = catalog.list_surveys(session)
        session.rollback()
    assert [(s.slug, s.versions, s.published_version) for s in summaries] == [(HALL, 3, 3)]


def test_an_unknown_department_is_refused_with_its_path(session_factory, ctx):
    with session_factory.begin() as session, pytest.raises(DefinitionInvalid) as refused:
        catalog.import_survey(session, ctx, hall_template())
    assert refused.value.path == "$.questions[0].department"
    assert count(session_factory, SurveyResponse) == 0


def test_a_published_version_is_never_edited_a_draft_is(session_factory, ctx, hall):
    edited = hall_template()
    edited["title"]["zh"] = "改过的标题"
    with session_factory.begin() as session, pytest.raises(IllegalTransition):
        catalog.update_draft(session, ctx, edited)
    with session_factory.begin() as session:
        draft = catalog.import_survey(session, ctx, edited, publish=False)
        assert (draft.version, draft.published) == (2, False)
        edited["title"]["zh"] = "再改一次"
        catalog.update_draft(session, ctx, edited)
        # A round answers the latest *published* version: the draft is not used yet.
        opened = rounds.open_round(session, ctx, HALL)
        assert opened.version == 1
        catalog.publish_draft(session, ctx, HALL)
        assert catalog.export_definition(session, HALL)["title"]["zh"] == "再改一次"
        with pytest.raises(IllegalTransition):
            catalog.update_draft(session, ctx, edited)


def test_old_answers_keep_the_version_they_answered(session_factory, ctx, clock, hall):
    with session_factory.begin() as session:
        first = rounds.open_round(session, ctx, HALL)
        submit_response(session, ctx, first.id, web(1), answers=full_answers())
    changed = hall_template()
    changed["questions"][2]["choices"].append({"key": "phone", "text": {"zh": "电话预约"}})
    with session_factory.begin() as session:
        catalog.import_survey(session, ctx, changed)
        # The open round still answers version 1: the new choice is not offered there.
        with pytest.raises(AnswersInvalid):
            submit_response(session, ctx, first.id, web(2), answers=full_answers(how="phone"))
    with session_factory.begin() as session:
        rounds.close_round(session, ctx, first.id)
        second = rounds.open_round(session, ctx, HALL)
        assert (second.number, second.version) == (2, 2)
        submit_response(session, ctx, second.id, web(2), answers=full_answers(how="phone"))
    with session_factory() as session:
        rows = list(export.export_rows(session, ctx, HALL))
    assert [(row[1], row[2]) for row in rows[1:]] == [(1, 1), (2, 2)]


def test_a_kept_round_answers_its_own_version_and_is_read_again_for_its_status(
    session_factory, ctx, hall
):
    """A RoundView the caller kept (the web process keeps the open round it showed) carries
    its version's definition and question ids; a version published meanwhile is not its
    own, and its status and times are read again at each submit."""
    with session_factory.begin() as session:
        first = rounds.open_round(session, ctx, HALL)
    with session_factory() as session:
        kept = rounds.open_round_for(session, ctx, HALL)
    with session_factory.begin() as session:
        catalog.import_survey(session, ctx, hall_asking_first_visit())
    with session_factory.begin() as session:
        submit_response(session, ctx, kept, web(1), answers=full_answers())
    out = results_as_recounted(session_factory, ctx, first.id)
    assert (out["version"], out["responses"]) == (1, 1)
    assert out["questions"]["overall"]["counts"]["4"] == 1
    assert "first_visit" not in out["questions"]
    with session_factory.begin() as session:
        rounds.close_round(session, ctx, first.id)
        second = rounds.open_round(session, ctx, HALL)
    with session_factory.begin() as session, pytest.raises(IllegalTransition, match="closed"):
        submit_response(session, ctx, kept, web(2), answers=full_answers())
    with session_factory() as session:
        kept = rounds.open_round_for(session, ctx, HALL)
    assert (kept.id, kept.version) == (second.id, 2)
    with session_factory.begin() as session:
        submit_response(session, ctx, kept, web(2), answers=full_answers(first_visit="yes"))
    out = results_as_recounted(session_factory, ctx, second.id)
    assert out["questions"]["first_visit"]["counts"] == {"yes": 1, "no": 0}
    assert out["questions"]["overall"]["counts"]["4"] == 1
    assert count(session_factory, SurveyResponse) == 2


# -- rounds ----------------------------------------------------------------------------------


def test_one_open_round_per_survey_and_closed_rounds_refuse_answers(
    session_factory, ctx, clock, open_hall
):
    assert (open_hall.number, open_hall.status) == (1, RoundStatus.OPEN)
    assert open_hall.closes_at - open_hall.opens_at == timedelta(days=rounds.DEFAULT_OPEN_DAYS)
    with session_factory.begin() as session, pytest.raises(IllegalTransition, match="close it"):
        rounds.open_round(session, ctx, HALL)
    with session_factory() as session:
        assert rounds.open_round_for(session, ctx, HALL).id == open_hall.id
        with pytest.raises(NotFound):
            rounds.open_round_for(session, ctx, "no-such-survey")
    clock.advance(days=8)  # past closing, before the worker has closed it
    with session_factory.begin() as session:
        with pytest.raises(IllegalTransition):
            rounds.open_round_for(session, ctx, HALL)
        with pytest.raises(IllegalTransition, match="closed"):
            submit_response(session, ctx, open_hall.id, web(1), answers=full_answers())
    assert count(session_factory, SurveyResponse) == 0


def test_a_round_planned_for_later_refuses_answers_until_it_opens(
    session_factory, ctx, clock, hall
):
    with session_factory.begin() as session:
        planned = rounds.open_round(session, ctx, HALL, opens_at=clock.now + timedelta(days=1))
    assert planned.status == RoundStatus.SCHEDULED and planned.number is None
    with session_factory.begin() as session, pytest.raises(IllegalTransition, match="not opened"):
        start_response(session, ctx, planned.id, web(1))
    with session_factory.begin() as session:
        with pytest.raises(ValidationFailed):
            rounds.open_round(session, ctx, HALL, closes_at=clock.now - timedelta(hours=1))
        with pytest.raises(ValidationFailed):
            rounds.open_round(session, ctx, HALL, closes_at=clock.now.replace(tzinfo=None))


# -- answering -------------------------------------------------------------------------------


def test_chat_answers_one_at_a_time_and_resumes(session_factory, ctx, open_hall):
    with session_factory.begin() as session:
        citizen = make_citizen(session)
    me = Respondent.of_citizen(citizen)
    with session_factory.begin() as session:
        view = start_response(session, ctx, open_hall.id, me)
        assert view.next_key == "overall" and view.progress == (0, 7)
        view = save_answer(session, ctx, open_hall.id, me, "overall", "2")
        # A low score shows the "why" question.
        assert "why" in view.shown_keys and view.next_key == "recommend"
        view = save_answer(session, ctx, open_hall.id, me, "recommend", None)  # skipped
        assert view.next_key == "how" and view.answers["recommend"] is None
        with pytest.raises(ValidationFailed, match="required"):
            save_answer(session, ctx, open_hall.id, me, "how", None)
        with pytest.raises(ValidationFailed, match="does not apply"):
            save_answer(session, ctx, open_hall.id, me, "social_rating", 5)
        save_answer(session, ctx, open_hall.id, me, "how", "hall")
    # A restart: a new session finds the same response with its answers.
    with session_factory.begin() as session:
        resumed = start_response(session, ctx, open_hall.id, me)
    assert resumed.id == view.id and resumed.next_key == "service"
    assert resumed.answers == {"overall": 2, "recommend": None, "how": "hall"}
    with session_factory.begin() as session:
        with pytest.raises(ValidationFailed, match="at most 2"):
            save_answer(session, ctx, open_hall.id, me, "improve", ["queue", "guide", "online"])
        done = submit_response(session, ctx, open_hall.id, me)
    assert done.submitted_now and done.answers == {"overall": 2, "how": "hall"}
    assert done.submitted_at is not None and done.next_key is None
    with session_factory.begin() as session, pytest.raises(IllegalTransition):
        save_answer(session, ctx, open_hall.id, me, "visits", "one")


def test_web_form_missing_and_bad_answers_store_nothing(session_factory, ctx, open_hall):
    form = full_answers(overall=None, recommend="11", improve=["queue", "teleport"])
    with session_factory.begin() as session, pytest.raises(AnswersInvalid) as refused:
        submit_response(session, ctx, open_hall.id, web(1), answers=form)
    assert set(refused.value.errors) == {"overall", "recommend", "improve"}  # all at once
    form = full_answers(overall=None)
    with session_factory.begin() as session, pytest.raises(AnswersInvalid) as refused:
        submit_response(session, ctx, open_hall.id, web(1), answers=form)
    assert set(refused.value.errors) == {"overall"}
    assert count(session_factory, SurveyResponse) == 0
    assert stored_answers(session_factory) == 0


def test_hidden_answers_are_not_stored(session_factory, ctx, open_hall):
    # A browser without JavaScript posts the hall-only and low-score questions anyway.
    form = full_answers(how="online", why="窗口太少，排队时间太长了")
    with session_factory.begin() as session:
        view = submit_response(session, ctx, open_hall.id, web(1), answers=form)
    assert "service" not in view.answers and "social_rating" not in view.answers
    assert "why" not in view.answers and view.answers["how"] == "online"
    assert stored_answers(session_factory) == len(view.answers)


def test_a_second_submit_stores_nothing(session_factory, ctx, open_hall):
    with session_factory.begin() as session:
        first = submit_response(session, ctx, open_hall.id, web(1), answers=full_answers())
    stored = stored_answers(session_factory)
    with session_factory.begin() as session:
        again = submit_response(
            session, ctx, open_hall.id, web(1), answers=full_answers(overall="1")
        )
        status = response_status(session, ctx, open_hall.id, web(1))
        assert response_status(session, ctx, open_hall.id, web(2)) is None
    assert first.submitted_now and not again.submitted_now
    assert again.id == first.id and again.answers["overall"] == 4 and status.submitted
    assert stored_answers(session_factory) == stored
    assert count(session_factory, SurveyResponse) == 1


def test_concurrent_double_submits_store_one_response(session_factory, ctx, open_hall):
    errors, views = [], []
    barrier = threading.Barrier(8)

    def submit():
        barrier.wait()
        try:
            with session_factory.begin() as session:
                views.append(
                    submit_response(session, ctx, open_hall.id, web(7), answers=full_answers())
                )
        except Exception as exc:  # noqa: BLE001  (counted: the test expects none)
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(view.submitted_now for view in views) == 1
    assert len({view.id for view in views}) == 1
    assert count(session_factory, SurveyResponse) == 1
    assert stored_answers(session_factory) == len(views[0].answers)
    with session_factory() as session:
        assert (
            results.round_results(session, ctx, open_hall.id, min_sample=1)["questions"][
                "overall"
            ]["counts"]["4"]
            == 1
        )


def test_the_kept_counts_equal_a_recount_of_the_answers(session_factory, ctx, open_hall):
    forms = [
        full_answers(overall=str(1 + n % 5), how=("hall", "online")[n % 2], improve=["guide"])
        for n in range(12)
    ]
    _answer_many(session_factory, ctx, open_hall.id, forms)
    with session_factory.begin() as session:
        kept = results.round_results(session, ctx, open_hall.id, min_sample=1)
        rebuild_counts(session, open_hall.id)
        recounted = results.round_results(session, ctx, open_hall.id, min_sample=1)
    assert kept == recounted
    assert kept["questions"]["how"]["counts"] == {"hall": 6, "online": 6, "self": 0, "agent": 0}
    assert kept["questions"]["suggest"]["n"] == 12


def test_invitation_only_rounds_admit_invitations_once(session_factory, ctx, hall):
    with session_factory.begin() as session:
        round_ = rounds.open_round(session, ctx, HALL, invitation_only=True)
        links = rounds.create_invitations(session, ctx, round_.id, 2)
        stranger = make_citizen(session)
    token = links[0].split("?t=")[1]
    assert links[0].startswith("http://127.0.0.1:5000/s/hall-2026?t=")
    with session_factory.begin() as session:
        stored = session.scalars(select(SurveyInvitation.token_hash)).all()
    assert token not in stored and rounds.hash_token(token) in stored
    with session_factory.begin() as session:
        with pytest.raises(PermissionDenied):
            start_response(session, ctx, round_.id, web(1))
        with pytest.raises(PermissionDenied):
            start_response(session, ctx, round_.id, Respondent.of_citizen(stranger))
        with pytest.raises(ValidationFailed, match="invalid"):
            start_response(session, ctx, round_.id, Respondent.invited("x" * 22))
    invited = Respondent.invited(token)
    with session_factory.begin() as session:
        view = submit_response(session, ctx, round_.id, invited, answers=full_answers())
    assert view.submitted_now
    with session_factory.begin() as session:
        # The used link shows "already answered", stores nothing and takes no new answers.
        again = submit_response(session, ctx, round_.id, invited, answers=full_answers())
        assert (
            not again.submitted_now and start_response(session, ctx, round_.id, invited).submitted
        )
        with pytest.raises(IllegalTransition):
            save_answer(session, ctx, round_.id, invited, "overall", 1)
        used = session.scalar(
            select(SurveyInvitation).where(SurveyInvitation.used_at.is_not(None))
        )
    assert used.token_hash == rounds.hash_token(token)
    assert count(session_factory, SurveyResponse) == 1


def _race(n, work):
    """Run `work` in n threads released together; (results, errors)."""
    barrier = threading.Barrier(n)
    out, errors = [], []

    def run():
        barrier.wait()
        try:
            out.append(work())
        except Exception as exc:  # noqa: BLE001  (counted: the tests expect none)
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out, errors


@pytest.mark.parametrize("with_draft", [False, True], ids=["fresh", "after-chat-draft"])
def test_one_invitation_posted_at_once_stores_one_response(session_factory, ctx, hall, with_draft):
    """Two (or more) writers post the same invitation link at the same moment: one response,
    one set of answers and counts, the invitation used once; the others get the stored one."""
    with session_factory.begin() as session:
        citizen = make_citizen(session)
        round_ = rounds.open_round(session, ctx, HALL, invitation_only=True)
        token = rounds.create_invitations(session, ctx, round_.id, 1)[0].split("?t=")[1]
        if with_draft:  # a subscriber's invitation, begun in chat: the general path
            session.scalars(select(SurveyInvitation)).one().citizen_id = citizen.id
    if with_draft:
        with session_factory.begin() as session:
            save_answer(session, ctx, round_.id, Respondent.of_citizen(citizen), "overall", 2)

    def submit(overall):
        with session_factory.begin() as session:
            return submit_response(
                session,
                ctx,
                round_.id,
                Respondent.invited(token),
                answers=full_answers(overall=overall),
            )

    scores = iter(["4", "5", "3", "1"])
    views, errors = _race(4, lambda: submit(next(scores)))
    assert errors == []
    assert sum(view.submitted_now for view in views) == 1
    assert len({view.id for view in views}) == 1
    winner = next(view for view in views if view.submitted_now)
    assert all(view.answers == winner.answers for view in views)
    assert count(session_factory, SurveyResponse) == 1
    assert stored_answers(session_factory) == len(winner.answers)
    with session_factory() as session:
        invitation = session.scalars(select(SurveyInvitation)).one()
        assert invitation.used_at is not None
        out = results.round_results(session, ctx, round_.id, min_sample=1)
    assert out["responses"] == 1 and sum(out["questions"]["overall"]["counts"].values()) == 1
    # Afterwards the link, posted again, stores nothing and says it was submitted.
    again = submit("2")
    assert not again.submitted_now and again.answers == winner.answers
    assert stored_answers(session_factory) == len(winner.answers)


def test_a_subscriber_answers_once_by_chat_or_by_the_invitation_link(session_factory, ctx, hall):
    with session_factory.begin() as session:
        citizen = make_citizen(session)
        citizen.subscribed = True
        round_ = rounds.open_round(session, ctx, HALL, invite_subscribers=True)
        rounds.invite_subscribers(session, ctx, round_.id)
        invitation = session.scalar(select(SurveyInvitation))
    # The link's token is only in the outbox message (the database has its hash).
    with session_factory() as session:
        from minyi.models import OutboxMessage

        message = session.scalar(select(OutboxMessage))
    token = message.payload["url"].split("?t=")[1]
    assert rounds.hash_token(token) == invitation.token_hash
    with session_factory.begin() as session:
        save_answer(session, ctx, round_.id, Respondent.of_citizen(citizen), "overall", 5)
        # The same person through the web link continues the chat's response.
        view = start_response(session, ctx, round_.id, Respondent.invited(token))
        assert view.answers == {"overall": 5}
        done = submit_response(
            session, ctx, round_.id, Respondent.invited(token), answers=full_answers(overall=None)
        )
    assert done.submitted_now and done.answers["overall"] == 5
    with session_factory.begin() as session:
        chat_again = submit_response(session, ctx, round_.id, Respondent.of_citizen(citizen))
    assert not chat_again.submitted_now
    assert count(session_factory, SurveyResponse) == 1


# -- complaints from free text ---------------------------------------------------------------


def test_a_complaint_is_filed_only_when_the_respondent_opts_in(session_factory, ctx, open_hall):
    complaint = "窗口工作人员态度很差，材料明明齐全却让我跑了三次。"
    form = full_answers(overall="1", why=complaint)
    with session_factory.begin() as session:
        quiet = submit_response(session, ctx, open_hall.id, web(1), answers=form)
    assert quiet.complaints == () and count(session_factory, Ticket) == 0
    with session_factory.begin() as session:
        citizen = make_citizen(session)
    me = Respondent.of_citizen(citizen)
    with session_factory.begin() as session:
        view = submit_response(session, ctx, open_hall.id, me, answers=form, file_complaints=True)
    (filed,) = view.complaints
    assert filed.key == "why" and filed.number.startswith("MY-") and len(filed.access_code) == 10
    with session_factory() as session:
        ticket = session.get(Ticket, filed.ticket_id)
        answer = session.scalar(select(SurveyAnswer).where(SurveyAnswer.ticket_id == ticket.id))
        assert ticket.channel == Channel.SURVEY and ticket.citizen_id == citizen.id
        assert ticket.text == complaint and ticket.status == TicketStatus.RECEIVED
        assert ticket.source_ref == f"survey:{view.id}:why" and answer.text == complaint


def test_a_refused_complaint_keeps_the_response(session_factory, ctx, open_hall):
    form = full_answers(overall="2", why="差")  # shorter than [tickets] min_text_chars
    with session_factory.begin() as session:
        view = submit_response(
            session, ctx, open_hall.id, web(1), answers=form, file_complaints=True
        )
    assert view.submitted_now and view.complaints == ()
    ((key, zh, en),) = view.complaints_refused
    assert key == "why" and "太短" in zh and "too short" in en
    assert count(session_factory, Ticket) == 0
    assert count(session_factory, SurveyAnswer, SurveyAnswer.text == "差") == 1


def test_submit_and_route_routes_the_filed_complaint(session_factory, ctx, open_hall):
    ctx.analyzer = lambda text: FakeAnalysis(topic="劳动和社会保障", topic_probability=0.9)
    with session_factory.begin() as session:
        citizen = make_citizen(session)
    form = full_answers(overall="1", why="社保窗口工作人员推诿，养老保险的事跑了三趟还没办成")
    view = submit_and_route(
        session_factory,
        ctx,
        open_hall.id,
        Respondent.of_citizen(citizen),
        answers=form,
        file_complaints=True,
    )
    with session_factory() as session:
        ticket = session.get(Ticket, view.complaints[0].ticket_id)
        assert ticket.status == TicketStatus.ASSIGNED and ticket.department.code == "rsj"


# -- results ---------------------------------------------------------------------------------


def _answer_many(session_factory, ctx, round_id, forms, start=0):
    with session_factory.begin() as session:
        for n, form in enumerate(forms, start=start):
            submit_response(session, ctx, round_id, web(n), answers=form)


def test_results_per_question(session_factory, ctx, open_hall):
    forms = [
        full_answers(overall=str(1 + n % 5), recommend=str(n % 11), improve=["queue"])
        for n in range(40)
    ]
    _answer_many(session_factory, ctx, open_hall.id, forms)
    with session_factory() as session:
        out = results.round_results(session, ctx, open_hall.id)
    assert out["responses"] == 40 and out["invited"] is None and out["response_rate"] is None
    overall = out["questions"]["overall"]
    assert overall["counts"] == {"1": 8, "2": 8, "3": 8, "4": 8, "5": 8}
    assert overall["mean"] == 3.0 and overall["mean_ci"][0] < 3.0 < overall["mean_ci"][1]
    assert overall["satisfaction_rate"] == 0.4 and overall["department"] == "zwfw"
    nps = out["questions"]["recommend"]
    promoters = sum(1 for n in range(40) if n % 11 >= 9)
    detractors = sum(1 for n in range(40) if n % 11 <= 6)
    assert (nps["promoters"], nps["detractors"]) == (promoters, detractors)
    assert nps["nps"] == round((promoters - detractors) / 40 * 100, 4)
    improve = out["questions"]["improve"]
    assert improve["counts"]["queue"] == 40 and improve["shares"]["queue"] == 1.0
    assert improve["counts"]["guide"] == 0
    # Asked only of those who went to the social window: 40 of them, but fewer than 30 saw
    # medical_rating (nobody): its figures are null and it is listed as insufficient.
    assert out["questions"]["medical_rating"]["n"] == 0
    assert out["questions"]["medical_rating"]["mean"] is None
    assert "medical_rating" in out["insufficient"] and "overall" not in out["insufficient"]


def test_results_below_the_minimum_sample_give_counts_only(session_factory, ctx, open_hall):
    _answer_many(session_factory, ctx, open_hall.id, [full_answers() for _ in range(5)])
    with session_factory() as session:
        out = results.round_results(session, ctx, open_hall.id)
        small = results.round_results(session, ctx, open_hall.id, min_sample=5)
    assert out["questions"]["overall"]["counts"]["4"] == 5
    assert out["questions"]["overall"]["mean"] is None and "overall" in out["insufficient"]
    assert small["questions"]["overall"]["mean"] == 4.0


def test_response_rate_of_an_invited_round(session_factory, ctx, hall):
    with session_factory.begin() as session:
        round_ = rounds.open_round(session, ctx, HALL, invitation_only=True)
        links = rounds.create_invitations(session, ctx, round_.id, 10)
    with session_factory.begin() as session:
        for link in links[:4]:
            submit_response(
                session,
                ctx,
                round_.id,
                Respondent.invited(link.split("?t=")[1]),
                answers=full_answers(),
            )
        start_response(session, ctx, round_.id, Respondent.invited(links[5].split("?t=")[1]))
    with session_factory() as session:
        out = results.round_results(session, ctx, round_.id)
        progress = rounds.round_progress(session, round_.id)
    assert (out["responses"], out["invited"], out["response_rate"]) == (4, 10, 0.4)
    assert out["response_rate_ci"][0] < 0.4 < out["response_rate_ci"][1]
    assert progress["responses_started"] == 5 and progress["invitations_used"] == 4


def test_free_text_is_analysed_for_topics_sentiment_and_keywords(session_factory, ctx, open_hall):
    texts = ["排队时间太长", "社保窗口人太少", "服务很好，谢谢"]
    _answer_many(session_factory, ctx, open_hall.id, [full_answers(suggest=t) for t in texts])

    def analyzer(text):
        negative = "好" not in text
        return FakeAnalysis(
            topic="劳动和社会保障" if "社保" in text else "城乡建设",
            topic_probability=0.8,
            sentiment_label="negative" if negative else "positive",
            keywords=("排队",) if "排队" in text else ("窗口",),
        )

    ctx.analyzer = analyzer
    with session_factory.begin() as session:
        assert results.analyse_text_answers(session, ctx) == 3
        assert results.analyse_text_answers(session, ctx) == 0  # each text analysed once
    with session_factory() as session:
        suggest = results.round_results(session, ctx, open_hall.id)["questions"]["suggest"]
    assert suggest["n"] == 3 and suggest["analysed"] == 3
    assert suggest["topics"] == {"城乡建设": 2, "劳动和社会保障": 1}
    assert suggest["sentiment"] == {"negative": 2, "positive": 1}
    assert set(suggest["keywords"]) == {"排队", "窗口"}


def test_the_comparison_flags_only_significant_changes(session_factory, ctx, hall):
    with session_factory.begin() as session:
        first = rounds.open_round(session, ctx, HALL)
    # Round 1: overall mostly 2; "how" half hall, half online.
    _answer_many(
        session_factory,
        ctx,
        first.id,
        [
            full_answers(overall="2" if n % 5 else "4", how=("hall", "online")[n % 2])
            for n in range(60)
        ],
    )
    with session_factory.begin() as session:
        rounds.close_round(session, ctx, first.id)
        second = rounds.open_round(session, ctx, HALL)
    # Round 2: overall mostly 5 (a real change); "how" split the same way (no change).
    _answer_many(
        session_factory,
        ctx,
        second.id,
        [
            full_answers(overall="5" if n % 5 else "4", how=("online", "hall")[n % 2])
            for n in range(60)
        ],
        start=1000,
    )
    with session_factory() as session:
        out = results.compare_rounds(session, ctx, second.id)
        tiny = results.compare_rounds(session, ctx, second.id, min_sample=100)
    assert (out["round"], out["previous"]) == (2, 1)
    overall = {c["measure"]: c for c in out["questions"]["overall"]["changes"]}
    assert overall["mean"]["significant"] and overall["mean"]["difference"] > 2
    assert overall["satisfaction_rate"]["significant"]
    how = {c["measure"]: c for c in out["questions"]["how"]["changes"]}
    assert not how["share:hall"]["significant"] and how["share:hall"]["p"] > 0.5
    assert "suggest" not in out["questions"]  # text is not compared
    # Below the minimum sample nothing is flagged.
    assert not any(c["significant"] for q in tiny["questions"].values() for c in q["changes"])


def test_the_trend_covers_every_round_and_flags_only_significant_changes(
    session_factory, ctx, hall
):
    plans = [  # (responses, overall score of most of them)
        (60, "2"),
        (60, "2"),  # the same as round 1: no flag
        (60, "5"),  # a real rise: flagged
        (10, "5"),  # too few answers: null figures, nothing flagged
    ]
    for number, (size, score) in enumerate(plans):
        with session_factory.begin() as session:
            round_ = rounds.open_round(session, ctx, HALL)
        forms = [
            full_answers(overall=score if n % 5 else "4", recommend=str(n % 11))
            for n in range(size)
        ]
        _answer_many(session_factory, ctx, round_.id, forms, start=1000 * number)
        with session_factory.begin() as session:
            rounds.close_round(session, ctx, round_.id)
    with session_factory() as session:
        out = results.survey_trend(session, ctx, HALL)
        only = results.survey_trend(session, ctx, HALL, keys=("recommend",))
    assert [r["round"] for r in out["rounds"]] == [1, 2, 3, 4]
    assert [r["responses"] for r in out["rounds"]] == [60, 60, 60, 10]
    assert set(only["questions"]) == {"recommend"}
    # Rating, rubric and NPS questions only; text and choices have no trend of a mean.
    assert set(out["questions"]) == {
        "overall",
        "recommend",
        "social_rating",
        "medical_rating",
        "norms",
    }
    overall = out["questions"]["overall"]
    assert overall["type"] == "rating" and overall["department"] == "zwfw"
    points = overall["points"]
    assert [p["round"] for p in points] == [1, 2, 3, 4]
    assert [p["n"] for p in points] == [60, 60, 60, 10]
    first, second, third, fourth = points
    assert first["changes"] is None
    assert first["mean"] == 2.4 and first["mean_ci"][0] < 2.4 < first["mean_ci"][1]
    assert first["satisfaction_rate"] == 0.2 and len(first["satisfaction_ci"]) == 2
    assert not any(c["significant"] for c in second["changes"].values())
    assert second["changes"]["mean"]["difference"] == 0.0
    rise = third["changes"]
    assert rise["mean"]["significant"] and rise["mean"]["difference"] == 2.4
    assert rise["satisfaction_rate"]["significant"] and rise["mean"]["p"] < 0.001
    assert rise["mean"]["previous_round"] == 2
    assert fourth["insufficient"] and fourth["mean"] is None and fourth["mean_ci"] is None
    assert not any(c["significant"] for c in fourth["changes"].values())
    nps = out["questions"]["recommend"]["points"][0]
    assert nps["nps"] is not None and len(nps["nps_ci"]) == 2 and "satisfaction_rate" not in nps
    # The same figures as each round's own results.
    with session_factory() as session:
        third_round = rounds.get_round(session, HALL, 3)
        own = results.round_results(session, ctx, third_round.id)["questions"]["overall"]
    assert (third["mean"], third["mean_ci"]) == (own["mean"], own["mean_ci"])


def test_the_trend_follows_a_key_across_versions_and_skips_a_changed_type(
    session_factory, ctx, hall
):
    with session_factory.begin() as session:
        first = rounds.open_round(session, ctx, HALL)
    _answer_many(session_factory, ctx, first.id, [full_answers() for _ in range(3)])
    with session_factory.begin() as session:
        rounds.close_round(session, ctx, first.id)
        changed = hall_template()
        norms = next(q for q in changed["questions"] if q["key"] == "norms")
        norms.clear()  # "norms" becomes a rating: another question under the same key
        norms.update(key="norms", type="rating", text={"zh": "规范程度"})
        catalog.import_survey(session, ctx, changed)
        second = rounds.open_round(session, ctx, HALL)
    _answer_many(session_factory, ctx, second.id, [full_answers()], start=100)
    with session_factory() as session:
        out = results.survey_trend(session, ctx, HALL, min_sample=1)
    assert [p["round"] for p in out["questions"]["overall"]["points"]] == [1, 2]
    assert [p["round"] for p in out["questions"]["norms"]["points"]] == [2]
    assert out["questions"]["norms"]["type"] == "rating"


def test_department_scores_feed_the_department_picture(session_factory, ctx, clock, open_hall):
    forms = [
        full_answers(overall="5", service="social", social_rating=str(1 + n % 5))
        for n in range(30)
    ]
    _answer_many(session_factory, ctx, open_hall.id, forms)
    start, end = clock.now - timedelta(days=1), clock.now + timedelta(days=1)
    with session_factory() as session:
        rsj = results.department_scores(session, ctx, "rsj", start=start, end=end)
        zwfw = results.department_scores(session, ctx, "zwfw", start=start, end=end)
        later = results.department_scores(
            session, ctx, "rsj", start=end, end=end + timedelta(days=30)
        )
    assert rsj["survey_answers"] == 30 and rsj["survey_mean_score"] == 3.0
    assert rsj["survey_satisfaction_rate"] == 0.4 and rsj["insufficient"] == ["survey_nps"]
    # zwfw has "overall" (30 × 5) and the "norms" rubric (30 × 4): as in 调查满意度, the rubric
    # is not a satisfaction rating.
    assert zwfw["survey_answers"] == 30 and zwfw["survey_mean_score"] == 5.0
    assert later["survey_answers"] == 0 and later["survey_mean_score"] is None


def test_department_scores_and_the_indicators_count_satisfaction_by_one_rule(
    session_factory, ctx, clock, hall
):
    """department_scores and 调查满意度 beside the indicators give the same answers, share and
    interval for any window: whole periods, and windows that cut the round's days (read from
    the kept day counts and, at their edges, from the responses), against a plain count."""
    from minyi.indicators import _period_window, department_indicators, parse_period

    with session_factory.begin() as session:
        across = rounds.open_round(session, ctx, HALL)  # 25 Nov to 2 Dec: across the month end
    submitted = 0
    for day in range(7):
        forms = [
            full_answers(overall=str(1 + (n + day) % 5), norms="5", social_rating=str(5 - n % 2))
            for n in range(12)
        ]
        _answer_many(session_factory, ctx, across.id, forms, start=submitted)
        submitted += len(forms)
        clock.advance(hours=9)
        _answer_many(session_factory, ctx, across.id, forms[:5], start=submitted)
        submitted += 5
        clock.advance(hours=15)
    with session_factory() as session:
        rows = session.execute(select(SurveyResponse.submitted_at, SurveyResponse.answers)).all()
        assert len(rows) == submitted

        def plain(start, end, key):
            scores = [a[key] for at, a in rows if start <= at < end and key in a]
            return len(scores), sum(score >= 4 for score in scores)

        opens = across.opens_at
        windows = [
            _period_window(ctx, parse_period(p)) for p in ("2026-11", "2026-12", "2026-W48")
        ] + [
            (opens - timedelta(days=1), opens + timedelta(days=3, hours=5)),  # cuts a day
            (opens + timedelta(hours=3), opens + timedelta(hours=20)),  # inside one day
            (opens + timedelta(days=2, hours=7), opens + timedelta(days=30)),
        ]
        for start, end in windows:
            for code, key in (("zwfw", "overall"), ("rsj", "social_rating")):
                scores = results.department_scores(
                    session, ctx, code, start=start, end=end, min_sample=1
                )
                assert scores["survey_answers"] > 0  # every window holds answers
                n, satisfied = plain(start, end, key)
                assert scores["survey_answers"] == n
                if n:
                    assert scores["survey_satisfaction_rate"] == round(satisfied / n, 4)
        ctx.settings.indicators.min_denominator = 1
        for label in ("2026-11", "2026-12", "2026-W48"):
            start, end = _period_window(ctx, parse_period(label))
            for row in department_indicators(session, ctx, label):
                scores = results.department_scores(
                    session, ctx, row["department"], start=start, end=end
                )
                figure = row["survey"]
                assert figure["answers"] == scores["survey_answers"]
                assert figure["satisfaction_rate"] == scores["survey_satisfaction_rate"]
                assert figure["satisfaction_ci"] == scores["survey_satisfaction_ci"]


def test_survey_ratings_feed_the_department_indicators(session_factory, ctx, clock, hall):
    """调查满意度 beside the complaint-based indicators: the 4-5 share of the rating questions
    tied to a department, by the submit time of the responses, with its interval and n."""
    from minyi.indicators import department_indicators

    with session_factory.begin() as session:
        across = rounds.open_round(session, ctx, HALL)  # 25 Nov to 2 Dec: across the month end
    forms = [full_answers(overall="5" if n % 5 else "2", social_rating="4") for n in range(40)]
    _answer_many(session_factory, ctx, across.id, forms)
    clock.advance(days=6)  # 1 December
    _answer_many(session_factory, ctx, across.id, [full_answers(overall="1")] * 5, start=100)
    with session_factory.begin() as session:
        rounds.close_round(session, ctx, across.id)
    clock.advance(days=1)
    with session_factory.begin() as session:
        inside = rounds.open_round(session, ctx, HALL, closes_at=clock.now + timedelta(days=5))
    _answer_many(session_factory, ctx, inside.id, [full_answers(overall="5")] * 30, start=200)
    with session_factory.begin() as session:
        rounds.close_round(session, ctx, inside.id)
    with session_factory() as session:
        november = {r["department"]: r for r in department_indicators(session, ctx, "2026-11")}
        december = {r["department"]: r for r in department_indicators(session, ctx, "2026-12")}
        one = department_indicators(session, ctx, "2026-12", department="zwfw")
        october = department_indicators(session, ctx, "2026-10", department="zwfw")[0]
    zwfw = november["zwfw"]["survey"]
    # "overall" only: the zwfw rubric ("norms") is not a satisfaction rating.
    assert (zwfw["answers"], zwfw["satisfied"], zwfw["satisfaction_rate"]) == (40, 32, 0.8)
    low, high = zwfw["satisfaction_ci"]
    assert low < 0.8 < high and not zwfw["insufficient"]
    assert zwfw["change"] == {"previous": None, "change": None, "significant": False}
    rsj = november["rsj"]["survey"]
    assert (rsj["answers"], rsj["satisfied"]) == (40, 40) and rsj["satisfaction_rate"] == 1.0
    ybj = november["ybj"]["survey"]
    assert ybj["answers"] == 0 and ybj["satisfaction_rate"] is None and ybj["insufficient"]
    # December: the 5 late answers of the first round (by submit time) and all of the second.
    later = december["zwfw"]["survey"]
    assert (later["answers"], later["satisfied"]) == (35, 30)
    assert later["change"]["previous"] == 0.8 and not later["change"]["significant"]
    assert december["rsj"]["survey"]["answers"] == 35
    assert one[0]["survey"] == later
    assert october["survey"]["answers"] == 0 and october["survey"]["satisfaction_rate"] is None
    # Below the minimum sample: counts are given, the share is not.
    ctx.settings.indicators.min_denominator = 41
    with session_factory() as session:
        small = department_indicators(session, ctx, "2026-11", department="zwfw")[0]["survey"]
    assert small["answers"] == 40 and small["satisfaction_rate"] is None
    assert small["satisfaction_ci"] is None and small["insufficient"]


# -- export ----------------------------------------------------------------------------------


def test_export_csv_and_xlsx_one_row_per_response(session_factory, ctx, tmp_path, hall):
    changed = hall_template()
    changed["questions"].append({"key": "wait", "type": "rating", "text": {"zh": "等候时间"}})
    with session_factory.begin() as session:
        first = rounds.open_round(session, ctx, HALL)
        submit_response(
            session,
            ctx,
            first.id,
            web(1),
            answers=full_answers(improve=["guide", "queue"], suggest='=HYPERLINK("x")'),
        )
        rounds.close_round(session, ctx, first.id)
        catalog.import_survey(session, ctx, changed)
        second = rounds.open_round(session, ctx, HALL)
        submit_response(
            session, ctx, second.id, web(2), answers=full_answers(how="online", wait="3")
        )
    with session_factory() as session:
        written = export.write_export(session, ctx, HALL, tmp_path / "all.csv", format="csv")
        export.write_export(
            session, ctx, HALL, tmp_path / "r1.xlsx", format="xlsx", round_number=1
        )
        with pytest.raises(ValidationFailed):
            export.write_export(session, ctx, HALL, tmp_path / "x.pdf", format="pdf")
    assert written == 2
    raw = (tmp_path / "all.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    header = list(rows[0])
    assert header[:5] == list(export.FIXED_COLUMNS) and header[5:8] == [
        "overall",
        "recommend",
        "how",
    ]
    assert "wait" in header and len(header) == len(set(header))
    assert rows[0]["round"] == "1" and rows[0]["improve"] == "queue;guide"
    assert rows[0]["suggest"] == '\'=HYPERLINK("x")' and rows[0]["wait"] == ""
    assert rows[1]["how"] == "online" and rows[1]["service"] == "" and rows[1]["wait"] == "3"
    assert rows[0]["submitted_at"] == "2026-11-25 10:00:00"
    sheet = load_workbook(tmp_path / "r1.xlsx").active
    cells = list(sheet.values)
    assert list(cells[0]) == header  # the same columns for one round as for all
    assert len(cells) == 2 and cells[1][header.index("overall")] == 4
    assert cells[1][header.index("suggest")] == '=HYPERLINK("x")'
    assert sheet.cell(2, header.index("suggest") + 1).data_type == "s"


def test_the_rounds_a_citizen_can_answer(session_factory, ctx, hall):
    with session_factory.begin() as session:
        citizen = make_citizen(session)
        rounds.set_subscription(session, citizen, True)
        with pytest.raises(ValidationFailed):
            rounds.set_subscription(session, citizen, "yes")
        public = rounds.open_round(session, ctx, HALL)
        other = hall_template() | {"slug": "town-2026"}
        catalog.import_survey(session, ctx, other)
        closed_to_me = rounds.open_round(session, ctx, "town-2026", invitation_only=True)
    me = Respondent.of_citizen(citizen)
    with session_factory.begin() as session:
        listed = rounds_for_citizen(session, ctx, citizen)
        assert [(r.id, v) for r, v in listed] == [(public.id, None)]
        save_answer(session, ctx, public.id, me, "overall", 5)
        ((round_view, started),) = rounds_for_citizen(session, ctx, citizen)
        assert started.next_key == "recommend" and round_view.title == "县政务服务大厅满意度调查"
        submit_response(session, ctx, public.id, me, answers=full_answers())
        assert rounds_for_citizen(session, ctx, citizen) == []
        assert closed_to_me.invitation_only


def test_copy_starts_a_draft_and_archive_stops_the_survey(session_factory, ctx, hall):
    with session_factory.begin() as session:
        copied = catalog.copy_survey(session, ctx, HALL, "hall-2027")
        assert (copied.slug, copied.version, copied.published) == ("hall-2027", 1, False)
        with pytest.raises(IllegalTransition):
            catalog.copy_survey(session, ctx, HALL, "hall-2027")
        with pytest.raises(IllegalTransition, match="no published version"):
            rounds.open_round(session, ctx, "hall-2027")
        opened = rounds.open_round(session, ctx, HALL)
        rounds.schedule_survey(session, ctx, HALL, kind="monthly")
        with pytest.raises(IllegalTransition, match="close it first"):
            catalog.archive_survey(session, ctx, HALL)
        rounds.close_round(session, ctx, opened.id)
        catalog.archive_survey(session, ctx, HALL)
        with pytest.raises(IllegalTransition, match="archived"):
            rounds.open_round(session, ctx, HALL)
        assert rounds.plan_rounds(session, ctx) == []
        (summary,) = [s for s in catalog.list_surveys(session) if s.slug == HALL]
        assert summary.archived


def test_a_text_the_nlp_cannot_take_does_not_block_the_others(session_factory, ctx, open_hall):
    forms = [full_answers(suggest=text) for text in ("坏的文字", "排队太久")]
    _answer_many(session_factory, ctx, open_hall.id, forms)

    def analyzer(text):
        if text == "坏的文字":
            raise RuntimeError("model broke")
        return FakeAnalysis(topic="城乡建设", topic_probability=0.9, keywords=("排队",))

    ctx.analyzer = analyzer
    with session_factory.begin() as session:
        assert results.analyse_text_answers(session, ctx) == 2
        assert results.analyse_text_answers(session, ctx) == 0
    with session_factory() as session:
        suggest = results.round_results(session, ctx, open_hall.id)["questions"]["suggest"]
    assert suggest["analysed"] == 2 and suggest["topics"] == {"城乡建设": 1}
