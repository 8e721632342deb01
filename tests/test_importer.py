"""CSV import of ratings and tickets: good files land exactly, a bad row writes nothing."""

from __future__ import annotations

import io
import re
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, inspect, select

from minyi import importer
from minyi.cli import main
from minyi.config import load_settings
from minyi.db import make_engine, make_session_factory
from minyi.demo import load_demo
from minyi.errors import MinyiError
from minyi.importer import ImportFailed, WriteFailed, tqdm_progress
from minyi.indicators import department_indicators, rebuild_rollups, refresh_rollups
from minyi.models import (
    BadReviewFollowUp,
    Citizen,
    Rating,
    Role,
    Ticket,
    TicketClosure,
    TicketEvent,
)
from minyi.services import catalog, ratings, tickets
from minyi.services.actors import Actor
from minyi.services.context import ServiceContext
from tests.builders import FakeAnalysis

HEADER = "created_at,service_code,score,comment,channel,outlet_code,citizen_ref,source_ref"
INJECTION = "'); DROP TABLE ratings; --<script>alert(1)</script>"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "import.md"


@pytest.fixture
def catalogue(session_factory):
    with session_factory.begin() as s:
        rsj = catalog.create_department(s, code="rsj", name="人社局")
        zjj = catalog.create_department(s, code="zjj", name="住建局")
        catalog.create_service(s, department=rsj, code="rsj-01", name="社保卡申领")
        catalog.create_service(s, department=zjj, code="zjj-01", name="住房公积金提取")
        catalog.create_outlet(s, code="hall-1f", name="第一服务大厅")
        return {"rsj": rsj.id, "zjj": zjj.id}


@pytest.fixture
def ictx(settings):
    """Import context without NLP, its clock on 2026-11-25 10:00 in Beijing."""
    return ServiceContext.from_settings(
        settings, analyzer=None, clock=lambda: datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    )


def import_ratings(engine, ctx, path, **kwargs):
    return importer.import_ratings(engine, ctx, path, **kwargs)


def import_tickets(engine, ctx, path, **kwargs):
    return importer.import_tickets(engine, ctx, path, **kwargs)


def write(tmp_path: Path, text: str, name: str = "in.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def lines(*rows: str) -> str:
    return "".join(f"{row}\n" for row in rows)


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(model.__table__))


def assert_nothing_written(engine) -> None:
    for model in (
        Rating,
        BadReviewFollowUp,
        Citizen,
        Ticket,
        TicketEvent,
        TicketClosure,
    ):
        assert count(engine, model) == 0, model.__name__


def refused(engine, ctx, path, importer_function=import_ratings) -> ImportFailed:
    with pytest.raises(ImportFailed) as info:
        importer_function(engine, ctx, path)
    assert_nothing_written(engine)
    return info.value


def rating_rows(n: int, bad_every: int = 5) -> list[str]:
    return [
        f"2025-03-03 09:{m % 60:02d},rsj-01,{1 if m % bad_every == 0 else 4},好,,,c{m % 7},r{m}"
        for m in range(n)
    ]


# --------------------------------------------------------------------------- ratings


def test_good_file_imports_exactly(engine, ictx, catalogue, session_factory, tmp_path):
    path = write(
        tmp_path,
        lines(
            HEADER,
            '2025-03-03 09:30,rsj-01,5,"办事很快，谢谢",web,hall-1f,c1,old-1',
            # A Friday morning in Beijing is still Thursday in UTC: the deadline counts from
            # the local day, over the make-up Sunday 9-28 and the National Day holiday.
            "2025-09-26 07:30,zjj-01,2,排队太久,,,c2,old-2",
            (
                f'2025-03-04T10:00:00+08:00,rsj-01,4,"{INJECTION.replace(chr(34), chr(34) * 2)}",'
                "telegram,,c1,old-3"
            ),
            "2025-03-05 08:00:00,rsj-01,1,,phone,,,",
            "",
        ),
    )
    calls = []
    report = import_ratings(engine, ictx, path, progress=lambda *a: calls.append(a))

    assert (report.rows, report.follow_ups, report.citizens_created) == (4, 2, 2)
    assert calls[-1] == (4, 4)  # the last call is the write phase's
    assert (5, 5) in calls  # the check phase counted the file's lines after the header
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with session_factory() as s:
        rows = s.scalars(select(Rating).order_by(Rating.id)).all()
        assert [r.score for r in rows] == [5, 2, 4, 1]
        first, bad, injected, phone = rows
        assert first.created_at == datetime(2025, 3, 3, 1, 30, tzinfo=UTC)
        assert first.comment == "办事很快，谢谢"
        assert first.channel == "web" and first.source_ref == "old-1"
        assert first.department_id == catalogue["rsj"]
        assert first.outlet_id is not None
        assert first.sentiment_score is None  # no NLP in this context
        assert bad.department_id == catalogue["zjj"] and bad.channel == "import"
        assert injected.comment == INJECTION
        assert injected.created_at == datetime(2025, 3, 4, 2, 0, tzinfo=UTC)
        assert injected.citizen_id == first.citizen_id is not None
        assert phone.citizen_id is None and phone.comment is None
        citizens = s.scalars(select(Citizen).order_by(Citizen.external_id)).all()
        assert [(c.channel, c.external_id) for c in citizens] == [
            ("import", "c1"),
            ("import", "c2"),
        ]
        follow_up = bad.follow_up
        assert follow_up.status == "open"
        assert follow_up.deadline == date(2025, 10, 10)
        assert follow_up.deadline == ratings.follow_up_deadline(ictx, bad.created_at)
        assert follow_up.department_id == catalogue["zjj"]
        assert follow_up.created_at == bad.created_at
        assert phone.follow_up.deadline == date(2025, 3, 12)
        # The bulk path stores times exactly as the ORM compares them.
        assert (
            s.scalar(
                select(Rating.id).where(
                    Rating.created_at == datetime(2025, 9, 25, 23, 30, tzinfo=UTC)
                )
            )
            == bad.id
        )


def test_completed_follow_up_and_aspect(engine, ictx, catalogue, session_factory, tmp_path):
    path = write(
        tmp_path,
        "created_at,service_code,score,aspect,follow_up_completed_at\n"
        "2025-03-03 09:30,rsj-01,1,服务态度,2025-03-05 17:00\n",
    )
    import_ratings(engine, ictx, path)
    with session_factory() as s:
        follow_up = s.scalars(select(BadReviewFollowUp)).one()
        assert follow_up.status == "completed"
        assert follow_up.completed_at == datetime(2025, 3, 5, 9, 0, tzinfo=UTC)
        assert follow_up.rating.aspect == "服务态度"


def test_comments_get_the_sentiment_a_live_rating_gets(
    engine, settings, catalogue, session_factory, tmp_path
):
    seen = []

    def batch(texts):
        seen.append(list(texts))
        return [FakeAnalysis("x", 0.9, sentiment_score=len(t) / 10) for t in texts]

    ctx = ServiceContext.from_settings(
        settings,
        analyzer=lambda text: FakeAnalysis("x", 0.9, sentiment_score=len(text) / 10),
        batch_analyzer=batch,
    )
    path = write(
        tmp_path,
        "created_at,service_code,score,comment\n"
        "2025-03-03 09:30,rsj-01,5,很好\n2025-03-03 09:31,rsj-01,1,太慢了\n"
        "2025-03-03 09:32,rsj-01,4,很好\n2025-03-03 09:33,rsj-01,3,\n",
    )
    report = import_ratings(engine, ctx, path)
    assert report.analysed == 2 and seen == [["很好", "太慢了"]]  # each distinct text once
    with session_factory.begin() as s:
        imported = [r.sentiment_score for r in s.scalars(select(Rating).order_by(Rating.id))]
        live = ratings.record_rating(s, ctx, service="rsj-01", score=3, comment="太慢了")
        assert imported == [0.2, 0.3, 0.2, None]
        assert live.sentiment_score == imported[1]


def test_bad_row_reports_its_line_and_column_and_writes_nothing(engine, ictx, catalogue, tmp_path):
    rows = [f"2025-03-03 09:{n:02d},rsj-01,{n % 5 + 1},,,,c{n},r{n}" for n in range(8)]
    rows[5] = "2025-03-03 10:00,rsj-01,7,,,,c9,r9"  # file line 7
    path = write(tmp_path, lines(HEADER, *rows))
    error = refused(engine, ictx, path)
    assert [(e.line, e.column) for e in error.errors] == [(7, "score")]
    assert "第 7 行" in error.message_zh and "line 7" in error.message_en
    assert "1 到 5" in error.errors[0].message_zh


def test_bad_row_after_written_chunks_still_writes_nothing(engine, ictx, catalogue, tmp_path):
    rows = [f"2025-03-03 09:{n:02d},rsj-01,{n % 5 + 1},,,,c{n},r{n}" for n in range(30)]
    rows.append("2025-03-03 10:00,nope-999,3,,,,,")
    path = write(tmp_path, lines(HEADER, *rows))
    with pytest.raises(ImportFailed) as info:
        import_ratings(engine, ictx, path, batch_rows=4)
    assert [(e.line, e.column) for e in info.value.errors] == [(32, "service_code")]
    assert "nope-999" in info.value.errors[0].message_zh
    assert_nothing_written(engine)


def test_every_bad_row_is_listed_up_to_the_limit(engine, ictx, catalogue, tmp_path):
    rows = [
        "2025-13-01 10:00,rsj-01,3",
        "yesterday,rsj-01,3",
        "2025-03-03 10:00,,3",
        "2025-03-03 10:00,rsj-01,3,extra",
        "2099-01-01 10:00,rsj-01,3",
        "2025/03/03 10:00,rsj-01,3",
    ]
    path = write(tmp_path, "created_at,service_code,score\n" + "\n".join(rows * 5) + "\n")
    error = refused(engine, ictx, path)
    assert len(error.errors) == 20 and error.truncated
    first = error.errors[:5]
    assert [(e.line, e.column) for e in first] == [
        (2, "created_at"),
        (3, "created_at"),
        (4, "service_code"),
        (5, None),
        (6, "created_at"),
    ]
    assert "无法识别的时间" in first[0].message_zh and "unreadable time" in first[1].message_en
    assert "未来" in first[4].message_zh
    assert all(e.line % 6 != 1 for e in error.errors)  # "2025/03/03 10:00" is accepted


def test_unknown_service_code(engine, ictx, catalogue, tmp_path):
    path = write(tmp_path, "created_at,service_code,score\n2025-03-03 10:00,rsj-404,3\n")
    error = refused(engine, ictx, path)
    assert [(e.line, e.column) for e in error.errors] == [(2, "service_code")]
    assert "rsj-404" in error.errors[0].message_en


@pytest.mark.parametrize(
    "value", ["2025-02-30 10:00", "10:00 2025-03-03", "3/3/2025", "2025-03-03 25:00"]
)
def test_bad_date(engine, ictx, catalogue, tmp_path, value):
    path = write(tmp_path, f"created_at,service_code,score\n{value},rsj-01,3\n")
    error = refused(engine, ictx, path)
    assert [(e.line, e.column) for e in error.errors] == [(2, "created_at")]


def test_gbk_file(engine, ictx, catalogue, session_factory, tmp_path):
    path = write(
        tmp_path,
        "created_at,service_code,score,comment\r\n"
        "2025-03-03 10:00,rsj-01,4,窗口人员解释得很清楚\r\n",
        encoding="gbk",
    )
    report = import_ratings(engine, ictx, path)
    assert report.encoding == "gb18030"
    with session_factory() as s:
        assert s.scalar(select(Rating.comment)) == "窗口人员解释得很清楚"


def test_bom_and_header_case(engine, ictx, catalogue, session_factory, tmp_path):
    path = write(
        tmp_path,
        "Created_At, Service_Code ,SCORE,comment\n2025-03-03 10:00,rsj-01,4,好\n",
        encoding="utf-8-sig",
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert import_ratings(engine, ictx, path).rows == 1
    with session_factory() as s:
        assert s.scalar(select(Rating.comment)) == "好"


def test_undecodable_file(engine, ictx, catalogue, tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"created_at,service_code,score\n\x80\xff\x80,rsj-01,3\n")
    error = refused(engine, ictx, path)
    assert "UTF-8" in error.errors[0].message_zh and "GBK" in error.errors[0].message_en


def test_missing_and_unknown_columns(engine, ictx, catalogue, tmp_path):
    path = write(tmp_path, "created_at,service_code,scor\n2025-03-03 10:00,rsj-01,3\n")
    error = refused(engine, ictx, path)
    assert {(e.line, e.column) for e in error.errors} == {(1, "scor"), (1, "score")}
    assert any("缺少必填列 score" in e.message_zh for e in error.errors)


@pytest.mark.parametrize("content", ["", "\n\n", "\ufeff"])
def test_empty_file(engine, ictx, catalogue, tmp_path, content):
    error = refused(engine, ictx, write(tmp_path, content))
    assert error.errors[0].line == 1 and "空" in error.errors[0].message_zh


def test_huge_fields(engine, ictx, catalogue, tmp_path):
    long_comment = "很" * (ictx.settings.ratings.max_comment_chars + 1)
    path = write(
        tmp_path,
        f"created_at,service_code,score,comment\n2025-03-03 10:00,rsj-01,3,{long_comment}\n",
    )
    error = refused(engine, ictx, path)
    assert [(e.line, e.column) for e in error.errors] == [(2, "comment")]
    assert "太长" in error.errors[0].message_zh
    # Past csv's field limit (unless another module raised it): refused either way.
    path = write(
        tmp_path,
        f"created_at,service_code,score,comment\n2025-03-03 10:00,rsj-01,3,{'x' * 200_000}\n",
        name="huge.csv",
    )
    error = refused(engine, ictx, path)
    assert [(e.line, e.column) for e in error.errors] in ([(2, None)], [(2, "comment")])


@pytest.mark.parametrize("importer_function", [import_ratings, import_tickets])
def test_unbalanced_quote_swallows_nothing(engine, ictx, catalogue, tmp_path, importer_function):
    path = write(
        tmp_path,
        lines(
            "received_at,text"
            if importer_function is import_tickets
            else "created_at,service_code,score,comment",
            "2025-03-03 10:00,rsj-01,3,fine"
            if importer_function is import_ratings
            else "2025-03-03 10:00,路灯坏了很久",
            '2025-03-03 10:00,rsj-01,3,"unbalanced'
            if importer_function is import_ratings
            else '2025-03-03 10:00,"路灯坏了',
            "2025-03-03 10:00,rsj-01,4,next row",
            "2025-03-03 10:00,rsj-01,5,last row",
        ),
    )
    error = refused(engine, ictx, path, importer_function)
    assert [e.line for e in error.errors] == [3]
    assert "CSV" in error.errors[0].message_zh and "quotes" in error.errors[0].message_en


def test_source_ref_unique_in_file_and_database(engine, ictx, catalogue, tmp_path):
    path = write(
        tmp_path,
        "created_at,service_code,score,channel,source_ref\n"
        "2025-03-03 10:00,rsj-01,3,web,a1\n"
        "2025-03-03 10:00,rsj-01,3,phone,a1\n",
    )
    assert import_ratings(engine, ictx, path).rows == 2
    again = write(
        tmp_path,
        "created_at,service_code,score,channel,source_ref\n"
        "2025-03-03 10:00,rsj-01,3,web,a2\n"
        "2025-03-03 10:00,rsj-01,3,web,a2\n"
        "2025-03-03 10:00,rsj-01,3,phone,a1\n",
        name="again.csv",
    )
    with pytest.raises(ImportFailed) as info:
        import_ratings(engine, ictx, again)
    assert [(e.line, e.column) for e in info.value.errors] == [
        (3, "source_ref"),
        (4, "source_ref"),
    ]
    assert count(engine, Rating) == 2


def test_unknown_outlet_and_channel(engine, ictx, catalogue, tmp_path):
    path = write(
        tmp_path,
        "created_at,service_code,score,channel,outlet_code\n"
        "2025-03-03 10:00,rsj-01,3,fax,\n"
        "2025-03-03 10:00,rsj-01,3,,hall-99\n",
    )
    error = refused(engine, ictx, path)
    assert [(e.line, e.column) for e in error.errors] == [(2, "channel"), (3, "outlet_code")]


def test_follow_up_completion_only_for_bad_reviews(engine, ictx, catalogue, tmp_path):
    path = write(
        tmp_path,
        "created_at,service_code,score,follow_up_completed_at\n"
        "2025-03-03 10:00,rsj-01,5,2025-03-04 10:00\n"
        "2025-03-03 10:00,rsj-01,1,2025-03-02 10:00\n",
    )
    error = refused(engine, ictx, path)
    assert [(e.line, e.column) for e in error.errors] == [
        (2, "follow_up_completed_at"),
        (3, "follow_up_completed_at"),
    ]


def test_header_only_file_is_refused_and_blank_lines_are_skipped(
    engine, ictx, catalogue, tmp_path
):
    error = refused(engine, ictx, write(tmp_path, HEADER + "\n\n"))
    assert [(e.line, e.column) for e in error.errors] == [(2, None)]
    assert error.errors[0].message_zh == "文件没有数据行"
    assert error.errors[0].message_en == "the file has no data rows"
    path = write(
        tmp_path,
        "created_at,service_code,score\n\n2025-03-03 10:00,rsj-01,3\n"
        ",,\n\n2025-03-03 10:00,rsj-01,x\n",
        name="blank.csv",
    )
    error = refused(engine, ictx, path)
    assert [(e.line, e.column) for e in error.errors] == [(6, "score")]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("1900-01-01", False),
        ("1999-12-31 23:59", False),
        ("1999-12-31T17:00:00Z", True),  # 2000-01-01 01:00 in Beijing
        ("2000-01-01 00:00", True),
    ],
)
def test_times_before_2000_are_refused(engine, ictx, catalogue, tmp_path, value, ok):
    path = write(tmp_path, f"created_at,service_code,score\n{value},rsj-01,3\n")
    if ok:
        assert import_ratings(engine, ictx, path).rows == 1
        return
    error = refused(engine, ictx, path)
    assert [(e.line, e.column) for e in error.errors] == [(2, "created_at")]
    assert "2000-01-01" in error.errors[0].message_zh
    assert "before 2000-01-01" in error.errors[0].message_en


def service_refusal(call) -> tuple[str, str]:
    with pytest.raises(MinyiError) as info:
        call()
    return info.value.message_zh, info.value.message_en


@pytest.mark.parametrize(
    ("column", "value", "live"),
    [
        ("score", "9", {"score": "9"}),
        ("score", "²", {"score": "²"}),
        ("channel", "fax", {"channel": "fax"}),
        ("comment", "很" * 2001, {"comment": "很" * 2001}),
        ("service_code", "rsj-404", {"service": "rsj-404"}),
        ("aspect", "长" * 41, {"aspect": "长" * 41}),
        ("source_ref", "x" * 81, {"source_ref": "x" * 81}),
    ],
)
def test_rating_cells_are_refused_with_the_services_own_message(
    engine, ictx, catalogue, session_factory, tmp_path, column, value, live
):
    cells = {"created_at": "2025-03-03 10:00", "service_code": "rsj-01", "score": "3"}
    cells[column] = value
    path = write(tmp_path, lines(",".join(cells), ",".join(cells.values())))
    error = refused(engine, ictx, path)
    assert [(e.line, e.column) for e in error.errors] == [(2, column)]
    with session_factory() as s:
        fields = {"service": "rsj-01", "score": 3} | live
        expected = service_refusal(lambda: ratings.record_rating(s, ictx, **fields))
    assert (error.errors[0].message_zh, error.errors[0].message_en) == expected


@pytest.mark.parametrize(
    ("column", "value", "check"),
    [
        ("text", "太短", lambda ctx, v: tickets.check_complaint_text(ctx, v)),
        ("text", "长" * 5001, lambda ctx, v: tickets.check_complaint_text(ctx, v)),
        ("channel", "fax", lambda ctx, v: tickets.check_channel(v)),
        ("reply_text", "好", lambda ctx, v: tickets.check_reply_text(ctx, v)),
    ],
)
def test_ticket_cells_are_refused_with_the_services_own_message(
    engine, ictx, catalogue, tmp_path, column, value, check
):
    cells = {"received_at": "2025-03-03 10:00", "text": "门口路灯坏了很久", "channel": ""}
    cells |= {"department_code": "zjj", "replied_at": "2025-03-04 10:00", "reply_text": "已修好"}
    cells[column] = value
    path = write(tmp_path, lines(",".join(cells), ",".join(cells.values())))
    error = refused(engine, ictx, path, import_tickets)
    assert [(e.line, e.column) for e in error.errors] == [(2, column)]
    expected = service_refusal(lambda: check(ictx, value))
    assert (error.errors[0].message_zh, error.errors[0].message_en) == expected


def test_failure_in_the_middle_of_the_write_phase_leaves_nothing(
    engine, ictx, catalogue, session_factory, tmp_path, monkeypatch
):
    path = write(tmp_path, lines(HEADER, *rating_rows(50)))
    real_write = importer._Ratings.write
    calls = []

    def failing_write(self, session, batch):
        calls.append(len(batch))
        real_write(self, session, batch)
        if len(calls) == 4:  # three batches are committed by now; this one fails
            raise RuntimeError("disk full")

    monkeypatch.setattr(importer._Ratings, "write", failing_write)
    with session_factory.begin() as s:  # the site's own rows stay untouched
        kept = ratings.record_rating(s, ictx, service="rsj-01", score=1, source_ref="live-1")
    with pytest.raises(RuntimeError, match="disk full"):
        import_ratings(engine, ictx, path, batch_rows=10)
    assert calls == [10, 10, 10, 10]
    with session_factory() as s:
        assert s.scalars(select(Rating.id)).all() == [kept.id]
        assert s.scalars(select(BadReviewFollowUp.rating_id)).all() == [kept.id]
        assert s.scalar(select(func.count()).select_from(Citizen)) == 0
    # The same file imports afterwards: nothing of the first try is in the way.
    monkeypatch.setattr(importer._Ratings, "write", real_write)
    assert import_ratings(engine, ictx, path, batch_rows=10).rows == 50


def test_a_clash_with_a_live_row_while_writing_is_undone(
    engine, ictx, catalogue, session_factory, tmp_path, monkeypatch
):
    """A row the site stores between the check and the write: the import undoes itself."""
    path = write(tmp_path, lines(HEADER, *rating_rows(30)))
    real_write = importer._Ratings.write
    calls = []

    def site_writes_first(self, session, batch):
        calls.append(1)
        if len(calls) == 2:  # batch 1 is committed; the site now stores the file's row r29
            with self_factory.begin() as s:
                ratings.record_rating(
                    s, ictx, service="zjj-01", score=5, source_ref="r29", channel="import"
                )
        real_write(self, session, batch)

    self_factory = session_factory
    monkeypatch.setattr(importer._Ratings, "write", site_writes_first)
    with pytest.raises(WriteFailed) as info:
        import_ratings(engine, ictx, path, batch_rows=10)
    assert "removed" in info.value.message_en and "撤销" in info.value.message_zh
    with session_factory() as s:
        assert s.scalars(select(Rating.source_ref)).all() == ["r29"]
        assert s.scalar(select(func.count()).select_from(Citizen)) == 0


def test_live_writers_keep_succeeding_during_an_import(
    engine, ictx, catalogue, session_factory, tmp_path, monkeypatch
):
    """A thread rating through the service while the import writes: none of it fails."""
    path = write(tmp_path, lines(HEADER, *rating_rows(3000)))
    done, writing, wrote = threading.Event(), threading.Event(), threading.Event()
    stored, failures = [], []

    def site():
        n = 0
        while not done.is_set():
            n += 1
            try:
                with session_factory.begin() as s:
                    rating = ratings.record_rating(
                        s, ictx, service="zjj-01", score=n % 5 + 1, source_ref=f"w{n}"
                    )
                stored.append(rating.id)
                if writing.is_set():
                    wrote.set()
            except Exception as exc:  # noqa: BLE001 - counted: the test asserts there are none
                failures.append(exc)

    def progress(rows_done, total):
        # Between two batches of the write phase, let the site write at least once.
        if writing.is_set() and rows_done < total:
            assert wrote.wait(30)
            wrote.clear()

    real_write_live = importer._write_live

    def write_live(*args):
        writing.set()
        return real_write_live(*args)

    monkeypatch.setattr(importer, "_write_live", write_live)
    thread = threading.Thread(target=site)
    thread.start()
    try:
        report = import_ratings(engine, ictx, path, batch_rows=200, progress=progress)
    finally:
        done.set()
        thread.join()
    assert failures == []
    assert report.rows == 3000 and report.batches == 15
    with session_factory() as s:
        live = set(s.scalars(select(Rating.id).where(Rating.department_id == catalogue["zjj"])))
        imported = sorted(
            s.scalars(select(Rating.id).where(Rating.department_id == catalogue["rsj"]))
        )
    assert live == set(stored) and len(imported) == 3000
    # Interleaved: after each of batches 1-14 the site wrote before the next one began (the
    # write awaited after batch 1 may have come just before it).
    assert sum(imported[0] < rating_id < imported[-1] for rating_id in live) >= 13


def schema_of(engine) -> tuple[set[str], set[str]]:
    names = inspect(engine)
    indexes = {i["name"] for i in names.get_indexes("ratings")}
    keys = {k["name"] for k in names.get_foreign_keys("ratings")}
    return indexes, keys


def test_offline_import_rebuilds_indexes_and_rolls_back_as_one(
    engine, ictx, catalogue, tmp_path, monkeypatch
):
    monkeypatch.setattr(importer, "REBUILD_MIN_ROWS", 3)
    before = schema_of(engine)
    assert "ix_ratings_department_created" in before[0]
    real_write = importer._Ratings.write
    calls = []

    def failing_write(self, session, batch):
        calls.append(1)
        real_write(self, session, batch)
        if len(calls) == 2:
            raise RuntimeError("disk full")

    monkeypatch.setattr(importer._Ratings, "write", failing_write)
    path = write(tmp_path, lines(HEADER, *rating_rows(6, bad_every=2)))
    with pytest.raises(RuntimeError):
        importer.import_ratings(engine, ictx, path, batch_rows=2, offline=True)
    assert_nothing_written(engine)
    assert schema_of(engine) == before
    monkeypatch.setattr(importer._Ratings, "write", real_write)
    report = importer.import_ratings(engine, ictx, path, batch_rows=2, offline=True)
    assert report.rows == 6 and report.offline and report.batches == 3
    assert schema_of(engine) == before
    assert count(engine, BadReviewFollowUp) == 3
    if engine.dialect.name == "sqlite":  # the importer's pragma is undone on the way out
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_tqdm_progress(engine, ictx, catalogue, tmp_path):
    rows = "".join(f"2025-03-03 10:00,rsj-01,{n % 5 + 1}\n" for n in range(50))
    path = write(tmp_path, "created_at,service_code,score\n" + rows)
    out = io.StringIO()
    progress = tqdm_progress("导入评价", file=out)
    import_ratings(engine, ictx, path, progress=progress, batch_rows=10)
    progress.close()
    assert progress.bar is None
    assert "100%" in out.getvalue() and "50" in out.getvalue()


# --------------------------------------------------------------------------- tickets

TICKETS_HEADER = (
    "number,received_at,text,department_code,status,first_response_at,"
    "replied_at,closed_at,due_date,resolved,satisfaction,reply_text,citizen_ref"
)


def test_tickets_import(engine, ictx, catalogue, session_factory, tmp_path):
    path = write(
        tmp_path,
        lines(
            TICKETS_HEADER,
            (
                ",2025-09-30 10:00,小区路灯坏了一个多月,zjj,closed,2025-09-30 11:00,"
                "2025-10-09 09:00,2025-10-10 09:00,,true,4,已修复,c7"
            ),
            ",2025-09-30 12:00,噪音扰民，晚上睡不着,,,,,,,,,,",
            (
                "MY-20250930-0007,2025-09-30 13:00,社保卡补办要跑几趟,rsj,in_progress,"
                "2025-09-30 14:00,,,2025-10-20,,,,"
            ),
            (
                ",2025-10-01 09:00,公积金提取材料太多,zjj,replied,,2025-10-02 09:00,,,,,"
                "请携带身份证办理,"
            ),
        ),
    )
    report = import_tickets(engine, ictx, path)
    assert (report.rows, report.citizens_created) == (4, 1)
    with session_factory() as s:
        by_text = {t.text[:4]: t for t in s.scalars(select(Ticket))}
        closed, triage, started, replied = (
            by_text[k] for k in ("小区路灯", "噪音扰民", "社保卡补", "公积金提")
        )
        assert closed.status == "closed" and closed.resolved is True
        assert closed.satisfaction == 4 and closed.reply_text == "已修复"
        assert (
            closed.last_closed_at
            == closed.first_closed_at
            == datetime(2025, 10, 10, 1, 0, tzinfo=UTC)
        )
        assert closed.department_id == catalogue["zjj"] and not closed.needs_triage
        # 15 working days after 9-30, over the National Day holiday and make-up 10-11.
        assert closed.due_date == closed.original_due_date == date(2025, 10, 28)
        assert closed.response_due_date == date(2025, 10, 9)
        assert closed.citizen.external_id == "c7"
        assert triage.status == "received" and triage.needs_triage
        assert triage.department_id is None
        assert started.number == "MY-20250930-0007" and started.due_date == date(2025, 10, 20)
        assert replied.first_response_at == replied.last_replied_at  # a reply is a response
        # Generated numbers come after the file's own number on that day.
        assert {closed.number, triage.number} == {"MY-20250930-0008", "MY-20250930-0009"}
        assert replied.number == "MY-20251001-0001"
        events = s.scalars(select(TicketEvent)).all()
        assert {(e.kind, e.to_status, e.actor) for e in events} == {
            ("imported", "closed", "system:import"),
            ("imported", "received", "system:import"),
            ("imported", "in_progress", "system:import"),
            ("imported", "replied", "system:import"),
        }
        assert sorted(e.detail["line"] for e in events) == [2, 3, 4, 5]

    # The ticket service carries on from the imported numbers.
    ctx = ServiceContext.from_settings(
        ictx.settings, analyzer=None, clock=lambda: datetime(2025, 9, 30, 8, tzinfo=UTC)
    )
    with session_factory.begin() as s:
        ticket = tickets.file_ticket(s, ctx, text="垃圾站臭味很大请处理", channel="web")
        assert ticket.number == "MY-20250930-0010"


@pytest.mark.parametrize(
    ("row", "column"),
    [
        (",2025-03-03 10:00,门口路灯坏了,zjj,closed,,,,,,,,", "closed_at"),
        (",2025-03-03 10:00,门口路灯坏了,zjj,,2025-03-03 09:00,,,,,,,", "first_response_at"),
        (
            ",2025-03-03 10:00,门口路灯坏了,zjj,closed,,2025-03-05 10:00,2025-03-04 10:00,,,,,",
            "closed_at",
        ),
        (",2025-03-03 10:00,门口路灯坏了,zjj,received,,,,,,,,", "status"),
        (",2025-03-03 10:00,门口路灯坏了,,assigned,,,,,,,,", "department_code"),
        (",2025-03-03 10:00,门口路灯坏了,zjj,assigned,,,,,true,,,", "resolved"),
        (",2025-03-03 10:00,门口路灯坏了,zjj,assigned,,,,,,9,,", "satisfaction"),
        (",2025-03-03 10:00,门口路灯坏了,xyz,assigned,,,,,,,,", "department_code"),
        (",2025-03-03 10:00,,zjj,,,,,,,,,", "text"),
        (",,门口路灯坏了,zjj,,,,,,,,,", "received_at"),
        (",2025-03-03 10:00,门口路灯坏了,zjj,done,,,,,,,,", "status"),
        (",2025-03-03 10:00,门口路灯坏了,zjj,,,,,2025-02-01,,,,", "due_date"),
    ],
)
def test_implausible_tickets_are_refused(engine, ictx, catalogue, tmp_path, row, column):
    good = ",2025-03-03 09:00,楼道堆放杂物,zjj,,,,,,,,,"
    path = write(tmp_path, lines(TICKETS_HEADER, good, row, good))
    error = refused(engine, ictx, path, import_tickets)
    assert (3, column) in [(e.line, e.column) for e in error.errors]


def test_ticket_numbers_must_be_new(engine, ictx, catalogue, tmp_path):
    path = write(tmp_path, "number,received_at,text\nA-1,2025-03-03 10:00,门口路灯坏了\n")
    assert import_tickets(engine, ictx, path).rows == 1
    again = write(
        tmp_path,
        "number,received_at,text\nB-1,2025-03-03 10:00,路灯坏了很久\n"
        "B-1,2025-03-03 10:00,路灯坏了很久\nA-1,2025-03-03 10:00,路灯坏了很久\n",
        name="again.csv",
    )
    with pytest.raises(ImportFailed) as info:
        import_tickets(engine, ictx, again)
    assert [(e.line, e.column) for e in info.value.errors] == [(3, "number"), (4, "number")]
    assert count(engine, Ticket) == 1


def test_routed_import(engine, settings, catalogue, session_factory, tmp_path):
    """Received tickets are routed as live ones; others only get topic, sentiment, keywords."""
    by_text = {
        "社保卡补办要跑好几趟，太麻烦": FakeAnalysis("劳动和社会保障", 0.93, keywords=("社保卡",)),
        "路边有个坑，不知道找谁处理": FakeAnalysis("城乡建设", 0.35, needs_review=True),
        "公积金提取手续太复杂了": FakeAnalysis("城乡建设", 0.88, sentiment_score=0.1),
    }
    batches = []

    def batch(texts):
        batches.append(len(texts))
        return [by_text[text] for text in texts]

    ctx = ServiceContext.from_settings(
        settings,
        analyzer=lambda text: by_text[text],
        batch_analyzer=batch,
        clock=lambda: datetime(2026, 11, 25, 2, 0, tzinfo=UTC),
    )
    path = write(
        tmp_path,
        lines(
            "received_at,text,department_code,status",
            "2025-09-30 10:00,社保卡补办要跑好几趟，太麻烦,,",
            "2025-09-30 11:00,路边有个坑，不知道找谁处理,,",
            "2025-09-30 12:00,公积金提取手续太复杂了,zjj,assigned",
        ),
    )
    report = import_tickets(engine, ctx, path)
    assert (report.rows, report.routed, report.triage, report.analysed) == (3, 1, 1, 3)
    assert batches == [3]
    with session_factory() as s:
        routed, triage, assigned = s.scalars(select(Ticket).order_by(Ticket.id)).all()
        assert routed.status == "assigned" and routed.department_id == catalogue["rsj"]
        assert not routed.needs_triage and routed.predicted_department_id == catalogue["rsj"]
        assert routed.topic == "劳动和社会保障" and routed.topic_confidence == 0.93
        assert routed.keywords == ["社保卡"] and routed.sentiment_label == "negative"
        assert [(e.kind, e.from_status, e.to_status, e.actor) for e in routed.events] == [
            ("imported", None, "received", "system:import"),
            ("assigned", "received", "assigned", "system:nlp"),
        ]
        assert routed.events[1].detail == {
            "topic": "劳动和社会保障",
            "confidence": 0.93,
            "department": "rsj",
        }
        assert triage.status == "received" and triage.needs_triage
        assert triage.department_id is None
        assert [e.kind for e in triage.events] == ["imported", "triage"]
        assert assigned.department_id == catalogue["zjj"] and assigned.topic == "城乡建设"
        assert assigned.sentiment_score == 0.1 and assigned.predicted_department_id is None
        assert [e.kind for e in assigned.events] == ["imported"]
        # The triage queue is the live one: staff route the imported ticket as any other.
        admin = Actor("staff", "staff:admin", role=Role.ADMIN)
        tickets.assign(s, ctx, s.get(Ticket, triage.id), "zjj", actor=admin)


def test_no_nlp_leaves_received_tickets_in_triage(
    engine, ictx, catalogue, session_factory, tmp_path
):
    path = write(tmp_path, "received_at,text\n2025-09-30 10:00,社保卡补办要跑好几趟\n")
    report = import_tickets(engine, ictx, path)
    assert (report.routed, report.triage, report.analysed) == (0, 1, 0)
    with session_factory() as s:
        ticket = s.scalars(select(Ticket)).one()
        assert ticket.status == "received" and ticket.topic is None
        assert [e.kind for e in ticket.events] == ["imported"]


def test_closed_ticket_history(engine, ictx, catalogue, session_factory, tmp_path):
    path = write(
        tmp_path,
        lines(
            "received_at,text,department_code,status,first_response_at,replied_at,closed_at,"
            "resolved,satisfaction,reply_text",
            "2025-03-03 09:00,门口路灯坏了很久,zjj,closed,2025-03-03 10:00,2025-03-04 10:00,"
            "2025-03-05 10:00,否,2,已报修",
            "2025-03-03 09:00,楼道堆满杂物没人管,zjj,closed,,2025-03-04 10:00,2025-03-05 10:00,,,",
        ),
    )
    import_tickets(engine, ictx, path)
    with session_factory() as s:
        unresolved, unanswered = s.scalars(select(Ticket).order_by(Ticket.id)).all()
        closed_at = datetime(2025, 3, 5, 2, 0, tzinfo=UTC)
        assert unresolved.first_response_at == datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
        assert unresolved.first_replied_at == unresolved.last_replied_at
        assert unresolved.first_replied_at == datetime(2025, 3, 4, 2, 0, tzinfo=UTC)
        assert unresolved.first_closed_at == unresolved.last_closed_at == closed_at
        (closure,) = unresolved.closures
        assert (closure.round, closure.resolved, closure.satisfaction) == (1, False, 2)
        assert closure.verdict_at == closed_at and closure.due_date == unresolved.due_date
        assert unresolved.resolved is False and unresolved.status == "closed"
        (closure,) = unanswered.closures
        assert (closure.resolved, closure.satisfaction, closure.verdict_at) == (None, None, None)


def test_failure_while_writing_tickets_leaves_nothing(
    engine, ictx, catalogue, session_factory, tmp_path, monkeypatch
):
    rows = [
        f"2025-03-03 09:{n:02d},门口路灯坏了很久{n},zjj,closed,,2025-03-04,2025-03-05,是,5,好的"
        for n in range(9)
    ]
    header = (
        "received_at,text,department_code,status,first_response_at,replied_at,closed_at,"
        "resolved,satisfaction,reply_text"
    )
    path = write(tmp_path, lines(header, *rows))
    real_write = importer._Tickets.write
    calls = []

    def failing_write(self, session, batch):
        calls.append(1)
        real_write(self, session, batch)
        if len(calls) == 3:
            raise RuntimeError("connection lost")

    monkeypatch.setattr(importer._Tickets, "write", failing_write)
    with pytest.raises(RuntimeError):
        import_tickets(engine, ictx, path, batch_rows=3)
    assert_nothing_written(engine)


def test_docs_examples_import_into_the_demo_county(engine, ictx, session_factory, tmp_path):
    blocks = re.findall(r"```csv\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    blocks = [block for block in blocks if not block.startswith("kind,")]  # the catalogue's
    assert len(blocks) == 2
    demo_ctx = ServiceContext.from_settings(ictx.settings, analyzer=None, clock=ictx.clock)
    with session_factory.begin() as s:
        load_demo(s, demo_ctx, months=1)
    ratings_before, tickets_before = count(engine, Rating), count(engine, Ticket)
    ratings_file = write(tmp_path, blocks[0], name="ratings.csv")
    tickets_file = write(tmp_path, blocks[1], name="tickets.csv")
    assert import_ratings(engine, ictx, ratings_file).rows == len(blocks[0].splitlines()) - 1
    assert import_tickets(engine, ictx, tickets_file).rows == len(blocks[1].splitlines()) - 1
    assert count(engine, Rating) > ratings_before and count(engine, Ticket) > tickets_before


@pytest.fixture
def cli(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/cli.db"\n', encoding="utf-8")

    def invoke(*args):
        return CliRunner().invoke(main, ["--config", str(config), *args])

    assert invoke("init").exit_code == 0
    return invoke


def test_cli_help_names_the_docs_and_the_flags(cli):
    for kind in ("ratings", "tickets"):
        result = cli("import", kind, "--help")
        assert result.exit_code == 0
        assert "docs/import.md" in result.output and "README" not in result.output
        assert "--no-nlp" in result.output and "--offline" in result.output


def test_cli_header_only_exits_1(cli, tmp_path):
    path = write(tmp_path, HEADER + "\n", name="empty.csv")
    result = cli("import", "ratings", str(path))
    assert result.exit_code == 1
    assert "文件没有数据行" in result.output and "the file has no data rows" in result.output


def test_cli_imports_tickets_without_nlp_and_offline(cli, tmp_path):
    path = write(tmp_path, "received_at,text\n2025-09-30 10:00,社保卡补办要跑好几趟\n")
    result = cli("import", "tickets", str(path), "--no-nlp")
    assert result.exit_code == 0, result.output
    assert "0 texts analysed" in result.output and "live" in result.output
    again = write(tmp_path, "received_at,text\n2025-09-30 11:00,公积金提取手续太复杂\n", "b.csv")
    result = cli("import", "tickets", str(again), "--no-nlp", "--offline")
    assert result.exit_code == 0, result.output
    assert "offline" in result.output


def test_offline_refusal_after_written_batches_writes_nothing(
    engine, ictx, catalogue, tmp_path, monkeypatch
):
    monkeypatch.setattr(importer, "REBUILD_MIN_ROWS", 3)
    before = schema_of(engine)
    rows = [*rating_rows(20), "2025-03-03 10:00,rsj-01,0,,,,,"]
    path = write(tmp_path, lines(HEADER, *rows))
    with pytest.raises(ImportFailed) as info:
        importer.import_ratings(engine, ictx, path, batch_rows=4, offline=True)
    assert [(e.line, e.column) for e in info.value.errors] == [(22, "score")]
    assert_nothing_written(engine)
    assert schema_of(engine) == before


def test_cli_deadlines_use_the_calendar_the_county_imported(cli, tmp_path):
    notice = tmp_path / "notice.toml"
    notice.write_text(
        '[2025]\nsource = "test"\nholidays = ["2025-03-04", "2025-03-05", "2025-03-06"]\n'
        "workdays = []\n",
        encoding="utf-8",
    )
    assert cli("calendar", "import", str(notice)).exit_code == 0
    engine = make_engine(load_settings(), f"sqlite:///{tmp_path}/cli.db")
    with make_session_factory(engine).begin() as s:
        department = catalog.create_department(s, code="rsj", name="人社局")
        catalog.create_service(s, department=department, code="rsj-01", name="社保卡申领")
    path = write(tmp_path, "created_at,service_code,score\n2025-03-03 10:00,rsj-01,1\n")
    result = cli("import", "ratings", str(path), "--no-nlp")
    assert result.exit_code == 0, result.output
    with make_session_factory(engine)() as s:
        # Five working days after Monday 03-03, with 03-04..03-06 off: Thursday 03-13.
        assert s.scalar(select(BadReviewFollowUp.deadline)) == date(2025, 3, 13)
    engine.dispose()


# ------------------------------------------------------------------ indicators after import


@pytest.mark.parametrize("offline", [False, True])
def test_imports_leave_the_indicator_rollups_exact(
    engine, ictx, catalogue, session_factory, tmp_path, offline
):
    """Raw bulk inserts bypass the ORM hook: the import marks its days stale itself."""
    with session_factory.begin() as s:
        refresh_rollups(s, ictx)  # an up-to-date rollup before the import
    ratings_csv = write(
        tmp_path,
        lines(
            "created_at,service_code,score,comment,channel,outlet_code,citizen_ref,source_ref,"
            "follow_up_completed_at",
            "2025-03-03 09:30,rsj-01,5,好,,,,,",
            "2025-03-31 23:50,rsj-01,1,差,,,,,2025-04-02 10:00",
            "2025-04-01 00:10,zjj-01,2,排队太久,,,,,",
        ),
        "ratings.csv",
    )
    tickets_csv = write(
        tmp_path,
        lines(
            "received_at,text,department_code,status,first_response_at,replied_at,closed_at,"
            "resolved,satisfaction,reply_text",
            "2025-03-03 09:00,门口路灯坏了很久,zjj,closed,2025-03-03 10:00,2025-03-04 10:00,"
            "2025-03-05 10:00,是,5,已报修",
            "2025-03-28 09:00,楼道堆满杂物没人管,zjj,in_progress,2025-03-28 10:00,,,,,",
        ),
        "tickets.csv",
    )
    import_ratings(engine, ictx, ratings_csv, offline=offline)
    import_tickets(engine, ictx, tickets_csv, offline=offline)
    with session_factory.begin() as s:
        refresh_rollups(s, ictx)
    with session_factory.begin() as s:
        report = rebuild_rollups(s, ictx)
        assert report.buckets > 0 and report.differed == 0
        march = {row["department"]: row for row in department_indicators(s, ictx, "2025-03")}
        assert march["rsj"]["ratings"] == 2 and march["zjj"]["tickets"] == 2
        assert march["zjj"]["ratings"] == 0


# The texts of the request-type import test: praise naming a department, praise naming
# none, a 咨询, praise nlp is unsure of (routed as any ticket) and a complaint.
REQUEST_TYPES = {
    "感谢人社局的王科长帮我们讨回了工资": FakeAnalysis(
        "劳动和社会保障", 0.95, request_type="表扬", request_type_probability=0.93
    ),
    "谢谢你们，问题已经解决了，非常满意": FakeAnalysis(
        None, 0.2, needs_review=True, request_type="表扬", request_type_probability=0.97
    ),
    "请问社保卡丢了怎么补办": FakeAnalysis(
        "劳动和社会保障", 0.94, request_type="咨询", request_type_probability=0.9
    ),
    "社保窗口的人还行吧，就是排队太久": FakeAnalysis(
        "劳动和社会保障", 0.93, request_type="表扬", request_type_probability=0.6
    ),
    "小区楼道里的垃圾没人清运": FakeAnalysis(
        "城乡建设", 0.96, request_type="投诉", request_type_probability=0.88
    ),
}


def request_type_context(settings, clock):
    tuned = settings.model_copy(
        update={"tickets": settings.tickets.model_copy(update={"question_sla_working_days": 3})}
    )
    return ServiceContext.from_settings(
        tuned,
        analyzer=lambda text: REQUEST_TYPES[text],
        batch_analyzer=lambda texts: [REQUEST_TYPES[text] for text in texts],
        clock=clock,
    )


def routing_outcome(ticket: Ticket) -> tuple:
    """What routing decided for a ticket, without what differs between live and imported."""
    routing = [(e.kind, e.from_status, e.to_status, e.actor, e.detail) for e in ticket.events]
    return (
        ticket.status,
        ticket.department_id,
        ticket.predicted_department_id,
        ticket.praise_department_id,
        ticket.needs_triage,
        ticket.request_type,
        ticket.request_type_probability,
        routing[1:],  # after "received" (live) or "imported"
    )


def test_import_files_request_types_and_praise_as_live_filing_does(
    engine, settings, catalogue, session_factory, tmp_path
):
    """Each received row is routed by the live rule: the same status, departments, request
    type, praise record and events as the same text filed on the web; a 咨询 gets its SLA."""
    received = datetime(2025, 9, 30, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, a Tuesday
    ctx = request_type_context(settings, lambda: received)
    texts = list(REQUEST_TYPES)
    path = write(
        tmp_path,
        lines("received_at,text", *(f"2025-09-30 10:00,{text}" for text in texts)),
    )
    report = import_tickets(engine, ctx, path)
    assert (report.rows, report.praise, report.routed, report.triage) == (5, 2, 3, 0)
    assert "记为表扬 2 条" in str(report) and "2 filed as praise" in str(report)
    live = [
        tickets.submit_complaint(session_factory, ctx, text=text, channel="web").number
        for text in texts
    ]
    with session_factory() as s:
        imported = s.scalars(
            select(Ticket).where(Ticket.channel == "import").order_by(Ticket.id)
        ).all()
        filed = [s.scalar(select(Ticket).where(Ticket.number == n)) for n in live]
        assert [routing_outcome(t) for t in imported] == [routing_outcome(t) for t in filed]
        assert [t.due_date for t in imported] == [t.due_date for t in filed]
        named, unnamed, question, unsure, complaint = imported
        assert named.status == "closed" and named.department_id is None
        assert named.praise_department_id == catalogue["rsj"]
        assert [e.kind for e in named.events] == ["imported", "praise_recorded"]
        assert named.events[1].detail == {
            "request_type": "表扬",
            "probability": 0.93,
            "department": "rsj",
        }
        assert unnamed.status == "closed" and unnamed.praise_department_id is None
        assert not s.scalar(select(func.count()).select_from(TicketClosure))
        # 3 working days from Tuesday 2025-09-30: the National Day holiday runs to 10-08,
        # Saturday 10-11 is its 调休 working day.
        assert question.request_type == "咨询" and question.due_date == date(2025, 10, 11)
        assert question.department_id == catalogue["rsj"]
        assert complaint.due_date != question.due_date
        assert unsure.status == "assigned" and unsure.request_type == "表扬"
        assert unsure.request_type_probability == 0.6
        assert complaint.request_type == "投诉" and complaint.status == "assigned"


def test_imported_history_keeps_its_department_and_gets_a_request_type(
    engine, settings, catalogue, session_factory, tmp_path
):
    """A row the county already routed is not re-routed, praise or not: only nlp's reading
    (request type included) is stored with it."""
    ctx = request_type_context(settings, lambda: datetime(2026, 11, 25, 2, 0, tzinfo=UTC))
    path = write(
        tmp_path,
        lines(
            "received_at,text,department_code,status",
            "2025-09-30 10:00,感谢人社局的王科长帮我们讨回了工资,rsj,assigned",
        ),
    )
    report = import_tickets(engine, ctx, path)
    assert (report.rows, report.praise, report.routed) == (1, 0, 0)
    with session_factory() as s:
        ticket = s.scalars(select(Ticket)).one()
        assert ticket.status == "assigned" and ticket.department_id == catalogue["rsj"]
        assert ticket.request_type == "表扬" and ticket.request_type_probability == 0.93
        assert ticket.praise_department_id is None
        assert [e.kind for e in ticket.events] == ["imported"]
