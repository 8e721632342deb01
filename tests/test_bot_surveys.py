"""Answering a survey in the chat, fed update by update through the Dispatcher.

The hall survey of docs/surveys.md, on SQLite and (in CI) PostgreSQL: /survey, the
invitation's button, inline keyboards for every question type, each answer saved as it
arrives (a restarted bot resumes), the complaint offer, one response per Telegram identity.
"""

from __future__ import annotations

from sqlalchemy import func, select

from bot.app import build_dispatcher
from bot.context import CitizenCache
from bot.keyboards import SurveyAnswer
from bot.outbox import OutboxSender
from minyi.models import Channel, Citizen, SurveyResponse, Ticket
from surveys import catalog, rounds
from tests.bot_support import async_test, texts_of
from tests.builders import make_department
from tests.survey_helpers import HALL, hall_template


def _hall(env, **round_options):
    """The hall survey with an open round; the bot's catalogue has rsj and ybj already."""
    with env.services.session_factory.begin() as session:
        make_department(session, code="zwfw", name="县政务服务中心")
        catalog.import_survey(session, env.services.ctx, hall_template())
        return rounds.open_round(session, env.services.ctx, HALL, **round_options)


async def _tap(env, citizen, label: str, *, allow_refusals: bool = False) -> str:
    """Press the button labelled exactly `label` on the citizen's latest keyboard."""
    message = citizen.last_keyboard_message()
    for row in message["reply_markup"]["inline_keyboard"]:
        for button in row:
            if button["text"] == label:
                calls = await env.feed(citizen.press(button["callback_data"], message))
                return texts_of(calls)
    labels = [b["text"] for row in message["reply_markup"]["inline_keyboard"] for b in row]
    raise AssertionError(f"no button {label!r} among {labels}")


def _labels(citizen) -> list[str]:
    keyboard = citizen.last_keyboard_message()["reply_markup"]["inline_keyboard"]
    return [button["text"] for row in keyboard for button in row]


def _response(env, user_id: int) -> tuple[SurveyResponse, dict]:
    with env.services.session_factory() as session:
        citizen = session.scalars(select(Citizen).filter_by(external_id=str(user_id))).one()
        response = session.scalars(select(SurveyResponse).filter_by(citizen_id=citizen.id)).one()
        answers = {
            key: ";".join(value) if isinstance(value, list) else value
            for key, value in (response.answers or {}).items()
        }
        session.expunge(response)
        return response, answers


def _count(env, model) -> int:
    with env.services.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model))


@async_test
async def test_no_open_survey_is_said_plainly(bot_env):
    assert "目前没有您可以参加的问卷调查" in await bot_env.say(bot_env.citizen(701), "/survey")
    assert "/survey" in await bot_env.say(bot_env.citizen(701), "/help")


@async_test
async def test_a_whole_survey_by_buttons_and_text_with_a_complaint(bot_env):
    _hall(bot_env)
    citizen = bot_env.citizen(702)
    shown = await bot_env.say(citizen, "/survey")
    assert "县政务服务大厅满意度调查" in shown and "第 1 轮" in shown and "约需 2 分钟" in shown
    assert "第 1/7 题" in shown and "总体评价" in shown and "（必答）" in shown
    assert _labels(citizen) == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    shown = await _tap(bot_env, citizen, "不满意")
    assert "第 2/8 题" in shown and "0 表示完全不可能" in shown  # a low score adds "why"
    assert _labels(citizen) == [str(n) for n in range(11)] + ["跳过"]
    assert "您这次是怎么办理的" in await _tap(bot_env, citizen, "跳过")
    assert "跳过" not in _labels(citizen)  # required
    assert "哪类事项" in await _tap(bot_env, citizen, "到窗口")
    assert "社保窗口" in await _tap(bot_env, citizen, "社保业务")
    await _tap(bot_env, citizen, "满意")
    assert "最多选 2 项" in await _tap(bot_env, citizen, "两次")
    await _tap(bot_env, citizen, "▫️ 排队时间")
    await _tap(bot_env, citizen, "▫️ 办事指引")
    await _tap(bot_env, citizen, "▫️ 服务态度")
    assert "✅ 服务态度" in _labels(citizen)
    refused = await _tap(bot_env, citizen, "✔️ 完成")
    assert "最多选 2 项" in refused and "服务规范" not in refused  # the engine said no
    await _tap(bot_env, citizen, "✅ 服务态度")
    shown = await _tap(bot_env, citizen, "✔️ 完成")
    assert "服务规范程度" in shown and "5 分：热情规范" in shown
    assert _labels(citizen)[:5] == ["1", "2", "3", "4", "5"]
    shown = await _tap(bot_env, citizen, "4")
    assert "哪里让您不满意" in shown and "最多 300 字" in shown
    assert "最多 300 字" in await bot_env.say(citizen, "很" * 301)  # too long: asked again
    complaint = "社保窗口只开了一个，<排队>一个多小时 & 没有叫号。"
    shown = await bot_env.say(citizen, complaint)
    assert "还有什么意见或建议" in shown
    shown = await _tap(bot_env, citizen, "跳过")
    assert "是否转为投诉" in shown
    shown = await _tap(bot_env, citizen, "📝 转为投诉")
    assert "感谢您参与" in shown and "工单号" in shown
    response, answers = _response(bot_env, 702)
    assert response.submitted_at is not None and response.channel == Channel.TELEGRAM
    assert answers == {
        "overall": 2, "how": "hall", "service": "social", "social_rating": 4, "visits": "two",
        "improve": "queue;guide", "norms": 4, "why": complaint,
    }  # fmt: skip
    with bot_env.services.session_factory() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.text == complaint and ticket.citizen_id == response.citizen_id
    assert ticket.number in await bot_env.say(citizen, "/my")


@async_test
async def test_each_answer_is_kept_and_a_restarted_bot_resumes(bot_env):
    _hall(bot_env)
    citizen = bot_env.citizen(703)
    await bot_env.say(citizen, "/survey")
    await _tap(bot_env, citizen, "非常满意")
    await _tap(bot_env, citizen, "9")
    stale = citizen.last_keyboard_message()
    _, answers = _response(bot_env, 703)
    assert answers == {}  # saved as a draft, not submitted
    # A restart: new dispatcher and memory storage, nothing of the chat in memory.
    bot_env.dispatcher = build_dispatcher(bot_env.services)
    bot_env.services.citizens = CitizenCache()
    shown = await bot_env.say(citizen, "/survey")
    assert "继续填写" in shown and "第 3/7 题" in shown and "您这次是怎么办理的" in shown
    # A button of the old message still counts, once: it answers the question it shows.
    data = stale["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert SurveyAnswer.unpack(data).question == 2
    assert "哪类事项" in texts_of(await bot_env.feed(citizen.press(data, stale)))
    with bot_env.services.session_factory() as session:
        draft = session.scalars(select(SurveyResponse)).one().draft
    assert draft == {"overall": 5, "recommend": 9, "how": "hall"}


@async_test
async def test_one_response_per_telegram_identity(bot_env):
    round_ = _hall(bot_env)
    citizen = bot_env.citizen(704)
    await bot_env.say(citizen, "/survey")
    old = dict(citizen.last_keyboard_message())
    data = old["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await _tap(bot_env, citizen, "非常满意")
    for label in ("跳过", "网上办理", "一次办成"):
        await _tap(bot_env, citizen, label)
    await _tap(bot_env, citizen, "▫️ 网上办理")
    await _tap(bot_env, citizen, "✔️ 完成")
    await _tap(bot_env, citizen, "跳过")  # norms
    shown = await _tap(bot_env, citizen, "跳过")  # suggest: no complaint to offer, submitted
    assert "感谢您参与" in shown
    assert "目前没有您可以参加的问卷调查" in await bot_env.say(citizen, "/survey")
    refused = texts_of(await bot_env.feed(citizen.press(data, old)))
    assert "已提交过本次调查" in refused
    from bot.keyboards import SurveyOpen

    again = citizen.press(SurveyOpen(round=round_.id).pack(), old)
    assert "您已提交过" in texts_of(await bot_env.feed(again))
    assert _count(bot_env, SurveyResponse) == 1


@async_test
async def test_the_invitation_offers_the_chat_and_the_web(bot_env):
    with bot_env.services.session_factory.begin() as session:
        from tests.builders import make_citizen

        invited = make_citizen(session, external_id="705")
        invited.subscribed = True
        make_citizen(session, external_id="706")  # not subscribed: not invited
    round_ = _hall(bot_env, invitation_only=True, invite_subscribers=True)
    with bot_env.services.session_factory.begin() as session:
        assert rounds.invite_subscribers(session, bot_env.services.ctx, round_.id) == 1
    sender = OutboxSender(
        bot_env.bot, bot_env.services, rate_per_s=1000, per_chat_interval=0,
        now=lambda: bot_env.clock.now,
    )  # fmt: skip
    assert await sender.drain_once() == 1
    (message,) = bot_env.telegram.sent(705)
    keyboard = message.params["reply_markup"]["inline_keyboard"]
    assert keyboard[0][0]["text"] == "💬 在这里回答"
    assert keyboard[1][0]["url"].startswith(f"http://127.0.0.1:5000/s/{HALL}?t=")
    citizen = bot_env.citizen(705)
    shown = await _tap(bot_env, citizen, "💬 在这里回答")
    assert "第 1/7 题" in shown
    # Not invited: the round does not exist for them, and the button does not let them in.
    stranger = bot_env.citizen(706)
    assert "目前没有" in await bot_env.say(stranger, "/survey")
    data = keyboard[0][0]["callback_data"]
    assert "仅限受邀" in texts_of(await bot_env.feed(stranger.press(data)))
    assert _count(bot_env, SurveyResponse) == 1


@async_test
async def test_several_open_surveys_are_listed(bot_env):
    _hall(bot_env)
    other = hall_template() | {"slug": "street-2026", "title": {"zh": "街道服务满意度调查"}}
    with bot_env.services.session_factory.begin() as session:
        catalog.import_survey(session, bot_env.services.ctx, other)
        rounds.open_round(session, bot_env.services.ctx, "street-2026")
    citizen = bot_env.citizen(707)
    assert "请选择要填写的问卷" in await bot_env.say(citizen, "/survey")
    labels = _labels(citizen)
    assert len(labels) == 2 and any("街道服务满意度调查" in label for label in labels)
    street = next(label for label in labels if "街道" in label)
    assert "街道服务满意度调查" in await _tap(bot_env, citizen, street)


@async_test
async def test_bad_input_in_a_survey_gets_a_short_answer_and_stores_nothing(bot_env):
    round_ = _hall(bot_env)
    citizen = bot_env.citizen(708)
    await bot_env.say(citizen, "/survey")
    message = citizen.last_keyboard_message()
    for forged in (
        SurveyAnswer(round=round_.id, question=99, value=1).pack(),  # no such question
        SurveyAnswer(round=round_.id, question=0, value=9).pack(),  # a score out of range
        SurveyAnswer(round=round_.id + 50, question=0, value=5).pack(),  # no such round
        "sa:x:y:z",
    ):
        calls = await bot_env.feed(citizen.press(forged, message))
        alert = [c for c in calls if c.method == "answerCallbackQuery"]
        assert alert and alert[0].params.get("show_alert"), forged
    with bot_env.services.session_factory() as session:
        assert session.scalars(select(SurveyResponse)).one().draft is None
    # Waiting for a typed answer, a sticker is not one.
    for label in ("非常不满意", "跳过", "网上办理", "一次办成"):
        await _tap(bot_env, citizen, label)
    await _tap(bot_env, citizen, "▫️ 排队时间")
    await _tap(bot_env, citizen, "✔️ 完成")
    assert "哪里让您不满意" in await _tap(bot_env, citizen, "跳过")
    sticker = citizen.message(sticker={"file_id": "s1", "file_unique_id": "s1", "type":
                              "regular", "width": 512, "height": 512, "is_animated": False,
                              "is_video": False})  # fmt: skip
    assert "请用文字回答" in texts_of(await bot_env.feed(sticker))


@async_test
async def test_questions_with_markup_are_escaped_and_english_is_offered(bot_env):
    with bot_env.services.session_factory.begin() as session:
        catalog.import_survey(
            session,
            bot_env.services.ctx,
            {
                "slug": "markup-1",
                "title": {"zh": "标题 <b>粗</b> & 符号", "en": "Title <i> & co"},
                "questions": [
                    {"key": "pick", "type": "single", "required": True,
                     "text": {"zh": "选 <一个> & 提交", "en": "Pick <one> & go"},
                     "choices": [{"key": "a", "text": {"zh": "甲 <a>", "en": "A <a>"}},
                                 {"key": "b", "text": {"zh": "乙", "en": "B"}}]},
                ],
            },
        )  # fmt: skip
        rounds.open_round(session, bot_env.services.ctx, "markup-1")
    citizen = bot_env.citizen(709, "en")
    shown = await bot_env.say(citizen, "/survey")  # the fake Telegram refuses broken HTML
    assert "Pick <one> & go" in shown or "Pick &lt;one&gt; &amp; go" in shown
    assert _labels(citizen) == ["A <a>", "B"]
    assert "Thank you for answering" in await _tap(bot_env, citizen, "B")
