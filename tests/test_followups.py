"""差评 follow-ups: the queue and its filters, one follow-up, its steps, and exclusion appeals."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select, text

from minyi.db import make_engine
from minyi.errors import IllegalTransition, NotFound, PermissionDenied, ValidationFailed
from minyi.migrate import downgrade, upgrade
from minyi.models import (
    AuditEntry,
    Channel,
    DecisionStatus,
    FollowUpStatus,
    OutboxMessage,
    Rating,
    Role,
)
from minyi.services import followups, ratings
from minyi.services.actors import Actor
from minyi.services.followups import QueueFilter, check_queue_filter
from tests.builders import make_citizen, make_department, make_service, make_staff

ROLES = ["admin", "analyst", "own_officer", "other_officer"]
# Rules that do not depend on the database run on SQLite only; the queries run on both.
SQLITE_ONLY = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


@pytest.fixture
def county(session):
    own = make_department(session, code="zjj", name="住建局")
    other = make_department(session, code="rsj", name="人社局")
    found = {
        "own": own,
        "other": other,
        "permit": make_service(session, department=own, code="zj-001", name="施工许可"),
        "repair": make_service(session, department=own, code="zj-002", name="维修资金"),
        "pension": make_service(session, department=other, code="rs-001", name="养老保险"),
        "admin": Actor.staff(make_staff(session, Role.ADMIN, display_name="管理员")),
        "analyst": Actor.staff(make_staff(session, Role.ANALYST)),
        "own_officer": Actor.staff(
            make_staff(session, Role.OFFICER, department=own, display_name="王科长")
        ),
        "other_officer": Actor.staff(make_staff(session, Role.OFFICER, department=other)),
    }
    session.commit()
    return found


def bad(session, ctx, service, *, score=1, at=None, citizen=None, comment="窗口态度很差"):
    rating = ratings.record_rating(
        session, ctx, service=service, score=score, at=at, citizen=citizen, comment=comment
    )
    session.flush()
    return rating.follow_up


def local(year, month, day, hour=10):
    # 10:00 in Beijing.
    return datetime(year, month, day, hour - 8, 0, tzinfo=UTC)


def officer_label(actor):
    return f"王科长 ({actor.label.removeprefix('staff:')})"


def ids(page):
    return [row.id for row in page.items]


# -- the queue ---------------------------------------------------------------------------


def test_each_role_sees_its_scope_earliest_deadline_first(session, ctx, county):
    late = bad(session, ctx, county["permit"], at=local(2026, 11, 24))
    early = bad(session, ctx, county["repair"], at=local(2026, 11, 20))
    elsewhere = bad(session, ctx, county["pension"], at=local(2026, 11, 23))
    ratings.record_rating(session, ctx, service=county["permit"], score=4)  # no follow-up
    session.commit()

    everything = [early.id, elsewhere.id, late.id]
    for who in ("admin", "analyst"):
        assert ids(followups.follow_up_queue(session, ctx, actor=county[who])) == everything
    assert ids(followups.follow_up_queue(session, ctx, actor=county["own_officer"])) == [
        early.id,
        late.id,
    ]
    assert ids(followups.follow_up_queue(session, ctx, actor=county["other_officer"])) == [
        elsewhere.id
    ]
    # An officer naming another department still sees only their own.
    narrowed = followups.follow_up_queue(
        session, ctx, actor=county["own_officer"], filters=QueueFilter(department="rsj")
    )
    assert narrowed.items == []
    row = followups.follow_up_queue(session, ctx, actor=county["admin"]).items[0]
    assert (row.service_name, row.department.code, row.score) == ("维修资金", "zjj", 1)


def test_citizens_and_processes_have_no_queue(session, ctx, county):
    for actor in (Actor.citizen(make_citizen(session)), Actor.system("scheduler")):
        with pytest.raises(PermissionDenied):
            followups.follow_up_queue(session, ctx, actor=actor)
        with pytest.raises(PermissionDenied):
            followups.pending_appeals(session, actor=actor)


def test_filters_status_deadline_windows_service_and_dates(session, ctx, clock, county):
    # Today is Wednesday 2026-11-25; five working days after each rating is its deadline.
    overdue = bad(session, ctx, county["permit"], at=local(2026, 11, 16))  # due 11-23
    due_today = bad(session, ctx, county["permit"], at=local(2026, 11, 18))  # due 11-25
    due_friday = bad(session, ctx, county["repair"], at=local(2026, 11, 20))  # due 11-27
    later = bad(session, ctx, county["permit"], at=local(2026, 11, 25))  # due 12-02
    done = bad(session, ctx, county["permit"], at=local(2026, 11, 17))
    followups.complete_follow_up(session, ctx, done, actor=county["admin"], note="已整改")
    session.commit()
    assert due_friday.deadline == date(2026, 11, 27)
    admin = county["admin"]

    def queue(**fields):
        filters = check_queue_filter(**fields)
        return ids(followups.follow_up_queue(session, ctx, actor=admin, filters=filters))

    assert queue() == [overdue.id, due_today.id, due_friday.id, later.id]
    assert queue(status="done") == [done.id]
    assert queue(status="all") == [overdue.id, done.id, due_today.id, due_friday.id, later.id]
    assert queue(overdue="1") == [overdue.id]
    assert queue(due_soon="1") == [due_today.id, due_friday.id]
    assert queue(overdue="1", due_soon="1") == [overdue.id, due_today.id, due_friday.id]
    assert queue(service="zj-002") == [due_friday.id]
    assert queue(service=str(county["repair"].id)) == [due_friday.id]
    assert queue(service="no-such-service") == []
    assert queue(department="rsj") == []
    assert queue(date_from="2026-11-18", date_to="2026-11-20") == [due_today.id, due_friday.id]
    assert queue(date_from="2026-11-25") == [later.id]
    # Done follow-ups are never overdue, whatever their deadline.
    assert queue(status="done", overdue="1") == []

    rows = {row.id: row for row in followups.follow_up_queue(session, ctx, actor=admin).items}
    assert rows[overdue.id].working_days_left == -2 and rows[overdue.id].overdue
    assert rows[due_today.id].working_days_left == 0 and rows[due_today.id].due_soon
    assert rows[later.id].working_days_left == 5 and not rows[later.id].due_soon


def test_paging(session, ctx, county):
    made = [bad(session, ctx, county["permit"], at=local(2026, 11, d)).id for d in (16, 17, 18)]
    session.commit()

    def page(number):
        return followups.follow_up_queue(
            session, ctx, actor=county["admin"], page=number, per_page=2
        )

    first, second = page(1), page("2")
    assert (first.total, first.pages, ids(first), ids(second)) == (3, 2, made[:2], made[2:])
    # Past the end is the last page; anything that is not a page number is the first.
    assert ids(page(9)) == made[2:] and second.number == 2
    for nonsense in (0, -1, "abc", None, True, "²", "1 OR 1=1"):
        assert ids(page(nonsense)) == made[:2]


@pytest.mark.parametrize(
    "fields, word",
    [
        ({"status": "closed"}, "status"),
        ({"status": "open'; DROP TABLE ratings; --"}, "status"),
        ({"date_from": "2026-13-01"}, "from date"),
        ({"date_to": "２０２６-１１-０１"}, "to date"),
        ({"date_from": "20261101"}, "from date"),
        ({"date_from": "2026-11-20", "date_to": "2026-11-01"}, "after"),
        ({"overdue": "maybe"}, "overdue"),
        ({"service": "x" * 81}, "service"),
    ],
)
def test_bad_filters_are_refused_with_a_message(fields, word):
    with pytest.raises(ValidationFailed) as refused:
        check_queue_filter(**fields)
    assert word in refused.value.message_en and refused.value.message_zh


# -- one follow-up -----------------------------------------------------------------------


def test_detail_masks_the_citizen_and_hides_other_departments(session, ctx, county):
    citizen = make_citizen(session, external_id="987654321")
    citizen.phone = "13812345678"
    follow_up = bad(session, ctx, county["permit"], citizen=citizen)
    session.commit()

    detail = followups.follow_up_detail(session, ctx, follow_up.id, actor=county["own_officer"])
    assert detail.rating.score == 1 and detail.rating.comment == "窗口态度很差"
    assert detail.rating.service_name == "施工许可"
    assert detail.citizen_contact == "*******21 · 138****5678"
    assert "987654321" not in repr(detail) and "13812345678" not in repr(detail)
    assert detail.reachable and detail.citizen_channel == "telegram"
    assert detail.may_act and detail.may_appeal and not detail.may_decide
    assert detail.can_verify and not detail.can_rectify and detail.can_answer
    assert [item.what_en for item in detail.history] == ["差评 received, due 2026-12-02"]

    looking = followups.follow_up_detail(session, ctx, follow_up.id, actor=county["analyst"])
    assert not (looking.may_act or looking.may_appeal or looking.can_verify or looking.can_answer)
    with pytest.raises(NotFound):
        followups.follow_up_detail(session, ctx, follow_up.id, actor=county["other_officer"])
    with pytest.raises(NotFound):
        followups.follow_up_detail(session, ctx, follow_up.id + 99, actor=county["admin"])


@pytest.mark.parametrize("ref", ["abc", "1 OR 1=1", -1, 0, 2**31, 10**12])
def test_unknown_follow_up_refs_are_not_found(session, ctx, county, ref):
    with pytest.raises(NotFound):
        followups.get_follow_up(session, ref, actor=county["admin"])


@SQLITE_ONLY
@pytest.mark.parametrize("ref", [True, None, 1.0, ""])
def test_malformed_follow_up_refs_are_refused(session, ctx, county, ref):
    with pytest.raises(ValidationFailed):
        followups.get_follow_up(session, ref, actor=county["admin"])


# -- the steps ---------------------------------------------------------------------------


def audit_actions(session, object_type):
    return list(
        session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.object_type == object_type)
            .order_by(AuditEntry.id)
        )
    )


def test_verify_rectify_answer_in_steps(session, ctx, clock, county):
    citizen = make_citizen(session)
    follow_up = bad(session, ctx, county["permit"], citizen=citizen)
    officer = county["own_officer"]
    with pytest.raises(IllegalTransition, match="verification"):
        followups.rectify_follow_up(session, ctx, follow_up, actor=officer, note="已整改")
    clock.advance(hours=2)
    followups.verify_follow_up(session, ctx, follow_up, actor=officer, note="调取录像，属实")
    with pytest.raises(IllegalTransition, match="already verified"):
        followups.verify_follow_up(session, ctx, follow_up, actor=officer, note="再核实")
    clock.advance(days=1)
    followups.rectify_follow_up(session, ctx, follow_up, actor=officer, note="约谈窗口人员")
    assert follow_up.status == FollowUpStatus.RECTIFIED
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    clock.advance(days=1)
    followups.complete_follow_up(session, ctx, follow_up, actor=officer, note="已整改，欢迎监督")
    session.commit()

    message = session.scalar(select(OutboxMessage))
    assert (message.citizen_id, message.kind) == (citizen.id, "follow_up_done")
    assert message.dedupe_key == f"follow_up:{follow_up.id}:done"
    assert message.payload["note"] == "已整改，欢迎监督"
    detail = followups.follow_up_detail(session, ctx, follow_up.id, actor=county["admin"])
    assert detail.status == FollowUpStatus.COMPLETED and detail.completed_on_time
    assert (detail.verified_by, detail.rectified_by) == (officer_label(officer),) * 2
    assert detail.verification_note == "调取录像，属实"
    assert detail.rectification_note == "约谈窗口人员" and detail.answer == "已整改，欢迎监督"
    assert detail.answer_delivery == "queued"
    assert [item.what_zh for item in detail.history][1:] == ["核实", "整改", "反馈市民"]
    assert not (detail.can_verify or detail.can_rectify or detail.can_answer)
    assert audit_actions(session, "follow_up") == [
        "follow_up.verify",
        "follow_up.rectify",
        "follow_up.complete",
    ]
    with pytest.raises(IllegalTransition, match="already completed"):
        followups.complete_follow_up(session, ctx, follow_up, actor=officer, note="再反馈")
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_a_one_go_answer_takes_the_missing_steps(session, ctx, county):
    follow_up = bad(session, ctx, county["permit"])
    followups.complete_follow_up(session, ctx, follow_up, actor=county["admin"], note="当场解决")
    session.commit()
    assert follow_up.verified_at == follow_up.rectified_at == follow_up.completed_at
    assert follow_up.verified_by_id == county["admin"].staff_user_id
    assert follow_up.verification_note is None


@pytest.mark.parametrize("channel", [Channel.WEB, Channel.IMPORT, None])
def test_the_answer_is_queued_only_where_someone_can_receive_it(session, ctx, county, channel):
    citizen = None if channel is None else make_citizen(session, channel=channel)
    follow_up = bad(session, ctx, county["permit"], citizen=citizen)
    followups.complete_follow_up(session, ctx, follow_up, actor=county["admin"], note="已整改")
    session.commit()
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    detail = followups.follow_up_detail(session, ctx, follow_up.id, actor=county["admin"])
    assert not detail.reachable and detail.answer_delivery is None
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "follow_up.complete"))
    assert entry.after["queued_to_citizen"] is False


STEPS = {
    "verify": followups.verify_follow_up,
    "rectify": followups.rectify_follow_up,
    "complete": followups.complete_follow_up,
}


@SQLITE_ONLY
@pytest.mark.parametrize("step", list(STEPS))
@pytest.mark.parametrize("who", ROLES)
def test_who_may_take_each_step(session, ctx, county, step, who):
    follow_up = bad(session, ctx, county["permit"])
    if step == "rectify":
        followups.verify_follow_up(session, ctx, follow_up, actor=county["admin"], note="属实")
    session.commit()
    before = (follow_up.status, follow_up.rectified_at, follow_up.completed_at)
    audited = len(audit_actions(session, "follow_up"))
    if who in ("admin", "own_officer"):
        STEPS[step](session, ctx, follow_up, actor=county[who], note="已处理")
        session.commit()
        assert len(audit_actions(session, "follow_up")) == audited + 1
        return
    with pytest.raises(PermissionDenied) as refused:
        STEPS[step](session, ctx, follow_up, actor=county[who], note="已处理")
    assert refused.value.message_zh and refused.value.message_en
    session.rollback()
    assert (follow_up.status, follow_up.rectified_at, follow_up.completed_at) == before
    assert len(audit_actions(session, "follow_up")) == audited


@SQLITE_ONLY
@pytest.mark.parametrize("note", ["", "   ", None, 42, "改" * 2001])
@pytest.mark.parametrize("step", list(STEPS))
def test_bad_notes_change_nothing(session, ctx, county, step, note):
    follow_up = bad(session, ctx, county["permit"])
    if step == "rectify":
        followups.verify_follow_up(session, ctx, follow_up, actor=county["admin"], note="属实")
    session.commit()
    status, verified = follow_up.status, follow_up.verified_at
    with pytest.raises(ValidationFailed):
        STEPS[step](session, ctx, follow_up, actor=county["admin"], note=note)
    session.rollback()
    assert (follow_up.status, follow_up.verified_at) == (status, verified)
    assert follow_up.completed_at is None and follow_up.rectified_at is None


# -- exclusion appeals -------------------------------------------------------------------


def test_appeal_queue_and_audited_decision(session, ctx, clock, county):
    follow_up = bad(session, ctx, county["permit"], comment="乱写乱评")
    kept = bad(session, ctx, county["pension"])
    officer, admin = county["own_officer"], county["admin"]
    appeal = followups.request_exclusion(
        session, ctx, follow_up.rating, actor=officer, reason="同一人连续刷差评，有录像为证"
    )
    other = followups.request_exclusion(
        session, ctx, kept.rating, actor=county["other_officer"], reason="恶意"
    )
    session.commit()

    queue = followups.pending_appeals(session, actor=admin)
    assert [row.id for row in queue.items] == [appeal.id, other.id] and queue.total == 2
    row = queue.items[0]
    assert (row.follow_up_id, row.score, row.comment, row.service_name) == (
        follow_up.id,
        1,
        "乱写乱评",
        "施工许可",
    )
    assert row.reason == "同一人连续刷差评，有录像为证"
    assert row.requested_by == officer_label(officer)
    for who in ("analyst", "own_officer", "other_officer"):
        with pytest.raises(PermissionDenied):
            followups.pending_appeals(session, actor=county[who])
        with pytest.raises(PermissionDenied):
            followups.get_appeal(session, appeal.id, actor=county[who])

    clock.advance(hours=1)
    found = followups.get_appeal(session, appeal.id, actor=admin, for_update=True)
    followups.decide_exclusion(session, ctx, found, actor=admin, approve=True)
    followups.decide_exclusion(session, ctx, other, actor=admin, approve=False)
    session.commit()

    assert followups.pending_appeals(session, actor=admin).items == []
    rating = session.get(Rating, follow_up.rating_id)
    assert rating.excluded and follow_up.status == FollowUpStatus.EXCLUDED
    assert not kept.rating.excluded and kept.status == FollowUpStatus.OPEN
    assert session.scalar(select(func.count()).select_from(Rating)) == 2  # nothing deleted
    entries = list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.object_type == "rating_appeal")
            .order_by(AuditEntry.id)
        )
    )
    assert [e.action for e in entries] == [
        "appeal.request",
        "appeal.request",
        "appeal.decide",
        "appeal.decide",
    ]
    decided = entries[2]
    assert decided.staff_user_id == admin.staff_user_id and decided.object_id == str(appeal.id)
    assert decided.before == {"status": "pending", "rating_excluded": False}
    assert decided.after["status"] == "approved" and decided.after["rating_excluded"] is True

    detail = followups.follow_up_detail(session, ctx, follow_up.id, actor=officer)
    assert [a.status for a in detail.appeals] == [DecisionStatus.APPROVED]
    assert detail.history[-1].what_en == "appeal approved: the rating is excluded"
    assert not (detail.can_appeal or detail.can_answer or detail.is_open)
    assert ids(followups.follow_up_queue(session, ctx, actor=officer)) == []
    excluded = check_queue_filter(status="excluded")
    assert ids(followups.follow_up_queue(session, ctx, actor=officer, filters=excluded)) == [
        follow_up.id
    ]
    with pytest.raises(IllegalTransition):
        followups.decide_exclusion(session, ctx, found, actor=admin, approve=False)


def test_an_officer_cannot_appeal_another_departments_rating(session, ctx, county):
    follow_up = bad(session, ctx, county["pension"])
    session.commit()
    for who in ("own_officer", "analyst"):
        with pytest.raises(PermissionDenied):
            followups.request_exclusion(
                session, ctx, follow_up.rating, actor=county[who], reason="恶意"
            )
    session.rollback()
    assert followups.pending_appeals(session, actor=county["admin"]).total == 0


@pytest.mark.parametrize("ref", ["abc", 10**9, 2**31, 10**20])
def test_unknown_appeal_is_not_found(session, county, ref):
    with pytest.raises(NotFound):
        followups.get_appeal(session, ref, actor=county["admin"])


# -- the migration -----------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_0011_keeps_completed_follow_ups_and_names_who_did_each_step(settings, tmp_path):
    engine = make_engine(settings, f"sqlite:///{tmp_path}/old.db")
    upgrade(engine, "0010")
    moment = "2026-11-20 02:00:00.000000"
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO departments (id, code, name, active, created_at)"
                " VALUES (1, 'zjj', '住建局', 1, :t)"
            ),
            {"t": moment},
        )
        c.execute(
            text(
                "INSERT INTO services (id, department_id, code, name, active)"
                " VALUES (1, 1, 'zj-001', '施工许可', 1)"
            )
        )
        c.execute(
            text(
                "INSERT INTO staff_users (id, username, display_name, password_hash, role,"
                " department_id, active, created_at)"
                " VALUES (1, 'wang', '王', 'x', 'officer', 1, 1, :t)"
            ),
            {"t": moment},
        )
        for n in (1, 2):
            c.execute(
                text(
                    "INSERT INTO ratings (id, service_id, department_id, score, channel,"
                    " excluded, created_at) VALUES (:n, 1, 1, 1, 'web', 0, :t)"
                ),
                {"n": n, "t": moment},
            )
        c.execute(
            text(
                "INSERT INTO bad_review_follow_ups (id, rating_id, department_id, status,"
                " deadline, verified_at, rectified_at, completed_at, completed_by_id, note,"
                " created_at) VALUES (1, 1, 1, 'completed', '2026-11-27', :t, :t, :t, 1,"
                " '已整改', :t), (2, 2, 1, 'open', '2026-11-27', NULL, NULL, NULL, NULL, NULL,"
                " :t)"
            ),
            {"t": moment},
        )
    upgrade(engine)
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT id, status, verified_by_id, rectified_by_id, completed_by_id, note"
                " FROM bad_review_follow_ups ORDER BY id"
            )
        ).all()
    assert [tuple(row) for row in rows] == [
        (1, "completed", 1, 1, 1, "已整改"),
        (2, "open", None, None, None, None),
    ]
    downgrade(engine, "0010")
    with engine.connect() as connection:
        columns = {
            row[1]
            for row in connection.exec_driver_sql("PRAGMA table_info(bad_review_follow_ups)")
        }
    assert "verified_by_id" not in columns and "note" in columns
    engine.dispose()
