"""Citizens as channel identities (a Telegram user id, a web identity)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from minyi.errors import ValidationFailed
from minyi.models import Channel, Citizen


def get_or_create_citizen(
    session: Session,
    *,
    channel: Channel | str,
    external_id: str | int,
    display_name: str | None = None,
    language: str = "zh",
) -> Citizen:
    """The citizen known by (channel, external_id), registered on first contact."""
    channel = _channel(channel)
    external = str(external_id).strip() if external_id is not None else ""
    if not external or len(external) > 128:
        raise ValidationFailed("缺少有效的用户标识", "a valid channel identity is required")
    query = select(Citizen).where(Citizen.channel == channel, Citizen.external_id == external)
    citizen = session.scalar(query)
    if citizen is not None:
        return citizen
    citizen = Citizen(
        channel=channel,
        external_id=external,
        display_name=(display_name or None) and display_name[:100],
        language="en" if str(language).lower().startswith("en") else "zh",
    )
    try:
        # A savepoint, so losing a race with a concurrent first contact keeps the transaction.
        with session.begin_nested():
            session.add(citizen)
    except IntegrityError:
        citizen = session.scalar(query)
    return citizen


def _channel(value: Channel | str) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        raise ValidationFailed(f"未知渠道 {value!r}", f"unknown channel {value!r}") from None
