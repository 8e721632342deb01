"""Everything the bot says, in one place per language (Chinese first, the default).

Templates are Telegram HTML written by us; every value filled into them is escaped by
`Texts.__call__`, so citizen text can never break the markup or inject tags.
"""

from __future__ import annotations

import html as html_entities
import re

from aiogram import html

DEFAULT_LANGUAGE = "zh"

# Telegram rejects longer messages; we stay well below, counting the visible characters.
MESSAGE_LIMIT = 4096

ZH: dict[str, str] = {
    "greeting": (
        "您好{name}！这里是县政府「民意」平台。您可以对政务服务进行评价（好差评），"
        "也可以投诉、反映问题并随时查询办理进度。"
    ),
    "privacy": (
        "<i>隐私说明：我们只保存您的 Telegram 用户编号、语言选择以及您主动提交的内容（评价、"
        "投诉文字、照片和位置），用于办理和回访；被评价的部门和窗口人员看不到您的身份。"
        "发送 /lang 可切换语言。</i>"
    ),
    "menu": "请选择要办理的事项：",
    "menu_rate": "⭐ 评价服务",
    "menu_complain": "📝 我要投诉",
    "menu_my": "📋 我的工单",
    "menu_lang": "🌐 语言 / Language",
    "menu_help": "❓ 帮助",
    "help": (
        "<b>可用命令</b>\n"
        "/rate 评价一项政务服务（好差评）\n"
        "/complain 投诉或反映问题（可附照片和位置）\n"
        "/my 查看我的工单和部门答复\n"
        "/survey 参加问卷调查\n"
        "/lang 切换语言（中文 / English）\n"
        "/cancel 取消当前操作\n"
        "/start 回到主菜单\n"
        "紧急情况请直接拨打 12345。"
    ),
    "cancelled": "已取消。",
    "nothing_to_cancel": "当前没有进行中的操作。",
    "choose_language": "请选择语言：",
    "language_set": "已切换为中文。",
    # rating
    "rate_department": "请选择办理事项的部门（第 {page}/{pages} 页）：",
    "rate_service": "<b>{department}</b>\n请选择您办理的事项：",
    "rate_no_services": "该部门暂无可评价的事项，请选择其他部门。",
    "rate_score": "<b>{service}</b>\n请对本次服务打分：",
    "rate_aspect": "很抱歉让您不满意。主要是哪方面的问题？",
    "rate_comment": "请写下您的意见或建议（可选），或点「跳过」。",
    "rate_thanks": "感谢您的评价！您的意见已记录。",
    "rate_thanks_bad": (
        "感谢您的评价！我们已将您的意见转给<b>{department}</b>，"
        "该部门须在 <b>{deadline}</b> 前核实整改并向您反馈。"
    ),
    "skip": "跳过",
    "prev": "◀ 上一页",
    "next": "下一页 ▶",
    "score_5": "非常满意",
    "score_4": "满意",
    "score_3": "基本满意",
    "score_2": "不满意",
    "score_1": "非常不满意",
    # complaint
    "complain_ask": (
        "请用文字描述您遇到的问题（{min}-{max} 字），写清时间、地点和经过。\n"
        "可以先发送照片（最多 {photos} 张）或位置（📎 → 位置），最后发送文字描述；"
        "也可以把描述写在照片的说明里。/cancel 取消"
    ),
    "complain_photo_saved": "已收到照片（共 {count} 张），请继续发送文字描述。",
    "complain_photo_limit": "最多附 {photos} 张照片，其余照片未保存。请发送文字描述。",
    "complain_location_saved": "已收到位置，请继续发送文字描述。",
    "complain_need_text": "请用文字描述问题（{min}-{max} 字）；照片和位置可以作为补充。",
    "complain_filed": (
        "您的投诉已受理，工单号 <b>{number}</b>。\n"
        "建议承办部门：<b>{department}</b>（系统判断把握度 {confidence}）\n"
        "办结时限：<b>{due}</b>\n"
        "如承办部门不对，可以另选一个。"
    ),
    "complain_triage": (
        "您的投诉已受理，工单号 <b>{number}</b>。\n"
        "系统无法可靠判断应由哪个部门办理{confidence}，已转人工分拣，"
        "工作人员会尽快派给合适的部门。\n"
        "办结时限：<b>{due}</b>\n"
        "如果您知道应由哪个部门办理，也可以自己选择。"
    ),
    "complain_confidence_suffix": "（把握度 {confidence}）",
    "route_accept": "✅ 部门正确",
    "route_pick": "🔁 选择其他部门",
    "route_choose": "请为工单 {number} 选择承办部门（第 {page}/{pages} 页）：",
    "route_accepted": "好的，工单 <b>{number}</b> 由<b>{department}</b>办理。",
    "route_changed": "已改由<b>{department}</b>办理工单 <b>{number}</b>，谢谢您的指正。",
    # my tickets
    "my_none": "您还没有提交过投诉。发送 /complain 可以投诉或反映问题。",
    "my_header": "<b>我的工单</b>（最近 {count} 件）",
    "my_item": "<b>{number}</b> · {status} · 办结时限 {due}\n{department}\n{text}",
    "my_reply": "答复：{reply}",
    "my_department": "承办部门：{department}",
    "my_triage": "承办部门：人工分拣中",
    "my_awaiting_verdict": "（等待您的回访评价）",
    # outbox messages
    "status_changed": "您的工单 <b>{number}</b> 状态更新为：{status}。",
    "ticket_reply": "您的工单 <b>{number}</b> 有了答复：\n\n{reply}",
    "verdict_resolved_q": "您的工单 <b>{number}</b> 已办结。请问您反映的问题解决了吗？",
    "verdict_satisfied_q": "工单 <b>{number}</b>：您对办理结果的满意程度如何？（1 最低，5 最高）",
    "yes": "是",
    "no": "否",
    "verdict_thanks": "感谢您的回访评价！",
    "verdict_reopened": "感谢反馈！工单 <b>{number}</b> 已重新交由部门办理。",
    "verdict_escalated": "感谢反馈！工单 <b>{number}</b> 已提交上级督办。",
    "follow_up_done": "您此前的差评已由部门核实整改：\n\n{note}\n\n欢迎再次评价（/rate）。",
    "survey_invitation": (
        "诚邀您参加<b>{title}</b>（第 {round} 轮），{closes} 截止。点击下方按钮填写，"
        "几分钟即可完成。"
    ),
    "survey_reminder": "提醒：<b>{title}</b>将于 {closes} 截止，您还没有提交，欢迎填写。",
    "survey_answer": "📝 填写问卷",
    "survey_answer_here": "💬 在这里回答",
    "survey_none": "目前没有您可以参加的问卷调查。有新的调查时，我们会在这里邀请您。",
    "survey_choose": "请选择要填写的问卷：",
    "survey_round_label": "{title}（{closes} 截止）",
    "survey_start": "<b>{title}</b>（第 {round} 轮，{closes} 截止）\n{intro}",
    "survey_resume": "继续填写<b>{title}</b>，已保存您之前的回答。",
    "survey_question": "<b>{title}</b> · 第 {n}/{total} 题\n\n{question}",
    "survey_required": "（必答）",
    "survey_level": "{level} 分：{text}",
    "survey_nps_hint": "0 表示完全不可能，10 表示极有可能。",
    "survey_multiple_hint": "可多选，选好后点「完成」。",
    "survey_multiple_max_hint": "最多选 {max} 项，选好后点「完成」。",
    "survey_text_hint": "请直接发送文字回答（最多 {max} 字）。",
    "survey_text_only": "这一题请用文字回答（也可以点「跳过」，如可跳过）。",
    "survey_done": "✔️ 完成",
    "survey_complaint_q": (
        "您在问卷中写下的意见可以转为投诉，由负责部门办理并答复您。是否转为投诉？"
    ),
    "survey_complaint_yes": "📝 转为投诉",
    "survey_complaint_no": "不用了，直接提交",
    "survey_thanks": "感谢您参与<b>{title}</b>！您的回答已提交。",
    "survey_thanks_complaint": (
        "您的意见已转为投诉，工单号 <b>{number}</b>，发送 /my 可查看办理进度。"
    ),
    "survey_complaint_refused": (
        "您的意见未能转为投诉：{message}\n问卷回答已保存；如需投诉，请发送 /complain。"
    ),
    "survey_already": "您已提交过<b>{title}</b>（本轮），每人每轮只能提交一次。感谢参与！",
    # the weekly digest of a department officer (minyi.services.digest)
    "staff_digest": (
        "<b>{department} 每周摘要 {week}</b>（{first} 至 {last}）\n"
        "新收投诉 {new} 件（前一周 {previous} 件），已超期未办结 {overdue} 件。\n"
        "{satisfaction}\n主要问题：{topics}\n{rising}详情请登录工作台：{home}"
    ),
    "digest_satisfaction": "满意率 {rate}（{ratings} 条评价），{change}。",
    "digest_too_few": "评价 {ratings} 条，样本不足，不计算满意率。",
    "digest_up": "较前一周显著上升 {points} 个百分点",
    "digest_down": "较前一周显著下降 {points} 个百分点",
    "digest_same": "与前一周相比无显著变化",
    "digest_not_compared": "前一周样本不足，不作比较",
    "digest_rising": "占比显著上升：{topics}\n",
    "digest_no_topics": "无",
    # bad input
    "unknown": "没有听懂。请使用下面的菜单，或发送 /help 查看命令。",
    "unknown_command": "没有这个命令。发送 /help 查看可用命令。",
    "unsupported_media": "暂不支持贴纸、语音、视频和文件。请用文字描述，或发送照片和位置。",
    "media_outside_flow": "要投诉并附照片或位置，请先发送 /complain。",
    "edited_ignored": "修改后的消息不会被处理，请重新发送。",
    "forwarded_ignored": "请直接输入内容，转发的消息不会被处理。",
    "group_only_private": "为保护隐私，请私聊本机器人办理评价和投诉。",
    "stale_button": "这个按钮已失效，请重新开始（/start）。",
    "use_buttons": "请点击上面的按钮选择。",
    "error": "抱歉，系统出现问题，请稍后再试。您已提交的内容不会丢失。",
    "refused": "{message}",
}

EN: dict[str, str] = {
    "greeting": (
        "Hello{name}! This is Minyi, the county government's feedback service. You can rate a "
        "public service, file a complaint and follow it until it is resolved."
    ),
    "privacy": (
        "<i>Privacy: we keep only your Telegram user id, your language and what you send us "
        "(ratings, complaint text, photos and location), to handle it and call you back; the "
        "department and staff you rate never see who you are. Send /lang to change the "
        "language.</i>"
    ),
    "menu": "What would you like to do?",
    "menu_rate": "⭐ Rate a service",
    "menu_complain": "📝 File a complaint",
    "menu_my": "📋 My tickets",
    "menu_lang": "🌐 语言 / Language",
    "menu_help": "❓ Help",
    "help": (
        "<b>Commands</b>\n"
        "/rate rate a public service\n"
        "/complain file a complaint (photos and a location welcome)\n"
        "/my your tickets and the departments' replies\n"
        "/survey answer a survey\n"
        "/lang change the language (中文 / English)\n"
        "/cancel cancel what you are doing\n"
        "/start back to the main menu\n"
        "For emergencies call 12345."
    ),
    "cancelled": "Cancelled.",
    "nothing_to_cancel": "Nothing to cancel.",
    "choose_language": "Choose a language:",
    "language_set": "Language set to English.",
    "rate_department": "Which department handled your case? (page {page}/{pages})",
    "rate_service": "<b>{department}</b>\nWhich service did you use?",
    "rate_no_services": "This department has no services to rate; please choose another one.",
    "rate_score": "<b>{service}</b>\nHow satisfied are you with the service?",
    "rate_aspect": "We are sorry. What went wrong?",
    "rate_comment": "Add a comment or suggestion (optional), or press Skip.",
    "rate_thanks": "Thank you for your rating!",
    "rate_thanks_bad": (
        "Thank you for your rating. It has been passed to <b>{department}</b>, which must "
        "look into it and report back to you by <b>{deadline}</b>."
    ),
    "skip": "Skip",
    "prev": "◀ Previous",
    "next": "Next ▶",
    "score_5": "非常满意 Very satisfied",
    "score_4": "满意 Satisfied",
    "score_3": "基本满意 Fairly satisfied",
    "score_2": "不满意 Dissatisfied",
    "score_1": "非常不满意 Very dissatisfied",
    "complain_ask": (
        "Please describe the problem in words ({min}-{max} characters): when, where, what "
        "happened.\nYou may first send photos (up to {photos}) or a location (📎 → Location), "
        "then the description; or write the description as a photo's caption. /cancel to stop"
    ),
    "complain_photo_saved": "Photo received ({count} so far). Now please send the description.",
    "complain_photo_limit": "At most {photos} photos; the others were not kept. Please send the "
    "description.",
    "complain_location_saved": "Location received. Now please send the description.",
    "complain_need_text": (
        "Please describe the problem in words ({min}-{max} characters); photos and a location "
        "are extras."
    ),
    "complain_filed": (
        "Your complaint has been received: number <b>{number}</b>.\n"
        "Suggested department: <b>{department}</b> (confidence {confidence})\n"
        "Due by: <b>{due}</b>\n"
        "If the department is wrong, you may pick another one."
    ),
    "complain_triage": (
        "Your complaint has been received: number <b>{number}</b>.\n"
        "The system cannot tell reliably which department should handle it{confidence}, so a "
        "member of staff will route it shortly.\n"
        "Due by: <b>{due}</b>\n"
        "If you know the right department, you may pick it yourself."
    ),
    "complain_confidence_suffix": " (confidence {confidence})",
    "route_accept": "✅ Department is right",
    "route_pick": "🔁 Pick another department",
    "route_choose": "Choose the department for ticket {number} (page {page}/{pages}):",
    "route_accepted": "Fine: ticket <b>{number}</b> is handled by <b>{department}</b>.",
    "route_changed": (
        "Ticket <b>{number}</b> now goes to <b>{department}</b>. Thank you for the correction."
    ),
    "my_none": "You have not filed a complaint yet. Send /complain to file one.",
    "my_header": "<b>My tickets</b> (latest {count})",
    "my_item": "<b>{number}</b> · {status} · due {due}\n{department}\n{text}",
    "my_reply": "Reply: {reply}",
    "my_department": "Department: {department}",
    "my_triage": "Department: being routed by staff",
    "my_awaiting_verdict": "(waiting for your answer)",
    "status_changed": "Your ticket <b>{number}</b> is now: {status}.",
    "ticket_reply": "Your ticket <b>{number}</b> has a reply:\n\n{reply}",
    "verdict_resolved_q": (
        "Your ticket <b>{number}</b> has been closed. Was your problem resolved?"
    ),
    "verdict_satisfied_q": "Ticket <b>{number}</b>: how satisfied are you? (1 lowest, 5 highest)",
    "yes": "是 Yes",
    "no": "否 No",
    "verdict_thanks": "Thank you for your answer!",
    "verdict_reopened": "Thank you. Ticket <b>{number}</b> has been sent back to the department.",
    "verdict_escalated": "Thank you. Ticket <b>{number}</b> has been escalated to the "
    "supervisors.",
    "follow_up_done": (
        "The department has looked into your negative rating and reports:\n\n{note}\n\n"
        "You are welcome to rate again (/rate)."
    ),
    "survey_invitation": (
        "You are invited to <b>{title}</b> (round {round}), open until {closes}. Press the "
        "button below to answer; it takes a few minutes."
    ),
    "survey_reminder": (
        "Reminder: <b>{title}</b> closes on {closes} and you have not answered yet."
    ),
    "survey_answer": "📝 Answer the survey",
    "survey_answer_here": "💬 Answer here",
    "survey_none": "There is no survey for you to answer now. We will invite you here when "
    "there is one.",
    "survey_choose": "Which survey would you like to answer?",
    "survey_round_label": "{title} (until {closes})",
    "survey_start": "<b>{title}</b> (round {round}, open until {closes})\n{intro}",
    "survey_resume": "Continuing <b>{title}</b>; your earlier answers are kept.",
    "survey_question": "<b>{title}</b> · question {n} of {total}\n\n{question}",
    "survey_required": " (required)",
    "survey_level": "{level}: {text}",
    "survey_nps_hint": "0 means not at all likely, 10 extremely likely.",
    "survey_multiple_hint": "Choose any, then press Done.",
    "survey_multiple_max_hint": "Choose up to {max}, then press Done.",
    "survey_text_hint": "Please type your answer (at most {max} characters).",
    "survey_text_only": "Please answer this question in text (or press Skip where offered).",
    "survey_done": "✔️ Done",
    "survey_complaint_q": (
        "What you wrote can be filed as a complaint: the department in charge handles it and "
        "replies to you. File it as a complaint?"
    ),
    "survey_complaint_yes": "📝 File a complaint",
    "survey_complaint_no": "No, just submit",
    "survey_thanks": "Thank you for answering <b>{title}</b>! Your answers were submitted.",
    "survey_thanks_complaint": (
        "Your answer was filed as complaint <b>{number}</b>; send /my to follow it."
    ),
    "survey_complaint_refused": (
        "Your answer could not be filed as a complaint: {message}\nYour survey answers are "
        "kept; send /complain to file one."
    ),
    "survey_already": (
        "You have already answered <b>{title}</b> in this round; each person answers once. "
        "Thank you!"
    ),
    "staff_digest": (
        "<b>{department}: weekly digest {week}</b> ({first} to {last})\n"
        "{new} new complaints ({previous} the week before), {overdue} open past their due"
        " date.\n{satisfaction}\nMain topics: {topics}\n{rising}Details on the staff home"
        " page: {home}"
    ),
    "digest_satisfaction": "Satisfaction {rate} ({ratings} ratings), {change}.",
    "digest_too_few": "{ratings} ratings: too few for a satisfaction rate.",
    "digest_up": "significantly up {points} points on the week before",
    "digest_down": "significantly down {points} points on the week before",
    "digest_same": "no significant change on the week before",
    "digest_not_compared": "too few data the week before to compare",
    "digest_rising": "Rising significantly: {topics}\n",
    "digest_no_topics": "none",
    "unknown": "Sorry, I did not understand. Use the menu below or send /help.",
    "unknown_command": "Unknown command. Send /help for the list.",
    "unsupported_media": (
        "Stickers, voice, video and files are not supported. Please write, or send a photo or "
        "a location."
    ),
    "media_outside_flow": "To file a complaint with a photo or a location, send /complain first.",
    "edited_ignored": "Edited messages are not processed; please send it again.",
    "forwarded_ignored": "Please type your message; forwarded messages are not processed.",
    "group_only_private": "To protect your privacy, please talk to this bot in a private chat.",
    "stale_button": "This button has expired. Please start again (/start).",
    "use_buttons": "Please choose with the buttons above.",
    "error": "Sorry, something went wrong. Please try again later; nothing you sent is lost.",
    "refused": "{message}",
}

CATALOGUE = {"zh": ZH, "en": EN}

STATUS_EN = {
    "received": "received",
    "assigned": "assigned to a department",
    "in_progress": "in progress",
    "replied": "replied",
    "closed": "closed",
}


def resolve_language(code: str | None) -> str:
    """Our language for a Telegram language_code: English for en, en-US, en_GB; else Chinese.

    Done by hand: aiogram's i18n middleware mishandles codes such as zh-hans and en_US.
    """
    if code and code.strip().lower().replace("_", "-").split("-")[0] == "en":
        return "en"
    return DEFAULT_LANGUAGE


class Safe(str):
    """Markup we built ourselves from escaped parts: filled into a template as is."""


class Texts:
    """The catalogue of one language; `texts(key, **values)` escapes every value."""

    def __init__(self, language: str) -> None:
        self.language = language if language in CATALOGUE else DEFAULT_LANGUAGE
        self._catalogue = CATALOGUE[self.language]

    def __call__(self, key: str, **values: object) -> str:
        escaped = {
            name: value if isinstance(value, Safe) else html.quote(str(value))
            for name, value in values.items()
        }
        return Safe(self._catalogue[key].format(**escaped))

    def raw(self, key: str) -> str:
        """A catalogue entry as is (button labels are plain text, not HTML)."""
        return self._catalogue[key]

    def error(self, error) -> str:
        """A domain refusal in this language."""
        message = error.message_en if self.language == "en" else error.message_zh
        return self("refused", message=message)

    def status(self, status) -> str:
        from minyi.services.views import STATUS_ZH

        if self.language == "en":
            return STATUS_EN[str(status)]
        return STATUS_ZH[status]

    def department(self, department) -> str:
        """A department's name in this language (the Chinese name when no English one)."""
        if department is None:
            return ""
        if self.language == "en" and department.name_en:
            return department.name_en
        return department.name


def clip(text: str | None, limit: int) -> str:
    """At most `limit` characters of citizen or staff text, with an ellipsis when cut."""
    if not text:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


TAG = re.compile(r"<[^>]*>")


def plain(markup: str) -> str:
    """Our HTML as plain text (for button pop-ups, which Telegram shows unparsed)."""
    return html_entities.unescape(TAG.sub("", markup))


def visible_length(markup: str) -> int:
    """How many characters Telegram counts in our HTML: tags removed, entities as one."""
    return len(plain(markup))
