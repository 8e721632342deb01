"""A plausible demo county: catalogue, staff, and months of ratings and tickets.

Everything after the catalogue goes through the service layer with `at=` set to a past
moment, so each rule (SLA dates, 差评 follow-ups, the ticket state machine, events, outbox)
is applied exactly as in production. Deterministic for a given seed and `now`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from minyi import demo_texts as T
from minyi.errors import ValidationFailed
from minyi.models import (
    BadReviewFollowUp,
    Channel,
    Citizen,
    DecisionStatus,
    Department,
    ExtensionRequest,
    FollowUpStatus,
    Outlet,
    Rating,
    Role,
    Service,
    StaffUser,
    Ticket,
    TicketStatus,
)
from minyi.services import catalog, ratings, staff, tickets
from minyi.services.actors import Actor
from minyi.services.context import ServiceContext

log = logging.getLogger(__name__)

DEFAULT_SEED = 20261127
# Demo-only credentials: every demo account's password is "minyi-<username>-2026".
PASSWORD_PATTERN = "minyi-{username}-2026"

RATINGS_PER_WORKING_DAY = 24
CITIZEN_BATCH = 100
TICKETS_PER_DAY = 2.5
TRIAGE_SHARE = 0.05
# Thanks (表扬) a day across the county: about ten a month, filed as praise by the NLP.
PRAISE_PER_DAY = 0.35
RECENT_DAYS = 21
WORK_PERIODS = ((time(8, 30), time(12, 0)), (time(14, 0), time(17, 30)))


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str
    department: str | None = None


@dataclass
class DemoSummary:
    """What `load_demo` created, and the demo logins to print."""

    period_start: date
    period_end: date
    departments: int = 0
    services: int = 0
    outlets: int = 0
    staff: int = 0
    citizens: int = 0
    ratings: int = 0
    bad_reviews: int = 0
    follow_ups: dict[str, int] = field(default_factory=dict)
    tickets: int = 0
    tickets_by_status: dict[str, int] = field(default_factory=dict)
    tickets_in_triage: int = 0
    tickets_reassigned: int = 0
    tickets_reopened: int = 0
    tickets_escalated: int = 0
    extensions: dict[str, int] = field(default_factory=dict)
    praise: int = 0
    logins: list[DemoLogin] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The summary as printable lines (Chinese / English)."""
        statuses = ", ".join(f"{k} {v}" for k, v in self.tickets_by_status.items())
        follow = ", ".join(f"{k} {v}" for k, v in self.follow_ups.items())
        ext = ", ".join(f"{k} {v}" for k, v in self.extensions.items()) or "0"
        out = [
            f"演示数据 / demo county: {self.period_start} .. {self.period_end}",
            (
                f"  部门 departments {self.departments}, 服务事项 services {self.services}, "
                f"网点 outlets {self.outlets}, 工作人员 staff {self.staff}, "
                f"市民 citizens {self.citizens}"
            ),
            (
                f"  评价 ratings {self.ratings} (差评 bad reviews {self.bad_reviews}; "
                f"follow-ups: {follow})"
            ),
            (
                f"  工单 tickets {self.tickets}: {statuses}; triage {self.tickets_in_triage}, "
                f"reassigned {self.tickets_reassigned}, reopened {self.tickets_reopened}, "
                f"escalated {self.tickets_escalated}; extensions: {ext}"
            ),
            f"  表扬 praise {self.praise} (不进待办工单 / in no inbox)",
            (
                "  演示账号（仅供演示，上线前请删除或修改密码）/ demo logins (DEMO ONLY — "
                "change or remove before real use):"
            ),
        ]
        shown = [x for x in self.logins if x.role != Role.OFFICER.value][:2]
        out += [f"    {x.username:<18} {x.password:<28} {x.role}" for x in shown]
        officers = [x for x in self.logins if x.role == Role.OFFICER.value]
        if officers:
            out.append(
                f"    officer_<部门代码> / officer_<department code> "
                f"({len(officers)} accounts, e.g. {officers[0].username}), "
                f"password {PASSWORD_PATTERN}"
            )
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


# The demo's survey: a short version of docs/surveys.md's service-hall template.
DEMO_SURVEY: dict[str, Any] = {
    "slug": "hall-monthly",
    "title": {"zh": "政务服务大厅月度满意度调查", "en": "Monthly service-hall survey"},
    "intro": {"zh": "请就您本月在政务服务中心办事的体验打分，约需 1 分钟。"},
    "questions": [
        {"key": "overall", "type": "rating", "required": True, "department": "zwfw",
         "text": {"zh": "您对本次办事的总体满意度", "en": "Overall satisfaction"}},
        {"key": "staff", "type": "rating", "required": True, "department": "zwfw",
         "text": {"zh": "窗口工作人员的服务态度", "en": "The staff's manner"}},
        {"key": "recommend", "type": "nps",
         "text": {"zh": "您有多大可能向亲友推荐这里？", "en": "Would you recommend it?"}},
        {"key": "how", "type": "single", "required": True,
         "text": {"zh": "您通过什么方式办理？", "en": "How did you apply?"},
         "choices": [{"key": "hall", "text": {"zh": "到大厅窗口"}},
                     {"key": "online", "text": {"zh": "网上办理"}},
                     {"key": "phone", "text": {"zh": "电话预约后到窗口"}}]},
        {"key": "improve", "type": "multiple", "min": 1, "max": 2,
         "text": {"zh": "最希望改进的方面（最多两项）", "en": "What to improve (up to two)"},
         "choices": [{"key": "queue", "text": {"zh": "排队时间"}},
                     {"key": "guide", "text": {"zh": "办事指引"}},
                     {"key": "online", "text": {"zh": "网上办理"}},
                     {"key": "parking", "text": {"zh": "停车"}}]},
        {"key": "why", "type": "text", "max_chars": 300, "show_if": {"overall": [1, 2]},
         "text": {"zh": "哪里让您不满意？", "en": "What went wrong?"}},
    ],
}  # fmt: skip
DEMO_SURVEY_WHY = (
    "排队等了一个多小时，叫号系统还出故障。",
    "窗口说材料不全，但网上的办事指南没有写清楚。",
    "工作人员态度冷淡，问了两遍都不耐烦。",
    "网上办理提交后一直没有人审核。",
)


class _NotYet(Exception):
    """A planned step lies after `now`: the story of this object stops here."""


class _Slots(dict):
    """Fills template slots on demand, one random value per slot name per text."""

    def __init__(self, rng: random.Random, extra: dict[str, str]):
        super().__init__(extra)
        self.rng = rng

    def __missing__(self, key: str) -> str:
        base = key[:-1] if key.endswith("2") and key[:-1] in T.SLOTS else key
        pool = [v for v in T.SLOTS[base] if v != self.get(base)] if base != key else T.SLOTS[key]
        value = self.rng.choice(pool)
        self[key] = value
        return value


class _Demo:
    def __init__(
        self, session: Session, ctx: ServiceContext, rng: random.Random, now: datetime, months: int
    ):
        self.session = session
        self.ctx = ctx
        self.rng = rng
        self.tz = ctx.timezone
        self.cal = ctx.calendar
        self.now_local = now.astimezone(self.tz)
        self.end_day = self.now_local.date()
        self.start_day = self.end_day - timedelta(days=round(months * 30.44))
        self.departments: dict[str, Department] = {}
        self.services: dict[str, list[Service]] = {}
        self.outlets: dict[str, Outlet] = {}
        self.officers: dict[str, Actor] = {}
        self.admin: Actor | None = None
        self.logins: list[DemoLogin] = []
        self.citizens: dict[Channel, list[Citizen]] = {Channel.WEB: [], Channel.PHONE: []}
        self.citizen_pool: dict[Channel, list[Citizen]] = {Channel.WEB: [], Channel.PHONE: []}

    # -- time ---------------------------------------------------------------------------
    def _at(self, moment: datetime) -> datetime:
        """The UTC moment for a service call; refuses moments after `now`."""
        if moment > self.now_local:
            raise _NotYet
        return moment.astimezone(UTC)

    def _local(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=self.tz)

    def _work_moment(self, day: date) -> datetime:
        """A random moment within the working hours of `day`."""
        start, end = self.rng.choice(WORK_PERIODS)
        span = (datetime.combine(day, end) - datetime.combine(day, start)).seconds
        return self._local(day, start) + timedelta(seconds=self.rng.randrange(span))

    def _any_moment(self, day: date, first_hour: int = 7, last_hour: int = 23) -> datetime:
        seconds = self.rng.randrange(first_hour * 3600, last_hour * 3600)
        return self._local(day, time()) + timedelta(seconds=seconds)

    def _after(self, moment: datetime, minutes: float) -> datetime:
        """`moment` plus `minutes` of working time (working days, office hours only)."""
        current, remaining = moment, timedelta(minutes=minutes)
        while True:
            day = current.date()
            if self.cal.is_working_day(day):
                for start, end in WORK_PERIODS:
                    begin, finish = self._local(day, start), self._local(day, end)
                    current = max(current, begin)
                    if current < finish:
                        if current + remaining <= finish:
                            return current + remaining
                        remaining -= finish - current
                        current = finish
            current = self._local(day + timedelta(days=1), time())

    def _on_day(self, day: date, not_before: datetime) -> datetime:
        """A working moment on `day`, or shortly after `not_before` when that is later."""
        if day > not_before.date():
            return self._work_moment(day)
        return self._after(not_before, self.rng.uniform(10, 90))

    def _citizen_moment(self, after: datetime, min_hours: float, max_hours: float) -> datetime:
        """When a citizen answers: some hours later, between 08:00 and 22:00."""
        moment = after + timedelta(hours=self.rng.uniform(min_hours, max_hours))
        if moment.hour >= 22:
            moment = self._local(moment.date() + timedelta(days=1), time(8)) + timedelta(
                minutes=self.rng.randrange(90)
            )
        elif moment.hour < 8:
            moment = self._local(moment.date(), time(8)) + timedelta(
                minutes=self.rng.randrange(90)
            )
        return moment

    def _fill(self, template: str, **extra: str) -> tuple[str, _Slots]:
        slots = _Slots(self.rng, extra)
        return template.format_map(slots), slots

    # -- catalogue and people -------------------------------------------------------------
    def build_catalogue(self) -> None:
        founded = self._local(self.start_day - timedelta(days=30), time(9)).astimezone(UTC)
        for code, name, address in T.OUTLETS:
            self.outlets[code] = catalog.create_outlet(
                self.session, code=code, name=name, address=address
            )
        for code, name, name_en, _outlets, service_names in T.DEPARTMENTS:
            department = catalog.create_department(
                self.session, code=code, name=name, name_en=name_en
            )
            department.created_at = founded
            self.departments[code] = department
            self.services[code] = [
                catalog.create_service(
                    self.session, department=department, code=f"{code}-{n:02d}", name=service_name
                )
                for n, service_name in enumerate(service_names, start=1)
            ]

    def build_staff(self) -> None:
        founded = self._local(self.start_day - timedelta(days=30), time(9)).astimezone(UTC)
        accounts: list[tuple[str, Role, str, str | None]] = [
            ("admin", Role.ADMIN, "系统管理员", None),
            ("analyst", Role.ANALYST, "数据分析员", None),
        ]
        accounts += [
            (f"officer_{code}", Role.OFFICER, f"{dept.name}办理员", code)
            for code, dept in self.departments.items()
        ]
        for username, role, display_name, code in accounts:
            password = PASSWORD_PATTERN.format(username=username)
            user = staff.create_staff_user(
                self.session,
                username=username,
                password=password,
                role=role,
                display_name=display_name,
                department=self.departments[code] if code else None,
            )
            user.created_at = founded
            self.logins.append(DemoLogin(username, password, role.value, code))
            if role == Role.ADMIN:
                self.admin = Actor.staff(user)
            elif role == Role.OFFICER:
                self.officers[code] = Actor.staff(user)

    def citizen(self, channel: Channel, moment: datetime) -> Citizen:
        """A returning citizen now and then, otherwise a new one first seen at `moment`."""
        known = self.citizens[channel]
        if known and self.rng.random() < 0.4:
            return self.rng.choice(known)
        pool = self.citizen_pool[channel]
        if not pool:
            # Registered in batches: one flush for many, instead of a savepoint each.
            start = len(known) + 1
            pool.extend(
                Citizen(channel=channel, external_id=f"demo-{channel.value}-{n:05d}")
                for n in range(start, start + CITIZEN_BATCH)
            )
            self.session.add_all(pool)
            self.session.flush()
            pool.reverse()
        person = pool.pop()
        person.display_name = self.rng.choice(T.SURNAMES) + self.rng.choice(("先生", "女士"))
        person.created_at = moment.astimezone(UTC)
        known.append(person)
        return person

    # -- ratings --------------------------------------------------------------------------
    def build_ratings(self) -> None:
        codes = list(T.PROFILES)
        weights = [T.PROFILES[c].ratings for c in codes]
        total_days = max((self.end_day - self.start_day).days, 1)
        day = self.start_day
        while day <= self.end_day:
            working = self.cal.is_working_day(day)
            mean = RATINGS_PER_WORKING_DAY if working else 3
            count = max(0, round(self.rng.gauss(mean, mean * 0.2)))
            planned = []
            for _ in range(count):
                code = self.rng.choices(codes, weights)[0]
                online = not working or self.rng.random() < 0.3
                moment = self._any_moment(day) if online else self._work_moment(day)
                planned.append((moment, code, online))
            planned.sort(key=lambda item: item[0])
            frac = (day - self.start_day).days / total_days
            for moment, code, online in planned:
                if moment > self.now_local:
                    break
                self._rate(moment, code, online, frac)
            day += timedelta(days=1)

    def _score(self, code: str, frac: float) -> int:
        profile = T.PROFILES[code]
        shift = profile.bad + profile.trend * (frac - 0.5)
        bad = min(max(0.045 + shift, 0.01), 0.3)
        p3 = max(0.07 + shift / 2, 0.02)
        weights = [bad * 0.45, bad * 0.55, p3, 0.23, 1 - bad - p3 - 0.23]
        return self.rng.choices((1, 2, 3, 4, 5), weights)[0]

    def _rate(self, moment: datetime, code: str, online: bool, frac: float) -> None:
        rng = self.rng
        service = rng.choice(self.services[code])
        score = self._score(code, frac)
        aspect = None
        comment = None
        if score <= self.ctx.settings.ratings.bad_review_max_score:
            aspect = rng.choice(T.ONLINE_ASPECTS if online else T.OFFLINE_ASPECTS)
            if rng.random() < 0.95:
                comment = rng.choice(T.COMMENTS_BAD[aspect])
        elif score == 3 and rng.random() < 0.6:
            comment = rng.choice(T.COMMENTS_NEUTRAL)
        elif score == 4 and rng.random() < 0.5:
            comment = rng.choice(T.COMMENTS_OK + T.COMMENTS_GOOD[:3])
        elif score == 5 and rng.random() < 0.45:
            comment = rng.choice(T.COMMENTS_GOOD)
        if comment is not None:
            comment, _ = self._fill(comment, service=service.name)
        channel = Channel.PHONE if rng.random() < 0.08 else Channel.WEB
        person = self.citizen(channel, moment) if rng.random() < 0.65 else None
        outlet = None
        if not online:
            outlet_codes = next(d[3] for d in T.DEPARTMENTS if d[0] == code)
            outlet = self.outlets[rng.choice(outlet_codes)]
        rating = ratings.record_rating(
            self.session,
            self.ctx,
            service=service,
            score=score,
            comment=comment,
            citizen=person,
            channel=channel,
            outlet=outlet,
            aspect=aspect,
            at=self._at(moment),
        )
        if score <= self.ctx.settings.ratings.bad_review_max_score:
            # Read only for a 差评: on other ratings the attribute would cost a lazy load.
            self._follow_up(rating.follow_up, code, aspect, moment)

    def _follow_up(
        self, follow_up: BadReviewFollowUp, code: str, aspect: str | None, created: datetime
    ) -> None:
        roll = self.rng.random()
        if roll < 0.74:
            span = self.cal.working_days_between(created.date(), follow_up.deadline)
            day = self.cal.add_working_days(created.date(), self.rng.randint(0, max(span - 1, 0)))
            if not self.cal.is_working_day(day):
                day = self.cal.add_working_days(day, 1)
            moment = self._on_day(day, created)
        elif roll < 0.88:
            moment = self._work_moment(
                self.cal.add_working_days(follow_up.deadline, self.rng.randint(1, 5))
            )
        else:
            return  # never followed up: overdue on the department's list
        note = self.rng.choice(T.FOLLOW_UP_NOTES.get(aspect) or T.FOLLOW_UP_NOTES[None])
        try:
            ratings.complete_follow_up(
                self.session,
                self.ctx,
                follow_up,
                actor=self.officers[code],
                note=note,
                at=self._at(moment),
            )
        except _NotYet:
            pass

    # -- tickets --------------------------------------------------------------------------
    def build_tickets(self) -> None:
        codes = list(T.PROFILES)
        weights = [T.PROFILES[c].tickets for c in codes]
        planned: list[tuple[datetime, str]] = []
        day = self.start_day
        while day <= self.end_day:
            mean = TICKETS_PER_DAY * (1.0 if self.cal.is_working_day(day) else 0.6)
            count = max(0, round(self.rng.gauss(mean, 1.2)))
            for _ in range(count):
                moment = self._any_moment(day, 7, 23)
                if moment <= self.now_local - timedelta(minutes=5):
                    planned.append((moment, self.rng.choices(codes, weights)[0]))
            day += timedelta(days=1)
        planned.sort(key=lambda item: item[0])
        # A few recent tickets still wait in the triage queue.
        recent_from = self.now_local - timedelta(days=RECENT_DAYS)
        recent = [n for n, (moment, _) in enumerate(planned) if moment >= recent_from]
        in_triage = set(
            self.rng.sample(recent, min(len(recent), round(TRIAGE_SHARE * len(planned))))
        )
        for n, (moment, code) in enumerate(planned):
            triage = n in in_triage
            # Each service call flushes; skipping the extra autoflush before the outbox's
            # duplicate check halves the flushes (the demo never repeats a message).
            with self.session.no_autoflush:
                try:
                    self._ticket(moment, code, triage)
                except _NotYet:
                    pass

    def _ticket(self, received: datetime, code: str, leave_in_triage: bool) -> None:
        rng, session, ctx = self.rng, self.session, self.ctx
        theme, templates, action, confusable = rng.choice(T.THEMES[code])
        text, slots = self._fill(rng.choice(templates))
        location = None
        if "community" in slots or "road" in slots:
            place = slots.get("community") or slots["road"]
            location = f"示范县{slots.get('town', '城关镇')}{place}"
        elif "village" in slots or "school" in slots:
            location = f"示范县{slots.get('village') or slots['school']}"
        channel = Channel.PHONE if rng.random() < 0.4 else Channel.WEB
        person = self.citizen(channel, received) if rng.random() < 0.94 else None
        ticket = tickets.file_ticket(
            session,
            ctx,
            text=text,
            channel=channel,
            citizen=person,
            location=location,
            at=self._at(received),
        )
        moment = received + timedelta(minutes=rng.uniform(1, 3))
        if ctx.analyzer is not None:
            try:
                with session.begin_nested():
                    tickets.route_ticket(session, ctx, ticket, at=self._at(moment))
            except _NotYet:
                raise
            except Exception:  # as in production: a classifier failure leaves it in triage
                log.exception("demo: routing failed for ticket %s", ticket.number)
        profile = T.PROFILES[code]

        # Dispatch: the classifier's pick, else the admin from triage (sometimes wrongly).
        if ticket.status == TicketStatus.RECEIVED:
            if leave_in_triage:
                return
            first = code
            if confusable and rng.random() < 0.2:
                first = confusable
            moment = self._after(moment, rng.uniform(10, 240))
            tickets.assign(
                session,
                ctx,
                ticket,
                self.departments[first],
                actor=self.admin,
                at=self._at(moment),
            )
        current = next(c for c, d in self.departments.items() if d.id == ticket.department_id)
        if current != code:
            moment = self._after(moment, rng.uniform(30, 600))
            reason, _ = self._fill(
                rng.choice(T.REASSIGN_REASONS), dept=self.departments[code].name, theme=theme
            )
            tickets.reassign(
                session,
                ctx,
                ticket,
                self.departments[code],
                actor=self.officers[current],
                reason=reason,
                at=self._at(moment),
            )
        officer = self.officers[code]

        # First response: usually within the response window, sometimes days later.
        prompt = rng.random() < profile.prompt
        moment = self._after(moment, rng.uniform(15, 400) if prompt else rng.uniform(450, 1300))
        tickets.start(session, ctx, ticket, actor=officer, at=self._at(moment))
        started = moment
        if rng.random() < 0.02:
            return  # stuck: in progress and (eventually) overdue

        late_bias = 0.0
        extension_approved = False
        if rng.random() < 0.07:
            moment = self._after(moment, rng.uniform(60, 2400))
            if moment.date() < ticket.due_date:
                request = tickets.request_extension(
                    session,
                    ctx,
                    ticket,
                    actor=officer,
                    working_days=rng.choice((5, 5, 10)),
                    reason=rng.choice(T.EXTENSION_REASONS),
                    at=self._at(moment),
                )
                moment = self._after(moment, rng.uniform(30, 480))
                extension_approved = rng.random() < 0.7
                tickets.decide_extension(
                    session,
                    ctx,
                    request,
                    actor=self.admin,
                    approve=extension_approved,
                    at=self._at(moment),
                )
                late_bias = 0.0 if extension_approved else 0.5

        # Reply and close: on time for most, days late for some.
        late = rng.random() > profile.on_time - late_bias
        if late:
            reply_day = self.cal.add_working_days(ticket.due_date, rng.randint(1, 8))
        else:
            if extension_approved:
                lo = ticket.original_due_date
            else:
                lo = started.date()
            span = self.cal.working_days_between(lo, ticket.due_date)
            offset = int(min(rng.random(), rng.random()) * (span + 1))
            reply_day = self.cal.add_working_days(lo, offset) if offset else lo
        moment = self._on_day(reply_day, moment)
        opening, _ = self._fill(rng.choice(T.REPLY_OPENINGS), theme=theme)
        answer = f"{opening}{action}。{rng.choice(T.REPLY_CLOSINGS)}"
        tickets.reply(session, ctx, ticket, actor=officer, text=answer, at=self._at(moment))
        # Most are closed at once; some wait a day or more for the citizen's confirmation.
        moment = self._after(
            moment, rng.uniform(5, 90) if rng.random() < 0.7 else rng.uniform(420, 2100)
        )
        tickets.close(session, ctx, ticket, actor=officer, at=self._at(moment))

        # The citizen's 回访 answer; "not resolved" reopens, a second "no" escalates.
        while person is not None and rng.random() < 0.8:
            moment = self._citizen_moment(moment, 1, 72)
            resolved = rng.random() < (0.95 if ticket.reopen_count == 0 else 0.8)
            if resolved:
                weights = (2, 3, 12, 28, 55) if not late else (6, 10, 24, 30, 30)
                satisfaction = rng.choices((1, 2, 3, 4, 5), weights)[0]
            else:
                satisfaction = rng.choices((1, 2, 3), (45, 40, 15))[0]
            tickets.record_verdict(
                session,
                ctx,
                ticket,
                actor=Actor.citizen(person),
                resolved=resolved,
                satisfaction=satisfaction,
                at=self._at(moment),
            )
            if resolved or ticket.escalated:
                return
            moment = self._after(moment, rng.uniform(420, 2100))
            again, _ = self._fill(rng.choice(T.REPLY_AGAIN), action=action)
            tickets.reply(session, ctx, ticket, actor=officer, text=again, at=self._at(moment))
            moment = self._after(moment, rng.uniform(5, 90))
            tickets.close(session, ctx, ticket, actor=officer, at=self._at(moment))

    # -- wrap-up ---------------------------------------------------------------------------
    # -- a monthly satisfaction survey ---------------------------------------------------
    def build_survey(self) -> None:
        """Three closed monthly rounds of a short hall survey, answered on the web, so the
        results, the round-over-round trend and 调查满意度 beside the indicators have data."""
        from surveys import catalog as survey_catalog
        from surveys import responses, rounds

        last_month = self.end_day.replace(day=1) - timedelta(days=1)
        months = [last_month]
        for _ in range(2):
            months.insert(0, months[0].replace(day=1) - timedelta(days=1))
        first_opens = self._local(months[0].replace(day=1), time(9))
        survey_catalog.import_survey(
            self.session, self.ctx, DEMO_SURVEY, at=first_opens - timedelta(days=3)
        )
        for back, month_end in zip((2, 1, 0), months, strict=True):
            opens = self._local(month_end.replace(day=1), time(9))
            closes = self._local(month_end, time(18))
            opened = rounds.open_round(
                self.session, self.ctx, DEMO_SURVEY["slug"], closes_at=closes, at=opens
            )
            # Satisfaction drifts up round by round, as after a hall's rectification.
            lift = (2 - back) * 0.06
            for n in range(self.rng.randint(70, 110)):
                moment = self._any_moment(
                    opens.date() + timedelta(days=self.rng.randrange(max(1, month_end.day - 1)))
                )
                moment = min(max(moment, opens + timedelta(minutes=5)), closes)
                overall = self._survey_score(0.55 + lift)
                answers: dict[str, object] = {
                    "overall": overall,
                    "staff": self._survey_score(0.6 + lift),
                    "recommend": min(10, max(0, overall * 2 + self.rng.randint(-2, 1))),
                    "how": self.rng.choice(["hall", "online", "phone"]),
                    "improve": self.rng.sample(["queue", "guide", "online", "parking"], 2),
                }
                if overall <= 2:
                    answers["why"] = self.rng.choice(DEMO_SURVEY_WHY)
                responses.submit_response(
                    self.session,
                    self.ctx,
                    opened.id,
                    responses.Respondent.web(f"demo-visitor-{back}-{n:04d}"),
                    answers=answers,
                    at=moment,
                )
            rounds.close_round(self.session, self.ctx, opened.id, at=closes)

    def _survey_score(self, good: float) -> int:
        roll = self.rng.random()
        if roll < good:
            return self.rng.choice((4, 5, 5))
        return 3 if roll < good + 0.25 else self.rng.choice((1, 2))

    def build_praise(self, rng: random.Random) -> None:
        """Citizens' thanks, filed and read by the NLP like any message: praise naming a
        department is recorded for it (the 表扬 page), never an inbox's complaint. Without
        the NLP nothing tells thanks from a complaint, so there is none."""
        if self.ctx.analyzer is None:
            return
        codes = list(T.PROFILES)
        weights = [T.PROFILES[c].ratings for c in codes]
        day = self.start_day
        while day <= self.end_day:
            if rng.random() < PRAISE_PER_DAY:
                moment = self._any_moment(day, 8, 22)
                if moment <= self.now_local - timedelta(minutes=5):
                    name = self.departments[rng.choices(codes, weights)[0]].name
                    template = rng.choice(T.PRAISE)
                    ticket = tickets.file_ticket(
                        self.session,
                        self.ctx,
                        text=template.format(dept=name, staff=rng.choice(T.SURNAMES)),
                        channel=Channel.WEB if rng.random() < 0.6 else Channel.PHONE,
                        at=self._at(moment),
                    )
                    tickets.route_ticket(
                        self.session, self.ctx, ticket, at=self._at(moment + timedelta(minutes=2))
                    )
            day += timedelta(days=1)

    def finish(self) -> None:
        for pool in self.citizen_pool.values():
            for unused in pool:
                self.session.delete(unused)
        self.session.flush()

    def summary(self) -> DemoSummary:
        s = self.session

        def count(model: Any, *where: Any) -> int:
            return s.scalar(select(func.count()).select_from(model).where(*where)) or 0

        by_status = Counter(
            dict(s.execute(select(Ticket.status, func.count()).group_by(Ticket.status)).all())
        )
        follow_ups = dict(
            s.execute(
                select(BadReviewFollowUp.status, func.count()).group_by(BadReviewFollowUp.status)
            ).all()
        )
        extensions = dict(
            s.execute(
                select(ExtensionRequest.status, func.count()).group_by(ExtensionRequest.status)
            ).all()
        )
        bad_bound = self.ctx.settings.ratings.bad_review_max_score
        return DemoSummary(
            period_start=self.start_day,
            period_end=self.end_day,
            departments=count(Department),
            services=count(Service),
            outlets=count(Outlet),
            staff=count(StaffUser),
            citizens=count(Citizen),
            ratings=count(Rating),
            bad_reviews=count(Rating, Rating.score <= bad_bound),
            follow_ups={
                st.value: follow_ups.get(st, 0)
                for st in FollowUpStatus
                if st != FollowUpStatus.RECTIFIED
            },
            tickets=sum(by_status.values()),
            tickets_by_status={st.value: by_status.get(st, 0) for st in TicketStatus},
            tickets_in_triage=count(Ticket, Ticket.status == TicketStatus.RECEIVED),
            tickets_reassigned=count(Ticket, Ticket.bounce_count > 0),
            tickets_reopened=count(Ticket, Ticket.reopen_count > 0),
            tickets_escalated=count(Ticket, Ticket.escalated.is_(True)),
            extensions={
                st.value: extensions.get(st, 0) for st in DecisionStatus if extensions.get(st)
            },
            praise=count(Ticket, tickets.praise_filed()),
            logins=list(self.logins),
        )


def load_demo(
    session: Session,
    ctx: ServiceContext,
    *,
    seed: int = DEFAULT_SEED,
    months: int = 6,
    now: datetime | None = None,
) -> DemoSummary:
    """Fill an empty database with a demo county; the caller owns the transaction."""
    if not 1 <= months <= 24:
        raise ValidationFailed("演示数据月数须在 1-24 之间", "demo months must be 1-24")
    if session.scalar(select(func.count()).select_from(Department)):
        raise ValidationFailed(
            "数据库中已有部门数据，演示数据只能载入空数据库",
            "the database already has departments: the demo needs an empty one",
        )
    now = now or ctx.now()
    if now.tzinfo is None:
        raise ValidationFailed("now 必须带时区", "now must be timezone-aware")
    if ctx.analyzer is not None:
        # The demo's comments repeat (templates); classify each distinct text once.
        ctx = dataclasses.replace(ctx, analyzer=functools.lru_cache(maxsize=None)(ctx.analyzer))
    demo = _Demo(session, ctx, random.Random(seed), now, months)
    demo.build_catalogue()
    demo.build_staff()
    demo.build_ratings()
    demo.build_tickets()
    demo.build_survey()
    # Its own random stream: the rest of the demo stays what it was without it.
    demo.build_praise(random.Random(f"{seed}:praise"))
    demo.finish()
    return demo.summary()
