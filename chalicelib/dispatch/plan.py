"""Which slots of a job a tick claims, and whether a claimed run should still fire: pure
functions of the job, its schedule and the time (nothing here reads a clock or a store)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.config import Settings
from chalicelib.runs import DEADLINE_MARGIN_S
from chalicelib.schedule import Schedule
from chalicelib.store.base import JobRecord, RunRecord

MISSED_AFTER_S = 60  # a slot older than one tick period was missed (the ticks were down)
MAX_CATCH_UP = 1000  # missed slots looked at per job and tick
# A run planned this long ago has started (and counted itself in flight) by now: SQS delays are
# whole seconds, a worker picks a message up within a second or two, and the tick's read of the
# job's in-flight count may be a second old.
START_LAG_S = 15


@dataclass
class Plan:
    """The slots a tick means to claim for one job, and where the job moves after them."""

    job: JobRecord
    slots: list[tuple[int, float]]  # (planned, deliver at)
    next_run_at: int | None
    in_order: int  # the first so many slots (missed ones) run now, one after another
    extra: dict[str, Any] = field(default_factory=dict)  # for those first slots
    until: int = 0  # the claiming tick's window ends here
    token: str = ""  # the claiming tick's: its own retried create is known as its own
    reserve: bool = False  # the claim may count the first run in flight already (see reserve)
    missed: int = 0  # slots found missed (the ticks were down)
    woken: bool = False  # the job is on the wake list of its next run's minute

    @property
    def stay_until(self) -> int:
        """A job due again by then stays where it is in the `due` index: the next tick looks
        at it anyway."""
        return self.until + 60


def window_end(now: float) -> int:
    """The last second a tick at `now` claims: the end of the next minute (the next tick takes
    over after it)."""
    return (int(now) // 60 + 2) * 60 - 1


def timeout(job: JobRecord, settings: Settings, overrides: dict[str, Any] | None = None) -> int:
    """The job's request timeout in seconds (-1 in its spec: the service's default), or a
    run-now's own (`overrides`) when it gives one."""
    if overrides and overrides.get("timeout", -1) > 0:
        return int(overrides["timeout"])
    seconds = int(job.spec.get("requestTimeout", -1))
    return settings.default_request_timeout if seconds < 0 else seconds


def deadline(job: JobRecord, settings: Settings, deliver_at: float, now: float) -> int:
    """When a run delivered at `deliver_at` is an orphan if it has not ended."""
    return int(max(deliver_at, now) + timeout(job, settings) + DEADLINE_MARGIN_S)


def schedule_of(job: JobRecord) -> Schedule:
    """The job's parsed schedule; jobs of one schedule share one parse (a burst of 100,000 jobs
    at the top of the hour has a handful of distinct schedules)."""
    key = json.dumps(job.spec["schedule"], sort_keys=True, separators=(",", ":"))
    found = _PARSED.get(key)
    if found is None:
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        found = _PARSED[key] = Schedule.parse(job.spec["schedule"])
    return found


_PARSED: dict[str, Schedule] = {}  # a Schedule is immutable: threads may share one
_PARSED_MAX = 10_000


class Planner:
    """`plan` for many jobs at one time: jobs that share a schedule, a position and the
    options the plan reads get the slots computed once (a tick's burst)."""

    def __init__(self, now: float, until: int) -> None:
        self.now, self.until = now, until
        self._done: dict[tuple[Any, ...], Plan | None] = {}

    def plan(self, job: JobRecord) -> Plan | None:
        if not job.due or job.next_run_at is None or job.next_run_at > self.until:
            return None
        key = (
            json.dumps(job.spec["schedule"], sort_keys=True, separators=(",", ":")),
            job.next_run_at,
            bool(job.spec.get("catchUp")),
            bool(job.running),
        )
        if key not in self._done:
            self._done[key] = plan(job, self.now, self.until)
        shared = self._done[key]
        if shared is None:
            return None
        return replace(shared, job=job, slots=list(shared.slots), extra=dict(shared.extra))


def plan(job: JobRecord, now: float, until: int) -> Plan | None:
    """The slots of `job` a tick at `now` should claim up to `until`, or None."""
    if not job.due or job.next_run_at is None or job.next_run_at > until:
        return None
    schedule = schedule_of(job)
    first = job.next_run_at
    if first < now - MISSED_AFTER_S:
        missed = [first]
        later = schedule.next_after(first)
        while later is not None and later <= now and len(missed) < MAX_CATCH_UP:
            missed.append(later)
            later = schedule.next_after(later)
        while later is not None and later <= now:  # beyond the catch-up bound: skip ahead
            later = schedule.next_after(later)
        held = reserve(job, schedule, now, now)
        # The slots of the window after now are claimed too, each for its own second: left
        # to the next tick, a seconds schedule's would all run a minute late.
        window: list[tuple[int, float]] = []
        while later is not None and later <= until:
            window.append((later, float(later)))
            later = schedule.next_after(later)
        if job.spec.get("catchUp"):
            every = [(slot, now) for slot in missed]
            return Plan(
                job, every + window, later, len(every), {}, until, reserve=held, missed=len(missed)
            )
        # As cron-job.org does after downtime: run once now, skip the rest.
        extra = {"missedSlots": len(missed) - 1}
        once = [(missed[-1], now)]
        return Plan(job, once + window, later, 1, extra, until, reserve=held, missed=len(missed))
    slots = [first]
    later = schedule.next_after(first)
    while later is not None and later <= until:
        slots.append(later)
        later = schedule.next_after(later)
    held = reserve(job, schedule, first, now)
    return Plan(job, [(slot, float(slot)) for slot in slots], later, 0, {}, until, reserve=held)


def reserve(job: JobRecord, schedule: Schedule, start: float, now: float) -> bool:
    """Whether the claim may count the run starting at `start` in flight already, which saves
    the write of counting it when it starts: only when no other scheduled run of the job can be
    in flight, or start, before it. None is in flight (`running`, read just now), and none is
    planned from START_LAG_S ago to `start` (a run planned before that has started, and counted
    itself, by now). A place taken a minute early would otherwise turn away the runs in
    between: a seconds schedule's, or this minute's run, starting as the tick claims the next
    one."""
    if job.running:
        return False
    earlier = schedule.next_after(now - START_LAG_S)
    return earlier is None or earlier >= start


def missed(job: JobRecord, run: RunRecord, now: float) -> str:
    """Why a scheduled run delivered long after its time must not run: the service was down
    (or `make run` stopped with it in its queue) and a later slot of the job is due too. A job
    without `catchUp` runs once after downtime, and the tick runs that later slot for it;
    alone, the late run is that once."""
    if run.data.get("trigger", "schedule") != "schedule" or run.data.get("attempt", 1) != 1:
        return ""
    late = now - float(run.data.get("deliverAt", run.data["datePlanned"]))
    if late <= MISSED_AFTER_S or job.spec.get("catchUp"):
        return ""
    after = schedule_of(job).next_after(int(run.data["datePlanned"]))
    if after is None or after > now:
        return ""
    return f"Skipped: missed, delivered {int(late)} s after its time"


def stopped(job: JobRecord, run: RunRecord, scheduler_on: Callable[[str], bool]) -> str:
    """Why a scheduled run claimed ahead must not fire after all: since the claim its job was
    disabled (by its user, a 410, a failure streak), rescheduled away from its time, or its
    account's scheduler switched off. A run-now or chained run was asked for explicitly and
    still runs, and so do the retries of a run that happened."""
    if run.data.get("trigger", "schedule") != "schedule":
        return ""
    if not job.enabled:
        reason = f" ({job.disabled_reason})" if job.disabled_reason else ""
        return f"Cancelled: the job was disabled{reason}"
    if run.data.get("attempt", 1) == 1:
        planned = int(run.data["datePlanned"])
        if schedule_of(job).next_after(planned - 1) != planned:
            return "Cancelled: the job's schedule no longer has this time"
    on = scheduler_on(job.account_id)  # asked last: a read of the account's switch
    return "" if on else "Cancelled: the scheduler is switched off"
