"""The dashboard's files as a browser receives them: types, CSP, nothing external, real routes;
and what a user's session, the dashboard's other credential, reaches through the API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import app
from tests.helpers import Api, Persona, body, new_job

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "chalicelib" / "dashboard"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    # The page and its assets need no key and no storage: no moto here.
    with Client(app, project_dir=str(ROOT), stage_name="dev") as test_client:
        yield test_client.http


def test_it_serves_the_page_at_the_root_with_a_strict_csp(client: Any) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = response.body.decode()
    assert '<script src="assets/app.js" defer></script>' in page
    assert '<link rel="stylesheet" href="assets/app.css">' in page


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("app.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8")],
)
def test_it_serves_the_script_and_the_stylesheet_with_their_types(
    client: Any, name: str, content_type: str
) -> None:
    response = client.get(f"/assets/{name}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.body == (DASHBOARD / name).read_bytes()


@pytest.mark.parametrize("name", ["index.html", "__init__.py", "..%2F..%2Fapp.py", "app.jsx"])
def test_it_answers_404_for_anything_but_the_two_assets(client: Any, name: str) -> None:
    response = client.get(f"/assets/{name}")
    assert response.status_code == 404
    assert b"no such asset" in response.body


def test_it_answers_304_to_a_browser_holding_the_current_version(client: Any) -> None:
    etag = client.get("/assets/app.js").headers["ETag"]
    response = client.get("/assets/app.js", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.body == b""
    stale = client.get("/assets/app.js", headers={"If-None-Match": '"0000"'})
    assert stale.status_code == 200


def _without_placeholders(text: str) -> str:
    # Placeholders show an example address in an empty field; the browser never loads them.
    return re.sub(r"""placeholder=(?:"[^"]*"|'[^']*')""", "", text)


@pytest.mark.parametrize("name", ["index.html", "app.js", "app.css"])
def test_the_files_load_nothing_from_another_site(name: str) -> None:
    text = _without_placeholders((DASHBOARD / name).read_text())
    # The SVG namespace is an identifier, not an address the browser fetches.
    text = text.replace('"http://www.w3.org/2000/svg"', "")
    assert not re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE)
    assert "@import" not in text
    assert not re.search(r"url\((?!data:)", text)


def test_the_page_needs_no_inline_script_style_or_handler() -> None:
    page = (DASHBOARD / "index.html").read_text()
    assert re.findall(r"<script\b[^>]*>", page) == ['<script src="assets/app.js" defer>']
    assert "<style" not in page
    assert not re.search(r"\sstyle=", page)
    assert not re.search(r"\son[a-z]+=", page)
    assert not re.search(r"javascript:", page, re.IGNORECASE)


def test_the_script_never_builds_html_from_strings() -> None:
    script = (DASHBOARD / "app.js").read_text()
    for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert risky not in script
    assert "new Function" not in script
    assert "localStorage" not in script  # the key stays in this tab's sessionStorage


def _script_calls() -> list[tuple[str, str]]:
    script = (DASHBOARD / "app.js").read_text()
    return re.findall(r'\bapi\(\s*"([A-Z]+)",\s*"([^"]+)"', script)


def test_every_api_call_of_the_script_is_a_route_of_the_app() -> None:
    calls = set(_script_calls())
    served = {(method, path) for path, methods in app.routes.items() for method in methods}
    assert calls, "no api(...) call found in app.js"
    assert calls - served == set()


def test_the_script_reaches_the_api_only_through_its_api_helper() -> None:
    script = (DASHBOARD / "app.js").read_text()
    assert script.count("fetch(") == 1
    assert "XMLHttpRequest" not in script
    assert "WebSocket" not in script


def test_the_script_uses_every_route_the_dashboard_needs() -> None:
    calls = set(_script_calls())
    needed = {
        ("GET", "/jobs"),
        ("PUT", "/jobs"),
        ("GET", "/jobs/{jobId}"),
        ("PATCH", "/jobs/{jobId}"),
        ("DELETE", "/jobs/{jobId}"),
        ("GET", "/folders"),
        ("POST", "/schedules/preview"),
        ("POST", "/jobs/{jobId}/run"),
        ("GET", "/runs/{runId}"),
        ("POST", "/runs/{runId}/abort"),
        ("PATCH", "/runs/{runId}"),
        ("POST", "/jobs/{jobId}/cursor"),
        ("GET", "/jobs/{jobId}/history"),
        ("GET", "/jobs/{jobId}/history/{identifier}"),
        ("GET", "/keys"),
        ("POST", "/keys"),
        ("DELETE", "/keys/{keyId}"),
        ("GET", "/scheduler"),
        ("PUT", "/scheduler"),
        ("GET", "/notifications"),
        ("PUT", "/notifications"),
        ("POST", "/sessions"),
        ("DELETE", "/sessions/current"),
        ("PUT", "/users/{username}/password"),
    }
    assert needed - calls == set()


def test_the_sign_in_form_asks_for_a_user_name_and_a_password_the_browser_can_fill() -> None:
    page = (DASHBOARD / "index.html").read_text()
    form = page[
        page.index('<form id="signin-user-form"') : page.index(
            "</form>", page.index('<form id="signin-user-form"')
        )
    ]
    assert re.search(r'<input id="signin-username"[^>]*autocomplete="username"', form)
    assert re.search(
        r'<input id="signin-password" type="password" autocomplete="current-password"', form
    )
    # One alert both fields are described by: a refusal never says which of the two was wrong.
    assert '<p class="form-error" id="signin-user-error" role="alert" hidden></p>' in form
    assert form.count("signin-user-error") == 3
    assert "action=" not in form and "method=" not in form


def test_the_script_keeps_a_session_token_where_it_keeps_a_key() -> None:
    script = (DASHBOARD / "app.js").read_text()
    assert "sessionStorage.setItem(KEY_STORAGE, credential)" in script
    assert script.count("sessionStorage.setItem(") == 2  # the credential, and its user's name
    assert 'api("POST", "/sessions", { body: { username, password }, anonymous: true })' in script


PASSWORD = "correct horse battery"
READ_ROUTES = ["/jobs", "/folders", "/monitors", "/notifications", "/scheduler", "/keys"]


def _session(api: Api, admin: Persona, name: str, scopes: list[str]) -> Persona:
    made = api.post("/users", admin, {"username": name, "password": PASSWORD, "scopes": scopes})
    assert made.status_code == 201, made.body
    signed = api.post("/sessions", None, {"username": name, "password": PASSWORD})
    assert signed.status_code == 201, signed.body
    return Persona(name, admin.account, body(signed)["token"], "")


@pytest.mark.parametrize(
    ("scopes", "refused"), [(["read", "write", "run"], {"/keys"}), (["admin"], set())]
)
def test_a_users_session_reads_what_the_dashboard_reads_with_the_users_scopes(
    api: Api, alice: Persona, scopes: list[str], refused: set[str]
) -> None:
    dana = _session(api, alice, "dana", scopes)
    for route in READ_ROUTES:
        status = api.get(route, dana).status_code
        assert status == (403 if route in refused else 200), (route, status)


def test_a_users_session_edits_and_runs_a_job_then_signing_out_ends_it(
    api: Api, alice: Persona
) -> None:
    dana = _session(api, alice, "dana", ["read", "write", "run"])
    created = api.put("/jobs", dana, new_job(title="Dana's"))
    assert created.status_code == 200, created.body
    job_id = body(created)["jobId"]
    assert api.patch(f"/jobs/{job_id}", dana, {"job": {"title": "Renamed"}}).status_code == 200
    assert api.post(f"/jobs/{job_id}/run", dana, {}).status_code == 202
    assert api.get(f"/jobs/{job_id}/history", dana).status_code == 200
    assert body(api.get(f"/jobs/{job_id}", dana))["jobDetails"]["title"] == "Renamed"

    assert api.delete("/sessions/current", dana).status_code == 200
    refused = api.get("/jobs", dana)
    assert refused.status_code == 401
    assert body(refused)["error"]["message"] == "invalid or expired session"


def test_a_wrong_password_and_an_unknown_user_answer_the_one_message_the_page_shows(
    api: Api, alice: Persona
) -> None:
    _session(api, alice, "dana", ["read"])
    answers = [
        api.post("/sessions", None, {"username": name, "password": PASSWORD + "!"})
        for name in ("dana", "nobody")
    ]
    assert [a.status_code for a in answers] == [401, 401]
    assert body(answers[0]) == body(answers[1])


def test_every_label_names_a_field_of_the_page() -> None:
    page = (DASHBOARD / "index.html").read_text()
    ids = set(re.findall(r'\sid="([^"]+)"', page))
    targets = re.findall(r'<label for="([^"]+)"', page)
    assert targets
    assert [t for t in targets if t not in ids] == []
    assert len(ids) == len(re.findall(r'\sid="', page)), "an id is used twice"
