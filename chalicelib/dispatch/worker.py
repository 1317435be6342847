"""The worker: a batch of queue messages, each task run unless another delivery already took
it, a failed task failing its own message only (Lambda's partial batch response)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from chalicelib.dispatch import attempt, ledger
from chalicelib.dispatch import plan as planning
from chalicelib.dispatch.delivery import TASKS_PER_MESSAGE, Batch, Entry, Task, entries
from chalicelib.errors import StoreError
from chalicelib.runs import RunControl
from chalicelib.store.base import RunKeys, RunRecord, existing_jobs

if TYPE_CHECKING:
    from chalicelib.dispatch.dispatcher import Dispatcher

log = logging.getLogger(__name__)

WORKER_THREADS = 10 * TASKS_PER_MESSAGE  # a worker invocation's 10 messages, a thread a task
MAX_WAIT_S = 125  # the tick's look-ahead: at most to the end of the next minute
MARK_KEEP_S = 2 * 86400  # a message's mark outlasts the queue's retention of it (a day)


def work_batch(d: Dispatcher, bodies: Sequence[str], now: float) -> Batch:
    """Run each message's tasks unless another delivery already took them. A task that raises
    fails its own message only: the other messages of the batch count as done, and the failed
    one comes back. The batch's jobs and runs are read in a few batched requests, then every
    task gets a thread of its own (a silent target holds only its own run)."""
    report: Counter[str] = Counter()
    found = entries(bodies, report)
    failed: set[int] = set()
    errors: list[Exception] = []
    marked = take_marks(d, found, now, failed, errors)
    duplicates = [e for e in found if e.mark and e.message not in marked | failed]
    if duplicates:
        report["duplicate"] += len(duplicates)
    found = [e for e in found if not e.mark or e.message in marked]
    job_keys = list(dict.fromkeys((e.account, e.job) for e in found))
    # Read eventually; a job created a moment ago (for a run-now) consistently.
    jobs = {(j.account_id, j.job_id): j for j in existing_jobs(d.stores.jobs, job_keys)}
    run_keys = [(e.account, e.job, r) for e in found for r in e.runs]
    records = queued_runs(d, run_keys)
    tasks = []
    numbers: list[int] = []  # the message of each task
    switched_on: dict[str, bool] = {}

    def scheduler_on(account: str) -> bool:
        # At half the price: a run may start within a second of its scheduler's switch-off.
        if account not in switched_on:
            switched_on[account] = d.stores.state.scheduler_enabled(account, consistent=False)
        return switched_on[account]

    for entry in found:
        found_runs = [records.get((entry.account, entry.job, r)) for r in entry.runs]
        queued = [r for r in found_runs if r is not None and r.state == "queued"]
        if not queued:
            report["duplicate"] += 1
            continue
        job = jobs.get((entry.account, entry.job))
        why = "Job deleted" if job is None else planning.stopped(job, queued[0], scheduler_on)
        if why:
            for run in queued:
                ledger.finish(d, run, "cancelled", {"status": 0, "statusText": why})
            if job is not None:
                # The next in line gets its turn (and is cancelled in turn if its job has
                # stopped), so no run is left waiting for a place that nobody frees.
                ledger.pass_on(d, job, entry.counted)
            report["cancelled"] += len(queued)
            continue
        assert job is not None
        late = planning.missed(job, queued[0], now)
        if late:
            for run in queued:
                ledger.finish(d, run, "skipped", {"status": 0, "statusText": late})
            ledger.pass_on(d, job, entry.counted)
            report["missed"] += len(queued)
            continue
        tasks.append(Task(job, queued, entry.counted, entry.overrides, marked=bool(entry.mark)))
        numbers.append(entry.message)
    if tasks:
        with ThreadPoolExecutor(min(WORKER_THREADS, len(tasks))) as pool:
            outcomes = pool.map(lambda task: try_task(d, task), tasks)
            for number, result in zip(numbers, outcomes, strict=True):
                if isinstance(result, Exception):
                    failed.add(number)
                    errors.append(result)
                else:
                    report.update(result)
    if failed:
        report["failed_messages"] += len(failed)
    return Batch(dict(report), sorted(failed), errors)


def queued_runs(d: Dispatcher, keys: RunKeys) -> dict[tuple[str, int, str], RunRecord]:
    """The records of the runs of `keys`, read at half the price of a consistent read (they
    were written when claimed, a second or more ago); one that this read shows missing or no
    longer queued is read again consistently before it is let go (a waiting run just
    restarted, a run-now queued a moment ago)."""
    if not keys:
        return {}
    found = {(r.account_id, r.job_id, r.run_id): r for r in d.stores.runs.get_many(keys, False)}
    again = [k for k in keys if k not in found or found[k].state != "queued"]
    if again:
        fresh = d.stores.runs.get_many(again)
        found.update({(r.account_id, r.job_id, r.run_id): r for r in fresh})
    return found


def take_marks(
    d: Dispatcher, found: list[Entry], now: float, failed: set[int], errors: list[Exception]
) -> set[int]:
    """Take the mark of each message of the batch (one write a message, for up to
    TASKS_PER_MESSAGE tasks): the messages (by position) whose mark this delivery took. A
    message whose mark another delivery took, or another copy in this batch, is a duplicate;
    one whose mark could not be written fails (it comes back)."""
    messages: dict[str, int] = {}
    for entry in found:
        if entry.mark:
            messages.setdefault(entry.mark, entry.message)  # a second copy stays out
    if not messages:
        return set()

    def take(mark: str) -> bool | Exception:
        try:
            return d.stores.runs.mark(mark, int(now) + MARK_KEEP_S)
        except StoreError as exc:
            return exc

    with ThreadPoolExecutor(len(messages)) as pool:
        results = dict(zip(messages, pool.map(take, messages), strict=True))
    for mark, result in results.items():
        if isinstance(result, Exception):
            failed.add(messages[mark])
            errors.append(result)
    return {messages[mark] for mark, result in results.items() if result is True}


def try_task(d: Dispatcher, task: Task) -> Counter[str] | Exception:
    try:
        return run_on_time(d, task)
    except Exception as exc:
        log.exception("a task of job %s failed; its message comes back", task.job.job_id)
        return exc


def run_on_time(d: Dispatcher, task: Task) -> Counter[str]:
    """Run the task at its planned second: its first run is taken (the conditional step of a
    queued run, its controls read) before the wait, so that the second itself is the call's."""
    return run_task(d, task, on_time=True)


def run_task(d: Dispatcher, task: Task, on_time: bool = False) -> Counter[str]:
    """Run the task's runs in order; one in-flight count covers all of them (catch-up). With
    `on_time`, the first call waits for the task's planned second (never long: the queue
    already delayed queued work)."""
    report: Counter[str] = Counter()
    holds = task.counted
    for n, run in enumerate(task.runs):
        if n and not task.job.enabled:
            # A run of this batch disabled the job (a 410, a failure streak): the rest of the
            # catch-up stops, and its place goes to the next in line (or back).
            rest = task.runs[n:]
            why = f"Cancelled: the job was disabled ({task.job.disabled_reason})"
            for left in rest:
                ledger.finish(d, left, "cancelled", {"status": 0, "statusText": why})
            if holds:
                ledger.pass_on(d, task.job, True)
            report["cancelled"] += len(rest)
            break
        last = n == len(task.runs) - 1
        # Only a scheduled run takes a place: a run-now or chained run was asked for, and
        # `running` also counts places that claims reserve ahead of their slots (a chained run
        # into a scheduled job was skipped as "in flight" with nothing running).
        scheduled = run.data.get("trigger", "schedule") == "schedule"
        take_place = scheduled and not holds
        running = replace(run, state="running")
        # On the queued path `holds` is written before the place is taken: should the worker
        # die in between, the sweep gives back a place that was not taken (no harm: the count
        # never goes below 0) rather than keep one forever (the job would never run again).
        running.data = {**run.data, "statusText": "Running", "holds": holds or take_place}
        # The conditional queued -> running step comes first: a duplicate delivery stops here,
        # before it could take a place or turn the run away. A routine run with no other
        # delivery skips this write (one fewer per run) and stays `queued` until its result:
        # the tick's own (inline), or a scheduled one whose message's mark this delivery took,
        # unless it takes its place at its second (then `holds` must be on its record first,
        # for the sweep). A run-now or chained run says it is running: someone may be watching.
        alone = task.inline or (task.marked and scheduled and not take_place)
        if not alone and not d.stores.runs.update(running, "queued"):
            report["duplicate"] += 1
            continue
        # Read before the wait: an abort that comes after it cuts the call within
        # CONTROL_POLL_S of its start. A routine run delivered by its marked message reads them
        # only if its record says it has some (Service._note_controls): a read fewer per run.
        routine = task.marked and scheduled and int(run.data.get("attempt", 1)) == 1
        if routine and not run.data.get("controlled"):
            control = RunControl()
        else:
            control = ledger.control(d, run)
        if on_time and n == 0:
            wait = min(MAX_WAIT_S, task.deliver_at - d.clock())
            if wait > 0:
                d.sleep(wait)
        done, went = _at_its_second(
            d, task, run if alone else running, take_place, last, holds, control
        )
        report.update(done)
        if not went and not task.job.enabled:
            holds = False  # cancelled at its second, it handed the task's count on
        holds = holds or (went and take_place)
    return report


def _at_its_second(
    d: Dispatcher,
    task: Task,
    run: RunRecord,
    take_place: bool,
    last: bool,
    holds: bool,
    control: RunControl,
) -> tuple[Counter[str], bool]:
    """The rest of a run at its second (`run` is its record as it stands): its place, then its
    attempt. What it did, and whether it went ahead (False: held back at the job's bound, or a
    lost race)."""
    report: Counter[str] = Counter()
    # A place is taken at the run's second, not before: a run ending meanwhile frees it.
    if take_place and not ledger.take_place(d, task.job, run, report):
        return report, False
    if run.data.get("trigger", "schedule") == "schedule" and not task.job.enabled:
        # Disabled while this run waited for its second, by a run of the same claim (a 410,
        # a failure streak; that run gives its place back only after disabling the job): it
        # stops as a claimed run of a disabled job does.
        reason = f" ({task.job.disabled_reason})" if task.job.disabled_reason else ""
        why = f"Cancelled: the job was disabled{reason}"
        ledger.finish(d, run, "cancelled", {"status": 0, "statusText": why})
        if holds or take_place:
            ledger.pass_on(d, task.job, True)
        report["cancelled"] += 1
        return report, False
    if task.inline and take_place:
        # The tick's own run that takes its place now says so on its record, for the sweep.
        running = replace(run, state="running")
        running.data = {**run.data, "statusText": "Running", "holds": True}
        if not d.stores.runs.update(running, "queued"):
            d.stores.jobs.release(task.job.account_id, task.job.job_id)
            return report, False
        run = running
    release = (holds or take_place) and last
    report.update(attempt.attempt(d, task.job, run, task.overrides, release, control))
    return report, True
