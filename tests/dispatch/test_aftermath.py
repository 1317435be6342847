"""What follows a run: retries, disabling, notices, chains, history strategies, the scheduler
switch.

The in-memory stores, real loopback targets and a fake clock (tests/dispatch/support.py).
"""

from __future__ import annotations

import json

import pytest
from pytest_httpserver import HTTPServer

from chalicelib.notify import settings_key
from tests.dispatch.support import (
    T0,
    World,
    failing_then_ok,
    ok_handler,
    queued_world,
)


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
    world.clock.now = T0 + 61
    (run,) = world.service.job_history("alice", job_id, 10, None).items
    assert [r.path for r, _ in target.log] == ["/after"]
    assert run.data["url"] == after


def test_a_run_shows_the_url_it_called_after_its_job_moved_elsewhere(
    world: World, target: HTTPServer
) -> None:
    # A run's record leaves out its job's URL (a run item stays under 1 KB whatever the URL's
    # length): the job's past URLs say what its earlier versions called.
    long = ok_handler(target, "/first") + "?" + "q" * 1500
    job_id = world.job(url=long, schedule={"cron": "* * * * *"})
    world.dispatcher.tick(T0 + 30)
    (stored,) = world.runs(job_id)
    assert "url" not in stored.data and len(json.dumps(stored.data)) < 900
    second = ok_handler(target, "/second")
    world.service.update_job("alice", job_id, {"url": second})
    world.service.update_job("alice", job_id, {"title": "renamed"})  # the URL stays
    world.dispatcher.tick(T0 + 90)
    world.clock.now = T0 + 121
    shown = world.service.job_history("alice", job_id, 10, None).items
    assert [r.data["url"] for r in shown] == [second, long]
    assert [r.path for r, _ in target.log] == ["/first", "/second"]
    assert world.service.get_run("alice", stored.run_id).data["url"] == long


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
