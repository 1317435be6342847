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
from collections.abc import Iterable
from dataclasses import dataclass
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


# The run's side (waiting, ending, timing out, receiving) is chalicelib/dispatch/awaiting.py.


def header(job: Any, run_id: str, timeout: float, now: float, public_url: str) -> dict[str, str]:
    """The callback header of an attempt of a job with `callback` (else none)."""
    setting = job.spec.get("callback")
    signing = [s["secret"] for s in job.secrets.get("signing", []) if s.get("until") is None]
    if not setting or not signing:
        return {}
    expires = int(now + timeout) + int(setting["timeout"])
    target = Target(job.account_id, job.job_id, run_id, expires)
    return {HEADER: url(public_url, target, signing[0])}


def awaits(job: Any, result: executor.Result) -> bool:
    """Whether this answer means "accepted, I will call back": a 202 to a job with callback."""
    return bool(job.spec.get("callback")) and result.http_status == 202 and result.ok
