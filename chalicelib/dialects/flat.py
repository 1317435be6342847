"""cronhook's job fields flattened to one level (`schedule.timezone`, `auth.user`), for the
dialects whose calls carry form fields: strings in, typed job deltas out, and back.

A name is a top-level job field (`url`, `retries`), a nested one joined with dots
(`notification.onFailure`, `schedule.hours`), or a header `extendedData.headers.<Name>`. Values
from a form are strings: booleans read 1/0, true/false, yes/no, on/off; lists read
comma-separated, `*` meaning every (-1); from a JSON body they may be typed already.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from chalicelib import jobs
from chalicelib.errors import BadRequest, PayloadTooLarge, ValidationError
from chalicelib.text import encodable

_HEADER = "extendedData.headers."
_SCHEDULE_LISTS = ("minutes", "hours", "mdays", "months", "wdays")
_SCHEDULE = {
    **{f"schedule.{n}": "ints" for n in _SCHEDULE_LISTS},
    "schedule.timezone": "str",
    "schedule.cron": "str",
    "schedule.at": "str",
    "schedule.expiresAt": "int",
}


def _kind(default: Any) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, list):
        return "codes"
    return "str"


def _fields() -> dict[str, str]:
    out: dict[str, str] = {}
    for key, default in jobs.DEFAULTS.items():
        if key == "schedule":
            continue
        if isinstance(default, dict):
            out.update({f"{key}.{sub}": _kind(v) for sub, v in default.items() if sub != "headers"})
        else:
            out[key] = _kind(default)
    return {**out, **_SCHEDULE}


FIELDS = _fields()  # flattened name -> kind: what a form may set on a job


def read_params(
    query: Mapping[str, str] | None, raw: bytes, content_type: str, max_bytes: int
) -> dict[str, Any]:
    """The call's parameters: the query string's, then a form-encoded or JSON body's over them."""
    params: dict[str, Any] = dict(query or {})
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"request body over {max_bytes} bytes")
    text = raw.strip()
    if not text:
        return params
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8 text", field="body") from None
    if "json" in content_type.lower() or text[:1] in (b"{", b"["):
        try:
            payload = json.loads(decoded)
        except (ValueError, RecursionError):
            raise BadRequest("the body is not valid JSON", field="body") from None
        if not isinstance(payload, dict):
            raise BadRequest("the JSON body must be an object", field="body")
        params.update(payload)
    else:
        params.update(urllib.parse.parse_qsl(decoded, keep_blank_values=True))
    for key, value in params.items():
        if (isinstance(value, str) and not encodable(value)) or not encodable(str(key)):
            raise ValidationError("must be valid Unicode text", field=str(key))
    return params


def to_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValidationError("must be 1 or 0 (true or false)", field=name)


def to_int(value: Any, name: str) -> int:
    if jobs.is_int(value):
        return value
    text = str(value).strip()
    digits = text[1:] if text[:1] == "-" else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 15:
        raise ValidationError("must be an integer", field=name)
    return int(text)


def to_ints(value: Any, name: str) -> list[int]:
    if isinstance(value, list):
        return [to_int(v, name) for v in value]
    parts = [p.strip() for p in str(value).split(",") if p.strip()]
    if not parts:
        raise ValidationError("give comma-separated numbers, or * for every", field=name)
    return [-1 if p == "*" else to_int(p, name) for p in parts]


def _codes(value: Any, name: str) -> list[int | str]:
    if isinstance(value, list):
        return value
    out: list[int | str] = []
    for part in (p.strip() for p in str(value).split(",") if p.strip()):
        out.append(part if "-" in part else to_int(part, name))
    return out


def to_job(params: Mapping[str, Any], aliases: Mapping[str, str]) -> dict[str, Any]:
    """A job delta in cronhook's shape from flattened parameters (`aliases` maps a dialect's own
    names onto flattened ones); an unknown parameter is an error that names it."""
    delta: dict[str, Any] = {}
    for given, value in params.items():
        name = aliases.get(given, given)
        if name.startswith(_HEADER) and len(name) > len(_HEADER):
            headers = delta.setdefault("extendedData", {}).setdefault("headers", {})
            headers[name[len(_HEADER) :]] = value if isinstance(value, str) else str(value)
            continue
        if name == "extendedData.headers" and isinstance(value, dict):
            delta.setdefault("extendedData", {})["headers"] = value
            continue
        kind = FIELDS.get(name)
        if kind is None:
            raise ValidationError("unknown parameter", field=given)
        if value is None:
            continue
        if kind == "bool":
            typed: Any = to_bool(value, given)
        elif kind == "int":
            typed = to_int(value, given)
        elif kind == "ints":
            typed = to_ints(value, given)
        elif kind == "codes":
            typed = _codes(value, given)
        elif isinstance(value, dict | list):
            raise ValidationError("must be text", field=given)
        else:
            typed = value if isinstance(value, str) else str(value)
        parts = name.split(".")
        target = delta
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = typed
    return delta


def flatten(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A job's details with nested objects flattened to dotted names (lists stay lists)."""
    out: dict[str, Any] = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and key != "stats":
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out
