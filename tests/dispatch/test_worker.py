"""The worker: run-now, duplicate deliveries, packed messages, runs cancelled before they fire.

The in-memory stores, real loopback targets and a fake clock (tests/dispatch/support.py).
"""

from __future__ import annotations

import json
from dataclasses import replace

from pytest_httpserver import HTTPServer

from tests.dispatch.support import (
    T0,
    World,
    claim_two_ahead,
    ok_handler,
    queued_world,
)


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


def test_a_queued_run_comes_early_is_taken_before_its_second_and_calls_on_it(
    world: World, target: HTTPServer
) -> None:
    dispatcher = queued_world(world)
    dispatcher.settings = replace(dispatcher.settings, delivery_lead_s=2)
    job_id = world.job(url=ok_handler(target))
    dispatcher.tick(T0 + 30)
    ((body, delay),) = world.queue.drain()
    assert delay == 28  # 2 s before 12:01:00
    seen: list[tuple[float, str, dict[str, int]]] = []

    def sleep(seconds: float) -> None:  # what a copy of the message finds while it waits
        (run,) = world.runs(job_id)
        seen.append((world.clock(), run.state, world.dispatcher.work([body], world.clock())))
        world.clock.sleep(seconds)

    dispatcher.sleep = sleep
    world.clock.now = T0 + 58
    assert dispatcher.work([body], world.clock())["ok"] == 1
    # Taken before the wait, not after it: the message's mark. The record stays queued (no
    # write) until the result replaces it.
    assert seen == [(T0 + 58, "queued", {"duplicate": 1})]
    assert len(target.log) == 1
    (run,) = world.runs(job_id)
    assert run.data["date"] == T0 + 60 and run.data["jitter"] == 0


def test_a_routine_run_aborted_or_changed_before_its_worker_takes_it_obeys(
    world: World, target: HTTPServer
) -> None:
    # A routine run reads its controls only if its record says it has some: the abort and
    # the change say so on the queued record.
    dispatcher = queued_world(world)
    stopped = world.job(url=ok_handler(target, "/stopped"))
    changed = world.job(url=ok_handler(target, "/changed"))
    dispatcher.tick(T0 + 30)
    ((body, _),) = world.queue.drain()  # both due at T0 + 60: one message
    (aborted,) = world.runs(stopped)
    world.service.abort_run("alice", aborted.run_id, "alice")
    (patched,) = world.runs(changed)
    world.service.update_run("alice", patched.run_id, {"requestTimeout": 7})
    assert world.runs(stopped)[0].data["controlled"] and world.runs(changed)[0].data["controlled"]
    world.clock.now = T0 + 60
    report = dispatcher.work([body], world.clock())
    assert report["ok"] == 1 and [r.path for r, _ in target.log] == ["/changed"]
    (run,) = world.runs(stopped)
    assert run.state == "aborted" and run.data["statusText"] == "Aborted by alice"
