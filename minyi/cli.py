"""The `minyi` command: init, serve, web, worker, bot, backup, user, import, calendar, survey,
indicators, summary, nlp.

Exit 0 ok, 1 refused, 2 usage.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from minyi.errors import MinyiError, ValidationFailed

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

    def check_database(self) -> None:
        """Connect once, so an unreachable database is refused before anything starts."""
        with self.engine.connect():
            pass
        self.engine.dispose()


def check_calendar(runtime: Runtime) -> None:
    """Log the calendar's provisional or missing current and next year as an entry point starts."""
    from minyi.services.calendar import check_calendar_at_start

    settings = runtime.settings
    check_calendar_at_start(settings, runtime.session_factory(), _county_today(settings))


def fail(error: MinyiError) -> None:
    click.echo(f"错误：{error.message_zh}\nError: {error.message_en}", err=True)
    sys.exit(1)


def _unreachable_database(runtime: object, error: Exception) -> MinyiError | None:
    """The refusal for a database that cannot be connected to (password hidden), else None."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    # No statement: the connection itself failed. A failing statement is another problem
    # and keeps its traceback.
    if not isinstance(error, OperationalError) or error.statement is not None:
        return None
    if not isinstance(runtime, Runtime):
        return None
    url = make_url(runtime.settings.database.url)
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        shown += f" ({Path(url.database).absolute()})"
    # The driver's first line says why: refused, unknown host, cannot open the file.
    lines = str(error.orig).strip().splitlines()
    reason = lines[0] if lines else type(error.orig).__name__
    return MinyiError(
        f"无法连接数据库 {shown}：{reason}", f"cannot reach the database {shown}: {reason}"
    )


class MinyiGroup(click.Group):
    """Turns domain errors and an unreachable database into two lines and exit code 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MinyiError as error:
            fail(error)
        except Exception as error:
            # Checked here, not in an except clause: --help should not import SQLAlchemy.
            refusal = _unreachable_database(ctx.obj, error)
            if refusal is None:
                raise
            fail(refusal)


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
        # aiogram logs every update it handles; the bot's own log says what matters.
        logging.getLogger("aiogram.event").setLevel(logging.WARNING)
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

    url = runtime.settings.database.url
    sqlite_file = _sqlite_file(url)
    # Checked before connecting: opening a missing SQLite file creates it.
    new_file = sqlite_file is not None and not sqlite_file.exists()
    engine = runtime.engine
    empty = is_empty(engine)
    upgrade(engine)
    where = _database_label(url)
    if new_file:
        click.echo(f"新建了空数据库：{where} / created a new empty database at {where}")
        if not Path(_sqlite_database(url)).is_absolute():
            click.echo(
                "（相对路径按当前目录解析；已有数据库请在其所在目录运行或设置 [database] url）"
                " / (a relative path is resolved from the current folder: to use an existing"
                " database, run from its folder or set [database] url)"
            )
    elif empty:
        click.echo(f"数据库为空，已建表：{where} / the database was empty: tables created")
    click.echo(f"数据库已就绪 / database ready: {where}")
    check_calendar(runtime)
    if runtime.settings.nlp.enabled:
        _prepare_nlp()
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


def _prepare_nlp() -> None:
    """Load the models once, so that the segmenter's tables are built now, not on a first citizen.

    The first load after an install derives ~40 MB of tables from jieba's dictionary (~2.5 s);
    every later start reads them back (~0.4 s). See nlp/cache.py for where they are kept.
    """
    import time

    import nlp

    started = time.perf_counter()
    nlp.warm_up()
    seconds = time.perf_counter() - started
    click.echo(f"语言模型已就绪（{seconds:.1f} 秒）/ NLP models ready ({seconds:.1f} s)")


def _sqlite_database(url: str) -> str | None:
    """The file name an SQLite `url` gives, as written (maybe relative); None otherwise."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database


def _sqlite_file(url: str) -> Path | None:
    """The absolute path of the SQLite file `url` names; None for other databases and memory."""
    name = _sqlite_database(url)
    # SQLite resolves a relative name against the current folder, as this does.
    return None if name is None else Path(name).resolve()


def _database_label(url: str) -> str:
    """The database as users should see it: an SQLite file's absolute path, else the URL."""
    from sqlalchemy.engine import make_url

    sqlite_file = _sqlite_file(url)
    if sqlite_file is not None:
        return str(sqlite_file)
    return make_url(url).render_as_string(hide_password=True)


def _listen_options(command):
    """--host and --port, shared by the commands that serve HTTP."""
    command = click.option(
        "--port", type=click.IntRange(1, 65535), help="端口 / port (default from config)"
    )(command)
    return click.option("--host", help="监听地址 / listen address (default from config)")(command)


@main.command()
@_listen_options
@click.pass_obj
def serve(runtime: Runtime, host: str | None, port: int | None) -> None:
    """启动网站与定时任务（有 token 时含机器人）/ run web + scheduler (+ bot)."""
    from minyi.runtime import serve as run

    _check_before_start(runtime)
    run(runtime.settings, host=host, port=port)


def _check_before_start(runtime: Runtime) -> None:
    # An unreachable database is refused before anything starts; the calendar's gaps are
    # logged where an operator sees them. The process then builds its own engine.
    runtime.check_database()
    check_calendar(runtime)
    runtime.engine.dispose()


@main.command("web")
@_listen_options
@click.pass_obj
def web_command(runtime: Runtime, host: str | None, port: int | None) -> None:
    """只启动网站（不含定时任务和机器人）/ run the web site only (no scheduler, no bot)."""
    from minyi.runtime import serve_web

    _check_before_start(runtime)
    serve_web(runtime.settings, host=host, port=port)


@main.command()
@click.pass_obj
def worker(runtime: Runtime) -> None:
    """只运行定时任务（同一数据库仅一个生效）/ run the scheduler only (one per database)."""
    from minyi.runtime import run_worker

    _check_before_start(runtime)
    run_worker(runtime.settings)


@main.command("bot")
@click.pass_obj
def bot_command(runtime: Runtime) -> None:
    """只运行 Telegram 机器人与发件箱（每个令牌一个）/ run the Telegram bot and outbox only."""
    from minyi.runtime import run_bot

    if not runtime.settings.bot.token:
        from bot.app import missing_token

        raise missing_token()
    _check_before_start(runtime)
    run_bot(runtime.settings)


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


@user.command("telegram")
@click.argument("username")
@click.argument("chat_id", required=False)
@click.option("--clear", is_flag=True, help="不再通过 Telegram 发送 / stop sending by Telegram")
@click.pass_obj
def user_telegram(runtime: Runtime, username: str, chat_id: str | None, clear: bool) -> None:
    """设置每周摘要的 Telegram 会话 / the Telegram chat that gets the account's weekly digest."""
    from minyi.services.staff import find_staff_user, set_staff_telegram

    if (chat_id is None) == (not clear):
        raise click.UsageError("请给出 CHAT_ID 或 --clear / give CHAT_ID or --clear")
    with runtime.session_factory().begin() as session:
        account = find_staff_user(session, username)
        if account is None:
            raise click.UsageError(f"找不到账号 {username} / unknown account {username}")
        set_staff_telegram(session, account, None if clear else chat_id)
        shown = account.telegram_chat_id or "—"
        click.echo(f"已设置 / set: {account.username} telegram {shown}")


@main.group("import")
def import_group() -> None:
    """导入历史数据（CSV）/ import history from CSV files."""


def _run_import(runtime: Runtime, kind: str, path: Path, nlp: bool, offline: bool) -> None:
    from minyi import importer
    from minyi.services.context import ServiceContext

    # The calendar includes the years loaded with `minyi calendar import`: deadlines need them.
    extra = {} if nlp else {"analyzer": None}
    ctx = ServiceContext.from_settings(
        runtime.settings, session_factory=runtime.session_factory(), **extra
    )
    progress = importer.tqdm_progress() if sys.stdout.isatty() else None
    function = importer.import_ratings if kind == "ratings" else importer.import_tickets
    try:
        report = function(runtime.engine, ctx, path, progress=progress, offline=offline)
    except importer.ImportFailed as refused:
        _import_refused(path, refused)
    finally:
        if progress is not None:
            progress.close()
    click.echo(str(report))


def _import_refused(path: Path, refused) -> None:
    """List every bad row, one a line (a county fixing a large file scans them), and exit 1."""
    from minyi.importer import MAX_ERRORS

    click.echo(f"导入失败，未写入任何数据 / import refused, nothing written: {path}", err=True)
    for row_error in refused.errors:
        click.echo(f"  {row_error}", err=True)
    if refused.truncated:
        click.echo(f"  … 仅列出前 {MAX_ERRORS} 处 / first {MAX_ERRORS} errors only", err=True)
    sys.exit(1)


def _import_options(command):
    """--no-nlp and --offline, shared by both import commands."""
    command = click.option(
        "--offline",
        is_flag=True,
        help=(
            "离线快速导入：一个事务、锁表、重建索引；仅在没有其他进程连接数据库时使用 / "
            "fast path that locks the tables: only when nothing else is connected"
        ),
    )(command)
    return click.option(
        "--nlp/--no-nlp",
        default=True,
        help="用 NLP 分析文本（默认）/ score and route texts with the NLP (default)",
    )(command)


@import_group.command("ratings")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_import_options
@click.pass_obj
def import_ratings(runtime: Runtime, path: Path, nlp: bool, offline: bool) -> None:
    """导入评价，列说明见 docs/import.md / import ratings (columns: docs/import.md)."""
    _run_import(runtime, "ratings", path, nlp, offline)


@import_group.command("tickets")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_import_options
@click.pass_obj
def import_tickets(runtime: Runtime, path: Path, nlp: bool, offline: bool) -> None:
    """导入工单，列说明见 docs/import.md / import tickets (columns: docs/import.md)."""
    _run_import(runtime, "tickets", path, nlp, offline)


@import_group.command("catalog")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def import_catalog(runtime: Runtime, path: Path) -> None:
    """导入部门、服务事项和服务网点，列说明见 docs/import.md / import departments, services and
    outlets (columns: docs/import.md).

    再次导入只更新名称，不会自动停用 / re-importing updates names and deactivates nothing
    unless a row says active=false.
    """
    from minyi.catalog_import import import_catalog as run
    from minyi.importer import ImportFailed

    try:
        with runtime.session_factory().begin() as session:  # a refusal rolls it all back
            report = run(session, path)
    except ImportFailed as refused:
        _import_refused(path, refused)
    click.echo(str(report))


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


class PeriodType(click.ParamType):
    """A statistics period (2026-10, 2026-W43, 2026-Q4); a malformed one is a usage error."""

    name = "period"

    def convert(self, value, param, ctx):
        from minyi.indicators import Period, parse_period

        if isinstance(value, Period):
            return value
        try:
            return parse_period(value)
        except MinyiError as error:
            self.fail(f"{error.message_zh} / {error.message_en}", param, ctx)


def _indicator_context(runtime: Runtime):
    from minyi.services.context import ServiceContext

    return ServiceContext.from_settings(
        runtime.settings, session_factory=runtime.session_factory(), analyzer=None
    )


def _print_table(table: list[list]) -> None:
    # Column widths count a CJK character as two cells, so the columns line up in a terminal.
    def width(text: str) -> int:
        return sum(2 if "\u2e80" <= ch <= "\uffef" else 1 for ch in text)

    cells = [["" if cell is None else str(cell) for cell in line] for line in table]
    widths = [max(width(line[i]) for line in cells) for i in range(len(cells[0]))]
    for line in cells:
        click.echo(
            "  ".join(c + " " * (w - width(c)) for c, w in zip(line, widths, strict=True)).rstrip()
        )


@main.group("indicators", invoke_without_command=True)
@click.option("--period", type=PeriodType(), help="统计期 / period: 2026-10, 2026-W43, 2026-Q4")
@click.option("--department", help="部门编码 / department code")
@click.option("--service", help="事项编码 / service code")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["json", "table", "csv", "xlsx"]),
    default="table",
    show_default=True,
    help="输出格式 / output format",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="写入文件（xlsx 必填）/ write to FILE (required for xlsx)",
)
@click.pass_context
def indicators_group(
    click_ctx: click.Context,
    period,
    department: str | None,
    service: str | None,
    output_format: str,
    output: Path | None,
) -> None:
    """部门指标 / department indicators for a period (see docs/indicators.md)."""
    if click_ctx.invoked_subcommand is not None:
        return
    if period is None:
        raise click.UsageError("请用 --period 指定统计期 / --period is required", click_ctx)
    if output_format == "xlsx" and output is None:
        raise click.UsageError("xlsx 格式需要 --output 文件 / xlsx needs --output FILE", click_ctx)
    from minyi import indicators
    from minyi.db import make_session_factory

    runtime: Runtime = click_ctx.obj
    ctx = _indicator_context(runtime)
    # Fold the stale days into the rollup first, so the next reader finds them ready.
    with runtime.session_factory().begin() as session:
        indicators.refresh_rollups(session, ctx)
        indicators.fill_medians(session, ctx, [period])
    with make_session_factory(runtime.engine, read_only=True)() as session:
        rows = indicators.department_indicators(
            session, ctx, period, department=department, service=service
        )
    if output_format == "xlsx":
        indicators.write_xlsx(rows, output)
    elif output_format == "csv":
        if output is None:
            indicators.write_csv(rows, sys.stdout)
        else:
            with output.open("w", encoding="utf-8", newline="") as stream:
                indicators.write_csv(rows, stream)
    elif output_format == "json":
        text = json.dumps(rows, ensure_ascii=False, indent=2)
        if output is None:
            click.echo(text)
        else:
            output.write_text(text + "\n", encoding="utf-8")
    else:
        _print_table(indicators.indicator_table(rows))
    if output is not None:
        click.echo(f"已写入 / written: {output}")


@indicators_group.command("rebuild")
@click.pass_obj
def indicators_rebuild(runtime: Runtime) -> None:
    """从原始数据重算全部汇总并核对 / recompute the whole rollup from the base tables and say
    how many stored rows were wrong (0 when the rollup was exact)."""
    from minyi.indicators import rebuild_rollups

    ctx = _indicator_context(runtime)
    with runtime.session_factory().begin() as session:
        report = rebuild_rollups(session, ctx)
    click.echo(str(report))


@main.command("summary")
@click.option("--period", type=PeriodType(), required=True, help="统计期 / period")
@click.option("--department", required=True, help="部门编码 / department code")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["json", "table"]),
    default="table",
    show_default=True,
    help="输出格式 / output format",
)
@click.pass_obj
def summary_command(runtime: Runtime, period, department: str, output_format: str) -> None:
    """投诉分类汇总 / the period's complaints of a department by topic and by hot issue."""
    from minyi.db import make_session_factory
    from minyi.indicators import complaint_summary

    ctx = _indicator_context(runtime)
    with make_session_factory(runtime.engine, read_only=True)() as session:
        summary = complaint_summary(session, ctx, period, department)
    if output_format == "json":
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    click.echo(
        f"{summary['department_name']}（{summary['department']}） {summary['period']}："
        f"投诉 {summary['tickets']} 件（上期 {summary['previous_period']}"
        f" {summary['previous_tickets']} 件） / complaints {summary['tickets']}"
        f" (previous {summary['previous_tickets']})"
    )
    sections = (
        ("按主题 / by topic", "topics", "topic"),
        ("热点 / hot issues", "hot_issues", "title"),
    )
    for heading, key, name in sections:
        click.echo(f"\n{heading}")
        if not summary[key]:
            click.echo("  （无 / none）")
        for group in summary[key]:
            share = group["negative_share"]
            negative = "—" if share is None else f"{share * 100:.0f}%"
            click.echo(
                f"  {group[name]}  {group['count']} 件（{group['change']:+d}）"
                f"  负面 negative {negative}  关键词 keywords: {'、'.join(group['keywords'])}"
            )
            for sentence in group["summary"]:
                click.echo(f"    「{sentence}」")
            click.echo(f"    工单 tickets: {', '.join(group['tickets'])}")
    if summary["near_duplicates"]:
        click.echo("\n重复投诉 / near-duplicates")
        for numbers in summary["near_duplicates"]:
            click.echo(f"  {', '.join(numbers)}")


@main.group("survey")
def survey_group() -> None:
    """满意度调查：导入、开始、结果、导出 / surveys: import, open, results, export."""


def _survey_context(runtime: Runtime, *, nlp: bool = False):
    from minyi.services.context import ServiceContext

    session_factory = runtime.session_factory()
    extra = {} if nlp else {"analyzer": None}
    ctx = ServiceContext.from_settings(runtime.settings, session_factory=session_factory, **extra)
    return session_factory, ctx


def _county_moment(settings, value: str | None, *, option: str) -> datetime | None:
    """An ISO date or time from the command line; naive ones are the county's local time.

    A bare date means the end of that day (the round stays open all of it).
    """
    from minyi.services.validation import check_local_moment

    try:
        return check_local_moment(value, ZoneInfo(settings.calendar.timezone), end_of_day=True)
    except ValidationFailed as exc:
        raise click.BadParameter(
            f"{exc.message_zh} / {exc.message_en} (not {value!r})", param_hint=option
        ) from None


@survey_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--draft", is_flag=True, help="存为草稿，不发布 / store as a draft, unpublished")
@click.pass_obj
def survey_import(runtime: Runtime, path: Path, draft: bool) -> None:
    """导入问卷定义（JSON，格式见 docs/surveys.md）/ import a survey definition file.

    已有同一 slug 时生成新版本 / an existing slug gets a new version.
    """
    from surveys.catalog import import_survey
    from surveys.definition import parse_definition_json

    definition = parse_definition_json(path.read_bytes())
    session_factory, ctx = _survey_context(runtime)
    with session_factory.begin() as session:
        result = import_survey(session, ctx, definition, publish=not draft)
    state = "已发布 published" if result.published else "草稿 draft"
    if not result.created_version:
        click.echo(
            f"{result.slug}：与第 {result.version} 版相同，未改动 / unchanged, same as version"
            f" {result.version} ({state})"
        )
    elif result.created_survey:
        click.echo(f"已导入新问卷 / imported new survey {result.slug}, version 1 ({state})")
    else:
        click.echo(
            f"已导入 {result.slug} 第 {result.version} 版 / imported {result.slug}"
            f" version {result.version} ({state})"
        )


@survey_group.command("export-definition")
@click.argument("slug")
@click.option("--version", "version", type=click.IntRange(1), help="版本 / version (latest)")
@click.pass_obj
def survey_export_definition(runtime: Runtime, slug: str, version: int | None) -> None:
    """输出问卷定义 JSON（可再导入）/ print a survey's definition file (importable)."""
    from surveys.catalog import export_definition

    with runtime.session_factory()() as session:
        definition = export_definition(session, slug, version)
    click.echo(json.dumps(definition, ensure_ascii=False, indent=2))


@survey_group.command("list")
@click.pass_obj
def survey_list(runtime: Runtime) -> None:
    """列出问卷 / list surveys with their versions."""
    from surveys.catalog import list_surveys

    with runtime.session_factory()() as session:
        surveys = list_surveys(session)
    if not surveys:
        click.echo("还没有问卷 / no surveys yet (minyi survey import FILE.json)")
    for item in surveys:
        published = item.published_version or "-"
        archived = "  已归档 archived" if item.archived else ""
        click.echo(
            f"{item.slug}  {item.title}  版本 versions {item.versions}"
            f"  已发布 published {published}{archived}"
        )


@survey_group.command("open")
@click.argument("slug")
@click.option(
    "--closes", help="结束时间（ISO；只写日期则到当天结束）/ closing time, ISO (default 7 days)"
)
@click.option("--invite", is_flag=True, help="邀请机器人订阅者 / invite the bot's subscribers")
@click.option("--invitation-only", is_flag=True, help="仅限受邀者 / invited respondents only")
@click.pass_obj
def survey_open(
    runtime: Runtime, slug: str, closes: str | None, invite: bool, invitation_only: bool
) -> None:
    """现在开始一轮调查 / open a round now."""
    from surveys.rounds import open_round, survey_link

    closes_at = _county_moment(runtime.settings, closes, option="--closes")
    session_factory, ctx = _survey_context(runtime)
    with session_factory.begin() as session:
        opened = open_round(
            session,
            ctx,
            slug,
            closes_at=closes_at,
            invite_subscribers=invite,
            invitation_only=invitation_only,
        )
    tz = ZoneInfo(runtime.settings.calendar.timezone)
    until = opened.closes_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    click.echo(
        f"已开始 {opened.slug} 第 {opened.number} 轮，至 {until} / opened round {opened.number}"
        f" of {opened.slug} until {until}: {survey_link(ctx, opened.slug)}"
    )


@survey_group.command("close")
@click.argument("slug")
@click.pass_obj
def survey_close(runtime: Runtime, slug: str) -> None:
    """结束进行中的一轮 / close the open round now."""
    from surveys.rounds import close_round, open_round_for

    session_factory, ctx = _survey_context(runtime)
    with session_factory.begin() as session:
        closed = close_round(session, ctx, open_round_for(session, ctx, slug).id)
    click.echo(f"已结束第 {closed.number} 轮 / closed round {closed.number} of {closed.slug}")


@survey_group.command("schedule")
@click.argument("slug")
@click.option(
    "--every",
    "kind",
    type=click.Choice(["monthly", "quarterly", "cron"]),
    required=True,
    help="周期 / monthly (1st, 09:00), quarterly (1 Jan/Apr/Jul/Oct, 09:00) or cron",
)
@click.option("--cron", help="cron 表达式（分 时 日 月 周）/ expression for --every cron")
@click.option("--days", default=7, show_default=True, type=int, help="每轮开放天数 / days open")
@click.option("--no-invite", is_flag=True, help="不邀请订阅者 / do not invite subscribers")
@click.option("--invitation-only", is_flag=True, help="仅限受邀者 / invited respondents only")
@click.option(
    "--remind-hours",
    default=24,
    show_default=True,
    type=int,
    help="结束前多少小时提醒未答者（0 不提醒）/ remind non-responders this many hours before",
)
@click.pass_obj
def survey_schedule(
    runtime: Runtime,
    slug: str,
    kind: str,
    cron: str | None,
    days: int,
    no_invite: bool,
    invitation_only: bool,
    remind_hours: int,
) -> None:
    """定期开展调查（由 minyi worker 执行）/ run rounds on a schedule (the worker opens them)."""
    from surveys.rounds import schedule_survey

    session_factory, ctx = _survey_context(runtime)
    with session_factory.begin() as session:
        schedule = schedule_survey(
            session,
            ctx,
            slug,
            kind=kind,
            cron=cron,
            open_days=days,
            invite_subscribers=not no_invite,
            invitation_only=invitation_only,
            remind_hours_before=remind_hours,
        )
    click.echo(
        f"已排期 / scheduled {schedule.slug}: {schedule.kind} ({schedule.cron},"
        f" {runtime.settings.calendar.timezone}), {schedule.open_days} 天 days"
    )


@survey_group.command("unschedule")
@click.argument("slug")
@click.pass_obj
def survey_unschedule(runtime: Runtime, slug: str) -> None:
    """停止定期调查（已开始的一轮照常结束）/ stop the schedule (an open round still runs)."""
    from surveys.rounds import stop_schedule

    session_factory, ctx = _survey_context(runtime)
    with session_factory.begin() as session:
        stopped = stop_schedule(session, ctx, slug)
    click.echo(f"已停止 {stopped} 个排期 / stopped {stopped} schedule(s) of {slug}")


@survey_group.command("invite")
@click.argument("slug")
@click.option("--count", required=True, type=click.IntRange(1, 100_000), help="数量 / how many")
@click.pass_obj
def survey_invite(runtime: Runtime, slug: str, count: int) -> None:
    """为进行中的一轮生成一次性邀请链接（只显示这一次）/ single-use links, shown once."""
    from surveys.rounds import create_invitations, open_round_for

    session_factory, ctx = _survey_context(runtime)
    with session_factory.begin() as session:
        links = create_invitations(session, ctx, open_round_for(session, ctx, slug).id, count)
    for link in links:
        click.echo(link)


@survey_group.command("progress")
@click.argument("slug")
@click.option("--round", "number", type=click.IntRange(1), help="轮次 / round (latest)")
@click.pass_obj
def survey_progress(runtime: Runtime, slug: str, number: int | None) -> None:
    """邀请、提醒与答卷进度（JSON）/ invitations, reminders and responses of a round, as JSON."""
    from surveys.rounds import get_round, round_progress

    with runtime.session_factory()() as session:
        progress = round_progress(session, get_round(session, slug, number).id)
    click.echo(json.dumps(progress, ensure_ascii=False))


@survey_group.command("results")
@click.argument("slug")
@click.option("--round", "number", type=click.IntRange(1), help="轮次 / round (latest)")
@click.option("--format", "fmt", type=click.Choice(["json"]), default="json", show_default=True)
@click.option("--compare", is_flag=True, help="附与上一轮的比较 / add the comparison")
@click.option("--trend", is_flag=True, help="附历轮趋势 / add the trend over every round")
@click.pass_obj
def survey_results(
    runtime: Runtime, slug: str, number: int | None, fmt: str, compare: bool, trend: bool
):
    """一轮的结果 / a round's results: counts, means with 95% intervals, NPS, text topics."""
    from surveys.results import compare_rounds, round_results, survey_trend
    from surveys.rounds import get_round
    from surveys.worker import run_text_analysis

    session_factory, ctx = _survey_context(runtime, nlp=runtime.settings.nlp.enabled)
    # Texts the worker has not analysed yet are analysed now, so the figures are complete.
    run_text_analysis(session_factory, ctx, max_batches=1_000_000)
    with session_factory() as session:
        round_id = get_round(session, slug, number).id
        out = round_results(session, ctx, round_id)
        if compare:
            out["comparison"] = compare_rounds(session, ctx, round_id)
        if trend:
            out["trend"] = survey_trend(session, ctx, slug)
    click.echo(json.dumps(out, ensure_ascii=False))


@survey_group.command("export")
@click.argument("slug")
@click.option("--round", "number", type=click.IntRange(1), help="轮次 / round (all rounds)")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), required=True)
@click.option(
    "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="文件 / file"
)
@click.pass_obj
def survey_export(runtime: Runtime, slug: str, number: int | None, fmt: str, output: Path):
    """导出答卷：每份一行，每题一列 / responses, one row each, one column per question key."""
    from surveys.export import write_export

    session_factory, ctx = _survey_context(runtime)
    with session_factory() as session:
        written = write_export(session, ctx, slug, output, format=fmt, round_number=number)
    click.echo(f"已导出 {written} 份答卷 / exported {written} responses: {output.absolute()}")


def _county_today(settings) -> date:
    return datetime.now(ZoneInfo(settings.calendar.timezone)).date()


def _add_nlp_commands() -> None:
    try:
        from nlp import cli as nlp_cli
    except ImportError as exc:  # nlp is part of the package; this only guards partial installs
        log.debug("nlp commands unavailable: %s", exc)
        return
    # nlp's own group stays pure (no database); the core's copy swaps in a classify that also
    # says where the core would route the text. A copy, so `python -m nlp.cli` is unchanged.
    commands = dict(nlp_cli.nlp.commands)
    commands["classify"] = _classify_command(nlp_cli.text_input)
    # The county's own model versions ([nlp] model_dir): retrain, rollback, list.
    from minyi import nlp_commands

    for command in (nlp_commands.retrain_cmd, nlp_commands.rollback_cmd, nlp_commands.models_cmd):
        commands[command.name] = command
    main.add_command(
        click.Group(
            nlp_cli.nlp.name,
            commands=commands,
            help=nlp_cli.nlp.help,
            callback=_serve_active_models,
        )
    )


@click.pass_obj
def _serve_active_models(runtime: Runtime) -> None:
    # classify and evaluate score with the active version, as the web and the bot do.
    from minyi.services.context import use_active_models

    use_active_models(runtime.settings)


def _classify_command(text_input) -> click.Command:
    @click.command("classify")
    @text_input
    @click.option(
        "--threshold",
        type=click.FloatRange(0, 1),
        default=None,
        help="派单置信度阈值 / routing threshold [default: [nlp] review_threshold]",
    )
    @click.pass_obj
    def classify(runtime: Runtime, text: str | None, file: str | None, threshold: float | None):
        """分析文字并说明会派给哪个部门 / analyse TEXT (--file FILE, - for stdin) and show
        the department the core would route it to.

        The analysis and a `routing` object go to stdout as one JSON line; one sentence on
        stderr says "would be routed to X" or "would go to triage", read from the configured
        database (or that the database cannot be reached).
        """
        from nlp import analyze
        from nlp.cli import read_text_input
        from nlp.topic import DEFAULT_REVIEW_THRESHOLD

        content = read_text_input(text, file)
        settings = runtime.settings
        if threshold is None:
            threshold = settings.nlp.review_threshold
        if threshold is None:  # unset: the model's own, as in route_ticket
            threshold = DEFAULT_REVIEW_THRESHOLD
        routed_text, refusal = _complaint_text(settings, content)
        # needs_review at `threshold` is route_ticket's is_confident test.
        analysis = analyze(routed_text, review_threshold=threshold)
        routing, sentence = _routing_preview(runtime, analysis, routed_text, threshold)
        if refusal is not None:
            routing["refused"] = refusal.message_en
            sentence += (
                f"\n注意：作为投诉提交会被拒绝：{refusal.message_zh}"
                f" / note: filed as a complaint this would be refused: {refusal.message_en}"
            )
        click.echo(json.dumps(analysis.to_dict() | {"routing": routing}, ensure_ascii=False))
        click.echo(sentence, err=True)

    return classify


def _complaint_text(settings, content: str):
    """The text as file_ticket would store it, and its refusal (too long/short) if any."""
    from minyi.errors import ValidationFailed
    from minyi.services.validation import clean_text

    limits = settings.tickets
    try:
        stored = clean_text(
            content,
            field_zh="投诉内容",
            field_en="complaint text",
            max_chars=limits.max_text_chars,
            min_chars=limits.min_text_chars,
        )
    except ValidationFailed as refused:
        return content, refused
    return stored, None


class DatabaseUnreachable(MinyiError):
    """The configured database cannot be read (missing file, no tables, server down)."""


def _routing_preview(runtime: Runtime, analysis, text: str, threshold: float):
    """route_ticket's decision for `analysis`, as a JSON-ready dict and one sentence.

    Mirrors route_ticket (minyi.services.tickets): the configured department via
    department_for_topic, assigned only when nlp did not ask for review and the topic
    probability reaches the threshold; tests check the two agree.
    """
    settings = runtime.settings
    database = _database_label(settings.database.url)
    routing: dict = {"database": database, "threshold": threshold}
    if not settings.nlp.enabled:
        routing |= {"decision": "triage", "reason": "nlp disabled"}
        return routing, (
            "配置 [nlp] enabled = false：投诉一律进入待分拣队列 / [nlp] enabled = false: "
            "every complaint would go to triage"
        )
    from minyi.services.tickets import is_praise

    if is_praise(settings, analysis):
        routing |= {"decision": "praise", "reason": "request type 表扬"}
        return routing, (
            "将记为表扬（不进入任何待办队列）/ would be filed as praise (no queue or inbox)"
        )
    try:
        department = _department_for(runtime, analysis.topic, text)
    except DatabaseUnreachable as unreachable:
        routing |= {"decision": None, "error": unreachable.message_en}
        return routing, (
            f"数据库不可用，无法判断承办部门：{unreachable.message_zh}"
            f" / database not reachable, no department shown: {unreachable.message_en}"
        )
    probability = float(analysis.topic_probability or 0.0)
    confident = analysis.topic is not None and not analysis.needs_review
    routing["department"] = department
    if confident and department is not None:
        routing["decision"] = "assign"
        name = department["name"]
        return routing, (
            f"将派给 {name}（{department['code']}）"
            f" / would be routed to {department['name_en'] or name} ({department['code']})"
        )
    routing["decision"] = "triage"
    if analysis.topic is None:
        routing["reason"] = "no topic recognised"
        why_zh, why_en = "无法识别话题", "no topic recognised"
    elif not confident:
        routing["reason"] = "low confidence"
        why_zh = f"话题「{analysis.topic}」置信度 {probability:.2f}，低于 {threshold:g}"
        why_en = f"topic {analysis.topic} at {probability:.2f}, below {threshold:g}"
        if department is not None:
            why_zh += f"；预测部门 {department['name']}"
            why_en += f"; predicted department {department['code']}"
    else:
        routing["reason"] = "no department for topic"
        why_zh = f"话题「{analysis.topic}」没有已启用的承办部门"
        why_en = f"no active department is configured for topic {analysis.topic}"
    return routing, f"将进入待分拣队列（{why_zh}）/ would go to triage ({why_en})"


def _department_for(runtime: Runtime, topic: str | None, text: str) -> dict | None:
    """department_for_topic on the configured database, as a plain dict (or None)."""
    from sqlalchemy.exc import SQLAlchemyError

    from minyi.migrate import is_empty
    from minyi.services.context import ServiceContext
    from minyi.services.tickets import department_for_topic

    sqlite_file = _sqlite_file(runtime.settings.database.url)
    # Never connect to a missing SQLite file: that would create an empty database.
    if sqlite_file is not None and not sqlite_file.exists():
        raise DatabaseUnreachable(
            f"没有数据库文件 {sqlite_file}（先运行 minyi init）",
            f"no database file at {sqlite_file} (run minyi init first)",
        )
    try:
        if is_empty(runtime.engine):
            raise DatabaseUnreachable(
                "数据库尚未建表（先运行 minyi init）",
                "the database has no Minyi tables (run minyi init first)",
            )
        ctx = ServiceContext.from_settings(runtime.settings, analyzer=None)
        with runtime.session_factory()() as session:
            department = department_for_topic(session, ctx, topic, text)
            if department is None:
                return None
            return {
                "code": department.code,
                "name": department.name,
                "name_en": department.name_en,
            }
    except DatabaseUnreachable:
        raise
    except MinyiError as refused:  # e.g. a database problem the core reports in its own words
        raise DatabaseUnreachable(refused.message_zh, refused.message_en) from None
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
        raise DatabaseUnreachable(detail, detail) from None


_add_nlp_commands()
