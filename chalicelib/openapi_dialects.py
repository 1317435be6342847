"""OpenAPI paths of other schedulers' APIs (merged into chalicelib.openapi's document)."""

from __future__ import annotations

from typing import Any

from chalicelib.openapi_schemas import obj

_ENVELOPE = obj(
    {
        "status": {"enum": ["success", "error"]},
        "code": {"type": "integer"},
        "data": {},
        "message": {"type": "string"},
        "field": {"type": "string"},
    },
    ["status", "code"],
)


def _setcronjob(method: str) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": f"SetCronJob's API ({method}): `{{target}}.{{action}}`, e.g. cron.list; "
        "see docs/coming-from-setcronjob.md",
        "security": [],
        "parameters": [
            {"name": "call", "in": "path", "required": True, "schema": {"type": "string"}},
            {
                "name": "token",
                "in": "query",
                "required": False,
                "description": "an API key or a session token (or in the body)",
                "schema": {"type": "string"},
            },
        ],
        "responses": {
            "200": {
                "description": "The envelope: success with data, or error with code and message",
                "content": {"application/json": {"schema": _ENVELOPE}},
            },
            "500": {
                "description": "Internal error (code 99)",
                "content": {"application/json": {"schema": _ENVELOPE}},
            },
            "503": {
                "description": "Over the key's rate limit (code 13)",
                "content": {"application/json": {"schema": _ENVELOPE}},
            },
        },
    }
    if method == "post":
        form = {"type": "object", "additionalProperties": {"type": "string"}}
        op["requestBody"] = {
            "required": False,
            "content": {
                "application/x-www-form-urlencoded": {"schema": form},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    return op


_VC_ERROR = obj(
    {"Result": {"const": "Error"}, "Message": {"type": "string"}, "Field": {"type": "string"}},
    ["Result", "Message"],
)


def _visualcron_content(json_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "application/json": {"schema": json_schema},
        "application/xml": {"schema": {"type": "string"}},
        "text/plain": {"schema": {"type": "string"}},
    }


def _visualcron(method: str, grouped: bool) -> dict[str, Any]:
    names = ["fmt", "group", "method"] if grouped else ["fmt", "method"]
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1},
            "description": {
                "fmt": "text, xml or json (any case)",
                "group": "the method's group: job",
                "method": "logon, logoff; after job/: list, get, getbyname, run, stop, "
                "activate, deactivate",
            }[name],
        }
        for name in names
    ]
    for name, what in (
        ("token", "a session token from logon, or an API key"),
        ("username", "with password: sign in at this call (or logon's user)"),
        ("password", "with username"),
        ("id", "a job id"),
        ("name", "a job's name (job/getbyname)"),
        ("expire", "logon: the session's life in seconds, 60 to 86400"),
        ("columns", "comma-separated job properties, any case"),
        ("includeheaders", "text: true or false"),
        ("fieldSeparator", "text: a character code (44)"),
        ("textQualifier", "text: a character code (34; 0 for none)"),
        ("lineBreak", "text: a character code (10)"),
    ):
        params.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": what,
                "schema": {"type": "string"},
            }
        )
    error = {"content": _visualcron_content(_VC_ERROR)}
    op: dict[str, Any] = {
        "summary": f"VisualCron's Web API ({method}); see docs/coming-from-visualcron.md",
        "security": [],
        "parameters": params,
        "responses": {
            "200": {
                "description": "The answer in the path's format",
                "content": (_visualcron_content({})),
            },
            "400": {"description": "A missing, unknown or invalid parameter", **error},
            "401": {"description": "Bad credentials, token or key", **error},
            "403": {"description": "The user or key lacks the method's scope", **error},
            "404": {"description": "No such job, method or format", **error},
            "409": {"description": "No run in flight to stop; a job changed meanwhile", **error},
            "413": {"description": "The body is too large", **error},
            "429": {"description": "Rate limit (Retry-After)", **error},
        },
    }
    if method == "post":
        form = {"type": "object", "additionalProperties": {"type": "string"}}
        op["requestBody"] = {
            "required": False,
            "content": {
                "application/x-www-form-urlencoded": {"schema": form},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    return op


def paths() -> dict[str, Any]:
    out: dict[str, Any] = {"/api/{call}": {"get": _setcronjob("get"), "post": _setcronjob("post")}}
    for prefix in ("/VisualCron", "/visualcron"):
        for grouped in (False, True):
            path = prefix + ("/{fmt}/{group}/{method}" if grouped else "/{fmt}/{method}")
            out[path] = {m: _visualcron(m, grouped) for m in ("get", "post")}
    return out
