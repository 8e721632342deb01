"""Complaints (工单): filing, NLP routing and the ticket state machine of DESIGN.md."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from minyi.errors import IllegalTransition, NotFound, PermissionDenied, ValidationFailed
from minyi.models import (
    Channel,
    Citizen,
    DecisionStatus,
    Department,
    ExtensionRequest,
    Role,
    RoutingCorrection,
    Ticket,
    TicketEvent,
    TicketNumberCounter,
    TicketStatus,
)
from minyi.services.actors import Actor
from minyi.services.catalog import get_department
from minyi.services.context import ServiceContext
from minyi.services.outbox import enqueue_message
from minyi.services.validation import check_score, clean_text

log = logging.getLogger(__name__)

S = TicketStatus
STATUS_ZH = {
    S.RECEIVED: "已受理",
    S.ASSIGNED: "已派单",
    S.IN_PROGRESS: "办理中",
    S.REPLIED: "已答复",
    S.CLOSED: "已办结",
}

# Which statuses each move starts from; anything else is refused.
MOVES: dict[str, frozenset[TicketStatus]] = {
    "assign": frozenset({S.RECEIVED}),
    "reassign": frozenset({S.ASSIGNED, S.IN_PROGRESS}),
    "start": frozenset({S.ASSIGNED}),
    "reply": frozenset({S.IN_PROGRESS}),
    "close": frozenset({S.REPLIED}),
    "verdict": frozenset({S.CLOSED}),
    "request_extension": frozenset({S.ASSIGNED, S.IN_PROGRESS}),
}
MOVE_ZH = {
    "assign": "派单",
    "reassign": "改派",
    "start": "受理办理",
    "reply": "答复",
    "close": "办结",
    "verdict": "回访评价",
    "request_extension": "申请延期",
}


def file_ticket(
    session: Session,
    ctx: ServiceContext,
    *,
    text: object,
    channel: Channel | str,
    citizen: Citizen | None = None,
    location: object = None,
    source_ref: str | None = None,
    at: datetime | None = None,
) -> Ticket:
    """Store a complaint with its public number and SLA dates, before any NLP runs.

    The same (channel, source_ref) twice returns the first ticket (double submit).
    """
    limits = ctx.settings.tickets
    text = clean_text(
        text,
        field_zh="投诉内容",
        field_en="complaint text",
        max_chars=limits.max_text_chars,
        min_chars=limits.min_text_chars,
    )
    location = clean_text(
        location, field_zh="地点", field_en="location", max_chars=300, required=False
    )
    try:
        channel = Channel(channel)
    except ValueError:
        raise ValidationFailed(f"未知渠道 {channel!r}", f"unknown channel {channel!r}") from None
    if source_ref is not None:
        existing = session.scalar(
            select(Ticket).where(Ticket.channel == channel, Ticket.source_ref == source_ref)
        )
        if existing is not None:
            return existing
    received = at or ctx.now()
    day = ctx.local_date(received)
    due = ctx.calendar.add_working_days(day, limits.sla_working_days)
    ticket = Ticket(
        number=_next_number(session, day, limits.number_prefix),
        citizen_id=citizen.id if citizen else None,
        channel=channel,
        source_ref=source_ref,
        text=text,
        location=location,
        status=S.RECEIVED,
        needs_triage=True,
        received_at=received,
        updated_at=received,
        response_due_date=ctx.calendar.add_working_days(day, limits.response_window_working_days),
        due_date=due,
        original_due_date=due,
    )
    session.add(ticket)
    _event(
        ticket,
        "received",
        Actor.citizen(citizen) if citizen else Actor.system(channel.value),
        None,
        S.RECEIVED,
        {"channel": channel.value},
        received,
    )
    session.flush()
    return ticket


def route_ticket(
    session: Session, ctx: ServiceContext, ticket: Ticket, at: datetime | None = None
) -> Ticket:
    """Classify a received ticket; confident predictions are assigned, the rest go to triage."""
    if ticket.status != S.RECEIVED:
        return ticket
    moment = at or ctx.now()
    if ctx.analyzer is None:
        _event(
            ticket,
            "triage",
            Actor.system("nlp"),
            S.RECEIVED,
            S.RECEIVED,
            {"reason": "nlp unavailable"},
            moment,
        )
        session.flush()
        return ticket
    analysis = ctx.analyzer(ticket.text)
    ticket.topic = analysis.topic
    ticket.topic_confidence = float(analysis.topic_probability or 0.0)
    ticket.sentiment_score = float(analysis.sentiment_score)
    ticket.sentiment_label = analysis.sentiment_label
    ticket.keywords = list(analysis.keywords)
    department = department_for_topic(session, ctx, analysis.topic, ticket.text)
    ticket.predicted_department_id = department.id if department else None
    confident = (
        not analysis.needs_review and ticket.topic_confidence >= ctx.settings.nlp.review_threshold
    )
    detail = {"topic": ticket.topic, "confidence": round(ticket.topic_confidence, 3)}
    if confident and department is not None:
        ticket.department_id = department.id
        ticket.needs_triage = False
        _move(
            ticket,
            S.ASSIGNED,
            "assigned",
            Actor.system("nlp"),
            detail | {"department": department.code},
            moment,
        )
    else:
        _event(ticket, "triage", Actor.system("nlp"), S.RECEIVED, S.RECEIVED, detail, moment)
    session.flush()
    return ticket


def submit_complaint(session_factory: sessionmaker, ctx: ServiceContext, **fields: Any) -> Ticket:
    """File a complaint in its own transaction, then route it in a second one.

    The ticket is committed before NLP runs, so a classifier failure leaves it in triage
    instead of losing it. Takes the keyword arguments of `file_ticket`.
    """
    with session_factory.begin() as session:
        ticket = file_ticket(session, ctx, **fields)
        ticket_id = ticket.id
    try:
        with session_factory.begin() as session:
            ticket = route_ticket(session, ctx, session.get(Ticket, ticket_id))
    except Exception:
        log.exception("routing failed for ticket %s; left in triage", ticket_id)
        with session_factory() as session:
            ticket = session.get(Ticket, ticket_id)
    return ticket


def department_for_topic(
    session: Session, ctx: ServiceContext, topic: str | None, text: str
) -> Department | None:
    """The department configured for `topic`; keywords pick among several.

    Candidates the county does not have (or has deactivated) are skipped; with no keyword
    hit, the first remaining candidate handles the ticket.
    """
    codes = ctx.settings.nlp.topic_departments.get(topic or "", [])
    if not codes:
        return None
    found = session.scalars(
        select(Department).where(Department.code.in_(codes), Department.active.is_(True))
    ).all()
    by_code = {department.code: department for department in found}
    candidates = [code for code in codes if code in by_code]
    if not candidates:
        return None
    keywords = ctx.settings.nlp.department_keywords
    hits = {code: sum(text.count(k) for k in keywords.get(code, [])) for code in candidates}
    best = max(candidates, key=lambda code: hits[code])  # first among equals
    return by_code[best if hits[best] > 0 else candidates[0]]


def get_ticket(session: Session, number_or_id: str | int) -> Ticket:
    column = Ticket.id if isinstance(number_or_id, int) else Ticket.number
    ticket = session.scalar(select(Ticket).where(column == number_or_id))
    if ticket is None:
        raise NotFound(f"找不到工单 {number_or_id}", f"unknown ticket {number_or_id}")
    return ticket


def assign(
    session: Session,
    ctx: ServiceContext,
    ticket: Ticket,
    department,
    *,
    actor: Actor,
    at: datetime | None = None,
) -> Ticket:
    """Route a ticket from triage to a department (staff decision)."""
    _check_move(ticket, "assign")
    if not actor.is_admin:
        raise PermissionDenied(
            "只有管理员可以从待分拣队列派单", "only an admin routes tickets out of triage"
        )
    department = get_department(session, department)
    moment = at or ctx.now()
    _record_correction(session, ticket, department, actor, moment)
    ticket.department_id = department.id
    ticket.needs_triage = False
    _move(ticket, S.ASSIGNED, "assigned", actor, {"department": department.code}, moment)
    session.flush()
    return ticket


def reassign(
    session: Session,
    ctx: ServiceContext,
    ticket: Ticket,
    department,
    *,
    actor: Actor,
    reason: object,
    at: datetime | None = None,
) -> Ticket:
    """Send a ticket to another department (a bounce-back, counted), with a reason."""
    _check_move(ticket, "reassign")
    _check_department(actor, ticket)
    reason = clean_text(reason, field_zh="改派理由", field_en="reason", max_chars=1000)
    department = get_department(session, department)
    if department.id == ticket.department_id:
        raise ValidationFailed(
            "改派的部门与当前部门相同", "the ticket is already with that department"
        )
    moment = at or ctx.now()
    _record_correction(session, ticket, department, actor, moment)
    previous = ticket.department_id
    ticket.department_id = department.id
    ticket.bounce_count += 1
    _move(
        ticket,
        S.ASSIGNED,
        "reassigned",
        actor,
        {"from_department_id": previous, "department": department.code, "reason": reason},
        moment,
    )
    session.flush()
    return ticket


def start(
    session: Session,
    ctx: ServiceContext,
    ticket: Ticket,
    *,
    actor: Actor,
    at: datetime | None = None,
) -> Ticket:
    """The department accepts the ticket: its first response."""
    _check_move(ticket, "start")
    _check_department(actor, ticket)
    moment = at or ctx.now()
    ticket.first_response_at = ticket.first_response_at or moment
    _move(ticket, S.IN_PROGRESS, "started", actor, None, moment)
    _notify_citizen(
        session,
        ticket,
        "ticket_status",
        "started",
        {"number": ticket.number, "status": S.IN_PROGRESS.value},
        moment,
    )
    session.flush()
    return ticket


def reply(
    session: Session,
    ctx: ServiceContext,
    ticket: Ticket,
    *,
    actor: Actor,
    text: object,
    at: datetime | None = None,
) -> Ticket:
    """The department's answer; the citizen is notified through the outbox."""
    _check_move(ticket, "reply")
    _check_department(actor, ticket)
    text = clean_text(
        text,
        field_zh="答复内容",
        field_en="reply",
        max_chars=ctx.settings.tickets.max_text_chars,
        min_chars=2,
    )
    moment = at or ctx.now()
    ticket.reply_text = text
    ticket.replied_at = moment
    ticket.first_response_at = ticket.first_response_at or moment
    _move(ticket, S.REPLIED, "replied", actor, {"reply": text}, moment)
    _notify_citizen(
        session,
        ticket,
        "ticket_reply",
        "replied",
        {"number": ticket.number, "reply": text},
        moment,
    )
    session.flush()
    return ticket


def close(
    session: Session,
    ctx: ServiceContext,
    ticket: Ticket,
    *,
    actor: Actor,
    at: datetime | None = None,
) -> Ticket:
    """Close a replied ticket (办结); the citizen is asked "resolved?" and "satisfied?"."""
    _check_move(ticket, "close")
    _check_department(actor, ticket)
    moment = at or ctx.now()
    ticket.closed_at = moment
    _move(ticket, S.CLOSED, "closed", actor, None, moment)
    _notify_citizen(
        session, ticket, "ticket_verdict_request", "closed", {"number": ticket.number}, moment
    )
    session.flush()
    return ticket


def record_verdict(
    session: Session,
    ctx: ServiceContext,
    ticket: Ticket,
    *,
    actor: Actor,
    resolved: object,
    satisfaction: object = None,
    at: datetime | None = None,
) -> Ticket:
    """The citizen's 回访 answer; "not resolved" reopens once, then escalates to the admin."""
    _check_move(ticket, "verdict")
    if actor.kind == "citizen" and actor.citizen_id != ticket.citizen_id:
        raise PermissionDenied("只能评价自己的工单", "citizens answer for their own tickets only")
    if ticket.resolved is not None:
        raise IllegalTransition("该工单已回访评价", "this ticket already has the citizen's answer")
    if not isinstance(resolved, bool):
        raise ValidationFailed("请回答问题是否已解决（是/否）", "resolved must be yes or no")
    if satisfaction is not None:
        satisfaction = check_score(satisfaction, field_zh="满意度", field_en="satisfaction")
    moment = at or ctx.now()
    detail = {"resolved": resolved, "satisfaction": satisfaction}
    if resolved:
        ticket.resolved = True
        ticket.satisfaction = satisfaction
        _event(ticket, "verdict", actor, S.CLOSED, S.CLOSED, detail, moment)
    else:
        ticket.reopen_count += 1
        ticket.closed_at = None
        kind = "reopened"
        if ticket.reopen_count > 1:
            ticket.escalated = True
            kind = "escalated"
        _move(ticket, S.IN_PROGRESS, kind, actor, detail, moment)
    session.flush()
    return ticket


def request_extension(
    session: Session,
    ctx: ServiceContext,
    ticket: Ticket,
    *,
    actor: Actor,
    working_days: object,
    reason: object,
    at: datetime | None = None,
) -> ExtensionRequest:
    """A department asks for more working days; the due date moves only if an admin approves."""
    _check_move(ticket, "request_extension")
    _check_department(actor, ticket)
    limit = ctx.settings.tickets.max_extension_working_days
    days = check_score(
        working_days, low=1, high=limit, field_zh="延期天数", field_en="extension working days"
    )
    reason = clean_text(reason, field_zh="延期理由", field_en="reason", max_chars=1000)
    pending = session.scalar(
        select(ExtensionRequest.id).where(
            ExtensionRequest.ticket_id == ticket.id,
            ExtensionRequest.status == DecisionStatus.PENDING,
        )
    )
    if pending is not None:
        raise IllegalTransition("已有待审核的延期申请", "an extension request is already pending")
    moment = at or ctx.now()
    request = ExtensionRequest(
        ticket_id=ticket.id,
        working_days=days,
        reason=reason,
        requested_by_id=actor.staff_user_id,
        created_at=moment,
    )
    session.add(request)
    _event(
        ticket,
        "extension_requested",
        actor,
        ticket.status,
        ticket.status,
        {"working_days": days, "reason": reason},
        moment,
    )
    session.flush()
    return request


def decide_extension(
    session: Session,
    ctx: ServiceContext,
    request: ExtensionRequest,
    *,
    actor: Actor,
    approve: bool,
    at: datetime | None = None,
) -> ExtensionRequest:
    """An admin approves (the due date moves) or refuses (it does not) an extension."""
    if not actor.is_admin:
        raise PermissionDenied("只有管理员可以审批延期", "only an admin decides extensions")
    if request.status != DecisionStatus.PENDING:
        raise IllegalTransition("该延期申请已审批", "this extension request is already decided")
    ticket = session.get(Ticket, request.ticket_id)
    moment = at or ctx.now()
    request.decided_by_id = actor.staff_user_id
    request.decided_at = moment
    if approve:
        request.status = DecisionStatus.APPROVED
        ticket.due_date = ctx.calendar.add_working_days(ticket.due_date, request.working_days)
        request.new_due_date = ticket.due_date
    else:
        request.status = DecisionStatus.REFUSED
    _event(
        ticket,
        "extension_" + request.status.value,
        actor,
        ticket.status,
        ticket.status,
        {"working_days": request.working_days, "due_date": ticket.due_date.isoformat()},
        moment,
    )
    session.flush()
    return request


def _notify_citizen(
    session: Session, ticket: Ticket, kind: str, step: str, payload: dict, moment: datetime
) -> None:
    # One message per step and reopen round, so a retried request never notifies twice.
    if ticket.citizen_id is not None:
        enqueue_message(
            session,
            citizen_id=ticket.citizen_id,
            kind=kind,
            dedupe_key=f"ticket:{ticket.id}:{step}:{ticket.reopen_count}",
            payload=payload,
            at=moment,
        )


def _check_move(ticket: Ticket, move: str) -> None:
    if ticket.status not in MOVES[move]:
        allowed = "、".join(STATUS_ZH[s] for s in sorted(MOVES[move]))
        raise IllegalTransition(
            f"工单 {ticket.number} 当前状态为「{STATUS_ZH[ticket.status]}」，不能{MOVE_ZH[move]}"
            f"（仅限：{allowed}）",
            f"ticket {ticket.number} is {ticket.status.value}: cannot {move} "
            f"(allowed from: {', '.join(s.value for s in sorted(MOVES[move]))})",
            ticket=ticket.number,
            status=ticket.status.value,
            move=move,
        )


def _check_department(actor: Actor, ticket: Ticket) -> None:
    if actor.kind == "citizen":
        raise PermissionDenied("市民不能执行此操作", "citizens cannot do this")
    if actor.role == Role.ANALYST:
        raise PermissionDenied("分析员不能办理工单", "analysts cannot act on tickets")
    if actor.role == Role.OFFICER and actor.department_id != ticket.department_id:
        raise PermissionDenied("只能办理本部门的工单", "officers act on their own department only")


def _record_correction(
    session: Session, ticket: Ticket, department: Department, actor: Actor, moment: datetime
) -> None:
    # A staff routing that differs from the classifier's guess is a labelled training example.
    if ticket.topic is not None and ticket.predicted_department_id != department.id:
        session.add(
            RoutingCorrection(
                ticket_id=ticket.id,
                text=ticket.text,
                predicted_topic=ticket.topic,
                predicted_department_id=ticket.predicted_department_id,
                corrected_department_id=department.id,
                staff_user_id=actor.staff_user_id,
                created_at=moment,
            )
        )


def _move(
    ticket: Ticket,
    to: TicketStatus,
    kind: str,
    actor: Actor,
    detail: dict | None,
    moment: datetime,
) -> None:
    _event(ticket, kind, actor, ticket.status, to, detail, moment)
    ticket.status = to


def _event(
    ticket: Ticket,
    kind: str,
    actor: Actor,
    from_status,
    to_status,
    detail: dict | None,
    moment: datetime,
) -> None:
    ticket.events.append(
        TicketEvent(
            kind=kind,
            from_status=from_status and str(from_status),
            to_status=to_status and str(to_status),
            actor=actor.label,
            staff_user_id=actor.staff_user_id,
            detail=detail,
            created_at=moment,
        )
    )
    # Every change stamps the ticket with the move's time, not the wall clock (`onupdate`).
    ticket.updated_at = moment


def _next_number(session: Session, day: date, prefix: str) -> str:
    """MY-YYYYMMDD-NNNN from a per-day counter bumped atomically (an upsert)."""
    table = TicketNumberCounter.__table__
    insert = (
        postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )
    statement = (
        insert(table)
        .values(day=day, last=1)
        .on_conflict_do_update(index_elements=[table.c.day], set_={"last": table.c.last + 1})
        .returning(table.c.last)
    )
    serial = session.execute(statement).scalar_one()
    return f"{prefix}-{day:%Y%m%d}-{serial:04d}"
