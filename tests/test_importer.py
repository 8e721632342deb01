"""CSV import of ratings and tickets: good files land exactly, a bad row writes nothing."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select

from minyi import importer
from minyi.importer import ImportFailed, import_ratings, import_tickets, tqdm_progress
from minyi.models import (
    BadReviewFollowUp,
    Citizen,
    Rating,
    Ticket,
    TicketEvent,
    TicketNumberCounter,
)
from minyi.services import catalog, tickets
from minyi.services.context import ServiceContext

HEADER = "created_at,service_code,score,comment,channel,outlet_code,citizen_ref,source_ref"
INJECTION = "'); DROP TABLE ratings; --<script>alert(1)</script>"


@pytest.fixture
def catalogue(session_factory):
    with session_factory.begin() as s:
        rsj = catalog.create_department(s, code="rsj", name="人社局")
        zjj = catalog.create_department(s, code="zjj", name="住建局")
        catalog.create_service(s, department=rsj, code="rsj-001", name="社保卡申领")
        catalog.create_service(s, department=zjj, code="zjj-001", name="住房公积金提取")
        catalog.create_outlet(s, code="hall-1", name="第一服务大厅")
        return {"rsj": rsj.id, "zjj": zjj.id}


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
    for model in (Rating, BadReviewFollowUp, Citizen, Ticket, TicketEvent, TicketNumberCounter):
        assert count(engine, model) == 0, model.__name__


def refused(engine, settings, path, importer=import_ratings) -> ImportFailed:
    with pytest.raises(ImportFailed) as info:
        importer(engine, settings, path)
    assert_nothing_written(engine)
    return info.value


# --------------------------------------------------------------------------- ratings


def test_good_file_imports_exactly(engine, settings, catalogue, session_factory, tmp_path):
    path = write(
        tmp_path,
        lines(
            HEADER,
            '2025-03-03 09:30,rsj-001,5,"办事很快，谢谢",web,hall-1,c1,old-1',
            # A Friday morning in Beijing is still Thursday in UTC: the deadline counts from
            # the local day, over the make-up Sunday 9-28 and the National Day holiday.
            "2025-09-26 07:30,zjj-001,2,排队太久,,,c2,old-2",
            (
                f'2025-03-04T10:00:00+08:00,rsj-001,4,"{INJECTION.replace(chr(34), chr(34) * 2)}",'
                "telegram,,c1,old-3"
            ),
            "2025-03-05 08:00:00,rsj-001,1,,phone,,,",
            "",
        ),
    )
    calls = []
    report = import_ratings(engine, settings, path, progress=lambda *a: calls.append(a))

    assert (report.rows, report.follow_ups, report.citizens_created) == (4, 2, 2)
    assert calls[-1] == (5, 5)
    if engine.dialect.name == "sqlite":  # the importer's pragma is undone on the way out
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with session_factory() as s:
        ratings = s.scalars(select(Rating).order_by(Rating.id)).all()
        assert [r.score for r in ratings] == [5, 2, 4, 1]
        first, bad, injected, phone = ratings
        assert first.created_at == datetime(2025, 3, 3, 1, 30, tzinfo=UTC)
        assert first.comment == "办事很快，谢谢"
        assert first.channel == "web" and first.source_ref == "old-1"
        assert first.department_id == catalogue["rsj"]
        assert first.outlet_id is not None
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


def test_completed_follow_up(engine, settings, catalogue, session_factory, tmp_path):
    path = write(
        tmp_path,
        "created_at,service_code,score,follow_up_completed_at\n"
        "2025-03-03 09:30,rsj-001,1,2025-03-05 17:00\n",
    )
    import_ratings(engine, settings, path)
    with session_factory() as s:
        follow_up = s.scalars(select(BadReviewFollowUp)).one()
        assert follow_up.status == "completed"
        assert follow_up.completed_at == datetime(2025, 3, 5, 9, 0, tzinfo=UTC)


def test_bad_row_reports_its_line_and_column_and_writes_nothing(
    engine, settings, catalogue, tmp_path
):
    rows = [f"2025-03-03 09:{n:02d},rsj-001,{n % 5 + 1},,,,c{n},r{n}" for n in range(8)]
    rows[5] = "2025-03-03 10:00,rsj-001,7,,,,c9,r9"  # file line 7
    path = write(tmp_path, lines(HEADER, *rows))
    error = refused(engine, settings, path)
    assert [(e.line, e.column) for e in error.errors] == [(7, "score")]
    assert "第 7 行" in error.message_zh and "line 7" in error.message_en
    assert "1 到 5" in error.errors[0].message_zh


def test_bad_row_after_written_chunks_still_writes_nothing(engine, settings, catalogue, tmp_path):
    rows = [f"2025-03-03 09:{n:02d},rsj-001,{n % 5 + 1},,,,c{n},r{n}" for n in range(30)]
    rows.append("2025-03-03 10:00,nope-999,3,,,,,")
    path = write(tmp_path, lines(HEADER, *rows))
    with pytest.raises(ImportFailed) as info:
        import_ratings(engine, settings, path, chunk_rows=4)
    assert [(e.line, e.column) for e in info.value.errors] == [(32, "service_code")]
    assert "nope-999" in info.value.errors[0].message_zh
    assert_nothing_written(engine)


def test_every_bad_row_is_listed_up_to_the_limit(engine, settings, catalogue, tmp_path):
    rows = [
        "2025-13-01 10:00,rsj-001,3",
        "yesterday,rsj-001,3",
        "2025-03-03 10:00,,3",
        "2025-03-03 10:00,rsj-001,3,extra",
        "2099-01-01 10:00,rsj-001,3",
        "2025/03/03 10:00,rsj-001,3",
    ]
    path = write(tmp_path, "created_at,service_code,score\n" + "\n".join(rows * 5) + "\n")
    error = refused(engine, settings, path)
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


def test_unknown_service_code(engine, settings, catalogue, tmp_path):
    path = write(tmp_path, "created_at,service_code,score\n2025-03-03 10:00,rsj-404,3\n")
    error = refused(engine, settings, path)
    assert [(e.line, e.column) for e in error.errors] == [(2, "service_code")]
    assert "rsj-404" in error.errors[0].message_en


@pytest.mark.parametrize(
    "value", ["2025-02-30 10:00", "10:00 2025-03-03", "3/3/2025", "2025-03-03 25:00"]
)
def test_bad_date(engine, settings, catalogue, tmp_path, value):
    path = write(tmp_path, f"created_at,service_code,score\n{value},rsj-001,3\n")
    error = refused(engine, settings, path)
    assert [(e.line, e.column) for e in error.errors] == [(2, "created_at")]


def test_gbk_file(engine, settings, catalogue, session_factory, tmp_path):
    path = write(
        tmp_path,
        "created_at,service_code,score,comment\r\n"
        "2025-03-03 10:00,rsj-001,4,窗口人员解释得很清楚\r\n",
        encoding="gbk",
    )
    report = import_ratings(engine, settings, path)
    assert report.encoding == "gb18030"
    with session_factory() as s:
        assert s.scalar(select(Rating.comment)) == "窗口人员解释得很清楚"


def test_bom_and_header_case(engine, settings, catalogue, session_factory, tmp_path):
    path = write(
        tmp_path,
        "Created_At, Service_Code ,SCORE,comment\n2025-03-03 10:00,rsj-001,4,好\n",
        encoding="utf-8-sig",
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert import_ratings(engine, settings, path).rows == 1
    with session_factory() as s:
        assert s.scalar(select(Rating.comment)) == "好"


def test_undecodable_file(engine, settings, catalogue, tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"created_at,service_code,score\n\x80\xff\x80,rsj-001,3\n")
    error = refused(engine, settings, path)
    assert "UTF-8" in error.errors[0].message_zh and "GBK" in error.errors[0].message_en


def test_missing_and_unknown_columns(engine, settings, catalogue, tmp_path):
    path = write(tmp_path, "created_at,service_code,scor\n2025-03-03 10:00,rsj-001,3\n")
    error = refused(engine, settings, path)
    assert {(e.line, e.column) for e in error.errors} == {(1, "scor"), (1, "score")}
    assert any("缺少必填列 score" in e.message_zh for e in error.errors)


@pytest.mark.parametrize("content", ["", "\n\n", "\ufeff"])
def test_empty_file(engine, settings, catalogue, tmp_path, content):
    error = refused(engine, settings, write(tmp_path, content))
    assert error.errors[0].line == 1 and "空" in error.errors[0].message_zh


def test_header_only_and_blank_lines(engine, settings, catalogue, tmp_path):
    assert import_ratings(engine, settings, write(tmp_path, HEADER + "\n")).rows == 0
    path = write(
        tmp_path,
        "created_at,service_code,score\n\n2025-03-03 10:00,rsj-001,3\n"
        ",,\n\n2025-03-03 10:00,rsj-001,x\n",
        name="blank.csv",
    )
    error = refused(engine, settings, path)
    assert [(e.line, e.column) for e in error.errors] == [(6, "score")]


def test_huge_fields(engine, settings, catalogue, tmp_path):
    long_comment = "很" * (settings.ratings.max_comment_chars + 1)
    path = write(
        tmp_path,
        f"created_at,service_code,score,comment\n2025-03-03 10:00,rsj-001,3,{long_comment}\n",
    )
    error = refused(engine, settings, path)
    assert [(e.line, e.column) for e in error.errors] == [(2, "comment")]
    assert "太长" in error.errors[0].message_zh
    # Past csv's field limit (unless another module raised it): refused either way.
    path = write(
        tmp_path,
        f"created_at,service_code,score,comment\n2025-03-03 10:00,rsj-001,3,{'x' * 200_000}\n",
        name="huge.csv",
    )
    error = refused(engine, settings, path)
    assert [(e.line, e.column) for e in error.errors] in ([(2, None)], [(2, "comment")])


@pytest.mark.parametrize("importer_function", [import_ratings, import_tickets])
def test_unbalanced_quote_swallows_nothing(
    engine, settings, catalogue, tmp_path, importer_function
):
    path = write(
        tmp_path,
        lines(
            "received_at,text"
            if importer_function is import_tickets
            else "created_at,service_code,score,comment",
            "2025-03-03 10:00,rsj-001,3,fine"
            if importer_function is import_ratings
            else "2025-03-03 10:00,路灯坏了很久",
            '2025-03-03 10:00,rsj-001,3,"unbalanced'
            if importer_function is import_ratings
            else '2025-03-03 10:00,"路灯坏了',
            "2025-03-03 10:00,rsj-001,4,next row",
            "2025-03-03 10:00,rsj-001,5,last row",
        ),
    )
    error = refused(engine, settings, path, importer_function)
    assert [e.line for e in error.errors] == [3]
    assert "CSV" in error.errors[0].message_zh and "quotes" in error.errors[0].message_en


def test_source_ref_unique_in_file_and_database(engine, settings, catalogue, tmp_path):
    path = write(
        tmp_path,
        "created_at,service_code,score,channel,source_ref\n"
        "2025-03-03 10:00,rsj-001,3,web,a1\n"
        "2025-03-03 10:00,rsj-001,3,phone,a1\n",
    )
    assert import_ratings(engine, settings, path).rows == 2
    again = write(
        tmp_path,
        "created_at,service_code,score,channel,source_ref\n"
        "2025-03-03 10:00,rsj-001,3,web,a2\n"
        "2025-03-03 10:00,rsj-001,3,web,a2\n"
        "2025-03-03 10:00,rsj-001,3,phone,a1\n",
        name="again.csv",
    )
    with pytest.raises(ImportFailed) as info:
        import_ratings(engine, settings, again)
    assert [(e.line, e.column) for e in info.value.errors] == [
        (3, "source_ref"),
        (4, "source_ref"),
    ]
    assert count(engine, Rating) == 2


def test_unknown_outlet_and_channel(engine, settings, catalogue, tmp_path):
    path = write(
        tmp_path,
        "created_at,service_code,score,channel,outlet_code\n"
        "2025-03-03 10:00,rsj-001,3,fax,\n"
        "2025-03-03 10:00,rsj-001,3,,hall-9\n",
    )
    error = refused(engine, settings, path)
    assert [(e.line, e.column) for e in error.errors] == [(2, "channel"), (3, "outlet_code")]


def test_follow_up_completion_only_for_bad_reviews(engine, settings, catalogue, tmp_path):
    path = write(
        tmp_path,
        "created_at,service_code,score,follow_up_completed_at\n"
        "2025-03-03 10:00,rsj-001,5,2025-03-04 10:00\n"
        "2025-03-03 10:00,rsj-001,1,2025-03-02 10:00\n",
    )
    error = refused(engine, settings, path)
    assert [(e.line, e.column) for e in error.errors] == [
        (2, "follow_up_completed_at"),
        (3, "follow_up_completed_at"),
    ]


def schema_of(engine) -> tuple[set[str], set[str]]:
    names = inspect(engine)
    indexes = {i["name"] for i in names.get_indexes("ratings")}
    keys = {k["name"] for k in names.get_foreign_keys("ratings")}
    return indexes, keys


def test_indexes_rebuilt_after_a_large_import(engine, settings, catalogue, tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "REBUILD_MIN_ROWS", 3)
    before = schema_of(engine)
    assert "ix_ratings_department_created" in before[0]
    rows = [f"2025-03-03 09:{n:02d},rsj-001,{n % 5 + 1},,,,c{n},r{n}" for n in range(6)]
    bad = write(tmp_path, lines(HEADER, *rows, "2025-03-03 10:00,rsj-001,0,,,,,"), name="b.csv")
    with pytest.raises(ImportFailed):  # after two chunks were written without the indexes
        import_ratings(engine, settings, bad, chunk_rows=2)
    assert_nothing_written(engine)
    assert schema_of(engine) == before
    good = write(tmp_path, lines(HEADER, *rows))
    assert import_ratings(engine, settings, good, chunk_rows=2).rows == 6
    assert schema_of(engine) == before
    assert count(engine, BadReviewFollowUp) == 3


def test_import_inside_callers_transaction(engine, settings, catalogue, tmp_path):
    path = write(tmp_path, "created_at,service_code,score\n2025-03-03 10:00,rsj-001,3\n")
    with engine.connect() as conn, conn.begin() as transaction:
        assert import_ratings(conn, settings, path).rows == 1
        transaction.rollback()
    assert count(engine, Rating) == 0


def test_tqdm_progress(engine, settings, catalogue, tmp_path):
    rows = "".join(f"2025-03-03 10:00,rsj-001,{n % 5 + 1}\n" for n in range(50))
    path = write(tmp_path, "created_at,service_code,score\n" + rows)
    out = io.StringIO()
    progress = tqdm_progress("导入评价", file=out)
    import_ratings(engine, settings, path, progress=progress, chunk_rows=10)
    assert progress.bar is None  # closed by the importer
    assert "100%" in out.getvalue() and "50" in out.getvalue()


# --------------------------------------------------------------------------- tickets

TICKETS_HEADER = (
    "number,received_at,text,department_code,status,first_response_at,"
    "replied_at,closed_at,due_date,resolved,satisfaction,reply_text,citizen_ref"
)


def test_tickets_import(engine, settings, catalogue, session_factory, tmp_path):
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
    report = import_tickets(engine, settings, path)
    assert (report.rows, report.events, report.citizens_created) == (4, 4, 1)
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
        settings, analyzer=None, clock=lambda: datetime(2025, 9, 30, 8, tzinfo=UTC)
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
def test_implausible_tickets_are_refused(engine, settings, catalogue, tmp_path, row, column):
    good = ",2025-03-03 09:00,楼道堆放杂物,zjj,,,,,,,,,"
    path = write(tmp_path, lines(TICKETS_HEADER, good, row, good))
    error = refused(engine, settings, path, import_tickets)
    assert (3, column) in [(e.line, e.column) for e in error.errors]


def test_ticket_numbers_must_be_new(engine, settings, catalogue, tmp_path):
    path = write(tmp_path, "number,received_at,text\nA-1,2025-03-03 10:00,门口路灯坏了\n")
    assert import_tickets(engine, settings, path).rows == 1
    again = write(
        tmp_path,
        "number,received_at,text\nB-1,2025-03-03 10:00,路灯\n"
        "B-1,2025-03-03 10:00,路灯\nA-1,2025-03-03 10:00,路灯\n",
        name="again.csv",
    )
    with pytest.raises(ImportFailed) as info:
        import_tickets(engine, settings, again)
    assert [(e.line, e.column) for e in info.value.errors] == [(3, "number"), (4, "number")]
    assert count(engine, Ticket) == 1
