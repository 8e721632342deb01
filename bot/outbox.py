"""The outbox sender: delivers what the core queued, within Telegram's limits, never twice.

One task in the bot process. Oldest first; at most `[bot] send_rate_per_s` messages a second
overall and one a second per chat; a 429 pauses all sending for its `retry_after`; a 403 (the
citizen blocked the bot) fails the message for good and unsubscribes the citizen; network and
server errors back off and retry. A message is marked sent only after Telegram accepted it, so
a restart resumes where the last one stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.exceptions import (
    AiogramError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.types import InlineKeyboardMarkup

from bot import keyboards
from bot.context import BotServices
from bot.texts import Safe, Texts, clip
from minyi.db import utcnow
from minyi.models import Channel
from minyi.services.outbox import Delivery, due_messages, mark_failed, mark_retry, mark_sent

log = logging.getLogger(__name__)

BODY_CHARS = 3000  # a reply or a note, well within a message with its header


def _ticket_status(texts: Texts, payload: dict, tz) -> tuple[str, InlineKeyboardMarkup | None]:
    status = payload.get("status", "")
    try:
        shown = texts.status(status)
    except KeyError:
        shown = status
    return texts("status_changed", number=payload.get("number", ""), status=shown), None


def _ticket_reply(texts: Texts, payload: dict, tz):
    reply = clip(payload.get("reply", ""), BODY_CHARS)
    return texts("ticket_reply", number=payload.get("number", ""), reply=reply), None


def _verdict_request(texts: Texts, payload: dict, tz):
    number = payload["number"]
    text = texts("verdict_resolved_q", number=number)
    return text, keyboards.resolved_question(texts, number)


def _follow_up_done(texts: Texts, payload: dict, tz):
    return texts("follow_up_done", note=clip(payload.get("note", ""), BODY_CHARS)), None


def _survey(key: str):
    # Invitations and reminders (surveys.rounds) carry the title, the round and its own link.
    def render(texts: Texts, payload: dict, tz):
        titles = payload.get("title") or {}
        title = titles.get(texts.language) or titles.get("zh") or payload.get("slug", "")
        closes = datetime.fromisoformat(payload["closes_at"]).astimezone(tz)
        text = texts(
            key,
            title=clip(title, 200),
            round=payload.get("round", ""),
            closes=f"{closes:%Y-%m-%d %H:%M}",
        )
        # Answer in the chat (/survey's flow) or on the web through the invitation's link.
        round_id = payload.get("round_id")
        if isinstance(round_id, int):
            return text, keyboards.survey_invitation(texts, round_id, payload.get("url"))
        url = payload.get("url")
        return text, keyboards.link(texts.raw("survey_answer"), url) if url else None

    return render


def _staff_digest(texts: Texts, payload: dict, tz):
    # A department officer's weekly digest (minyi.services.digest), from their own chat.
    satisfaction = payload.get("satisfaction") or {}
    if satisfaction.get("rate") is None:
        line = texts("digest_too_few", ratings=payload.get("ratings", 0))
    else:
        change = satisfaction.get("change")
        if change is None:
            said = texts("digest_not_compared")
        elif satisfaction.get("significant"):
            points = f"{abs(change) * 100:.1f}"
            said = texts("digest_up" if change > 0 else "digest_down", points=points)
        else:
            said = texts("digest_same")
        line = texts(
            "digest_satisfaction",
            rate=f"{satisfaction['rate'] * 100:.1f}%",
            ratings=payload.get("ratings", 0),
            change=said,
        )

    def topics(items) -> str:
        return "、".join(f"{item['topic']} {item['count']}" for item in items)

    rising = payload.get("rising_topics") or []
    text = texts(
        "staff_digest",
        department=clip(payload.get("department_name", ""), 100),
        week=payload.get("week", ""),
        first=payload.get("first", ""),
        last=payload.get("last", ""),
        new=payload.get("new_tickets", 0),
        previous=payload.get("previous_tickets", 0),
        overdue=payload.get("overdue_open", 0),
        satisfaction=line,
        topics=clip(topics(payload.get("top_topics") or []), 300) or texts.raw("digest_no_topics"),
        rising=texts("digest_rising", topics=clip(topics(rising), 300)) if rising else Safe(""),
        home=payload.get("home", ""),
    )
    return text, None


# Kinds this sender can put into words; others stay queued for a sender that can.
RENDERERS: dict[str, Callable[..., tuple[str, InlineKeyboardMarkup | None]]] = {
    "ticket_status": _ticket_status,
    "ticket_reply": _ticket_reply,
    "ticket_verdict_request": _verdict_request,
    "follow_up_done": _follow_up_done,
    "survey_invitation": _survey("survey_invitation"),
    "survey_reminder": _survey("survey_reminder"),
    "staff_digest": _staff_digest,
}


def render(delivery: Delivery, timezone) -> tuple[str, InlineKeyboardMarkup | None]:
    """The message text (HTML) and buttons of a delivery, in the citizen's language."""
    return RENDERERS[delivery.kind](Texts(delivery.language), delivery.payload, timezone)


class OutboxSender:
    """Drains the outbox through `bot`; `run()` until cancelled, `drain_once()` for one round."""

    def __init__(
        self,
        bot: Bot,
        services: BotServices,
        *,
        rate_per_s: float | None = None,
        per_chat_interval: float = 1.0,
        batch_size: int = 100,
        idle_seconds: float = 1.0,
        backoff_seconds: float = 5.0,
        max_backoff_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.bot = bot
        self.services = services
        self.rate_per_s = rate_per_s or services.settings.bot.send_rate_per_s
        self.per_chat_interval = per_chat_interval
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.clock = clock  # spacing and pauses
        self.now = now  # what is due, when to retry (the database's times)
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._last_sent: dict[str, float] = {}
        self.sent = 0
        self.retried = 0
        self.failed = 0

    async def run(self) -> None:
        """Send until cancelled; a database or network outage is waited out, never fatal."""
        log.info("发件箱已启动 / outbox sender started (%.0f messages/s)", self.rate_per_s)
        while True:
            try:
                started = await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("发件箱出错，稍后重试 / outbox round failed; retrying")
                started = 0
            if started == 0:
                await asyncio.sleep(self.idle_seconds)

    async def drain_once(self) -> int:
        """Send one round of due messages (one per chat); returns how many were attempted."""
        deliveries = await self.services.scan(
            due_messages,
            channel=Channel.TELEGRAM,
            kinds=RENDERERS,
            now=self.now(),
            limit=self.batch_size,
        )
        self._forget_quiet_chats()
        tasks = []
        chats: set[str] = set()
        for delivery in deliveries:
            chat = delivery.external_id
            if chat in chats or self._chat_is_resting(chat):
                continue  # its next message waits for a later round: one a second per chat
            chats.add(chat)
            await self._wait_for_slot()
            self._last_sent[chat] = self.clock()
            tasks.append(asyncio.create_task(self._deliver(delivery)))
        if tasks:
            await asyncio.gather(*tasks)
        return len(tasks)

    def _chat_is_resting(self, chat: str) -> bool:
        last = self._last_sent.get(chat)
        return last is not None and self.clock() - last < self.per_chat_interval

    def _forget_quiet_chats(self) -> None:
        if len(self._last_sent) < 10_000:
            return
        now = self.clock()
        self._last_sent = {
            chat: at for chat, at in self._last_sent.items() if now - at < self.per_chat_interval
        }

    async def _wait_for_slot(self) -> None:
        # A 429 pauses every send; otherwise sends are spaced 1/rate seconds apart.
        while True:
            now = self.clock()
            wait = max(self._paused_until, self._next_slot) - now
            if wait <= 0:
                self._next_slot = max(now, self._next_slot) + 1.0 / self.rate_per_s
                return
            await asyncio.sleep(wait)

    async def _deliver(self, delivery: Delivery) -> None:
        text, markup = render(delivery, self.services.ctx.timezone)
        try:
            await self.bot.send_message(
                chat_id=int(delivery.external_id), text=text, reply_markup=markup
            )
        except TelegramRetryAfter as error:
            self._paused_until = max(self._paused_until, self.clock() + error.retry_after)
            log.warning("Telegram 限流 / rate limited: pausing %s s", error.retry_after)
            await self._retry(delivery, f"429: {error.message}", error.retry_after)
        except TelegramForbiddenError as error:
            # Blocked by the citizen (or kicked): every later send fails the same way.
            self.failed += 1
            await self.services.write(
                mark_failed,
                delivery.id,
                error=f"403: {error.message}",
                at=self.now(),
                unsubscribe=True,
            )
        except (TelegramBadRequest, TelegramNotFound) as error:
            # Chat not found, a message Telegram refuses: sending it again cannot help.
            self.failed += 1
            log.error("发件箱消息 %s 被拒绝 / message refused: %s", delivery.id, error.message)
            await self.services.write(
                mark_failed, delivery.id, error=f"400: {error.message}", at=self.now()
            )
        except (AiogramError, OSError, TimeoutError) as error:
            # Network down, Telegram 5xx or a garbled answer, a timeout: try again later.
            delay = min(self.backoff_seconds * 2**delivery.attempts, self.max_backoff_seconds)
            await self._retry(delivery, f"{type(error).__name__}: {error}", delay)
        else:
            self.sent += 1
            await self.services.write(mark_sent, delivery.id, at=self.now())

    async def _retry(self, delivery: Delivery, error: str, delay: float) -> None:
        self.retried += 1
        retry_at = self.now() + timedelta(seconds=delay)
        await self.services.write(mark_retry, delivery.id, error=error, retry_at=retry_at)
