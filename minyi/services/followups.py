"""差评 follow-ups: the staff queue, one follow-up in detail, its steps, and exclusion appeals.

A 差评 opens a follow-up (minyi.services.ratings.record_rating). 谁办理、谁负责: a named staff
member verifies what happened, rectifies what can be fixed (or says why it cannot be) and
answers the citizen by the working-day deadline; the answer reaches the citizen through the
outbox when their channel can be reached. A malicious rating may be excluded from the
indicators through an appeal that an admin decides; both are audited, and nothing is deleted.

Officers see and act on their own department only (another department's follow-up is "not
found"); analysts read every department; admins do everything.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from minyi.db import insert_or_get
from minyi.errors import IllegalTransition, NotFound, ValidationFailed
from minyi.models import (
    BadReviewFollowUp,
    Citizen,
    DecisionStatus,
    Department,
    FollowUpStatus,
    OutboxMessage,
    Outlet,
    Rating,
    RatingAppeal,
    Role,
    Service,
)
from minyi.services.actors import Actor
from minyi.services.audit import record_audit
from minyi.services.context import ServiceContext
from minyi.services.outbox import can_reach, enqueue_message
from minyi.services.paging import DEFAULT_PER_PAGE, Page, paginate
from minyi.services.permissions import allowed, require
from minyi.services.staff import staff_names
from minyi.services.validation import check_day, check_flag, check_ref, clean_text
from minyi.services.views import DepartmentRef, RatingView, mask_external_id, mask_phone

# Still to be worked on: not yet reported back, not excluded.
OPEN_STATUSES = (FollowUpStatus.OPEN, FollowUpStatus.RECTIFIED)
NOTE_MAX_CHARS = 2000
# "Due soon" in the queue: the deadline falls within this many working days from today.
DUE_SOON_WORKING_DAYS = 2

STATUS_FILTERS = {
    "open": (OPEN_STATUSES, "待整改", "open"),
    "done": ((FollowUpStatus.COMPLETED,), "已反馈", "reported back"),
    "excluded": ((FollowUpStatus.EXCLUDED,), "已排除", "excluded"),
    "all": (tuple(FollowUpStatus), "全部", "all"),
}

STATUS_ZH = {
    FollowUpStatus.OPEN: "待整改",
    FollowUpStatus.RECTIFIED: "已整改，待反馈",
    FollowUpStatus.COMPLETED: "已反馈市民",
    FollowUpStatus.EXCLUDED: "申诉通过，已排除",
}
STATUS_EN = {
    FollowUpStatus.OPEN: "open",
    FollowUpStatus.RECTIFIED: "rectified, answer pending",
    FollowUpStatus.COMPLETED: "reported back",
    FollowUpStatus.EXCLUDED: "excluded by appeal",
}
APPEAL_ZH = {
    DecisionStatus.PENDING: "待审核",
    DecisionStatus.APPROVED: "已通过",
    DecisionStatus.REFUSED: "未通过",
    DecisionStatus.WITHDRAWN: "已撤回",
}


# -- looking one up ----------------------------------------------------------------------


def _check_can_view(actor: Actor) -> None:
    # An officer passes with their own department; admins and analysts with any.
    require(actor, "follow_up.view", department_id=getattr(actor, "department_id", None))


def _is_row_id(ref: int | str) -> bool:
    # Ids are 32-bit on PostgreSQL: comparing with a larger number is an error, not a miss.
    return isinstance(ref, int) and 0 < ref < 2**31


def _not_found(ref: object) -> NotFound:
    return NotFound(f"找不到差评整改记录 {ref}", f"unknown follow-up {ref}")


def get_follow_up(
    session: Session, ref: object, *, actor: Actor, for_update: bool = False
) -> BadReviewFollowUp:
    """The follow-up with id `ref` as `actor` may see it; NotFound also for another department's.

    Fetch with `for_update=True` before a step: two clicks at once then queue on the row
    (PostgreSQL) and the second is refused; SQLite serialises write transactions at BEGIN.
    """
    _check_can_view(actor)
    ref = check_ref(ref, kind_zh="差评整改记录", kind_en="follow-up")
    if not _is_row_id(ref):
        raise _not_found(ref)
    query = select(BadReviewFollowUp).where(BadReviewFollowUp.id == ref)
    if for_update:
        query = query.with_for_update(of=BadReviewFollowUp)
    follow_up = session.scalar(query)
    if follow_up is None or not allowed(
        actor, "follow_up.view", department_id=follow_up.department_id
    ):
        raise _not_found(ref)
    return follow_up


def get_appeal(
    session: Session, ref: object, *, actor: Actor, for_update: bool = False
) -> RatingAppeal:
    """An exclusion appeal by id, for the admins who decide them; NotFound otherwise."""
    require(actor, "rating.decide_appeal")
    ref = check_ref(ref, kind_zh="申诉", kind_en="appeal")
    appeal = None
    if _is_row_id(ref):
        query = select(RatingAppeal).where(RatingAppeal.id == ref)
        if for_update:
            query = query.with_for_update(of=RatingAppeal)
        appeal = session.scalar(query)
    if appeal is None:
        raise NotFound(f"找不到申诉 {ref}", f"unknown appeal {ref}")
    return appeal


# -- the steps ---------------------------------------------------------------------------


def _check_still_open(follow_up: BadReviewFollowUp) -> None:
    if follow_up.status == FollowUpStatus.COMPLETED:
        raise IllegalTransition("该差评已整改反馈", "this follow-up is already completed")
    if follow_up.status == FollowUpStatus.EXCLUDED:
        raise IllegalTransition(
            "该差评已经申诉核实为无效，无需整改", "this rating was excluded: nothing to rectify"
        )


def _check_note(value: object, field_zh: str, field_en: str) -> str:
    return clean_text(value, field_zh=field_zh, field_en=field_en, max_chars=NOTE_MAX_CHARS)


def _audit_step(
    session: Session,
    follow_up: BadReviewFollowUp,
    action: str,
    actor: Actor,
    before: FollowUpStatus,
    note: str,
    moment: datetime,
) -> None:
    record_audit(
        session,
        actor=actor,
        action=action,
        object_type="follow_up",
        object_id=follow_up.id,
        before={"status": FollowUpStatus(before).value},
        after={"status": FollowUpStatus(follow_up.status).value, "note": note},
        at=moment,
    )


def verify_follow_up(
    session: Session,
    ctx: ServiceContext,
    follow_up: BadReviewFollowUp,
    *,
    actor: Actor,
    note: object,
    at: datetime | None = None,
) -> BadReviewFollowUp:
    """Record what checking the 差评 found (核实情况): the first step, taken once."""
    require(actor, "follow_up.complete", department_id=follow_up.department_id)
    _check_still_open(follow_up)
    if follow_up.verified_at is not None:
        raise IllegalTransition("该差评已核实", "this follow-up is already verified")
    note = _check_note(note, "核实情况", "verification")
    moment = ctx.moment(at)
    before = follow_up.status
    follow_up.verified_at = moment
    follow_up.verified_by_id = actor.staff_user_id
    follow_up.verification_note = note
    _audit_step(session, follow_up, "follow_up.verify", actor, before, note, moment)
    session.flush()
    return follow_up


def rectify_follow_up(
    session: Session,
    ctx: ServiceContext,
    follow_up: BadReviewFollowUp,
    *,
    actor: Actor,
    note: object,
    at: datetime | None = None,
) -> BadReviewFollowUp:
    """Record the rectification (fixed, put on the ledger, or no legal basis), once verified."""
    require(actor, "follow_up.complete", department_id=follow_up.department_id)
    _check_still_open(follow_up)
    if follow_up.rectified_at is not None:
        raise IllegalTransition("该差评已记录整改", "this follow-up's rectification is recorded")
    if follow_up.verified_at is None:
        raise IllegalTransition(
            "请先记录核实情况，再记录整改", "record the verification before the rectification"
        )
    note = _check_note(note, "整改情况", "rectification")
    moment = ctx.moment(at)
    before = follow_up.status
    follow_up.rectified_at = moment
    follow_up.rectified_by_id = actor.staff_user_id
    follow_up.rectification_note = note
    follow_up.status = FollowUpStatus.RECTIFIED
    _audit_step(session, follow_up, "follow_up.rectify", actor, before, note, moment)
    session.flush()
    return follow_up


def complete_follow_up(
    session: Session,
    ctx: ServiceContext,
    follow_up: BadReviewFollowUp,
    *,
    actor: Actor,
    note: object,
    at: datetime | None = None,
) -> BadReviewFollowUp:
    """Answer the citizen (反馈): the loop is complete and the citizen is asked to rate again.

    A step not recorded before is taken by this answer, in one go (a fix made at once needs
    no separate notes). The answer is queued to the citizen when their channel is reachable.
    """
    require(actor, "follow_up.complete", department_id=follow_up.department_id)
    _check_still_open(follow_up)
    note = _check_note(note, "反馈内容", "answer to the citizen")
    moment = ctx.moment(at)
    before = follow_up.status
    if follow_up.verified_at is None:
        follow_up.verified_at = moment
        follow_up.verified_by_id = actor.staff_user_id
    if follow_up.rectified_at is None:
        follow_up.rectified_at = moment
        follow_up.rectified_by_id = actor.staff_user_id
    follow_up.completed_at = moment
    follow_up.completed_by_id = actor.staff_user_id
    follow_up.status = FollowUpStatus.COMPLETED
    follow_up.note = note
    rating = follow_up.rating
    citizen = session.get(Citizen, rating.citizen_id) if rating.citizen_id is not None else None
    queued = can_reach(citizen)
    if queued:
        enqueue_message(
            session,
            citizen_id=citizen.id,
            kind="follow_up_done",
            dedupe_key=f"follow_up:{follow_up.id}:done",
            payload={"rating_id": rating.id, "note": note},
            at=moment,
        )
    record_audit(
        session,
        actor=actor,
        action="follow_up.complete",
        object_type="follow_up",
        object_id=follow_up.id,
        before={"status": FollowUpStatus(before).value},
        after={"status": follow_up.status.value, "note": note, "queued_to_citizen": queued},
        at=moment,
    )
    session.flush()
    return follow_up


# -- exclusion appeals -------------------------------------------------------------------


def request_exclusion(
    session: Session,
    ctx: ServiceContext,
    rating: Rating,
    *,
    actor: Actor,
    reason: object,
    at: datetime | None = None,
) -> RatingAppeal:
    """Ask to exclude a malicious rating; it stays counted until an admin approves.

    One live appeal per rating: not while another is pending, never on an excluded rating.
    """
    require(actor, "rating.appeal", department_id=rating.department_id)
    reason = clean_text(reason, field_zh="申诉理由", field_en="reason", max_chars=NOTE_MAX_CHARS)
    if rating.excluded:
        raise IllegalTransition("该评价已被排除", "this rating is already excluded")
    live = select(RatingAppeal).where(
        RatingAppeal.rating_id == rating.id,
        RatingAppeal.status.in_([DecisionStatus.PENDING, DecisionStatus.APPROVED]),
    )
    already = IllegalTransition(
        "该评价已有待审核的申诉", "this rating already has a pending appeal"
    )
    if session.scalar(live) is not None:
        raise already
    moment = ctx.moment(at)
    appeal = RatingAppeal(
        rating_id=rating.id,
        reason=reason,
        requested_by_id=actor.staff_user_id,
        created_at=moment,
    )
    _, created = insert_or_get(session, appeal, live)
    if not created:  # another officer filed one at the same moment
        raise already
    record_audit(
        session,
        actor=actor,
        action="appeal.request",
        object_type="rating_appeal",
        object_id=appeal.id,
        after={"rating_id": rating.id, "status": appeal.status.value, "reason": reason},
        at=moment,
    )
    session.flush()
    return appeal


def decide_exclusion(
    session: Session,
    ctx: ServiceContext,
    appeal: RatingAppeal,
    *,
    actor: Actor,
    approve: object,
    at: datetime | None = None,
) -> RatingAppeal:
    """An admin approves (the rating leaves the indicators) or refuses an appeal; audited.

    An approved appeal also closes the rating's open 差评 follow-up: nothing is left to fix.
    The rating itself stays, marked excluded.
    """
    require(actor, "rating.decide_appeal")
    approve = check_flag(approve, field_zh="审核结果", field_en="approve")
    if appeal.status != DecisionStatus.PENDING:
        raise IllegalTransition("该申诉已审核", "this appeal is already decided")
    moment = ctx.moment(at)
    rating = session.get(Rating, appeal.rating_id)
    before = {"status": appeal.status.value, "rating_excluded": rating.excluded}
    appeal.status = DecisionStatus.APPROVED if approve else DecisionStatus.REFUSED
    appeal.decided_by_id = actor.staff_user_id
    appeal.decided_at = moment
    if approve:
        rating.excluded = True
        follow_up = rating.follow_up
        if follow_up is not None and follow_up.status != FollowUpStatus.COMPLETED:
            follow_up.status = FollowUpStatus.EXCLUDED
    record_audit(
        session,
        actor=actor,
        action="appeal.decide",
        object_type="rating_appeal",
        object_id=appeal.id,
        before=before,
        after={
            "rating_id": rating.id,
            "status": appeal.status.value,
            "rating_excluded": rating.excluded,
        },
        at=moment,
    )
    session.flush()
    return appeal


# -- the queue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    """What the queue is narrowed to; build it with `check_queue_filter`."""

    status: str = "open"
    overdue: bool = False
    due_soon: bool = False
    service: int | str | None = None  # id or code
    department: int | str | None = None  # id or code; officers always see their own only
    date_from: date | None = None  # the rating's county-local day, inclusive
    date_to: date | None = None


def _check_switch(value: object, field_zh: str, field_en: str) -> bool:
    # A checkbox: absent or empty is off; the form sends "1" (a bool passes as itself).
    if isinstance(value, bool):
        return value
    if value is None or value in ("", "0"):
        return False
    if value in ("1", "on", "true"):
        return True
    raise ValidationFailed(f"{field_zh}只能勾选或不勾选", f"{field_en} must be on or off")


def _check_optional_ref(value: object, kind_zh: str, kind_en: str) -> int | str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    ref = check_ref(value, kind_zh=kind_zh, kind_en=kind_en)
    if isinstance(ref, str) and ref.isascii() and ref.isdigit():
        return int(ref)
    return ref


def check_queue_filter(
    *,
    status: object = "open",
    overdue: object = False,
    due_soon: object = False,
    service: object = None,
    department: object = None,
    date_from: object = None,
    date_to: object = None,
) -> QueueFilter:
    """A queue filter from typed values or a form's text; ValidationFailed names the bad one."""
    if status is None or status == "":
        status = "open"
    if status not in STATUS_FILTERS:
        raise ValidationFailed(
            f"未知状态 {str(status)[:20]!r}（可选：{'、'.join(STATUS_FILTERS)}）",
            f"unknown status {str(status)[:20]!r} ({', '.join(STATUS_FILTERS)})",
        )
    first = check_day(date_from, field_zh="起始日期", field_en="from date")
    last = check_day(date_to, field_zh="截止日期", field_en="to date")
    if first is not None and last is not None and first > last:
        raise ValidationFailed(
            "起始日期不能晚于截止日期", "the from date must not be after the to date"
        )
    return QueueFilter(
        status=str(status),
        overdue=_check_switch(overdue, "已逾期", "overdue"),
        due_soon=_check_switch(due_soon, "即将到期", "due soon"),
        service=_check_optional_ref(service, "服务事项", "service"),
        department=_check_optional_ref(department, "部门", "department"),
        date_from=first,
        date_to=last,
    )


@dataclass(frozen=True)
class FollowUpRow:
    id: int
    rating_id: int
    score: int
    aspect: str | None
    comment: str | None
    service_code: str
    service_name: str
    department: DepartmentRef
    outlet_name: str | None
    rated_at: datetime
    deadline: date
    status: FollowUpStatus
    verified: bool
    rectified: bool
    completed_at: datetime | None
    # Working days from today to the deadline: 0 due today, negative when overdue; None if done.
    working_days_left: int | None
    pending_appeal: bool

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def overdue(self) -> bool:
        return self.working_days_left is not None and self.working_days_left < 0

    @property
    def due_soon(self) -> bool:
        left = self.working_days_left
        return left is not None and 0 <= left <= DUE_SOON_WORKING_DAYS

    @property
    def status_zh(self) -> str:
        return STATUS_ZH[self.status]

    @property
    def status_en(self) -> str:
        return STATUS_EN[self.status]


def _department(department: Department) -> DepartmentRef:
    return DepartmentRef(department.id, department.code, department.name, department.name_en)


def _today(ctx: ServiceContext) -> date:
    return ctx.local_date(ctx.now())



def _days_left(ctx: ServiceContext, status: FollowUpStatus, deadline: date, today: date):
    if status not in OPEN_STATUSES:
        return None
    return ctx.calendar.working_days_between(today, deadline)


def follow_up_queue(
    session: Session,
    ctx: ServiceContext,
    *,
    actor: Actor,
    filters: QueueFilter | None = None,
    page: object = 1,
    per_page: int = DEFAULT_PER_PAGE,
) -> Page:
    """The follow-ups `actor` may see, narrowed by `filters`, earliest deadline first.

    A Page of FollowUpRow; any page number that is not a positive whole number is page 1.
    """
    _check_can_view(actor)
    filters = filters or QueueFilter()
    today = _today(ctx)
    f, r = BadReviewFollowUp, Rating
    conditions = [f.status.in_(STATUS_FILTERS[filters.status][0])]
    if actor.role == Role.OFFICER:
        conditions.append(f.department_id == actor.department_id)
    if filters.department is not None:
        column = Department.id if isinstance(filters.department, int) else Department.code
        conditions.append(
            f.department_id.in_(select(Department.id).where(column == filters.department))
        )
    if filters.service is not None:
        column = Service.id if isinstance(filters.service, int) else Service.code
        conditions.append(r.service_id.in_(select(Service.id).where(column == filters.service)))
    if filters.overdue or filters.due_soon:
        # Either box narrows to open follow-ups; both together mean "overdue or due soon".
        windows = []
        if filters.overdue:
            windows.append(f.deadline < today)
        if filters.due_soon:
            soon = ctx.calendar.add_working_days(today, DUE_SOON_WORKING_DAYS)
            windows.append(and_(f.deadline >= today, f.deadline <= soon))
        conditions.append(f.status.in_(OPEN_STATUSES))
        conditions.append(or_(*windows))
    if filters.date_from is not None:
        conditions.append(r.created_at >= ctx.local_midnight(filters.date_from))
    if filters.date_to is not None:
        conditions.append(r.created_at < ctx.local_midnight(filters.date_to + timedelta(days=1)))
    found = paginate(
        session,
        select(f).join(r, r.id == f.rating_id).where(*conditions).order_by(f.deadline, f.id),
        page=page,
        per_page=per_page,
    )
    return replace(found, items=_queue_rows(session, ctx, found.items, today))


def _queue_rows(
    session: Session, ctx: ServiceContext, page_items: list[BadReviewFollowUp], today: date
) -> list[FollowUpRow]:
    # The rest of each row for one page, in one query.
    if not page_items:
        return []
    r = Rating
    pending = exists().where(
        RatingAppeal.rating_id == r.id, RatingAppeal.status == DecisionStatus.PENDING
    )
    details = {
        rating.id: (rating, service, department, outlet_name, has_pending)
        for rating, service, department, outlet_name, has_pending in session.execute(
            select(r, Service, Department, Outlet.name, pending)
            .join(Service, Service.id == r.service_id)
            .join(Department, Department.id == r.department_id)
            .outerjoin(Outlet, Outlet.id == r.outlet_id)
            .where(r.id.in_([follow_up.rating_id for follow_up in page_items]))
        )
    }
    rows = []
    for follow_up in page_items:
        rating, service, department, outlet_name, has_pending = details[follow_up.rating_id]
        rows.append(
            FollowUpRow(
                id=follow_up.id,
                rating_id=rating.id,
                score=rating.score,
                aspect=rating.aspect,
                comment=rating.comment,
                service_code=service.code,
                service_name=service.name,
                department=_department(department),
                outlet_name=outlet_name,
                rated_at=rating.created_at,
                deadline=follow_up.deadline,
                status=FollowUpStatus(follow_up.status),
                verified=follow_up.verified_at is not None,
                rectified=follow_up.rectified_at is not None,
                completed_at=follow_up.completed_at,
                working_days_left=_days_left(ctx, follow_up.status, follow_up.deadline, today),
                pending_appeal=bool(has_pending),
            )
        )
    return rows


@dataclass(frozen=True)
class ServiceChoice:
    id: int
    code: str
    name: str
    department_name: str


def follow_up_services(session: Session, *, actor: Actor) -> list[ServiceChoice]:
    """The services whose follow-ups `actor` may filter by: an officer's own, or all."""
    _check_can_view(actor)
    query = (
        select(Service.id, Service.code, Service.name, Department.name)
        .join(Department, Department.id == Service.department_id)
        .order_by(Department.name, Service.code)
    )
    if actor.role == Role.OFFICER:
        query = query.where(Service.department_id == actor.department_id)
    return [ServiceChoice(*row) for row in session.execute(query)]


def follow_up_departments(session: Session, *, actor: Actor) -> list[DepartmentRef]:
    """The departments `actor` may narrow the queue to: none for an officer (theirs only)."""
    _check_can_view(actor)
    if actor.role == Role.OFFICER:
        return []
    return [
        _department(department)
        for department in session.scalars(select(Department).order_by(Department.code))
    ]


# -- one follow-up -----------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryItem:
    at: datetime
    what_zh: str
    what_en: str
    who: str | None
    text: str | None


@dataclass(frozen=True)
class AppealView:
    id: int
    status: DecisionStatus
    reason: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None

    @property
    def status_zh(self) -> str:
        return APPEAL_ZH[self.status]


@dataclass(frozen=True)
class FollowUpDetail:
    id: int
    status: FollowUpStatus
    deadline: date
    opened_at: datetime
    working_days_left: int | None
    rating: RatingView
    outlet_name: str | None
    # How the citizen can be reached, masked: staff never see a full id or number.
    citizen_channel: str | None
    citizen_contact: str | None
    reachable: bool
    verified_at: datetime | None
    verified_by: str | None
    verification_note: str | None
    rectified_at: datetime | None
    rectified_by: str | None
    rectification_note: str | None
    completed_at: datetime | None
    completed_by: str | None
    answer: str | None
    completed_on_time: bool | None
    # The queued answer's fate: queued, sent, failed; None when nothing was queued.
    answer_delivery: str | None
    history: tuple[HistoryItem, ...]
    appeals: tuple[AppealView, ...]
    # What the viewing actor may do here (the forms a page shows).
    may_act: bool
    may_appeal: bool
    may_decide: bool

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def overdue(self) -> bool:
        return self.working_days_left is not None and self.working_days_left < 0

    @property
    def status_zh(self) -> str:
        return STATUS_ZH[self.status]

    @property
    def status_en(self) -> str:
        return STATUS_EN[self.status]

    @property
    def can_verify(self) -> bool:
        return self.may_act and self.is_open and self.verified_at is None

    @property
    def can_rectify(self) -> bool:
        return (
            self.may_act
            and self.is_open
            and self.verified_at is not None
            and self.rectified_at is None
        )

    @property
    def can_answer(self) -> bool:
        return self.may_act and self.is_open

    @property
    def pending_appeal(self) -> AppealView | None:
        return next((a for a in self.appeals if a.status == DecisionStatus.PENDING), None)

    @property
    def can_appeal(self) -> bool:
        live = (DecisionStatus.PENDING, DecisionStatus.APPROVED)
        live = any(appeal.status in live for appeal in self.appeals)
        return self.may_appeal and not self.rating.excluded and not live


def _contact(citizen: Citizen | None) -> str | None:
    # A Telegram id can be called back through the bot; a web visitor's id means nothing to
    # anybody, so only a phone number given by the citizen is shown for them.
    if citizen is None:
        return None
    parts = []
    if can_reach(citizen):
        parts.append(mask_external_id(citizen.external_id))
    if citizen.phone:
        parts.append(mask_phone(citizen.phone))
    return " · ".join(parts) or None


def follow_up_detail(
    session: Session, ctx: ServiceContext, ref: object, *, actor: Actor
) -> FollowUpDetail:
    """One follow-up as `actor` may see it: the rating, the steps, the appeals, the history."""
    follow_up = get_follow_up(session, ref, actor=actor)
    rating = follow_up.rating
    today = _today(ctx)
    citizen = session.get(Citizen, rating.citizen_id) if rating.citizen_id is not None else None
    outlet = session.get(Outlet, rating.outlet_id) if rating.outlet_id is not None else None
    appeals = list(
        session.scalars(
            select(RatingAppeal)
            .where(RatingAppeal.rating_id == rating.id)
            .order_by(RatingAppeal.created_at, RatingAppeal.id)
        )
    )
    names = staff_names(
        session,
        {follow_up.verified_by_id, follow_up.rectified_by_id, follow_up.completed_by_id}
        | {a.requested_by_id for a in appeals}
        | {a.decided_by_id for a in appeals},
    )
    message = session.scalar(
        select(OutboxMessage).where(OutboxMessage.dedupe_key == f"follow_up:{follow_up.id}:done")
    )
    delivery = None
    if message is not None:
        delivery = "sent" if message.sent_at else "failed" if message.failed_at else "queued"
    appeal_views = tuple(
        AppealView(
            id=a.id,
            status=DecisionStatus(a.status),
            reason=a.reason,
            requested_by=names.get(a.requested_by_id, "—"),
            requested_at=a.created_at,
            decided_by=names.get(a.decided_by_id),
            decided_at=a.decided_at,
        )
        for a in appeals
    )
    department_id = follow_up.department_id
    return FollowUpDetail(
        id=follow_up.id,
        status=FollowUpStatus(follow_up.status),
        deadline=follow_up.deadline,
        opened_at=follow_up.created_at,
        working_days_left=_days_left(ctx, follow_up.status, follow_up.deadline, today),
        rating=RatingView.of(rating),
        outlet_name=outlet.name if outlet else None,
        citizen_channel=str(citizen.channel) if citizen else None,
        citizen_contact=_contact(citizen),
        reachable=can_reach(citizen),
        verified_at=follow_up.verified_at,
        verified_by=names.get(follow_up.verified_by_id),
        verification_note=follow_up.verification_note,
        rectified_at=follow_up.rectified_at,
        rectified_by=names.get(follow_up.rectified_by_id),
        rectification_note=follow_up.rectification_note,
        completed_at=follow_up.completed_at,
        completed_by=names.get(follow_up.completed_by_id),
        answer=follow_up.note,
        completed_on_time=(
            None
            if follow_up.completed_at is None
            else ctx.local_date(follow_up.completed_at) <= follow_up.deadline
        ),
        answer_delivery=delivery,
        history=_history(follow_up, appeal_views, names),
        appeals=appeal_views,
        may_act=allowed(actor, "follow_up.complete", department_id=department_id),
        may_appeal=allowed(actor, "rating.appeal", department_id=department_id),
        may_decide=allowed(actor, "rating.decide_appeal"),
    )


def _history(
    follow_up: BadReviewFollowUp, appeals: tuple[AppealView, ...], names: dict[int, str]
) -> tuple[HistoryItem, ...]:
    items = [
        HistoryItem(
            follow_up.created_at,
            f"收到差评，整改期限 {follow_up.deadline.isoformat()}",
            f"差评 received, due {follow_up.deadline.isoformat()}",
            None,
            None,
        )
    ]
    steps = (
        (
            follow_up.verified_at,
            follow_up.verified_by_id,
            follow_up.verification_note,
            "核实",
            "verified",
        ),
        (
            follow_up.rectified_at,
            follow_up.rectified_by_id,
            follow_up.rectification_note,
            "整改",
            "rectified",
        ),
        (
            follow_up.completed_at,
            follow_up.completed_by_id,
            follow_up.note,
            "反馈市民",
            "answered the citizen",
        ),
    )
    for at, by, text, zh, en in steps:
        if at is not None:
            items.append(HistoryItem(at, zh, en, names.get(by), text))
    for appeal in appeals:
        items.append(
            HistoryItem(
                appeal.requested_at,
                "申请排除（申诉）",
                "exclusion appeal filed",
                appeal.requested_by,
                appeal.reason,
            )
        )
        if appeal.decided_at is not None:
            approved = appeal.status == DecisionStatus.APPROVED
            items.append(
                HistoryItem(
                    appeal.decided_at,
                    "申诉通过，评价不计入指标" if approved else "申诉未通过",
                    "appeal approved: the rating is excluded" if approved else "appeal refused",
                    appeal.decided_by,
                    None,
                )
            )
    return tuple(sorted(items, key=lambda item: item.at))


# -- the admins' appeal queue ------------------------------------------------------------


@dataclass(frozen=True)
class AppealRow:
    id: int
    reason: str
    requested_by: str
    requested_at: datetime
    follow_up_id: int | None
    rating_id: int
    score: int
    aspect: str | None
    comment: str | None
    rated_at: datetime
    service_name: str
    department_name: str


def pending_appeals(
    session: Session, *, actor: Actor, page: object = 1, per_page: int = DEFAULT_PER_PAGE
) -> Page:
    """The appeals waiting for an admin's decision, oldest first: a Page of AppealRow."""
    require(actor, "rating.decide_appeal")
    found = paginate(
        session,
        select(RatingAppeal)
        .where(RatingAppeal.status == DecisionStatus.PENDING)
        .order_by(RatingAppeal.created_at, RatingAppeal.id),
        page=page,
        per_page=per_page,
    )
    if not found.items:
        return found
    r = Rating
    details = {
        row[0].id: tuple(row)
        for row in session.execute(
            select(r, BadReviewFollowUp.id, Service.name, Department.name)
            .join(Service, Service.id == r.service_id)
            .join(Department, Department.id == r.department_id)
            .outerjoin(BadReviewFollowUp, BadReviewFollowUp.rating_id == r.id)
            .where(r.id.in_([appeal.rating_id for appeal in found.items]))
        )
    }
    names = staff_names(session, {appeal.requested_by_id for appeal in found.items})
    rows = []
    for appeal in found.items:
        rating, follow_up_id, service_name, department_name = details[appeal.rating_id]
        rows.append(
            AppealRow(
                id=appeal.id,
                reason=appeal.reason,
                requested_by=names.get(appeal.requested_by_id, "—"),
                requested_at=appeal.created_at,
                follow_up_id=follow_up_id,
                rating_id=rating.id,
                score=rating.score,
                aspect=rating.aspect,
                comment=rating.comment,
                rated_at=rating.created_at,
                service_name=service_name,
                department_name=department_name,
            )
        )
    return replace(found, items=rows)
