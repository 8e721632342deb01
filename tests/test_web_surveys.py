"""Answering a survey on the web (/s/<slug>) through the Flask test client, on SQLite and
(when its URL is set) PostgreSQL: the form, one response per respondent, refusals, the menu."""

from __future__ import annotations

import html as html_entities
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from minyi.models import SurveyInvitation, SurveyResponse, Ticket
from surveys import catalog, rounds
from surveys.responses import Respondent, save_answer
from tests.builders import make_citizen
from tests.survey_helpers import (
    HALL,
    full_answers,
    hall_asking_first_visit,
    hall_template,
    make_hall_departments,
    results_as_recounted,
)
from tests.web_support import EXTERNAL_URL
from web import create_app

HIDDEN = re.compile(r'<input (?:id="\w+" )?name="(\w+)" type="hidden" value="([^"]*)">')
COMPLAINT = "窗口工作人员态度很差，材料明明齐全却让我跑了三次。"


@pytest.fixture
def app(settings, session_factory, ctx):
    settings.web.secret_key = "test-secret"
    app = create_app(settings, session_factory=session_factory)
    app.extensions["minyi"]["context"] = ctx
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def hall(session_factory, ctx):
    with session_factory.begin() as session:
        make_hall_departments(session)
        catalog.import_survey(session, ctx, hall_template())
    return HALL


@pytest.fixture
def open_hall(session_factory, ctx, hall):
    with session_factory.begin() as session:
        return rounds.open_round(session, ctx, hall)


def hidden_fields(html: str) -> dict:
    """What the browser posts back unseen: the CSRF token, the round and the invitation."""
    return dict(HIDDEN.findall(html))


def text_of(response) -> str:
    html = response.get_data(as_text=True)
    main = html[html.index("<main") : html.index("</main>")]
    return html_entities.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main)))


def answer(client, form: dict, *, query: str = "", page=None):
    """Open the survey page as a browser does, then post `form` with the page's hidden fields."""
    if page is None:
        page = client.get(f"/s/{HALL}{query}")
        assert page.status_code == 200, text_of(page)
    return client.post(f"/s/{HALL}", data=hidden_fields(page.get_data(as_text=True)) | form)


def count(session_factory, model, *where) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def stored_answers(session_factory) -> dict:
    """The one response's stored answers by key (a multiple choice as "a;b")."""
    with session_factory() as session:
        response = session.scalars(select(SurveyResponse)).one()
        assert response.submitted_at is not None
        return {
            key: ";".join(value) if isinstance(value, list) else value
            for key, value in response.answers.items()
        }


def answer_count(session_factory) -> int:
    """How many answers the responses hold."""
    with session_factory() as session:
        return sum(len(a or {}) for a in session.scalars(select(SurveyResponse.answers)))


# -- the form --------------------------------------------------------------------------------


def test_the_form_names_fields_by_key_and_values_by_score_or_choice(client, open_hall):
    page = client.get(f"/s/{HALL}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "县政务服务大厅满意度调查" in html and "回答下面几个问题约需 2 分钟" in html
    for score, label in ((5, "非常满意"), (1, "非常不满意")):
        assert f'name="overall" value="{score}"' in html and label in html
    assert all(f'name="recommend" value="{n}"' in html for n in range(11))
    assert 'type="checkbox" name="improve" value="queue"' in html
    assert 'type="radio" name="how" value="agent"' in html
    assert 'name="suggest" rows="4" maxlength="500"' in html
    assert "热情规范，主动提供帮办和延时服务" in html  # rubric levels in words
    # Progress, and the conditions in words for a browser without the script.
    assert "已回答 0 / 7" in text_of(page)
    assert "仅当第 3 题选择“到窗口”或“帮办代办”时回答" in text_of(page)
    assert 'data-show-if=\'{"how": ["hall", "agent"]}\'' in html
    assert set(hidden_fields(html)) == {"_csrf", "_round"}
    assert '<script src="/static/js/survey.js" defer>' in html
    assert client.get("/static/js/survey.js").status_code == 200


def test_a_submitted_form_is_stored_once_and_thanked(client, session_factory, open_hall):
    posted = answer(client, full_answers())
    assert posted.status_code == 303 and posted.headers["Location"] == f"/s/{HALL}"
    done = client.get(f"/s/{HALL}")
    assert done.status_code == 200 and "感谢您的参与" in text_of(done)
    assert stored_answers(session_factory) == {
        "overall": 4, "recommend": 9, "how": "hall", "service": "social", "social_rating": 5,
        "visits": "one", "improve": "queue;guide", "norms": 4, "suggest": "希望增加周末办理时间",
    }  # fmt: skip
    # A reload, or the same browser coming back: already answered, no form.
    again = client.get(f"/s/{HALL}")
    assert "您已提交过本次调查" in text_of(again) and 'name="overall"' not in again.get_data(
        as_text=True
    )


def test_a_second_post_stores_nothing(client, session_factory, open_hall):
    page = client.get(f"/s/{HALL}")
    assert answer(client, full_answers(), page=page).status_code == 303
    stored = answer_count(session_factory)
    second = answer(client, full_answers(overall="1"), page=page)  # the same page posted again
    assert second.status_code == 303
    assert "您已提交过本次调查" in text_of(client.get(f"/s/{HALL}"))
    assert count(session_factory, SurveyResponse) == 1
    assert answer_count(session_factory) == stored
    assert stored_answers(session_factory)["overall"] == 4
    # Another browser is another respondent.
    assert answer(client.application.test_client(), full_answers()).status_code == 303
    assert count(session_factory, SurveyResponse) == 2


def test_refused_answers_are_named_and_the_others_kept(client, session_factory, open_hall):
    form = full_answers(overall=None, recommend="11", improve=["queue", "guide", "online"])
    form["suggest"] = "<b>希望</b> & 改进"
    refused = answer(client, form)
    html, text = refused.get_data(as_text=True), text_of(refused)
    assert refused.status_code == 400
    assert "有 3 处需要修改" in text
    assert "请回答“您对本次在大厅办事的总体评价是？”" in text
    assert "的答案须为 0 到 10 的整数" in text and "最多选 2 项" in text
    assert 'href="#q-overall"' in html and 'id="q-overall"' in html
    # What was answered stays on the page.
    assert 'name="how" value="hall" checked' in html
    assert 'name="service" value="social" checked' in html
    assert 'name="improve" value="online" checked' in html
    assert "&lt;b&gt;希望&lt;/b&gt; &amp; 改进</textarea>" in html
    assert "已回答 6 / 9" in text  # overall missing, recommend and improve refused
    assert count(session_factory, SurveyResponse) == answer_count(session_factory) == 0
    # Corrected, it goes through.
    fixed = answer(client, full_answers(), page=refused)
    assert fixed.status_code == 303 and count(session_factory, SurveyResponse) == 1


def test_answers_that_show_if_rules_out_are_not_stored(client, session_factory, open_hall):
    # A browser without the script posts the hall-only questions although "online" was chosen.
    assert answer(client, full_answers(how="online", why="排队时间太长了")).status_code == 303
    stored = stored_answers(session_factory)
    assert stored["how"] == "online"
    assert not {"service", "social_rating", "why"} & set(stored)


def test_after_a_refusal_the_questions_that_do_not_apply_are_marked(client, open_hall):
    refused = answer(client, full_answers(how="online", visits="never"))
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "没有这个选项" in text_of(refused)
    service = html[html.index('id="q-service"') - 60 : html.index('id="q-service"')]
    assert "not-applicable" in service
    assert "根据您目前的回答，本题无需回答" in text_of(refused)


def test_unknown_fields_and_wrong_types_are_refused_by_name(client, session_factory, open_hall):
    refused = answer(client, full_answers(how=["hall", "online"]) | {"teleport": "yes"})
    assert refused.status_code == 400
    assert "问卷没有问题 teleport" in text_of(refused) and "没有这个选项" in text_of(refused)
    huge = answer(client, full_answers(suggest="很" * 501))
    assert huge.status_code == 400 and "500" in text_of(huge)
    assert count(session_factory, SurveyResponse) == 0


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_a_missing_or_forged_csrf_token_stores_nothing(client, session_factory, open_hall, token):
    page = client.get(f"/s/{HALL}")
    fields = hidden_fields(page.get_data(as_text=True))
    fields.pop("_csrf")
    if token:
        fields["_csrf"] = token
    refused = client.post(f"/s/{HALL}", data=fields | full_answers())
    assert refused.status_code == 400 and "未保存任何内容" in text_of(refused)
    assert 'name="how" value="hall" checked' in refused.get_data(as_text=True)
    assert count(session_factory, SurveyResponse) == 0


def test_a_page_of_a_round_that_ended_is_not_posted_into_the_next(
    client, session_factory, ctx, open_hall
):
    page = client.get(f"/s/{HALL}")
    with session_factory.begin() as session:
        rounds.close_round(session, ctx, open_hall.id)
        rounds.open_round(session, ctx, HALL)
    refused = answer(client, full_answers(), page=page)
    assert refused.status_code == 409 and "新的一轮" in text_of(refused)
    assert 'name="how" value="hall" checked' in refused.get_data(as_text=True)
    assert count(session_factory, SurveyResponse) == 0
    assert answer(client, full_answers(), page=refused).status_code == 303


def test_a_round_closed_by_another_process_takes_no_more_posts(
    client, session_factory, ctx, open_hall
):
    """The page's process keeps the open round it showed; a close written elsewhere (the
    worker, the staff area in another process) still refuses the next post."""
    page = client.get(f"/s/{HALL}")
    with session_factory.begin() as session:
        rounds.close_round(session, ctx, open_hall.id)
    late = answer(client, full_answers(), page=page)
    assert late.status_code == 404 and "目前没有进行中的调查" in text_of(late)
    assert count(session_factory, SurveyResponse) == 0
    with session_factory.begin() as session:
        rounds.open_round(session, ctx, HALL)
    fresh = client.get(f"/s/{HALL}")
    assert answer(client, full_answers(), page=fresh).status_code == 303
    assert count(session_factory, SurveyResponse) == 1


def test_a_version_published_meanwhile_is_asked_from_the_next_round_on(
    app, client, session_factory, ctx, open_hall
):
    """The process keeps the open round it showed, with its version's questions: a new
    version published meanwhile changes nothing for that round's posts, and the next round's
    page and posts are the new version's."""
    page = client.get(f"/s/{HALL}")
    with session_factory.begin() as session:
        catalog.import_survey(session, ctx, hall_asking_first_visit())
    assert answer(client, full_answers(), page=page).status_code == 303
    with session_factory.begin() as session:
        rounds.close_round(session, ctx, open_hall.id)
        second = rounds.open_round(session, ctx, HALL)
    browser = app.test_client()
    fresh = browser.get(f"/s/{HALL}")
    assert 'name="first_visit" value="yes"' in fresh.get_data(as_text=True)
    assert answer(browser, full_answers(first_visit="no"), page=fresh).status_code == 303
    # The kept counts went to each round's own version's questions: a recount agrees.
    first_results = results_as_recounted(session_factory, ctx, open_hall.id)
    second_results = results_as_recounted(session_factory, ctx, second.id)
    assert first_results["version"] == 1 and "first_visit" not in first_results["questions"]
    assert second_results["questions"]["first_visit"]["counts"] == {"yes": 0, "no": 1}
    assert second_results["questions"]["overall"]["counts"]["4"] == 1


# -- rounds that cannot be answered ----------------------------------------------------------


def test_unknown_closed_and_future_rounds_get_a_friendly_page(
    client, session_factory, ctx, clock, hall
):
    unknown = client.get("/s/no-such-survey")
    assert unknown.status_code == 404 and "找不到这份问卷" in text_of(unknown)
    assert client.get("/s/" + "x" * 80).status_code == 404
    never = client.get(f"/s/{HALL}")
    assert never.status_code == 404 and "目前没有进行中的调查" in text_of(never)
    assert "县政务服务大厅满意度调查" in text_of(never)
    with session_factory.begin() as session:
        round_ = rounds.open_round(session, ctx, HALL, closes_at=clock.now + timedelta(days=1))
    page = client.get(f"/s/{HALL}")
    clock.advance(days=2)  # the round's time is up before the worker closed it
    late = answer(client, full_answers(), page=page)
    assert late.status_code == 404 and "目前没有进行中的调查" in text_of(late)
    with session_factory.begin() as session:
        rounds.close_round(session, ctx, round_.id)
    assert client.get(f"/s/{HALL}").status_code == 404
    assert count(session_factory, SurveyResponse) == 0


# -- invitations -----------------------------------------------------------------------------


def test_an_invitation_only_round_takes_each_link_once(client, app, session_factory, ctx, hall):
    with session_factory.begin() as session:
        round_ = rounds.open_round(session, ctx, HALL, invitation_only=True)
        links = rounds.create_invitations(session, ctx, round_.id, 2)
    token = links[0].split("?t=")[1]
    without = client.get(f"/s/{HALL}")
    assert without.status_code == 403 and "仅限受邀" in text_of(without)
    bad = client.get(f"/s/{HALL}?t=not-a-real-token-at-all")
    assert bad.status_code == 400 and "邀请链接无效" in text_of(bad)
    page = client.get(f"/s/{HALL}?t={token}")
    assert hidden_fields(page.get_data(as_text=True))["_t"] == token
    posted = answer(client, full_answers(), page=page)
    assert posted.status_code == 303 and posted.headers["Location"] == f"/s/{HALL}?t={token}"
    assert "感谢您的参与" in text_of(client.get(posted.headers["Location"]))
    # The used link, in any browser, says it was answered and takes nothing more.
    other = app.test_client()
    assert "您已提交过本次调查" in text_of(other.get(f"/s/{HALL}?t={token}"))
    assert answer(client, full_answers(overall="1"), page=page).status_code == 303
    assert "您已提交过本次调查" in text_of(client.get(f"/s/{HALL}?t={token}"))
    assert count(session_factory, SurveyResponse) == 1
    assert stored_answers(session_factory)["overall"] == 4
    # Posting without the link is refused, however the form was obtained.
    fields = hidden_fields(page.get_data(as_text=True))
    fields.pop("_t")
    assert client.post(f"/s/{HALL}", data=fields | full_answers()).status_code == 403


def test_one_invitation_link_posted_twice_at_once_stores_one_response(
    app, session_factory, ctx, hall
):
    """Two browsers (or a double tap on a slow line) post the same link at the same moment:
    both are sent on to the page, one response is stored, and the link then says 已提交."""
    with session_factory.begin() as session:
        round_ = rounds.open_round(session, ctx, HALL, invitation_only=True)
        token = rounds.create_invitations(session, ctx, round_.id, 1)[0].split("?t=")[1]
    browsers = [app.test_client() for _ in range(2)]
    pages = [browser.get(f"/s/{HALL}?t={token}") for browser in browsers]
    barrier = threading.Barrier(len(browsers))
    posted, errors = [], []

    def post(browser, page, overall):
        fields = hidden_fields(page.get_data(as_text=True)) | full_answers(overall=overall)
        barrier.wait()
        try:
            posted.append(browser.post(f"/s/{HALL}", data=fields))
        except Exception as exc:  # noqa: BLE001  (counted: the test expects none)
            errors.append(exc)

    threads = [
        threading.Thread(target=post, args=(browser, page, score))
        for browser, page, score in zip(browsers, pages, ("4", "1"), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [r.status_code for r in posted] == [303, 303]
    assert count(session_factory, SurveyResponse) == 1
    with session_factory() as session:
        (response_id,) = session.scalars(select(SurveyResponse.id)).all()
        answers = len(session.get(SurveyResponse, response_id).answers)
    assert answer_count(session_factory) == answers
    outcomes = sorted(text_of(b.get(f"/s/{HALL}?t={token}")) for b in browsers)
    assert sum("感谢您的参与" in page for page in outcomes) == 1
    assert sum("您已提交过本次调查" in page for page in outcomes) == 1
    # A later post of the form still open in a browser, or a visit from anywhere, says 已提交.
    for browser, page in zip(browsers, pages, strict=True):
        fields = hidden_fields(page.get_data(as_text=True)) | full_answers(overall="2")
        assert browser.post(f"/s/{HALL}", data=fields).status_code == 303
        assert "您已提交过本次调查" in text_of(browser.get(f"/s/{HALL}?t={token}"))
    assert "您已提交过本次调查" in text_of(app.test_client().get(f"/s/{HALL}?t={token}"))
    assert answer_count(session_factory) == answers


def test_a_subscriber_continues_on_the_web_what_they_began_in_chat(
    client, session_factory, ctx, hall
):
    with session_factory.begin() as session:
        citizen = make_citizen(session)
        round_ = rounds.open_round(session, ctx, HALL, invitation_only=True)
        token = rounds.create_invitations(session, ctx, round_.id, 1)[0].split("?t=")[1]
        invitation = session.scalars(select(SurveyInvitation)).one()
        invitation.citizen_id = citizen.id  # as invite_subscribers makes it
    with session_factory.begin() as session:
        me = Respondent.of_citizen(citizen)
        save_answer(session, ctx, round_.id, me, "overall", 2)
        save_answer(session, ctx, round_.id, me, "how", "online")
    page = client.get(f"/s/{HALL}?t={token}")
    html = page.get_data(as_text=True)
    assert 'name="overall" value="2" checked' in html
    assert 'name="how" value="online" checked' in html
    assert "已回答 2 / 8" in text_of(page)  # a low score asks "why"
    assert answer(client, full_answers(overall="2"), page=page).status_code == 303
    with session_factory() as session:
        response = session.scalars(select(SurveyResponse)).one()
        assert response.citizen_id == citizen.id and response.submitted_at is not None


# -- complaints from free text ---------------------------------------------------------------


def test_an_answer_filed_as_a_complaint_shows_its_number_and_code(
    client, session_factory, open_hall
):
    form = full_answers(overall="1", why=COMPLAINT) | {"_complaint": "yes"}
    assert answer(client, form).status_code == 303
    done = client.get(f"/s/{HALL}")
    text = text_of(done)
    with session_factory() as session:
        ticket = session.scalars(select(Ticket)).one()
    assert "已转为投诉" in text and ticket.number in text
    match = re.search(rf'href="/t/{ticket.number}\?code=(\w+)"', done.get_data(as_text=True))
    assert match and client.get(f"/t/{ticket.number}?code={match.group(1)}").status_code == 200
    assert ticket.text == COMPLAINT
    # Still there on a reload: the code stays with this browser.
    assert ticket.number in text_of(client.get(f"/s/{HALL}"))


def test_no_complaint_without_the_opt_in_and_a_refused_one_keeps_the_response(
    client, app, session_factory, open_hall
):
    first = answer(client, full_answers(overall="1", why=COMPLAINT))
    assert first.status_code == 303, text_of(first)
    assert count(session_factory, Ticket) == 0
    other = app.test_client()
    short = full_answers(overall="2", why="差") | {"_complaint": "yes"}
    assert answer(other, short).status_code == 303
    done = text_of(other.get(f"/s/{HALL}"))
    assert "未能转为投诉" in done and "太短" in done and "感谢您的参与" in done
    assert count(session_factory, Ticket) == 0 and count(session_factory, SurveyResponse) == 2


# -- the citizen menu, language, limits ------------------------------------------------------


def test_the_citizen_menu_offers_a_survey_only_while_a_public_round_is_open(
    client, session_factory, ctx, hall
):
    assert "问卷调查" not in text_of(client.get("/citizen"))
    with session_factory.begin() as session:
        invited = rounds.open_round(session, ctx, HALL, invitation_only=True)
    assert "问卷调查" not in text_of(client.get("/citizen"))  # not for everyone: no card
    with session_factory.begin() as session:
        rounds.close_round(session, ctx, invited.id)
        rounds.open_round(session, ctx, HALL)
    menu = client.get("/citizen")
    assert "问卷调查：县政务服务大厅满意度调查" in text_of(menu)
    assert f'href="/s/{HALL}"' in menu.get_data(as_text=True)
    assert client.get(f"/s/{HALL}").status_code == 200


def test_the_page_speaks_english_when_chosen(client, open_hall):
    client.get("/lang/en")
    page = client.get(f"/s/{HALL}")
    text = text_of(page)
    assert "County service hall satisfaction survey" in text
    assert "Overall, how satisfied are you with this visit?" in text
    assert "Answer only if question 3 is answered “At a window” or “With an assistant”." in text
    assert "Very satisfied" in text and "Required" in text
    refused = answer(client, full_answers(overall=None))
    assert "'overall' is required" in text_of(refused)


def test_survey_posts_are_rate_limited(app, session_factory, open_hall):
    app.config["MINYI_SURVEY_LIMIT"] = "2 per minute"
    try:
        browsers = [app.test_client() for _ in range(3)]
        pages = [b.get(f"/s/{HALL}") for b in browsers]  # pages themselves are not limited
        assert answer(browsers[0], full_answers(), page=pages[0]).status_code == 303
        assert answer(browsers[1], full_answers(), page=pages[1]).status_code == 303
        assert answer(browsers[2], full_answers(), page=pages[2]).status_code == 429
        assert count(session_factory, SurveyResponse) == 2
    finally:
        app.extensions["minyi"]["limiter"].reset()


def test_survey_pages_load_nothing_from_outside(client, open_hall):
    for path in [f"/s/{HALL}", "/s/unknown-one", "/citizen"]:
        assert not EXTERNAL_URL.search(client.get(path).get_data(as_text=True)), path
