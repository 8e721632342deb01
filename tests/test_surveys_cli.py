"""`minyi survey …` through click's runner: import, export-definition, open, results, export."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import func, select

from minyi.cli import main
from minyi.config import load_settings
from minyi.db import make_engine, make_session_factory
from minyi.models import SurveyVersion
from minyi.services.context import ServiceContext
from surveys import rounds
from surveys.responses import Respondent, submit_response
from tests.survey_helpers import HALL, full_answers, hall_template, make_hall_departments


@pytest.fixture
def cli(settings, tmp_path):
    """Run `minyi` against a fresh, initialised SQLite database with the hall's departments."""
    url = f"sqlite:///{tmp_path}/cli.db"
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[nlp]\nenabled = false\n', encoding="utf-8")

    def invoke(*args):
        return CliRunner().invoke(main, ["--config", str(config), *args])

    assert invoke("init").exit_code == 0
    engine = make_engine(load_settings(), url)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        make_hall_departments(session)
    invoke.session_factory = factory
    invoke.ctx = ServiceContext.from_settings(
        load_settings(database={"url": url}, nlp={"enabled": False}), analyzer=None
    )
    yield invoke
    engine.dispose()


def write_template(tmp_path, data=None):
    path = tmp_path / "hall.json"
    path.write_text(json.dumps(data or hall_template(), ensure_ascii=False), encoding="utf-8")
    return path


def test_import_and_export_definition(cli, tmp_path):
    path = write_template(tmp_path)
    first = cli("survey", "import", str(path))
    assert first.exit_code == 0, first.output
    assert "imported new survey hall-2026, version 1" in first.output
    again = cli("survey", "import", str(path))
    assert again.exit_code == 0 and "unchanged" in again.output
    exported = cli("survey", "export-definition", HALL)
    assert exported.exit_code == 0
    assert json.loads(exported.output)["questions"][0]["key"] == "overall"
    # The exported file imports as the same version: counties can share templates.
    (tmp_path / "shared.json").write_text(exported.output, encoding="utf-8")
    assert "unchanged" in cli("survey", "import", str(tmp_path / "shared.json")).output
    listed = cli("survey", "list")
    assert "hall-2026  县政务服务大厅满意度调查" in listed.output
    assert cli("survey", "export-definition", "nope").exit_code == 1


def test_a_malformed_file_is_refused_with_its_json_path(cli, tmp_path):
    data = hall_template()
    data["questions"][7]["choices"][1]["key"] = "queue"
    result = cli("survey", "import", str(write_template(tmp_path, data)))
    assert result.exit_code == 1
    assert "$.questions[7].choices[1].key" in result.output
    assert "duplicate choice key 'queue'" in result.output and "错误" in result.output
    broken = tmp_path / "broken.json"
    broken.write_text('{"slug": "x",', encoding="utf-8")
    result = cli("survey", "import", str(broken))
    assert result.exit_code == 1 and "line 1" in result.output
    with cli.session_factory() as session:
        assert session.scalar(select(func.count(SurveyVersion.id))) == 0


def test_open_results_and_export(cli, tmp_path):
    assert cli("survey", "import", str(write_template(tmp_path))).exit_code == 0
    opened = cli("survey", "open", HALL, "--closes", "2099-12-31")
    assert opened.exit_code == 0, opened.output
    assert "opened round 1 of hall-2026 until 2100-01-01 00:00" in opened.output
    assert "http://127.0.0.1:5000/s/hall-2026" in opened.output
    assert cli("survey", "open", HALL).exit_code == 1  # one open round at a time
    assert cli("survey", "open", HALL, "--closes", "next week").exit_code == 2
    with cli.session_factory.begin() as session:
        round_id = rounds.get_round(session, HALL).id
        for n in range(3):
            submit_response(
                session,
                cli.ctx,
                round_id,
                Respondent.web(f"cli-browser-{n:08d}"),
                answers=full_answers(overall=str(3 + n), improve=["guide", "queue"]),
            )
    result = cli("survey", "results", HALL, "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["responses"] == 3 and out["round"] == 1
    overall = out["questions"]["overall"]
    assert overall["n"] == 3 and overall["counts"] == {"1": 0, "2": 0, "3": 1, "4": 1, "5": 1}
    assert overall["mean"] is None and "overall" in out["insufficient"]  # fewer than 30
    assert "comparison" in json.loads(cli("survey", "results", HALL, "--compare").output)
    assert "trend" not in out
    trend = json.loads(cli("survey", "results", HALL, "--trend").output)["trend"]
    assert trend["rounds"] == [
        {"round": 1, "opens_at": trend["rounds"][0]["opens_at"], "responses": 3}
    ]
    (point,) = trend["questions"]["overall"]["points"]
    assert point["n"] == 3 and point["mean"] is None and point["changes"] is None
    assert cli("survey", "results", HALL, "--round", "9").exit_code == 1

    assert (
        cli(
            "survey", "export", HALL, "--format", "csv", "--output", str(tmp_path / "r.csv")
        ).exit_code
        == 0
    )
    rows = list(csv.DictReader((tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert len(rows) == 3 and rows[0]["improve"] == "queue;guide"
    xlsx = cli(
        "survey",
        "export",
        HALL,
        "--round",
        "1",
        "--format",
        "xlsx",
        "--output",
        str(tmp_path / "r.xlsx"),
    )
    assert xlsx.exit_code == 0 and "exported 3 responses" in xlsx.output
    assert len(list(load_workbook(tmp_path / "r.xlsx").active.values)) == 4
    assert cli("survey", "export", HALL, "--format", "pdf", "--output", "x").exit_code == 2

    progress = json.loads(cli("survey", "progress", HALL).output)
    assert progress["responses_submitted"] == 3
    links = cli("survey", "invite", HALL, "--count", "2")
    assert links.exit_code == 0 and len(links.output.split()) == 2
    assert cli("survey", "close", HALL).exit_code == 0
    assert cli("survey", "close", HALL).exit_code == 1


def test_schedule(cli, tmp_path):
    assert cli("survey", "schedule", HALL, "--every", "monthly").exit_code == 1  # unknown survey
    assert cli("survey", "import", str(write_template(tmp_path))).exit_code == 0
    result = cli("survey", "schedule", HALL, "--every", "monthly", "--days", "10")
    assert result.exit_code == 0 and "monthly (0 9 1 * *, Asia/Shanghai), 10" in result.output
    bad = cli("survey", "schedule", HALL, "--every", "cron", "--cron", "every day")
    assert bad.exit_code == 1 and "cron" in bad.output
    assert cli("survey", "schedule", HALL, "--every", "weekly").exit_code == 2
    stopped = cli("survey", "unschedule", HALL)
    assert stopped.exit_code == 0 and "stopped 1 schedule" in stopped.output
    assert "stopped 0 schedule" in cli("survey", "unschedule", HALL).output
