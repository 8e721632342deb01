"""Messages to citizens, written with their cause and delivered later by the bot process."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from minyi.db import insert_or_get, utcnow
from minyi.models import OutboxMessage


def enqueue_message(
    session: Session,
    *,
    citizen_id: int,
    kind: str,
    dedupe_key: str,
    payload: dict[str, Any],
    at: datetime | None = None,
) -> OutboxMessage:
    """Queue one message; the same dedupe_key again (even at the same moment) returns the first."""
    same_key = select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
    existing = session.scalar(same_key)
    if existing is not None:
        return existing
    moment = at or utcnow()
    message = OutboxMessage(
        citizen_id=citizen_id,
        kind=kind,
        dedupe_key=dedupe_key,
        payload=payload,
        created_at=moment,
        next_attempt_at=moment,
    )
    message, _ = insert_or_get(session, message, same_key)
    return message
