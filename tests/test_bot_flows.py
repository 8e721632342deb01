"""A citizen's conversations with the bot, fed update by update through the Dispatcher.

Every answer goes through a recording session that refuses what Telegram refuses (unbalanced
HTML, over-long texts, callback data over 64 bytes), and every write lands in a real database.
"""

from __future__ import annotations

from sqlalchemy import func, select

from bot.texts import resolve_language
from minyi.models import (
    BadReviewFollowUp,
    Channel,
    Citizen,
    Rating,
    RoutingCorrection,
    Ticket,
    TicketStatus,
)
from minyi.services.tickets import get_ticket
from minyi.services.views import TicketView
from tests.bot_support import STREET_LIGHT, UNCLEAR, async_test, texts_of


def _one(env, model, **where):
    with env.services.session_factory() as session:
        query = select(model).filter_by(**where)
        return session.scalars(query).one()


def _ticket(env, number: str) -> TicketView:
    with env.services.session_factory() as session:
        return TicketView.of(get_ticket(session, number))


def _count(env, model) -> int:
    with env.services.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model))


@async_test
async def test_start_greets_in_chinese_with_the_privacy_note_and_the_menu(bot_env):
    citizen = bot_env.citizen(501, "zh-hans")
    calls = await bot_env.feed(citizen.message("/start"))
    shown = "\n".join(c.params["text"] for c in calls)
    assert "您好，张三" in shown and "隐私说明" in shown
    menu = calls[-1].params["reply_markup"]["inline_keyboard"]
    labels = [button["text"] for row in menu for button in row]
    assert any("评价" in label for label in labels) and any("投诉" in label for label in labels)
    stored = _one(bot_env, Citizen, external_id="501")
    assert stored.channel == Channel.TELEGRAM and stored.language == "zh"


@async_test
async def test_an_english_telegram_language_gets_english_answers(bot_env):
    shown = await bot_env.say(bot_env.citizen(502, "en"), "/start")
    assert "Hello, 张三" in shown and "Privacy" in shown
    assert _one(bot_env, Citizen, external_id="502").language == "en"


def test_language_codes_are_resolved_by_hand():
    assert [resolve_language(code) for code in ("en", "en-US", "en_US", "EN-gb")] == ["en"] * 4
    assert [resolve_language(code) for code in ("zh-hans", "zh_CN", "zh-TW", "ru", None)] == [
        "zh"
    ] * 5


@async_test
async def test_lang_switches_the_language_and_it_is_remembered(bot_env):
    citizen = bot_env.citizen(503, "zh-hans")
    assert "请选择语言" in await bot_env.say(citizen, "/lang")
    assert "Language set to English" in await bot_env.tap(citizen, "English")
    assert "/rate rate a public service" in await bot_env.say(citizen, "/help")
    assert _one(bot_env, Citizen, external_id="503").language == "en"
    await bot_env.say(citizen, "/lang")
    assert "已切换为中文" in await bot_env.tap(citizen, "中文")


@async_test
async def test_a_good_rating_pages_through_departments_and_is_stored_once(bot_env):
    citizen = bot_env.citizen(504)
    shown = await bot_env.say(citizen, "/rate")
    assert "第 1/2 页" in shown
    assert "第 2/2 页" in await bot_env.tap(citizen, "下一页")
    await bot_env.tap(citizen, "县卫生健康委员会")
    shown = await bot_env.tap(citizen, "事项1")
    assert "请对本次服务打分" in shown
    labels = [b["text"] for row in citizen.last_keyboard_message()["reply_markup"][
        "inline_keyboard"] for b in row]  # fmt: skip
    assert labels == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    assert "意见或建议" in await bot_env.tap(citizen, "满意")  # the first label containing it
    assert "感谢您的评价" in await bot_env.tap(citizen, "跳过")
    rating = _one(bot_env, Rating, citizen_id=_one(bot_env, Citizen, external_id="504").id)
    assert rating.score == 5 and rating.channel == Channel.TELEGRAM and rating.comment is None
    assert rating.service_id == bot_env.catalogue["wjj"]["services"][0]
    assert rating.source_ref.startswith("tg:")


@async_test
async def test_a_bad_rating_asks_the_aspect_and_names_the_answer_deadline(bot_env):
    citizen = bot_env.citizen(505)
    await bot_env.say(citizen, "/rate")
    await bot_env.tap(citizen, "县城市管理局")
    await bot_env.tap(citizen, "事项2")
    shown = await bot_env.tap(citizen, "非常不满意")
    assert "哪方面" in shown
    labels = [b["text"] for row in citizen.last_keyboard_message()["reply_markup"][
        "inline_keyboard"] for b in row]  # fmt: skip
    assert labels == ["办事效率", "服务态度", "指引准确", "其他"]
    await bot_env.tap(citizen, "服务态度")
    comment = "窗口人员态度<很差> & 不耐烦"
    shown = await bot_env.say(citizen, comment)
    # 2026-11-25 (Wednesday) + 5 working days.
    assert "2026-12-02" in shown and "县城市管理局" in shown
    rating = _one(bot_env, Rating, citizen_id=_one(bot_env, Citizen, external_id="505").id)
    assert (rating.score, rating.aspect, rating.comment) == (1, "服务态度", comment)
    follow_up = _one(bot_env, BadReviewFollowUp, rating_id=rating.id)
    assert follow_up.deadline.isoformat() == "2026-12-02"


@async_test
async def test_a_complaint_with_photos_and_a_location_is_filed_and_routed(bot_env):
    citizen = bot_env.citizen(506)
    shown = await bot_env.say(citizen, "/complain")
    assert "5-5000" in shown
    assert "共 1 张" in texts_of(await bot_env.feed(citizen.photo("photo-A")))
    assert "已收到位置" in texts_of(await bot_env.feed(citizen.location(30.27, 120.15)))
    shown = await bot_env.say(citizen, STREET_LIGHT)
    assert "MY-20261125-0001" in shown and "县住房和城乡建设局" in shown
    assert "92%" in shown and "2026-12-16" in shown
    ticket = _ticket(bot_env, "MY-20261125-0001")
    assert ticket.status == TicketStatus.ASSIGNED and ticket.channel == Channel.TELEGRAM
    assert ticket.attachments == (("photo", "photo-A"),)
    row = _one(bot_env, Ticket, number="MY-20261125-0001")
    assert (row.latitude, row.longitude) == (30.27, 120.15)
    assert "由<b>县住房和城乡建设局</b>办理" in await bot_env.tap(citizen, "部门正确")


@async_test
async def test_a_photo_with_a_caption_files_the_complaint(bot_env):
    citizen = bot_env.citizen(507)
    await bot_env.say(citizen, "/complain")
    shown = texts_of(await bot_env.feed(citizen.photo("photo-B", caption=STREET_LIGHT)))
    assert "工单号" in shown
    assert _ticket(bot_env, "MY-20261125-0001").attachments == (("photo", "photo-B"),)


@async_test
async def test_the_citizen_may_pick_another_department_kept_as_a_correction(bot_env):
    citizen = bot_env.citizen(508)
    await bot_env.say(citizen, "/complain")
    await bot_env.say(citizen, STREET_LIGHT)
    assert "请为工单 MY-20261125-0001 选择承办部门" in await bot_env.tap(citizen, "选择其他部门")
    assert "已改由<b>县城市管理局</b>办理" in await bot_env.tap(citizen, "县城市管理局")
    ticket = _ticket(bot_env, "MY-20261125-0001")
    assert ticket.department.id == bot_env.catalogue["cgj"]["id"]
    correction = _one(bot_env, RoutingCorrection, ticket_id=ticket.id)
    assert correction.corrected_department_id == bot_env.catalogue["cgj"]["id"]


@async_test
async def test_an_unclear_complaint_goes_to_triage_and_the_bot_says_so(bot_env):
    citizen = bot_env.citizen(509)
    await bot_env.say(citizen, "/complain")
    shown = await bot_env.say(citizen, UNCLEAR)
    assert "人工分拣" in shown and "31%" in shown
    ticket = _ticket(bot_env, "MY-20261125-0001")
    assert ticket.status == TicketStatus.RECEIVED and ticket.needs_triage
    labels = [b["text"] for row in citizen.last_keyboard_message()["reply_markup"][
        "inline_keyboard"] for b in row]  # fmt: skip
    assert labels == ["🔁 选择其他部门"]  # nothing suggested to accept
    await bot_env.tap(citizen, "选择其他部门")
    await bot_env.tap(citizen, "下一页")
    assert "县卫生健康委员会" in await bot_env.tap(citizen, "县卫生健康委员会")
    assert _ticket(bot_env, ticket.number).status == TicketStatus.ASSIGNED


@async_test
async def test_a_complaint_too_short_or_too_long_gets_the_limits_and_may_be_retried(bot_env):
    citizen = bot_env.citizen(510)
    await bot_env.say(citizen, "/complain")
    assert "至少写 5 个字" in await bot_env.say(citizen, "路灯坏")
    assert "最多 5000 字" in await bot_env.say(citizen, "路灯" * 2600)
    assert _count(bot_env, Ticket) == 0
    assert "工单号" in await bot_env.say(citizen, STREET_LIGHT)


@async_test
async def test_the_daily_complaint_limit_is_explained(bot_env):
    citizen = bot_env.citizen(511)
    for n in range(5):
        await bot_env.say(citizen, "/complain")
        assert "工单号" in await bot_env.say(citizen, f"{STREET_LIGHT}（第 {n + 1} 次）")
    await bot_env.say(citizen, "/complain")
    shown = await bot_env.say(citizen, STREET_LIGHT + "又坏了")
    assert "每天最多 5 件" in shown and _count(bot_env, Ticket) == 5
    # The flow ended: the next text is not taken as a complaint.
    assert "没有听懂" in await bot_env.say(citizen, STREET_LIGHT + "还是坏的")
