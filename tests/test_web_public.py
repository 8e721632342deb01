"""The citizens' phone pages, through the Flask test client: every page and branch."""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import segno
from PIL import Image
from sqlalchemy import func, select

from minyi.models import (
    Channel,
    Citizen,
    Rating,
    Role,
    Ticket,
    TicketClosure,
    TicketStatus,
)
from minyi.services import catalog, ratings, tickets
from minyi.services.actors import Actor
from tests.builders import make_department, make_service, make_staff
from tests.web_support import EXTERNAL_URL
from web import create_app

HIDDEN = re.compile(r'<input id="\w+" name="(\w+)" type="hidden" value="([^"]*)">')
LEVEL_LABELS = ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
# Read at import: the settings fixture clears MINYI_* variables from the environment.
REDIS_URL = os.environ.get("MINYI_TEST_REDIS_URL")
COMPLAINT = "小区门口的路灯坏了一个多月了，晚上出行很不安全，请尽快修理。"


@pytest.fixture
def app(settings, session_factory, ctx, tmp_path):
    settings.web.secret_key = "test-secret"
    settings.web.upload_dir = str(tmp_path / "uploads")
    app = create_app(settings, session_factory=session_factory)
    # The test clock and no NLP: deterministic dates, and nothing routes by itself.
    app.extensions["minyi"]["context"] = ctx
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def catalogue(session_factory):
    with session_factory.begin() as session:
        department = make_department(session, name="县人力资源和社会保障局", name_en="HR")
        service = make_service(session, department=department, name="社保卡申领")
        other = make_service(session, department=department, name="失业登记")
        outlet = catalog.create_outlet(session, code="hall-1", name="县政务服务中心一楼")
        return department, service, other, outlet


def form_tokens(html: str) -> dict:
    """The hidden fields a browser would post back: CSRF, submission token, outlet, code."""
    return dict(HIDDEN.findall(html))


def text_of(response) -> str:
    html = response.get_data(as_text=True)
    main = html[html.index("<main") : html.index("</main>")]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main))


def count(session_factory, model) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model))


def rate(client, service_code, query="", **fields):
    page = client.get(f"/r/{service_code}{query}")
    return client.post(
        f"/r/{service_code}", data=form_tokens(page.get_data(as_text=True)) | fields
    )


def file_complaint(client, **fields):
    page = client.get("/complain")
    data = form_tokens(page.get_data(as_text=True)) | {"text": COMPLAINT} | fields
    return client.post("/complain", data=data, content_type="multipart/form-data")


def status_link(client, response) -> str:
    filed = client.get(response.headers["Location"]).get_data(as_text=True)
    return re.search(r'href="(/t/[^"?]+\?code=[A-Z0-9]+)"', filed).group(1)


# -- the menu --------------------------------------------------------------------------------


def test_citizen_menu_offers_rating_complaint_and_lookup(client):
    html = client.get("/citizen").get_data(as_text=True)
    assert 'href="/rate"' in html and 'href="/complain"' in html
    assert 'action="/t"' in html and 'name="number"' in html and 'name="code"' in html
    # No card for what does not exist yet: surveys get theirs when their page lands.
    assert "即将上线" not in html and "参与调查" not in html


def test_department_and_service_lists_lead_to_the_rating_page(client, catalogue):
    department, service, other, _ = catalogue
    departments = client.get("/rate").get_data(as_text=True)
    assert f'href="/rate/{department.code}"' in departments and department.name in departments
    services = client.get(f"/rate/{department.code}").get_data(as_text=True)
    assert f'href="/r/{service.code}"' in services and f'href="/r/{other.code}"' in services
    assert client.get("/rate/no-such-department").status_code == 404


# -- rating ----------------------------------------------------------------------------------


def test_rating_page_names_the_service_and_offers_the_five_levels(client, catalogue):
    department, service, _, _ = catalogue
    response = client.get(f"/r/{service.code}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert service.name in html and department.name in html
    labels = re.findall(r'<span class="level-zh">([^<]+)</span>', html)
    assert labels == LEVEL_LABELS
    for aspect in ratings.ASPECTS:
        assert f'value="{aspect}"' in html
    assert 'maxlength="2000"' in html and "最多 2000 字" in html


def test_a_good_rating_is_stored_once_and_thanked(client, catalogue, session_factory):
    _, service, _, _ = catalogue
    response = rate(client, service.code, score="5", aspect="服务态度", comment="办得很快")
    assert response.status_code == 200
    assert "感谢您的评价" in text_of(response) and "非常满意" in text_of(response)
    assert "前核实" not in text_of(response)
    with session_factory() as session:
        rating = session.scalars(select(Rating)).one()
        assert (rating.score, rating.comment, rating.channel) == (5, "办得很快", Channel.WEB)
        assert rating.aspect is None  # an aspect is the reason of a 差评 only
        assert rating.source_ref.startswith("form:") and rating.citizen_id is None


def test_a_bad_review_names_the_department_deadline(client, catalogue, session_factory, ctx):
    _, service, _, _ = catalogue
    response = rate(client, service.code, score="2", aspect="办事效率", comment="排队三小时")
    deadline = ratings.follow_up_deadline(ctx, ctx.now())
    assert response.status_code == 200
    assert f"须在 {deadline:%Y-%m-%d} 前核实" in text_of(response)
    with session_factory() as session:
        rating = session.scalars(select(Rating)).one()
        assert rating.aspect == "办事效率" and rating.follow_up.deadline == deadline


def test_outlet_from_the_qr_code_is_kept(client, catalogue, session_factory):
    _, service, _, outlet = catalogue
    page = client.get(f"/r/{service.code}?outlet={outlet.code}").get_data(as_text=True)
    assert outlet.name in page
    response = rate(client, service.code, query=f"?outlet={outlet.code}", score="4")
    assert response.status_code == 200
    with session_factory() as session:
        assert session.scalars(select(Rating)).one().outlet_id == outlet.id


def test_unknown_service_or_outlet_is_a_friendly_404(client, catalogue):
    _, service, _, _ = catalogue
    response = client.get("/r/no-such-service")
    assert response.status_code == 404
    assert "找不到该服务事项" in text_of(response) and 'href="/rate"' in response.get_data(
        as_text=True
    )
    assert client.get(f"/r/{service.code}?outlet=no-such-hall").status_code == 404
    assert client.get("/r/no-such-service/qr.svg").status_code == 404


def test_the_same_rating_form_posted_twice_stores_one_row(client, catalogue, session_factory):
    _, service, _, _ = catalogue
    page = client.get(f"/r/{service.code}").get_data(as_text=True)
    data = form_tokens(page) | {"score": "1", "aspect": "服务态度"}
    first = client.post(f"/r/{service.code}", data=data)
    second = client.post(f"/r/{service.code}", data=data)
    assert first.status_code == second.status_code == 200
    assert text_of(first) == text_of(second)
    assert count(session_factory, Rating) == 1
    rate(client, service.code, score="1")  # a new page load is a new rating
    assert count(session_factory, Rating) == 2


def test_the_thanks_page_follows_renames_languages_and_deactivation(
    client, catalogue, session_factory
):
    department, service, _, _ = catalogue
    assert "社保卡申领" in text_of(rate(client, service.code, score="5"))
    actor = Actor.system("test", "catalog.manage")
    with session_factory.begin() as session:
        catalog.update_service(session, service.code, name="社保卡补换", actor=actor)
        catalog.update_department(
            session, department.code, name="县人社局", name_en="Human resources", actor=actor
        )
    thanks = text_of(rate(client, service.code, score="5"))  # the same fields as the first
    assert "社保卡补换 · 县人社局" in thanks and "社保卡申领" not in thanks
    client.get("/lang/en")
    english = text_of(rate(client, service.code, score="1", aspect="其他"))
    assert "Thank you for your rating" in english and "Human resources must verify" in english
    page = client.get(f"/r/{service.code}").get_data(as_text=True)
    with session_factory.begin() as session:
        catalog.set_service_active(session, service.code, active=False, actor=actor)
    # A page loaded before the service was deactivated still posts: refused, nothing stored.
    late = client.post(f"/r/{service.code}", data=form_tokens(page) | {"score": "5"})
    assert late.status_code == 404 and client.get(f"/r/{service.code}").status_code == 404
    assert count(session_factory, Rating) == 3


def test_the_thanks_page_shows_nothing_of_another_rating(client, catalogue):
    _, service, _, _ = catalogue
    first = rate(client, service.code, score="2", aspect="其他", comment="第一位市民的留言")
    second = rate(client, service.code, score="2", aspect="其他", comment="第二位")
    assert "第一位市民的留言" not in first.get_data(as_text=True)
    assert text_of(first) == text_of(second)
    assert second.headers["Content-Security-Policy"].startswith("default-src 'self'")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "请选择一个满意程度"),
        ({"score": "6"}, "评分必须是 1 到 5 之间的整数"),
        ({"score": "0"}, "评分必须是 1 到 5 之间的整数"),
        ({"score": "²"}, "评分必须是 1 到 5 之间的整数"),
        ({"score": "4", "comment": "好" * 2001}, "评价内容太长"),
    ],
)
def test_bad_ratings_are_refused_with_what_was_typed_kept(
    client, catalogue, session_factory, fields, message
):
    _, service, _, _ = catalogue
    fields = dict(fields)  # the parameter is shared by both backends' runs
    comment = fields.pop("comment", "<script>alert('x')</script>窗口人员不在")
    response = rate(client, service.code, comment=comment, **fields)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert "<script>alert" not in html
    assert (comment.replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;")) in html
    assert count(session_factory, Rating) == 0


def test_markup_and_control_characters_in_a_comment(client, catalogue, session_factory):
    _, service, _, _ = catalogue
    response = rate(client, service.code, score="3", comment="<b>一般</b>\x00\x07")
    assert response.status_code == 200
    with session_factory() as session:
        assert session.scalars(select(Rating)).one().comment == "<b>一般</b>"


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_missing_or_forged_csrf_token_stores_nothing(client, catalogue, session_factory, token):
    _, service, _, _ = catalogue
    page = client.get(f"/r/{service.code}").get_data(as_text=True)
    data = form_tokens(page) | {"score": "5", "comment": "我写的留言"}
    if token is None:
        del data["csrf_token"]
    else:
        data["csrf_token"] = token
    response = client.post(f"/r/{service.code}", data=data)
    assert response.status_code == 400
    assert "页面已过期或来源无法验证" in text_of(response) and "我写的留言" in text_of(response)
    assert count(session_factory, Rating) == 0
    complaint = file_complaint(client, csrf_token="forged")
    assert complaint.status_code == 400 and COMPLAINT in text_of(complaint)
    assert count(session_factory, Ticket) == 0


def test_a_form_without_its_submission_token_is_refused(client, catalogue, session_factory):
    _, service, _, _ = catalogue
    response = rate(client, service.code, score="5", submission="")
    assert response.status_code == 400 and "表单已失效" in text_of(response)
    assert count(session_factory, Rating) == 0


def test_qr_code_points_at_the_public_address(client, app, catalogue):
    _, service, _, outlet = catalogue
    app.extensions["minyi"]["settings"].web.public_base_url = "https://minyi.example.gov.cn"
    response = client.get(f"/r/{service.code}/qr.svg?outlet={outlet.code}")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    expected = segno.make(
        f"https://minyi.example.gov.cn/r/{service.code}?outlet={outlet.code}", error="m"
    )
    out = io.BytesIO()
    expected.save(out, kind="svg", scale=10, border=4, xmldecl=False, title="x")
    path = re.search(rb' d="([^"]+)"', out.getvalue()).group(1)
    assert path in response.data and response.data.startswith(b"<svg")


# -- complaints ------------------------------------------------------------------------------


def test_a_complaint_gets_its_number_due_date_and_status_link(
    client, catalogue, session_factory, ctx
):
    _, service, _, _ = catalogue
    response = file_complaint(client, service=service.code, contact_phone="138 0013 8000")
    assert response.status_code == 303
    filed = client.get(response.headers["Location"])
    page = text_of(filed)
    number = re.search(r"MY-\d{8}-\d{4}", page).group(0)
    code = re.search(r"查询码 ([A-Z0-9]+)", page).group(1)
    assert len(code) >= 8
    with session_factory() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.number == number and ticket.channel == Channel.WEB
        assert ticket.service_id == service.id and ticket.contact_phone == "13800138000"
        assert ticket.access_code_hash and code not in ticket.access_code_hash
        assert tickets.verify_access_code(ticket, code)
        citizen = session.get(Citizen, ticket.citizen_id)
        assert citizen.channel == Channel.WEB
    assert f"{ticket.due_date:%Y-%m-%d}" in page
    assert "正在分派" in page  # no NLP in this test: the ticket waits in triage
    assert f"http://127.0.0.1:5000/t/{number}?code={code}" in page
    # Reloading the confirmation still shows the code, from this browser's session.
    assert code in text_of(client.get(response.headers["Location"]))
    assert "13800138000" not in page


def test_the_same_complaint_posted_twice_is_one_ticket_and_shows_its_code(client, session_factory):
    page = client.get("/complain").get_data(as_text=True)
    data = form_tokens(page) | {"text": COMPLAINT}
    first = client.post("/complain", data=data, content_type="multipart/form-data")
    second = client.post("/complain", data=data, content_type="multipart/form-data")
    assert first.headers["Location"] == second.headers["Location"]
    assert count(session_factory, Ticket) == 1
    assert re.search(r"查询码 [A-Z0-9]{8,}", text_of(client.get(second.headers["Location"])))


def test_one_browser_is_one_citizen(client, session_factory):
    file_complaint(client)
    file_complaint(client, text="公交站台的顶棚漏雨，下雨天等车全身湿透。")
    with session_factory() as session:
        assert len(set(session.scalars(select(Ticket.citizen_id)))) == 1
        assert session.scalar(select(func.count()).select_from(Citizen)) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"text": ""}, "投诉内容不能为空"),
        ({"text": "   \n  "}, "投诉内容不能为空"),
        ({"text": "\x00\x01\x02"}, "投诉内容太短"),
        ({"text": "太短"}, "投诉内容太短"),
        ({"text": "长" * 5001}, "投诉内容太长"),
        ({"contact_phone": "call me maybe"}, "联系电话格式不正确"),
        ({"service": "no-such-service"}, "找不到服务事项"),
    ],
)
def test_bad_complaints_are_refused_with_what_was_typed_kept(
    client, session_factory, fields, message
):
    typed = {"text": "<img src=x onerror=alert(1)>路灯坏了很久了", "contact_phone": "13800138000"}
    response = file_complaint(client, **(typed | fields))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html and "<img src=x" not in html
    kept = (typed | fields)["contact_phone"]
    assert f'value="{kept}"' in html
    if "text" not in fields:
        assert "&lt;img src=x onerror=alert(1)&gt;路灯坏了很久了" in html
    assert count(session_factory, Ticket) == 0


def test_the_daily_limit_is_a_429_with_its_message(client, app, session_factory):
    app.extensions["minyi"]["settings"].tickets.daily_limit_per_citizen = 1
    file_complaint(client)
    response = file_complaint(client, text="公交站台的顶棚漏雨，下雨天等车全身湿透。")
    assert response.status_code == 429 and "每天最多 1 件" in text_of(response)
    assert count(session_factory, Ticket) == 1


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (640, 480), (200, 40, 40))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 17.0)}  # GPS
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_a_photo_is_reencoded_without_its_metadata(client, settings, session_factory):
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif()  # the test photo does carry GPS
    response = file_complaint(client, photo=(io.BytesIO(original), "IMG_0001.JPG"))
    assert response.status_code == 303
    with session_factory() as session:
        ticket = session.scalars(select(Ticket)).one()
        (attachment,) = ticket.attachments
    assert attachment.kind == "photo" and re.fullmatch(r"[0-9a-f]{32}\.jpg", attachment.reference)
    stored = Path(settings.web.upload_dir, attachment.reference).read_bytes()
    image = Image.open(io.BytesIO(stored))
    assert image.format == "JPEG" and image.size == (640, 480)
    assert not image.getexif() and b"PhoneMaker" not in stored
    assert "附照片 1 张" in text_of(client.get(status_link(client, response)))


def test_a_png_photo_stays_a_png(client, settings, session_factory):
    out = io.BytesIO()
    Image.new("RGBA", (100, 50), (0, 0, 255, 128)).save(out, "PNG")
    response = file_complaint(client, photo=(io.BytesIO(out.getvalue()), "screen.png"))
    assert response.status_code == 303
    with session_factory() as session:
        reference = session.scalars(select(Ticket)).one().attachments[0].reference
    assert Image.open(Path(settings.web.upload_dir, reference)).format == "PNG"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"GIF89a not what we take", "照片只能是 JPEG 或 PNG 图片"),
        (b"\xff\xd8\xff this is no jpeg at all", "照片只能是 JPEG 或 PNG 图片"),
        (b"<?php system($_GET['c']); ?>", "照片只能是 JPEG 或 PNG 图片"),
    ],
)
def test_a_file_that_is_not_a_photo_is_refused(
    client, settings, session_factory, payload, message
):
    response = file_complaint(client, photo=(io.BytesIO(payload), "photo.jpg"))
    assert response.status_code == 400 and message in text_of(response)
    assert COMPLAINT in text_of(response)
    assert count(session_factory, Ticket) == 0
    folder = Path(settings.web.upload_dir)
    assert not folder.exists() or not any(folder.iterdir())


def test_a_photo_over_the_size_limit_is_refused(client, app, settings, session_factory):
    settings.web.max_upload_bytes = 20_000
    noise = Image.frombytes("RGB", (200, 200), os.urandom(200 * 200 * 3))
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=95)
    assert len(out.getvalue()) > 20_000
    response = file_complaint(client, photo=(io.BytesIO(out.getvalue()), "big.jpg"))
    assert response.status_code == 400 and "照片太大" in text_of(response)
    assert count(session_factory, Ticket) == 0
    huge = client.post("/complain", data={"photo": (io.BytesIO(b"x" * 6_000_000), "x.jpg")})
    assert huge.status_code == 413 and "提交的内容过大" in text_of(huge)


# -- following a complaint -------------------------------------------------------------------


def test_a_number_alone_reveals_nothing(client, session_factory):
    response = file_complaint(client)
    number = response.headers["Location"].rsplit("/", 1)[1]
    bare = client.get(f"/t/{number}")
    assert bare.status_code == 200 and COMPLAINT not in text_of(bare)
    assert 'name="code"' in bare.get_data(as_text=True)
    wrong = client.get(f"/t/{number}?code=AAAAAAAAAA")
    unknown = client.get("/t/MY-20991231-9999?code=AAAAAAAAAA")
    assert wrong.status_code == unknown.status_code == 404
    assert COMPLAINT not in text_of(wrong)
    assert text_of(wrong).replace(number, "N") == text_of(unknown).replace("MY-20991231-9999", "N")
    assert "受理编号或查询码不正确" in text_of(wrong)


def test_lookup_form_leads_to_the_status_page(client):
    response = file_complaint(client)
    link = status_link(client, response)
    number, code = re.fullmatch(r"/t/([^?]+)\?code=(.+)", link).groups()
    lookup = client.get(f"/t?number={number}&code={code.lower()}")
    assert lookup.status_code == 302
    page = client.get(lookup.headers["Location"])
    assert page.status_code == 200 and COMPLAINT in text_of(page)
    assert client.get("/t?number=").headers["Location"].endswith("/citizen")


def progress_to_closed(session_factory, ctx, number):
    with session_factory.begin() as session:
        department = make_department(session)
        officer = Actor.staff(make_staff(session, role=Role.OFFICER, department=department))
        admin = Actor.staff(make_staff(session))
        ticket = tickets.get_ticket(session, number, for_update=True)
        tickets.assign(session, ctx, ticket, department, actor=admin)
        tickets.start(session, ctx, ticket, actor=officer)
        tickets.reply(session, ctx, ticket, actor=officer, text="路灯已于今日修复，感谢反映。")
        tickets.close(session, ctx, ticket, actor=officer)
        return department


def test_status_page_shows_the_stepper_reply_and_takes_the_verdict(
    client, app, session_factory, ctx
):
    link = status_link(client, file_complaint(client))
    number = link.split("/")[2].split("?")[0]
    received = text_of(client.get(link))
    assert re.search(r"已受理 .*已派单 .*办理中 .*已答复 .*已办结", received)
    assert 'aria-current="step">已受理' in client.get(link).get_data(as_text=True)
    department = progress_to_closed(session_factory, ctx, number)

    # The code holder answers from another browser: still recorded as the ticket's filer.
    other_browser = app.test_client()
    page = other_browser.get(link)
    html = page.get_data(as_text=True)
    assert "路灯已于今日修复" in text_of(page) and department.name in text_of(page)
    assert 'aria-current="step">已办结' in html and 'name="resolved"' in html
    answer = other_browser.post(
        f"/t/{number}",
        data=form_tokens(html)
        | {"code": link.split("code=")[1], "resolved": "yes", "satisfaction": "4"},
    )
    assert answer.status_code == 200 and "感谢您的评价" in text_of(answer)
    assert 'name="resolved"' not in answer.get_data(as_text=True)
    with session_factory() as session:
        ticket = session.scalars(select(Ticket)).one()
        closure = session.scalars(select(TicketClosure)).one()
        assert (closure.resolved, closure.satisfaction) == (True, 4)
        assert closure.verdict_by == f"citizen:{ticket.citizen_id}"
    again = other_browser.post(
        f"/t/{number}",
        data=form_tokens(html) | {"code": link.split("code=")[1], "resolved": "no"},
    )
    assert again.status_code == 400 and "已回访评价" in text_of(again)


def test_not_resolved_reopens_the_ticket(client, session_factory, ctx):
    link = status_link(client, file_complaint(client))
    number = link.split("/")[2].split("?")[0]
    progress_to_closed(session_factory, ctx, number)
    html = client.get(link).get_data(as_text=True)
    answer = client.post(
        f"/t/{number}", data=form_tokens(html) | {"code": link.split("code=")[1], "resolved": "no"}
    )
    assert answer.status_code == 200 and "重新办理" in text_of(answer)
    assert 'aria-current="step">办理中' in answer.get_data(as_text=True)
    with session_factory() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.status == TicketStatus.IN_PROGRESS and ticket.reopen_count == 1
        assert ticket.closures[0].resolved is False


@pytest.mark.parametrize(
    ("fields", "message", "status"),
    [
        ({"satisfaction": "4"}, "问题是否已解决必须是“是”或“否”", 400),
        ({"resolved": "yes", "satisfaction": "7"}, "满意度必须是 1 到 5 之间的整数", 400),
        ({"resolved": "yes", "code": "WRONGCODE1"}, "受理编号或查询码不正确", 404),
    ],
)
def test_bad_verdicts_change_nothing(client, session_factory, ctx, fields, message, status):
    link = status_link(client, file_complaint(client))
    number = link.split("/")[2].split("?")[0]
    progress_to_closed(session_factory, ctx, number)
    html = client.get(link).get_data(as_text=True)
    data = form_tokens(html) | {"code": link.split("code=")[1]} | fields
    response = client.post(f"/t/{number}", data=data)
    assert response.status_code == status and message in text_of(response)
    with session_factory() as session:
        assert session.scalars(select(TicketClosure)).one().verdict_at is None


def test_verdict_without_csrf_token_is_refused(client, session_factory, ctx):
    link = status_link(client, file_complaint(client))
    number = link.split("/")[2].split("?")[0]
    progress_to_closed(session_factory, ctx, number)
    response = client.post(
        f"/t/{number}", data={"code": link.split("code=")[1], "resolved": "yes"}
    )
    assert response.status_code == 400
    with session_factory() as session:
        assert session.scalars(select(TicketClosure)).one().verdict_at is None


# -- language, limits, process ---------------------------------------------------------------


def test_language_switch_is_remembered(client, catalogue):
    _, service, _, _ = catalogue
    assert "评价服务" in text_of(client.get("/citizen"))
    switch = client.get(f"/lang/en?next=/r/{service.code}")
    assert switch.status_code == 302 and switch.headers["Location"] == f"/r/{service.code}"
    assert "max-age" in switch.headers["Set-Cookie"].lower()
    page = client.get("/citizen")
    assert "Rate a service" in text_of(page) and '<html lang="en">' in page.get_data(as_text=True)
    rating = client.get(f"/r/{service.code}").get_data(as_text=True)
    assert "Very satisfied" in rating and "非常满意" in rating  # the levels keep their names
    client.get("/lang/zh?next=/citizen")
    assert "评价服务" in text_of(client.get("/citizen"))


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_language_switch_never_leaves_the_site(client, target):
    response = client.get("/lang/en", query_string={"next": target})
    assert response.headers["Location"] == "/citizen"


@pytest.fixture(params=["memory", "redis"])
def limited_app(request, settings, session_factory, ctx, monkeypatch):
    settings.web.secret_key = "test-secret"
    if request.param == "redis":
        if not REDIS_URL:
            pytest.skip("MINYI_TEST_REDIS_URL not set (CI sets it)")
        settings.web.redis_url = REDIS_URL
        # Keys of this test's own: the suite's workers share one Redis database, and both the
        # counts (every test client is 127.0.0.1) and the reset below would reach the others'.
        prefix = f"minyi-test-{secrets.token_hex(6)}"
        monkeypatch.setenv("FLASK_RATELIMIT_STORAGE_OPTIONS", json.dumps({"key_prefix": prefix}))
    app = create_app(settings, session_factory=session_factory)
    app.extensions["minyi"]["context"] = ctx
    app.config["MINYI_RATING_LIMIT"] = "2 per minute"
    app.config["MINYI_LOOKUP_LIMIT"] = "3 per minute"
    yield app
    app.extensions["minyi"]["limiter"].reset()


def test_submits_are_limited_per_client(limited_app, catalogue, session_factory):
    _, service, _, _ = catalogue
    client = limited_app.test_client()
    client.get(f"/r/{service.code}")  # pages themselves are not limited
    assert rate(client, service.code, score="5").status_code == 200
    assert rate(client, service.code, score="4").status_code == 200
    refused = rate(client, service.code, score="3")
    assert refused.status_code == 429 and "请求过于频繁" in text_of(refused)
    assert count(session_factory, Rating) == 2
    for _ in range(3):
        client.get("/t/MY-20991231-0001?code=GUESS12345")
    assert client.get("/t/MY-20991231-0001?code=GUESS67890").status_code == 429


def test_a_limit_counts_each_client_address_apart(limited_app, catalogue, session_factory):
    _, service, _, _ = catalogue
    here = limited_app.test_client()
    there = limited_app.test_client()
    there.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    assert [rate(here, service.code, score="5").status_code for _ in range(3)] == [200, 200, 429]
    assert rate(there, service.code, score="5").status_code == 200
    limited_app.extensions["minyi"]["limiter"].enabled = False  # RATELIMIT_ENABLED=False
    assert rate(here, service.code, score="5").status_code == 200
    assert count(session_factory, Rating) == 4


def test_pages_load_nothing_from_outside(client, catalogue):
    _, service, _, _ = catalogue
    for path in ["/citizen", "/rate", f"/r/{service.code}", "/complain", "/t/MY-1"]:
        html = client.get(path).get_data(as_text=True)
        assert not EXTERNAL_URL.search(html), path


def test_the_web_process_loads_no_bot_and_no_nlp_up_front(sqlite_settings_env):
    code = (
        "import sys; from web import create_app; app = create_app(); c = app.test_client();"
        "[c.get(p) for p in ('/', '/citizen', '/rate', '/complain')];"
        "bad = [m for m in ('aiogram', 'snownlp', 'nlp.pipeline', 'jieba') if m in sys.modules];"
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=sqlite_settings_env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.fixture
def sqlite_settings_env(settings, tmp_path, _sqlite_template):
    import shutil

    shutil.copyfile(_sqlite_template, tmp_path / "minyi.db")
    return dict(
        os.environ,
        MINYI_DATABASE__URL=settings.database.url,
        MINYI_WEB__SECRET_KEY="x" * 32,
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
    )


def test_limits_can_be_tuned_from_the_environment(
    settings, session_factory, ctx, catalogue, monkeypatch
):
    _, service, _, _ = catalogue
    monkeypatch.setenv("FLASK_MINYI_RATING_LIMIT", "1 per minute")
    settings.web.secret_key = "test-secret"
    app = create_app(settings, session_factory=session_factory)
    app.extensions["minyi"]["context"] = ctx
    client = app.test_client()
    assert rate(client, service.code, score="5").status_code == 200
    assert rate(client, service.code, score="5").status_code == 429
    app.extensions["minyi"]["limiter"].reset()


def test_markup_in_a_complaint_is_escaped_on_every_page(client):
    text = '<script>alert("x")</script>路灯坏了，<b>请修</b>'
    response = file_complaint(client, text=text)
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;路灯坏了，&lt;b&gt;请修&lt;/b&gt;"
    status = client.get(status_link(client, response)).get_data(as_text=True)
    assert escaped in status and "<script>alert" not in status
