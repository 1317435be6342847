"""Details a cron-job.org client relies on: a real jobLogId per job, and a body read only when
its Content-Type says JSON."""

from __future__ import annotations

import json
from typing import Any

from pytest_httpserver import HTTPServer

from tests.helpers import Api, Persona, body, new_job, queued_messages


def _run_now_and_work(api: Api, who: Persona, job_id: int, settings: Any, times: int) -> None:
    for _ in range(times):
        assert api.post(f"/jobs/{job_id}/run", who).status_code == 202
    bodies = queued_messages(settings)
    for text in bodies:  # one message at a time: the calls happen in order
        event = api.client.events.generate_sqs_event(message_bodies=[text], queue_name="dispatch")
        api.client.lambda_.invoke("worker", event)


def _log_ids(api: Api, who: Persona, job_id: int) -> list[int]:
    history = body(api.get(f"/jobs/{job_id}/history", who))["history"]
    return [item["jobLogId"] for item in reversed(history)]  # oldest first


def test_it_gives_each_call_of_a_job_its_own_log_id(
    api: Api, alice: Persona, settings: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    job_id = body(api.put("/jobs", alice, new_job(url=httpserver.url_for("/hook"))))["jobId"]
    _run_now_and_work(api, alice, job_id, settings, 3)
    ids = _log_ids(api, alice, job_id)
    assert len(ids) == 3 and len(set(ids)) == 3 and min(ids) >= 1


def test_it_gives_each_call_an_identifier_that_grows_with_time(
    api: Api, alice: Persona, settings: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    job = new_job(url=httpserver.url_for("/hook"))
    first = body(api.put("/jobs", alice, job))["jobId"]
    second = body(api.put("/jobs", alice, job))["jobId"]
    _run_now_and_work(api, alice, first, settings, 2)
    _run_now_and_work(api, alice, second, settings, 1)
    ids = _log_ids(api, alice, first)
    (other,) = _log_ids(api, alice, second)
    # Two run-nows of one millisecond have no order in the history: compare as a set.
    assert len(set(ids)) == 2 and min(ids) > 0 and max(ids) < other < 2**53


def test_it_ignores_a_body_sent_without_a_content_type(api: Api, alice: Persona) -> None:
    headers = {"Authorization": f"Bearer {alice.key}"}  # and no Content-Type
    response = api.client.http.put("/jobs", headers=headers, body=json.dumps(new_job()))
    assert response.status_code == 400
    assert body(response)["error"]["field"] == "Content-Type"
    assert body(api.get("/jobs", alice))["jobs"] == []


def test_it_takes_a_request_without_a_content_type_or_a_body(api: Api, alice: Persona) -> None:
    job_id = body(api.put("/jobs", alice, new_job()))["jobId"]
    headers = {"Authorization": f"Bearer {alice.key}"}
    assert api.client.http.post(f"/jobs/{job_id}/pause", headers=headers).status_code == 200
