"""Bulk import of a county's history from CSV: ratings and tickets, all or nothing.

Both importers read a CSV file with a header row (UTF-8, UTF-8 with BOM, or GBK/GB18030 as
saved by Excel on a Chinese Windows), validate every row, and write the whole file in one
transaction: a file with a bad row writes nothing and raises `ImportFailed`, whose `errors`
list gives the 1-based file line (the header is line 1), the column and a Chinese and an
English message for each problem (up to `MAX_ERRORS`). Blank lines are skipped. Column names
are matched case-insensitively; an unknown column is an error (it is usually a typo).

Times are ISO 8601 (`2025-03-01T09:30:00`, `2025-03-01T09:30:00+08:00`, `...Z`) or
`YYYY-MM-DD HH:MM[:SS]` (`/` also accepted as date separator; a bare date means midnight);
a time without an offset is local time of `calendar.timezone`. Dates are `YYYY-MM-DD`.

Ratings CSV (`minyi import ratings FILE.csv`):

| column | required | meaning |
| --- | --- | --- |
| `created_at` | yes | when the rating was given; not more than a day in the future |
| `service_code` | yes | code of an existing service; the rating's department is the service's |
| `score` | yes | whole number 1-5 (5 非常满意 … 1 非常不满意) |
| `comment` | no | at most `ratings.max_comment_chars` characters |
| `channel` | no | telegram, web, survey, import or phone; default `import` |
| `outlet_code` | no | code of an existing outlet (service hall) |
| `citizen_ref` | no | the citizen's id in the old system (created with channel `import`) |
| `source_ref` | no | the row's id in the old system: unique per channel (file and database) |
| `follow_up_completed_at` | no | for a 差评 only: when its follow-up was completed |

A score <= `ratings.bad_review_max_score` (差评) opens a follow-up whose deadline is
`ratings.follow_up_working_days` working days after the local date of `created_at`; it is
`completed` when `follow_up_completed_at` is given, else `open`.

Tickets CSV (`minyi import tickets FILE.csv`):

| column | required | meaning |
| --- | --- | --- |
| `received_at` | yes | when the complaint was received |
| `text` | yes | the complaint, at most `tickets.max_text_chars` characters |
| `number` | no | public number, unique; default `MY-YYYYMMDD-NNNN` from the day's counter |
| `department_code` | no | handling department; absent: the ticket waits in triage (`received`) |
| `status` | no | received, assigned, in_progress, replied, closed; default from the times given |
| `first_response_at` | no | first response (acceptance); default `replied_at` |
| `replied_at` | no | the department's reply; needed for `replied` |
| `closed_at` | no | closure; needed for, and only allowed with, `closed` |
| `due_date` | no | due date; default `tickets.sla_working_days` working days after receipt |
| `resolved` | no | citizen's "resolved?": true/false (是/否, 1/0, yes/no); closed tickets |
| `satisfaction` | no | the citizen's satisfaction 1-5; closed tickets only |
| `reply_text` | no | the reply sent to the citizen; needs `replied_at` |
| `channel` | no | as for ratings; default `import` |
| `citizen_ref` | no | as for ratings |
| `source_ref` | no | as for ratings, unique per channel among tickets |

Times must be ordered: received <= first response <= reply <= closure. Each imported ticket
gets one event of kind `imported`; numbers given in the file move the day's counter on, so
numbers handed out later never repeat them.
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from minyi.config import Settings
from minyi.errors import ValidationFailed
from minyi.models import (
    BadReviewFollowUp,
    Channel,
    Citizen,
    Department,
    FollowUpStatus,
    Outlet,
    Rating,
    Service,
    Ticket,
    TicketClosure,
    TicketEvent,
    TicketNumberCounter,
    TicketStatus,
)
from minyi.services.validation import CONTROL_CHARS
from minyi.workdays import WorkCalendar

log = logging.getLogger(__name__)

MAX_ERRORS = 20
CHUNK_ROWS = 20_000
# From this many rows on, a first import drops and rebuilds the ratings indexes.
REBUILD_MIN_ROWS = 50_000
# Keeps IN (...) lists well under SQLite's and PostgreSQL's bound-parameter limits.
_IN_BATCH = 5_000
_SLOW_DATETIME = re.compile(
    r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
    r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?"
)

RATING_COLUMNS = (
    "created_at",
    "service_code",
    "score",
    "comment",
    "channel",
    "outlet_code",
    "citizen_ref",
    "source_ref",
    "follow_up_completed_at",
)
RATING_REQUIRED = ("created_at", "service_code", "score")
TICKET_COLUMNS = (
    "number",
    "received_at",
    "text",
    "department_code",
    "status",
    "first_response_at",
    "replied_at",
    "closed_at",
    "due_date",
    "resolved",
    "satisfaction",
    "reply_text",
    "channel",
    "citizen_ref",
    "source_ref",
)
TICKET_REQUIRED = ("received_at", "text")

ProgressCallback = Callable[[int, int], Any]


class RowError(NamedTuple):
    """One problem of an import file: 1-based line (header = 1), column (or None), messages."""

    line: int
    column: str | None
    message_zh: str
    message_en: str

    def __str__(self) -> str:
        where = f"第 {self.line} 行" + (f" {self.column} 列" if self.column else "")
        return (
            f"{where}：{self.message_zh} (line {self.line}"
            + (f", column {self.column}" if self.column else "")
            + f": {self.message_en})"
        )


class ImportFailed(ValidationFailed):
    """The file was refused; `errors` lists its problems and nothing of it was written."""

    code = "import_failed"

    def __init__(self, path: str | Path, errors: list[RowError], truncated: bool = False):
        self.path = str(path)
        self.errors = sorted(errors, key=lambda e: e.line)
        self.truncated = truncated
        more_zh = f"；列出 {MAX_ERRORS} 处后停止检查" if truncated else ""
        more_en = f"; checking stopped after {MAX_ERRORS} errors" if truncated else ""
        listed_zh = "；".join(
            f"第 {e.line} 行" + (f" {e.column} 列" if e.column else "") + f"：{e.message_zh}"
            for e in self.errors
        )
        listed_en = "; ".join(
            f"line {e.line}" + (f" column {e.column}" if e.column else "") + f": {e.message_en}"
            for e in self.errors
        )
        super().__init__(
            f"导入失败，未写入任何数据（{len(self.errors)} 处错误）：{listed_zh}{more_zh}",
            f"import refused, nothing written ({len(self.errors)} errors): {listed_en}{more_en}",
            path=self.path,
        )


@dataclass
class ImportReport:
    """What an import wrote."""

    kind: str  # ratings | tickets
    path: str
    encoding: str
    rows: int = 0
    follow_ups: int = 0
    citizens_created: int = 0
    events: int = 0
    blank_lines: int = 0
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        what_zh = "条评价" if self.kind == "ratings" else "张工单"
        extra_zh = f"，差评跟进 {self.follow_ups} 条" if self.kind == "ratings" else ""
        extra_en = f", {self.follow_ups} follow-ups" if self.kind == "ratings" else ""
        return (
            f"已导入 {self.rows} {what_zh}{extra_zh}，新建群众 {self.citizens_created} 人，"
            f"用时 {self.seconds:.1f} 秒 / imported {self.rows} {self.kind}{extra_en}, "
            f"{self.citizens_created} new citizens in {self.seconds:.1f} s "
            f"({self.rows_per_second:,.0f} rows/s, {self.encoding})"
        )


class _Bad(Exception):
    """A value refused while checking one cell."""

    def __init__(self, message_zh: str, message_en: str):
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en


# --------------------------------------------------------------------------- progress


class TqdmProgress:
    """A progress callback drawing a tqdm bar, created when the total is known.

    Pass an instance as `progress=`; the importer closes it when it finishes or fails.
    """

    def __init__(self, desc: str = "导入", **tqdm_kwargs: Any):
        self.desc = desc
        self.kwargs = {"unit": "行", "unit_scale": True, "dynamic_ncols": True} | tqdm_kwargs
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.desc, **self.kwargs)
        if total != self.bar.total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def tqdm_progress(desc: str = "导入", **tqdm_kwargs: Any) -> TqdmProgress:
    """A `progress=` value showing a tqdm bar (for the CLI when stdout is a terminal)."""
    return TqdmProgress(desc, **tqdm_kwargs)


terminal_progress = tqdm_progress


class _Progress:
    """Adapts None, a callable(done, total) or a tqdm bar; reports at most once per chunk."""

    def __init__(self, target: Any, total: int):
        self.total = total
        self.target = target
        self.done = 0
        if target is None:
            self.call = None
        elif hasattr(target, "update") and hasattr(target, "n") and not callable(target):
            self.call = self._tqdm
        else:
            self.call = target

    def _tqdm(self, done: int, total: int) -> None:
        if self.target.total != total:
            self.target.total = total
        self.target.update(done - self.target.n)

    def __call__(self, done: int) -> None:
        self.done = done
        if self.call is not None:
            self.call(min(done, self.total), self.total)

    def finish(self) -> None:
        if self.call is not None:
            self.call(self.total, self.total)

    def close(self) -> None:
        if isinstance(self.target, TqdmProgress):
            self.target.close()


# --------------------------------------------------------------------------- reading


def _sniff_file(path: Path) -> tuple[str, int]:
    """The file's encoding (utf-8-sig or gb18030) and its number of lines, in one pass each."""
    for encoding in ("utf-8", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        lines = 0
        last = b""
        try:
            with path.open("rb") as fh:
                while block := fh.read(1 << 20):
                    decoder.decode(block)
                    lines += block.count(b"\n")
                    last = block
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        if last and not last.endswith(b"\n"):
            lines += 1
        return ("utf-8-sig" if encoding == "utf-8" else encoding), lines
    raise ImportFailed(
        path,
        [
            RowError(
                1,
                None,
                "无法识别文件编码，请另存为 UTF-8 或 GBK 编码的 CSV",
                "cannot decode the file: save it as a UTF-8 or GBK CSV",
            )
        ],
    )


class _Csv:
    """Records of a CSV file with the line each starts on; blank records skipped."""

    def __init__(self, path: Path, encoding: str):
        self.path = path
        self.fh = path.open("r", encoding=encoding, newline="")
        # Strict: an unbalanced quote is an error instead of a field that swallows the rest
        # of the file.
        self.reader = csv.reader(self.fh, strict=True)
        self.blank_lines = 0
        self.record_start = 1  # where the record being read began, for CSV errors

    def close(self) -> None:
        self.fh.close()

    def header(self) -> list[str] | None:
        for _line, record in self:
            return [name.strip().lower() for name in record]
        return None

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        reader = self.reader
        start = self.record_start = reader.line_num + 1
        for record in reader:
            if not record or not any(record):
                self.blank_lines += reader.line_num - start + 1
            else:
                yield start, record
            start = self.record_start = reader.line_num + 1

    @property
    def line(self) -> int:
        return self.reader.line_num


def _check_header(
    header: list[str] | None, known: tuple[str, ...], required: tuple[str, ...], errors: _Errors
) -> dict[str, int]:
    if header is None:
        errors.add(1, None, "文件是空的，没有表头", "the file is empty: no header row")
        return {}
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        if name not in known:
            errors.add(
                1,
                name or f"#{index + 1}",
                f"未知的列名 {name!r}，可用的列：{', '.join(known)}",
                f"unknown column {name!r}; known columns: {', '.join(known)}",
            )
        elif name in positions:
            errors.add(1, name, f"列 {name} 重复出现", f"column {name} appears twice")
        else:
            positions[name] = index
    for name in required:
        if name not in positions:
            errors.add(1, name, f"缺少必填列 {name}", f"required column {name} is missing")
    return positions


class _Errors:
    def __init__(self, path: Path):
        self.path = path
        self.items: list[RowError] = []
        self.truncated = False

    def add(self, line: int, column: str | None, zh: str, en: str) -> None:
        if len(self.items) < MAX_ERRORS:
            self.items.append(RowError(line, column, zh, en))
        # Reading stops at the limit, so the rest of the file is unchecked.
        self.truncated = len(self.items) >= MAX_ERRORS

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_ERRORS

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ImportFailed(self.path, self.items, self.truncated)


# --------------------------------------------------------------------------- values


class _Times:
    """Parses CSV times into (naive local, naive UTC) datetimes, fast for the common forms."""

    def __init__(self, tz: ZoneInfo):
        self.tz = tz
        self.future = datetime.now(tz).replace(tzinfo=None) + timedelta(days=1)
        # Local date -> UTC offset, for days without a DST change (every day, in China).
        self.offsets: dict[date, timedelta] = {}

    def parse(self, raw: str) -> tuple[datetime, datetime]:
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            value = self._slow(raw)
        if value.tzinfo is None:
            offset = self.offsets.get(value.date())
            if offset is None:
                offset = self._offset(value)
            local, utc = value, value - offset
        else:
            utc = value.astimezone(UTC).replace(tzinfo=None)
            local = value.astimezone(self.tz).replace(tzinfo=None)
        if local > self.future:
            raise _Bad(f"时间 {raw.strip()} 在未来", f"time {raw.strip()} is in the future")
        return local, utc

    def _offset(self, local: datetime) -> timedelta:
        day = local.date()
        first = datetime.combine(day, dtime.min, self.tz).utcoffset()
        last = datetime.combine(day, dtime.max, self.tz).utcoffset()
        if first == last:
            self.offsets[day] = first
            return first
        return local.replace(tzinfo=self.tz).utcoffset()

    def _slow(self, raw: str) -> datetime:
        stripped = raw.strip()
        if not stripped:
            raise _Bad("时间不能为空", "time must not be empty")
        try:
            return datetime.fromisoformat(stripped)
        except ValueError:
            pass
        match = _SLOW_DATETIME.fullmatch(stripped)
        if match:
            parts = [int(p) if p else 0 for p in match.groups()]
            parts[6] = int((match.group(7) or "0").ljust(6, "0"))
            try:
                return datetime(*parts)
            except ValueError:
                pass
        shown = stripped if len(stripped) <= 40 else stripped[:40] + "…"
        raise _Bad(
            f"无法识别的时间 {shown!r}，应为 YYYY-MM-DD HH:MM[:SS] 或 ISO 8601",
            f"unreadable time {shown!r}: use YYYY-MM-DD HH:MM[:SS] or ISO 8601",
        )


def _parse_date(raw: str) -> date:
    stripped = raw.strip()
    try:
        return date.fromisoformat(stripped)
    except ValueError:
        pass
    match = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", stripped)
    if match:
        try:
            return date(*(int(p) for p in match.groups()))
        except ValueError:
            pass
    shown = stripped if len(stripped) <= 40 else stripped[:40] + "…"
    raise _Bad(
        f"无法识别的日期 {shown!r}，应为 YYYY-MM-DD", f"unreadable date {shown!r}: use YYYY-MM-DD"
    )


_SCORES = {str(n): n for n in range(1, 6)}
_CHANNELS = {c.value: c.value for c in Channel}
_STATUSES = {s.value: s.value for s in TicketStatus}
_BOOLEANS = {
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "yes": True,
    "no": False,
    "y": True,
    "n": False,
    "t": True,
    "f": False,
    "是": True,
    "否": False,
}


def _score(raw: str, name_zh: str = "评分", name_en: str = "score") -> int:
    value = _SCORES.get(raw)
    if value is None:
        value = _SCORES.get(raw.strip())
        if value is None:
            raise _Bad(
                f"{name_zh}必须是 1 到 5 之间的整数，而不是 {raw.strip()[:20]!r}",
                f"{name_en} must be a whole number from 1 to 5, not {raw.strip()[:20]!r}",
            )
    return value


def _already_clean(value: str, max_chars: int) -> bool:
    """A non-empty cell that needs no trimming or checking: the bulk import's fast path."""
    return len(value) <= max_chars and value.isprintable() and value[0] != " " and value[-1] != " "


def _text(raw: str, max_chars: int, name_zh: str, name_en: str) -> str | None:
    value = raw.strip()
    if CONTROL_CHARS.search(value):
        value = CONTROL_CHARS.sub("", value).strip()
    if not value:
        return None
    if len(value) > max_chars:
        raise _Bad(
            f"{name_zh}太长（{len(value)} 字），最多 {max_chars} 字",
            f"{name_en} is too long ({len(value)} characters, at most {max_chars})",
        )
    return value


def _ref(raw: str, max_chars: int, name_zh: str, name_en: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if len(value) > max_chars or CONTROL_CHARS.search(value):
        raise _Bad(
            f"{name_zh}无效（最多 {max_chars} 个字符，不能含控制字符）",
            f"invalid {name_en} (at most {max_chars} characters, no control characters)",
        )
    return value


def _channel(raw: str) -> str:
    value = _CHANNELS.get(raw.strip().lower())
    if value is None:
        raise _Bad(
            f"未知渠道 {raw.strip()[:20]!r}，可用：{', '.join(_CHANNELS)}",
            f"unknown channel {raw.strip()[:20]!r}; one of {', '.join(_CHANNELS)}",
        )
    return value


# --------------------------------------------------------------------------- database


@contextmanager
def _transaction(target: Engine | Connection | Session) -> Iterator[Connection]:
    """One transaction (or a savepoint inside the caller's) that commits only on success."""
    if isinstance(target, Engine):
        with target.connect() as conn:
            unchecked = conn.dialect.name == "sqlite"
            if unchecked:
                # Every reference is checked against the catalogue read under the write
                # lock, so SQLite's own per-row probes only cost time (a quarter of the
                # insert). The pragma works outside a transaction only, hence on the raw
                # connection; it is back on before the connection returns to the pool.
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
            try:
                with conn.begin():
                    yield conn
            finally:
                if unchecked:
                    conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
        return
    conn = target.connection() if isinstance(target, Session) else target
    if conn.in_transaction():
        with conn.begin_nested():
            yield conn
    else:
        with conn.begin():
            yield conn


class _Writer:
    """Bulk writes below the ORM: values are given in the driver's own form.

    Skipping SQLAlchemy's per-value processing is what makes a million rows fit in seconds:
    times go in as naive UTC (as UTCDateTime stores them), in SQLite's text form on SQLite.
    PostgreSQL gets COPY, SQLite one prepared INSERT run with executemany.
    """

    def __init__(self, conn: Connection):
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"
        if conn.dialect.name not in ("sqlite", "postgresql"):
            raise ValidationFailed(
                "导入只支持 SQLite 和 PostgreSQL", "import supports SQLite and PostgreSQL only"
            )
        if not self.postgres:
            # Take SQLite's write lock now, so the ids read below stay ours until commit.
            conn.execute(Rating.__table__.delete().where(text("0 = 1")))

    def time(self, utc: datetime | None):
        if utc is None or self.postgres:
            return utc
        return utc.isoformat(" ", "microseconds")

    def date(self, day: date):
        return day if self.postgres else day.isoformat()

    def flag(self, value: bool | None):
        return value if self.postgres or value is None else int(value)

    def next_ids(self, table):
        """A function n -> n fresh primary keys of `table`."""
        if self.postgres:
            sequence = self.conn.scalar(
                text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}
            )

            def take(n: int) -> list[int]:
                return (
                    self.conn.scalars(
                        text("SELECT nextval(:s) FROM generate_series(1, :n)"),
                        {"s": sequence, "n": n},
                    ).all()
                    if n
                    else []
                )

            return take
        state = {"next": (self.conn.scalar(select(func.max(table.c.id))) or 0) + 1}

        def take_sqlite(n: int) -> range:
            start = state["next"]
            state["next"] = start + n
            return range(start, start + n)

        return take_sqlite

    def insert(self, table, columns: tuple[str, ...], rows: list) -> None:
        if not rows:
            return
        names = ", ".join(columns)
        if self.postgres:
            with (
                self.conn.connection.driver_connection.cursor() as cursor,
                cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" * len(columns))
        cursor = self.conn.connection.driver_connection.cursor()
        try:
            cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)
        finally:
            cursor.close()

    def drop_indexes(self, table, expected_rows: int) -> list[str]:
        """Drop `table`'s secondary indexes (and on PostgreSQL its foreign keys) when
        rebuilding them beats updating them row by row; returns the statements that restore them.

        Only when the file is at least as large as the table (a county's first import). The
        drop is part of the transaction: a failed import rolls it back with the rows. On
        PostgreSQL it locks the table until the import commits.
        """
        if expected_rows < REBUILD_MIN_ROWS:
            return []
        existing = self.conn.scalar(select(func.count()).select_from(table))
        if expected_rows < existing:
            return []
        if self.postgres:
            found = self.conn.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes "
                    "WHERE schemaname = current_schema() AND tablename = :t AND indexname NOT IN "
                    "(SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass))"
                ),
                {"t": table.name},
            ).all()
            # Foreign keys too: PostgreSQL checks them with a trigger per row, but re-adding
            # one checks the whole table in a single join.
            keys = self.conn.execute(
                text(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = CAST(:t AS regclass) AND contype = 'f'"
                ),
                {"t": table.name},
            ).all()
            self.conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        else:
            found = self.conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND sql IS NOT NULL",
                (table.name,),
            ).all()
            keys = []  # SQLite's checks are cheap index probes; it cannot drop them anyway
        for name, _definition in keys:
            self.conn.exec_driver_sql(f'ALTER TABLE {table.name} DROP CONSTRAINT "{name}"')
        for name, _sql in found:
            self.conn.exec_driver_sql(f'DROP INDEX "{name}"')
        return [sql for _name, sql in found] + [
            f'ALTER TABLE {table.name} ADD CONSTRAINT "{name}" {definition}'
            for name, definition in keys
        ]

    def create_indexes(self, statements: list[str]) -> None:
        for sql in statements:
            self.conn.exec_driver_sql(sql)


def _chunks(items: list, size: int = _IN_BATCH) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Citizens:
    """citizen_ref -> citizen id among citizens of channel 'import', created as needed."""

    def __init__(self, writer: _Writer):
        self.writer = writer
        self.table = Citizen.__table__
        t = self.table
        self.ids: dict[str, int] = dict(
            writer.conn.execute(
                select(t.c.external_id, t.c.id).where(t.c.channel == Channel.IMPORT.value)
            ).all()
        )
        self.take_ids = writer.next_ids(t)
        self.created = 0

    def resolve(self, refs: set[str]) -> dict[str, int]:
        fresh = [ref for ref in refs if ref not in self.ids]
        if fresh:
            now = self.writer.time(datetime.now(UTC).replace(tzinfo=None))
            rows = []
            for ref, citizen_id in zip(fresh, self.take_ids(len(fresh)), strict=True):
                self.ids[ref] = citizen_id
                rows.append(
                    (citizen_id, Channel.IMPORT.value, ref, "zh", self.writer.flag(False), now)
                )
            self.writer.insert(
                self.table,
                ("id", "channel", "external_id", "language", "subscribed", "created_at"),
                rows,
            )
            self.created += len(fresh)
        return self.ids


def _stored_refs(conn: Connection, table, refs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Those (channel, source_ref) pairs of `refs` already stored in `table`."""
    found: set[tuple[str, str]] = set()
    wanted = set(refs)
    for batch in _chunks(sorted({ref for _channel, ref in refs})):
        for channel, ref in conn.execute(
            select(table.c.channel, table.c.source_ref).where(table.c.source_ref.in_(batch))
        ):
            if (str(channel), ref) in wanted:
                found.add((str(channel), ref))
    return found


def _has_source_refs(conn: Connection, table) -> bool:
    return (
        conn.scalar(select(table.c.id).where(table.c.source_ref.is_not(None)).limit(1)) is not None
    )


@dataclass
class _Chunk:
    """Validated rows on their way from the parsing thread to the writing one."""

    rows: list = field(default_factory=list)
    follow_ups: list = field(default_factory=list)  # (index in rows, deadline, completed_at)
    refs: list = field(default_factory=list)  # (line, (channel, source_ref)) to check
    citizens: set = field(default_factory=set)
    line_end: int = 0


class _Stopped(Exception):
    """The writing side failed; the parsing thread gives up."""


def _pipeline(job, path: Path, encoding: str, report: ImportReport) -> None:
    """Parse in a thread while the calling thread writes, then raise what went wrong.

    SQLite and psycopg release the GIL while they work, so parsing the next chunk overlaps
    writing the last one. The connection is only ever used by the calling thread.
    """
    chunks: queue.Queue = queue.Queue(maxsize=3)
    stop = threading.Event()
    failure: list[BaseException] = []
    source = _Csv(path, encoding)

    def emit(chunk: _Chunk | None, force: bool = False) -> None:
        while force or not stop.is_set():
            try:
                chunks.put(chunk, timeout=0.05)
                return
            except queue.Full:
                if force and stop.is_set():
                    return
        raise _Stopped

    def parse() -> None:
        try:
            job.read(source, emit)
        except csv.Error as exc:
            job.errors.add(
                source.record_start,
                None,
                f"CSV 格式错误（从本行开始的记录）：{exc}；引号不配对或字段过长？",
                f"malformed CSV in the record starting here: {exc} "
                "(unbalanced quotes or a field too large?)",
            )
        except _Stopped:
            pass
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            failure.append(exc)
        finally:
            emit(None, force=True)

    thread = threading.Thread(target=parse, name="minyi-import-parser", daemon=True)
    thread.start()
    try:
        while (chunk := chunks.get()) is not None:
            job.write(chunk)
    finally:
        stop.set()
        thread.join()
        report.blank_lines = source.blank_lines
        source.close()
    if failure:
        raise failure[0]
    job.errors.raise_if_any()


def _import(
    kind: str,
    job_class,
    engine_or_connection,
    settings: Settings,
    path: str | Path,
    progress: Any,
    chunk_rows: int,
) -> ImportReport:
    path = Path(path)
    started = time.perf_counter()
    if not path.is_file():
        raise ImportFailed(path, [RowError(0, None, f"找不到文件 {path}", f"no such file {path}")])
    encoding, total_lines = _sniff_file(path)
    report = ImportReport(kind, str(path), encoding)
    meter = _Progress(progress, max(total_lines - 1, 0))
    try:
        with _transaction(engine_or_connection) as conn:
            job = job_class(conn, settings, path, report, meter, total_lines)
            job.chunk_rows = chunk_rows
            _pipeline(job, path, encoding, report)
            job.finish()
        meter.finish()
    finally:
        meter.close()
    report.seconds = time.perf_counter() - started
    log.info("imported %d %s from %s in %.1f s", report.rows, kind, path, report.seconds)
    return report


# --------------------------------------------------------------------------- ratings


def import_ratings(
    engine_or_connection: Engine | Connection | Session,
    settings: Settings,
    path: str | Path,
    *,
    progress: ProgressCallback | Any = None,
    chunk_rows: int = CHUNK_ROWS,
) -> ImportReport:
    """Import a ratings CSV (columns in this module's docstring), all rows or none.

    `engine_or_connection` may be an Engine (the import commits), or a Connection or Session
    (the import runs in a savepoint of the caller's transaction, which the caller commits).
    `progress` is None, a callable(done_rows, total_rows), a tqdm bar or `tqdm_progress()`.
    Raises ImportFailed, with nothing written, when any row is invalid.
    """
    return _import(
        "ratings", _RatingsImport, engine_or_connection, settings, path, progress, chunk_rows
    )


_COMPLETED, _OPEN = FollowUpStatus.COMPLETED.value, FollowUpStatus.OPEN.value
RATING_INSERT = (
    "id",
    "service_id",
    "department_id",
    "outlet_id",
    "citizen_id",
    "score",
    "comment",
    "channel",
    "source_ref",
    "created_at",
    "excluded",
)
FOLLOW_UP_INSERT = (
    "rating_id",
    "department_id",
    "status",
    "deadline",
    "completed_at",
    "created_at",
)


class _ImportJob:
    """What both imports share: the connection, settings, clocks and the error list."""

    chunk_rows = CHUNK_ROWS

    def __init__(
        self,
        conn: Connection,
        settings: Settings,
        path: Path,
        report: ImportReport,
        meter: _Progress,
        total_lines: int,
    ):
        self.conn = conn
        self.settings = settings
        self.path = path
        self.report = report
        self.meter = meter
        self.total_lines = total_lines
        self.errors = _Errors(path)
        self.writer = _Writer(conn)
        self.calendar = WorkCalendar.from_settings(settings)
        self.times = _Times(ZoneInfo(settings.calendar.timezone))


class _RatingsImport(_ImportJob):
    def __init__(
        self,
        conn: Connection,
        settings: Settings,
        path: Path,
        report: ImportReport,
        meter: _Progress,
        total_lines: int,
    ):
        super().__init__(conn, settings, path, report, meter, total_lines)
        self.deadlines: dict[date, Any] = {}
        services = Service.__table__
        self.services = {
            code: (sid, dep)
            for code, sid, dep in conn.execute(
                select(services.c.code, services.c.id, services.c.department_id)
            )
        }
        outlets = Outlet.__table__
        self.outlets = dict(conn.execute(select(outlets.c.code, outlets.c.id)).all())
        self.table = Rating.__table__
        self.check_stored_refs = _has_source_refs(conn, self.table)
        self.seen_refs: dict[str, set[str]] = {c: set() for c in _CHANNELS}
        self.dropped_indexes: list[str] = []
        self.citizens: _Citizens | None = None
        self.take_ids = None

    def deadline(self, day: date):
        value = self.deadlines.get(day)
        if value is None:
            value = self.deadlines[day] = self.writer.date(
                self.calendar.add_working_days(day, self.settings.ratings.follow_up_working_days)
            )
        return value

    def read(self, source: _Csv, emit: Callable[[_Chunk], None]) -> None:
        errors = self.errors
        columns = _check_header(source.header(), RATING_COLUMNS, RATING_REQUIRED, errors)
        if errors:
            return
        # The loop below runs a million times: lookups are hoisted and the common case of
        # each cell takes an inline fast path, falling back to the full check on a miss.
        width = len(columns)
        max_comment = self.settings.ratings.max_comment_chars
        bad_max = self.settings.ratings.bad_review_max_score
        services = self.services
        outlets = self.outlets
        times = self.times
        parse_time = times.parse
        offsets = times.offsets
        future = times.future
        fromisoformat = datetime.fromisoformat
        as_db_time = self.writer.time
        sqlite_text = not self.writer.postgres
        excluded = self.writer.flag(False)
        seen_refs = self.seen_refs
        check_stored_refs = self.check_stored_refs
        chunk = _Chunk()
        pending, pending_follow = chunk.rows, chunk.follow_ups
        pending_refs, pending_citizens = chunk.refs, chunk.citizens
        deadline = self.deadline
        scores = _SCORES
        channels = _CHANNELS
        i_created, i_service, i_score = (columns[c] for c in RATING_REQUIRED)
        i_comment, i_channel, i_outlet, i_citizen, i_ref, i_done = (
            columns.get(c) for c in RATING_COLUMNS[3:]
        )
        chunk_rows = self.chunk_rows
        reader = source.reader
        column = ""
        line_end = reader.line_num
        try:
            for row in reader:
                line = line_end + 1
                line_end = reader.line_num
                if len(row) != width:
                    if not row or not any(row):
                        source.blank_lines += line_end - line + 1
                        continue
                    errors.add(
                        line,
                        None,
                        f"应有 {width} 列，实有 {len(row)} 列",
                        f"expected {width} fields, found {len(row)}",
                    )
                    if errors.full:
                        return
                    continue
                try:
                    column = "created_at"
                    raw = row[i_created]
                    try:
                        local = fromisoformat(raw)
                        offset = offsets.get(local.date()) if local.tzinfo is None else None
                    except ValueError:
                        offset = None
                    if offset is not None:
                        utc = local - offset
                        if local > future:
                            parse_time(raw)  # raises the "in the future" error
                    else:
                        if not any(row):
                            source.blank_lines += line_end - line + 1
                            continue
                        local, utc = parse_time(raw)
                    column = "service_code"
                    service = services.get(row[i_service])
                    if service is None:
                        service = self._service(row[i_service])
                    column = "score"
                    score = scores.get(row[i_score]) or _score(row[i_score])
                    channel = "import"
                    comment = outlet = citizen = ref = None
                    if i_comment is not None and row[i_comment]:
                        column = "comment"
                        comment = row[i_comment]
                        if not _already_clean(comment, max_comment):
                            comment = _text(comment, max_comment, "评价内容", "comment")
                    if i_channel is not None and row[i_channel]:
                        column = "channel"
                        channel = channels.get(row[i_channel]) or _channel(row[i_channel])
                    if i_outlet is not None and row[i_outlet]:
                        column = "outlet_code"
                        outlet = outlets.get(row[i_outlet]) or self._outlet(row[i_outlet])
                    if i_citizen is not None and row[i_citizen]:
                        column = "citizen_ref"
                        citizen = row[i_citizen]
                        if not _already_clean(citizen, 128):
                            citizen = _ref(citizen, 128, "群众标识", "citizen_ref")
                        if citizen is not None:
                            pending_citizens.add(citizen)
                    if i_ref is not None and row[i_ref]:
                        column = "source_ref"
                        ref = row[i_ref]
                        if not _already_clean(ref, 80):
                            ref = _ref(ref, 80, "来源编号", "source_ref")
                        if ref is not None:
                            seen = seen_refs[channel]
                            if ref in seen:
                                raise _Bad(
                                    f"来源编号 {ref!r}（渠道 {channel}）在文件中重复",
                                    f"source_ref {ref!r} of channel {channel} repeats",
                                )
                            seen.add(ref)
                            if check_stored_refs:
                                pending_refs.append((line, (channel, ref)))
                    if score <= bad_max:
                        done = None
                        if i_done is not None and row[i_done].strip():
                            column = "follow_up_completed_at"
                            _, done_utc = parse_time(row[i_done])
                            if done_utc < utc:
                                raise _Bad(
                                    "整改完成时间早于评价时间",
                                    "the follow-up was completed before the rating",
                                )
                            done = as_db_time(done_utc)
                        pending_follow.append((len(pending), deadline(local.date()), done))
                    elif i_done is not None and row[i_done].strip():
                        column = "follow_up_completed_at"
                        raise _Bad(
                            f"只有差评（评分 <= {bad_max}）才有整改完成时间",
                            f"only a bad review (score <= {bad_max}) has a follow-up",
                        )
                except _Bad as bad:
                    errors.add(line, column, bad.message_zh, bad.message_en)
                    if errors.full:
                        return
                    continue
                pending.append(
                    [
                        None,
                        service[0],
                        service[1],
                        outlet,
                        citizen,
                        score,
                        comment,
                        channel,
                        ref,
                        utc.isoformat(" ", "microseconds") if sqlite_text else utc,
                        excluded,
                    ]
                )
                if len(pending) >= chunk_rows:
                    chunk.line_end = line_end
                    emit(chunk)
                    chunk = _Chunk()
                    pending, pending_follow = chunk.rows, chunk.follow_ups
                    pending_refs, pending_citizens = chunk.refs, chunk.citizens
        except csv.Error:
            source.record_start = line_end + 1
            raise
        chunk.line_end = line_end
        emit(chunk)

    def _service(self, raw: str) -> tuple[int, int]:
        code = raw.strip()
        service = self.services.get(code)
        if service is None:
            if not code:
                raise _Bad("服务事项编码不能为空", "service_code must not be empty")
            raise _Bad(f"未知的服务事项编码 {code[:40]!r}", f"unknown service code {code[:40]!r}")
        return service

    def _outlet(self, raw: str) -> int | None:
        code = raw.strip()
        if not code:
            return None
        outlet = self.outlets.get(code)
        if outlet is None:
            raise _Bad(f"未知的服务网点编码 {code[:40]!r}", f"unknown outlet code {code[:40]!r}")
        return outlet

    def write(self, chunk: _Chunk) -> None:
        """Check a chunk against the database and, while the file is clean, store it."""
        errors = self.errors
        if chunk.refs:
            stored = _stored_refs(self.conn, self.table, [key for _line, key in chunk.refs])
            for ref_line, key in chunk.refs:
                if key in stored:
                    errors.add(
                        ref_line,
                        "source_ref",
                        f"来源编号 {key[1]!r}（渠道 {key[0]}）已导入过",
                        f"source_ref {key[1]!r} of channel {key[0]} is already stored",
                    )
        if not errors and chunk.rows:
            self._store(chunk)
        self.meter(chunk.line_end - 1)

    def _store(self, chunk: _Chunk) -> None:
        writer = self.writer
        pending = chunk.rows
        if self.take_ids is None:
            # First write: the row ids, and whether rebuilding the indexes pays off.
            self.take_ids = writer.next_ids(self.table)
            self.dropped_indexes = writer.drop_indexes(self.table, self.total_lines - 1)
            self.citizens = _Citizens(writer)
        if chunk.citizens:
            citizen_ids = self.citizens.resolve(chunk.citizens)
            for record in pending:
                if record[4] is not None:
                    record[4] = citizen_ids[record[4]]
        for record, rating_id in zip(pending, self.take_ids(len(pending)), strict=True):
            record[0] = rating_id
        writer.insert(self.table, RATING_INSERT, pending)
        follow_ups = []
        for index, deadline, done in chunk.follow_ups:
            record = pending[index]
            follow_ups.append(
                (record[0], record[2], _COMPLETED if done else _OPEN, deadline, done, record[9])
            )
        writer.insert(BadReviewFollowUp.__table__, FOLLOW_UP_INSERT, follow_ups)
        self.report.rows += len(pending)
        self.report.follow_ups += len(follow_ups)

    def finish(self) -> None:
        self.writer.create_indexes(self.dropped_indexes)
        if self.citizens is not None:
            self.report.citizens_created = self.citizens.created


# --------------------------------------------------------------------------- tickets


def import_tickets(
    engine_or_connection: Engine | Connection | Session,
    settings: Settings,
    path: str | Path,
    *,
    progress: ProgressCallback | Any = None,
    chunk_rows: int = CHUNK_ROWS,
) -> ImportReport:
    """Import a tickets CSV (columns in this module's docstring), all rows or none.

    Takes the same arguments as `import_ratings`; each ticket gets an `imported` event.
    """
    return _import(
        "tickets", _TicketsImport, engine_or_connection, settings, path, progress, chunk_rows
    )


TICKET_INSERT = (
    "id",
    "number",
    "citizen_id",
    "channel",
    "source_ref",
    "text",
    "status",
    "department_id",
    "needs_triage",
    "received_at",
    "response_due_date",
    "first_response_at",
    "due_date",
    "original_due_date",
    "first_replied_at",
    "last_replied_at",
    "reply_text",
    "first_closed_at",
    "last_closed_at",
    "reopen_count",
    "bounce_count",
    "escalated",
    "escalation_count",
    "updated_at",
)
CLOSURE_INSERT = (
    "ticket_id",
    "round",
    "department_id",
    "due_date",
    "closed_at",
    "closed_by",
    "resolved",
    "satisfaction",
    "verdict_at",
    "verdict_by",
)
EVENT_INSERT = ("ticket_id", "kind", "from_status", "to_status", "actor", "detail", "created_at")
_S = TicketStatus
# The time each status needs, in the order a ticket moves through them.
_STATUS_ORDER = {s.value: n for n, s in enumerate(_S)}


@dataclass
class _TicketRow:
    line: int
    number: str | None
    received_local: datetime
    received: datetime
    text: str
    department_id: int | None
    status: str
    first_response: datetime | None
    replied: datetime | None
    closed: datetime | None
    due: date
    resolved: bool | None
    satisfaction: int | None
    reply_text: str | None
    channel: str
    citizen_ref: str | None
    source_ref: str | None


class _TicketsImport(_ImportJob):
    """Tickets are few next to ratings: the whole file is validated before anything is written."""

    def __init__(
        self,
        conn: Connection,
        settings: Settings,
        path: Path,
        report: ImportReport,
        meter: _Progress,
        total_lines: int,
    ):
        super().__init__(conn, settings, path, report, meter, total_lines)
        departments = Department.__table__
        self.departments = dict(conn.execute(select(departments.c.code, departments.c.id)).all())
        self.table = Ticket.__table__
        prefix = re.escape(settings.tickets.number_prefix)
        self.number_pattern = re.compile(rf"{prefix}-(\d{{8}})-(\d{{4,}})")

    def read(self, source: _Csv, emit: Callable[[_Chunk], None]) -> None:
        errors = self.errors
        columns = _check_header(source.header(), TICKET_COLUMNS, TICKET_REQUIRED, errors)
        if errors:
            return
        width = len(columns)
        chunk = _Chunk()
        numbers: set[str] = set()
        refs: set[tuple[str, str]] = set()
        for line, row in source:
            if len(row) != width:
                errors.add(
                    line,
                    None,
                    f"应有 {width} 列，实有 {len(row)} 列",
                    f"expected {width} fields, found {len(row)}",
                )
            else:
                cells = {name: row[index] for name, index in columns.items()}
                ticket = self._row(line, cells)
                if ticket is not None:
                    if ticket.number is not None:
                        if ticket.number in numbers:
                            errors.add(
                                line,
                                "number",
                                f"工单编号 {ticket.number} 在文件中重复",
                                f"ticket number {ticket.number} repeats in the file",
                            )
                        numbers.add(ticket.number)
                    if ticket.source_ref is not None:
                        key = (ticket.channel, ticket.source_ref)
                        if key in refs:
                            errors.add(
                                line,
                                "source_ref",
                                f"来源编号 {key[1]!r}（渠道 {key[0]}）在文件中重复",
                                f"source_ref {key[1]!r} of channel {key[0]} repeats",
                            )
                        refs.add(key)
                    chunk.rows.append(ticket)
            if errors.full:
                return
        chunk.line_end = source.line
        emit(chunk)

    def _row(self, line: int, cells: dict[str, str]) -> _TicketRow | None:
        """One validated ticket, or None after recording what is wrong with the row."""
        limits = self.settings.tickets
        errors = self.errors
        values: dict[str, Any] = {}
        problems = len(errors.items)

        def cell(name: str, check: Callable[[str], Any]) -> Any:
            raw = cells.get(name, "")
            if not raw.strip():
                return None
            try:
                return check(raw)
            except _Bad as bad:
                errors.add(line, name, bad.message_zh, bad.message_en)
                return None

        received = cell("received_at", self.times.parse)
        if received is None and not errors.items[problems:]:
            errors.add(line, "received_at", "受理时间不能为空", "received_at must not be empty")
        text_value = cell(
            "text", lambda raw: _text(raw, limits.max_text_chars, "投诉内容", "text")
        )
        if text_value is None and not any(e.column == "text" for e in errors.items[problems:]):
            errors.add(line, "text", "投诉内容不能为空", "text must not be empty")
        values["number"] = cell("number", lambda raw: _ref(raw, 32, "工单编号", "number"))
        values["department_id"] = cell("department_code", self._department)
        status = cell("status", self._status)
        times = {
            name: cell(name, self.times.parse)
            for name in ("first_response_at", "replied_at", "closed_at")
        }
        due = cell("due_date", _parse_date)
        resolved = cell("resolved", self._boolean)
        satisfaction = cell("satisfaction", lambda raw: _score(raw, "满意度", "satisfaction"))
        reply_text = cell(
            "reply_text", lambda raw: _text(raw, limits.max_text_chars, "答复内容", "reply_text")
        )
        channel = cell("channel", _channel) or Channel.IMPORT.value
        citizen_ref = cell("citizen_ref", lambda raw: _ref(raw, 128, "群众标识", "citizen_ref"))
        source_ref = cell("source_ref", lambda raw: _ref(raw, 80, "来源编号", "source_ref"))
        if errors.items[problems:] or errors.truncated:
            return None

        def refuse(column: str, zh: str, en: str) -> None:
            errors.add(line, column, zh, en)

        first, replied, closed = (
            times[n] and times[n][1] for n in ("first_response_at", "replied_at", "closed_at")
        )
        if first is None and replied is not None:
            first = replied  # a reply is a response, as in the reply service
        if status is None:
            status = (
                _S.CLOSED
                if closed
                else _S.REPLIED
                if replied
                else _S.IN_PROGRESS
                if first
                else _S.ASSIGNED
                if values["department_id"]
                else _S.RECEIVED
            ).value
        if values["department_id"] is None and status != _S.RECEIVED.value:
            refuse(
                "department_code",
                f"状态 {status} 需要办理部门 department_code",
                f"status {status} needs a department_code",
            )
        if values["department_id"] is not None and status == _S.RECEIVED.value:
            refuse(
                "status",
                "状态 received 表示尚未派单，有办理部门时请用 assigned 或之后的状态",
                "status received means not yet routed: use assigned or later with a department",
            )
        needs = {
            _S.IN_PROGRESS.value: ("first_response_at", first),
            _S.REPLIED.value: ("replied_at", replied),
            _S.CLOSED.value: ("closed_at", closed),
        }
        if status in needs and needs[status][1] is None:
            name = needs[status][0]
            refuse(name, f"状态 {status} 需要 {name}", f"status {status} needs {name}")
        order = _STATUS_ORDER[status]
        for name, value, since in (
            ("first_response_at", first, _S.IN_PROGRESS),
            ("replied_at", replied, _S.REPLIED),
            ("closed_at", closed, _S.CLOSED),
        ):
            if value is not None and order < _STATUS_ORDER[since.value]:
                refuse(
                    name,
                    f"状态 {status} 的工单不应有 {name}",
                    f"a ticket in status {status} cannot have {name}",
                )
        if status != _S.CLOSED.value:
            if resolved is not None:
                refuse(
                    "resolved",
                    "只有已办结的工单才有“是否解决”",
                    "only a closed ticket has resolved",
                )
            if satisfaction is not None:
                refuse(
                    "satisfaction",
                    "只有已办结的工单才有满意度",
                    "only a closed ticket has satisfaction",
                )
        if reply_text is not None and replied is None:
            refuse(
                "reply_text", "有答复内容时需要答复时间 replied_at", "reply_text needs replied_at"
            )
        previous_name, previous = "received_at", received[1]
        for name, value in (
            ("first_response_at", first),
            ("replied_at", replied),
            ("closed_at", closed),
        ):
            if value is None:
                continue
            if value < previous:
                refuse(
                    name,
                    f"{name} 早于 {previous_name}，时间顺序不对",
                    f"{name} is before {previous_name}: times out of order",
                )
            previous_name, previous = name, value
        received_day = received[0].date()
        if due is None:
            due = self.calendar.add_working_days(received_day, limits.sla_working_days)
        elif due < received_day:
            refuse("due_date", "办结期限早于受理日期", "due_date is before the day received")
        if errors.items[problems:] or errors.truncated:
            return None
        return _TicketRow(
            line,
            values["number"],
            received[0],
            received[1],
            text_value,
            values["department_id"],
            status,
            first,
            replied,
            closed,
            due,
            resolved,
            satisfaction,
            reply_text,
            channel,
            citizen_ref,
            source_ref,
        )

    def _department(self, raw: str) -> int:
        code = raw.strip()
        department = self.departments.get(code)
        if department is None:
            raise _Bad(f"未知的部门编码 {code[:40]!r}", f"unknown department code {code[:40]!r}")
        return department

    @staticmethod
    def _status(raw: str) -> str:
        value = _STATUSES.get(raw.strip().lower())
        if value is None:
            raise _Bad(
                f"未知状态 {raw.strip()[:20]!r}，可用：{', '.join(_STATUSES)}",
                f"unknown status {raw.strip()[:20]!r}; one of {', '.join(_STATUSES)}",
            )
        return value

    @staticmethod
    def _boolean(raw: str) -> bool:
        value = _BOOLEANS.get(raw.strip().lower())
        if value is None:
            raise _Bad(
                f"“是否解决”应为 true/false（是/否），而不是 {raw.strip()[:20]!r}",
                f"resolved must be true or false, not {raw.strip()[:20]!r}",
            )
        return value

    def write(self, chunk: _Chunk) -> None:
        """Check the file against the database, then store every ticket and its event."""
        rows: list[_TicketRow] = chunk.rows
        errors = self.errors
        if not rows:
            return
        conn = self.conn
        table = self.table
        refs = [(t.channel, t.source_ref) for t in rows if t.source_ref is not None]
        stored = _stored_refs(conn, table, refs) if refs else set()
        explicit = [t.number for t in rows if t.number is not None]
        explicit_set = set(explicit)
        taken = self._stored_numbers(explicit)
        for ticket in rows:
            if (ticket.channel, ticket.source_ref) in stored:
                errors.add(
                    ticket.line,
                    "source_ref",
                    f"来源编号 {ticket.source_ref!r}（渠道 {ticket.channel}）已导入过",
                    f"source_ref {ticket.source_ref!r} of channel {ticket.channel} "
                    "is already stored",
                )
            if ticket.number in taken:
                errors.add(
                    ticket.line,
                    "number",
                    f"工单编号 {ticket.number} 已存在",
                    f"ticket number {ticket.number} already exists",
                )
        if errors:
            return
        self._number(rows)
        taken = self._stored_numbers([t.number for t in rows if t.number not in explicit_set])
        if taken:
            for ticket in rows:
                if ticket.number in taken:
                    errors.add(
                        ticket.line,
                        "number",
                        f"生成的工单编号 {ticket.number} 与已有工单冲突",
                        f"the generated number {ticket.number} is already taken",
                    )
            return
        self._store(rows)

    def _stored_numbers(self, numbers: list[str]) -> set[str]:
        found: set[str] = set()
        for batch in _chunks(numbers):
            found.update(
                self.conn.scalars(
                    select(self.table.c.number).where(self.table.c.number.in_(batch))
                )
            )
        return found

    def _number(self, rows: list[_TicketRow]) -> None:
        """Give numbers to the rows without one and move each day's counter past the file's."""
        prefix = self.settings.tickets.number_prefix
        highest: dict[date, int] = {}
        wanted: dict[date, list[_TicketRow]] = {}
        for ticket in rows:
            if ticket.number is None:
                wanted.setdefault(ticket.received_local.date(), []).append(ticket)
                continue
            match = self.number_pattern.fullmatch(ticket.number)
            if match:
                try:
                    day = datetime.strptime(match.group(1), "%Y%m%d").date()
                except ValueError:
                    continue
                highest[day] = max(highest.get(day, 0), int(match.group(2)))
        counters = TicketNumberCounter.__table__
        upsert = (postgresql.insert if self.writer.postgres else sqlite.insert)(counters)
        bigger = func.greatest if self.writer.postgres else func.max
        for day in sorted(set(highest) | set(wanted)):
            floor, count = highest.get(day, 0), len(wanted.get(day, ()))
            # Atomic against numbers handed out concurrently by the ticket service.
            statement = (
                upsert.values(day=day, last=floor + count)
                .on_conflict_do_update(
                    index_elements=[counters.c.day],
                    set_={"last": bigger(counters.c.last, floor) + count},
                )
                .returning(counters.c.last)
            )
            last = self.conn.execute(statement).scalar_one()
            for serial, ticket in enumerate(wanted.get(day, ()), start=last - count + 1):
                ticket.number = f"{prefix}-{day:%Y%m%d}-{serial:04d}"

    def _store(self, rows: list[_TicketRow]) -> None:
        writer = self.writer
        limits = self.settings.tickets
        now = writer.time(datetime.now(UTC).replace(tzinfo=None))
        citizens = _Citizens(writer)
        citizen_ids = citizens.resolve({t.citizen_ref for t in rows if t.citizen_ref})
        ids = writer.next_ids(self.table)(len(rows))
        response_days: dict[date, Any] = {}
        records, events, closures = [], [], []
        name = self.path.name
        t, f = writer.time, writer.flag
        for ticket_id, ticket in zip(ids, rows, strict=True):
            day = ticket.received_local.date()
            if day not in response_days:
                response_days[day] = writer.date(
                    self.calendar.add_working_days(day, limits.response_window_working_days)
                )
            due = writer.date(ticket.due)
            records.append(
                (
                    ticket_id,
                    ticket.number,
                    citizen_ids.get(ticket.citizen_ref),
                    ticket.channel,
                    ticket.source_ref,
                    ticket.text,
                    ticket.status,
                    ticket.department_id,
                    f(ticket.department_id is None),
                    t(ticket.received),
                    response_days[day],
                    t(ticket.first_response),
                    due,
                    due,
                    t(ticket.replied),
                    t(ticket.replied),
                    ticket.reply_text,
                    t(ticket.closed),
                    t(ticket.closed),
                    0,
                    0,
                    f(False),
                    0,
                    now,
                )
            )
            if ticket.closed is not None:
                answered = ticket.resolved is not None or ticket.satisfaction is not None
                closures.append(
                    (
                        ticket_id,
                        1,
                        ticket.department_id,
                        due,
                        t(ticket.closed),
                        "system:import",
                        f(ticket.resolved),
                        ticket.satisfaction,
                        t(ticket.closed) if answered else None,
                        "system:import" if answered else None,
                    )
                )
            events.append(
                (
                    ticket_id,
                    "imported",
                    None,
                    ticket.status,
                    "system:import",
                    json.dumps({"file": name, "line": ticket.line}),
                    now,
                )
            )
        writer.insert(self.table, TICKET_INSERT, records)
        writer.insert(TicketEvent.__table__, EVENT_INSERT, events)
        writer.insert(TicketClosure.__table__, CLOSURE_INSERT, closures)
        self.report.rows = len(records)
        self.report.events = len(events)
        self.report.citizens_created = citizens.created

    def finish(self) -> None:
        pass
