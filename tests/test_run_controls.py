"""cronhook's own run controls and job bookkeeping: abort, change a run in flight, the cursor
(time machine), run-now overrides, jobs by title, notes and who changed a job."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from chalicelib import dispatch
from tests.helpers import Api, Persona, body, new_job
from tests.test_runs_api import create, queued_messages


class StallingTarget:
    """A loopback HTTP target that reads a request and answers nothing for `stall_s` seconds;
    it notes when the caller closes the connection."""

    def __init__(self, stall_s: float = 20.0) -> None:
        self.stall_s = stall_s
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.requests = 0
        self.closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/stall"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            self.requests += 1
            conn.settimeout(self.stall_s)
            try:
                if conn.recv(1) == b"":
                    self.closed.set()  # the caller hung up
            except (TimeoutError, OSError):
                return

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def stalling() -> Iterator[StallingTarget]:
    target = StallingTarget()
    yield target
    target.close()


def _in_thread(target: Any, *args: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(target(*args)), daemon=True)
    thread.start()
    return thread, out


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def _abort_within_a_second(
    api: Api, who: Persona, run_id: str, runner: threading.Thread, target: StallingTarget
) -> float:
    _wait_for(lambda: target.requests == 1)
    asked = time.monotonic()
    response = api.post(f"/runs/{run_id}/abort", who)
    assert response.status_code == 200, response.body
    runner.join(timeout=10)
    took = time.monotonic() - asked
    assert not runner.is_alive()
    assert target.closed.wait(5), "the target never saw its connection closed"
    return took


def test_it_aborts_a_run_in_flight_in_the_worker_and_nothing_follows(
    api: Api, alice: Persona, settings: Any, stalling: StallingTarget, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/next").respond_with_data("ok")
    chained = create(api, alice, url=httpserver.url_for("/next"), enabled=False)
    job_id = create(api, alice, url=stalling.url, retries=3, retryDelay=1, chainFailure=chained)
    run_id = body(api.post(f"/jobs/{job_id}/run", alice))["runId"]
    runner, _ = _in_thread(dispatch.work, queued_messages(settings), time.time())
    took = _abort_within_a_second(api, alice, run_id, runner, stalling)
    assert took < 3, f"the abort took {took:.1f} s"  # by design within CONTROL_POLL_S + a read
    run = body(api.get(f"/runs/{run_id}", alice))["run"]
    assert run["state"] == "aborted" and run["reason"] == "aborted"
    assert run["statusText"] == "Aborted by alice" and run["status"] != 1
    assert "nextAttempt" not in run  # no retry
    assert queued_messages(settings) == []  # no retry and no chained run queued
    assert body(api.get(f"/jobs/{chained}/history", alice))["history"] == []


def test_it_aborts_a_run_the_tick_runs_inline(
    api: Api, alice: Persona, stalling: StallingTarget
) -> None:
    from datetime import UTC, datetime

    fire_at = int(time.time()) + 3
    at = datetime.fromtimestamp(fire_at, UTC).isoformat()
    api.put("/scheduler", alice, {"enabled": False})  # the save does not claim the slot itself
    job_id = create(api, alice, url=stalling.url, schedule={"at": at})
    api.put("/scheduler", alice, {"enabled": True})
    while time.time() < fire_at - 1.5:  # within the tick's inline wait: the tick runs it
        time.sleep(0.05)
    runner, report = _in_thread(dispatch.tick, time.time())
    _wait_for(lambda: stalling.requests == 1)
    (active,) = body(api.get("/runs?state=active", alice))["runs"]
    assert active["jobId"] == job_id
    _abort_within_a_second(api, alice, active["runId"], runner, stalling)
    assert report[0]["inline"] == 1
    run = body(api.get(f"/runs/{active['runId']}", alice))["run"]
    assert run["state"] == "aborted"


def test_it_refuses_to_abort_a_run_that_ended(
    api: Api, alice: Persona, carol: Persona, settings: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    job_id = create(api, alice, url=httpserver.url_for("/hook"))
    run_id = body(api.post(f"/jobs/{job_id}/run", alice))["runId"]
    assert api.post(f"/runs/{run_id}/abort", carol).status_code == 403
    dispatch.work(queued_messages(settings), time.time())
    refused = api.post(f"/runs/{run_id}/abort", alice)
    assert refused.status_code == 409 and "ended done" in body(refused)["error"]["message"]
    assert api.post("/runs/0000000000001-99-1/abort", alice).status_code == 404


def test_it_gives_a_run_in_flight_a_longer_timeout_and_no_retries(
    api: Api, alice: Persona, settings: Any
) -> None:
    job_id = create(api, alice, url="http://127.0.0.1:9/", retries=5, retryDelay=1)
    run_id = body(api.post(f"/jobs/{job_id}/run", alice))["runId"]
    changed = api.patch(f"/runs/{run_id}", alice, {"retries": 0, "requestTimeout": 7})
    assert changed.status_code == 200, changed.body
    dispatch.work(queued_messages(settings), time.time())  # nothing listens on port 9
    run = body(api.get(f"/runs/{run_id}", alice))["run"]
    assert run["state"] == "done" and run["attempt"] == 1 and "nextAttempt" not in run
    assert body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]["retries"] == 5  # the job's


def test_it_checks_a_run_change_as_a_jobs_fields(api: Api, alice: Persona) -> None:
    job_id = create(api, alice, url="http://127.0.0.1:9/")
    run_id = body(api.post(f"/jobs/{job_id}/run", alice))["runId"]
    for change, field in (
        ({"retries": 11}, "retries"),
        ({"requestTimeout": 0}, "requestTimeout"),
        ({"chainSuccess": 999}, "chainSuccess"),
        ({"url": "https://x.example/"}, "url"),
        ({"notification": {"onDisable": True}}, "notification.onDisable"),
    ):
        response = api.patch(f"/runs/{run_id}", alice, change)
        assert response.status_code == 400, change
        assert body(response)["error"]["field"] == field


def test_it_cuts_a_call_in_flight_at_a_shorter_timeout(
    api: Api, alice: Persona, settings: Any, stalling: StallingTarget
) -> None:
    job_id = create(api, alice, url=stalling.url, requestTimeout=60)
    run_id = body(api.post(f"/jobs/{job_id}/run", alice))["runId"]
    runner, _ = _in_thread(dispatch.work, queued_messages(settings), time.time())
    _wait_for(lambda: stalling.requests == 1)
    api.patch(f"/runs/{run_id}", alice, {"requestTimeout": 1})
    runner.join(timeout=10)
    assert not runner.is_alive()
    run = body(api.get(f"/runs/{run_id}", alice))["run"]
    assert run["status"] == 5 and run["statusText"].startswith("Timed out after 1 s")


def test_it_runs_now_with_another_url_method_and_timeout(
    api: Api, alice: Persona, settings: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/other", method="PUT", data="x").respond_with_data("ok")
    job_id = create(api, alice, url=httpserver.url_for("/usual"))
    override = {
        "url": httpserver.url_for("/other"),
        "requestMethod": "PUT",
        "requestTimeout": 5,
        "extendedData": {"body": "x"},
    }
    run_id = body(api.post(f"/jobs/{job_id}/run", alice, override))["runId"]
    dispatch.work(queued_messages(settings), time.time())
    run = body(api.get(f"/runs/{run_id}", alice))["run"]
    assert run["status"] == 1 and run["url"] == httpserver.url_for("/other")
    assert body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]["url"].endswith("/usual")


def test_it_keeps_a_stored_password_to_its_host_on_a_run_now(api: Api, alice: Persona) -> None:
    job_id = create(api, alice, auth={"enable": True, "user": "u", "password": "p"})
    response = api.post(f"/jobs/{job_id}/run", alice, {"url": "https://elsewhere.example/"})
    assert response.status_code == 400 and body(response)["error"]["field"] == "url"


def test_it_finds_jobs_by_exact_title(api: Api, alice: Persona, bob: Persona) -> None:
    first = create(api, alice, title="Nightly")
    create(api, alice, title="nightly")
    create(api, bob, title="Nightly")
    found = body(api.get("/jobs?title=Nightly", alice))["jobs"]
    assert [j["jobId"] for j in found] == [first]
    assert body(api.get("/jobs?title=Nope", alice))["jobs"] == []


def test_it_keeps_notes_and_says_who_created_and_changed_a_job(
    api: Api, alice: Persona, stores: Any
) -> None:
    from tests.helpers import make_persona

    editor = make_persona(stores, "editor", alice.account, ["write", "read"])
    job_id = create(api, alice, notes="Rebuilds the index.\nAsk Ann first.")
    assert api.patch(f"/jobs/{job_id}", editor, {"job": {"title": "Reindex"}}).status_code == 200
    details = body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]
    assert details["notes"] == "Rebuilds the index.\nAsk Ann first."
    assert (details["createdBy"], details["modifiedBy"]) == ("alice", "editor")
    assert details["created"] <= details["modified"] and details["created"] > 0
    again = api.patch(f"/jobs/{job_id}", alice, {"job": {"createdBy": "mallory"}})
    assert again.status_code == 200
    assert body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]["createdBy"] == "alice"
    bad = api.put("/jobs", alice, new_job(notes="x" * 10_001))
    assert bad.status_code == 400 and body(bad)["error"]["field"] == "notes"


def test_it_moves_a_jobs_cursor_back_and_catches_up(api: Api, alice: Persona) -> None:
    hourly = {"cron": "0 * * * *", "timezone": "UTC"}
    job_id = create(api, alice, schedule=hourly, catchUp=True)
    now = int(time.time())
    back = now - 3 * 3600
    moved = api.post(f"/jobs/{job_id}/cursor", alice, {"at": back})
    assert moved.status_code == 200, moved.body
    first_slot = (back // 3600 + 1) * 3600 if back % 3600 else back
    details = body(moved)["jobDetails"]
    assert details["nextExecution"] == first_slot  # the tick then runs the slots since
    plain = create(api, alice, schedule=hourly)
    same = body(api.post(f"/jobs/{plain}/cursor", alice, {"at": back}))["jobDetails"]
    assert same["nextExecution"] == (now // 3600 + 1) * 3600  # without catchUp: from now
    # A slot within the next two minutes may be claimed already (and shown as next): the job
    # moved ahead runs half an hour off the clock, whatever time the test runs at.
    minute = (now // 60 + 30) % 60
    later = create(api, alice, schedule={"cron": f"{minute} * * * *", "timezone": "UTC"})
    ahead = api.post(f"/jobs/{later}/cursor", alice, {"at": now + 86400})
    assert body(ahead)["jobDetails"]["nextExecution"] >= now + 86400
    bad = api.post(f"/jobs/{plain}/cursor", alice, {"at": "yesterday"})
    assert bad.status_code == 400 and body(bad)["error"]["field"] == "at"
