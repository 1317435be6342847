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


def paths() -> dict[str, Any]:
    return {"/api/{call}": {"get": _setcronjob("get"), "post": _setcronjob("post")}}
