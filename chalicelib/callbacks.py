"""Callbacks for long jobs: a job with `callback: {"timeout": s}` sends its target a single-use
URL (X-Cronhook-Callback-Url) signed for that attempt; a 202 answer keeps the run `running`
("Waiting for callback") until the target POSTs its outcome there, or the timeout passes.

The URL carries the run's keys and its expiry, signed with HMAC-SHA256 under the job's own
signing secret (the one its requests are signed with; during a rotation's overlap the previous
one is taken too). Single use comes from the run itself: the callback ends it with a write
conditional on its still waiting, so a second callback finds it ended and answers 410.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from chalicelib import executor
from chalicelib.errors import BadRequest, CronhookError, Forbidden, NotFound, ValidationError

HEADER = "X-Cronhook-Callback-Url"
PATH = "/callbacks/"
MAX_MESSAGE = 1000
MAX_OUTPUT = 10 * 1024
WAITING_TEXT = "Waiting for callback"
# Status of a run the callback failed, or whose callback never came (cron-job.org's codes).
STATUS_FAILED = 9


class Gone(CronhookError):
    """A callback URL already used, or expired."""

    status = 410
    code = "gone"


@dataclass(frozen=True)
class Target:
    """The attempt a callback URL names, and when it stops working (epoch seconds)."""

    account_id: str
    job_id: int
    run_id: str
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> str:
    key = secret.encode("utf-8")
    return _b64(hmac.new(key, b"callback." + payload.encode(), hashlib.sha256).digest())


def reference(target: Target, secret: str) -> str:
    """The last path segment of the callback URL: the target's keys, then their signature."""
    payload = _b64(
        json.dumps(
            [target.account_id, target.job_id, target.run_id, target.expires_at],
            separators=(",", ":"),
        ).encode()
    )
    return f"{payload}.{_mac(secret, payload)}"


def url(base: str, target: Target, secret: str) -> str:
    return f"{base.rstrip('/')}{PATH}{reference(target, secret)}"


def parse(ref: str) -> tuple[Target, str, str]:
    """The target a reference names (not yet verified), its payload and its signature; a
    reference that is not one of ours is NotFound."""
    payload, _, mac = ref.partition(".")
    try:
        account, job, run, expires = json.loads(_unb64(payload))
        target = Target(str(account), int(job), str(run), int(expires))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise NotFound("no such callback") from None
    if not mac or len(ref) > 1024:
        raise NotFound("no such callback")
    return target, payload, mac


def verify(payload: str, mac: str, secrets: Iterable[str]) -> None:
    """Forbidden unless one of the job's signing secrets signed `payload`."""
    for secret in secrets:
        if hmac.compare_digest(_mac(secret, payload), mac):
            return
    raise Forbidden("the callback URL's signature does not match (forged or altered)")


@dataclass(frozen=True)
class Report:
    """What a target reported: success or failure, a message, its output (both capped)."""

    ok: bool
    message: str
    output: str


def parse_report(payload: object) -> Report:
    if not isinstance(payload, dict):
        raise BadRequest('send a JSON body such as {"status": "success"}')
    for key in payload:
        if key not in ("status", "message", "output"):
            raise ValidationError("unknown field", field=str(key))
    status = payload.get("status")
    if status not in ("success", "failure"):
        raise ValidationError("must be success or failure", field="status")
    texts = {}
    for key, cap in (("message", MAX_MESSAGE), ("output", MAX_OUTPUT)):
        value = payload.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ValidationError("must be a string", field=key)
        if len(value.encode("utf-8", "replace")) > cap:
            raise ValidationError(f"must be at most {cap} bytes", field=key)
        texts[key] = value
    return Report(status == "success", texts["message"], texts["output"])


def result(report: Report | None, waited: dict[str, Any], now: float) -> executor.Result:
    """The attempt's outcome once its callback came (or, for `report` None, never did); its
    duration counts from the call's start to now."""
    started = float(waited.get("startedAt", now))
    if report is None:
        text = f"Failed: no callback within {waited.get('timeout')} s"
        status, reason = STATUS_FAILED, "no_callback"
    elif report.ok:
        text = "OK (callback)" + (f": {report.message}" if report.message else "")
        status, reason = executor.STATUS_OK, "callback"
    else:
        text = "Failed (callback)" + (f": {report.message}" if report.message else "")
        status, reason = STATUS_FAILED, "callback_failure"
    body = (report.output if report else "").encode()
    return executor.Result(
        status=status,
        reason=reason,
        status_text=text,
        http_status=int(waited.get("httpStatus", 202)),
        http_reason="Accepted",
        headers=[],
        body=body,
        body_size=len(body),
        remote_ip=None,
        redirects=[],
        ssl_cert_expiry=None,
        tls_verified=False,
        stats={},
        duration_ms=max(0, round((now - started) * 1000)),
        started_at=started,
        retry_after=None,
    )


# ---- the run's side: waiting, ending, timing out (called by chalicelib.dispatch) -----------
# `dispatcher` is a chalicelib.dispatch.Dispatcher: these steps use its record, retry and
# conclude steps so that a run ended by its callback ends exactly as one ended by its answer.


def header(dispatcher: Any, job: Any, run: Any, timeout: float) -> dict[str, str]:
    """The callback header of an attempt of a job with `callback` (else none)."""
    setting = job.spec.get("callback")
    signing = [s["secret"] for s in job.secrets.get("signing", []) if s.get("until") is None]
    if not setting or not signing:
        return {}
    expires = int(dispatcher.clock() + timeout) + int(setting["timeout"])
    target = Target(job.account_id, job.job_id, run.run_id, expires)
    return {HEADER: url(dispatcher.settings.public_url, target, signing[0])}


def awaits(job: Any, result: executor.Result) -> bool:
    """Whether this answer means "accepted, I will call back": a 202 to a job with callback."""
    return bool(job.spec.get("callback")) and result.http_status == 202 and result.ok


def wait(
    dispatcher: Any, job: Any, run: Any, data: dict[str, Any], started: float, release: bool
) -> Counter[str]:
    """Keep the run `running` until its callback or its timeout (the sweep's deadline); the
    attempt's in-flight count stays held, and `release` says whether its end gives it back."""
    from chalicelib.store.base import RunRecord

    timeout = int(job.spec["callback"]["timeout"])
    deadline = int(dispatcher.clock()) + timeout
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
        {**run.data, **data, "statusText": WAITING_TEXT, "callback": waited},
        deadline,
        None,
        run.claim,
    )
    dispatcher._watch_runs([waiting])
    dispatcher._keep_result(waiting, run.state)
    return Counter({"waiting_callback": 1})


def end(dispatcher: Any, job: Any, run: Any, report: Report | None) -> Any:
    """End a waiting run with its callback's report (None: none came in time) as its answer
    would have: retries, streaks, notices, chains, the queue. None when the run was no longer
    waiting (another callback, or the timeout, ended it first)."""
    from chalicelib.store.base import RunRecord

    now = dispatcher.clock()
    waited = run.data["callback"]
    outcome = result(report, waited, now)
    control = dispatcher._control(run)
    if control.aborted_by is not None:
        # Aborted while it waited: it ends aborted when its callback (or its timeout) comes;
        # neither retries nor chains follow.
        text = f"Aborted by {control.aborted_by}" if control.aborted_by else "Aborted"
        outcome = replace(outcome, status=STATUS_FAILED, reason="aborted", status_text=text)
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
    retry = dispatcher._retry_plan(job, outcome, attempt, control)
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
    if not dispatcher.stores.runs.update(done, "running"):
        return None
    release = bool(waited.get("release"))
    if retry is not None:
        dispatcher._schedule_retry(job, run, retry, None, release)
    else:
        dispatcher._conclude(job, done, outcome, release, Counter(), control)
    return done


def receive(dispatcher: Any, ref: str, payload: object) -> Any:
    """A target's callback: verify its URL, then end the run it names with its report."""
    from chalicelib.errors import Conflict
    from chalicelib.runs import ACTIVE_STATES

    target, signed, mac = parse(ref)
    stores = dispatcher.stores
    job = stores.jobs.get(target.account_id, target.job_id)
    if job is None:
        raise NotFound("no such callback")
    now = dispatcher.clock()
    # The job's secret, and during a rotation's overlap the one before it.
    valid = [s["secret"] for s in job.secrets.get("signing", []) if (s.get("until") or now) >= now]
    verify(signed, mac, valid)
    report = parse_report(payload)
    run = stores.runs.get(target.account_id, target.job_id, target.run_id)
    if run is None:
        raise NotFound("no such callback")
    if run.state == "running" and run.data.get("callback"):
        if now > target.expires_at or (run.active_deadline or 0) < now:
            raise Gone("this callback URL has expired: the run failed for want of a callback")
        done = end(dispatcher, job, run, report)
        if done is not None:
            return done
    elif run.state in ACTIVE_STATES:
        raise Conflict("the call has not answered 202 yet; send the callback again in a moment")
    raise Gone("this callback URL was used already: its run has ended")
