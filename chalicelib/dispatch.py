"""The tick and the worker: find due jobs, claim each slot once, run it on time, record it.

A slot is claimed by creating its run record (the id is derived from the job and the planned
time, and the write fails if it exists), then the job is moved past it with a write that only
lands if the job still waits on that slot. Duplicate ticks, EventBridge double deliveries and
Lambda retries therefore find the record and stop (a claim carries its tick's token, so the
tick's own retried write is recognised as its own); a tick that dies after the claim leaves a
queued run whose deadline passes, and a later tick marks it `lost`. Nothing runs twice.

Orphans are found through watch lists rather than an index over every run in flight: before it
claims, the tick notes its runs and their deadlines, one item per minute of deadlines (a write
per tick, not per run); each tick reads the lists whose minute has passed and marks the runs
still queued or running `lost`.

The tick looks ahead to the end of the next minute and delivers each run at its planned second:
a small batch planned within `inline_wait_s` runs on a thread pool inside the tick (without a
queued -> running write: nobody else can hold it), the rest goes to SQS with a delay, where the
worker's conditional queued -> running step makes a duplicate delivery harmless. Time (`now`,
`clock`, `sleep`) is injected so tests can run a day in seconds.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib import callbacks, executor, metrics, runs
from chalicelib.config import Settings
from chalicelib.errors import StoreError
from chalicelib.jobs import METHODS, sent_headers, success_ranges
from chalicelib.notify import Notifier
from chalicelib.schedule import Schedule
from chalicelib.store.base import JobRecord, RunRecord, Stores, Watch, existing_jobs
from chalicelib.store.blobs import Blobs, response_key
from chalicelib.store.queue import Queue

log = logging.getLogger(__name__)

MISSED_AFTER_S = 60  # a slot older than one tick period was missed (the ticks were down)
MAX_CATCH_UP = 1000  # missed slots looked at per job and tick
# A run planned this long ago has started (and counted itself in flight) by now: SQS delays are
# whole seconds, a worker picks a message up within a second or two, and the tick's read of the
# job's in-flight count may be a second old.
START_LAG_S = 15
DUE_LIMIT = 10_000  # due keys read per shard and tick
POOL_SIZE = 16
TASKS_PER_MESSAGE = 10  # tasks due the same second packed into one SQS message
WORKER_THREADS = 10 * TASKS_PER_MESSAGE  # a worker invocation's 10 messages, a thread a task
INLINE_POOL_SIZE = 64  # threads running the tick's inline batch (at most inline_max runs)
MAX_WAIT_S = 125  # the tick's look-ahead: at most to the end of the next minute
MAX_CHAIN = 5
SSL_NOTICE_KEY = "ssl-noticed#{account}#{job}"
SWEEP_MARK_KEY = "sweep#mark"  # the last minute whose watch list a tick has read
SWEEP_BACK_MIN = 24 * 60  # watch lists read after downtime: at most a day of them
SWEEP_FIRST_MIN = 10  # ... and on a fresh deployment
# How often a call in flight looks for an abort or a new timeout of its run: an abort cuts the
# call within this (plus one read). The first look is this long after the call starts, so a
# quick call costs no read.
CONTROL_POLL_S = 0.4


@dataclass
class Plan:
    """The slots a tick means to claim for one job, and where the job moves after them."""

    job: JobRecord
    slots: list[tuple[int, float]]  # (planned, deliver at)
    next_run_at: int | None
    in_order: int  # the first so many slots (missed ones) run now, one after another
    extra: dict[str, Any]  # for those first slots
    until: int = 0  # the claiming tick's window ends here
    token: str = ""  # the claiming tick's: its own retried create is known as its own
    reserve: bool = False  # the claim may count the first run in flight already (see _reserve)


def new_token() -> str:
    return uuid.uuid4().hex[:16]


@dataclass
class Task:
    """One unit of work for a thread or an SQS message: a job and its claimed run(s)."""

    job: JobRecord
    runs: list[RunRecord]
    counted: bool  # the job's in-flight counter already holds this task
    overrides: dict[str, Any] | None = None
    inline: bool = False  # run by the tick that claimed it: its runs are still `queued`


@dataclass
class Batch:
    """What a worker invocation did: its report, the messages (by position) whose tasks
    failed and must come back, and their errors."""

    report: dict[str, int]
    failed: list[int]
    errors: list[Exception]


@dataclass
class Dispatcher:
    stores: Stores
    settings: Settings
    queue: Queue
    blobs: Blobs
    notifier: Notifier | None = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    execute: Callable[[executor.Request, executor.Policy], executor.Result] = executor.execute
    rng: random.Random = field(default_factory=random.Random)
    lags: list[int] = field(default_factory=list)  # start lag (ms) of each run made, for metrics

    # ---- the tick ---------------------------------------------------------------------------

    def tick(self, now: float) -> dict[str, int]:
        """Claim every slot planned up to the end of the next minute, deliver each on time."""
        report: Counter[str] = Counter()
        self.sweep(now, report)
        self._sweep_monitors(now, report)
        until = (int(now) // 60 + 2) * 60 - 1
        with ThreadPoolExecutor(POOL_SIZE) as pool:
            keys = [k for ks in pool.map(lambda s: self._due(s, until), self._shards()) for k in ks]
            jobs = self.stores.jobs.get_many(keys) if keys else []
            report["due"] += len(jobs)
            accounts = {job.account_id for job in jobs}
            switched_on = {a: self.stores.state.scheduler_enabled(a) for a in accounts}
            waiting = [job for job in jobs if not switched_on[job.account_id]]
            report["scheduler_off"] += len(waiting)
            ready = [job for job in jobs if switched_on[job.account_id]]
            token = new_token()
            plans = [p for p in (self._plan(j, now, until, report) for j in ready) if p]
            for plan in plans:
                plan.token = token
            # Noted before the claims: a tick that dies after claiming leaves runs on the list.
            self._watch([self._watch_entry(p.job, slot, at) for p in plans for slot, at in p.slots])
            tasks = [t for ts in pool.map(lambda p: self._claim(p, report), plans) for t in ts]
        report["claimed"] += sum(len(t.runs) for t in tasks)
        self._deliver(tasks, report)
        return dict(report)

    def _shards(self) -> range:
        return range(self.settings.due_shards)

    def _sweep_monitors(self, now: float, report: Counter[str]) -> None:
        """Heartbeat monitors whose grace ran out go down (chalicelib.monitoring); a storage
        error there leaves them to the next tick and the jobs' slots to this one."""
        from chalicelib.monitoring import Monitors

        try:
            Monitors(self.stores, self.notifier, self.clock).sweep(now, report)
        except StoreError as exc:
            log.warning("monitors not swept this tick: %s", exc.message)

    def _due(self, shard: int, until: int) -> list[tuple[str, int]]:
        return self.stores.jobs.due(shard, until, DUE_LIMIT)

    def _claim(self, plan: Plan, report: Counter[str]) -> list[Task]:
        try:
            return self._claim_slots(plan, report)
        except StoreError as exc:
            # One job's storage trouble must not keep the tick from the others.
            log.error("tick: job %s not claimed: %s", plan.job.job_id, exc.message)
            report["claim_errors"] += 1
            return []

    def _plan(self, job: JobRecord, now: float, until: int, report: Counter[str]) -> Plan | None:
        """The slots of `job` this tick should claim, or None."""
        if not job.due or job.next_run_at is None or job.next_run_at > until:
            return None
        schedule = Schedule.parse(job.spec["schedule"])
        first = job.next_run_at
        if first < now - MISSED_AFTER_S:
            missed = [first]
            later = schedule.next_after(first)
            while later is not None and later <= now and len(missed) < MAX_CATCH_UP:
                missed.append(later)
                later = schedule.next_after(later)
            while later is not None and later <= now:  # beyond the catch-up bound: skip ahead
                later = schedule.next_after(later)
            report["missed"] += len(missed)
            reserve = self._reserve(job, schedule, now, now)
            # The slots of the window after now are claimed too, each for its own second: left
            # to the next tick, a seconds schedule's would all run a minute late.
            window: list[tuple[int, float]] = []
            while later is not None and later <= until:
                window.append((later, float(later)))
                later = schedule.next_after(later)
            if job.spec.get("catchUp"):
                every = [(slot, now) for slot in missed]
                return Plan(job, every + window, later, len(every), {}, until, reserve=reserve)
            # As cron-job.org does after downtime: run once now, skip the rest.
            extra = {"missedSlots": len(missed) - 1}
            once = [(missed[-1], now)]
            return Plan(job, once + window, later, 1, extra, until, reserve=reserve)
        slots = [first]
        later = schedule.next_after(first)
        while later is not None and later <= until:
            slots.append(later)
            later = schedule.next_after(later)
        reserve = self._reserve(job, schedule, first, now)
        return Plan(
            job, [(slot, float(slot)) for slot in slots], later, 0, {}, until, reserve=reserve
        )

    def _reserve(self, job: JobRecord, schedule: Schedule, start: float, now: float) -> bool:
        """Whether the claim may count the run starting at `start` in flight already, which
        saves the write of counting it when it starts: only when no other scheduled run of the
        job can be in flight, or start, before it. None is in flight (`running`, read just now),
        and none is planned from START_LAG_S ago to `start` (a run planned before that has
        started, and counted itself, by now). A place taken a minute early would otherwise turn
        away the runs in between: a seconds schedule's, or this minute's run, starting as the
        tick claims the next one."""
        if job.running:
            return False
        earlier = schedule.next_after(now - START_LAG_S)
        return earlier is None or earlier >= start

    def _claim_slots(self, plan: Plan, report: Counter[str]) -> list[Task]:
        """Create the slots' run records, then move the job on; stop at the first taken slot."""
        job, next_run_at = plan.job, plan.next_run_at
        created: list[RunRecord] = []
        for n, (slot, deliver_at) in enumerate(plan.slots):
            extra = plan.extra if n < plan.in_order else {}
            run = self._new_run(
                job, slot, deliver_at, trigger="schedule", extra=extra, claim=plan.token
            )
            # The advance below may count one run in flight (`plan.reserve`); the first claimed
            # run carries it, so that the sweep can give it back if this tick dies.
            run.data["holds"] = plan.reserve and not created
            if self.stores.runs.create(run):
                created.append(run)
                continue
            existing = self.stores.runs.get(job.account_id, job.job_id, run.run_id)
            if (
                existing is not None
                and existing.state in runs.ACTIVE_STATES
                and (existing.active_deadline or 0) > self.clock()
            ):
                report["already_claimed"] += 1
                return self._cancel(created, "another tick claimed this slot")
            # A dead claimer's record: move the job past it; the sweep marks the run lost.
            report["stale_claims"] += 1
        outcome = self.stores.jobs.advance(
            job.account_id,
            job.job_id,
            job.next_run_at or 0,
            next_run_at,
            int(job.spec.get("maxConcurrent", 1)) if created and plan.reserve else 0,
            # A job due again within the next tick's window may stay put in the due index.
            stay_until=plan.until + 60,
        )
        if outcome == "moved":
            report["moved_meanwhile"] += 1
            return self._cancel(created, "the job changed while its slot was being claimed")
        if not created:
            return []
        # Not counted ("busy"): each run takes its place when it starts, or finds the job at
        # its bound then and waits or is skipped.
        counted = outcome == "started"
        created[0].data["holds"] = counted
        tasks = [Task(job, created[: plan.in_order], counted)] if plan.in_order else []
        alone = created[plan.in_order :]
        first_counted = counted and not plan.in_order
        return tasks + [Task(job, [run], first_counted and n == 0) for n, run in enumerate(alone)]

    def _cancel(self, created: list[RunRecord], why: str) -> list[Task]:
        for run in created:
            self._finish(run, "skipped", {"status": 0, "statusText": f"Skipped: {why}"})
        return []

    def _hold_back(self, job: JobRecord, run: RunRecord) -> str:
        """A run that finds its job at `maxConcurrent`: wait in line (queueMax) or be skipped."""
        limit = int(job.spec.get("maxConcurrent", 1))
        queue_max = int(job.spec.get("queueMax", 0))
        if queue_max and self._waiting_count(job) < queue_max:
            expected = run.state
            run.state, run.active_deadline = "waiting", None
            run.data = {**run.data, "statusText": f"Waiting: {limit} run(s) of this job in flight"}
            run.data.pop("holds", None)
            self.stores.runs.update(run, expected)
            return "waiting"
        self._finish(
            run,
            "skipped",
            {"status": 0, "statusText": f"Skipped: {limit} run(s) of this job still in flight"},
        )
        return "skipped"

    def _waiting_runs(self, job: JobRecord) -> list[RunRecord]:
        limit = int(job.spec.get("queueMax", 0)) + 50
        page = self.stores.runs.list_for_job(job.account_id, job.job_id, limit)
        return sorted((r for r in page.items if r.state == "waiting"), key=lambda r: r.run_id)

    def _waiting_count(self, job: JobRecord) -> int:
        return len(self._waiting_runs(job))

    def _new_run(
        self,
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
        run_id = runs.run_id(job.job_id, planned, attempt, tag)
        deadline = self._deadline(job, deliver_at)
        data = {
            "datePlanned": int(planned),
            "plannedMs": round(planned * 1000),
            "deliverAt": deliver_at,
            "url": job.spec["url"],
            "attempt": attempt,
            "runId": first_run or run_id,
            "trigger": trigger,
            "statusText": "Queued",
            **(extra or {}),
        }
        return RunRecord(
            job.account_id, job.job_id, run_id, "queued", data, deadline, claim=claim or new_token()
        )

    def _deadline(self, job: JobRecord, deliver_at: float) -> int:
        return int(max(deliver_at, self.clock()) + self._timeout(job) + runs.DEADLINE_MARGIN_S)

    def _watch_entry(self, job: JobRecord, planned: float, deliver_at: float) -> Watch:
        run_id = runs.run_id(job.job_id, planned)
        return (job.account_id, job.job_id, run_id, self._deadline(job, deliver_at))

    def _watch(self, entries: list[Watch]) -> None:
        if entries:
            self.stores.runs.watch(entries, new_token())

    def _watch_runs(self, records: list[RunRecord]) -> None:
        self._watch([(r.account_id, r.job_id, r.run_id, r.active_deadline or 0) for r in records])

    def _timeout(self, job: JobRecord) -> int:
        timeout = int(job.spec.get("requestTimeout", -1))
        return self.settings.default_request_timeout if timeout < 0 else timeout

    # ---- delivery ---------------------------------------------------------------------------

    def _deliver(self, tasks: list[Task], report: Counter[str]) -> None:
        """A small batch planned within `inline_wait_s` runs here; the rest goes to SQS."""
        if not tasks:
            return
        soon = self.clock() + self.settings.inline_wait_s
        near = [t for t in tasks if t.runs[0].data["deliverAt"] <= soon]
        later = [t for t in tasks if t.runs[0].data["deliverAt"] > soon]
        if len(near) > self.settings.inline_max:
            near, later = [], tasks
        if later:
            report["queued"] += len(later)
            self._enqueue(later)
        if near:
            report["inline"] += len(near)
            # One thread per task up to INLINE_POOL_SIZE: a silent target holds only its own
            # thread; beyond that, hundreds of threads waking at the same second spend more CPU
            # fighting over the GIL and locks than the calls themselves take.
            with ThreadPoolExecutor(min(len(near), INLINE_POOL_SIZE)) as pool:
                ordered = sorted(near, key=lambda t: t.runs[0].data["deliverAt"])
                inline = [replace(t, inline=True) for t in ordered]
                for result in pool.map(self._run_inline, inline):
                    report.update(result)

    def _enqueue(self, tasks: Iterable[Task]) -> None:
        """Send tasks to the worker, up to TASKS_PER_MESSAGE of them in one message when they
        are due the same second: a worker invocation (10 messages) then runs up to 100."""
        now = self.clock()
        by_delay: dict[int, list[dict[str, Any]]] = {}
        for task in tasks:
            entry: dict[str, Any] = {
                "account": task.job.account_id,
                "job": task.job.job_id,
                "runs": [r.run_id for r in task.runs],
                "counted": task.counted,
            }
            if task.overrides:
                entry["overrides"] = task.overrides
            delay = int(max(0.0, task.runs[0].data["deliverAt"] - now))
            by_delay.setdefault(delay, []).append(entry)
        messages = [
            (json.dumps({"v": 2, "tasks": group[n : n + TASKS_PER_MESSAGE]}), delay)
            for delay, group in sorted(by_delay.items())
            for n in range(0, len(group), TASKS_PER_MESSAGE)
        ]
        self.queue.send(messages)

    def _run_inline(self, task: Task) -> Counter[str]:
        # Wait for the planned second; never long (SQS already delayed queued work).
        wait = min(MAX_WAIT_S, task.runs[0].data["deliverAt"] - self.clock())
        if wait > 0:
            self.sleep(wait)
        return self._run_task(task)

    def work(self, bodies: Iterable[str], now: float) -> dict[str, int]:
        """`work_batch`, raising the first task's error as a whole batch would fail."""
        done = self.work_batch(list(bodies), now)
        if done.errors:
            raise done.errors[0]
        return done.report

    def work_batch(self, bodies: Sequence[str], now: float) -> Batch:
        """The SQS worker: run each message's tasks unless another delivery already took them.
        A task that raises fails its own message only (Lambda's partial batch response): the
        other messages of the batch count as done, and the failed one comes back.
        The batch's jobs and runs are read in a few batched requests, then every task gets a
        thread of its own (a silent target holds only its own run)."""
        report: Counter[str] = Counter()
        entries: list[dict[str, Any]] = []
        for number, body in enumerate(bodies):
            try:
                message = json.loads(body)
                # v1 (before tasks were packed): one task, its fields on the message itself.
                found = message["tasks"] if message.get("v", 1) >= 2 else [message]
                parsed = [  # the whole message or none of it
                    {
                        "account": str(t["account"]),
                        "job": int(t["job"]),
                        "runs": [str(r) for r in t["runs"]],
                        "counted": bool(t.get("counted")),
                        "overrides": t.get("overrides"),
                        "message": number,
                    }
                    for t in found
                ]
            except (ValueError, KeyError, TypeError, AttributeError):
                log.error("dropping a malformed dispatch message")
                report["malformed"] += 1
                continue
            entries.extend(parsed)
        job_keys = list(dict.fromkeys((e["account"], e["job"]) for e in entries))
        # Read eventually; a job created a moment ago (for a run-now) consistently.
        jobs = {(j.account_id, j.job_id): j for j in existing_jobs(self.stores.jobs, job_keys)}
        run_keys = [(e["account"], e["job"], r) for e in entries for r in e["runs"]]
        records = {
            (r.account_id, r.job_id, r.run_id): r
            for r in (self.stores.runs.get_many(run_keys) if run_keys else [])
        }
        tasks = []
        numbers: list[int] = []  # the message of each task
        switched_on: dict[str, bool] = {}
        for entry in entries:
            found_runs = [records.get((entry["account"], entry["job"], r)) for r in entry["runs"]]
            queued = [r for r in found_runs if r is not None and r.state == "queued"]
            if not queued:
                report["duplicate"] += 1
                continue
            job = jobs.get((entry["account"], entry["job"]))
            why = "Job deleted" if job is None else self._stopped(job, queued[0], switched_on)
            if why:
                for run in queued:
                    self._finish(run, "cancelled", {"status": 0, "statusText": why})
                if job is not None:
                    # The next in line gets its turn (and is cancelled in turn if its job has
                    # stopped), so no run is left waiting for a place that nobody frees.
                    self._pass_on(job, entry["counted"])
                report["cancelled"] += len(queued)
                continue
            assert job is not None
            late = self._missed(job, queued[0], now)
            if late:
                for run in queued:
                    self._finish(run, "skipped", {"status": 0, "statusText": late})
                self._pass_on(job, entry["counted"])
                report["missed"] += len(queued)
                continue
            tasks.append(Task(job, queued, entry["counted"], entry["overrides"]))
            numbers.append(entry["message"])
        failed: set[int] = set()
        errors: list[Exception] = []
        if tasks:
            with ThreadPoolExecutor(min(WORKER_THREADS, len(tasks))) as pool:
                for number, result in zip(numbers, pool.map(self._try_task, tasks), strict=True):
                    if isinstance(result, Exception):
                        failed.add(number)
                        errors.append(result)
                    else:
                        report.update(result)
        if failed:
            report["failed_messages"] += len(failed)
        return Batch(dict(report), sorted(failed), errors)

    def _lag(self, lag_ms: int) -> int:
        """A run's start after its planned time (ms, not below 0), noted for the metrics."""
        lag = max(0, lag_ms)
        self.lags.append(lag)  # list.append is atomic: the run threads share the list
        return lag

    def _try_task(self, task: Task) -> Counter[str] | Exception:
        try:
            return self._run_inline(task)
        except Exception as exc:
            log.exception("a task of job %s failed; its message comes back", task.job.job_id)
            return exc

    def _missed(self, job: JobRecord, run: RunRecord, now: float) -> str:
        """Why a scheduled run delivered long after its time must not run: the service was down
        (or `make run` stopped with it in its queue) and a later slot of the job is due too. A
        job without `catchUp` runs once after downtime, and the tick runs that later slot for
        it; alone, the late run is that once."""
        if run.data.get("trigger", "schedule") != "schedule" or run.data.get("attempt", 1) != 1:
            return ""
        late = now - float(run.data.get("deliverAt", run.data["datePlanned"]))
        if late <= MISSED_AFTER_S or job.spec.get("catchUp"):
            return ""
        after = Schedule.parse(job.spec["schedule"]).next_after(int(run.data["datePlanned"]))
        if after is None or after > now:
            return ""
        return f"Skipped: missed, delivered {int(late)} s after its time"

    def _stopped(self, job: JobRecord, run: RunRecord, switched_on: dict[str, bool]) -> str:
        """Why a scheduled run claimed ahead must not fire after all: since the claim its job
        was disabled (by its user, a 410, a failure streak), rescheduled away from its time, or
        its account's scheduler switched off. A run-now or chained run was asked for explicitly
        and still runs, and so do the retries of a run that happened."""
        if run.data.get("trigger", "schedule") != "schedule":
            return ""
        if not job.enabled:
            reason = f" ({job.disabled_reason})" if job.disabled_reason else ""
            return f"Cancelled: the job was disabled{reason}"
        if run.data.get("attempt", 1) == 1:
            planned = int(run.data["datePlanned"])
            schedule = Schedule.parse(job.spec["schedule"])
            if schedule.next_after(planned - 1) != planned:
                return "Cancelled: the job's schedule no longer has this time"
        account = job.account_id
        if account not in switched_on:
            switched_on[account] = self.stores.state.scheduler_enabled(account)
        return "" if switched_on[account] else "Cancelled: the scheduler is switched off"

    def _run_task(self, task: Task) -> Counter[str]:
        """Run the task's runs in order; one in-flight count covers all of them (catch-up)."""
        report: Counter[str] = Counter()
        holds = task.counted
        for n, run in enumerate(task.runs):
            if n and not task.job.enabled:
                # A run of this batch disabled the job (a 410, a failure streak): the rest of
                # the catch-up stops, and its place goes to the next in line (or back).
                rest = task.runs[n:]
                why = f"Cancelled: the job was disabled ({task.job.disabled_reason})"
                for left in rest:
                    self._finish(left, "cancelled", {"status": 0, "statusText": why})
                if holds:
                    self._pass_on(task.job, True)
                report["cancelled"] += len(rest)
                break
            last = n == len(task.runs) - 1
            # Only a scheduled run takes a place: a run-now or chained run was asked for, and
            # `running` also counts places that claims reserve ahead of their slots (a chained
            # run into a scheduled job was skipped as "in flight" with nothing running).
            take_place = run.data.get("trigger", "schedule") == "schedule" and not holds
            running = replace(run, state="running")
            # On the queued path `holds` is written before the place is taken: should the
            # worker die in between, the sweep gives back a place that was not taken (no harm:
            # the count never goes below 0) rather than keep one forever (the job would never
            # run again).
            running.data = {**run.data, "statusText": "Running", "holds": holds or take_place}
            if task.inline:
                # The tick that claimed it runs it: no other delivery exists. A run that was
                # counted when it was claimed stays `queued` (one write fewer per run) until
                # the result replaces it; one that takes its place now says so for the sweep.
                if take_place and not self._take_place(task.job, run, report):
                    continue
                if not take_place:
                    running.state = "queued"
                elif not self.stores.runs.update(running, "queued"):
                    self.stores.jobs.release(task.job.account_id, task.job.job_id)
                    continue
            else:
                # The conditional queued -> running step comes first: a duplicate delivery
                # stops here, before it could take a place or turn the run away.
                if not self.stores.runs.update(running, "queued"):
                    report["duplicate"] += 1
                    continue
                if take_place and not self._take_place(task.job, running, report):
                    continue
            holds = holds or take_place
            report.update(self._attempt(task.job, running, task.overrides, holds and last))
        return report

    def _take_place(self, job: JobRecord, run: RunRecord, report: Counter[str]) -> bool:
        """Count the run in flight, or hold it back (wait in line or skip) at the job's bound."""
        limit = int(job.spec.get("maxConcurrent", 1))
        if self.stores.jobs.acquire(job.account_id, job.job_id, limit):
            return True
        report[self._hold_back(job, run)] += 1
        return False

    # ---- one attempt ------------------------------------------------------------------------

    def _request(
        self,
        job: JobRecord,
        run: RunRecord,
        overrides: dict[str, Any] | None,
        control: runs.RunControl | None = None,
    ) -> executor.Request:
        spec = job.spec
        extended = spec["extendedData"]
        headers = sent_headers(job)
        body = extended["body"]
        url, method, timeout = spec["url"], spec["requestMethod"], self._timeout(job)
        if overrides:  # this run's own (run-now), validated as the job's fields are
            headers.update(overrides.get("headers") or {})
            if overrides.get("body") is not None:
                body = overrides["body"]
            url = overrides.get("url") or url
            method = overrides.get("method", method)
            if overrides.get("timeout", -1) > 0:
                timeout = overrides["timeout"]
        if control is not None and control.timeout:
            timeout = control.timeout  # changed for this run after it started
        headers.update(callbacks.header(self, job, run, float(timeout)))
        auth = None
        if spec["auth"]["enable"]:
            auth = (spec["auth"]["user"], job.secrets.get("password", ""))
        now = self.clock()
        secrets = tuple(
            s["secret"]
            for s in job.secrets.get("signing", [])
            if s.get("until") is None or s["until"] > now
        )
        planned_ms = run.data.get("plannedMs", run.data["datePlanned"] * 1000)
        return executor.Request(
            url=url,
            method=METHODS[method],
            headers=headers,
            body=body or None,
            auth=auth,
            timeout=float(timeout),
            tls_verify=bool(spec.get("tlsVerify", True)),
            redirect_success=bool(spec["redirectSuccess"]),
            success_codes=success_ranges(spec.get("successCodes", [])),
            success_match=spec.get("successMatch") or None,
            error_match=spec.get("errorMatch") or None,
            max_duration_ms=spec.get("maxDuration") or None,
            webhook_id=runs.webhook_id(
                job.job_id, planned_ms / 1000, run.data.get("runId", run.run_id)
            ),
            signing_secrets=secrets,
            run_id=run.run_id,
            planned_time=planned_ms / 1000,
            now=self.clock,
        )

    def _attempt(
        self, job: JobRecord, run: RunRecord, overrides: dict[str, Any] | None, release: bool
    ) -> Counter[str]:
        """Execute and record one attempt; `release` says it ends the task's in-flight count."""
        report: Counter[str] = Counter()
        policy = executor.Policy(allow_private=self.settings.allow_private_targets)
        started = self.clock()
        spec = job.spec
        control = self._control(run)
        request = self._request(job, run, overrides, control)
        if control.aborted_by is not None:
            result = executor.aborted(request, _aborted_text(control))  # nothing is sent
        else:
            result = self._execute_watched(run, request, policy)
        planned_ms = run.data.get("plannedMs", run.data["datePlanned"] * 1000)
        if int(run.data.get("attempt", 1)) > 1:
            # A retry's plan is its own time (backoff, Retry-After), not its run's slot.
            planned_ms = round(float(run.data.get("deliverAt", planned_ms / 1000)) * 1000)
        data: dict[str, Any] = {
            "date": int(started),
            "url": request.url,  # as called: the job may have been edited since its claim
            "jitter": self._lag(round(started * 1000 - planned_ms)),
            "duration": result.duration_ms,
            "status": result.status,
            "statusText": result.status_text,
            "httpStatus": result.http_status,
            "stats": dict(result.stats),
            "reason": result.reason,
            "remoteIp": result.remote_ip,
            "redirects": list(result.redirects),
            "bodySize": result.body_size,
            "tlsVerified": result.tls_verified,
        }
        if result.ssl_cert_expiry is not None:
            data["sslCertExpiry"] = result.ssl_cert_expiry
        data["jobLogId"] = self._log_id(started)
        if callbacks.awaits(job, result):  # 202: the run goes on until its callback
            return callbacks.wait(self, job, run, data, started, release)
        strategy = spec.get("historyStrategy", "MINIMAL")
        retention = int(spec.get("retentionDays", 30))
        # Volt MX's strategies: OFF keeps no history, ERROR only failed runs, MINIMAL every run
        # without its response, FULL every run with it (as saveResponses does).
        hidden = strategy == "OFF" or (strategy == "ERROR" and result.ok)
        if not hidden and (strategy == "FULL" or spec.get("saveResponses")):
            key = response_key(job.account_id, job.job_id, run.run_id)
            try:
                self.blobs.put(
                    key,
                    {
                        "headers": runs.raw_headers(result.headers),
                        "body": result.body.decode("utf-8", "replace"),
                    },
                    retention,
                )
                data["responseKey"] = key
            except StoreError as exc:
                # The call happened: record it without its response rather than not at all.
                log.warning("run %s: response not saved: %s", run.run_id, exc.message)
        expires = int(started) + (3600 if hidden else retention * 86400)
        attempt = int(run.data.get("attempt", 1))
        retry = self._retry_plan(job, result, attempt, control)
        if retry is not None:
            data["retryAt"] = int(self.clock()) + retry
            data["nextAttempt"] = attempt + 1
        done = RunRecord(
            run.account_id,
            run.job_id,
            run.run_id,
            "aborted" if result.reason == "aborted" else "done",
            {**run.data, **data, "hidden": hidden},
            None,
            expires,
            run.claim,
        )
        replaced = self._keep_result(done, run.state)
        if replaced.startswith("lost"):
            if replaced == "lost, released":
                release = False  # the sweep that marked it lost gave its in-flight count back
            log.warning(
                "run %s of job %s: its result came after it was marked lost; recorded late",
                run.run_id,
                job.job_id,
            )
        elif replaced != run.state:
            log.warning(
                "run %s of job %s: its record is %s meanwhile; the outcome %s is not recorded on "
                "it",
                run.run_id,
                job.job_id,
                replaced,
                result.status,
            )
        report["ok" if result.ok else "failed"] += 1
        if retry is not None:
            # The next attempt inherits this one's in-flight count: the run is not over.
            self._schedule_retry(job, run, retry, overrides, release)
            report["retried"] += 1
            return report
        self._conclude(job, done, result, release, report, control)
        return report

    def _control(self, run: RunRecord) -> runs.RunControl:
        """What was asked of this run since it was claimed (an abort, its own settings)."""
        key = runs.control_key(run.account_id, run.data.get("runId", run.run_id))
        try:
            return runs.RunControl.from_value(self.stores.state.get_value(key))
        except StoreError as exc:
            log.warning("run %s: its controls could not be read: %s", run.run_id, exc.message)
            return runs.RunControl()

    def _execute_watched(
        self, run: RunRecord, request: executor.Request, policy: executor.Policy
    ) -> executor.Result:
        """Make the call while a thread looks for an abort or a new timeout of the run every
        CONTROL_POLL_S, and applies it to the call in flight (wherever it runs: the tick's
        pool or a worker)."""
        stop = executor.Stop()
        done = threading.Event()

        def watch() -> None:
            timeout = request.timeout
            while not done.wait(CONTROL_POLL_S):
                control = self._control(run)
                if control.aborted_by is not None:
                    stop.abort(_aborted_text(control))
                    return
                if control.timeout and control.timeout != timeout:
                    timeout = control.timeout
                    stop.set_timeout(timeout)

        watcher = threading.Thread(target=watch, name="cronhook-control", daemon=True)
        watcher.start()
        try:
            return self.execute(replace(request, stop=stop), policy)
        finally:
            done.set()

    @staticmethod
    def _log_id(started: float) -> int:
        """cron-job.org's `jobLogId`: a real identifier of the call, increasing with its start
        (the microsecond it started, as large as cron-job.org's own ids and below 2^53), taken
        without a write: a counter item would add a write unit to every run. A run that makes
        no call (skipped, cancelled, lost) keeps 0."""
        return int(started * 1_000_000)

    def _keep_result(self, done: RunRecord, expected: str) -> str:
        """Write the attempt's record over the run's, if that is still `expected` or a sweep
        marked it lost while it ran (the call did happen: its result is worth more than "lost").
        Returns the state the result replaced, or the one that kept it out; "lost, released"
        when the sweep that marked it lost gave its in-flight count back."""
        replaced = expected
        for _ in range(3):
            if self.stores.runs.update(done, expected):
                return replaced
            current = self.stores.runs.get(done.account_id, done.job_id, done.run_id)
            if current is None:
                return "deleted"
            if current.state not in (expected, "lost"):
                return current.state
            if current.state == "lost":
                done.data = {**done.data, "late": True}
                replaced = "lost, released" if current.data.get("holds") else "lost"
            expected = current.state  # the same again: the failure said nothing; retry it
        return "contended"

    def _retry_plan(
        self,
        job: JobRecord,
        result: executor.Result,
        attempt: int,
        control: runs.RunControl | None = None,
    ) -> int | None:
        """Seconds until the next attempt, or None when this attempt is the run's last (an
        aborted run ends here)."""
        control = control or runs.RunControl()
        retries = control.retries if control.retries is not None else job.spec.get("retries", 0)
        if result.ok or result.reason == "aborted" or attempt > int(retries):
            return None
        if result.http_status == 410 or result.status == executor.STATUS_INVALID_URL:
            return None  # the target says it is gone, or the URL can never work
        if result.reason == "blocked":
            return None
        retry_after = result.retry_after if result.http_status in (429, 503) else None
        delay = control.retry_delay if control.retry_delay else job.spec.get("retryDelay", 30)
        return runs.retry_delay(attempt, int(delay), retry_after, self.rng)

    def _schedule_retry(
        self,
        job: JobRecord,
        run: RunRecord,
        delay: int,
        overrides: dict[str, Any] | None,
        counted: bool,
    ) -> None:
        attempt = int(run.data.get("attempt", 1)) + 1
        planned = run.data.get("plannedMs", run.data["datePlanned"] * 1000) / 1000
        retry = self._new_run(
            job,
            planned,
            self.clock() + delay,
            trigger=run.data.get("trigger", "schedule"),
            attempt=attempt,
            tag=runs.run_tag(run.run_id),
            first_run=run.data.get("runId", run.run_id),
            extra={k: run.data[k] for k in ("chain", "by") if k in run.data} or None,
        )
        retry.data["holds"] = counted
        self._watch_runs([retry])
        self.stores.runs.create(retry)
        self._enqueue([Task(job, [retry], counted, overrides)])

    def _conclude(
        self,
        job: JobRecord,
        done: RunRecord,
        result: executor.Result,
        release: bool,
        report: Counter[str],
        control: runs.RunControl | None = None,
    ) -> None:
        """The run's last attempt ended: update the job, then notifications, chains, the queue.
        An aborted run chains nowhere; `control` holds the run's own settings, if any."""
        control = control or runs.RunControl()
        queue = release and int(job.spec.get("queueMax", 0)) > 0
        # The oldest waiting run takes over this run's in-flight count, so that the line keeps
        # its order: a slot coming due meanwhile finds the job still at its bound and waits
        # behind it (or is skipped) instead of taking the freed place. Not when this result
        # may disable the job: the waiting run then starts after the disabling, and stops.
        may_disable = result.http_status == 410 or (
            not result.ok and job.failure_streak + 1 >= self.settings.disable_after_failures
        )
        if queue and not may_disable and self._start_waiting(job, counted=True):
            queue = release = False
        outcome = self.stores.jobs.record(
            job.account_id,
            job.job_id,
            ok=result.ok,
            status=result.status,
            duration_ms=result.duration_ms,
            executed_at=int(done.data["date"]),
            ssl_cert_expiry=result.ssl_cert_expiry,
            release=release,
            run_id=done.run_id,
        )
        if outcome is None:
            return  # deleted while running
        recovered = result.ok and job.failure_streak > 0
        # The task's copy of the job follows: the next run of a catch-up batch reads it.
        job.failure_streak = outcome.failure_streak
        notification = dict(job.spec["notification"])
        if control.on_failure is not None:
            notification["onFailure"] = control.on_failure
        if control.on_success is not None:
            notification["onSuccess"] = control.on_success
        disable_reason = None
        if result.http_status == 410:
            disable_reason = "the target answered 410 Gone"
        elif outcome.failure_streak >= self.settings.disable_after_failures:
            disable_reason = f"{outcome.failure_streak} failed runs in a row"
        if not result.ok and outcome.failure_streak == notification["onFailureCount"]:
            self._notify(notification["onFailure"], "job.failed", job, done, outcome.failure_streak)
        if recovered:
            self._notify(notification["onSuccess"], "job.recovered", job, done, 0)
        if result.ssl_cert_expiry is not None:
            self._ssl_notice(job, done, result.ssl_cert_expiry)
        if disable_reason and self._disable(job, disable_reason):
            job.spec = {**job.spec, "enabled": False}
            job.disabled_reason = disable_reason
            report["disabled"] += 1
            done.data["jobDisabled"] = disable_reason
            self.stores.runs.put(done)
            self._notify(
                notification["onDisable"],
                "job.disabled",
                job,
                done,
                outcome.failure_streak,
                reason=disable_reason,
            )
        if result.ok:
            chain = (
                job.spec["chainSuccess"] if control.chain_success is None else control.chain_success
            )
        else:
            chain = (
                job.spec["chainFailure"] if control.chain_failure is None else control.chain_failure
            )
        if result.reason == "aborted":
            chain = 0
        if chain:
            chained = self._chain(job, done, int(chain))
            report[chained] += 1
            if chained == "chain_missing":  # deleted since: the history says why nothing ran
                done.data["chainMissing"] = int(chain)
                self.stores.runs.put(done)
        if queue:
            self._start_waiting(job, counted=False)

    def _notify(
        self, wanted: bool, event: str, job: JobRecord, run: RunRecord, streak: int, **extra: Any
    ) -> None:
        if not wanted or self.notifier is None:
            return
        self.notifier.notify(
            event,
            job,
            {
                # The run's id as run-now and GET /runs know it; the attempt's is `identifier`.
                "runId": run.data.get("runId", run.run_id),
                "identifier": run.run_id,
                "attempt": run.data.get("attempt", 1),
                "status": run.data.get("status"),
                "statusText": run.data.get("statusText"),
                "httpStatus": run.data.get("httpStatus"),
                "failureStreak": streak,
                **extra,
            },
        )

    def _ssl_notice(self, job: JobRecord, run: RunRecord, expiry: int) -> None:
        notification = job.spec["notification"]
        if not notification["onSslCertExpiry"]:
            return
        if expiry - self.clock() > notification["onSslCertExpirySeconds"]:
            return
        key = SSL_NOTICE_KEY.format(account=job.account_id, job=job.job_id)
        if self.stores.state.get_value(key) == expiry:
            return  # already told about this certificate
        self.stores.state.put_value(key, expiry)
        self._notify(
            True, "job.ssl_cert_expiring", job, run, job.failure_streak, sslCertExpiry=expiry
        )

    def _disable(self, job: JobRecord, reason: str) -> bool:
        for _ in range(5):
            current = self.stores.jobs.get(job.account_id, job.job_id)
            if current is None or not current.enabled:
                return False
            expected = current.version
            current.spec["enabled"] = False
            current.next_run_at = None
            current.disabled_reason = reason
            current.version += 1
            current.updated_at = int(self.clock())
            if self.stores.jobs.replace(current, expected):
                log.info("job %s disabled: %s", job.job_id, reason)
                return True
        return False

    def _chain(self, job: JobRecord, run: RunRecord, target_id: int) -> str:
        path = [*run.data.get("chain", []), job.job_id]
        if target_id in path or len(path) > MAX_CHAIN:
            log.info("chain from job %s to %s stopped: loop or too deep", job.job_id, target_id)
            return "chain_stopped"
        target = self.stores.jobs.get(job.account_id, target_id)
        if target is None:
            return "chain_missing"
        self.start_now(target, trigger="chain", extra={"chain": path})
        return "chained"

    def _pass_on(self, job: JobRecord, counted: bool) -> None:
        """A run of the job ended without a result: start the next waiting run with its
        in-flight count, if it held one, or give the count back."""
        started = int(job.spec.get("queueMax", 0)) > 0 and self._start_waiting(job, counted)
        if counted and not started:
            self.stores.jobs.release(job.account_id, job.job_id)

    def _start_waiting(self, job: JobRecord, counted: bool) -> bool:
        """Deliver the job's oldest waiting run, with the in-flight count of the run that just
        ended if `counted` (else it takes a free place when it starts, or waits again)."""
        for waiting in self._waiting_runs(job)[:1]:
            queued = replace(waiting, state="queued")
            queued.active_deadline = int(self.clock() + self._timeout(job) + runs.DEADLINE_MARGIN_S)
            # `holds`: should this delivery be lost, the sweep gives the count back.
            queued.data = {
                **waiting.data,
                "deliverAt": self.clock(),
                "statusText": "Queued",
                "holds": counted,
            }
            self._watch_runs([queued])
            if self.stores.runs.update(queued, "waiting"):
                self._enqueue([Task(job, [queued], counted)])
                return True
        return False

    def _finish(self, run: RunRecord, state: str, data: dict[str, Any]) -> bool:
        """End the run as `state` unless its record changed meanwhile (then False)."""
        expected = run.state
        run.state, run.active_deadline = state, None
        run.data = {**run.data, **data}
        run.expires_at = int(self.clock()) + 30 * 86400
        return self.stores.runs.update(run, expected)

    # ---- run now, orphans ---------------------------------------------------------------------

    def start_now(
        self,
        job: JobRecord,
        *,
        trigger: str = "manual",
        overrides: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> RunRecord:
        """Queue a run of `job` at once (run-now, chains); it does not move the schedule."""
        now = self.clock()
        tag = f"{trigger[0]}{self.rng.getrandbits(24):06x}"
        run = self._new_run(job, now, now, trigger=trigger, tag=tag, extra=extra)
        self._watch_runs([run])
        self.stores.runs.create(run)
        self._enqueue([Task(job, [run], False, overrides)])
        return run

    def claim_early(self, job: JobRecord) -> int:
        """Claim the slots of a job just saved (created, rescheduled, enabled) up to the end of
        the next minute, as this minute's tick did for every other job before this one could
        fire: a seconds schedule or a one-shot time a few seconds away would otherwise wait for
        the next tick, and the slot on the next minute would start only once that tick has
        claimed it (a second or more late). The same claim as the tick's (a racing tick cannot
        double a slot); the runs go to the queue, delayed to their planned seconds. Returns the
        number claimed."""
        now = self.clock()
        until = (int(now) // 60 + 2) * 60 - 1  # the tick's window: the next tick takes over after
        report: Counter[str] = Counter()
        plan = self._plan(job, now, until, report)  # None unless due by `until`
        if plan is None or not self.stores.state.scheduler_enabled(job.account_id):
            return 0
        plan.token = new_token()
        self._watch([self._watch_entry(job, slot, at) for slot, at in plan.slots])
        tasks = self._claim(plan, report)
        if tasks:
            self._enqueue(tasks)
        return sum(len(t.runs) for t in tasks)

    def sweep(self, now: float, report: Counter[str]) -> None:
        """Mark runs whose runner vanished (queued or running past their deadline) as lost:
        read the watch lists of every minute since the last sweep, up to this one."""
        minute = int(now) // 60
        mark = self.stores.state.get_value(SWEEP_MARK_KEY)
        if isinstance(mark, int):
            first = max(mark + 1, minute - SWEEP_BACK_MIN)
        else:
            first = minute - SWEEP_FIRST_MIN
        minutes = range(first, minute + 1)
        if not minutes:
            return
        with ThreadPoolExecutor(min(POOL_SIZE, len(minutes))) as pool:
            entries = [e for es in pool.map(self.stores.runs.watched, minutes) for e in es]
        later: list[Watch] = []
        keys = list(dict.fromkeys((a, j, r) for a, j, r, _ in entries))
        # Runs claimed minutes ago: an eventually consistent read (half the price) sees them.
        found = self.stores.runs.get_many(keys, consistent=False) if keys else []
        records = {(r.account_id, r.job_id, r.run_id): r for r in found}
        for key in keys:
            self._sweep_run(key, records.get(key), now, later, report)
        self._watch(later)
        self.stores.state.put_value(SWEEP_MARK_KEY, minute)

    def _sweep_run(
        self,
        key: tuple[str, int, str],
        run: RunRecord | None,
        now: float,
        later: list[Watch],
        report: Counter[str],
    ) -> None:
        """Mark one watched run lost if it is still active past its deadline. `run` is from an
        eventually consistent read: when it shows nothing, or a state its record has left, the
        record is read again consistently before the run is let go."""
        account, job_id, run_id = key
        for fresh in (False, True):
            if fresh:
                run = self.stores.runs.get(account, job_id, run_id)
            if run is None:
                continue  # never claimed (or not seen yet: read again)
            if run.state not in runs.ACTIVE_STATES:
                return  # over
            if run.active_deadline is not None and run.active_deadline > now:
                later.append((account, job_id, run_id, run.active_deadline))  # more time
                return
            if run.state == "running" and run.data.get("callback"):
                job = self.stores.jobs.get(account, job_id)
                if job is not None and callbacks.end(self, job, run, None) is not None:
                    report["no_callback"] += 1
                    return
            lost = self._finish(
                run,
                "lost",
                {
                    "status": 8,
                    "statusText": "Lost: its runner stopped before recording a result",
                    "reason": "lost",
                },
            )
            if lost:
                if run.data.get("holds"):
                    job = self.stores.jobs.get(account, job_id)
                    if job is not None:
                        self._pass_on(job, True)
                report["lost"] += 1
                return
            # Its runner (or another tick) got there first, or the read was stale: read again.


def _aborted_text(control: runs.RunControl) -> str:
    return f"Aborted by {control.aborted_by}" if control.aborted_by else "Aborted"


def from_wiring() -> Dispatcher:
    """The dispatcher over the configured AWS (or moto) resources."""
    from chalicelib import wiring

    stores, settings = wiring.stores(), wiring.settings()
    return Dispatcher(
        stores=stores,
        settings=settings,
        queue=wiring.queue(),
        blobs=wiring.blobs(),
        notifier=Notifier(stores, settings, ses=wiring.ses),
    )


def tick(now: float) -> dict[str, int]:
    """The scheduled function: one tick, its figures published (chalicelib.metrics)."""
    dispatcher = from_wiring()
    began = time.monotonic()
    report = dispatcher.tick(now)
    duration_ms = round((time.monotonic() - began) * 1000)
    _publish(metrics.Sample.of("tick", report, dispatcher.lags, duration_ms), dispatcher.settings)
    return report


def work(bodies: list[str], now: float) -> dict[str, int]:
    return from_wiring().work(bodies, now)


def work_batch(bodies: list[str], now: float) -> Batch:
    """The queue's function: one batch of messages, its figures published."""
    dispatcher = from_wiring()
    done = dispatcher.work_batch(bodies, now)
    _publish(metrics.Sample.of("worker", done.report, dispatcher.lags), dispatcher.settings)
    return done


def _publish(sample: metrics.Sample, settings: Settings) -> None:
    """Deployed, one embedded-metric line on stdout (Lambda sends stdout to CloudWatch Logs as
    it is, which turns the line into metrics); every process keeps totals for `GET /metrics`."""
    metrics.REGISTRY.add(sample)
    if settings.backend != "sqlite" and settings.stage != "local":  # make run has GET /metrics
        print(metrics.emf(sample, settings.stage, time.time()), flush=True)
