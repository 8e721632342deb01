"""The follow-up and appeal pages: every route × role, CSRF, bad input, double submit, audit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from minyi.indicators import department_indicators
from minyi.models import (
    AuditEntry,
    BadReviewFollowUp,
    DecisionStatus,
    FollowUpStatus,
    OutboxMessage,
    Rating,
    RatingAppeal,
)
from minyi.services import followups, ratings
from minyi.services.actors import Actor
from tests.builders import make_citizen
from tests.web_support import csrf_token_of, sign_in

USERS = {"admin": "admin1", "analyst": "analyst1", "officer": "hr1", "other_officer": "jt1"}
# The role matrices check the pages' wiring; the rules behind them run on both databases in
# tests/test_followups.py, so these run on SQLite only.
SQLITE_ONLY = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


def rate(session_factory, ctx, service, *, score=1, citizen=True, at=None, phone=None):
    """A 差评 of `service` (by a Telegram citizen unless told otherwise); its follow-up's id."""
    with session_factory.begin() as session:
        person = make_citizen(session) if citizen else None
        if person is not None and phone:
            person.phone = phone
        rating = ratings.record_rating(
            session,
            ctx,
            service=session.merge(service),
            score=score,
            comment="窗口工作人员态度恶劣，排队两小时",
            aspect="服务态度",
            citizen=person,
            at=at,
        )
        session.flush()
        return rating.follow_up.id if rating.follow_up else None


def signed_in(web_app, role):
    client = web_app.test_client()
    assert sign_in(client, USERS[role]).status_code == 302
    return client


def token(client):
    return csrf_token_of(client, "/staff/")


def follow_up_row(session_factory, follow_up_id):
    with session_factory() as session:
        return session.get(BadReviewFollowUp, follow_up_id)


def count(session_factory, model, *conditions):
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(*conditions))


def appeal_for(session_factory, ctx, world, follow_up_id):
    with session_factory.begin() as session:
        follow_up = session.get(BadReviewFollowUp, follow_up_id)
        officer = Actor.staff(session.merge(world.officer))
        return followups.request_exclusion(
            session, ctx, follow_up.rating, actor=officer, reason="同一人一天内刷差评十次"
        ).id


# -- every route × role ------------------------------------------------------------------

GET_EXPECTED = {
    # route -> status per role (the follow-up belongs to the officer's own department)
    "queue": {"admin": 200, "analyst": 200, "officer": 200, "other_officer": 200},
    "detail": {"admin": 200, "analyst": 200, "officer": 200, "other_officer": 404},
    "appeals": {"admin": 200, "analyst": 403, "officer": 403, "other_officer": 403},
}
POST_EXPECTED = {"admin": 302, "analyst": 403, "officer": 302, "other_officer": 404}


@SQLITE_ONLY
@pytest.mark.parametrize("role", list(USERS))
@pytest.mark.parametrize("route", list(GET_EXPECTED))
def test_pages_by_role(web_app, staff_world, session_factory, ctx, route, role):
    follow_up_id = rate(session_factory, ctx, staff_world.own_service)
    path = {
        "queue": "/staff/follow-ups",
        "detail": f"/staff/follow-ups/{follow_up_id}",
        "appeals": "/staff/appeals",
    }[route]
    response = signed_in(web_app, role).get(path)
    assert response.status_code == GET_EXPECTED[route][role]
    html = response.get_data(as_text=True)
    if route == "queue":
        # The own department's 差评 is listed for everyone but the other department.
        link = f'href="/staff/follow-ups/{follow_up_id}"'
        assert (link in html) == (role != "other_officer")
    if response.status_code != 200:
        assert "Traceback" not in html


@SQLITE_ONLY
@pytest.mark.parametrize("role", list(USERS))
@pytest.mark.parametrize("step", ["verify", "answer", "appeal", "rectify"])
def test_steps_by_role(web_app, staff_world, session_factory, ctx, step, role):
    follow_up_id = rate(session_factory, ctx, staff_world.own_service)
    if step == "rectify":
        with session_factory.begin() as session:
            followups.verify_follow_up(
                session,
                ctx,
                session.get(BadReviewFollowUp, follow_up_id),
                actor=Actor.staff(session.merge(staff_world.admin)),
                note="属实",
            )
    audited = count(session_factory, AuditEntry)
    client = signed_in(web_app, role)
    response = client.post(
        f"/staff/follow-ups/{follow_up_id}/{step}",
        data={"csrf_token": token(client), "text": "已约谈当事窗口人员并书面道歉"},
    )
    assert response.status_code == POST_EXPECTED[role]
    changed = count(session_factory, AuditEntry) - audited
    assert changed == (1 if POST_EXPECTED[role] == 302 else 0)
    if response.status_code == 302:
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "已约谈当事窗口人员并书面道歉" in page
        assert "notice-ok" in page


@SQLITE_ONLY
@pytest.mark.parametrize("role", list(USERS))
def test_appeal_decision_by_role(web_app, staff_world, session_factory, ctx, role):
    follow_up_id = rate(session_factory, ctx, staff_world.own_service)
    appeal_id = appeal_for(session_factory, ctx, staff_world, follow_up_id)
    client = signed_in(web_app, role)
    response = client.post(
        f"/staff/appeals/{appeal_id}", data={"csrf_token": token(client), "decision": "refuse"}
    )
    assert response.status_code == (302 if role == "admin" else 403)
    with session_factory() as session:
        status = session.get(RatingAppeal, appeal_id).status
    assert status == (DecisionStatus.REFUSED if role == "admin" else DecisionStatus.PENDING)


def test_signed_out_visitors_are_sent_to_sign_in(web_client, staff_world, session_factory, ctx):
    follow_up_id = rate(session_factory, ctx, staff_world.own_service)
    for path in ("/staff/follow-ups", f"/staff/follow-ups/{follow_up_id}", "/staff/appeals"):
        response = web_client.get(path)
        assert response.status_code == 302 and "/staff/login" in response.headers["Location"]
    response = web_client.post(f"/staff/follow-ups/{follow_up_id}/answer", data={"text": "x"})
    assert response.status_code == 302
    assert follow_up_row(session_factory, follow_up_id).completed_at is None


def test_unknown_ids_are_not_found(web_app, staff_world):
    client = signed_in(web_app, "admin")
    for path in ("/staff/follow-ups/999999", "/staff/follow-ups/99999999999999999999"):
        assert client.get(path).status_code == 404
    for path in (
        "/staff/follow-ups/999999/answer",
        "/staff/follow-ups/1/delete",
        "/staff/appeals/999999",
    ):
        assert client.post(path, data={"csrf_token": token(client)}).status_code == 404


# -- the pages' content ------------------------------------------------------------------


def test_queue_marks_overdue_rows_and_masks_nothing_it_should_not_show(
    web_app, staff_world, session_factory, ctx, clock
):
    # Today is Wednesday 2026-11-25: a 差评 of 11-16 was due 11-23, one of today is due 12-02.
    monday = datetime(2026, 11, 16, 2, tzinfo=UTC)
    late = rate(session_factory, ctx, staff_world.own_service, at=monday)
    fresh = rate(session_factory, ctx, staff_world.own_service, phone="13812345678")
    client = signed_in(web_app, "officer")
    html = client.get("/staff/follow-ups").get_data(as_text=True)
    assert html.index(f"/staff/follow-ups/{late}") < html.index(f"/staff/follow-ups/{fresh}")
    assert '<tr class="overdue">' in html and "逾期 2 个工作日" in html
    assert "剩 5 个工作日" in html
    overdue_only = client.get("/staff/follow-ups?overdue=1").get_data(as_text=True)
    assert f"/staff/follow-ups/{late}" in overdue_only
    assert f"/staff/follow-ups/{fresh}" not in overdue_only
    detail = client.get(f"/staff/follow-ups/{fresh}").get_data(as_text=True)
    assert "138****5678" in detail and "13812345678" not in detail
    assert "窗口工作人员态度恶劣" in detail and "非常不满意" in detail


@pytest.mark.parametrize(
    "query, message",
    [
        ("date_from=2026-02-30", "起始日期格式"),
        ("date_from=2026-11-20&date_to=2026-11-01", "起始日期不能晚于截止日期"),
        ("status=deleted", "未知状态"),
        ("overdue=<script>", "只能勾选"),
    ],
)
def test_bad_filters_show_the_message_and_keep_what_was_typed(
    web_app, staff_world, session_factory, ctx, query, message
):
    rate(session_factory, ctx, staff_world.own_service)
    response = signed_in(web_app, "admin").get(f"/staff/follow-ups?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and message in html
    if "date_from" in query:
        assert f'value="{query.split("&")[0].split("=")[1]}"' in html
    assert "<script>" not in html


def test_paging_keeps_the_filters(web_app, staff_world, session_factory, ctx, monkeypatch):
    monkeypatch.setattr("web.staff.followups.PER_PAGE", 2)
    made = [rate(session_factory, ctx, staff_world.own_service) for _ in range(3)]
    rate(session_factory, ctx, staff_world.other_service)
    client = signed_in(web_app, "admin")
    service = staff_world.own_service.id
    first = client.get(f"/staff/follow-ups?service={service}").get_data(as_text=True)
    assert "共 3 条" in first and "第 1 / 2 页" in first
    assert f"/staff/follow-ups?page=2&amp;service={service}" in first
    second = client.get(f"/staff/follow-ups?page=2&service={service}").get_data(as_text=True)
    assert (
        f"/staff/follow-ups/{made[2]}" in second and f"/staff/follow-ups/{made[0]}" not in second
    )


# -- bad input, forged CSRF, double submit -----------------------------------------------


@pytest.mark.parametrize(
    "text, message",
    [("", "反馈内容不能为空"), ("   ", "反馈内容不能为空"), ("改" * 2001, "反馈内容太长")],
)
def test_a_bad_answer_shows_the_message_keeps_the_text_and_changes_nothing(
    web_app, staff_world, session_factory, ctx, text, message
):
    follow_up_id = rate(session_factory, ctx, staff_world.own_service)
    client = signed_in(web_app, "officer")
    response = client.post(
        f"/staff/follow-ups/{follow_up_id}/answer",
        data={"csrf_token": token(client), "text": text},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and message in html
    if text.strip():
        assert text in html  # what was typed is back in the textarea
    assert follow_up_row(session_factory, follow_up_id).status == FollowUpStatus.OPEN
    assert count(session_factory, OutboxMessage) == 0
    assert count(session_factory, AuditEntry, AuditEntry.object_type == "follow_up") == 0


def test_rectifying_before_verifying_is_refused_with_the_reason(
    web_app, staff_world, session_factory, ctx
):
    follow_up_id = rate(session_factory, ctx, staff_world.own_service)
    client = signed_in(web_app, "officer")
    response = client.post(
        f"/staff/follow-ups/{follow_up_id}/rectify",
        data={"csrf_token": token(client), "text": "已整改"},
    )
    assert response.status_code == 400
    assert "请先记录核实情况" in response.get_data(as_text=True)
    assert follow_up_row(session_factory, follow_up_id).rectified_at is None


@pytest.mark.parametrize("forged", ["forged", "", None])
def test_a_forged_csrf_token_changes_nothing(web_app, staff_world, session_factory, ctx, forged):
    follow_up_id = rate(session_factory, ctx, staff_world.own_service)
    appeal_id = appeal_for(session_factory, ctx, staff_world, follow_up_id)
    officer, admin = signed_in(web_app, "officer"), signed_in(web_app, "admin")
    data = {"text": "已整改"} | ({} if forged is None else {"csrf_token": forged})
    for step in ("verify", "answer"):
        response = officer.post(f"/staff/follow-ups/{follow_up_id}/{step}", data=data)
        assert response.status_code == 400 and "未做任何修改" in response.get_data(as_text=True)
        assert "已整改" in response.get_data(as_text=True)
    decision = {"decision": "approve"} | ({} if forged is None else {"csrf_token": forged})
    response = admin.post(f"/staff/appeals/{appeal_id}", data=decision)
    assert response.status_code == 400 and "未做任何修改" in response.get_data(as_text=True)
    row = follow_up_row(session_factory, follow_up_id)
    assert row.status == FollowUpStatus.OPEN and row.verified_at is None
    with session_factory() as session:
        assert session.get(RatingAppeal, appeal_id).status == DecisionStatus.PENDING
        assert not session.get(Rating, row.rating_id).excluded
    assert count(session_factory, OutboxMessage) == 0


def test_a_double_submitted_answer_is_stored_once(web_app, staff_world, session_factory, ctx):
    follow_up_id = rate(session_factory, ctx, staff_world.own_service)
    client = signed_in(web_app, "officer")
    form = {"csrf_token": token(client), "text": "已调整窗口排班，欢迎再次评价"}
    first = client.post(f"/staff/follow-ups/{follow_up_id}/answer", data=form)
    again = client.post(f"/staff/follow-ups/{follow_up_id}/answer", data=form)
    assert first.status_code == 302
    assert again.status_code == 400 and "该差评已整改反馈" in again.get_data(as_text=True)
    assert count(session_factory, OutboxMessage) == 1
    assert count(session_factory, AuditEntry, AuditEntry.action == "follow_up.complete") == 1
    page = client.get(f"/staff/follow-ups/{follow_up_id}").get_data(as_text=True)
    assert "已排队发送给市民" in page and page.count("已调整窗口排班") >= 1


def test_an_answer_to_a_web_rating_is_recorded_but_not_queued(
    web_app, staff_world, session_factory, ctx
):
    follow_up_id = rate(session_factory, ctx, staff_world.own_service, citizen=False)
    client = signed_in(web_app, "officer")
    detail = client.get(f"/staff/follow-ups/{follow_up_id}").get_data(as_text=True)
    assert "无法在线送达" in detail
    response = client.post(
        f"/staff/follow-ups/{follow_up_id}/answer",
        data={"csrf_token": token(client), "text": "已电话回访并致歉"},
    )
    assert response.status_code == 302
    assert count(session_factory, OutboxMessage) == 0
    assert follow_up_row(session_factory, follow_up_id).status == FollowUpStatus.COMPLETED


# -- the appeal ---------------------------------------------------------------------------


def test_an_approved_appeal_excludes_the_rating_from_the_indicators_and_is_audited(
    web_app, staff_world, session_factory, ctx
):
    follow_up_id = rate(session_factory, ctx, staff_world.own_service)
    rate(session_factory, ctx, staff_world.own_service, score=5)
    code = staff_world.own.code

    def indicators():
        with session_factory() as session:
            rows = department_indicators(session, ctx, "2026-11", department=code)
        return rows[0]

    assert (indicators()["ratings"], indicators()["bad_reviews"]) == (2, 1)

    officer = signed_in(web_app, "officer")
    response = officer.post(
        f"/staff/follow-ups/{follow_up_id}/appeal",
        data={"csrf_token": token(officer), "text": "同一账号一天内刷差评十次，附后台记录"},
    )
    assert response.status_code == 302
    again = officer.post(
        f"/staff/follow-ups/{follow_up_id}/appeal",
        data={"csrf_token": token(officer), "text": "再次申诉"},
    )
    assert again.status_code == 400 and "已有待审核的申诉" in again.get_data(as_text=True)
    assert (indicators()["ratings"], indicators()["bad_reviews"]) == (2, 1)  # still counted

    admin = signed_in(web_app, "admin")
    queue = admin.get("/staff/appeals").get_data(as_text=True)
    assert "同一账号一天内刷差评十次" in queue and "窗口工作人员态度恶劣" in queue
    with session_factory() as session:
        appeal_id = session.scalar(select(RatingAppeal.id))
    response = admin.post(
        f"/staff/appeals/{appeal_id}", data={"csrf_token": token(admin), "decision": "approve"}
    )
    assert response.status_code == 302
    assert "该评价不再计入指标" in admin.get(response.headers["Location"]).get_data(as_text=True)

    assert (indicators()["ratings"], indicators()["bad_reviews"]) == (1, 0)
    assert count(session_factory, Rating) == 2  # excluded, never deleted
    assert follow_up_row(session_factory, follow_up_id).status == FollowUpStatus.EXCLUDED
    audit = admin.get("/staff/audit").get_data(as_text=True)
    assert "审核排除申诉" in audit and "申请排除评价" in audit
    with session_factory() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "appeal.decide"))
        assert entry.actor == "staff:admin1" and entry.after["rating_excluded"] is True
    # Deciding it again (a second click) changes nothing and says why.
    twice = admin.post(
        f"/staff/appeals/{appeal_id}", data={"csrf_token": token(admin), "decision": "refuse"}
    )
    assert twice.status_code == 400 and "该申诉已审核" in twice.get_data(as_text=True)
    assert count(session_factory, AuditEntry, AuditEntry.action == "appeal.decide") == 1


@pytest.mark.parametrize("decision", ["", "maybe", "delete"])
def test_a_decision_must_be_approve_or_refuse(
    web_app, staff_world, session_factory, ctx, decision
):
    follow_up_id = rate(session_factory, ctx, staff_world.own_service)
    appeal_id = appeal_for(session_factory, ctx, staff_world, follow_up_id)
    admin = signed_in(web_app, "admin")
    response = admin.post(
        f"/staff/appeals/{appeal_id}", data={"csrf_token": token(admin), "decision": decision}
    )
    assert response.status_code == 400 and "审核结果" in response.get_data(as_text=True)
    with session_factory() as session:
        assert session.get(RatingAppeal, appeal_id).status == DecisionStatus.PENDING


def test_the_menu_offers_appeals_to_admins_only(web_app, staff_world):
    for role in USERS:
        html = signed_in(web_app, role).get("/staff/").get_data(as_text=True)
        assert 'href="/staff/follow-ups"' in html
        assert ('href="/staff/appeals"' in html) == (role == "admin")
