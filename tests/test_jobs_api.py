"""The jobs API as a cron-job.org client sees it: create, list, read, update, delete."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import Api, Persona, body, new_job


def create(api: Api, who: Persona, **fields: Any) -> int:
    response = api.put("/jobs", who, new_job(**fields))
    assert response.status_code == 200, response.body
    return int(body(response)["jobId"])


def details(api: Api, who: Persona, job_id: int) -> dict[str, Any]:
    response = api.get(f"/jobs/{job_id}", who)
    assert response.status_code == 200, response.body
    return dict(body(response)["jobDetails"])


def test_it_creates_a_job_with_put_and_returns_its_id(api: Api, alice: Persona) -> None:
    response = api.put("/jobs", alice, new_job())
    assert response.status_code == 200
    created = body(response)
    assert isinstance(created["jobId"], int)
    assert created["signingSecret"].startswith("whsec_")


def test_it_creates_a_job_with_post_too(api: Api, alice: Persona) -> None:
    response = api.post("/jobs", alice, new_job())
    assert response.status_code == 200 and "jobId" in body(response)


def test_it_fills_in_the_documented_defaults(api: Api, alice: Persona) -> None:
    job_id = create_minimal(api, alice)
    job = details(api, alice, job_id)
    assert job["enabled"] is False and job["title"] == "" and job["saveResponses"] is False
    assert job["requestMethod"] == 0 and job["requestTimeout"] == -1 and job["folderId"] == 0
    assert job["auth"] == {"enable": False, "user": "", "password": ""}
    assert job["notification"]["onFailureCount"] == 1
    assert job["notification"]["onSslCertExpirySeconds"] == 604800
    assert job["extendedData"] == {"headers": {}, "body": ""}
    assert job["lastStatus"] == 0 and job["nextExecution"] is None and job["type"] == 0
    assert job["retries"] == 0 and job["historyStrategy"] == "MINIMAL"
    assert job["retentionDays"] == 30 and job["tlsVerify"] is True and job["maxConcurrent"] == 1


def create_minimal(api: Api, who: Persona) -> int:
    response = api.put("/jobs", who, {"job": {"url": "https://example.com"}})
    assert response.status_code == 200, response.body
    return int(body(response)["jobId"])


def test_it_predicts_the_next_execution_of_an_enabled_job(api: Api, alice: Persona) -> None:
    job_id = create(api, alice, schedule={"cron": "*/5 * * * *"})
    next_run = details(api, alice, job_id)["nextExecution"]
    assert isinstance(next_run, int) and next_run % 300 == 0


def test_it_lists_summaries_without_secrets(api: Api, alice: Persona) -> None:
    create(
        api,
        alice,
        auth={"enable": True, "user": "u", "password": "hunter2-secret"},
        extendedData={"headers": {"X-Token": "abc"}, "body": "x"},
    )
    response = api.get("/jobs", alice)
    assert response.status_code == 200
    listing = body(response)
    assert listing["someFailed"] is False
    (job,) = listing["jobs"]
    assert "auth" not in job and "extendedData" not in job
    assert "hunter2-secret" not in response.body.decode()
    assert set(job) >= {
        "jobId",
        "enabled",
        "title",
        "saveResponses",
        "url",
        "lastStatus",
        "lastDuration",
        "lastExecution",
        "nextExecution",
        "type",
        "requestTimeout",
        "redirectSuccess",
        "folderId",
        "schedule",
        "requestMethod",
    }


def test_it_masks_the_password_in_details(api: Api, alice: Persona) -> None:
    job_id = create(api, alice, auth={"enable": True, "user": "u", "password": "hunter2-secret"})
    response = api.get(f"/jobs/{job_id}", alice)
    assert "hunter2-secret" not in response.body.decode()
    assert body(response)["jobDetails"]["auth"] == {
        "enable": True,
        "user": "u",
        "password": "********",
    }


def test_it_keeps_the_password_when_the_mask_comes_back(
    api: Api, alice: Persona, stores: Any
) -> None:
    job_id = create(api, alice, auth={"enable": True, "user": "u", "password": "pw"})
    job = details(api, alice, job_id)
    assert api.patch(f"/jobs/{job_id}", alice, {"job": {"auth": job["auth"]}}).status_code == 200
    stored = stores.jobs.get(alice.account, job_id)
    assert stored.secrets["password"] == "pw"


def test_it_refuses_a_copy_that_carries_the_mask_as_password(api: Api, alice: Persona) -> None:
    job_id = create(api, alice, auth={"enable": True, "user": "u", "password": "pw"})
    copy = {k: v for k, v in details(api, alice, job_id).items() if k != "jobId"}
    response = api.put("/jobs", alice, {"job": copy})
    assert response.status_code == 400
    assert body(response)["error"]["field"] == "auth.password"


def test_it_clears_the_stored_password_when_the_url_moves_to_another_origin(
    api: Api, alice: Persona, stores: Any
) -> None:
    """A stored password goes only to the origin it was given for: a key that may edit jobs
    but never reads the password cannot send it elsewhere by changing the URL."""
    job_id = create(
        api,
        alice,
        url="https://api.example.com/hook",
        auth={"enable": True, "user": "u", "password": "pw"},
    )
    # The same origin (any path, letter case, the default port written out) keeps it.
    for url in ("https://api.example.com/other", "https://API.example.com:443/hook"):
        assert body(api.patch(f"/jobs/{job_id}", alice, {"job": {"url": url}})) == {}
    assert stores.jobs.get(alice.account, job_id).secrets["password"] == "pw"

    masked = {"enable": True, "user": "u", "password": "********"}  # what GET returned
    moved = api.patch(
        f"/jobs/{job_id}", alice, {"job": {"url": "http://api.example.com/x", "auth": masked}}
    )
    assert moved.status_code == 200
    assert body(moved) == {"cleared": ["auth.password"]}  # http is another origin
    assert stores.jobs.get(alice.account, job_id).secrets["password"] == ""
    assert details(api, alice, job_id)["auth"]["password"] == ""

    # Given again in the same request, it stays.
    again = {"url": "https://new.example.net/", "auth": {"password": "pw2"}}
    assert body(api.patch(f"/jobs/{job_id}", alice, {"job": again})) == {}
    assert stores.jobs.get(alice.account, job_id).secrets["password"] == "pw2"


def test_it_clears_a_password_kept_while_auth_was_off_when_the_url_moves(
    api: Api, alice: Persona, stores: Any
) -> None:
    job_id = create(api, alice, auth={"enable": True, "user": "u", "password": "pw"})
    api.patch(f"/jobs/{job_id}", alice, {"job": {"auth": {"enable": False}}})
    moved = api.patch(f"/jobs/{job_id}", alice, {"job": {"url": "https://attacker.test/"}})
    assert body(moved) == {"cleared": ["auth.password"]}
    api.patch(f"/jobs/{job_id}", alice, {"job": {"auth": {"enable": True}}})
    assert stores.jobs.get(alice.account, job_id).secrets["password"] == ""


def test_it_seals_secret_headers_and_masks_them_in_every_read(
    api: Api, alice: Persona, carol: Persona, stores: Any
) -> None:
    headers = {"Authorization": "Bearer s3cr3t", "X-Token": "t0k3n", "Accept": "text/plain"}
    job_id = create(
        api, alice, extendedData={"headers": headers, "body": ""}, secretHeaders=["x-token"]
    )
    shown = details(api, carol, job_id)["extendedData"]["headers"]
    assert shown == {"Authorization": "********", "X-Token": "********", "Accept": "text/plain"}
    for path in ("/jobs", f"/jobs/{job_id}", "/jobs?format=text", "/jobs?format=xml"):
        text = api.get(path, carol).body.decode()
        assert "s3cr3t" not in text and "t0k3n" not in text
    stored = stores.jobs.get(alice.account, job_id)
    assert stored.spec["extendedData"]["headers"]["Authorization"] == "********"
    assert stored.secrets["headers"] == {"authorization": "Bearer s3cr3t", "x-token": "t0k3n"}

    # Sending back what a read showed keeps the values; a new value replaces one.
    echo = {"headers": {**shown, "X-Token": "n3w"}, "body": ""}
    assert api.patch(f"/jobs/{job_id}", alice, {"job": {"extendedData": echo}}).status_code == 200
    stored = stores.jobs.get(alice.account, job_id)
    assert stored.secrets["headers"] == {"authorization": "Bearer s3cr3t", "x-token": "n3w"}


def test_it_refuses_the_mask_as_a_new_secret_header(api: Api, alice: Persona) -> None:
    response = api.put(
        "/jobs", alice, new_job(extendedData={"headers": {"Cookie": "********"}, "body": ""})
    )
    assert response.status_code == 400
    assert body(response)["error"]["field"] == "extendedData.headers.Cookie"


def test_it_clears_secret_headers_when_the_url_moves_to_another_origin(
    api: Api, alice: Persona, stores: Any
) -> None:
    headers = {"X-Api-Key": "k3y", "Cookie": "sid=1", "Accept": "*/*"}
    job_id = create(
        api, alice, url="https://a.example/", extendedData={"headers": headers, "body": ""}
    )
    shown = details(api, alice, job_id)["extendedData"]
    moved = api.patch(
        f"/jobs/{job_id}",
        alice,
        {"job": {"url": "https://b.example/", "extendedData": {**shown, "body": ""}}},
    )
    assert body(moved) == {
        "cleared": ["extendedData.headers.X-Api-Key", "extendedData.headers.Cookie"]
    }
    stored = stores.jobs.get(alice.account, job_id)
    assert stored.secrets["headers"] == {}
    assert stored.spec["extendedData"]["headers"] == {"Accept": "*/*"}
    # One given again in the same request goes along.
    again = {"headers": {"X-Api-Key": "k3y2"}, "body": ""}
    moved = api.patch(
        f"/jobs/{job_id}", alice, {"job": {"url": "https://c.example/", "extendedData": again}}
    )
    assert body(moved) == {}
    assert stores.jobs.get(alice.account, job_id).secrets["headers"] == {"x-api-key": "k3y2"}


def test_it_updates_only_the_fields_in_the_delta(api: Api, alice: Persona) -> None:
    job_id = create(api, alice, title="before")
    response = api.patch(f"/jobs/{job_id}", alice, {"job": {"title": "after"}})
    assert response.status_code == 200 and body(response) == {}
    job = details(api, alice, job_id)
    assert job["title"] == "after" and job["url"] == "https://example.com/hook"
    assert job["schedule"]["minutes"] == [0, 15, 30, 45]


def test_it_merges_nested_objects_in_a_delta(api: Api, alice: Persona) -> None:
    job_id = create(api, alice, notification={"onFailure": True, "onFailureCount": 3})
    api.patch(f"/jobs/{job_id}", alice, {"job": {"notification": {"onSuccess": True}}})
    notification = details(api, alice, job_id)["notification"]
    assert notification["onFailure"] is True and notification["onFailureCount"] == 3
    assert notification["onSuccess"] is True


def test_it_merges_a_partial_cron_job_org_schedule(api: Api, alice: Persona) -> None:
    job_id = create(api, alice)
    api.patch(f"/jobs/{job_id}", alice, {"job": {"schedule": {"hours": [4]}}})
    schedule = details(api, alice, job_id)["schedule"]
    assert schedule["hours"] == [4] and schedule["minutes"] == [0, 15, 30, 45]
    assert schedule["timezone"] == "Europe/Berlin"


def test_it_swaps_a_schedule_for_another_form(api: Api, alice: Persona) -> None:
    job_id = create(api, alice)
    response = api.patch(
        f"/jobs/{job_id}", alice, {"job": {"schedule": {"cron": "30 4 * * 1-5", "timezone": "UTC"}}}
    )
    assert response.status_code == 200, response.body
    schedule = details(api, alice, job_id)["schedule"]
    assert schedule["cron"] == "30 4 * * 1-5" and "hours" not in schedule


def test_it_changes_the_time_zone_of_a_schedule_and_keeps_its_form(
    api: Api, alice: Persona
) -> None:
    job_id = create(api, alice, schedule={"cron": "30 4 * * 1-5", "timezone": "UTC"})
    response = api.patch(
        f"/jobs/{job_id}", alice, {"job": {"schedule": {"timezone": "Asia/Tokyo"}}}
    )
    assert response.status_code == 200, response.body
    schedule = details(api, alice, job_id)["schedule"]
    assert schedule["cron"] == "30 4 * * 1-5" and schedule["timezone"] == "Asia/Tokyo"


def test_it_refuses_some_lists_for_a_schedule_of_another_form(api: Api, alice: Persona) -> None:
    job_id = create(api, alice, schedule={"cron": "30 4 * * 1-5", "timezone": "UTC"})
    response = api.patch(f"/jobs/{job_id}", alice, {"job": {"schedule": {"hours": [4]}}})
    assert response.status_code == 400
    assert body(response)["error"]["field"].startswith("schedule")
    assert details(api, alice, job_id)["schedule"]["cron"] == "30 4 * * 1-5"


def test_it_stops_predicting_runs_of_a_disabled_job(api: Api, alice: Persona) -> None:
    job_id = create(api, alice)
    api.patch(f"/jobs/{job_id}", alice, {"job": {"enabled": False}})
    assert details(api, alice, job_id)["nextExecution"] is None
    api.patch(f"/jobs/{job_id}", alice, {"job": {"enabled": True}})
    assert details(api, alice, job_id)["nextExecution"] is not None


def test_it_writes_nothing_when_a_patch_is_invalid(api: Api, alice: Persona) -> None:
    job_id = create(api, alice, title="kept")
    response = api.patch(
        f"/jobs/{job_id}", alice, {"job": {"title": "lost", "schedule": {"minutes": [61]}}}
    )
    assert response.status_code == 400
    assert body(response)["error"] == {
        "code": "invalid_field",
        "field": "schedule.minutes",
        "message": body(response)["error"]["message"],
    }
    assert details(api, alice, job_id)["title"] == "kept"


def test_it_refuses_half_a_surrogate_pair_naming_the_field(api: Api, alice: Persona) -> None:
    # JSON can escape "\ud800" alone: no character, and no UTF-8 to store or send. It was a 500.
    job_id = create(api, alice, title="before")
    cases = [
        ("PATCH", f"/jobs/{job_id}", {"job": {"extendedData": {"body": "a\ud800"}}}),
        ("PUT", "/jobs", new_job(title="x\udfff")),
        ("POST", f"/jobs/{job_id}/run", {"extendedData": {"headers": {"X-A": ["\ud83d"]}}}),
    ]
    fields = []
    for method, path, payload in cases:
        response = api.call(method, path, alice, payload)
        assert response.status_code == 400, response.body
        fields.append(body(response)["error"]["field"])
    assert fields == ["job.extendedData.body", "job.title", "extendedData.headers.X-A[0]"]
    assert details(api, alice, job_id)["title"] == "before"
    assert body(api.get("/jobs", alice))["jobs"][0]["title"] == "before"


def test_it_deletes_a_job(api: Api, alice: Persona) -> None:
    job_id = create(api, alice)
    response = api.delete(f"/jobs/{job_id}", alice)
    assert response.status_code == 200 and body(response) == {}
    assert api.get(f"/jobs/{job_id}", alice).status_code == 404
    assert api.delete(f"/jobs/{job_id}", alice).status_code == 404


def test_it_pauses_and_resumes_a_job_as_cloud_scheduler_does(
    api: Api, alice: Persona, bob: Persona, carol: Persona, stores: Any
) -> None:
    job_id = create(api, alice, schedule={"cron": "*/5 * * * *"})
    paused = api.post(f"/jobs/{job_id}/pause", alice)
    assert paused.status_code == 200, paused.body
    assert body(paused)["jobDetails"]["enabled"] is False
    assert details(api, alice, job_id)["nextExecution"] is None
    assert api.post(f"/jobs/{job_id}/pause", alice).status_code == 200  # again: no change
    # A job the failure streak disabled resumes with its streak cleared.
    job = stores.jobs.get(alice.account, job_id)
    job.disabled_reason, job.failure_streak = "Disabled after 15 failed runs", 15
    assert stores.jobs.replace(job, job.version)
    resumed = body(api.post(f"/jobs/{job_id}/resume", alice))["jobDetails"]
    assert resumed["enabled"] is True and resumed["nextExecution"] is not None
    assert resumed["disabledReason"] is None
    assert stores.jobs.get(alice.account, job_id).failure_streak == 0
    assert details(api, alice, job_id)["title"] == "Example Job"  # nothing else changed
    assert api.post(f"/jobs/{job_id}/pause", bob).status_code == 404
    assert api.post(f"/jobs/{job_id}/pause", carol).status_code == 403  # a read-only key
    assert api.post("/jobs/99999/resume", alice).status_code == 404


def test_it_hides_one_accounts_jobs_from_another(api: Api, alice: Persona, bob: Persona) -> None:
    job_id = create(api, alice)
    assert api.get(f"/jobs/{job_id}", bob).status_code == 404
    assert api.patch(f"/jobs/{job_id}", bob, {"job": {"title": "x"}}).status_code == 404
    assert api.delete(f"/jobs/{job_id}", bob).status_code == 404
    assert api.post(f"/jobs/{job_id}/signing-secret", bob).status_code == 404
    assert body(api.get("/jobs", bob))["jobs"] == []
    assert details(api, alice, job_id)["title"] == "Example Job"


def test_it_answers_404_to_a_non_numeric_job_id(api: Api, alice: Persona) -> None:
    response = api.get("/jobs/abc", alice)
    assert response.status_code == 404 and body(response)["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"url": "ftp://example.com"}, "url"),
        ({"url": "https://"}, "url"),
        ({"url": "https://user:pw@example.com/"}, "url"),
        ({"url": "https://example.com:99999/"}, "url"),
        ({"url": "https://example.com:0/"}, "url"),
        ({"url": "http://[::1/"}, "url"),  # urlsplit raises: this was a 500
        ({"url": "http://[example.com]/"}, "url"),
        ({"url": "https://bücher.example/"}, "url"),  # punycode: https://xn--bcher-kva.example/
        ({"enabled": "yes"}, "enabled"),
        ({"title": "x" * 256}, "title"),
        ({"requestMethod": 9}, "requestMethod"),
        ({"requestMethod": "FETCH"}, "requestMethod"),
        ({"requestTimeout": 301}, "requestTimeout"),
        ({"requestTimeout": 0}, "requestTimeout"),
        ({"folderId": 77}, "folderId"),
        ({"auth": {"enable": True, "user": ""}}, "auth.user"),
        ({"notification": {"onFailureCount": 0}}, "notification.onFailureCount"),
        ({"extendedData": {"headers": {"Bad Name": "x"}}}, "extendedData.headers.Bad Name"),
        ({"extendedData": {"headers": {"X-A": "a\r\nX-Injected: 1"}}}, "extendedData.headers.X-A"),
        ({"extendedData": {"headers": {"X-A\n": "a"}}}, "extendedData.headers.X-A\n"),
        (
            {"extendedData": {"headers": {"Content-Length": "5"}}},
            "extendedData.headers.Content-Length",
        ),
        ({"extendedData": {"headers": {"Host": "example.org"}}}, "extendedData.headers.Host"),
        ({"extendedData": {"body": "x" * (64 * 1024 + 1)}}, "extendedData.body"),
        (
            {
                "schedule": {
                    "hours": [24],
                    "mdays": [-1],
                    "minutes": [0],
                    "months": [-1],
                    "wdays": [-1],
                }
            },
            "schedule.hours",
        ),
        ({"schedule": {"cron": "* * * * * * * *"}}, "schedule.cron"),
        ({"schedule": {"cron": "0 * * * *", "timezone": "Mars/Base"}}, "schedule.timezone"),
        ({"retries": 11}, "retries"),
        ({"historyStrategy": "SOME"}, "historyStrategy"),
        ({"retentionDays": 0}, "retentionDays"),
        ({"successCodes": ["2xx"]}, "successCodes"),
        ({"successCodes": ["\u0662\u0660\u0660-\u0662\u0669\u0669"]}, "successCodes"),
        ({"successMatch": "(unclosed"}, "successMatch"),
        ({"errorMatch": "{error}"}, "errorMatch"),  # JavaScript (the document's dialect) refuses
        ({"chainSuccess": 999999}, "chainSuccess"),
        ({"maxConcurrent": 0}, "maxConcurrent"),
    ],
)
def test_it_rejects_bad_input_naming_the_field(
    api: Api, alice: Persona, fields: dict[str, Any], field: str
) -> None:
    response = api.put("/jobs", alice, new_job(**fields))
    assert response.status_code == 400, response.body
    error = body(response)["error"]
    assert error["code"] == "invalid_field" and error["field"] == field and error["message"]
    assert body(api.get("/jobs", alice))["jobs"] == []


def test_it_names_the_out_of_range_minute(api: Api, alice: Persona) -> None:
    response = api.put(
        "/jobs",
        alice,
        new_job(
            schedule={"hours": [-1], "mdays": [-1], "minutes": [61], "months": [-1], "wdays": [-1]}
        ),
    )
    assert "61" in body(response)["error"]["message"]


def test_it_reads_a_number_with_a_zero_fraction_as_the_integer(api: Api, alice: Persona) -> None:
    raw = json.dumps({"job": {"url": "https://example.com", "retries": 2}}).replace("2}", "2.0}")
    response = api.put("/jobs", alice, raw=raw)
    assert response.status_code == 200, response.body
    retries = details(api, alice, body(response)["jobId"])["retries"]
    assert retries == 2 and isinstance(retries, int)


def test_it_takes_an_ipv6_literal_in_the_url(api: Api, alice: Persona) -> None:
    job_id = create(api, alice, url="http://[2001:db8::1]:8080/hook")
    assert details(api, alice, job_id)["url"] == "http://[2001:db8::1]:8080/hook"


def test_it_answers_404_to_a_job_id_in_other_digits(api: Api, alice: Persona) -> None:
    create(api, alice)
    assert api.get("/jobs/\u0661", alice).status_code == 404  # ARABIC-INDIC DIGIT ONE


def test_it_requires_the_job_wrapper(api: Api, alice: Persona) -> None:
    response = api.put("/jobs", alice, {"url": "https://example.com"})
    assert response.status_code == 400 and body(response)["error"]["field"] == "job"


def test_it_answers_400_to_malformed_json(api: Api, alice: Persona) -> None:
    response = api.put("/jobs", alice, raw='{"job": {"url": ')
    assert response.status_code == 400
    assert body(response)["error"]["code"] == "bad_request"


def test_it_answers_413_to_an_oversized_body(api: Api, alice: Persona) -> None:
    response = api.put("/jobs", alice, raw=json.dumps({"job": {"title": "x" * 300_000}}))
    assert response.status_code == 413
    assert body(response)["error"]["code"] == "payload_too_large"


def test_it_accepts_method_names_and_stores_numbers(api: Api, alice: Persona) -> None:
    job_id = create(api, alice, requestMethod="patch")
    assert details(api, alice, job_id)["requestMethod"] == 8


def test_it_normalises_success_codes(api: Api, alice: Persona) -> None:
    job_id = create(api, alice, successCodes=[200, " 300 - 302 "])
    assert details(api, alice, job_id)["successCodes"] == [200, "300-302"]


def test_a_job_chained_to_a_deleted_job_stays_editable(api: Api, alice: Persona) -> None:
    target = create(api, alice)
    job_id = create(api, alice, chainFailure=target, chainSuccess=target)
    assert api.delete(f"/jobs/{target}", alice).status_code == 200
    assert api.post(f"/jobs/{job_id}/pause", alice).status_code == 200  # was a 400
    assert api.patch(f"/jobs/{job_id}", alice, {"job": {"title": "t"}}).status_code == 200
    assert details(api, alice, job_id)["chainFailure"] == target
    # A chain the edit sets must still exist.
    response = api.patch(f"/jobs/{job_id}", alice, {"job": {"chainSuccess": target + 100}})
    assert response.status_code == 400 and body(response)["error"]["field"] == "chainSuccess"


def test_it_chains_to_a_job_of_the_same_account(api: Api, alice: Persona, bob: Persona) -> None:
    target = create(api, alice)
    assert api.put("/jobs", alice, new_job(chainSuccess=target)).status_code == 200
    response = api.put("/jobs", bob, new_job(chainFailure=target))
    assert response.status_code == 400 and body(response)["error"]["field"] == "chainFailure"


def test_it_rotates_the_signing_secret_with_an_overlap(
    api: Api, alice: Persona, stores: Any
) -> None:
    created = body(api.put("/jobs", alice, new_job()))
    response = api.post(f"/jobs/{created['jobId']}/signing-secret", alice)
    assert response.status_code == 200
    rotated = body(response)
    assert rotated["signingSecret"] != created["signingSecret"]
    secrets = stores.jobs.get(alice.account, created["jobId"]).secrets["signing"]
    assert [s["secret"] for s in secrets] == [rotated["signingSecret"], created["signingSecret"]]
    assert secrets[1]["until"] == rotated["previousValidUntil"]
    assert created["signingSecret"] not in api.get(f"/jobs/{created['jobId']}", alice).body.decode()


def test_it_lists_jobs_as_text_with_chosen_columns(api: Api, alice: Persona) -> None:
    create(api, alice, title='Say "hi"')
    response = api.get("/jobs?format=text&columns=jobId,title,schedule.timezone", alice)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    lines = response.body.decode().splitlines()
    assert lines[0] == '"jobId","title","schedule.timezone"'
    assert lines[1].endswith(',"Say ""hi""","Europe/Berlin"')


def test_it_lists_jobs_as_text_with_custom_separators(api: Api, alice: Persona) -> None:
    create(api, alice)
    response = api.get(
        "/jobs?format=text&columns=title,enabled&includeheaders=false"
        "&fieldSeparator=59&textQualifier=0&lineBreak=13",
        alice,
    )
    assert response.body.decode() == "Example Job;true\r"


def test_it_lists_text_that_a_spreadsheet_would_run_as_a_formula_as_text(
    api: Api, alice: Persona
) -> None:
    for title in ('=HYPERLINK("http://evil.test","x")', "+1+1", "@SUM(A1)", "-2+3", "-5"):
        create(api, alice, title=title, requestTimeout=-1)
    response = api.get("/jobs?format=text&columns=title,requestTimeout", alice)
    lines = response.body.decode().splitlines()[1:]
    assert lines == [
        '"\'=HYPERLINK(""http://evil.test"",""x"")","-1"',
        '"\'+1+1","-1"',
        '"\'@SUM(A1)","-1"',
        '"\'-2+3","-1"',
        '"-5","-1"',  # a number stays a number
    ]


def test_it_lists_jobs_as_xml(api: Api, alice: Persona) -> None:
    create(api, alice, title="a < b")
    response = api.get("/jobs?format=xml&columns=jobId,title", alice)
    assert response.headers["Content-Type"].startswith("application/xml")
    assert "<jobs><job><jobId>" in response.body.decode()
    assert "<title>a &lt; b</title>" in response.body.decode()


def test_it_cuts_json_listings_to_the_chosen_columns(api: Api, alice: Persona) -> None:
    job_id = create(api, alice)
    listing = body(api.get("/jobs?columns=jobId,schedule.timezone", alice))
    assert listing["jobs"] == [{"jobId": job_id, "schedule.timezone": "Europe/Berlin"}]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("fieldSeparator=0", "fieldSeparator"),
        ("fieldSeparator=4_4", "fieldSeparator"),
        ("textQualifier=-1", "textQualifier"),
        ("lineBreak=55296", "lineBreak"),  # a surrogate cannot be sent
        ("lineBreak=1114112", "lineBreak"),
    ],
)
def test_it_refuses_a_character_code_it_cannot_use(
    api: Api, alice: Persona, query: str, field: str
) -> None:
    response = api.get(f"/jobs?format=text&{query}", alice)
    assert response.status_code == 400 and body(response)["error"]["field"] == field


def test_it_rejects_an_unknown_format(api: Api, alice: Persona) -> None:
    response = api.get("/jobs?format=yaml", alice)
    assert response.status_code == 400 and body(response)["error"]["field"] == "format"
