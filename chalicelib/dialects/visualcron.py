"""VisualCron's Web API: `/VisualCron/{text|xml|json}/{method}`, GET or POST, parameters in the
query (or a form or JSON body); the format and the method are matched without case.

`logon` (`username`, `password`, optional `expire` in seconds up to 24 hours) opens a user's
session that each call renews; every other call takes `token=` (a session token or an API key)
or `username=` and `password=` itself (a sign-in at each call: rate-limited as one). Job methods:
`job/list` (optionally `id=`), `job/get`, `job/getbyname`, `job/run`, `job/stop` (aborts the
job's runs in flight), `job/activate`, `job/deactivate`; `logoff` ends a session.

Columns are VisualCron's job properties, matched without case; text output takes
`includeheaders`, `fieldSeparator`, `textQualifier` and `lineBreak` (chalicelib.formats). An
error answers its HTTP status with `{"Result": "Error", "Message", "Field"}` in the requested
format (a line `Error: ...` in text). This module parses and shapes only: the use cases are
chalicelib.service's and chalicelib.users'.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib import auth, formats, jobs, runs
from chalicelib.dialects.flat import read_params, to_int
from chalicelib.errors import (
    Conflict,
    CronhookError,
    NotFound,
    RateLimited,
    Unauthorized,
    ValidationError,
)
from chalicelib.service import Service
from chalicelib.store.base import JobRecord
from chalicelib.users import SESSION_TTL_S, Users

FORMATS = ("text", "xml", "json")
CONTENT_TYPES = {
    "text": "text/plain; charset=utf-8",
    "xml": "application/xml; charset=utf-8",
    "json": "application/json",
}
_OUTPUT = ("columns", "includeheaders", "fieldSeparator", "textQualifier", "lineBreak")
_CREDENTIALS = ("token", "username", "password")
# method -> (scope, its own parameters); logon and logoff authenticate themselves
METHODS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "logon": (None, ("username", "password", "expire")),
    "logoff": (None, ("token",)),
    "job/list": ("read", ("id",)),
    "job/get": ("read", ("id",)),
    "job/getbyname": ("read", ("name",)),
    "job/run": ("run", ("id",)),
    "job/stop": ("run", ("id",)),
    "job/activate": ("write", ("id",)),
    "job/deactivate": ("write", ("id",)),
}
# VisualCron's job properties that cronhook has, in their order of output.
COLUMNS = (
    "Id",
    "Name",
    "Description",
    "Group",
    "Active",
    "NextRun",
    "LastRun",
    "Result",
    "ExecutionState",
    "NoExecutes",
    "RunMissed",
    "Tasks",
    "Stats",
)
_BY_LOWER = {c.lower(): c for c in COLUMNS}
_ANSWER_COLUMNS = ("Result", "Message", "Id", "RunId")


@dataclass
class Request:
    """A call as the app hands it over: the path's format and method, query and body."""

    fmt: str
    method: str
    query: Mapping[str, str] | None
    raw: bytes
    content_type: str
    source_ip: str | None


@dataclass
class Answer:
    status: int
    body: str
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def handle(request: Request, svc: Service, dispatcher: Callable[[], Any]) -> Answer:
    """Answer one call; never raises a CronhookError."""
    fmt = request.fmt.lower() if request.fmt.lower() in FORMATS else "json"
    try:
        if request.fmt.lower() not in FORMATS:
            raise NotFound("the format must be text, xml or json", field="format")
        return _handle(fmt, request, svc, dispatcher)
    except CronhookError as err:
        return _error(fmt, err)


# ---- errors -------------------------------------------------------------------------------


def _error(fmt: str, err: CronhookError) -> Answer:
    status = err.status if 400 <= err.status < 600 else 500
    message = err.message if status < 500 else "internal error"
    if isinstance(err, Unauthorized):
        field_name = None
        message = "invalid user name, password or token"
    else:
        field_name = err.field
    headers = {}
    if isinstance(err, RateLimited):
        headers["Retry-After"] = str(err.retry_after)
    if fmt == "text":
        line = f"Error: {field_name}: {message}" if field_name else f"Error: {message}"
        return Answer(
            status, line.replace("\r", " ").replace("\n", " "), CONTENT_TYPES[fmt], headers
        )
    body: dict[str, Any] = {"Result": "Error", "Message": message}
    if field_name:
        body["Field"] = field_name
    if fmt == "xml":
        return Answer(status, _xml_document("Response", body), CONTENT_TYPES[fmt], headers)
    return Answer(status, json.dumps(body), CONTENT_TYPES[fmt], headers)


# ---- the call -----------------------------------------------------------------------------


def _normalized(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameter names as documented, whatever their case (VisualCron reads them so)."""
    known = {n.lower(): n for n in (*_OUTPUT, *_CREDENTIALS, "id", "name", "expire")}
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = known.get(str(key).lower())
        if name is None:
            raise ValidationError("unknown parameter", field=str(key))
        if name in out:
            raise ValidationError("given twice", field=name)
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ValidationError("must be text", field=name)
        out[name] = str(value)
    return out


def _handle(fmt: str, request: Request, svc: Service, dispatcher: Callable[[], Any]) -> Answer:
    method = request.method.strip("/").lower()
    if method not in METHODS:
        raise NotFound(
            f"unknown method {request.method!r}; the methods are " + ", ".join(METHODS),
            field="method",
        )
    scope, own = METHODS[method]
    raw = read_params(
        request.query, request.raw, request.content_type, svc.settings.max_request_bytes
    )
    params = _normalized(raw)
    allowed = {*own, *_OUTPUT, *_CREDENTIALS} if scope else set(own)
    for key in params:
        if key not in allowed:
            raise ValidationError(f"{method} takes no {key}", field=key)
    output = formats.options({**{k: params[k] for k in _OUTPUT if k in params}, "format": fmt})
    users = Users(svc.stores, clock=svc.clock)
    if method == "logon":
        return _logon(fmt, params, users, request.source_ip)
    if method == "logoff":
        token = params.get("token", "").strip()
        if not token.startswith("chs_") or not users.sign_out(token):
            raise Unauthorized("no such session")
        return _answer(fmt, output, {"Result": "Success", "Message": "signed out"})
    assert scope is not None
    principal = _principal(params, svc, users, request.source_ip)
    principal.require(scope)
    return _job_method(fmt, output, method, params, principal, svc, dispatcher)


def _logon(fmt: str, params: Mapping[str, str], users: Users, source_ip: str | None) -> Answer:
    for name in ("username", "password"):
        if not params.get(name):
            raise ValidationError("is required", field=name)
    ttl = SESSION_TTL_S
    if params.get("expire"):
        ttl = to_int(params["expire"], "expire")
        if not 60 <= ttl <= SESSION_TTL_S:
            raise ValidationError(f"must be 60 to {SESSION_TTL_S} seconds", field="expire")
    signed = users.sign_in(params["username"], params["password"], source_ip, ttl_s=ttl, renew=True)
    if fmt == "text":
        return Answer(200, signed.token, CONTENT_TYPES[fmt])
    out = {"Token": signed.token, "Expires": _iso(signed.session.expires_at)}
    if fmt == "xml":
        return Answer(200, _xml_document("Response", out), CONTENT_TYPES[fmt])
    return Answer(200, json.dumps(out), CONTENT_TYPES[fmt])


def _principal(
    params: Mapping[str, str], svc: Service, users: Users, source_ip: str | None
) -> auth.Principal:
    """The caller: a token (a session, renewed, or an API key), else a user name and password."""
    now = svc.clock()
    token = params.get("token", "").strip()
    if token:
        return auth.authenticate(
            svc.stores,
            {"authorization": f"Bearer {token}"},
            source_ip,
            now,
            rate=svc.settings.rate_limit_per_s,
            burst=svc.settings.rate_limit_burst,
        )
    if not params.get("username") and not params.get("password"):
        raise Unauthorized("no credentials")
    user = users.check_password(params.get("username"), params.get("password"), source_ip)
    rate, burst = svc.settings.rate_limit_per_s, svc.settings.rate_limit_burst
    allowed, retry_after = svc.stores.state.take_token(f"user#{user.username}", rate, burst, now)
    if not allowed:
        raise RateLimited(
            f"rate limit of {rate:g} requests per second exceeded",
            retry_after=max(1, math.ceil(retry_after)),
        )
    return auth.Principal(
        user.account_id,
        f"user:{user.username}",
        frozenset(user.scopes),
        name=user.username,
        username=user.username,
    )


def _job_id(params: Mapping[str, str]) -> int:
    if not params.get("id", "").strip():
        raise ValidationError("the job's id is required", field="id")
    job_id = to_int(params["id"], "id")
    if job_id < 1:
        raise NotFound("job not found", field="id")
    return job_id


def _get(svc: Service, account: str, job_id: int) -> JobRecord:
    try:
        return svc.get_job(account, job_id)
    except NotFound:
        raise NotFound("job not found", field="id") from None


def _job_method(
    fmt: str,
    output: dict[str, Any],
    method: str,
    params: Mapping[str, str],
    principal: auth.Principal,
    svc: Service,
    dispatcher: Callable[[], Any],
) -> Answer:
    account = principal.account_id
    columns = _columns(output["columns"])
    if method in ("job/list", "job/getbyname"):
        if method == "job/getbyname":
            if not params.get("name"):
                raise ValidationError("is required", field="name")
            found = svc.list_jobs(account, title=params["name"])
            if not found:
                raise NotFound("no job of that name", field="name")
            return _jobs(fmt, output, columns, found[:1], svc, account, single=True)
        if params.get("id", "").strip():
            found = [_get(svc, account, _job_id(params))]
        else:
            found = svc.list_jobs(account)
        return _jobs(fmt, output, columns, found, svc, account, single=False)
    job_id = _job_id(params)
    if method == "job/get":
        return _jobs(fmt, output, columns, [_get(svc, account, job_id)], svc, account, single=True)
    if method == "job/run":
        _get(svc, account, job_id)
        run_id = svc.run_now(account, job_id, None, dispatcher(), actor=principal.label)
        out = {"Result": "Success", "Message": "the job is queued to run", "Id": job_id}
        return _answer(fmt, output, {**out, "RunId": run_id})
    if method == "job/stop":
        _get(svc, account, job_id)
        in_flight = {
            str(r.data.get("runId", r.run_id))
            for r in svc.active_runs(account)
            if r.job_id == job_id
        }
        if not in_flight:
            raise Conflict("the job has no run in flight", field="id")
        stopped = []
        for run_id in sorted(in_flight):
            try:
                svc.abort_run(account, run_id, principal.label)
                stopped.append(run_id)
            except (Conflict, NotFound):  # it ended meanwhile
                continue
        if not stopped:
            raise Conflict("the job has no run in flight", field="id")
        out = {"Result": "Success", "Message": "the job's run is stopping", "Id": job_id}
        return _answer(fmt, output, {**out, "RunId": ",".join(stopped)})
    # activate, deactivate
    _get(svc, account, job_id)
    job = svc.update_job(
        account, job_id, {"enabled": method == "job/activate"}, actor=principal.label
    )
    svc.fire_soon(job, dispatcher)
    return _jobs(fmt, output, columns, [job], svc, account, single=True)


# ---- shaping ------------------------------------------------------------------------------


def _columns(given: list[str]) -> list[str]:
    out = []
    for name in given:
        column = _BY_LOWER.get(name.lower())
        if column is None:
            raise ValidationError(
                f"unknown column {name!r}; the columns are {', '.join(COLUMNS)}", field="columns"
            )
        if column not in out:
            out.append(column)
    return out


def _iso(timestamp: float | None) -> str | None:
    if not timestamp:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def _result(job: JobRecord) -> str:
    if not job.last_execution:
        return "Unknown"
    return "Success" if job.last_status == 1 else "Failed"


def job_view(job: JobRecord, folders: Mapping[int, str], running: set[int], now: float) -> Any:
    """A cronhook job as VisualCron's Job: its properties, `Tasks` (the job's one HTTP task)
    and `Stats`."""
    spec = job.spec
    active = bool(spec["enabled"])
    state = "Running" if job.job_id in running else ("Waiting" if active else "Inactive")
    result = _result(job)
    last, following = _iso(job.last_execution), _iso(jobs.next_execution(job, now))
    executes = job.success_count + job.failure_count
    task = {
        "Id": job.job_id,
        "Name": spec["title"],
        "TaskType": "HTTP",
        "Url": spec["url"],
        "Method": jobs.METHODS[spec["requestMethod"]],
        "Stats": {
            "Result": result,
            "DateLastExecution": last,
            "StatusText": runs.STATUS_TEXT.get(job.last_status, ""),
        },
    }
    return {
        "Id": job.job_id,
        "Name": spec["title"],
        "Description": spec.get("notes", ""),
        "Group": folders.get(spec["folderId"], ""),
        "Active": active,
        "NextRun": following,
        "LastRun": last,
        "Result": result,
        "ExecutionState": state,
        "NoExecutes": executes,
        "RunMissed": bool(spec.get("catchUp", False)),
        "Tasks": [task],
        "Stats": {
            "Active": active,
            "DateLastExecution": last,
            "DateNextExecution": following,
            "NoExecutes": executes,
            "Result": result,
            "ExecutionState": state,
        },
    }


def _jobs(
    fmt: str,
    output: dict[str, Any],
    columns: list[str],
    found: list[JobRecord],
    svc: Service,
    account: str,
    *,
    single: bool,
) -> Answer:
    folders = svc.list_folders(account)
    now = svc.clock()
    running = {r.job_id for r in svc.active_runs(account) if runs.calling(r, now)}
    views = [job_view(j, folders, running, now) for j in found]
    chosen = columns or list(COLUMNS)
    rows = [{c: v[c] for c in chosen} for v in views]
    if fmt == "json":
        return Answer(200, json.dumps(rows[0] if single else rows), CONTENT_TYPES[fmt])
    if fmt == "xml":
        if single:
            return Answer(200, _xml_document("Job", rows[0]), CONTENT_TYPES[fmt])
        inner = "".join(_xml_element("Job", r) for r in rows)
        return Answer(200, _XML_HEAD + f"<Jobs>{inner}</Jobs>\n", CONTENT_TYPES[fmt])
    return _text(output, chosen, rows)


def _text(output: dict[str, Any], columns: list[str], rows: list[dict[str, Any]]) -> Answer:
    """Delimited text: a nested value (Tasks, Stats) is its JSON in one cell."""
    flat = [
        {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in r.items()} for r in rows
    ]
    text, content_type = formats.render(flat, "rows", {**output, "columns": columns})
    return Answer(200, text, content_type)


def _answer(fmt: str, output: dict[str, Any], out: dict[str, Any]) -> Answer:
    if fmt == "json":
        return Answer(200, json.dumps(out), CONTENT_TYPES[fmt])
    if fmt == "xml":
        return Answer(200, _xml_document("Response", out), CONTENT_TYPES[fmt])
    columns = [c for c in _ANSWER_COLUMNS if c in out]
    return _text(output, columns, [out])


_XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _xml_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return formats.escape(str(value))


def _xml_element(name: str, value: Any) -> str:
    """An element of fixed name (one of ours) holding `value`: an object's fields as elements,
    a list's items as singular elements (`Tasks` holds `Task`s)."""
    if isinstance(value, Mapping):
        inner = "".join(_xml_element(k, v) for k, v in value.items())
    elif isinstance(value, list):
        item = name[:-1] if name.endswith("s") else "Item"
        inner = "".join(_xml_element(item, v) for v in value)
    else:
        inner = _xml_value(value)
    return f"<{name}>{inner}</{name}>"


def _xml_document(name: str, value: Mapping[str, Any]) -> str:
    return _XML_HEAD + _xml_element(name, value) + "\n"
