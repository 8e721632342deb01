"""An analyst designs a small survey and publishes it in a real browser (Debian's chromium).

Signs in, creates the survey, adds a single-choice question through the plain forms, checks
the phone-sized preview frame shows it as citizens will see it, and publishes; then the
designer's pages are checked on a phone too (nothing scrolls sideways). See
tests/test_web_browser.py for the browser's setup.
"""

from __future__ import annotations

import shutil
import threading

import pytest

from minyi.db import make_engine, make_session_factory
from minyi.models import Role
from minyi.runtime import Runtime
from surveys import catalog
from tests.builders import make_staff
from tests.test_web_browser import PHONE, browser, check_fits  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow


def press(page, button: str) -> None:
    """Click a submit button and wait for the page the form leads to."""
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()


@pytest.fixture
def staff_site(settings, tmp_path, _sqlite_template):
    """The site served as `minyi web` serves it, with one analyst account."""
    shutil.copyfile(_sqlite_template, tmp_path / "minyi.db")
    settings.web.secret_key = "browser-test-secret"
    settings.nlp.enabled = False
    engine = make_engine(settings)
    session_factory = make_session_factory(engine)
    with session_factory.begin() as session:
        make_staff(session, Role.ANALYST, username="analyst1", display_name="李分析")
    runtime = Runtime(settings, host="127.0.0.1", port=0, scheduler=False, bot=False)
    url = runtime.start().rstrip("/")
    server = threading.Thread(target=runtime.run, daemon=True)
    server.start()
    yield url, session_factory
    runtime.stop()
    server.join(10)
    engine.dispose()


def test_an_analyst_designs_and_publishes_a_survey(browser, staff_site, tmp_path):  # noqa: F811
    url, session_factory = staff_site
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = desk.new_page()
    page.goto(f"{url}/staff/login?next=/staff/surveys")
    page.locator("input[name=username]").fill("analyst1")
    page.locator("input[name=password]").fill("correct-horse-9")
    press(page, "登录")
    assert page.locator("h1").inner_text() == "问卷"

    with page.expect_navigation():
        page.get_by_role("link", name="新建问卷").click()
    page.locator("input[name=slug]").fill("window-2026")
    page.locator("input[name='title.zh']").fill("窗口服务满意度")
    press(page, "创建草稿")
    assert "问卷已创建（草稿）" in page.locator(".notice-ok").inner_text()

    page.locator("select[name=type]").select_option("single")
    press(page, "添加问题")
    page.locator("input[name=key]").fill("how")
    page.locator("textarea[name='text.zh']").fill("您是怎么办理的？")
    for index, (key, text) in enumerate([("hall", "到窗口"), ("online", "网上办理")]):
        page.locator(f"input[name='choices.{index}.key']").fill(key)
        page.locator(f"input[name='choices.{index}.zh']").fill(text)
    press(page, "保存问题")
    assert "已保存到草稿" in page.locator(".notice-ok").inner_text()
    items = page.locator(".question-item strong").all_inner_texts()
    assert items == ["您对本次服务的总体评价是？", "您是怎么办理的？"]

    # The preview frame is the answering page, phone-sized, with the new question.
    frame = page.frame_locator("iframe.phone-frame")
    frame.get_by_text("网上办理", exact=True).wait_for()
    assert frame.locator(".question").count() == 2
    box = page.locator("iframe.phone-frame").bounding_box()
    assert 380 <= box["width"] <= 420
    page.screenshot(path=str(tmp_path / "designer-desk.png"), full_page=True)

    press(page, "发布第 1 版")
    assert "已发布" in page.locator(".notice-ok").inner_text()
    with session_factory() as session:
        published = catalog.latest_version(session, catalog.get_survey(session, "window-2026"))
        assert published.number == 1
        assert [q["key"] for q in published.definition["questions"]] == ["overall", "how"]

    # The designer's pages on a phone, without JavaScript: nothing wider than the screen.
    cookies = desk.cookies()
    phone = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, java_script_enabled=False, locale="zh-CN"
    )
    phone.add_cookies(cookies)
    small = phone.new_page()
    for name, path in (
        ("surveys", "/staff/surveys"),
        ("designer", "/staff/surveys/window-2026"),
        ("question", "/staff/surveys/window-2026/questions/how"),
        ("rounds", "/staff/surveys/window-2026/rounds"),
    ):
        small.goto(url + path)
        check_fits(small, f"staff-survey-{name}", tmp_path)
