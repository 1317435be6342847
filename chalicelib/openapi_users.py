"""OpenAPI paths of users and sessions (merged into chalicelib.openapi's document)."""

from __future__ import annotations

from typing import Any

from chalicelib.openapi import _STR, _op
from chalicelib.openapi_schemas import closed, obj

_SCOPES = {
    "type": "array",
    "minItems": 1,
    "items": {"enum": ["read", "write", "run", "admin"]},
}
_USER = obj(
    {
        "username": _STR,
        "scopes": {"type": "array", "items": _STR},
        "createdAt": {"type": "integer"},
        "passwordChangedAt": {"type": "integer"},
    },
    ["username", "scopes"],
)
_USERNAME = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"}
_PASSWORD = {"type": "string", "minLength": 10, "maxLength": 1024, "pattern": "^[^\\x00]*$"}


def paths() -> dict[str, Any]:
    empty = obj({})
    signed_in = obj(
        {
            "token": {"type": "string", "description": "Send as Authorization: Bearer <token>"},
            "expiresAt": {"type": "integer"},
            "user": _USER,
        },
        ["token", "expiresAt", "user"],
    )
    sign_in = _op(
        "Sign in with a user name and password; the session token acts with the user's scopes "
        "until 24 hours after its last use. A wrong password and an unknown user get the same "
        "401.",
        None,
        signed_in,
        request=obj({"username": _STR, "password": _STR}),
        status="201",
    )
    sign_in["responses"].update(
        {
            "400": {"description": "The body is not an object"},
            "401": {"description": "Unknown user name or wrong password"},
            "413": {"description": "Request body too large"},
            "429": {"description": "Too many sign-in attempts for the user or the address"},
        }
    )
    sign_out = _op("Sign out: end the session that authenticates this call", "any", empty)
    current = _op(
        "The signed-in user and when the session ends (24 hours after its last use)",
        "any",
        obj({"user": _USER, "expiresAt": {"type": "integer"}}, ["user", "expiresAt"]),
    )
    for op in (sign_out, current):
        op["responses"]["400"] = {
            "description": "The call is authenticated with an API key, not a session",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return {
        "/users": {
            "post": _op(
                "Create a user who signs in with a password (never shown again)",
                "admin",
                obj({"user": _USER}, ["user"]),
                request=closed(
                    {"username": _USERNAME, "password": _PASSWORD, "scopes": _SCOPES},
                    ["username", "password"],
                ),
                status="201",
            ),
            "get": _op(
                "List the account's users (no passwords)",
                "admin",
                obj({"users": {"type": "array", "items": _USER}}, ["users"]),
            ),
        },
        "/users/{username}": {
            "delete": _op("Delete a user and end its sessions", "admin", empty, params=["username"])
        },
        "/users/{username}/password": {
            "put": _op(
                "Set a user's password (an admin for any user; a user for itself, with "
                "`currentPassword`); every session of the user ends",
                "read",
                empty,
                request=closed({"password": _PASSWORD, "currentPassword": _STR}, ["password"]),
                params=["username"],
            )
        },
        "/sessions": {"post": sign_in},
        "/sessions/current": {"get": current, "delete": sign_out},
    }
