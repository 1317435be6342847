"""The tick: which slots it claims, once, however ticks race; inline or queued; early claims of
a job just saved; every schedule form on its times.

The in-memory stores, real loopback targets and a fake clock (tests/dispatch/support.py).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from chalicelib import jobs
from chalicelib.config import Settings
from chalicelib.dispatch import Dispatcher
from tests.dispatch.support import (
    T0,
    World,
    fake_execute,
    ok_handler,
)
from tests.helpers import sent_tasks


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


def test_a_tick_reads_a_full_shard_again_until_every_due_job_is_claimed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.dispatch import ticker

    monkeypatch.setattr(ticker, "DUE_LIMIT", 1)  # pages of 1: 10 jobs in 8 shards, two rounds
    ids = [world.job(url="http://127.0.0.1:9/") for _ in range(10)]
    report = world.dispatcher.tick(T0 + 30)
    # Small enough to run inline, a drained burst still goes through the queue.
    assert (report["due"], report["claimed"], report["queued"]) == (10, 10, 10)
    assert "inline" not in report
    assert "due_left" not in report
    assert all(world.get(job_id).next_run_at == T0 + 120 for job_id in ids)


def test_ticks_of_different_shards_claim_their_own_jobs_and_one_sweeps(world: World) -> None:
    world.dispatcher.settings = replace(world.settings, inline_max=0)
    ids = [world.job(url="http://127.0.0.1:9/") for _ in range(16)]
    by_shard = {s: [j for j in ids if j % world.settings.due_shards == s] for s in (0, 1)}
    world.stores.state.put_value("sweep#mark", None)
    assert len(by_shard[0]) == len(by_shard[1]) == 2
    odd = world.dispatcher.tick(T0 + 30, shards=[1])
    assert odd["claimed"] == len(by_shard[1])
    assert world.stores.state.get_value("sweep#mark") is None  # shard 0's tick sweeps
    even = world.dispatcher.tick(T0 + 30, shards=[0])
    assert even["claimed"] == len(by_shard[0])
    assert isinstance(world.stores.state.get_value("sweep#mark"), int)


def test_a_run_whose_call_may_outlast_the_ticks_minute_goes_through_the_queue(
    world: World, target: HTTPServer
) -> None:
    quick = world.job(url=ok_handler(target, "/quick"))
    slow = world.job(url=ok_handler(target, "/slow"), requestTimeout=60)
    report = world.dispatcher.tick(T0 + 30)
    assert (report["inline"], report["queued"]) == (1, 1)
    assert [r.state for r in world.runs(quick)] == ["done"]
    sent = world.queue.drain()
    assert [task["job"] for task, _ in sent_tasks(sent)] == [slow]
