from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from minyi.errors import (
    IllegalTransition,
    LimitReached,
    MinyiError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from minyi.models import (
    Channel,
    DecisionStatus,
    OutboxMessage,
    Role,
    RoutingCorrection,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from minyi.services import tickets
from minyi.services.actors import Actor
from minyi.services.context import ServiceContext
from minyi.services.views import TicketView
from tests.builders import (
    FakeAnalysis,
    make_citizen,
    make_department,
    make_service,
    make_staff,
    make_ticket,
)

S = TicketStatus


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def county(session):
    zjj = make_department(session, code="zjj", name="住建局")
    rsj = make_department(session, code="rsj", name="人社局")
    ybj = make_department(session, code="ybj", name="医保局")
    admin = make_staff(session, Role.ADMIN)
    officer = make_staff(session, Role.OFFICER, department=zjj)
    other_officer = make_staff(session, Role.OFFICER, department=rsj)
    session.commit()
    return {
        "zjj": zjj,
        "rsj": rsj,
        "ybj": ybj,
        "admin": Actor.staff(admin),
        "officer": Actor.staff(officer),
        "other": Actor.staff(other_officer),
    }


def test_file_ticket_numbers_and_sla_dates(session, ctx, clock):
    # Wednesday 2026-11-25, 10:00 Beijing time.
    first = make_ticket(session, ctx)
    second = make_ticket(session, ctx)
    assert first.number == "MY-20261125-0001"
    assert second.number == "MY-20261125-0002"
    assert first.status == S.RECEIVED and first.needs_triage
    assert first.response_due_date == date(2026, 11, 26)
    assert first.due_date == first.original_due_date == date(2026, 12, 16)  # 15 working days
    assert [e.kind for e in first.events] == ["received"]
    clock.advance(days=1)
    assert make_ticket(session, ctx).number == "MY-20261126-0001"


def test_ticket_date_is_local_not_utc(session, ctx, clock):
    from datetime import UTC, datetime

    # 23:30 UTC on the 25th is already the 26th in Beijing.
    clock.now = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
    assert make_ticket(session, ctx).number.startswith("MY-20261126-")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "不能为空"),
        ("   \n ", "不能为空"),
        ("短", "太短"),
        ("字" * 5001, "太长"),
        (12345, "文字"),
    ],
)
def test_bad_complaint_text_changes_nothing(session, ctx, text, message):
    with pytest.raises(ValidationFailed, match=message):
        make_ticket(session, ctx, text=text)
    session.rollback()
    assert count(session, Ticket) == 0


def test_injection_and_control_characters_are_stored_as_text(session, ctx):
    text = "'; DROP TABLE tickets; -- <script>alert(1)</script>\x00 \ud800 路灯坏了"
    ticket = make_ticket(session, ctx, text=text)
    session.commit()
    stored = session.scalar(select(Ticket.text).where(Ticket.id == ticket.id))
    assert "DROP TABLE tickets" in stored and "<script>" in stored
    assert "\x00" not in stored and "\ud800" not in stored
    assert count(session, Ticket) == 1


def test_double_submit_with_same_source_ref_is_one_ticket(session, ctx):
    a = make_ticket(session, ctx, channel=Channel.TELEGRAM, source_ref="update:77")
    b = make_ticket(session, ctx, channel=Channel.TELEGRAM, source_ref="update:77")
    assert a.id == b.id and count(session, Ticket) == 1


def test_full_lifecycle_records_every_event(session, ctx, county, clock):
    citizen = make_citizen(session)
    ticket = make_ticket(session, ctx, citizen=citizen)
    tickets.assign(session, ctx, ticket, "zjj", actor=county["admin"])
    clock.advance(hours=2)
    tickets.start(session, ctx, ticket, actor=county["officer"])
    assert ticket.first_response_at == clock.now
    clock.advance(days=2)
    tickets.reply(session, ctx, ticket, actor=county["officer"], text="已安排维修，路灯已修复。")
    tickets.close(session, ctx, ticket, actor=county["officer"])
    tickets.record_verdict(
        session, ctx, ticket, actor=Actor.citizen(citizen), resolved=True, satisfaction=5
    )
    session.commit()
    kinds = [e.kind for e in ticket.events]
    assert kinds == ["received", "assigned", "started", "replied", "closed", "verdict"]
    assert [e.to_status for e in ticket.events][:5] == [
        "received",
        "assigned",
        "in_progress",
        "replied",
        "closed",
    ]
    assert ticket.events[1].actor.startswith("staff:")
    assert ticket.status == S.CLOSED and ticket.resolved is True and ticket.satisfaction == 5
    kinds_sent = session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)).all()
    assert kinds_sent == ["ticket_status", "ticket_reply", "ticket_verdict_request"]


def test_a_web_citizen_is_told_nothing_through_the_outbox(session, ctx, county):
    # No sender drains a web citizen's messages: they would wait forever. The status page is
    # how a web citizen follows the ticket.
    citizen = make_citizen(session, channel=Channel.WEB)
    ticket = make_ticket(session, ctx, citizen=citizen)
    tickets.assign(session, ctx, ticket, "zjj", actor=county["admin"])
    tickets.start(session, ctx, ticket, actor=county["officer"])
    tickets.reply(session, ctx, ticket, actor=county["officer"], text="已安排维修。")
    tickets.close(session, ctx, ticket, actor=county["officer"])
    session.commit()
    assert [e.kind for e in ticket.events][-1] == "closed"
    assert count(session, OutboxMessage) == 0


ILLEGAL = [
    (S.RECEIVED, "start"),
    (S.RECEIVED, "reply"),
    (S.RECEIVED, "close"),
    (S.ASSIGNED, "reply"),
    (S.ASSIGNED, "close"),
    (S.ASSIGNED, "assign"),
    (S.IN_PROGRESS, "start"),
    (S.IN_PROGRESS, "close"),
    (S.REPLIED, "start"),
    (S.REPLIED, "reassign"),
    (S.CLOSED, "reply"),
    (S.CLOSED, "reassign"),
]


def _bring_to(session, ctx, county, status):
    ticket = make_ticket(session, ctx)
    steps = [
        (S.ASSIGNED, lambda t: tickets.assign(session, ctx, t, "zjj", actor=county["admin"])),
        (S.IN_PROGRESS, lambda t: tickets.start(session, ctx, t, actor=county["officer"])),
        (
            S.REPLIED,
            lambda t: tickets.reply(session, ctx, t, actor=county["officer"], text="答复内容"),
        ),
        (S.CLOSED, lambda t: tickets.close(session, ctx, t, actor=county["officer"])),
    ]
    for reached, step in steps:
        if ticket.status == status:
            break
        step(ticket)
        assert ticket.status == reached
    return ticket


@pytest.mark.parametrize("status, move", ILLEGAL)
def test_illegal_moves_are_refused_and_change_nothing(session, ctx, county, status, move):
    ticket = _bring_to(session, ctx, county, status)
    session.commit()
    events_before = len(ticket.events)
    calls = {
        "assign": lambda: tickets.assign(session, ctx, ticket, "rsj", actor=county["admin"]),
        "reassign": lambda: tickets.reassign(
            session, ctx, ticket, "rsj", actor=county["admin"], reason="不属于本部门"
        ),
        "start": lambda: tickets.start(session, ctx, ticket, actor=county["admin"]),
        "reply": lambda: tickets.reply(session, ctx, ticket, actor=county["admin"], text="答复"),
        "close": lambda: tickets.close(session, ctx, ticket, actor=county["admin"]),
    }
    with pytest.raises(IllegalTransition) as info:
        calls[move]()
    assert ticket.number in info.value.message_zh and "cannot" in info.value.message_en
    session.rollback()
    fresh = session.get(Ticket, ticket.id)
    assert fresh.status == status
    assert count(session, TicketEvent) == events_before


def test_reassign_counts_bounce_and_keeps_correction(session, ctx, county):
    ctx.analyzer = lambda text: FakeAnalysis("城乡建设", 0.9)
    ticket = make_ticket(session, ctx)
    tickets.route_ticket(session, ctx, ticket)
    assert ticket.status == S.ASSIGNED and ticket.department_id == county["zjj"].id
    with pytest.raises(ValidationFailed):
        tickets.reassign(session, ctx, ticket, "rsj", actor=county["officer"], reason="")
    tickets.reassign(session, ctx, ticket, "rsj", actor=county["officer"], reason="属于劳动纠纷")
    session.commit()
    assert ticket.department_id == county["rsj"].id and ticket.bounce_count == 1
    correction = session.scalar(select(RoutingCorrection))
    assert correction.predicted_department_id == county["zjj"].id
    assert correction.corrected_department_id == county["rsj"].id
    assert ticket.events[-1].detail["reason"] == "属于劳动纠纷"


def test_officer_acts_on_own_department_only(session, ctx, county):
    ticket = _bring_to(session, ctx, county, S.ASSIGNED)
    with pytest.raises(PermissionDenied):
        tickets.start(session, ctx, ticket, actor=county["other"])
    with pytest.raises(PermissionDenied):
        tickets.assign(session, ctx, make_ticket(session, ctx), "zjj", actor=county["officer"])


def test_reopen_once_then_escalate(session, ctx, county):
    citizen = make_citizen(session)
    ticket = make_ticket(session, ctx, citizen=citizen)
    for actor_step in ("assign", "start", "reply", "close"):
        _step(session, ctx, county, ticket, actor_step)
    who = Actor.citizen(citizen)
    tickets.record_verdict(session, ctx, ticket, actor=who, resolved=False, satisfaction=2)
    assert ticket.status == S.IN_PROGRESS and ticket.reopen_count == 1 and not ticket.escalated
    assert ticket.last_closed_at is not None  # the first closure stays on record
    for actor_step in ("reply", "close"):
        _step(session, ctx, county, ticket, actor_step)
    tickets.record_verdict(session, ctx, ticket, actor=who, resolved=False)
    # The second "no" does not reopen again: it goes to the admins' queue.
    assert ticket.escalated and ticket.reopen_count == 1 and ticket.status == S.CLOSED
    assert ticket.events[-1].kind == "escalated"
    with pytest.raises(IllegalTransition):
        tickets.record_verdict(session, ctx, ticket, actor=who, resolved=True)


def _step(session, ctx, county, ticket, name):
    officer = county["officer"]
    if name == "assign":
        tickets.assign(session, ctx, ticket, "zjj", actor=county["admin"])
    elif name == "start":
        tickets.start(session, ctx, ticket, actor=officer)
    elif name == "reply":
        tickets.reply(session, ctx, ticket, actor=officer, text="已处理完毕")
    elif name == "close":
        tickets.close(session, ctx, ticket, actor=officer)


def test_verdict_is_answered_once_and_validated(session, ctx, county):
    citizen = make_citizen(session)
    ticket = make_ticket(session, ctx, citizen=citizen)
    for name in ("assign", "start", "reply", "close"):
        _step(session, ctx, county, ticket, name)
    who = Actor.citizen(citizen)
    with pytest.raises(ValidationFailed):
        tickets.record_verdict(session, ctx, ticket, actor=who, resolved=True, satisfaction=9)
    with pytest.raises(ValidationFailed):
        tickets.record_verdict(session, ctx, ticket, actor=who, resolved="yes")
    stranger = Actor.citizen(make_citizen(session))
    with pytest.raises(PermissionDenied):
        tickets.record_verdict(session, ctx, ticket, actor=stranger, resolved=True)
    tickets.record_verdict(session, ctx, ticket, actor=who, resolved=True, satisfaction=4)
    with pytest.raises(IllegalTransition):
        tickets.record_verdict(session, ctx, ticket, actor=who, resolved=True, satisfaction=4)


def test_extension_approved_moves_due_date_refused_does_not(session, ctx, county):
    ticket = _bring_to(session, ctx, county, S.IN_PROGRESS)
    original = ticket.due_date
    request = tickets.request_extension(
        session, ctx, ticket, actor=county["officer"], working_days=5, reason="需现场勘查"
    )
    with pytest.raises(IllegalTransition):
        tickets.request_extension(
            session, ctx, ticket, actor=county["officer"], working_days=2, reason="再次申请"
        )
    with pytest.raises(PermissionDenied):
        tickets.decide_extension(session, ctx, request, actor=county["officer"], approve=True)
    tickets.decide_extension(session, ctx, request, actor=county["admin"], approve=True)
    assert ticket.due_date == ctx.calendar.add_working_days(original, 5)
    assert ticket.original_due_date == original and request.status == DecisionStatus.APPROVED
    second = tickets.request_extension(
        session, ctx, ticket, actor=county["officer"], working_days=3, reason="仍需协调"
    )
    tickets.decide_extension(session, ctx, second, actor=county["admin"], approve=False)
    assert ticket.due_date == ctx.calendar.add_working_days(original, 5)
    assert second.status == DecisionStatus.REFUSED
    with pytest.raises(IllegalTransition):
        tickets.decide_extension(session, ctx, second, actor=county["admin"], approve=True)


@pytest.mark.parametrize("days", [0, 16, -1, "x", 2.5, True])
def test_extension_days_validated(session, ctx, county, days):
    ticket = _bring_to(session, ctx, county, S.IN_PROGRESS)
    with pytest.raises(ValidationFailed):
        tickets.request_extension(
            session, ctx, ticket, actor=county["officer"], working_days=days, reason="理由"
        )


def test_routing_confident_low_confidence_and_failure(session_factory, settings, clock, county):
    analyses = {
        "路灯": FakeAnalysis("城乡建设", 0.92),
        "不清楚": FakeAnalysis("城乡建设", 0.3, needs_review=True),
        "报销": FakeAnalysis("劳动和社会保障", 0.8),
    }

    def analyzer(text):
        for key, analysis in analyses.items():
            if key in text:
                return analysis
        raise RuntimeError("model crashed")

    ctx = ServiceContext.from_settings(settings, analyzer=analyzer, clock=clock)
    confident = tickets.submit_complaint(
        session_factory, ctx, text="路灯坏了很久没人修", channel=Channel.WEB
    )
    unsure = tickets.submit_complaint(
        session_factory, ctx, text="这个事情我也说不清楚", channel=Channel.WEB
    )
    keyword = tickets.submit_complaint(
        session_factory, ctx, text="医保报销三个月还没到账", channel=Channel.WEB
    )
    crashed = tickets.submit_complaint(
        session_factory, ctx, text="完全无关的一段文字内容", channel=Channel.WEB
    )
    with session_factory() as s:
        got = {t.number: t for t in s.scalars(select(Ticket))}
    assert got[confident.number].status == S.ASSIGNED
    assert got[confident.number].department_id == county["zjj"].id
    assert got[unsure.number].status == S.RECEIVED and got[unsure.number].needs_triage
    assert got[unsure.number].predicted_department_id == county["zjj"].id
    assert got[keyword.number].department_id == county["ybj"].id  # 医保 keyword wins over 人社
    assert got[crashed.number].status == S.RECEIVED and got[crashed.number].needs_triage
    assert len(got) == 4


def test_unknown_ticket_and_department(session, ctx, county):
    with pytest.raises(NotFound):
        tickets.get_ticket(session, "MY-20990101-0001")
    ticket = make_ticket(session, ctx)
    with pytest.raises(NotFound):
        tickets.assign(session, ctx, ticket, "nope", actor=county["admin"])
    # Ids beyond PostgreSQL's 32-bit integers, zero and negatives are unknown, not a DB error.
    for ref in (2**31, 2**63, 0, -5):
        with pytest.raises(NotFound):
            tickets.get_ticket(session, ref)


def test_department_for_topic_skips_missing_candidates_and_uses_keywords(session, ctx, county):
    ctx.settings.nlp.topic_departments = {"劳动和社会保障": ["gjj", "rsj", "ybj"]}
    ctx.settings.nlp.department_keywords = {"ybj": ["医保"], "gjj": ["公积金"]}
    pick = tickets.department_for_topic
    # gjj does not exist in this county: the first existing candidate is the default.
    assert pick(session, ctx, "劳动和社会保障", "公积金提取太慢").code == "rsj"
    assert pick(session, ctx, "劳动和社会保障", "单位拖欠三个月工资").code == "rsj"
    assert pick(session, ctx, "劳动和社会保障", "医保卡丢了怎么补").code == "ybj"
    assert pick(session, ctx, "没有这个主题", "医保卡丢了") is None
    county["ybj"].active = False
    assert pick(session, ctx, "劳动和社会保障", "医保卡丢了怎么补").code == "rsj"


def test_history_survives_reply_close_reopen_reply_close(session, ctx, county, clock):
    """reply → close → not resolved → reply → close → resolved: every fact stays on record."""
    citizen = make_citizen(session)
    who = Actor.citizen(citizen)
    ticket = make_ticket(session, ctx, citizen=citizen)
    _step(session, ctx, county, ticket, "assign")
    clock.advance(hours=1)
    _step(session, ctx, county, ticket, "start")
    first_reply = clock.advance(days=1)
    _step(session, ctx, county, ticket, "reply")
    first_close = clock.advance(hours=2)
    _step(session, ctx, county, ticket, "close")
    first_verdict = clock.advance(days=1)
    tickets.record_verdict(session, ctx, ticket, actor=who, resolved=False, satisfaction=2)
    second_reply = clock.advance(days=2)
    _step(session, ctx, county, ticket, "reply")
    second_close = clock.advance(hours=1)
    _step(session, ctx, county, ticket, "close")
    second_verdict = clock.advance(hours=5)
    tickets.record_verdict(session, ctx, ticket, actor=who, resolved=True, satisfaction=4)
    session.commit()
    session.expire_all()
    ticket = session.get(Ticket, ticket.id)
    assert (ticket.first_replied_at, ticket.last_replied_at) == (first_reply, second_reply)
    assert (ticket.first_closed_at, ticket.last_closed_at) == (first_close, second_close)
    rounds = [
        (c.round, c.closed_at, c.resolved, c.satisfaction, c.verdict_at, c.verdict_by)
        for c in ticket.closures
    ]
    assert rounds == [
        (1, first_close, False, 2, first_verdict, who.label),
        (2, second_close, True, 4, second_verdict, who.label),
    ]
    assert ticket.reopen_count == 1 and not ticket.escalated
    assert ticket.resolved is True and ticket.satisfaction == 4
    assert all(c.due_date == ticket.due_date for c in ticket.closures)
    kinds = [e.kind for e in ticket.events]
    assert kinds.count("replied") == 2 and kinds.count("closed") == 2
    assert "reopened" in kinds and kinds[-1] == "verdict"


def test_escalated_ticket_waits_in_the_admin_queue(session, ctx, county):
    citizen = make_citizen(session)
    who = Actor.citizen(citizen)
    ticket = make_ticket(session, ctx, citizen=citizen)
    for name in ("assign", "start", "reply", "close"):
        _step(session, ctx, county, ticket, name)
    tickets.record_verdict(session, ctx, ticket, actor=who, resolved=False, satisfaction=1)
    for name in ("reply", "close"):
        _step(session, ctx, county, ticket, name)
    assert tickets.escalated_tickets(session, actor=county["admin"]) == []
    tickets.record_verdict(session, ctx, ticket, actor=who, resolved=False, satisfaction=1)
    assert tickets.escalated_tickets(session, actor=county["admin"]) == [ticket]
    assert ticket.escalation_count == 1 and ticket.escalated_at is not None
    # The citizen cannot reopen a second time: the ticket stays closed, both "no"s recorded.
    assert ticket.status == S.CLOSED
    assert [c.resolved for c in ticket.closures] == [False, False]
    with pytest.raises(ValidationFailed):
        tickets.handle_escalation(
            session, ctx, ticket, actor=county["admin"], note="督办", reopen="yes"
        )
    tickets.handle_escalation(
        session, ctx, ticket, actor=county["admin"], note="督办重办", reopen=True
    )
    assert ticket.status == S.IN_PROGRESS and not ticket.escalated
    assert tickets.escalated_tickets(session, actor=county["admin"]) == []
    with pytest.raises(IllegalTransition):
        tickets.handle_escalation(session, ctx, ticket, actor=county["admin"], note="again")


def test_extension_cannot_be_decided_once_the_ticket_is_replied_or_closed(session, ctx, county):
    ticket = _bring_to(session, ctx, county, S.IN_PROGRESS)
    request = tickets.request_extension(
        session, ctx, ticket, actor=county["officer"], working_days=5, reason="需现场勘查"
    )
    tickets.reply(session, ctx, ticket, actor=county["officer"], text="已处理")
    tickets.close(session, ctx, ticket, actor=county["officer"])
    due = ticket.due_date
    with pytest.raises(IllegalTransition) as info:
        tickets.decide_extension(session, ctx, request, actor=county["admin"], approve=True)
    assert "已办结" in info.value.message_zh
    assert ticket.due_date == due and request.status == DecisionStatus.PENDING


@pytest.mark.parametrize("approve", ["no", "false", 0, None, 1])
def test_extension_decision_must_be_a_real_yes_or_no(session, ctx, county, approve):
    ticket = _bring_to(session, ctx, county, S.IN_PROGRESS)
    request = tickets.request_extension(
        session, ctx, ticket, actor=county["officer"], working_days=5, reason="需现场勘查"
    )
    due = ticket.due_date
    with pytest.raises(ValidationFailed):
        tickets.decide_extension(session, ctx, request, actor=county["admin"], approve=approve)
    assert ticket.due_date == due and request.status == DecisionStatus.PENDING


def test_reassignment_withdraws_the_old_departments_extension(session, ctx, county):
    ticket = _bring_to(session, ctx, county, S.IN_PROGRESS)
    request = tickets.request_extension(
        session, ctx, ticket, actor=county["officer"], working_days=5, reason="需现场勘查"
    )
    tickets.reassign(session, ctx, ticket, "rsj", actor=county["officer"], reason="劳动纠纷")
    assert request.status == DecisionStatus.WITHDRAWN
    with pytest.raises(IllegalTransition):
        tickets.decide_extension(session, ctx, request, actor=county["admin"], approve=True)
    assert ticket.due_date == ticket.original_due_date


BAD_FILINGS = [
    ({"channel": "fax"}, "channel"),
    ({"text": 12345}, "text"),
    ({"text": ["路灯", "坏了"]}, "text"),
    ({"at": datetime(2026, 11, 25, 10, 0)}, "time zone"),
    ({"at": "2026-11-25"}, "datetime"),
    ({"source_ref": "x" * 81}, "source_ref"),
    ({"citizen": 42}, "citizen"),
    ({"location": "路" * 301}, "location"),
]


@pytest.mark.parametrize("fields, word", BAD_FILINGS)
def test_bad_filing_is_a_domain_error_and_changes_nothing(session, ctx, fields, word):
    with pytest.raises(ValidationFailed) as info:
        make_ticket(session, ctx, **fields)
    assert word in info.value.message_en and info.value.message_zh
    session.rollback()
    assert count(session, Ticket) == 0


@pytest.mark.parametrize("ref", [None, True, 1.5, "", "x" * 200, ["MY-1"]])
def test_bad_ticket_reference_is_a_domain_error(session, ref):
    with pytest.raises(ValidationFailed):
        tickets.get_ticket(session, ref)


def test_submit_complaint_returns_a_view_readable_after_the_session(
    session_factory, settings, clock
):
    with session_factory.begin() as s:
        make_department(s, code="zjj", name="住建局")
    ctx = ServiceContext.from_settings(
        settings, analyzer=lambda text: FakeAnalysis("城乡建设", 0.93), clock=clock
    )
    view = tickets.submit_complaint(
        session_factory, ctx, text="小区门口的路灯坏了一个多月。", channel="web", source_ref="f1"
    )
    # No session is open here: everything an adapter says is on the view.
    assert view.status == S.ASSIGNED and view.status_zh == "已派单"
    assert view.department.code == "zjj" and view.department.name == "住建局"
    assert view.predicted_department == view.department
    assert [e.kind for e in view.events] == ["received", "assigned"]
    assert view.number.startswith("MY-") and view.due_date > view.received_at.date()
    again = tickets.submit_complaint(
        session_factory, ctx, text="小区门口的路灯坏了一个多月。", channel="web", source_ref="f1"
    )
    assert again.id == view.id and again.department.code == "zjj"


def test_daily_complaint_limit_per_citizen(session, ctx, clock):
    ctx.settings.tickets.daily_limit_per_citizen = 2
    citizen = make_citizen(session)
    make_ticket(session, ctx, citizen=citizen)
    make_ticket(session, ctx, citizen=citizen, channel=Channel.TELEGRAM)
    with pytest.raises(LimitReached) as info:
        make_ticket(session, ctx, citizen=citizen)
    assert "12345" in info.value.message_zh and "daily limit is 2" in info.value.message_en
    make_ticket(session, ctx, citizen=make_citizen(session))  # someone else may
    clock.advance(days=1)
    make_ticket(session, ctx, citizen=citizen)  # and tomorrow again
    assert count(session, Ticket) == 4


def test_contact_phone_attachments_location_and_service(session, ctx, county):
    service = make_service(session, department=county["zjj"], code="zjj-01")
    ticket = make_ticket(
        session,
        ctx,
        contact_phone="138-1234 5678",
        attachments=[("photo", "AgACAgIAAxkBAAIB")],
        latitude=30.25,
        longitude=120.17,
        location="人民路 12 号",
        service="zjj-01",
    )
    assert ticket.contact_phone == "13812345678" and ticket.service_id == service.id
    view = TicketView.of(ticket)
    assert view.contact_phone_masked == "138****5678"
    assert view.attachments == (("photo", "AgACAgIAAxkBAAIB"),)
    assert view.location == "人民路 12 号"


@pytest.mark.parametrize(
    "fields",
    [
        {"contact_phone": "call me maybe"},
        {"contact_phone": "12"},
        {"attachments": [("virus", "x.exe")]},
        {"attachments": [("photo", "")]},
        {"latitude": 91.0, "longitude": 10.0},
        {"latitude": 30.0},
        {"latitude": "30", "longitude": "120"},
        {"service": "no-such-service"},
    ],
)
def test_bad_complaint_extras_change_nothing(session, ctx, fields):
    with pytest.raises(MinyiError):
        make_ticket(session, ctx, **fields)
    session.rollback()
    assert count(session, Ticket) == 0


def test_access_code_opens_the_ticket_and_is_stored_hashed(session, ctx):
    ticket = make_ticket(session, ctx)
    code = tickets.issue_access_code(ticket)
    assert len(code) >= 8 and code not in ticket.access_code_hash
    assert tickets.issue_access_code(ticket) is None  # shown once, never re-issued
    assert tickets.verify_access_code(ticket, code)
    assert tickets.verify_access_code(ticket, f" {code[:5].lower()}-{code[5:]} ")
    assert not tickets.verify_access_code(ticket, code[:-1] + ("A" if code[-1] != "A" else "B"))
    assert not tickets.verify_access_code(ticket, None)
    assert not tickets.verify_access_code(make_ticket(session, ctx), code)


def test_citizen_picks_another_department_before_it_is_accepted(session, ctx, county):
    ctx.analyzer = lambda text: FakeAnalysis("城乡建设", 0.9)
    citizen = make_citizen(session)
    ticket = make_ticket(session, ctx, citizen=citizen)
    tickets.route_ticket(session, ctx, ticket)
    assert ticket.department_id == county["zjj"].id
    with pytest.raises(PermissionDenied):
        tickets.choose_department(
            session, ctx, ticket, "rsj", actor=Actor.citizen(make_citizen(session))
        )
    tickets.choose_department(session, ctx, ticket, "rsj", actor=Actor.citizen(citizen))
    assert ticket.department_id == county["rsj"].id and ticket.status == S.ASSIGNED
    correction = session.scalar(select(RoutingCorrection))
    assert correction.corrected_department_id == county["rsj"].id
    assert correction.staff_user_id is None
    tickets.start(session, ctx, ticket, actor=county["other"])
    with pytest.raises(IllegalTransition):
        tickets.choose_department(session, ctx, ticket, "ybj", actor=Actor.citizen(citizen))


def test_ticket_brief_is_number_owner_status_and_department(session, ctx, county):
    citizen = make_citizen(session)
    ticket = make_ticket(session, ctx, citizen=citizen)
    tickets.assign(session, ctx, ticket, county["zjj"].id, actor=county["admin"])
    triaged = make_ticket(session, ctx)
    session.flush()

    brief = tickets.get_ticket_brief(session, ticket.id)
    assert (brief.id, brief.number, brief.citizen_id) == (ticket.id, ticket.number, citizen.id)
    assert brief.status == S.ASSIGNED and brief.first_response_at is None
    assert (brief.department.code, brief.department.name) == ("zjj", "住建局")
    assert tickets.get_ticket_brief(session, triaged.number).department is None
    with pytest.raises(NotFound):
        tickets.get_ticket_brief(session, 999_999)
    with pytest.raises(NotFound):
        tickets.get_ticket_brief(session, "MY-20990101-0001")


def test_complaints_analyzed_together_are_classified_as_one_batch_each_with_its_own_answer(ctx):
    street, wages = (
        "小区门口的路灯坏了一个多月了，晚上出行很不安全。",
        "公司拖欠三个月工资，希望帮忙解决。",
    )
    batches = []
    ctx.analyzer = lambda text: FakeAnalysis(
        "城乡建设" if "路灯" in text else "劳动和社会保障", 0.9
    )

    def many(texts):
        batches.append(list(texts))
        return [ctx.analyzer(text) for text in texts]

    ctx.batch_analyzer = many
    first, refused, last = tickets.analyze_complaints(
        ctx,
        [
            {"text": street, "channel": Channel.WEB, "attachments": (("photo", "p1"),)},
            {"text": "短", "channel": Channel.WEB},
            {"text": wages, "channel": Channel.WEB},
        ],
    )
    assert batches == [[street, wages]]  # the refused one is not classified
    assert isinstance(refused, ValidationFailed)
    assert (first["analysis"].topic, last["analysis"].topic) == ("城乡建设", "劳动和社会保障")
    assert first["attachments"] == [("photo", "p1")] and last["attachments"] == []


def test_a_failing_batch_is_classified_text_by_text_and_only_the_odd_one_goes_to_triage(ctx):
    def analyzer(text):
        if "乱码" in text:
            raise RuntimeError("the model cannot read it")
        return FakeAnalysis("城乡建设", 0.9)

    def many(texts):
        raise RuntimeError("one text broke the batch")

    ctx.analyzer, ctx.batch_analyzer = analyzer, many
    odd, fine = tickets.analyze_complaints(
        ctx,
        [
            {"text": "乱码乱码乱码乱码乱码乱码乱码乱码乱码乱码", "channel": Channel.WEB},
            {"text": "小区门口的路灯坏了一个多月了，晚上出行很不安全。", "channel": Channel.WEB},
        ],
    )
    assert odd["analysis"] is tickets.NOT_ROUTED
    assert fine["analysis"].topic == "城乡建设"


def test_analyze_then_file_is_submit_complaint_in_two_halves(session_factory, ctx):
    analyzed = tickets.analyze_complaint(
        ctx, text="小区门口的路灯坏了一个多月了，晚上出行很不安全。", channel=Channel.WEB
    )
    assert "analysis" in analyzed
    with session_factory() as session:
        assert count(session, Ticket) == 0  # the classifier's half touches no database
    with session_factory.begin() as session:
        view = tickets.file_analyzed(session, ctx, analyzed)
    with session_factory() as session:
        assert tickets.get_ticket(session, view.id).number == view.number
    with pytest.raises(ValidationFailed):
        tickets.analyze_complaint(ctx, text="短", channel=Channel.WEB)
