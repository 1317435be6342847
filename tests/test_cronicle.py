"""Cronicle's API on cronhook, as a Cronicle user's scripts call it: `/api/app/NAME/v1`."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from pytest_httpserver import HTTPServer

from chalicelib import dispatch
from tests.helpers import Api, Persona, body, make_persona
from tests.test_run_controls import StallingTarget, _in_thread, _wait_for
from tests.test_runs_api import queued_messages


def cronicle(
    api: Api,
    name: str,
    who: Persona | None = None,
    payload: dict[str, Any] | None = None,
    *,
    query: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    raw: str | None = None,
) -> Any:
    """One call; the key goes in X-API-Key unless the caller puts it elsewhere."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    if who is not None and "api_key" not in (payload or {}) and "api_key" not in (query or {}):
        sent.setdefault("X-API-Key", who.key)
    path = f"/api/app/{name}/v1" + (f"?{urlencode(query)}" if query else "")
    text = raw if raw is not None else (json.dumps(payload) if payload is not None else None)
    response = getattr(api.client.http, method.lower())(path, headers=sent, body=text)
    assert response.status_code == 200, response.body
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return response


def ok(response: Any) -> dict[str, Any]:
    answer = body(response)
    assert answer["code"] == 0, answer
    return answer


def refused(response: Any, code: str) -> str:
    answer = body(response)
    assert answer["code"] == code, answer
    assert set(answer) == {"code", "description"}
    return str(answer["description"])


def event(url: str, **fields: Any) -> dict[str, Any]:
    return {
        "title": "Ping",
        "enabled": 1,
        "category": "general",
        "plugin": "urlplug",
        "target": "allgrp",
        "params": {"method": "GET", "url": url},
        **fields,
    }


def run_worker() -> dict[str, int]:
    from chalicelib import wiring

    return dispatch.work(queued_messages(wiring.settings()), time.time())


# ---- the reference's examples ------------------------------------------------------------------


def test_it_replays_every_example_request_of_the_reference(
    api: Api, alice: Persona, httpserver: HTTPServer
) -> None:
    """Each example request of the API reference as written; ids and URLs are this test's, and
    the example events' plugin is HTTP Request (urlplug) with a URL in params."""
    httpserver.expect_request("/db").respond_with_data("ok")
    url = httpserver.url_for("/db")
    # create_event, as the reference writes it but for plugin and params.url
    created = {
        "catch_up": 1,
        "category": "43f8c57e",
        "cpu_limit": 100,
        "cpu_sustain": 0,
        "detached": 0,
        "enabled": 1,
        "log_max_size": 0,
        "max_children": 1,
        "memory_limit": 0,
        "memory_sustain": 0,
        "modified": 1451185588,
        "multiplex": 0,
        "notes": "This event handles database maintenance.",
        "notify_fail": "",
        "notify_success": "",
        "params": {"db_host": "idb01.mycompany.com", "verbose": 1, "cust": "Sales", "url": url},
        "plugin": "urlplug",
        "retries": 0,
        "retry_delay": 30,
        "target": "db1.int.myserver.com",
        "timeout": 3600,
        "timezone": "America/New_York",
        "timing": {"hours": [21], "minutes": [20, 40]},
        "title": "DB Reindex",
        "web_hook": "http://myserver.com/notify-chronos.php",
    }
    as_written = cronicle(api, "create_event", alice, {**created, "plugin": "test"})
    assert "HTTP Request" in refused(as_written, "event")
    answer = ok(cronicle(api, "create_event", alice, created))
    assert set(answer) == {"code", "id"} and isinstance(answer["id"], str)
    event_id = answer["id"]

    schedule = ok(cronicle(api, "get_schedule", alice, {"offset": 0, "limit": 1000}))
    assert [row["id"] for row in schedule["rows"]] == [event_id]
    assert schedule["list"]["length"] == 1

    got = ok(cronicle(api, "get_event", alice, {"id": event_id}))["event"]
    for key, value in created.items():
        if key not in ("modified", "params"):
            assert got[key] == value, key
    assert got["params"]["url"] == url and got["params"]["cust"] == "Sales"
    assert got["plugin"] == "urlplug" and got["id"] == event_id
    assert isinstance(got["created"], int) and got["username"] == "alice"

    assert set(ok(cronicle(api, "update_event", alice, {"id": event_id, "enabled": 0}))) == {"code"}
    everything = {
        "id": event_id,
        # The example's 2015 with catch_up would run every slot since: a day ahead instead.
        "reset_cursor": int(time.time()) + 86400,
        "abort_jobs": 0,
        "catch_up": 1,
        "category": "43f8c57e",
        "cpu_limit": 100,
        "cpu_sustain": 0,
        "detached": 0,
        "enabled": 1,
        "log_max_size": 0,
        "max_children": 1,
        "memory_limit": 0,
        "memory_sustain": 0,
        "multiplex": 0,
        "notes": "This event handles database maintenance.",
        "notify_fail": "",
        "notify_success": "",
        "params": {"db_host": "idb01.mycompany.com", "verbose": 1, "cust": "Marketing"},
        "plugin": "urlplug",
        "retries": 0,
        "retry_delay": 30,
        "target": "db1.int.myserver.com",
        "timeout": 3600,
        "timezone": "America/New_York",
        "timing": {"hours": [21], "minutes": [20, 40]},
        "title": "DB Reindex",
        "username": "admin",
        "web_hook": "http://myserver.com/notify-chronos.php",
    }
    ok(cronicle(api, "update_event", alice, everything))
    got = ok(cronicle(api, "get_event", alice, {"id": event_id}))["event"]
    assert got["params"]["cust"] == "Marketing" and got["params"]["url"] == url

    run = ok(cronicle(api, "run_event", alice, {"id": event_id}))
    assert set(run) == {"code", "ids"} and len(run["ids"]) == 1
    customised = {
        "id": event_id,
        "category": "43f8c57e",
        "cpu_limit": 100,
        "cpu_sustain": 0,
        "detached": 0,
        "log_max_size": 0,
        "max_children": 1,
        "memory_limit": 0,
        "memory_sustain": 0,
        "multiplex": 0,
        "notify_fail": "",
        "notify_success": "",
        "params": {"db_host": "idb01.mycompany.com", "verbose": 1, "cust": "Marketing"},
        "plugin": "test",  # a run takes its event's plugin
        "retries": 0,
        "retry_delay": 30,
        "target": "db1.internal.myserver.com",
        "timeout": 3600,
        "title": "DB Reindex",
        "username": "admin",
        "web_hook": "http://myserver.com/notify-chronos.php",
    }
    second = ok(cronicle(api, "run_event", alice, customised))["ids"][0]
    active = ok(cronicle(api, "get_active_jobs", alice))["jobs"]
    assert set(active) == {run["ids"][0], second}

    ok(
        cronicle(
            api, "update_job", alice, {"id": second, "timeout": 300, "notify_success": "a@b.c"}
        )
    )
    run_worker()
    job = ok(cronicle(api, "get_job_status", alice, {"id": second}))["job"]
    for key in ("time_start", "time_end", "elapsed", "complete", "code", "description", "perf"):
        assert key in job, key
    assert job["complete"] == 1 and job["code"] == 0 and job["event"] == event_id
    assert job["event_title"] == "DB Reindex" and job["source"] == "API Key (alice)"
    assert job["perf"].startswith("scale=1000&dns=") and "&ttfb=" in job["perf"]

    history = ok(
        cronicle(api, "get_event_history", alice, {"id": event_id, "offset": 0, "limit": 100})
    )
    assert len(history["rows"]) == 2 and history["list"]["length"] == 2
    everyone = ok(cronicle(api, "get_history", alice, {"offset": 0, "limit": 100}))
    assert len(everyone["rows"]) == 2 and everyone["list"]["length"] == 2

    stalled = ok(cronicle(api, "run_event", alice, {"id": event_id}))["ids"][0]
    assert set(ok(cronicle(api, "abort_job", alice, {"id": stalled}))) == {"code"}
    run_worker()
    assert ok(cronicle(api, "get_job_status", alice, {"id": stalled}))["job"]["state"] == "aborted"

    assert ok(cronicle(api, "get_master_state", alice))["state"] == {"enabled": 1}
    ok(cronicle(api, "update_master_state", alice, {"enabled": 1}))
    assert set(ok(cronicle(api, "delete_event", alice, {"id": event_id}))) == {"code"}
    assert ok(cronicle(api, "get_schedule", alice))["list"]["length"] == 0


# ---- a script, as a Cronicle user writes one ---------------------------------------------------


def test_it_runs_a_cronicle_script_from_create_to_history(
    api: Api, alice: Persona, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook", query_string="who=script").respond_with_data("fine")
    url = httpserver.url_for("/hook")
    created = cronicle(api, "create_event", None, {**event(url), "api_key": alice.key})
    event_id = ok(created)["id"]
    by_id = ok(cronicle(api, "get_event", None, query={"id": event_id, "api_key": alice.key}))
    by_title = ok(
        cronicle(api, "get_event", None, {"title": "Ping"}, headers={"X-API-Key": alice.key})
    )
    assert by_id["event"] == by_title["event"] and by_id["event"]["params"]["url"] == url
    job_id = ok(
        cronicle(api, "run_event", alice, {"id": event_id, "params": {"url": url + "?who=script"}})
    )["ids"][0]
    for _ in range(20):
        status = ok(cronicle(api, "get_job_status", alice, {"id": job_id}))["job"]
        if status.get("complete"):
            break
        run_worker()
    assert status["complete"] == 1 and status["code"] == 0, status
    assert status["description"] == "Success (HTTP 200)"
    rows = ok(cronicle(api, "get_event_history", alice, {"id": event_id}))["rows"]
    assert [row["id"] for row in rows] == [job_id]
    # the event keeps its own URL: the override was for that run only
    assert ok(cronicle(api, "get_event", alice, {"id": event_id}))["event"]["params"]["url"] == url


def test_it_aborts_a_job_on_a_stalled_target_within_a_second(api: Api, alice: Persona) -> None:
    target = StallingTarget()
    try:
        event_id = ok(cronicle(api, "create_event", alice, event(target.url)))["id"]
        job_id = ok(cronicle(api, "run_event", alice, {"id": event_id}))["ids"][0]
        runner, _ = _in_thread(run_worker)
        _wait_for(lambda: target.requests == 1)
        running = ok(cronicle(api, "get_event", alice, {"id": event_id}))
        assert [j["id"] for j in running["jobs"]] == [job_id]
        refused_delete = cronicle(api, "delete_event", alice, {"id": event_id})
        assert refused(refused_delete, "event") == "Failed to delete event: Still has running jobs"
        asked = time.monotonic()
        ok(cronicle(api, "abort_job", alice, {"id": job_id}))
        runner.join(timeout=10)
        took = time.monotonic() - asked
        assert not runner.is_alive() and took < 3, f"{took:.1f} s"  # designed: within 1 s
        assert target.closed.wait(5)
        job = ok(cronicle(api, "get_job_status", alice, {"id": job_id}))["job"]
        assert (
            job["complete"] == 1 and job["code"] != 0 and job["description"] == "Aborted by alice"
        )
        ok(cronicle(api, "delete_event", alice, {"id": event_id}))
    finally:
        target.close()


def test_it_stops_the_schedule_with_update_master_state(api: Api, alice: Persona) -> None:
    ok(cronicle(api, "update_master_state", alice, {"enabled": 0}))
    ok(cronicle(api, "create_event", alice, event("http://127.0.0.1:9/", timing={})))
    assert ok(cronicle(api, "get_master_state", alice))["state"]["enabled"] == 0
    report = dispatch.tick(time.time())
    assert report.get("claimed", 0) == 0 and report["scheduler_off"] == 1
    ok(cronicle(api, "update_master_state", alice, {"enabled": "1"}))
    assert ok(cronicle(api, "get_master_state", alice))["state"]["enabled"] == 1


# ---- keys, errors, formats ---------------------------------------------------------------------


def test_it_answers_errors_in_cronicles_shape_and_writes_nothing(
    api: Api, alice: Persona, carol: Persona
) -> None:
    good = event("https://example.com/")
    assert "API Key" in refused(cronicle(api, "create_event", None, good), "session")
    wrong = cronicle(api, "create_event", None, good, headers={"X-API-Key": "0095f5b664b93304"})
    refused(wrong, "session")
    lacking = refused(cronicle(api, "create_event", carol, good), "api")
    assert lacking == (
        "API Key ('carol') does not have the required privileges to perform this action "
        "(create_events)."
    )
    assert "Unsupported API" in refused(cronicle(api, "get_everything", alice), "api")
    assert "JSON" in refused(cronicle(api, "create_event", alice, raw='{"title": '), "api")
    for bad, field in (
        ({**good, "enabled": "yes"}, "enabled"),
        ({**good, "timing": {"hours": [25]}}, "timing.hours"),
        ({**good, "timing": {"seconds": [1]}}, "timing"),
        ({**good, "timezone": "Mars/Base"}, "timezone"),
        ({**good, "params": {"url": "ftp://x.example/"}}, "params.url"),
        ({**good, "params": {"url": "https://x.example/", "method": "FETCH"}}, "params.method"),
        ({**good, "retries": -1}, "retries"),
        ({**good, "chain": "nope"}, "chain"),
        ({**good, "notes": 5}, "notes"),
    ):
        description = refused(
            cronicle(api, "create_event", alice, bad), "api" if field != "chain" else "event"
        )
        assert field in description, (bad, description)
    assert "Missing parameter: target" in refused(
        cronicle(api, "create_event", alice, {k: v for k, v in good.items() if k != "target"}),
        "api",
    )
    assert ok(cronicle(api, "get_schedule", alice))["list"]["length"] == 0
    assert cronicle(api, "get_schedule", carol).status_code == 200  # read scope reads
    missing = refused(cronicle(api, "get_event", alice, {"id": "3c182051"}), "event")
    assert missing == "Failed to locate event: 3c182051"
    refused(cronicle(api, "get_job_status", alice, {"id": "jiinxhh5203"}), "job")
    refused(cronicle(api, "abort_job", alice, {"id": "jiinxhh5203"}), "job")
    refused(cronicle(api, "get_schedule", alice, {"offset": "x"}), "api")


def test_it_keeps_each_accounts_events_apart(api: Api, alice: Persona, bob: Persona) -> None:
    event_id = ok(cronicle(api, "create_event", alice, event("https://example.com/")))["id"]
    refused(cronicle(api, "get_event", bob, {"id": event_id}), "event")
    refused(cronicle(api, "delete_event", bob, {"id": event_id}), "event")
    assert ok(cronicle(api, "get_schedule", bob))["rows"] == []


def test_it_maps_privileges_onto_key_scopes(api: Api, alice: Persona, stores: Any) -> None:
    runner = make_persona(stores, "runner", alice.account, ["read", "run"])
    event_id = ok(cronicle(api, "create_event", alice, event("http://127.0.0.1:9/")))["id"]
    ok(cronicle(api, "run_event", runner, {"id": event_id}))
    assert "(edit_events)" in refused(
        cronicle(api, "update_event", runner, {"id": event_id}), "api"
    )
    assert "(state_update)" in refused(
        cronicle(api, "update_master_state", runner, {"enabled": 0}), "api"
    )
    bearer = {"Authorization": f"Bearer {runner.key}"}
    ok(cronicle(api, "get_event", None, {"id": event_id}, headers=bearer))


def test_it_answers_jsonp_for_a_plain_callback_name(api: Api, alice: Persona) -> None:
    response = cronicle(
        api,
        "get_master_state",
        None,
        method="GET",
        query={"callback": "app.got", "api_key": alice.key},
    )
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.body.decode() == 'app.got({"code":0,"state":{"enabled":1}});'
    hostile = cronicle(
        api, "get_master_state", alice, method="GET", query={"callback": "alert(1)//"}
    )
    assert hostile.headers["Content-Type"] == "application/json"
    assert "callback" in refused(hostile, "api")


def test_it_takes_form_posts_and_query_strings(api: Api, alice: Persona) -> None:
    form = urlencode(
        {
            "title": "Form",
            "enabled": "1",
            "category": "general",
            "plugin": "urlplug",
            "target": "all",
            "params/url": "https://example.com/form",
            "params/method": "POST",
            "retries": "2",
        }
    )
    created = cronicle(
        api,
        "create_event",
        alice,
        raw=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    event_id = ok(created)["id"]
    got = ok(cronicle(api, "get_event", alice, method="GET", query={"id": event_id}))["event"]
    assert got["params"]["url"] == "https://example.com/form" and got["retries"] == 2
    assert got["params"]["method"] == "POST" and got["enabled"] == 1
    # curl -d '{...}' labels JSON as a form: a body that opens an object is JSON
    json_as_form = cronicle(
        api,
        "get_event",
        alice,
        raw=json.dumps({"id": event_id}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert ok(json_as_form)["event"]["title"] == "Form"


def test_it_keeps_what_cronicle_takes_wider_and_shows_cronhook_edits(
    api: Api, alice: Persona
) -> None:
    sent = event(
        "https://example.com/",
        timeout=3600,
        retries=25,
        max_children=0,
        algo="random",
        notify_fail="ops@example.com",
        category="Maintenance",
        notes="Nightly.",
        timing={"minutes": [5]},
    )
    event_id = ok(cronicle(api, "create_event", alice, sent))["id"]
    job = body(api.get(f"/jobs/{event_id}", alice))["jobDetails"]
    assert job["requestTimeout"] == 300 and job["retries"] == 10 and job["maxConcurrent"] == 100
    assert job["notification"]["onFailure"] is True and job["notes"] == "Nightly."
    assert job["schedule"]["timing"] == {"minutes": [5]}
    folders = body(api.get("/folders", alice))["folders"]
    assert [f["title"] for f in folders] == ["Maintenance"] and job["folderId"] == folders[0][
        "folderId"
    ]
    shown = ok(cronicle(api, "get_event", alice, {"id": event_id}))["event"]
    assert (shown["timeout"], shown["retries"], shown["max_children"]) == (3600, 25, 0)
    assert shown["algo"] == "random" and shown["notify_fail"] == "ops@example.com"
    assert shown["category"] == "Maintenance" and shown["target"] == "allgrp"
    api.patch(f"/jobs/{event_id}", alice, {"job": {"requestTimeout": 60}})
    shown = ok(cronicle(api, "get_event", alice, {"id": event_id}))["event"]
    assert shown["timeout"] == 60 and shown["retries"] == 25  # the edit shows through
    on_demand = ok(
        cronicle(api, "create_event", alice, event("https://example.com/", title="Manual"))
    )
    got = ok(cronicle(api, "get_event", alice, {"id": on_demand["id"]}))["event"]
    assert "timing" not in got
    assert body(api.get(f"/jobs/{on_demand['id']}", alice))["jobDetails"]["nextExecution"] is None


def test_it_pages_the_schedule_and_says_its_length(api: Api, alice: Persona) -> None:
    ids = [
        ok(cronicle(api, "create_event", alice, event("https://example.com/", title=f"E{n}")))["id"]
        for n in range(5)
    ]
    page = ok(
        cronicle(api, "get_schedule", alice, method="GET", query={"offset": "1", "limit": "2"})
    )
    assert [row["id"] for row in page["rows"]] == ids[1:3] and page["list"]["length"] == 5
    assert len(ok(cronicle(api, "get_schedule", alice))["rows"]) == 5
    assert len(ok(cronicle(api, "get_schedule", alice, {"offset": 4}))["rows"]) == 1


def test_it_pages_history_with_offset_and_limit(
    api: Api, alice: Persona, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/h").respond_with_data("ok")
    event_id = ok(cronicle(api, "create_event", alice, event(httpserver.url_for("/h"))))["id"]
    ids = []
    for _ in range(3):
        ids.append(ok(cronicle(api, "run_event", alice, {"id": event_id}))["ids"][0])
        run_worker()
    page = ok(cronicle(api, "get_event_history", alice, {"id": event_id, "offset": 1, "limit": 1}))
    assert [row["id"] for row in page["rows"]] == [ids[1]] and page["list"]["length"] == 3
    everyone = ok(cronicle(api, "get_history", alice, {"limit": 2}))
    assert [row["id"] for row in everyone["rows"]] == [ids[2], ids[1]]
    assert everyone["list"]["length"] == 3


def test_it_refuses_events_of_other_plugins(api: Api, alice: Persona) -> None:
    shell = {**event("https://example.com/"), "plugin": "shellplug", "params": {"script": "ls"}}
    assert "only" in refused(cronicle(api, "create_event", alice, shell), "event").lower()
    event_id = ok(cronicle(api, "create_event", alice, event("https://example.com/")))["id"]
    refused(cronicle(api, "update_event", alice, {"id": event_id, "plugin": "shellplug"}), "event")


def test_it_answers_a_preflight_for_browsers(api: Api) -> None:
    response = api.client.http.options("/api/app/get_schedule/v1", headers={})
    assert response.status_code == 200
    assert "X-API-Key" in response.headers["Access-Control-Allow-Headers"]


def test_it_merges_retries_given_to_run_event_into_that_run_only(
    api: Api, alice: Persona, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/down").respond_with_data("no", status=500)
    url = httpserver.url_for("/down")
    event_id = ok(cronicle(api, "create_event", alice, event(url, retries=0)))["id"]
    run_id = ok(cronicle(api, "run_event", alice, {"id": event_id, "retries": 2}))["ids"][0]
    run_worker()
    status = ok(cronicle(api, "get_job_status", alice, {"id": run_id}))["job"]
    assert "complete" not in status and status["attempt"] == 2  # failed once; its retry waits
    assert ok(cronicle(api, "get_event", alice, {"id": event_id}))["event"]["retries"] == 0
    active = len(body(api.get("/runs?state=active", alice))["runs"])
    refused(cronicle(api, "run_event", alice, {"id": event_id, "chain": "no such event"}), "event")
    assert len(body(api.get("/runs?state=active", alice))["runs"]) == active  # no run started
