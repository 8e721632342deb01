"""Learning from the county: the data the core gathers, `minyi nlp retrain/rollback/models`,
the web's analyzer following the active version, and department routing from corrections."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from minyi.cli import main
from minyi.db import make_session_factory
from minyi.errors import PermissionDenied
from minyi.models import Channel, Rating, RoutingCorrection, Ticket
from minyi.services import learning, ratings, tickets
from minyi.services.actors import Actor
from minyi.services.context import ServiceContext
from nlp import model_store
from tests.builders import FakeAnalysis, make_department, make_service, make_staff, make_ticket
from tests.retrain_support import CHARGING, PLACES, tiny_reference

RETRAINER = Actor.system("cli", "nlp.retrain")
CHARGING_TEXTS = [t.format(p) for p in PLACES for t in CHARGING]


def correct(session, ctx, text, predicted_topic, predicted, corrected):
    """A ticket the classifier sent to `predicted` and staff to `corrected`."""
    ticket = make_ticket(session, ctx, text=text)
    ticket.topic = predicted_topic
    session.add(
        RoutingCorrection(
            ticket_id=ticket.id,
            text=text,
            predicted_topic=predicted_topic,
            predicted_department_id=predicted.id if predicted else None,
            corrected_department_id=corrected.id,
        )
    )
    session.flush()
    return ticket


@pytest.fixture
def departments(session):
    made = {
        code: make_department(session, code=code, name=name)
        for code, name in [
            ("zjj", "住建局"),
            ("cgj", "城管局"),
            ("jtysj", "交通运输局"),
            ("gjj", "公积金中心"),
        ]
    }
    session.commit()
    return made


def test_county_examples_read_corrections_and_rated_comments(session, ctx, departments):
    d = departments
    correct(session, ctx, "小区充电桩坏了没人修理", "城乡建设", d["zjj"], d["jtysj"])
    correct(session, ctx, "路灯不亮已经一个月了", "城乡建设", d["zjj"], d["cgj"])
    correct(session, ctx, "公积金贷款审批太慢了", "交通运输", d["jtysj"], d["gjj"])
    twice = correct(session, ctx, "公交站台被小摊贩占了", "城乡建设", d["zjj"], d["cgj"])
    session.add(
        RoutingCorrection(
            ticket_id=twice.id,
            text=twice.text,
            predicted_topic="城乡建设",
            corrected_department_id=d["jtysj"].id,
        )
    )
    service = make_service(session, department=d["zjj"])
    for score, comment in [
        (1, "排队两个小时没人管"),
        (5, "窗口办事很快，非常满意"),
        (3, "一般般吧"),
        (4, None),
        (2, "   "),
    ]:
        ratings.record_rating(session, ctx, service=service, score=score, comment=comment)
    excluded = ratings.record_rating(session, ctx, service=service, score=1, comment="恶意差评")
    excluded.excluded = True
    session.commit()

    found = learning.county_examples(session, ctx.settings, actor=RETRAINER)
    assert found.topic == [
        ("小区充电桩坏了没人修理", "交通运输"),  # jtysj serves 交通运输 only
        ("路灯不亮已经一个月了", "城乡建设"),  # cgj serves the predicted topic: only it was wrong
        ("公交站台被小摊贩占了", "交通运输"),  # the latest correction of the ticket
    ]
    assert found.department == [
        ("小区充电桩坏了没人修理", "jtysj"),
        ("路灯不亮已经一个月了", "cgj"),
        ("公积金贷款审批太慢了", "gjj"),
        ("公交站台被小摊贩占了", "jtysj"),
    ]
    assert found.corrections_without_topic == 1  # gjj serves two topics, neither predicted
    assert found.sentiment == [("排队两个小时没人管", 0), ("窗口办事很快，非常满意", 1)]


def test_a_staff_correction_from_triage_becomes_an_example(session, ctx, departments):
    admin = make_staff(session)
    ticket = make_ticket(session, ctx, text="小区的充电桩坏了好几天了")
    routed = ServiceContext.from_settings(
        ctx.settings, analyzer=lambda _: FakeAnalysis("城乡建设", 0.4, needs_review=True)
    )
    tickets.route_ticket(session, routed, ticket)
    tickets.assign(session, ctx, ticket, departments["jtysj"].id, actor=Actor.staff(admin))
    session.commit()
    found = learning.county_examples(session, ctx.settings, actor=RETRAINER)
    assert found.topic == [("小区的充电桩坏了好几天了", "交通运输")]


def test_only_admins_and_the_retrain_command_read_the_county_data(session, ctx, departments):
    officer = make_staff(session, role="officer", department=departments["zjj"])
    with pytest.raises(PermissionDenied):
        learning.county_examples(session, ctx.settings, actor=Actor.staff(officer))
    admin = make_staff(session)
    assert learning.county_examples(session, ctx.settings, actor=Actor.staff(admin)).topic == []


# --- the commands ------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path, settings):
    """`minyi` against an SQLite database and a model dir under tmp_path."""
    data = tiny_reference(tmp_path / "data")
    config = tmp_path / "retrain.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/cli.db"\n'
        f'[nlp]\nmodel_dir = "{tmp_path}/models"\nmin_corrections_per_department = 5\n',
        encoding="utf-8",
    )

    def invoke(*args):
        extra = ["--data", str(data), "--folds", "2", "--tolerance", "0.05"]
        if args[:1] == ("retrain",):
            args = (*args, *extra)
        return CliRunner().invoke(main, ["--config", str(config), "nlp", *args])

    assert CliRunner().invoke(main, ["--config", str(config), "init"]).exit_code == 0
    from minyi.config import load_settings
    from minyi.db import make_engine

    invoke.settings = load_settings(config)
    invoke.engine = make_engine(invoke.settings)
    yield invoke
    invoke.engine.dispose()


def seed_charging_corrections(cli, to_code="cgj"):
    factory = make_session_factory(cli.engine)
    ctx = ServiceContext.from_settings(cli.settings, analyzer=None)
    with factory.begin() as session:
        zjj = make_department(session, code="zjj", name="住建局")
        target = make_department(session, code=to_code, name="城管局")
        for text in CHARGING_TEXTS:
            correct(session, ctx, text, "城乡建设", zjj, target)


def test_retrain_prints_old_and_new_and_a_second_run_builds_nothing(cli):
    seed_charging_corrections(cli, to_code="jtysj")
    first = cli("retrain")
    assert first.exit_code == 0, first.output
    assert "当前 / active (shipped)" in first.output and "候选 / candidate" in first.output
    assert "话题 macro-F1（标题+正文） / topic macro-F1, title + body" in first.output
    assert "model version v0001 is now active" in first.output
    again = cli("retrain", "--format", "json")
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["status"] == "no_new_data" and report["active_after"] == "v0001"
    listed = cli("models", "--format", "json")
    versions = json.loads(listed.stdout)["versions"]
    assert [(v["version"], v["active"], v["ok"]) for v in versions] == [("v0001", True, True)]
    assert versions[0]["data"]["county"]["topic_examples"] == len(CHARGING_TEXTS)


def test_retrain_json_gives_both_score_sets(cli):
    seed_charging_corrections(cli, to_code="jtysj")
    result = cli("retrain", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "activated" and report["version"] == "v0001"
    gated = {r["metric"]: r for r in report["comparison"] if r["gated"]}
    assert set(gated) >= {"macro_f1_title_body", "macro_f1_titles_only"}
    assert all(r["old"] is not None and r["new"] is not None for r in gated.values())
    assert report["county_data"]["topic_examples"] == len(CHARGING_TEXTS)


def test_rollback_and_a_corrupt_version_in_the_listing(cli, tmp_path):
    seed_charging_corrections(cli, to_code="jtysj")
    assert cli("retrain").exit_code == 0
    back = cli("rollback")
    assert back.exit_code == 0, back.output
    assert "v0001 → 随程序发布的模型" in back.output
    assert "v0001 → the shipped models" in back.output
    nothing = cli("rollback")
    assert nothing.exit_code == 1
    assert "没有可回退的版本" in nothing.output and "no earlier version" in nothing.output
    (tmp_path / "models" / "models" / "v0001" / "topic.npz").write_bytes(b"broken")
    refused = cli("rollback", "--to", "v0001")
    assert refused.exit_code == 1 and "corrupt" in refused.output and "损坏" in refused.output
    listed = cli("models")
    assert listed.exit_code == 0 and "损坏 / corrupt" in listed.output
    assert model_store.ModelStore(tmp_path / "models").active_name() is None


def test_the_analyzer_follows_the_active_version_without_a_restart(cli, monkeypatch):
    monkeypatch.setattr(model_store, "CHECK_SECONDS", 0)
    ctx = ServiceContext.from_settings(cli.settings)  # what the web and the bot build once
    text = "南关小区的充电桩坏了好几天"
    before = ctx.analyzer(text).topic
    seed_charging_corrections(cli, to_code="jtysj")
    assert cli("retrain").exit_code == 0
    assert ctx.analyzer(text).topic == "交通运输" != before
    assert cli("rollback").exit_code == 0
    assert ctx.analyzer(text).topic == before


# --- department routing learned from corrections ----------------------------------------------


def test_routing_learns_a_department_from_enough_corrections(cli, monkeypatch):
    monkeypatch.setattr(model_store, "CHECK_SECONDS", 0)
    seed_charging_corrections(cli, to_code="cgj")
    factory = make_session_factory(cli.engine)
    construction = FakeAnalysis("城乡建设", 0.97)

    def route(settings, text):
        ctx = ServiceContext.from_settings(settings, analyzer=lambda _: construction)
        view = tickets.submit_complaint(factory, ctx, text=text, channel=Channel.WEB)
        with factory() as session:
            ticket = session.scalar(select(Ticket).where(Ticket.number == view.number))
            return ticket.department.code if ticket.department_id else None

    text = "南关小区的充电桩坏了好几天"
    assert route(cli.settings, text) == "zjj"  # keywords: no hit, the first candidate
    assert cli("retrain").exit_code == 0
    assert route(cli.settings, text) == "cgj"  # like the 24 texts staff sent to 城管局
    assert route(cli.settings, "南关小区电梯经常停运") == "zjj"  # not that kind of text
    stricter = cli.settings.model_copy(
        update={"nlp": cli.settings.nlp.model_copy(update={"min_corrections_per_department": 30})}
    )
    assert route(stricter, text) == "zjj"  # 24 corrections are not enough for this county


def test_corrections_are_read_on_postgresql_too(session, ctx, departments):
    # The `session` fixture runs this on SQLite and, when configured, on PostgreSQL.
    d = departments
    for i in range(3):
        correct(session, ctx, f"第{i}个小区充电桩坏了", "城乡建设", d["zjj"], d["jtysj"])
    service = make_service(session, department=d["zjj"])
    ratings.record_rating(session, ctx, service=service, score=5, comment="很满意")
    session.commit()
    found = learning.county_examples(session, ctx.settings, actor=RETRAINER)
    assert len(found.topic) == 3 and found.sentiment == [("很满意", 1)]
    assert session.scalar(select(Rating.comment)) == "很满意"
