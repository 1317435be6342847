"""What follows a run's last attempt, or leads to the next one: retries, the job's outcome and
failure streak, notices, disabling, chains, and the next run in line."""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

from chalicelib import executor, runs
from chalicelib.dispatch import ledger
from chalicelib.dispatch.delivery import Task, enqueue
from chalicelib.errors import Conflict
from chalicelib.store.base import JobRecord, RunRecord, Unchanged, edit_job

if TYPE_CHECKING:
    from chalicelib.dispatch.dispatcher import Dispatcher

log = logging.getLogger(__name__)

MAX_CHAIN = 5
SSL_NOTICE_KEY = "ssl-noticed#{account}#{job}"


def retry_plan(
    d: Dispatcher,
    job: JobRecord,
    result: executor.Result,
    attempt: int,
    control: runs.RunControl | None = None,
) -> int | None:
    """Seconds until the next attempt, or None when this attempt is the run's last (an aborted
    run ends here)."""
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
    return runs.retry_delay(attempt, int(delay), retry_after, d.rng)


def schedule_retry(
    d: Dispatcher,
    job: JobRecord,
    run: RunRecord,
    delay: int,
    overrides: dict[str, Any] | None,
    counted: bool,
) -> None:
    attempt = int(run.data.get("attempt", 1)) + 1
    planned = run.data.get("plannedMs", run.data["datePlanned"] * 1000) / 1000
    retry = ledger.new_run(
        d,
        job,
        planned,
        d.clock() + delay,
        trigger=run.data.get("trigger", "schedule"),
        attempt=attempt,
        tag=runs.run_tag(run.run_id),
        first_run=run.data.get("runId", run.run_id),
        extra={k: run.data[k] for k in ("chain", "by") if k in run.data} or None,
    )
    retry.data["holds"] = counted
    ledger.watch_runs(d, [retry])
    d.stores.runs.create(retry)
    enqueue(d, [Task(job, [retry], counted, overrides)])


def conclude(
    d: Dispatcher,
    job: JobRecord,
    done: RunRecord,
    result: executor.Result,
    release: bool,
    report: Counter[str],
    control: runs.RunControl | None = None,
) -> None:
    """The run's last attempt ended: update the job, then notifications, chains, the queue. An
    aborted run chains nowhere; `control` holds the run's own settings, if any."""
    control = control or runs.RunControl()
    queue = release and int(job.spec.get("queueMax", 0)) > 0
    # The oldest waiting run takes over this run's in-flight count, so that the line keeps its
    # order: a slot coming due meanwhile finds the job still at its bound and waits behind it
    # (or is skipped) instead of taking the freed place. Not when this result may disable the
    # job: the waiting run then starts after the disabling, and stops.
    may_disable = result.http_status == 410 or (
        not result.ok and job.failure_streak + 1 >= d.settings.disable_after_failures
    )
    if queue and not may_disable and ledger.start_waiting(d, job, counted=True):
        queue = release = False
    outcome = d.stores.jobs.record(
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
    elif outcome.failure_streak >= d.settings.disable_after_failures:
        disable_reason = f"{outcome.failure_streak} failed runs in a row"
    if not result.ok and outcome.failure_streak == notification["onFailureCount"]:
        notify(d, notification["onFailure"], "job.failed", job, done, outcome.failure_streak)
    if recovered:
        notify(d, notification["onSuccess"], "job.recovered", job, done, 0)
    if result.ssl_cert_expiry is not None:
        ssl_notice(d, job, done, result.ssl_cert_expiry)
    if disable_reason and disable(d, job, disable_reason):
        job.spec = {**job.spec, "enabled": False}
        job.disabled_reason = disable_reason
        report["disabled"] += 1
        done.data["jobDisabled"] = disable_reason
        d.stores.runs.put(done)
        notify(
            d,
            notification["onDisable"],
            "job.disabled",
            job,
            done,
            outcome.failure_streak,
            reason=disable_reason,
        )
    if result.ok:
        chain = job.spec["chainSuccess"] if control.chain_success is None else control.chain_success
    else:
        chain = job.spec["chainFailure"] if control.chain_failure is None else control.chain_failure
    if result.reason == "aborted":
        chain = 0
    if chain:
        chained = start_chain(d, job, done, int(chain))
        report[chained] += 1
        if chained == "chain_missing":  # deleted since: the history says why nothing ran
            done.data["chainMissing"] = int(chain)
            d.stores.runs.put(done)
    if queue:
        ledger.start_waiting(d, job, counted=False)


def notify(
    d: Dispatcher,
    wanted: bool,
    event: str,
    job: JobRecord,
    run: RunRecord,
    streak: int,
    **extra: Any,
) -> None:
    if not wanted or d.notifier is None:
        return
    d.notifier.notify(
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


def ssl_notice(d: Dispatcher, job: JobRecord, run: RunRecord, expiry: int) -> None:
    notification = job.spec["notification"]
    if not notification["onSslCertExpiry"]:
        return
    if expiry - d.clock() > notification["onSslCertExpirySeconds"]:
        return
    key = SSL_NOTICE_KEY.format(account=job.account_id, job=job.job_id)
    if d.stores.state.get_value(key) == expiry:
        return  # already told about this certificate
    d.stores.state.put_value(key, expiry)
    notify(d, True, "job.ssl_cert_expiring", job, run, job.failure_streak, sslCertExpiry=expiry)


def disable(d: Dispatcher, job: JobRecord, reason: str) -> bool:
    """Switch the job off and take it off the schedule, unless it is gone or off already, or
    edited too often meanwhile to get a word in (the next failure tries again)."""

    def change(current: JobRecord) -> None:
        if not current.enabled:
            raise Unchanged
        current.spec["enabled"] = False
        current.next_run_at = None
        current.disabled_reason = reason

    try:
        edited = edit_job(d.stores.jobs, job.account_id, job.job_id, change, d.clock(), "")
    except Conflict:
        return False
    if edited is not None:
        log.info("job %s disabled: %s", job.job_id, reason)
    return edited is not None


def start_chain(d: Dispatcher, job: JobRecord, run: RunRecord, target_id: int) -> str:
    """Start the chained job's run; what happened, for the report."""
    path = [*run.data.get("chain", []), job.job_id]
    if target_id in path or len(path) > MAX_CHAIN:
        log.info("chain from job %s to %s stopped: loop or too deep", job.job_id, target_id)
        return "chain_stopped"
    target = d.stores.jobs.get(job.account_id, target_id)
    if target is None:
        return "chain_missing"
    ledger.start_now(d, target, trigger="chain", extra={"chain": path})
    return "chained"
