"""Runs through the API: run now, the queue worker, history with predictions, details."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import boto3
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response as WResponse

from chalicelib import dispatch, wiring
from chalicelib.crypto import is_sealed
from tests.helpers import (
    Api,
    Persona,
    all_runs,
    body,
    create_jobs,
    new_job,
    queued_messages,
    sent_tasks,
)


def work_through_the_lambda(api: Api, bodies: list[str]) -> Any:
    event = api.client.events.generate_sqs_event(message_bodies=bodies, queue_name="dispatch")
    return api.client.lambda_.invoke("worker", event)


def create(api: Api, who: Persona, **fields: Any) -> int:
    response = api.put("/jobs", who, new_job(**fields))
    assert response.status_code == 200, response.body
    return int(body(response)["jobId"])


def test_it_runs_a_job_now_and_shows_it_in_history(
    api: Api, alice: Persona, settings: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook").respond_with_data("hello", headers={"X-Reply": "1"})
    job_id = create(api, alice, url=httpserver.url_for("/hook"), saveResponses=True)
    response = api.post(f"/jobs/{job_id}/run", alice)
    assert response.status_code == 202
    run_id = body(response)["runId"]
    assert body(api.get(f"/runs/{run_id}", alice))["run"]["state"] == "queued"
    assert [r["identifier"] for r in body(api.get("/runs?state=active", alice))["runs"]] == [run_id]

    result = work_through_the_lambda(api, queued_messages(settings))
    assert result.payload == {"batchItemFailures": [], "report": {"ok": 1}}

    run = body(api.get(f"/runs/{run_id}", alice))["run"]
    assert run["state"] == "done" and run["status"] == 1 and run["httpStatus"] == 200
    assert run["trigger"] == "manual" and run["stats"]["total"] > 0
    history = body(api.get(f"/jobs/{job_id}/history", alice))
    assert [h["identifier"] for h in history["history"]] == [run_id]
    assert history["history"][0]["headers"] is None and history["history"][0]["body"] is None
    assert len(history["predictions"]) == 3 and history["predictions"] == sorted(
        history["predictions"]
    )
    assert history["totals"] == {"success": 1, "failure": 0, "successRate": 100.0}
    details = body(api.get(f"/jobs/{job_id}/history/{run_id}", alice))["jobHistoryDetails"]
    assert details["body"] == "hello" and "X-Reply: 1\r\n" in details["headers"]
    assert body(api.get("/runs?state=active", alice))["runs"] == []
    everything = body(api.get("/history", alice))["history"]
    assert [h["identifier"] for h in everything] == [run_id]


def test_a_runs_state_is_its_latest_attempt(
    api: Api, alice: Persona, settings: Any, httpserver: HTTPServer
) -> None:
    replies = iter([("busy", 503), ("fine", 200)])
    httpserver.expect_request("/flaky").respond_with_handler(
        lambda request: WResponse(*next(replies))
    )
    job_id = create(api, alice, url=httpserver.url_for("/flaky"), retries=2, retryDelay=1)
    run_id = body(api.post(f"/jobs/{job_id}/run", alice))["runId"]
    work_through_the_lambda(api, queued_messages(settings))
    waiting = body(api.get(f"/runs/{run_id}", alice))["run"]
    # The first attempt failed and is retried: the run is not over, and not failed.
    assert (waiting["state"], waiting["attempt"], waiting["runId"]) == ("queued", 2, run_id)
    work_through_the_lambda(api, queued_messages(settings, wait_s=10))
    done = body(api.get(f"/runs/{run_id}", alice))["run"]
    assert (done["state"], done["status"], done["attempt"]) == ("done", 1, 2)
    assert done["runId"] == run_id and done["httpStatus"] == 200


def test_it_runs_now_with_another_body(
    api: Api, alice: Persona, settings: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook", method="POST", data="special").respond_with_data("ok")
    job_id = create(
        api,
        alice,
        url=httpserver.url_for("/hook"),
        requestMethod="POST",
        extendedData={"headers": {}, "body": "usual"},
    )
    response = api.post(f"/jobs/{job_id}/run", alice, {"extendedData": {"body": "special"}})
    assert response.status_code == 202
    work_through_the_lambda(api, queued_messages(settings))
    run = body(api.get(f"/runs/{body(response)['runId']}", alice))["run"]
    assert run["status"] == 1, run


def test_it_does_nothing_on_a_duplicate_sqs_delivery(
    api: Api, alice: Persona, settings: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    job_id = create(api, alice, url=httpserver.url_for("/hook"))
    api.post(f"/jobs/{job_id}/run", alice)
    messages = queued_messages(settings)
    work_through_the_lambda(api, messages)
    second = work_through_the_lambda(api, messages)
    assert second.payload == {"batchItemFailures": [], "report": {"duplicate": 1}}
    assert len(httpserver.log) == 1


def test_it_needs_the_run_scope_to_run_now(api: Api, alice: Persona, carol: Persona) -> None:
    job_id = create(api, alice)
    response = api.post(f"/jobs/{job_id}/run", carol)
    assert response.status_code == 403


def test_it_rejects_overrides_of_other_fields(api: Api, alice: Persona) -> None:
    job_id = create(api, alice)
    response = api.post(f"/jobs/{job_id}/run", alice, {"retries": 3})
    assert response.status_code == 400 and body(response)["error"]["field"] == "retries"
    wrong = api.post(f"/jobs/{job_id}/run", alice, {"url": "ftp://elsewhere.example/"})
    assert wrong.status_code == 400 and body(wrong)["error"]["field"] == "url"
    slow = api.post(f"/jobs/{job_id}/run", alice, {"requestTimeout": 301})
    assert slow.status_code == 400 and body(slow)["error"]["field"] == "requestTimeout"
    bad = api.post(f"/jobs/{job_id}/run", alice, {"extendedData": {"headers": {"X": "a\nb"}}})
    assert bad.status_code == 400
    assert body(bad)["error"]["field"] == "extendedData.headers.X"


def test_it_hides_runs_of_other_accounts(api: Api, alice: Persona, bob: Persona) -> None:
    job_id = create(api, alice)
    run_id = body(api.post(f"/jobs/{job_id}/run", alice))["runId"]
    assert api.get(f"/runs/{run_id}", bob).status_code == 404
    assert api.get(f"/jobs/{job_id}/history", bob).status_code == 404
    assert api.get(f"/jobs/{job_id}/history/{run_id}", bob).status_code == 404
    assert api.post(f"/jobs/{job_id}/run", bob).status_code == 404
    assert body(api.get("/history", bob))["history"] == []
    assert api.get("/runs/not-a-run", alice).status_code == 404
    assert api.get("/runs/1-\u00b2-1", alice).status_code == 404  # "²" passes str.isdigit()


def test_it_pages_history_newest_first(api: Api, alice: Persona, stores: Any) -> None:
    from chalicelib.store.base import RunRecord

    job_id = create(api, alice)
    for n in range(5):
        stores.runs.put(
            RunRecord(
                alice.account,
                job_id,
                f"{n:013d}-{job_id}-1",
                "done",
                {"datePlanned": n, "status": 1},
            )
        )
    first = body(api.get(f"/jobs/{job_id}/history?limit=2", alice))
    assert [h["datePlanned"] for h in first["history"]] == [4, 3]
    second = body(api.get(f"/jobs/{job_id}/history?limit=2&cursor={first['cursor']}", alice))
    assert [h["datePlanned"] for h in second["history"]] == [2, 1]
    for limit in ("0", "101", "9" * 5000, "\u0661\u0660"):  # the last: 10 in Arabic-Indic digits
        assert api.get(f"/jobs/{job_id}/history?limit={limit}", alice).status_code == 400
        assert api.get(f"/history?limit={limit}", alice).status_code == 400
    for limit in ("0000000002", "0" * 5000 + "2"):  # leading zeros, as the document allows
        page = body(api.get(f"/jobs/{job_id}/history?limit={limit}", alice))
        assert [h["datePlanned"] for h in page["history"]] == [4, 3]
    text = api.get(f"/jobs/{job_id}/history?format=text&columns=datePlanned,status", alice)
    assert text.body.decode().splitlines()[:2] == ['"datePlanned","status"', '"4","1"']


def test_it_refuses_a_crafted_history_cursor_with_400(
    api: Api, alice: Persona, stores: Any
) -> None:
    import base64

    from chalicelib.store.base import RunRecord

    job_id = create(api, alice)
    for n in range(3):
        run_id = f"{n:013d}-{job_id}-1"
        stores.runs.put(RunRecord(alice.account, job_id, run_id, "done", {"datePlanned": n}))
    own = f"{alice.account}#{job_id}"
    first = body(api.get("/history?limit=1", alice))
    assert body(api.get(f"/history?limit=1&cursor={first['cursor']}", alice))["history"]

    def cursor(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()

    run = f"{1:013d}-{job_id}-1"
    crafted = [  # each was a 500: DynamoDB refuses it as ExclusiveStartKey
        ("/history", {"account_id": alice.account, "run_id": run, "job_key": 1.5}),
        ("/history", {"account_id": alice.account, "run_id": run, "job_key": 10**40}),
        ("/history", {"account_id": alice.account, "run_id": run, "job_key": "bob#1"}),
        ("/history", {"account_id": alice.account, "run_id": "", "job_key": own}),
        (f"/jobs/{job_id}/history", {"job_key": own, "run_id": run, "q": 1.5}),
        (f"/jobs/{job_id}/history", {"job_key": own, "run_id": [run]}),
        (f"/jobs/{job_id}/history", {"job_key": own}),
    ]
    for path, data in crafted:
        response = api.get(f"{path}?limit=1&cursor={cursor(data)}", alice)
        assert response.status_code == 400, (path, data, response.body)
        assert body(response)["error"]["field"] == "cursor"


def test_it_sets_where_notifications_go(api: Api, alice: Persona, carol: Persona) -> None:
    assert body(api.get("/notifications", alice)) == {"url": "", "email": ""}
    response = api.put(
        "/notifications", alice, {"url": "https://hooks.example/cron", "email": "ops@example.com"}
    )
    assert response.status_code == 200
    saved = body(response)
    assert saved["signingSecret"].startswith("whsec_")
    assert body(api.get("/notifications", alice)) == {
        "url": "https://hooks.example/cron",
        "email": "ops@example.com",
    }
    assert "signingSecret" not in body(api.put("/notifications", alice, {"email": ""}))
    assert api.put("/notifications", carol, {"email": ""}).status_code == 403
    bad = api.put("/notifications", alice, {"email": "not-an-address"})
    assert bad.status_code == 400 and body(bad)["error"]["field"] == "email"


def notices_after_a_failure(api: Api, who: Persona, settings: Any, server: HTTPServer) -> Any:
    """Run a failing job that notifies on its first failure; the notification POSTs received."""
    server.expect_request("/down").respond_with_data("broken", status=500)
    server.expect_request("/notify").respond_with_data("thanks")
    job_id = create(
        api, who, url=server.url_for("/down"), notification={"onFailure": True, "onFailureCount": 1}
    )
    api.post(f"/jobs/{job_id}/run", who)
    work_through_the_lambda(api, queued_messages(settings))
    return [r for r, _ in server.log if r.path == "/notify"]


def test_it_signs_notifications_with_the_sealed_secret(
    api: Api, alice: Persona, settings: Any, stores: Any, httpserver: HTTPServer
) -> None:
    from standardwebhooks import Webhook

    from chalicelib.notify import settings_key

    hook = body(api.put("/notifications", alice, {"url": httpserver.url_for("/notify")}))
    stored = stores.state.get_value(settings_key(alice.account))
    assert is_sealed(stored["secret"])
    (notice,) = notices_after_a_failure(api, alice, settings, httpserver)
    verified = Webhook(hook["signingSecret"]).verify(notice.get_data(), dict(notice.headers))
    assert verified["type"] == "job.failed"


def test_it_signs_with_a_secret_stored_in_clear_and_seals_it_on_the_next_change(
    api: Api, alice: Persona, settings: Any, stores: Any, httpserver: HTTPServer
) -> None:
    from standardwebhooks import Webhook

    from chalicelib import signing
    from chalicelib.notify import settings_key

    secret = signing.new_secret()  # as stored before notification secrets were sealed
    legacy = {"url": httpserver.url_for("/notify"), "email": "", "secret": secret}
    stores.state.put_value(settings_key(alice.account), legacy)
    (notice,) = notices_after_a_failure(api, alice, settings, httpserver)
    Webhook(secret).verify(notice.get_data(), dict(notice.headers))
    assert "signingSecret" not in body(api.put("/notifications", alice, {"email": "a@b.example"}))
    stored = stores.state.get_value(settings_key(alice.account))
    assert is_sealed(stored["secret"]) and secret not in json.dumps(stored)


def test_it_ticks_through_the_scheduled_lambda_on_the_planned_second(
    api: Api, alice: Persona, httpserver: HTTPServer
) -> None:
    from datetime import UTC, datetime

    httpserver.expect_request("/hook").respond_with_data("ok")
    fire_at = int(time.time()) + 2  # within the tick's inline wait: it runs the job itself
    at = datetime.fromtimestamp(fire_at, UTC).isoformat()
    # Saved while the scheduler is off, so that the save does not claim the slot itself.
    api.put("/scheduler", alice, {"enabled": False})
    job_id = create(api, alice, url=httpserver.url_for("/hook"), schedule={"at": at})
    api.put("/scheduler", alice, {"enabled": True})
    event = api.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    result = api.client.lambda_.invoke("tick", event)
    assert result.payload["claimed"] == 1 and result.payload["ok"] == 1
    (item,) = body(api.get(f"/jobs/{job_id}/history", alice))["history"]
    assert item["datePlanned"] == fire_at and item["status"] == 1
    assert 0 <= item["jitter"] < 1000
    assert body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]["nextExecution"] is None


def test_a_job_saved_mid_minute_claims_its_slot_at_once_not_at_the_next_tick(
    api: Api, alice: Persona, settings: Any
) -> None:
    from datetime import UTC, datetime

    while time.time() % 60 > 56:  # the slot must fall in the minute the job is saved in
        time.sleep(0.5)
    fire_at = int(time.time()) + 3
    at = datetime.fromtimestamp(fire_at, UTC).isoformat()
    job_id = create(api, alice, url="http://127.0.0.1:9/", schedule={"at": at})
    assert body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]["nextExecution"] == fire_at
    (message,) = queued_messages(settings, wait_s=5)  # SQS holds it until its second
    (task,) = json.loads(message)["tasks"]
    assert task["job"] == job_id and task["runs"] == [f"{fire_at * 1000}-{job_id}-1"]
    event = api.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    assert api.client.lambda_.invoke("tick", event).payload.get("claimed", 0) == 0


@pytest.mark.backend("moto")  # counts DynamoDB calls; the SQLite races are in test_concurrency
def test_it_claims_each_of_200_slots_once_across_3_racing_ticks(stores: Any, settings: Any) -> None:
    from dataclasses import replace

    from chalicelib.service import Service
    from chalicelib.store.blobs import MemoryBlobs
    from chalicelib.store.queue import MemoryQueue

    now = (int(time.time()) // 60) * 60 + 5
    template, _ = Service(stores, settings, clock=lambda: now).create_job(
        "racers", {"url": "http://127.0.0.1:9/", "enabled": True, "schedule": {"cron": "* * * * *"}}
    )
    ids = [template.job_id + n for n in range(200)]
    create_jobs(stores, [replace(template, job_id=job_id) for job_id in ids[1:]])
    scans: list[str] = []
    client = stores.jobs.table.meta.client
    client.meta.events.register("before-call.dynamodb.Scan", lambda **kw: scans.append("scan"))
    # DynamoDB applies each item write atomically; moto, called from threads, does not. One
    # call at a time restores that guarantee (and only that) for this race.
    atomic = threading.RLock()

    def enter(**kw: Any) -> None:  # a before-call handler that returned a value would stub
        atomic.acquire()

    def leave(**kw: Any) -> None:
        atomic.release()

    client.meta.events.register("before-call.dynamodb", enter)
    client.meta.events.register("after-call.dynamodb", leave)
    client.meta.events.register("after-call-error.dynamodb", leave)
    queue = MemoryQueue()
    dispatcher = dispatch.Dispatcher(
        stores, replace(settings, inline_max=0), queue, MemoryBlobs(), clock=lambda: now
    )
    threads = [threading.Thread(target=dispatcher.tick, args=(now,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tasks = sent_tasks(queue.drain())
    assert len(tasks) == 200
    assert sorted(task["job"] for task, _ in tasks) == ids
    runs = all_runs(stores, "racers")
    assert sorted(r.job_id for r in runs) == ids and {r.state for r in runs} == {"queued"}
    assert scans == []
    assert wiring.stores() is stores


@pytest.mark.backend("moto")
def test_it_mails_a_failure_notice_through_ses(
    api: Api, alice: Persona, settings: Any, httpserver: HTTPServer
) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    boto3.client("ses", region_name="us-east-1").verify_email_identity(
        EmailAddress=settings.notify_from
    )
    httpserver.expect_request("/down").respond_with_data("broken", status=500)
    api.put("/notifications", alice, {"email": "ops@example.com"})
    job_id = create(
        api,
        alice,
        title="Nightly export",
        url=httpserver.url_for("/down"),
        notification={"onFailure": True, "onFailureCount": 1},
    )
    api.post(f"/jobs/{job_id}/run", alice)
    work_through_the_lambda(api, queued_messages(settings))
    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    (mail,) = sent
    assert mail.destinations["ToAddresses"] == ["ops@example.com"]
    assert mail.subject == "[cronhook] Job Nightly export is failing"
    assert f"jobId: {job_id}" in mail.body and "httpStatus: 500" in mail.body


@pytest.mark.backend("moto")  # the `due` index is DynamoDB's
def test_it_claims_every_slot_once_over_20_minutes_while_frequent_jobs_stay_in_the_index(
    stores: Any, settings: Any
) -> None:
    # On DynamoDB a claim whose next slot is due for the next tick leaves the job's `due` index
    # key alone (one write instead of three), and one whose next slot is later takes the job
    # out of the index for a wake list. Ticks at a fixed second of each minute, with a
    # duplicate tick now and then, must still claim each slot of every job exactly once.
    from dataclasses import replace

    from chalicelib.schedule import Schedule
    from chalicelib.service import Service
    from chalicelib.store.blobs import MemoryBlobs
    from chalicelib.store.queue import MemoryQueue

    start = (int(time.time()) // 3600 + 1) * 3600
    clock = [float(start - 60)]
    service = Service(stores, settings, clock=lambda: clock[0])
    crons = ["* * * * *", "*/2 * * * *", "*/7 * * * *", "5,6,7 * * * *"]
    jobs = [
        service.create_job(
            "stayers", {"url": "http://127.0.0.1:9/", "enabled": True, "schedule": {"cron": c}}
        )[0]
        for c in crons
    ]
    index_moves: list[str] = []

    def note(params: Any, **kw: Any) -> None:
        if "next_run_at = :next" in params.get("UpdateExpression", ""):
            index_moves.append(params["Key"]["job_id"])

    client = stores.jobs.table.meta.client
    client.meta.events.register("provide-client-params.dynamodb.UpdateItem", note)
    queued_only = replace(settings, inline_max=0)
    dispatcher = dispatch.Dispatcher(
        stores, queued_only, MemoryQueue(), MemoryBlobs(), clock=lambda: clock[0]
    )
    for minute in range(20):
        clock[0] = start - 60 + 60 * minute + 37
        dispatcher.tick(clock[0])
        if minute % 6 == 3:
            dispatcher.tick(clock[0] + 5)  # EventBridge delivered this minute's tick twice
    until = start + 60 * 20 - 1  # the last tick's window
    runs = all_runs(stores, "stayers")
    for job, cron in zip(jobs, crons, strict=True):
        planned = Schedule.parse({"cron": cron}).upcoming(1000, start - 1)
        expected = [p for p in planned if p <= until]
        got = sorted(r.data["datePlanned"] for r in runs if r.job_id == job.job_id)
        assert got == expected, cron
    # The minutely job moved in the index once (its first claim is not yet a stay); the job
    # due every 7 minutes left it for the wake lists at its first claim and never moved in it.
    moves = {j.job_id: index_moves.count(-j.job_id) for j in jobs}
    assert moves[jobs[0].job_id] <= 1
    assert moves[jobs[2].job_id] == 0
    sevens = jobs[2].job_id
    assert ("stayers", sevens) not in stores.jobs.due(sevens % settings.due_shards, 2**40, 100)


def test_a_deleted_jobs_runs_leave_the_history_with_it(
    api: Api, alice: Persona, settings: Any, httpserver: HTTPServer
) -> None:
    # As on cron-job.org: deleting a job deletes its history (the items expire by their TTL).
    httpserver.expect_request("/hook").respond_with_data("ok")
    kept, gone = (create(api, alice, url=httpserver.url_for("/hook")) for _ in range(2))
    run_ids = [body(api.post(f"/jobs/{j}/run", alice))["runId"] for j in (kept, gone)]
    work_through_the_lambda(api, queued_messages(settings))
    assert len(body(api.get("/history", alice))["history"]) == 2
    assert api.delete(f"/jobs/{gone}", alice).status_code == 200
    assert [h["jobId"] for h in body(api.get("/history", alice))["history"]] == [kept]
    assert api.get(f"/runs/{run_ids[0]}", alice).status_code == 200
    assert api.get(f"/runs/{run_ids[1]}", alice).status_code == 404
    assert api.get(f"/jobs/{gone}/history", alice).status_code == 404


def test_it_sends_the_sealed_header_values_to_the_target(
    api: Api, alice: Persona, settings: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    headers = {"Authorization": "Bearer s3cr3t", "X-Token": "t0k3n"}
    job_id = create(
        api,
        alice,
        url=httpserver.url_for("/hook"),
        extendedData={"headers": headers, "body": ""},
        secretHeaders=["X-Token"],
    )
    api.post(f"/jobs/{job_id}/run", alice)
    work_through_the_lambda(api, queued_messages(settings))
    (request, _), *_ = httpserver.log
    assert request.headers["Authorization"] == "Bearer s3cr3t"
    assert request.headers["X-Token"] == "t0k3n"


def test_it_refuses_a_run_now_that_would_carry_secret_headers_to_another_origin(
    api: Api, alice: Persona
) -> None:
    job_id = create(
        api,
        alice,
        url="https://a.example/",
        extendedData={"headers": {"Cookie": "sid=1"}, "body": ""},
    )
    refused = api.post(f"/jobs/{job_id}/run", alice, {"url": "https://b.example/"})
    assert refused.status_code == 400
    assert body(refused)["error"]["field"] == "url"


def test_a_poisoned_message_fails_alone_and_the_rest_of_its_batch_is_done(
    api: Api, alice: Persona, settings: Any, stores: Any, httpserver: HTTPServer
) -> None:
    """Lambda's partial batch response: the message whose task raised comes back, the others of
    its batch are done (and not run again)."""
    from scripts.reliability import record

    httpserver.expect_request("/hook").respond_with_data("ok")
    healthy = create(api, alice, url=httpserver.url_for("/hook"))
    poisoned = create(api, alice, url=httpserver.url_for("/hook"))
    api.post(f"/jobs/{healthy}/run", alice)
    bad_run = body(api.post(f"/jobs/{poisoned}/run", alice))["runId"]
    run = stores.runs.get(alice.account, poisoned, bad_run)
    run.data = {k: v for k, v in run.data.items() if k != "deliverAt"}  # unreadable by the task
    stores.runs.put(run)
    bodies = queued_messages(settings)
    assert len(bodies) == 2
    event = api.client.events.generate_sqs_event(message_bodies=bodies, queue_name="dispatch")
    ids = [r["messageId"] for r in event["Records"]]
    poisoned_at = next(n for n, text in enumerate(bodies) if f'"job": {poisoned}' in text)
    result = api.client.lambda_.invoke("worker", event)
    failed = [f["itemIdentifier"] for f in result.payload["batchItemFailures"]]
    record(
        "batch",
        "one task raises: only its message comes back",
        tried=1,
        wrong=int(failed != [ids[poisoned_at]]),
    )
    assert failed == [ids[poisoned_at]]
    assert len([r for r, _ in httpserver.log if r.path == "/hook"]) == 1  # the healthy job ran
