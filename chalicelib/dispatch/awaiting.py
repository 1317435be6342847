"""The run's side of callbacks (chalicelib/callbacks.py holds the signed URL and the report):
a run whose target answered 202 waits `running` for its callback, which ends it exactly as an
answer would have (retries, streaks, notices, chains, the line); the sweep ends it failed when
none came in time."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from chalicelib import callbacks
from chalicelib.dispatch import aftermath, ledger
from chalicelib.errors import Conflict, NotFound
from chalicelib.runs import ACTIVE_STATES
from chalicelib.store.base import JobRecord, RunRecord

if TYPE_CHECKING:
    from chalicelib.dispatch.dispatcher import Dispatcher


def wait(
    d: Dispatcher,
    job: JobRecord,
    run: RunRecord,
    data: dict[str, Any],
    started: float,
    release: bool,
) -> Counter[str]:
    """Keep the run `running` until its callback or its timeout (the sweep's deadline); the
    attempt's in-flight count stays held, and `release` says whether its end gives it back."""
    timeout = int(job.spec["callback"]["timeout"])
    deadline = int(d.clock()) + timeout
    waited = {
        "startedAt": started,
        "timeout": timeout,
        "release": release,
        "httpStatus": data.get("httpStatus", 202),
    }
    waiting = RunRecord(
        run.account_id,
        run.job_id,
        run.run_id,
        "running",
        {**run.data, **data, "statusText": callbacks.WAITING_TEXT, "callback": waited},
        deadline,
        None,
        run.claim,
    )
    ledger.watch_runs(d, [waiting])
    ledger.keep_result(d, waiting, run.state)
    return Counter({"waiting_callback": 1})


def end(
    d: Dispatcher, job: JobRecord, run: RunRecord, report: callbacks.Report | None
) -> RunRecord | None:
    """End a waiting run with its callback's report (None: none came in time) as its answer
    would have: retries, streaks, notices, chains, the line. None when the run was no longer
    waiting (another callback, or the timeout, ended it first)."""
    now = d.clock()
    waited = run.data["callback"]
    outcome = callbacks.result(report, waited, now)
    control = ledger.control(d, run)
    if control.aborted_by is not None:
        # Aborted while it waited: it ends aborted when its callback (or its timeout) comes;
        # neither retries nor chains follow.
        text = f"Aborted by {control.aborted_by}" if control.aborted_by else "Aborted"
        outcome = replace(
            outcome, status=callbacks.STATUS_FAILED, reason="aborted", status_text=text
        )
    attempt = int(run.data.get("attempt", 1))
    data: dict[str, Any] = {
        "duration": outcome.duration_ms,
        "status": outcome.status,
        "statusText": outcome.status_text,
        "reason": outcome.reason,
        "callback": {**waited, "at": now, "status": None if report is None else report.ok},
    }
    if report is not None and report.output:
        data["callbackOutput"] = report.output
    retry = aftermath.retry_plan(d, job, outcome, attempt, control)
    if retry is not None:
        data["retryAt"] = int(now) + retry
        data["nextAttempt"] = attempt + 1
    retention = int(job.spec.get("retentionDays", 30))
    done = RunRecord(
        run.account_id,
        run.job_id,
        run.run_id,
        "aborted" if outcome.reason == "aborted" else "done",
        {**run.data, **data},
        None,
        int(now) + retention * 86400,
        run.claim,
    )
    if not d.stores.runs.update(done, "running"):
        return None
    release = bool(waited.get("release"))
    if retry is not None:
        aftermath.schedule_retry(d, job, run, retry, None, release)
    else:
        aftermath.conclude(d, job, done, outcome, release, Counter(), control)
    return done


def receive(d: Dispatcher, ref: str, payload: object) -> RunRecord:
    """A target's callback: verify its URL, then end the run it names with its report."""
    target, signed, mac = callbacks.parse(ref)
    stores = d.stores
    job = stores.jobs.get(target.account_id, target.job_id)
    if job is None:
        raise NotFound("no such callback")
    now = d.clock()
    # The job's secret, and during a rotation's overlap the one before it.
    valid = [s["secret"] for s in job.secrets.get("signing", []) if (s.get("until") or now) >= now]
    callbacks.verify(signed, mac, valid)
    report = callbacks.parse_report(payload)
    run = stores.runs.get(target.account_id, target.job_id, target.run_id)
    if run is None:
        raise NotFound("no such callback")
    if run.state == "running" and run.data.get("callback"):
        if now > target.expires_at or (run.active_deadline or 0) < now:
            raise callbacks.Gone(
                "this callback URL has expired: the run failed for want of a callback"
            )
        done = end(d, job, run, report)
        if done is not None:
            return done
    elif run.state in ACTIVE_STATES:
        raise Conflict("the call has not answered 202 yet; send the callback again in a moment")
    raise callbacks.Gone("this callback URL was used already: its run has ended")
