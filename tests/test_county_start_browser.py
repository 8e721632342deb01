"""A county without demo data, from the command line to an officer's browser (issue "Done when").

`minyi init`, `minyi import catalog`, `minyi user add` make the county; a citizen rates a
service badly and files a complaint on the phone pages; the admin routes the complaint out
of triage; the officer signs in, accepts and answers it, then works the 差评 follow-up through
verification, rectification and the answer. Debian's chromium, JavaScript off.
"""

from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from minyi.cli import main
from minyi.config import load_settings
from minyi.db import make_engine, make_session_factory
from minyi.models import BadReviewFollowUp, FollowUpStatus, Ticket, TicketStatus
from minyi.runtime import Runtime
from tests.test_web_browser import browser  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow

CATALOGUE = """kind,code,name,name_en,department,address
department,rsj,县人力资源和社会保障局,Human Resources and Social Security,,
department,jtj,县交通运输局,Transport,,
service,rsj-01,社会保障卡申领,,rsj,
service,jtj-01,道路运输证办理,,jtj,
outlet,hall-1,县政务服务中心,,,人民路 1 号
"""
COMPLAINT = "社保卡补办窗口连续三天说系统故障，让我们反复跑了好几趟，希望尽快解决。"


@pytest.fixture
def county(settings, tmp_path):
    """A county set up exactly as its admin would, with the site served on 127.0.0.1."""
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/county.db"\n'
        f'[web]\nsecret_key = "county-test-secret"\nupload_dir = "{tmp_path}/uploads"\n'
        "[nlp]\nenabled = false\n",
        encoding="utf-8",
    )
    (tmp_path / "catalogue.csv").write_text(CATALOGUE, encoding="utf-8")

    def cli(*args, input=None):
        result = CliRunner().invoke(main, ["--config", str(config), *args], input=input)
        assert result.exit_code == 0, result.output
        return result.output

    cli("init")
    cli("import", "catalog", str(tmp_path / "catalogue.csv"))
    cli("user", "add", "zhang", "--role", "admin", "--name", "张主任",
        input="county-admin-1\ncounty-admin-1\n")
    cli("user", "add", "li", "--role", "officer", "--department", "rsj", "--name", "李社保",
        input="rsj-officer-01\nrsj-officer-01\n")

    county_settings = load_settings(config)
    runtime = Runtime(county_settings, host="127.0.0.1", port=0, scheduler=False, bot=False)
    url = runtime.start().rstrip("/")
    server = threading.Thread(target=runtime.run, daemon=True)
    server.start()
    engine = make_engine(county_settings)
    yield url, make_session_factory(engine)
    runtime.stop()
    server.join(10)
    engine.dispose()


def press(page, button: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=button, exact=True).click()


def sign_in(context, url: str, username: str, password: str):
    page = context.new_page()
    page.goto(f"{url}/staff/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    press(page, "登录")
    assert page.locator("h1").inner_text() == "工作台"
    return page


def test_a_new_county_works_its_first_complaint_and_bad_review(browser, county):  # noqa: F811
    url, session_factory = county

    # A citizen on a phone: a 差评 from the hall's QR code, then a complaint.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    citizen = phone.new_page()
    citizen.goto(f"{url}/r/rsj-01?outlet=hall-1")
    citizen.get_by_text("不满意", exact=True).click()
    citizen.get_by_text("办事效率", exact=True).click()
    citizen.locator("textarea[name=comment]").fill("排队一个多小时，窗口只开了一个。")
    press(citizen, "提交评价")
    assert "感谢您的评价" in citizen.content()
    citizen.goto(f"{url}/complain")
    citizen.locator("textarea[name=text]").fill(COMPLAINT)
    press(citizen, "提交")
    number = citizen.locator(".mono").first.inner_text().strip()
    assert number.startswith("MY-")
    phone.close()

    desk = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=False)
    # The admin routes the complaint out of triage (NLP is off in this county).
    admin = sign_in(desk, url, "zhang", "county-admin-1")
    admin.goto(f"{url}/staff/triage")
    assert number in admin.content()
    admin.locator("select[name=department]").select_option("rsj")
    press(admin, "派单")
    desk.close()

    desk = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=False)
    officer = sign_in(desk, url, "li", "rsj-officer-01")
    with officer.expect_navigation():
        officer.locator(".staff-nav").get_by_role("link", name="工单", exact=True).click()
    with officer.expect_navigation():
        officer.get_by_role("link", name=number).click()
    press(officer, "受理")
    officer.locator("textarea[name=text]").fill("已核实系统故障原因并修复，补办窗口已恢复正常。")
    press(officer, "回复")
    assert "已回复" in officer.locator(".notice-ok").inner_text()

    with officer.expect_navigation():
        officer.locator(".staff-nav").get_by_role("link", name="差评整改", exact=True).click()
    with officer.expect_navigation():
        officer.locator("main a[href*='/staff/follow-ups/']").first.click()
    assert "排队一个多小时" in officer.locator("main").inner_text()
    for button, text in (
        ("记录核实", "属实：当日只开放一个窗口，等候超过一小时。"),
        ("记录整改", "高峰时段增开两个窗口，并安排引导员。"),
        ("反馈市民并完成整改", "已增开窗口，感谢您的监督。"),
    ):
        officer.locator("textarea[name=text]").first.fill(text)
        press(officer, button)
        assert officer.locator(".notice-error").count() == 0, officer.locator("main").inner_text()
    desk.close()

    with session_factory() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket.status == TicketStatus.REPLIED and ticket.department.code == "rsj"
        follow_up = session.scalar(select(BadReviewFollowUp))
        assert follow_up.status == FollowUpStatus.COMPLETED
        assert follow_up.verified_at and follow_up.rectified_at and follow_up.completed_at
