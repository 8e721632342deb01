"""The indicator pages in a real browser on a phone, JavaScript off: the SVG charts draw under
the site's Content-Security-Policy (no inline styles), nothing scrolls sideways, and the
report's print styles hide the menus. Debian's chromium through Playwright, as in
tests/test_web_browser.py (whose fixtures this module borrows)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from minyi.models import Role
from minyi.services import ratings
from tests.builders import make_staff
from tests.test_web_browser import PHONE, browser, check_fits, site  # noqa: F401
from tests.web_support import PASSWORD

pytestmark = pytest.mark.slow


def test_indicator_pages_on_a_phone(browser, site, tmp_path):  # noqa: F811
    url, session_factory, ctx = site
    now = ctx.now().astimezone(ctx.timezone)
    last_month = (now.replace(day=1) - timedelta(days=1)).replace(day=10, hour=10)
    with session_factory.begin() as session:
        make_staff(session, Role.ANALYST, username="analyst9", password=PASSWORD)
        for n in range(40):
            ratings.record_rating(
                session, ctx, service="rsj-01", score=5 if n % 4 else 2,
                at=datetime.combine(last_month.date(), last_month.time(), ctx.timezone),
            )  # fmt: skip
    phone = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
        java_script_enabled=False, locale="zh-CN",
    )  # fmt: skip
    page = phone.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text))
    page.goto(f"{url}/staff/login")
    page.locator("input[name=username]").fill("analyst9")
    page.locator("input[name=password]").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="登录").tap()

    page.goto(f"{url}/staff/indicators")
    plot = page.locator("svg.interval-plot")
    box = plot.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 40
    # The point is coloured by site.css through a class (an inline style would be refused).
    colour = page.locator("svg.interval-plot circle.point").first.evaluate(
        "c => getComputedStyle(c).fill"
    )
    assert colour not in ("", "rgb(0, 0, 0)")
    check_fits(page, "indicators-overview", tmp_path)

    page.goto(f"{url}/staff/indicators/departments/rsj")
    assert page.locator("svg.trend").count() == 9
    check_fits(page, "indicators-department", tmp_path)

    page.goto(f"{url}/staff/indicators/report")
    page.emulate_media(media="print")
    assert not page.locator(".staff-nav").is_visible()
    assert page.locator(".report-page").count() == 1
    assert not [p for p in problems if "Content Security Policy" in p], problems
    phone.close()
