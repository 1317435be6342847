"""Ticks and workers racing over the same due jobs, with every SQS message delivered twice.

Three ticks (each its own Dispatcher, as each is its own Lambda) claim the same 1,000 due slots
while two workers drain the queue; the queue hands out every message twice, the copies shuffled
among the other messages, as SQS's at-least-once delivery may. Every execution is counted by an
injected `execute`; every tenth job makes a real HTTP call to a loopback sink, which counts what
arrived. A smaller race runs on DynamoDB (moto), whose conditional writes are the real claim.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from chalicelib import executor
from chalicelib.config import Settings
from chalicelib.dispatch import Dispatcher
from chalicelib.service import Service
from chalicelib.store.blobs import MemoryBlobs
from chalicelib.store.memory import memory_stores
from scripts.reliability import record
from tests.helpers import ok_result
from tests.test_faults import Sink

T0 = 1_795_435_200  # 2026-11-23 08:00:00 UTC, a whole minute
SLOT = T0 + 60
ACCOUNT = "acct-racers"
TICKS, WORKERS, BATCH = 3, 2, 10


def tasks(body: str) -> int:
    return len(json.loads(body)["tasks"])


class TwiceQueue:
    """SQS at least once, taken literally: each message is delivered twice, in a seeded shuffle.
    `sent` and `delivered` count the tasks the messages carry, however many share one."""

    def __init__(self, seed: int) -> None:
        self.pending: deque[str] = deque()
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.sent = 0
        self.delivered = 0

    def send(self, messages: Sequence[tuple[str, int]]) -> None:
        bodies = [body for body, _ in messages]
        copies = bodies * 2
        with self.lock:
            self.rng.shuffle(copies)
            self.sent += sum(tasks(body) for body in bodies)
            self.pending.extend(copies)

    def take(self, limit: int) -> list[str]:
        with self.lock:
            batch = [self.pending.popleft() for _ in range(min(limit, len(self.pending)))]
            self.delivered += sum(tasks(body) for body in batch)
            return batch


@dataclass
class Counted:
    """An `execute` that counts every call by run id; real HTTP for the sink's URLs only."""

    sink_prefix: str
    calls: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: executor.Request, policy: executor.Policy) -> executor.Result:
        with self.lock:
            self.calls[request.run_id or ""] += 1
        if request.url.startswith(self.sink_prefix):
            return executor.execute(request, policy)
        return ok_result(float(SLOT), 0)


def due_jobs(stores: Any, settings: Settings, count: int, sink: Sink) -> list[int]:
    """`count` jobs due at SLOT; every tenth targets the sink, the others a counted fake."""
    service = Service(stores, settings, clock=lambda: T0 + 30)
    template, _ = service.create_job(
        ACCOUNT, {"url": sink.url("/"), "enabled": True, "schedule": {"cron": "* * * * *"}}
    )
    assert template.next_run_at == SLOT
    ids = [template.job_id + n for n in range(count)]
    for n, job_id in enumerate(ids):
        url = sink.url(f"/{job_id}") if n % 10 == 0 else f"http://127.0.0.1:9/{job_id}"
        job = replace(template, job_id=job_id, spec={**template.spec, "url": url})
        if n == 0:
            assert stores.jobs.replace(job, template.version)
        else:
            assert stores.jobs.create(job)
    return ids


@dataclass
class Race:
    ticks: list[dict[str, int]]
    work: Counter[str]
    queue: TwiceQueue
    executions: Counter[str]


def race(stores: Any, settings: Settings, counted: Counted, seed: int) -> Race:
    """Start 3 ticks and 2 workers at once; the workers stop when the ticks are done and the
    queue is empty."""
    queue = TwiceQueue(seed)

    def dispatcher() -> Dispatcher:
        return Dispatcher(
            stores, settings, queue, MemoryBlobs(), clock=lambda: float(SLOT), execute=counted
        )

    start = threading.Barrier(TICKS + WORKERS)
    ticks_done = threading.Event()
    tick_reports: list[dict[str, int]] = []
    work_report: Counter[str] = Counter()
    lock = threading.Lock()

    def tick() -> None:
        one = dispatcher()
        start.wait()
        report = one.tick(T0 + 30)
        with lock:
            tick_reports.append(report)

    def work() -> None:
        one = dispatcher()
        start.wait()
        while True:
            bodies = queue.take(BATCH)
            if not bodies:
                if ticks_done.is_set() and not queue.pending:
                    return
                ticks_done.wait(0.005)
                continue
            report = one.work(bodies, float(SLOT))
            with lock:
                work_report.update(report)

    tickers = [threading.Thread(target=tick) for _ in range(TICKS)]
    workers = [threading.Thread(target=work) for _ in range(WORKERS)]
    for thread in tickers + workers:
        thread.start()
    for thread in tickers:
        thread.join()
    ticks_done.set()
    for thread in workers:
        thread.join()
    return Race(tick_reports, work_report, queue, counted.calls)


def tally(stores: Any, ids: list[int], result: Race) -> tuple[int, int, int]:
    """(lost, doubled runs, doubled executions) over every job's SLOT."""
    lost = doubled = 0
    for job_id in ids:
        page = stores.runs.list_for_job(ACCOUNT, job_id, 10)
        slot = [r for r in page.items if r.data["datePlanned"] == SLOT and r.state == "done"]
        lost += not slot
        doubled += max(0, len(slot) - 1)
    doubled_calls = sum(n - 1 for n in result.executions.values() if n > 1)
    return lost, doubled, doubled_calls


def check(stores: Any, ids: list[int], result: Race, sink: Sink, kind: str) -> None:
    lost, doubled, doubled_calls = tally(stores, ids, result)
    arrived = sink.paths()
    record(
        "race",
        kind,
        tried=len(ids),
        lost=lost,
        doubled=doubled + doubled_calls + sum(n - 1 for n in arrived.values()),
        deliveries=result.queue.delivered,
        claims_lost_to_another_tick=sum(
            r.get("already_claimed", 0) + r.get("moved_meanwhile", 0) for r in result.ticks
        ),
        real_http_runs=sum(arrived.values()),
    )
    assert (lost, doubled, doubled_calls) == (0, 0, 0)
    assert sum(r.get("claimed", 0) for r in result.ticks) == len(ids)
    # A tick that won at most inline_max slots runs them itself; the rest go through the queue.
    queued = sum(r.get("queued", 0) for r in result.ticks)
    assert result.queue.sent == queued and result.queue.delivered == 2 * queued
    ran = result.work["ok"] + sum(r.get("ok", 0) for r in result.ticks)
    assert ran == len(ids) == sum(result.executions.values())
    assert result.work["duplicate"] == queued  # every second copy found its run taken
    assert arrived == Counter({f"/{job_id}": 1 for job_id in ids[::10]})
    for job_id in ids:
        job = stores.jobs.get(ACCOUNT, job_id)
        assert (job.success_count, job.running, job.next_run_at) == (1, 0, SLOT + 60), job_id


def test_it_runs_each_of_1000_slots_once_across_3_ticks_and_2_workers_with_duplicates() -> None:
    settings = Settings(allow_private_targets=True)
    stores = memory_stores(settings.due_shards)
    with Sink() as sink:
        ids = due_jobs(stores, settings, 1000, sink)
        result = race(stores, settings, Counted(sink.url("/")), seed=7)
        check(stores, ids, result, sink, "1,000 jobs, in-memory stores")


@pytest.fixture
def atomic_moto(stores: Any) -> Iterator[Callable[[], None]]:
    """DynamoDB applies each item write atomically; moto, called from threads, does not. One call
    at a time restores that guarantee (and only that), as in tests/test_runs_api.py."""
    client = stores.jobs.table.meta.client
    atomic = threading.RLock()

    def enter(**kw: Any) -> None:  # a before-call handler that returned a value would stub
        atomic.acquire()

    def leave(**kw: Any) -> None:
        atomic.release()

    client.meta.events.register("before-call.dynamodb", enter)
    client.meta.events.register("after-call.dynamodb", leave)
    client.meta.events.register("after-call-error.dynamodb", leave)
    yield lambda: None
    client.meta.events.unregister("before-call.dynamodb", enter)
    client.meta.events.unregister("after-call.dynamodb", leave)
    client.meta.events.unregister("after-call-error.dynamodb", leave)


@pytest.mark.backend("moto")
def test_it_runs_each_of_60_slots_once_on_dynamodb_with_duplicates(
    stores: Any, settings: Any, atomic_moto: Callable[[], None]
) -> None:
    local = replace(settings, allow_private_targets=True)
    with Sink() as sink:
        ids = due_jobs(stores, local, 60, sink)
        result = race(stores, local, Counted(sink.url("/")), seed=11)
        check(stores, ids, result, sink, "60 jobs, DynamoDB (moto)")


@pytest.mark.backend("sqlite")
def test_it_runs_each_of_300_slots_once_on_sqlite_with_duplicates(
    stores: Any, settings: Any
) -> None:
    local = replace(settings, allow_private_targets=True)
    with Sink() as sink:
        ids = due_jobs(stores, local, 300, sink)
        result = race(stores, local, Counted(sink.url("/")), seed=13)
        check(stores, ids, result, sink, "300 jobs, SQLite")
