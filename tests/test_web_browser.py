"""A citizen's phone in a real browser: Debian's chromium driven by Playwright, JavaScript off.

Rates a service from its QR code's page, files a complaint with a photo, follows it with the
access code and answers the 回访, on a 390x844 viewport, checking that no page scrolls
sideways. The browser is the system's `chromium` package (never a Playwright download):
`apt-get install chromium fonts-noto-cjk` (CI's .ci/run installs it).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from PIL import Image

from minyi.db import make_engine, make_session_factory
from minyi.models import Role
from minyi.runtime import Runtime
from minyi.services import catalog, tickets
from minyi.services.actors import Actor
from minyi.services.context import ServiceContext
from tests.builders import make_staff

CHROMIUM = Path(os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium"))
# Set TEST_SCREENSHOTS=/some/folder to keep the screenshots for a look by eye.
SCREENSHOTS = os.environ.get("TEST_SCREENSHOTS")
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.slow


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"the phone-page test needs Debian's chromium at {CHROMIUM}: install it with "
            "`sudo apt-get install -y chromium fonts-noto-cjk` (or set TEST_CHROMIUM)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


@pytest.fixture
def site(settings, tmp_path, _sqlite_template):
    """The site served by waitress on 127.0.0.1 as `minyi web` serves it, with a catalogue."""
    shutil.copyfile(_sqlite_template, tmp_path / "minyi.db")
    settings.web.secret_key = "browser-test-secret"
    settings.web.upload_dir = str(tmp_path / "uploads")
    settings.nlp.enabled = False  # routing is the NLP tests' business; here a person routes
    engine = make_engine(settings)
    session_factory = make_session_factory(engine)
    with session_factory.begin() as session:
        department = catalog.create_department(
            session, code="rsj", name="县人力资源和社会保障局", name_en="Human Resources"
        )
        catalog.create_service(
            session, department=department, code="rsj-01", name="社会保障卡申领（含补换卡）"
        )
        catalog.create_outlet(session, code="hall-1", name="县政务服务中心一楼综合窗口")
    runtime = Runtime(settings, host="127.0.0.1", port=0, scheduler=False, bot=False)
    url = runtime.start().rstrip("/")
    server = threading.Thread(target=runtime.run, daemon=True)
    server.start()
    settings.web.public_base_url = url
    yield url, session_factory, ServiceContext.from_settings(settings, analyzer=None)
    runtime.stop()
    server.join(10)
    engine.dispose()


def check_fits(page, name: str, tmp_path: Path) -> None:
    """Nothing wider than the phone: no sideways scrolling. Keeps a screenshot."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name}: page is {width}px wide on a {PHONE['width']}px phone"
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def press(page, button: str) -> None:
    """Tap a submit button and wait for the page the form leads to."""
    with page.expect_navigation():
        page.get_by_role("button", name=button).tap()


def test_a_citizen_rates_complains_follows_and_answers_on_a_phone(browser, site, tmp_path):
    url, session_factory, ctx = site
    phone = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        java_script_enabled=False,
        locale="zh-CN",
    )
    page = phone.new_page()

    # The QR code at the window opens the rating page of its service and hall.
    page.goto(f"{url}/r/rsj-01?outlet=hall-1")
    assert page.locator("h1").inner_text() == "社会保障卡申领（含补换卡）"
    labels = page.locator(".level-zh").all_inner_texts()
    assert labels == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    check_fits(page, "01-rate", tmp_path)
    page.get_by_text("不满意", exact=True).tap()
    page.get_by_text("服务态度", exact=True).tap()
    page.locator("textarea[name=comment]").fill("窗口工作人员态度冷淡，<b>问了三次</b>才回答。")
    check_fits(page, "02-rate-filled", tmp_path)
    press(page, "提交评价")
    assert page.locator("h1").inner_text() == "感谢您的评价"
    assert re.search(r"须在 \d{4}-\d{2}-\d{2} 前核实", page.locator("main").inner_text())
    check_fits(page, "03-rate-thanks", tmp_path)

    # From the citizen menu to a complaint with a photo.
    page.goto(f"{url}/citizen")
    check_fits(page, "04-citizen", tmp_path)
    with page.expect_navigation():
        page.get_by_role("link", name=re.compile("投诉建议")).tap()
    page.locator("textarea[name=text]").fill(
        "幸福路与建设街交叉口的路灯坏了一个多月，晚上出行很不安全，请尽快修理。"
    )
    photo = io.BytesIO()
    Image.new("RGB", (1200, 900), (90, 120, 160)).save(photo, "JPEG")
    page.locator("input[name=photo]").set_input_files(
        {"name": "IMG_2040.jpg", "mimeType": "image/jpeg", "buffer": photo.getvalue()}
    )
    page.locator("input[name=contact_phone]").fill("138 0013 8000")
    check_fits(page, "05-complain", tmp_path)
    press(page, "提交")
    assert page.locator("h1").inner_text() == "您的诉求已受理"
    facts = page.locator("main").inner_text()
    number = re.search(r"MY-\d{8}-\d{4}", facts).group(0)
    code = page.locator(".code").inner_text()
    assert len(code) >= 8
    check_fits(page, "06-filed", tmp_path)

    # The department handles it; the citizen follows it with the code, on another phone.
    with session_factory.begin() as session:
        department = catalog.get_department(session, "rsj")
        officer = Actor.staff(make_staff(session, role=Role.OFFICER, department=department))
        ticket = tickets.get_ticket(session, number, for_update=True)
        tickets.assign(session, ctx, ticket, department, actor=Actor.staff(make_staff(session)))
        tickets.start(session, ctx, ticket, actor=officer)
        tickets.reply(session, ctx, ticket, actor=officer, text="已安排维修，路灯于今晚恢复照明。")
        tickets.close(session, ctx, ticket, actor=officer)
    other = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, java_script_enabled=False
    ).new_page()
    other.goto(f"{url}/citizen")
    other.locator("input[name=number]").fill(number)
    other.locator("input[name=code]").fill(code.lower())
    press(other, "查询")
    assert other.locator("h1").inner_text() == "已办结"
    assert "已安排维修" in other.locator(".reply").inner_text()
    check_fits(other, "07-status-closed", tmp_path)
    other.get_by_text("已解决", exact=True).tap()
    other.locator(".verdict-form").get_by_text("满意", exact=True).tap()
    press(other, "提交评价")
    assert "感谢您的评价" in other.locator(".notice-ok").inner_text()
    check_fits(other, "08-status-answered", tmp_path)

    # English, remembered on the next page.
    page.goto(f"{url}/citizen")
    with page.expect_navigation():
        page.get_by_role("link", name="English").tap()
    assert page.locator("h1").inner_text() == "For citizens"
    page.goto(f"{url}/r/rsj-01")
    assert "How satisfied" in page.locator("legend").first.inner_text()
    check_fits(page, "09-rate-english", tmp_path)
    phone.close()


def test_an_admin_prints_a_halls_posters_one_per_a4_page(browser, site, tmp_path):
    url, session_factory, _ctx = site
    with session_factory.begin() as session:
        make_staff(session, username="poster-admin", password="correct-horse-9")
        department = catalog.get_department(session, "rsj")
        catalog.create_service(session, department=department, code="rsj-02", name="失业登记")
        catalog.create_service(session, department=department, code="rsj-03", name="就业登记")
        hall = catalog.get_outlet(session, "hall-1")
    desk = browser.new_context(java_script_enabled=False, locale="zh-CN")
    page = desk.new_page()
    page.goto(f"{url}/staff/login")
    page.locator("input[name=username]").fill("poster-admin")
    page.locator("input[name=password]").fill("correct-horse-9")
    with page.expect_navigation():
        page.get_by_role("button", name="登录").click()
    # The catalogue and the posters' preview work on a phone too.
    page.set_viewport_size(PHONE)
    page.goto(f"{url}/staff/catalog")
    check_fits(page, "20-staff-catalog", tmp_path)
    page.goto(f"{url}/staff/catalog/outlets/{hall.id}/posters")
    assert page.locator("section.poster").count() == 3
    check_fits(page, "21-staff-posters", tmp_path)
    page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    page.emulate_media(media="print")
    # On paper: the posters only, no menu, no notes, each QR code large.
    assert not page.locator(".staff-nav").is_visible()
    assert not page.locator(".no-print").is_visible()
    qr_width = page.locator(".poster-qr svg").first.bounding_box()["width"]
    assert qr_width > 300, qr_width  # 110 mm is ~415 CSS pixels
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    page.screenshot(path=str(folder / "22-staff-posters-print.png"))
    pdf = page.pdf(prefer_css_page_size=True)
    (tmp_path / "posters.pdf").write_bytes(pdf)
    pages = re.findall(rb"/Type\s*/Page[^s]", pdf)
    assert len(pages) == 3
    # A4 portrait: 595 x 842 points.
    size = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert size and round(float(size[1])) == 595 and round(float(size[2])) == 842
    desk.close()
