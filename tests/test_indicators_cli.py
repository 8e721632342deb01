"""`minyi indicators`, `minyi indicators rebuild` and `minyi summary` through click's runner."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from minyi.cli import main
from minyi.config import load_settings
from minyi.db import make_engine, make_session_factory
from minyi.models import Role
from minyi.services import ratings, tickets
from minyi.services.actors import Actor
from minyi.services.context import ServiceContext
from tests.builders import make_department, make_service, make_staff, make_ticket

BJ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def run(settings, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/cli.db"\n[nlp]\nenabled = false\n',
        encoding="utf-8",
    )

    def invoke(*args):
        return CliRunner().invoke(main, ["--config", str(config), *args])

    assert invoke("init").exit_code == 0
    return invoke


@pytest.fixture
def county(run, tmp_path):
    """Two departments; 40 October ratings of zjj (30 of them 4-5) and three complaints."""
    settings = load_settings(database={"url": f"sqlite:///{tmp_path}/cli.db"})
    engine = make_engine(settings)
    ctx = ServiceContext.from_settings(settings, analyzer=None)
    with make_session_factory(engine).begin() as session:
        zjj = make_department(session, code="zjj", name="住建局")
        make_department(session, code="rsj", name="人社局")
        permit = make_service(session, zjj, code="permit", name="施工许可")
        for n in range(40):
            ratings.record_rating(
                session, ctx, service=permit, score=5 if n < 30 else 2,
                at=datetime(2026, 10, 1 + n % 30, 9, tzinfo=BJ),
            )  # fmt: skip
        admin = Actor.staff(make_staff(session, Role.ADMIN))
        texts = [
            "幸福小区门口的路灯坏了一个多月，晚上出行很不安全，请尽快修理。",
            "幸福小区门口路灯坏了一个多月了，晚上出门很不安全，希望尽快修好。",
            "建设路施工噪音扰民，夜里十二点还在施工，影响休息。",
        ]
        for n, text in enumerate(texts):
            ticket = make_ticket(
                session, ctx, text=text, at=datetime(2026, 10, 10 + n, 9, tzinfo=BJ)
            )
            ticket.topic = "城乡建设"
            ticket.sentiment_label = "negative"
            tickets.assign(session, ctx, ticket, zjj, actor=admin)
    engine.dispose()


def test_indicators_as_json(run, county):
    result = run("indicators", "--period", "2026-10", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["department"] for row in rows] == ["rsj", "zjj"]
    zjj = rows[1]
    assert zjj["period"] == "2026-10" and zjj["ratings"] == 40 and zjj["bad_reviews"] == 10
    assert zjj["satisfaction_rate"] == 0.75 and zjj["tickets"] == 3
    assert "response_rate" in zjj["insufficient"]
    assert set(zjj) >= {"insufficient", "satisfaction_ci", "index", "median_first_reply_hours"}
    one = json.loads(run("indicators", "--period", "2026-10", "--department", "zjj",
                         "--format", "json").output)  # fmt: skip
    assert [row["department"] for row in one] == ["zjj"]
    service = json.loads(run("indicators", "--period", "2026-10", "--service", "permit",
                             "--format", "json").output)  # fmt: skip
    assert service[0]["service"] == "permit" and service[0]["tickets"] == 0


def test_indicators_as_a_table_show_insufficient_samples(run, county):
    result = run("indicators", "--period", "2026-10")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("部门") and lines[1].startswith("department")
    zjj = next(line for line in lines if line.startswith("zjj"))
    assert "75.0%" in zjj and "样本不足" in zjj


def test_an_empty_period_is_not_an_error(run, county):
    result = run("indicators", "--period", "2030-W05", "--format", "json")
    assert result.exit_code == 0, result.output
    assert {row["ratings"] for row in json.loads(result.output)} == {0}


@pytest.mark.parametrize("period", ["2026-13", "2026/10", "2026-W60", "Q4"])
def test_a_malformed_period_is_a_usage_error(run, period):
    result = run("indicators", "--period", period)
    assert result.exit_code == 2
    assert "统计期" in result.output and "malformed" in result.output


def test_usage_errors(run):
    assert run("indicators").exit_code == 2  # no period
    assert run("indicators", "--period", "2026-10", "--format", "xlsx").exit_code == 2
    assert run("summary", "--period", "2026-10").exit_code == 2  # no department


def test_unknown_department_is_refused_with_both_messages(run, county):
    result = run("indicators", "--period", "2026-10", "--department", "nope")
    assert result.exit_code == 1
    assert "找不到部门" in result.output and "unknown department" in result.output


def test_csv_and_xlsx_exports(run, county, tmp_path):
    out = tmp_path / "october.csv"
    result = run("indicators", "--period", "2026-10", "--format", "csv", "--output", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows[0][:3] == ["部门 department", "统计期 period", "评价数 ratings"]
    zjj = dict(zip(rows[0], rows[2], strict=True))
    assert zjj["满意率 satisfaction"] == "0.75" and zjj["按时响应率 response rate"] == "样本不足"
    workbook = tmp_path / "october.xlsx"
    result = run(
        "indicators", "--period", "2026-10", "--format", "xlsx", "--output", str(workbook)
    )
    assert result.exit_code == 0, result.output
    sheet = load_workbook(workbook).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[2][0] == "zjj" and values[2][2] == 40 and values[2][4] == 0.75


def test_rebuild_reports_an_exact_rollup(run, county):
    assert run("indicators", "--period", "2026-10").exit_code == 0
    result = run("indicators", "rebuild")
    assert result.exit_code == 0, result.output
    assert "0 differed" in result.output and "0 个与原汇总不同" in result.output


def test_summary_groups_complaints_by_topic_and_finds_the_repeat(run, county):
    result = run("summary", "--period", "2026-10", "--department", "zjj", "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["tickets"] == 3 and summary["previous_period"] == "2026-09"
    (topic,) = summary["topics"]
    assert topic["topic"] == "城乡建设" and topic["count"] == 3 and topic["change"] == 3
    assert topic["negative_share"] == 1.0 and topic["summary"] and topic["keywords"]
    assert len(topic["tickets"]) == 3
    assert [len(group) for group in summary["near_duplicates"]] == [2]
    assert any(issue["count"] == 2 for issue in summary["hot_issues"])
    table = run("summary", "--period", "2026-10", "--department", "zjj")
    assert table.exit_code == 0 and "城乡建设" in table.output and "路灯" in table.output


def test_summary_of_a_quiet_period(run, county):
    result = run("summary", "--period", "2026-12", "--department", "rsj", "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["tickets"], summary["topics"], summary["hot_issues"]) == (0, [], [])


def test_help(run):
    for args in (["indicators", "--help"], ["indicators", "rebuild", "--help"],
                 ["summary", "--help"]):  # fmt: skip
        assert run(*args).exit_code == 0
