"""Volt MX Foundry's Scheduling Job APIs: `POST /authService/accounts/login` (form `userid`,
`password`) and `/admin/api/jobs/...` with the `X-VoltMX-Authorization` header.

Calls: `GET job` (a bare array), `POST job` (create), `PUT job` (update, `jobId` in the body),
`GET|DELETE job{id}` (as the reference prints it) and `job/{id}`, `POST job/run/{id}`,
`GET history/{id}`. Every other answer is `{"status", "result", "message", "token"}`: SUCCESS
with nulls, or FAIL with the HTTP status of the failure, the field at fault in
`result.field` and named at the start of `message`.

The authorization header takes the `claims_token` a login gives (a user's session) or an API
key. A job's `jobServiceInfo` is resolved to a URL on the account's Foundry base URL
(`voltmx_foundry`); `jobFrequency` is Quartz text, `jobFrequencyInfo` cronhook's schedule form
`frequencyInfo`. This module parses and translates (the answers' shapes are `voltmx_views`'):
the use cases are chalicelib.service's and chalicelib.users'.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib import auth, jobs
from chalicelib.dialects import voltmx_foundry as foundry
from chalicelib.dialects.flat import read_params, to_int
from chalicelib.dialects.voltmx_views import history, job_detail, job_summary
from chalicelib.errors import (
    BadRequest,
    CronhookError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    ValidationError,
)
from chalicelib.schedule_fields import ScheduleError, frequency_info, parse_cron
from chalicelib.service import Service
from chalicelib.store.base import JobRecord
from chalicelib.text import encodable
from chalicelib.users import SESSION_TTL_S, Users

HEADER = "x-voltmx-authorization"
WRITABLE = (
    "jobName",
    "description",
    "jobFrequency",
    "jobFrequencyInfo",
    "jobServiceInfo",
    "jobStatus",
    "historyStrategy",
    "retentionPeriod",
)
# Fields a client may send back as it read them (the list's and the detail's): ignored.
READ_ONLY = (
    "jobId",
    "cronExpression",
    "updatedUser",
    "updatedDate",
    "jobHistoryTotal",
    "jobHistorySuccessCount",
    "jobHistoryFailCount",
    "jobHistorySucPercentage",
    "jobHistoryFailPercentage",
    "jobLastRunStatus",
    "jobNextRunTime",
)
STATUSES = {"Active": True, "Inactive": False}
# cronhook's field names as this dialect names them in errors.
_OUT_NAMES = {
    "title": "jobName",
    "notes": "description",
    "enabled": "jobStatus",
    "retentionDays": "retentionPeriod",
    "schedule": "jobFrequency",
    "schedule.cron": "jobFrequency",
    "url": "jobServiceInfo",
    "requestMethod": "jobServiceInfo.operationName",
    "extendedData.body": "jobServiceInfo.postData",
    "extendedData.headers": "jobServiceInfo.requestheaderMap",
    "keptFields": "jobServiceInfo",
}
_JOB_REF = re.compile(r"job([0-9]{1,15})")
_ID = re.compile(r"[0-9]{1,15}")


@dataclass
class Request:
    """A call as the app hands it over: the path below `/admin/api/jobs/` ("" for the login)."""

    method: str
    path: str
    headers: Mapping[str, str]
    raw: bytes
    content_type: str
    source_ip: str | None


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def envelope(result: Any = None) -> dict[str, Any]:
    return {"status": "SUCCESS", "result": result, "message": None, "token": None}


def out_field(name: str | None) -> str | None:
    """A cronhook field path as Volt MX names it (`schedule.frequencyInfo.x` ->
    `jobFrequencyInfo.x`, `title` -> `jobName`)."""
    if name is None:
        return None
    name = name.removeprefix("job.")
    if name.startswith("schedule.frequencyInfo"):
        return "jobFrequencyInfo" + name.removeprefix("schedule.frequencyInfo")
    if name.startswith("extendedData.headers."):
        return "jobServiceInfo.requestheaderMap." + name.removeprefix("extendedData.headers.")
    return _OUT_NAMES.get(name, name)


def failure(err: CronhookError) -> Answer:
    """Any error as Volt MX's envelope, with its HTTP status; a bad credential says no more."""
    status = err.status if 400 <= err.status < 600 else 500
    name = out_field(err.field)
    message = err.message if status < 500 else "internal error"
    if isinstance(err, Unauthorized):
        name, message = None, "invalid user id, password or X-VoltMX-Authorization"
    headers = {}
    if isinstance(err, RateLimited):
        headers["Retry-After"] = str(err.retry_after)
    if isinstance(err, MethodNotAllowed):
        headers["Allow"] = ", ".join(err.allow)
    body = {
        "status": "FAIL",
        "result": {"code": err.code, "field": name},
        "message": f"{name}: {message}" if name else message,
        "token": None,
    }
    return Answer(status, body, headers)


# ---- sign-in ------------------------------------------------------------------------------


def login(request: Request, svc: Service) -> Answer:
    """Accounts Login: a cronhook user's name and password give a session as `claims_token`."""
    try:
        if request.method.upper() != "POST":
            raise MethodNotAllowed(request.method.upper(), ["POST"])
        params = read_params(
            None, request.raw, request.content_type, svc.settings.max_request_bytes
        )
        for key in params:
            if key not in ("userid", "password"):
                raise ValidationError(
                    "unknown parameter; login takes userid and password", field=str(key)
                )
        for name in ("userid", "password"):
            if not isinstance(params.get(name), str) or not params[name]:
                raise ValidationError("is required", field=name)
        users = Users(svc.stores, clock=svc.clock)
        signed = users.sign_in(
            params["userid"], params["password"], request.source_ip, ttl_s=SESSION_TTL_S
        )
    except CronhookError as err:
        return failure(err)
    name = signed.user.username
    email = name if "@" in name else ""
    attributes = {"firstname": "", "userid": name, "email": email, "lastname": ""}
    profile = {
        "userid": name,
        "email": email,
        "firstname": "",
        "lastname": "",
        "user_attributes": {"user_id": name},
        "profile_attributes": attributes,
    }
    claims = {
        "value": signed.token,
        "exp": signed.session.expires_at * 1000,
        "integrity_check_required": False,
    }
    # cronhook has no refresh call: the claims token is the one credential, for 24 hours.
    return Answer(200, {"profile": profile, "claims_token": claims, "refresh_token": signed.token})


# ---- the job calls ------------------------------------------------------------------------

# (route, method) -> the scope it needs
SCOPES = {
    ("list", "GET"): "read",
    ("list", "POST"): "write",
    ("list", "PUT"): "write",
    ("one", "GET"): "read",
    ("one", "DELETE"): "write",
    ("run", "POST"): "run",
    ("history", "GET"): "read",
}


def _route(path: str) -> tuple[str, int | None]:
    """Which call a path is, and the job id it names."""
    parts = path.strip("/").split("/")
    ref = _JOB_REF.fullmatch(parts[0]) if len(parts) == 1 else None
    if parts == ["job"]:
        return "list", None
    if ref:
        return "one", int(ref.group(1))
    if len(parts) == 2 and parts[0] in ("job", "history") and _ID.fullmatch(parts[1]):
        return ("one" if parts[0] == "job" else "history"), int(parts[1])
    if len(parts) == 3 and parts[:2] == ["job", "run"] and _ID.fullmatch(parts[2]):
        return "run", int(parts[2])
    raise NotFound(
        "unknown path: the calls are job, job{id}, job/{id}, job/run/{id} and history/{id} "
        "under /admin/api/jobs/",
        field="path",
    )


def handle(request: Request, svc: Service, dispatcher: Callable[[], Any]) -> Answer:
    """Answer one job call; never raises a CronhookError."""
    try:
        return _handle(request, svc, dispatcher)
    except CronhookError as err:
        return failure(err)


def _principal(request: Request, svc: Service) -> auth.Principal:
    token = str(request.headers.get(HEADER) or "").strip()
    if not token:
        raise Unauthorized("no X-VoltMX-Authorization")
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    return auth.authenticate(
        svc.stores,
        {"authorization": f"Bearer {token}"},
        request.source_ip,
        svc.clock(),
        rate=svc.settings.rate_limit_per_s,
        burst=svc.settings.rate_limit_burst,
    )


def _handle(request: Request, svc: Service, dispatcher: Callable[[], Any]) -> Answer:
    route, job_id = _route(request.path)
    method = request.method.upper()
    scope = SCOPES.get((route, method))
    if scope is None:
        allowed = sorted(m for r, m in SCOPES if r == route)
        raise MethodNotAllowed(method, allowed)
    principal = _principal(request, svc)
    principal.require(scope)
    account = principal.account_id
    now = svc.clock()
    if route == "list" and method == "GET":
        return Answer(200, [job_summary(j, now) for j in svc.list_jobs(account)])
    if route == "list":
        payload = _payload(request, svc)
        if method == "POST":
            job = _create(svc, account, payload, principal.label)
        else:
            job = _update(svc, account, payload, principal.label)
        svc.fire_soon(job, dispatcher)
        return Answer(200, envelope())
    assert job_id is not None
    job = _get(svc, account, job_id)
    if route == "one" and method == "GET":
        return Answer(200, job_detail(job, now))
    if route == "one":
        svc.delete_job(account, job_id)
        return Answer(200, envelope())
    if route == "run":
        svc.run_now(account, job_id, None, dispatcher(), principal.label)
        return Answer(200, envelope())
    return Answer(200, history(svc, job))


def _get(svc: Service, account: str, job_id: int) -> JobRecord:
    try:
        return svc.get_job(account, job_id)
    except NotFound:
        raise NotFound("no job with this id", field="jobId") from None


def _payload(request: Request, svc: Service) -> dict[str, Any]:
    if len(request.raw) > svc.settings.max_request_bytes:
        raise PayloadTooLarge(f"request body over {svc.settings.max_request_bytes} bytes")
    try:
        payload = json.loads(request.raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("the body is not valid JSON", field="body") from None
    if not isinstance(payload, dict):
        raise BadRequest("the body must be a JSON object (a job)", field="body")
    where = _not_text(payload, "")
    if where is not None:
        raise ValidationError("must be valid Unicode text", field=where or "body")
    return payload


def _not_text(payload: Any, path: str) -> str | None:
    """The path of the first string, key or value, that UTF-8 cannot encode (a loop, not
    recursion: a body may nest as deep as the JSON parser allows)."""
    pending: list[tuple[Any, str]] = [(payload, path)]
    while pending:
        value, where = pending.pop()
        if isinstance(value, str) and not encodable(value):
            return where
        if isinstance(value, dict):
            for key, item in value.items():
                if not encodable(str(key)):
                    return where or "body"
                pending.append((item, f"{where}.{key}" if where else str(key)))
        elif isinstance(value, list):
            pending.extend((item, f"{where}[{n}]") for n, item in enumerate(value))
    return None


# ---- a job body -> a cronhook job delta ---------------------------------------------------


def _delta(
    payload: Mapping[str, Any],
    base: str,
    kept_before: Mapping[str, Any],
    creating: bool,
    current: tuple[str | None, Any] | None = None,
) -> dict[str, Any]:
    for key in payload:
        if key not in WRITABLE and key not in READ_ONLY:
            raise ValidationError("unknown field; a job has " + ", ".join(WRITABLE), field=str(key))
    delta: dict[str, Any] = {}
    kept = dict(kept_before.get(foundry.KEPT) or {})
    name = payload.get("jobName")
    if name is not None or creating:
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("is required: the job's name", field="jobName")
        delta["title"] = name
    if "description" in payload:
        text = payload["description"]
        if text is not None and not isinstance(text, str):
            raise ValidationError("must be a string or null", field="description")
        delta["notes"] = text or ""
    status = payload.get("jobStatus", "Active" if creating else None)
    if status is not None:
        if not isinstance(status, str) or status not in STATUSES:
            raise ValidationError("must be Active or Inactive", field="jobStatus")
        delta["enabled"] = STATUSES[status]
    strategy = payload.get("historyStrategy")
    if strategy is not None:
        if not isinstance(strategy, str) or strategy.upper() not in jobs.HISTORY_STRATEGIES:
            raise ValidationError(
                "must be one of " + ", ".join(jobs.HISTORY_STRATEGIES), field="historyStrategy"
            )
        delta["historyStrategy"] = strategy.upper()
    if payload.get("retentionPeriod") is not None:
        delta["retentionDays"] = to_int(payload["retentionPeriod"], "retentionPeriod")
    delta.update(_schedule(payload, kept, creating, current))
    service = payload.get("jobServiceInfo")
    if service is not None:
        call = foundry.service_call(service)
        delta.update(foundry.job_fields(call, base))
        kept[foundry.SERVICE_INFO] = call.info
    elif creating:
        raise ValidationError(
            "is required: the Foundry service the job calls", field="jobServiceInfo"
        )
    delta["keptFields"] = {**kept_before, foundry.KEPT: kept}
    return delta


def _schedule(
    payload: Mapping[str, Any],
    kept: dict[str, Any],
    creating: bool,
    current: tuple[str | None, Any] | None,
) -> dict[str, Any]:
    """`jobFrequency` (Quartz) is the schedule when given; `jobFrequencyInfo` beside it is kept
    to be shown back. `jobFrequencyInfo` alone is the schedule (cronhook's `frequencyInfo`).
    A `jobFrequency` sent back as the job shows it (a job made with cronhook's own API may
    have Unix cron text) changes nothing."""
    text = payload.get("jobFrequency")
    info = payload.get("jobFrequencyInfo")
    shown_text, shown_info = current if current is not None else (None, None)
    as_shown = shown_text is not None and isinstance(text, str)
    if as_shown and " ".join(str(text).split()) == shown_text and info in (None, shown_info):
        return {}
    if text not in (None, ""):
        if not isinstance(text, str):
            raise ValidationError("must be a Quartz cron expression string", field="jobFrequency")
        canonical = " ".join(text.split())
        try:
            quartz = parse_cron(canonical)[1]
        except ScheduleError as err:
            raise ValidationError(err.message, field="jobFrequency") from None
        if not quartz:
            raise ValidationError(
                "must be Quartz: seconds first, 6 or 7 fields (as 0 0/5 * * * ? *)",
                field="jobFrequency",
            )
        if info is not None:
            try:
                kept["jobFrequencyInfo"] = frequency_info(info, "jobFrequencyInfo")[0]
            except ScheduleError as err:
                raise ValidationError(err.message, field=err.field) from None
        else:
            kept.pop("jobFrequencyInfo", None)
        return {"schedule": {"cron": canonical}}
    if info is not None:
        kept.pop("jobFrequencyInfo", None)
        return {"schedule": {"frequencyInfo": info}}
    if creating:
        raise ValidationError(
            "is required: a Quartz expression (or give jobFrequencyInfo)", field="jobFrequency"
        )
    return {}


def _create(svc: Service, account: str, payload: Mapping[str, Any], actor: str) -> JobRecord:
    delta = _delta(payload, foundry.base_url(svc, account), {}, creating=True)
    job, _ = svc.create_job(account, delta, actor)
    return job


def _update(svc: Service, account: str, payload: Mapping[str, Any], actor: str) -> JobRecord:
    if payload.get("jobId") in (None, ""):
        raise ValidationError("is required: the id of the job to update", field="jobId")
    job_id = to_int(payload["jobId"], "jobId")
    job = _get(svc, account, job_id)
    kept = job.spec.get("keptFields") or {}
    given = foundry.base_url(svc, account) if payload.get("jobServiceInfo") is not None else ""
    shown = job_detail(job, svc.clock())
    current = (shown["jobFrequency"], shown["jobFrequencyInfo"])
    delta = _delta(payload, given, kept, creating=False, current=current)
    return svc.edit_job(account, job_id, delta, actor).job
