"""The OpenAPI description of heartbeat monitors and their ping URLs (merged into openapi.py's
document)."""

from __future__ import annotations

from typing import Any

from chalicelib import monitors, patterns
from chalicelib.openapi_schemas import _CRONJOB_LISTS, _TIMING_LISTS, _line, _reference, closed, ref
from chalicelib.openapi_schemas import obj as _obj

_INT = {"type": "integer"}
_STR = {"type": "string"}
_BOOL = {"type": "boolean"}
_NUM_OR_NULL = {"type": ["number", "null"]}
_INT_OR_NULL = {"type": ["integer", "null"]}


def _ints(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


def _schedule() -> dict[str, Any]:
    """A period, or a job's repeating forms without their own time zone or expiry."""
    lists = {
        key: {"anyOf": [{"const": [-1]}, {"type": "array", "minItems": 1, "items": _ints(*span)}]}
        for key, span in _CRONJOB_LISTS.items()
    }
    timing = {
        key: {"type": ["array", "null"], "items": _ints(*span)}
        for key, span in _TIMING_LISTS.items()
        if key != "years"
    }
    return {
        "oneOf": [
            closed({"every": _ints(*monitors.EVERY_RANGE)}, ["every"]),
            closed(lists, list(lists)),
            closed({"cron": {"type": "string", "pattern": patterns.cron()}}, ["cron"]),
            closed({"timing": closed(timing)}, ["timing"]),
        ],
        "description": "A period in seconds ({'every': 3600}), or a job's cron, cron-job.org "
        "lists or Cronicle timing (no years), read in the monitor's timezone. One that never "
        "fires again (a 30 February) is refused.",
    }


def _fields() -> dict[str, Any]:
    return {
        "title": _line(monitors.MAX_TITLE),
        "schedule": _schedule(),
        "grace": {
            "type": "integer",
            "minimum": monitors.GRACE_RANGE[0],
            "maximum": monitors.GRACE_RANGE[1],
            "description": f"Seconds after the expected time before the monitor is down "
            f"(default {monitors.DEFAULT_GRACE_S}).",
        },
        "timezone": ref("Timezone"),
        "folderId": _reference("folder", "Folder"),
        "notification": closed({"onMonitorDown": _BOOL, "onMonitorUp": _BOOL}),
    }


def _monitor() -> dict[str, Any]:
    return _obj(
        {
            "monitorId": _INT,
            **_fields(),
            "status": {"enum": ["new", "up", "late", "down", "paused"]},
            "started": _BOOL,
            "lastPing": _NUM_OR_NULL,
            "lastPingKind": {"enum": ["success", "start", "fail", None]},
            "nextExpected": _INT_OR_NULL,
            "downAt": _INT_OR_NULL,
            "downSince": _INT_OR_NULL,
            "lastDuration": _INT_OR_NULL,
            "pings": _INT,
            "createdAt": _INT,
            "updatedAt": _INT,
        }
    )


def _ping_answers(summary: str, params: list[str]) -> dict[str, Any]:
    def op(method: str) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "summary": summary,
            "description": "No API key: the token in the path is the credential. The body "
            f"(POST) is kept up to {monitors.PING_BODY_CAP} bytes.",
            "security": [],
            "parameters": [
                {"name": p, "in": "path", "required": True, "schema": _STR} for p in params
            ],
            "responses": {
                "200": {"description": "Recorded", "content": {"text/plain": {"schema": _STR}}},
                "404": {"description": "Unknown token", **_json(ref("Error"))},
                "413": {"description": "Body over the request cap", **_json(ref("Error"))},
                "429": {"description": "Too many pings; see Retry-After", **_json(ref("Error"))},
            },
        }
        if method == "post":
            answer["requestBody"] = {
                "required": False,
                "content": {"*/*": {"schema": _STR}},
            }
        return answer

    return {method: op(method) for method in ("get", "head", "post")}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def paths(op: Any) -> dict[str, Any]:
    """The monitors' paths; `op` is openapi.py's operation builder."""
    body = _obj({"monitor": closed(_fields())}, ["monitor"])
    one = _obj({"monitor": _monitor()})
    created = _obj({"monitorId": _INT, "pingUrl": _STR})
    rows = {"type": "array", "items": _monitor()}
    ping = _obj(
        {
            "pingId": _STR,
            "date": {"type": "number"},
            "kind": {"enum": ["success", "start", "fail"]},
            "exitStatus": _INT_OR_NULL,
            "method": _STR,
            "remoteAddr": {"type": ["string", "null"]},
            "userAgent": {"type": ["string", "null"]},
            "body": _STR,
            "bodySize": _INT,
            "bodyTruncated": _BOOL,
            "duration": _INT_OR_NULL,
        }
    )
    pid = ["monitorId"]
    return {
        "/monitors": {
            "get": op(
                "List the account's monitors",
                "read",
                _obj({"monitors": rows}),
                listing=monitors.COLUMNS,
            ),
            "put": op("Create a monitor", "write", created, request=body),
            "post": op("Create a monitor", "write", created, request=body),
        },
        "/monitors/{monitorId}": {
            "get": op("A monitor and its status", "read", one, params=pid),
            "patch": op("Change a monitor", "write", one, request=body, params=pid),
            "delete": op(
                "Delete a monitor (its ping URL answers 404)", "write", _obj({}), params=pid
            ),
        },
        "/monitors/{monitorId}/pause": {
            "post": op("Pause: never down until resumed or pinged", "write", one, params=pid)
        },
        "/monitors/{monitorId}/resume": {
            "post": op("Resume: new again until its next ping", "write", one, params=pid)
        },
        "/monitors/{monitorId}/ping-url": {
            "post": op(
                "A new ping URL; the old one stops working",
                "write",
                _obj({"pingUrl": _STR}),
                params=pid,
            )
        },
        "/monitors/{monitorId}/pings": {
            "get": op(
                "The monitor's pings, newest first",
                "read",
                _obj(
                    {
                        "pings": {"type": "array", "items": ping},
                        "cursor": {"type": ["string", "null"]},
                    }
                ),
                params=pid,
                listing=monitors.PING_COLUMNS,
                paged=True,
            )
        },
        "/callbacks/{ref}": {
            "post": {
                "summary": "A long job's target reports its outcome (single use)",
                "description": "No API key: the URL, from X-Cronhook-Callback-Url, is signed "
                "for one attempt of one run. The run ends with the report.",
                "security": [],
                "parameters": [{"name": "ref", "in": "path", "required": True, "schema": _STR}],
                "requestBody": {
                    "required": True,
                    **_json(
                        closed(
                            {
                                "status": {"enum": ["success", "failure"]},
                                "message": {"type": "string", "maxLength": 1000},
                                "output": {"type": "string", "maxLength": 10240},
                            },
                            ["status"],
                        )
                    ),
                },
                "responses": {
                    "200": {"description": "The run, ended", **_json(_obj({"run": _obj({})}))},
                    **{
                        code: {"description": text, **_json(ref("Error"))}
                        for code, text in (
                            ("400", "Invalid report; the error names the field"),
                            ("403", "Forged or altered callback URL"),
                            ("404", "Not a callback URL"),
                            ("409", "The call has not answered 202 yet: send it again"),
                            ("410", "Used already, or expired"),
                            ("413", "Request body too large"),
                        )
                    },
                },
            }
        },
        "/ping/{token}": _ping_answers("A heartbeat: the monitor's job succeeded", ["token"]),
        "/ping/{token}/{kind}": _ping_answers(
            "`start` (a run began), `fail`, or an exit status (0 = success, 1-255 = failure)",
            ["token", "kind"],
        ),
    }
