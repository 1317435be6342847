"""Cronicle's JSON API (`/api/app/NAME/v1`) over cronhook's use cases, so that a script written
for Cronicle runs against cronhook with another URL and key.

Each call parses Cronicle's parameters (query string, JSON or form body), calls `Service` once
or twice, and shapes Cronicle's answer: HTTP 200 with `{"code": 0, ...}`, or `{"code": "<word>",
"description": ...}` on an error, naming the parameter; `Access-Control-Allow-Origin: *`
always; JSONP with `callback`. No input gets a 500. Events are HTTP Request (`urlplug`) events,
ids are cronhook's job and run ids as strings; see cronicle_events for the field mapping and
docs/coming-from-cronicle.md for what differs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from chalicelib import auth, jobs
from chalicelib.dialects import cronicle_events as ev
from chalicelib.dialects.cronicle_events import Refused, count, flag
from chalicelib.errors import (
    Conflict,
    CronhookError,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthorized,
    ValidationError,
)
from chalicelib.service import Service
from chalicelib.store.base import JobRecord, RunRecord

log = logging.getLogger(__name__)

_CALLBACK = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*", re.ASCII)
MAX_CALLBACK = 128
HISTORY_SCAN = 2000  # offset + limit of a history call: the runs read to answer it
SCHEDULE_PAGE = 50  # Cronicle's defaults
HISTORY_PAGE = 100
ACCOUNT_HISTORY_PAGE = 50
_FINISHED = ("done", "aborted", "lost")
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, X-API-Key, Authorization",
}


@dataclass(frozen=True)
class Incoming:
    """The HTTP request as the route received it (no Chalice types past the edge)."""

    method: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # names in any case: looked up in lower case
    body: bytes
    source_ip: str | None


@dataclass(frozen=True)
class Answer:
    body: str
    headers: dict[str, str]
    status: int = 200


@dataclass
class Context:
    svc: Service
    principal: auth.Principal
    dispatcher: Callable[[], Any]

    @property
    def account(self) -> str:
        return self.principal.account_id


Call = Callable[[Context, dict[str, Any]], dict[str, Any]]


def handle(
    name: str,
    incoming: Incoming,
    service: Callable[[], Service],
    dispatcher: Callable[[], Any],
) -> Answer:
    """Answer one Cronicle API call; every outcome, failures included, is an Answer."""
    callback = incoming.query.get("callback")
    headers: dict[str, str] = {}
    try:
        if callback is not None and (
            len(callback) > MAX_CALLBACK or not _CALLBACK.fullmatch(callback)
        ):
            callback = None
            raise ev.malformed("callback", "must be a JavaScript identifier such as cb or a.b")
        if incoming.method == "OPTIONS":
            return _answer({"code": 0}, None, {})
        found = CALLS.get(name)
        if found is None:
            raise Refused("api", f"Unsupported API: {name}")
        privilege, scope, call = found
        svc = service()
        params = _params(incoming, svc.settings.max_request_bytes)
        principal = _authenticate(svc, incoming, params.pop("api_key", None))
        if "admin" not in principal.scopes and scope not in principal.scopes:
            raise Refused(
                "api",
                f"API Key ('{principal.label}') does not have the required privileges to "
                f"perform this action ({privilege or scope}).",
            )
        payload = {"code": 0, **call(Context(svc, principal, dispatcher), params)}
    except Refused as refused:
        payload = {"code": refused.code, "description": refused.description}
    except RateLimited as err:
        headers["Retry-After"] = str(err.retry_after)
        payload = {"code": "api", "description": err.message}
    except CronhookError as err:
        payload = _translated(err)
    except Exception:
        log.exception("cronicle %s failed", name[:64])
        payload = {"code": "api", "description": "Internal error"}
    return _answer(payload, callback, headers)


def _answer(payload: dict[str, Any], callback: str | None, headers: dict[str, str]) -> Answer:
    # ensure_ascii: U+2028 and U+2029 stay escaped, so JSONP is valid JavaScript too.
    text = json.dumps(payload, separators=(",", ":"))
    common = {"Cache-Control": "no-store", **CORS, **headers}
    if callback is not None:
        return Answer(
            f"{callback}({text});",
            {
                "Content-Type": "text/javascript; charset=utf-8",
                "X-Content-Type-Options": "nosniff",
                **common,
            },
        )
    return Answer(text, {"Content-Type": "application/json", **common})


def _translated(err: CronhookError) -> dict[str, Any]:
    if isinstance(err, ValidationError):
        where = ev.cronicle_field(err.field)
        return {"code": "api", "description": f"Malformed parameter: {where} ({err.message})"}
    if isinstance(err, Unauthorized):
        return {"code": "session", "description": err.message}
    if isinstance(err, Forbidden):
        return {"code": "api", "description": err.message}
    if err.status >= 500:
        log.error("cronicle call failed: %s", err.message)
        return {"code": "api", "description": "Internal error; try again"}
    return {"code": "api", "description": err.message}


# ---- parameters and the key -------------------------------------------------------------------


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() else value


def _put(params: dict[str, Any], key: str, value: Any) -> None:
    """Cronicle's `params/NAME=value` sets one plugin parameter from a query string or form."""
    if key.startswith("params/") and len(key) > len("params/"):
        nested = params.setdefault("params", {})
        if not isinstance(nested, dict):
            raise ev.malformed("params", "must be an object")
        nested[key[len("params/") :]] = value
    else:
        params[key] = value


def _params(incoming: Incoming, max_bytes: int) -> dict[str, Any]:
    """The call's parameters: the query string, then the body over it (JSON, or a form)."""
    params: dict[str, Any] = {}
    for key, value in incoming.query.items():
        if key != "callback":
            _put(params, key, value)
    raw = incoming.body or b""
    if len(raw) > max_bytes:
        raise Refused("api", f"Request body over {max_bytes} bytes")
    content_type = {k.lower(): v for k, v in incoming.headers.items()}.get("content-type", "")
    content_type = content_type.lower()
    stripped = raw.strip()
    if stripped[:1] == b"{" or (stripped and "json" in content_type):
        # Cronicle's clients often POST JSON as a form (curl -d): a body that opens an object
        # is JSON whatever it is labelled.
        try:
            payload = json.loads(raw, parse_float=_number)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise Refused("api", "Malformed JSON in the request body") from None
        if not isinstance(payload, dict):
            raise Refused("api", "The request body must be a JSON object")
        params.update(payload)
    elif stripped and "x-www-form-urlencoded" in content_type:
        try:
            pairs = parse_qsl(stripped.decode("utf-8"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            raise Refused("api", "Malformed form data in the request body") from None
        for key, value in pairs:
            _put(params, key, value)
    try:
        json.dumps(params, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        raise Refused("api", "Malformed parameter: text must be valid Unicode") from None
    except ValueError:
        raise Refused("api", "Malformed parameter: numbers must be finite") from None
    return params


def _authenticate(svc: Service, incoming: Incoming, in_body: Any) -> auth.Principal:
    """The key from X-API-Key, `Authorization: Bearer`, `api_key` in the query or the body."""
    headers = {k.lower(): v for k, v in incoming.headers.items()}
    key = auth.presented_key(headers)
    if not key and isinstance(in_body, str):
        key = in_body.strip()
    if not key:
        raise Refused("session", "No Session ID or API Key could be found")
    try:
        return auth.authenticate(
            svc.stores,
            {"x-api-key": key},
            incoming.source_ip,
            svc.clock(),
            rate=svc.settings.rate_limit_per_s,
            burst=svc.settings.rate_limit_burst,
        )
    except Unauthorized as err:
        raise Refused("session", f"Invalid API Key: {err.message}") from None


def _required(params: Mapping[str, Any], *names: str) -> None:
    for name in names:
        if name not in params or params[name] is None or params[name] == "":
            raise Refused("api", f"Missing parameter: {name}")


def _page(params: Mapping[str, Any], default: int, most: int | None) -> tuple[int, int]:
    offset = count(params.get("offset") or 0, "offset")
    limit = count(params.get("limit") or default, "limit")
    if most is not None and offset + limit > most:
        raise ev.malformed("limit", f"offset + limit must be at most {most}")
    return offset, limit


# ---- events -----------------------------------------------------------------------------------


def _event(ctx: Context, params: Mapping[str, Any], *, by_title: bool) -> JobRecord:
    if params.get("id") not in (None, ""):
        wanted = params["id"]
        job_id = ev.event_id(wanted)
        try:
            if job_id is None:
                raise NotFound("no such event")
            return ctx.svc.get_job(ctx.account, job_id)
        except NotFound:
            raise Refused("event", f"Failed to locate event: {wanted}") from None
    if by_title and params.get("title") not in (None, ""):
        title = params["title"]
        found = ctx.svc.list_jobs(ctx.account, title if isinstance(title, str) else None)
        if not found or not isinstance(title, str):
            raise Refused("event", f"Failed to locate event: {title}")
        return found[0]
    if by_title:
        raise Refused("event", "Failed to locate event: No criteria specified")
    raise Refused("api", "Missing parameter: id")


def _folders(ctx: Context) -> dict[int, str]:
    return ctx.svc.list_folders(ctx.account)


def _category(job: JobRecord, folders: Mapping[int, str]) -> str:
    return folders.get(job.spec.get("folderId", 0), ev.DEFAULT_CATEGORY)


def _view(ctx: Context, job: JobRecord, folders: Mapping[int, str]) -> dict[str, Any]:
    return ev.event_view(job, _category(job, folders), ctx.svc.settings.default_request_timeout)


def _chain(ctx: Context, value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if value == "":
        return 0
    job_id = ev.event_id(value, name)
    if job_id is None or ctx.svc.stores.jobs.get(ctx.account, job_id) is None:
        raise Refused("event", f"Failed to locate event for {name}: {value}")
    return job_id


def _delta(
    ctx: Context, given: ev.EventInput, kept_before: Mapping[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """The job delta of an event input, and the title of a folder it needs created first."""
    delta = dict(given.delta)
    new_folder = None
    if given.category is not None:
        folders = _folders(ctx)
        if given.category == ev.DEFAULT_CATEGORY:
            delta["folderId"] = 0
        else:
            matches = [f for f, title in folders.items() if title == given.category]
            if matches:
                delta["folderId"] = matches[0]
            else:
                new_folder = given.category
    for name, ours in (("chain", "chainSuccess"), ("chain_error", "chainFailure")):
        target = _chain(ctx, getattr(given, name), name)
        if target is not None:
            delta[ours] = target
    if given.kept:
        delta["keptFields"] = {
            **kept_before,
            "cronicle": {**(kept_before.get("cronicle") or {}), **given.kept},
        }
    return delta, new_folder


def _new_folder(ctx: Context, base: dict[str, Any], delta: dict[str, Any], title: str) -> None:
    """Create the category's folder, once the job it is for is known to be valid."""
    jobs.validate(jobs.merge(base, {**delta, "folderId": 0}), folder_ids=set())
    try:
        delta["folderId"] = ctx.svc.create_folder(ctx.account, {"title": title})
    except ValidationError as err:
        raise ev.malformed("category", err.message) from None


def get_schedule(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    offset, limit = _page(params, SCHEDULE_PAGE, None)
    found = ctx.svc.list_jobs(ctx.account)
    folders = _folders(ctx)
    rows = [_view(ctx, job, folders) for job in found[offset : offset + limit]]
    last = max(0, (len(found) - 1) // limit) if limit else 0
    listing = {
        "page_size": limit,
        "first_page": 0,
        "last_page": last,
        "length": len(found),
        "type": "list",
    }
    return {"rows": rows, "list": listing}


def get_event(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    job = _event(ctx, params, by_title=True)
    event = _view(ctx, job, _folders(ctx))
    out: dict[str, Any] = {"event": event}
    mine = [r for r in ctx.svc.active_runs(ctx.account) if r.job_id == job.job_id]
    now = ctx.svc.clock()
    if job.spec.get("queueMax"):
        out["queue"] = sum(1 for r in mine if r.state == "waiting")
    running = [ev.job_view(r, event, now) for r in mine if r.state != "waiting"]
    if running:
        out["jobs"] = running
    return out


def create_event(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    _required(params, "title", "enabled", "category", "plugin", "target")
    given = ev.event_input(params, None)
    delta, new_folder = _delta(ctx, given, {})
    if new_folder is not None:
        _new_folder(ctx, jobs.with_defaults({}), delta, new_folder)
    job, _ = ctx.svc.create_job(ctx.account, delta, ctx.principal.label)
    ctx.svc.fire_soon(job, ctx.dispatcher)
    return {"id": str(job.job_id)}


def update_event(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    job = _event(ctx, params, by_title=False)
    cursor = params.get("reset_cursor")
    if cursor not in (None, "", 0):
        cursor = count(cursor, "reset_cursor")
    abort = flag(params.get("abort_jobs") or 0, "abort_jobs")
    if abort and not ({"run", "admin"} & ctx.principal.scopes):
        raise Refused(
            "api",
            f"API Key ('{ctx.principal.label}') does not have the required privileges to "
            "perform this action (abort_events).",
        )
    given = ev.event_input(params, _view(ctx, job, _folders(ctx)))
    delta, new_folder = _delta(ctx, given, job.spec.get("keptFields") or {})
    if new_folder is not None:
        _new_folder(ctx, jobs.with_defaults(jobs.editable(job)), delta, new_folder)
    if cursor not in (None, "", 0):
        from chalicelib.service import CURSOR_RANGE

        if not CURSOR_RANGE[0] <= int(cursor) <= CURSOR_RANGE[1]:
            raise ev.malformed("reset_cursor", "must be a time from 2000 to 2100")
    if delta:
        job = ctx.svc.update_job(ctx.account, job.job_id, delta, ctx.principal.label)
    if cursor not in (None, "", 0):
        job = ctx.svc.move_cursor(ctx.account, job.job_id, cursor, ctx.principal.label)
    if abort and not job.enabled:
        for run in ctx.svc.active_runs(ctx.account):
            if run.job_id == job.job_id:
                try:
                    ctx.svc.abort_run(ctx.account, run.run_id, ctx.principal.label)
                except (Conflict, NotFound):
                    pass  # ended meanwhile
    ctx.svc.fire_soon(job, ctx.dispatcher)
    return {}


def delete_event(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    job = _event(ctx, params, by_title=False)
    try:
        ctx.svc.delete_job(ctx.account, job.job_id, only_idle=True)
    except Conflict:
        raise Refused("event", "Failed to delete event: Still has running jobs") from None
    return {}


# ---- jobs (runs) ------------------------------------------------------------------------------


def _finished_runs(page: Callable[[str | None], Any], offset: int, limit: int) -> list[RunRecord]:
    """The finished runs (last attempts) from `offset`, newest first, reading pages as needed."""
    found: list[RunRecord] = []
    cursor: str | None = None
    while len(found) < offset + limit:
        result = page(cursor)
        found += [r for r in result.items if r.state in _FINISHED and not r.data.get("nextAttempt")]
        cursor = result.cursor
        if cursor is None:
            break
    return found[offset : offset + limit]


def get_event_history(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    job = _event(ctx, params, by_title=False)
    offset, limit = _page(params, HISTORY_PAGE, HISTORY_SCAN)
    event = _view(ctx, job, _folders(ctx))
    found = _finished_runs(
        lambda c: ctx.svc.job_history(ctx.account, job.job_id, 100, c), offset, limit
    )
    now = ctx.svc.clock()
    rows = [ev.job_view(r, event, now) for r in found]
    return {"rows": rows, "list": {"length": job.success_count + job.failure_count}}


def get_history(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    offset, limit = _page(params, ACCOUNT_HISTORY_PAGE, HISTORY_SCAN)
    folders = _folders(ctx)
    all_jobs = ctx.svc.list_jobs(ctx.account)
    events = {j.job_id: _view(ctx, j, folders) for j in all_jobs}
    found = _finished_runs(lambda c: ctx.svc.account_history(ctx.account, 100, c), offset, limit)
    now = ctx.svc.clock()
    rows = [ev.job_view(r, events.get(r.job_id), now) for r in found]
    length = sum(j.success_count + j.failure_count for j in all_jobs)
    return {"rows": rows, "list": {"length": length}}


def _run_overrides(params: Mapping[str, Any]) -> dict[str, Any]:
    """run_event's fields for this one run, as cronhook's run-now overrides."""
    given = ev.event_input({k: v for k, v in params.items() if k in ("timeout", "params")}, {})
    delta = given.delta
    out: dict[str, Any] = {
        key: delta[key] for key in ("url", "requestMethod", "requestTimeout") if key in delta
    }
    if "extendedData" in delta:
        out["extendedData"] = delta["extendedData"]
    return out


def run_event(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Run now, with the event fields given merged into that one run: `params` (url, method,
    headers, data, timeout) and `timeout` as run-now overrides, and retries, retry_delay,
    chains and notifications as the run's own settings (as update_job sets them on a run in
    flight)."""
    job = _event(ctx, params, by_title=True)
    overrides = _run_overrides(params)
    change = _run_change(ctx, {k: v for k, v in params.items() if k != "timeout"})
    if change:
        ctx.svc.check_run_change(ctx.account, change)  # refused before anything is written
    run_id = ctx.svc.run_now(
        ctx.account, job.job_id, overrides or None, ctx.dispatcher(), ctx.principal.label
    )
    if change:
        with contextlib.suppress(Conflict):  # it ended already: it ran with the job's own
            ctx.svc.update_run(ctx.account, run_id, change)
    return {"ids": [run_id]}


def _run(ctx: Context, params: Mapping[str, Any]) -> RunRecord:
    _required(params, "id")
    wanted = params["id"]
    if not isinstance(wanted, str):
        raise ev.malformed("id", "must be a string")
    try:
        return ctx.svc.run_outcome(ctx.account, wanted)
    except NotFound:
        raise Refused("job", f"Failed to locate job: {wanted}") from None


def _job_event(ctx: Context, job_id: int) -> dict[str, Any] | None:
    job = ctx.svc.stores.jobs.get(ctx.account, job_id)
    return None if job is None else _view(ctx, job, _folders(ctx))


def get_job_status(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    run = _run(ctx, params)
    return {"job": ev.job_view(run, _job_event(ctx, run.job_id), ctx.svc.clock())}


def get_active_jobs(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    folders = _folders(ctx)
    now = ctx.svc.clock()
    events: dict[int, dict[str, Any] | None] = {}
    out: dict[str, Any] = {}
    for run in ctx.svc.active_runs(ctx.account):
        if run.job_id not in events:
            job = ctx.svc.stores.jobs.get(ctx.account, run.job_id)
            events[run.job_id] = None if job is None else _view(ctx, job, folders)
        view = ev.job_view(run, events[run.job_id], now)
        out[view["id"]] = view
    return {"jobs": out}


def _run_change(ctx: Context, params: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of one run that Cronicle's event fields give (timeout, retries, retry
    delay, chains, notifications), in cronhook's run-control shape; checked here, so a bad one
    is refused before anything is written."""
    fields: dict[str, Any] = {
        k: params[k] for k in ("timeout", "retries", "retry_delay") if k in params
    }
    given = ev.event_input(fields, {})
    change = {
        k: v for k, v in given.delta.items() if k in ("requestTimeout", "retries", "retryDelay")
    }
    for name, ours in (("chain", "chainSuccess"), ("chain_error", "chainFailure")):
        if name in params:
            target = _chain(ctx, ev.text(params[name] or "", name), name)
            change[ours] = target or 0
    notification = {}
    for name, ours in (("notify_success", "onSuccess"), ("notify_fail", "onFailure")):
        if name in params:
            notification[ours] = bool(ev.text(params[name] or "", name).strip())
    if notification:
        change["notification"] = notification
    return change


def update_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    run = _run(ctx, params)
    change = _run_change(ctx, params)
    try:
        ctx.svc.update_run(ctx.account, run.run_id, change)
    except Conflict:
        raise Refused("job", f"Failed to locate job: {params['id']}") from None
    return {}


def abort_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    run = _run(ctx, params)
    try:
        ctx.svc.abort_run(ctx.account, run.run_id, ctx.principal.label)
    except Conflict:
        raise Refused("job", f"Failed to locate job: {params['id']}") from None
    return {}


# ---- the scheduler switch ---------------------------------------------------------------------


def get_master_state(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    enabled = ctx.svc.stores.state.scheduler_enabled(ctx.account)
    return {"state": {"enabled": 1 if enabled else 0}}


def update_master_state(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    _required(params, "enabled")
    enabled = flag(params["enabled"], "enabled")
    for job in ctx.svc.set_scheduler(ctx.account, {"enabled": enabled}):
        ctx.svc.fire_soon(job, ctx.dispatcher)
    return {}


# name -> (Cronicle's privilege, None where any key may call it; the cronhook scope it needs)
CALLS: dict[str, tuple[str | None, str, Call]] = {
    "get_schedule": (None, "read", get_schedule),
    "get_event": (None, "read", get_event),
    "create_event": ("create_events", "write", create_event),
    "update_event": ("edit_events", "write", update_event),
    "delete_event": ("delete_events", "write", delete_event),
    "get_event_history": (None, "read", get_event_history),
    "get_history": (None, "read", get_history),
    "run_event": ("run_events", "run", run_event),
    "get_job_status": (None, "read", get_job_status),
    "get_active_jobs": (None, "read", get_active_jobs),
    "update_job": ("edit_events", "write", update_job),
    "abort_job": ("abort_events", "run", abort_job),
    "get_master_state": (None, "read", get_master_state),
    "update_master_state": ("state_update", "admin", update_master_state),
}
