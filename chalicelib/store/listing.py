"""Several jobs' runs, newest first, merged from each job's own listing: how DynamoDB lists an
account's runs (RunStore.list_for_account).

DynamoDB keeps each job's runs in order in the job's partition and has no index over the
account: such an index would cost a write unit on every run. The merge reads the newest few
runs of each job and reads more of a job only when it has used up what it read of it: a page
of `limit` runs reads about `limit` runs plus FIRST_STEP per job."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from chalicelib.store.base import Page, RunRecord, run_cursor, run_from_cursor

FIRST_STEP = 4  # runs read of each job at first: most pages come from a few busy jobs
MAX_STEP = 100  # a job read again reads twice as many as the last time, up to this
POOL_SIZE = 16  # jobs read at once (DynamoDB's latency, not its throughput, bounds a page)


@dataclass
class _Head:
    """A job's newest run not yet merged; the heap's first is the newest run overall."""

    run: RunRecord
    job_id: int

    def __lt__(self, other: _Head) -> bool:
        return self.run.run_id > other.run.run_id


@dataclass
class _Job:
    job_id: int
    runs: list[RunRecord] = field(default_factory=list)
    more: bool = True  # the store may hold older runs than those read
    step: int = FIRST_STEP


def merged(
    list_for_job: Callable[[int, int, str | None], Page],
    job_ids: list[int],
    limit: int,
    cursor: str | None = None,
) -> Page:
    """The runs of `job_ids` newest first, a page of `limit`; `cursor` (from a previous page)
    continues. `list_for_job(job, limit, before)` lists a job's runs newest first, those with
    ids below `before` when given."""
    before = run_from_cursor(cursor) if cursor else None
    jobs = [_Job(job_id) for job_id in dict.fromkeys(job_ids)]

    def read(job: _Job, after: str | None) -> _Job:
        page = list_for_job(job.job_id, job.step, after)
        job.runs, job.more = list(page.items), page.cursor is not None
        job.step = min(MAX_STEP, job.step * 2)
        return job

    heap: list[_Head] = []

    def push(job: _Job) -> None:
        if job.runs:
            run = job.runs.pop(0)
            heapq.heappush(heap, _Head(run, job.job_id))

    if jobs:
        with ThreadPoolExecutor(min(POOL_SIZE, len(jobs))) as pool:
            for job in pool.map(lambda j: read(j, before), jobs):
                push(job)
    by_id = {job.job_id: job for job in jobs}
    items: list[RunRecord] = []
    while heap and len(items) < limit:
        head = heapq.heappop(heap)
        items.append(head.run)
        job = by_id[head.job_id]
        if not job.runs and job.more:
            read(job, head.run.run_id)
        push(job)
    # A job whose last run was taken has been read again: the heap holds whatever follows.
    return Page(items, run_cursor(items[-1].run_id) if heap and items else None)
