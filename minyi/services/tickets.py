"""Complaints (工单): filing, NLP routing and the ticket state machine of DESIGN.md."""

from __future__ import annotations

import functools
import logging
import math
import re
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.security import check_password_hash, generate_password_hash

from minyi.config import Settings
from minyi.db import insert_unless_taken
from minyi.errors import IllegalTransition, LimitReached, NotFound, ValidationFailed
from minyi.indicators import mark_new_ticket_stale
from minyi.models import (
    Channel,
    Citizen,
    DecisionStatus,
    Department,
    ExtensionRequest,
    RoutingCorrection,
    Ticket,
    TicketAttachment,
    TicketClosure,
    TicketEvent,
    TicketNumberCounter,
    TicketStatus,
)
from minyi.services.actors import Actor
from minyi.services.catalog import get_department, service_ref
from minyi.services.context import ServiceContext
from minyi.services.outbox import can_reach, enqueue_message
from minyi.services.permissions import require
from minyi.services.validation import (
    check_channel,
    check_flag,
    check_ref,
    check_score,
    check_source_ref,
    clean_text,
)
from minyi.services.views import (
    STATUS_ZH,
    DepartmentRef,
    EventView,
    TicketBrief,
    TicketView,
    mask_phone,
)

log = logging.getLogger(__name__)

S = TicketStatus

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


# file_ticket's default: store the complaint only; routing comes later (route_ticket).
NOT_ROUTED: Any = object()


def ticket_due_dates(ctx: ServiceContext, received: datetime) -> tuple[date, date]:
    """(response due date, due date) of a complaint received at `received`: working-day SLA."""
    day = ctx.local_date(received)
    limits = ctx.settings.tickets
    return (
        ctx.calendar.add_working_days(day, limits.response_window_working_days),
        ctx.calendar.add_working_days(day, limits.sla_working_days),
    )


def check_complaint_text(ctx: ServiceContext, text: object) -> str:
    """The complaint text trimmed and storable, within the configured length."""
    limits = ctx.settings.tickets
    return clean_text(
        text,
        field_zh="投诉内容",
        field_en="complaint text",
        max_chars=limits.max_text_chars,
        min_chars=limits.min_text_chars,
    )


def check_reply_text(ctx: ServiceContext, text: object) -> str:
    """A department's reply to the citizen, trimmed and within the configured length."""
    return clean_text(
        text,
        field_zh="答复内容",
        field_en="reply",
        max_chars=ctx.settings.tickets.max_text_chars,
        min_chars=2,
    )


def file_ticket(
    session: Session,
    ctx: ServiceContext,
    *,
    text: object,
    channel: Channel | str,
    citizen: Citizen | None = None,
    location: object = None,
    latitude: object = None,
    longitude: object = None,
    service=None,
    contact_phone: object = None,
    attachments: Iterable[tuple[str, str]] = (),
    source_ref: object = None,
    at: datetime | None = None,
    analysis: Any = NOT_ROUTED,
) -> Ticket:
    """Store a complaint with its public number and SLA dates.

    The same (channel, source_ref) twice returns the first ticket (double submit), also when
    both arrive at once. `attachments` are (kind, reference) pairs: a Telegram file id or a
    stored upload's name. A citizen files at most `[tickets] daily_limit_per_citizen` a day.
    With `analysis` (the classifier's answer for the text, computed before the transaction:
    submit_complaint) the ticket is routed as it is inserted; None routes it without NLP.
    """
    filed = store_complaint(
        session,
        ctx,
        text=text,
        channel=channel,
        citizen=citizen,
        location=location,
        latitude=latitude,
        longitude=longitude,
        service=service,
        contact_phone=contact_phone,
        attachments=attachments,
        source_ref=source_ref,
        at=at,
        analysis=analysis,
    )
    if isinstance(filed, Ticket):
        return filed
    return session.get(Ticket, filed.id)


class TicketDraft:
    """A ticket being filed, before its INSERT: the columns `file_ticket` writes, its events
    (as rows to insert) and its attachments. The routing rules (`apply_routing`) read and
    set it as they would a Ticket row."""

    def __init__(self, **columns: Any) -> None:
        self.__dict__.update(columns)
        self.events: list[dict[str, Any]] = []

    def columns(self) -> dict[str, Any]:
        return {name: value for name, value in self.__dict__.items() if name != "events"}


@dataclass(frozen=True)
class FiledTicket:
    """What `store_complaint` inserted: the new ticket's id, number and draft."""

    id: int
    number: str
    draft: TicketDraft
    attachments: list[tuple[str, str]]
    directory: DepartmentDirectory | None

    def view(self) -> TicketView:
        """The stored ticket as a view, from what was inserted: no read back."""
        draft = self.draft
        directory = self.directory
        return TicketView(
            id=self.id,
            number=self.number,
            status=draft.status,
            channel=str(draft.channel),
            text=draft.text,
            location=draft.location,
            citizen_id=draft.citizen_id,
            service_id=draft.service_id,
            contact_phone_masked=mask_phone(draft.contact_phone),
            attachments=tuple(self.attachments),
            department=directory.ref(draft.department_id) if directory else None,
            predicted_department=(
                directory.ref(draft.predicted_department_id) if directory else None
            ),
            topic=draft.topic,
            topic_confidence=draft.topic_confidence,
            needs_triage=draft.needs_triage,
            sentiment_label=draft.sentiment_label,
            keywords=tuple(draft.keywords or ()),
            received_at=draft.received_at,
            response_due_date=draft.response_due_date,
            due_date=draft.due_date,
            original_due_date=draft.original_due_date,
            first_response_at=None,
            first_replied_at=None,
            last_replied_at=None,
            reply_text=None,
            first_closed_at=None,
            last_closed_at=None,
            reopen_count=0,
            bounce_count=0,
            escalated=False,
            closures=(),
            events=tuple(
                EventView(
                    e["kind"],
                    e["from_status"],
                    e["to_status"],
                    e["actor"],
                    e["created_at"],
                    e["detail"],
                )
                for e in draft.events
            ),
        )


def store_complaint(
    session: Session,
    ctx: ServiceContext,
    *,
    text: object,
    channel: Channel | str,
    citizen: Citizen | None = None,
    location: object = None,
    latitude: object = None,
    longitude: object = None,
    service=None,
    contact_phone: object = None,
    attachments: Iterable[tuple[str, str]] = (),
    source_ref: object = None,
    at: datetime | None = None,
    analysis: Any = NOT_ROUTED,
) -> FiledTicket | Ticket:
    """`file_ticket`'s rules with plain INSERTs; the FiledTicket, or the Ticket already stored
    under the same (channel, source_ref) (a double submit).

    The ticket is checked, dated, routed (`apply_routing`) and numbered before one INSERT
    each for it, its attachments and its events; no ORM unit of work, no read back. The
    number is drawn first (the day's counter row stays locked until commit); an INSERT that
    finds its (channel, source_ref) taken gives the number back, so numbers have no gaps.
    """
    checked = check_complaint(
        ctx,
        text=text,
        channel=channel,
        citizen=citizen,
        location=location,
        latitude=latitude,
        longitude=longitude,
        contact_phone=contact_phone,
        attachments=attachments,
        source_ref=source_ref,
    )
    channel, source_ref = checked["channel"], checked["source_ref"]
    service_id = service_ref(session, service).id if service is not None else None
    received = ctx.moment(at)
    if citizen is not None:
        twin = _check_daily_limit(session, ctx, citizen, received, channel, source_ref)
        if twin is not None:
            return twin
    response_due, due = ticket_due_dates(ctx, received)
    draft = TicketDraft(
        citizen_id=citizen.id if citizen else None,
        channel=channel,
        source_ref=source_ref,
        text=checked["text"],
        location=checked["location"],
        latitude=checked["latitude"],
        longitude=checked["longitude"],
        service_id=service_id,
        contact_phone=checked["contact_phone"],
        status=S.RECEIVED,
        needs_triage=True,
        department_id=None,
        predicted_department_id=None,
        praise_department_id=None,
        topic=None,
        topic_confidence=None,
        sentiment_score=None,
        sentiment_label=None,
        keywords=None,
        request_type=None,
        request_type_probability=None,
        first_response_at=None,
        received_at=received,
        updated_at=received,
        response_due_date=response_due,
        due_date=due,
        original_due_date=due,
    )
    _event(
        draft,
        "received",
        Actor.citizen(citizen) if citizen else Actor.system(channel.value),
        None,
        S.RECEIVED,
        {"channel": channel.value},
        received,
    )
    directory = None
    if analysis is not NOT_ROUTED:
        # Routed before the INSERT: the ticket is written as routed, no UPDATE after.
        if analysis is None and ctx.analyzer is not None:
            analysis = ctx.analyzer(draft.text)
        directory = active_department_directory(session)
        apply_routing(ctx, draft, analysis, directory, received)
    day = ctx.local_date(received)
    serial = _draw_serials(session, day, 1)
    number = _format_number(ctx, day, serial)
    ticket_id = insert_unless_taken(
        session, Ticket.__table__, draft.columns() | {"number": number}, ("channel", "source_ref")
    )
    connection = session.connection()
    if ticket_id is None:  # the same submission was stored meanwhile: give the number back
        connection.execute(_GIVE_BACK, {"counter_day": day, "serial": serial})
        return session.scalar(_same_submission(channel, source_ref))
    if checked["attachments"]:
        connection.execute(
            _INSERT_ATTACHMENT,
            [
                {"ticket_id": ticket_id, "kind": kind, "reference": ref, "created_at": received}
                for kind, ref in checked["attachments"]
            ],
        )
    connection.execute(_INSERT_EVENT, [event | {"ticket_id": ticket_id} for event in draft.events])
    if draft.department_id is not None:
        mark_new_ticket_stale(connection, draft.department_id, received, draft.due_date)
    return FiledTicket(ticket_id, number, draft, checked["attachments"], directory)


_INSERT_ATTACHMENT = insert(TicketAttachment.__table__)
_INSERT_EVENT = insert(TicketEvent.__table__)
_GIVE_BACK = (
    update(TicketNumberCounter.__table__)
    .where(
        TicketNumberCounter.__table__.c.day == bindparam("counter_day"),
        TicketNumberCounter.__table__.c.last == bindparam("serial"),
    )
    .values(last=TicketNumberCounter.__table__.c.last - 1)
)


def _same_submission(channel: Channel, source_ref: str):
    return select(Ticket).where(Ticket.channel == channel, Ticket.source_ref == source_ref)


def check_complaint(
    ctx: ServiceContext,
    *,
    text: object,
    channel: Channel | str,
    citizen: Citizen | None = None,
    location: object = None,
    latitude: object = None,
    longitude: object = None,
    contact_phone: object = None,
    attachments: Iterable[tuple[str, str]] = (),
    source_ref: object = None,
    **_ignored: Any,
) -> dict[str, Any]:
    """The values of a complaint checked and cleaned (no database); ValidationFailed."""
    checked: dict[str, Any] = {"text": check_complaint_text(ctx, text)}
    checked["location"] = clean_text(
        location, field_zh="地点", field_en="location", max_chars=300, required=False
    )
    checked["latitude"], checked["longitude"] = check_coordinates(latitude, longitude)
    checked["channel"] = check_channel(channel)
    checked["source_ref"] = check_source_ref(source_ref)
    checked["contact_phone"] = check_phone(contact_phone)
    checked["attachments"] = [check_attachment(kind, ref) for kind, ref in attachments]
    if citizen is not None and not isinstance(citizen, Citizen):
        raise ValidationFailed("市民身份无效", "citizen must be a registered citizen")
    return checked


def _check_daily_limit(
    session: Session,
    ctx: ServiceContext,
    citizen: Citizen,
    received: datetime,
    channel: Channel,
    source_ref: str | None,
) -> Ticket | None:
    """LimitReached once the citizen has filed the day's limit, unless this is a double
    submit of one already filed: that ticket then (a double submit is never refused)."""
    limit = ctx.settings.tickets.daily_limit_per_citizen
    day_start = ctx.local_midnight(ctx.local_date(received))
    filed = (
        session.connection()
        .execute(
            _FILED_TODAY,
            {"citizen_id": citizen.id, "start": day_start, "end": day_start + timedelta(days=1)},
        )
        .scalar_one()
    )
    if filed < limit:
        return None
    if source_ref is not None:
        twin = session.scalar(_same_submission(channel, source_ref))
        if twin is not None:
            return twin
    raise LimitReached(
        f"您今天已提交 {filed} 件投诉，每天最多 {limit} 件，请明天再提交；紧急情况请拨打 12345",
        f"you have filed {filed} complaints today, the daily limit is {limit}: please try "
        "again tomorrow (urgent matters: call 12345)",
    )


_FILED_TODAY = select(func.count(Ticket.id)).where(
    Ticket.citizen_id == bindparam("citizen_id"),
    Ticket.received_at >= bindparam("start"),
    Ticket.received_at < bindparam("end"),
)


def check_phone(value: object) -> str | None:
    """An optional contact phone: 5-20 digits, with +, spaces or dashes; stored without spaces."""
    phone = clean_text(value, field_zh="联系电话", field_en="phone", max_chars=32, required=False)
    if phone is None:
        return None
    compact = re.sub(r"[\s-]", "", phone)
    if not re.fullmatch(r"\+?\d{5,20}", compact):
        raise ValidationFailed(
            "联系电话格式不正确（只能包含数字，可带 + 和 -）",
            "the phone number is not valid (digits, optionally + and -)",
        )
    return compact


def check_coordinates(latitude: object, longitude: object) -> tuple[float | None, float | None]:
    """An optional map point: both numbers within range, or neither."""
    if latitude is None and longitude is None:
        return None, None
    valid = all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        for v in (latitude, longitude)
    )
    if not valid or not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ValidationFailed("位置坐标无效", "invalid location coordinates")
    return float(latitude), float(longitude)


ATTACHMENT_KINDS = ("photo", "document")


def check_attachment(kind: object, reference: object) -> tuple[str, str]:
    """An attachment: its kind and a reference (a Telegram file id or a stored file name)."""
    if kind not in ATTACHMENT_KINDS:
        raise ValidationFailed(f"未知附件类型 {kind!r}", f"unknown attachment kind {kind!r}")
    reference = clean_text(reference, field_zh="附件", field_en="attachment", max_chars=300)
    return kind, reference


ACCESS_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read over the phone
ACCESS_CODE_LENGTH = 10


def issue_access_code(ticket: Ticket) -> str | None:
    """A new random code that opens the ticket's public status page; None if one was issued.

    Only its hash is stored: the code is shown to the citizen once (and may be bookmarked).
    """
    if ticket.access_code_hash is not None:
        return None
    code = "".join(secrets.choice(ACCESS_CODE_ALPHABET) for _ in range(ACCESS_CODE_LENGTH))
    ticket.access_code_hash = generate_password_hash(code, method=ACCESS_CODE_HASH)
    return code


def verify_access_code(ticket: Ticket, code: object) -> bool:
    """Whether `code` opens this ticket; case and spaces as a person would type them ignored."""
    if not isinstance(code, str) or ticket.access_code_hash is None or len(code) > 64:
        return False
    typed = re.sub(r"[\s-]", "", code).upper()
    return check_password_hash(ticket.access_code_hash, typed)


# Cheap enough for a page view; the code's ~50 random bits and rate limits do the rest.
ACCESS_CODE_HASH = "pbkdf2:sha256:20000"


def choose_department(
    session: Session,
    ctx: ServiceContext,
    ticket: Ticket,
    department,
    *,
    actor: Actor,
    at: datetime | None = None,
) -> Ticket:
    """The citizen who just filed picks another department than the suggested one.

    Only before the department has accepted the ticket; kept as a routing correction, so the
    county's own choices can teach the classifier.
    """
    require(actor, "ticket.choose_department", citizen_id=ticket.citizen_id)
    if ticket.status not in (S.RECEIVED, S.ASSIGNED) or ticket.first_response_at is not None:
        raise IllegalTransition(
            f"工单 {ticket.number} 已在办理，不能再更换部门",
            f"ticket {ticket.number} is already being handled: its department cannot change",
        )
    department = get_department(session, department, active_only=True)
    if department.id == ticket.department_id:
        return ticket
    moment = ctx.moment(at)
    _record_correction(session, ticket, department, actor, moment)
    ticket.department_id = department.id
    ticket.needs_triage = False
    _move(ticket, S.ASSIGNED, "citizen_routed", actor, {"department": department.code}, moment)
    session.flush()
    return ticket


ROUTER = Actor.system("nlp", "ticket.assign")


def route_ticket(
    session: Session,
    ctx: ServiceContext,
    ticket: Ticket,
    at: datetime | None = None,
    *,
    analysis: Any = None,
) -> Ticket:
    """Classify a received ticket; confident predictions are assigned, the rest go to triage.

    `analysis` is the classifier's answer for the ticket's text when the caller has it
    already (computed outside the transaction); otherwise ctx.analyzer runs here.
    """
    if ticket.status != S.RECEIVED:
        return ticket
    moment = ctx.moment(at)
    if analysis is None and ctx.analyzer is not None:
        analysis = ctx.analyzer(ticket.text)
    directory = active_department_directory(session) if analysis is not None else None
    apply_routing(ctx, ticket, analysis, directory, moment)
    session.flush()
    return ticket


def apply_routing(
    ctx: ServiceContext,
    ticket: Any,
    analysis: Any,
    directory: DepartmentDirectory | None,
    moment: datetime,
) -> None:
    """The routing of a received ticket (a Ticket row or file_ticket's draft), no database.

    No analysis (NLP unavailable): triage. Otherwise what nlp said is kept on the ticket and
    `decide_routing` files it as praise (`record_praise`), assigns it, or leaves it in triage.
    """
    if analysis is None:
        _event(
            ticket, "triage", ROUTER, S.RECEIVED, S.RECEIVED, {"reason": "nlp unavailable"}, moment
        )
        return
    apply_analysis(ticket, analysis)
    decision = decide_routing(ctx, analysis, ticket.text, directory)
    if decision.praise:
        _record_praise(ticket, moment, decision, directory)
        return
    apply_request_type_sla(ctx, ticket)
    ticket.predicted_department_id = directory.id_of(decision.predicted_code)
    if decision.assigned:
        ticket.department_id = directory.id_of(decision.department_code)
        ticket.needs_triage = False
        _move(ticket, S.ASSIGNED, "assigned", ROUTER, decision.detail, moment)
    else:
        _event(ticket, "triage", ROUTER, S.RECEIVED, S.RECEIVED, decision.detail, moment)


def apply_analysis(ticket: Ticket, analysis: Any) -> None:
    """Copy what the classifier said onto the ticket (kept even after staff correct it)."""
    ticket.topic = analysis.topic
    ticket.topic_confidence = float(analysis.topic_probability or 0.0)
    ticket.sentiment_score = float(analysis.sentiment_score)
    ticket.sentiment_label = analysis.sentiment_label
    ticket.keywords = list(analysis.keywords)
    # Analyzers without a request type (an older nlp, test doubles) leave it unknown.
    ticket.request_type = getattr(analysis, "request_type", None)
    probability = getattr(analysis, "request_type_probability", None)
    ticket.request_type_probability = (
        float(probability) if ticket.request_type and probability is not None else None
    )


def is_confident(ctx: ServiceContext, analysis: Any) -> bool:
    """Whether a prediction may route a ticket without a person looking at it.

    With [nlp] review_threshold unset, nlp's own cross-validated threshold decides (its
    needs_review); a configured threshold replaces it, lower as well as higher.
    """
    threshold = ctx.settings.nlp.review_threshold
    if threshold is None:
        return analysis.topic is not None and not analysis.needs_review
    probability = float(analysis.topic_probability or 0.0)
    return analysis.topic is not None and probability >= threshold


PRAISE = "表扬"
QUESTION = "咨询"


def is_praise(settings: Settings, analysis: Any) -> bool:
    """Whether nlp is sure enough that the text thanks or praises rather than complains."""
    return (
        getattr(analysis, "request_type", None) == PRAISE
        and float(getattr(analysis, "request_type_probability", 0.0) or 0.0)
        >= settings.nlp.praise_threshold
    )


class DepartmentDirectory:
    """The active departments as routing reads them: code -> (id, name), in id order.

    Loaded once per routed ticket (`active_department_directory`) or once per import, so
    that live filing and the bulk importer decide with the same pure rules
    (`decide_routing`) on the same facts.
    """

    def __init__(self, departments: Iterable[tuple]):
        # (code, id, name) or (code, id, name, name_en)
        self.ids: dict[str, int] = {}
        self.names: dict[str, str] = {}
        self.refs: dict[int, DepartmentRef] = {}
        for code, department_id, name, *name_en in departments:
            self.ids[code] = department_id
            self.names[code] = name
            self.refs[department_id] = DepartmentRef(
                department_id, code, name, name_en[0] if name_en else None
            )

    def __contains__(self, code: object) -> bool:
        return code in self.ids

    def __iter__(self):
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def id_of(self, code: str | None) -> int | None:
        return self.ids.get(code) if code is not None else None

    def ref(self, department_id: int | None) -> DepartmentRef | None:
        return self.refs.get(department_id) if department_id is not None else None


def active_department_directory(session: Session) -> DepartmentDirectory:
    """The county's active departments, for `decide_routing`."""
    return DepartmentDirectory(session.connection().execute(_ACTIVE_DEPARTMENTS))


_ACTIVE_DEPARTMENTS = (
    select(Department.code, Department.id, Department.name, Department.name_en)
    .where(Department.active.is_(True))
    .order_by(Department.id)
)


@dataclass(frozen=True)
class RoutingDecision:
    """What the routing rules do with a newly received ticket, from what nlp said.

    praise: filed as praise for `department_code` (None: no department recognised);
    otherwise assigned to `department_code` when `assigned`, else left in triage with
    `predicted_code` as the suggestion. `detail` is the routing event's detail.
    """

    praise: bool
    assigned: bool
    department_code: str | None
    predicted_code: str | None
    detail: dict


def decide_routing(
    ctx: ServiceContext, analysis: Any, text: str, directory: DepartmentDirectory
) -> RoutingDecision:
    """The one routing rule of a received ticket (route_ticket and the bulk importer).

    Praise (`is_praise`) goes to the department it names, else the one its keywords or
    topic point to; anything else to the topic's department (`choose_department_code`)
    when nlp is confident (`is_confident`), else to triage.
    """
    topic = getattr(analysis, "topic", None)
    if is_praise(ctx.settings, analysis):
        code = department_code_named_in(ctx, text, directory) or choose_department_code(
            ctx, topic, text, directory
        )
        probability = float(getattr(analysis, "request_type_probability", 0.0) or 0.0)
        detail = {"request_type": PRAISE, "probability": round(probability, 3), "department": code}
        return RoutingDecision(True, False, code, None, detail)
    code = choose_department_code(ctx, topic, text, directory)
    detail = {
        "topic": topic,
        "confidence": round(float(getattr(analysis, "topic_probability", 0.0) or 0.0), 3),
    }
    if code is not None and is_confident(ctx, analysis):
        return RoutingDecision(False, True, code, code, detail | {"department": code})
    return RoutingDecision(False, False, None, code, detail)


def record_praise(
    session: Session,
    ctx: ServiceContext,
    ticket: Ticket,
    moment: datetime,
    decision: RoutingDecision,
    directory: DepartmentDirectory,
) -> Ticket:
    """File a praise: recorded for the department it names, never in an inbox or a queue.

    The ticket gets no department_id (it is no department's complaint: indicators and
    inboxes never count it) and is closed at once with a `praise_recorded` event;
    praise_department_id keeps the department it thanks (`decide_routing`).
    """
    _record_praise(ticket, moment, decision, directory)
    session.flush()
    return ticket


def _record_praise(
    ticket: Any, moment: datetime, decision: RoutingDecision, directory: DepartmentDirectory
) -> None:
    ticket.praise_department_id = directory.id_of(decision.department_code)
    ticket.needs_triage = False
    _move(ticket, S.CLOSED, "praise_recorded", ROUTER, decision.detail, moment)


def is_filed_praise(ticket: Ticket) -> bool:
    """`praise_filed()` for one loaded ticket."""
    return (
        ticket.request_type == PRAISE
        and ticket.department_id is None
        and ticket.status == S.CLOSED
    )


def praise_filed() -> ColumnElement[bool]:
    """The tickets filed as praise (`record_praise`): closed as 表扬 with no department.

    Praise nlp was less sure of is routed like a complaint and gets a department, so it is
    not among these; it shows in the inbox with its request type.
    """
    return and_(
        Ticket.request_type == PRAISE,
        Ticket.department_id.is_(None),
        Ticket.status == S.CLOSED,
    )


def department_code_named_in(
    ctx: ServiceContext, text: str, directory: DepartmentDirectory
) -> str | None:
    """The active department whose name (with or without its 县/市 prefix) the text holds,
    else the one with the most [nlp] department_keywords in it; None when nothing matches."""
    for code, name in directory.names.items():
        if name in text or (len(name) > 3 and name[0] in "县市区镇" and name[1:] in text):
            return code
    keywords = ctx.settings.nlp.department_keywords
    hits = {code: sum(text.count(k) for k in keywords.get(code, [])) for code in directory}
    best = max(directory, key=lambda code: hits[code], default=None)
    return best if best is not None and hits[best] > 0 else None


def apply_request_type_sla(ctx: ServiceContext, ticket: Ticket) -> None:
    """A 咨询 gets [tickets] question_sla_working_days (when configured) instead of the SLA."""
    if ticket.first_response_at:
        return
    due = question_due_date(ctx, ticket.request_type, ticket.received_at)
    if due is not None:
        ticket.due_date = ticket.original_due_date = due


def question_due_date(
    ctx: ServiceContext, request_type: str | None, received: datetime
) -> date | None:
    """The due date of a 咨询 received at `received` when [tickets] question_sla_working_days
    is set; None otherwise (the usual SLA applies)."""
    days = ctx.settings.tickets.question_sla_working_days
    if days is None or request_type != QUESTION:
        return None
    return ctx.calendar.add_working_days(ctx.local_date(received), days)


def submit_complaint(
    session_factory: sessionmaker, ctx: ServiceContext, **fields: Any
) -> TicketView:
    """File and route a complaint in one short write transaction; NLP runs before it opens.

    The values are checked first, then the classifier reads the text with no transaction
    open (so the SQLite write lock is never held for NLP), then one transaction stores the
    ticket as routed. A classifier failure is logged and the ticket filed for triage: it is
    never lost. Takes the keyword arguments of `file_ticket`; returns a view that stays
    readable after the session has closed. A double submit returns the stored ticket as is.
    The two halves are `analyze_complaint` and `file_analyzed`, for a caller that queues
    its writers (the bot) and must not hold a writer's turn while the classifier runs.
    """
    analyzed = analyze_complaint(ctx, **fields)
    with session_factory.begin() as session:
        return file_analyzed(session, ctx, analyzed)


def analyze_complaint(ctx: ServiceContext, **fields: Any) -> dict[str, Any]:
    """The fields of `file_ticket` checked (ValidationFailed) and the classifier's answer
    added as `analysis`; no database. Give the result to `file_analyzed`."""
    analyzed = analyze_complaints(ctx, [fields])[0]
    if isinstance(analyzed, Exception):
        raise analyzed
    return analyzed


def analyze_complaints(
    ctx: ServiceContext, complaints: list[dict[str, Any]]
) -> list[dict[str, Any] | Exception]:
    """`analyze_complaint` for several complaints, their texts classified as one batch.

    One result per complaint, in order: what `analyze_complaint` returns, or the error it
    would raise (a refused complaint does not stop the others). Classifying texts together
    costs a fraction of classifying them one by one (nlp.analyze_many: one pass of each
    model over the batch), the same answer for each. A classifier failure files its
    complaints for triage, as for one; a failing batch is classified again text by text,
    so one odd text does not send the others to triage.
    """
    results: list[dict[str, Any] | Exception] = []
    readable: list[tuple[dict[str, Any], str]] = []  # (fields, the checked text)
    for fields in complaints:
        fields = fields | {"attachments": list(fields.get("attachments", ()))}
        try:
            checked = check_complaint(ctx, **fields)
        except Exception as error:  # noqa: BLE001 (this complaint's own answer)
            results.append(error)
            continue
        results.append(fields)
        readable.append((fields, checked["text"]))
    analyses = _classify(ctx, [text for _, text in readable])
    for (fields, _), analysis in zip(readable, analyses, strict=True):
        fields["analysis"] = analysis
    return results


def _classify(ctx: ServiceContext, texts: list[str]) -> list[Any]:
    if ctx.analyzer is None or not texts:
        return [None] * len(texts)
    if len(texts) > 1:
        try:
            return ctx.analyze_texts(texts)
        except Exception:
            log.exception("routing failed for a batch of complaints; classifying each alone")
    analyses = []
    for text in texts:
        try:
            analyses.append(ctx.analyzer(text))
        except Exception:
            log.exception("routing failed for a complaint; filed for triage")
            analyses.append(NOT_ROUTED)
    return analyses


def file_analyzed(session: Session, ctx: ServiceContext, analyzed: dict[str, Any]) -> TicketView:
    """Store and route a complaint `analyze_complaint` has read, in `session`'s transaction."""
    filed = store_complaint(session, ctx, **analyzed)
    return TicketView.of(filed) if isinstance(filed, Ticket) else filed.view()


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
    code = choose_department_code(ctx, topic, text, by_code)
    return by_code[code] if code is not None else None


def choose_department_code(
    ctx: ServiceContext, topic: str | None, text: str, active_codes: Collection[str]
) -> str | None:
    """The rule of `department_for_topic` on a known set of active department codes.

    A candidate with [nlp] min_corrections_per_department routing corrections takes the
    texts like those staff sent it (learned by `minyi nlp retrain`); keywords decide the rest.
    """
    candidates = [
        code
        for code in ctx.settings.nlp.topic_departments.get(topic or "", [])
        if code in active_codes
    ]
    if not candidates:
        return None
    learned = learned_department_code(ctx, text, candidates)
    if learned is not None:
        return learned
    keywords = ctx.settings.nlp.department_keywords
    hits = {code: sum(text.count(k) for k in keywords.get(code, [])) for code in candidates}
    best = max(candidates, key=lambda code: hits[code])  # first among equals
    return best if hits[best] > 0 else candidates[0]


def learned_department_code(ctx: ServiceContext, text: str, candidates: list[str]) -> str | None:
    """The candidate whose routing corrections `text` is like (nlp.department), once it has
    enough of them; None before any retrain, with NLP off, or when no candidate matches."""
    if not ctx.settings.nlp.enabled:
        return None
    try:
        from nlp import department
    except ImportError:
        return None
    minimum = ctx.settings.nlp.min_corrections_per_department
    suggestion = department.suggest(text, candidates, min_examples=minimum)
    return suggestion.code if suggestion is not None else None


def get_ticket(session: Session, number_or_id: object, *, for_update: bool = False) -> Ticket:
    """A ticket by public number or id; NotFound otherwise.

    Fetch with `for_update=True` before a move: two staff clicking "accept" at once then
    queue on the row (PostgreSQL), and the second sees the move already made and is refused.
    SQLite needs no row lock: its write transactions are serialised at BEGIN.
    """
    ref, column = _ticket_ref(number_or_id)
    query = select(Ticket).where(column == ref)
    if for_update:
        query = query.with_for_update(of=Ticket)
    ticket = session.scalar(query)
    if ticket is None:
        raise _unknown_ticket(ref)
    return ticket


def get_ticket_brief(session: Session, number_or_id: object) -> TicketBrief:
    """A ticket's number, owner, status and department in one SELECT; NotFound otherwise.

    For a button on a ticket (the citizen accepting the suggested department): a TicketView
    would load the events, attachments and closures too, five queries more.
    """
    ref, column = _ticket_ref(number_or_id)
    by = "id" if column is Ticket.id else "number"
    row = session.execute(_brief_query(by), {"ref": ref}).first()
    if row is None:
        raise _unknown_ticket(ref)
    department = None
    if row.department_id is not None:
        department = DepartmentRef(row.department_id, row.code, row.name, row.name_en)
    return TicketBrief(
        row.id, row.number, row.citizen_id, S(row.status), department, row.first_response_at
    )


def _ticket_ref(number_or_id: object):
    ref = check_ref(number_or_id, kind_zh="工单", kind_en="ticket")
    return ref, Ticket.id if isinstance(ref, int) else Ticket.number


def _unknown_ticket(ref) -> NotFound:
    return NotFound(f"找不到工单 {ref}", f"unknown ticket {ref}")


@functools.cache
def _brief_query(by: str):
    # Built once per key column: building it costs more CPU than SQLite takes to run it. Of
    # the tables, not the mapped classes: an ORM select goes through the ORM's execution and
    # row loading even for plain columns, which took more CPU than the query itself.
    tickets, departments = Ticket.__table__.c, Department.__table__.c
    return (
        select(
            tickets.id,
            tickets.number,
            tickets.citizen_id,
            tickets.status,
            tickets.first_response_at,
            departments.id.label("department_id"),
            departments.code,
            departments.name,
            departments.name_en,
        )
        .outerjoin(Department.__table__, departments.id == tickets.department_id)
        .where(tickets[by] == bindparam("ref"))
    )


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
    require(actor, "ticket.assign")
    department = get_department(session, department, active_only=True)
    moment = ctx.moment(at)
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
    """Send a ticket to another department (a bounce-back, counted), with a reason.

    An extension the old department asked for is withdrawn: the new one asks for its own.
    """
    _check_move(ticket, "reassign")
    require(actor, "ticket.reassign", department_id=ticket.department_id)
    reason = clean_text(reason, field_zh="改派理由", field_en="reason", max_chars=1000)
    department = get_department(session, department, active_only=True)
    if department.id == ticket.department_id:
        raise ValidationFailed(
            "改派的部门与当前部门相同", "the ticket is already with that department"
        )
    moment = ctx.moment(at)
    _record_correction(session, ticket, department, actor, moment)
    previous = ticket.department_id
    for request in session.scalars(
        select(ExtensionRequest).where(
            ExtensionRequest.ticket_id == ticket.id,
            ExtensionRequest.status == DecisionStatus.PENDING,
        )
    ):
        request.status = DecisionStatus.WITHDRAWN
        request.decided_at = moment
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
    require(actor, "ticket.start", department_id=ticket.department_id)
    moment = ctx.moment(at)
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
    require(actor, "ticket.reply", department_id=ticket.department_id)
    text = check_reply_text(ctx, text)
    moment = ctx.moment(at)
    ticket.reply_text = text
    ticket.first_replied_at = ticket.first_replied_at or moment
    ticket.last_replied_at = moment
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
    """Close a replied ticket (办结): a new closure round; the citizen is asked for a verdict."""
    _check_move(ticket, "close")
    require(actor, "ticket.close", department_id=ticket.department_id)
    moment = ctx.moment(at)
    ticket.first_closed_at = ticket.first_closed_at or moment
    ticket.last_closed_at = moment
    ticket.closures.append(
        TicketClosure(
            round=len(ticket.closures) + 1,
            department_id=ticket.department_id,
            due_date=ticket.due_date,
            closed_at=moment,
            closed_by=actor.label,
        )
    )
    _move(ticket, S.CLOSED, "closed", actor, {"round": len(ticket.closures)}, moment)
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
    """The citizen's 回访 answer on the latest closure; kept whatever it says.

    "Not resolved" reopens the ticket once (back to in progress); the next "not resolved"
    escalates it to the admins' queue instead of reopening it again.
    """
    _check_move(ticket, "verdict")
    require(actor, "ticket.verdict", citizen_id=ticket.citizen_id)
    closure = ticket.latest_closure
    if closure is None or closure.verdict_at is not None:
        raise IllegalTransition("该工单已回访评价", "this ticket already has the citizen's answer")
    resolved = check_flag(resolved, field_zh="问题是否已解决", field_en="resolved")
    if satisfaction is not None:
        satisfaction = check_score(satisfaction, field_zh="满意度", field_en="satisfaction")
    moment = ctx.moment(at)
    closure.resolved = resolved
    closure.satisfaction = satisfaction
    closure.verdict_at = moment
    closure.verdict_by = actor.label
    detail = {"resolved": resolved, "satisfaction": satisfaction, "round": closure.round}
    if resolved:
        _event(ticket, "verdict", actor, S.CLOSED, S.CLOSED, detail, moment)
    elif ticket.reopen_count == 0:
        ticket.reopen_count += 1
        _move(ticket, S.IN_PROGRESS, "reopened", actor, detail, moment)
    else:
        ticket.escalated = True
        ticket.escalated_at = moment
        ticket.escalation_count += 1
        _event(ticket, "escalated", actor, S.CLOSED, S.CLOSED, detail, moment)
    session.flush()
    return ticket


def escalated_tickets(session: Session, *, actor: Actor) -> list[Ticket]:
    """The admins' queue: tickets whose citizen said "not resolved" after a reopen."""
    require(actor, "ticket.handle_escalation")
    return list(
        session.scalars(
            select(Ticket).where(Ticket.escalated.is_(True)).order_by(Ticket.escalated_at)
        )
    )


def handle_escalation(
    session: Session,
    ctx: ServiceContext,
    ticket: Ticket,
    *,
    actor: Actor,
    note: object,
    reopen: object = False,
    at: datetime | None = None,
) -> Ticket:
    """An admin takes an escalated ticket off the queue, and may send it back to be redone."""
    require(actor, "ticket.handle_escalation")
    if not ticket.escalated:
        raise IllegalTransition("该工单不在升级队列中", "this ticket is not escalated")
    note = clean_text(note, field_zh="处理意见", field_en="note", max_chars=2000)
    reopen = check_flag(reopen, field_zh="是否重办", field_en="reopen")
    moment = ctx.moment(at)
    ticket.escalated = False
    detail = {"note": note, "reopen": reopen}
    if reopen:
        ticket.reopen_count += 1
        _move(ticket, S.IN_PROGRESS, "escalation_reopened", actor, detail, moment)
    else:
        _event(ticket, "escalation_handled", actor, ticket.status, ticket.status, detail, moment)
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
    require(actor, "ticket.request_extension", department_id=ticket.department_id)
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
    moment = ctx.moment(at)
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
    approve: object,
    at: datetime | None = None,
) -> ExtensionRequest:
    """An admin approves (the due date moves) or refuses (it does not) an extension.

    Only while the ticket is still being handled: moving the due date of a replied or closed
    ticket would rewrite its 按时办结 after the fact.
    """
    require(actor, "ticket.decide_extension")
    approve = check_flag(approve, field_zh="审批结果", field_en="approve")
    if request.status != DecisionStatus.PENDING:
        raise IllegalTransition("该延期申请已审批", "this extension request is already decided")
    ticket = session.get(Ticket, request.ticket_id)
    if ticket.status not in MOVES["request_extension"]:
        raise IllegalTransition(
            f"工单 {ticket.number} 已{STATUS_ZH[ticket.status]}，不能再审批延期",
            f"ticket {ticket.number} is {ticket.status.value}: its extension can no longer"
            " be decided",
        )
    moment = ctx.moment(at)
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
    # One message per step and reopen round, so a retried request never notifies twice. A web
    # or imported citizen has no sender listening: they read /t/<number>, nothing is queued.
    if ticket.citizen_id is not None and can_reach(session.get(Citizen, ticket.citizen_id)):
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
    ticket: Ticket | TicketDraft,
    kind: str,
    actor: Actor,
    from_status,
    to_status,
    detail: dict | None,
    moment: datetime,
) -> None:
    values = {
        "kind": kind,
        "from_status": from_status and str(from_status),
        "to_status": to_status and str(to_status),
        "actor": actor.label,
        "staff_user_id": actor.staff_user_id,
        "detail": detail,
        "created_at": moment,
    }
    # A draft keeps its events as rows for its INSERT (store_complaint).
    ticket.events.append(values if isinstance(ticket, TicketDraft) else TicketEvent(**values))
    # Every change stamps the ticket with the move's time, not the wall clock (`onupdate`).
    ticket.updated_at = moment


def next_ticket_number(session: Session, ctx: ServiceContext, day: date) -> str:
    """MY-YYYYMMDD-NNNN from a per-day counter bumped atomically (an upsert)."""
    return next_ticket_numbers(session, ctx, day, 1)[0]


def next_ticket_numbers(
    session: Session, ctx: ServiceContext, day: date, count: int, *, after: int = 0
) -> list[str]:
    """`count` consecutive numbers of `day`, all above serial `after` (numbers already used).

    One atomic upsert of the day's counter, so numbers drawn concurrently never repeat.
    """
    last = _draw_serials(session, day, count, after=after)
    return [_format_number(ctx, day, serial) for serial in range(last - count + 1, last + 1)]


def _draw_serials(session: Session, day: date, count: int, *, after: int = 0) -> int:
    """Bump the day's counter by `count` (above `after`); the last serial drawn."""
    connection = session.connection()
    statement = _counter_upsert(connection.dialect.name)
    return connection.execute(
        statement, {"day": day, "first": after + count, "after": after, "count": count}
    ).scalar_one()


def _format_number(ctx: ServiceContext, day: date, serial: int) -> str:
    return f"{ctx.settings.tickets.number_prefix}-{day:%Y%m%d}-{serial:04d}"


@functools.cache
def _counter_upsert(dialect: str):
    # Built once per dialect: building it costs more CPU than SQLite takes to run it.
    table = TicketNumberCounter.__table__
    postgres = dialect == "postgresql"
    insert = postgresql.insert if postgres else sqlite.insert
    larger = func.greatest if postgres else func.max  # SQLite's two-argument max is scalar
    return (
        insert(table)
        .values(day=bindparam("day"), last=bindparam("first"))
        .on_conflict_do_update(
            index_elements=[table.c.day],
            set_={"last": larger(table.c.last, bindparam("after")) + bindparam("count")},
        )
        .returning(table.c.last)
    )


def ticket_number_serial(ctx: ServiceContext, number: str) -> tuple[date, int] | None:
    """(day, serial) of a number in this county's MY-YYYYMMDD-NNNN form, else None."""
    prefix = ctx.settings.tickets.number_prefix
    match = re.fullmatch(rf"{re.escape(prefix)}-(\d{{8}})-(\d{{4,9}})", number)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%d").date(), int(match.group(2))
    except ValueError:
        return None
