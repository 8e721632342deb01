"""Citizens as channel identities (a Telegram user id, a web identity)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from minyi.db import insert_or_get
from minyi.errors import NotFound, ValidationFailed
from minyi.models import Channel, Citizen, Ticket
from minyi.services.validation import check_channel, clean_text
from minyi.services.views import TicketView


def check_external_id(value: object) -> str:
    """A channel identity (a Telegram user id, an old system's citizen id): 1-128 characters."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationFailed("缺少有效的用户标识", "a valid channel identity is required")
    external = str(value).strip()
    if not external or len(external) > 128:
        raise ValidationFailed("缺少有效的用户标识", "a valid channel identity is required")
    return external


def get_or_create_citizen(
    session: Session,
    *,
    channel: Channel | str,
    external_id: str | int,
    display_name: str | None = None,
    language: str = "zh",
) -> Citizen:
    """The citizen known by (channel, external_id), registered on first contact."""
    channel = check_channel(channel)
    external = check_external_id(external_id)
    display_name = clean_text(
        display_name, field_zh="称呼", field_en="display name", max_chars=10_000, required=False
    )
    if not isinstance(language, str):
        language = "zh"
    query = select(Citizen).where(Citizen.channel == channel, Citizen.external_id == external)
    citizen = session.scalar(query)
    if citizen is not None:
        return citizen
    citizen = Citizen(
        channel=channel,
        external_id=external,
        display_name=display_name[:100] if display_name else None,
        language="en" if str(language).lower().startswith("en") else "zh",
    )
    citizen, _ = insert_or_get(session, citizen, query)
    return citizen


LANGUAGES = ("zh", "en")


def find_citizen(
    session: Session, *, channel: Channel | str, external_id: str | int
) -> Citizen | None:
    """The citizen known by (channel, external_id), or None: a read that never registers."""
    channel = check_channel(channel)
    query = select(Citizen).where(
        Citizen.channel == channel, Citizen.external_id == str(external_id).strip()
    )
    return session.scalar(query)


def set_language(session: Session, citizen: Citizen, language: object) -> Citizen:
    """Change the language the citizen is answered in (zh or en)."""
    if language not in LANGUAGES:
        raise ValidationFailed(
            f"不支持的语言 {language!r}（可选：zh、en）",
            f"unsupported language {language!r} (zh or en)",
        )
    citizen = session.get(Citizen, citizen.id)
    if citizen is None:
        raise NotFound("找不到该市民", "unknown citizen")
    citizen.language = language
    session.flush()
    return citizen


def list_citizen_tickets(
    session: Session, citizen: Citizen, *, limit: int = 10
) -> list[TicketView]:
    """The citizen's own tickets, newest first, as views readable after the session closes."""
    tickets = session.scalars(
        select(Ticket)
        .where(Ticket.citizen_id == citizen.id)
        .order_by(Ticket.received_at.desc(), Ticket.id.desc())
        .limit(limit)
    )
    return [TicketView.of(ticket) for ticket in tickets]
