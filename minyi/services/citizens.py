"""Citizens as channel identities (a Telegram user id, a web identity)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from minyi.db import insert_or_get
from minyi.errors import ValidationFailed
from minyi.models import Channel, Citizen
from minyi.services.validation import check_channel, clean_text


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
    if isinstance(external_id, bool) or not isinstance(external_id, str | int):
        raise ValidationFailed("缺少有效的用户标识", "a valid channel identity is required")
    external = str(external_id).strip()
    if not external or len(external) > 128:
        raise ValidationFailed("缺少有效的用户标识", "a valid channel identity is required")
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
