"""An officer on a phone in a real browser (Debian's chromium, JavaScript off): signs in at
/staff/login, finds the department's ticket in the inbox, accepts it and replies; the citizen
then reads the reply on the status page. The browser setup is tests/test_web_browser.py's.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from minyi.models import OutboxMessage, Role
from minyi.services import catalog, tickets
from minyi.services.actors import Actor
from tests.builders import make_citizen, make_staff, make_ticket
from tests.test_web_browser import PHONE, browser, check_fits, site  # noqa: F401  (fixtures)
from tests.web_support import PASSWORD

pytestmark = pytest.mark.slow

REPLY = "已安排维修，幸福路的路灯将于本周五前恢复照明。"


def press(page, button: str) -> None:
    """Tap the submit button labelled exactly `button` and wait for the page it leads to."""
    with page.expect_navigation():
        page.get_by_role("button", name=button, exact=True).tap()


def test_an_officer_signs_in_and_replies_on_a_phone(browser, site, tmp_path):  # noqa: F811
    url, session_factory, ctx = site
    with session_factory.begin() as session:
        department = catalog.get_department(session, "rsj")
        make_staff(
            session,
            role=Role.OFFICER,
            department=department,
            username="hr_officer",
            display_name="张社保",
            password=PASSWORD,
        )
        citizen = make_citizen(session)
        ticket = make_ticket(
            session,
            ctx,
            citizen=citizen,
            text="幸福路与建设街交叉口的路灯坏了一个多月，晚上出行很不安全，请尽快修理。",
            contact_phone="13800138000",
        )
        tickets.assign(session, ctx, ticket, department, actor=Actor.staff(make_staff(session)))
        code = tickets.issue_access_code(ticket)
        number = ticket.number

    phone = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        java_script_enabled=False,
        locale="zh-CN",
    )
    page = phone.new_page()
    page.goto(f"{url}/staff/login")
    page.locator("input[name=username]").fill("hr_officer")
    page.locator("input[name=password]").fill(PASSWORD)
    check_fits(page, "staff-01-login", tmp_path)
    press(page, "登录")
    assert page.locator("h1").inner_text() == "工作台"

    with page.expect_navigation():
        page.locator(".staff-nav").get_by_role("link", name="工单", exact=True).tap()
    assert page.locator("h1").inner_text() == "工单"
    assert "138****8000" not in page.content()  # the list shows no phone at all
    check_fits(page, "staff-02-inbox", tmp_path)
    with page.expect_navigation():
        page.get_by_role("link", name=number).tap()
    main = page.locator("main").inner_text()
    assert "幸福路与建设街交叉口的路灯坏了" in main and "138****8000" in main
    assert "13800138000" not in page.content()
    check_fits(page, "staff-03-ticket", tmp_path)

    press(page, "受理")
    assert "已受理" in page.locator(".notice-ok").inner_text()
    page.locator("textarea[name=text]").fill(REPLY)
    check_fits(page, "staff-04-reply", tmp_path)
    press(page, "回复")
    assert "已回复" in page.locator(".notice-ok").inner_text()
    assert REPLY in page.locator(".reply").inner_text()
    assert page.locator("h1").inner_text().startswith("已答复")
    check_fits(page, "staff-05-replied", tmp_path)
    phone.close()

    with session_factory() as session:
        sent = session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.citizen_id == citizen.id, OutboxMessage.kind == "ticket_reply"
            )
        )
        assert sent.payload == {"number": number, "reply": REPLY}
    status = browser.new_context(viewport=PHONE, java_script_enabled=False).new_page()
    status.goto(f"{url}/t/{number}?code={code}")
    assert REPLY in status.locator(".reply").inner_text()
    status.context.close()
