"""The pure plan: which slots a tick claims and whether a claimed run still fires, decided from
the job, its schedule and the time alone (no store, no clock)."""

from __future__ import annotations

from typing import Any

from chalicelib import jobs
from chalicelib.config import Settings
from chalicelib.dispatch import plan
from chalicelib.schedule import Schedule
from chalicelib.store.base import JobRecord, RunRecord
from tests.dispatch.support import T0


def job(next_run_at: int | None = T0 + 60, running: int = 0, **fields: Any) -> JobRecord:
    spec = jobs.validate(
        jobs.with_defaults(
            {"url": "https://example.com/", "enabled": True, "schedule": {"cron": "* * * * *"}}
            | fields
        ),
        folder_ids=set(),
    ).spec
    return JobRecord("alice", 1, spec, next_run_at=next_run_at, running=running)


def run(planned: int, **data: Any) -> RunRecord:
    return RunRecord("alice", 1, f"1-{planned}", "queued", {"datePlanned": planned, **data})


def test_it_plans_every_slot_up_to_the_end_of_the_next_minute() -> None:
    every_20s = job(T0 + 20, schedule={"cron": "*/20 * * * * ?"})
    planned = plan.plan(every_20s, T0 + 10, plan.window_end(T0 + 10))
    assert planned is not None
    assert [slot for slot, _ in planned.slots] == [T0 + 20, T0 + 40, T0 + 60, T0 + 80, T0 + 100]
    assert planned.next_run_at == T0 + 120 and planned.in_order == 0 and planned.missed == 0


def test_it_plans_nothing_for_a_job_not_due_in_the_window() -> None:
    assert plan.plan(job(T0 + 600), T0, plan.window_end(T0)) is None
    assert plan.plan(job(None), T0, plan.window_end(T0)) is None
    assert plan.plan(job(enabled=False), T0, plan.window_end(T0)) is None


def test_after_downtime_it_plans_one_run_now_and_the_window_on_time() -> None:
    hours_later = T0 + 3600 + 30
    planned = plan.plan(job(T0), hours_later, plan.window_end(hours_later))
    assert planned is not None
    assert planned.missed == 61 and planned.in_order == 1
    assert planned.slots[0] == (T0 + 3600, hours_later)  # the last missed slot, run now
    assert planned.extra == {"missedSlots": 60}
    assert [slot for slot, _ in planned.slots[1:]] == [T0 + 3660]  # up to 13:01:59


def test_with_catch_up_it_plans_every_missed_slot_now_in_order() -> None:
    later = T0 + 300 + 30
    planned = plan.plan(job(T0, catchUp=True), later, plan.window_end(later))
    assert planned is not None
    assert planned.in_order == 6 and all(at == later for _, at in planned.slots[:6])


def test_a_claim_counts_its_run_in_flight_only_when_nothing_else_can_be() -> None:
    minutely = job()
    schedule = Schedule.parse(minutely.spec["schedule"])
    assert plan.reserve(minutely, schedule, T0 + 60, T0 + 30)
    assert not plan.reserve(job(running=1), schedule, T0 + 60, T0 + 30)
    # A run planned 10 s ago may still be starting: the place is taken when each run starts.
    assert not plan.reserve(minutely, schedule, T0 + 60, T0 + 10)


def test_a_run_delivered_long_after_its_time_is_missed_when_a_later_slot_is_due() -> None:
    minutely = job()
    assert plan.missed(minutely, run(T0, deliverAt=T0), T0 + 30) == ""
    assert plan.missed(minutely, run(T0, deliverAt=T0), T0 + 200).startswith("Skipped: missed")
    assert plan.missed(job(catchUp=True), run(T0, deliverAt=T0), T0 + 200) == ""
    assert plan.missed(minutely, run(T0, deliverAt=T0, trigger="manual"), T0 + 200) == ""


def test_a_claimed_run_stops_when_its_job_or_account_stopped() -> None:
    always_on = lambda account: True  # noqa: E731
    assert plan.stopped(job(), run(T0), always_on) == ""
    disabled = job(enabled=False)
    assert plan.stopped(disabled, run(T0), always_on) == "Cancelled: the job was disabled"
    hourly = job(schedule={"cron": "0 * * * *"})
    assert plan.stopped(hourly, run(T0 + 60), always_on).endswith("no longer has this time")
    assert plan.stopped(job(), run(T0), lambda account: False).endswith("switched off")
    asked_for = run(T0 + 1, trigger="manual")
    assert plan.stopped(disabled, asked_for, lambda account: False) == ""


def test_the_deadline_allows_the_timeout_and_a_margin() -> None:
    settings = Settings(default_request_timeout=30)
    assert plan.timeout(job(), settings) == 30
    assert plan.timeout(job(requestTimeout=5), settings) == 5
    assert plan.deadline(job(), settings, T0 + 60, T0) > T0 + 90


def test_jobs_sharing_a_schedule_and_position_share_one_plan_but_keep_their_own_job() -> None:
    planner = plan.Planner(T0 + 30, plan.window_end(T0 + 30))
    idle, busy, other = job(), job(running=1), job(schedule={"cron": "*/2 * * * *"})
    plans = [planner.plan(j) for j in (idle, busy, other, job())]
    assert all(p is not None for p in plans)
    first, second, third, fourth = (p for p in plans if p is not None)
    assert (first.job, second.job, third.job) == (idle, busy, other)
    assert first.reserve and not second.reserve  # a run in flight: no place taken ahead
    assert [s for s, _ in third.slots] == [T0 + 60]
    assert fourth.slots == first.slots and fourth.slots is not first.slots
