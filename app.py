"""cronhook's Chalice app: routes parse the request, call chalicelib once, and shape the reply."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from chalice.app import Chalice, Rate, Request, Response, SQSEvent

from chalicelib import __version__, auth, formats, jobs, monitors, runs, wiring
from chalicelib.errors import (
    NO_SUCH_ROUTE,
    BadRequest,
    CronhookError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ValidationError,
)
from chalicelib.service import Service, page_limit
from chalicelib.text import encodable

app = Chalice(app_name="cronhook")
app.log.setLevel(logging.INFO)
app.api.binary_types = []  # every response is text; never base64-encode one

JSON = "application/json"
View = Callable[..., Any]
IGNORED_HEADER = "X-Cronhook-Ignored-Fields"
MAX_IGNORED_LISTED = 50  # names in the header; more are counted ("+N")


def service() -> Service:
    return Service(wiring.stores(), wiring.settings())


def _reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers={"Content-Type": JSON, "Cache-Control": "no-store", **(headers or {})},
    )


def _error(err: CronhookError) -> Response:
    headers = {}
    retry_after = getattr(err, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return _reply(err.to_body(), err.status, headers)


@app.middleware("http")
def method_not_allowed(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """Chalice answers a method a route lacks with its own 405 body: this one has the error
    shape of every other error, and the `Allow` header still lists what the route takes."""
    response = get_response(request)
    if response.status_code == 405 and isinstance(response.body, dict):
        listed = str((response.headers or {}).get("Allow", ""))
        allow = sorted(m.strip() for m in listed.split(","))
        err = MethodNotAllowed(request.method, [m for m in allow if m])
        return _reply(err.to_body(), err.status, {"Allow": ", ".join(err.allow)})
    return response


def _principal(request: Request, scope: str) -> auth.Principal:
    settings = wiring.settings()
    identity = (request.context or {}).get("identity") or {}
    principal = auth.authenticate(
        wiring.stores(),
        request.headers,
        identity.get("sourceIp"),
        time.time(),
        rate=settings.rate_limit_per_s,
        burst=settings.rate_limit_burst,
    )
    principal.require(scope)
    return principal


def _number(text: str) -> float | int:
    """A JSON number with a fraction: 5.0 is the integer 5, as JSON Schema reads it."""
    value = float(text)
    return int(value) if value.is_integer() else value


def body(request: Request) -> Any:
    """The JSON payload, None when the request has no body.

    cron-job.org reads a payload only with `Content-Type: application/json` and ignores one
    sent with another type or none: a route here that takes a payload answers such a body with
    a 400 naming Content-Type (it would otherwise act without what the client sent)."""
    raw = request.raw_body or b""
    if len(raw) > wiring.settings().max_request_bytes:
        raise PayloadTooLarge(f"request body over {wiring.settings().max_request_bytes} bytes")
    if not raw.strip():
        return None
    if "json" not in request.headers.get("content-type", "").lower():
        raise ValidationError(
            "must be application/json to send a body (cron-job.org ignores a body of any "
            "other type, or of none)",
            field="Content-Type",
        )
    try:
        payload = json.loads(raw, parse_float=_number)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("request body is not valid JSON") from None
    except RecursionError:
        raise BadRequest("request body is nested too deeply") from None
    where = _not_unicode(payload)
    if where is not None:
        # JSON may escape half of a surrogate pair ("\ud800"): no text, and no UTF-8 to store.
        raise ValidationError("must be valid Unicode text (a lone surrogate)", field=where)
    return payload


def _not_unicode(payload: Any) -> str | None:
    """The path of the first string (key or value) that UTF-8 cannot encode, if any."""
    pending: list[tuple[Any, str]] = [(payload, "")]
    while pending:
        value, path = pending.pop()
        if isinstance(value, str):
            if not encodable(value):
                return path or "body"
        elif isinstance(value, dict):
            for key, item in value.items():
                inner = f"{path}.{key}" if path else str(key)
                if not encodable(key):
                    return inner.encode("utf-8", "backslashreplace").decode("utf-8")
                pending.append((item, inner))
        elif isinstance(value, list):
            pending.extend((item, f"{path}[{n}]") for n, item in enumerate(value))
    return None


def _wrapped(payload: Any, key: str) -> Any:
    """The object under `key` of a payload shaped as cron-job.org's `{"job": {...}}`."""
    if not isinstance(payload, dict) or key not in payload:
        raise ValidationError(f'send a JSON body of the form {{"{key}": {{...}}}}', field=key)
    return payload[key]


def _id(value: str, what: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 16:
        raise NotFound(f"{what} not found")
    return int(value)


def endpoint(path: str, methods: list[str], scope: str | None) -> Callable[[View], View]:
    """Register a route whose errors become JSON with their status; never a stack trace."""

    def decorate(view: View) -> View:
        def handler(**params: str) -> Response:
            request = app.current_request
            assert request is not None
            try:
                principal = _principal(request, scope) if scope else None
                result = view(principal, request, **params) if scope else view(request, **params)
                return result if isinstance(result, Response) else _reply(result)
            except CronhookError as err:
                return _error(err)
            except Exception:
                app.log.exception("unhandled error on %s %s", request.method, path)
                return _error(CronhookError("internal error"))

        handler.__name__ = view.__name__
        app.route(path, methods=methods, content_types=["*/*"])(handler)
        return view

    return decorate


def _listing(request: Request, name: str, rows: list[dict[str, Any]], extra: dict[str, Any]) -> Any:
    opts = formats.options(request.query_params)
    history = runs.HISTORY_COLUMNS
    known = {
        "jobs": jobs.SUMMARY_COLUMNS,
        "history": history,
        "runs": history,
        "monitors": monitors.COLUMNS,
        "pings": monitors.PING_COLUMNS,
    }.get(name)
    if known is not None:
        formats.check_columns(opts["columns"], known, rows)
    if opts["format"] == "json":
        return {name: formats.select_json(rows, opts["columns"]), **extra}
    text, content_type = formats.render(rows, name, opts)
    return Response(body=text, status_code=200, headers={"Content-Type": content_type})


# ---- service ------------------------------------------------------------------------------


@endpoint("/health", ["GET"], None)
def health(request: Request) -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@endpoint("/metrics", ["GET"], "read")
def prometheus_metrics(principal: auth.Principal, request: Request) -> Response:
    """The tick's and the worker's figures since the stack started, as Prometheus text: `make
    run` is one process. Deployed, each Lambda is its own process: the figures are in
    CloudWatch (namespace `cronhook`), from the embedded-metric lines of its logs."""
    if wiring.settings().backend != "sqlite":
        raise NotFound("the figures of a deployed stack are in CloudWatch, namespace cronhook")
    from chalicelib import metrics

    return Response(
        body=metrics.REGISTRY.text(),
        status_code=200,
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )


@endpoint("/openapi.json", ["GET"], None)
def openapi(request: Request) -> dict[str, Any]:
    from chalicelib.openapi import document

    return document()


# ---- keys ---------------------------------------------------------------------------------


@endpoint("/keys", ["POST"], "admin")
def create_key(principal: auth.Principal, request: Request) -> Response:
    full, key = service().create_key(principal.account_id, body(request))
    return _reply({"key": full, **auth.key_to_api(key)}, 201)


@endpoint("/keys", ["GET"], "admin")
def list_keys(principal: auth.Principal, request: Request) -> dict[str, Any]:
    return {"keys": [auth.key_to_api(k) for k in wiring.stores().keys.list(principal.account_id)]}


@endpoint("/keys/{keyId}", ["DELETE"], "admin")
def revoke_key(principal: auth.Principal, request: Request, keyId: str) -> dict[str, Any]:
    service().revoke_key(principal.account_id, keyId)
    return {}


# ---- users and sessions -------------------------------------------------------------------


def _users() -> Any:
    from chalicelib.users import Users

    return Users(wiring.stores())


def source_ip(request: Request) -> str | None:
    return ((request.context or {}).get("identity") or {}).get("sourceIp")


@endpoint("/users", ["POST"], "admin")
def create_user(principal: auth.Principal, request: Request) -> Response:
    from chalicelib.users import user_to_api

    return _reply(
        {"user": user_to_api(_users().create_user(principal.account_id, body(request)))}, 201
    )


@endpoint("/users", ["GET"], "admin")
def list_users(principal: auth.Principal, request: Request) -> dict[str, Any]:
    from chalicelib.users import user_to_api

    return {"users": [user_to_api(u) for u in _users().list_users(principal.account_id)]}


@endpoint("/users/{username}", ["DELETE"], "admin")
def delete_user(principal: auth.Principal, request: Request, username: str) -> dict[str, Any]:
    _users().delete_user(principal.account_id, username)
    return {}


@endpoint("/users/{username}/password", ["PUT"], "read")
def change_password(principal: auth.Principal, request: Request, username: str) -> dict[str, Any]:
    """An admin sets any user's password; a user its own (with `currentPassword`)."""
    _users().change_password(principal, username, body(request))
    return {}


@endpoint("/sessions", ["POST"], None)
def sign_in(request: Request) -> Response:
    payload = body(request)
    if not isinstance(payload, dict):
        raise ValidationError('send {"username": ..., "password": ...}', field="body")
    signed = _users().sign_in(
        payload.get("username"), payload.get("password"), source_ip(request), renew=True
    )
    from chalicelib.users import user_to_api

    answer = {"token": signed.token, "expiresAt": signed.session.expires_at}
    return _reply({**answer, "user": user_to_api(signed.user)}, 201)


@endpoint("/sessions/current", ["GET"], auth.ANY)
def current_session(principal: auth.Principal, request: Request) -> dict[str, Any]:
    """Who the session that authenticates this call is, and until when it lasts (an API key is
    not a session: 400)."""
    from chalicelib.users import user_to_api

    token = auth.presented_key(request.headers) or ""
    if principal.username is None:
        raise BadRequest("this call is authenticated with an API key, not a session")
    session, user = _users().session_of(token)
    return {"user": user_to_api(user), "expiresAt": session.expires_at}


@endpoint("/sessions/current", ["DELETE"], auth.ANY)
def sign_out(principal: auth.Principal, request: Request) -> dict[str, Any]:
    """Ends the session that authenticates this call, whatever its user's scopes (an API key is
    not a session: 400)."""
    token = auth.presented_key(request.headers) or ""
    if principal.username is None or not _users().sign_out(token):
        raise BadRequest("this call is authenticated with an API key, not a session")
    return {}


# ---- jobs ---------------------------------------------------------------------------------


@endpoint("/jobs", ["GET"], "read")
def list_jobs(principal: auth.Principal, request: Request) -> Any:
    svc = service()
    now = svc.clock()
    params: Mapping[str, str] = request.query_params or {}
    title = params.get("title")
    rows = [jobs.summary(j, now) for j in svc.list_jobs(principal.account_id, title)]
    return _listing(request, "jobs", rows, {"someFailed": False})


def _strict(request: Request, principal: auth.Principal) -> bool:
    """Whether an unknown job field is a 400 (`?strict=true`, or the key's setting) rather than
    ignored as cron-job.org ignores it."""
    params: Mapping[str, str] = request.query_params or {}
    given = params.get("strict")
    if given not in (None, "", "true", "false"):
        raise ValidationError("must be true or false", field="strict")
    return principal.strict or given == "true"


def _ignored(ignored: tuple[str, ...], principal: auth.Principal, what: str) -> dict[str, str]:
    """The header naming the fields a job call ignored (each percent-encoded, so that a comma,
    a line break or a non-ASCII key stays one name), and a log line saying so."""
    if not ignored:
        return {}
    names = [quote(name, safe="") for name in ignored[:MAX_IGNORED_LISTED]]
    if len(ignored) > MAX_IGNORED_LISTED:
        names.append(f"+{len(ignored) - MAX_IGNORED_LISTED}")  # "+" of a name is "%2B"
    listed = ",".join(names)
    app.log.info("%s by key %s ignored unknown fields: %s", what, principal.key_id, listed)
    return {IGNORED_HEADER: listed}


@endpoint("/jobs", ["PUT", "POST"], "write")
def create_job(principal: auth.Principal, request: Request) -> Response:
    added = service().add_job(
        principal.account_id,
        _wrapped(body(request), "job"),
        principal.label,
        strict=_strict(request, principal),
    )
    service().fire_soon(added.job, _dispatcher)
    headers = _ignored(added.ignored, principal, f"job {added.job.job_id} created")
    return _reply({"jobId": added.job.job_id, "signingSecret": added.secret}, headers=headers)


@endpoint("/jobs/{jobId}", ["GET"], "read")
def get_job(principal: auth.Principal, request: Request, jobId: str) -> dict[str, Any]:
    job = service().get_job(principal.account_id, _id(jobId, "job"))
    return {"jobDetails": jobs.details(job, service().clock())}


@endpoint("/jobs/{jobId}", ["PATCH"], "write")
def update_job(principal: auth.Principal, request: Request, jobId: str) -> Response:
    edited = service().edit_job(
        principal.account_id,
        _id(jobId, "job"),
        _wrapped(body(request), "job"),
        principal.label,
        strict=_strict(request, principal),
    )
    service().fire_soon(edited.job, _dispatcher)
    headers = _ignored(edited.ignored, principal, f"job {edited.job.job_id} updated")
    # cron-job.org answers {}; a URL moved to another origin says which credentials it dropped.
    return _reply({"cleared": list(edited.cleared)} if edited.cleared else {}, headers=headers)


@endpoint("/jobs/{jobId}", ["DELETE"], "write")
def delete_job(principal: auth.Principal, request: Request, jobId: str) -> dict[str, Any]:
    service().delete_job(principal.account_id, _id(jobId, "job"))
    return {}


@endpoint("/jobs/{jobId}/pause", ["POST"], "write")
def pause_job(principal: auth.Principal, request: Request, jobId: str) -> dict[str, Any]:
    """Cloud Scheduler's pause: the job stops firing until resumed (PATCH enabled=false)."""
    job = service().update_job(
        principal.account_id, _id(jobId, "job"), {"enabled": False}, principal.label
    )
    return {"jobDetails": jobs.details(job, service().clock())}


@endpoint("/jobs/{jobId}/resume", ["POST"], "write")
def resume_job(principal: auth.Principal, request: Request, jobId: str) -> dict[str, Any]:
    """Cloud Scheduler's resume: the job fires again from its next slot, its failure streak
    cleared (also after it was disabled for failing)."""
    job = service().update_job(
        principal.account_id, _id(jobId, "job"), {"enabled": True}, principal.label
    )
    service().fire_soon(job, _dispatcher)
    return {"jobDetails": jobs.details(job, service().clock())}


@endpoint("/jobs/{jobId}/signing-secret", ["POST"], "write")
def rotate_signing_secret(
    principal: auth.Principal, request: Request, jobId: str
) -> dict[str, Any]:
    secret, until = service().rotate_signing_secret(principal.account_id, _id(jobId, "job"))
    return {"signingSecret": secret, "previousValidUntil": until}


# ---- folders ------------------------------------------------------------------------------


@endpoint("/folders", ["GET"], "read")
def list_folders(principal: auth.Principal, request: Request) -> dict[str, Any]:
    folders = service().list_folders(principal.account_id)
    return {"folders": [{"folderId": f, "title": t} for f, t in sorted(folders.items())]}


@endpoint("/folders", ["PUT", "POST"], "write")
def create_folder(principal: auth.Principal, request: Request) -> dict[str, Any]:
    folder_id = service().create_folder(principal.account_id, _wrapped(body(request), "folder"))
    return {"folderId": folder_id}


@endpoint("/folders/{folderId}", ["GET"], "read")
def get_folder(principal: auth.Principal, request: Request, folderId: str) -> dict[str, Any]:
    folder_id = _id(folderId, "folder")
    title = service().get_folder(principal.account_id, folder_id)
    return {"folderDetails": {"folderId": folder_id, "title": title}}


@endpoint("/folders/{folderId}", ["PATCH"], "write")
def update_folder(principal: auth.Principal, request: Request, folderId: str) -> dict[str, Any]:
    payload = _wrapped(body(request), "folder")
    service().update_folder(principal.account_id, _id(folderId, "folder"), payload)
    return {}


@endpoint("/folders/{folderId}", ["DELETE"], "write")
def delete_folder(principal: auth.Principal, request: Request, folderId: str) -> dict[str, Any]:
    service().delete_folder(principal.account_id, _id(folderId, "folder"))
    return {}


# ---- scheduler switch and schedule preview ------------------------------------------------


@endpoint("/scheduler", ["GET"], "read")
def get_scheduler(principal: auth.Principal, request: Request) -> dict[str, Any]:
    return {"enabled": wiring.stores().state.scheduler_enabled(principal.account_id)}


@endpoint("/scheduler", ["PUT"], "admin")
def set_scheduler(principal: auth.Principal, request: Request) -> dict[str, Any]:
    payload = body(request)
    for job in service().set_scheduler(principal.account_id, payload):
        service().fire_soon(job, _dispatcher)  # a slot of this very minute
    return {"enabled": payload["enabled"]}


@endpoint("/schedules/preview", ["POST"], "read")
def preview_schedule(principal: auth.Principal, request: Request) -> dict[str, Any]:
    return service().preview(body(request))


# ---- runs and history ---------------------------------------------------------------------


def _dispatcher() -> Any:
    from chalicelib import dispatch

    return dispatch.from_wiring()


@endpoint("/jobs/{jobId}/run", ["POST"], "run")
def run_job(principal: auth.Principal, request: Request, jobId: str) -> Response:
    run_id = service().run_now(
        principal.account_id, _id(jobId, "job"), body(request), _dispatcher(), principal.label
    )
    return _reply({"runId": run_id}, 202)


@endpoint("/runs/{runId}/abort", ["POST"], "run")
def abort_run(principal: auth.Principal, request: Request, runId: str) -> dict[str, Any]:
    run = service().abort_run(principal.account_id, runId, principal.label)
    return {"run": runs.history_item(run)}


@endpoint("/runs/{runId}", ["PATCH"], "write")
def update_run(principal: auth.Principal, request: Request, runId: str) -> dict[str, Any]:
    service().update_run(principal.account_id, runId, body(request))
    return {}


@endpoint("/jobs/{jobId}/cursor", ["POST"], "write")
def move_cursor(principal: auth.Principal, request: Request, jobId: str) -> dict[str, Any]:
    """Cronicle's time machine: the job's next slot is counted from `at`."""
    payload = body(request)
    at = payload.get("at") if isinstance(payload, dict) else None
    job = service().move_cursor(principal.account_id, _id(jobId, "job"), at, principal.label)
    return {"jobDetails": jobs.details(job, service().clock())}


@endpoint("/runs/{runId}", ["GET"], "read")
def get_run(principal: auth.Principal, request: Request, runId: str) -> dict[str, Any]:
    return {"run": runs.history_item(service().run_outcome(principal.account_id, runId))}


@endpoint("/runs", ["GET"], "read")
def list_runs(principal: auth.Principal, request: Request) -> Any:
    params: Mapping[str, str] = request.query_params or {}
    state = params.get("state", "active")
    if state != "active":
        raise ValidationError("only state=active is supported", field="state")
    rows = [runs.history_item(r) for r in service().active_runs(principal.account_id)]
    return _listing(request, "runs", rows, {})


@endpoint("/jobs/{jobId}/history", ["GET"], "read")
def job_history(principal: auth.Principal, request: Request, jobId: str) -> Any:
    svc = service()
    job = svc.get_job(principal.account_id, _id(jobId, "job"))
    limit, cursor = page_limit(request.query_params)
    page = svc.job_history(principal.account_id, job.job_id, limit, cursor)
    done = job.success_count + job.failure_count
    totals = {
        "success": job.success_count,
        "failure": job.failure_count,
        "successRate": round(100 * job.success_count / done, 2) if done else None,
    }
    rows = [runs.history_item(r) for r in page.items]
    extra = {"predictions": svc.predictions(job), "cursor": page.cursor, "totals": totals}
    return _listing(request, "history", rows, extra)


@endpoint("/jobs/{jobId}/history/{identifier}", ["GET"], "read")
def history_details(
    principal: auth.Principal, request: Request, jobId: str, identifier: str
) -> dict[str, Any]:
    run = service().get_run(principal.account_id, identifier)
    if run.job_id != _id(jobId, "job"):
        raise NotFound("history item not found")
    saved = wiring.blobs().get(run.data["responseKey"]) if run.data.get("responseKey") else None
    return {"jobHistoryDetails": runs.history_item(run, response=saved)}


@endpoint("/history", ["GET"], "read")
def account_history(principal: auth.Principal, request: Request) -> Any:
    limit, cursor = page_limit(request.query_params)
    page = service().account_history(principal.account_id, limit, cursor)
    rows = [runs.history_item(r) for r in page.items]
    return _listing(request, "history", rows, {"cursor": page.cursor})


@endpoint("/notifications", ["GET"], "read")
def get_notifications(principal: auth.Principal, request: Request) -> dict[str, Any]:
    return service().notification_settings(principal.account_id)


@endpoint("/notifications", ["PUT"], "admin")
def set_notifications(principal: auth.Principal, request: Request) -> dict[str, Any]:
    return service().set_notification_settings(principal.account_id, body(request))


@endpoint("/settings", ["GET"], "read")
def get_settings(principal: auth.Principal, request: Request) -> dict[str, Any]:
    """The account's settings: the Volt MX Foundry base URL its service jobs are called on."""
    from chalicelib.dialects import voltmx_foundry

    return voltmx_foundry.account_settings(service(), principal.account_id)


@endpoint("/settings", ["PUT"], "admin")
def set_settings(principal: auth.Principal, request: Request) -> dict[str, Any]:
    """A new `voltmxBaseUrl` re-points the account's Volt MX service jobs (listed back)."""
    from chalicelib.dialects import voltmx_foundry

    return voltmx_foundry.set_account_settings(
        service(), principal.account_id, body(request), principal.label
    )


# ---- heartbeat monitors (chalicelib/monitors.py, chalicelib/monitoring.py) ---------------


def _monitors() -> Any:
    from chalicelib.monitoring import Monitors
    from chalicelib.notify import Notifier

    stores, settings = wiring.stores(), wiring.settings()
    return Monitors(stores, Notifier(stores, settings, ses=wiring.ses))


def _public_base(request: Request) -> str:
    """The API's address as this request reached it (scheme, host and stage), for the URLs
    cronhook hands out; CRONHOOK_PUBLIC_URL, when set, wins."""
    configured = wiring.settings().public_url
    if configured:
        return configured.rstrip("/")
    headers = request.headers
    scheme = headers.get("x-forwarded-proto", "http").split(",")[0].strip() or "http"
    host = headers.get("host", "localhost")
    context = request.context or {}
    stage = str(context.get("stage") or "")
    prefixed = stage and str(context.get("path", "")).startswith(f"/{stage}/")
    return f"{scheme}://{host}" + (f"/{stage}" if prefixed else "")


def _monitor_view(monitor: Any) -> dict[str, Any]:
    return monitors.view(monitor, time.time())


@endpoint("/monitors", ["GET"], "read")
def list_monitors(principal: auth.Principal, request: Request) -> Any:
    rows = [_monitor_view(m) for m in _monitors().list(principal.account_id)]
    return _listing(request, "monitors", rows, {})


@endpoint("/monitors", ["PUT", "POST"], "write")
def create_monitor(principal: auth.Principal, request: Request) -> dict[str, Any]:
    monitor, token = _monitors().create(principal.account_id, _wrapped(body(request), "monitor"))
    return {"monitorId": monitor.monitor_id, "pingUrl": f"{_public_base(request)}/ping/{token}"}


@endpoint("/monitors/{monitorId}", ["GET"], "read")
def get_monitor(principal: auth.Principal, request: Request, monitorId: str) -> dict[str, Any]:
    monitor = _monitors().get(principal.account_id, _id(monitorId, "monitor"))
    return {"monitor": _monitor_view(monitor)}


@endpoint("/monitors/{monitorId}", ["PATCH"], "write")
def update_monitor(principal: auth.Principal, request: Request, monitorId: str) -> dict[str, Any]:
    delta = _wrapped(body(request), "monitor")
    monitor = _monitors().update(principal.account_id, _id(monitorId, "monitor"), delta)
    return {"monitor": _monitor_view(monitor)}


@endpoint("/monitors/{monitorId}", ["DELETE"], "write")
def delete_monitor(principal: auth.Principal, request: Request, monitorId: str) -> dict[str, Any]:
    _monitors().delete(principal.account_id, _id(monitorId, "monitor"))
    return {}


@endpoint("/monitors/{monitorId}/pause", ["POST"], "write")
def pause_monitor(principal: auth.Principal, request: Request, monitorId: str) -> dict[str, Any]:
    monitor = _monitors().pause(principal.account_id, _id(monitorId, "monitor"))
    return {"monitor": _monitor_view(monitor)}


@endpoint("/monitors/{monitorId}/resume", ["POST"], "write")
def resume_monitor(principal: auth.Principal, request: Request, monitorId: str) -> dict[str, Any]:
    monitor = _monitors().resume(principal.account_id, _id(monitorId, "monitor"))
    return {"monitor": _monitor_view(monitor)}


@endpoint("/monitors/{monitorId}/ping-url", ["POST"], "write")
def rotate_ping_url(principal: auth.Principal, request: Request, monitorId: str) -> dict[str, Any]:
    _, token = _monitors().rotate_token(principal.account_id, _id(monitorId, "monitor"))
    return {"pingUrl": f"{_public_base(request)}/ping/{token}"}


@endpoint("/monitors/{monitorId}/pings", ["GET"], "read")
def list_pings(principal: auth.Principal, request: Request, monitorId: str) -> Any:
    limit, cursor = page_limit(request.query_params)
    monitor_id = _id(monitorId, "monitor")
    page = _monitors().pings(principal.account_id, monitor_id, limit, cursor)
    rows = [{"pingId": p.ping_id, **p.data} for p in page.items]
    return _listing(request, "pings", rows, {"cursor": page.cursor})


def _ping(request: Request, token: str, suffix: str | None) -> Response:
    from chalicelib.monitoring import Incoming

    raw = request.raw_body or b""
    raw = raw.encode() if isinstance(raw, str) else raw
    if len(raw) > wiring.settings().max_request_bytes:
        raise PayloadTooLarge(f"request body over {wiring.settings().max_request_bytes} bytes")
    identity = (request.context or {}).get("identity") or {}
    incoming = Incoming(
        token=token,
        suffix=suffix,
        method=request.method,
        body=raw,
        remote_addr=identity.get("sourceIp"),
        user_agent=request.headers.get("user-agent"),
    )
    _monitors().receive(incoming)
    return Response(body="OK", status_code=200, headers={"Content-Type": "text/plain"})


def _headless(request: Request, answer: Callable[[], Response]) -> Response:
    """The answer, without a body for HEAD (errors too): a client reads none after a HEAD, and
    a body sent anyway would be read as the start of the next answer on its connection."""
    if request.method != "HEAD":
        return answer()
    try:
        status, headers = answer().status_code, {"Content-Type": "text/plain"}
    except CronhookError as err:
        status, headers = err.status, {"Content-Type": JSON}
        if getattr(err, "retry_after", None) is not None:
            headers["Retry-After"] = str(getattr(err, "retry_after", 1))
    return Response(body="", status_code=status, headers={**headers})


@endpoint("/ping/{token}", ["GET", "HEAD", "POST"], None)
def ping(request: Request, token: str) -> Response:
    """A heartbeat: no key, the token is the credential (healthchecks.io's ping API)."""
    return _headless(request, lambda: _ping(request, token, None))


@endpoint("/ping/{token}/{kind}", ["GET", "HEAD", "POST"], None)
def ping_kind(request: Request, token: str, kind: str) -> Response:
    """`start`, `fail`, or an exit status (0 = success, 1-255 = failure)."""
    return _headless(request, lambda: _ping(request, token, kind))


# ---- callbacks of long jobs (chalicelib/callbacks.py) -------------------------------------


@endpoint("/callbacks/{ref}", ["POST"], None)
def job_callback(request: Request, ref: str) -> Any:
    """A long job's target reports its outcome; the signed, single-use URL is the credential."""
    from chalicelib.dispatch import awaiting

    run = awaiting.receive(_dispatcher(), ref, body(request))
    (run,) = service().show_urls(run.account_id, [run])
    if run.state in runs.ACTIVE_STATES:  # came before its call's 202: kept for it
        return Response(body={"run": runs.history_item(run)}, status_code=202)
    return {"run": runs.history_item(run)}


# ---- Cronicle's API ----------------------------------------------------------------------


@app.route(
    "/api/app/{name}/v1", methods=["GET", "POST", "OPTIONS"], content_types=["*/*"], cors=False
)
def cronicle_api(name: str) -> Response:
    """Cronicle's JSON API over the same use cases (chalicelib/dialects/cronicle.py)."""
    from chalicelib.dialects import cronicle

    request = app.current_request
    assert request is not None
    identity = (request.context or {}).get("identity") or {}
    raw = request.raw_body or b""
    incoming = cronicle.Incoming(
        method=request.method,
        query=dict(request.query_params or {}),
        headers=dict(request.headers),
        body=raw.encode() if isinstance(raw, str) else raw,
        source_ip=identity.get("sourceIp"),
    )
    answer = cronicle.handle(name, incoming, service, _dispatcher)
    return Response(body=answer.body, status_code=answer.status, headers={**answer.headers})


# ---- other schedulers' APIs (chalicelib/dialects) -----------------------------------------


def _raw(request: Request) -> bytes:
    raw = request.raw_body or b""
    return raw.encode() if isinstance(raw, str) else raw


@endpoint("/api/{call}", ["GET", "POST"], None)
def setcronjob(request: Request, call: str) -> Response:
    """SetCronJob's `/api/{target}.{action}`: its own envelope and codes, always JSON."""
    from chalicelib.dialects import setcronjob as dialect

    status, answer = dialect.handle(
        dialect.Request(
            call,
            request.query_params,
            _raw(request),
            request.headers.get("content-type", ""),
            source_ip(request),
        ),
        service(),
        _dispatcher,
    )
    return _reply(answer, status)


def _visualcron(request: Request, fmt: str, method: str) -> Response:
    """VisualCron's Web API: text, XML or JSON; its own error shape (chalicelib/dialects)."""
    from chalicelib.dialects import visualcron as dialect

    answer = dialect.handle(
        dialect.Request(
            fmt,
            method,
            request.query_params,
            _raw(request),
            request.headers.get("content-type", ""),
            source_ip(request),
        ),
        service(),
        _dispatcher,
    )
    headers: dict[str, str | list[str]] = {
        "Content-Type": answer.content_type,
        "Cache-Control": "no-store",
        **answer.headers,
    }
    return Response(body=answer.body, status_code=answer.status, headers=headers)


# VisualCron's path in any case (`/VisualCron` as VisualCron prints it, `/visualcron` as its
# examples write it, and any other casing its server takes), the format and the method too. A
# method is one segment (`logon`) or two (`job/list`). A path whose first segment is anything
# else is no route (the static routes, matched first, are not reached through these).
@endpoint("/{product}/{fmt}/{method}", ["GET", "POST"], None)
def visualcron(request: Request, product: str, fmt: str, method: str) -> Response:
    _visualcron_only(product)
    return _visualcron(request, fmt, method)


@endpoint("/{product}/{fmt}/{group}/{method}", ["GET", "POST"], None)
def visualcron_job(request: Request, product: str, fmt: str, group: str, method: str) -> Response:
    _visualcron_only(product)
    return _visualcron(request, fmt, f"{group}/{method}")


def _visualcron_only(product: str) -> None:
    if product.lower() != "visualcron":
        raise NotFound(NO_SUCH_ROUTE["error"]["message"])


def _voltmx(request: Request, path: str | None) -> Response:
    """Volt MX Foundry's job APIs: its envelope and statuses (chalicelib/dialects/voltmx.py)."""
    from chalicelib.dialects import voltmx as dialect

    call = dialect.Request(
        request.method,
        path or "",
        {k.lower(): v for k, v in request.headers.items()},
        _raw(request),
        request.headers.get("content-type", ""),
        source_ip(request),
    )
    if path is None:  # the accounts login
        answer = dialect.login(call, service())
    else:
        answer = dialect.handle(call, service(), _dispatcher)
    return _reply(answer.body, answer.status, answer.headers)


VOLTMX_METHODS = ["GET", "POST", "PUT", "DELETE"]


@endpoint("/authService/accounts/login", ["GET", "POST"], None)
def voltmx_login(request: Request) -> Response:
    return _voltmx(request, None)


# A job path is one segment (`job`, `job5`), two (`job/5`, `history/5`) or three (`job/run/5`).
@endpoint("/admin/api/jobs/{ref}", VOLTMX_METHODS, None)
def voltmx_jobs(request: Request, ref: str) -> Response:
    return _voltmx(request, ref)


@endpoint("/admin/api/jobs/{ref}/{arg}", VOLTMX_METHODS, None)
def voltmx_job(request: Request, ref: str, arg: str) -> Response:
    return _voltmx(request, f"{ref}/{arg}")


@endpoint("/admin/api/jobs/{ref}/{arg}/{more}", VOLTMX_METHODS, None)
def voltmx_job_run(request: Request, ref: str, arg: str, more: str) -> Response:
    return _voltmx(request, f"{ref}/{arg}/{more}")


# ---- the tick and the worker --------------------------------------------------------------


@app.schedule(Rate(1, unit=Rate.MINUTES), name="tick")
def tick(event: Any) -> dict[str, int]:
    from chalicelib import dispatch

    report = dispatch.tick(time.time())
    app.log.info("tick %s", json.dumps(report, sort_keys=True))
    return report


@app.on_sqs_message(
    queue=os.environ.get("CRONHOOK_QUEUE", "cronhook-dev-dispatch"), batch_size=10, name="worker"
)
def worker(event: SQSEvent) -> dict[str, Any]:
    """Lambda's partial batch response (the event source reports batch item failures): only the
    messages whose tasks failed come back; the rest of the batch is done."""
    from chalicelib import dispatch

    records = list(event)
    done = dispatch.work_batch([record.body for record in records], time.time())
    app.log.info("worker %s", json.dumps(done.report, sort_keys=True))
    failed = [records[n].to_dict().get("messageId", "") for n in done.failed]
    # Lambda reads `batchItemFailures`; `report` is for the log and the tests.
    return {
        "batchItemFailures": [{"itemIdentifier": message} for message in failed],
        "report": done.report,
    }


# ---- dashboard ----------------------------------------------------------------------------
# The single-page dashboard (chalicelib/dashboard): static files under a strict CSP, no key
# needed to load them; the page signs in client-side with a pasted key and calls the API above.


def _static(request: Request, name: str | None) -> Response:
    from chalicelib import dashboard

    served = dashboard.serve(name, request.headers.get("if-none-match"))
    if served is None:
        raise NotFound("no such asset")
    status, text, headers = served
    return Response(body=text, status_code=status, headers={**headers})


@endpoint("/", ["GET"], None)
def dashboard_page(request: Request) -> Response:
    return _static(request, None)


@endpoint("/assets/{name}", ["GET"], None)
def dashboard_asset(request: Request, name: str) -> Response:
    return _static(request, name)
