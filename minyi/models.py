"""The domain of DESIGN.md as typed SQLAlchemy models."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    insert,
    select,
    text,
    true,
)
from sqlalchemy.orm import Mapped, Session, attributes, mapped_column, relationship

from minyi.db import Base, UTCDateTime, utcnow


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Store the readable value, and keep it a plain VARCHAR + CHECK so migrations stay simple.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        values_callable=lambda e: [m.value for m in e],
        length=20,
        validate_strings=True,
    )


class Channel(enum.StrEnum):
    TELEGRAM = "telegram"
    WEB = "web"
    SURVEY = "survey"
    IMPORT = "import"
    PHONE = "phone"


class Role(enum.StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"
    OFFICER = "officer"


class TicketStatus(enum.StrEnum):
    RECEIVED = "received"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    REPLIED = "replied"
    CLOSED = "closed"


class FollowUpStatus(enum.StrEnum):
    OPEN = "open"
    RECTIFIED = "rectified"
    COMPLETED = "completed"
    # The rating was excluded by an approved appeal: nothing is left to rectify.
    EXCLUDED = "excluded"


class DecisionStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    # Pending when the ticket left the department (reassigned): nobody is left to decide for.
    WITHDRAWN = "withdrawn"


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    name_en: Mapped[str | None] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    services: Mapped[list[Service]] = relationship(back_populates="department")


class Service(Base):
    """A 政务服务事项 handled by one department."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    department: Mapped[Department] = relationship(back_populates="services")


class Outlet(Base):
    """A service hall or window where citizens are served."""

    __tablename__ = "outlets"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))
    # A closed hall keeps its ratings; new ones can no longer name it.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class Citizen(Base):
    """One channel identity of a citizen; personal data kept to the minimum."""

    __tablename__ = "citizens"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_citizens_channel_external"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    external_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    subscribed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffUser(Base):
    __tablename__ = "staff_users"
    __table_args__ = (
        CheckConstraint(
            "role != 'officer' OR department_id IS NOT NULL", name="officer_department"
        ),
        # "Admin" and "admin" are one account: logins match usernames regardless of case.
        Index("uq_staff_users_username_lower", func.lower(text("username")), unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Where the weekly digest goes on Telegram (the officer's chat id); none: staff home only.
    telegram_chat_id: Mapped[str | None] = mapped_column(String(32))

    department: Mapped[Department | None] = relationship()


class StaffDigest(Base):
    """An officer's weekly digest (minyi.services.digest): made once per officer and ISO week."""

    __tablename__ = "staff_digests"
    __table_args__ = (
        UniqueConstraint("staff_user_id", "week", name="uq_staff_digests_user_week"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    week: Mapped[str] = mapped_column(String(10))  # 2026-W48
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Rating(Base):
    """A 1-5 evaluation of a service (好差评)."""

    __tablename__ = "ratings"
    __table_args__ = (
        CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),
        Index("ix_ratings_department_created", "department_id", "created_at"),
        Index("ix_ratings_service_created", "service_id", "created_at"),
        UniqueConstraint("channel", "source_ref", name="uq_ratings_channel_source_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    # Copied from the service so indicator queries need no join.
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    outlet_id: Mapped[int | None] = mapped_column(ForeignKey("outlets.id"))
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"), index=True)
    score: Mapped[int] = mapped_column(SmallInteger)
    aspect: Mapped[str | None] = mapped_column(String(40))
    comment: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    # The caller's id of this submission (a form token, a bot update, an import row): a
    # double submit with the same reference is recognised instead of stored twice.
    source_ref: Mapped[str | None] = mapped_column(String(80))
    case_ref: Mapped[str | None] = mapped_column(String(80))
    staff_ref: Mapped[str | None] = mapped_column(String(80))
    sentiment_score: Mapped[float | None] = mapped_column(Float)
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    service: Mapped[Service] = relationship()
    follow_up: Mapped[BadReviewFollowUp | None] = relationship(back_populates="rating")


class BadReviewFollowUp(Base):
    """The verify-rectify-report loop a 差评 opens, with its working-day deadline."""

    __tablename__ = "bad_review_follow_ups"
    __table_args__ = (Index("ix_follow_ups_department_deadline", "department_id", "deadline"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id"), unique=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    status: Mapped[FollowUpStatus] = mapped_column(
        _enum(FollowUpStatus, "follow_up_status"), default=FollowUpStatus.OPEN
    )
    deadline: Mapped[date] = mapped_column(Date)
    # 谁办理、谁负责: each step keeps who took it, when, and what they wrote.
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    verification_note: Mapped[str | None] = mapped_column(Text)  # what the check found
    rectified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rectified_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    # What was fixed, what is on the ledger, or why there is no legal basis to change it.
    rectification_note: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    note: Mapped[str | None] = mapped_column(Text)  # the answer reported back to the citizen
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    rating: Mapped[Rating] = relationship(back_populates="follow_up")


class RatingAppeal(Base):
    """A request to exclude a malicious rating: audited, never a deletion."""

    __tablename__ = "rating_appeals"
    __table_args__ = (
        # At most one live appeal per rating (pending or approved), enforced by the database.
        Index(
            "uq_rating_appeals_live",
            "rating_id",
            unique=True,
            sqlite_where=text("status IN ('pending', 'approved')"),
            postgresql_where=text("status IN ('pending', 'approved')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[DecisionStatus] = mapped_column(
        _enum(DecisionStatus, "decision_status"), default=DecisionStatus.PENDING
    )
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Not closed: what the inbox's open-ticket indexes cover. Written out as SQL text, not a
# bound parameter, so that SQLite and PostgreSQL can match a query's condition to the index.
OPEN_TICKET = "status != 'closed'"
OPEN_TICKET_WHERE = {"sqlite_where": text(OPEN_TICKET), "postgresql_where": text(OPEN_TICKET)}
PRAISED = "praise_department_id IS NOT NULL"


class Ticket(Base):
    """A complaint (工单) with routing, SLA dates and the citizen's verdict."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_department_received", "department_id", "received_at"),
        # Covers the median first-reply time of a period (minyi.indicators): no table reads.
        Index(
            "ix_tickets_department_received_reply",
            "department_id",
            "received_at",
            "first_replied_at",
            "service_id",
        ),
        Index("ix_tickets_department_due", "department_id", "due_date"),
        Index("ix_tickets_department_closed", "department_id", "last_closed_at"),
        # The staff inbox (minyi.services.inbox) reads these instead of sorting every ticket:
        # open tickets by due date, of all departments and of one (small: open ones only;
        # a query names OPEN_TICKET literally, so the database sees the index applies) …
        Index("ix_tickets_open_due", "due_date", **OPEN_TICKET_WHERE),
        Index("ix_tickets_open_department_due", "department_id", "due_date", **OPEN_TICKET_WHERE),
        # … the triage queue and closed tickets in receipt order, and the similar tickets of
        # the same weeks across departments.
        Index("ix_tickets_status_received", "status", "received_at"),
        Index("ix_tickets_received", "received_at"),
        # A citizen's tickets by receipt: the daily limit counts today's at every filing, and
        # "my tickets" lists the newest, without reading every ticket the citizen ever filed.
        Index("ix_tickets_citizen_received", "citizen_id", "received_at"),
        # A department's 表扬 page, newest first (minyi.services.praise): praise is the only
        # ticket with praise_department_id set, so the partial index is small, and the page's
        # "praise_department_id = ?" tells both databases it applies.
        Index(
            "ix_tickets_praise_department_received",
            "praise_department_id",
            "received_at",
            sqlite_where=text(PRAISED),
            postgresql_where=text(PRAISED),
        ),
        UniqueConstraint("channel", "source_ref", name="uq_tickets_channel_source_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"))
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    source_ref: Mapped[str | None] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(300))
    # A phone number the citizen gave for call-backs; shown masked to staff.
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    # Hash of the code that opens the public status page (the code itself is shown once).
    access_code_hash: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    status: Mapped[TicketStatus] = mapped_column(
        _enum(TicketStatus, "ticket_status"), default=TicketStatus.RECEIVED
    )
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    # What the classifier said, kept even after staff correct the routing.
    topic: Mapped[str | None] = mapped_column(String(40))
    topic_confidence: Mapped[float | None] = mapped_column(Float)
    predicted_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    needs_triage: Mapped[bool] = mapped_column(Boolean, default=True)
    sentiment_score: Mapped[float | None] = mapped_column(Float)
    sentiment_label: Mapped[str | None] = mapped_column(String(10))
    keywords: Mapped[list[str] | None] = mapped_column(JSON)
    # What nlp says the text asks for (投诉/咨询/建议/表扬) and how sure it is.
    request_type: Mapped[str | None] = mapped_column(String(8))
    request_type_probability: Mapped[float | None] = mapped_column(Float)
    # Praise is recorded for the department it names but is never that department's ticket:
    # department_id stays empty and route_ticket files it as closed (docs/nlp.md).
    praise_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    response_due_date: Mapped[date] = mapped_column(Date)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_date: Mapped[date] = mapped_column(Date)
    original_due_date: Mapped[date] = mapped_column(Date)
    # First and latest of each: set once / moved forward, never cleared by a reopen.
    first_replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reply_text: Mapped[str | None] = mapped_column(Text)  # the latest reply; all are events
    first_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    bounce_count: Mapped[int] = mapped_column(Integer, default=0)
    # In the admin's escalation queue now (a second "not resolved"); escalated_at is the latest.
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalation_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    department: Mapped[Department | None] = relationship(foreign_keys=[department_id])
    predicted_department: Mapped[Department | None] = relationship(
        foreign_keys=[predicted_department_id]
    )
    praise_department: Mapped[Department | None] = relationship(
        foreign_keys=[praise_department_id]
    )
    citizen: Mapped[Citizen | None] = relationship()
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", cascade="all, delete-orphan"
    )
    attachments: Mapped[list[TicketAttachment]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan"
    )
    closures: Mapped[list[TicketClosure]] = relationship(
        back_populates="ticket", order_by="TicketClosure.round", cascade="all, delete-orphan"
    )

    @property
    def latest_closure(self) -> TicketClosure | None:
        return self.closures[-1] if self.closures else None

    @property
    def resolved(self) -> bool | None:
        """The citizen's latest answer to "resolved?" (None: not asked or not answered)."""
        closure = self.latest_closure
        return closure.resolved if closure else None

    @property
    def satisfaction(self) -> int | None:
        """The citizen's latest 1-5 satisfaction answer."""
        closure = self.latest_closure
        return closure.satisfaction if closure else None


class TicketClosure(Base):
    """One closure round (办结) of a ticket and the citizen's 回访 verdict on it.

    A reopened ticket gets a new round; earlier rounds and their verdicts are never changed.
    """

    __tablename__ = "ticket_closures"
    __table_args__ = (
        UniqueConstraint("ticket_id", "round", name="uq_ticket_closures_ticket_round"),
        Index("ix_ticket_closures_department_closed", "department_id", "closed_at"),
        CheckConstraint(
            "satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5", name="satisfaction_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    round: Mapped[int] = mapped_column(Integer)  # 1 for the first closure
    # The handling department and the due date in force when it was closed.
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    due_date: Mapped[date] = mapped_column(Date)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_by: Mapped[str] = mapped_column(String(64))
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    satisfaction: Mapped[int | None] = mapped_column(SmallInteger)
    verdict_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verdict_by: Mapped[str | None] = mapped_column(String(64))

    ticket: Mapped[Ticket] = relationship(back_populates="closures")


class TicketEvent(Base):
    """One change of a ticket: who, what, when."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(64))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class TicketAttachment(Base):
    __tablename__ = "ticket_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # photo, document
    # A Telegram file_id or a path under the upload folder.
    reference: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="attachments")


class ExtensionRequest(Base):
    """A department asking for more working days; only an admin's approval moves the due date."""

    __tablename__ = "extension_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    working_days: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[DecisionStatus] = mapped_column(
        _enum(DecisionStatus, "decision_status"), default=DecisionStatus.PENDING
    )
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    new_due_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RoutingCorrection(Base):
    """A staff correction of the predicted department: a labelled example for retraining."""

    __tablename__ = "routing_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    predicted_topic: Mapped[str | None] = mapped_column(String(40))
    predicted_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    corrected_department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketNumberCounter(Base):
    """Last public number handed out per day, so MY-YYYYMMDD-NNNN never repeats."""

    __tablename__ = "ticket_number_counters"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class OutboxMessage(Base):
    """A message to a citizen, written in the same transaction as its cause; the bot drains it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "sent_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # What the message is about (e.g. "ticket:42:replied"); unique so a retried job sends once.
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Given up for good (the citizen blocked the bot, the chat is gone): never retried.
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarYear(Base):
    """A year of holidays and make-up working days loaded by the county (`minyi calendar import`).

    Overrides the shipped table for that year; `[calendar]` settings still correct single days.
    """

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holidays: Mapped[list[str]] = mapped_column(JSON)  # ISO dates
    workdays: Mapped[list[str]] = mapped_column(JSON)
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str | None] = mapped_column(String(300))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(Base):
    """One change made by staff (or a process): who, what, when, before → after."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    action: Mapped[str] = mapped_column(String(40))  # e.g. staff.create, appeal.decide
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(80))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


# -- surveys (满意度调查): the engine in surveys/ works on these ------------------------------


class RoundStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"


class Survey(Base):
    """A survey known by its slug; what it asks lives in its numbered versions."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    versions: Mapped[list[SurveyVersion]] = relationship(
        back_populates="survey", order_by="SurveyVersion.number"
    )


class SurveyVersion(Base):
    """One version of a survey's definition; once published it is never changed.

    Answers point at the version they answered, so an edited survey is a new version and old
    answers keep their meaning.
    """

    __tablename__ = "survey_versions"
    __table_args__ = (UniqueConstraint("survey_id", "number", name="uq_survey_versions_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"))
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, … per survey
    # The canonical definition (the file format of docs/surveys.md).
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    title: Mapped[str] = mapped_column(String(200))  # the Chinese title, for listings
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    survey: Mapped[Survey] = relationship(back_populates="versions")
    questions: Mapped[list[SurveyQuestion]] = relationship(
        back_populates="version", order_by="SurveyQuestion.position"
    )


class SurveyQuestion(Base):
    """A question of one version, as a row so results and department indicators are SQL."""

    __tablename__ = "survey_questions"
    __table_args__ = (UniqueConstraint("version_id", "key", name="uq_survey_questions_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("survey_versions.id"))
    key: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))  # rating, nps, single, multiple, text, rubric
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    # Answers to a question tied to a department feed that department's indicators.
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)

    version: Mapped[SurveyVersion] = relationship(back_populates="questions")


class SurveySchedule(Base):
    """A recurring round: a cron expression (monthly and quarterly are preset ones)."""

    __tablename__ = "survey_schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # monthly, quarterly, cron
    cron: Mapped[str] = mapped_column(String(100))  # in the county's time zone
    open_days: Mapped[int] = mapped_column(Integer)
    invitation_only: Mapped[bool] = mapped_column(Boolean, default=False)
    invite_subscribers: Mapped[bool] = mapped_column(Boolean, default=True)
    remind_hours_before: Mapped[int] = mapped_column(Integer, default=24)  # 0: no reminder
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SurveyRound(Base):
    """One periodic instance of a survey, with its open and close times."""

    __tablename__ = "survey_rounds"
    __table_args__ = (
        UniqueConstraint("survey_id", "number", name="uq_survey_rounds_number"),
        # A planning job run twice plans one round per opening.
        UniqueConstraint("schedule_id", "opens_at", name="uq_survey_rounds_schedule_opens"),
        Index("ix_survey_rounds_status_opens", "status", "opens_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"))
    # 1, 2, … per survey in the order rounds open (None while a planned round waits).
    number: Mapped[int | None] = mapped_column(Integer)
    # The version answered: the latest published one when the round opened.
    version_id: Mapped[int | None] = mapped_column(ForeignKey("survey_versions.id"))
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("survey_schedules.id"))
    status: Mapped[RoundStatus] = mapped_column(
        _enum(RoundStatus, "round_status"), default=RoundStatus.SCHEDULED
    )
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    invitation_only: Mapped[bool] = mapped_column(Boolean, default=False)
    invite_subscribers: Mapped[bool] = mapped_column(Boolean, default=False)
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when every subscriber has been invited / every non-responder reminded.
    invitations_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminders_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    survey: Mapped[Survey] = relationship()
    version: Mapped[SurveyVersion | None] = relationship()


class SurveyInvitation(Base):
    """An invitation to one round: single use, its tokens stored only as hashes."""

    __tablename__ = "survey_invitations"
    __table_args__ = (
        # One invitation per citizen and round, so a job run twice invites nobody twice.
        UniqueConstraint("round_id", "citizen_id", name="uq_survey_invitations_citizen"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("survey_rounds.id"))
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The reminder carries a link of its own; either token opens the same invitation.
    reminder_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SurveyResponse(Base):
    """One respondent's answers to one round: drafts while answering, then submitted once."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        UniqueConstraint("round_id", "respondent_key", name="uq_survey_responses_respondent"),
        Index("ix_survey_responses_round_submitted", "round_id", "submitted_at"),
        # A citizen's responses; partial, so that a web visitor's submit does not touch it.
        Index(
            "ix_survey_responses_citizen_id",
            "citizen_id",
            sqlite_where=text("citizen_id IS NOT NULL"),
            postgresql_where=text("citizen_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("survey_rounds.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("survey_versions.id"))
    # Who answers: "citizen:ID", "invitation:ID" or "web:<cookie id>" (see surveys.responses).
    respondent_key: Mapped[str] = mapped_column(String(100))
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"))
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("survey_invitations.id"))
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    # Answers saved one by one while answering (chat resumes from here); cleared at submit.
    draft: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Every submitted answer, key -> number, choice key, list of choice keys, text or None
    # (skipped), written once at submit: one row per response instead of one per answer.
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The respondent agreed that complaint-enabled text answers be filed as complaints.
    file_complaints: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SurveyAnswer(Base):
    """A submitted text answer: what the NLP labels and what a complaint filed from it links to.

    The response's `answers` holds every answer (texts too); only the texts get a row here,
    so that the worker finds those not analysed yet and the results aggregate their labels.
    """

    __tablename__ = "survey_answers"
    # Each index here is one more page a submit writes per text answer, so only two: no unique
    # (response, question), since a response's answers are inserted once, in the transaction
    # that marks it submitted, and a round's text answers are found by round alone.
    __table_args__ = (
        # A round's text answers (the results' topics, sentiment and keywords).
        Index("ix_survey_answers_round_id", "round_id"),
        # The text answers the worker has yet to analyse, found without a table scan.
        Index(
            "ix_survey_answers_unanalysed",
            "id",
            sqlite_where=text("text IS NOT NULL AND analysed_at IS NULL"),
            postgresql_where=text("text IS NOT NULL AND analysed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("survey_responses.id"))
    # Copied from the response so results read one table.
    round_id: Mapped[int] = mapped_column(ForeignKey("survey_rounds.id"))
    question_id: Mapped[int] = mapped_column(ForeignKey("survey_questions.id"))
    text: Mapped[str] = mapped_column(Text)
    # The complaint filed from this text answer (only when the respondent opted in).
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # NLP of a text answer, filled by the worker (surveys.results.analyse_text_answers).
    topic: Mapped[str | None] = mapped_column(String(40))
    sentiment_label: Mapped[str | None] = mapped_column(String(10))
    sentiment_score: Mapped[float | None] = mapped_column(Float)
    keywords: Mapped[list[str] | None] = mapped_column(JSON)
    analysed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SurveyAnswerCount(Base):
    """How many answers submitted to a round on one UTC day gave each value, kept at submit.

    Results read these few rows instead of counting a round's answers (100,000 responses are
    a million answers); the day lets a period that cuts a round (调查满意度) read its whole
    days here too. `value` is the number, the choice (multiple: keys joined by ";"), or ""
    for a text answer; surveys.counts.rebuild_counts recounts them from the responses.
    """

    __tablename__ = "survey_answer_counts"
    # On SQLite the rows live in the primary key's tree (no rowid table beside it): a submit's
    # count upserts then touch one tree instead of two.
    __table_args__ = {"sqlite_with_rowid": False}

    # In this order: a submit's rows (one round, one day) lie side by side.
    round_id: Mapped[int] = mapped_column(ForeignKey("survey_rounds.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # of submitted_at, in UTC
    question_id: Mapped[int] = mapped_column(ForeignKey("survey_questions.id"), primary_key=True)
    value: Mapped[str] = mapped_column(String(400), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


# --- Indicator rollups (minyi.indicators reads them; docs/indicators.md defines them) ---


class IndicatorCounts:
    """The summable counts of one rollup row (see IndicatorDaily for what each counts)."""

    # Ratings not excluded, by score.
    score_1: Mapped[int] = mapped_column(Integer, default=0)
    score_2: Mapped[int] = mapped_column(Integer, default=0)
    score_3: Mapped[int] = mapped_column(Integer, default=0)
    score_4: Mapped[int] = mapped_column(Integer, default=0)
    score_5: Mapped[int] = mapped_column(Integer, default=0)
    # 差评 follow-ups of those ratings.
    follow_ups_on_time: Mapped[int] = mapped_column(Integer, default=0)
    follow_ups_late: Mapped[int] = mapped_column(Integer, default=0)
    follow_ups_open: Mapped[int] = mapped_column(Integer, default=0)
    follow_ups_open_until: Mapped[date | None] = mapped_column(Date)  # latest open deadline
    follow_ups_open_first: Mapped[date | None] = mapped_column(Date)  # earliest open deadline
    # Tickets received that day.
    tickets: Mapped[int] = mapped_column(Integer, default=0)
    sentiment_known: Mapped[int] = mapped_column(Integer, default=0)
    negative: Mapped[int] = mapped_column(Integer, default=0)
    responded_on_time: Mapped[int] = mapped_column(Integer, default=0)
    responded_late: Mapped[int] = mapped_column(Integer, default=0)
    unresponded: Mapped[int] = mapped_column(Integer, default=0)
    unresponded_until: Mapped[date | None] = mapped_column(Date)  # latest open window end
    unresponded_first: Mapped[date | None] = mapped_column(Date)  # earliest open window end
    # Tickets due that day (current due date).
    due: Mapped[int] = mapped_column(Integer, default=0)
    closed_on_time: Mapped[int] = mapped_column(Integer, default=0)
    # Closure rounds closed that day, by the department that closed them.
    closures: Mapped[int] = mapped_column(Integer, default=0)
    resolved_answers: Mapped[int] = mapped_column(Integer, default=0)
    resolved_yes: Mapped[int] = mapped_column(Integer, default=0)
    satisfaction_answers: Mapped[int] = mapped_column(Integer, default=0)
    satisfied_answers: Mapped[int] = mapped_column(Integer, default=0)


class IndicatorDaily(IndicatorCounts, Base):
    """Summable indicator counts per department × service × county-local day.

    Each column belongs to one family whose day is its own: ratings by their creation day,
    tickets by their receipt day (`tickets` … `unresponded_until`), by their current due date
    (`due`, `closed_on_time`) and closure rounds by their closing day. Rows are only ever
    recomputed from the base tables (never incremented), so a late edit cannot drift them.
    """

    __tablename__ = "indicator_daily"
    __table_args__ = (Index("ix_indicator_daily_day", "day"),)

    department_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # 0: tickets that name no service.
    service_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)


class IndicatorDepartmentDaily(IndicatorCounts, Base):
    """IndicatorDaily summed over the services: what a department's figures read (fewer rows)."""

    __tablename__ = "indicator_department_daily"
    __table_args__ = (Index("ix_indicator_department_daily_day", "day"),)

    department_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)


class IndicatorDepartmentMonthly(IndicatorCounts, Base):
    """IndicatorDepartmentDaily summed per county-local month: what a past month reads.

    `month` is the month's first day. Counts are sums, `*_until` the latest and `*_first`
    the earliest deadline of the month's days. Always rewritten from the department rows in
    the transaction that rewrites those (refresh, rebuild), so it never disagrees with them.
    A reader uses a row only for a month that has ended, whose open follow-ups and
    unanswered tickets are all past their deadline and that no stale marker touches; any
    other department-month is read day by day.
    """

    __tablename__ = "indicator_department_monthly"
    __table_args__ = (Index("ix_indicator_department_monthly_month", "month"),)

    department_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    month: Mapped[date] = mapped_column(Date, primary_key=True)


class IndicatorMedian(Base):
    """A department's median first-reply hours for one period, cached: medians do not add up.

    Trusted only while no stale marker covers the department and a day of the period; a
    refresh deletes the rows of every period a stale day lies in, in the same transaction as
    it deletes the markers, and the scheduler fills the current and previous periods again.
    """

    __tablename__ = "indicator_medians"

    department_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)  # 2026-10, 2026-W43, 2026-Q4
    replied: Mapped[int] = mapped_column(Integer)
    median_hours: Mapped[float | None] = mapped_column(Float)


class IndicatorStale(Base):
    """A department-day whose rollup rows must be recomputed before they are trusted.

    Written in the same transaction as the change (the after_flush hook below, or a bulk
    writer's mark_days_stale), so a committed change is never missing from the indicators.
    Rows are never unique: a refresh deletes exactly the ids it read, so a marker written
    while it ran survives it. Ids are never reused (SQLite's AUTOINCREMENT; PostgreSQL's
    sequence): a refresh planned earlier tells its markers from newer ones by id.
    """

    __tablename__ = "indicator_stale"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    department_id: Mapped[int] = mapped_column(Integer)  # 0: every department
    # A moment (its county-local day is taken when refreshing), a local date, or neither:
    # every day (after a migration, a change of time zone).
    at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    day: Mapped[date | None] = mapped_column(Date)


def _values(obj: object, name: str) -> set:
    """Every value `name` had in this flush: the new one and the one it replaced."""
    history = attributes.get_history(obj, name)
    return {v for v in (*history.added, *history.unchanged, *history.deleted) if v is not None}


StaleMark = tuple[int, datetime | None, date | None]  # department, moment, local day


def ticket_stale_marks(
    departments: set[int], received: set[datetime], due: set[date]
) -> set[StaleMark]:
    """What a ticket row counts in, for each department it had: the local day of its
    receipt and its due day. Both the hook below and plain INSERTs of tickets
    (minyi.indicators.mark_new_ticket_stale) mark these."""
    return {(dept, at, None) for dept in departments for at in received} | {
        (dept, None, day) for dept in departments for day in due
    }


@event.listens_for(Session, "after_flush")
def _mark_indicator_days(session: Session, _flush_context) -> None:
    # The one place that keeps the rollups honest under ORM writes: every rating, follow-up,
    # ticket or closure row written marks the department-days it counted in, old and new.
    marks: set[StaleMark] = set()
    follow_up_ratings: set[int] = set()
    moved_service_tickets: set[int] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Rating):
            marks.update(
                (dept, at, None)
                for dept in _values(obj, "department_id")
                for at in _values(obj, "created_at")
            )
        elif isinstance(obj, BadReviewFollowUp):
            follow_up_ratings.update(_values(obj, "rating_id"))
        elif isinstance(obj, Ticket):
            marks |= ticket_stale_marks(
                _values(obj, "department_id"),
                _values(obj, "received_at"),
                _values(obj, "due_date"),
            )
            if attributes.get_history(obj, "service_id").deleted and obj.id is not None:
                moved_service_tickets.add(obj.id)
        elif isinstance(obj, TicketClosure):
            marks.update(
                (dept, at, None)
                for dept in _values(obj, "department_id")
                for at in _values(obj, "closed_at")
            )
    if not (marks or follow_up_ratings or moved_service_tickets):
        return
    connection = session.connection()
    if follow_up_ratings:
        rows = connection.execute(
            select(Rating.department_id, Rating.created_at).where(
                Rating.id.in_(sorted(follow_up_ratings))
            )
        )
        marks.update((dept, at, None) for dept, at in rows)
    if moved_service_tickets:
        rows = connection.execute(
            select(TicketClosure.department_id, TicketClosure.closed_at).where(
                TicketClosure.ticket_id.in_(sorted(moved_service_tickets)),
                TicketClosure.department_id.is_not(None),
            )
        )
        marks.update((dept, at, None) for dept, at in rows)
    connection.execute(
        insert(IndicatorStale),
        [{"department_id": dept, "at": at, "day": day} for dept, at, day in marks],
    )
