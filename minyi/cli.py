"""The `minyi` command: init, serve, user, import and nlp. Exit codes: 0 ok, 1 refused, 2 usage."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

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

    def check_database(self) -> None:
        """Connect once, so an unreachable database is refused before anything starts."""
        with self.engine.connect():
            pass
        self.engine.dispose()


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
    if not demo:
        return
    if not empty:
        click.echo("数据库已有数据，跳过示范数据 / database not empty: demo data skipped")
        return
    from minyi.demo import load_demo
    from minyi.services.context import ServiceContext

    ctx = ServiceContext.from_settings(runtime.settings)
    with runtime.session_factory().begin() as session:
        summary = load_demo(session, ctx, months=months)
    click.echo(str(summary))


@main.command()
@click.option("--host", help="监听地址 / listen address (default from config)")
@click.option("--port", type=click.IntRange(1, 65535), help="端口 / port (default from config)")
@click.pass_obj
def serve(runtime: Runtime, host: str | None, port: int | None) -> None:
    """启动网站与定时任务（有 token 时含机器人）/ run web + scheduler (+ bot)."""
    from minyi.runtime import serve as run

    runtime.check_database()
    run(runtime.settings, host=host, port=port)


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


def _add_nlp_commands() -> None:
    try:
        from nlp.cli import nlp as nlp_group
    except ImportError as exc:  # nlp is part of the package; this only guards partial installs
        log.debug("nlp commands unavailable: %s", exc)
        return
    main.add_command(nlp_group)


_add_nlp_commands()
