"""SetCronJob's API at /api/{target}.{action}: the reference's requests as written, a client's
session, and bad input answered in SetCronJob's envelope."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from pytest_httpserver import HTTPServer

from tests.helpers import Api, Persona, body, queued_messages
from tests.test_runs_api import work_through_the_lambda

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
EVERY_HOUR = {"minute": "0", "hour": "*", "timezone": "UTC"}


def call(api: Api, path: str, form: dict[str, Any] | None = None, method: str = "GET") -> Any:
    raw = urllib.parse.urlencode(form) if form is not None else None
    return api.call(method, path, None, headers=FORM if raw else {}, raw=raw)


def ok(response: Any) -> Any:
    answer = body(response)
    assert response.status_code == 200, response.body
    assert answer["status"] == "success" and answer["code"] == 0, answer
    return answer["data"]


def add(api: Api, who: Persona, **fields: Any) -> int:
    form = {"token": who.key, "name": "weekly", "url": "https://example.com/hook", **EVERY_HOUR}
    return int(ok(call(api, "/api/cron.add", {**form, **fields}, "POST"))["id"])


# ---- the reference, as written --------------------------------------------------------------


def test_it_lists_crons_with_the_token_in_the_url(api: Api, alice: Persona) -> None:
    job_id = add(api, alice)
    data = ok(api.get(f"/api/cron.list?token={alice.key}"))
    assert [c["id"] for c in data] == [job_id]
    assert data[0]["name"] == "weekly"


def test_it_edits_a_cron_with_parameters_in_the_url(api: Api, alice: Persona) -> None:
    job_id = add(api, alice, name="daily")
    data = ok(api.get(f"/api/cron.edit?token={alice.key}&id={job_id}&name=weekly"))
    assert data["id"] == job_id and data["name"] == "weekly"


def test_it_takes_a_query_string_body(api: Api, alice: Persona) -> None:
    job_id = add(api, alice, name="daily")
    raw = f"token={alice.key}&id={job_id}&name=weekly"
    data = ok(api.call("POST", "/api/cron.edit", None, headers=FORM, raw=raw))
    assert data["name"] == "weekly"


def test_it_takes_a_json_body(api: Api, alice: Persona) -> None:
    job_id = add(api, alice, name="daily")
    raw = json.dumps({"token": alice.key, "id": job_id, "name": "weekly"})
    data = ok(api.call("POST", "/api/cron.edit", None, raw=raw))
    assert data["name"] == "weekly"


def test_it_answers_an_unknown_token_as_the_reference_shows(api: Api) -> None:
    response = api.get("/api/cron.list?token=" + "x" * 32)
    assert response.status_code == 200
    assert body(response) == {
        "message": "Invalid API token, user not found.",
        "status": "error",
        "code": 11,
    }


def test_it_answers_past_the_rate_limit_with_503(api: Api, stores: Any) -> None:
    from tests.helpers import make_persona

    slow = make_persona(
        stores, "slow", "acct-slow", ["read"], rate_limit_per_s=0.01, rate_limit_burst=2
    )
    codes = [api.get(f"/api/cron.list?token={slow.key}").status_code for _ in range(3)]
    assert codes == [200, 200, 503]
    assert body(api.get(f"/api/cron.list?token={slow.key}"))["code"] == 13


# ---- a client's session -----------------------------------------------------------------------


def test_it_serves_a_clients_whole_session(
    api: Api, alice: Persona, settings: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("done")
    token = {"token": alice.key}
    group = ok(call(api, "/api/group.add", {**token, "name": "nightly"}, "POST"))
    assert ok(call(api, "/api/group.list", token)) == [group]
    job_id = add(
        api,
        alice,
        url=httpserver.url_for("/hook"),
        group=group["id"],
        requestMethod="1",
        **{"extendedData.body": "ping", "extendedData.headers.X-Token": "abc"},
    )
    listed = ok(call(api, "/api/cron.list", token))
    assert listed[0]["group"] == group["id"] and listed[0]["enabled"] is True
    assert listed[0]["extendedData.headers.X-Token"] == "abc"
    edited = ok(call(api, "/api/cron.edit", {**token, "id": job_id, "minute": "0,30"}, "POST"))
    assert edited["schedule.minutes"] == [0, 30]
    assert ok(call(api, "/api/cron.disable", {**token, "id": job_id}))["enabled"] is False
    run = ok(call(api, "/api/cron.run", {**token, "id": job_id}, "POST"))
    work_through_the_lambda(api, queued_messages(settings))
    logs = ok(call(api, "/api/cron.logs", {**token, "id": job_id}))["logs"]
    assert [(entry["id"], entry["httpStatus"]) for entry in logs] == [(run["runId"], 200)]
    assert ok(call(api, "/api/cron.delete", {**token, "id": job_id}, "POST")) == {"id": job_id}
    assert ok(call(api, "/api/cron.list", token)) == []
    assert ok(call(api, "/api/group.delete", {**token, "id": group["id"]})) == {"id": group["id"]}


def test_it_shows_the_account_and_the_servers(api: Api, alice: Persona) -> None:
    account = ok(api.get(f"/api/account.get?token={alice.key}"))
    assert account["scheduler"] is True and account["limits"]["rateLimit"] > 0
    assert isinstance(ok(api.get(f"/api/server.list?token={alice.key}")), list)


def test_it_shows_the_keys_own_rate_limit(api: Api, stores: Any, alice: Persona) -> None:
    from tests.helpers import make_persona

    slow = make_persona(
        stores, "slow", "acct-slow", ["read"], rate_limit_per_s=0.5, rate_limit_burst=3
    )
    limits = ok(api.get(f"/api/account.get?token={slow.key}"))["limits"]
    assert (limits["rateLimit"], limits["rateLimitBurst"]) == (0.5, 3)
    default = ok(api.get(f"/api/account.get?token={alice.key}"))["limits"]
    assert (default["rateLimit"], default["rateLimitBurst"]) == (1000, 1000)


def test_it_accepts_a_users_session_token(api: Api, alice: Persona) -> None:
    from tests.test_users_api import add_user, session_of

    add_user(api, alice, "ada", ["read"])
    ada = session_of(api)
    assert ok(api.get(f"/api/cron.list?token={ada.key}")) == []
    refused = body(api.get(f"/api/cron.add?token={ada.key}&name=x&url=https://example.com/"))
    assert refused["code"] == 12


# ---- bad input --------------------------------------------------------------------------------


def error(response: Any) -> Any:
    answer = body(response)
    assert response.status_code == 200 and answer["status"] == "error", response.body
    return answer


def test_it_names_an_unknown_call(api: Api, alice: Persona) -> None:
    for path in ("/api/cron.fly", "/api/robot.list", "/api/cronlist"):
        assert error(api.get(f"{path}?token={alice.key}"))["code"] == 1


def test_it_names_the_bad_field_and_writes_nothing(api: Api, alice: Persona) -> None:
    cases = [
        ({"url": "ftp://example.com/"}, "url"),
        ({"minute": "sixty"}, "minute"),
        ({"enabled": "maybe"}, "enabled"),
        ({"frequency": "1"}, "frequency"),
        ({"group": "77"}, "group"),
    ]
    for fields, field in cases:
        form = {"token": alice.key, "name": "x", "url": "https://example.com/", **EVERY_HOUR}
        answer = error(call(api, "/api/cron.add", {**form, **fields}, "POST"))
        assert answer["code"] == 2 and answer["field"] == field, answer
        assert answer["message"].startswith(field)
    assert ok(api.get(f"/api/cron.list?token={alice.key}")) == []


def test_it_names_a_missing_id(api: Api, alice: Persona) -> None:
    answer = error(api.get(f"/api/cron.get?token={alice.key}"))
    assert (answer["code"], answer["field"]) == (2, "id")
    missing = error(api.get(f"/api/cron.get?token={alice.key}&id=999"))
    assert missing["code"] == 3


def test_it_answers_a_malformed_body_in_its_envelope(api: Api, alice: Persona) -> None:
    for raw in ('{"token": ', "[1]", b"\xff\xfe"):
        answer = error(api.call("POST", "/api/cron.list", None, raw=raw))
        assert answer["code"] == 5 and answer["field"] == "body"


def test_it_keeps_other_accounts_crons_apart(api: Api, alice: Persona, bob: Persona) -> None:
    job_id = add(api, alice)
    assert error(api.get(f"/api/cron.get?token={bob.key}&id={job_id}"))["code"] == 3
    assert ok(api.get(f"/api/cron.list?token={bob.key}")) == []
