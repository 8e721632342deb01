"""The migrations build exactly the models' schema, and 0002 keeps the history of old tickets."""

from __future__ import annotations

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from minyi.db import Base, make_engine
from minyi.migrate import downgrade, upgrade
from minyi.models import Ticket, TicketClosure

# SQLite's reflection skips expression indexes (lower(username)); PostgreSQL compares them.
EXPRESSION_INDEXES = {"uq_staff_users_username_lower"}


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_migrated_schema_matches_the_models(engine):
    sqlite = engine.dialect.name == "sqlite"

    def include(obj, name, type_, reflected, compare_to):
        # The scheduler's job store owns its table; migrations never manage it.
        if type_ == "table" and name == "apscheduler_jobs":
            return False
        return not (sqlite and type_ == "index" and name in EXPRESSION_INDEXES)

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_0002_rebuilds_closure_rounds_from_the_events(settings, tmp_path):
    engine = make_engine(settings, f"sqlite:///{tmp_path}/old.db")
    upgrade(engine, "0001")
    t = [f"2026-03-0{d} 02:00:00.000000" for d in range(1, 8)]
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO departments (id, code, name, active, created_at) "
                "VALUES (1, 'zjj', '住建局', 1, :t)"
            ),
            {"t": t[0]},
        )
        c.execute(
            text(
                "INSERT INTO tickets (id, number, channel, text, status, department_id,"
                " needs_triage, received_at, response_due_date, due_date, original_due_date,"
                " replied_at,"
                " closed_at, resolved, satisfaction, reopen_count, bounce_count, escalated,"
                " updated_at) VALUES (1, 'MY-20260301-0001', 'web', '路灯坏了', 'closed', 1, 0,"
                " :t0, '2026-03-02', '2026-03-20', '2026-03-20', :t4, :t5, 1, 5, 1, 0, 0, :t6)"
            ),
            {"t0": t[0], "t4": t[4], "t5": t[5], "t6": t[6]},
        )
        events = [
            ("replied", t[1], None),
            ("closed", t[2], None),
            ("reopened", t[3], {"resolved": False, "satisfaction": 2}),
            ("replied", t[4], None),
            ("closed", t[5], None),
            ("verdict", t[6], {"resolved": True, "satisfaction": 5}),
        ]
        for kind, at, detail in events:
            c.execute(
                text(
                    "INSERT INTO ticket_events (ticket_id, kind, actor, detail, created_at)"
                    " VALUES (1, :k, 'citizen:1', :d, :at)"
                ),
                {"k": kind, "d": json.dumps(detail) if detail else None, "at": at},
            )
    upgrade(engine)
    with engine.connect() as c:
        session = Session(bind=c)
        ticket = session.scalar(select(Ticket))
        rounds = [
            (r.round, r.resolved, r.satisfaction)
            for r in session.scalars(select(TicketClosure).order_by(TicketClosure.round))
        ]
        assert rounds == [(1, False, 2), (2, True, 5)]
        assert ticket.first_replied_at.day == 2 and ticket.last_replied_at.day == 5
        assert ticket.first_closed_at.day == 3 and ticket.last_closed_at.day == 6
        session.close()
    engine.dispose()


def test_0013_keeps_the_outlets_already_stored_in_use(settings, tmp_path):
    engine = make_engine(settings, f"sqlite:///{tmp_path}/old.db")
    upgrade(engine, "0010")
    with engine.begin() as c:
        c.execute(text("INSERT INTO outlets (id, code, name) VALUES (1, 'hall-1f', '一楼大厅')"))
    upgrade(engine)
    with engine.connect() as c:
        assert c.execute(text("SELECT code, active FROM outlets")).all() == [("hall-1f", 1)]
    engine.dispose()


def test_0020_moves_the_answers_onto_the_responses_and_counts_them_by_day(
    settings, tmp_path
):
    from datetime import UTC, datetime

    from minyi.indicators import survey_satisfaction
    from minyi.models import SurveyAnswer, SurveyAnswerCount, SurveyResponse
    from minyi.services.context import ServiceContext
    from surveys import export, results

    engine = make_engine(settings, f"sqlite:///{tmp_path}/old.db")
    upgrade(engine, "0019")
    definition = {
        "slug": "old",
        "title": {"zh": "旧问卷"},
        "questions": [
            {"key": "overall", "type": "rating", "department": "zwfw", "text": {"zh": "总体"}},
            {"key": "how", "type": "single", "text": {"zh": "方式"},
             "choices": [{"key": "hall", "text": {"zh": "窗口"}},
                         {"key": "web", "text": {"zh": "网上"}}]},
            {"key": "improve", "type": "multiple", "text": {"zh": "改进"}, "max": 2,
             "choices": [{"key": "queue", "text": {"zh": "排队"}},
                         {"key": "guide", "text": {"zh": "指引"}}]},
            {"key": "why", "type": "text", "text": {"zh": "原因"}},
        ],
    }  # fmt: skip
    day1, day2 = "2026-11-03 02:00:00", "2026-11-04 09:30:00"
    with engine.begin() as c:
        c.execute(text(
            "INSERT INTO departments (id, code, name, active, created_at)"
            " VALUES (1, 'zwfw', '政务服务', 1, :t)"), {"t": day1})
        c.execute(text("INSERT INTO surveys (id, slug, created_at) VALUES (1, 'old', :t)"),
                  {"t": day1})
        c.execute(text(
            "INSERT INTO survey_versions (id, survey_id, number, definition, title, published_at,"
            " created_at) VALUES (1, 1, 1, :d, '旧问卷', :t, :t)"),
            {"d": json.dumps(definition, ensure_ascii=False), "t": day1})
        for qid, (key, kind, dept) in enumerate(
            [("overall", "rating", 1), ("how", "single", None), ("improve", "multiple", None),
             ("why", "text", None)], start=1):
            c.execute(text(
                "INSERT INTO survey_questions (id, version_id, key, position, kind, required,"
                " department_id) VALUES (:id, 1, :key, :pos, :kind, 0, :dept)"),
                {"id": qid, "key": key, "pos": qid, "kind": kind, "dept": dept})
        c.execute(text(
            "INSERT INTO survey_rounds (id, survey_id, number, version_id, status, opens_at,"
            " closes_at, invitation_only, invite_subscribers, created_at)"
            " VALUES (1, 1, 1, 1, 'closed', '2026-11-01 00:00:00', '2026-11-10 00:00:00', 0, 0,"
            " :t)"), {"t": day1})
        responses = [  # (submitted, overall, how, improve, why)
            (day1, 5, "hall", "queue;guide", "排队太久"),
            (day1, 2, "web", "guide", None),
            (day2, 4, None, None, None),
        ]
        for rid, (at, overall, how, improve, why) in enumerate(responses, start=1):
            c.execute(text(
                "INSERT INTO survey_responses (id, round_id, version_id, respondent_key, channel,"
                " file_complaints, started_at, updated_at, submitted_at)"
                " VALUES (:id, 1, 1, :key, 'web', 0, :t, :t, :t)"),
                {"id": rid, "key": f"web:{rid}", "t": at})
            for qid, number, choice, txt in [
                (1, overall, None, None), (2, None, how, None), (3, None, improve, None),
                (4, None, None, why)]:
                if (number, choice, txt) != (None, None, None):
                    c.execute(text(
                        "INSERT INTO survey_answers (response_id, round_id, question_id, number,"
                        " choice, text) VALUES (:r, 1, :q, :n, :c, :x)"),
                        {"r": rid, "q": qid, "n": number, "c": choice, "x": txt})
        # A draft never submitted keeps its draft and gets no answers.
        c.execute(text(
            "INSERT INTO survey_responses (id, round_id, version_id, respondent_key, channel,"
            " draft, file_complaints, started_at, updated_at)"
            " VALUES (4, 1, 1, 'web:4', 'web', '{\"overall\": 3}', 0, :t, :t)"), {"t": day2})
    upgrade(engine)
    ctx = ServiceContext.from_settings(settings, analyzer=None)
    with Session(engine) as session:
        stored = dict(session.execute(select(SurveyResponse.id, SurveyResponse.answers)).all())
        assert stored == {
            1: {"overall": 5, "how": "hall", "improve": ["queue", "guide"], "why": "排队太久"},
            2: {"overall": 2, "how": "web", "improve": ["guide"]},
            3: {"overall": 4},
            4: None,
        }
        assert session.scalars(select(SurveyAnswer.text)).all() == ["排队太久"]
        counts = session.execute(
            select(SurveyAnswerCount.day, SurveyAnswerCount.question_id,
                   SurveyAnswerCount.value, SurveyAnswerCount.count)
        ).all()  # fmt: skip
        assert sorted((str(d), q, v, n) for d, q, v, n in counts) == [
            ("2026-11-03", 1, "2", 1), ("2026-11-03", 1, "5", 1),
            ("2026-11-03", 2, "hall", 1), ("2026-11-03", 2, "web", 1),
            ("2026-11-03", 3, "guide", 1), ("2026-11-03", 3, "queue;guide", 1),
            ("2026-11-03", 4, "", 1), ("2026-11-04", 1, "4", 1),
        ]  # fmt: skip
        out = results.round_results(session, ctx, 1, min_sample=1)
        assert out["responses"] == 3 and out["questions"]["overall"]["counts"]["5"] == 1
        assert out["questions"]["improve"]["counts"] == {"queue": 1, "guide": 2}
        rows = list(export.export_rows(session, ctx, "old"))
        assert [row[5:] for row in rows[1:]] == [
            [5, "hall", "queue;guide", "排队太久"], [2, "web", "guide", None],
            [4, None, None, None],
        ]  # fmt: skip
        window = (datetime(2026, 11, 3, 12, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))
        assert survey_satisfaction(session, *window) == {1: (1, 1)}
        whole = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))
        assert survey_satisfaction(session, *whole) == {1: (2, 3)}
    # And back: the answer rows and the per-round counts as 0019 kept them, then up again.
    downgrade(engine, "0019")
    with engine.connect() as connection:
        answers = connection.execute(text(
            "SELECT response_id, question_id, number, choice, text FROM survey_answers"
        )).all()  # fmt: skip
        assert sorted(answers) == [
            (1, 1, 5, None, None), (1, 2, None, "hall", None), (1, 3, None, "queue;guide", None),
            (1, 4, None, None, "排队太久"), (2, 1, 2, None, None), (2, 2, None, "web", None),
            (2, 3, None, "guide", None), (3, 1, 4, None, None),
        ]  # fmt: skip
        totals = connection.execute(
            text("SELECT question_id, value, count FROM survey_answer_counts")
        ).all()
        assert sorted(totals) == [
            (1, "2", 1), (1, "4", 1), (1, "5", 1), (2, "hall", 1), (2, "web", 1),
            (3, "guide", 1), (3, "queue;guide", 1), (4, "", 1),
        ]  # fmt: skip
    upgrade(engine)
    with Session(engine) as session:
        again = dict(session.execute(select(SurveyResponse.id, SurveyResponse.answers)).all())
        assert again == stored
    engine.dispose()
