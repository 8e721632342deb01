"""Import a county's history from CSV (ratings, tickets): all rows or none, while the site runs.

The columns, formats and guarantees are described in docs/import.md. Every cell is checked by
the service layer's own functions (minyi.services: scores, channels, text, references,
deadlines, ticket numbers, routing), memoised per distinct value so that a million rows stay
fast. An import runs in two phases:

1. Check: the whole file is read and validated, codes resolved and, unless the context has no
   NLP, the texts analysed in batches. Nothing is written; the validated rows wait in a
   temporary file. Any bad row raises `ImportFailed` with up to MAX_ERRORS problems.
2. Write: batches of `batch_rows` rows, each in its own short transaction (BEGIN IMMEDIATE on
   SQLite), so the running site's writers interleave with the import and never wait long.
   Every id written is recorded; when a batch fails, the batches already committed are
   deleted again (with whatever the site attached to them meanwhile) before the error is
   raised, so nothing of the file stays. Imported tickets also carry the import id in their
   `imported` event.

`offline=True` writes everything in one transaction instead, with SQLite's foreign-key probes
off and, for a first large import, the ratings indexes (and PostgreSQL's foreign keys) dropped
and rebuilt: faster, but it locks the tables, so only for a database nothing else uses.
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
import pickle
import queue
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from minyi.db import make_session_factory
from minyi.errors import MinyiError, ValidationFailed
from minyi.models import (
    BadReviewFollowUp,
    Channel,
    Citizen,
    ExtensionRequest,
    FollowUpStatus,
    OutboxMessage,
    Rating,
    RatingAppeal,
    RoutingCorrection,
    Ticket,
    TicketAttachment,
    TicketClosure,
    TicketEvent,
    TicketStatus,
)
from minyi.services import catalog, citizens, ratings, tickets
from minyi.services.context import ServiceContext
from minyi.services.validation import (
    check_channel,
    check_flag,
    check_recorded_moment,
    check_score,
    check_source_ref,
    recorded_moment_bounds,
)
from minyi.services.views import STATUS_ZH

log = logging.getLogger(__name__)

MAX_ERRORS = 20
# Rows per committed write batch: a few tens of milliseconds of SQLite's write lock.
BATCH_ROWS = 5_000
# Texts per call of the NLP batch hook.
NLP_BATCH = 2_000
# Offline only: from this many rows on, a first import drops and rebuilds the ratings indexes.
REBUILD_MIN_ROWS = 50_000
# Keeps IN (...) lists well under SQLite's and PostgreSQL's bound-parameter limits.
_IN_BATCH = 5_000
IMPORT_ACTOR = "system:import"

RATING_COLUMNS = tuple(
    "created_at service_code score comment aspect channel outlet_code citizen_ref "
    "source_ref follow_up_completed_at".split()
)
TICKET_COLUMNS = tuple(
    "number received_at text department_code status first_response_at replied_at "
    "closed_at due_date resolved satisfaction reply_text channel citizen_ref "
    "source_ref".split()
)
_IMPORT = Channel.IMPORT.value
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
_BOOLEANS |= {"y": True, "n": False, "t": True, "f": False, "是": True, "否": False}

ProgressCallback = Callable[[int, int], Any]


class RowError(NamedTuple):
    """One problem of an import file: 1-based line (header = 1), column (or None), messages."""

    line: int
    column: str | None
    message_zh: str
    message_en: str

    def __str__(self) -> str:
        where_zh = f"第 {self.line} 行" + (f" {self.column} 列" if self.column else "")
        where_en = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where_zh}：{self.message_zh} ({where_en}: {self.message_en})"


class ImportFailed(ValidationFailed):
    """The file was refused; `errors` lists its problems and nothing of it was written."""

    code = "import_failed"

    def __init__(self, path: str | Path, errors: list[RowError], truncated: bool = False):
        self.path = str(path)
        self.errors = sorted(errors, key=lambda e: e.line)
        self.truncated = truncated
        more_zh = f"；列出 {MAX_ERRORS} 处后停止检查" if truncated else ""
        more_en = f"; checking stopped after {MAX_ERRORS} errors" if truncated else ""
        zh = "；".join(str(e).split(" (")[0] for e in self.errors)
        en = "; ".join(
            f"line {e.line}" + (f" column {e.column}" if e.column else "") + f": {e.message_en}"
            for e in self.errors
        )
        super().__init__(
            f"导入失败，未写入任何数据（{len(self.errors)} 处错误）：{zh}{more_zh}",
            f"import refused, nothing written ({len(self.errors)} errors): {en}{more_en}",
            path=self.path,
        )


class WriteFailed(MinyiError):
    """The write phase failed; what it had written was removed again."""

    code = "import_write_failed"


@dataclass
class ImportReport:
    """What an import wrote."""

    kind: str  # ratings | tickets
    path: str
    encoding: str
    import_id: str
    offline: bool = False
    rows: int = 0
    follow_ups: int = 0
    citizens_created: int = 0
    analysed: int = 0  # distinct texts the NLP scored
    routed: int = 0  # received tickets the NLP assigned to a department
    praise: int = 0  # received tickets filed as praise (表扬), as the live routing files them
    triage: int = 0  # received tickets left in triage
    batches: int = 0
    blank_lines: int = 0
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        if self.kind == "ratings":
            zh = f"已导入 {self.rows} 条评价，差评跟进 {self.follow_ups} 条"
            en = f"imported {self.rows} ratings, {self.follow_ups} follow-ups"
        else:
            zh = (
                f"已导入 {self.rows} 张工单，自动派单 {self.routed} 张，待分拣 {self.triage} 张，"
                f"记为表扬 {self.praise} 条"
            )
            en = (
                f"imported {self.rows} tickets, {self.routed} routed by NLP, "
                f"{self.triage} left in triage, {self.praise} filed as praise"
            )
        return (
            f"{zh}，新建群众 {self.citizens_created} 人，NLP 分析 {self.analysed} 条文本，"
            f"用时 {self.seconds:.1f} 秒 / {en}, {self.citizens_created} new citizens, "
            f"{self.analysed} texts analysed, {self.seconds:.1f} s "
            f"({self.rows_per_second:,.0f} rows/s, {self.encoding}, "
            f"{'offline' if self.offline else 'live'}, import {self.import_id})"
        )


# --------------------------------------------------------------------------- progress


class TqdmProgress:
    """A `progress=` callback drawing a tqdm bar; a new phase (checking, writing) resets it."""

    def __init__(self, desc: str = "导入", **tqdm_kwargs: Any):
        self.desc = desc
        self.kwargs = {"unit": "行", "unit_scale": True, "dynamic_ncols": True} | tqdm_kwargs
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.desc, **self.kwargs)
        elif done < self.bar.n or total != self.bar.total:
            self.bar.reset(total=total)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def tqdm_progress(desc: str = "导入", **tqdm_kwargs: Any) -> TqdmProgress:
    """A `progress=` value showing a tqdm bar (for the CLI when stdout is a terminal)."""
    return TqdmProgress(desc, **tqdm_kwargs)


# --------------------------------------------------------------------------- reading


def _sniff_file(path: Path) -> tuple[str, int]:
    """The file's encoding (utf-8-sig or gb18030) and its number of lines."""
    for encoding in ("utf-8", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        lines, last = 0, b""
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


class _Errors:
    def __init__(self) -> None:
        self.items: list[RowError] = []

    def add(self, line: int, column: str | None, zh: str, en: str) -> None:
        if len(self.items) < MAX_ERRORS:
            self.items.append(RowError(line, column, zh, en))

    @property
    def full(self) -> bool:
        # Reading stops at the limit, so the rest of the file is unchecked.
        return len(self.items) >= MAX_ERRORS

    def __bool__(self) -> bool:
        return bool(self.items)


def _records(path: Path, encoding: str, errors: _Errors, stats: dict) -> Iterator[tuple]:
    """(line, fields) of each non-blank CSV record; the header is line 1."""
    with path.open("r", encoding=encoding, newline="") as fh:
        # Strict: an unbalanced quote is an error, not a field swallowing the rest of the file.
        reader = csv.reader(fh, strict=True)
        start = 1
        try:
            for record in reader:
                if any(record):
                    yield start, record
                else:
                    stats["blank"] = stats.get("blank", 0) + reader.line_num - start + 1
                start = reader.line_num + 1
        except csv.Error as exc:
            errors.add(
                start,
                None,
                f"CSV 格式错误（从本行开始的记录）：{exc}；引号不配对或字段过长？",
                f"malformed CSV in the record starting here: {exc} "
                "(unbalanced quotes or a field too large?)",
            )


def _positions(header: list[str], known: tuple[str, ...], required: tuple[str, ...], errors):
    positions: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = raw.strip().lower()
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


class _Memo(dict):
    """A service check memoised per distinct raw value (a CSV repeats its codes and scores)."""

    def __init__(self, check: Callable[[str], Any]):
        super().__init__()
        self.check = check

    def __missing__(self, raw: str) -> Any:
        value = self[raw] = self.check(raw)
        return value


class _Times:
    """CSV times as UTC (a time without offset is the county's local time), within the bounds
    of `check_recorded_moment`, which refuses the others with its own message."""

    def __init__(self, ctx: ServiceContext):
        self.zone = ctx.timezone
        self.now = ctx.now()
        earliest, latest = recorded_moment_bounds(self.now, self.zone)
        # Naive UTC bounds: most rows are checked with two comparisons of naive datetimes.
        self.earliest, self.latest = (_naive_utc(b) for b in (earliest, latest))
        self.offsets: dict[date, timedelta] = {}  # local date -> UTC offset, per day

    def parse(self, raw: str, field_zh: str, field_en: str) -> datetime:
        """The aware UTC time of a cell."""
        return self.naive_utc(raw, field_zh, field_en).replace(tzinfo=UTC)

    def naive_utc(self, raw: str, field_zh: str, field_en: str) -> datetime:
        """The time of a cell as naive UTC: the form the database stores."""
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            value = self._slow(raw)
        if value.tzinfo is None:
            offset = self.offsets.get(value.date())
            if offset is None:
                offset = self._offset(value)
            value = value - offset
        else:
            value = _naive_utc(value)
        if not self.earliest <= value <= self.latest:
            check_recorded_moment(
                value.replace(tzinfo=UTC),
                now=self.now,
                zone=self.zone,
                field_zh=field_zh,
                field_en=field_en,
            )
        return value

    def _offset(self, value: datetime) -> timedelta:
        local = value.replace(tzinfo=self.zone)
        offset = local.utcoffset()
        if (
            (local + timedelta(days=1)).utcoffset()
            == offset
            == (local - timedelta(days=1)).utcoffset()
        ):  # no clock change near this day: cache it (every day, in China)
            self.offsets[value.date()] = offset
        return offset

    def _slow(self, raw: str) -> datetime:
        try:
            return datetime.fromisoformat(raw.strip().replace("/", "-"))
        except ValueError:
            shown = raw.strip()[:40]
            raise ValidationFailed(
                f"无法识别的时间 {shown!r}，应为 YYYY-MM-DD HH:MM[:SS] 或 ISO 8601",
                f"unreadable time {shown!r}: use YYYY-MM-DD HH:MM[:SS] or ISO 8601",
            ) from None


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip().replace("/", "-"))
    except ValueError:
        raise ValidationFailed(
            f"无法识别的日期 {raw.strip()[:40]!r}，应为 YYYY-MM-DD",
            f"unreadable date {raw.strip()[:40]!r}: use YYYY-MM-DD",
        ) from None


# --------------------------------------------------------------------------- database


class _Db:
    """Writes below the ORM in the driver's own value forms: what makes a million rows fit.

    Times go in as naive UTC (as UTCDateTime stores them), in SQLite's text form on SQLite.
    PostgreSQL gets COPY, SQLite one prepared INSERT run with executemany.
    """

    def __init__(self, engine: Engine):
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ValidationFailed(
                "导入只支持 SQLite 和 PostgreSQL", "import supports SQLite and PostgreSQL only"
            )
        self.postgres = engine.dialect.name == "postgresql"

    def time(self, moment: datetime | None):
        """A time (aware, or naive UTC) as the driver stores it."""
        if moment is None:
            return None
        if moment.tzinfo is not None:
            moment = _naive_utc(moment)
        return moment if self.postgres else moment.isoformat(" ", "microseconds")

    def date(self, day: date | None):
        return day if self.postgres or day is None else day.isoformat()

    def flag(self, value: bool | None):
        return value if self.postgres or value is None else int(value)

    def new_ids(self, session: Session, table, n: int) -> list[int]:
        """`n` fresh primary keys of `table`, ours alone once the transaction commits."""
        if not n:
            return []
        if self.postgres:
            return session.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
                ),
                {"t": table.name, "n": n},
            ).all()
        # SQLite: the batch holds the write lock since BEGIN IMMEDIATE, so max(id) stays ours.
        start = (session.scalar(select(func.max(table.c.id))) or 0) + 1
        return list(range(start, start + n))

    def insert(self, session: Session, table, columns: tuple[str, ...], rows: list) -> None:
        if not rows:
            return
        names = ", ".join(columns)
        driver = session.connection().connection.driver_connection
        if self.postgres:
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        cursor = driver.cursor()
        try:
            marks = ", ".join("?" * len(columns))
            cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)
        finally:
            cursor.close()


def _chunks(items: list, size: int = _IN_BATCH) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Written:
    """The ids each table got from this import, as runs (first, last): what cleanup deletes."""

    # Rows the running site may attach to imported ones meanwhile: (table, column, parent).
    DEPENDENTS = (
        (RatingAppeal.__table__, "rating_id", "ratings"),
        (BadReviewFollowUp.__table__, "rating_id", "ratings"),
        (TicketEvent.__table__, "ticket_id", "tickets"),
        (TicketClosure.__table__, "ticket_id", "tickets"),
        (TicketAttachment.__table__, "ticket_id", "tickets"),
        (ExtensionRequest.__table__, "ticket_id", "tickets"),
        (RoutingCorrection.__table__, "ticket_id", "tickets"),
        (OutboxMessage.__table__, "citizen_id", "citizens"),
    )
    PARENTS = {"ratings": Rating.__table__, "tickets": Ticket.__table__}
    PARENTS["citizens"] = Citizen.__table__

    def __init__(self) -> None:
        self.runs: dict[str, list[tuple[int, int]]] = {name: [] for name in self.PARENTS}
        self.pending: list[tuple[str, list[int]]] = []

    def add(self, table: str, ids: list[int]) -> None:
        """Ids the open batch is writing; they count once `commit` says it committed."""
        self.pending.append((table, ids))

    def commit(self) -> None:
        # Only committed ids: after a rollback SQLite hands the same ids to the site's writers.
        for table, ids in self.pending:
            runs = self.runs[table]
            for value in sorted(ids):
                if runs and runs[-1][1] == value - 1:
                    runs[-1] = (runs[-1][0], value)
                else:
                    runs.append((value, value))
        self.pending = []

    def delete(self, session_factory) -> None:
        """Remove every recorded row and what hangs on it, one short transaction per run."""
        for parent in ("ratings", "tickets", "citizens"):
            table = self.PARENTS[parent]
            for first, last in reversed(self.runs[parent]):
                for low in range(first, last + 1, BATCH_ROWS):
                    high = min(low + BATCH_ROWS - 1, last)
                    with session_factory.begin() as session:
                        for child, column, owner in self.DEPENDENTS:
                            if owner == parent:
                                where = child.c[column].between(low, high)
                                session.execute(child.delete().where(where))
                        session.execute(table.delete().where(table.c.id.between(low, high)))


class _Citizens:
    """citizen_ref -> id among citizens of channel `import`, created in the write phase."""

    def __init__(self, db: _Db, written: _Written, report: ImportReport):
        self.db, self.written, self.report = db, written, report
        self.ids: dict[str, int] | None = None

    def resolve(self, session: Session, refs: set[str]) -> dict[str, int]:
        table = Citizen.__table__
        if self.ids is None:  # once: those an earlier import created
            self.ids = dict(
                session.execute(
                    select(table.c.external_id, table.c.id).where(
                        table.c.channel == Channel.IMPORT.value
                    )
                ).all()
            )
        wanted = [ref for ref in refs if ref not in self.ids]
        fresh = wanted
        if fresh:
            ids = self.db.new_ids(session, table, len(fresh))
            now, no = self.db.time(datetime.now(UTC)), self.db.flag(False)
            rows = [(i, Channel.IMPORT.value, ref, "zh", no, now) for i, ref in zip(ids, fresh)]
            columns = ("id", "channel", "external_id", "language", "subscribed", "created_at")
            self.db.insert(session, table, columns, rows)
            self.ids.update(zip(fresh, ids, strict=True))
            self.written.add("citizens", ids)
            self.report.citizens_created += len(fresh)
        return self.ids


# --------------------------------------------------------------------------- the two jobs


class _DaySpan:
    """The first and last moment and local day a file's rows count in, for the indicators.

    The importer's raw inserts bypass the ORM hook that marks touched indicator days stale,
    so the write phase marks this span itself.
    """

    def __init__(self) -> None:
        self.first: datetime | None = None  # naive UTC (ratings) or aware (tickets)
        self.last: datetime | None = None
        self.first_day: date | None = None  # local dates: deadlines, due dates
        self.last_day: date | None = None

    def moments(self, *values: datetime | None) -> None:
        for value in values:
            if value is not None:
                self.first = value if self.first is None else min(self.first, value)
                self.last = value if self.last is None else max(self.last, value)

    def day(self, value: date | None) -> None:
        if value is not None:
            self.first_day = value if self.first_day is None else min(self.first_day, value)
            self.last_day = value if self.last_day is None else max(self.last_day, value)

    def local_days(self, ctx: ServiceContext, *, with_sla: bool) -> tuple[date, date] | None:
        """The local days covered; `with_sla` adds the default due day of the last receipt."""
        days = [day for day in (self.first_day, self.last_day) if day is not None]
        moments = [m if m.tzinfo else m.replace(tzinfo=UTC) for m in (self.first, self.last) if m]
        days += [ctx.local_date(moment) for moment in moments]
        if with_sla and moments:
            days.append(tickets.ticket_due_dates(ctx, moments[-1])[1])
        return (min(days), max(days)) if days else None


def _mark_indicator_days(session: Session, job) -> None:
    from minyi.indicators import mark_days_stale

    # A ticket also counts on its (default) due day, up to the SLA after the last receipt.
    span = job.span.local_days(job.ctx, with_sla=job.kind == "tickets")
    if span is not None:
        mark_days_stale(session, *span)


class _Job:
    """What both imports share: the context, the lookups and the error list."""

    kind = ""
    columns: tuple[str, ...] = ()
    required: tuple[str, ...] = ()

    def __init__(self, ctx: ServiceContext, session: Session, db: _Db, report: ImportReport):
        self.ctx, self.session, self.db, self.report = ctx, session, db, report
        self.errors = _Errors()
        self.times = _Times(ctx)
        self.written = _Written()
        self.span = _DaySpan()
        self.citizens = _Citizens(db, self.written, report)
        self.seen_refs: set[tuple[str, str]] = set()
        self.valid_rows = 0
        self.expected_rows = 0  # data lines of the file, blank ones included
        self.channels = _Memo(lambda raw: check_channel(raw.strip().lower()).value)
        self.citizen_refs = _Memo(citizens.check_external_id)

    def source_ref(self, channel: str, raw: str) -> str | None:
        ref = check_source_ref(raw)  # no memo: every row has its own
        if ref is not None:
            if (channel, ref) in self.seen_refs:
                raise ValidationFailed(
                    f"来源编号 {ref!r}（渠道 {channel}）在文件中重复",
                    f"source_ref {ref!r} of channel {channel} repeats in the file",
                )
            self.seen_refs.add((channel, ref))
        return ref

    def check_stored_refs(self, table, batch: list, ref_of: Callable) -> None:
        """Refuse rows whose (channel, source_ref) is already in the database."""
        by_channel: dict[str, dict[str, int]] = {}
        for row in batch:
            channel, ref = ref_of(row)
            if ref is not None:
                by_channel.setdefault(channel, {})[ref] = row[0]
        for channel, lines in by_channel.items():
            any_stored = self.session.scalar(
                select(table.c.id)
                .where(table.c.channel == channel, table.c.source_ref.is_not(None))
                .limit(1)
            )
            if any_stored is None:  # a first import: nothing to look up row by row
                continue
            for refs in _chunks(list(lines)):
                for ref in self.session.scalars(
                    select(table.c.source_ref).where(
                        table.c.channel == channel, table.c.source_ref.in_(refs)
                    )
                ):
                    self.errors.add(
                        lines[ref],
                        "source_ref",
                        f"来源编号 {ref!r}（渠道 {channel}）已导入过",
                        f"source_ref {ref!r} of channel {channel} is already stored",
                    )

    def analyze(self, texts: list[str]) -> dict[str, Any]:
        """text -> analysis for each distinct text, through the context's NLP batch hook."""
        distinct = list(dict.fromkeys(texts))
        found: dict[str, Any] = {}
        for batch in _chunks(distinct, NLP_BATCH):
            try:
                analyses = self.ctx.analyze_texts(batch)
            except Exception:  # as live: a model failure never loses the row
                log.exception("NLP failed on a batch of %d texts; left unscored", len(batch))
                continue
            if analyses is None:
                return {}
            found.update(zip(batch, analyses, strict=True))
        self.report.analysed += len(found)
        return found


class _Ratings(_Job):
    kind = "ratings"
    columns = RATING_COLUMNS
    required = ("created_at", "service_code", "score")
    INSERT = tuple(
        "id service_id department_id outlet_id citizen_id score aspect comment "
        "channel source_ref sentiment_score excluded created_at".split()
    )
    FOLLOW_UP = ("rating_id", "department_id", "status", "deadline", "completed_at", "created_at")

    def __init__(self, *args: Any):
        super().__init__(*args)
        ctx = self.ctx
        self.services = _Memo(
            lambda raw: _service_ids(catalog.get_service(self.session, raw.strip()))
        )
        self.outlets = _Memo(lambda raw: catalog.get_outlet(self.session, raw.strip()).id)
        self.scores = _Memo(lambda raw: check_score(raw))
        self.bad = _Memo(lambda score: ratings.is_bad_review(ctx, score))
        self.comments = _Memo(lambda raw: ratings.check_comment(ctx, raw))
        self.aspects = _Memo(ratings.check_aspect)
        self.deadlines: dict[date, Any] = {}
        self.sentiments: dict[str, float] = {}

    def bind(self, positions: dict[str, int]) -> None:
        self.at = [positions.get(name) for name in self.columns]

    def check(self, line: int, row: list[str]) -> list | None:
        i_created, i_service, i_score, i_comment, i_aspect, *rest = self.at
        i_channel, i_outlet, i_citizen, i_ref, i_done = rest
        column = "created_at"
        try:
            created = self.times.naive_utc(row[i_created], "时间", "created_at")
            column = "service_code"
            service_id, department_id = self.services[row[i_service]]
            column = "score"
            score = self.scores[row[i_score]]
            comment = aspect = outlet = citizen = ref = follow_up = None
            channel = _IMPORT
            if i_comment is not None and row[i_comment]:
                column = "comment"
                comment = self.comments[row[i_comment]]
            if i_aspect is not None and row[i_aspect]:
                column = "aspect"
                aspect = self.aspects[row[i_aspect]]
            if i_channel is not None and row[i_channel]:
                column = "channel"
                channel = self.channels[row[i_channel]]
            if i_outlet is not None and row[i_outlet].strip():
                column = "outlet_code"
                outlet = self.outlets[row[i_outlet]]
            if i_citizen is not None and row[i_citizen].strip():
                column = "citizen_ref"
                citizen = self.citizen_refs[row[i_citizen]]
            if i_ref is not None and row[i_ref]:
                column = "source_ref"
                ref = self.source_ref(channel, row[i_ref])
            done = row[i_done].strip() if i_done is not None else ""
            column = "follow_up_completed_at"
            if self.bad[score]:
                completed = None
                if done:
                    completed = self.times.naive_utc(
                        done, "整改完成时间", "follow_up_completed_at"
                    )
                    if completed < created:
                        raise ValidationFailed(
                            "整改完成时间早于评价时间",
                            "the follow-up was completed before the rating",
                        )
                follow_up = (self.deadline(created), self.db.time(completed))
            elif done:
                bound = self.ctx.settings.ratings.bad_review_max_score
                raise ValidationFailed(
                    f"只有差评（评分 <= {bound}）才有整改完成时间",
                    f"only a bad review (score <= {bound}) has a follow-up",
                )
        except MinyiError as error:
            self.errors.add(line, column, error.message_zh, error.message_en)
            return None
        self.span.moments(created, completed if follow_up is not None else None)
        created_db = self.db.time(created)
        row = [line, service_id, department_id, outlet, citizen, score, aspect, comment]
        return row + [channel, ref, created_db, follow_up]

    def deadline(self, created: datetime):
        """follow_up_deadline of `created` (naive UTC), computed once per local day."""
        aware = created.replace(tzinfo=UTC)
        day = self.ctx.local_date(aware)
        value = self.deadlines.get(day)
        if value is None:
            deadline = ratings.follow_up_deadline(self.ctx, aware)
            self.span.day(deadline)  # the 差评 counts on its deadline day too
            value = self.deadlines[day] = self.db.date(deadline)
        return value

    def prepare(self, batch: list[list]) -> None:
        """Database checks and the comments' sentiment, before anything is written."""
        self.check_stored_refs(Rating.__table__, batch, lambda row: (row[8], row[9]))
        if self.errors:  # the file is refused: no need to analyse anything
            return
        texts = [row[7] for row in batch if row[7] is not None and row[7] not in self.sentiments]
        for comment, analysis in self.analyze(texts).items():
            self.sentiments[comment] = float(analysis.sentiment_score)
        for row in batch:
            row.append(self.sentiments.get(row[7]) if row[7] is not None else None)

    def write(self, session: Session, batch: list[list]) -> None:
        db = self.db
        citizen_ids = self.citizens.resolve(session, {row[4] for row in batch if row[4]})
        ids = db.new_ids(session, Rating.__table__, len(batch))
        self.written.add("ratings", ids)
        no = db.flag(False)
        records, follow_ups = [], []
        for rating_id, row in zip(ids, batch, strict=True):
            _line, service_id, department_id, outlet, citizen, score, aspect, comment = row[:8]
            channel, ref, created, follow_up, sentiment = row[8:]
            citizen_id = citizen_ids[citizen] if citizen else None
            records.append(
                (rating_id, service_id, department_id, outlet, citizen_id, score, aspect)
                + (comment, channel, ref, sentiment, no, created)
            )
            if follow_up is not None:
                deadline, completed = follow_up
                status = FollowUpStatus.COMPLETED if completed else FollowUpStatus.OPEN
                follow_ups.append(
                    (rating_id, department_id, status.value, deadline, completed, created)
                )
        db.insert(session, Rating.__table__, self.INSERT, records)
        db.insert(session, BadReviewFollowUp.__table__, self.FOLLOW_UP, follow_ups)
        self.report.rows += len(records)
        self.report.follow_ups += len(follow_ups)


def _service_ids(service) -> tuple[int, int]:
    return service.id, service.department_id


_S = TicketStatus
_ORDER = {status.value: n for n, status in enumerate(_S)}


@dataclass
class _TicketRow:
    line: int
    received: datetime
    text: str
    status: str
    department_id: int | None
    number: str | None = None
    first_response: datetime | None = None
    replied: datetime | None = None
    closed: datetime | None = None
    due: date | None = None
    resolved: bool | None = None
    satisfaction: int | None = None
    reply_text: str | None = None
    channel: str = Channel.IMPORT.value
    citizen_ref: str | None = None
    source_ref: str | None = None
    # What the NLP said (set by apply_analysis) and where it routed the ticket.
    topic: str | None = None
    topic_confidence: float | None = None
    sentiment_score: float | None = None
    sentiment_label: str | None = None
    keywords: list[str] | None = None
    request_type: str | None = None
    request_type_probability: float | None = None
    predicted_department_id: int | None = None
    praise_department_id: int | None = None
    # The routing event route_ticket would record (assigned, triage or praise_recorded).
    route_kind: str | None = None
    routed: dict | None = field(default=None)


class _Tickets(_Job):
    kind = "tickets"
    columns = TICKET_COLUMNS
    required = ("received_at", "text")
    INSERT = tuple(
        "id number citizen_id channel source_ref text status department_id "
        "predicted_department_id topic topic_confidence sentiment_score "
        "sentiment_label keywords request_type request_type_probability "
        "praise_department_id needs_triage received_at response_due_date "
        "first_response_at due_date original_due_date first_replied_at "
        "last_replied_at reply_text first_closed_at last_closed_at reopen_count "
        "bounce_count escalated escalation_count updated_at".split()
    )
    CLOSURE = tuple(
        "ticket_id round department_id due_date closed_at closed_by resolved "
        "satisfaction verdict_at verdict_by".split()
    )
    EVENT = ("ticket_id", "kind", "from_status", "to_status", "actor", "detail", "created_at")

    def __init__(self, *args: Any):
        super().__init__(*args)
        self.departments = _Memo(lambda raw: catalog.get_department(self.session, raw.strip()))
        # The same facts route_ticket reads, once for the whole file.
        self.directory = tickets.active_department_directory(self.session)
        self.numbers: set[str] = set()
        self.path_name = ""
        self.import_id = ""

    def bind(self, positions: dict[str, int]) -> None:
        self.at = positions

    def check(self, line: int, record: list[str]) -> _TicketRow | None:
        ctx, times, errors = self.ctx, self.times, self.errors
        before = len(errors.items)
        cells = {name: record[index].strip() for name, index in self.at.items()}

        def cell(name: str, check: Callable[[str], Any]) -> Any:
            if not cells.get(name):
                return None
            try:
                return check(cells[name])
            except MinyiError as error:
                errors.add(line, name, error.message_zh, error.message_en)
                return None

        def moment(name: str) -> datetime | None:
            return cell(name, lambda raw: times.parse(raw, name, name))

        received = moment("received_at")
        if not cells.get("received_at"):
            errors.add(line, "received_at", "受理时间不能为空", "received_at must not be empty")
        body = None
        try:
            body = tickets.check_complaint_text(ctx, cells.get("text"))
        except MinyiError as error:
            errors.add(line, "text", error.message_zh, error.message_en)
        department = cell("department_code", self.departments.__getitem__)
        status = cell("status", _status)
        first, replied, closed = (
            moment(n) for n in ("first_response_at", "replied_at", "closed_at")
        )
        due = cell("due_date", _day)
        resolved = cell("resolved", _flag)
        satisfaction = cell(
            "satisfaction",
            lambda raw: check_score(raw, field_zh="满意度", field_en="satisfaction"),
        )
        reply_text = cell("reply_text", lambda raw: tickets.check_reply_text(ctx, raw))
        channel = cell("channel", self.channels.__getitem__) or Channel.IMPORT.value
        citizen = cell("citizen_ref", self.citizen_refs.__getitem__)
        ref = cell("source_ref", lambda raw: self.source_ref(channel, raw))
        number = cell("number", _number)
        if len(errors.items) > before or errors.full:
            return None

        def refuse(column: str, zh: str, en: str) -> None:
            errors.add(line, column, zh, en)

        first = first or replied  # a reply is a response, as in the reply service
        if status is None:
            status = (
                _S.CLOSED
                if closed
                else _S.REPLIED
                if replied
                else _S.IN_PROGRESS
                if first
                else _S.ASSIGNED
                if department
                else _S.RECEIVED
            ).value
        if department is None and status != _S.RECEIVED:
            refuse(
                "department_code",
                f"状态「{STATUS_ZH[_S(status)]}」需要办理部门 department_code",
                f"status {status} needs a department_code",
            )
        if department is not None and status == _S.RECEIVED:
            refuse(
                "status",
                "状态 received（已受理）表示尚未派单，有办理部门时请用 assigned 或之后的状态",
                "status received means not yet routed: use assigned or later with a department",
            )
        if (
            department is not None
            and status in (_S.ASSIGNED, _S.IN_PROGRESS)
            and not (department.active)
        ):  # an open ticket cannot wait at a department that no longer works (as `assign`)
            refuse(
                "department_code",
                f"部门 {department.name} 已停用，未办结的工单不能派给它",
                f"department {department.code} is inactive: an open ticket cannot be there",
            )
        for name, value, since in (
            ("first_response_at", first, _S.IN_PROGRESS),
            ("replied_at", replied, _S.REPLIED),
            ("closed_at", closed, _S.CLOSED),
        ):
            if value is None and status == since:
                refuse(name, f"状态 {status} 需要 {name}", f"status {status} needs {name}")
            if value is not None and _ORDER[status] < _ORDER[since]:
                refuse(
                    name,
                    f"状态 {status} 的工单不应有 {name}",
                    f"a ticket in status {status} cannot have {name}",
                )
        if status != _S.CLOSED:
            for name, value in (("resolved", resolved), ("satisfaction", satisfaction)):
                if value is not None:
                    refuse(
                        name, f"只有已办结的工单才有 {name}", f"only a closed ticket has {name}"
                    )
        if reply_text is not None and replied is None:
            refuse(
                "reply_text", "有答复内容时需要答复时间 replied_at", "reply_text needs replied_at"
            )
        previous_name, previous = "received_at", received
        for name, value in (
            ("first_response_at", first),
            ("replied_at", replied),
            ("closed_at", closed),
        ):
            if value is not None and value < previous:
                refuse(
                    name,
                    f"{name} 早于 {previous_name}，时间顺序不对",
                    f"{name} is before {previous_name}: times out of order",
                )
            if value is not None:
                previous_name, previous = name, value
        if due is not None and due < ctx.local_date(received):
            refuse("due_date", "办结期限早于受理日期", "due_date is before the day received")
        if number is not None:
            if number in self.numbers:
                refuse(
                    "number",
                    f"工单编号 {number} 在文件中重复",
                    f"ticket number {number} repeats in the file",
                )
            self.numbers.add(number)
        if len(errors.items) > before:
            return None
        self.span.moments(received, first, replied, closed)
        self.span.day(due)
        return _TicketRow(
            line,
            received,
            body,
            status,
            department.id if department else None,
            number,
            first,
            replied,
            closed,
            due,
            resolved,
            satisfaction,
            reply_text,
            channel,
            citizen,
            ref,
        )

    def prepare(self, batch: list[_TicketRow]) -> None:
        """Database checks, then topic, sentiment and keywords; received tickets are routed."""
        self.check_stored_refs(Ticket.__table__, batch, lambda t: (t.channel, t.source_ref))
        table = Ticket.__table__
        numbers = {t.number: t.line for t in batch if t.number}
        for chunk in _chunks(list(numbers)):
            for taken in self.session.scalars(
                select(table.c.number).where(table.c.number.in_(chunk))
            ):
                self.errors.add(
                    numbers[taken],
                    "number",
                    f"工单编号 {taken} 已存在",
                    f"ticket number {taken} already exists",
                )
        if self.errors:
            return
        analyses = self.analyze([t.text for t in batch])
        for ticket in batch:
            analysis = analyses.get(ticket.text)
            if analysis is None:
                continue
            tickets.apply_analysis(ticket, analysis)
            if ticket.status != _S.RECEIVED:
                continue
            # The live rule (route_ticket), decided the same way: praise, assigned or triage.
            decision = tickets.decide_routing(self.ctx, analysis, ticket.text, self.directory)
            ticket.routed = decision.detail
            if decision.praise:
                ticket.status = _S.CLOSED.value
                ticket.praise_department_id = self.directory.id_of(decision.department_code)
                ticket.route_kind = "praise_recorded"
                continue
            ticket.predicted_department_id = self.directory.id_of(decision.predicted_code)
            if ticket.due is None:  # a 咨询's own SLA, as apply_request_type_sla
                ticket.due = tickets.question_due_date(
                    self.ctx, ticket.request_type, ticket.received
                )
            if decision.assigned:
                ticket.status = _S.ASSIGNED.value
                ticket.department_id = self.directory.id_of(decision.department_code)
                ticket.route_kind = "assigned"
            else:
                ticket.route_kind = "triage"

    def write(self, session: Session, batch: list[_TicketRow]) -> None:
        db, ctx = self.db, self.ctx
        citizen_ids = self.citizens.resolve(
            session, {t.citizen_ref for t in batch if t.citizen_ref}
        )
        self.number(session, batch)
        ids = db.new_ids(session, Ticket.__table__, len(batch))
        self.written.add("tickets", ids)
        now = db.time(ctx.now())
        records, events, closures = [], [], []
        t, f, d = db.time, db.flag, db.date
        router = tickets.ROUTER.label
        for ticket_id, ticket in zip(ids, batch, strict=True):
            response_due, due = tickets.ticket_due_dates(ctx, ticket.received)
            due = ticket.due or due
            keywords = (
                json.dumps(ticket.keywords, ensure_ascii=False)
                if ticket.keywords is not None
                else None
            )
            records.append(
                (ticket_id, ticket.number, citizen_ids.get(ticket.citizen_ref), ticket.channel)
                + (ticket.source_ref, ticket.text, ticket.status, ticket.department_id)
                + (ticket.predicted_department_id, ticket.topic, ticket.topic_confidence)
                + (ticket.sentiment_score, ticket.sentiment_label, keywords)
                + (ticket.request_type, ticket.request_type_probability)
                + (ticket.praise_department_id,)
                + (f(ticket.status == _S.RECEIVED), t(ticket.received), d(response_due))
                + (t(ticket.first_response), d(due), d(due), t(ticket.replied), t(ticket.replied))
                + (ticket.reply_text, t(ticket.closed), t(ticket.closed), 0, 0, f(False), 0, now)
            )
            routed = ticket.routed
            imported_as = _S.RECEIVED.value if routed is not None else ticket.status
            detail = {"import": self.import_id, "file": self.path_name, "line": ticket.line}
            events.append(
                (ticket_id, "imported", None, imported_as, IMPORT_ACTOR, json.dumps(detail), now)
            )
            if routed is not None:  # the same events as route_ticket, by the same actor
                kind = ticket.route_kind
                events.append(
                    (
                        ticket_id,
                        kind,
                        _S.RECEIVED.value,
                        ticket.status,
                        router,
                        json.dumps(routed, ensure_ascii=False),
                        now,
                    )
                )
                if kind == "assigned":
                    self.report.routed += 1
                elif kind == "praise_recorded":
                    self.report.praise += 1
            if ticket.status == _S.RECEIVED:
                self.report.triage += 1
            if ticket.closed is not None:
                answered = ticket.resolved is not None or ticket.satisfaction is not None
                closures.append(
                    (ticket_id, 1, ticket.department_id, d(due), t(ticket.closed), IMPORT_ACTOR)
                    + (f(ticket.resolved), ticket.satisfaction)
                    + ((t(ticket.closed), IMPORT_ACTOR) if answered else (None, None))
                )
        db.insert(session, Ticket.__table__, self.INSERT, records)
        db.insert(session, TicketEvent.__table__, self.EVENT, events)
        db.insert(session, TicketClosure.__table__, self.CLOSURE, closures)
        self.report.rows += len(records)

    def number(self, session: Session, batch: list[_TicketRow]) -> None:
        """Numbers for the rows without one; each day's counter moves past the file's own."""
        highest: dict[date, int] = {}
        wanted: dict[date, list[_TicketRow]] = {}
        for ticket in batch:
            if ticket.number is None:
                wanted.setdefault(self.ctx.local_date(ticket.received), []).append(ticket)
            elif (parsed := tickets.ticket_number_serial(self.ctx, ticket.number)) is not None:
                highest[parsed[0]] = max(highest.get(parsed[0], 0), parsed[1])
        for day in sorted(set(highest) | set(wanted)):
            rows = wanted.get(day, [])
            numbers = tickets.next_ticket_numbers(
                session, self.ctx, day, len(rows), after=highest.get(day, 0)
            )
            for ticket, number in zip(rows, numbers, strict=True):
                ticket.number = number


def _status(raw: str) -> str:
    try:
        return _S(raw.lower()).value
    except ValueError:
        known = ", ".join(f"{s.value}（{STATUS_ZH[s]}）" for s in _S)
        raise ValidationFailed(
            f"未知状态 {raw[:20]!r}，可用：{known}",
            f"unknown status {raw[:20]!r}; one of {', '.join(_S)}",
        ) from None


def _flag(raw: str) -> bool:
    return check_flag(_BOOLEANS.get(raw.lower(), raw), field_zh="是否解决", field_en="resolved")


def _number(raw: str) -> str:
    if len(raw) > 32 or not raw.isprintable():
        raise ValidationFailed(
            "工单编号无效（最多 32 个字符）", "invalid ticket number (at most 32 characters)"
        )
    return raw


# --------------------------------------------------------------------------- running


def import_ratings(
    engine: Engine,
    ctx: ServiceContext,
    path: str | Path,
    *,
    progress: ProgressCallback | None = None,
    offline: bool = False,
    batch_rows: int = BATCH_ROWS,
) -> ImportReport:
    """Import a ratings CSV (columns in docs/import.md): every row, or none and ImportFailed.

    Comments are scored by `ctx`'s NLP (none without an analyzer). `progress(done, total)` is
    called while checking and again while writing; `offline=True` is the locking fast path for
    a database nothing else is connected to.
    """
    return _import(_Ratings, engine, ctx, path, progress, offline, batch_rows)


def import_tickets(
    engine: Engine,
    ctx: ServiceContext,
    path: str | Path,
    *,
    progress: ProgressCallback | None = None,
    offline: bool = False,
    batch_rows: int = BATCH_ROWS,
) -> ImportReport:
    """Import a tickets CSV like `import_ratings`; received tickets are routed as live ones."""
    return _import(_Tickets, engine, ctx, path, progress, offline, batch_rows)


def _import(job_class, engine, ctx, path, progress, offline, batch_rows) -> ImportReport:
    started = time.perf_counter()
    path = Path(path)
    if not path.is_file():
        raise ImportFailed(path, [RowError(0, None, f"找不到文件 {path}", f"no such file {path}")])
    encoding, total_lines = _sniff_file(path)
    import_id = f"{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"
    report = ImportReport(job_class.kind, str(path), encoding, import_id, offline)
    with make_session_factory(engine, read_only=True)() as session:
        job = job_class(ctx, session, _Db(engine), report)
        job.path_name, job.import_id, job.expected_rows = path.name, import_id, total_lines - 1
        if offline:  # one transaction: a refusal rolls it back
            _write_offline(
                engine, job, lambda: _checked(job, path, encoding, None, batch_rows), progress
            )
        else:
            with tempfile.TemporaryFile(prefix="minyi-import-") as spool:
                spooled = 0
                for batch in _checked(job, path, encoding, progress, batch_rows):
                    pickle.dump(batch, spool, protocol=pickle.HIGHEST_PROTOCOL)
                    spooled += 1
                _raise_refusal(job, path)
                session.rollback()  # no read snapshot held while writing (SQLite's WAL)
                spool.seek(0)
                log.info("import %s: writing %s from %s", import_id, job.kind, path)
                _write_live(engine, job, (pickle.load(spool) for _ in range(spooled)), progress)
    report.seconds = time.perf_counter() - started
    log.info("import %s: %s", import_id, report)
    return report


def _raise_refusal(job, path) -> None:
    if job.errors:
        raise ImportFailed(path, job.errors.items, job.errors.full)


def _checked(job, path, encoding, progress, batch_rows) -> Iterator[list]:
    """Read and validate the file; yields its batches, prepared, while it is still clean."""
    errors, stats, total = job.errors, {}, max(job.expected_rows, 0)
    records = _records(path, encoding, errors, stats)
    header = next(records, None)
    if header is None:
        if not errors:
            errors.add(1, None, "文件是空的，没有表头", "the file is empty: no header row")
        return
    positions = _positions(header[1], job.columns, job.required, errors)
    if errors:
        return
    job.bind(positions)
    width, batch, rows = len(header[1]), [], 0
    for line, record in records:
        rows += 1
        if len(record) != width:
            errors.add(
                line,
                None,
                f"应有 {width} 列，实有 {len(record)} 列",
                f"expected {width} fields, found {len(record)}",
            )
            if errors.full:
                break
        elif (row := job.check(line, record)) is not None:
            batch.append(row)
            job.valid_rows += 1
        elif errors.full:
            break
        if len(batch) >= batch_rows:
            job.prepare(batch)
            if not errors:
                yield batch
            batch = []
            if progress is not None:
                progress(min(line - 1, total), total)
    if batch:
        job.prepare(batch)
        if not errors:
            yield batch
    job.report.blank_lines = stats.get("blank", 0)
    if not rows and not errors:
        errors.add(2, None, "文件没有数据行", "the file has no data rows")
    if progress is not None:
        progress(total, total)


def _ahead(items: Iterator) -> Iterator:
    """`items` produced in a thread a few steps ahead, so that checking overlaps writing.

    SQLite and psycopg release the GIL while they work. Each connection stays in one thread.
    """
    box: queue.Queue = queue.Queue(maxsize=2)
    stop, end = threading.Event(), object()

    def put(item) -> None:
        while not stop.is_set():
            try:
                return box.put(item, timeout=0.1)
            except queue.Full:
                pass

    def produce() -> None:
        try:
            for item in items:
                put(item)
                if stop.is_set():
                    return
            put(end)
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
            put(exc)

    thread = threading.Thread(target=produce, name="minyi-import-check", daemon=True)
    thread.start()
    try:
        while (item := box.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _write_live(engine, job, batches, progress) -> None:
    """Each batch its own short transaction; on any failure the committed ones are removed."""
    report, factory = job.report, make_session_factory(engine)
    try:
        for batch in batches:
            with factory.begin() as session:  # BEGIN IMMEDIATE on SQLite
                job.write(session, batch)
                if report.batches == 0:  # readers see the days stale from the first rows on
                    _mark_indicator_days(session, job)
            log.debug(
                "import %s committed %s",
                report.import_id,
                [(table, min(ids), max(ids)) for table, ids in job.written.pending if ids],
            )
            job.written.commit()
            report.batches += 1
            if progress is not None:
                progress(report.rows, job.valid_rows)
        # Again at the end: a refresh between two batches must not leave later rows out.
        with factory.begin() as session:
            _mark_indicator_days(session, job)
    except BaseException as failure:
        _undo(job, factory, report)
        if isinstance(failure, DBAPIError | engine.dialect.loaded_dbapi.Error):
            raise _conflict(failure, report) from failure
        raise


def _undo(job, factory, report) -> None:
    """Delete what the failed import committed; if even that fails, say what is left where."""
    try:
        job.written.delete(factory)
        with factory.begin() as session:
            _mark_indicator_days(session, job)
    except Exception:
        log.exception(
            "import %s: removing its rows failed; left behind (table: id runs): %s",
            report.import_id,
            job.written.runs,
        )
        raise
    log.warning(
        "import %s failed while writing; its %d rows were removed", report.import_id, report.rows
    )
    report.rows = report.follow_ups = report.citizens_created = 0


def _conflict(failure: Exception, report) -> WriteFailed:
    reason = str(getattr(failure, "orig", failure)).splitlines()[0][:200]
    return WriteFailed(
        f"写入时数据库拒绝了一批数据（{reason}），已撤销本次导入写入的全部数据，请重试",
        f"the database refused a batch while writing ({reason}); everything this import had "
        "written was removed: try again",
        import_id=report.import_id,
    )


def _write_offline(engine, job, checked: Callable[[], Iterator[list]], progress) -> None:
    """One transaction, no per-row foreign-key probes, large first imports rebuild indexes."""
    sqlite = not job.db.postgres
    with engine.connect() as conn:
        if sqlite:  # the pragma only works outside a transaction; undone before the pool
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with Session(bind=conn) as session, session.begin():
                rebuild = _drop_indexes(session, job, sqlite)
                if sqlite:  # checking overlaps writing; readers never wait for SQLite's writer
                    batches = _ahead(checked())
                else:  # PostgreSQL readers would wait for the dropped indexes' locks
                    job.session, batches = session, checked()
                for batch in batches:
                    job.write(session, batch)
                    job.report.batches += 1
                    if progress is not None:
                        progress(job.report.rows, max(job.expected_rows, job.report.rows))
                _raise_refusal(job, job.report.path)  # rolls everything back
                _mark_indicator_days(session, job)
                for statement in rebuild:
                    session.execute(text(statement))
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


def _drop_indexes(session: Session, job, sqlite: bool) -> list[str]:
    """Drop the ratings indexes (and PostgreSQL's foreign keys) when rebuilding them is cheaper.

    Only for a ratings file of at least REBUILD_MIN_ROWS rows and at least the size of the
    table (a county's first import). The drop is part of the transaction, so a failed import
    rolls it back; returns the statements that restore them.
    """
    table = Rating.__table__
    if job.kind != "ratings" or job.expected_rows < REBUILD_MIN_ROWS:
        return []
    if job.expected_rows < session.scalar(select(func.count()).select_from(table)):
        return []
    if sqlite:
        found = session.execute(
            text(
                "SELECT name, sql FROM sqlite_master "
                "WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL"
            ),
            {"t": table.name},
        ).all()
        keys = []
    else:
        found = session.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                "AND tablename = :t AND indexname NOT IN "
                "(SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass))"
            ),
            {"t": table.name},
        ).all()
        # PostgreSQL checks a foreign key with a trigger per row; re-adding it is one join.
        keys = session.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = CAST(:t AS regclass) AND contype = 'f'"
            ),
            {"t": table.name},
        ).all()
        session.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    for name, _definition in keys:
        session.execute(text(f'ALTER TABLE {table.name} DROP CONSTRAINT "{name}"'))
    for name, _sql in found:
        session.execute(text(f'DROP INDEX "{name}"'))
    return [sql for _name, sql in found] + [
        f'ALTER TABLE {table.name} ADD CONSTRAINT "{name}" {definition}'
        for name, definition in keys
    ]
