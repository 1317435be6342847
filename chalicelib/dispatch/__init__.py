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
worker's conditional queued -> running step makes a duplicate delivery harmless.

Modules, each with one reason to change: `plan` (pure: which slots, whether a claimed run still
fires), `ledger` (claims, run records, watch lists, places in flight), `delivery` (tasks and
their queue messages), `ticker`, `worker`, `attempt` (one call and its record), `aftermath`
(retries, streaks, notices, chains), `awaiting` (runs waiting for their callback), `sweeper`;
`dispatcher` ties them to their dependencies.
"""

from chalicelib.dispatch.delivery import TASKS_PER_MESSAGE, Batch, Task
from chalicelib.dispatch.dispatcher import (
    Dispatcher,
    from_wiring,
    publish,
    tick,
    work,
    work_batch,
)
from chalicelib.dispatch.ticker import POOL_SIZE

__all__ = [
    "POOL_SIZE",
    "TASKS_PER_MESSAGE",
    "Batch",
    "Dispatcher",
    "Task",
    "from_wiring",
    "publish",
    "tick",
    "work",
    "work_batch",
]
