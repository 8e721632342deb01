"""The outbox sender against Telegram's answers: order, rate limits, 429, 403, an outage."""

from __future__ import annotations

from datetime import timedelta

from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import select

from bot.app import create_bot
from bot.outbox import OutboxSender
from bot.session import JsonBodySession
from minyi.db import utcnow
from minyi.models import Channel, Citizen, OutboxMessage
from minyi.services.outbox import enqueue_message
from tests.bot_support import async_test
from tests.builders import make_citizen
from tests.fake_telegram import FakeBotAPIServer


class Monotonic:
    """The sender's spacing clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Wall:
    """The database clock the sender uses for due and retry times, moved by the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _citizen(env, user_id: int, language: str = "zh", channel=Channel.TELEGRAM) -> int:
    with env.services.session_factory.begin() as session:
        citizen = make_citizen(session, external_id=str(user_id), channel=channel)
        citizen.language = language
        citizen.subscribed = True
        return citizen.id


def _queue(env, citizen_id: int, key: str, kind="ticket_reply", minutes=0, **payload) -> int:
    payload = payload or {"number": f"MY-20261125-{key}", "reply": f"答复 {key}"}
    with env.services.session_factory.begin() as session:
        message = enqueue_message(
            session,
            citizen_id=citizen_id,
            kind=kind,
            dedupe_key=f"test:{key}",
            payload=payload,
            at=utcnow() - timedelta(hours=1) + timedelta(minutes=minutes),
        )
        return message.id


def _rows(env) -> dict[str, OutboxMessage]:
    with env.services.session_factory() as session:
        return {m.dedupe_key[5:]: m for m in session.scalars(select(OutboxMessage))}


def _sender(env, **kwargs) -> OutboxSender:
    options = {"rate_per_s": 1000, "per_chat_interval": 0, "backoff_seconds": 30}
    return OutboxSender(env.bot, env.services, **(options | kwargs))


@async_test
async def test_messages_go_oldest_first_in_each_citizens_language_and_are_marked_sent(bot_env):
    chinese, english = _citizen(bot_env, 601), _citizen(bot_env, 602, "en")
    _queue(bot_env, english, "b", minutes=2)
    _queue(bot_env, chinese, "a", minutes=1)
    _queue(bot_env, chinese, "c", kind="ticket_verdict_request", minutes=3, number="MY-1")
    _queue(bot_env, english, "d", kind="follow_up_done", minutes=4, rating_id=1, note="已整改")
    _queue(bot_env, chinese, "e", kind="ticket_status", minutes=5, number="MY-2",
           status="in_progress")  # fmt: skip
    sender = _sender(bot_env)
    assert await sender.drain_once() == 2  # one per chat in a round
    while await sender.drain_once():
        pass
    sent = [(int(c.params["chat_id"]), c.params["text"]) for c in bot_env.telegram.sent()]
    assert [chat for chat, _ in sent] == [601, 602, 601, 602, 601]
    assert "有了答复" in sent[0][1] and "has a reply" in sent[1][1]
    assert "问题解决了吗" in sent[2][1] and "The department has looked into" in sent[3][1]
    assert "办理中" in sent[4][1]
    buttons = bot_env.telegram.sent()[2].params["reply_markup"]["inline_keyboard"]
    assert [b["text"] for b in buttons[0]] == ["是", "否"]
    rows = _rows(bot_env)
    assert all(m.sent_at is not None and m.attempts == 1 for m in rows.values())


@async_test
async def test_one_message_a_second_per_chat(bot_env):
    citizen = _citizen(bot_env, 603)
    for n in range(3):
        _queue(bot_env, citizen, f"m{n}", minutes=n)
    clock = Monotonic()
    sender = _sender(bot_env, per_chat_interval=1.0, clock=clock)
    assert await sender.drain_once() == 1
    assert await sender.drain_once() == 0  # the chat rests
    clock.now += 1.0
    assert await sender.drain_once() == 1
    clock.now += 1.0
    assert await sender.drain_once() == 1
    texts = [c.params["text"] for c in bot_env.telegram.sent(603)]
    assert [t[-2:] for t in texts] == ["m0", "m1", "m2"]


@async_test
async def test_a_429_pauses_sending_for_retry_after_then_the_message_goes_once(bot_env):
    citizen = _citizen(bot_env, 604)
    _queue(bot_env, citizen, "x")
    bot_env.telegram.rate_limit_next, bot_env.telegram.retry_after = 1, 1
    wall = Wall()
    sender = _sender(bot_env, now=wall)
    assert await sender.drain_once() == 1
    row = _rows(bot_env)["x"]
    assert row.sent_at is None and row.attempts == 1 and row.last_error.startswith("429")
    assert row.next_attempt_at == wall.now + timedelta(seconds=1)
    assert await sender.drain_once() == 0  # not due before retry_after
    wall.advance(1)
    assert await sender.drain_once() == 1  # waits out the pause, then sends
    assert len(bot_env.telegram.sent(604)) == 1 and _rows(bot_env)["x"].sent_at is not None


@async_test
async def test_a_403_fails_the_message_unsubscribes_the_citizen_and_is_never_retried(bot_env):
    blocked, fine = _citizen(bot_env, 605), _citizen(bot_env, 606)
    _queue(bot_env, blocked, "blocked")
    _queue(bot_env, fine, "fine", minutes=1)
    bot_env.telegram.blocked_chats.add(605)
    wall = Wall()
    sender = _sender(bot_env, now=wall)
    assert await sender.drain_once() == 2
    rows = _rows(bot_env)
    assert rows["blocked"].failed_at is not None and rows["blocked"].last_error.startswith("403")
    assert rows["fine"].sent_at is not None
    with bot_env.services.session_factory() as session:
        assert session.get(Citizen, blocked).subscribed is False
        assert session.get(Citizen, fine).subscribed is True
    wall.advance(3600)
    assert await sender.drain_once() == 0
    assert len(bot_env.telegram.refused) == 1


@async_test
async def test_a_chat_telegram_does_not_know_fails_for_good(bot_env):
    citizen = _citizen(bot_env, 607)
    _queue(bot_env, citizen, "gone")
    bot_env.telegram.unknown_chats.add(607)
    assert await _sender(bot_env).drain_once() == 1
    row = _rows(bot_env)["gone"]
    assert row.failed_at is not None and "chat not found" in row.last_error


@async_test
async def test_survey_invitations_and_reminders_carry_their_link(bot_env):
    chinese, english = _citizen(bot_env, 613), _citizen(bot_env, 614, "en")
    survey = {
        "slug": "hall-2026", "round_id": 7, "round": 3, "invitation_id": 812,
        "title": {"zh": "县政务服务大厅满意度调查", "en": "County service hall survey"},
        "closes_at": "2026-12-08T01:00:00+00:00",
        "url": "https://minyi.example.gov.cn/s/hall-2026?t=abc", "language": "zh",
    }  # fmt: skip
    _queue(bot_env, chinese, "invite", kind="survey_invitation", **survey)
    _queue(bot_env, english, "remind", kind="survey_reminder", minutes=1, **survey)
    assert await _sender(bot_env).drain_once() == 2
    invite, remind = bot_env.telegram.sent()
    assert "县政务服务大厅满意度调查" in invite.params["text"]
    assert "2026-12-08 09:00" in invite.params["text"]  # the county's time
    assert "County service hall survey" in remind.params["text"]
    # Answer in the chat (the round's /survey flow) or on the web with the invitation's link.
    here, web = (row[0] for row in invite.params["reply_markup"]["inline_keyboard"])
    assert here["callback_data"] == "so:7" and web["url"] == survey["url"]


@async_test
async def test_kinds_it_cannot_render_and_web_citizens_stay_queued(bot_env):
    citizen = _citizen(bot_env, 608)
    web = _citizen(bot_env, 609, channel=Channel.WEB)
    _queue(bot_env, citizen, "survey", kind="digest", survey=1)
    _queue(bot_env, web, "web")
    assert await _sender(bot_env).drain_once() == 0
    assert all(m.attempts == 0 and m.sent_at is None for m in _rows(bot_env).values())


@async_test
async def test_a_restarted_sender_resumes_where_the_last_one_stopped(bot_env):
    first, second = _citizen(bot_env, 610), _citizen(bot_env, 611)
    for n in range(3):
        _queue(bot_env, first, f"f{n}", minutes=n)
        _queue(bot_env, second, f"s{n}", minutes=n)
    assert await _sender(bot_env).drain_once() == 2
    restarted = _sender(bot_env)  # a new process: nothing in memory
    while await restarted.drain_once():
        pass
    texts = sorted(c.params["text"][-2:] for c in bot_env.telegram.sent())
    assert texts == ["f0", "f1", "f2", "s0", "s1", "s2"]


@async_test
async def test_a_bot_api_that_is_down_is_retried_with_backoff_until_it_is_back(bot_env):
    server = FakeBotAPIServer(bot_env.telegram)
    await server.start()
    settings = bot_env.services.settings
    session = JsonBodySession(api=TelegramAPIServer.from_base(server.url))
    bot = create_bot(settings, session)
    citizen = _citizen(bot_env, 612)
    _queue(bot_env, citizen, "later")
    wall = Wall()
    sender = OutboxSender(
        bot, bot_env.services, rate_per_s=1000, per_chat_interval=0, backoff_seconds=5, now=wall
    )
    try:
        await server.stop()
        assert await sender.drain_once() == 1
        row = _rows(bot_env)["later"]
        assert row.sent_at is None and row.attempts == 1 and "Network" in row.last_error
        assert row.next_attempt_at == wall.now + timedelta(seconds=5)
        wall.advance(5)
        assert await sender.drain_once() == 1  # still down: the backoff doubles
        assert _rows(bot_env)["later"].next_attempt_at == wall.now + timedelta(seconds=10)
        await server.start()  # back, on the same port
        wall.advance(9)
        assert await sender.drain_once() == 0
        wall.advance(1)
        assert await sender.drain_once() == 1
    finally:
        await session.close()
        await server.stop()
    row = _rows(bot_env)["later"]
    assert row.sent_at is not None and row.attempts == 3
    assert len(bot_env.telegram.sent(612)) == 1
