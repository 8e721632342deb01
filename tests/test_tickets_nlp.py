"""What route_ticket does with nlp's request type and threshold: praise, 咨询 SLA, review."""

from datetime import date

import pytest
from sqlalchemy import select

from minyi.models import Channel, Ticket, TicketStatus
from minyi.services import tickets
from minyi.services.context import ServiceContext, default_analyzer
from tests.builders import FakeAnalysis, make_department

S = TicketStatus


@pytest.fixture
def county(session):
    departments = {
        "zjj": make_department(session, code="zjj", name="住建局"),
        "rsj": make_department(session, code="rsj", name="县人社局"),
        "ybj": make_department(session, code="ybj", name="医保局"),
    }
    session.commit()
    return departments


def with_settings(settings, **sections):
    return settings.model_copy(
        update={
            name: getattr(settings, name).model_copy(update=values)
            for name, values in sections.items()
        }
    )


def submit(session_factory, settings, clock, analysis, text):
    ctx = ServiceContext.from_settings(settings, analyzer=lambda _: analysis, clock=clock)
    view = tickets.submit_complaint(session_factory, ctx, text=text, channel=Channel.WEB)
    with session_factory() as s:
        ticket = s.scalar(select(Ticket).where(Ticket.number == view.number))
        kinds = [e.kind for e in ticket.events]
        s.expunge(ticket)
        return ticket, kinds


PRAISE = FakeAnalysis(
    "劳动和社会保障",
    0.95,
    request_type="表扬",
    request_type_probability=0.93,
    sentiment_label="positive",
)


def test_praise_is_recorded_for_the_department_it_names_and_in_no_queue(
    session_factory, settings, clock, county
):
    ticket, events = submit(
        session_factory, settings, clock, PRAISE, "感谢人社局的王科长帮我们讨回了工资"
    )
    assert ticket.status == S.CLOSED and not ticket.needs_triage
    assert ticket.department_id is None  # no department's complaint: no inbox, no indicator
    assert ticket.praise_department_id == county["rsj"].id  # 县人社局 named without 县
    assert ticket.request_type == "表扬" and ticket.request_type_probability == pytest.approx(0.93)
    assert events == ["received", "praise_recorded"]


def test_praise_naming_no_department_falls_back_to_keywords_then_topic(
    session_factory, settings, clock, county
):
    ticket, _ = submit(session_factory, settings, clock, PRAISE, "医保报销很快就到账了，非常满意")
    assert ticket.praise_department_id == county["ybj"].id  # 报销, a department keyword
    ticket, _ = submit(session_factory, settings, clock, PRAISE, "工作人员很耐心，办事效率高")
    # No name, no keyword: the topic's first department (劳动和社会保障 -> rsj).
    assert ticket.praise_department_id == county["rsj"].id


def test_unsure_praise_is_routed_like_any_ticket(session_factory, settings, clock, county):
    unsure = FakeAnalysis("城乡建设", 0.95, request_type="表扬", request_type_probability=0.6)
    ticket, events = submit(session_factory, settings, clock, unsure, "路灯修好了吗，谢谢")
    assert ticket.status == S.ASSIGNED and ticket.department_id == county["zjj"].id
    assert ticket.praise_department_id is None and ticket.request_type == "表扬"
    stricter = with_settings(settings, nlp={"praise_threshold": 0.95})
    ticket, _ = submit(session_factory, stricter, clock, PRAISE, "感谢人社局帮忙")
    assert ticket.status == S.ASSIGNED and ticket.department_id == county["rsj"].id


def test_a_configured_threshold_below_nlps_own_routes_what_nlp_flagged(
    session_factory, settings, clock, county
):
    # nlp flagged it (its own cross-validated threshold is higher than 0.6).
    flagged = FakeAnalysis("城乡建设", 0.6, needs_review=True, request_type="投诉")
    ticket, _ = submit(session_factory, settings, clock, flagged, "路灯坏了很久没人修")
    assert ticket.status == S.RECEIVED and ticket.needs_triage
    lenient = with_settings(settings, nlp={"review_threshold": 0.5})
    ticket, _ = submit(session_factory, lenient, clock, flagged, "路灯坏了很久没人修")
    assert ticket.status == S.ASSIGNED and ticket.department_id == county["zjj"].id
    strict = with_settings(settings, nlp={"review_threshold": 0.7})
    ticket, _ = submit(session_factory, strict, clock, flagged, "路灯坏了很久没人修")
    assert ticket.status == S.RECEIVED
    no_topic = FakeAnalysis(None, 0.0, needs_review=True)
    ticket, _ = submit(
        session_factory,
        with_settings(settings, nlp={"review_threshold": 0.0}),
        clock,
        no_topic,
        "hello there, the lights are out",
    )
    assert ticket.status == S.RECEIVED and ticket.department_id is None


def test_a_question_gets_the_configured_sla(session_factory, settings, clock, county):
    # Filed Wednesday 2026-11-25: 15 working days -> 12-16, 5 working days -> 12-02.
    question = FakeAnalysis("城乡建设", 0.95, request_type="咨询", request_type_probability=0.9)
    complaint = FakeAnalysis("城乡建设", 0.95, request_type="投诉", request_type_probability=0.9)
    ticket, _ = submit(session_factory, settings, clock, question, "请问路灯归哪个部门管")
    assert ticket.due_date == date(2026, 12, 16)  # not configured: the usual SLA
    quick = with_settings(settings, tickets={"question_sla_working_days": 5})
    ticket, _ = submit(session_factory, quick, clock, question, "请问路灯归哪个部门管")
    assert ticket.due_date == ticket.original_due_date == date(2026, 12, 2)
    ticket, _ = submit(session_factory, quick, clock, complaint, "路灯坏了很久没人修")
    assert ticket.due_date == date(2026, 12, 16)


def test_the_real_nlp_files_a_thank_you_as_praise(session_factory, settings, clock, county):
    analyzer = default_analyzer()
    ctx = ServiceContext.from_settings(settings, analyzer=analyzer, clock=clock)
    thanks = tickets.submit_complaint(
        session_factory, ctx, text="谢谢你们，问题已经解决了，非常满意", channel=Channel.WEB
    )
    complaint = tickets.submit_complaint(
        session_factory,
        ctx,
        text="公司拖欠工资三个月，请县人社局帮我们讨回来",
        channel=Channel.WEB,
    )
    with session_factory() as s:
        got = {t.number: t for t in s.scalars(select(Ticket))}
        assert got[thanks.number].status == S.CLOSED
        assert got[thanks.number].request_type == "表扬"
        assert got[complaint.number].request_type == "投诉"
        assert got[complaint.number].status != S.CLOSED


@pytest.mark.parametrize(
    "analysis",
    [
        PRAISE,  # filed as praise
        FakeAnalysis("城乡建设", 0.95, keywords=("路灯",)),  # assigned
        FakeAnalysis("城乡建设", 0.3, needs_review=True),  # triage with a suggestion
        None,  # NLP off: triage
    ],
)
def test_the_view_of_a_filed_complaint_is_the_stored_ticket(
    session_factory, settings, clock, county, analysis
):
    # submit_complaint builds its view from what it inserted, without reading it back: it
    # must say exactly what a read of the stored ticket says.
    ctx = ServiceContext.from_settings(
        settings, analyzer=(lambda _: analysis) if analysis else None, clock=clock
    )
    view = tickets.submit_complaint(
        session_factory,
        ctx,
        text="小区路灯坏了一个月，感谢人社局",
        channel=Channel.TELEGRAM,
        latitude=30.5,
        longitude=114.3,
        contact_phone="13812345678",
        attachments=[("photo", "file-1"), ("photo", "file-2")],
        source_ref="update-1",
    )
    with session_factory() as s:
        stored = tickets.TicketView.of(tickets.get_ticket(s, view.number))
    assert view == stored


def test_warm_up_runs_nlps_whole_warm_up_for_nlps_analyzer_and_one_call_of_another(
    settings, monkeypatch
):
    import nlp
    from nlp import pipeline

    warmed = []
    monkeypatch.setattr(pipeline, "warm_up", lambda: warmed.append("nlp"))
    ServiceContext.from_settings(settings, analyzer=nlp.analyze).warm_up()
    assert warmed == ["nlp"]
    calls = []
    ServiceContext.from_settings(settings, analyzer=calls.append).warm_up()
    assert calls == ["预热"] and warmed == ["nlp"]
    ServiceContext.from_settings(settings, analyzer=None).warm_up()  # without NLP: nothing
    assert default_analyzer() is nlp.analyze  # what from_settings gives by default
