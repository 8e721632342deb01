"""The `minyi` command through click's runner: output, exit codes, no partial writes."""

import os

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
