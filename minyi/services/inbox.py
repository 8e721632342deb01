"""The staff complaint inbox: the tickets an actor may see, one ticket's file, what to do next.

Officers see their own department's tickets only; a ticket of another department is reported
exactly like an unknown number (NotFound), so an officer cannot learn which numbers exist
elsewhere. Admins and analysts see every ticket. The moves themselves stay in
minyi.services.tickets: `apply_action` only finds the ticket for the actor and hands over.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, text, true
from sqlalchemy.orm import Session, joinedload

from minyi.errors import IllegalTransition, NotFound, PermissionDenied, ValidationFailed
from minyi.models import (
    OPEN_TICKET,
    Channel,
    Citizen,
    DecisionStatus,
    Department,
    ExtensionRequest,
    Role,
    StaffUser,
    Ticket,
    TicketStatus,
)
from minyi.services import tickets
from minyi.services.actors import Actor
from minyi.services.catalog import get_department, list_departments
from minyi.services.context import ServiceContext
from minyi.services.paging import MAX_PER_PAGE, Page, page_number
from minyi.services.permissions import allowed, require
from minyi.services.validation import check_channel, clean_text
from minyi.services.views import (
    STATUS_ZH,
    DepartmentRef,
    TicketView,
    department_ref,
    mask_external_id,
    mask_phone,
)

log = logging.getLogger(__name__)

S = TicketStatus

PER_PAGE = 25
# "Due soon": the due date is today or within this many working days.
DUE_SOON_WORKING_DAYS = 2
SEARCH_MAX_CHARS = 100
EXCERPT_CHARS = 80
# Similar tickets are looked for among this many tickets received around the same time
# (before and after it), so a ticket's page costs a few small queries and one small matrix.
SIMILAR_BEFORE = 200
SIMILAR_AFTER = 100
SIMILAR_WINDOW = timedelta(days=30)
SIMILAR_SHOWN = 5

SENTIMENT_ZH = {"negative": "负面", "neutral": "中性", "positive": "正面"}
# nlp's request types (nlp.request_type.LABELS, which the web process does not import up front:
# it loads the models) with their English names; a test keeps the two lists equal.
REQUEST_TYPE_EN = {"投诉": "complaint", "咨询": "question", "建议": "suggestion", "表扬": "praise"}
CHANNEL_ZH = {
    Channel.TELEGRAM: "Telegram",
    Channel.WEB: "网页",
    Channel.SURVEY: "问卷",
    Channel.IMPORT: "导入",
    Channel.PHONE: "电话",
}
# The moves a ticket's page may offer, in the order a person works through them.
ACTIONS = (
    "assign",
    "start",
    "reply",
    "close",
    "reassign",
    "request_extension",
    "decide_extension",
    "handle_escalation",
)
ACTION_ZH = {
    "assign": "派单",
    "start": "受理",
    "reply": "回复",
    "close": "办结",
    "reassign": "改派",
    "request_extension": "申请延期",
    "decide_extension": "审批延期",
    "handle_escalation": "处理升级",
}
# What each kind of ticket event (tickets._event) is called in the history.
EVENT_ZH = {
    "received": "收到诉求",
    "imported": "从历史数据导入",
    "triage": "进入待分拣",
    "assigned": "派单",
    "citizen_routed": "市民更换部门",
    "reassigned": "改派",
    "started": "受理办理",
    "replied": "答复市民",
    "closed": "办结",
    "verdict": "市民回访评价",
    "reopened": "未解决，重新办理",
    "escalated": "再次未解决，升级督办",
    "escalation_handled": "升级已处理",
    "escalation_reopened": "督办重办",
    "extension_requested": "申请延期",
    "extension_approved": "延期获批",
    "extension_refused": "延期未获批",
    "praise_recorded": "表扬已记录",
}
# Statuses as events store them (plain strings) with their Chinese names.
STATUS_ZH_BY_VALUE = {status.value: name for status, name in STATUS_ZH.items()}
_FLAG_TRUE = {"1", "on", "true", "yes"}
_FLAG_FALSE = {"", "0", "off", "false", "no"}


# -- filters -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxFilters:
    """What the ticket list is narrowed to; every field optional."""

    status: TicketStatus | None = None
    topic: str | None = None
    sentiment: str | None = None
    request_type: str | None = None
    overdue: bool = False
    due_soon: bool = False
    channel: Channel | None = None
    received_from: date | None = None
    received_to: date | None = None
    search: str | None = None
    # A department code; only admins and analysts choose one (an officer's is their own).
    department: str | None = None

    def as_params(self) -> dict[str, str]:
        """The filters as query parameters (for paging links), empty ones left out."""
        params = {
            "status": self.status.value if self.status else None,
            "topic": self.topic,
            "sentiment": self.sentiment,
            "type": self.request_type,
            "overdue": "1" if self.overdue else None,
            "due_soon": "1" if self.due_soon else None,
            "channel": self.channel.value if self.channel else None,
            "from": self.received_from.isoformat() if self.received_from else None,
            "to": self.received_to.isoformat() if self.received_to else None,
            "q": self.search,
            "department": self.department,
        }
        return {key: value for key, value in params.items() if value}


def parse_filters(params: Mapping[str, Any]) -> InboxFilters:
    """InboxFilters from query parameters (status, topic, sentiment, type, overdue, due_soon,
    channel, from, to, q, department); ValidationFailed names the first bad one."""

    def param(name: str) -> str | None:
        value = params.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValidationFailed(f"筛选条件 {name} 无效", f"filter {name} is not valid")
        return value.strip() or None

    status = param("status")
    if status is not None:
        try:
            status = TicketStatus(status)
        except ValueError:
            raise ValidationFailed(
                f"未知的工单状态 {status!r}", f"unknown ticket status {status!r}"
            ) from None
    sentiment = param("sentiment")
    if sentiment is not None and sentiment not in SENTIMENT_ZH:
        raise ValidationFailed(
            f"未知的情感倾向 {sentiment!r}（可选：负面、中性、正面）",
            f"unknown sentiment {sentiment!r} (negative, neutral or positive)",
        )
    request_type = param("type")
    if request_type is not None and request_type not in REQUEST_TYPE_EN:
        raise ValidationFailed(
            f"未知的诉求类型 {request_type!r}（可选：{'、'.join(REQUEST_TYPE_EN)}）",
            f"unknown request type {request_type!r} ({', '.join(REQUEST_TYPE_EN.values())})",
        )
    channel = param("channel")
    received_from = _date_param(param("from"), "起始日期", "start date")
    received_to = _date_param(param("to"), "截止日期", "end date")
    if received_from and received_to and received_from > received_to:
        raise ValidationFailed(
            "起始日期不能晚于截止日期", "the start date must not be after the end date"
        )
    return InboxFilters(
        status=status,
        topic=_short(param("topic"), "主题", "topic", 40),
        sentiment=sentiment,
        request_type=request_type,
        overdue=_flag_param(params, "overdue", "超期", "overdue"),
        due_soon=_flag_param(params, "due_soon", "即将到期", "due soon"),
        channel=check_channel(channel) if channel is not None else None,
        received_from=received_from,
        received_to=received_to,
        search=_short(param("q"), "搜索内容", "search text", SEARCH_MAX_CHARS),
        department=_short(param("department"), "部门", "department", 40),
    )


def _short(value: str | None, field_zh: str, field_en: str, max_chars: int) -> str | None:
    return clean_text(
        value, field_zh=field_zh, field_en=field_en, max_chars=max_chars, required=False
    )


def _flag_param(params: Mapping[str, Any], name: str, field_zh: str, field_en: str) -> bool:
    value = params.get(name)
    if value is None:
        return False
    value = value.strip().lower() if isinstance(value, str) else value
    if value in _FLAG_TRUE:
        return True
    if value in _FLAG_FALSE:
        return False
    raise ValidationFailed(f"筛选条件“{field_zh}”无效", f"the {field_en} filter is not valid")


def _date_param(value: str | None, field_zh: str, field_en: str) -> date | None:
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            f"{field_zh}须为 YYYY-MM-DD 格式的日期", f"the {field_en} must be a date YYYY-MM-DD"
        ) from None


@dataclass(frozen=True)
class FilterChoices:
    """What the filter form offers: statuses, topics, sentiments, channels, departments."""

    statuses: tuple[tuple[str, str], ...]
    topics: tuple[str, ...]
    sentiments: tuple[tuple[str, str], ...]
    request_types: tuple[tuple[str, str], ...]
    channels: tuple[tuple[str, str], ...]
    # Empty for an officer, whose list is their own department's.
    departments: tuple[DepartmentRef, ...]


def filter_choices(session: Session, ctx: ServiceContext, *, actor: Actor) -> FilterChoices:
    """The choices of the inbox's filter form for `actor`."""
    _check_staff_viewer(actor)
    departments = (
        tuple(_department(d) for d in list_departments(session, active_only=False))
        if _sees_all(actor)
        else ()
    )
    return FilterChoices(
        statuses=tuple((s.value, STATUS_ZH[s]) for s in TicketStatus),
        topics=tuple(ctx.settings.nlp.topic_departments),
        sentiments=tuple(SENTIMENT_ZH.items()),
        request_types=tuple(REQUEST_TYPE_EN.items()),
        channels=tuple((c.value, CHANNEL_ZH[c]) for c in Channel),
        departments=departments,
    )


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketRow:
    """One line of a ticket list."""

    number: str
    status: TicketStatus
    channel: Channel
    excerpt: str
    department: DepartmentRef | None
    predicted_department: DepartmentRef | None
    topic: str | None
    topic_confidence: float | None
    sentiment_label: str | None
    received_at: datetime
    due_date: date
    overdue: bool
    due_soon: bool
    needs_triage: bool
    escalated: bool

    @property
    def status_zh(self) -> str:
        return STATUS_ZH[self.status]


@dataclass(frozen=True)
class ExtensionView:
    """An extension request as the ticket page and the admins' queue show it."""

    id: int
    ticket_number: str
    department: DepartmentRef | None
    working_days: int
    reason: str
    status: DecisionStatus
    requested_by: str | None
    created_at: datetime
    due_date: date
    # The due date an approval would give now (pending) or gave (approved).
    new_due_date: date | None
    decided_at: datetime | None


@dataclass(frozen=True)
class SimilarTicket:
    number: str
    similarity: float
    status: TicketStatus
    received_at: datetime
    excerpt: str
    department: DepartmentRef | None

    @property
    def status_zh(self) -> str:
        return STATUS_ZH[self.status]


@dataclass(frozen=True)
class CitizenRef:
    """Who filed, as staff may see it: the channel and masked identifiers only."""

    channel: Channel
    external_id_masked: str
    phone_masked: str | None


@dataclass(frozen=True)
class TicketDetail:
    """Everything a ticket's staff page (and /api/tickets/<number>) shows."""

    ticket: TicketView
    sentiment_score: float | None
    # 投诉 / 咨询 / 建议 / 表扬 as nlp read it, and how sure it was.
    request_type: str | None
    request_type_probability: float | None
    overdue: bool
    due_soon: bool
    citizen: CitizenRef | None
    similar: tuple[SimilarTicket, ...]
    # The moves the actor may make now, in ACTIONS order.
    actions: tuple[str, ...]
    pending_extension: ExtensionView | None
    extensions: tuple[ExtensionView, ...]
    # Filed as 表扬 (tickets.is_filed_praise): no department handles it, the one it thanks
    # reads it (None when the text named none).
    praise: bool = False
    praise_department: DepartmentRef | None = None

    def as_dict(self) -> dict[str, Any]:
        """The detail as JSON-ready values (dates in ISO 8601)."""
        t = self.ticket
        return {
            "number": t.number,
            "status": t.status.value,
            "status_zh": t.status_zh,
            "channel": t.channel,
            "text": t.text,
            "location": t.location,
            "contact_phone_masked": t.contact_phone_masked,
            "citizen": _plain(self.citizen),
            "attachments": [{"kind": k, "reference": r} for k, r in t.attachments],
            "department": _plain(t.department),
            "predicted_department": _plain(t.predicted_department),
            "nlp": {
                "topic": t.topic,
                "topic_confidence": t.topic_confidence,
                "sentiment_label": t.sentiment_label,
                "sentiment_score": self.sentiment_score,
                "keywords": list(t.keywords),
                "request_type": self.request_type,
                "request_type_probability": self.request_type_probability,
            },
            "needs_triage": t.needs_triage,
            "received_at": _iso(t.received_at),
            "response_due_date": _iso(t.response_due_date),
            "due_date": _iso(t.due_date),
            "original_due_date": _iso(t.original_due_date),
            "overdue": self.overdue,
            "due_soon": self.due_soon,
            "first_response_at": _iso(t.first_response_at),
            "first_replied_at": _iso(t.first_replied_at),
            "last_replied_at": _iso(t.last_replied_at),
            "reply_text": t.reply_text,
            "first_closed_at": _iso(t.first_closed_at),
            "last_closed_at": _iso(t.last_closed_at),
            "reopen_count": t.reopen_count,
            "bounce_count": t.bounce_count,
            "escalated": t.escalated,
            "closures": [_plain(c) for c in t.closures],
            "events": [_plain(e) for e in t.events],
            "similar": [_plain(s) for s in self.similar],
            "actions": list(self.actions),
            "pending_extension": _plain(self.pending_extension),
            "extensions": [_plain(e) for e in self.extensions],
            "praise": self.praise,
            "praise_department": _plain(self.praise_department),
        }


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _plain(obj: Any) -> Any:
    if obj is None:
        return None
    out = {}
    for name in obj.__dataclass_fields__:
        value = getattr(obj, name)
        if isinstance(value, date | datetime):
            value = value.isoformat()
        elif isinstance(value, DepartmentRef):
            value = _plain(value)
        elif isinstance(value, TicketStatus | DecisionStatus | Channel):
            value = value.value
        out[name] = value
    return out


# -- who sees what -----------------------------------------------------------------------------


def _check_staff_viewer(actor: Actor) -> None:
    """Refuse anyone but a staff member allowed to read tickets (officers: of their dept)."""
    if not isinstance(actor, Actor) or actor.kind != "staff":
        raise PermissionDenied("仅限工作人员查看工单", "only staff may read the ticket inbox")
    require(actor, "ticket.view", department_id=actor.department_id)


def _visible_to(actor: Actor) -> ColumnElement[bool]:
    """The tickets `actor` may see: all of them, or an officer's own department's."""
    if actor.role == Role.OFFICER:
        return Ticket.department_id == actor.department_id
    return true()


def _sees_all(actor: Actor) -> bool:
    return actor.role != Role.OFFICER


def _may_see(actor: Actor, ticket: Ticket) -> bool:
    if _sees_all(actor):
        return True
    if ticket.department_id is not None:
        return ticket.department_id == actor.department_id
    # Praise is filed with no department (it is in no inbox) but is read by the department it
    # thanks: its officers open it from the 表扬 page like any ticket of theirs.
    return (
        tickets.is_filed_praise(ticket)
        and ticket.praise_department_id is not None
        and ticket.praise_department_id == actor.department_id
    )


def _not_found(number: object) -> NotFound:
    # The same words as tickets.get_ticket's, so "elsewhere" and "nowhere" look alike.
    return NotFound(f"找不到工单 {number}", f"unknown ticket {number}")


def visible_ticket(
    session: Session, number: object, *, actor: Actor, for_update: bool = False
) -> Ticket:
    """The ticket `number` if `actor` may see it; NotFound for another department's."""
    _check_staff_viewer(actor)
    if not isinstance(number, str):  # staff pages name tickets by public number, never by id
        raise _not_found(number)
    ticket = tickets.get_ticket(session, number, for_update=for_update)
    if not _may_see(actor, ticket):
        raise _not_found(ticket.number)
    return ticket


def ticket_attachment(session: Session, number: object, index: object, *, actor: Actor):
    """The (kind, reference) of attachment `index` (0-based) of a ticket `actor` may see."""
    ticket = visible_ticket(session, number, actor=actor)
    attachments = _attachments(ticket)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(attachments):
        raise NotFound("找不到该附件", "unknown attachment")
    return attachments[index].kind, attachments[index].reference


def _attachments(ticket: Ticket) -> list:
    return sorted(ticket.attachments, key=lambda a: a.id)


# -- lists -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Today:
    today: date
    due_soon_until: date


def _today(ctx: ServiceContext) -> _Today:
    today = ctx.local_date(ctx.now())
    return _Today(today, ctx.calendar.add_working_days(today, DUE_SOON_WORKING_DAYS))


OPEN_STATUSES = tuple(status for status in TicketStatus if status != S.CLOSED)


def _is_open() -> ColumnElement[bool]:
    # Word for word the condition of the open-ticket indexes (models.OPEN_TICKET).
    return text(f"tickets.{OPEN_TICKET}")


def _overdue(day: _Today) -> ColumnElement[bool]:
    return and_(_is_open(), Ticket.due_date < day.today)


def _due_soon(day: _Today) -> ColumnElement[bool]:
    return and_(_is_open(), Ticket.due_date.between(day.today, day.due_soon_until))



def _conditions(
    session: Session, ctx: ServiceContext, actor: Actor, filters: InboxFilters, day: _Today
) -> list[ColumnElement[bool]]:
    where = [_visible_to(actor)]
    if filters.department is not None:
        department = get_department(session, filters.department)
        if not _sees_all(actor) and department.id != actor.department_id:
            raise NotFound(
                f"找不到部门 {filters.department}", f"unknown department {filters.department}"
            )
        where.append(Ticket.department_id == department.id)
    if filters.status is not None:
        where.append(Ticket.status == filters.status)
    if filters.topic is not None:
        where.append(Ticket.topic == filters.topic)
    if filters.sentiment is not None:
        where.append(Ticket.sentiment_label == filters.sentiment)
    if filters.request_type is not None:
        where.append(Ticket.request_type == filters.request_type)
    if filters.channel is not None:
        where.append(Ticket.channel == filters.channel)
    if filters.overdue and filters.due_soon:
        where.append(and_(_is_open(), Ticket.due_date <= day.due_soon_until))
    elif filters.overdue:
        where.append(_overdue(day))
    elif filters.due_soon:
        where.append(_due_soon(day))
    if filters.received_from is not None:
        where.append(Ticket.received_at >= ctx.local_midnight(filters.received_from))
    if filters.received_to is not None:
        end = ctx.local_midnight(filters.received_to + timedelta(days=1))
        where.append(Ticket.received_at < end)
    if filters.search is not None:
        q = filters.search
        where.append(
            or_(
                Ticket.text.icontains(q, autoescape=True),
                Ticket.number.icontains(q, autoescape=True),
                Ticket.location.icontains(q, autoescape=True),
            )
        )
    return where


def _count(session: Session, where: list[ColumnElement[bool]]) -> int:
    # count(*), not count(id): PostgreSQL then counts off an index without reading the rows.
    return session.scalar(select(func.count()).select_from(Ticket).where(*where)) or 0


def _page(
    session: Session,
    segments: list[tuple[list[ColumnElement[bool]], list]],
    counts: list[int],
    day: _Today,
    page: object,
    per_page: int,
) -> Page:
    """One page of the rows of `segments` (conditions, order; `counts` rows each), listed
    one after the other.

    Each segment is ordered by columns an index can serve, so a page reads a few index
    entries and its rows instead of sorting every ticket of the county.
    """
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    total = sum(counts)
    # Past the last page (a stale link) shows the last one, as every staff list does.
    number = min(page_number(page), max(1, -(-total // per_page)))
    skip, ids = (number - 1) * per_page, []
    for (where, order), count in zip(segments, counts, strict=True):
        if len(ids) == per_page:
            break
        if skip >= count:
            skip -= count
            continue
        ids += session.scalars(
            select(Ticket.id)
            .where(*where)
            .order_by(*order)
            .limit(per_page - len(ids))
            .offset(skip)
        )
        skip = 0
    found = {}
    if ids:
        found = {
            t.id: t
            for t in session.scalars(
                select(Ticket)
                .options(joinedload(Ticket.department), joinedload(Ticket.predicted_department))
                .where(Ticket.id.in_(ids))
            )
        }
    return Page(
        items=[_row(found[i], day) for i in ids], number=number, per_page=per_page, total=total
    )


def list_tickets(
    session: Session,
    ctx: ServiceContext,
    *,
    actor: Actor,
    filters: InboxFilters | None = None,
    page: object = 1,
    per_page: int = PER_PAGE,
) -> Page:
    """The tickets `actor` sees, filtered: open ones by due date (so the overdue come first,
    the most overdue at the top), then closed ones newest first."""
    _check_staff_viewer(actor)
    day = _today(ctx)
    filters = filters or InboxFilters()
    where = _conditions(session, ctx, actor, filters, day)
    opened = [*where, _is_open()]
    closed = [*where, Ticket.status == S.CLOSED]
    by_due = [Ticket.due_date, Ticket.id]
    newest = [Ticket.received_at.desc(), Ticket.id.desc()]
    # A segment the filters rule out is not queried at all: the database would not always
    # see that "closed" and "overdue" exclude each other, and scan for nothing.
    if filters.status in OPEN_STATUSES or filters.overdue or filters.due_soon:
        segments, counts = [(opened, by_due)], [_count(session, opened)]
    elif filters.status == S.CLOSED:
        segments, counts = [(closed, newest)], [_count(session, closed)]
    else:
        # The closed count is the total less the open ones (few, read off an index): one
        # pass over the matching tickets instead of two when a search has to read them all.
        open_count = _count(session, opened)
        segments = [(opened, by_due), (closed, newest)]
        counts = [open_count, _count(session, where) - open_count]
    return _page(session, segments, counts, day, page, per_page)


def triage_queue(
    session: Session,
    ctx: ServiceContext,
    *,
    actor: Actor,
    page: object = 1,
    per_page: int = PER_PAGE,
) -> Page:
    """Tickets waiting for a person to route them (the NLP was unsure), oldest first."""
    require(actor, "ticket.assign")
    where = [Ticket.status == S.RECEIVED, Ticket.needs_triage.is_(True)]
    segments = [(where, [Ticket.received_at, Ticket.id])]
    return _page(session, segments, [_count(session, where)], _today(ctx), page, per_page)


def escalation_queue(session: Session, ctx: ServiceContext, *, actor: Actor) -> list[TicketRow]:
    """The admins' queue of escalated tickets (second "not resolved"), oldest first."""
    day = _today(ctx)
    return [_row(t, day) for t in tickets.escalated_tickets(session, actor=actor)]


def pending_extensions(
    session: Session, ctx: ServiceContext, *, actor: Actor
) -> list[ExtensionView]:
    """Extension requests an admin can still decide, oldest first.

    A request whose ticket was replied to or closed meanwhile is left out: its due date can
    no longer move (see tickets.decide_extension), so there is nothing left to decide.
    """
    require(actor, "ticket.decide_extension")
    found = session.execute(
        select(ExtensionRequest, Ticket)
        .join(Ticket, Ticket.id == ExtensionRequest.ticket_id)
        .options(joinedload(Ticket.department))
        .where(
            ExtensionRequest.status == DecisionStatus.PENDING,
            Ticket.status.in_(tickets.MOVES["request_extension"]),
        )
        .order_by(ExtensionRequest.created_at, ExtensionRequest.id)
    ).all()
    names = _usernames(session, {r.requested_by_id for r, _ in found})
    return [_extension(ctx, request, ticket, names) for request, ticket in found]


def _row(ticket: Ticket, day: _Today) -> TicketRow:
    is_open = ticket.status != S.CLOSED
    return TicketRow(
        number=ticket.number,
        status=TicketStatus(ticket.status),
        channel=Channel(ticket.channel),
        excerpt=_excerpt(ticket.text),
        department=_department(ticket.department),
        predicted_department=_department(ticket.predicted_department),
        topic=ticket.topic,
        topic_confidence=ticket.topic_confidence,
        sentiment_label=ticket.sentiment_label,
        received_at=ticket.received_at,
        due_date=ticket.due_date,
        overdue=is_open and ticket.due_date < day.today,
        due_soon=is_open and day.today <= ticket.due_date <= day.due_soon_until,
        needs_triage=ticket.needs_triage,
        escalated=ticket.escalated,
    )


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _department(department: Department | None) -> DepartmentRef | None:
    if department is None:
        return None
    return DepartmentRef(department.id, department.code, department.name, department.name_en)


# -- one ticket --------------------------------------------------------------------------------


def ticket_detail(
    session: Session, ctx: ServiceContext, number: object, *, actor: Actor
) -> TicketDetail:
    """The ticket `number` as `actor` may see it; NotFound for another department's."""
    ticket = visible_ticket(session, number, actor=actor)
    day = _today(ctx)
    row = _row(ticket, day)
    requests = list(
        session.scalars(
            select(ExtensionRequest)
            .where(ExtensionRequest.ticket_id == ticket.id)
            .order_by(ExtensionRequest.created_at, ExtensionRequest.id)
        )
    )
    names = _usernames(session, {r.requested_by_id for r in requests})
    extensions = tuple(_extension(ctx, r, ticket, names) for r in requests)
    pending = next((e for e in extensions if e.status == DecisionStatus.PENDING), None)
    # Attachments in the order they were stored: the index names one in its download link.
    view = replace(
        TicketView.of(ticket),
        attachments=tuple((a.kind, a.reference) for a in _attachments(ticket)),
    )
    return TicketDetail(
        ticket=view,
        sentiment_score=ticket.sentiment_score,
        request_type=ticket.request_type,
        request_type_probability=ticket.request_type_probability,
        overdue=row.overdue,
        due_soon=row.due_soon,
        citizen=_citizen(session, ticket),
        similar=tuple(similar_tickets(session, ticket, actor=actor)),
        actions=available_actions(actor, ticket, has_pending_extension=pending is not None),
        pending_extension=pending,
        extensions=extensions,
        praise=tickets.is_filed_praise(ticket),
        praise_department=department_ref(ticket.praise_department),
    )


def available_actions(
    actor: Actor, ticket: Ticket, *, has_pending_extension: bool
) -> tuple[str, ...]:
    """The moves `actor` may make on `ticket` now: its status allows them and so do the rules."""
    department_id = ticket.department_id
    possible = []
    for action in ACTIONS:
        if action == "decide_extension":
            ok = (
                has_pending_extension
                and ticket.status in tickets.MOVES["request_extension"]
                and allowed(actor, "ticket.decide_extension")
            )
        elif action == "handle_escalation":
            ok = ticket.escalated and allowed(actor, "ticket.handle_escalation")
        else:
            ok = ticket.status in tickets.MOVES[action] and allowed(
                actor, f"ticket.{action}", department_id=department_id
            )
            if action == "request_extension":
                ok = ok and not has_pending_extension
        if ok:
            possible.append(action)
    return tuple(possible)


def similar_tickets(session: Session, ticket: Ticket, *, actor: Actor) -> list[SimilarTicket]:
    """Near-duplicates of `ticket` among tickets `actor` sees received around the same time."""
    try:
        from nlp.duplicates import find_duplicates_of
    except ImportError:  # NLP not installed: the page simply lists none
        return []
    base = (
        select(
            Ticket.number,
            Ticket.text,
            Ticket.status,
            Ticket.received_at,
            Department.id,
            Department.code,
            Department.name,
            Department.name_en,
        )
        .outerjoin(Department, Department.id == Ticket.department_id)
        .where(
            _visible_to(actor),
            Ticket.id != ticket.id,
            Ticket.received_at.between(
                ticket.received_at - SIMILAR_WINDOW, ticket.received_at + SIMILAR_WINDOW
            ),
        )
    )
    before = session.execute(
        base.where(Ticket.received_at <= ticket.received_at)
        .order_by(Ticket.received_at.desc(), Ticket.id.desc())
        .limit(SIMILAR_BEFORE)
    ).all()
    after = session.execute(
        base.where(Ticket.received_at > ticket.received_at)
        .order_by(Ticket.received_at, Ticket.id)
        .limit(SIMILAR_AFTER)
    ).all()
    candidates = [*before, *after]
    found = find_duplicates_of(ticket.text, [c.text for c in candidates], top=SIMILAR_SHOWN)
    out = []
    for duplicate in found:
        c = candidates[duplicate.index]
        department = DepartmentRef(c[4], c[5], c[6], c[7]) if c[4] is not None else None
        out.append(
            SimilarTicket(
                number=c.number,
                similarity=duplicate.similarity,
                status=TicketStatus(c.status),
                received_at=c.received_at,
                excerpt=_excerpt(c.text),
                department=department,
            )
        )
    return out


def _citizen(session: Session, ticket: Ticket) -> CitizenRef | None:
    if ticket.citizen_id is None:
        return None
    citizen = session.get(Citizen, ticket.citizen_id)
    return CitizenRef(
        channel=Channel(citizen.channel),
        external_id_masked=mask_external_id(citizen.external_id),
        phone_masked=mask_phone(citizen.phone),
    )


def _usernames(session: Session, ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    found = session.execute(select(StaffUser.id, StaffUser.username).where(StaffUser.id.in_(ids)))
    return {user_id: username for user_id, username in found}


def _extension(
    ctx: ServiceContext,
    request: ExtensionRequest,
    ticket: Ticket,
    names: dict[int, str],
) -> ExtensionView:
    new_due = request.new_due_date
    if new_due is None and request.status == DecisionStatus.PENDING:
        new_due = ctx.calendar.add_working_days(ticket.due_date, request.working_days)
    return ExtensionView(
        id=request.id,
        ticket_number=ticket.number,
        department=_department(ticket.department),
        working_days=request.working_days,
        reason=request.reason,
        status=DecisionStatus(request.status),
        requested_by=names.get(request.requested_by_id),
        created_at=request.created_at,
        due_date=ticket.due_date,
        new_due_date=new_due,
        decided_at=request.decided_at,
    )


# -- moves -------------------------------------------------------------------------------------


def apply_action(
    session: Session,
    ctx: ServiceContext,
    number: object,
    action: object,
    *,
    actor: Actor,
    fields: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> TicketView:
    """Make the move `action` on the ticket `number` for `actor`, with its form `fields`.

    The ticket is found as `ticket_detail` finds it (NotFound for another department's) and
    locked; the move itself, its rules and its messages are minyi.services.tickets'.
    Fields: department (assign, reassign), reason (reassign, request_extension), text
    (reply), working_days (request_extension), decision approve/refuse (decide_extension),
    note and decision close/reopen (handle_escalation).
    """
    if action not in ACTIONS:
        raise ValidationFailed(f"未知的操作 {action!r}", f"unknown action {action!r}")
    fields = fields or {}
    ticket = visible_ticket(session, number, actor=actor, for_update=True)
    if action == "assign":
        tickets.assign(session, ctx, ticket, _field(fields, "department"), actor=actor, at=at)
    elif action == "reassign":
        tickets.reassign(
            session,
            ctx,
            ticket,
            _field(fields, "department"),
            actor=actor,
            reason=fields.get("reason"),
            at=at,
        )
    elif action == "start":
        tickets.start(session, ctx, ticket, actor=actor, at=at)
    elif action == "reply":
        tickets.reply(session, ctx, ticket, actor=actor, text=fields.get("text"), at=at)
    elif action == "close":
        tickets.close(session, ctx, ticket, actor=actor, at=at)
    elif action == "request_extension":
        tickets.request_extension(
            session,
            ctx,
            ticket,
            actor=actor,
            working_days=fields.get("working_days"),
            reason=fields.get("reason"),
            at=at,
        )
    elif action == "decide_extension":
        require(actor, "ticket.decide_extension")
        request = session.scalar(
            select(ExtensionRequest)
            .where(
                ExtensionRequest.ticket_id == ticket.id,
                ExtensionRequest.status == DecisionStatus.PENDING,
            )
            .with_for_update()
        )
        if request is None:
            raise IllegalTransition(
                f"工单 {ticket.number} 没有待审批的延期申请",
                f"ticket {ticket.number} has no pending extension request",
            )
        approve = _decision(fields, {"approve": True, "refuse": False})
        tickets.decide_extension(session, ctx, request, actor=actor, approve=approve, at=at)
    else:  # handle_escalation
        reopen = _decision(fields, {"reopen": True, "close": False})
        tickets.handle_escalation(
            session, ctx, ticket, actor=actor, note=fields.get("note"), reopen=reopen, at=at
        )
    return TicketView.of(ticket)


def _field(fields: Mapping[str, Any], name: str) -> Any:
    value = fields.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationFailed("请选择部门", "choose a department")
    return value


def _decision(fields: Mapping[str, Any], choices: dict[str, bool]) -> bool:
    value = fields.get("decision")
    if value not in choices:
        raise ValidationFailed("请选择审批结果", f"choose {' or '.join(choices)}")
    return choices[value]
