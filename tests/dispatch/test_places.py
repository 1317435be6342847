"""Places in flight (maxConcurrent), the line behind them (queueMax), and runs after downtime.

The in-memory stores, real loopback targets and a fake clock (tests/dispatch/support.py).
"""

from __future__ import annotations

from collections import Counter

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request as WRequest
from werkzeug import Response as WResponse

from tests.dispatch.support import (
    T0,
    World,
    ok_handler,
    queued_world,
)


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
