"""One attempt of a run: the request built from the job (and the run's overrides and
controls), the call made while its controls are watched, and its record."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from chalicelib import callbacks, executor, runs
from chalicelib.dispatch import aftermath, awaiting, ledger
from chalicelib.dispatch import plan as planning
from chalicelib.errors import StoreError
from chalicelib.jobs import METHODS, sent_headers, success_ranges
from chalicelib.store.base import JobRecord, RunRecord
from chalicelib.store.blobs import response_key

if TYPE_CHECKING:
    from chalicelib.dispatch.dispatcher import Dispatcher

log = logging.getLogger(__name__)

# How often a call in flight looks for an abort or a new timeout of its run: an abort cuts the
# call within this (plus one read). The first look is this long after the call starts, so a
# quick call costs no read.
CONTROL_POLL_S = 0.4


def request(
    d: Dispatcher,
    job: JobRecord,
    run: RunRecord,
    overrides: dict[str, Any] | None,
    control: runs.RunControl | None = None,
) -> executor.Request:
    spec = job.spec
    extended = spec["extendedData"]
    headers = sent_headers(job)
    body = extended["body"]
    url, method = spec["url"], spec["requestMethod"]
    timeout = planning.timeout(job, d.settings, overrides)
    if overrides:  # this run's own (run-now), validated as the job's fields are
        headers.update(overrides.get("headers") or {})
        if overrides.get("body") is not None:
            body = overrides["body"]
        url = overrides.get("url") or url
        method = overrides.get("method", method)
    if control is not None and control.timeout:
        timeout = control.timeout  # changed for this run after it started
    headers.update(
        callbacks.header(job, run.run_id, float(timeout), d.clock(), d.settings.public_url)
    )
    auth = None
    if spec["auth"]["enable"]:
        auth = (spec["auth"]["user"], job.secrets.get("password", ""))
    now = d.clock()
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
        now=d.clock,
    )


def attempt(
    d: Dispatcher,
    job: JobRecord,
    run: RunRecord,
    overrides: dict[str, Any] | None,
    release: bool,
    control: runs.RunControl,
) -> Counter[str]:
    """Execute and record one attempt; `release` says it ends the task's in-flight count;
    `control` is the run's, read before its second (ledger.control)."""
    report: Counter[str] = Counter()
    policy = executor.Policy(allow_private=d.settings.allow_private_targets)
    started = d.clock()
    spec = job.spec
    call = request(d, job, run, overrides, control)
    if control.aborted_by is not None:
        result = executor.aborted(call, control.abort_text())  # nothing is sent
    else:
        result = execute_watched(d, run, call, policy)
    planned_ms = run.data.get("plannedMs", run.data["datePlanned"] * 1000)
    if int(run.data.get("attempt", 1)) > 1:
        # A retry's plan is its own time (backoff, Retry-After), not its run's slot.
        planned_ms = round(float(run.data.get("deliverAt", planned_ms / 1000)) * 1000)
    data: dict[str, Any] = {
        "date": int(started),
        "jitter": d.lag(round(started * 1000 - planned_ms)),
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
    data["jobLogId"] = log_id(started)
    strategy = spec.get("historyStrategy", "MINIMAL")
    retention = int(spec.get("retentionDays", 30))
    # Volt MX's strategies: OFF keeps no history, ERROR only failed runs, MINIMAL every run
    # without its response, FULL every run with it (as saveResponses does).
    hidden = strategy == "OFF" or (strategy == "ERROR" and result.ok)
    if not hidden and (strategy == "FULL" or spec.get("saveResponses")):
        key = response_key(job.account_id, job.job_id, run.run_id)
        try:
            d.blobs.put(
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
    # The URL as called replaces the claim's: the job may have been edited since its claim.
    run = replace(run, data=runs.with_url(run.data, call.url, job.spec, job.version))
    if callbacks.awaits(job, result):  # 202: the run goes on until its callback
        return awaiting.wait(d, job, run, data, started, release, overrides)
    expires = int(started) + (3600 if hidden else retention * 86400)
    number = int(run.data.get("attempt", 1))
    retry = aftermath.retry_plan(d, job, result, number, control)
    if retry is not None:
        data["retryAt"] = int(d.clock()) + retry
        data["nextAttempt"] = number + 1
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
    replaced = ledger.keep_result(d, done, run.state)
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
            "run %s of job %s: its record is %s meanwhile; the outcome %s is not recorded on it",
            run.run_id,
            job.job_id,
            replaced,
            result.status,
        )
    report["ok" if result.ok else "failed"] += 1
    if retry is not None:
        # The next attempt inherits this one's in-flight count: the run is not over.
        aftermath.schedule_retry(d, job, run, retry, overrides, release)
        report["retried"] += 1
        return report
    aftermath.conclude(d, job, done, result, release, report, control)
    return report


def execute_watched(
    d: Dispatcher, run: RunRecord, call: executor.Request, policy: executor.Policy
) -> executor.Result:
    """Make the call while the process's watcher looks for an abort or a new timeout of the run
    every CONTROL_POLL_S from the call's start, and applies it to the call in flight (wherever
    it runs: the tick's pool or a worker)."""
    stop = executor.Stop()
    watched = Watched(lambda: ledger.control(d, run), stop, call.timeout)
    WATCHER.add(watched)
    try:
        return d.execute(replace(call, stop=stop), policy)
    finally:
        WATCHER.remove(watched)


class Watched:
    """One call in flight as the watcher sees it: how to read its run's controls, how to act on
    the call, the timeout it has now, and when to look next."""

    def __init__(self, read: Callable[[], runs.RunControl], stop: executor.Stop, timeout: float):
        self.read, self.stop, self.timeout = read, stop, timeout
        self.next_look = time.monotonic() + CONTROL_POLL_S

    def look(self) -> bool:
        """Read the controls and apply them; False once the call is aborted (no more looks)."""
        control = self.read()
        if control.aborted_by is not None:
            self.stop.abort(control.abort_text())
            return False
        if control.timeout and control.timeout != self.timeout:
            self.timeout = control.timeout
            self.stop.set_timeout(self.timeout)
        self.next_look = time.monotonic() + CONTROL_POLL_S
        return True


class Watcher:
    """One thread per process looks at every call in flight longer than CONTROL_POLL_S (a quick
    call costs no read and no thread), one call after another."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: set[Watched] = set()
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    def add(self, watched: Watched) -> None:
        with self._lock:
            self._calls.add(watched)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="cronhook-controls", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def remove(self, watched: Watched) -> None:
        with self._lock:
            self._calls.discard(watched)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._calls:
                    self._wake.wait()
                now = time.monotonic()
                due = [w for w in self._calls if w.next_look <= now]
                if not due:
                    first = min(w.next_look for w in self._calls)
                    self._wake.wait(max(0.0, first - now))
                    continue
            for watched in due:
                try:
                    if not watched.look():
                        self.remove(watched)
                except Exception:  # a storage error: look again at the next poll
                    log.warning("run controls not read; looking again", exc_info=True)
                    watched.next_look = time.monotonic() + CONTROL_POLL_S


WATCHER = Watcher()


def log_id(started: float) -> int:
    """cron-job.org's `jobLogId`: a real identifier of the call, increasing with its start (the
    microsecond it started, as large as cron-job.org's own ids and below 2^53), taken without a
    write: a counter item would add a write unit to every run. A run that makes no call
    (skipped, cancelled, lost) keeps 0."""
    return int(started * 1_000_000)
