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
from chalicelib.errors import NotFound
from chalicelib.jobs import secret_header_names
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
    overrides: dict[str, Any] | None = None,
) -> Counter[str]:
    """Keep the run `running` until its callback or its timeout (the sweep's deadline); the
    attempt's in-flight count stays held, and `release` says whether its end gives it back.
    A callback that came before this 202 (a quick target) ends the run at once."""
    timeout = int(job.spec["callback"]["timeout"])
    deadline = int(d.clock()) + timeout
    waited: dict[str, Any] = {
        "startedAt": started,
        "timeout": timeout,
        "release": release,
        "httpStatus": data.get("httpStatus", 202),
    }
    kept = _kept_overrides(job, overrides)
    if kept:
        waited["overrides"] = kept
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
    replaced = ledger.keep_result(d, waiting, run.state)
    if replaced != run.state and not replaced.startswith("lost"):
        return Counter({"waiting_callback": 1})  # ended meanwhile (aborted, deleted, lost)
    # Written before this read, the waiting record is seen by a callback that comes after it;
    # one that came before left its report, read here. Should both see each other, the run's
    # conditional end lets one of them end it.
    early = d.stores.state.get_value(early_key(run))
    if isinstance(early, dict):
        report = callbacks.parse_report(early.get("payload"))
        if end(d, job, waiting, report, at=float(early.get("at", d.clock()))) is not None:
            return Counter({"callback_early": 1})
    return Counter({"waiting_callback": 1})


def early_key(run: RunRecord) -> str:
    """Where a callback that came before its call's 202 leaves its report."""
    return f"callback-early#{run.account_id}#{run.job_id}#{run.run_id}"


def _kept_overrides(job: JobRecord, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """A run-now's overrides as its waiting record keeps them for a retry after a failed
    callback, secret headers left out: a run record holds no credential in clear (the retry
    sends the job's own value of such a header, if it has one)."""
    if not overrides:
        return {}
    secret = secret_header_names(job.spec)
    headers = {
        name: value
        for name, value in (overrides.get("headers") or {}).items()
        if name.lower() not in secret
    }
    kept = {k: v for k, v in overrides.items() if k != "headers"}
    if headers:
        kept["headers"] = headers
    return kept


def end(
    d: Dispatcher,
    job: JobRecord,
    run: RunRecord,
    report: callbacks.Report | None,
    at: float | None = None,
) -> RunRecord | None:
    """End a waiting run with its callback's report (None: none came in time) as its answer
    would have: retries, streaks, notices, chains, the line; its duration counts to `at`, when
    the report came (default now). None when the run was no longer waiting (another callback,
    or the timeout, ended it first)."""
    now = d.clock() if at is None else at
    waited = run.data["callback"]
    outcome = callbacks.result(report, waited, now)
    control = ledger.control(d, run)
    if control.aborted_by is not None:
        # Aborted while it waited: it ends aborted when its callback (or its timeout) comes;
        # neither retries nor chains follow.
        text = control.abort_text()
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
        overrides = waited.get("overrides") or None  # a run-now's, for its retry too
        aftermath.schedule_retry(d, job, run, retry, overrides, release)
    else:
        aftermath.conclude(d, job, done, outcome, release, Counter(), control)
    return done


def receive(d: Dispatcher, ref: str, payload: object) -> RunRecord:
    """A target's callback: verify its URL, then end the run it names with its report. A report
    that comes before the call's 202 is kept, and ends the run when the 202 comes: the run is
    returned still in flight."""
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
        return _early(d, job, run, payload, now)
    raise callbacks.Gone("this callback URL was used already: its run has ended")


def _early(d: Dispatcher, job: JobRecord, run: RunRecord, payload: object, now: float) -> RunRecord:
    """Keep a report whose call has not answered yet; should the 202 have been recorded since,
    end the run with it here."""
    key = early_key(run)
    if d.stores.state.get_value(key) is not None:
        raise callbacks.Gone("this callback URL was used already: its report is kept")
    d.stores.state.put_value(key, {"payload": payload, "at": now})
    current = d.stores.runs.get(run.account_id, run.job_id, run.run_id)
    if current is not None and current.state == "running" and current.data.get("callback"):
        done = end(d, job, current, callbacks.parse_report(payload), at=now)
        if done is not None:
            return done
    return current or run
