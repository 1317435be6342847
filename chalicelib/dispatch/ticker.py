"""The tick: every slot planned up to the end of the next minute is claimed once, then each run
is delivered at its planned second, a small batch on the tick's own threads and the rest
through the queue, delayed."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from chalicelib.dispatch import ledger, sweeper, worker
from chalicelib.dispatch import plan as planning
from chalicelib.dispatch.delivery import Task, enqueue
from chalicelib.errors import StoreError
from chalicelib.store.base import JobRecord

if TYPE_CHECKING:
    from chalicelib.dispatch.dispatcher import Dispatcher

log = logging.getLogger(__name__)

DUE_LIMIT = 10_000  # due keys read per shard and round of a tick
WAKE_MARK = "wake#marks"  # per shard, the last minute whose wake list a tick has read
WAKE_BACK_MIN = 24 * 60  # wake lists a tick reads after downtime; the next ticks read on
DRAIN_BUDGET_S = 40  # a tick starts no new round of claims after this (it must end in its minute)
POOL_SIZE = 16
INLINE_MAX_CALL_S = 30  # a task's calls inline may last this long at most (its timeouts)
INLINE_POOL_SIZE = 64  # threads running the tick's inline batch (at most inline_max runs)


def tick(d: Dispatcher, now: float, shards: Sequence[int] | None = None) -> dict[str, int]:
    """Claim every slot planned up to the end of the next minute, deliver each on time. With
    `shards`, only those shards' jobs: ticks of different shards may run at once (a burst
    spread over invocations); the one with shard 0 also sweeps."""
    report: Counter[str] = Counter()
    if shards is None or 0 in shards:
        d.sweep(now, report)
        sweeper.sweep_monitors(d, now, report)
    until = planning.window_end(now)
    began = time.monotonic()
    tasks: list[Task] = []
    switched_on: dict[str, bool] = {}
    planner = planning.Planner(now, until)
    token = ledger.new_token()
    seen: set[tuple[str, int]] = set()
    with ThreadPoolExecutor(POOL_SIZE) as pool:
        pending = list(range(d.settings.due_shards) if shards is None else shards)
        # The jobs on the wake lists of the minutes up to the window's end, read once.
        marks, woken = _woken(d, pool, pending, until)
        seen.update(woken)
        from_lists = set(woken)
        # A shard whose page of due jobs was full is read again once its page is claimed (the
        # claims moved those jobs on), until the shards are drained or the tick's time is up.
        # A job read in an earlier round is not read again: the index may still show it where
        # it was (DynamoDB's indexes follow their table eventually).
        rounds = 0
        while pending:
            rounds += 1
            pages = list(pool.map(lambda s: d.stores.jobs.due(s, until, DUE_LIMIT), pending))
            keys = [k for page in pages for k in page if k not in seen]
            if rounds == 1:
                keys += woken
            seen.update(keys)
            claimed = _claim_round(d, pool, planner, token, keys, switched_on, report, from_lists)
            tasks.extend(claimed)
            full = [s for s, page in zip(pending, pages, strict=True) if len(page) >= DUE_LIMIT]
            if not claimed or time.monotonic() - began > DRAIN_BUDGET_S:
                if full:
                    report["due_left"] += len(full)  # the next tick goes on with them
                break
            pending = full
    # Read and claimed: the next tick goes on after these minutes (a tick that dies first
    # leaves them to be read again, which claims nothing twice).
    if not report.get("wake_failed"):
        d.stores.state.put_value(WAKE_MARK, marks)
    report["claimed"] += sum(len(t.runs) for t in tasks)
    if rounds > 1:
        # A drained burst has used much of the tick's minute: its runs all go through the
        # queue, so that no inline call keeps the tick past the next one's start.
        report["queued"] += len(tasks)
        enqueue(d, tasks)
    else:
        d.deliver(tasks, report)
    return dict(report)


def _woken(
    d: Dispatcher, pool: ThreadPoolExecutor, shards: list[int], until: int
) -> tuple[dict[str, int], list[tuple[str, int]]]:
    """The jobs on the shards' wake lists from the minute after each shard's mark to the
    window's last minute (at most WAKE_BACK_MIN of them after downtime: the next ticks read
    on), and the marks to write once they are claimed. The marks of every shard are one item
    (a read and a write a tick); ticks of other shards at once may write a shard's mark back
    to an older minute, which only has lists read again."""
    last = until // 60
    stored = d.stores.state.get_value(WAKE_MARK)
    marks: dict[str, int] = dict(stored) if isinstance(stored, dict) else {}
    lists: list[tuple[int, int]] = []
    for shard in shards:
        mark = marks.get(str(shard))
        first = mark + 1 if isinstance(mark, int) else last - 1
        end = min(last, first + WAKE_BACK_MIN - 1)
        lists += [(shard, minute) for minute in range(first, end + 1)]
        marks[str(shard)] = max(end, mark) if isinstance(mark, int) else end
    found = pool.map(lambda sm: d.stores.runs.woken(*sm), lists)
    return marks, list(dict.fromkeys(k for keys in found for k in keys))


def _claim_round(
    d: Dispatcher,
    pool: ThreadPoolExecutor,
    planner: planning.Planner,
    token: str,
    keys: list[tuple[str, int]],
    switched_on: dict[str, bool],
    report: Counter[str],
    woken: set[tuple[str, int]],
) -> list[Task]:
    """Claim the slots of the due jobs of `keys` (a round of the tick); `woken`, those read
    from the wake lists."""
    jobs = d.stores.jobs.get_many(keys) if keys else []
    report["due"] += len(jobs)
    # At half the price: a switch of the last second counts from the next tick.
    for account in {job.account_id for job in jobs} - switched_on.keys():
        switched_on[account] = d.stores.state.scheduler_enabled(account, consistent=False)
    ready = [job for job in jobs if switched_on[job.account_id]]
    report["scheduler_off"] += len(jobs) - len(ready)
    plans = [p for p in map(planner.plan, ready) if p]
    for plan in plans:
        plan.token = token
        report["missed"] += plan.missed
    # Noted before the claims: a tick that dies after claiming leaves runs on the list, and
    # the jobs it moves out of the `due` index on the wake lists.
    entries = [ledger.watch_entry(d, p.job, slot, at) for p in plans for slot, at in p.slots]
    ledger.watch(d, entries)
    ledger.wake(d, plans)
    # A share of the plans per thread (a thread per plan would spend more on handing out
    # 100,000 plans than on the claims of a store in memory).
    shares = [plans[n::POOL_SIZE] for n in range(min(POOL_SIZE, len(plans)))]
    claimed = pool.map(lambda share: [ledger.claim(d, p, report) for p in share], shares)
    tasks = [t for share in claimed for ts in share for t in ts]
    # A job read from a wake list is on no other list and out of the index: one due in this
    # window that this tick did not claim (its scheduler is off, its claim failed) goes on the
    # next tick's list, so that it is not lost; one claimed elsewhere meanwhile is on its own
    # next list already, and noting it again costs a read of it.
    left = woken - {(t.job.account_id, t.job.job_id) for t in tasks}
    again = [
        job
        for job in jobs
        if (job.account_id, job.job_id) in left
        and job.due
        and (job.next_run_at or 0) <= planner.until
    ]
    if again:
        try:
            ledger.note_woken(d, [(job, planner.until // 60 + 1) for job in again])
            report["woken_again"] += len(again)
        except StoreError as exc:
            log.error("tick: %d jobs not noted again: %s", len(again), exc.message)
            report["wake_failed"] += 1  # the marks stay: the next tick reads these lists again
    return tasks


def deliver(d: Dispatcher, tasks: list[Task], report: Counter[str]) -> None:
    """A small batch planned within `inline_wait_s` runs here; the rest goes to the queue."""
    if not tasks:
        return
    soon = d.clock() + d.settings.inline_wait_s
    # Inline only what ends within the tick's minute: a tick that overran it would hold up the
    # next (the tick runs one at a time when deployed), so a longer call goes to the queue.
    near: list[Task] = []
    later: list[Task] = []
    for task in tasks:
        (near if task.deliver_at <= soon and _short(d, task) else later).append(task)
    if len(near) > d.settings.inline_max:
        near, later = [], tasks
    if later:
        report["queued"] += len(later)
        enqueue(d, later)
    if near:
        report["inline"] += len(near)
        d.prepare()
        # One thread per task up to INLINE_POOL_SIZE: a silent target holds only its own
        # thread; beyond that, hundreds of threads waking at the same second spend more CPU
        # fighting over the GIL and locks than the calls themselves take.
        with ThreadPoolExecutor(min(len(near), INLINE_POOL_SIZE)) as pool:
            ordered = sorted(near, key=lambda t: t.deliver_at)
            inline = [replace(t, inline=True) for t in ordered]
            for result in pool.map(lambda task: worker.run_on_time(d, task), inline):
                report.update(result)


def _short(d: Dispatcher, task: Task) -> bool:
    """Whether the task's calls end within INLINE_MAX_CALL_S, whatever their targets do."""
    seconds = planning.timeout(task.job, d.settings, task.overrides)
    return seconds * len(task.runs) <= INLINE_MAX_CALL_S


def claim_early(d: Dispatcher, job: JobRecord) -> int:
    """Claim the slots of a job just saved (created, rescheduled, enabled) up to the end of the
    next minute, as this minute's tick did for every other job before this one could fire: a
    seconds schedule or a one-shot time a few seconds away would otherwise wait for the next
    tick, and the slot on the next minute would start only once that tick has claimed it (a
    second or more late). The same claim as the tick's (a racing tick cannot double a slot);
    the runs go to the queue, delayed to their planned seconds. Returns the number claimed."""
    now = d.clock()
    plan = planning.plan(job, now, planning.window_end(now))  # None unless due by then
    if plan is None or not d.stores.state.scheduler_enabled(job.account_id):
        return 0
    plan.token = ledger.new_token()
    ledger.watch(d, [ledger.watch_entry(d, job, slot, at) for slot, at in plan.slots])
    ledger.wake(d, [plan])
    tasks = ledger.claim(d, plan, Counter())
    if tasks:
        enqueue(d, tasks)
    return sum(len(t.runs) for t in tasks)
