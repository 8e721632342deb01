"""The complaint inbox pages and /api/tickets/<number>: every route × role, and bad input.

Roles: admin, analyst, officer (of the ticket's department) and other_officer (of another
department, for whom the ticket does not exist: 404, on the pages and on the API).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from minyi.models import (
    Channel,
    DecisionStatus,
    ExtensionRequest,
    OutboxMessage,
    RoutingCorrection,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from minyi.services import tickets
from minyi.services.actors import Actor
from tests.builders import make_citizen, make_ticket
from tests.web_support import csrf_token_of, sign_in

S = TicketStatus
USERNAMES = {"admin": "admin1", "analyst": "analyst1", "officer": "hr1", "other_officer": "jt1"}
ROLES = tuple(USERNAMES)


@dataclass
class Inbox:
    """The staff world with tickets: numbers of one own-department, one other, one in triage."""

    world: object
    own: str
    other: str
    triage: str
    code: str  # the own ticket's access code (its public status page)
    citizen_id: int

    def admin(self) -> Actor:
        return Actor.staff(self.world.admin)


@pytest.fixture
def inbox_world(web_app, staff_world, session_factory, ctx) -> Inbox:
    photo = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 80, 60)).save(photo, "PNG")
    folder = Path(web_app.extensions["minyi"]["settings"].web.upload_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lamp.png").write_bytes(photo.getvalue())
    admin = Actor.staff(staff_world.admin)
    with session_factory.begin() as session:
        citizen = make_citizen(session, external_id="5551234567")
        own = make_ticket(
            session,
            ctx,
            citizen=citizen,
            text="幸福小区3号楼门口的路灯坏了一个多月，晚上漆黑一片，老人摔倒过。",
            contact_phone="13812345678",
            attachments=[("photo", "lamp.png"), ("photo", "AgACAgIAAxkBAAIB-telegram-file")],
        )
        own.topic, own.topic_confidence = "城乡建设", 0.83
        own.sentiment_label, own.sentiment_score = "negative", 0.08
        own.keywords = ["路灯", "摔倒"]
        own.request_type, own.request_type_probability = "投诉", 0.91
        tickets.assign(session, ctx, own, staff_world.own, actor=admin)
        code = tickets.issue_access_code(own)
        other = make_ticket(session, ctx, text="客运站附近出租车拒载，司机态度很差。")
        tickets.assign(session, ctx, other, staff_world.other, actor=admin)
        triage = make_ticket(session, ctx, text="这件事不知道该找哪个部门，请帮忙转交。")
        numbers = own.number, other.number, triage.number
    return Inbox(staff_world, *numbers, code=code, citizen_id=citizen.id)


def client_for(web_app, role: str):
    client = web_app.test_client()
    assert sign_in(client, USERNAMES[role]).status_code == 302
    return client


def post(client, path: str, page: str, **fields):
    """Post a form as a browser would: with the CSRF token of the page it came from."""
    return client.post(path, data={"csrf_token": csrf_token_of(client, page)} | fields)


def ticket_row(session_factory, number: str) -> Ticket:
    with session_factory() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.number == number))
        session.expunge(ticket)
        return ticket


def event_count(session_factory) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count(TicketEvent.id)))


def text_of(response) -> str:
    return response.get_data(as_text=True)


# -- the matrix --------------------------------------------------------------------------------

ALL = dict.fromkeys(ROLES, 200)
SEES_OWN = {"admin": 200, "analyst": 200, "officer": 200, "other_officer": 404}
SEES_TRIAGE = {"admin": 200, "analyst": 200, "officer": 404, "other_officer": 404}
TRIAGERS = {"admin": 200, "analyst": 200, "officer": 403, "other_officer": 403}
ADMINS = {"admin": 200, "analyst": 403, "officer": 403, "other_officer": 403}

GET_ROUTES = [
    ("/staff/tickets", ALL),
    ("/staff/tickets?overdue=1&due_soon=1&q=路灯", ALL),
    ("/staff/triage", TRIAGERS),
    ("/staff/decisions", ADMINS),
    ("/staff/tickets/{own}", SEES_OWN),
    ("/staff/tickets/{triage}", SEES_TRIAGE),
    ("/staff/tickets/{own}/attachments/0", SEES_OWN),
    ("/api/tickets/{own}", SEES_OWN),
    ("/api/tickets/{triage}", SEES_TRIAGE),
]


def test_every_page_and_the_api_by_role(web_app, inbox_world):
    clients = {role: client_for(web_app, role) for role in ROLES}
    wrong = []
    for template, expected in GET_ROUTES:
        path = template.format(own=inbox_world.own, triage=inbox_world.triage)
        for role, status in expected.items():
            got = clients[role].get(path).status_code
            if got != status:
                wrong.append(f"{role} GET {path}: {got}, expected {status}")
    assert wrong == []


def test_signed_out_pages_go_to_the_sign_in_and_the_api_answers_401_json(web_client, inbox_world):
    for path in ("/staff/tickets", "/staff/triage", "/staff/decisions"):
        response = web_client.get(path)
        assert response.status_code == 302 and "/staff/login" in response.headers["Location"]
    page = web_client.get(f"/staff/tickets/{inbox_world.own}")
    assert page.status_code == 302
    api = web_client.get(f"/api/tickets/{inbox_world.own}")
    assert api.status_code == 401 and api.is_json
    assert api.get_json()["message_zh"] == "请先登录工作人员账号"
    start = web_client.post(f"/staff/tickets/{inbox_world.own}/actions/start")
    assert start.status_code == 302  # to the sign-in, nothing done


MOVE_STATUS = {"admin": 303, "analyst": 403, "officer": 303, "other_officer": 404}


def test_moves_by_role(web_app, inbox_world, session_factory, ctx):
    """Accept, ask for an extension and decide it, triage: who may, who gets 403 or 404."""
    admin, world = inbox_world.admin(), inbox_world.world
    wrong = []

    def check(role, response, expected, what):
        if response.status_code != expected:
            wrong.append(f"{role} {what}: {response.status_code}, expected {expected}")

    for role in ROLES:
        client = client_for(web_app, role)
        with session_factory.begin() as session:
            fresh = make_ticket(session, ctx)
            tickets.assign(session, ctx, fresh, world.own, actor=admin)
            pending = make_ticket(session, ctx)
            tickets.assign(session, ctx, pending, world.own, actor=admin)
            tickets.request_extension(
                session,
                ctx,
                pending,
                actor=Actor.staff(world.officer),
                working_days=2,
                reason="需要协调",
            )
            waiting = make_ticket(session, ctx)
            numbers = fresh.number, pending.number, waiting.number
        fresh, pending, waiting = numbers
        page = "/staff/tickets"
        check(
            role,
            post(client, f"/staff/tickets/{fresh}/actions/start", page),
            MOVE_STATUS[role],
            "start",
        )
        check(
            role,
            post(
                client,
                f"/staff/tickets/{fresh}/actions/request_extension",
                page,
                working_days="3",
                reason="需要施工",
            ),
            MOVE_STATUS[role],
            "request_extension",
        )
        decide = {"admin": 303, "analyst": 403, "officer": 403, "other_officer": 404}[role]
        check(
            role,
            post(
                client,
                f"/staff/tickets/{pending}/actions/decide_extension",
                page,
                decision="approve",
            ),
            decide,
            "decide_extension",
        )
        assign = {"admin": 303, "analyst": 303, "officer": 403, "other_officer": 403}[role]
        check(
            role,
            post(client, f"/staff/triage/{waiting}", page, department=world.own.code),
            assign,
            "assign",
        )
        started = ticket_row(session_factory, fresh).status == S.IN_PROGRESS
        if started != (MOVE_STATUS[role] == 303):
            wrong.append(f"{role}: start {'made' if started else 'not made'}")
    assert wrong == []


# -- the list ----------------------------------------------------------------------------------


def test_the_list_marks_overdue_and_due_soon_rows(web_app, inbox_world, session_factory, ctx):
    with session_factory.begin() as session:
        late = session.scalar(select(Ticket).where(Ticket.number == inbox_world.own))
        late.due_date = date(2026, 11, 20)  # the test clock is on 2026-11-25
        soon = make_ticket(session, ctx, text="小区的下水道堵了，污水漫到路上。")
        tickets.assign(session, ctx, soon, inbox_world.world.own, actor=inbox_world.admin())
        soon.due_date = date(2026, 11, 27)  # two working days on
        soon_number = soon.number
    html = text_of(client_for(web_app, "officer").get("/staff/tickets"))
    rows = re.findall(
        r'<tr class="([^"]*)">\s*<td[^>]*><a class="mono" href="[^"]+">([^<]+)<', html
    )
    assert rows == [("overdue", inbox_world.own), ("due-soon", soon_number)]
    assert "已超期" in html and "即将到期" in html
    assert inbox_world.other not in html and inbox_world.triage not in html


def test_filters_search_and_paging_links_keep_the_filters(
    web_app, inbox_world, session_factory, ctx
):
    admin = client_for(web_app, "admin")
    html = text_of(admin.get("/staff/tickets?q=路灯"))
    assert inbox_world.own in html and inbox_world.other not in html
    assert 'value="路灯"' in html  # the search box keeps what was typed
    html = text_of(admin.get(f"/staff/tickets?department={inbox_world.world.other.code}"))
    assert inbox_world.other in html and inbox_world.own not in html
    assert text_of(admin.get("/staff/tickets?status=received")).count("/staff/tickets/MY-") == 1
    html = text_of(admin.get("/staff/tickets?type=咨询"))
    assert "/staff/tickets/MY-" not in html and '<option value="咨询" selected>' in html
    with session_factory.begin() as session:
        for _ in range(26):
            make_ticket(session, ctx, text="同一小区的噪音扰民问题，晚上十一点后还在施工。")
    first = text_of(admin.get("/staff/tickets?q=噪音"))
    assert "共 26 件" in first
    assert 'href="/staff/tickets?page=2&amp;q=%E5%99%AA%E9%9F%B3"' in first
    assert "第 2 / 2 页" in text_of(admin.get("/staff/tickets?q=噪音&page=2"))


BAD_FILTERS = [
    ("status=lost", "未知的工单状态"),
    ("from=2026-02-30", "起始日期须为"),
    ("from=2026-11-25&to=2026-11-01", "起始日期不能晚于截止日期"),
    ("q=" + "长" * 101, "搜索内容太长"),
    ("channel=fax", "未知渠道"),
    ("type=%3Cscript%3E", "未知的诉求类型"),
    ("overdue=%27%20OR%201=1", "超期"),
]


def test_bad_filters_show_a_message(web_app, inbox_world):
    officer = client_for(web_app, "officer")
    for query, message in BAD_FILTERS:
        response = officer.get(f"/staff/tickets?{query}")
        assert response.status_code == 400 and message in text_of(response), query


def test_an_officer_naming_another_department_gets_404(web_app, inbox_world):
    other = inbox_world.world.other.code
    assert (
        client_for(web_app, "officer").get(f"/staff/tickets?department={other}").status_code == 404
    )


def test_the_menu_offers_only_pages_the_role_may_open(web_app, inbox_world):
    for role, wanted in [
        ("admin", {"工单", "待分拣", "审批"}),
        ("analyst", {"工单", "待分拣"}),
        ("officer", {"工单"}),
    ]:
        nav = text_of(client_for(web_app, role).get("/staff/"))
        nav = nav[nav.index('class="staff-nav"') : nav.index("staff-who")]
        offered = {name for name in ("工单", "待分拣", "审批") if f">{name}</a>" in nav}
        assert offered == wanted, role


# -- a ticket's page ---------------------------------------------------------------------------


def test_the_ticket_page_shows_text_nlp_photos_history_and_masked_identities(
    web_app, inbox_world, session_factory, ctx
):
    with session_factory.begin() as session:
        twin = make_ticket(
            session, ctx, text="幸福小区3号楼门口路灯坏了快一个多月了，晚上漆黑，有老人摔倒。"
        )
        tickets.assign(session, ctx, twin, inbox_world.world.own, actor=inbox_world.admin())
        twin_number = twin.number
    officer = client_for(web_app, "officer")
    html = text_of(officer.get(f"/staff/tickets/{inbox_world.own}"))
    for expected in (
        "幸福小区3号楼门口的路灯坏了",
        "城乡建设",
        "83%",
        "负面",
        "路灯、摔倒",
        "诉求类型",
        "91%",
        "138****5678",
        "********67",
        "收到诉求",
        "派单",
        twin_number,  # similar tickets
        "相似度",
        f"/staff/tickets/{inbox_world.own}/attachments/0",
        "通过 Telegram 提交",
    ):
        assert expected in html, expected
    for secret in ("13812345678", "5551234567"):
        assert secret not in html
    # The officer may accept it, ask for an extension, reassign; nothing else is offered.
    actions = set(re.findall(r"/actions/([a-z_]+)", html))
    assert actions == {"start", "reassign", "request_extension"}
    photo = officer.get(f"/staff/tickets/{inbox_world.own}/attachments/0")
    assert photo.status_code == 200 and photo.mimetype == "image/png"
    assert photo.data.startswith(b"\x89PNG")
    # The Telegram file id is no file here; a made-up index is none either.
    assert officer.get(f"/staff/tickets/{inbox_world.own}/attachments/1").status_code == 404
    assert officer.get(f"/staff/tickets/{inbox_world.own}/attachments/7").status_code == 404
    # An analyst reads it all and is offered no move.
    analyst = text_of(client_for(web_app, "analyst").get(f"/staff/tickets/{inbox_world.own}"))
    assert "幸福小区" in analyst and "/actions/" not in analyst


def test_the_api_returns_the_pages_detail_as_json(web_app, inbox_world):
    body = client_for(web_app, "officer").get(f"/api/tickets/{inbox_world.own}").get_json()
    assert body["number"] == inbox_world.own and body["status"] == "assigned"
    assert body["nlp"] == {
        "topic": "城乡建设",
        "topic_confidence": 0.83,
        "sentiment_label": "negative",
        "sentiment_score": 0.08,
        "keywords": ["路灯", "摔倒"],
        "request_type": "投诉",
        "request_type_probability": 0.91,
    }
    assert body["contact_phone_masked"] == "138****5678"
    assert body["citizen"]["external_id_masked"] == "********67"
    assert [e["kind"] for e in body["events"]] == ["received", "assigned"]
    assert body["actions"] == ["start", "reassign", "request_extension"]
    assert "13812345678" not in str(body) and "5551234567" not in str(body)
    other = client_for(web_app, "other_officer").get(f"/api/tickets/{inbox_world.own}")
    assert other.status_code == 404 and other.is_json
    assert other.get_json()["message_zh"] == f"找不到工单 {inbox_world.own}"


def test_a_reply_reaches_the_outbox_and_the_citizens_status_page(
    web_app, inbox_world, session_factory
):
    officer = client_for(web_app, "officer")
    page = f"/staff/tickets/{inbox_world.own}"
    assert post(officer, f"{page}/actions/start", page).status_code == 303
    html = text_of(officer.get(page))
    assert "回复</button>" in html and 'name="text"' in html
    reply = "已安排维修，路灯将于本周五前恢复照明。"
    response = post(officer, f"{page}/actions/reply", page, text=reply)
    assert response.status_code == 303
    done = text_of(officer.get(response.headers["Location"]))
    assert "已回复" in done and reply in done
    with session_factory() as session:
        sent = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.citizen_id == inbox_world.citizen_id,
                OutboxMessage.kind == "ticket_reply",
            )
        ).all()
    assert [m.payload for m in sent] == [{"number": inbox_world.own, "reply": reply}]
    status = web_app.test_client().get(f"/t/{inbox_world.own}?code={inbox_world.code}")
    assert status.status_code == 200 and reply in text_of(status)
    # The same reply posted again (a double submit) is refused; the citizen gets one message.
    again = post(officer, f"{page}/actions/reply", page, text=reply)
    assert again.status_code == 409 and "不能答复" in text_of(again)
    with session_factory() as session:
        assert (
            session.scalar(
                select(func.count(OutboxMessage.id)).where(OutboxMessage.kind == "ticket_reply")
            )
            == 1
        )


@pytest.mark.parametrize(
    "text, message",
    [("", "答复内容不能为空"), ("   ", "答复内容不能为空"), ("好" * 5001, "答复内容太长")],
)
def test_an_empty_or_overlong_reply_shows_the_message_and_keeps_the_text(
    web_app, inbox_world, session_factory, ctx, text, message
):
    with session_factory.begin() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.number == inbox_world.own))
        tickets.start(session, ctx, ticket, actor=Actor.staff(inbox_world.world.officer))
    before = event_count(session_factory)
    officer = client_for(web_app, "officer")
    page = f"/staff/tickets/{inbox_world.own}"
    response = post(officer, f"{page}/actions/reply", page, text=text)
    html = text_of(response)
    assert response.status_code == 400 and message in html
    if text.strip():
        assert f">{text}</textarea>" in html  # what was typed is still there
    assert event_count(session_factory) == before
    assert ticket_row(session_factory, inbox_world.own).reply_text is None


def test_an_illegal_move_shows_the_state_machines_message_and_changes_nothing(
    web_app, inbox_world, session_factory
):
    officer = client_for(web_app, "officer")
    page = f"/staff/tickets/{inbox_world.own}"
    before = event_count(session_factory)
    response = post(officer, f"{page}/actions/close", page)
    html = text_of(response)
    assert response.status_code == 409
    assert f"工单 {inbox_world.own} 当前状态为「已派单」，不能办结（仅限：已答复）" in html
    assert event_count(session_factory) == before
    assert ticket_row(session_factory, inbox_world.own).status == S.ASSIGNED
    assert officer.post(f"{page}/actions/delete", data={}).status_code == 404


def test_a_forged_csrf_token_changes_nothing(web_app, inbox_world, session_factory, ctx):
    with session_factory.begin() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.number == inbox_world.own))
        tickets.start(session, ctx, ticket, actor=Actor.staff(inbox_world.world.officer))
    before = event_count(session_factory)
    officer = client_for(web_app, "officer")
    page = f"/staff/tickets/{inbox_world.own}"
    for fields in ({"csrf_token": "forged"}, {}):
        response = officer.post(f"{page}/actions/reply", data=fields | {"text": "伪造的答复内容"})
        html = text_of(response)
        assert response.status_code == 400 and "未做任何修改" in html
        assert ">伪造的答复内容</textarea>" in html
    admin = client_for(web_app, "admin")
    forged = admin.post(
        f"/staff/triage/{inbox_world.triage}",
        data={"csrf_token": "forged", "department": inbox_world.world.own.code},
    )
    assert forged.status_code == 400 and "未做任何修改" in text_of(forged)
    assert event_count(session_factory) == before
    assert ticket_row(session_factory, inbox_world.own).reply_text is None
    assert ticket_row(session_factory, inbox_world.triage).status == S.RECEIVED
    with session_factory() as session:
        assert (
            session.scalar(
                select(func.count(OutboxMessage.id)).where(OutboxMessage.kind == "ticket_reply")
            )
            == 0
        )


def test_a_forged_post_for_another_departments_ticket_is_404(web_app, inbox_world):
    other = client_for(web_app, "other_officer")
    for fields in (
        {"csrf_token": "forged"},
        {"csrf_token": csrf_token_of(other, "/staff/tickets")},
    ):
        response = other.post(f"/staff/tickets/{inbox_world.own}/actions/start", data=fields)
        assert response.status_code == 404 and "幸福小区" not in text_of(response)


def test_reassign_needs_a_reason_and_is_kept_as_a_routing_correction(
    web_app, inbox_world, session_factory
):
    officer = client_for(web_app, "officer")
    page = f"/staff/tickets/{inbox_world.own}"
    other = inbox_world.world.other.code
    missing = post(officer, f"{page}/actions/reassign", page, department=other, reason="")
    assert missing.status_code == 400 and "改派理由不能为空" in text_of(missing)
    unknown = post(
        officer, f"{page}/actions/reassign", page, department="nope", reason="不归我们管"
    )
    assert unknown.status_code == 404
    assert ticket_row(session_factory, inbox_world.own).department_id == inbox_world.world.own.id
    response = post(
        officer, f"{page}/actions/reassign", page, department=other, reason="属于交通运输局职责"
    )
    assert response.status_code == 303
    moved = ticket_row(session_factory, inbox_world.own)
    assert moved.department_id == inbox_world.world.other.id and moved.bounce_count == 1
    with session_factory() as session:
        correction = session.scalars(
            select(RoutingCorrection).order_by(RoutingCorrection.id.desc())
        ).first()
        assert correction.ticket_id == moved.id and correction.staff_user_id == (
            inbox_world.world.officer.id
        )
        assert correction.corrected_department_id == inbox_world.world.other.id
    # Now it is the other department's ticket: the redirect target is a 404 for this officer.
    assert officer.get(response.headers["Location"]).status_code == 404
    history = text_of(client_for(web_app, "other_officer").get(page))
    assert "改派" in history and "属于交通运输局职责" in history


def test_triage_assigns_a_department(web_app, inbox_world, session_factory):
    analyst = client_for(web_app, "analyst")
    html = text_of(analyst.get("/staff/triage"))
    assert inbox_world.triage in html and inbox_world.own not in html
    bad = post(analyst, f"/staff/triage/{inbox_world.triage}", "/staff/triage", department="")
    assert bad.status_code == 400 and "请选择部门" in text_of(bad)
    response = post(
        analyst,
        f"/staff/triage/{inbox_world.triage}",
        "/staff/triage",
        department=inbox_world.world.own.code,
    )
    assert response.status_code == 303
    assert "已派单" in text_of(analyst.get(response.headers["Location"]))
    routed = ticket_row(session_factory, inbox_world.triage)
    assert routed.status == S.ASSIGNED and routed.department_id == inbox_world.world.own.id
    twice = post(
        analyst,
        f"/staff/triage/{inbox_world.triage}",
        "/staff/triage",
        department=inbox_world.world.own.code,
    )
    assert twice.status_code == 409 and "不能派单" in text_of(twice)
    # The officer of that department now has it.
    officer = client_for(web_app, "officer")
    assert officer.get(f"/staff/tickets/{inbox_world.triage}").status_code == 200


def test_admins_decide_extensions_and_escalations(web_app, inbox_world, session_factory, ctx):
    world = inbox_world.world
    officer = client_for(web_app, "officer")
    page = f"/staff/tickets/{inbox_world.own}"
    bad = post(officer, f"{page}/actions/request_extension", page, working_days="99", reason="x")
    assert bad.status_code == 400 and "延期天数必须是 1 到 15 之间的整数" in text_of(bad)
    asked = post(
        officer,
        f"{page}/actions/request_extension",
        page,
        working_days="3",
        reason="需要协调施工队",
    )
    assert asked.status_code == 303
    admin = client_for(web_app, "admin")
    queue = text_of(admin.get("/staff/decisions"))
    assert inbox_world.own in queue and "需要协调施工队" in queue
    response = post(
        admin,
        f"{page}/actions/decide_extension",
        "/staff/decisions",
        decision="approve",
        back="decisions",
    )
    assert response.status_code == 303 and response.headers["Location"].startswith(
        "/staff/decisions"
    )
    assert inbox_world.own not in text_of(admin.get(response.headers["Location"]))
    with session_factory() as session:
        request = session.scalar(select(ExtensionRequest))
    assert request.status == DecisionStatus.APPROVED
    assert ticket_row(session_factory, inbox_world.own).due_date == request.new_due_date

    # An escalated ticket: the citizen said "not resolved" twice.
    with session_factory.begin() as session:
        citizen = make_citizen(session, channel=Channel.TELEGRAM)
        who = Actor.citizen(citizen)
        ticket = make_ticket(session, ctx, citizen=citizen)
        tickets.assign(session, ctx, ticket, world.own, actor=inbox_world.admin())
        officer_actor = Actor.staff(world.officer)
        tickets.start(session, ctx, ticket, actor=officer_actor)
        for _ in range(2):
            tickets.reply(session, ctx, ticket, actor=officer_actor, text="已处理")
            tickets.close(session, ctx, ticket, actor=officer_actor)
            tickets.record_verdict(session, ctx, ticket, actor=who, resolved=False)
        escalated = ticket.number
    queue = text_of(admin.get("/staff/decisions"))
    assert escalated in queue
    no_note = post(
        admin,
        f"/staff/tickets/{escalated}/actions/handle_escalation",
        "/staff/decisions",
        decision="reopen",
        note="",
        back="decisions",
    )
    assert no_note.status_code == 400 and "处理意见不能为空" in text_of(no_note)
    done = post(
        admin,
        f"/staff/tickets/{escalated}/actions/handle_escalation",
        "/staff/decisions",
        decision="reopen",
        note="督办：三日内重新处理",
        back="decisions",
    )
    assert done.status_code == 303
    assert ticket_row(session_factory, escalated).status == S.IN_PROGRESS
    assert escalated not in text_of(admin.get("/staff/decisions"))
