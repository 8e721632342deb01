"""Every staff page and staff API endpoint, found from the URL map, is closed to strangers.

The per-area tests (tickets, follow-ups, catalogue, accounts, indicators) hold the role x
department matrices; this one makes sure a route added later cannot skip the gate: signed out,
every method of every /staff and /api route (but sign-in, sign-out and the health probe) is
a redirect to the sign-in page, or a 401 JSON body under /api, and never runs the view.
"""

from __future__ import annotations

import re

import pytest

from tests.web_support import csrf_token_of, sign_in

OPEN = {"staff.login", "staff.logout", "api.health"}
# Values for the URL rules' variables: what a view would be asked for.
SAMPLE = {"int": "1", "default": "MY-20261201-0001", "any": None}


def staff_urls(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every closed route, with sample values filled in."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/staff", "/api")) or rule.endpoint in OPEN:
            continue
        url = rule.rule
        for converter, options, name in re.findall(r"<(?:(\w+)(\([^)]*\))?:)?(\w+)>", url):
            if converter == "any":
                value = re.findall(r"\w+", options)[0]
            else:
                value = SAMPLE.get(converter or "default", "1")
            url = re.sub(rf"<[^>]*\b{name}>", value, url, count=1)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, url))
    return found


def test_the_url_map_holds_every_area(web_app):
    endpoints = {endpoint for endpoint, _, _ in staff_urls(web_app)}
    for expected in ("staff.home", "staff.tickets", "staff.ticket_action", "staff.follow_ups",
                     "staff.appeals", "staff.catalog_index", "staff.accounts", "staff.audit_log",
                     "api.ticket"):
        assert expected in endpoints


def test_signed_out_every_staff_route_leads_to_the_sign_in(web_client, web_app, staff_world):
    urls = staff_urls(web_app)
    assert len(urls) > 30
    for endpoint, method, url in urls:
        response = web_client.open(url, method=method, data={})
        if url.startswith("/api/"):
            assert response.status_code == 401, (endpoint, method, url)
            assert response.is_json, (endpoint, url)
        else:
            assert response.status_code == 302, (endpoint, method, url, response.status_code)
            assert response.headers["Location"].startswith("/staff/login"), endpoint


@pytest.mark.parametrize("username", ["hr1", "analyst1", "admin1"])
def test_signed_in_no_route_fails_with_a_server_error(web_client, web_app, staff_world, username):
    # Whatever a signed-in account sends to any route (sample ids, empty forms), the answer is
    # a page or a refusal, never a 500 and never a stack trace.
    sign_in(web_client, username)
    token = csrf_token_of(web_client, "/staff/")
    for endpoint, method, url in staff_urls(web_app):
        data = {"csrf_token": token} if method == "POST" else None
        response = web_client.open(url, method=method, data=data)
        assert response.status_code < 500, (endpoint, method, url, response.status_code)
        assert "Traceback" not in response.get_data(as_text=True)
