"""The staff inbox queries (minyi.services.inbox), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from minyi.errors import IllegalTransition, NotFound, PermissionDenied, ValidationFailed
from minyi.models import (
    Channel,
    DecisionStatus,
    ExtensionRequest,
    OutboxMessage,
    RoutingCorrection,
    TicketEvent,
    TicketStatus,
)
from minyi.services import inbox, tickets
from minyi.services.actors import Actor
from minyi.services.inbox import InboxFilters
from tests.builders import make_citizen, make_ticket
from tests.inbox_support import advance, assigned_ticket, make_county

S = TicketStatus


@pytest.fixture
def county(session):
    county = make_county(session)
    session.commit()
    return county


def numbers(page):
    return [row.number for row in page.items]


def listed(session, ctx, county, role="admin", **filters):
    return numbers(
        inbox.list_tickets(
            session, ctx, actor=county.actor(role), filters=InboxFilters(**filters), per_page=100
        )
    )


def test_officers_see_their_own_department_admins_and_analysts_see_all(session, ctx, county):
    own = assigned_ticket(session, ctx, county, "zjj")
    other = assigned_ticket(session, ctx, county, "rsj")
    triage = make_ticket(session, ctx)
    assert set(listed(session, ctx, county, "officer")) == {own.number}
    assert set(listed(session, ctx, county, "other_officer")) == {other.number}
    everything = {own.number, other.number, triage.number}
    assert set(listed(session, ctx, county, "admin")) == everything
    assert set(listed(session, ctx, county, "analyst")) == everything


def test_an_officer_asking_for_another_department_gets_not_found(session, ctx, county):
    assigned_ticket(session, ctx, county, "rsj")
    with pytest.raises(NotFound):
        listed(session, ctx, county, "officer", department="rsj")
    assert listed(session, ctx, county, "officer", department="zjj") == []
    assert len(listed(session, ctx, county, "analyst", department="rsj")) == 1


def test_citizens_and_system_actors_cannot_read_the_inbox(session, ctx, county):
    citizen = Actor.citizen(make_citizen(session))
    for actor in (citizen, Actor.system("nlp", "ticket.assign")):
        with pytest.raises(PermissionDenied):
            inbox.list_tickets(session, ctx, actor=actor)


def test_other_department_ticket_is_not_found_like_an_unknown_number(session, ctx, county):
    other = assigned_ticket(session, ctx, county, "rsj")
    officer = county.actor("officer")
    with pytest.raises(NotFound) as elsewhere:
        inbox.ticket_detail(session, ctx, other.number, actor=officer)
    with pytest.raises(NotFound) as nowhere:
        inbox.ticket_detail(session, ctx, "MY-20261125-9999", actor=officer)
    assert elsewhere.value.message_zh == f"找不到工单 {other.number}"
    assert nowhere.value.message_zh == "找不到工单 MY-20261125-9999"
    # A ticket still in triage belongs to no department: no officer sees it.
    with pytest.raises(NotFound):
        inbox.ticket_detail(session, ctx, make_ticket(session, ctx).number, actor=officer)
    # Ids are never accepted in place of numbers (they could be counted through).
    with pytest.raises(NotFound):
        inbox.ticket_detail(session, ctx, other.id, actor=county.actor("admin"))


def test_filters_status_topic_sentiment_type_channel(session, ctx, county):
    water = assigned_ticket(session, ctx, county, channel=Channel.TELEGRAM)
    water.topic, water.sentiment_label, water.request_type = "城乡建设", "negative", "投诉"
    lamp = assigned_ticket(session, ctx, county)
    lamp.topic, lamp.sentiment_label, lamp.request_type = "环境保护", "neutral", "咨询"
    advance(session, ctx, county, lamp, "start")
    session.flush()
    assert listed(session, ctx, county, status=S.IN_PROGRESS) == [lamp.number]
    assert listed(session, ctx, county, topic="城乡建设") == [water.number]
    assert listed(session, ctx, county, sentiment="neutral") == [lamp.number]
    assert listed(session, ctx, county, request_type="咨询") == [lamp.number]
    assert listed(session, ctx, county, request_type="建议") == []
    assert listed(session, ctx, county, channel=Channel.TELEGRAM) == [water.number]
    assert listed(session, ctx, county, topic="城乡建设", status=S.IN_PROGRESS) == []


def test_received_date_range_uses_the_countys_days(session, ctx, county, clock):
    # 23:30 UTC on the 24th is already the 25th in Beijing.
    clock.now = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    late = assigned_ticket(session, ctx, county)
    clock.now = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 23:00 on the 24th in Beijing
    early = assigned_ticket(session, ctx, county)
    day = date(2026, 11, 25)
    assert listed(session, ctx, county, received_from=day, received_to=day) == [late.number]
    assert listed(session, ctx, county, received_to=day - timedelta(days=1)) == [early.number]
    assert set(listed(session, ctx, county, received_from=day - timedelta(days=1))) == {
        early.number,
        late.number,
    }


def test_text_search_matches_text_number_and_location_literally(session, ctx, county):
    lamp = assigned_ticket(session, ctx, county, text="幸福小区的路灯坏了，100% 不亮，晚上很黑。")
    road = assigned_ticket(
        session, ctx, county, text="路面塌陷，车辆无法通行。", location="Xingfu Road 东段"
    )
    assert listed(session, ctx, county, search="路灯") == [lamp.number]
    assert listed(session, ctx, county, search="xingfu road") == [road.number]  # any case
    assert listed(session, ctx, county, search=road.number.lower()) == [road.number]
    # % and _ are searched for as themselves, not as wildcards.
    assert listed(session, ctx, county, search="100%") == [lamp.number]
    assert listed(session, ctx, county, search="%") == [lamp.number]
    assert listed(session, ctx, county, search="_") == []
    assert listed(session, ctx, county, search="'; DROP TABLE tickets; --") == []


def test_overdue_and_due_soon_follow_the_working_day_calendar(session, ctx, county, clock):
    # Wednesday 30 September 2026; 1-7 October is the National Day holiday. Two working days
    # on are 8 and 9 October: counted Monday to Friday it would be 1 and 2 October.
    clock.now = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)
    due = {}
    for name, day in [
        ("late", date(2026, 9, 29)),
        ("today", date(2026, 9, 30)),
        ("after_holiday", date(2026, 10, 9)),
        ("later", date(2026, 10, 12)),
    ]:
        ticket = assigned_ticket(session, ctx, county)
        ticket.due_date = day
        due[name] = ticket.number
    closed_late = assigned_ticket(session, ctx, county)
    advance(session, ctx, county, closed_late, "start", "reply", "close")
    closed_late.due_date = date(2026, 9, 1)  # closed: neither overdue nor due soon
    session.flush()
    assert listed(session, ctx, county, overdue=True) == [due["late"]]
    assert listed(session, ctx, county, due_soon=True) == [due["today"], due["after_holiday"]]
    assert listed(session, ctx, county, overdue=True, due_soon=True) == [
        due["late"],
        due["today"],
        due["after_holiday"],
    ]
    rows = {
        row.number: row
        for row in inbox.list_tickets(session, ctx, actor=county.actor("admin")).items
    }
    assert rows[due["late"]].overdue and not rows[due["late"]].due_soon
    assert rows[due["after_holiday"]].due_soon
    assert not rows[due["later"]].due_soon and not rows[due["later"]].overdue
    assert not rows[closed_late.number].overdue


def test_list_order_overdue_first_then_due_date_then_closed(session, ctx, county, clock):
    made = {}
    for name, days in [("d10", 10), ("late2", -2), ("d3", 3), ("late5", -5)]:
        ticket = assigned_ticket(session, ctx, county)
        ticket.due_date = date(2026, 11, 25) + timedelta(days=days)
        made[name] = ticket.number
    done = assigned_ticket(session, ctx, county)
    advance(session, ctx, county, done, "start", "reply", "close")
    done.due_date = date(2026, 11, 1)
    session.flush()
    assert listed(session, ctx, county) == [
        made["late5"],
        made["late2"],
        made["d3"],
        made["d10"],
        done.number,
    ]


def test_paging_gives_the_total_and_the_page(session, ctx, county):
    made = [assigned_ticket(session, ctx, county).number for _ in range(7)]
    admin = county.actor("admin")
    first = inbox.list_tickets(session, ctx, actor=admin, page=1, per_page=3)
    last = inbox.list_tickets(session, ctx, actor=admin, page="3", per_page=3)
    assert first.total == last.total == 7 and first.pages == 3
    assert len(first.items) == 3 and len(last.items) == 1
    everything = numbers(inbox.list_tickets(session, ctx, actor=admin, per_page=100))
    assert sorted(everything) == sorted(made)
    assert numbers(first) == everything[:3] and numbers(last) == everything[6:]
    # A stale link past the end shows the last page; nonsense shows the first, as elsewhere.
    assert (
        numbers(inbox.list_tickets(session, ctx, actor=admin, page=9, per_page=3))
        == (everything[6:])
    )
    for nonsense in ("0", "-1", "abc", "1.5", True, None):
        page = inbox.list_tickets(session, ctx, actor=admin, page=nonsense, per_page=3)
        assert page.number == 1 and numbers(page) == everything[:3]


def test_pages_run_on_from_the_open_tickets_into_the_closed_ones(session, ctx, county, clock):
    open_, closed = [], []
    for days in (5, 1, 3):
        ticket = assigned_ticket(session, ctx, county)
        ticket.due_date = date(2026, 11, 25) + timedelta(days=days)
        open_.append((ticket.due_date, ticket.number))
    for _ in range(4):
        clock.advance(hours=1)
        ticket = assigned_ticket(session, ctx, county)
        advance(session, ctx, county, ticket, "start", "reply", "close")
        closed.append(ticket.number)
    session.flush()
    expected = [n for _, n in sorted(open_)] + closed[::-1]  # closed: newest first
    admin = county.actor("admin")
    pages = [
        numbers(inbox.list_tickets(session, ctx, actor=admin, page=n, per_page=2))
        for n in (1, 2, 3, 4)
    ]
    assert pages == [expected[0:2], expected[2:4], expected[4:6], expected[6:]]
    assert inbox.list_tickets(session, ctx, actor=admin, per_page=2).total == 7
    # A closed ticket is never overdue: that filter leaves nothing to list.
    assert listed(session, ctx, county, status=S.CLOSED, overdue=True) == []
    assert listed(session, ctx, county, status=S.CLOSED) == closed[::-1]


@pytest.mark.parametrize(
    "params, word",
    [
        ({"status": "lost"}, "状态"),
        ({"sentiment": "angry"}, "情感"),
        ({"type": "complaint"}, "诉求类型"),
        ({"channel": "fax"}, "渠道"),
        ({"from": "2026-13-01"}, "起始日期"),
        ({"to": "yesterday"}, "截止日期"),
        ({"from": "2026-11-25", "to": "2026-11-01"}, "不能晚于"),
        ({"overdue": "maybe"}, "超期"),
        ({"q": "字" * 101}, "太长"),
        ({"topic": "x" * 41}, "太长"),
        ({"status": ["received"]}, "status"),
    ],
)
def test_bad_filter_parameters_are_refused_with_a_message(params, word):
    with pytest.raises(ValidationFailed, match=word):
        inbox.parse_filters(params)


def test_filter_parameters_round_trip():
    params = {
        "status": "in_progress",
        "topic": "城乡建设",
        "sentiment": "negative",
        "type": "建议",
        "overdue": "1",
        "due_soon": "on",
        "channel": "telegram",
        "from": "2026-11-01",
        "to": "2026-11-30",
        "q": " 路灯 ",
        "department": "zjj",
        "page": "2",  # not a filter: ignored here
    }
    filters = inbox.parse_filters(params)
    assert filters.status == S.IN_PROGRESS and filters.search == "路灯"
    assert filters.request_type == "建议"
    assert filters.received_from == date(2026, 11, 1) and filters.due_soon
    assert inbox.parse_filters(filters.as_params()) == filters
    assert inbox.parse_filters({"status": "", "overdue": "0", "q": "  "}) == InboxFilters()


def test_triage_queue_is_for_admins_and_analysts(session, ctx, county, clock):
    first = make_ticket(session, ctx)
    clock.advance(hours=1)
    second = make_ticket(session, ctx)
    assigned_ticket(session, ctx, county)
    for role in ("admin", "analyst"):
        page = inbox.triage_queue(session, ctx, actor=county.actor(role))
        assert numbers(page) == [first.number, second.number] and page.total == 2
    for role in ("officer", "other_officer"):
        with pytest.raises(PermissionDenied):
            inbox.triage_queue(session, ctx, actor=county.actor(role))


def test_detail_has_history_attachments_nlp_and_masked_citizen(session, ctx, county):
    citizen = make_citizen(session, external_id="5551234567")
    citizen.phone = "13812345678"
    ticket = make_ticket(
        session,
        ctx,
        citizen=citizen,
        contact_phone="13987654321",
        attachments=[("photo", "a1b2c3.jpg")],
        location="幸福小区",
    )
    ticket.topic, ticket.topic_confidence = "城乡建设", 0.42
    ticket.sentiment_label, ticket.sentiment_score = "negative", 0.12
    ticket.keywords = ["路灯", "维修"]
    tickets.assign(session, ctx, ticket, "zjj", actor=county.actor("analyst"))
    advance(session, ctx, county, ticket, "start")
    detail = inbox.ticket_detail(session, ctx, ticket.number, actor=county.actor("officer"))
    view = detail.ticket
    assert [e.kind for e in view.events] == ["received", "assigned", "started"]
    assert view.attachments == (("photo", "a1b2c3.jpg"),)
    assert (view.topic, view.topic_confidence, view.keywords) == (
        "城乡建设",
        0.42,
        ("路灯", "维修"),
    )
    assert detail.sentiment_score == 0.12 and view.sentiment_label == "negative"
    assert view.contact_phone_masked == "139****4321"
    assert detail.citizen.external_id_masked == "********67"
    assert detail.citizen.phone_masked == "138****5678"
    as_json = json.dumps(detail.as_dict(), ensure_ascii=False)
    for secret in ("13987654321", "13812345678", "5551234567"):
        assert secret not in as_json
    assert json.loads(as_json)["nlp"]["keywords"] == ["路灯", "维修"]


def test_actions_follow_the_status_and_the_rules(session, ctx, county):
    ticket = make_ticket(session, ctx)

    def actions(role):
        return inbox.ticket_detail(session, ctx, ticket.number, actor=county.actor(role)).actions

    assert actions("admin") == ("assign",) and actions("analyst") == ("assign",)
    tickets.assign(session, ctx, ticket, "zjj", actor=county.actor("admin"))
    assert actions("officer") == ("start", "reassign", "request_extension")
    assert actions("admin") == ("start", "reassign", "request_extension")
    assert actions("analyst") == ()  # read-only outside triage
    advance(session, ctx, county, ticket, "start")
    assert actions("officer") == ("reply", "reassign", "request_extension")
    tickets.request_extension(
        session, ctx, ticket, actor=county.actor("officer"), working_days=3, reason="需要施工"
    )
    assert actions("officer") == ("reply", "reassign")  # one pending request at a time
    assert actions("admin") == ("reply", "reassign", "decide_extension")
    advance(session, ctx, county, ticket, "reply")
    assert actions("officer") == ("close",)
    assert actions("admin") == ("close",)  # a replied ticket's due date no longer moves


def test_apply_action_runs_the_state_machine_for_the_actor(session, ctx, county):
    citizen = make_citizen(session)
    ticket = assigned_ticket(session, ctx, county, citizen=citizen)
    officer = county.actor("officer")
    inbox.apply_action(session, ctx, ticket.number, "start", actor=officer)
    inbox.apply_action(
        session, ctx, ticket.number, "reply", actor=officer, fields={"text": "已修好"}
    )
    assert ticket.status == S.REPLIED and ticket.reply_text == "已修好"
    sent = session.scalars(
        select(OutboxMessage).where(OutboxMessage.citizen_id == citizen.id)
    ).all()
    assert [m.kind for m in sent] == ["ticket_status", "ticket_reply"]
    assert sent[-1].payload == {"number": ticket.number, "reply": "已修好"}
    with pytest.raises(IllegalTransition, match="不能受理办理"):
        inbox.apply_action(session, ctx, ticket.number, "start", actor=officer)
    inbox.apply_action(session, ctx, ticket.number, "close", actor=officer)
    assert ticket.status == S.CLOSED


def test_apply_action_refuses_other_departments_and_bad_input_changing_nothing(
    session, ctx, county
):
    ticket = assigned_ticket(session, ctx, county, "rsj")
    session.commit()
    events = session.scalar(select(func.count(TicketEvent.id)))
    with pytest.raises(NotFound):
        inbox.apply_action(session, ctx, ticket.number, "start", actor=county.actor("officer"))
    with pytest.raises(PermissionDenied):
        inbox.apply_action(session, ctx, ticket.number, "start", actor=county.actor("analyst"))
    with pytest.raises(ValidationFailed, match="未知的操作"):
        inbox.apply_action(session, ctx, ticket.number, "delete", actor=county.actor("admin"))
    other = county.actor("other_officer")
    inbox.apply_action(session, ctx, ticket.number, "start", actor=other)
    session.commit()
    events += 1
    for text in ("", "   ", "好" * (ctx.settings.tickets.max_text_chars + 1), None, 42):
        with pytest.raises(ValidationFailed):
            inbox.apply_action(
                session, ctx, ticket.number, "reply", actor=other, fields={"text": text}
            )
        session.rollback()
    assert session.scalar(select(func.count(TicketEvent.id))) == events
    assert ticket.status == S.IN_PROGRESS and ticket.reply_text is None


def test_reassign_with_a_reason_is_kept_as_a_routing_correction(session, ctx, county):
    ticket = assigned_ticket(session, ctx, county)
    ticket.topic, ticket.predicted_department_id = "城乡建设", county.zjj.id
    officer = county.actor("officer")
    with pytest.raises(ValidationFailed, match="改派理由"):
        inbox.apply_action(
            session, ctx, ticket.number, "reassign", actor=officer, fields={"department": "rsj"}
        )
    with pytest.raises(ValidationFailed, match="请选择部门"):
        inbox.apply_action(
            session, ctx, ticket.number, "reassign", actor=officer, fields={"reason": "x"}
        )
    inbox.apply_action(
        session,
        ctx,
        ticket.number,
        "reassign",
        actor=officer,
        fields={"department": "rsj", "reason": "属于欠薪问题"},
    )
    assert ticket.department_id == county.rsj.id and ticket.bounce_count == 1
    correction = session.scalar(select(RoutingCorrection))
    assert correction.corrected_department_id == county.rsj.id
    # Now it is the other department's: the first officer no longer finds it.
    with pytest.raises(NotFound):
        inbox.ticket_detail(session, ctx, ticket.number, actor=officer)


def test_extension_queue_and_decisions(session, ctx, county):
    ticket = assigned_ticket(session, ctx, county)
    replied = assigned_ticket(session, ctx, county)
    officer, admin = county.actor("officer"), county.actor("admin")
    for t in (ticket, replied):
        inbox.apply_action(
            session,
            ctx,
            t.number,
            "request_extension",
            actor=officer,
            fields={"working_days": "3", "reason": "需要协调施工队"},
        )
    advance(session, ctx, county, replied, "start", "reply")
    queue = inbox.pending_extensions(session, ctx, actor=admin)
    assert [e.ticket_number for e in queue] == [ticket.number]  # the replied one is moot
    pending = queue[0]
    assert pending.working_days == 3 and pending.requested_by == "zjj_officer"
    assert pending.new_due_date == ctx.calendar.add_working_days(ticket.due_date, 3)
    for role in ("officer", "analyst"):
        with pytest.raises(PermissionDenied):
            inbox.pending_extensions(session, ctx, actor=county.actor(role))
    with pytest.raises(PermissionDenied):
        inbox.apply_action(
            session,
            ctx,
            ticket.number,
            "decide_extension",
            actor=officer,
            fields={"decision": "approve"},
        )
    with pytest.raises(ValidationFailed, match="审批结果"):
        inbox.apply_action(
            session, ctx, ticket.number, "decide_extension", actor=admin, fields={"decision": "1"}
        )
    inbox.apply_action(
        session,
        ctx,
        ticket.number,
        "decide_extension",
        actor=admin,
        fields={"decision": "approve"},
    )
    assert ticket.due_date == pending.new_due_date
    request = session.scalar(
        select(ExtensionRequest).where(ExtensionRequest.ticket_id == ticket.id)
    )
    assert request.status == DecisionStatus.APPROVED
    assert inbox.pending_extensions(session, ctx, actor=admin) == []
    with pytest.raises(IllegalTransition, match="没有待审批"):
        inbox.apply_action(
            session,
            ctx,
            ticket.number,
            "decide_extension",
            actor=admin,
            fields={"decision": "refuse"},
        )
    detail = inbox.ticket_detail(session, ctx, ticket.number, actor=officer)
    assert [e.status for e in detail.extensions] == [DecisionStatus.APPROVED]
    assert detail.pending_extension is None


def test_escalation_queue_and_handling(session, ctx, county):
    citizen = make_citizen(session)
    who = Actor.citizen(citizen)
    ticket = assigned_ticket(session, ctx, county, citizen=citizen)
    advance(session, ctx, county, ticket, "start", "reply", "close")
    tickets.record_verdict(session, ctx, ticket, actor=who, resolved=False)
    advance(session, ctx, county, ticket, "reply", "close")
    tickets.record_verdict(session, ctx, ticket, actor=who, resolved=False)
    admin = county.actor("admin")
    assert [r.number for r in inbox.escalation_queue(session, ctx, actor=admin)] == [ticket.number]
    assert (
        "handle_escalation"
        in inbox.ticket_detail(session, ctx, ticket.number, actor=admin).actions
    )
    with pytest.raises(PermissionDenied):
        inbox.escalation_queue(session, ctx, actor=county.actor("analyst"))
    with pytest.raises(ValidationFailed, match="处理意见"):
        inbox.apply_action(
            session,
            ctx,
            ticket.number,
            "handle_escalation",
            actor=admin,
            fields={"decision": "reopen"},
        )
    inbox.apply_action(
        session,
        ctx,
        ticket.number,
        "handle_escalation",
        actor=admin,
        fields={"decision": "reopen", "note": "督办：一周内重新处理"},
    )
    assert ticket.status == S.IN_PROGRESS and not ticket.escalated
    assert inbox.escalation_queue(session, ctx, actor=admin) == []


def test_similar_tickets_are_near_duplicates_the_actor_may_see(session, ctx, county, clock):
    original = assigned_ticket(
        session,
        ctx,
        county,
        text="幸福小区3号楼门口的路灯坏了一个多月，晚上漆黑一片，老人摔倒过。",
    )
    clock.advance(hours=2)
    reworded = assigned_ticket(
        session, ctx, county, text="幸福小区3号楼门口路灯坏了快一个多月了，晚上漆黑，有老人摔倒。"
    )
    elsewhere = assigned_ticket(
        session, ctx, county, "rsj", text="幸福小区3号楼门口的路灯坏了一个多月，晚上漆黑一片。"
    )
    unrelated = assigned_ticket(session, ctx, county, text="公司拖欠三个月工资不发，老板失联。")
    clock.advance(days=45)
    too_late = assigned_ticket(
        session,
        ctx,
        county,
        text="幸福小区3号楼门口的路灯坏了一个多月，晚上漆黑一片，老人摔倒过。",
    )
    officer = inbox.ticket_detail(session, ctx, original.number, actor=county.actor("officer"))
    assert [s.number for s in officer.similar] == [reworded.number]
    assert 0.4 <= officer.similar[0].similarity <= 1.0
    admin = inbox.ticket_detail(session, ctx, original.number, actor=county.actor("admin"))
    found = {s.number for s in admin.similar}
    assert found == {reworded.number, elsewhere.number}
    assert unrelated.number not in found and too_late.number not in found


@pytest.fixture
def statements(session):
    """The SQL statements (with their parameters) the session's engine runs."""
    from sqlalchemy import event

    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_open_tickets_are_read_off_the_open_ticket_indexes(session, ctx, county, statements):
    # The lists' open-ticket condition must be one the database can match to the partial
    # indexes' (status IN (...open...) is not, for SQLite), or every list sorts the county's
    # whole history. The plans are made for any table size (PostgreSQL: no seq scans).
    assigned_ticket(session, ctx, county)
    session.commit()
    postgres = session.get_bind().dialect.name == "postgresql"
    connection = session.connection()
    if postgres:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    plans = {}
    for role in ("officer", "admin"):
        statements.clear()
        inbox.list_tickets(session, ctx, actor=county.actor(role))
        query, parameters = next((q, p) for q, p in statements if "ORDER BY tickets.due_date" in q)
        explain = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
        rows = connection.exec_driver_sql(explain + query, parameters)
        plans[role] = " ".join(str(row[-1]) for row in rows)
    for role, plan in plans.items():
        assert "ix_tickets_open_" in plan, (role, plan)


def test_the_inbox_offers_exactly_nlps_request_types():
    from nlp.request_type import LABELS

    assert tuple(inbox.REQUEST_TYPE_EN) == LABELS
