"""Answers that say what is wrong with a request: its Content-Type, or a listing's columns."""

from __future__ import annotations

import json

import pytest

from tests.helpers import Api, Persona, body, new_job

PAYLOADS = [
    ("PUT", "/jobs", new_job()),
    ("POST", "/folders", {"folder": {"title": "reports"}}),
    ("PUT", "/scheduler", {"enabled": False}),
    ("POST", "/schedules/preview", {"schedule": {"cron": "* * * * *"}}),
    ("POST", "/keys", {"name": "bot", "scopes": ["read"]}),
]


@pytest.mark.parametrize(("method", "path", "payload"), PAYLOADS, ids=[p[1] for p in PAYLOADS])
def test_it_says_the_content_type_must_be_json_for_a_json_body_sent_as_text(
    api: Api, alice: Persona, method: str, path: str, payload: object
) -> None:
    response = api.call(
        method, path, alice, raw=json.dumps(payload), headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 400, response.body
    error = body(response)["error"]
    assert error["field"] == "Content-Type"
    assert error["message"].startswith("must be application/json")


def test_it_writes_nothing_for_a_body_of_another_content_type(api: Api, alice: Persona) -> None:
    form = "job=%7B%22url%22%3A%22https%3A%2F%2Fexample.com%22%7D"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert api.put("/jobs", alice, raw=form, headers=headers).status_code == 400
    assert body(api.get("/jobs", alice))["jobs"] == []


def test_it_takes_a_json_content_type_with_parameters(api: Api, alice: Persona) -> None:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    response = api.put("/jobs", alice, raw=json.dumps(new_job()), headers=headers)
    assert response.status_code == 200, response.body


def test_it_asks_for_the_wrapper_object_of_an_empty_json_body(api: Api, alice: Persona) -> None:
    response = api.put("/jobs", alice)
    assert body(response)["error"]["message"] == 'send a JSON body of the form {"job": {...}}'


@pytest.mark.parametrize("fmt", ["json", "text", "xml"])
def test_it_refuses_an_unknown_job_column_listing_the_known_ones(
    api: Api, alice: Persona, fmt: str
) -> None:
    api.put("/jobs", alice, new_job())
    response = api.get(f"/jobs?format={fmt}&columns=jobId,titel", alice)
    assert response.status_code == 400
    error = body(response)["error"]
    assert error["field"] == "columns"
    assert error["message"].startswith("unknown column 'titel'; the columns are ")
    assert "title" in error["message"] and "schedule.timezone" in error["message"]


def test_it_refuses_an_unknown_column_with_no_job_to_list(api: Api, alice: Persona) -> None:
    response = api.get("/jobs?format=text&columns=titel", alice)
    assert response.status_code == 400 and body(response)["error"]["field"] == "columns"


def test_it_takes_the_columns_of_every_schedule_form_with_no_job_to_list(
    api: Api, alice: Persona
) -> None:
    columns = "schedule.cron,schedule.at,schedule.mdays,schedule.timing.hours,nextExecution"
    assert api.get(f"/jobs?format=text&columns={columns}", alice).status_code == 200


@pytest.mark.parametrize("path", ["/history", "/jobs/{job}/history", "/runs"])
def test_it_refuses_an_unknown_history_column_listing_the_known_ones(
    api: Api, alice: Persona, path: str
) -> None:
    job_id = body(api.put("/jobs", alice, new_job()))["jobId"]
    where = path.format(job=job_id)
    response = api.get(f"{where}?format=text&columns=datePlanned,stats.totl", alice)
    assert response.status_code == 400
    error = body(response)["error"]
    assert error["field"] == "columns" and "'stats.totl'" in error["message"]
    assert "stats.total" in error["message"]
    ok = api.get(f"{where}?format=text&columns=datePlanned,stats.total,missedSlots", alice)
    assert ok.status_code == 200
