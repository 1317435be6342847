"""Long jobs that call back: a loopback target answers 202 and reports later (or never, or
twice); the run waits, and ends with the report as it would with an answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request as WRequest
from werkzeug import Response as WResponse

from chalicelib import callbacks
from chalicelib.config import Settings
from chalicelib.dispatch import Dispatcher, awaiting
from chalicelib.errors import Forbidden, NotFound, ValidationError
from chalicelib.notify import Notifier
from chalicelib.service import Service
from chalicelib.store.blobs import MemoryBlobs
from chalicelib.store.memory import memory_stores
from chalicelib.store.queue import MemoryQueue
from tests.dispatch.support import T0, Clock, World


@pytest.fixture
def world() -> World:
    settings = Settings(
        allow_private_targets=True,
        inline_max=50,
        inline_wait_s=125,
        default_request_timeout=5,
        public_url="http://cronhook.test/api",
    )
    stores = memory_stores()
    clock = Clock(T0 + 30)
    queue, blobs = MemoryQueue(), MemoryBlobs()
    notifier = Notifier(stores, settings, clock=clock)
    dispatcher = Dispatcher(
        stores, settings, queue, blobs, notifier, clock=clock, sleep=clock.sleep
    )
    return World(
        stores, settings, queue, blobs, clock, dispatcher, Service(stores, settings, clock=clock)
    )


@pytest.fixture
def target(httpserver: HTTPServer) -> Iterator[HTTPServer]:
    httpserver.expect_request("/long").respond_with_data("accepted", status=202)
    httpserver.expect_request("/next").respond_with_data("ok")
    yield httpserver
    httpserver.clear()


def long_job(world: World, target: HTTPServer, **fields: Any) -> int:
    return world.job(url=target.url_for("/long"), callback={"timeout": 600}, **fields)


def callback_url(target: HTTPServer, n: int = -1) -> str:
    calls = [r for r, _ in target.log if r.path == "/long"]
    return str(calls[n].headers[callbacks.HEADER])


def call_back(world: World, url: str, **report: Any) -> Any:
    assert url.startswith("http://cronhook.test/api/callbacks/")
    ref = url.rsplit("/", 1)[1]
    return awaiting.receive(world.dispatcher, ref, {"status": "success", **report})


def test_it_keeps_a_run_that_answered_202_waiting_for_its_callback(
    world: World, target: HTTPServer
) -> None:
    job_id = long_job(world, target)
    report = world.dispatcher.tick(T0 + 30)
    assert report["waiting_callback"] == 1
    (run,) = world.runs(job_id)
    assert run.state == "running" and run.data["statusText"] == "Waiting for callback"
    assert run.data["httpStatus"] == 202
    job = world.get(job_id)
    assert job.running == 1 and job.success_count == 0 and job.last_status == 0


def test_a_callback_later_ends_the_run_and_counts_its_duration(
    world: World, target: HTTPServer
) -> None:
    job_id = long_job(world, target)
    world.dispatcher.tick(T0 + 30)
    world.clock.now += 95
    done = call_back(world, callback_url(target), message="3 files", output="log...")
    assert done.state == "done" and done.data["status"] == 1
    assert done.data["statusText"] == "OK (callback): 3 files"
    assert done.data["callbackOutput"] == "log..."
    assert 95_000 <= done.data["duration"] < 96_000
    job = world.get(job_id)
    assert (job.running, job.success_count, job.last_status) == (0, 1, 1)


def test_a_second_callback_is_gone_and_changes_nothing(world: World, target: HTTPServer) -> None:
    job_id = long_job(world, target)
    world.dispatcher.tick(T0 + 30)
    url = callback_url(target)
    call_back(world, url)
    with pytest.raises(callbacks.Gone):
        call_back(world, url, status="failure")
    (run,) = world.runs(job_id)
    job = world.get(job_id)
    assert run.data["status"] == 1 and (job.success_count, job.failure_count) == (1, 0)


def test_a_run_whose_callback_never_comes_fails_at_its_timeout(
    world: World, target: HTTPServer
) -> None:
    job_id = long_job(world, target)
    world.dispatcher.tick(T0 + 30)
    url = callback_url(target)
    world.clock.now = T0 + 60 + 500
    assert world.dispatcher.tick(world.clock.now).get("no_callback", 0) == 0
    world.clock.now = T0 + 60 + 700
    report = world.dispatcher.tick(world.clock.now)
    assert report["no_callback"] == 1
    run = next(r for r in world.runs(job_id) if r.data["datePlanned"] == T0 + 60)
    assert run.state == "done" and run.data["status"] == callbacks.STATUS_FAILED
    assert run.data["statusText"] == "Failed: no callback within 600 s"
    job = world.get(job_id)
    assert job.failure_streak == 1 and job.failure_count == 1
    with pytest.raises(callbacks.Gone):
        call_back(world, url)


def test_a_forged_or_altered_callback_url_is_refused(world: World, target: HTTPServer) -> None:
    job_id = long_job(world, target)
    world.dispatcher.tick(T0 + 30)
    ref = callback_url(target).rsplit("/", 1)[1]
    payload, mac = ref.split(".")
    other = callbacks.Target("alice", job_id, "0-0-1", 4_000_000_000)
    forged = callbacks.reference(other, "whsec_not-the-jobs-secret")
    for bad in (f"{payload}.{'A' * len(mac)}", forged.split(".")[0] + "." + mac, forged):
        with pytest.raises(Forbidden):
            awaiting.receive(world.dispatcher, bad, {"status": "success"})
    with pytest.raises(NotFound):
        awaiting.receive(world.dispatcher, "nonsense", {"status": "success"})
    (run,) = world.runs(job_id)
    assert run.state == "running"


def test_a_bad_report_is_refused_and_the_run_keeps_waiting(
    world: World, target: HTTPServer
) -> None:
    job_id = long_job(world, target)
    world.dispatcher.tick(T0 + 30)
    ref = callback_url(target).rsplit("/", 1)[1]
    for report, field in (
        ({"status": "done"}, "status"),
        ({"status": "success", "output": "x" * 20_000}, "output"),
        ({"status": "success", "colour": 1}, "colour"),
    ):
        with pytest.raises(ValidationError) as caught:
            awaiting.receive(world.dispatcher, ref, report)
        assert caught.value.field == field
    (run,) = world.runs(job_id)
    assert run.state == "running"


def test_a_failure_callback_is_retried_and_streaks_count_it(
    world: World, target: HTTPServer
) -> None:
    job_id = long_job(world, target, retries=1, retryDelay=1)
    world.dispatcher.tick(T0 + 30)
    first = call_back(world, callback_url(target), status="failure", message="disk full")
    assert first.data["statusText"] == "Failed (callback): disk full"
    assert first.data["nextAttempt"] == 2
    world.work_queue()  # the retry: 202 again, waiting again
    assert len([r for r, _ in target.log if r.path == "/long"]) == 2
    call_back(world, callback_url(target), status="failure")
    job = world.get(job_id)
    assert (job.failure_streak, job.failure_count, job.running) == (1, 1, 0)


def test_a_waiting_run_holds_its_place_under_max_concurrent(
    world: World, target: HTTPServer
) -> None:
    job_id = long_job(world, target)
    world.dispatcher.tick(T0 + 30)
    world.clock.now = T0 + 90
    world.dispatcher.tick(world.clock.now)  # the 12:02 slot finds the 12:01 run in flight
    states = [(r.data["datePlanned"] - T0, r.state) for r in world.runs(job_id)]
    assert states == [(60, "running"), (120, "skipped")]
    call_back(world, callback_url(target))
    assert world.get(job_id).running == 0


def test_a_chain_starts_after_the_callback_not_the_202(world: World, target: HTTPServer) -> None:
    after = world.job(url=target.url_for("/next"), enabled=False)
    long_job(world, target, chainSuccess=after)
    world.dispatcher.tick(T0 + 30)
    world.work_queue()
    assert not [r for r, _ in target.log if r.path == "/next"]
    call_back(world, callback_url(target))
    world.work_queue()
    assert len([r for r, _ in target.log if r.path == "/next"]) == 1


def test_any_other_answer_ends_the_run_as_before(world: World, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/quick").respond_with_data("done", status=200)
    job_id = world.job(url=httpserver.url_for("/quick"), callback={"timeout": 60})
    world.dispatcher.tick(T0 + 30)
    (run,) = world.runs(job_id)
    assert run.state == "done" and run.data["status"] == 1
    (request, _) = httpserver.log[0]
    assert callbacks.HEADER in request.headers  # offered, not taken up
    with pytest.raises(callbacks.Gone):
        call_back(world, request.headers[callbacks.HEADER])


def test_a_callback_before_the_202_ends_the_run_when_the_202_comes(
    world: World, httpserver: HTTPServer
) -> None:
    early: list[Any] = []

    def quick(request: WRequest) -> WResponse:
        # A quick target: its work is done, and reported, before it answers the call.
        world.clock.now += 3
        ref = request.headers[callbacks.HEADER].rsplit("/", 1)[1]
        early.append(awaiting.receive(world.dispatcher, ref, {"status": "success", "message": "3"}))
        with pytest.raises(callbacks.Gone):  # single use, before the 202 too
            awaiting.receive(world.dispatcher, ref, {"status": "failure"})
        world.clock.now += 2
        return WResponse("accepted", status=202)

    httpserver.expect_request("/quick").respond_with_handler(quick)
    job_id = world.job(url=httpserver.url_for("/quick"), callback={"timeout": 600})
    report = world.dispatcher.tick(T0 + 30)
    assert report["callback_early"] == 1 and "waiting_callback" not in report
    assert early[0].state in ("queued", "running")  # kept, not yet the run's end
    (run,) = world.runs(job_id)
    assert run.state == "done" and run.data["statusText"] == "OK (callback): 3"
    assert 3_000 <= run.data["duration"] < 4_000  # counted to the callback, not the 202
    job = world.get(job_id)
    assert (job.running, job.success_count, job.last_status) == (0, 1, 1)


def test_a_callback_before_the_202_is_accepted_by_the_route(
    api: Any, alice: Any, settings: Any, httpserver: HTTPServer
) -> None:
    from tests.helpers import queued_messages
    from tests.test_runs_api import create, work_through_the_lambda

    answers: list[Any] = []

    def quick(request: WRequest) -> WResponse:
        ref = request.headers[callbacks.HEADER].rsplit("/", 1)[1]
        answers.append(api.post(f"/callbacks/{ref}", None, {"status": "success"}))
        answers.append(api.post(f"/callbacks/{ref}", None, {"status": "success"}))
        return WResponse("accepted", status=202)

    httpserver.expect_request("/quick").respond_with_handler(quick)
    job_id = create(api, alice, url=httpserver.url_for("/quick"), callback={"timeout": 60})
    run_id = api.post(f"/jobs/{job_id}/run", alice).json_body["runId"]
    work_through_the_lambda(api, queued_messages(settings))
    assert [a.status_code for a in answers] == [202, 410]
    assert answers[0].json_body["run"]["state"] in ("queued", "running")
    done = api.get(f"/runs/{run_id}", alice).json_body["run"]
    assert done["state"] == "done" and done["statusText"] == "OK (callback)"


def test_a_retry_after_a_failed_callback_keeps_the_run_nows_overrides(
    world: World, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/long").respond_with_data("accepted", status=202)
    httpserver.expect_request("/other").respond_with_data("accepted", status=202)
    job_id = world.job(url=httpserver.url_for("/long"), callback={"timeout": 600}, retries=1)
    overrides = {
        "url": httpserver.url_for("/other"),
        "body": "payload",
        "headers": {"X-Trace": "t-1", "Authorization": "Bearer run-only"},
    }
    world.dispatcher.start_now(world.get(job_id), overrides=overrides)
    world.work_queue()
    (first, _) = httpserver.log[-1]
    assert first.path == "/other" and first.headers["Authorization"] == "Bearer run-only"
    (waiting,) = [r for r in world.runs(job_id) if r.state == "running"]
    assert "run-only" not in repr(waiting.data)  # no credential in clear on the record
    call_back(world, first.headers[callbacks.HEADER], status="failure")
    world.work_queue()
    (retry, _) = httpserver.log[-1]
    assert (retry.path, retry.get_data(as_text=True)) == ("/other", "payload")
    assert retry.headers["X-Trace"] == "t-1" and "Authorization" not in retry.headers


def test_the_202_answer_is_saved_with_save_responses(world: World, target: HTTPServer) -> None:
    job_id = long_job(world, target, saveResponses=True)
    world.dispatcher.tick(T0 + 30)
    (run,) = world.runs(job_id)
    assert world.blobs.get(run.data["responseKey"])["body"] == "accepted"
    done = call_back(world, callback_url(target))
    assert done.data["responseKey"] == run.data["responseKey"]


@pytest.mark.parametrize("callback", [{"timeout": 9}, {"timeout": 86401}, {}, {"after": 5}, 5])
def test_it_rejects_a_bad_callback_setting(world: World, callback: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        world.job(url="https://example.com/", callback=callback)
    assert str(caught.value.field).startswith("callback")


# ---- through the API ------------------------------------------------------------------------


def test_the_callback_route_ends_the_run_once_and_answers_410_after(
    api: Any, alice: Any, settings: Any, httpserver: HTTPServer
) -> None:
    from tests.helpers import queued_messages
    from tests.test_runs_api import create, work_through_the_lambda

    httpserver.expect_request("/long").respond_with_data("accepted", status=202)
    job_id = create(api, alice, url=httpserver.url_for("/long"), callback={"timeout": 60})
    run_id = api.post(f"/jobs/{job_id}/run", alice).json_body["runId"]
    work_through_the_lambda(api, queued_messages(settings))
    waiting = api.get(f"/runs/{run_id}", alice).json_body["run"]
    assert waiting["state"] == "running" and waiting["statusText"] == "Waiting for callback"
    (request, _) = httpserver.log[0]
    ref = request.headers[callbacks.HEADER].rsplit("/", 1)[1]
    path = f"/callbacks/{ref}"
    answer = api.post(path, None, {"status": "success", "message": "done"})
    assert answer.status_code == 200, answer.body
    assert answer.json_body["run"]["statusText"] == "OK (callback): done"
    again = api.post(path, None, {"status": "success"})
    assert again.status_code == 410 and again.json_body["error"]["code"] == "gone"
    assert api.post("/callbacks/x.y", None, {"status": "success"}).status_code == 404
    altered = path[:-1] + ("A" if path[-1] != "A" else "B")
    assert api.post(altered, None, {"status": "success"}).status_code == 403
    done = api.get(f"/runs/{run_id}", alice).json_body["run"]
    assert done["state"] == "done" and done["status"] == 1
    details = api.get(f"/jobs/{job_id}", alice).json_body["jobDetails"]
    assert details["callback"] == {"timeout": 60} and details["successCount"] == 1


def test_a_run_aborted_while_it_waits_ends_aborted_with_its_callback(
    world: World, target: HTTPServer
) -> None:
    after = world.job(url=target.url_for("/next"), enabled=False)
    job_id = long_job(world, target, chainSuccess=after)
    world.dispatcher.tick(T0 + 30)
    (run,) = world.runs(job_id)
    world.service.abort_run("alice", run.run_id, "ops")
    done = call_back(world, callback_url(target))
    assert done.state == "aborted" and done.data["statusText"] == "Aborted by ops"
    world.work_queue()
    assert not [r for r, _ in target.log if r.path == "/next"]
    assert world.get(job_id).running == 0
