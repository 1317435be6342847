"""The OpenAPI 3.1 description of cronhook's API; a test keeps it equal to the app's routes."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from chalicelib import __version__, jobs, openapi_monitors, patterns, runs
from chalicelib.openapi_schemas import closed, schemas
from chalicelib.openapi_schemas import obj as _obj
from chalicelib.openapi_schemas import ref as _ref

_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_STR = {"type": "string"}
_INT_LIST = {"type": "array", "items": _INT}


def _query(pattern: str) -> dict[str, Any]:
    """A query parameter's value: empty (the default) or one matching `pattern`."""
    return {"type": "string", "pattern": f"^(?:|{pattern})$"}


def _columns(names: Collection[str]) -> dict[str, Any]:
    """`columns=`: names of the listing's columns, each with white space around it, or none."""
    item = f"[{patterns.SPACE}]*(?:{patterns.group(sorted(map(re.escape, names)))})?"
    item += f"[{patterns.SPACE}]*"
    return _query(f"{item}(?:,{item})*")


def _char_code(low: int) -> dict[str, Any]:
    codes = [patterns.int_range(low, 0xD7FF), patterns.int_range(0xE000, 0x10FFFF)]
    return _query("0*" + patterns.group(codes))


_ERRORS = {
    "400": "Invalid input; the error names the field",
    "401": "Missing, unknown or revoked API key",
    "403": "Key lacks the scope, or the caller's IP is not allowed",
    "404": "Not found (or another account's)",
    "409": "Conflict",
    "413": "Request body too large",
    "429": "Rate limit exceeded; see Retry-After",
    "500": "Internal error",
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _metrics() -> dict[str, Any]:
    op = _op(
        "The tick's and the worker's figures as Prometheus text (runs started, failed, lost, "
        "retries, claims lost, due jobs, start lag, tick duration). `make run` only: deployed, "
        "a 404 says they are in CloudWatch, namespace cronhook",
        "read",
        _obj({}),
    )
    op["responses"]["200"] = {
        "description": "Prometheus text exposition format 0.0.4",
        "content": {"text/plain": {"schema": _STR}},
    }
    op["responses"]["404"] = {"description": "A deployed stack", **_json(_ref("Error"))}
    return op


def _op(
    summary: str,
    scope: str | None,
    response: dict[str, Any],
    *,
    request: dict[str, Any] | None = None,
    request_required: bool = True,
    params: list[str] = (),  # type: ignore[assignment]
    status: str = "200",
    listing: Collection[str] = (),
    paged: bool = False,
    query: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {status: {"description": "OK", **_json(response)}},
    }
    if listing:  # format=text or xml
        op["responses"][status]["content"].update(
            {"text/plain": {"schema": _STR}, "application/xml": {"schema": _STR}}
        )
    if scope == "any":
        op["description"] = "Needs an API key or a session, with any scope."
    elif scope:
        op["description"] = f"Needs an API key with the `{scope}` scope (or `admin`)."
    if scope:
        op["security"] = [{"bearer": []}, {"apiKey": []}]
        for code, text in _ERRORS.items():
            if code in ("400", "409", "413") and request is None and not params and not listing:
                continue
            op["responses"][code] = {"description": text, **_json(_ref("Error"))}
    else:
        op["security"] = []
    parameters = [{"name": p, "in": "path", "required": True, "schema": _STR} for p in params]
    named: list[tuple[str, str, dict[str, Any]]] = []
    if listing:
        named += [
            (
                "format",
                "json (default), text or xml",
                _query(patterns.words(("json", "text", "xml"))),
            ),
            (
                "columns",
                "comma-separated field names (dotted for nested); another is refused with 400",
                _columns(listing),
            ),
            (
                "includeheaders",
                "false drops the header line of text output",
                _query(patterns.words(("true", "false"))),
            ),
            ("fieldSeparator", "character code, default 44", _char_code(1)),
            ("textQualifier", "character code, default 34; 0 for none", _char_code(0)),
            ("lineBreak", "character code, default 10 (0 too)", _char_code(0)),
        ]
    if paged:
        named += [
            (
                "limit",
                "items per page, 1-100 (default 25)",
                _query("0*" + patterns.int_range(1, 100)),
            ),
            (
                "cursor",
                "the `cursor` of the previous page of this listing; others are refused",
                {"type": "string", "pattern": "^[A-Za-z0-9_=-]*$"},
            ),
        ]
    named += [
        (name, schema.pop("description", ""), schema) for name, schema in (query or {}).items()
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "description": text, "schema": schema}
        for name, text, schema in named
    ]
    if parameters:
        op["parameters"] = parameters
    if request is not None:
        op["requestBody"] = {"required": request_required, **_json(request)}
    return op


def _strict() -> dict[str, dict[str, Any]]:
    return {
        "strict": {
            **_query(patterns.words(("true", "false"))),
            "description": "true: an unknown field is a 400 naming it (as it always is for a "
            "key created with strict), instead of ignored as cron-job.org ignores it",
        }
    }


def _ignoring(op: dict[str, Any]) -> dict[str, Any]:
    """A cron-job.org job write: its 200 names the unknown fields it ignored, if any."""
    op["responses"]["200"]["headers"] = {
        "X-Cronhook-Ignored-Fields": {
            "description": "Sent when fields were ignored: their dotted names (schedule.every), "
            "comma-separated, each percent-encoded; past 50 names a last entry +N counts the rest",
            "schema": _STR,
        }
    }
    return op


def _ints(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


def _rows(name: str) -> dict[str, Any]:
    """A listing's items: whole, or cut down to the fields its `columns` parameter names."""
    chosen = _obj({}, description="Only the fields named in `columns` (dotted for nested ones).")
    return {"type": "array", "items": {"anyOf": [_ref(name), chosen]}}


def _cronicle() -> dict[str, Any]:
    """Cronicle's API: every answer is HTTP 200, success or error, as Cronicle answers."""
    from chalicelib.dialects.cronicle import CALLS

    answer = {
        "description": "`code` 0 and the call's fields, or `code` a word (session, api, event, "
        "job) and `description`; JavaScript calling `callback` for JSONP",
        "content": {
            "application/json": {"schema": _ref("CronicleAnswer")},
            "text/javascript": {"schema": _STR},
        },
    }
    query = [
        ("api_key", "the API key (or X-API-Key, or api_key in the body)"),
        ("callback", "JSONP: a JavaScript name such as cb or app.got"),
        ("id", "an event's id (a job id) or a job's (a run id)"),
        ("title", "an event's exact title (get_event, run_event)"),
        ("offset", "paging: rows to skip"),
        ("limit", "paging: rows to answer"),
    ]
    parameters: list[dict[str, Any]] = [
        {
            "name": "name",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": sorted(CALLS)},
            "description": "The call; another answers code `api`, Unsupported API.",
        }
    ]
    parameters += [
        {"name": n, "in": "query", "required": False, "description": d, "schema": _STR}
        for n, d in query
    ]

    def op(method: str, body: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "summary": f"Cronicle's API ({method}): see docs/coming-from-cronicle.md",
            "description": "The key's scope decides what it may call: read (get_*), write "
            "(create_events, edit_events, delete_events), run (run_events, abort_events), admin "
            "(state_update).",
            "security": [{"bearer": []}, {"apiKey": []}, {"cronicleKey": []}],
            "parameters": parameters,
            "responses": {"200": answer},
        }
        if body:
            out["requestBody"] = {
                "required": False,
                "content": {
                    "application/json": {"schema": _obj({})},
                    "application/x-www-form-urlencoded": {"schema": _obj({})},
                },
            }
        return out

    preflight = {
        "summary": "CORS preflight for Cronicle's API",
        "security": [],
        "parameters": [{**parameters[0], "schema": _STR, "description": "Any name"}],
        "responses": {"200": {"description": "OK", **_json(_ref("CronicleAnswer"))}},
    }
    return {"get": op("GET", False), "post": op("POST", True), "options": preflight}


def _paths() -> dict[str, Any]:
    from chalicelib.openapi_dialects import paths as dialect_paths
    from chalicelib.openapi_users import paths as user_paths

    # The {"job": ...} and {"folder": ...} wrappers ignore other fields, as cron-job.org does.
    job_body = _obj({"job": _ref("JobInput")}, ["job"])
    job_delta = _obj({"job": _ref("JobDelta")}, ["job"])
    folder_body = _obj({"folder": _ref("FolderInput")}, ["folder"])
    folder_delta = _obj({"folder": _ref("FolderDelta")}, ["folder"])
    empty = _obj({})
    nothing = {"type": "null"}
    run_now = schemas()["JobInput"]["properties"]
    email = {
        "type": "string",
        "maxLength": 254,
        "pattern": patterns.EMAIL,
    }
    return {
        **user_paths(),
        **dialect_paths(),
        "/health": {"get": _op("Service health", None, _obj({"status": _STR, "version": _STR}))},
        "/metrics": {"get": _metrics()},
        "/openapi.json": {"get": _op("This document", None, _obj({}))},
        "/": {
            "get": {
                "summary": "The dashboard: a single page that signs in with a pasted API key",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The page, under a strict Content-Security-Policy",
                        "content": {"text/html": {"schema": _STR}},
                    },
                    "304": {"description": "Unchanged since the ETag in If-None-Match"},
                },
            }
        },
        "/assets/{name}": {
            "get": {
                "summary": "The dashboard's script (app.js) and stylesheet (app.css)",
                "security": [],
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": _STR}],
                "responses": {
                    "200": {
                        "description": "The file",
                        "content": {
                            "text/javascript": {"schema": _STR},
                            "text/css": {"schema": _STR},
                        },
                    },
                    "304": {"description": "Unchanged since the ETag in If-None-Match"},
                    "404": {"description": "No such asset", **_json(_ref("Error"))},
                },
            }
        },
        "/keys": {
            "post": _op(
                "Create an API key (the key is shown only in this response)",
                "admin",
                {"allOf": [_ref("Key"), _obj({"key": _STR}, ["key"])]},
                request={"anyOf": [_ref("KeyInput"), nothing]},
                request_required=False,
                status="201",
            ),
            "get": _op(
                "List the account's API keys (no secrets)",
                "admin",
                _obj({"keys": {"type": "array", "items": _ref("Key")}}, ["keys"]),
            ),
        },
        "/keys/{keyId}": {"delete": _op("Revoke an API key", "admin", empty, params=["keyId"])},
        "/jobs": {
            "get": _op(
                "List jobs",
                "read",
                _obj({"jobs": _rows("Job"), "someFailed": _BOOL}),
                listing=jobs.SUMMARY_COLUMNS,
                query={"title": {**_STR, "description": "only the jobs titled exactly so"}},
            ),
            "put": _ignoring(
                _op(
                    "Create a job",
                    "write",
                    _obj({"jobId": _INT, "signingSecret": _STR}),
                    request=job_body,
                    query=_strict(),
                )
            ),
            "post": _ignoring(
                _op(
                    "Create a job",
                    "write",
                    _obj({"jobId": _INT, "signingSecret": _STR}),
                    request=job_body,
                    query=_strict(),
                )
            ),
        },
        "/jobs/{jobId}": {
            "get": _op(
                "Job details", "read", _obj({"jobDetails": _ref("DetailedJob")}), params=["jobId"]
            ),
            "patch": _ignoring(
                _op(
                    "Update a job with a delta; a URL moved to another origin drops the stored "
                    "password and secret headers the delta does not give again, and says so",
                    "write",
                    _obj(
                        {
                            "cleared": {
                                "type": "array",
                                "items": {"type": "string"},
                                "description": "The fields of the credentials dropped",
                            }
                        },
                        required=[],
                    ),
                    request=job_delta,
                    params=["jobId"],
                    query=_strict(),
                )
            ),
            "delete": _op("Delete a job", "write", empty, params=["jobId"]),
        },
        "/jobs/{jobId}/pause": {
            "post": _op(
                "Pause the job: it stops firing until resumed (as PATCH enabled=false)",
                "write",
                _obj({"jobDetails": _ref("DetailedJob")}),
                params=["jobId"],
            )
        },
        "/jobs/{jobId}/resume": {
            "post": _op(
                "Resume the job: it fires again from its next slot, its failure streak cleared",
                "write",
                _obj({"jobDetails": _ref("DetailedJob")}),
                params=["jobId"],
            )
        },
        "/jobs/{jobId}/signing-secret": {
            "post": _op(
                "Rotate the job's signing secret (the old one signs too for 24 h)",
                "write",
                _obj({"signingSecret": _STR, "previousValidUntil": _INT}),
                params=["jobId"],
            )
        },
        "/jobs/{jobId}/run": {
            "post": _op(
                "Run the job now, optionally with its own URL, method, timeout, headers (added "
                "to the job's) or body, for this run only; each checked as on a job (a job that "
                "sends a stored password calls only its host)",
                "run",
                _obj({"runId": _STR}),
                request={
                    "anyOf": [
                        closed(
                            {
                                "url": {"anyOf": [_ref("Url"), nothing]},
                                "requestMethod": {"anyOf": [run_now["requestMethod"], nothing]},
                                "requestTimeout": {"anyOf": [_ints(1, 300), nothing]},
                                "extendedData": {"anyOf": [_ref("ExtendedData"), nothing]},
                            }
                        ),
                        nothing,
                    ]
                },
                request_required=False,
                params=["jobId"],
                status="202",
            )
        },
        "/jobs/{jobId}/history": {
            "get": _op(
                "The job's runs planned up to now, newest first, and its next 3 runs",
                "read",
                _obj(
                    {
                        "history": _rows("HistoryItem"),
                        "predictions": _INT_LIST,
                        "cursor": {"type": ["string", "null"]},
                        "totals": _obj(
                            {
                                "success": _INT,
                                "failure": _INT,
                                "successRate": {"type": ["number", "null"]},
                            }
                        ),
                    }
                ),
                params=["jobId"],
                listing=runs.HISTORY_COLUMNS,
                paged=True,
            )
        },
        "/jobs/{jobId}/history/{identifier}": {
            "get": _op(
                "One run with its saved headers and body",
                "read",
                _obj({"jobHistoryDetails": _ref("HistoryItem")}),
                params=["jobId", "identifier"],
            )
        },
        "/history": {
            "get": _op(
                "Runs of every job of the account planned up to now, newest first",
                "read",
                _obj(
                    {
                        "history": _rows("HistoryItem"),
                        "cursor": {"type": ["string", "null"]},
                    }
                ),
                listing=runs.HISTORY_COLUMNS,
                paged=True,
            )
        },
        "/runs/{runId}": {
            "get": _op(
                "A run's state and outcome: its latest attempt when it is retried",
                "read",
                _obj({"run": _ref("HistoryItem")}),
                params=["runId"],
            ),
            "patch": _op(
                "Change a run in flight, for that run only: its timeout (also of the call in "
                "flight), retries, retry delay, chains and notifications; 409 once it ended",
                "write",
                empty,
                request=closed(
                    {
                        "requestTimeout": _ints(1, 300),
                        "retries": _ints(0, 10),
                        "retryDelay": _ints(1, 3600),
                        "chainSuccess": run_now["chainSuccess"],
                        "chainFailure": run_now["chainFailure"],
                        "notification": closed({"onSuccess": _BOOL, "onFailure": _BOOL}),
                    }
                ),
                params=["runId"],
            ),
        },
        "/runs/{runId}/abort": {
            "post": _op(
                "Abort a run in flight: its call is cut within a second wherever it runs (a run "
                "not started yet ends at its turn, without calling); it ends `aborted`, a "
                "failure, and neither retries nor chains follow; 409 once it ended",
                "run",
                _obj({"run": _ref("HistoryItem")}),
                params=["runId"],
            )
        },
        "/api/app/{name}/v1": _cronicle(),
        "/jobs/{jobId}/cursor": {
            "post": _op(
                "Move the job's cursor (Cronicle's time machine): its next slot is counted from "
                "`at`; with catchUp the slots from `at` to now then run (each slot at most "
                "once), without it a time past means now",
                "write",
                _obj({"jobDetails": _ref("DetailedJob")}),
                request=closed(
                    {
                        "at": {
                            "anyOf": [
                                _ints(946684800, 4102444800),
                                {"type": "string", "format": "date-time"},
                            ],
                            "description": "Epoch seconds, or ISO 8601 with an offset; from "
                            "2000 to 2100",
                        }
                    },
                    ["at"],
                ),
                params=["jobId"],
            )
        },
        "/runs": {
            "get": _op(
                "Runs in flight: due and queued, running or waiting (state=active)",
                "read",
                _obj({"runs": _rows("HistoryItem")}),
                listing=runs.HISTORY_COLUMNS,
                query={"state": {"enum": ["active"], "description": "only active (default)"}},
            )
        },
        "/notifications": {
            "get": _op(
                "Where the account's notifications go", "read", _obj({"url": _STR, "email": _STR})
            ),
            "put": _op(
                "Set the notification URL and/or e-mail (a new URL gets a new signing secret)",
                "admin",
                _obj({"url": _STR, "email": _STR, "signingSecret": _STR}),
                request=closed(
                    {
                        "url": {"anyOf": [nothing, {"const": ""}, _ref("Url")]},
                        "email": {"anyOf": [nothing, {"const": ""}, email]},
                    }
                ),
            ),
        },
        "/folders": {
            "get": _op(
                "List folders",
                "read",
                _obj({"folders": {"type": "array", "items": _ref("Folder")}}),
            ),
            "put": _op("Create a folder", "write", _obj({"folderId": _INT}), request=folder_body),
            "post": _op("Create a folder", "write", _obj({"folderId": _INT}), request=folder_body),
        },
        "/folders/{folderId}": {
            "get": _op(
                "Folder details",
                "read",
                _obj({"folderDetails": _ref("Folder")}),
                params=["folderId"],
            ),
            "patch": _op(
                "Rename a folder", "write", empty, request=folder_delta, params=["folderId"]
            ),
            "delete": _op(
                "Delete a folder (its jobs move to the root)", "write", empty, params=["folderId"]
            ),
        },
        "/scheduler": {
            "get": _op("Whether the account's jobs fire", "read", _obj({"enabled": _BOOL})),
            "put": _op(
                "Switch the account's scheduler on or off",
                "admin",
                _obj({"enabled": _BOOL}),
                request=_obj({"enabled": _BOOL}, ["enabled"]),
            ),
        },
        "/schedules/preview": {
            "post": _op(
                "Describe a schedule and list its next runs",
                "read",
                _obj(
                    {
                        "valid": _BOOL,
                        "error": _obj(
                            {"code": _STR, "field": _STR, "message": _STR},
                            description="With valid false: why the schedule never fires, as "
                            "the 400 that saving it in an enabled job answers.",
                        ),
                        "description": _STR,
                        "schedule": _ref("Schedule"),
                        "next": {
                            "type": "array",
                            "items": _obj({"local": _STR, "utc": _STR, "epoch": _INT}),
                        },
                    }
                ),
                request=closed(
                    {
                        "schedule": _ref("ScheduleInput"),
                        "after": {
                            "anyOf": [
                                nothing,
                                {"type": "number"},
                                {"type": "string", "format": "date-time"},
                            ],
                            "description": "Epoch seconds or a time with offset; default now.",
                        },
                        "count": {"type": "integer", "minimum": 1, "maximum": 100},
                    }
                ),
            )
        },
    }


def document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cronhook",
            "version": __version__,
            "description": "HTTP cron jobs in cron-job.org's wire format, with history and timing.",
        },
        "paths": {**_paths(), **openapi_monitors.paths(_op)},
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "cronicleKey": {"type": "apiKey", "in": "query", "name": "api_key"},
            },
        },
    }
