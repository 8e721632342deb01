"""`minyi import catalog`: departments, services and outlets from one CSV, all or nothing;
a re-import updates names and deactivates only what a row says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from minyi.catalog_import import import_catalog
from minyi.cli import main
from minyi.config import load_settings
from minyi.db import make_engine, make_session_factory
from minyi.errors import NotFound, PermissionDenied
from minyi.importer import ImportFailed
from minyi.models import AuditEntry, Department, Outlet, Role, Service, StaffUser
from minyi.services import catalog, ratings, tickets
from minyi.services.actors import Actor
from tests.builders import make_staff, make_ticket

# Input checks and page rules that no database behaviour decides: SQLite alone is enough
# (each PostgreSQL run costs a schema truncate).
SQLITE_ONLY = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)

HEADER = "kind,code,name,name_en,department,address,active"
GOOD = [
    HEADER,
    "department,rsj,人社局,HRSS Bureau,,,",
    # A service may come before its department: departments are applied first.
    "service,zjj-01,住房公积金提取,,zjj,,",
    "service,rsj-01,社保卡申领,,rsj,,",
    "事项,rsj-02,失业登记,,rsj,,",
    "部门,zjj,住建局,,,,",
    'outlet,hall-1f,"第一服务大厅, 一楼",,,"县府路 1 号",',
    "",
]
DOCS = Path(__file__).resolve().parent.parent / "docs" / "import.md"


def write(tmp_path: Path, rows: list[str], name="catalog.csv", encoding="utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes("\n".join(rows).encode(encoding))
    return path


def run_import(session_factory, path, **kwargs):
    with session_factory.begin() as s:
        return import_catalog(s, path, **kwargs)


def refused(session_factory, path) -> list[tuple[int, str | None]]:
    """The (line, column) of each error; asserts nothing was kept."""
    with session_factory() as s:
        before = [s.scalar(select(func.count()).select_from(m)) for m in MODELS]
    with pytest.raises(ImportFailed) as info:
        run_import(session_factory, path)
    with session_factory() as s:
        assert [s.scalar(select(func.count()).select_from(m)) for m in MODELS] == before
    for error in info.value.errors:
        assert error.message_zh and error.message_en
    return [(e.line, e.column) for e in info.value.errors]


MODELS = (Department, Service, Outlet, AuditEntry)


def snapshot(session_factory):
    with session_factory() as s:
        return {
            "departments": [
                (d.code, d.name, d.name_en, d.active)
                for d in catalog.list_departments(s, active_only=False)
            ],
            "services": [
                (sv.code, sv.name, sv.department.code, sv.active)
                for _d, services in catalog.catalogue(s)
                for sv in services
            ],
            "outlets": [
                (o.code, o.name, o.address, o.active)
                for o in catalog.list_outlets(s, active_only=False)
            ],
        }


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_good_file_lands_exactly(session_factory, tmp_path, encoding):
    report = run_import(session_factory, write(tmp_path, GOOD, encoding=encoding))
    assert report.encoding == ("gb18030" if encoding == "gb18030" else "utf-8-sig")
    assert snapshot(session_factory) == {
        "departments": [("rsj", "人社局", "HRSS Bureau", True), ("zjj", "住建局", None, True)],
        "services": [
            ("rsj-01", "社保卡申领", "rsj", True),
            ("rsj-02", "失业登记", "rsj", True),
            ("zjj-01", "住房公积金提取", "zjj", True),
        ],
        "outlets": [("hall-1f", "第一服务大厅, 一楼", "县府路 1 号", True)],
    }
    counts = {kind: vars(c) for kind, c in report.counts.items()}
    assert counts["service"] == {
        "created": 3,
        "updated": 0,
        "deactivated": 0,
        "reactivated": 0,
        "unchanged": 0,
    }
    assert report.rows == 6 and report.missing == {"department": [], "service": [], "outlet": []}
    with session_factory() as s:
        actions = s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert actions == ["department.create"] * 2 + ["service.create"] * 3 + [
            "outlet.create",
            "catalog.import",
        ]
        assert set(s.scalars(select(AuditEntry.actor))) == {"system:cli"}


@SQLITE_ONLY
def test_bad_rows_are_each_named_and_nothing_is_written(session_factory, tmp_path):
    rows = [
        HEADER,
        "department,rsj,人社局,,,,maybe",
        "service,rsj 01,社保卡申领,,rsj,,",
        "service,rsj-02,,,rsj,,",
        "service,rsj-03,失业登记,,,,",
        "outlet,hall,大厅,Hall,,,",
        "department,zjj,住建局,,,县府路,",
        "thing,x,某物,,,,",
        "department," + "x" * 33 + ",某局,,,,",
        "department,rsj,人社局,,,,",  # fine itself, but line 2 already has this code
        "department,wsj,卫健局,,,",  # a field short
        "department,ok,'); DROP TABLE departments; --,,,,",
    ]
    assert refused(session_factory, write(tmp_path, rows)) == [
        (2, "active"),
        (3, "code"),
        (4, "name"),
        (5, "department"),
        (6, "name_en"),
        (7, "address"),
        (8, "kind"),
        (9, "code"),
        (10, "code"),
        (11, None),
    ]


def test_rows_refused_by_the_database_state_keep_nothing_of_the_file(
    session_factory, tmp_path, ctx
):
    with session_factory.begin() as s:
        catalog.create_department(s, code="old", name="旧局")
        closed = catalog.create_department(s, code="closed", name="已撤销局")
        catalog.set_department_active(s, closed, active=False, actor=catalog.COMMAND_LINE)
        busy = catalog.create_department(s, code="busy", name="忙碌局")
        admin = Actor.staff(make_staff(s, Role.ADMIN))
        tickets.assign(s, ctx, make_ticket(s, ctx), busy, actor=admin)
    before = snapshot(session_factory)
    rows = [
        HEADER,
        "department,new,新局,,,,",  # fine: must not stay either
        "department,dup,旧局,,,,",  # the name of department `old`
        "service,s-1,某事项,,nope,,",
        "service,s-2,某事项,,closed,,",
        "department,busy,忙碌局,,,,false",  # it has an open ticket
    ]
    assert refused(session_factory, write(tmp_path, rows)) == [
        (3, "name"),
        (4, "department"),
        (5, "department"),
        (6, "active"),
    ]
    assert snapshot(session_factory) == before


def test_reimport_updates_names_and_deactivates_only_what_a_row_says(session_factory, tmp_path):
    run_import(session_factory, write(tmp_path, GOOD))
    again = [
        "kind,code,name,department,active",  # no name_en or address column: they stay
        "department,rsj,人力资源和社会保障局,,",
        "department,zjj,住建局,,false",
        "service,rsj-01,社会保障卡申领,rsj,",
        "service,zjj-01,住房公积金提取,rsj,",  # moved to rsj
        'outlet,hall-1f,"第一服务大厅, 一楼",,',
    ]
    report = run_import(session_factory, write(tmp_path, again, "again.csv"))
    assert snapshot(session_factory) == {
        "departments": [
            ("rsj", "人力资源和社会保障局", "HRSS Bureau", True),
            ("zjj", "住建局", None, False),
        ],
        "services": [
            ("rsj-01", "社会保障卡申领", "rsj", True),
            ("rsj-02", "失业登记", "rsj", True),  # not in the file: reported, still active
            ("zjj-01", "住房公积金提取", "rsj", True),
        ],
        "outlets": [("hall-1f", "第一服务大厅, 一楼", "县府路 1 号", True)],
    }
    assert report.missing == {"department": [], "service": ["rsj-02"], "outlet": []}
    assert (report.counts["department"].updated, report.counts["department"].deactivated) == (1, 1)
    assert (report.counts["service"].updated, report.counts["service"].unchanged) == (2, 0)
    assert report.counts["outlet"].unchanged == 1
    assert "rsj-02" in str(report) and "active=false" in str(report)
    # An explicit active=true brings a department back; an empty name_en cell clears it.
    back = [
        "kind,code,name,name_en,active",
        "department,zjj,住建局,,true",
        "department,rsj,人社局,,",
    ]
    report = run_import(session_factory, write(tmp_path, back, "back.csv"))
    assert report.counts["department"].reactivated == 1
    assert snapshot(session_factory)["departments"] == [
        ("rsj", "人社局", None, True),
        ("zjj", "住建局", None, True),
    ]
    with session_factory() as s:
        renamed = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "department.update")
            .order_by(AuditEntry.id)
        ).all()
        assert renamed[0].before == {"code": "rsj", "name": "人社局"}
        assert renamed[0].after == {"code": "rsj", "name": "人力资源和社会保障局"}


def test_a_deactivated_service_row_stops_its_ratings(session_factory, tmp_path, ctx):
    run_import(session_factory, write(tmp_path, GOOD))
    off = write(
        tmp_path,
        ["kind,code,name,department,active", "service,rsj-01,社保卡申领,rsj,否"],
        "off.csv",
    )
    assert run_import(session_factory, off).counts["service"].deactivated == 1
    with session_factory() as s, pytest.raises(NotFound, match="unknown service rsj-01"):
        ratings.record_rating(s, ctx, service="rsj-01", score=5)


@SQLITE_ONLY
@pytest.mark.parametrize(
    "rows, expected",
    [
        (["kind,code", "department,rsj"], [(1, "name")]),
        (["kind,code,name,colour", "department,rsj,人社局,red"], [(1, "colour")]),
        (["kind,code,name,code", "department,rsj,人社局,rsj"], [(1, "code")]),
        ([HEADER], [(2, None)]),
        ([""], [(1, None)]),
        ([HEADER, 'department,rsj,"人社局,,,,'], [(2, None)]),  # an unbalanced quote
    ],
)
def test_file_shape_errors(session_factory, tmp_path, rows, expected):
    assert refused(session_factory, write(tmp_path, rows)) == expected


@SQLITE_ONLY
def test_undecodable_file_is_refused(session_factory, tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(HEADER.encode() + b"\ndepartment,rsj,\xff\xfe\x81,,,,\n")
    assert refused(session_factory, path) == [(1, None)]


@SQLITE_ONLY
def test_only_the_catalogue_managers_may_import(session_factory, tmp_path):
    with session_factory.begin() as s:
        analyst = Actor.staff(make_staff(s, Role.ANALYST))
    with pytest.raises(PermissionDenied, match="may not manage departments"):
        run_import(session_factory, write(tmp_path, GOOD), actor=analyst)


@SQLITE_ONLY
def test_the_docs_example_imports(session_factory, tmp_path):
    (block,) = [
        b
        for b in re.findall(r"```csv\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
        if b.startswith("kind,")
    ]
    report = run_import(session_factory, write(tmp_path, block.splitlines()))
    assert report.rows == len(block.splitlines()) - 1


# --------------------------------------------------------------------------- the command


@pytest.fixture
def cli(settings, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/cli.db"\n', encoding="utf-8")

    def invoke(*args, input=None):
        return CliRunner().invoke(main, ["--config", str(config), *args], input=input)

    return invoke


def test_a_county_without_demo_data_loads_its_catalogue_then_its_officers(cli, tmp_path):
    assert cli("init").exit_code == 0
    officer = ("user", "add", "li", "--role", "officer", "--department", "rsj")
    before = cli(*officer, "--password", "long-enough-1")
    assert before.exit_code == 1 and "rsj" in before.output  # no departments yet
    result = cli("import", "catalog", str(write(tmp_path, GOOD)))
    assert result.exit_code == 0, result.output
    assert "服务事项：新建 3" in result.output and "services: 3 created" in result.output
    added = cli(*officer, "--password", "long-enough-1")
    assert added.exit_code == 0, added.output
    engine = make_engine(load_settings(), f"sqlite:///{tmp_path}/cli.db")
    with make_session_factory(engine)() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.username == "li"))
        assert user.department.code == "rsj"
        assert [sv.code for sv in catalog.list_services(s, "rsj")] == ["rsj-01", "rsj-02"]
    engine.dispose()
    bad = write(tmp_path, [HEADER, "service,x-1,某事项,,nope,,", "thing,y,某物,,,,"], "bad.csv")
    refusal = cli("import", "catalog", str(bad))
    assert refusal.exit_code == 1
    listed = [line for line in refusal.output.splitlines() if line.startswith("  ")]
    assert listed[0].startswith("  第 3 行 kind 列") and "(line 3, column kind" in listed[0]
    assert cli("import", "catalog", str(tmp_path / "none.csv")).exit_code == 2
    helped = cli("import", "catalog", "--help")
    assert helped.exit_code == 0 and "docs/import.md" in helped.output
