"""SetCronJob's API: `/api/{target}.{action}`, GET or POST, the `token` in the query, a form or a
JSON body; every answer HTTP 200 with `{"status": "success", "code": 0, "data": ...}` or
`{"status": "error", "code": N, "message": "..."}`, but 503 past the rate limit (as documented).

Targets: `cron` (a job), `group` (a folder), `account` (settings and limits) and `server` (what
is known of the outgoing addresses). The token is a cronhook API key or a user's session token.
Job parameters are cronhook's job fields flattened (`chalicelib.dialects.flat`), with SetCronJob's
own names `name` (the title), `group` (the folder id) and the cron fields `minute`, `hour`,
`day`, `month`, `weekday`, `cron`, `timezone`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib import auth, jobs, runs
from chalicelib.dialects.flat import flatten, read_params, to_int, to_job
from chalicelib.errors import (
    BadRequest,
    Conflict,
    CronhookError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    ValidationError,
)
from chalicelib.service import Service

# The error codes of the envelope. 11 is SetCronJob's own ("Invalid API token, user not found.");
# the others are cronhook's, one per kind of failure.
UNKNOWN_CALL = 1
INVALID_PARAMETER = 2
NOT_FOUND = 3
CONFLICT = 4
MALFORMED = 5
INVALID_TOKEN = 11
NOT_ALLOWED = 12
RATE_LIMITED = 13
INTERNAL = 99

ALIASES = {
    "name": "title",
    "group": "folderId",
    "minute": "schedule.minutes",
    "hour": "schedule.hours",
    "day": "schedule.mdays",
    "month": "schedule.months",
    "weekday": "schedule.wdays",
    "cron": "schedule.cron",
    "timezone": "schedule.timezone",
}
_OUT_NAMES = {flat: own for own, flat in ALIASES.items()}  # how errors name a cronhook field
_LISTS = ("minutes", "hours", "mdays", "months", "wdays")

# (target, action) -> the scope it needs
SCOPES = {
    ("cron", "list"): "read",
    ("cron", "get"): "read",
    ("cron", "logs"): "read",
    ("cron", "add"): "write",
    ("cron", "edit"): "write",
    ("cron", "delete"): "write",
    ("cron", "enable"): "write",
    ("cron", "disable"): "write",
    ("cron", "run"): "run",
    ("group", "list"): "read",
    ("group", "get"): "read",
    ("group", "add"): "write",
    ("group", "edit"): "write",
    ("group", "delete"): "write",
    ("account", "get"): "read",
    ("server", "list"): "read",
}


@dataclass
class Request:
    """What a SetCronJob call carries, as the app hands it over."""

    call: str
    query: Mapping[str, str] | None
    raw: bytes
    content_type: str
    source_ip: str | None


def success(data: Any) -> tuple[int, dict[str, Any]]:
    return 200, {"status": "success", "code": 0, "data": data}


def failure(
    code: int, message: str, status: int = 200, field: str | None = None
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"status": "error", "code": code, "message": message}
    if field:
        body["field"] = field
    return status, body


def _out_field(field: str | None) -> str | None:
    """A cronhook field path as this dialect names the parameter (`job.title` -> `name`)."""
    if field is None:
        return None
    name = field.removeprefix("job.")
    return _OUT_NAMES.get(name, name)


def _translate(err: CronhookError) -> tuple[int, dict[str, Any]]:
    field = _out_field(err.field)
    message = f"{field}: {err.message}" if field else err.message
    if isinstance(err, Unauthorized):
        return failure(INVALID_TOKEN, "Invalid API token, user not found.")
    if isinstance(err, RateLimited):
        return failure(RATE_LIMITED, err.message, 503)
    if isinstance(err, Forbidden):
        return failure(NOT_ALLOWED, err.message)
    if isinstance(err, NotFound):
        return failure(NOT_FOUND, message, field=field)
    if isinstance(err, Conflict):
        return failure(CONFLICT, message, field=field)
    if isinstance(err, BadRequest | PayloadTooLarge):
        return failure(MALFORMED, message, field=field)
    if isinstance(err, ValidationError):
        return failure(INVALID_PARAMETER, message, field=field)
    return failure(INTERNAL, "internal error", 500)


def cron_view(job: Any, now: float) -> dict[str, Any]:
    """A job as a cron: `id`, `name`, `group` and the rest of its details, flattened."""
    details = jobs.details(job, now)
    out = {"id": job.job_id, "name": details.pop("title"), "group": details.pop("folderId")}
    details.pop("jobId")
    return {**out, **flatten(details)}


def handle(
    request: Request, svc: Service, dispatcher: Callable[[], Any]
) -> tuple[int, dict[str, Any]]:
    """Answer one call; never raises."""
    try:
        return _handle(request, svc, dispatcher)
    except CronhookError as err:
        return _translate(err)


def _job_id(params: Mapping[str, Any]) -> int:
    if params.get("id") in (None, ""):
        raise ValidationError("the cron's id is required", field="id")
    return to_int(params["id"], "id")


def _handle(
    request: Request, svc: Service, dispatcher: Callable[[], Any]
) -> tuple[int, dict[str, Any]]:
    target, _, action = request.call.partition(".")
    scope = SCOPES.get((target.lower(), action.lower()))
    if scope is None:
        return failure(UNKNOWN_CALL, f"unknown API call {request.call!r}: use e.g. cron.list")
    target, action = target.lower(), action.lower()
    params = read_params(
        request.query, request.raw, request.content_type, svc.settings.max_request_bytes
    )
    token = params.pop("token", None)
    if not isinstance(token, str) or not token.strip():
        raise Unauthorized("no token")
    principal = auth.authenticate(
        svc.stores,
        {"authorization": f"Bearer {token.strip()}"},
        request.source_ip,
        svc.clock(),
        rate=svc.settings.rate_limit_per_s,
        burst=svc.settings.rate_limit_burst,
    )
    principal.require(scope)
    account = principal.account_id
    now = svc.clock()
    if target == "cron":
        return _cron(action, params, account, svc, dispatcher, now)
    if target == "group":
        return _group(action, params, account, svc)
    if target == "account":
        _no_params(params)
        return success(_account(principal, svc))
    _no_params(params)
    return success(
        [
            {
                "name": "cronhook",
                "ips": [],
                "note": "calls leave from the cloud provider's shared addresses (AWS Lambda), "
                "which are not fixed: allow by the X-Cronhook-Signature header, not by address",
            }
        ]
    )


def _no_params(params: Mapping[str, Any], allowed: tuple[str, ...] = ()) -> None:
    for key in params:
        if key not in allowed:
            raise ValidationError("unknown parameter", field=str(key))


def _cron(
    action: str,
    params: dict[str, Any],
    account: str,
    svc: Service,
    dispatcher: Callable[[], Any],
    now: float,
) -> tuple[int, dict[str, Any]]:
    if action == "list":
        _no_params(params)
        return success([cron_view(j, now) for j in svc.list_jobs(account)])
    if action == "add":
        if "id" in params:
            raise ValidationError("cron.add gives the new cron its id", field="id")
        delta = to_job(params, ALIASES)
        delta.setdefault("enabled", True)  # a cron added on SetCronJob runs unless disabled
        schedule = delta.get("schedule", {})
        if any(name in schedule for name in _LISTS):  # a field left out means every
            delta["schedule"] = {**{name: [-1] for name in _LISTS}, **schedule}
        job, _ = svc.create_job(account, delta)
        svc.fire_soon(job, dispatcher)
        return success(cron_view(job, now))
    job_id = _job_id(params)
    rest = {k: v for k, v in params.items() if k != "id"}
    if action == "get":
        _no_params(rest)
        return success(cron_view(svc.get_job(account, job_id), now))
    if action in ("edit", "enable", "disable"):
        if action == "edit":
            delta = to_job(rest, ALIASES)
        else:
            _no_params(rest)
            delta = {"enabled": action == "enable"}
        job = svc.update_job(account, job_id, delta)
        svc.fire_soon(job, dispatcher)
        return success(cron_view(job, now))
    if action == "delete":
        _no_params(rest)
        svc.delete_job(account, job_id)
        return success({"id": job_id})
    if action == "run":
        _no_params(rest)
        run_id = svc.run_now(account, job_id, None, dispatcher())
        return success({"id": job_id, "runId": run_id})
    # logs: the newest runs first, a page at a time
    _no_params(rest, ("limit", "cursor"))
    limit = to_int(rest.get("limit") or 25, "limit")
    if not 1 <= limit <= 100:
        raise ValidationError("must be an integer from 1 to 100", field="limit")
    cursor = rest.get("cursor") or None
    page = svc.job_history(account, job_id, limit, str(cursor) if cursor else None)
    logs = [{"id": r.run_id, "cronId": r.job_id, **runs.history_item(r)} for r in page.items]
    return success({"logs": logs, "cursor": page.cursor})


def _group(
    action: str, params: dict[str, Any], account: str, svc: Service
) -> tuple[int, dict[str, Any]]:
    if action == "list":
        _no_params(params)
        return success([{"id": f, "name": t} for f, t in sorted(svc.list_folders(account).items())])
    if action == "add":
        _no_params(params, ("name",))
        folder_id = svc.create_folder(account, {"title": params.get("name")})
        return success({"id": folder_id, "name": svc.get_folder(account, folder_id)})
    if params.get("id") in (None, ""):
        raise ValidationError("the group's id is required", field="id")
    folder_id = to_int(params["id"], "id")
    if action == "get":
        _no_params(params, ("id",))
        return success({"id": folder_id, "name": svc.get_folder(account, folder_id)})
    if action == "edit":
        _no_params(params, ("id", "name"))
        svc.update_folder(account, folder_id, {"title": params.get("name")})
        return success({"id": folder_id, "name": svc.get_folder(account, folder_id)})
    _no_params(params, ("id",))
    svc.delete_folder(account, folder_id)
    return success({"id": folder_id})


def _rate(principal: auth.Principal, svc: Service) -> tuple[float, float]:
    """The rate limit the caller's calls are charged to: its key's own, else the deployment's
    (a user's session is always charged at the deployment's rate)."""
    settings = svc.settings
    key = (
        None
        if principal.username
        else svc.stores.keys.get_by_id(principal.account_id, principal.key_id)
    )
    if key is None:
        return settings.rate_limit_per_s, settings.rate_limit_burst
    return (
        key.rate_limit_per_s or settings.rate_limit_per_s,
        key.rate_limit_burst or settings.rate_limit_burst,
    )


def _account(principal: auth.Principal, svc: Service) -> dict[str, Any]:
    settings = svc.settings
    account = principal.account_id
    rate, burst = _rate(principal, svc)
    return {
        "account": account,
        "scheduler": svc.stores.state.scheduler_enabled(account),
        "crons": len(svc.list_jobs(account)),
        "groups": len(svc.list_folders(account)),
        "notification": svc.notification_settings(account),
        "limits": {
            "rateLimit": rate,
            "rateLimitBurst": burst,
            "maxRequestBytes": settings.max_request_bytes,
            "defaultRequestTimeout": settings.default_request_timeout,
            "disableAfterFailures": settings.disable_after_failures,
            "maxRetries": jobs.MAX_RETRIES,
            "maxTitle": jobs.MAX_TITLE,
            "maxUrl": jobs.MAX_URL,
            "maxBody": jobs.MAX_BODY,
            "maxHeaders": jobs.MAX_HEADERS,
        },
    }
