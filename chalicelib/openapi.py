"""The OpenAPI 3.1 description of cronhook's API; a test keeps it equal to the app's routes."""

from __future__ import annotations

from typing import Any

from chalicelib import __version__

_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_STR = {"type": "string"}
_INT_LIST = {"type": "array", "items": _INT}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(
    properties: dict[str, Any], required: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = required
    return schema


_SCHEDULE = {
    "description": (
        "One of: cron-job.org's object (hours, mdays, minutes, months, wdays with [-1] for every), "
        '{"cron": "<5-field Unix or 6/7-field Quartz>"}, {"timing": {Cronicle timing}}, '
        '{"at": "<ISO 8601 with offset>"}; each may add timezone (IANA, default UTC), the first '
        "three expiresAt (YYYYMMDDhhmmss in the zone, 0 = never). {} means on demand only."
    ),
    "type": "object",
    "properties": {
        "timezone": _STR,
        "expiresAt": _INT,
        "hours": _INT_LIST,
        "mdays": _INT_LIST,
        "minutes": _INT_LIST,
        "months": _INT_LIST,
        "wdays": _INT_LIST,
        "cron": _STR,
        "timing": {"type": "object", "additionalProperties": _INT_LIST},
        "at": _STR,
    },
}

_JOB_INPUT = _obj(
    {
        "enabled": _BOOL,
        "title": {"type": "string", "maxLength": 255},
        "saveResponses": _BOOL,
        "url": {"type": "string", "format": "uri", "maxLength": 2048},
        "auth": _obj({"enable": _BOOL, "user": _STR, "password": _STR}),
        "notification": _obj(
            {
                "onFailure": _BOOL,
                "onFailureCount": {"type": "integer", "minimum": 1},
                "onSuccess": _BOOL,
                "onDisable": _BOOL,
                "onSslCertExpiry": _BOOL,
                "onSslCertExpirySeconds": {"type": "integer", "minimum": 0},
            }
        ),
        "extendedData": _obj(
            {"headers": {"type": "object", "additionalProperties": _STR}, "body": _STR}
        ),
        "requestTimeout": {"type": "integer", "minimum": -1, "maximum": 300},
        "redirectSuccess": _BOOL,
        "folderId": {"type": "integer", "minimum": 0},
        "schedule": _ref("Schedule"),
        "requestMethod": {
            "oneOf": [
                {"type": "integer", "minimum": 0, "maximum": 8},
                {
                    "type": "string",
                    "enum": [
                        "GET",
                        "POST",
                        "OPTIONS",
                        "HEAD",
                        "PUT",
                        "DELETE",
                        "TRACE",
                        "CONNECT",
                        "PATCH",
                    ],
                },
            ]
        },
        "retries": {"type": "integer", "minimum": 0, "maximum": 10},
        "retryDelay": {"type": "integer", "minimum": 1, "maximum": 3600},
        "catchUp": _BOOL,
        "historyStrategy": {"type": "string", "enum": ["OFF", "ERROR", "MINIMAL", "FULL"]},
        "retentionDays": {"type": "integer", "minimum": 1, "maximum": 365},
        "chainSuccess": {"type": "integer", "minimum": 0},
        "chainFailure": {"type": "integer", "minimum": 0},
        "successCodes": {"type": "array", "items": {"oneOf": [_INT, _STR]}},
        "successMatch": _STR,
        "errorMatch": _STR,
        "maxDuration": {"type": "integer", "minimum": 0, "maximum": 300000},
        "tlsVerify": _BOOL,
        "maxConcurrent": {"type": "integer", "minimum": 1, "maximum": 100},
        "queueMax": {"type": "integer", "minimum": 0, "maximum": 1000},
    },
    description="A job as sent by a client (cron-job.org's DetailedJob plus cronhook's fields).",
)

_JOB = _obj(
    {
        "jobId": _INT,
        "enabled": _BOOL,
        "title": _STR,
        "saveResponses": _BOOL,
        "url": _STR,
        "lastStatus": {"type": "integer", "minimum": 0, "maximum": 9},
        "lastDuration": _INT,
        "lastExecution": _INT,
        "sslCertExpiry": _INT,
        "nextExecution": {"type": ["integer", "null"]},
        "type": _INT,
        "requestTimeout": _INT,
        "redirectSuccess": _BOOL,
        "folderId": _INT,
        "schedule": _ref("Schedule"),
        "requestMethod": _INT,
    },
    ["jobId", "enabled", "title", "url", "schedule", "requestMethod"],
)

_DETAILED_JOB = {
    "allOf": [
        _ref("Job"),
        _obj(
            {
                **_JOB_INPUT["properties"],
                "requestMethod": _INT,
                "failureStreak": _INT,
                "successCount": _INT,
                "failureCount": _INT,
                "disabledReason": {"type": ["string", "null"]},
            }
        ),
    ]
}

_KEY = _obj(
    {
        "keyId": _STR,
        "name": _STR,
        "scopes": {
            "type": "array",
            "items": {"type": "string", "enum": ["read", "write", "run", "admin"]},
        },
        "ipAllowlist": {"type": "array", "items": _STR},
        "createdAt": _INT,
        "lastUsedAt": {"type": ["integer", "null"]},
        "revoked": _BOOL,
        "revokedAt": {"type": ["integer", "null"]},
        "prefix": _STR,
    },
    ["keyId", "scopes", "revoked"],
)

_ERROR = _obj(
    {"error": _obj({"code": _STR, "field": _STR, "message": _STR}, ["code", "message"])},
    ["error"],
)

_STATS = _obj(
    {
        k: _INT
        for k in ("nameLookup", "connect", "appConnect", "preTransfer", "startTransfer", "total")
    },
    description="Microseconds from the start of the call, as libcurl counts them.",
)

_HISTORY_ITEM = _obj(
    {
        "jobLogId": _INT,
        "jobId": _INT,
        "identifier": _STR,
        "date": _INT,
        "datePlanned": _INT,
        "jitter": _INT,
        "url": _STR,
        "duration": _INT,
        "status": {"type": "integer", "minimum": 0, "maximum": 9},
        "statusText": _STR,
        "httpStatus": _INT,
        "headers": {"type": ["string", "null"]},
        "body": {"type": ["string", "null"]},
        "stats": _ref("HistoryItemStats"),
        "sslCertExpiry": _INT,
        "state": {
            "type": "string",
            "enum": ["queued", "running", "done", "lost", "skipped", "waiting", "cancelled"],
        },
        "runId": _STR,
        "attempt": _INT,
        "trigger": _STR,
        "reason": _STR,
    },
    ["jobId", "identifier", "date", "datePlanned", "status", "stats", "state"],
)

SCHEMAS: dict[str, Any] = {
    "Schedule": _SCHEDULE,
    "JobInput": _JOB_INPUT,
    "Job": _JOB,
    "DetailedJob": _DETAILED_JOB,
    "Folder": _obj({"folderId": _INT, "title": {"type": "string", "maxLength": 128}}, ["title"]),
    "Key": _KEY,
    "HistoryItem": _HISTORY_ITEM,
    "HistoryItemStats": _STATS,
    "Error": _ERROR,
}

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


def _op(
    summary: str,
    scope: str | None,
    response: dict[str, Any],
    *,
    request: dict[str, Any] | None = None,
    params: list[str] = (),  # type: ignore[assignment]
    status: str = "200",
    listing: bool = False,
    paged: bool = False,
    query: list[str] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {status: {"description": "OK", **_json(response)}},
    }
    if scope:
        op["description"] = f"Needs an API key with the `{scope}` scope (or `admin`)."
        op["security"] = [{"bearer": []}, {"apiKey": []}]
        for code, text in _ERRORS.items():
            if code in ("400", "409", "413") and request is None and not params and not listing:
                continue
            op["responses"][code] = {"description": text, **_json(_ref("Error"))}
    else:
        op["security"] = []
    parameters = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
    ]
    if listing:
        for name, text in (
            ("format", "json (default), text or xml"),
            ("columns", "comma-separated field names (dotted for nested)"),
            ("includeheaders", "false drops the header line of text output"),
            ("fieldSeparator", "character code, default 44"),
            ("textQualifier", "character code, default 34"),
            ("lineBreak", "character code, default 10"),
        ):
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "description": text,
                    "schema": {"type": "string"},
                }
            )
    if paged:
        for name, text in (
            ("limit", "items per page, 1-100 (default 25)"),
            ("cursor", "the `cursor` of the previous page"),
        ):
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "description": text,
                    "schema": {"type": "string"},
                }
            )
    parameters.extend(
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in query
    )
    if parameters:
        op["parameters"] = parameters
    if request is not None:
        op["requestBody"] = {"required": True, **_json(request)}
    return op


def _paths() -> dict[str, Any]:
    job_body = _obj({"job": _ref("JobInput")}, ["job"])
    folder_body = _obj({"folder": _ref("Folder")}, ["folder"])
    empty = _obj({})
    return {
        "/health": {"get": _op("Service health", None, _obj({"status": _STR, "version": _STR}))},
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
                request=_obj(
                    {
                        "name": _STR,
                        "scopes": {"type": "array", "items": _STR},
                        "ipAllowlist": {"type": "array", "items": _STR},
                        "rateLimit": {"type": "number"},
                        "rateLimitBurst": {"type": "number"},
                    }
                ),
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
                _obj({"jobs": {"type": "array", "items": _ref("Job")}, "someFailed": _BOOL}),
                listing=True,
            ),
            "put": _op(
                "Create a job",
                "write",
                _obj({"jobId": _INT, "signingSecret": _STR}),
                request=job_body,
            ),
            "post": _op(
                "Create a job",
                "write",
                _obj({"jobId": _INT, "signingSecret": _STR}),
                request=job_body,
            ),
        },
        "/jobs/{jobId}": {
            "get": _op(
                "Job details", "read", _obj({"jobDetails": _ref("DetailedJob")}), params=["jobId"]
            ),
            "patch": _op(
                "Update a job with a delta", "write", empty, request=job_body, params=["jobId"]
            ),
            "delete": _op("Delete a job", "write", empty, params=["jobId"]),
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
                "Run the job now (optionally with another body or headers, for this run only)",
                "run",
                _obj({"runId": _STR}),
                request=_obj(
                    {
                        "extendedData": _obj(
                            {
                                "headers": {"type": "object", "additionalProperties": _STR},
                                "body": _STR,
                            }
                        )
                    }
                ),
                params=["jobId"],
                status="202",
            )
        },
        "/jobs/{jobId}/history": {
            "get": _op(
                "The job's runs, newest first, with the next 3 predicted runs",
                "read",
                _obj(
                    {
                        "history": {"type": "array", "items": _ref("HistoryItem")},
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
                listing=True,
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
                "Runs of every job of the account, newest first",
                "read",
                _obj(
                    {
                        "history": {"type": "array", "items": _ref("HistoryItem")},
                        "cursor": {"type": ["string", "null"]},
                    }
                ),
                listing=True,
                paged=True,
            )
        },
        "/runs/{runId}": {
            "get": _op(
                "A run's state and outcome",
                "read",
                _obj({"run": _ref("HistoryItem")}),
                params=["runId"],
            )
        },
        "/runs": {
            "get": _op(
                "Runs queued or running (state=active)",
                "read",
                _obj({"runs": {"type": "array", "items": _ref("HistoryItem")}}),
                listing=True,
                query=["state"],
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
                request=_obj({"url": _STR, "email": _STR}),
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
                "Rename a folder", "write", empty, request=folder_body, params=["folderId"]
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
                        "description": _STR,
                        "schedule": _ref("Schedule"),
                        "next": {
                            "type": "array",
                            "items": _obj({"local": _STR, "utc": _STR, "epoch": _INT}),
                        },
                    }
                ),
                request=_obj(
                    {
                        "schedule": _ref("Schedule"),
                        "after": {"oneOf": [_STR, {"type": "number"}]},
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
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }
