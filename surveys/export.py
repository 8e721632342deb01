"""Responses as a table: one row per submitted response, one column per question key.

The columns are the same for every round and version of a survey (every key any version
has, the latest version's order first), so exports of successive rounds line up. Multiple
choices are joined with ";". CSV is UTF-8 with a byte-order mark (Excel opens it as UTF-8);
XLSX is written with openpyxl. A text that a spreadsheet would read as a formula (=, +, -, @)
is kept as text: CSV gets a leading apostrophe, XLSX a string cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from minyi.errors import ValidationFailed
from minyi.models import SurveyQuestion, SurveyResponse, SurveyRound, SurveyVersion
from minyi.services.context import ServiceContext
from surveys.catalog import get_survey
from surveys.rounds import get_round

FIXED_COLUMNS = ("response_id", "round", "version", "submitted_at", "channel")
FORMATS = ("csv", "xlsx")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_columns(session: Session, slug: object) -> list[str]:
    """The header: fixed columns, then every question key of every version of the survey."""
    survey = get_survey(session, slug)
    rows = session.execute(
        select(SurveyQuestion.key)
        .join(SurveyVersion, SurveyVersion.id == SurveyQuestion.version_id)
        .where(SurveyVersion.survey_id == survey.id)
        .order_by(SurveyVersion.number.desc(), SurveyQuestion.position)
    ).scalars()
    keys: dict[str, None] = {}
    for key in rows:
        keys.setdefault(key)
    return [*FIXED_COLUMNS, *keys]


def export_rows(
    session: Session, ctx: ServiceContext, slug: object, *, round_number: int | None = None
) -> Iterator[list[Any]]:
    """The header row, then one row per submitted response (all rounds when no number)."""
    survey = get_survey(session, slug)
    header = export_columns(session, survey.slug)
    yield header
    position = {key: index for index, key in enumerate(header)}
    query = (
        select(
            SurveyResponse.id,
            SurveyRound.number,
            SurveyVersion.number,
            SurveyResponse.submitted_at,
            SurveyResponse.channel,
            SurveyResponse.answers,
        )
        .join(SurveyRound, SurveyRound.id == SurveyResponse.round_id)
        .join(SurveyVersion, SurveyVersion.id == SurveyResponse.version_id)
        .where(SurveyRound.survey_id == survey.id, SurveyResponse.submitted_at.is_not(None))
        .order_by(SurveyRound.number, SurveyResponse.id)
    )
    if round_number is not None:
        round_ = get_round(session, survey.slug, round_number)
        query = query.where(SurveyResponse.round_id == round_.id)
    blank = [None] * (len(header) - len(FIXED_COLUMNS))
    for rid, rnum, vnum, submitted, channel, answers in session.execute(
        query.execution_options(yield_per=5000)
    ):
        local = submitted.astimezone(ctx.timezone).replace(tzinfo=None)
        row = [rid, rnum, vnum, local.isoformat(sep=" ", timespec="seconds"), str(channel)]
        row += blank
        for key, value in (answers or {}).items():
            if key in position:
                row[position[key]] = (
                    (";".join(value) or None) if isinstance(value, list) else value
                )
        yield row


def write_export(
    session: Session,
    ctx: ServiceContext,
    slug: object,
    path: Path,
    *,
    format: str,
    round_number: int | None = None,
) -> int:
    """Write the responses to `path` as csv or xlsx; returns the number of responses written."""
    if format not in FORMATS:
        raise ValidationFailed(
            f"导出格式须为 csv 或 xlsx，而不是 {format!r}",
            f"format must be csv or xlsx, not {format!r}",
        )
    rows = export_rows(session, ctx, slug, round_number=round_number)
    if format == "csv":
        return _write_csv(path, rows)
    return _write_xlsx(path, rows)


def csv_lines(rows: Iterator[list[Any]]) -> Iterator[str]:
    """The rows as CSV text, one line at a time (a web download streams them as they come)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(["" if v is None else _csv_safe(v) for v in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _write_csv(path: Path, rows: Iterator[list[Any]]) -> int:
    written = -1
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        for line in csv_lines(rows):
            handle.write(line)
            written += 1
    return written


def _write_xlsx(path: Path, rows: Iterator[list[Any]]) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("responses")
    written = -1
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # openpyxl reads a leading "=" as a formula
            cells.append(cell)
        sheet.append(cells)
        written += 1
    workbook.save(path)
    return written


def _csv_safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
