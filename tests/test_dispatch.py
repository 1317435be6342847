"""The tick and the worker, on the in-memory stores, with real loopback targets and a fake clock.

The clock starts at a fixed minute; `sleep` moves it forward instead of waiting, so a run planned
for 12:01:00 runs "at" 12:01:00 without the test waiting a minute.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request as WRequest
from werkzeug import Response as WResponse

from chalicelib import executor, jobs
from chalicelib.config import Settings
from chalicelib.dispatch import Dispatcher
from chalicelib.notify import Notifier, settings_key
from chalicelib.service import Service
from chalicelib.store.blobs import MemoryBlobs
from chalicelib.store.memory import memory_stores
from chalicelib.store.queue import MemoryQueue
from tests.helpers import ok_result, sent_tasks

T0 = 1_795_435_200  # 2026-11-23 12:00:00 UTC, a whole minute


class Clock:
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


@pytest.fixture
def world() -> World:
    settings = Settings(
        allow_private_targets=True,
        disable_after_failures=4,
        inline_max=50,
        inline_wait_s=125,  # small batches wait in the tick, however far ahead (see below)
        default_request_timeout=5,
    )
    stores = memory_stores()
    clock = Clock(T0 + 30)
    queue, blobs = MemoryQueue(), MemoryBlobs()
    notifier = Notifier(stores, settings, clock=clock)
    dispatcher = Dispatcher(
        stores, settings, queue, blobs, notifier, clock=clock, sleep=clock.sleep
    )
    service = Service(stores, settings, clock=clock)
    return World(stores, settings, queue, blobs, clock, dispatcher, service)


@pytest.fixture
def target(httpserver: HTTPServer) -> Iterator[HTTPServer]:
    yield httpserver
    httpserver.clear()


def ok_handler(server: HTTPServer, path: str = "/hook", status: int = 200, **kw: Any) -> str:
    server.expect_request(path).respond_with_data("done", status=status, **kw)
    return server.url_for(path)


def test_it_fires_a_due_job_at_its_planned_second(world: World, target: HTTPServer) -> None:
    job_id = world.job(url=ok_handler(target), saveResponses=True)
    report = world.dispatcher.tick(T0 + 30)
    assert report["claimed"] == 1 and report["ok"] == 1
    (run,) = world.runs(job_id)
    assert run.state == "done"
    assert run.data["datePlanned"] == T0 + 60 and run.data["date"] == T0 + 60
    assert run.data["jitter"] == 0 and run.data["status"] == 1 and run.data["httpStatus"] == 200
    stats = run.data["stats"]
    assert 0 < stats["connect"] <= stats["startTransfer"] <= stats["total"]
    (request, _), *_ = target.log
    assert request.headers["webhook-id"] == f"{job_id}#{T0 + 60}"
    job = world.get(job_id)
    assert (job.last_status, job.next_run_at, job.running) == (1, T0 + 120, 0)
    assert job.success_count == 1 and job.last_execution == T0 + 60
    saved = world.blobs.get(run.data["responseKey"])
    assert saved is not None and saved["body"] == "done" and "Content-Type" in saved["headers"]


def test_it_claims_only_slots_up_to_the_end_of_the_next_minute(world: World) -> None:
    job_id = world.job(url="http://127.0.0.1:9/", schedule={"cron": "*/5 * * * *"})
    assert world.get(job_id).next_run_at == T0 + 300
    report = world.dispatcher.tick(T0 + 30)
    assert report.get("claimed", 0) == 0 and world.runs(job_id) == []


def test_it_claims_every_slot_of_a_seconds_schedule_in_the_window(
    world: World, target: HTTPServer
) -> None:
    # The fake clock lets the four runs overlap in real time; in production they are 20 s apart.
    job_id = world.job(url=ok_handler(target), schedule={"cron": "*/20 * * * * ?"}, maxConcurrent=4)
    world.dispatcher.tick(T0 + 30)
    planned = [r.data["datePlanned"] for r in world.runs(job_id)]
    assert planned == [T0 + 40, T0 + 60, T0 + 80, T0 + 100]
    assert all(r.data["status"] == 1 for r in world.runs(job_id))
    assert world.get(job_id).next_run_at == T0 + 120


def test_it_claims_each_slot_once_when_ticks_race(world: World) -> None:
    world.settings = replace(world.settings, inline_max=0)
    world.dispatcher.settings = world.settings
    ids = [world.job(url="http://127.0.0.1:9/") for _ in range(100)]
    threads = [threading.Thread(target=world.dispatcher.tick, args=(T0 + 30,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(world.runs(i)) for i in ids) == 100
    tasks = sent_tasks(world.queue.drain())
    assert len(tasks) == 100
    assert sorted(task["job"] for task, _ in tasks) == ids


def test_it_ignores_a_duplicate_tick_for_the_same_minute(world: World, target: HTTPServer) -> None:
    job_id = world.job(url=ok_handler(target))
    world.dispatcher.tick(T0 + 30)
    world.clock.now = T0 + 30
    again = world.dispatcher.tick(T0 + 30)
    assert again.get("claimed", 0) == 0
    assert len(world.runs(job_id)) == 1 and len(target.log) == 1


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


def test_it_marks_runs_lost_when_the_tick_dies_after_claiming(world: World) -> None:
    job_id = die_after_claiming(world)
    (run,) = world.runs(job_id)
    assert run.state == "queued" and world.get(job_id).running == 1
    world.dispatcher.queue = world.queue
    world.dispatcher.settings = world.settings
    deadline = run.active_deadline
    # Runs are watched by the minute: the first tick of the minute after the deadline sees it.
    assert world.dispatcher.tick(deadline - 1).get("lost", 0) == 0
    report = world.dispatcher.tick(deadline + 60)
    lost = world.stores.runs.get("alice", job_id, run.run_id)
    assert report["lost"] == 1 and lost.state == "lost" and lost.data["status"] == 8
    assert all(
        r.data["datePlanned"] != run.data["datePlanned"] or r is lost
        for r in world.runs(job_id)
        if r.run_id != run.run_id
    )


@pytest.mark.parametrize("stale", ["queued", "unseen"])
def test_it_marks_a_run_lost_through_a_stale_read(world: World, stale: str) -> None:
    # The sweep reads its runs eventually consistent. A read that still shows the run queued
    # (its worker had moved it to running, then died) or shows nothing yet must not let it go.
    job_id = die_after_claiming(world)
    (run,) = world.runs(job_id)
    running = replace(run, state="running")
    assert world.stores.runs.update(running, "queued")
    world.dispatcher.queue = world.queue
    world.dispatcher.settings = world.settings
    reads: list[bool] = []

    def eventually(keys: Any, consistent: bool = True) -> list[Any]:
        reads.append(consistent)
        return [run] if stale == "queued" else []

    world.stores.runs.get_many = eventually  # type: ignore[method-assign]
    report = world.dispatcher.tick((run.active_deadline or 0) + 60)
    assert reads == [False] and report["lost"] == 1
    lost = world.stores.runs.get("alice", job_id, run.run_id)
    # The lost run gave its in-flight count back; the runs queued now (the missed slots' one
    # run, and the next slot of the window) take a place when they start.
    assert lost.state == "lost" and report["queued"] == 2 and world.get(job_id).running == 0


def test_it_queues_runs_planned_beyond_the_inline_wait_instead_of_waiting(
    world: World, target: HTTPServer
) -> None:
    world.dispatcher.settings = replace(world.settings, inline_wait_s=Settings().inline_wait_s)
    far, near = world.job(url=ok_handler(target, "/far")), world.job(url=ok_handler(target, "/n"))
    world.stores.jobs.advance("alice", near, T0 + 60, T0 + 32, 0)  # due 2 s after the tick
    report = world.dispatcher.tick(T0 + 30)
    # near at :32 runs in the tick; near and far at T0+60 wait in SQS, not in the Lambda.
    assert (report["claimed"], report["queued"], report["inline"], report["ok"]) == (3, 2, 1, 1)
    assert world.clock() == T0 + 32
    sent = world.queue.drain()
    assert sorted((task["job"], delay) for task, delay in sent_tasks(sent)) == [(1, 30), (2, 30)]
    world.clock.now = T0 + 60
    assert world.dispatcher.work([m for m, _ in sent], T0 + 60)["ok"] == 2
    assert [(r.data["datePlanned"], r.data["jitter"]) for r in world.runs(far)] == [(T0 + 60, 0)]


def test_it_keeps_the_result_of_a_run_marked_lost_while_it_ran(world: World) -> None:
    job_id = world.job(url="http://127.0.0.1:9/", maxConcurrent=2)
    assert world.stores.jobs.acquire("alice", job_id, 2)  # another run of the job is in flight

    def slow_call(request: executor.Request, policy: executor.Policy) -> executor.Result:
        (run,) = world.runs(job_id)
        report: Counter[str] = Counter()
        world.dispatcher.sweep((run.active_deadline or 0) + 60, report)  # it took too long
        assert report["lost"] == 1
        return ok_result(world.clock(), 1)

    world.dispatcher.execute = slow_call
    world.dispatcher.tick(T0 + 30)
    (run,) = world.runs(job_id)
    assert run.state == "done" and run.data["httpStatus"] == 200  # the call did happen
    assert world.get(job_id).running == 1  # released once (by the sweep), not twice


def test_it_marks_a_lost_run_once_when_ticks_sweep_together(world: World) -> None:
    job_id = die_after_claiming(world)
    world.dispatcher.queue = world.queue
    (run,) = world.runs(job_id)
    later = (run.active_deadline or 0) + 60
    reports = [Counter[str](), Counter[str]()]
    threads = [threading.Thread(target=world.dispatcher.sweep, args=(later, r)) for r in reports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r["lost"] for r in reports) == 1
    assert world.get(job_id).running == 0
    assert world.stores.runs.get("alice", job_id, run.run_id).state == "lost"


def test_it_gives_a_run_its_new_deadline_before_calling_it_lost(world: World) -> None:
    job_id = world.job(url="http://127.0.0.1:9/")
    job = world.get(job_id)
    run = world.dispatcher.start_now(job)  # queued, watched at its first deadline
    moved = world.stores.runs.get("alice", job_id, run.run_id)
    moved.active_deadline = (run.active_deadline or 0) + 600  # e.g. it waited in line
    assert world.stores.runs.update(moved, "queued")
    first = Counter[str]()
    world.dispatcher.sweep((run.active_deadline or 0) + 60, first)
    assert first["lost"] == 0
    second = Counter[str]()
    world.dispatcher.sweep((moved.active_deadline or 0) + 60, second)
    assert second["lost"] == 1


def test_it_reads_the_watch_lists_it_missed_while_ticks_were_down(world: World) -> None:
    job_id = world.job(url="http://127.0.0.1:9/")
    world.dispatcher.sweep(T0, Counter())
    run = world.dispatcher.start_now(world.get(job_id))
    hours_later = T0 + 5 * 3600
    report = Counter[str]()
    world.dispatcher.sweep(hours_later, report)
    assert report["lost"] == 1
    assert world.stores.runs.get("alice", job_id, run.run_id).state == "lost"


def test_it_runs_once_after_downtime_and_skips_the_rest(world: World, target: HTTPServer) -> None:
    job_id = world.job(url=ok_handler(target))
    world.clock.now = T0 + 630
    report = world.dispatcher.tick(T0 + 630)
    assert report["missed"] == 10
    (run,) = [r for r in world.runs(job_id) if r.data["datePlanned"] <= T0 + 630]
    assert run.data["datePlanned"] == T0 + 600 and run.data["missedSlots"] == 9
    assert run.data["date"] == T0 + 630 and run.data["status"] == 1
    assert world.get(job_id).next_run_at > T0 + 630


def test_it_catches_up_every_missed_slot_oldest_first(world: World, target: HTTPServer) -> None:
    job_id = world.job(url=ok_handler(target), catchUp=True)
    world.clock.now = T0 + 330
    world.dispatcher.tick(T0 + 330)
    planned = [r.data["datePlanned"] for r in world.runs(job_id)][:5]
    assert planned == [T0 + 60, T0 + 120, T0 + 180, T0 + 240, T0 + 300]
    assert len(target.log) >= 5 and world.get(job_id).running == 0


def test_it_records_a_skipped_slot_while_the_job_is_busy(world: World) -> None:
    job_id = world.job(url="http://127.0.0.1:9/")
    assert world.stores.jobs.acquire("alice", job_id, 1)
    report = world.dispatcher.tick(T0 + 30)
    (run,) = world.runs(job_id)
    assert report["skipped"] == 1 and run.state == "skipped"
    assert "still in flight" in run.data["statusText"]
    assert world.get(job_id).next_run_at == T0 + 120


def test_it_queues_behind_the_bound_with_queue_max(world: World, target: HTTPServer) -> None:
    job_id = world.job(url=ok_handler(target), queueMax=2)
    assert world.stores.jobs.acquire("alice", job_id, 1)
    world.dispatcher.tick(T0 + 30)
    (run,) = world.runs(job_id)
    assert run.state == "waiting"
    world.stores.jobs.release("alice", job_id)
    # The next run that finishes frees the slot and starts the waiting one.
    world.dispatcher.tick(T0 + 90)
    world.work_queue()
    states = {r.data["datePlanned"]: r.state for r in world.runs(job_id)}
    assert states[T0 + 60] == "done" and states[T0 + 120] == "done"


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


def test_a_waiting_run_keeps_its_place_in_line(world: World, target: HTTPServer) -> None:
    via_sqs = queued_world(world)
    messages: list[str] = []

    def handler(request: WRequest) -> WResponse:
        if len(target.log) == 0:  # 12:01 is still running when 12:02 starts: 12:02 waits
            world.clock.now = T0 + 120
            via_sqs.work(messages[1:2], world.clock())
            by_slot = {r.data["datePlanned"]: r.state for r in world.runs(job_id)}
            assert by_slot[T0 + 120] == "waiting"
        return WResponse("done")

    target.expect_request("/hook").respond_with_handler(handler)
    job_id = world.job(url=target.url_for("/hook"), queueMax=2)
    via_sqs.tick(T0 + 30)  # 12:01, holding the job's one place
    via_sqs.tick(T0 + 90)  # 12:02
    messages.extend(body for body, _ in world.queue.drain())
    world.clock.now = T0 + 60
    via_sqs.work(messages[:1], world.clock())  # 12:01 ends: 12:02 is next in line
    via_sqs.tick(T0 + 150)  # 12:03 comes due before 12:02 has started: it must not overtake
    world.work_queue()
    order = [request.headers["webhook-id"] for request, _ in target.log]
    assert order == [f"{job_id}#{T0 + n * 60}" for n in (1, 2, 3)]
    assert world.get(job_id).running == 0


def test_a_claim_ahead_never_turns_away_the_runs_before_it(
    world: World, target: HTTPServer
) -> None:
    # Ticks claim up to the end of the next minute, a minute or more before the runs start. A
    # claim that took the job's one place then would leave the runs due in between (a seconds
    # schedule's, or this minute's, still starting) "still in flight" with nothing running.
    seconds = world.job(url=ok_handler(target), schedule={"cron": "*/10 * * * * ?"})
    minutely = world.job(url=ok_handler(target, "/minutely"))
    via_sqs = queued_world(world)
    pending: list[tuple[float, str]] = []

    def tick_at(now: float) -> None:
        world.clock.now = now
        via_sqs.tick(now)
        pending.extend((now + delay, body) for body, delay in world.queue.drain())

    def work_until(moment: float) -> None:
        while pending and min(pending)[0] <= moment:
            due, body = min(pending)
            pending.remove((due, body))
            world.clock.now = max(world.clock.now, due)
            via_sqs.work([body], world.clock())

    tick_at(T0 + 30)
    work_until(T0 + 59)
    tick_at(T0 + 60)  # as `make run` ticks: at the second the minutely job's run is due
    work_until(T0 + 119)
    tick_at(T0 + 120)
    work_until(T0 + 180)
    for job_id in (seconds, minutely):
        due = [r for r in world.runs(job_id) if r.data["datePlanned"] <= T0 + 180]
        assert Counter(r.state for r in due) == {"done": len(due)}
    assert len(target.log) == 15 + 3  # 12:00:40 to 12:03:00 every 10 s; 12:01 to 12:03


@pytest.mark.parametrize("catch_up", [False, True])
def test_a_run_delivered_after_downtime_runs_once_with_the_missed_slots(
    world: World, target: HTTPServer, catch_up: bool
) -> None:
    job_id = world.job(url=ok_handler(target), catchUp=catch_up)
    via_sqs = queued_world(world)
    via_sqs.tick(T0 + 30)  # 12:01 is claimed; then the service is down until 12:04:10
    ((stale, _),) = world.queue.drain()
    world.clock.now = T0 + 250
    via_sqs.tick(world.clock())  # finds 12:02 to 12:04 missed
    via_sqs.work([stale], world.clock())  # the queue, kept, delivers 12:01 at last
    world.work_queue()
    calls = [int(r.headers["webhook-id"].split("#")[1]) for r, _ in target.log]
    planned = [slot for slot in calls if slot <= T0 + 250]  # 12:05, in the window, runs too
    by_slot = {r.data["datePlanned"]: r for r in world.runs(job_id)}
    if catch_up:  # every missed slot runs, oldest first
        assert sorted(planned) == [T0 + 60, T0 + 120, T0 + 180, T0 + 240]
    else:  # once, now
        assert planned == [T0 + 240] and by_slot[T0 + 240].data["missedSlots"] == 2
        assert by_slot[T0 + 60].state == "skipped"
        assert "missed" in by_slot[T0 + 60].data["statusText"]
    assert world.get(job_id).running == 0


def test_after_downtime_the_rest_of_the_window_runs_on_time(
    world: World, target: HTTPServer
) -> None:
    job_id = world.job(url=ok_handler(target), schedule={"cron": "*/10 * * * * ?"})
    via_sqs = queued_world(world)
    world.clock.now = T0 + 300  # the ticks were down (or the scheduler switched off) since 12:00:30
    via_sqs.tick(world.clock())
    for body, delay in sorted(world.queue.drain(), key=lambda message: message[1]):
        world.clock.now = T0 + 300 + delay
        via_sqs.work([body], world.clock())
    done = [r for r in world.runs(job_id) if r.state == "done"]
    assert [r.data["missedSlots"] for r in done if "missedSlots" in r.data] == [26]
    window = [r for r in done if r.data["datePlanned"] > T0 + 300]
    # 12:05:10 to 12:06:50 in this tick, each at its own second: not left to the next tick.
    assert [r.data["datePlanned"] for r in window] == list(range(T0 + 310, T0 + 420, 10))
    assert all(r.data["date"] == r.data["datePlanned"] for r in window)


def test_a_late_run_with_no_later_slot_due_still_runs(world: World, target: HTTPServer) -> None:
    job_id = world.job(url=ok_handler(target), schedule={"cron": "1 12 * * *"})  # daily 12:01
    via_sqs = queued_world(world)
    via_sqs.tick(T0 + 30)
    ((late, _),) = world.queue.drain()
    world.clock.now = T0 + 250
    via_sqs.work([late], world.clock())
    (run,) = world.runs(job_id)
    assert run.state == "done" and len(target.log) == 1


def test_a_disabled_jobs_waiting_runs_are_all_cancelled(world: World, target: HTTPServer) -> None:
    job_id = world.job(url=ok_handler(target), queueMax=2)
    via_sqs = queued_world(world)
    via_sqs.tick(T0 + 30)  # 12:01 holds the job's place; its worker is late
    ((first, _),) = world.queue.drain()
    for tick in (T0 + 90, T0 + 150):  # 12:02 and 12:03 start meanwhile: they wait
        via_sqs.tick(tick)
        ((message, _),) = world.queue.drain()
        world.clock.now = tick + 30
        via_sqs.work([message], world.clock())
    assert [r.state for r in world.runs(job_id)] == ["queued", "waiting", "waiting"]
    world.service.update_job("alice", job_id, {"enabled": False})
    world.clock.now = T0 + 190
    via_sqs.work([first], world.clock())
    world.work_queue()
    states = {r.data["datePlanned"]: r.state for r in world.runs(job_id)}
    assert states == {T0 + 60: "cancelled", T0 + 120: "cancelled", T0 + 180: "cancelled"}
    assert target.log == [] and world.get(job_id).running == 0


def test_a_lost_run_hands_its_place_to_the_next_in_line(world: World, target: HTTPServer) -> None:
    job_id = world.job(url=ok_handler(target), queueMax=2)
    via_sqs = queued_world(world)
    via_sqs.tick(T0 + 30)  # 12:01 holds the job's place...
    world.queue.drain()  # ...and its delivery is lost
    via_sqs.tick(T0 + 90)
    ((second, _),) = world.queue.drain()
    world.clock.now = T0 + 120
    via_sqs.work([second], world.clock())  # 12:02 waits
    world.clock.now = T0 + 600
    via_sqs.tick(world.clock())  # 12:01 is marked lost; the job has missed 12:03 to 12:10
    world.work_queue()
    order = [request.headers["webhook-id"] for request, _ in target.log]
    assert order[0] == f"{job_id}#{T0 + 120}"  # the waiting run first, then the late slot
    runs_by_slot = {r.data["datePlanned"]: r.state for r in world.runs(job_id)}
    assert runs_by_slot[T0 + 60] == "lost" and runs_by_slot[T0 + 120] == "done"
    assert "waiting" not in runs_by_slot.values() and world.get(job_id).running == 0


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


def test_it_retries_with_backoff_until_success(world: World, target: HTTPServer) -> None:
    job_id = world.job(url=failing_then_ok(target, [500, 502]), retries=3, retryDelay=10)
    world.dispatcher.tick(T0 + 30)
    first_delay = world.queue.sent[0][1]
    assert 8 <= first_delay <= 12
    world.work_queue()
    attempts = world.runs(job_id)
    assert [r.data["attempt"] for r in attempts] == [1, 2, 3]
    assert [r.data["status"] for r in attempts] == [4, 4, 1]
    assert {r.data["runId"] for r in attempts} == {attempts[0].run_id}
    # A retry's jitter is against its own time, not its run's slot (seconds earlier).
    assert all(r.data["jitter"] < 1000 for r in attempts)
    job = world.get(job_id)
    assert (job.success_count, job.failure_count, job.running, job.last_status) == (1, 0, 0, 1)


def test_it_honours_retry_after_on_429(world: World, target: HTTPServer) -> None:
    world.job(url=failing_then_ok(target, [429]), retries=1, retryDelay=5)
    world.dispatcher.tick(T0 + 30)
    assert world.queue.sent[0][1] >= 120


def test_it_disables_a_job_whose_target_is_gone(world: World, target: HTTPServer) -> None:
    job_id = world.job(url=ok_handler(target, status=410), retries=3)
    report = world.dispatcher.tick(T0 + 30)
    assert report["disabled"] == 1 and world.queue.sent == []
    job = world.get(job_id)
    assert not job.enabled and job.next_run_at is None and "410" in job.disabled_reason
    assert "410" in world.runs(job_id)[0].data["jobDisabled"]


def test_it_disables_a_job_after_a_failure_streak_and_notifies(
    world: World, target: HTTPServer
) -> None:
    hook = target.url_for("/notify")
    target.expect_request("/notify").respond_with_data("thanks")
    world.service.set_notification_settings("alice", {"url": hook})
    job_id = world.job(
        url=ok_handler(target, "/down", status=500),
        notification={"onDisable": True, "onFailure": True, "onFailureCount": 2},
    )
    for minute in range(4):
        world.dispatcher.tick(T0 + 30 + 60 * minute)
    job = world.get(job_id)
    assert not job.enabled and job.failure_streak == 4 and "4 failed runs" in job.disabled_reason
    notices = [json.loads(r.get_data()) for r, _ in target.log if r.path == "/notify"]
    assert [n["type"] for n in notices] == ["job.failed", "job.disabled"]
    assert notices[0]["failureStreak"] == 2
    signed = next(r for r, _ in target.log if r.path == "/notify")
    secret = world.stores.state.get_value(settings_key("alice"))["secret"]
    from standardwebhooks import Webhook

    Webhook(secret).verify(signed.get_data(), dict(signed.headers))


def test_a_failure_notice_names_the_run_as_run_now_did(world: World, target: HTTPServer) -> None:
    target.expect_request("/notify").respond_with_data("thanks")
    world.service.set_notification_settings("alice", {"url": target.url_for("/notify")})
    job_id = world.job(
        url=ok_handler(target, "/down", status=500),
        retries=1,
        retryDelay=10,
        notification={"onFailure": True, "onFailureCount": 1},
    )
    world.dispatcher.tick(T0 + 30)
    world.work_queue()
    first, second = world.runs(job_id)[:2]
    (notice,) = [json.loads(r.get_data()) for r, _ in target.log if r.path == "/notify"]
    assert notice["type"] == "job.failed" and notice["attempt"] == 2
    assert (notice["runId"], notice["identifier"]) == (first.run_id, second.run_id)


def test_it_notifies_the_first_success_after_failures(world: World, target: HTTPServer) -> None:
    target.expect_request("/notify").respond_with_data("thanks")
    world.service.set_notification_settings("alice", {"url": target.url_for("/notify")})
    job_id = world.job(url=failing_then_ok(target, [500]), notification={"onSuccess": True})
    world.dispatcher.tick(T0 + 30)
    world.dispatcher.tick(T0 + 90)
    notices = [json.loads(r.get_data()) for r, _ in target.log if r.path == "/notify"]
    assert [n["type"] for n in notices] == ["job.recovered"]
    assert world.get(job_id).failure_streak == 0


def test_a_catch_up_stops_where_one_of_its_runs_disables_the_job(
    world: World, target: HTTPServer
) -> None:
    # disable_after_failures is 4: the 4th missed slot disables the job, the 5th never calls.
    job_id = world.job(url=ok_handler(target, "/down", status=500), catchUp=True)
    world.clock.now = T0 + 330
    report = world.dispatcher.tick(T0 + 330)
    assert len(target.log) == 4 and report["disabled"] == 1
    states = [r.state for r in world.runs(job_id)]
    assert states[:4] == ["done"] * 4
    fifth = world.runs(job_id)[4]
    assert fifth.state == "cancelled" and "4 failed runs" in fifth.data["statusText"]
    job = world.get(job_id)
    assert not job.enabled and job.failure_streak == 4 and job.running == 0


def test_a_catch_up_that_recovers_says_so(world: World, target: HTTPServer) -> None:
    target.expect_request("/notify").respond_with_data("thanks")
    world.service.set_notification_settings("alice", {"url": target.url_for("/notify")})
    job_id = world.job(
        url=failing_then_ok(target, [500, 500]),
        catchUp=True,
        notification={"onFailure": True, "onSuccess": True},
    )
    world.clock.now = T0 + 270
    world.dispatcher.tick(T0 + 270)
    notices = [json.loads(r.get_data()) for r, _ in target.log if r.path == "/notify"]
    assert [n["type"] for n in notices] == ["job.failed", "job.recovered"]
    assert world.get(job_id).failure_streak == 0


def test_a_chain_to_a_deleted_job_shows_in_the_runs_history(
    world: World, target: HTTPServer
) -> None:
    gone = world.job(url=ok_handler(target), schedule={})
    job_id = world.job(url=ok_handler(target), chainSuccess=gone)
    world.service.delete_job("alice", gone)
    report = world.dispatcher.tick(T0 + 30)
    assert report["chain_missing"] == 1
    (run,) = world.runs(job_id)
    assert run.state == "done" and run.data["chainMissing"] == gone


def test_a_chained_run_into_a_scheduled_job_runs_though_its_next_slot_is_claimed(
    world: World, target: HTTPServer
) -> None:
    url = ok_handler(target)
    scheduled = world.job(url=url, schedule={"cron": "* * * * *"})
    queued_world(world).tick(T0 + 30)  # claims its T0 + 60 slot, which reserves its place
    assert world.get(scheduled).running == 1
    world.queue.drain()  # (that slot's delivery, for later)
    first = world.job(url=url, schedule={}, chainSuccess=scheduled)
    world.service.run_now("alice", first, None, world.dispatcher)
    world.work_queue()
    chained = [r for r in world.runs(scheduled) if r.data["trigger"] == "chain"]
    assert [r.state for r in chained] == ["done"]  # was skipped "still in flight"


def test_it_chains_the_next_job_and_stops_loops(world: World, target: HTTPServer) -> None:
    url = ok_handler(target)
    second = world.job(url=url, schedule={})
    first = world.job(url=url, chainSuccess=second)
    world.service.update_job("alice", second, {"chainSuccess": first})
    world.dispatcher.tick(T0 + 30)
    report = world.work_queue()
    chained = world.runs(second)
    assert len(chained) == 1 and chained[0].data["trigger"] == "chain"
    assert chained[0].data["chain"] == [first]
    assert report.get("chain_stopped") == 1
    assert len(world.runs(first)) == 1


@pytest.mark.parametrize(
    ("strategy", "status", "visible", "saved"),
    [
        ("MINIMAL", 200, True, False),
        ("FULL", 200, True, True),
        ("ERROR", 200, False, False),
        ("ERROR", 500, True, False),
        ("OFF", 500, False, False),
    ],
)
def test_it_keeps_history_as_the_strategy_says(
    world: World, target: HTTPServer, strategy: str, status: int, visible: bool, saved: bool
) -> None:
    job_id = world.job(
        url=ok_handler(target, status=status), historyStrategy=strategy, retentionDays=7
    )
    world.dispatcher.tick(T0 + 30)
    page = world.service.job_history("alice", job_id, 25, None)
    assert (len(page.items) == 1) is visible
    (run,) = world.runs(job_id)
    assert ("responseKey" in run.data) is saved
    if visible:
        assert run.expires_at == run.data["date"] + 7 * 86400
    if saved:
        assert world.blobs.items[run.data["responseKey"]][1] == 7


@pytest.mark.parametrize("catch_up", [False, True])
def test_the_slots_of_a_scheduler_switched_off_neither_fire_nor_count_as_missed(
    world: World, target: HTTPServer, catch_up: bool
) -> None:
    job_id = world.job(url=ok_handler(target), catchUp=catch_up)
    world.service.set_scheduler("alice", {"enabled": False})
    assert world.dispatcher.tick(T0 + 30)["scheduler_off"] == 1
    world.clock.now = T0 + 290
    (moved,) = world.service.set_scheduler("alice", {"enabled": True})
    assert moved.job_id == job_id and world.get(job_id).next_run_at == T0 + 300
    world.clock.now = T0 + 300
    world.dispatcher.tick(T0 + 300)
    runs = [r for r in world.runs(job_id) if r.data["datePlanned"] <= T0 + 300]
    # Not 01..04 (the switch was off), nor "missed": 05 is the first slot since it came on.
    assert [r.data["datePlanned"] for r in runs] == [T0 + 300]
    assert "missedSlots" not in runs[0].data and runs[0].data["status"] == 1
    assert world.service.set_scheduler("alice", {"enabled": True}) == []  # already on


def test_the_history_shows_the_url_called_after_an_edit_since_the_claim(
    world: World, target: HTTPServer
) -> None:
    job_id = world.job(url=ok_handler(target, "/before"), schedule={"cron": "* * * * *"})
    queued = queued_world(world)
    queued.tick(T0 + 30)  # claims T0+60, queued for its second
    after = ok_handler(target, "/after")
    world.service.update_job("alice", job_id, {"url": after})
    for body, _ in world.queue.drain():
        queued.work([body], T0 + 60)
    (run,) = [r for r in world.runs(job_id) if r.state == "done"]
    assert [r.path for r, _ in target.log] == ["/after"]
    assert run.data["url"] == after


def test_a_run_kept_out_of_the_history_still_answers_to_its_id(
    world: World, target: HTTPServer
) -> None:
    from chalicelib.errors import NotFound

    job_id = world.job(url=ok_handler(target), historyStrategy="OFF", schedule={})
    run_id = world.service.run_now("alice", job_id, None, world.dispatcher)
    world.work_queue()
    # GET /runs/{runId}: a client that started the run sees how it ended (it was a 404)...
    outcome = world.service.run_outcome("alice", run_id)
    assert outcome.state == "done" and outcome.data["status"] == 1
    # ... while the history keeps none of it, as historyStrategy OFF says.
    assert world.service.job_history("alice", job_id, 10, None).items == []
    with pytest.raises(NotFound):
        world.service.get_run("alice", run_id)


def test_it_runs_now_without_moving_the_schedule(world: World, target: HTTPServer) -> None:
    job_id = world.job(url=ok_handler(target))
    run_id = world.service.run_now(
        "alice", job_id, {"extendedData": {"body": "override"}}, world.dispatcher
    )
    world.work_queue()
    run = world.service.get_run("alice", run_id)
    assert run.state == "done" and run.data["trigger"] == "manual"
    assert target.log[0][0].get_data() == b"override"
    assert world.get(job_id).next_run_at == T0 + 60


def test_it_ignores_a_duplicate_delivery(world: World, target: HTTPServer) -> None:
    job_id = world.job(url=ok_handler(target))
    world.service.run_now("alice", job_id, None, world.dispatcher)
    ((body, _),) = world.queue.drain()
    world.dispatcher.work([body], world.clock())
    report = world.dispatcher.work([body], world.clock())
    assert report == {"duplicate": 1} and len(target.log) == 1


def test_it_packs_runs_due_the_same_second_into_few_messages(
    world: World, target: HTTPServer
) -> None:
    # 25 runs due at T0 + 60 travel in 3 messages; one worker invocation runs them all.
    world.dispatcher.settings = replace(world.settings, inline_max=0)
    ids = [world.job(url=ok_handler(target, f"/p{n}")) for n in range(25)]
    every_20_s = {"cron": "*/20 * * * * ?"}
    world.job(url=ok_handler(target, "/s"), schedule=every_20_s, maxConcurrent=4)
    report = world.dispatcher.tick(T0 + 30)
    assert report["queued"] == 25 + 4
    sent = world.queue.drain()
    by_delay = sorted((delay, len(json.loads(text)["tasks"])) for text, delay in sent)
    assert by_delay == [(10, 1), (30, 6), (30, 10), (30, 10), (50, 1), (70, 1)]
    world.clock.now = T0 + 60
    report = world.dispatcher.work([text for text, delay in sent if delay == 30], T0 + 60)
    assert report == {"ok": 26}
    assert all(world.runs(i)[0].data["status"] == 1 for i in ids)


def test_it_works_a_message_queued_before_runs_were_packed(
    world: World, target: HTTPServer
) -> None:
    job_id = world.job(url=ok_handler(target))
    world.service.run_now("alice", job_id, None, world.dispatcher)
    ((text, _),) = world.queue.drain()
    (task,) = json.loads(text)["tasks"]
    old = json.dumps({"v": 1, **task})  # as cronhook sent it before: one task a message
    assert world.dispatcher.work([old, "{not json"], world.clock()) == {"ok": 1, "malformed": 1}
    assert world.dispatcher.work([old], world.clock()) == {"duplicate": 1}
    assert len(target.log) == 1


def test_it_cancels_a_queued_run_of_a_deleted_job(world: World) -> None:
    job_id = world.job(url="http://127.0.0.1:9/")
    world.service.run_now("alice", job_id, None, world.dispatcher)
    world.service.delete_job("alice", job_id)
    assert world.work_queue() == {"cancelled": 1}


def claim_two_ahead(world: World, target: HTTPServer) -> int:
    """A job every 30 s whose runs at 12:01:00 and 12:01:30 the tick at 12:00:30 sent to SQS."""
    world.dispatcher.settings = replace(world.settings, inline_max=0)
    job_id = world.job(url=ok_handler(target), schedule={"cron": "*/30 * * * * ?"})
    assert world.dispatcher.tick(T0 + 30)["queued"] == 2
    return job_id


def test_it_cancels_claimed_runs_of_a_job_disabled_before_they_fire(
    world: World, target: HTTPServer
) -> None:
    # The tick claims up to two minutes ahead; a job paused (or disabled by a 410) meanwhile
    # must not call its target again. A run-now of the paused job was asked for: it runs.
    job_id = claim_two_ahead(world, target)
    world.service.update_job("alice", job_id, {"enabled": False})
    world.service.run_now("alice", job_id, None, world.dispatcher)
    assert world.work_queue() == {"cancelled": 2, "ok": 1}
    assert len(target.log) == 1
    runs = world.runs(job_id)
    assert [r.data["trigger"] for r in runs if r.state == "done"] == ["manual"]
    cancelled = [r for r in runs if r.state == "cancelled"]
    assert [r.data["datePlanned"] for r in cancelled] == [T0 + 60, T0 + 90]
    assert {r.data["statusText"] for r in cancelled} == {"Cancelled: the job was disabled"}
    assert world.get(job_id).running == 0  # the claim's in-flight count was given back


def test_it_cancels_claimed_runs_the_new_schedule_of_their_job_does_not_have(
    world: World, target: HTTPServer
) -> None:
    job_id = claim_two_ahead(world, target)
    world.service.update_job("alice", job_id, {"schedule": {"cron": "* * * * *"}})
    assert world.work_queue() == {"cancelled": 1, "ok": 1}  # 12:01:00 is still a slot
    done, cancelled = world.runs(job_id)
    assert (done.state, done.data["datePlanned"]) == ("done", T0 + 60)
    assert cancelled.data["statusText"] == "Cancelled: the job's schedule no longer has this time"


def test_it_cancels_claimed_runs_once_the_scheduler_is_switched_off(
    world: World, target: HTTPServer
) -> None:
    job_id = claim_two_ahead(world, target)
    world.stores.state.set_scheduler_enabled("alice", False)
    assert world.work_queue() == {"cancelled": 2}
    assert target.log == [] and world.get(job_id).running == 0
    (run, _) = world.runs(job_id)
    assert run.data["statusText"] == "Cancelled: the scheduler is switched off"


def test_two_runs_now_in_one_second_are_two_webhook_messages(
    world: World, target: HTTPServer
) -> None:
    # Receivers drop a webhook-id they have seen; retries of one run keep theirs.
    target.expect_request("/hook").respond_with_data("no", status=500)
    job_id = world.job(url=target.url_for("/hook"), retries=1, retryDelay=1)
    world.service.run_now("alice", job_id, None, world.dispatcher)
    world.service.run_now("alice", job_id, None, world.dispatcher)
    world.work_queue()
    ids = [request.headers["webhook-id"] for request, _ in target.log]
    assert len(ids) == 4 and len(set(ids)) == 2
    assert all(i.startswith(f"{job_id}#{T0 + 30}#m") for i in ids)
    first_run = world.runs(job_id)[0].data["runId"]
    assert ids.count(f"{job_id}#{T0 + 30}#{first_run.split('-', 3)[3]}") == 2


def test_a_job_saved_mid_minute_fires_its_slots_before_the_next_tick(
    world: World, target: HTTPServer
) -> None:
    # The tick of this minute ran before the job existed; waiting for the next one would fire
    # T0 + 40 and T0 + 50 late (and skip one of them while the other ran).
    world.clock.now = T0 + 35
    job_id = world.job(url=ok_handler(target), schedule={"cron": "*/10 * * * * ?"})
    job = world.get(job_id)
    # Up to the end of the next minute, as this minute's tick claimed for the other jobs.
    assert world.service.fire_soon(job, lambda: world.dispatcher) == 8
    for text, delay in sorted(world.queue.drain(), key=lambda m: m[1]):
        world.clock.now = T0 + 35 + delay  # as SQS delivers it
        assert world.dispatcher.work([text], world.clock()) == {"ok": 1}
    assert [r.data["date"] for r in world.runs(job_id)] == [T0 + 40 + 10 * n for n in range(8)]
    report = world.dispatcher.tick(T0 + 60)  # takes over from the next slot: nothing twice
    assert report["claimed"] == 6 and report.get("already_claimed", 0) == 0
    planned = [r.data["datePlanned"] for r in world.runs(job_id)]
    assert planned == sorted(set(planned)) and planned[7:9] == [T0 + 110, T0 + 120]


def test_a_job_saved_mid_minute_has_its_slot_on_the_next_minute_claimed_before_it(
    world: World, target: HTTPServer
) -> None:
    # The tick at T0 + 60 would claim it only as that second came: a second or more late.
    world.clock.now = T0 + 30
    job_id = world.job(url=ok_handler(target), schedule={"cron": "* * * * *"})
    assert world.service.fire_soon(world.get(job_id), lambda: world.dispatcher) == 1
    ((text, delay),) = world.queue.drain()
    assert delay == 30
    world.clock.now = T0 + 60
    assert world.dispatcher.work([text], world.clock()) == {"ok": 1}
    assert world.dispatcher.tick(T0 + 60)["claimed"] == 1  # the next one, T0 + 120
    assert [r.data["datePlanned"] for r in world.runs(job_id)] == [T0 + 60, T0 + 120]


def test_the_next_execution_is_a_slot_claimed_ahead_until_it_fires(world: World) -> None:
    # The tick at 12:00:30 claims 12:01:00 ahead: the job's position moves to 12:02:00, but
    # what a user must read as the next execution is 12:01:00, until it has fired.
    world.dispatcher.settings = replace(world.settings, inline_max=0)
    job_id = world.job(url="http://127.0.0.1:9/")
    assert world.dispatcher.tick(T0 + 30)["queued"] == 1
    job = world.get(job_id)
    assert job.next_run_at == T0 + 120
    assert jobs.next_execution(job, T0 + 31) == T0 + 60
    assert jobs.summary(job, T0 + 31)["nextExecution"] == T0 + 60
    assert world.service.predictions(job) == [T0 + 60, T0 + 120, T0 + 180]
    # ... and it is a prediction, not yet history, nor a run in flight.
    assert world.service.job_history("alice", job_id, 10, None).items == []
    assert world.service.account_history("alice", 10, None).items == []
    assert world.service.active_runs("alice") == []
    world.clock.now = T0 + 60
    (planned,) = world.service.job_history("alice", job_id, 10, None).items
    assert planned.data["datePlanned"] == T0 + 60
    assert [r.data["datePlanned"] for r in world.service.active_runs("alice")] == [T0 + 60]
    world.clock.now = T0 + 31
    assert jobs.next_execution(job, T0 + 60) == T0 + 120  # fired (or firing): the next one
    one_shot = world.job(url="http://127.0.0.1:9/", schedule={"at": "2026-11-23T12:01:30Z"})
    assert world.dispatcher.tick(T0 + 31)["queued"] == 1
    claimed = world.get(one_shot)
    assert claimed.next_run_at is None and jobs.next_execution(claimed, T0 + 31) == T0 + 90
    assert jobs.next_execution(claimed, T0 + 90) is None
    world.service.update_job("alice", job_id, {"enabled": False})
    assert jobs.details(world.get(job_id), T0 + 31)["nextExecution"] is None


def test_fire_soon_leaves_slots_after_the_next_minute_to_the_tick(world: World) -> None:
    job_id = world.job(url="http://127.0.0.1:9/", schedule={"cron": "2 * * * *"})  # T0 + 120
    assert world.service.fire_soon(world.get(job_id), lambda: world.dispatcher) == 0
    world.clock.now = T0 + 45
    paused = world.job(url="http://127.0.0.1:9/", enabled=False, schedule={"cron": "* * * * * ?"})
    assert world.service.fire_soon(world.get(paused), lambda: world.dispatcher) == 0
    one_shot = world.job(url="http://127.0.0.1:9/", schedule={"at": "2026-11-23T12:00:50Z"})
    world.stores.state.set_scheduler_enabled("alice", False)
    assert world.service.fire_soon(world.get(one_shot), lambda: world.dispatcher) == 0
    world.stores.state.set_scheduler_enabled("alice", True)
    assert world.service.fire_soon(world.get(one_shot), lambda: world.dispatcher) == 1
    assert world.queue.drain()[0][1] == 5  # delayed to its planned second


def test_a_failed_early_claim_leaves_the_saved_job_to_the_tick(world: World) -> None:
    world.clock.now = T0 + 45
    job_id = world.job(url="http://127.0.0.1:9/", schedule={"cron": "*/10 * * * * ?"})

    def broken() -> Dispatcher:
        raise RuntimeError("no queue")

    assert world.service.fire_soon(world.get(job_id), broken) == 0
    assert world.get(job_id).next_run_at == T0 + 50
    world.dispatcher.execute = fake_execute([], world.clock)
    world.clock.now = T0 + 60
    assert world.dispatcher.tick(T0 + 60)["claimed"] >= 1  # the slot at T0 + 50, late


def fake_execute(calls: list[float], clock: Clock) -> Any:
    def execute(request: executor.Request, policy: executor.Policy) -> executor.Result:
        calls.append(clock())
        return ok_result(clock(), 1)

    return execute


@pytest.mark.parametrize(
    "schedule",
    [
        {
            "timezone": "Europe/Berlin",
            "expiresAt": 0,
            "hours": [6, 18],
            "mdays": [-1],
            "minutes": [0, 30],
            "months": [-1],
            "wdays": [-1],
        },
        {"cron": "*/7 9-17 * * *", "timezone": "America/New_York"},
        {"cron": "15 */10 * * * ?"},
        {"timing": {"hours": [3], "minutes": [5, 55]}, "timezone": "Asia/Kolkata"},
        {"at": "2026-11-23T15:45:00+01:00"},
    ],
    ids=["cron-job.org", "unix", "quartz", "cronicle", "one-shot"],
)
def test_it_fires_each_schedule_form_exactly_at_its_times_over_a_day(
    world: World, schedule: dict[str, Any]
) -> None:
    from chalicelib.schedule import Schedule

    calls: list[float] = []
    world.dispatcher.execute = fake_execute(calls, world.clock)
    job_id = world.job(url="http://127.0.0.1:9/", schedule=schedule)
    start = T0
    for minute in range(24 * 60):
        now = start + 30 + 60 * minute
        world.clock.now = max(world.clock.now, now)
        world.dispatcher.tick(now)
    expected = []
    parsed = Schedule.parse(schedule)
    t = parsed.next_after(start + 30)  # the job was created at 12:00:30
    while t is not None and t < start + 86400:
        expected.append(t)
        t = parsed.next_after(t)
    fired = [
        r.data["datePlanned"] for r in world.runs(job_id) if r.data["datePlanned"] < start + 86400
    ]
    assert fired == expected and expected
    assert [c for c in calls if c < start + 86400] == [float(t) for t in expected]
