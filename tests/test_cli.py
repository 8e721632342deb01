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
