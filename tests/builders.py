"""Builders for test objects: each fills in sensible defaults, overridable by keyword."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from minyi.models import Channel, Role
from minyi.services import catalog, citizens, staff, tickets

_serial = itertools.count(1)


def make_department(session, **overrides):
    n = next(_serial)
    fields = {"code": f"d{n}", "name": f"测试部门{n}", "name_en": f"Department {n}"} | overrides
    return catalog.create_department(session, **fields)


def make_service(session, department=None, **overrides):
    department = department or make_department(session)
    n = next(_serial)
    fields = {"code": f"s{n}", "name": f"测试事项{n}"} | overrides
    return catalog.create_service(session, department=department, **fields)


def make_citizen(session, **overrides):
    fields = {"channel": Channel.TELEGRAM, "external_id": str(100000 + next(_serial))} | overrides
    return citizens.get_or_create_citizen(session, **fields)


def make_staff(session, role=Role.ADMIN, department=None, **overrides):
    n = next(_serial)
    fields = {
        "username": f"user{n}",
        "password": "correct-horse-9",
        "role": role,
        "department": department,
    } | overrides
    return staff.create_staff_user(session, **fields)


def make_ticket(session, ctx, **overrides):
    fields = {
        "text": "小区门口的路灯坏了一个多月了，晚上出行很不安全，请尽快修理。",
        "channel": Channel.WEB,
    } | overrides
    return tickets.file_ticket(session, ctx, **fields)


@dataclass
class FakeAnalysis:
    """What nlp.analyze returns, with the fields the services read."""

    topic: str | None
    topic_probability: float
    needs_review: bool = False
    sentiment_score: float = 0.2
    sentiment_label: str = "negative"
    keywords: tuple = ()
    request_type: str | None = None
    request_type_probability: float = 0.0
