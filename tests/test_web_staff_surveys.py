"""The survey designer, rounds and results pages: every route × role, CSRF, bad definitions,
published versions left alone, and the round trip from an empty survey to its results."""

from __future__ import annotations

import html as html_entities
import json
import re

import pytest
from sqlalchemy import func, select

from minyi.models import AuditEntry, SurveyVersion
from surveys import catalog
from surveys.staff import revision_of
from tests.web_support import EXTERNAL_URL, csrf_token_of, sign_in

USERS = {"admin": "admin1", "analyst": "analyst1", "officer": "hr1", "other_officer": "jt1"}
# The page matrices check the wiring; the engine's rules run on both databases in
# tests/test_surveys*.py, so these run on SQLite only.
SQLITE_ONLY = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
SLUG = "county-2026"


def definition(own_code: str) -> dict:
    """A small published survey: a rating of the officer's department, an NPS, a choice, text."""
    return {
        "slug": SLUG,
        "title": {"zh": "县政务服务满意度调查", "en": "County services survey"},
        "questions": [
            {
                "key": "overall",
                "type": "rating",
                "required": True,
                "department": own_code,
                "text": {"zh": "总体评价"},
            },
            {"key": "recommend", "type": "nps", "text": {"zh": "推荐可能性"}},
            {
                "key": "how",
                "type": "single",
                "text": {"zh": "办理方式"},
                "choices": [
                    {"key": "hall", "text": {"zh": "到窗口"}},
                    {"key": "online", "text": {"zh": "网上办理"}},
                ],
            },
            {
                "key": "why",
                "type": "text",
                "show_if": {"overall": [1, 2]},
                "text": {"zh": "哪里不满意"},
            },
        ],
    }


@pytest.fixture
def designed(session_factory, ctx, staff_world):
    with session_factory.begin() as session:
        catalog.import_survey(session, ctx, definition(staff_world.own.code))
    return SLUG


def signed_in(web_app, role):
    client = web_app.test_client()
    assert sign_in(client, USERS[role]).status_code == 302
    return client


def token(client):
    return csrf_token_of(client, "/staff/")


def page_text(response) -> str:
    html = response.get_data(as_text=True)
    main = html[html.index("<main") : html.index("</main>")]
    return html_entities.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main)))


def revision(client, slug=SLUG) -> str:
    html = client.get(f"/staff/surveys/{slug}").get_data(as_text=True)
    return re.search(r'name="_rev" value="([0-9a-f]+)"', html).group(1)


def versions(session_factory, slug=SLUG) -> list[tuple[int, bool, dict]]:
    with session_factory() as session:
        survey = catalog.get_survey(session, slug)
        rows = session.scalars(
            select(SurveyVersion)
            .where(SurveyVersion.survey_id == survey.id)
            .order_by(SurveyVersion.number)
        ).all()
        return [(v.number, v.published_at is not None, v.definition) for v in rows]


def audit_count(session_factory) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry))


# -- every route × role ------------------------------------------------------------------

DESIGNER_PAGES = [
    "/staff/surveys/new",
    "/staff/surveys/import",
    f"/staff/surveys/{SLUG}",
    f"/staff/surveys/{SLUG}/questions/how",
    f"/staff/surveys/{SLUG}/new-question?type=rubric",
    f"/staff/surveys/{SLUG}/new-question",
    f"/staff/surveys/{SLUG}/preview",
    f"/staff/surveys/{SLUG}/preview?version=1",
    f"/staff/surveys/{SLUG}/definition.json",
]
MANAGERS = {"admin": 200, "analyst": 200, "officer": 403, "other_officer": 403}


@SQLITE_ONLY
@pytest.mark.parametrize("role", list(USERS))
def test_designer_pages_by_role(web_app, staff_world, designed, role):
    client = signed_in(web_app, role)
    for path in DESIGNER_PAGES:
        response = client.get(path)
        assert response.status_code == MANAGERS[role], path
        assert "Traceback" not in response.get_data(as_text=True)
    listing = client.get("/staff/surveys")
    assert listing.status_code == 200
    # Officers see the surveys asking about their own department, and design none.
    shown = f"{SLUG}" in listing.get_data(as_text=True)
    assert shown == (role != "other_officer")
    assert ("/staff/surveys/new" in listing.get_data(as_text=True)) == (MANAGERS[role] == 200)


DESIGNER_POSTS = {
    "settings": ("/settings", {"title.zh": "改过的标题"}),
    "delete": ("/questions/how/delete", {}),
    "move": ("/questions/how/move", {"direction": "up"}),
    "edit": ("/questions/recommend", {"type": "nps", "key": "recommend", "text.zh": "改"}),
    "add": ("/new-question", {"type": "nps", "key": "again", "text.zh": "再来吗"}),
    "publish": ("/publish", {}),
    "archive": ("/archive", {}),
    "copy": ("/copy", {"new_slug": "county-2027"}),
}


@SQLITE_ONLY
@pytest.mark.parametrize("role", ["officer", "other_officer"])
@pytest.mark.parametrize("action", list(DESIGNER_POSTS))
def test_officers_change_nothing(web_app, staff_world, session_factory, designed, action, role):
    before = versions(session_factory)
    client = signed_in(web_app, role)
    suffix, form = DESIGNER_POSTS[action]
    response = client.post(
        f"/staff/surveys/{SLUG}{suffix}", data={"csrf_token": token(client), **form}
    )
    assert response.status_code == 403
    assert versions(session_factory) == before
    imported = client.post(
        "/staff/surveys/import",
        data={"csrf_token": token(client), "definition": json.dumps(definition("x"))},
    )
    assert imported.status_code == 403


@SQLITE_ONLY
@pytest.mark.parametrize("action", list(DESIGNER_POSTS))
def test_a_forged_csrf_token_changes_nothing(
    web_app, staff_world, session_factory, designed, action
):
    client = signed_in(web_app, "analyst")
    rev = revision(client)
    before, audited = versions(session_factory), audit_count(session_factory)
    suffix, form = DESIGNER_POSTS[action]
    for forged in ("", "forged-token"):
        response = client.post(
            f"/staff/surveys/{SLUG}{suffix}", data={"csrf_token": forged, "_rev": rev, **form}
        )
        assert response.status_code == 400
        assert "页面已过期或来源无法验证" in page_text(response)
    assert versions(session_factory) == before
    assert audit_count(session_factory) == audited
    assert (
        client.post(
            "/staff/surveys/new", data={"csrf_token": "x", "slug": "forged", "title.zh": "伪造"}
        ).status_code
        == 400
    )
    assert client.get("/staff/surveys/forged").status_code == 404


@SQLITE_ONLY
def test_unknown_surveys_and_questions_are_not_found(web_app, staff_world, designed):
    client = signed_in(web_app, "analyst")
    rev = revision(client)
    for path in (
        "/staff/surveys/no-such-survey",
        "/staff/surveys/no-such-survey/preview",
        "/staff/surveys/no-such-survey/definition.json",
        f"/staff/surveys/{SLUG}/questions/nope",
        f"/staff/surveys/{SLUG}/preview?version=9",
    ):
        assert client.get(path).status_code == 404, path
    # A slug no survey could have is a bad request, named as such.
    assert client.get(f"/staff/surveys/{'x' * 200}").status_code == 400
    for path in (f"/staff/surveys/{SLUG}/questions/nope/delete", "/staff/surveys/nope/publish"):
        response = client.post(path, data={"csrf_token": token(client), "_rev": rev})
        assert response.status_code == 404, path


def test_signed_out_visitors_are_sent_to_sign_in(web_client, staff_world, designed):
    for path in ("/staff/surveys", f"/staff/surveys/{SLUG}", f"/staff/surveys/{SLUG}/preview"):
        response = web_client.get(path)
        assert response.status_code == 302 and "/staff/login" in response.headers["Location"]


# -- designing ------------------------------------------------------------------------------


def test_a_published_version_is_never_edited_an_edit_makes_a_new_draft(
    web_app, staff_world, session_factory, designed
):
    client = signed_in(web_app, "analyst")
    page = client.get(f"/staff/surveys/{SLUG}")
    assert "永不修改" in page_text(page)  # the page says an edit makes a new version
    response = client.post(
        f"/staff/surveys/{SLUG}/questions/recommend",
        data={
            "csrf_token": token(client),
            "_rev": revision(client),
            "type": "nps",
            "key": "recommend",
            "text.zh": "您会推荐亲友来办事吗？",
        },
    )
    assert response.status_code == 302 and "done=new_version" in response.headers["Location"]
    (one, one_published, one_def), (two, two_published, two_def) = versions(session_factory)
    assert (one, one_published, two, two_published) == (1, True, 2, False)
    assert one_def == definition(staff_world.own.code) | {"questions": one_def["questions"]}
    assert one_def["questions"][1]["text"] == {"zh": "推荐可能性"}
    assert two_def["questions"][1]["text"] == {"zh": "您会推荐亲友来办事吗？"}
    # The next edit changes the draft in place: still two versions.
    client.post(
        f"/staff/surveys/{SLUG}/settings",
        data={"csrf_token": token(client), "_rev": revision(client), "title.zh": "新标题"},
    )
    assert [v[0] for v in versions(session_factory)] == [1, 2]
    assert versions(session_factory)[1][2]["title"] == {"zh": "新标题"}
    assert versions(session_factory)[0][2]["title"]["zh"] == "县政务服务满意度调查"
    # Publishing makes version 2 the one rounds ask; it is then left alone in turn.
    published = client.post(
        f"/staff/surveys/{SLUG}/publish",
        data={"csrf_token": token(client), "_rev": revision(client)},
    )
    assert published.status_code == 302
    assert [v[1] for v in versions(session_factory)] == [True, True]


def test_bad_definitions_show_the_json_path_and_keep_what_was_typed(
    web_app, staff_world, session_factory, designed
):
    client = signed_in(web_app, "analyst")
    before = versions(session_factory)
    form = {
        "csrf_token": token(client),
        "_rev": revision(client),
        "type": "multiple",
        "key": "improve",
        "text.zh": "最希望改进哪些方面？",
        "choices.0.key": "queue",
        "choices.0.zh": "排队时间",
        "choices.1.key": "queue",
        "choices.1.zh": "办事指引（重复的标识）",
        "min": "1",
        "max": "2",
    }
    response = client.post(f"/staff/surveys/{SLUG}/new-question", data=form)
    assert response.status_code == 400
    text = page_text(response)
    assert "$.questions[4].choices[1].key" in text and "选项标识 queue 重复" in text
    html = response.get_data(as_text=True)
    assert 'value="办事指引（重复的标识）"' in html and ">最希望改进哪些方面？</textarea>" in html
    assert 'class="overdue"' in html  # the refused row is marked
    assert versions(session_factory) == before
    # A condition on a later (or unknown) question, and a value the source does not offer.
    for typed, path in (
        ({"show_if.0.key": "nope", "show_if.0.values": "1"}, "$.questions[4].show_if.nope"),
        (
            {"show_if.0.key": "overall", "show_if.0.values": "1, 7"},
            "$.questions[4].show_if.overall[1]",
        ),
        ({"key": "Bad Key"}, "$.questions[4].key"),
        ({"key": "overall"}, "$.questions[4].key"),
        ({"min": "many"}, "$.questions[4].min"),
        ({"text.zh": ""}, "$.questions[4].text.zh"),
    ):
        response = client.post(
            f"/staff/surveys/{SLUG}/new-question",
            data=form | {"choices.1.key": "guide"} | typed,
        )
        assert response.status_code == 400, typed
        assert path in page_text(response), (typed, page_text(response)[:600])
    # Deleting a question that a later one's condition names is refused the same way.
    response = client.post(
        f"/staff/surveys/{SLUG}/questions/overall/delete",
        data={"csrf_token": token(client), "_rev": revision(client)},
    )
    assert response.status_code == 400
    assert "$.questions[2].show_if.overall" in page_text(response)
    assert versions(session_factory) == before


def test_a_bad_file_names_its_json_path_and_comes_back_in_the_box(
    web_app, staff_world, session_factory, designed
):
    client = signed_in(web_app, "analyst")
    bad = definition(staff_world.own.code)
    bad["questions"][2]["choices"][1]["key"] = "hall"
    source = json.dumps(bad, ensure_ascii=False)
    response = client.post(
        "/staff/surveys/import", data={"csrf_token": token(client), "definition": source}
    )
    assert response.status_code == 400
    assert "$.questions[2].choices[1].key" in page_text(response)
    box = re.search(
        r'<textarea name="definition"[^>]*>(.*?)</textarea>', response.get_data(as_text=True), re.S
    )
    assert html_entities.unescape(box.group(1)) == source
    broken = client.post(
        "/staff/surveys/import", data={"csrf_token": token(client), "definition": '{"slug": '}
    )
    assert broken.status_code == 400 and "第 1 行" in page_text(broken)
    assert len(versions(session_factory)) == 1


def test_a_stale_page_or_a_double_submit_changes_nothing(
    web_app, staff_world, session_factory, designed
):
    client = signed_in(web_app, "analyst")
    form = {
        "csrf_token": token(client),
        "_rev": revision(client),
        "type": "rating",
        "key": "window",
        "text.zh": "窗口服务",
    }
    assert client.post(f"/staff/surveys/{SLUG}/new-question", data=form).status_code == 302
    again = client.post(f"/staff/surveys/{SLUG}/new-question", data=form)
    assert again.status_code == 409 and "未做任何修改" in page_text(again)
    moved = {"csrf_token": token(client), "_rev": revision(client), "direction": "up"}
    assert (
        client.post(f"/staff/surveys/{SLUG}/questions/window/move", data=moved).status_code == 302
    )
    assert (
        client.post(f"/staff/surveys/{SLUG}/questions/window/move", data=moved).status_code == 409
    )
    keys = [q["key"] for q in versions(session_factory)[-1][2]["questions"]]
    assert keys == ["overall", "recommend", "how", "window", "why"]


def test_an_analyst_designs_every_kind_of_question(web_app, staff_world, session_factory):
    client = signed_in(web_app, "analyst")
    created = client.post(
        "/staff/surveys/new",
        data={
            "csrf_token": token(client),
            "slug": "hall-2027",
            "title.zh": "大厅满意度",
            "title.en": "Hall survey",
            "intro.zh": "约需两分钟",
        },
    )
    assert created.status_code == 302
    assert created.headers["Location"].endswith("/staff/surveys/hall-2027?done=created")
    assert client.get(created.headers["Location"]).status_code == 200

    def add(**fields):
        response = client.post(
            "/staff/surveys/hall-2027/new-question",
            data={"csrf_token": token(client), "_rev": revision(client, "hall-2027")} | fields,
        )
        assert response.status_code == 302, page_text(response)[:800]

    own = staff_world.own.code
    add(type="nps", key="recommend", **{"text.zh": "推荐吗", "required": "1"})
    add(
        type="single",
        key="how",
        **{
            "text.zh": "怎么办的",
            "choices.0.key": "hall",
            "choices.0.zh": "到窗口",
            "choices.0.en": "At a window",
            "choices.2.key": "online",
            "choices.2.zh": "网上",
        },
    )
    add(
        type="multiple",
        key="improve",
        min="1",
        max="2",
        **{
            "text.zh": "改进哪些",
            "choices.0.key": "queue",
            "choices.0.zh": "排队",
            "choices.1.key": "guide",
            "choices.1.zh": "指引",
            "choices.2.key": "attitude",
            "choices.2.zh": "态度",
        },
    )
    add(
        type="rubric",
        key="norms",
        department=own,
        **{
            "text.zh": "服务规范",
            "levels.1.zh": "推诿刁难",
            "levels.5.zh": "热情规范",
            "levels.5.en": "Exemplary",
        },
    )
    add(
        type="text",
        key="why",
        max_chars="300",
        complaint="1",
        **{
            "text.zh": "哪里不满意",
            "help.zh": "可转为投诉",
            "show_if.0.key": "overall",
            "show_if.0.values": "1，2",
            "show_if.1.key": "how",
            "show_if.1.values": "hall",
        },
    )
    stored = versions(session_factory, "hall-2027")
    assert len(stored) == 1 and stored[0][1] is False  # one draft, edited in place
    data = stored[0][2]
    assert data["intro"] == {"zh": "约需两分钟"}
    assert [q["key"] for q in data["questions"]] == [
        "overall",
        "recommend",
        "how",
        "improve",
        "norms",
        "why",
    ]
    by_key = {q["key"]: q for q in data["questions"]}
    assert by_key["how"]["choices"] == [
        {"key": "hall", "text": {"zh": "到窗口", "en": "At a window"}},
        {"key": "online", "text": {"zh": "网上"}},
    ]
    assert (by_key["improve"]["min"], by_key["improve"]["max"]) == (1, 2)
    assert by_key["norms"]["levels"] == {
        "1": {"zh": "推诿刁难"},
        "5": {"zh": "热情规范", "en": "Exemplary"},
    }
    assert by_key["norms"]["department"] == own
    assert by_key["why"]["show_if"] == {"overall": [1, 2], "how": ["hall"]}
    assert by_key["why"]["max_chars"] == 300 and by_key["why"]["complaint"] is True
    assert by_key["recommend"]["required"] is True

    # The edit form shows what is stored, and saving it unchanged keeps it.
    form_html = client.get("/staff/surveys/hall-2027/questions/why").get_data(as_text=True)
    assert 'value="1, 2"' in form_html and 'value="可转为投诉"' in form_html
    # Reorder and delete.
    rev = revision(client, "hall-2027")
    moved = client.post(
        "/staff/surveys/hall-2027/questions/norms/move",
        data={"csrf_token": token(client), "_rev": rev, "direction": "up"},
    )
    assert moved.status_code == 302
    deleted = client.post(
        "/staff/surveys/hall-2027/questions/recommend/delete",
        data={"csrf_token": token(client), "_rev": revision(client, "hall-2027")},
    )
    assert deleted.status_code == 302
    keys = [q["key"] for q in versions(session_factory, "hall-2027")[0][2]["questions"]]
    assert keys == ["overall", "how", "norms", "improve", "why"]
    # A type change keeps the common fields and asks for the new type's own.
    switched = client.get("/staff/surveys/hall-2027/questions/how?type=multiple")
    assert 'name="min"' in switched.get_data(as_text=True)
    assert 'value="到窗口"' in switched.get_data(as_text=True)


def test_the_preview_is_the_answering_page_inert_and_framable_by_staff_pages_only(
    web_app, staff_world, designed
):
    client = signed_in(web_app, "analyst")
    response = client.get(f"/staff/surveys/{SLUG}/preview")
    html = response.get_data(as_text=True)
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    assert 'name="overall" value="5"' in html and 'name="how" value="online"' in html
    assert 'action="/s/' not in html and "disabled" in html and "预览" in html
    designer = client.get(f"/staff/surveys/{SLUG}")
    assert f'src="/staff/surveys/{SLUG}/preview?version=1"' in designer.get_data(as_text=True)
    assert "frame-ancestors 'none'" in designer.headers["Content-Security-Policy"]


def test_definitions_export_import_and_copy(web_app, staff_world, session_factory, ctx, designed):
    client = signed_in(web_app, "analyst")
    exported = client.get(f"/staff/surveys/{SLUG}/definition.json")
    assert "attachment" in exported.headers["Content-Disposition"]
    with session_factory() as session:
        assert exported.get_json() == catalog.export_definition(session, SLUG)
    # The same file again changes nothing; an edited one is a new draft version.
    same = client.post(
        "/staff/surveys/import",
        data={"csrf_token": token(client), "definition": exported.get_data(as_text=True)},
    )
    assert same.status_code == 302 and "done=unchanged" in same.headers["Location"]
    edited = exported.get_json() | {"title": {"zh": "2026 年下半年调查"}}
    from io import BytesIO

    uploaded = client.post(
        "/staff/surveys/import",
        data={
            "csrf_token": token(client),
            "file": (BytesIO(json.dumps(edited).encode("utf-8-sig")), "survey.json"),
        },
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 302 and "done=imported" in uploaded.headers["Location"]
    assert [(n, p) for n, p, _ in versions(session_factory)] == [(1, True), (2, False)]
    copied = client.post(
        f"/staff/surveys/{SLUG}/copy",
        data={"csrf_token": token(client), "new_slug": "county-2027"},
    )
    assert copied.status_code == 302
    assert versions(session_factory, "county-2027")[0][2]["title"] == {"zh": "2026 年下半年调查"}
    taken = client.post(
        f"/staff/surveys/{SLUG}/copy",
        data={"csrf_token": token(client), "new_slug": "county-2027"},
    )
    assert taken.status_code == 409 and 'value="county-2027"' in taken.get_data(as_text=True)


def test_archiving_is_refused_while_a_round_is_open(
    web_app, staff_world, session_factory, ctx, designed
):
    from surveys import rounds

    with session_factory.begin() as session:
        round_id = rounds.open_round(session, ctx, SLUG).id
    client = signed_in(web_app, "admin")
    refused = client.post(f"/staff/surveys/{SLUG}/archive", data={"csrf_token": token(client)})
    assert refused.status_code == 409 and "请先结束" in page_text(refused)
    with session_factory.begin() as session:
        rounds.close_round(session, ctx, round_id)
    archived = client.post(f"/staff/surveys/{SLUG}/archive", data={"csrf_token": token(client)})
    assert archived.status_code == 302
    assert 'name="_rev"' not in client.get(f"/staff/surveys/{SLUG}").get_data(as_text=True)
    with session_factory() as session:
        survey = catalog.get_survey(session, SLUG)
        current = revision_of(catalog.latest_version(session, survey, published_only=False))
    edit = client.post(
        f"/staff/surveys/{SLUG}/settings",
        data={"csrf_token": token(client), "_rev": current, "title.zh": "再改"},
    )
    assert edit.status_code == 409 and "已归档" in page_text(edit)


# -- rounds ----------------------------------------------------------------------------------


def rounds_revision(client, slug=SLUG) -> str:
    html = client.get(f"/staff/surveys/{slug}/rounds").get_data(as_text=True)
    return re.search(r'name="_rev" value="([0-9a-f]+)"', html).group(1)


def survey_rounds(session_factory, slug=SLUG):
    from surveys import rounds

    with session_factory() as session:
        return rounds.survey_rounds(session, slug)


@SQLITE_ONLY
@pytest.mark.parametrize("role", list(USERS))
def test_rounds_pages_by_role(web_app, staff_world, session_factory, ctx, designed, role):
    client = signed_in(web_app, role)
    assert client.get(f"/staff/surveys/{SLUG}/rounds").status_code == MANAGERS[role]
    for suffix in ("/rounds/open", "/rounds/schedule", "/rounds/unschedule"):
        response = client.post(
            f"/staff/surveys/{SLUG}{suffix}", data={"csrf_token": token(client), "kind": "monthly"}
        )
        assert response.status_code == (403 if MANAGERS[role] == 403 else 409), suffix
    assert survey_rounds(session_factory) == []


def test_an_analyst_opens_plans_and_closes_rounds(
    web_app, staff_world, session_factory, ctx, clock, designed
):
    client = signed_in(web_app, "analyst")
    # Today is Wednesday 2026-11-25, 10:00 in Beijing.
    form = {
        "csrf_token": token(client),
        "_rev": rounds_revision(client),
        "closes_at": "2026-11-30",
        "remind_hours": "12",
    }
    opened = client.post(f"/staff/surveys/{SLUG}/rounds/open", data=form)
    assert opened.status_code == 302 and "done=opened" in opened.headers["Location"]
    (round_,) = survey_rounds(session_factory)
    assert (round_.number, str(round_.status)) == (1, "open")
    assert round_.closes_at.isoformat() == "2026-11-30T16:00:00+00:00"  # end of the 30th, local
    # The same form again (a double click) changes nothing.
    again = client.post(f"/staff/surveys/{SLUG}/rounds/open", data=form)
    assert again.status_code == 409 and len(survey_rounds(session_factory)) == 1
    # With a fresh page the engine's own rule refuses a second open round.
    second = client.post(
        f"/staff/surveys/{SLUG}/rounds/open", data=form | {"_rev": rounds_revision(client)}
    )
    assert second.status_code == 409 and "请先结束" in page_text(second)
    # A planned round: later opening, and times out of order are refused with what was typed.
    bad = client.post(
        f"/staff/surveys/{SLUG}/rounds/open",
        data=form
        | {
            "_rev": rounds_revision(client),
            "opens_at": "2026-12-10T09:00",
            "closes_at": "2026-12-01T09:00",
        },
    )
    assert bad.status_code == 400 and "结束时间须晚于开始时间" in page_text(bad)
    assert 'value="2026-12-10T09:00"' in bad.get_data(as_text=True)
    nonsense = client.post(
        f"/staff/surveys/{SLUG}/rounds/open",
        data=form | {"_rev": rounds_revision(client), "opens_at": "next week"},
    )
    assert nonsense.status_code == 400 and "2026-12-31T18:00" in page_text(nonsense)
    closed = client.post(
        f"/staff/surveys/{SLUG}/rounds/{round_.id}/close",
        data={"csrf_token": token(client), "_rev": rounds_revision(client)},
    )
    assert closed.status_code == 302
    planned = client.post(
        f"/staff/surveys/{SLUG}/rounds/open",
        data=form
        | {
            "_rev": rounds_revision(client),
            "opens_at": "2026-12-01T09:00",
            "closes_at": "2026-12-08T18:00",
            "invitation_only": "1",
        },
    )
    assert planned.status_code == 302 and "done=planned" in planned.headers["Location"]
    latest = survey_rounds(session_factory)[0]
    assert (latest.number, str(latest.status), latest.invitation_only) == (None, "scheduled", True)
    assert latest.opens_at.isoformat() == "2026-12-01T01:00:00+00:00"
    page = page_text(client.get(f"/staff/surveys/{SLUG}/rounds"))
    assert "已计划" in page and "2026-12-01 09:00" in page and "第 1 轮" in page


def test_recurring_rounds_are_scheduled_and_stopped(
    web_app, staff_world, session_factory, ctx, designed
):
    from surveys import rounds

    client = signed_in(web_app, "analyst")
    form = {
        "csrf_token": token(client),
        "_rev": rounds_revision(client),
        "kind": "cron",
        "cron": "0 9 * * 1-",
        "open_days": "5",
        "remind_hours": "24",
        "invite_subscribers": "1",
    }
    bad = client.post(f"/staff/surveys/{SLUG}/rounds/schedule", data=form)
    assert bad.status_code == 400 and "cron 表达式无效" in page_text(bad)
    assert 'value="0 9 * * 1-"' in bad.get_data(as_text=True)
    for typed, message in (
        ({"open_days": "200"}, "每轮开放天数须为 1-92"),
        ({"kind": "weekly"}, "未知周期"),
        ({"remind_hours": "soon"}, "提前提醒小时数须为 0-720"),
    ):
        refused = client.post(
            f"/staff/surveys/{SLUG}/rounds/schedule", data=form | {"cron": "0 9 * * 1"} | typed
        )
        assert refused.status_code == 400 and message in page_text(refused), typed
    with session_factory() as session:
        assert rounds.active_schedule(session, SLUG) is None
    saved = client.post(
        f"/staff/surveys/{SLUG}/rounds/schedule", data=form | {"cron": "0 9 * * 1"}
    )
    assert saved.status_code == 302
    with session_factory() as session:
        schedule = rounds.active_schedule(session, SLUG)
    assert (schedule.kind, schedule.cron, schedule.open_days) == ("cron", "0 9 * * 1", 5)
    page = page_text(client.get(f"/staff/surveys/{SLUG}/rounds"))
    # Wednesday 2026-11-25: the next Monday 09:00 is the 30th.
    assert "下一轮开始： 2026-11-30 09:00" in page, page[page.index("定期调查") :][:600]
    monthly = client.post(
        f"/staff/surveys/{SLUG}/rounds/schedule",
        data=form | {"_rev": rounds_revision(client), "kind": "monthly", "cron": "ignored"},
    )
    assert monthly.status_code == 302
    with session_factory() as session:
        assert rounds.active_schedule(session, SLUG).cron == "0 9 1 * *"
    stopped = client.post(
        f"/staff/surveys/{SLUG}/rounds/unschedule",
        data={"csrf_token": token(client), "_rev": rounds_revision(client)},
    )
    assert stopped.status_code == 302
    with session_factory() as session:
        assert rounds.active_schedule(session, SLUG) is None


def test_invitation_progress_and_links(web_app, staff_world, session_factory, ctx, designed):
    from minyi.models import OutboxMessage
    from minyi.services.outbox import mark_sent
    from surveys import rounds
    from surveys.responses import Respondent, submit_response
    from tests.builders import make_citizen

    with session_factory.begin() as session:
        for _ in range(3):
            make_citizen(session).subscribed = True
        round_id = rounds.open_round(session, ctx, SLUG, invite_subscribers=True).id
        rounds.invite_subscribers(session, ctx, round_id)
        first = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).first()
        mark_sent(session, first.id)
        citizen = session.get(type(make_citizen(session)), first.citizen_id)
        submit_response(
            session,
            ctx,
            round_id,
            Respondent.of_citizen(citizen),
            answers={"overall": 5, "how": "hall"},
        )
    client = signed_in(web_app, "analyst")
    html = client.get(f"/staff/surveys/{SLUG}/rounds").get_data(as_text=True)
    facts = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)", html))
    assert facts == {"已邀请": "3", "已发送": "1", "已回答": "1", "已提醒": "0"}
    made = client.post(
        f"/staff/surveys/{SLUG}/rounds/{round_id}/links",
        data={"csrf_token": token(client), "count": "3"},
    )
    assert made.status_code == 200
    links = re.findall(r"http://[^\s<]+/s/county-2026\?t=[\w-]+", made.get_data(as_text=True))
    assert len(set(links)) == 3
    for typed in ("0", "many", "100001"):
        refused = client.post(
            f"/staff/surveys/{SLUG}/rounds/{round_id}/links",
            data={"csrf_token": token(client), "count": typed},
        )
        assert refused.status_code == 400 and "邀请数量须为 1-100000" in page_text(refused)
    forged = client.post(
        f"/staff/surveys/{SLUG}/rounds/{round_id}/links", data={"csrf_token": "x", "count": "5"}
    )
    assert forged.status_code == 400
    with session_factory() as session:
        assert rounds.round_progress(session, round_id)["invitations"] == 6
    # Another survey's round is not this survey's.
    with session_factory.begin() as session:
        catalog.import_survey(session, ctx, definition(staff_world.own.code) | {"slug": "other"})
    elsewhere = client.post(
        f"/staff/surveys/other/rounds/{round_id}/close",
        data={"csrf_token": token(client), "_rev": rounds_revision(client, "other")},
    )
    assert elsewhere.status_code == 404


# -- results ---------------------------------------------------------------------------------


def answer_round(session_factory, ctx, round_id, answers_list, prefix="browser"):
    from surveys.responses import Respondent, submit_response

    with session_factory.begin() as session:
        for index, answers in enumerate(answers_list):
            submit_response(
                session,
                ctx,
                round_id,
                Respondent.web(f"{prefix}-{round_id:06d}-{index:08d}"),
                answers=answers,
            )


@pytest.fixture
def two_rounds(session_factory, ctx, clock, settings, designed):
    """Round 1: ten middling answers; round 2: ten glowing ones (a clear rise)."""
    from surveys import rounds

    settings.indicators.min_denominator = 5
    with session_factory.begin() as session:
        first = rounds.open_round(session, ctx, SLUG).id
    answer_round(
        session_factory,
        ctx,
        first,
        [{"overall": 2 + i % 2, "recommend": 6, "how": "hall"} for i in range(10)],
    )
    with session_factory.begin() as session:
        rounds.close_round(session, ctx, first)
        second = rounds.open_round(session, ctx, SLUG).id
    answer_round(
        session_factory,
        ctx,
        second,
        [
            {"overall": 5 - i % 2, "recommend": 9 + i % 2, "how": "hall" if i % 2 else "online"}
            for i in range(10)
        ],
    )
    return first, second


RESULTS = {"admin": 200, "analyst": 200, "officer": 200, "other_officer": 404}


@SQLITE_ONLY
@pytest.mark.parametrize("role", list(USERS))
def test_results_and_exports_by_role(web_app, staff_world, two_rounds, role):
    client = signed_in(web_app, role)
    response = client.get(f"/staff/surveys/{SLUG}/results")
    assert response.status_code == RESULTS[role]
    if role == "officer":
        # Only the rating tied to the officer's department; no NPS, choices or export links.
        text = page_text(response)
        assert "总体评价" in text and "推荐可能性" not in text and "办理方式" not in text
        assert "仅显示与本部门相关的问题" in text
        assert "export.csv" not in response.get_data(as_text=True)
    for fmt in ("csv", "xlsx"):
        exported = client.get(f"/staff/surveys/{SLUG}/export.{fmt}?round=2")
        assert exported.status_code == (200 if MANAGERS[role] == 200 else 403), fmt
        exported.close()
    assert client.get(f"/staff/surveys/{SLUG}/results?round=9").status_code == 404
    assert client.get("/staff/surveys/nope/results").status_code == 404


def test_results_show_intervals_nps_and_flag_only_significant_changes(
    web_app, staff_world, two_rounds
):
    client = signed_in(web_app, "analyst")
    html = client.get(f"/staff/surveys/{SLUG}/results").get_data(as_text=True)
    text = page_text(client.get(f"/staff/surveys/{SLUG}/results"))
    assert "第 2 轮" in text and "答卷数 10" in text
    assert "平均分 4.50 （95% 区间" in text  # 5,4,5,4… and its t interval
    assert "NPS 100.0" in text and "推荐者 10 · 中立者 0 · 贬损者 0" in text
    assert "满意率（4-5 分） 100.0%" in text
    # The comparison with round 1: the rating's mean rose from 2.50, flagged; the choice of
    # "hall" went from 100% to 50%, which at these sizes is flagged too; "online" as well.
    assert "平均分：2.50 → 4.50" in text and "显著上升" in text
    assert html.count('class="chart-flag') == text.count("显著上升") + text.count("显著下降")
    assert "<svg" in html and not EXTERNAL_URL.search(html)
    first = page_text(client.get(f"/staff/surveys/{SLUG}/results?round=1"))
    # Round 1 has no comparison (the trend over every round is the same on each round's page).
    assert "这是第一轮" in first and "与第" not in first and "显著上升 p" not in first
    # Comparing round 2 with itself changes nothing, so nothing is flagged.
    same = client.get(f"/staff/surveys/{SLUG}/results?round=2&compare=2").get_data(as_text=True)
    comparison = re.sub(r'<svg class="chart survey-trend".*?</svg>', "", same, flags=re.S)
    assert "chart-flag" not in comparison and "平均分：4.50 → 4.50" in page_text_of(same)


def page_text_of(html: str) -> str:
    main = html[html.index("<main") : html.index("</main>")]
    return html_entities.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main)))


def test_exports_stream_the_engines_rows(web_app, staff_world, session_factory, ctx, two_rounds):
    import csv
    import io

    from openpyxl import load_workbook

    from surveys.export import export_rows

    client = signed_in(web_app, "analyst")
    exported = client.get(f"/staff/surveys/{SLUG}/export.csv?round=2")
    assert exported.headers["Content-Disposition"] == (
        'attachment; filename="county-2026-round-2.csv"'
    )
    body = exported.get_data()
    # A streamed response ends its request (and returns its database session) when closed,
    # as a WSGI server closes it once sent.
    exported.close()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    with session_factory() as session:
        expected = [
            ["" if v is None else str(v) for v in row]
            for row in export_rows(session, ctx, SLUG, round_number=2)
        ]
    assert rows == expected and len(rows) == 11
    everything = client.get(f"/staff/surveys/{SLUG}/export.xlsx")
    sheet = load_workbook(io.BytesIO(everything.get_data())).active
    everything.close()
    assert sheet.max_row == 21 and sheet.cell(1, 6).value == "overall"
    assert client.get(f"/staff/surveys/{SLUG}/export.pdf").status_code == 404


def test_a_survey_with_no_round_yet_has_an_empty_results_page(web_app, staff_world, designed):
    client = signed_in(web_app, "analyst")
    response = client.get(f"/staff/surveys/{SLUG}/results")
    assert response.status_code == 200 and "还没有开始过调查" in page_text(response)
    assert signed_in(web_app, "officer").get(f"/staff/surveys/{SLUG}/results").status_code == 404


def test_the_designer_round_trip(web_app, staff_world, session_factory, ctx):
    """Create a survey, add questions, publish, open a round, answer at /s/<slug>, see it."""
    client = signed_in(web_app, "analyst")
    created = client.post(
        "/staff/surveys/new",
        data={"csrf_token": token(client), "slug": "trip", "title.zh": "往返测试问卷"},
    )
    assert created.status_code == 302

    def post(path, **fields):
        response = client.post(
            f"/staff/surveys/trip{path}",
            data={"csrf_token": token(client), "_rev": revision(client, "trip")} | fields,
        )
        assert response.status_code == 302, page_text(response)[:600]

    post(
        "/new-question",
        type="single",
        key="how",
        **{
            "text.zh": "怎么办的",
            "choices.0.key": "hall",
            "choices.0.zh": "到窗口",
            "choices.1.key": "online",
            "choices.1.zh": "网上办理",
        },
    )
    post(
        "/new-question",
        type="text",
        key="why",
        **{"text.zh": "哪里不满意", "show_if.0.key": "overall", "show_if.0.values": "1, 2"},
    )
    post("/publish")
    opened = client.post(
        "/staff/surveys/trip/rounds/open",
        data={
            "csrf_token": token(client),
            "_rev": rounds_revision(client, "trip"),
            "remind_hours": "0",
        },
    )
    assert opened.status_code == 302

    citizen = web_app.test_client()
    page = citizen.get("/s/trip")
    assert page.status_code == 200 and "往返测试问卷" in page.get_data(as_text=True)
    hidden = dict(
        re.findall(
            r'<input (?:id="\w+" )?name="(_\w+)" type="hidden" value="([^"]*)">',
            page.get_data(as_text=True),
        )
    )
    sent = citizen.post(
        "/s/trip", data=hidden | {"overall": "2", "how": "online", "why": "排队太久"}
    )
    assert sent.status_code == 303

    results = page_text(client.get("/staff/surveys/trip/results"))
    assert "答卷数 1" in results and "回答 1 人" in results
    assert "网上办理 1 · 100%" in results and "2 不满意 1 · 100%" in results
    assert "哪里不满意" in results


def test_a_question_keyed_new_can_be_edited(web_app, staff_world, session_factory, designed):
    client = signed_in(web_app, "analyst")
    added = client.post(
        f"/staff/surveys/{SLUG}/new-question",
        data={
            "csrf_token": token(client),
            "_rev": revision(client),
            "type": "rating",
            "key": "new",
            "text.zh": "新窗口",
        },
    )
    assert added.status_code == 302
    page = client.get(f"/staff/surveys/{SLUG}/questions/new")
    assert page.status_code == 200 and ">新窗口</textarea>" in page.get_data(as_text=True)


def test_results_show_the_trend_over_every_round(
    web_app, staff_world, session_factory, ctx, two_rounds
):
    from surveys import rounds

    with session_factory.begin() as session:
        rounds.close_round(session, ctx, two_rounds[1])
        third = rounds.open_round(session, ctx, SLUG).id
    # Round 3 as glowing as round 2 (no flag); round 2 rose from round 1 (flagged).
    answer_round(
        session_factory,
        ctx,
        third,
        [{"overall": 5 - i % 2, "recommend": 9, "how": "hall"} for i in range(10)],
    )
    client = signed_in(web_app, "analyst")
    html = client.get(f"/staff/surveys/{SLUG}/results?round=1").get_data(as_text=True)
    text = page_text_of(html)
    assert "历轮趋势（3 轮）" in text  # every round, whichever round is shown
    assert html.count('class="chart survey-trend"') == 4  # overall and NPS: mean and rate/NPS
    trend = html[html.index('class="chart survey-trend"') :]
    trend = trend[: trend.index("</svg>")]  # the overall question's mean
    assert trend.count('class="chart-whisker"') == 3 and trend.count("<polyline") == 1
    assert trend.count("▲") == 1 and "▼" not in trend
    assert "第 2 轮：4.50（95%: " in page_text_of(f"<main>{trend}</main>")
    assert "较上一轮显著上升" in trend
    assert "第 3 轮：4.50" in trend and trend.count("显著") == 1
    assert not EXTERNAL_URL.search(html) and "<script" not in trend
    # An officer's trend holds their department's question only.
    officer = signed_in(web_app, "officer").get(f"/staff/surveys/{SLUG}/results")
    assert officer.get_data(as_text=True).count('class="chart survey-trend"') == 2
