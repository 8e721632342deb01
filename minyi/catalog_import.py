"""Import the county's catalogue (departments, services with their 事项编码, outlets) from CSV.

One file holds all three kinds, one row each (columns in docs/import.md). The file is read
like the history imports (UTF-8, UTF-8 with BOM or GB18030; strict quotes; every problem named
by line and column in Chinese and English) and applied through the catalogue's own service
functions, so a name refused on the admin pages is refused here with the same message.

All or nothing: `import_catalog` works inside the caller's transaction and raises
`ImportFailed` when any row is wrong; the caller rolls back. A catalogue is small (hundreds
of rows), so one transaction is short even on a serving database.

Re-importing is safe: existing codes are updated (names, a service's department, an outlet's
address) and nothing is deactivated unless a row says `active=false`. Active codes missing
from the file are listed in the report and left as they are.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from minyi.db import utcnow
from minyi.errors import MinyiError, ValidationFailed
from minyi.importer import (
    _BOOLEANS,
    ImportFailed,
    RowError,
    _Errors,
    _positions,
    _records,
    _sniff_file,
)
from minyi.models import Department, Outlet, Service
from minyi.services import catalog
from minyi.services.actors import Actor
from minyi.services.audit import record_audit
from minyi.services.permissions import require

log = logging.getLogger(__name__)

CATALOG_COLUMNS = ("kind", "code", "name", "name_en", "department", "address", "active")
REQUIRED = ("kind", "code", "name")
# Applied in this order, whatever the file's: a service's department exists before it.
KINDS = ("department", "service", "outlet")
_KIND_NAMES = {
    "department": "department",
    "部门": "department",
    "service": "service",
    "事项": "service",
    "服务事项": "service",
    "outlet": "outlet",
    "网点": "outlet",
    "服务网点": "outlet",
}
KIND_ZH = {"department": "部门", "service": "服务事项", "outlet": "服务网点"}
_MODELS = {"department": Department, "service": Service, "outlet": Outlet}
# A column the file does not have leaves that field as it is.
_KEEP = object()


@dataclass
class _Row:
    line: int
    kind: str
    code: str
    name: str
    name_en: Any = _KEEP  # departments only
    department: str | None = None  # services only: the department's code
    address: Any = _KEEP  # outlets only
    active: bool | None = None  # None: as it is (new rows are active)


@dataclass
class KindCounts:
    created: int = 0
    updated: int = 0  # renamed, moved or readdressed
    deactivated: int = 0
    reactivated: int = 0
    unchanged: int = 0


@dataclass
class CatalogReport:
    """What a catalogue import did, per kind, and the active codes the file did not name."""

    path: str
    encoding: str
    counts: dict[str, KindCounts] = field(default_factory=lambda: {k: KindCounts() for k in KINDS})
    missing: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    rows: int = 0
    blank_lines: int = 0

    def lines(self) -> list[str]:
        """One line per kind, then one per kind with active codes missing from the file."""
        out = []
        for kind in KINDS:
            c = self.counts[kind]
            out.append(
                f"{KIND_ZH[kind]}：新建 {c.created}，修改 {c.updated}，停用 {c.deactivated}，"
                f"重新启用 {c.reactivated}，未变 {c.unchanged} / {kind}s: {c.created} created, "
                f"{c.updated} updated, {c.deactivated} deactivated, {c.reactivated} reactivated, "
                f"{c.unchanged} unchanged"
            )
        for kind in KINDS:
            if codes := self.missing[kind]:
                shown = ", ".join(codes[:20]) + (
                    f" … (+{len(codes) - 20})" if len(codes) > 20 else ""
                )
                out.append(
                    f"文件中没有、仍在启用的{KIND_ZH[kind]} {len(codes)} 个（未停用；要停用请"
                    f"在文件中写 active=false）/ {len(codes)} active {kind}s not in the file, left"
                    " active"
                    f" (to deactivate one, give it a row with active=false): {shown}"
                )
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def import_catalog(
    session: Session,
    path: str | Path,
    *,
    actor: Actor = catalog.COMMAND_LINE,
    at: datetime | None = None,
) -> CatalogReport:
    """Apply a catalogue CSV in the caller's transaction; ImportFailed (roll back) on any error."""
    require(actor, "catalog.manage")
    path = Path(path)
    if not path.is_file():
        raise ImportFailed(path, [RowError(0, None, f"找不到文件 {path}", f"no such file {path}")])
    encoding, _lines = _sniff_file(path)
    report = CatalogReport(str(path), encoding)
    errors = _Errors()
    rows = _read(path, encoding, errors, report)
    if errors:
        raise ImportFailed(path, errors.items, errors.full)
    report.rows = len(rows)
    moment = at or utcnow()
    # The whole catalogue at once (a few thousand rows): each row then finds its object, and
    # a service its department, without a query of its own. The service functions take them.
    stored = {
        kind: {obj.code: obj for obj in session.scalars(select(model))}
        for kind, model in _MODELS.items()
    }
    for row in sorted(rows, key=lambda r: (KINDS.index(r.kind), r.line)):
        _apply(session, row, stored, actor, moment, report, errors)
        if errors.full:
            break
    if errors:
        raise ImportFailed(path, errors.items, errors.full)
    named = {kind: {row.code for row in rows if row.kind == kind} for kind in KINDS}
    for kind, objects in stored.items():
        report.missing[kind] = sorted(
            code for code, obj in objects.items() if obj.active and code not in named[kind]
        )
    record_audit(
        session,
        actor=actor,
        action="catalog.import",
        object_type="catalog_import",
        object_id=path.name[:80],
        after={kind: asdict(report.counts[kind]) for kind in KINDS},
        at=moment,
    )
    session.flush()
    log.info("catalogue import of %s: %s", path, "; ".join(report.lines()))
    return report


# --------------------------------------------------------------------------- reading


def _read(path: Path, encoding: str, errors: _Errors, report: CatalogReport) -> list[_Row]:
    """Every row checked on its own (no database): kinds, codes, names, flags, repeats."""
    stats: dict = {}
    records = _records(path, encoding, errors, stats)
    header = next(records, None)
    if header is None:
        if not errors:
            errors.add(1, None, "文件是空的，没有表头", "the file is empty: no header row")
        return []
    positions = _positions(header[1], CATALOG_COLUMNS, REQUIRED, errors)
    if errors:
        return []
    width, rows, seen, data_rows = len(header[1]), [], {}, 0
    for line, record in records:
        data_rows += 1
        if len(record) != width:
            errors.add(
                line,
                None,
                f"应有 {width} 列，实有 {len(record)} 列",
                f"expected {width} fields, found {len(record)}",
            )
        else:
            cells = {name: record[index].strip() for name, index in positions.items()}
            # A repeat is found even when the first row has other problems.
            kind = _KIND_NAMES.get(cells["kind"].lower())
            first = seen.setdefault((kind, cells["code"]), line) if kind else line
            row = _check(line, cells, errors)
            if first != line:
                errors.add(
                    line,
                    "code",
                    f"{KIND_ZH[kind]}编码 {cells['code']} 在第 {first} 行已出现",
                    f"{kind} code {cells['code']} already appears on line {first}",
                )
            elif row is not None:
                rows.append(row)
        if errors.full:
            break
    report.blank_lines = stats.get("blank", 0)
    if not data_rows and not errors:
        errors.add(2, None, "文件没有数据行", "the file has no data rows")
    return rows


def _check(line: int, cells: dict[str, str], errors: _Errors) -> _Row | None:
    column = "kind"
    try:
        kind = _KIND_NAMES.get(cells["kind"].lower())
        if kind is None:
            raise ValidationFailed(
                f"未知类型 {cells['kind'][:20]!r}，可用：department（部门）、service（事项）、"
                "outlet（网点）",
                f"unknown kind {cells['kind'][:20]!r}: one of department, service, outlet",
            )
        column = "code"
        width = catalog.DEPARTMENT_CODE_CHARS if kind == "department" else catalog.CODE_CHARS
        row = _Row(line, kind, catalog.check_code(cells["code"], max_chars=width), "")
        column = "name"
        row.name = {
            "department": catalog.check_department_name,
            "service": catalog.check_service_name,
            "outlet": catalog.check_outlet_name,
        }[kind](cells["name"])
        column = "name_en"
        if "name_en" in cells:
            _only(kind, "department", cells["name_en"], "英文名称", "an English name")
            if kind == "department":
                row.name_en = catalog.check_english_name(cells["name_en"])
        column = "department"
        _only(kind, "service", cells.get("department", ""), "所属部门", "a department")
        if kind == "service":
            if not cells.get("department"):
                raise ValidationFailed(
                    "服务事项必须写所属部门的编码", "a service needs its department's code"
                )
            row.department = catalog.check_code(
                cells["department"], max_chars=catalog.DEPARTMENT_CODE_CHARS
            )
        column = "address"
        if "address" in cells:
            _only(kind, "outlet", cells["address"], "地址", "an address")
            if kind == "outlet":
                row.address = catalog.check_address(cells["address"])
        column = "active"
        if cells.get("active"):
            row.active = catalog.check_active(
                _BOOLEANS.get(cells["active"].lower(), cells["active"])
            )
    except MinyiError as error:
        errors.add(line, column, error.message_zh, error.message_en)
        return None
    return row


def _only(kind: str, owner: str, value: str, what_zh: str, what_en: str) -> None:
    if value and kind != owner:
        raise ValidationFailed(
            f"只有{KIND_ZH[owner]}有{what_zh}，{KIND_ZH[kind]}这一列请留空",
            f"only a {owner} has {what_en}: leave this column empty in a {kind} row",
        )


# --------------------------------------------------------------------------- applying


def _apply(session, row: _Row, stored, actor, at, report: CatalogReport, errors) -> None:
    """Create or update one row through the catalogue's services; a refusal names its column."""
    counts = report.counts[row.kind]
    column = "department" if row.kind == "service" else "name"
    try:
        existing = stored[row.kind].get(row.code)
        if row.kind == "service":
            department = stored["department"].get(row.department)
            if department is None:  # refused with the service layer's own message
                department = catalog.get_department(session, row.department)
            obj, outcome = _service(session, row, existing, department, actor, at)
        else:
            step = _department if row.kind == "department" else _outlet
            obj, outcome = step(session, row, existing, actor, at)
        stored[row.kind][row.code] = obj
        acted = outcome != "unchanged"
        if outcome == "created":
            counts.created += 1
        elif outcome == "updated":
            counts.updated += 1
        column = "active"
        if row.active is not None and row.active != obj.active:
            setter = {
                "department": catalog.set_department_active,
                "service": catalog.set_service_active,
                "outlet": catalog.set_outlet_active,
            }[row.kind]
            setter(session, obj, active=row.active, actor=actor, at=at)
            if row.active:
                counts.reactivated += 1
            else:
                counts.deactivated += 1
            acted = True
        if not acted:
            counts.unchanged += 1
    except MinyiError as error:
        errors.add(row.line, column, error.message_zh, error.message_en)


def _department(session, row: _Row, existing: Department | None, actor, at):
    if existing is None:
        name_en = None if row.name_en is _KEEP else row.name_en
        created = catalog.create_department(
            session, code=row.code, name=row.name, name_en=name_en, actor=actor, at=at
        )
        return created, "created"
    name_en = existing.name_en if row.name_en is _KEEP else row.name_en
    if (row.name, name_en) == (existing.name, existing.name_en):
        return existing, "unchanged"
    catalog.update_department(
        session, existing, name=row.name, name_en=name_en, actor=actor, at=at
    )
    return existing, "updated"


def _service(session, row: _Row, existing: Service | None, department: Department, actor, at):
    if existing is None:
        created = catalog.create_service(
            session, department=department, code=row.code, name=row.name, actor=actor, at=at
        )
        return created, "created"
    if (row.name, department.id) == (existing.name, existing.department_id):
        return existing, "unchanged"
    catalog.update_service(
        session, existing, name=row.name, department=department, actor=actor, at=at
    )
    return existing, "updated"


def _outlet(session, row: _Row, existing: Outlet | None, actor, at):
    if existing is None:
        address = None if row.address is _KEEP else row.address
        created = catalog.create_outlet(
            session, code=row.code, name=row.name, address=address, actor=actor, at=at
        )
        return created, "created"
    address = existing.address if row.address is _KEEP else row.address
    if (row.name, address) == (existing.name, existing.address):
        return existing, "unchanged"
    catalog.update_outlet(session, existing, name=row.name, address=address, actor=actor, at=at)
    return existing, "updated"
