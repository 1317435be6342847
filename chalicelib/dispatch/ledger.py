"""The ledger of claims and records: a slot is claimed by creating its run record (the id is
derived from the job and the planned time, and the write fails if it exists), then the job is
moved past it with a write that only lands if the job still waits on that slot. Runs are noted
on watch lists before they are claimed, so that the sweep finds what a dead runner left.
Every state change of a run is conditional on the state it was read in."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from chalicelib import runs
from chalicelib.dispatch import plan as planning
from chalicelib.dispatch.delivery import Task, enqueue
from chalicelib.errors import StoreError
from chalicelib.store.base import JobRecord, RunRecord, Watch

if TYPE_CHECKING:
    from chalicelib.dispatch.dispatcher import Dispatcher
    from chalicelib.dispatch.plan import Plan

log = logging.getLogger(__name__)

# Runs in a terminal state without a result (skipped, cancelled, lost) are kept this long.
ENDED_KEPT_S = 30 * 86400


def new_token() -> str:
    return uuid.uuid4().hex[:16]


def new_run(
    d: Dispatcher,
    job: JobRecord,
    planned: float,
    deliver_at: float,
    *,
    trigger: str,
    attempt: int = 1,
    tag: str = "",
    first_run: str | None = None,
    extra: dict[str, Any] | None = None,
    claim: str = "",
) -> RunRecord:
    """A `queued` run record of `job` planned for `planned`, to be delivered at `deliver_at`."""
    run_id = runs.run_id(job.job_id, planned, attempt, tag)
    data = {
        "datePlanned": int(planned),
        "plannedMs": round(planned * 1000),
        "deliverAt": deliver_at,
        "attempt": attempt,
        "runId": first_run or run_id,
        "trigger": trigger,
        "statusText": "Queued",
        **(extra or {}),
    }
    data = runs.with_url(data, job.spec["url"], job.spec, job.version)
    deadline = planning.deadline(job, d.settings, deliver_at, d.clock())
    return RunRecord(
        job.account_id, job.job_id, run_id, "queued", data, deadline, claim=claim or new_token()
    )


def watch_entry(d: Dispatcher, job: JobRecord, planned: float, deliver_at: float) -> Watch:
    run_id = runs.run_id(job.job_id, planned)
    return (
        job.account_id,
        job.job_id,
        run_id,
        planning.deadline(job, d.settings, deliver_at, d.clock()),
    )


def watch(d: Dispatcher, entries: list[Watch]) -> None:
    if entries:
        d.stores.runs.watch(entries, new_token())


def wake(d: Dispatcher, plans: list[Plan]) -> None:
    """Note the jobs not due again within the next tick's window on the wake lists of their
    next run's minute, before their claims take them out of the `due` index: a tick that dies
    in between leaves a job on both, never on neither. A list that cannot be written leaves
    its jobs in the index (they cost more, and still run)."""
    later = [p for p in plans if p.next_run_at is not None and p.next_run_at > p.stay_until]
    if not later:
        return
    try:
        note_woken(d, [(p.job, (p.next_run_at or 0) // 60) for p in later])
    except StoreError as exc:
        log.warning("tick: wake lists not written; %d jobs stay in the due index", len(later))
        log.debug("wake lists: %s", exc.message)
        return
    for plan in later:
        plan.woken = True


def note_woken(d: Dispatcher, jobs: list[tuple[JobRecord, int]]) -> None:
    """Note each job on the wake list of its shard and the minute given with it."""
    shards = d.settings.due_shards
    entries = [(j.account_id, j.job_id, j.job_id % shards, minute) for j, minute in jobs]
    d.stores.runs.wake(entries, new_token())


def watch_runs(d: Dispatcher, records: list[RunRecord]) -> None:
    watch(d, [(r.account_id, r.job_id, r.run_id, r.active_deadline or 0) for r in records])


def claim(d: Dispatcher, plan: Plan, report: Counter[str]) -> list[Task]:
    """The plan's claimed runs as tasks; none when another tick holds the slot or the job's
    storage fails (which must not keep a tick from the others)."""
    try:
        return claim_slots(d, plan, report)
    except StoreError as exc:
        log.error("tick: job %s not claimed: %s", plan.job.job_id, exc.message)
        report["claim_errors"] += 1
        return []


def claim_slots(d: Dispatcher, plan: Plan, report: Counter[str]) -> list[Task]:
    """Create the slots' run records, then move the job on; stop at the first taken slot."""
    job, next_run_at = plan.job, plan.next_run_at
    created: list[RunRecord] = []
    for n, (slot, deliver_at) in enumerate(plan.slots):
        extra = plan.extra if n < plan.in_order else {}
        run = new_run(d, job, slot, deliver_at, trigger="schedule", extra=extra, claim=plan.token)
        # The advance below may count one run in flight (`plan.reserve`); the first claimed
        # run carries it, so that the sweep can give it back if this tick dies.
        run.data["holds"] = plan.reserve and not created
        if d.stores.runs.create(run):
            created.append(run)
            continue
        existing = d.stores.runs.get(job.account_id, job.job_id, run.run_id)
        if (
            existing is not None
            and existing.state in runs.ACTIVE_STATES
            and (existing.active_deadline or 0) > d.clock()
        ):
            report["already_claimed"] += 1
            return cancel(d, created, "another tick claimed this slot")
        # A dead claimer's record: move the job past it; the sweep marks the run lost.
        report["stale_claims"] += 1
    outcome = d.stores.jobs.advance(
        job.account_id,
        job.job_id,
        job.next_run_at or 0,
        next_run_at,
        int(job.spec.get("maxConcurrent", 1)) if created and plan.reserve else 0,
        # A job due again within the next tick's window may stay put in the due index; one on
        # the wake list of its next minute may leave it.
        stay_until=plan.stay_until,
        woken=plan.woken,
    )
    if outcome == "moved":
        report["moved_meanwhile"] += 1
        return cancel(d, created, "the job changed while its slot was being claimed")
    if not created:
        return []
    # Not counted ("busy"): each run takes its place when it starts, or finds the job at its
    # bound then and waits or is skipped.
    counted = outcome == "started"
    created[0].data["holds"] = counted
    tasks = [Task(job, created[: plan.in_order], counted)] if plan.in_order else []
    alone = created[plan.in_order :]
    first_counted = counted and not plan.in_order
    return tasks + [Task(job, [run], first_counted and n == 0) for n, run in enumerate(alone)]


def cancel(d: Dispatcher, created: list[RunRecord], why: str) -> list[Task]:
    for run in created:
        finish(d, run, "skipped", {"status": 0, "statusText": f"Skipped: {why}"})
    return []


def finish(d: Dispatcher, run: RunRecord, state: str, data: dict[str, Any]) -> bool:
    """End the run as `state` unless its record changed meanwhile (then False)."""
    expected = run.state
    run.state, run.active_deadline = state, None
    run.data = {**run.data, **data}
    run.expires_at = int(d.clock()) + ENDED_KEPT_S
    return d.stores.runs.update(run, expected)


def keep_result(d: Dispatcher, done: RunRecord, expected: str) -> str:
    """Write the attempt's record over the run's, if that is still `expected` or a sweep marked
    it lost while it ran (the call did happen: its result is worth more than "lost"). Returns
    the state the result replaced, or the one that kept it out; "lost, released" when the sweep
    that marked it lost gave its in-flight count back."""
    replaced = expected
    for _ in range(3):
        if d.stores.runs.update(done, expected):
            return replaced
        current = d.stores.runs.get(done.account_id, done.job_id, done.run_id)
        if current is None:
            return "deleted"
        if current.state not in (expected, "lost"):
            return current.state
        if current.state == "lost":
            done.data = {**done.data, "late": True}
            replaced = "lost, released" if current.data.get("holds") else "lost"
        expected = current.state  # the same again: the failure said nothing; retry it
    return "contended"


# ---- places in flight (maxConcurrent) and the line behind them (queueMax) -----------------


def take_place(d: Dispatcher, job: JobRecord, run: RunRecord, report: Counter[str]) -> bool:
    """Count the run in flight, or hold it back (wait in line or skip) at the job's bound."""
    limit = int(job.spec.get("maxConcurrent", 1))
    if d.stores.jobs.acquire(job.account_id, job.job_id, limit):
        return True
    report[hold_back(d, job, run)] += 1
    return False


def hold_back(d: Dispatcher, job: JobRecord, run: RunRecord) -> str:
    """A run that finds its job at `maxConcurrent`: wait in line (queueMax) or be skipped."""
    limit = int(job.spec.get("maxConcurrent", 1))
    queue_max = int(job.spec.get("queueMax", 0))
    if queue_max and len(waiting_runs(d, job)) < queue_max:
        expected = run.state
        run.state, run.active_deadline = "waiting", None
        run.data = {**run.data, "statusText": f"Waiting: {limit} run(s) of this job in flight"}
        run.data.pop("holds", None)
        d.stores.runs.update(run, expected)
        return "waiting"
    finish(
        d,
        run,
        "skipped",
        {"status": 0, "statusText": f"Skipped: {limit} run(s) of this job still in flight"},
    )
    return "skipped"


def waiting_runs(d: Dispatcher, job: JobRecord) -> list[RunRecord]:
    limit = int(job.spec.get("queueMax", 0)) + 50
    page = d.stores.runs.list_for_job(job.account_id, job.job_id, limit)
    return sorted((r for r in page.items if r.state == "waiting"), key=lambda r: r.run_id)


def pass_on(d: Dispatcher, job: JobRecord, counted: bool) -> None:
    """A run of the job ended without a result: start the next waiting run with its in-flight
    count, if it held one, or give the count back."""
    started = int(job.spec.get("queueMax", 0)) > 0 and start_waiting(d, job, counted)
    if counted and not started:
        d.stores.jobs.release(job.account_id, job.job_id)


def start_waiting(d: Dispatcher, job: JobRecord, counted: bool) -> bool:
    """Deliver the job's oldest waiting run, with the in-flight count of the run that just
    ended if `counted` (else it takes a free place when it starts, or waits again)."""
    for waiting in waiting_runs(d, job)[:1]:
        queued = replace(waiting, state="queued")
        queued.active_deadline = planning.deadline(job, d.settings, d.clock(), d.clock())
        # `holds`: should this delivery be lost, the sweep gives the count back.
        queued.data = {
            **waiting.data,
            "deliverAt": d.clock(),
            "statusText": "Queued",
            "holds": counted,
        }
        watch_runs(d, [queued])
        if d.stores.runs.update(queued, "waiting"):
            enqueue(d, [Task(job, [queued], counted)])
            return True
    return False


def start_now(
    d: Dispatcher,
    job: JobRecord,
    *,
    trigger: str = "manual",
    overrides: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> RunRecord:
    """Queue a run of `job` at once (run-now, chains); it does not move the schedule."""
    now = d.clock()
    tag = f"{trigger[0]}{d.rng.getrandbits(24):06x}"
    run = new_run(d, job, now, now, trigger=trigger, tag=tag, extra=extra)
    watch_runs(d, [run])
    d.stores.runs.create(run)
    enqueue(d, [Task(job, [run], False, overrides)])
    return run


def control(d: Dispatcher, run: RunRecord) -> runs.RunControl:
    """What was asked of this run since it was claimed (an abort, its own settings). Read at
    half the price: an abort of the last second that this read misses, the watcher's next look
    (CONTROL_POLL_S into the call) finds."""
    key = runs.control_key(run.account_id, run.data.get("runId", run.run_id))
    try:
        return runs.RunControl.from_value(d.stores.state.get_value(key, consistent=False))
    except StoreError as exc:
        log.warning("run %s: its controls could not be read: %s", run.run_id, exc.message)
        return runs.RunControl()
