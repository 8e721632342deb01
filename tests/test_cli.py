"""The `minyi` command through click's runner: output, exit codes, no partial writes."""

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from minyi.cli import main
from minyi.config import load_settings
from minyi.db import make_engine, make_session_factory
from minyi.models import StaffUser


@pytest.fixture
def run(settings, tmp_path):
    """Invoke the CLI against a config file pointing at a fresh SQLite database."""
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/cli.db"\n', encoding="utf-8")

    def invoke(*args, input=None):
        return CliRunner().invoke(main, ["--config", str(config), *args], input=input)

    return invoke


def staff_count(tmp_path):
    engine = make_engine(load_settings(), f"sqlite:///{tmp_path}/cli.db")
    with make_session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(StaffUser))


def test_every_command_has_help(run):
    for args in (
        ["--help"],
        ["init", "--help"],
        ["serve", "--help"],
        ["user", "add", "--help"],
        ["import", "ratings", "--help"],
        ["import", "tickets", "--help"],
    ):
        result = run(*args)
        assert result.exit_code == 0, args
        assert "Usage" in result.output


def test_init_is_idempotent(run, tmp_path):
    first = run("init")
    assert first.exit_code == 0, first.output
    assert "数据库已就绪" in first.output
    assert "语言模型已就绪" in first.output  # the segmenter's tables are built by init
    assert run("init").exit_code == 0
    assert (tmp_path / "cli.db").exists()


def test_user_add_and_refusals(run, tmp_path):
    assert run("init").exit_code == 0
    ok = run("user", "add", "zhang", "--role", "admin", "--password", "long-enough-1")
    assert ok.exit_code == 0 and "zhang" in ok.output
    again = run("user", "add", "zhang", "--role", "admin", "--password", "long-enough-2")
    assert again.exit_code == 1
    assert "已被使用" in again.output and "taken" in again.output
    officer = run("user", "add", "li", "--role", "officer", "--password", "long-enough-1")
    assert officer.exit_code == 1 and "department" in officer.output
    usage = run("user", "add", "wu", "--role", "emperor", "--password", "long-enough-1")
    assert usage.exit_code == 2
    prompted = run("user", "add", "chen", "--role", "analyst", input="pass-word-9\npass-word-9\n")
    assert prompted.exit_code == 0
    assert staff_count(tmp_path) == 2


def test_bad_config_file_exit_1(settings, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[tickets]\nsla_working_days = "soon"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "init"])
    assert result.exit_code == 1
    assert "tickets.sla_working_days" in result.output


def test_missing_import_file_is_a_usage_error(run):
    result = run("import", "ratings", "/no/such/file.csv")
    assert result.exit_code == 2


def test_import_lists_each_bad_row_and_writes_nothing(run, tmp_path):
    assert run("init").exit_code == 0
    bad = tmp_path / "ratings.csv"
    bad.write_text(
        "created_at,service_code,score\n2026-01-05 10:00,nope,5\n2026-01-05 11:00,nope,9\n",
        encoding="utf-8",
    )
    result = run("import", "ratings", str(bad))
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("  ")]
    assert len(lines) == 2
    assert lines[0].startswith("  第 2 行") and "service_code" in lines[0]
    assert lines[1].startswith("  第 3 行")


# --- minyi init: where the database is ---------------------------------------------------


def test_init_in_another_folder_names_the_new_empty_database(settings, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no config.toml here: the default sqlite:///var/minyi.db
    first = CliRunner().invoke(main, ["init"])
    assert first.exit_code == 0, first.output
    database = (elsewhere / "var" / "minyi.db").resolve()
    assert database.is_file()
    assert f"新建了空数据库：{database}" in first.output
    assert f"created a new empty database at {database}" in first.output
    assert "current folder" in first.output  # the relative URL is explained
    assert f"database ready: {database}" in first.output
    assert "sqlite:///var" not in first.output

    again = CliRunner().invoke(main, ["init"])
    assert again.exit_code == 0, again.output
    assert "新建" not in again.output and "created a new" not in again.output
    assert f"database ready: {database}" in again.output


def test_init_with_an_absolute_url_prints_that_file(run, tmp_path):
    result = run("init")
    database = (tmp_path / "cli.db").resolve()
    assert f"created a new empty database at {database}" in result.output
    assert "current folder" not in result.output


def test_init_on_an_existing_empty_file_says_tables_were_created(run, tmp_path):
    (tmp_path / "cli.db").touch()
    result = run("init")
    assert result.exit_code == 0, result.output
    assert "created a new" not in result.output
    assert "the database was empty: tables created" in result.output


# --- minyi nlp classify: the department the core would pick -----------------------------

WAGES = "公司一直拖欠工资，也不给我们缴纳养老保险，请人社局帮助农民工讨回血汗钱。"
SCHOOL = "孩子按学区应该在附近小学就读，学校却说学位已满不能入学，请教育局核实招生政策。"
BUS = "镇到县城的客运班车经常不按时发车，司机随意加价，车辆超载，请交通运输局监管。"
VAGUE = "请问这个事情应该找谁反映一下"  # 劳动和社会保障 at about 0.3
POLICY = "我想咨询一下相关政策"  # 劳动和社会保障 at about 0.65


@pytest.fixture
def county(engine):
    """A migrated database with three departments (no transport bureau), and its URL."""
    from tests.builders import make_department

    with make_session_factory(engine).begin() as session:
        make_department(session, code="rsj", name="县人社局", name_en="Human Resources Bureau")
        make_department(session, code="ybj", name="县医保局", name_en="Healthcare Security")
        make_department(session, code="jyj", name="县教育局", name_en="Education Bureau")
    return engine.url.render_as_string(hide_password=False)


def classify(tmp_path, url, *args, input=None, extra=""):
    config = tmp_path / "classify.toml"
    config.write_text(f'[database]\nurl = "{url}"\n{extra}', encoding="utf-8")
    return CliRunner().invoke(
        main, ["--config", str(config), "nlp", "classify", *map(str, args)], input=input
    )


def parsed(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_classify_a_long_text_from_file_or_stdin_names_the_department(county, tmp_path, source):
    text = WAGES * (50_000 // len(WAGES) + 1)  # past what a command-line argument may hold
    if source == "file":
        path = tmp_path / "complaint.txt"
        path.write_text(text, encoding="utf-8")
        result = classify(tmp_path, county, "--file", path)
    else:
        result = classify(tmp_path, county, "-", input=text.encode("utf-8"))
    data = parsed(result)
    assert data["topic"] == "劳动和社会保障"
    assert data["routing"]["decision"] == "assign"
    assert data["routing"]["department"]["code"] == "rsj"
    assert "将派给 县人社局（rsj）" in result.stderr
    assert "would be routed to Human Resources Bureau (rsj)" in result.stderr
    # The core refuses complaints over [tickets] max_text_chars; the preview says so.
    assert "too long" in data["routing"]["refused"]
    assert "would be refused" in result.stderr


def test_classify_says_triage_with_the_reason(county, tmp_path):
    low = classify(tmp_path, county, VAGUE)
    data = parsed(low)
    assert data["routing"]["decision"] == "triage"
    assert data["routing"]["reason"] == "low confidence"
    assert "would go to triage" in low.stderr and "predicted department rsj" in low.stderr

    # 交通运输 maps to jtysj, which this county does not have.
    nobody = classify(tmp_path, county, BUS)
    data = parsed(nobody)
    assert data["topic"] == "交通运输" and data["needs_review"] is False
    assert data["routing"] == data["routing"] | {"decision": "triage", "department": None}
    assert "no active department is configured for topic 交通运输" in nobody.stderr


def test_classify_uses_the_configured_threshold_and_the_option(county, tmp_path):
    from nlp.topic import DEFAULT_REVIEW_THRESHOLD

    # Unset: nlp's own cross-validated threshold.
    default = parsed(classify(tmp_path, county, POLICY))["routing"]
    assert default["threshold"] == DEFAULT_REVIEW_THRESHOLD
    lenient = "[nlp]\nreview_threshold = 0.5\n"
    assert parsed(classify(tmp_path, county, POLICY, extra=lenient))["routing"]["decision"] == (
        "assign"
    )
    strict = "[nlp]\nreview_threshold = 0.9\n"
    assert parsed(classify(tmp_path, county, POLICY, extra=strict))["routing"]["decision"] == (
        "triage"
    )
    option = parsed(classify(tmp_path, county, POLICY, "--threshold", "0.9", extra=lenient))
    assert option["routing"]["decision"] == "triage" and option["routing"]["threshold"] == 0.9


@pytest.mark.parametrize("threshold", [0.5, 0.7])
def test_classify_agrees_with_route_ticket(county, engine, tmp_path, settings, clock, threshold):
    from minyi.services.context import ServiceContext
    from minyi.services.tickets import file_ticket, route_ticket
    from nlp import analyze

    tuned = settings.model_copy(
        update={"nlp": settings.nlp.model_copy(update={"review_threshold": threshold})}
    )
    ctx = ServiceContext.from_settings(tuned, analyzer=analyze, clock=clock)
    extra = f"[nlp]\nreview_threshold = {threshold}\n"
    decisions = set()
    for text in (WAGES, SCHOOL, BUS, VAGUE, POLICY):
        preview = parsed(classify(tmp_path, county, text, extra=extra))["routing"]
        with make_session_factory(engine).begin() as session:
            ticket = route_ticket(
                session, ctx, file_ticket(session, ctx, text=text, channel="web")
            )
            routed = ticket.department.code if ticket.department_id else None
        expected = ("assign", routed) if routed else ("triage", None)
        department = preview["department"]["code"] if preview["decision"] == "assign" else None
        assert (preview["decision"], department) == expected, text
        decisions.add(preview["decision"])
    assert decisions == {"assign", "triage"}


def test_classify_without_a_database_file_still_prints_the_analysis(settings, tmp_path):
    missing = tmp_path / "var" / "missing.db"
    result = classify(tmp_path, f"sqlite:///{missing}", WAGES)
    data = parsed(result)
    assert data["topic"] == "劳动和社会保障"
    assert data["routing"]["decision"] is None
    assert "database not reachable" in result.stderr and "数据库不可用" in result.stderr
    assert str(missing.resolve()) in result.stderr and "minyi init" in result.stderr
    assert not missing.exists() and not missing.parent.exists()  # nothing was created


def test_classify_on_a_database_without_tables_says_run_init(settings, tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    result = classify(tmp_path, f"sqlite:///{empty}", WAGES)
    assert parsed(result)["routing"]["decision"] is None
    assert "database not reachable" in result.stderr and "run minyi init" in result.stderr


def test_classify_with_an_unreachable_server_still_prints_the_analysis(settings, tmp_path):
    result = classify(tmp_path, "postgresql+psycopg://minyi:secret@127.0.0.1:1/minyi", SCHOOL)
    data = parsed(result)
    assert data["topic"] == "教育文体"
    assert data["routing"]["decision"] is None
    assert data["routing"]["database"] == "postgresql+psycopg://minyi:***@127.0.0.1:1/minyi"
    assert "database not reachable" in result.stderr
    assert "secret" not in result.output


def test_classify_with_nlp_disabled_says_everything_goes_to_triage(county, tmp_path):
    result = classify(tmp_path, county, WAGES, extra="[nlp]\nenabled = false\n")
    assert parsed(result)["routing"]["decision"] == "triage"
    assert "every complaint would go to triage" in result.stderr


def test_serving_needs_no_scikit_learn(settings, tmp_path):
    """init --demo, classify and the web home page work with scikit-learn unimportable."""
    code = """
import sys
sys.modules["sklearn"] = None  # any `import sklearn` now raises ImportError
from click.testing import CliRunner
from minyi.cli import main
for args in (["init", "--demo", "--months", "1"], ["nlp", "classify", sys.argv[1]]):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, (args, result.output, result.exception)
from web import create_app
assert create_app().test_client().get("/").status_code == 200
train = CliRunner().invoke(main, ["nlp", "train"])
assert train.exit_code == 1 and "minyi[train]" in train.output, train.output
print("ok")
"""
    out = subprocess.run(
        [sys.executable, "-c", code, WAGES],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("MINYI_")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


DATABASE_PROBLEMS = [
    ("nonsense://", "database URL 'nonsense://' names an unknown kind or driver"),
    ("postgresql+nosuch://minyi:hunter2@127.0.0.1/test", "unknown kind or driver"),
    (
        # Port 1: nothing listens there, so the connection is refused at once.
        "postgresql+psycopg://minyi:hunter2@127.0.0.1:1/test",
        "cannot reach the database postgresql+psycopg://minyi:***@127.0.0.1:1/test:",
    ),
    ("sqlite:///{tmp}/a-file/minyi.db", "{tmp}/a-file is a file, not a folder"),
    ("sqlite:///{tmp}/a-folder", "cannot reach the database sqlite:///{tmp}/a-folder"),
]
COMMANDS = [
    ["init"],
    ["serve", "--port", "8999"],
    ["user", "add", "zhang", "--role", "admin", "--password", "long-enough-1"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command[0])
@pytest.mark.parametrize("url, says", DATABASE_PROBLEMS)
def test_database_problem_is_two_lines_and_exit_1(
    settings, tmp_path, monkeypatch, command, url, says
):
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    (tmp_path / "a-folder").mkdir()

    def started(*args, **kwargs):
        raise AssertionError("serve started against a database it cannot use")

    monkeypatch.setattr("minyi.runtime.serve", started)
    result = CliRunner().invoke(
        main,
        command,
        env={"MINYI_DATABASE__URL": url.format(tmp=tmp_path)},
        catch_exceptions=False,
    )
    assert result.exit_code == 1
    zh, en = result.output.splitlines()  # no traceback, no log lines
    assert zh.startswith("错误：") and en.startswith("Error: ")
    assert says.format(tmp=tmp_path) in en
    assert "hunter2" not in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_database_folder_without_permission(settings, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = CliRunner().invoke(
        main, ["init"], env={"MINYI_DATABASE__URL": f"sqlite:///{locked}/var/minyi.db"}
    )
    assert result.exit_code == 1
    assert f"cannot create the database folder {locked}/var" in result.output


def test_typo_in_the_environment_stops_the_cli(settings):
    result = CliRunner().invoke(
        main, ["init"], env={"MINYI_TICKETS__SLA_WORKINGDAYS": "3"}, catch_exceptions=False
    )
    assert result.exit_code == 1
    assert "MINYI_TICKETS__SLA_WORKINGDAYS" in result.output
    assert "MINYI_TICKETS__SLA_WORKING_DAYS" in result.output


def test_missing_minyi_config_file_stops_the_cli(settings, tmp_path):
    result = CliRunner().invoke(
        main, ["init"], env={"MINYI_CONFIG": str(tmp_path / "gone.toml")}, catch_exceptions=False
    )
    assert result.exit_code == 1
    assert "gone.toml" in result.output and not (tmp_path / "var").exists()
