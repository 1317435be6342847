"""The sweep: runs whose runner vanished are marked lost, once, through the watch lists.

The in-memory stores, real loopback targets and a fake clock (tests/dispatch/support.py).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from chalicelib import executor
from tests.dispatch.support import (
    T0,
    World,
    die_after_claiming,
)
from tests.helpers import ok_result


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
