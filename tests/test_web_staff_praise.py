"""The praise page (表扬): who reads which department's praise, filters, paging, bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from minyi.errors import NotFound, ValidationFailed
from minyi.models import Channel
from minyi.services import praise, tickets
from minyi.services.context import ServiceContext
from tests.builders import FakeAnalysis
from tests.web_support import sign_in

USERS = {"admin": "admin1", "analyst": "analyst1", "officer": "hr1", "other_officer": "jt1"}

PRAISE = FakeAnalysis(
    "劳动和社会保障",
    0.9,
    request_type="表扬",
    request_type_probability=0.95,
    sentiment_label="positive",
    sentiment_score=0.95,
)
UNSURE = FakeAnalysis("劳动和社会保障", 0.9, request_type="表扬", request_type_probability=0.6)
COMPLAINT = FakeAnalysis("劳动和社会保障", 0.9, request_type="投诉", request_type_probability=0.9)

# Text -> what nlp says about it; the department thanked is the one the text names.
TEXTS = {
    "感谢县人力资源和社会保障局帮我们讨回了拖欠的工资": PRAISE,
    "人力资源和社会保障局窗口的小王很耐心，点赞": PRAISE,
    "县交通运输局把村口的路修好了，谢谢": PRAISE,
    "谢谢你们，问题已经解决了，非常满意": PRAISE,  # names no department
    "人力资源和社会保障局的服务还行吧": UNSURE,  # routed as a ticket, not listed
    "人力资源和社会保障局拖欠补贴不发放": COMPLAINT,
}


def file_all(session_factory, settings, texts, at: datetime) -> list[str]:
    """File each text live (web form) at `at`; their ticket numbers."""
    ctx = ServiceContext.from_settings(settings, analyzer=TEXTS.__getitem__, clock=lambda: at)
    return [
        tickets.submit_complaint(session_factory, ctx, text=text, channel=Channel.WEB).number
        for text in texts
    ]


@pytest.fixture
def filed(session_factory, settings, staff_world):
    """Tickets of TEXTS on 2026-11-02 and one more praise of `own` on 2026-11-20."""
    numbers = file_all(session_factory, settings, TEXTS, datetime(2026, 11, 2, 2, tzinfo=UTC))
    later = file_all(
        session_factory,
        settings,
        ["感谢县人力资源和社会保障局帮我们讨回了拖欠的工资"],
        datetime(2026, 11, 20, 2, tzinfo=UTC),
    )
    return dict(zip(TEXTS, numbers, strict=True)) | {"later": later[0]}


def signed_in(web_app, role):
    client = web_app.test_client()
    assert sign_in(client, USERS[role]).status_code == 302
    return client


def page_text(client, query=""):
    response = client.get("/staff/praise" + query)
    return response.status_code, response.get_data(as_text=True)


SQLITE_ONLY = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_officer_reads_their_own_departments_praise_only(web_app, filed):
    client = signed_in(web_app, "officer")
    status, html = page_text(client)
    assert status == 200
    assert 'href="/staff/praise"' in html and ">表扬<" in html  # the menu item
    assert "共 3 条表扬" in html
    assert "帮我们讨回了拖欠的工资" in html and "窗口的小王很耐心" in html
    assert "村口的路修好了" not in html  # the other department's
    assert "问题已经解决了" not in html  # no department recognised: analysts see it
    assert "服务还行吧" not in html and "拖欠补贴" not in html  # routed as tickets
    assert f'href="/staff/tickets/{filed["later"]}"' in html  # they open their praise
    assert 'name="department"' not in html  # no department choice for an officer


@SQLITE_ONLY
def test_officer_opens_their_departments_praise_but_no_other(web_app, filed):
    client = signed_in(web_app, "officer")
    own = client.get(f"/staff/tickets/{filed['later']}")
    assert own.status_code == 200
    html = own.get_data(as_text=True)
    assert "帮我们讨回了拖欠的工资" in html
    assert "ticket-actions" not in html  # closed praise: nothing to do but read it
    assert "<dt>表扬的部门</dt><dd>县人力资源和社会保障局</dd>" in html
    assert "办结期限" not in html and "承办部门" not in html  # nothing to answer by a date
    assert 'href="/staff/praise"' in html and "返回表扬列表" in html
    for text in ("县交通运输局把村口的路修好了，谢谢", "谢谢你们，问题已经解决了，非常满意"):
        other = client.get(f"/staff/tickets/{filed[text]}")
        assert other.status_code == 404  # another department's praise, or nobody's
        assert "找不到工单" in other.get_data(as_text=True)
    # The other department's officer opens theirs and not ours.
    client = signed_in(web_app, "other_officer")
    theirs = filed["县交通运输局把村口的路修好了，谢谢"]
    assert client.get(f"/staff/tickets/{theirs}").status_code == 200
    assert client.get(f"/staff/tickets/{filed['later']}").status_code == 404


@SQLITE_ONLY
def test_is_filed_praise_agrees_with_the_praise_query(session_factory, filed):
    from sqlalchemy import select

    from minyi.models import Ticket

    with session_factory() as session:
        every = session.scalars(select(Ticket)).all()
        by_query = set(session.scalars(select(Ticket.id).where(tickets.praise_filed())))
    assert {t.id for t in every if tickets.is_filed_praise(t)} == by_query
    assert 0 < len(by_query) < len(every)


@SQLITE_ONLY
@pytest.mark.parametrize("department", ["jt", "none"])
def test_officer_naming_another_department_gets_404(web_app, filed, staff_world, department):
    code = staff_world.other.code if department == "jt" else department
    status, html = page_text(signed_in(web_app, "officer"), f"?department={code}")
    assert status == 404
    assert "村口的路修好了" not in html


@SQLITE_ONLY
@pytest.mark.parametrize("role", ["analyst", "admin"])
def test_analysts_and_admins_read_all_praise_and_filter_it(web_app, filed, staff_world, role):
    client = signed_in(web_app, role)
    status, html = page_text(client)
    assert status == 200 and "共 5 条表扬" in html
    assert "村口的路修好了" in html and "问题已经解决了" in html and "未识别部门" in html
    assert f'href="/staff/tickets/{filed["later"]}"' in html  # they may open the ticket
    status, html = page_text(client, f"?department={staff_world.other.code}")
    assert status == 200 and "共 1 条表扬" in html and "村口的路修好了" in html
    assert "讨回了拖欠的工资" not in html
    status, html = page_text(client, "?department=none")
    assert "共 1 条表扬" in html and "问题已经解决了" in html
    # The period is the local day received: 11-20 holds one praise, 11-01..11-02 four.
    status, html = page_text(
        client, f"?department={staff_world.own.code}&date_from=2026-11-20&date_to=2026-11-20"
    )
    assert status == 200 and "共 1 条表扬" in html
    status, html = page_text(client, "?date_from=2026-11-01&date_to=2026-11-02")
    assert "共 4 条表扬" in html


@SQLITE_ONLY
def test_bad_filters_show_a_message_and_keep_what_was_typed(web_app, filed):
    client = signed_in(web_app, "analyst")
    status, html = page_text(client, "?date_from=2026-11-30&date_to=2026-11-01")
    assert status == 400 and "起始日期不能晚于截止日期" in html
    assert 'value="2026-11-30"' in html
    status, html = page_text(client, "?date_from=2026-13-45")
    assert status == 400 and "起始日期" in html
    status, html = page_text(client, "?department=nosuch")
    assert status == 404


@SQLITE_ONLY
def test_the_praise_page_is_paged_newest_first(web_app, filed, monkeypatch):
    monkeypatch.setattr("web.staff.praise.PER_PAGE", 2)
    client = signed_in(web_app, "analyst")
    status, first = page_text(client)
    assert status == 200 and "第 1 / 3 页" in first and 'rel="next"' in first
    assert first.index(filed["later"]) >= 0  # the newest comes first
    _, last = page_text(client, "?page=3")
    assert "第 3 / 3 页" in last and 'rel="prev"' in last
    seen = [n for n in (*filed.values(),) if n in first or n in last]
    _, middle = page_text(client, "?page=2")
    seen += [n for n in filed.values() if n in middle]
    assert len(set(seen)) == 5
    _, junk = page_text(client, "?page=abc")
    assert "第 1 / 3 页" in junk


def test_list_praise_rules(session_factory, settings, staff_world, filed, clock):
    """The service on both databases: visibility, filters and a refused officer."""
    ctx = ServiceContext.from_settings(settings, analyzer=None, clock=clock)
    officer = staff_world.officer
    from minyi.services.actors import Actor

    def actor(account):
        return Actor(
            "staff", f"staff:{account.username}", account.id, account.role, account.department_id
        )

    with session_factory() as session:
        mine = praise.list_praise(session, ctx, actor=actor(officer))
        assert mine.total == 3
        assert {row.department.id for row in mine.items} == {staff_world.own.id}
        assert [row.received_at for row in mine.items] == sorted(
            (row.received_at for row in mine.items), reverse=True
        )
        everything = praise.list_praise(session, ctx, actor=actor(staff_world.admin))
        assert everything.total == 5
        assert sum(row.department is None for row in everything.items) == 1
        assert praise.praise_departments(session, actor=actor(officer)) == []
        with pytest.raises(NotFound):
            praise.list_praise(
                session,
                ctx,
                actor=actor(officer),
                filters=praise.check_praise_filter(department=staff_world.other.code),
            )
    with pytest.raises(ValidationFailed):
        praise.check_praise_filter(date_from="2020-01-01", date_to="2035-01-01")
    assert praise.check_praise_filter(department=" ").department is None
    assert praise.check_praise_filter(department="12").department == 12
