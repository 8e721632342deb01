"""The `minyi` command: init, serve, user, import, calendar, nlp. Exit 0 ok, 1 refused, 2 usage."""

from __future__ import annotations

import logging
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from minyi.errors import MinyiError

log = logging.getLogger(__name__)


class Runtime:
    """Settings, engine and session factory, built on first use from the --config option."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._settings = None
        self._engine = None

    @property
    def settings(self):
        if self._settings is None:
            from minyi.config import load_settings

            self._settings = load_settings(self.config_path)
        return self._settings

    @property
    def engine(self):
        if self._engine is None:
            from minyi.db import make_engine

            self._engine = make_engine(self.settings)
        return self._engine

    def session_factory(self):
        from minyi.db import make_session_factory

        return make_session_factory(self.engine)


def check_calendar(runtime: Runtime) -> None:
    """Log the calendar's provisional or missing current and next year as an entry point starts."""
    from minyi.services.calendar import check_calendar_at_start

    settings = runtime.settings
    check_calendar_at_start(settings, runtime.session_factory(), _county_today(settings))


def fail(error: MinyiError) -> None:
    click.echo(f"错误：{error.message_zh}\nError: {error.message_en}", err=True)
    sys.exit(1)


class MinyiGroup(click.Group):
    """Turns domain errors into a two-language message and exit code 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MinyiError as error:
            fail(error)


@click.group(cls=MinyiGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="配置文件 / config file (default: $MINYI_CONFIG or ./config.toml)",
)
@click.option("-v", "--verbose", is_flag=True, help="详细日志 / debug logging")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """民意 Minyi: 市民评价、投诉与满意度指标 / citizen feedback for a county government."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    ctx.obj = Runtime(config_path)


@main.command()
@click.option(
    "--demo", is_flag=True, help="空库时载入示范县数据 / load the demo county when empty"
)
@click.option(
    "--months",
    default=6,
    show_default=True,
    type=click.IntRange(1, 24),
    help="示范数据月数 / months of demo history",
)
@click.pass_obj
def init(runtime: Runtime, demo: bool, months: int) -> None:
    """建库并迁移到最新版本 / create or migrate the database (and load demo data)."""
    from minyi.migrate import is_empty, upgrade

    engine = runtime.engine
    empty = is_empty(engine)
    upgrade(engine)
    click.echo(f"数据库已就绪 / database ready: {engine.url.render_as_string(hide_password=True)}")
    check_calendar(runtime)
    if not demo:
        return
    if not empty:
        click.echo("数据库已有数据，跳过示范数据 / database not empty: demo data skipped")
        return
    from minyi.demo import load_demo
    from minyi.services.context import ServiceContext

    session_factory = runtime.session_factory()
    ctx = ServiceContext.from_settings(runtime.settings, session_factory=session_factory)
    with session_factory.begin() as session:
        summary = load_demo(session, ctx, months=months)
    click.echo(str(summary))


@main.command()
@click.option("--host", help="监听地址 / listen address (default from config)")
@click.option("--port", type=click.IntRange(1, 65535), help="端口 / port (default from config)")
@click.pass_obj
def serve(runtime: Runtime, host: str | None, port: int | None) -> None:
    """启动网站与定时任务（有 token 时含机器人）/ run web + scheduler (+ bot)."""
    from minyi.runtime import serve as run

    check_calendar(runtime)
    runtime.engine.dispose()  # serve builds its own engine
    run(runtime.settings, host=host, port=port)


@main.command("web")
@click.option("--host", help="监听地址 / listen address (default from config)")
@click.option("--port", type=click.IntRange(1, 65535), help="端口 / port (default from config)")
@click.pass_obj
def web_command(runtime: Runtime, host: str | None, port: int | None) -> None:
    """只启动网站（不含定时任务和机器人）/ run the web site only (no scheduler, no bot)."""
    from minyi.runtime import serve_web

    serve_web(runtime.settings, host=host, port=port)


@main.command()
@click.pass_obj
def worker(runtime: Runtime) -> None:
    """只运行定时任务（同一数据库仅一个生效）/ run the scheduler only (one per database)."""
    from minyi.runtime import run_worker

    run_worker(runtime.settings)


@main.command()
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="备份文件（不可已存在）/ backup file, must not exist"
    " (default: backups/minyi-YYYYmmdd-HHMMSS.db beside the database)",
)
@click.pass_obj
def backup(runtime: Runtime, output: Path | None) -> None:
    """在线备份 SQLite 数据库 / copy the SQLite database while it serves."""
    from minyi.backup import backup_database

    click.echo(str(backup_database(runtime.settings, output)))


@main.group()
def user() -> None:
    """工作人员账号 / staff accounts."""


@user.command("add")
@click.argument("username")
@click.option(
    "--role", required=True, type=click.Choice(["admin", "analyst", "officer"]), help="角色 / role"
)
@click.option("--department", help="部门编码（officer 必填）/ department code (officers)")
@click.option("--name", "display_name", help="显示名 / display name")
@click.option(
    "--password",
    prompt="密码 / password",
    hide_input=True,
    confirmation_prompt=True,
    help="密码（不填则提示输入）/ password (prompted)",
)
@click.pass_obj
def user_add(
    runtime: Runtime,
    username: str,
    role: str,
    department: str | None,
    display_name: str | None,
    password: str,
) -> None:
    """新增工作人员 / add a staff user."""
    from minyi.services.staff import create_staff_user

    with runtime.session_factory().begin() as session:
        created = create_staff_user(
            session,
            username=username,
            password=password,
            role=role,
            display_name=display_name,
            department=department,
        )
        click.echo(f"已创建 / created: {created.username} ({created.role.value})")


@main.group("import")
def import_group() -> None:
    """导入历史数据（CSV）/ import history from CSV files."""


def _run_import(runtime: Runtime, kind: str, path: Path) -> None:
    from minyi import importer

    progress = importer.terminal_progress() if sys.stdout.isatty() else None
    function = importer.import_ratings if kind == "ratings" else importer.import_tickets
    try:
        report = function(runtime.engine, runtime.settings, path, progress=progress)
    except importer.ImportFailed as refused:
        # One line per bad row: a county fixing a large file needs to scan them.
        click.echo(f"导入失败，未写入任何数据 / import refused, nothing written: {path}", err=True)
        for row_error in refused.errors:
            click.echo(f"  {row_error}", err=True)
        if refused.truncated:
            click.echo(
                f"  … 仅列出前 {importer.MAX_ERRORS} 处 / first {importer.MAX_ERRORS} errors only",
                err=True,
            )
        sys.exit(1)
    finally:
        if progress is not None:
            progress.close()
    click.echo(str(report))


@import_group.command("ratings")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def import_ratings(runtime: Runtime, path: Path) -> None:
    """导入评价 / import ratings (columns in README)."""
    _run_import(runtime, "ratings", path)


@import_group.command("tickets")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def import_tickets(runtime: Runtime, path: Path) -> None:
    """导入工单 / import tickets (columns in README)."""
    _run_import(runtime, "tickets", path)


@main.group("calendar")
def calendar_group() -> None:
    """工作日日历：节假日与调休 / the working-day calendar: holidays and make-up days."""


@calendar_group.command("status")
@click.pass_obj
def calendar_status(runtime: Runtime) -> None:
    """各年份日历状态与来源 / each year's coverage (confirmed, provisional, missing) and source."""
    from minyi.services.calendar import calendar_status, notices_for, read_calendar

    settings = runtime.settings
    calendar = read_calendar(settings, runtime.session_factory())
    today = _county_today(settings)
    for year, table in calendar_status(calendar, today):
        coverage = calendar.coverage(year)
        line = f"{year}  {coverage.label_zh} {coverage.value}"
        if table is None:
            click.echo(f"{line}  按周一至周五计算 / counted Monday to Friday")
            continue
        if table.origin == "imported":
            imported = table.imported_at.astimezone(ZoneInfo(settings.calendar.timezone))
            origin = f"导入 imported {imported:%Y-%m-%d %H:%M}"
        else:
            origin = "内置 shipped"
        click.echo(
            f"{line}  {origin}  假日 holidays {len(table.holidays)}"
            f"  调休上班 workdays {len(table.workdays)}  {table.source or ''}".rstrip()
        )
    extra = settings.calendar
    if extra.extra_holidays or extra.extra_workdays:
        click.echo(
            f"配置修正 / [calendar] corrections: 假日 extra_holidays {len(extra.extra_holidays)}"
            f"  调休上班 extra_workdays {len(extra.extra_workdays)}"
        )
    for notice in notices_for(calendar, today):
        click.echo(f"注意 / note: {notice}")


@calendar_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def calendar_import(runtime: Runtime, path: Path) -> None:
    """导入某年的国务院放假通知（holidays.toml 格式）/ load a year's notice (holidays.toml format).

    每个 [YYYY] 表取代该年原有的日历 / each [YYYY] table replaces that year's calendar.
    """
    from minyi.services.calendar import import_calendar_file

    with runtime.session_factory().begin() as session:
        imported = import_calendar_file(session, path)
    for table, replaced in imported:
        note = "，暂定 / provisional" if table.provisional else ""
        again = "（替换先前导入 / replaces the earlier import）" if replaced else ""
        click.echo(
            f"已导入 / imported {table.year}: 假日 holidays {len(table.holidays)}"
            f"  调休上班 workdays {len(table.workdays)}{note}{again}"
        )
    click.echo(
        "运行中的进程重启后使用新日历 / running processes use the new calendar after a restart"
    )


def _county_today(settings) -> date:
    return datetime.now(ZoneInfo(settings.calendar.timezone)).date()


def _add_nlp_commands() -> None:
    try:
        from nlp.cli import nlp as nlp_group
    except ImportError as exc:  # nlp is part of the package; this only guards partial installs
        log.debug("nlp commands unavailable: %s", exc)
        return
    main.add_command(nlp_group)


_add_nlp_commands()
