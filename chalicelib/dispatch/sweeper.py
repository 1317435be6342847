"""The sweep: runs whose runner vanished (queued or running past their deadline) are marked
lost, found through the watch lists of the minutes since the last sweep rather than an index
over every run in flight; and heartbeat monitors whose grace ran out go down."""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from chalicelib import runs
from chalicelib.dispatch import awaiting, ledger
from chalicelib.errors import StoreError
from chalicelib.store.base import RunRecord, Watch

if TYPE_CHECKING:
    from chalicelib.dispatch.dispatcher import Dispatcher

log = logging.getLogger(__name__)

POOL_SIZE = 16
SWEEP_MARK_KEY = "sweep#mark"  # the last minute whose watch list a tick has read
SWEEP_BACK_MIN = 24 * 60  # watch lists read after downtime: at most a day of them
SWEEP_FIRST_MIN = 10  # ... and on a fresh deployment


def sweep(d: Dispatcher, now: float, report: Counter[str]) -> None:
    """Mark runs whose runner vanished as lost: read the watch lists of every minute since the
    last sweep, up to this one."""
    minute = int(now) // 60
    mark = d.stores.state.get_value(SWEEP_MARK_KEY)
    if isinstance(mark, int):
        first = max(mark + 1, minute - SWEEP_BACK_MIN)
    else:
        first = minute - SWEEP_FIRST_MIN
    minutes = range(first, minute + 1)
    if not minutes:
        return
    with ThreadPoolExecutor(min(POOL_SIZE, len(minutes))) as pool:
        entries = [e for es in pool.map(d.stores.runs.watched, minutes) for e in es]
    later: list[Watch] = []
    keys = list(dict.fromkeys((a, j, r) for a, j, r, _ in entries))
    # Runs claimed minutes ago: an eventually consistent read (half the price) sees them.
    found = d.stores.runs.get_many(keys, consistent=False) if keys else []
    records = {(r.account_id, r.job_id, r.run_id): r for r in found}
    for key in keys:
        sweep_run(d, key, records.get(key), now, later, report)
    ledger.watch(d, later)
    d.stores.state.put_value(SWEEP_MARK_KEY, minute)


def sweep_run(
    d: Dispatcher,
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
            run = d.stores.runs.get(account, job_id, run_id)
        if run is None:
            continue  # never claimed (or not seen yet: read again)
        if run.state not in runs.ACTIVE_STATES:
            return  # over
        if run.active_deadline is not None and run.active_deadline > now:
            later.append((account, job_id, run_id, run.active_deadline))  # more time
            return
        if run.state == "running" and run.data.get("callback"):
            job = d.stores.jobs.get(account, job_id)
            if job is not None and awaiting.end(d, job, run, None) is not None:
                report["no_callback"] += 1
                return
        lost = ledger.finish(
            d,
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
                job = d.stores.jobs.get(account, job_id)
                if job is not None:
                    ledger.pass_on(d, job, True)
            report["lost"] += 1
            return
        # Its runner (or another tick) got there first, or the read was stale: read again.


def sweep_monitors(d: Dispatcher, now: float, report: Counter[str]) -> None:
    """Heartbeat monitors whose grace ran out go down (chalicelib.monitoring); a storage error
    there leaves them to the next tick and the jobs' slots to this one."""
    from chalicelib.monitoring import Monitors

    try:
        Monitors(d.stores, d.notifier, d.clock).sweep(now, report)
    except StoreError as exc:
        log.warning("monitors not swept this tick: %s", exc.message)
