"""A survey answered on a phone in a real browser (Debian's chromium through Playwright).

On a 390x844 viewport: from the citizen menu's survey card to the thanks page, once with the
page's script (questions appear as their conditions are met, the progress bar moves) and once
without JavaScript (every question shown, the server applies show_if), checking that no page
scrolls sideways. See tests/test_web_browser.py for the browser's setup.
"""

from __future__ import annotations

import re
import shutil
import threading

import pytest
from sqlalchemy import select

from minyi.db import make_engine, make_session_factory
from minyi.models import SurveyResponse
from minyi.runtime import Runtime
from minyi.services.context import ServiceContext
from surveys import catalog, rounds
from tests.survey_helpers import HALL, hall_template, make_hall_departments
from tests.test_web_browser import PHONE, browser, check_fits, press  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow


@pytest.fixture
def survey_site(settings, tmp_path, _sqlite_template):
    """The site served as `minyi web` serves it, with the hall survey's round open."""
    shutil.copyfile(_sqlite_template, tmp_path / "minyi.db")
    settings.web.secret_key = "browser-test-secret"
    settings.nlp.enabled = False
    engine = make_engine(settings)
    session_factory = make_session_factory(engine)
    ctx = ServiceContext.from_settings(settings, analyzer=None)
    with session_factory.begin() as session:
        make_hall_departments(session)
        catalog.import_survey(session, ctx, hall_template())
        rounds.open_round(session, ctx, HALL)
    runtime = Runtime(settings, host="127.0.0.1", port=0, scheduler=False, bot=False)
    url = runtime.start().rstrip("/")
    server = threading.Thread(target=runtime.run, daemon=True)
    server.start()
    yield url, session_factory
    runtime.stop()
    server.join(10)
    engine.dispose()


def submitted(session_factory) -> list[dict]:
    """Each submitted response's stored answers by key (a multiple choice as "a;b")."""
    with session_factory() as session:
        stored = session.scalars(
            select(SurveyResponse.answers).where(SurveyResponse.submitted_at.is_not(None))
        ).all()
    return [
        {key: ";".join(v) if isinstance(v, list) else v for key, v in answers.items()}
        for answers in stored
    ]


def phone(browser, *, javascript: bool):  # noqa: F811  (the fixture's value)
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        java_script_enabled=javascript,
        locale="zh-CN",
    )
    return context, context.new_page()


def test_a_citizen_answers_a_survey_on_a_phone(browser, survey_site, tmp_path):  # noqa: F811
    url, session_factory = survey_site

    # With the page's script: the card on the citizen menu leads to the form.
    context, page = phone(browser, javascript=True)
    page.goto(f"{url}/citizen")
    card = page.get_by_role("link", name=re.compile("问卷调查：县政务服务大厅满意度调查"))
    with page.expect_navigation():
        card.tap()
    assert page.locator("h1").inner_text() == "县政务服务大厅满意度调查"
    check_fits(page, "s01-survey", tmp_path)
    service = page.locator("#q-service")
    assert service.is_hidden() and page.locator("#q-why").is_hidden()
    page.locator("#q-overall").get_by_text("不满意", exact=True).tap()
    assert page.locator("#q-why").is_visible()  # a low score asks why
    page.locator("#q-how").get_by_text("到窗口", exact=True).tap()
    assert service.is_visible()
    service.get_by_text("社保业务", exact=True).tap()
    page.locator("#q-recommend .nps-point").nth(8).tap()
    page.locator("#q-improve").get_by_text("排队时间", exact=True).tap()
    page.locator("#q-improve").get_by_text("办事指引", exact=True).tap()
    page.locator("#q-improve").get_by_text("服务态度", exact=True).tap()  # one too many
    page.locator("textarea[name=why]").fill("窗口太少，<b>排队</b>一个多小时。")
    assert page.locator("[data-answered]").inner_text() == "6"
    assert page.locator("[data-applicable]").inner_text() == "10"
    check_fits(page, "s02-survey-filled", tmp_path)
    press(page, "提交问卷")
    # Refused by the server: the message, and every answer still there.
    assert "最多选 2 项" in page.locator("#survey-errors").inner_text()
    assert page.locator("#q-how input[value=hall]").is_checked()
    assert page.locator("textarea[name=why]").input_value() == "窗口太少，<b>排队</b>一个多小时。"
    assert page.locator("#q-service").is_visible()
    check_fits(page, "s03-survey-refused", tmp_path)
    page.locator("#q-improve").get_by_text("服务态度", exact=True).tap()
    press(page, "提交问卷")
    assert page.locator("h1").inner_text() == "感谢您的参与"
    check_fits(page, "s04-survey-thanks", tmp_path)
    page.goto(f"{url}/s/{HALL}")
    assert page.locator("h1").inner_text() == "您已提交过本次调查"
    context.close()

    # Without JavaScript on another phone: every question shown, the server drops the rest.
    context, page = phone(browser, javascript=False)
    page.goto(f"{url}/s/{HALL}")
    assert page.locator("#q-service").is_visible()
    assert "仅当第 3 题选择" in page.locator("#q-service").inner_text()
    page.locator("#q-overall").get_by_text("非常满意", exact=True).tap()
    page.locator("#q-how").get_by_text("网上办理", exact=True).tap()
    page.locator("#q-service").get_by_text("医保业务", exact=True).tap()  # does not apply
    page.locator("#q-improve").get_by_text("网上办理", exact=True).tap()
    check_fits(page, "s05-survey-no-script", tmp_path)
    press(page, "提交问卷")
    assert page.locator("h1").inner_text() == "感谢您的参与"
    context.close()

    first, second = sorted(submitted(session_factory), key=lambda a: a["overall"])
    assert first == {
        "overall": 2, "recommend": 8, "how": "hall", "service": "social",
        "improve": "queue;guide", "why": "窗口太少，<b>排队</b>一个多小时。",
    }  # fmt: skip
    assert second == {"overall": 5, "how": "online", "improve": "online"}
