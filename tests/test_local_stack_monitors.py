"""Monitors and long jobs through `make run`: the real process on loopback, driven over HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request as WRequest
from werkzeug import Response as WResponse

from tests.test_local_stack import Stack, call, free_port


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    home = tmp_path / "cronhook-home"
    home.mkdir()
    running = Stack(home=home, api_port=free_port(), aws_port=free_port())
    running.start()
    yield running
    running.kill()


def admin_key(stack: Stack) -> str:
    return (stack.home / "admin-key").read_text().strip()


def until(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail("nothing happened in time")


def test_it_takes_pings_and_shows_the_monitors_status(stack: Stack) -> None:
    key = admin_key(stack)
    created = call(
        stack,
        "PUT",
        "/monitors",
        key,
        {"monitor": {"title": "backup", "schedule": {"every": 3600}}},
    )
    ping_url = created["pingUrl"]
    assert ping_url.startswith(f"{stack.url}/ping/")
    monitor = f"/monitors/{created['monitorId']}"
    assert call(stack, "GET", monitor, key)["monitor"]["status"] == "new"

    assert requests.get(f"{ping_url}/start", timeout=5).status_code == 200
    answer = requests.post(ping_url, data=b"3 files", timeout=5)
    assert (answer.status_code, answer.text) == (200, "OK")
    shown = call(stack, "GET", monitor, key)["monitor"]
    assert shown["status"] == "up" and shown["lastDuration"] is not None
    assert requests.post(f"{ping_url}/2", timeout=5).status_code == 200
    assert call(stack, "GET", monitor, key)["monitor"]["status"] == "down"
    pings = call(stack, "GET", f"{monitor}/pings", key)["pings"]
    assert [(p["kind"], p["exitStatus"]) for p in pings] == [
        ("fail", 2),
        ("success", None),
        ("start", None),
    ]
    assert pings[1]["body"] == "3 files" and pings[1]["remoteAddr"] == "127.0.0.1"
    assert requests.get(f"{stack.url}/ping/not-a-token", timeout=5).status_code == 404


def test_a_long_job_calls_back_and_its_run_ends_then(stack: Stack, httpserver: HTTPServer) -> None:
    key = admin_key(stack)
    reported: list[int] = []

    def accept(request: WRequest) -> WResponse:
        url = request.headers["X-Cronhook-Callback-Url"]

        def report_later() -> None:
            time.sleep(1.0)
            for _ in range(2):  # the second one is refused: single use
                answer = requests.post(url, json={"status": "success", "message": "all done"})
                reported.append(answer.status_code)

        threading.Thread(target=report_later, daemon=True).start()
        return WResponse("working on it", status=202)

    httpserver.expect_request("/long").respond_with_handler(accept)
    job = {"job": {"url": httpserver.url_for("/long"), "callback": {"timeout": 60}}}
    job_id = call(stack, "PUT", "/jobs", key, job)["jobId"]
    run_id = call(stack, "POST", f"/jobs/{job_id}/run", key)["runId"]

    def run() -> dict[str, Any]:
        return dict(call(stack, "GET", f"/runs/{run_id}", key)["run"])

    waiting = until(lambda: run()["statusText"] == "Waiting for callback" and run())
    assert waiting["state"] == "running"
    done = until(lambda: run()["state"] == "done" and run())
    assert done["status"] == 1 and done["statusText"] == "OK (callback): all done"
    assert done["duration"] >= 1000
    until(lambda: len(reported) == 2)
    assert reported == [200, 410]
