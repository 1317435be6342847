"""The dispatcher's world for tests: the in-memory stores, a fake clock, real loopback targets.

The clock starts at a fixed minute; `sleep` moves it forward instead of waiting, so a run planned
for 12:01:00 runs "at" 12:01:00 without the test waiting a minute.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request as WRequest
from werkzeug import Response as WResponse

from chalicelib import executor
from chalicelib.config import Settings
from chalicelib.dispatch import Dispatcher
from chalicelib.service import Service
from chalicelib.store.blobs import MemoryBlobs
from chalicelib.store.queue import MemoryQueue
from tests.helpers import ok_result

T0 = 1_795_435_200  # 2026-11-23 12:00:00 UTC, a whole minute


class Clock:
    """Time that moves only when the dispatcher sleeps."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += max(0.0, seconds)


@dataclass
class World:
    stores: Any
    settings: Settings
    queue: MemoryQueue
    blobs: MemoryBlobs
    clock: Clock
    dispatcher: Dispatcher
    service: Service

    def job(self, account: str = "alice", **fields: Any) -> int:
        payload = {"enabled": True, "schedule": {"cron": "* * * * *"}, **fields}
        job, _ = self.service.create_job(account, payload)
        return job.job_id

    def get(self, job_id: int, account: str = "alice") -> Any:
        return self.stores.jobs.get(account, job_id)

    def runs(self, job_id: int, account: str = "alice") -> list[Any]:
        page = self.stores.runs.list_for_job(account, job_id, 1000)
        return sorted(page.items, key=lambda r: r.run_id)

    def work_queue(self) -> dict[str, int]:
        """Deliver what was queued, as SQS would once each delay passed."""
        total: dict[str, int] = {}
        for _ in range(20):
            sent = self.queue.drain()
            if not sent:
                break
            for body, delay in sent:
                self.clock.sleep(delay)
                for key, value in self.dispatcher.work([body], self.clock()).items():
                    total[key] = total.get(key, 0) + value
        return total


def ok_handler(server: HTTPServer, path: str = "/hook", status: int = 200, **kw: Any) -> str:
    server.expect_request(path).respond_with_data("done", status=status, **kw)
    return server.url_for(path)


class Exploding(MemoryQueue):
    def send(self, messages: Any) -> None:
        raise RuntimeError("the tick's Lambda died here")


def die_after_claiming(world: World) -> int:
    """A job whose run the tick claims, then dies before handing it to the queue."""
    world.dispatcher.settings = replace(world.settings, inline_max=0)
    world.dispatcher.queue = Exploding()
    job_id = world.job(url="http://127.0.0.1:9/")
    with pytest.raises(RuntimeError):
        world.dispatcher.tick(T0 + 30)
    return job_id


def queued_world(world: World) -> Dispatcher:
    """The world's dispatcher with every run sent through SQS (as larger batches go)."""
    return Dispatcher(
        world.stores,
        replace(world.settings, inline_max=0),
        world.queue,
        world.blobs,
        clock=world.clock,
        sleep=world.clock.sleep,
    )


def failing_then_ok(server: HTTPServer, failures: list[int]) -> str:
    calls = {"n": 0}

    def handler(request: WRequest) -> WResponse:
        calls["n"] += 1
        if calls["n"] <= len(failures):
            headers = {"Retry-After": "120"} if failures[calls["n"] - 1] == 429 else {}
            return WResponse("nope", status=failures[calls["n"] - 1], headers=headers)
        return WResponse("fine", status=200)

    server.expect_request("/flaky").respond_with_handler(handler)
    return server.url_for("/flaky")


def claim_two_ahead(world: World, target: HTTPServer) -> int:
    """A job every 30 s whose runs at 12:01:00 and 12:01:30 the tick at 12:00:30 sent to SQS."""
    world.dispatcher.settings = replace(world.settings, inline_max=0)
    job_id = world.job(url=ok_handler(target), schedule={"cron": "*/30 * * * * ?"})
    assert world.dispatcher.tick(T0 + 30)["queued"] == 2
    return job_id


def fake_execute(calls: list[float], clock: Clock) -> Any:
    def execute(request: executor.Request, policy: executor.Policy) -> executor.Result:
        calls.append(clock())
        return ok_result(clock(), 1)

    return execute
