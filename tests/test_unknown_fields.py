"""Unknown job fields as cron-job.org treats them: ignored and named, or a 400 when asked."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from chalicelib import jobs
from chalicelib.errors import ValidationError
from tests.helpers import Api, Persona, body, make_persona

HEADER = "X-Cronhook-Ignored-Fields"
LISTS = {"hours": [3], "mdays": [-1], "minutes": [0], "months": [-1], "wdays": [-1]}


def create(api: Api, who: Persona, job: dict[str, Any], query: str = "") -> Any:
    return api.put(f"/jobs{query}", who, {"job": job})


def details(api: Api, who: Persona, job_id: int) -> dict[str, Any]:
    return dict(body(api.get(f"/jobs/{job_id}", who))["jobDetails"])


def test_it_ignores_unknown_fields_at_every_level_and_names_them(api: Api, alice: Persona) -> None:
    job = {
        "url": "https://example.com/",
        "title": "nightly",
        "scheldule": {"minutes": [0]},
        "auth": {"enable": False, "token": "t"},
        "notification": {"onFailure": True, "onFailur": True},
        "extendedData": {"body": "x", "bodyType": 1},
        "schedule": {**LISTS, "every": "day"},
    }
    response = create(api, alice, job)
    assert response.status_code == 200, response.body
    assert response.headers[HEADER] == (
        "scheldule,auth.token,notification.onFailur,extendedData.bodyType,schedule.every"
    )
    saved = details(api, alice, body(response)["jobId"])
    assert saved["title"] == "nightly" and saved["notification"]["onFailure"] is True
    assert saved["schedule"]["hours"] == [3] and "every" not in saved["schedule"]
    assert "scheldule" not in saved and "token" not in saved["auth"]
    assert "bodyType" not in saved["extendedData"]


def test_it_sends_no_header_when_it_ignored_nothing(api: Api, alice: Persona) -> None:
    response = create(api, alice, {"url": "https://example.com/", "jobId": 7})  # read-only
    assert response.status_code == 200 and HEADER not in response.headers


def test_it_answers_an_unknown_field_with_400_when_asked_to_be_strict(
    api: Api, alice: Persona
) -> None:
    response = create(api, alice, {"url": "https://example.com/", "surprise": 1}, "?strict=true")
    assert response.status_code == 400
    error = body(response)["error"]
    assert (error["code"], error["field"], error["message"]) == (
        "invalid_field",
        "surprise",
        "unknown field",
    )
    assert body(api.get("/jobs", alice))["jobs"] == []


def test_it_answers_an_unknown_schedule_key_with_400_when_strict(api: Api, alice: Persona) -> None:
    job = {"url": "https://example.com/", "schedule": {"cron": "0 3 * * *", "every": "day"}}
    response = create(api, alice, job, "?strict=true")
    assert response.status_code == 400 and body(response)["error"]["field"] == "schedule"


def test_it_refuses_a_strict_that_is_neither_true_nor_false(api: Api, alice: Persona) -> None:
    response = create(api, alice, {"url": "https://example.com/"}, "?strict=yes")
    assert response.status_code == 400 and body(response)["error"]["field"] == "strict"


def test_it_keeps_the_400_for_a_key_created_strict(api: Api, alice: Persona) -> None:
    created = api.post("/keys", alice, {"name": "ci", "scopes": ["write"], "strict": True})
    assert created.status_code == 201 and body(created)["strict"] is True
    ci = Persona("ci", alice.account, body(created)["key"], body(created)["keyId"])
    response = create(api, ci, {"url": "https://example.com/", "surprise": 1}, "?strict=false")
    assert response.status_code == 400 and body(response)["error"]["field"] == "surprise"
    listed = {k["name"]: k["strict"] for k in body(api.get("/keys", alice))["keys"]}
    assert listed == {"alice": False, "ci": True}


def test_it_refuses_a_key_strict_that_is_not_a_boolean(api: Api, alice: Persona) -> None:
    response = api.post("/keys", alice, {"strict": "yes"})
    assert response.status_code == 400 and body(response)["error"]["field"] == "strict"


def test_it_ignores_unknown_fields_of_a_patch_and_names_them(api: Api, alice: Persona) -> None:
    job_id = body(create(api, alice, {"url": "https://example.com/"}))["jobId"]
    response = api.patch(f"/jobs/{job_id}", alice, {"job": {"title": "new", "titel": "typo"}})
    assert response.status_code == 200 and body(response) == {}
    assert response.headers[HEADER] == "titel"
    assert details(api, alice, job_id)["title"] == "new"


def test_it_refuses_an_unknown_field_of_a_patch_when_strict(api: Api, alice: Persona) -> None:
    job_id = body(create(api, alice, {"url": "https://example.com/", "title": "old"}))["jobId"]
    response = api.patch(
        f"/jobs/{job_id}?strict=true", alice, {"job": {"title": "new", "titel": "typo"}}
    )
    assert response.status_code == 400 and body(response)["error"]["field"] == "titel"
    assert details(api, alice, job_id)["title"] == "old"


def test_it_still_refuses_an_unknown_key_of_cronhooks_own_timing(api: Api, alice: Persona) -> None:
    job = {"url": "https://example.com/", "schedule": {"timing": {"hours": [3], "secs": [0]}}}
    response = create(api, alice, job)
    assert response.status_code == 400 and body(response)["error"]["field"] == "schedule.timing"


def test_it_percent_encodes_each_name_in_the_header(api: Api, alice: Persona) -> None:
    job = {"url": "https://example.com/", "a,b": 1, "line\r\nX-Evil: 1": 2, "café": 3}
    response = create(api, alice, job)
    assert response.status_code == 200, response.body
    assert response.headers[HEADER] == "a%2Cb,line%0D%0AX-Evil%3A%201,caf%C3%A9"
    assert "X-Evil" not in response.headers


def test_it_counts_the_names_past_fifty(api: Api, alice: Persona) -> None:
    job = {"url": "https://example.com/", **{f"extra{n}": n for n in range(53)}}
    listed = create(api, alice, job).headers[HEADER].split(",")
    assert len(listed) == 51 and listed[0] == "extra0" and listed[-1] == "+3"


def test_it_logs_the_ignored_fields(
    api: Api, alice: Persona, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="cronhook"):
        job_id = body(create(api, alice, {"url": "https://example.com/", "scheldule": {}}))["jobId"]
    (line,) = [r.getMessage() for r in caplog.records if "ignored unknown fields" in r.getMessage()]
    assert f"job {job_id} created" in line and alice.key_id in line and line.endswith("scheldule")


def test_it_ignores_nothing_unless_the_caller_asks_for_leniency(stores: Any) -> None:
    """The service is strict by default: the other dialects keep their own rules."""
    from chalicelib.config import Settings
    from chalicelib.service import Service

    svc = Service(stores, Settings())
    with pytest.raises(ValidationError) as raised:
        svc.create_job("acct", {"url": "https://example.com/", "surprise": 1})
    assert raised.value.field == "surprise"
    added = svc.add_job("acct", {"url": "https://example.com/", "surprise": 1}, strict=False)
    assert added.ignored == ("surprise",)


def test_it_leaves_values_that_are_not_objects_for_validation_to_refuse() -> None:
    kept, ignored = jobs.drop_unknown({"auth": "x", "schedule": None, "other": 1})
    assert kept == {"auth": "x", "schedule": None} and ignored == ["other"]


def test_it_leaves_header_names_and_kept_fields_alone() -> None:
    payload = {"extendedData": {"headers": {"X-Any": "1"}}, "keptFields": {"anything": 1}}
    assert jobs.drop_unknown(payload) == (payload, [])


def test_it_makes_personas_lenient_by_default(stores: Any) -> None:
    persona = make_persona(stores, "dave", "acct-dave", ["write"])
    key = stores.keys.get_by_id("acct-dave", persona.key_id)
    assert key is not None and key.strict is False
