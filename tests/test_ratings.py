from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from minyi.errors import (
    IllegalTransition,
    MinyiError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from minyi.models import (
    BadReviewFollowUp,
    Channel,
    DecisionStatus,
    FollowUpStatus,
    OutboxMessage,
    Rating,
    RatingAppeal,
    Role,
)
from minyi.services import catalog, ratings
from minyi.services.actors import Actor
from tests.builders import make_citizen, make_department, make_service, make_staff


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def service(session):
    return make_service(
        session, department=make_department(session, code="zwfw", name="政务服务中心")
    )


def test_good_rating_has_no_follow_up(session, ctx, service):
    rating = ratings.record_rating(session, ctx, service=service, score=5, comment=" 很快 ")
    session.commit()
    assert rating.department_id == service.department_id
    assert rating.comment == "很快" and rating.follow_up is None
    assert count(session, BadReviewFollowUp) == 0


@pytest.mark.parametrize("score", [1, 2])
def test_bad_review_opens_follow_up_with_working_day_deadline(session, ctx, clock, service, score):
    # Friday 2026-11-27 10:00 Beijing: 5 working days later is Friday 2026-12-04.
    clock.now = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    rating = ratings.record_rating(
        session, ctx, service=service.code, score=score, comment="排队两个小时没人管"
    )
    session.commit()
    assert rating.follow_up.deadline == date(2026, 12, 4)
    assert rating.follow_up.status == FollowUpStatus.OPEN


def test_follow_up_deadline_is_configurable(session, ctx, clock, service):
    ctx.settings.ratings.follow_up_working_days = 1
    clock.now = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    rating = ratings.record_rating(session, ctx, service=service, score=1)
    assert rating.follow_up.deadline == date(2026, 11, 30)


@pytest.mark.parametrize("score", [0, 6, -1, 2.5, "five", None, True])
def test_bad_score_changes_nothing(session, ctx, service, score):
    with pytest.raises(ValidationFailed, match="1 到 5"):
        ratings.record_rating(session, ctx, service=service, score=score)
    session.rollback()
    assert count(session, Rating) == 0


def test_digit_string_score_is_accepted(session, ctx, service):
    assert ratings.record_rating(session, ctx, service=service, score="4").score == 4


def test_oversized_comment_and_unknown_service(session, ctx, service):
    with pytest.raises(ValidationFailed, match="太长"):
        ratings.record_rating(session, ctx, service=service, score=3, comment="慢" * 2001)
    with pytest.raises(NotFound):
        ratings.record_rating(session, ctx, service="no-such-service", score=3)
    session.rollback()
    assert count(session, Rating) == 0


def test_double_submit_counts_once(session, ctx, service):
    first = ratings.record_rating(
        session, ctx, service=service, score=2, channel=Channel.WEB, source_ref="form:abc"
    )
    again = ratings.record_rating(
        session, ctx, service=service, score=2, channel=Channel.WEB, source_ref="form:abc"
    )
    session.commit()
    assert first.id == again.id
    assert count(session, Rating) == 1 and count(session, BadReviewFollowUp) == 1


def test_complete_follow_up_notifies_citizen(session, ctx, clock, service):
    citizen = make_citizen(session)
    rating = ratings.record_rating(session, ctx, service=service, score=1, citizen=citizen)
    officer = Actor.staff(make_staff(session, Role.OFFICER, department=service.department))
    stranger = Actor.staff(make_staff(session, Role.OFFICER, department=make_department(session)))
    with pytest.raises(PermissionDenied):
        ratings.complete_follow_up(session, ctx, rating.follow_up, actor=stranger, note="已整改")
    with pytest.raises(ValidationFailed):
        ratings.complete_follow_up(session, ctx, rating.follow_up, actor=officer, note=" ")
    clock.advance(days=1)
    ratings.complete_follow_up(
        session, ctx, rating.follow_up, actor=officer, note="已约谈窗口人员并优化叫号"
    )
    session.commit()
    assert rating.follow_up.status == FollowUpStatus.COMPLETED
    assert rating.follow_up.completed_at == clock.now
    message = session.scalar(select(OutboxMessage))
    assert message.kind == "follow_up_done" and message.citizen_id == citizen.id
    with pytest.raises(IllegalTransition):
        ratings.complete_follow_up(session, ctx, rating.follow_up, actor=officer, note="again")


def test_exclusion_is_an_audited_appeal_not_a_deletion(session, ctx, service):
    rating = ratings.record_rating(session, ctx, service=service, score=1, comment="乱写的")
    officer = Actor.staff(make_staff(session, Role.OFFICER, department=service.department))
    admin = Actor.staff(make_staff(session, Role.ADMIN))
    appeal = ratings.request_exclusion(session, ctx, rating, actor=officer, reason="恶意刷差评")
    assert not rating.excluded
    with pytest.raises(PermissionDenied):
        ratings.decide_exclusion(session, ctx, appeal, actor=officer, approve=True)
    ratings.decide_exclusion(session, ctx, appeal, actor=admin, approve=True)
    session.commit()
    assert rating.excluded and appeal.status == DecisionStatus.APPROVED
    assert appeal.decided_by_id == admin.staff_user_id
    assert count(session, Rating) == 1
    with pytest.raises(IllegalTransition):
        ratings.decide_exclusion(session, ctx, appeal, actor=admin, approve=False)


def test_comment_sentiment_failure_never_loses_the_rating(session, ctx, service):
    def broken(_text):
        raise RuntimeError("model file missing")

    ctx.analyzer = broken
    rating = ratings.record_rating(session, ctx, service=service, score=4, comment="还可以")
    session.commit()
    assert rating.id is not None and rating.sentiment_score is None


def test_one_live_appeal_per_rating_and_none_on_an_excluded_one(session, ctx, service):
    rating = ratings.record_rating(session, ctx, service=service, score=1, comment="乱写的")
    officer = Actor.staff(make_staff(session, Role.OFFICER, department=service.department))
    admin = Actor.staff(make_staff(session, Role.ADMIN))
    first = ratings.request_exclusion(session, ctx, rating, actor=officer, reason="恶意刷差评")
    with pytest.raises(IllegalTransition):
        ratings.request_exclusion(session, ctx, rating, actor=officer, reason="再申诉一次")
    ratings.decide_exclusion(session, ctx, first, actor=admin, approve=False)
    # Refused: a new appeal (e.g. with new evidence) may be filed.
    second = ratings.request_exclusion(session, ctx, rating, actor=officer, reason="有录像为证")
    ratings.decide_exclusion(session, ctx, second, actor=admin, approve=True)
    session.commit()
    # The approved appeal also ends the 差评 loop: nothing is left to rectify or to be late on.
    assert rating.excluded and rating.follow_up.status == FollowUpStatus.EXCLUDED
    with pytest.raises(IllegalTransition):
        ratings.request_exclusion(session, ctx, rating, actor=officer, reason="第三次")
    with pytest.raises(IllegalTransition):
        ratings.complete_follow_up(session, ctx, rating.follow_up, actor=officer, note="整改")
    assert session.scalar(select(func.count()).select_from(RatingAppeal)) == 2


@pytest.mark.parametrize("approve", ["no", "yes", 1, None])
def test_appeal_decision_must_be_a_real_yes_or_no(session, ctx, service, approve):
    rating = ratings.record_rating(session, ctx, service=service, score=1)
    officer = Actor.staff(make_staff(session, Role.OFFICER, department=service.department))
    admin = Actor.staff(make_staff(session, Role.ADMIN))
    appeal = ratings.request_exclusion(session, ctx, rating, actor=officer, reason="恶意")
    with pytest.raises(ValidationFailed):
        ratings.decide_exclusion(session, ctx, appeal, actor=admin, approve=approve)
    assert appeal.status == DecisionStatus.PENDING and not rating.excluded


BAD_RATINGS = [
    ({"score": "²"}, "score"),
    ({"score": "٣"}, "score"),
    ({"score": 4.0}, "score"),
    ({"channel": "fax"}, "channel"),
    ({"at": datetime(2026, 11, 25, 10, 0)}, "time zone"),
    ({"outlet": "no-such-hall"}, "outlet"),
    ({"aspect": 7}, "aspect"),
    ({"aspect": "很" * 41}, "aspect"),
    ({"comment": {"text": "好"}}, "comment"),
    ({"source_ref": 12}, "source_ref"),
    ({"citizen": "c1"}, "citizen"),
    ({"service": 3.5}, "service"),
    ({"service": True}, "service"),
]


@pytest.mark.parametrize("fields, word", BAD_RATINGS)
def test_bad_rating_is_a_domain_error_and_changes_nothing(session, ctx, service, fields, word):
    with pytest.raises(MinyiError) as info:
        ratings.record_rating(session, ctx, **({"service": service, "score": 4} | fields))
    assert word in info.value.message_en and info.value.message_zh
    session.rollback()
    assert count(session, Rating) == 0


def test_rating_with_an_outlet_code_and_an_aspect(session, ctx, service):
    catalog.create_outlet(session, code="hall-1", name="县政务服务大厅")
    rating = ratings.record_rating(
        session, ctx, service=service.code, score=2, outlet="hall-1", aspect="服务态度"
    )
    assert rating.outlet_id is not None and rating.aspect == "服务态度"
    assert "服务态度" in ratings.ASPECTS


@pytest.mark.parametrize("fields", [{"name": None}, {"name": ""}, {"code": ""}, {"name": 5}])
def test_bad_outlet_is_a_domain_error(session, fields):
    with pytest.raises(ValidationFailed):
        catalog.create_outlet(session, **({"code": "hall-9", "name": "大厅"} | fields))


def test_submit_rating_returns_a_view_readable_after_the_session(session_factory, ctx):
    with session_factory.begin() as s:
        department = make_department(s, code="zwfw", name="政务服务中心")
        make_service(s, department=department, code="zwfw-01", name="综合受理")
    view = ratings.submit_rating(
        session_factory, ctx, service="zwfw-01", score=1, aspect="办事效率", source_ref="qr-1"
    )
    assert view.is_bad_review and view.follow_up_status == FollowUpStatus.OPEN
    assert view.department.name == "政务服务中心" and view.service_name == "综合受理"
    # Wednesday 2026-11-25 + 5 working days.
    assert view.follow_up_deadline == date(2026, 12, 2)
    again = ratings.submit_rating(
        session_factory, ctx, service="zwfw-01", score=1, source_ref="qr-1"
    )
    assert again.id == view.id
