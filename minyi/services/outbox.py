"""Messages to citizens, written with their cause and delivered later by the bot process."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from minyi.db import insert_or_get, utcnow
from minyi.models import Channel, Citizen, OutboxMessage
from minyi.services.validation import check_channel

# Channels some sender drains (bot/outbox.py delivers to Telegram). A web visitor or an imported
# row has nobody listening: a message queued for them would wait forever.
REACHABLE_CHANNELS = frozenset({Channel.TELEGRAM})


def can_reach(citizen: Citizen | None) -> bool:
    """Whether a message queued for `citizen` will be delivered by some sender."""
    return citizen is not None and citizen.channel in REACHABLE_CHANNELS


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


@dataclass(frozen=True)
class Delivery:
    """One due message as the sender needs it: where it goes, in which language, what it says."""

    id: int
    kind: str
    payload: dict[str, Any]
    external_id: str  # the citizen's id on the channel (a Telegram chat id)
    language: str
    attempts: int
    created_at: datetime


def due_messages(
    session: Session,
    *,
    channel: Channel | str,
    kinds: Iterable[str],
    now: datetime | None = None,
    limit: int = 100,
) -> list[Delivery]:
    """The oldest unsent, not given-up messages of `kinds` for `channel`'s citizens due by now.

    Kinds the caller cannot render are left queued for a sender that can.
    """
    channel = check_channel(channel)
    moment = now or utcnow()
    rows = session.execute(
        select(OutboxMessage, Citizen.external_id, Citizen.language)
        .join(Citizen, Citizen.id == OutboxMessage.citizen_id)
        .where(
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.failed_at.is_(None),
            OutboxMessage.next_attempt_at <= moment,
            OutboxMessage.kind.in_(list(kinds)),
            Citizen.channel == channel,
        )
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
        .limit(limit)
    )
    return [
        Delivery(
            message.id,
            message.kind,
            dict(message.payload or {}),
            external_id,
            language,
            message.attempts,
            message.created_at,
        )
        for message, external_id, language in rows
    ]


def mark_sent(session: Session, message_id: int, *, at: datetime | None = None) -> bool:
    """Record that the channel accepted the message; False if it was already settled."""
    message = _pending(session, message_id)
    if message is None:
        return False
    message.attempts += 1
    message.sent_at = at or utcnow()
    message.last_error = None
    session.flush()
    return True


def mark_retry(
    session: Session, message_id: int, *, error: str, retry_at: datetime
) -> OutboxMessage | None:
    """A failed attempt that may succeed later (network, rate limit): try again at `retry_at`."""
    message = _pending(session, message_id)
    if message is None:
        return None
    message.attempts += 1
    message.next_attempt_at = retry_at
    message.last_error = error[:2000]
    session.flush()
    return message


def mark_failed(
    session: Session,
    message_id: int,
    *,
    error: str,
    at: datetime | None = None,
    unsubscribe: bool = False,
) -> OutboxMessage | None:
    """Give a message up for good; with `unsubscribe`, the citizen (who blocked us) too."""
    message = _pending(session, message_id)
    if message is None:
        return None
    message.attempts += 1
    message.failed_at = at or utcnow()
    message.last_error = error[:2000]
    if unsubscribe:
        citizen = session.get(Citizen, message.citizen_id)
        citizen.subscribed = False
    session.flush()
    return message


def _pending(session: Session, message_id: int) -> OutboxMessage | None:
    message = session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None or message.sent_at is not None or message.failed_at is not None:
        return None
    return message
