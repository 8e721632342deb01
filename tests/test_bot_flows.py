"""A citizen's conversations with the bot, fed update by update through the Dispatcher.

Every answer goes through a recording session that refuses what Telegram refuses (unbalanced
HTML, over-long texts, callback data over 64 bytes), and every write lands in a real database.
"""

from __future__ import annotations

from aiogram.fsm.storage.base import StorageKey
from sqlalchemy import func, select

from bot.app import build_dispatcher
from bot.outbox import OutboxSender
from bot.states import ComplainFlow
from bot.texts import resolve_language
from minyi.models import (
    BadReviewFollowUp,
    Channel,
    Citizen,
    Rating,
    Role,
    RoutingCorrection,
    Ticket,
    TicketStatus,
)
from minyi.services import catalog, tickets
from minyi.services.actors import Actor
from minyi.services.tickets import get_ticket
from minyi.services.views import TicketView
from tests.bot_support import STREET_LIGHT, UNCLEAR, async_test, texts_of
from tests.builders import make_staff


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
    assert "意见或建议" in await bot_env.tap(citizen, "非常满意")
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


def _labels(citizen) -> list[str]:
    keyboard = citizen.last_keyboard_message()["reply_markup"]["inline_keyboard"]
    return [button["text"] for row in keyboard for button in row]


@async_test
async def test_the_department_list_shows_the_catalogue_as_staff_last_left_it(bot_env):
    # Staff edit the catalogue on the web, another process: the bot's next page reads it.
    citizen = bot_env.citizen(520)
    await bot_env.say(citizen, "/complain")
    await bot_env.say(citizen, STREET_LIGHT)
    await bot_env.tap(citizen, "选择其他部门")
    assert _labels(citizen)[1:4] == ["县城市管理局", "县交通运输局", "县教育局"]
    with bot_env.services.session_factory.begin() as session:
        admin = Actor.staff(make_staff(session, role=Role.ADMIN))
        renamed = {"name": "县综合行政执法局", "name_en": None}
        catalog.update_department(session, "cgj", **renamed, actor=admin)
        catalog.set_department_active(session, "jyj", active=False, actor=admin)
    await bot_env.tap(citizen, "下一页")
    await bot_env.tap(citizen, "上一页")
    assert _labels(citizen) == [
        "县住房和城乡建设局",
        "县综合行政执法局",
        "县交通运输局",
        "县人力资源和社会保障局",
        "县医疗保障局",
        "县卫生健康委员会",
        "下一页 ▶",
    ]
    assert "已改由<b>县综合行政执法局</b>办理" in await bot_env.tap(citizen, "综合行政执法局")


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


def _staff_moves(env, number: str, *moves: str, reply: str = "已安排维修，路灯已于今天修复。"):
    """An admin moves the ticket (start, reply, close), as the web's staff area would."""
    with env.services.session_factory.begin() as session:
        admin = Actor.staff(make_staff(session, role=Role.ADMIN))
        ticket = get_ticket(session, number, for_update=True)
        for move in moves:
            if move == "reply":
                tickets.reply(session, env.services.ctx, ticket, actor=admin, text=reply)
            else:
                getattr(tickets, move)(session, env.services.ctx, ticket, actor=admin)


async def _file_complaint(env, citizen, text=STREET_LIGHT) -> str:
    await env.say(citizen, "/complain")
    shown = await env.say(citizen, text)
    return shown.split("工单号 <b>")[1].split("</b>")[0]


async def _deliver_outbox(env) -> None:
    sender = OutboxSender(env.bot, env.services, rate_per_s=1000, per_chat_interval=0)
    while await sender.drain_once():
        pass


@async_test
async def test_my_tickets_shows_number_status_due_date_and_the_reply(bot_env):
    citizen = bot_env.citizen(512)
    assert "还没有提交过投诉" in await bot_env.say(citizen, "/my")
    first = await _file_complaint(bot_env, citizen)
    second = await _file_complaint(bot_env, citizen, UNCLEAR)
    _staff_moves(bot_env, first, "start", "reply", reply="已修复 <灯杆 3 号> & 线路")
    shown = await bot_env.say(citizen, "/my")
    assert shown.index(second) < shown.index(first)  # newest first
    assert "已答复" in shown and "办结时限 2026-12-16" in shown and "人工分拣中" in shown
    assert "答复：已修复 &lt;灯杆 3 号&gt; &amp; 线路" in shown


@async_test
async def test_the_closure_questions_reopen_once_then_escalate(bot_env):
    citizen = bot_env.citizen(513)
    number = await _file_complaint(bot_env, citizen)
    _staff_moves(bot_env, number, "start", "reply", "close")
    await _deliver_outbox(bot_env)
    sent = [c.params["text"] for c in bot_env.telegram.sent(513)]
    assert any("已由" in t or "办理中" in t for t in sent)  # the status change
    assert any("有了答复" in t and "路灯已于今天修复" in t for t in sent)
    assert "问题解决了吗" in sent[-1]
    assert "满意程度" in await bot_env.tap(citizen, "否")
    assert "重新交由部门办理" in await bot_env.tap(citizen, "2")
    view = _ticket(bot_env, number)
    assert view.status == TicketStatus.IN_PROGRESS and view.reopen_count == 1
    assert (view.closures[0].resolved, view.closures[0].satisfaction) == (False, 2)

    _staff_moves(bot_env, number, "reply", "close")
    await _deliver_outbox(bot_env)
    assert "问题解决了吗" in bot_env.telegram.sent(513)[-1].params["text"]
    await bot_env.tap(citizen, "否")
    assert "提交上级督办" in await bot_env.tap(citizen, "1")
    view = _ticket(bot_env, number)
    assert view.escalated and [c.resolved for c in view.closures] == [False, False]


@async_test
async def test_a_resolved_answer_is_kept_and_a_second_tap_is_refused(bot_env):
    citizen = bot_env.citizen(514)
    number = await _file_complaint(bot_env, citizen)
    _staff_moves(bot_env, number, "start", "reply", "close")
    await _deliver_outbox(bot_env)
    await bot_env.tap(citizen, "是")
    data, message = citizen.button("5")
    assert "感谢您的回访评价" in texts_of(await bot_env.feed(citizen.press(data, message)))
    # The same keyboard pressed again (another device, an old message): nothing changes.
    assert "已回访评价" in texts_of(await bot_env.feed(citizen.press(data, message)))
    view = _ticket(bot_env, number)
    assert view.status == TicketStatus.CLOSED
    assert [(c.resolved, c.satisfaction) for c in view.closures] == [(True, 5)]


@async_test
async def test_another_citizen_cannot_use_someone_elses_buttons(bot_env):
    owner, other = bot_env.citizen(515), bot_env.citizen(516)
    number = await _file_complaint(bot_env, owner)
    ticket = _ticket(bot_env, number)
    department = bot_env.catalogue["cgj"]["id"]
    for data in (f"ra:{ticket.id}", f"dp:1:{ticket.id}", f"dd:{department}:{ticket.id}"):
        shown = texts_of(await bot_env.feed(other.press(data)))
        assert "失效" in shown or "只能对本人" in shown
    _staff_moves(bot_env, number, "start", "reply", "close")
    shown = texts_of(await bot_env.feed(other.press(f"v:{number}:1:5")))
    assert "只能对本人" in shown
    assert _ticket(bot_env, number).department.code == "zjj"
    assert _ticket(bot_env, number).closures[0].verdict_at is None


@async_test
async def test_cancel_works_in_every_state_and_old_buttons_then_expire(bot_env):
    citizen = bot_env.citizen(517)
    assert "没有进行中的操作" in await bot_env.say(citizen, "/cancel")
    steps = [
        ["/rate"],
        ["/rate", "县教育局"],
        ["/rate", "县教育局", "事项1"],
        ["/rate", "县教育局", "事项1", "不满意"],
        ["/rate", "县教育局", "事项1", "不满意", "其他"],
        ["/complain"],
    ]
    for path in steps:
        await bot_env.say(citizen, path[0])
        for label in path[1:]:
            await bot_env.tap(citizen, label)
        message = citizen.last_keyboard_message()
        assert "已取消" in await bot_env.say(citizen, "/cancel")
        if path != ["/complain"]:  # the flow's last buttons no longer work
            data = message["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
            assert "失效" in texts_of(await bot_env.feed(citizen.press(data, message)))
    assert _count(bot_env, Rating) == 0 and _count(bot_env, Ticket) == 0


@async_test
async def test_every_command_works_in_the_middle_of_a_flow(bot_env):
    citizen = bot_env.citizen(518)
    await bot_env.say(citizen, "/complain")
    assert "还没有提交过投诉" in await bot_env.say(citizen, "/my")
    assert "/rate" in await bot_env.say(citizen, "/help")
    assert "没有这个命令" in await bot_env.say(citizen, "/nonsense")
    # Still describing the complaint: the text files it.
    assert "工单号" in await bot_env.say(citizen, STREET_LIGHT)
    await bot_env.say(citizen, "/rate")
    await bot_env.tap(citizen, "县教育局")
    assert "请选择部门" not in await bot_env.say(citizen, "/start")
    assert "没有听懂" in await bot_env.say(citizen, "随便说点什么")  # /start ended the flow


@async_test
async def test_the_same_update_delivered_twice_is_handled_once(bot_env):
    citizen = bot_env.citizen(519)
    await bot_env.say(citizen, "/complain")
    update = citizen.message(STREET_LIGHT)
    assert "工单号" in texts_of(await bot_env.feed(update))
    assert await bot_env.feed(update) == []
    assert _count(bot_env, Ticket) == 1
    # Even without the update log (a restart with memory storage) the core files it once.
    await bot_env.say(citizen, "/complain")
    restarted = build_dispatcher(bot_env.services)
    await restarted.storage.set_state(
        key=StorageKey(bot_env.bot.id, 519, 519), state=ComplainFlow.describe
    )
    from aiogram.types import Update

    await restarted.feed_update(bot_env.bot, Update.model_validate(update))
    assert _count(bot_env, Ticket) == 1


@async_test
async def test_bad_input_gets_a_short_helpful_answer_and_stores_nothing(bot_env):
    citizen = bot_env.citizen(520)
    sticker = {"file_id": "st", "file_unique_id": "st", "type": "regular", "width": 1,
               "height": 1, "is_animated": False, "is_video": False}  # fmt: skip
    voice = {"file_id": "vo", "file_unique_id": "vo", "duration": 3}
    video = {"file_id": "vi", "file_unique_id": "vi", "width": 1, "height": 1, "duration": 3}
    for content in ({"sticker": sticker}, {"voice": voice}, {"video": video}):
        assert "暂不支持" in texts_of(await bot_env.feed(citizen.message(**content)))
    photo = texts_of(await bot_env.feed(citizen.photo("stray")))
    assert "请先发送 /complain" in photo
    await bot_env.say(citizen, "/complain")
    assert "请用文字描述" in texts_of(await bot_env.feed(citizen.message(sticker=sticker)))
    forwarded = citizen.message(
        STREET_LIGHT, forward_origin={"type": "hidden_user", "date": 1, "sender_user_name": "x"}
    )
    assert "转发的消息不会被处理" in texts_of(await bot_env.feed(forwarded))
    edited = citizen.message(STREET_LIGHT)
    edited["edited_message"] = edited.pop("message") | {"edit_date": 2}
    assert "修改后的消息" in texts_of(await bot_env.feed(edited))
    group = citizen.message("/complain")
    group["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "业主群"}
    assert "私聊" in texts_of(await bot_env.feed(group))
    assert "失效" in texts_of(await bot_env.feed(citizen.press("garbage:1:2")))
    assert "失效" in texts_of(await bot_env.feed(citizen.press("sc:9")))
    assert _count(bot_env, Ticket) == 0 and _count(bot_env, Rating) == 0
    with bot_env.services.session_factory() as session:  # the group chat made no citizen
        assert session.scalar(select(func.count()).select_from(Citizen)) == 1


@async_test
async def test_citizen_text_is_escaped_everywhere(bot_env):
    citizen = bot_env.citizen(521)
    nasty = "路灯<b>坏了</b> & <script>alert(1)</script> 快修 </i>"
    number = await _file_complaint(bot_env, citizen, nasty)
    shown = await bot_env.say(citizen, "/my")  # the fake refuses unbalanced HTML
    assert "&lt;script&gt;" in shown and number in shown
    assert _ticket(bot_env, number).text == nasty


@async_test
async def test_long_texts_are_clipped_under_telegrams_limits(bot_env):
    citizen = bot_env.citizen(522)
    for n in range(5):
        number = await _file_complaint(bot_env, citizen, f"{n}号" + "路灯坏了<&>" * 400)
        _staff_moves(bot_env, number, "start", "reply", reply="答复<&>" * 800)
    shown = await bot_env.say(citizen, "/my")  # the fake refuses more than 4,096 characters
    assert shown.count("MY-20261125-") == 5
    await _deliver_outbox(bot_env)
    replies = [c for c in bot_env.telegram.sent(522) if "有了答复" in c.params["text"]]
    assert len(replies) == 5


@async_test
async def test_an_unexpected_failure_is_apologised_for_and_the_bot_goes_on(bot_env, monkeypatch):
    citizen = bot_env.citizen(523)
    await bot_env.say(citizen, "/complain")

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("bot.context.file_analyzed", broken)
    assert "系统出现问题" in await bot_env.say(citizen, STREET_LIGHT)
    monkeypatch.undo()
    assert "工单号" in await bot_env.say(citizen, STREET_LIGHT + "（再试一次）")
