"""The `minyi` command through click's runner: output, exit codes, no partial writes."""

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
