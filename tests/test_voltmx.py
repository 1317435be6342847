"""Volt MX Foundry's job APIs at /authService/accounts/login and /admin/api/jobs/...: the
reference's examples as written, a client's session whose job calls a Foundry service, and bad
input answered in Volt MX's envelope."""

from __future__ import annotations

import copy
import json
import urllib.parse
from typing import Any

from pytest_httpserver import HTTPServer

from tests.helpers import Api, Persona, body, queued_messages
from tests.test_runs_api import work_through_the_lambda
from tests.test_users_api import PASSWORD, add_user

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JOBS = "/admin/api/jobs"
SUCCESS = {"status": "SUCCESS", "result": None, "message": None, "token": None}
# The reference's Create a Job sample request, as written.
SAMPLE_JOB: dict[str, Any] = {
    "jobId": 2,
    "jobName": "testjob1",
    "jobFrequency": "19 0 * * * ? *",
    "description": "Job for testjob2",
    "jobServiceInfo": {
        "version": "1.0",
        "serviceType": "intSer",
        "serviceName": "jsonservices",
        "objectName": "",
        "operationName": "metadatajson",
        "requestheaderMap": {},
        "serviceExecutionType": "SERVER_URL",
        "postData": "{}",
        "operationSecurityLevel": "public",
    },
    "jobStatus": "Active",
    "historyStrategy": "OFF",
    "retentionPeriod": "30",
    "jobFrequencyInfo": {"frequencyType": 1, "minuteValues": [0], "hourValues": [1]},
}
LIST_FIELDS = {
    "jobId",
    "jobName",
    "description",
    "cronExpression",
    "updatedUser",
    "updatedDate",
    "jobStatus",
    "jobHistoryTotal",
    "jobHistorySuccessCount",
    "jobHistoryFailCount",
    "jobHistorySucPercentage",
    "jobHistoryFailPercentage",
    "jobLastRunStatus",
    "jobNextRunTime",
}
DETAIL_FIELDS = {
    "jobId",
    "jobName",
    "description",
    "jobFrequency",
    "jobServiceInfo",
    "jobStatus",
    "historyStrategy",
    "retentionPeriod",
    "jobFrequencyInfo",
}
HISTORY_FIELDS = {
    "jobRunId",
    "jobStartTime",
    "jobEndTime",
    "jobDuration",
    "executionFrequency",
    "executionStatus",
    "completeHistory",
}


def login(api: Api, userid: str = "ada", password: str = PASSWORD) -> Any:
    raw = urllib.parse.urlencode({"userid": userid, "password": password})
    return api.call("POST", "/authService/accounts/login", None, headers=FORM, raw=raw)


def token_of(api: Api, alice: Persona, scopes: Any = None) -> str:
    add_user(api, alice, "ada", scopes)
    response = login(api)
    assert response.status_code == 200, response.body
    return str(body(response)["claims_token"]["value"])


def call(api: Api, token: str, method: str, path: str, payload: Any = None) -> Any:
    headers = {"X-VoltMX-Authorization": token}
    return api.call(method, JOBS + path, None, payload, headers=headers)


def set_base(api: Api, who: Persona, base: str) -> Any:
    response = api.put("/settings", who, {"voltmxBaseUrl": base})
    assert response.status_code == 200, response.body
    return body(response)


def create(api: Api, token: str, job: dict[str, Any] | None = None) -> int:
    response = call(api, token, "POST", "/job", job or SAMPLE_JOB)
    assert response.status_code == 200, response.body
    assert body(response) == SUCCESS
    listed = body(call(api, token, "GET", "/job"))
    return max(int(j["jobId"]) for j in listed)


def fail(response: Any, status: int) -> Any:
    answer = body(response)
    assert response.status_code == status, response.body
    assert answer["status"] == "FAIL" and answer["token"] is None, answer
    return answer


# ---- the reference, as written -------------------------------------------------------------------


def test_it_signs_in_with_the_documented_answer(api: Api, alice: Persona) -> None:
    add_user(api, alice, "ada@example.com")
    response = login(api, "ada@example.com")
    assert response.status_code == 200, response.body
    answer = body(response)
    assert set(answer) == {"profile", "claims_token", "refresh_token"}
    assert answer["profile"]["userid"] == "ada@example.com"
    assert answer["profile"]["user_attributes"] == {"user_id": "ada@example.com"}
    assert set(answer["profile"]["profile_attributes"]) == {
        "firstname",
        "userid",
        "email",
        "lastname",
    }
    claims = answer["claims_token"]
    assert claims["value"].startswith("chs_") and claims["integrity_check_required"] is False
    assert claims["exp"] > 1_700_000_000_000  # milliseconds


def test_it_replays_the_reference_calls(api: Api, alice: Persona) -> None:
    set_base(api, alice, "https://foundry.example.com:8443")
    token = token_of(api, alice)
    job_id = create(api, token)
    # Get All Jobs: a bare array with every documented field
    listed = body(call(api, token, "GET", "/job"))
    assert isinstance(listed, list) and set(listed[0]) == LIST_FIELDS
    row = listed[0]
    assert row["jobName"] == "testjob1" and row["jobStatus"] == "Active"
    assert row["cronExpression"] == "19 0 * * * ? *" and row["updatedUser"] == "ada"
    assert len(row["jobNextRunTime"]) == 19 and row["jobNextRunTime"].endswith(":00:19")
    assert row["jobHistoryTotal"] == 0 and row["jobLastRunStatus"] is None
    # Get Job Details, at the path as printed (job1) and at job/{id}
    for path in (f"/job{job_id}", f"/job/{job_id}"):
        detail = body(call(api, token, "GET", path))
        assert set(detail) == DETAIL_FIELDS
        assert detail["jobServiceInfo"] == SAMPLE_JOB["jobServiceInfo"]
        assert detail["jobFrequencyInfo"] == SAMPLE_JOB["jobFrequencyInfo"]
        assert (detail["retentionPeriod"], detail["historyStrategy"]) == ("30", "OFF")
    # Update a Job, the sample request with the id adjusted
    update = {**copy.deepcopy(SAMPLE_JOB), "jobId": job_id, "description": "Job for testjob 1"}
    assert body(call(api, token, "PUT", "/job", update)) == SUCCESS
    assert body(call(api, token, "GET", f"/job{job_id}"))["description"] == "Job for testjob 1"
    # Run a Job Now, Get Job History, Delete a Job
    assert body(call(api, token, "POST", f"/job/run/{job_id}")) == SUCCESS
    rows = body(call(api, token, "GET", f"/history/{job_id}"))
    assert isinstance(rows, list)
    assert all(set(r) == HISTORY_FIELDS for r in rows)
    assert body(call(api, token, "DELETE", f"/job{job_id}")) == SUCCESS
    assert body(call(api, token, "GET", "/job")) == []


def test_it_takes_the_get_samples_frequency_info_alone(api: Api, alice: Persona) -> None:
    set_base(api, alice, "https://foundry.example.com")
    token = token_of(api, alice)
    job = {k: v for k, v in SAMPLE_JOB.items() if k != "jobFrequency"}
    job["jobFrequencyInfo"] = {"frequencyType": 1, "minuteValues": [5]}
    job_id = create(api, token, job)
    detail = body(call(api, token, "GET", f"/job/{job_id}"))
    assert detail["jobFrequency"] == "0 5 * * * ?"
    assert detail["jobFrequencyInfo"] == {"frequencyType": 1, "minuteValues": [5]}
    native = body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]["schedule"]
    assert native["frequencyInfo"] == {"frequencyType": 1, "minuteValues": [5]}
    # the details sent back as read keep the schedule's form
    assert body(call(api, token, "PUT", "/job", detail)) == SUCCESS
    again = body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]["schedule"]
    assert again["frequencyInfo"] == {"frequencyType": 1, "minuteValues": [5]}


# ---- a client's session -------------------------------------------------------------------------


def test_it_serves_a_clients_whole_session(
    api: Api, alice: Persona, settings: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request(
        "/services/jsonservices/metadatajson",
        method="POST",
        headers={"X-Kony-Authorization": "abc", "Content-Type": "application/json"},
        data='{"cityName":"Oslo"}',
    ).respond_with_json({"opstatus": 0})
    set_base(api, alice, httpserver.url_for("/").rstrip("/"))
    token = token_of(api, alice)
    job = copy.deepcopy(SAMPLE_JOB)
    job["jobServiceInfo"]["requestheaderMap"] = {
        "X-Kony-Authorization": "abc",
        "Content-Type": "application/json",
    }
    job["jobServiceInfo"]["postData"] = '{"cityName":"Oslo"}'
    job["historyStrategy"] = "FULL"  # the sample's OFF keeps no history
    job_id = create(api, token, job)
    shown = body(call(api, token, "GET", f"/job/{job_id}"))["jobServiceInfo"]["requestheaderMap"]
    assert shown["X-Kony-Authorization"] == "********"  # Foundry's credential, sealed
    edited = {"jobId": job_id, "jobName": "weather", "jobFrequency": "0 0/15 * * * ?"}
    assert body(call(api, token, "PUT", "/job", edited)) == SUCCESS
    row = body(call(api, token, "GET", "/job"))[0]
    assert (row["jobName"], row["cronExpression"]) == ("weather", "0 0/15 * * * ?")
    assert body(call(api, token, "POST", f"/job/run/{job_id}")) == SUCCESS
    work_through_the_lambda(api, queued_messages(settings))
    assert len(httpserver.log) == 1
    history = body(call(api, token, "GET", f"/history/{job_id}"))
    assert [h["executionStatus"] for h in history] == ["Success"]
    assert history[0]["jobRunId"] > 0 and history[0]["executionFrequency"] == "0 0/15 * * * ?"
    assert history[0]["completeHistory"] is True and len(history[0]["jobEndTime"]) == 19
    row = body(call(api, token, "GET", "/job"))[0]
    assert (row["jobHistoryTotal"], row["jobHistorySuccessCount"]) == (1, 1)
    assert (row["jobHistorySucPercentage"], row["jobHistoryFailPercentage"]) == (100, 0)
    assert row["jobLastRunStatus"] == "Success"
    assert body(call(api, token, "DELETE", f"/job/{job_id}")) == SUCCESS
    assert body(call(api, token, "GET", "/job")) == []


def test_it_calls_an_object_service_with_its_operations_method(api: Api, alice: Persona) -> None:
    set_base(api, alice, "https://foundry.example.com")
    token = token_of(api, alice)
    job = copy.deepcopy(SAMPLE_JOB)
    job["jobServiceInfo"].update(
        serviceType="objSer", serviceName="crm", objectName="Contact", operationName="delete"
    )
    job_id = create(api, token, job)
    details = body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]
    assert details["url"] == "https://foundry.example.com/services/data/v1/crm/objects/Contact"
    assert details["requestMethod"] == 5  # DELETE


def test_it_repoints_service_jobs_when_the_base_url_moves(api: Api, alice: Persona) -> None:
    set_base(api, alice, "https://old.example.com")
    token = token_of(api, alice)
    job = copy.deepcopy(SAMPLE_JOB)
    job["jobServiceInfo"]["requestheaderMap"] = {"Authorization": "Bearer s3cret", "X-A": "1"}
    job_id = create(api, token, job)
    masked = body(call(api, token, "GET", f"/job/{job_id}"))["jobServiceInfo"]
    assert masked["requestheaderMap"] == {"Authorization": "********", "X-A": "1"}
    moved = set_base(api, alice, "https://new.example.com/")
    assert moved["voltmxBaseUrl"] == "https://new.example.com"
    assert moved["repointedJobs"] == [
        {
            "jobId": job_id,
            "url": "https://new.example.com/services/jsonservices/metadatajson",
            "cleared": ["extendedData.headers.Authorization"],
        }
    ]
    details = body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]
    assert details["extendedData"]["headers"] == {"X-A": "1"}
    assert body(api.get("/settings", alice)) == {"voltmxBaseUrl": "https://new.example.com"}


def test_it_accepts_an_api_key_as_the_authorization(api: Api, alice: Persona) -> None:
    assert body(call(api, alice.key, "GET", "/job")) == []


# ---- bad input ----------------------------------------------------------------------------------


def test_it_answers_a_wrong_password_as_an_unknown_user(api: Api, alice: Persona) -> None:
    add_user(api, alice, "ada")
    wrong = fail(login(api, "ada", "not the password"), 401)
    unknown = fail(login(api, "nobody", PASSWORD), 401)
    assert wrong == unknown


def test_it_rate_limits_sign_in(api: Api, alice: Persona) -> None:
    add_user(api, alice, "ada")
    codes = [login(api, "ada", "wrong password!").status_code for _ in range(11)]
    assert codes[:10] == [401] * 10 and codes[10] == 429


def test_it_names_a_missing_login_field(api: Api) -> None:
    raw = urllib.parse.urlencode({"userid": "ada"})
    answer = fail(api.call("POST", "/authService/accounts/login", None, headers=FORM, raw=raw), 400)
    assert answer["result"]["field"] == "password" and answer["message"].startswith("password")


def test_it_refuses_a_missing_or_bad_token(api: Api) -> None:
    fail(api.get(JOBS + "/job"), 401)
    fail(call(api, "chs_" + "x" * 43, "GET", "/job"), 401)


def test_it_refuses_a_read_only_user_a_write(api: Api, alice: Persona) -> None:
    set_base(api, alice, "https://foundry.example.com")
    token = token_of(api, alice, ["read"])
    assert body(call(api, token, "GET", "/job")) == []
    fail(call(api, token, "POST", "/job", SAMPLE_JOB), 403)


def test_it_names_the_bad_field_and_writes_nothing(api: Api, alice: Persona) -> None:
    set_base(api, alice, "https://foundry.example.com")
    token = token_of(api, alice)
    info = SAMPLE_JOB["jobServiceInfo"]
    cases = [
        ({"jobName": ""}, "jobName"),
        ({"jobFrequency": "*/5 * * * *"}, "jobFrequency"),
        ({"jobFrequency": "61 * * * * ?"}, "jobFrequency"),
        ({"jobFrequencyInfo": {"frequencyType": 9}}, "jobFrequencyInfo.frequencyType"),
        (
            {"jobFrequencyInfo": {"frequencyType": 2, "minuteValues": [0]}},
            "jobFrequencyInfo.hourValues",
        ),
        ({"jobStatus": "On"}, "jobStatus"),
        ({"jobStatus": {}}, "jobStatus"),
        ({"jobFrequencyInfo": {"frequencyType": []}}, "jobFrequencyInfo.frequencyType"),
        ({"jobFrequency": None, "jobFrequencyInfo": []}, "jobFrequencyInfo"),
        ({"jobFrequency": ["x"]}, "jobFrequency"),
        ({"historyStrategy": "SOME"}, "historyStrategy"),
        ({"retentionPeriod": "thirty"}, "retentionPeriod"),
        ({"retentionPeriod": "400"}, "retentionPeriod"),
        ({"color": "red"}, "color"),
        ({"jobServiceInfo": None}, "jobServiceInfo"),
        ({"jobServiceInfo": {**info, "serviceType": "x"}}, "jobServiceInfo.serviceType"),
        ({"jobServiceInfo": {**info, "serviceName": "../x"}}, "jobServiceInfo.serviceName"),
        (
            {"jobServiceInfo": {**info, "serviceExecutionType": "X"}},
            "jobServiceInfo.serviceExecutionType",
        ),
        (
            {"jobServiceInfo": {**info, "requestheaderMap": {"A": 1}}},
            "jobServiceInfo.requestheaderMap.A",
        ),
        ({"jobServiceInfo": {**info, "extra": 1}}, "jobServiceInfo.extra"),
    ]
    for fields, name in cases:
        answer = fail(call(api, token, "POST", "/job", {**SAMPLE_JOB, **fields}), 400)
        assert answer["result"]["field"] == name, (fields, answer)
        assert answer["message"].startswith(name), answer
    assert body(call(api, token, "GET", "/job")) == []


def test_it_names_the_base_url_a_service_job_needs(api: Api, alice: Persona) -> None:
    token = token_of(api, alice)
    answer = fail(call(api, token, "POST", "/job", SAMPLE_JOB), 400)
    assert answer["result"]["field"] == "voltmxBaseUrl" and "PUT /settings" in answer["message"]
    bad = api.put("/settings", alice, {"voltmxBaseUrl": "ftp://x"})
    assert bad.status_code == 400 and body(bad)["error"]["field"] == "voltmxBaseUrl"
    bad = api.put("/settings", alice, {"voltmxBaseUrl": "https://x.example.com/?a=1"})
    assert bad.status_code == 400


def test_it_answers_unknown_paths_and_methods_in_its_envelope(api: Api, alice: Persona) -> None:
    token = token_of(api, alice)
    for path in ("/jobx", "/job/abc", "/history", "/job/run/x", "/a/b/c", "/login"):
        answer = fail(call(api, token, "GET", path), 404)
        assert answer["result"]["field"] == "path"
    assert fail(call(api, token, "DELETE", "/job"), 405)["result"]["code"] == "method_not_allowed"
    fail(call(api, token, "GET", "/job/999"), 404)
    fail(call(api, token, "PUT", "/job", {"jobId": 999, "jobName": "x"}), 404)
    assert (
        fail(call(api, token, "PUT", "/job", {"jobName": "x"}), 400)["result"]["field"] == "jobId"
    )
    fail(api.get("/authService/accounts/login"), 405)


def test_it_answers_malformed_bodies_in_its_envelope(api: Api, alice: Persona) -> None:
    token = token_of(api, alice)
    headers = {"X-VoltMX-Authorization": token}
    deep = '{"jobName": ' + "[" * 900 + "]" * 900 + "}"
    for raw in ('{"jobName": ', "[1]", b"\xff\xfe", '"x"', '{"jobName": "\\ud800"}', deep):
        answer = fail(api.call("POST", JOBS + "/job", None, headers=headers, raw=raw), 400)
        assert answer["result"]["field"] in ("body", "jobName"), answer
    assert body(call(api, token, "GET", "/job")) == []


def test_it_keeps_other_accounts_jobs_apart(api: Api, alice: Persona, bob: Persona) -> None:
    set_base(api, alice, "https://foundry.example.com")
    job_id = create(api, token_of(api, alice))
    fail(call(api, bob.key, "GET", f"/job/{job_id}"), 404)
    fail(call(api, bob.key, "DELETE", f"/job{job_id}"), 404)
    assert body(call(api, bob.key, "GET", "/job")) == []


def test_it_shows_a_job_made_with_cronhooks_own_api(api: Api, alice: Persona) -> None:
    from tests.helpers import new_job

    response = api.put("/jobs", alice, new_job(schedule={"cron": "*/5 * * * *"}))
    job_id = body(response)["jobId"]
    detail = body(call(api, alice.key, "GET", f"/job/{job_id}"))
    assert detail["jobServiceInfo"] is None and detail["jobFrequency"] == "*/5 * * * *"
    assert json.dumps(body(call(api, alice.key, "GET", "/job")))
    answer = call(api, alice.key, "PUT", "/job", {**detail, "jobName": "renamed"})
    assert body(answer) == SUCCESS, answer.body
    assert body(call(api, alice.key, "GET", f"/job/{job_id}"))["jobFrequency"] == "*/5 * * * *"


def test_it_takes_back_the_details_it_showed(api: Api, alice: Persona) -> None:
    set_base(api, alice, "https://foundry.example.com")
    token = token_of(api, alice)
    job = copy.deepcopy(SAMPLE_JOB)
    job["jobServiceInfo"]["requestheaderMap"] = {"X-VoltMX-Authorization": "s3cret"}
    job_id = create(api, token, job)
    detail = body(call(api, token, "GET", f"/job/{job_id}"))
    assert detail["jobServiceInfo"]["requestheaderMap"] == {"X-VoltMX-Authorization": "********"}
    listed = body(call(api, token, "GET", "/job"))[0]
    assert body(call(api, token, "PUT", "/job", {**listed, **detail})) == SUCCESS
    from chalicelib import jobs, wiring

    stored = wiring.stores().jobs.get(alice.account, job_id)
    assert jobs.sent_headers(stored) == {"X-VoltMX-Authorization": "s3cret"}


def test_it_answers_as_its_openapi_document_says(api: Api, alice: Persona) -> None:
    from jsonschema import Draft202012Validator

    from chalicelib.openapi import document

    set_base(api, alice, "https://foundry.example.com")
    token = token_of(api, alice)
    job_id = create(api, token)
    call(api, token, "POST", f"/job/run/{job_id}")
    doc = document()

    def check(path: str, method: str, response: Any) -> None:
        op = doc["paths"][path][method]
        content = op["responses"][str(response.status_code)]["content"]
        schema = {**content["application/json"]["schema"], "components": doc["components"]}
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(body(response))]
        assert errors == [], (path, method, errors)

    check("/admin/api/jobs/{ref}", "get", call(api, token, "GET", "/job"))
    check("/admin/api/jobs/{ref}", "get", call(api, token, "GET", f"/job{job_id}"))
    check("/admin/api/jobs/{ref}/{arg}", "get", call(api, token, "GET", f"/history/{job_id}"))
    check("/admin/api/jobs/{ref}/{arg}", "get", call(api, token, "GET", "/job/x"))
    check("/admin/api/jobs/{ref}", "post", call(api, token, "POST", "/job", {"jobName": ""}))
    check("/authService/accounts/login", "post", login(api))
    check("/authService/accounts/login", "post", login(api, "ada", "wrong password"))
    check("/settings", "get", api.get("/settings", alice))


def test_it_repoints_only_jobs_that_still_name_a_service(api: Api, alice: Persona) -> None:
    set_base(api, alice, "https://old.example.com")
    job_id = create(api, token_of(api, alice))
    forged = {"voltmx": {"jobServiceInfo": {"serviceType": "intSer", "serviceName": "../x"}}}
    response = api.patch(f"/jobs/{job_id}", alice, {"job": {"keptFields": forged}})
    assert response.status_code == 200, response.body
    assert set_base(api, alice, "https://new.example.com")["repointedJobs"] == []
    assert body(call(api, alice.key, "GET", f"/job/{job_id}"))["jobServiceInfo"] is None


def test_it_lets_only_an_admin_set_the_base_url(api: Api, alice: Persona, carol: Persona) -> None:
    assert body(api.get("/settings", carol)) == {"voltmxBaseUrl": ""}
    refused = api.put("/settings", carol, {"voltmxBaseUrl": "https://foundry.example.com"})
    assert refused.status_code == 403
    unknown = api.put("/settings", alice, {"voltmxBaseURL": "https://foundry.example.com"})
    assert unknown.status_code == 400 and body(unknown)["error"]["field"] == "voltmxBaseURL"
    assert body(api.get("/settings", alice)) == {"voltmxBaseUrl": ""}
