"""Indicator pages and API for every role: what each account may read, and what it shows.

The world: two departments of tests/web_support.py (hr1 is the officer of `own`, jt1 of
`other`), ratings of September and October 2026 (the clock stands in November, so October is
the last complete month) and complaints with topics. The minimum sample is lowered to 10 to
keep the fixture small. SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from minyi.models import Role
from minyi.services import ratings, tickets
from minyi.services.actors import Actor
from tests.builders import make_ticket
from tests.web_support import EXTERNAL_URL, sign_in

BJ = ZoneInfo("Asia/Shanghai")

pytestmark = pytest.mark.usefixtures("engine")
# Access rules and input checks live in Python, not in SQL: SQLite suffices for those tests,
# while what the pages count and show runs on PostgreSQL too.
sqlite_only = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


def local(year, month, day, hour=10):
    return datetime(year, month, day, hour, tzinfo=BJ)


MINIMUM = 10


@pytest.fixture
def world(staff_world, session_factory, ctx, monkeypatch):
    """12 ratings a month in `own` (satisfied 3 of 12 in September, 9 of 12 in October),
    5 in `other` in October (样本不足), and complaints of `own` with topics."""
    monkeypatch.setattr(ctx.settings.indicators, "min_denominator", MINIMUM)
    with session_factory.begin() as session:
        for month, good in ((9, 3), (10, 9)):
            for n in range(12):
                ratings.record_rating(
                    session, ctx, service=staff_world.own_service.id,
                    score=5 if n < good else 3, at=local(2026, month, 1 + n % 28),
                )  # fmt: skip
        for n in range(5):
            ratings.record_rating(
                session, ctx, service=staff_world.other_service.id, score=4,
                at=local(2026, 10, 3 + n),
            )  # fmt: skip
        admin = Actor.staff(session.get(type(staff_world.admin), staff_world.admin.id))
        texts = {
            "劳动和社会保障": "社保卡补办排队两个小时还没办好，窗口只开了一个，请增加窗口。",
            "城乡建设": "小区门口的路灯坏了一个多月了，晚上出行很不安全，请尽快修理。",
        }
        for n, topic in enumerate(["劳动和社会保障"] * 3 + ["城乡建设"]):
            ticket = make_ticket(session, ctx, text=texts[topic], at=local(2026, 10, 5 + n))
            tickets.assign(session, ctx, ticket, staff_world.own.id, actor=admin,
                           at=local(2026, 10, 5 + n))  # fmt: skip
            ticket.topic = topic
    return staff_world


# -- /api/indicators ------------------------------------------------------------------------


@sqlite_only
def test_the_api_needs_a_staff_sign_in(web_client, world):
    response = web_client.get("/api/indicators?period=2026-10")
    assert response.status_code == 401
    body = response.get_json()
    assert body["status"] == 401 and "请先登录" in body["message_zh"] and body["message"]


def test_the_api_gives_analysts_every_department_as_the_cli_does(web_client, world):
    sign_in(web_client, "analyst1")
    response = web_client.get("/api/indicators?period=2026-10")
    assert response.status_code == 200
    rows = {row["department"]: row for row in response.get_json()}
    assert set(rows) == {world.own.code, world.other.code}
    own = rows[world.own.code]
    assert own["period"] == "2026-10" and own["ratings"] == 12
    assert own["satisfaction_rate"] == 0.75 and own["numerators"]["satisfaction_rate"] == 9
    assert own["changes"]["satisfaction_rate"]["significant"] is True
    other = rows[world.other.code]
    assert other["ratings"] == 5 and other["satisfaction_rate"] is None
    assert "satisfaction_rate" in other["insufficient"]


def test_an_officer_reads_the_own_department_only(web_client, world):
    sign_in(web_client, "hr1")
    rows = web_client.get("/api/indicators?period=2026-10").get_json()
    assert [row["department"] for row in rows] == [world.own.code]
    asked = web_client.get(f"/api/indicators?period=2026-10&department={world.own.code}")
    assert [row["department"] for row in asked.get_json()] == [world.own.code]
    # Another department answers exactly like a department that does not exist.
    other = web_client.get(f"/api/indicators?period=2026-10&department={world.other.code}")
    unknown = web_client.get("/api/indicators?period=2026-10&department=nosuch")
    assert other.status_code == unknown.status_code == 404
    assert other.get_json()["message_zh"] == f"找不到部门 {world.other.code}"
    assert "nosuch" in unknown.get_json()["message_zh"]


@sqlite_only
@pytest.mark.parametrize("period", ["2026-13", "10/2026", "2026-W54", "x" * 5000, "' OR 1=1 --"])
def test_a_malformed_period_is_a_400_in_both_languages(web_client, world, period):
    sign_in(web_client, "admin1")
    response = web_client.get("/api/indicators", query_string={"period": period})
    assert response.status_code == 400
    body = response.get_json()
    assert "格式不对" in body["message_zh"] and "malformed" in body["message"]
    assert len(body["message"]) < 300  # a huge value is not echoed back whole


@sqlite_only
def test_the_period_is_required(web_client, world):
    sign_in(web_client, "admin1")
    response = web_client.get("/api/indicators")
    assert response.status_code == 400
    assert "缺少统计期" in response.get_json()["message_zh"]


@sqlite_only
def test_a_period_without_data_gives_zeros_and_nulls(web_client, world):
    sign_in(web_client, "admin1")
    rows = web_client.get("/api/indicators?period=2025-W03").get_json()
    assert {row["ratings"] for row in rows} == {0}
    assert {row["satisfaction_rate"] for row in rows} == {None}


def test_officer_role_is_checked_by_the_service_too(session_factory, ctx, world):
    from minyi.errors import NotFound, PermissionDenied
    from minyi.services.indicator_reports import indicator_rows

    officer = Actor("staff", "staff:jt1", world.other_officer.id, Role.OFFICER, world.other.id)
    with session_factory() as session:
        with pytest.raises(NotFound):
            indicator_rows(session, ctx, "2026-10", actor=officer, department=world.own.code)
        with pytest.raises(PermissionDenied):
            indicator_rows(session, ctx, "2026-10", actor=Actor.system("job"))


# -- pages: who may open what --------------------------------------------------------------


@sqlite_only
@pytest.mark.parametrize("username", ["admin1", "analyst1"])
def test_analysts_and_admins_open_the_overview_and_every_department(web_client, world, username):
    sign_in(web_client, username)
    assert web_client.get("/staff/indicators").status_code == 200
    for dept in (world.own, world.other):
        page = web_client.get(f"/staff/indicators/departments/{dept.code}?period=2026-10")
        assert page.status_code == 200, dept.code


def test_an_officer_is_taken_to_the_own_department_and_kept_out_of_others(web_client, world):
    sign_in(web_client, "hr1")
    response = web_client.get("/staff/indicators?period=2026-09")
    assert response.status_code == 302
    assert response.headers["Location"] == (
        f"/staff/indicators/departments/{world.own.code}?period=2026-09"
    )
    own = web_client.get(f"/staff/indicators/departments/{world.own.code}")
    assert own.status_code == 200
    assert "全部部门" not in own.get_data(as_text=True)  # no way up to the county overview
    other = web_client.get(f"/staff/indicators/departments/{world.other.code}")
    unknown = web_client.get("/staff/indicators/departments/nosuch")
    assert other.status_code == unknown.status_code == 404


@sqlite_only
def test_pages_need_a_sign_in(web_client, world):
    for path in ("/staff/indicators", f"/staff/indicators/departments/{world.own.code}"):
        response = web_client.get(path)
        assert response.status_code == 302 and "/staff/login" in response.headers["Location"]


@sqlite_only
def test_a_bad_period_shows_the_form_again_with_the_reason(web_client, world):
    sign_in(web_client, "admin1")
    for path in ("/staff/indicators", f"/staff/indicators/departments/{world.own.code}"):
        response = web_client.get(path, query_string={"period": "2026-13<script>"})
        assert response.status_code == 400, path
        html = response.get_data(as_text=True)
        assert "格式不对" in html and 'name="period"' in html
        assert "<script>" not in html  # what was typed is escaped
    response = web_client.get("/staff/indicators?measure=mean_score")
    assert response.status_code == 400 and "无法按该指标作图" in response.get_data(as_text=True)


@sqlite_only
def test_the_menu_offers_the_indicators_to_every_role(web_app, world):
    for username in ("admin1", "analyst1", "hr1"):
        client = web_app.test_client()
        sign_in(client, username)
        assert 'href="/staff/indicators"' in client.get("/staff/").get_data(as_text=True)


# -- pages: what they show -----------------------------------------------------------------


def test_the_overview_plots_intervals_and_never_ranks_a_small_sample(web_client, world):
    sign_in(web_client, "analyst1")
    html = web_client.get("/staff/indicators").get_data(as_text=True)  # default: 2026-10
    assert "部门指标 2026-10" in html
    plot = html[html.index("<svg") : html.index("</svg>")]
    assert world.own.name in plot and world.other.name not in plot
    # own: 9/12 = 75.0%, Wilson 95% 46.8%-91.1%; the county pools 14/17 = 82.4%.
    assert "75.0%" in plot and "46.8%–91.1%" in plot and "全县 82.4%" in plot
    after_plot = html[html.index("</svg>") :]
    small = after_plot[after_plot.index("样本不足（不参与排序）") :]
    assert world.other.name in small and "n=5 &lt; 10" in small
    # Drawn server-side: no script, nothing from outside (a random CSRF token may hold "cdn").
    assert "<script" not in html and not EXTERNAL_URL.search(html)


def test_the_department_page_flags_only_significant_changes(web_client, world):
    sign_in(web_client, "hr1")
    html = web_client.get(
        f"/staff/indicators/departments/{world.own.code}?period=2026-10"
    ).get_data(as_text=True)
    figures = html[html.index("本期指标") : html.index("近 12 期趋势")]
    # 3/12 -> 9/12: pooled 0.5, se = sqrt(.25·2/12) = 0.2041, z = 2.449, significant; the
    # other shares have too few data.
    assert "较上期显著上升 50.0 个百分点" in figures
    assert "显著下降" not in figures
    assert figures.count("<svg") == 0 and html.count('class="chart trend"') == 9
    # A significant change is marked on the trend too.
    assert "▲" in html
    september = web_client.get(
        f"/staff/indicators/departments/{world.own.code}?period=2026-09"
    ).get_data(as_text=True)
    assert "显著上升" not in september[: september.index("近 12 期趋势")]


def test_the_department_page_lists_top_topics_with_a_complaint_each(web_client, world):
    sign_in(web_client, "admin1")
    html = web_client.get(
        f"/staff/indicators/departments/{world.own.code}?period=2026-10"
    ).get_data(as_text=True)
    topics = html[html.index("最多的主题") :]
    assert topics.index("劳动和社会保障") < topics.index("城乡建设")
    assert "75.0%" in topics  # 3 of the 4 complaints
    assert "社保卡补办排队两个小时还没办好" in topics
    assert 'href="/staff/tickets/MY-' in topics
    # Four complaints are far below the minimum: nothing is called rising.
    assert "样本不足，不判断上升" in topics


def test_the_department_page_keeps_its_topics_until_a_complaint_changes(
    web_app, web_client, world, session_factory, ctx
):
    sign_in(web_client, "admin1")
    cache = web_app.extensions["minyi"]["topic_cache"]
    path = f"/staff/indicators/departments/{world.own.code}?period=2026-10"
    def topics():
        html = web_client.get(path).get_data(as_text=True)
        return html[html.index("最多的主题") :]

    first = topics()
    assert topics() == first
    assert (cache.hits, cache.misses) == (1, 1)
    with session_factory.begin() as session:
        admin = Actor.staff(session.get(type(world.admin), world.admin.id))
        for n in range(2):
            ticket = make_ticket(session, ctx, text="小区门口的路灯坏了。", at=local(2026, 10, 20))
            tickets.assign(session, ctx, ticket, world.own.id, actor=admin, at=local(2026, 10, 20))
            ticket.topic = "城乡建设"
    assert "50.0%" in topics()  # 3 of 6 each now
    assert cache.misses == 2


# -- the classified complaint summary ------------------------------------------------------


@sqlite_only
@pytest.mark.parametrize(
    "username, department, status",
    [
        ("admin1", "own", 200),
        ("analyst1", "other", 200),
        ("hr1", "own", 200),
        ("hr1", "other", 404),
        ("jt1", "own", 404),
    ],
)
def test_the_complaint_summary_by_role(web_client, world, username, department, status):
    sign_in(web_client, username)
    code = getattr(world, department).code
    response = web_client.get(f"/staff/indicators/departments/{code}/complaints?period=2026-10")
    assert response.status_code == status


def test_the_complaint_summary_groups_the_period_by_topic_with_links(web_client, world):
    sign_in(web_client, "hr1")
    html = web_client.get(
        f"/staff/indicators/departments/{world.own.code}/complaints?period=2026-10"
    ).get_data(as_text=True)
    assert "本期收到投诉 4 件，上期（2026-09）0 件" in html
    topics = html[html.index("按主题") : html.index("热点问题")]
    assert topics.index("劳动和社会保障") < topics.index("城乡建设")
    assert "3 件" in topics and "上期 0 件，变化 +3" in topics
    assert topics.count('href="/staff/tickets/MY-') == 4
    assert "社保卡补办排队两个小时还没办好" in topics  # the extractive summary quotes it
    # The three identical complaints are one hot issue and one group of near-duplicates.
    hot = html[html.index("热点问题") :]
    assert "社保卡补办排队两个小时" in hot
    assert "重复投诉" in html
    bad = web_client.get(f"/staff/indicators/departments/{world.own.code}/complaints?period=x")
    assert bad.status_code == 400


# -- the monthly report and the exports -----------------------------------------------------


@sqlite_only
@pytest.mark.parametrize(
    "username, query, status",
    [
        ("admin1", "", 200),
        ("analyst1", "", 200),
        ("hr1", "", 403),  # the county report is for analysts and admins
        ("hr1", "&department=OWN", 200),
        ("hr1", "&department=OTHER", 404),
        ("analyst1", "&department=OTHER", 200),
    ],
)
def test_the_monthly_report_by_role(web_client, world, username, query, status):
    sign_in(web_client, username)
    query = query.replace("OWN", world.own.code).replace("OTHER", world.other.code)
    response = web_client.get(f"/staff/indicators/report?period=2026-10{query}")
    assert response.status_code == status


def test_the_county_report_prints_a_summary_then_a_page_per_department(
    web_app, web_client, world
):
    sign_in(web_client, "analyst1")
    html = web_client.get("/staff/indicators/report?period=2026-10").get_data(as_text=True)
    assert "全县汇总" in html and html.count('class="report-page"') == 2
    county = html[: html.index('class="report-page"')]
    assert county.count('class="chart interval-plot"') == 1  # only satisfaction has enough data
    own_page = html[html.index(f"{world.own.name} · 2026-10") :]
    assert "较上期显著上升 50.0 个百分点" in own_page
    assert "社保卡补办排队两个小时还没办好" in own_page
    officer = web_app.test_client()
    sign_in(officer, "hr1")
    mine = officer.get(
        f"/staff/indicators/report?period=2026-10&department={world.own.code}"
    ).get_data(as_text=True)
    assert "全县汇总" not in mine and world.other.name not in mine


def test_the_csv_export_is_the_cli_table(web_client, world):
    sign_in(web_client, "admin1")
    response = web_client.get("/staff/indicators/export.csv?period=2026-10")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert 'filename="indicators-2026-10.csv"' in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff部门 department,统计期 period")
    lines = text.strip().splitlines()
    assert len(lines) == 3
    own = next(line for line in lines if line.startswith(world.own.code + ","))
    assert ",0.75," in own and "0.4677–0.9111" in own
    other = next(line for line in lines if line.startswith(world.other.code + ","))
    assert "样本不足" in other


def test_an_officer_exports_the_own_department_only(web_client, world):
    sign_in(web_client, "hr1")
    text = web_client.get("/staff/indicators/export.csv?period=2026-10").get_data(as_text=True)
    assert [line.split(",")[0] for line in text.strip().splitlines()[1:]] == [world.own.code]
    other = web_client.get(
        f"/staff/indicators/export.xlsx?period=2026-10&department={world.other.code}"
    )
    assert other.status_code == 404
    assert web_client.get("/staff/indicators/export.pdf").status_code == 404


@sqlite_only
def test_the_xlsx_export_opens_as_a_workbook(web_client, world):
    import io

    from openpyxl import load_workbook

    sign_in(web_client, "analyst1")
    response = web_client.get(
        f"/staff/indicators/export.xlsx?period=2026-10&department={world.own.code}"
    )
    assert response.status_code == 200
    assert f"indicators-2026-10-{world.own.code}.xlsx" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert sheet.title == "2026-10"
    header = [cell.value for cell in sheet[1]]
    assert header[:3] == ["部门 department", "统计期 period", "评价数 ratings"]
    values = dict(zip(header, [cell.value for cell in sheet[2]], strict=True))
    assert values["评价数 ratings"] == 12 and values["满意率 satisfaction"] == 0.75


# -- survey scores beside the indicators ------------------------------------------------------


@pytest.fixture
def surveyed(world, session_factory, ctx, clock):
    """An October survey round with a rating tied to `own`: 12 answers, 9 of them 4-5."""
    from surveys import catalog, rounds
    from surveys.responses import Respondent, submit_response

    definition = {
        "slug": "hall-check",
        "title": {"zh": "大厅满意度"},
        "questions": [
            {"key": "hall", "type": "rating", "department": world.own.code,
             "text": {"zh": "您对社保窗口满意吗？"}},
            {"key": "norms", "type": "rubric", "department": world.own.code,
             "levels": {"1": {"zh": "差"}, "5": {"zh": "好"}}, "text": {"zh": "规范程度"}},
        ],
    }  # fmt: skip
    today = clock.now
    clock.now = local(2026, 10, 10)
    with session_factory.begin() as session:
        catalog.import_survey(session, ctx, definition)
        round_ = rounds.open_round(session, ctx, "hall-check", closes_at=local(2026, 10, 20))
        for n in range(12):
            submit_response(
                session, ctx, round_.id, Respondent.web(f"indicator-visitor-{n:04d}"),
                answers={"hall": 5 if n < 9 else 2, "norms": 1},
            )  # fmt: skip
        rounds.close_round(session, ctx, round_.id)
    clock.now = today
    return world


def test_survey_satisfaction_is_shown_beside_the_indicators(web_client, web_app, surveyed):
    sign_in(web_client, "analyst1")
    rows = {r["department"]: r for r in web_client.get("/api/indicators?period=2026-10").json}
    own = rows[surveyed.own.code]["survey"]
    # 9 of 12 ratings scored 4-5 (the rubric is not a satisfaction rating); Wilson 46.8-91.1%.
    assert (own["answers"], own["satisfied"], own["satisfaction_rate"]) == (12, 9, 0.75)
    assert own["satisfaction_ci"] == [0.4677, 0.9111] and own["insufficient"] is False
    other = rows[surveyed.other.code]["survey"]
    assert other["answers"] == 0 and other["satisfaction_rate"] is None
    overview = web_client.get("/staff/indicators?period=2026-10").get_data(as_text=True)
    table = overview[overview.index('<table class="list indicators">') :]
    assert "调查满意度" in table and "75.0%" in table and "n=12" in table
    page = web_client.get(
        f"/staff/indicators/departments/{surveyed.own.code}?period=2026-10"
    ).get_data(as_text=True)
    figures = page[page.index("本期指标") : page.index("近 12 期趋势")]
    survey = figures[figures.index("调查满意度") :]
    assert "75.0%" in survey and "9/12" in survey and "46.8%–91.1%" in survey
    assert "本期或上期样本不足，不作比较" in survey  # September had no survey
    # The officer of another department sees their own, with too few data.
    officer = web_app.test_client()
    sign_in(officer, "jt1")
    theirs = officer.get("/api/indicators?period=2026-10").json
    assert [r["department"] for r in theirs] == [surveyed.other.code]
    assert theirs[0]["survey"]["insufficient"] is True


# -- one service: ?service=CODE --------------------------------------------------------------


@pytest.fixture
def second_service(world, session_factory, ctx):
    """A second service of `own` with 3 ratings in October (all 5): the department has 15."""
    from tests.builders import make_service

    with session_factory.begin() as session:
        service = make_service(session, department=session.get(type(world.own), world.own.id),
                               name="医保报销")  # fmt: skip
        for n in range(3):
            ratings.record_rating(session, ctx, service=service.id, score=5,
                                  at=local(2026, 10, 10 + n))  # fmt: skip
        return service.code


def test_the_api_gives_one_service_of_a_department(web_client, world, second_service):
    sign_in(web_client, "analyst1")
    response = web_client.get(f"/api/indicators?period=2026-10&service={second_service}")
    assert response.status_code == 200
    [row] = response.get_json()
    assert (row["department"], row["service"], row["ratings"]) == (
        world.own.code, second_service, 3
    )
    assert row["satisfaction_rate"] is None and "satisfaction_rate" in row["insufficient"]
    [first] = web_client.get(
        f"/api/indicators?period=2026-10&department={world.own.code}"
        f"&service={world.own_service.code}"
    ).get_json()
    assert (first["service"], first["ratings"], first["satisfaction_rate"]) == (
        world.own_service.code, 12, 0.75
    )
    whole_path = f"/api/indicators?period=2026-10&department={world.own.code}"
    [whole] = web_client.get(whole_path).get_json()
    assert whole["service"] is None and whole["ratings"] == 15


def test_a_service_is_read_within_the_officers_own_department_only(web_client, world):
    sign_in(web_client, "hr1")
    own = web_client.get(f"/api/indicators?period=2026-10&service={world.own_service.code}")
    assert own.status_code == 200 and own.get_json()[0]["ratings"] == 12
    # Another department's service answers exactly like a service that does not exist.
    other = web_client.get(f"/api/indicators?period=2026-10&service={world.other_service.code}")
    unknown = web_client.get("/api/indicators?period=2026-10&service=nosuch")
    assert other.status_code == unknown.status_code == 404
    assert other.get_json()["message_zh"] == f"找不到服务事项 {world.other_service.code}"
    assert unknown.get_json()["message_zh"] == "找不到服务事项 nosuch"
    assert unknown.get_json()["message"] == "unknown service nosuch"
    page = web_client.get(
        f"/staff/indicators/departments/{world.own.code}?service={world.other_service.code}"
    )
    assert page.status_code == 404 and "找不到服务事项" in page.get_data(as_text=True)


@sqlite_only
def test_a_service_of_another_department_is_a_400(web_client, world):
    sign_in(web_client, "analyst1")
    response = web_client.get(
        f"/api/indicators?period=2026-10&department={world.other.code}"
        f"&service={world.own_service.code}"
    )
    assert response.status_code == 400
    assert response.get_json()["message_zh"] == (
        f"服务事项 {world.own_service.code} 不属于部门 {world.other.code}"
    )
    page = web_client.get(
        f"/staff/indicators/departments/{world.other.code}?service={world.own_service.code}"
    )
    assert page.status_code == 400 and "不属于部门" in page.get_data(as_text=True)
    unknown = web_client.get(f"/staff/indicators/departments/{world.own.code}?service=nosuch")
    assert unknown.status_code == 404 and "找不到服务事项 nosuch" in unknown.get_data(as_text=True)


def test_the_department_page_of_one_service(web_client, world, second_service):
    sign_in(web_client, "admin1")
    base = f"/staff/indicators/departments/{world.own.code}?period=2026-10"
    whole = web_client.get(base).get_data(as_text=True)
    assert f'<option value="{second_service}">' in whole  # the services to choose from
    html = web_client.get(f"{base}&service={second_service}").get_data(as_text=True)
    assert "医保报销" in html and f'<option value="{second_service}" selected>' in html
    assert "查看整个部门" in html
    assert f"service={second_service}" in html  # the exports carry it
    # Its figures: 3 ratings (too few), and none of the department's complaints name it.
    assert "n=3" in html and "本期投诉 0 件" in html
    # The overview of one service is its department's page.
    response = web_client.get(f"/staff/indicators?period=2026-10&service={second_service}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(
        f"/staff/indicators/departments/{world.own.code}?period=2026-10&service={second_service}"
    )


@sqlite_only
def test_the_export_of_one_service(web_client, world, second_service):
    sign_in(web_client, "hr1")
    response = web_client.get(
        f"/staff/indicators/export.csv?period=2026-10&service={second_service}"
    )
    assert response.status_code == 200
    assert f"indicators-2026-10-{world.own.code}-{second_service}.csv" in (
        response.headers["Content-Disposition"]
    )
    body = response.get_data(as_text=True)
    assert f"{world.own.code}/{second_service},2026-10,3," in body
