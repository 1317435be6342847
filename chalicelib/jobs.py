"""Jobs in cron-job.org's wire format (plus cronhook's extensions): validation and API views.

`validate(payload)` turns a whole job as a client sends it (a `DetailedJob`) into a normalised
spec, with defaults for omitted fields as the reference documents them, or raises a
ValidationError naming the first bad field. Read-only fields (`jobId`, `lastStatus`, ...) are
accepted and ignored so that a client can send back what it read. An unknown field is a 400;
`drop_unknown(payload)` first removes them as cron-job.org ignores them (the lenient mode of the
cron-job.org routes) and names what it removed.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from chalicelib import patterns, text
from chalicelib.errors import ValidationError
from chalicelib.runs import URL_VERSION
from chalicelib.schedule import KEYS as SCHEDULE_KEYS
from chalicelib.schedule import Schedule, ScheduleError
from chalicelib.store.base import JobRecord

METHODS = ("GET", "POST", "OPTIONS", "HEAD", "PUT", "DELETE", "TRACE", "CONNECT", "PATCH")
HISTORY_STRATEGIES = ("OFF", "ERROR", "MINIMAL", "FULL")
PASSWORD_MASK = "********"
MAX_RETRIES = 10  # more attempts of a failed run

READ_ONLY = frozenset(
    {
        "jobId",
        "lastStatus",
        "lastDuration",
        "lastExecution",
        "nextExecution",
        "type",
        "sslCertExpiry",
        "failureStreak",
        "successCount",
        "failureCount",
        "disabledReason",
        "created",
        "modified",
        "createdBy",
        "modifiedBy",
    }
)

# Documented limits (README "Limits").
MAX_TITLE = 255
MAX_URL = 2048
MAX_HEADERS = 50
MAX_HEADER_NAME = 256
MAX_HEADER_VALUE = 8192
MAX_HEADERS_TOTAL = 32 * 1024
MAX_BODY = 64 * 1024
MAX_AUTH_FIELD = 255
MAX_PATTERN = 1000
MAX_NOTES = 10_000
MAX_KEPT = 8 * 1024  # keptFields, as compact JSON
TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+"  # an HTTP header name
_TOKEN = re.compile(TOKEN)
# Hop-by-hop and framing headers are the transport's business; letting a job set them would
# allow request smuggling or break the connection. Host comes from the URL (it was dropped).
FORBIDDEN_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
    }
)

# Header values that are credentials: sealed with the job's other secrets (never in the spec),
# masked in every read view as the password is, and sent only to the origin they were given for.
# A job may name more (`secretHeaders`).
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
MAX_SECRET_HEADERS = MAX_HEADERS

DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "title": "",
    "saveResponses": False,
    "url": None,
    "auth": {"enable": False, "user": "", "password": ""},
    "notification": {
        "onFailure": False,
        "onFailureCount": 1,
        "onSuccess": False,
        "onDisable": False,
        "onSslCertExpiry": False,
        "onSslCertExpirySeconds": 604800,
    },
    "extendedData": {"headers": {}, "body": ""},
    "secretHeaders": [],
    "requestTimeout": -1,
    "redirectSuccess": False,
    "folderId": 0,
    "schedule": {},
    "requestMethod": 0,
    # cronhook's extensions
    "retries": 0,
    "retryDelay": 30,
    "catchUp": False,
    "historyStrategy": "MINIMAL",
    "retentionDays": 30,
    "chainSuccess": 0,
    "chainFailure": 0,
    "successCodes": [],
    "successMatch": "",
    "errorMatch": "",
    "maxDuration": 0,
    "tlsVerify": True,
    "maxConcurrent": 1,
    "queueMax": 0,
    "notes": "",
    # A long job: its target answers 202 and POSTs the outcome to X-Cronhook-Callback-Url
    # within `timeout` seconds (chalicelib/callbacks.py); None: the answer is the outcome.
    "callback": None,
    # Fields another scheduler's API gave (Cronicle's server placement, e-mail lists, ...):
    # kept as given and shown back so that its clients read what they wrote; cronhook does not
    # act on them.
    "keptFields": {},
}
_NESTED = ("auth", "notification", "extendedData")
# Who created and who last changed the job (a key's name, or its id when it has none): kept in
# the spec beside the validated fields, written by the service, never taken from a client.
AUTHORSHIP = ("createdBy", "modifiedBy")


@dataclass
class ValidJob:
    """A validated job: its spec as stored (no password, secret header values masked), the
    password and the secret header values (by lower-case name) apart, its schedule."""

    spec: dict[str, Any]
    password: str
    schedule: Schedule
    header_secrets: dict[str, str] = field(default_factory=dict)


def is_int(value: object) -> TypeGuard[int]:
    """A JSON integer: Python's bool is an int, JSON's true is not."""
    return isinstance(value, int) and not isinstance(value, bool)


def _bool(obj: Mapping[str, Any], key: str, path: str) -> bool:
    value = obj[key]
    if not isinstance(value, bool):
        raise ValidationError("must be true or false", field=path)
    return value


def _int(obj: Mapping[str, Any], key: str, path: str, low: int, high: int) -> int:
    value = obj[key]
    if not is_int(value):
        raise ValidationError("must be an integer", field=path)
    if not low <= value <= high:
        raise ValidationError(f"must be between {low} and {high}", field=path)
    return int(value)


def _str(
    obj: Mapping[str, Any],
    key: str,
    path: str,
    max_len: int,
    *,
    oneline: bool = True,
    perceived: bool = False,
) -> str:
    """A string of at most `max_len` code points, or with `perceived` (text people read, such
    as a title) of at most `max_len` user-perceived characters."""
    value = obj[key]
    if not isinstance(value, str):
        raise ValidationError("must be a string", field=path)
    problem = text.too_long(value, max_len) if perceived else None
    if problem is None and not perceived and len(value) > max_len:
        problem = f"must be at most {max_len} characters"
    if problem is not None:
        raise ValidationError(problem, field=path)
    if oneline and any(c in value for c in "\r\n\x00"):
        raise ValidationError("must not contain line breaks or NUL characters", field=path)
    return value


def _object(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError("must be an object", field=path)
    return value


def _check_keys(obj: Mapping[str, Any], allowed: Any, path: str) -> None:
    for key in obj:
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            raise ValidationError("unknown field", field=where)


def drop_unknown(payload: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The payload (a job or a PATCH delta) without the fields cron-job.org would ignore, and
    their dotted names in the order given (`scheldule`, `auth.token`, `schedule.every`).

    cron-job.org reads the fields it knows and ignores the rest, at every level of its job
    objects: the job, `auth`, `notification`, `extendedData` and `schedule`. A nested value
    that is not an object is left for `validate` to reject, and so are the keys of maps whose
    keys are data (`extendedData.headers`, `keptFields`) and of `schedule.timing` (cronhook's
    own syntax, which cron-job.org does not have)."""
    ignored: list[str] = []
    kept = _known(payload, set(DEFAULTS) | READ_ONLY, "", ignored)
    for name in _NESTED:
        if isinstance(kept.get(name), dict):
            kept[name] = _known(kept[name], DEFAULTS[name], name, ignored)
    if isinstance(kept.get("schedule"), dict):
        kept["schedule"] = _known(kept["schedule"], SCHEDULE_KEYS, "schedule", ignored)
    return kept, ignored


def _known(obj: Mapping[str, Any], allowed: Any, path: str, ignored: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key in allowed:
            out[key] = value
        else:
            ignored.append(f"{path}.{key}" if path else str(key))
    return out


def validate_url(url: object, path: str = "url") -> str:
    """An http(s) URL the executor can call: host name in ASCII or an IPv6 literal, no user info;
    exactly the URLs `patterns.URL` matches, the one the OpenAPI document states."""
    if not isinstance(url, str) or not url.strip():
        raise ValidationError("a URL is required", field=path)
    if len(url) > MAX_URL:
        raise ValidationError(f"must be at most {MAX_URL} characters", field=path)
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ValidationError("must not contain spaces or control characters", field=path)
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed "[" or a bracketed host that is no IP address
        raise ValidationError("is not a valid URL", field=path) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValidationError("must be an http:// or https:// URL", field=path)
    if not parts.hostname:
        raise ValidationError("must name a host", field=path)
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            "must not carry credentials; use auth.user and auth.password", field=path
        )
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or not patterns.URL_RE.fullmatch(url):
        raise ValidationError(
            "must name its host in ASCII (punycode for others, xn--...) or as an IPv6 address "
            "in brackets, with a port from 1 to 65535 if any",
            field=path,
        )
    return url


def _headers(value: object) -> dict[str, str]:
    path = "extendedData.headers"
    headers = _object(value, path)
    if len(headers) > MAX_HEADERS:
        raise ValidationError(f"at most {MAX_HEADERS} headers", field=path)
    total = 0
    seen: set[str] = set()
    for name in headers:
        where = f"{path}.{name}"
        if not _TOKEN.fullmatch(name) or len(name) > MAX_HEADER_NAME:
            raise ValidationError("is not a valid header name", field=where)
        if name.lower() in FORBIDDEN_HEADERS:
            raise ValidationError("is set by the transport and cannot be overridden", field=where)
        if name.lower() in seen:
            raise ValidationError("is given twice", field=where)
        seen.add(name.lower())
        value_str = _str(headers, name, where, MAX_HEADER_VALUE)
        total += len(name) + len(value_str)
    if total > MAX_HEADERS_TOTAL:
        raise ValidationError(f"headers must total at most {MAX_HEADERS_TOTAL} bytes", field=path)
    return dict(headers)


_RANGE = re.compile(r"\s*(\d{3})\s*-\s*(\d{3})\s*", re.ASCII)  # no other digits or spaces


def _success_codes(value: object) -> list[int | str]:
    path = "successCodes"
    if not isinstance(value, list) or len(value) > 20:
        raise ValidationError(
            "give a list of at most 20 codes or ranges like '200-299'", field=path
        )
    out: list[int | str] = []
    for entry in value:
        if is_int(entry) and 100 <= entry <= 599:
            out.append(int(entry))
            continue
        match = _RANGE.fullmatch(entry) if isinstance(entry, str) else None
        if match and 100 <= int(match[1]) <= int(match[2]) <= 599:
            out.append(f"{int(match[1])}-{int(match[2])}")
            continue
        raise ValidationError(f"{entry!r} is not an HTTP status (100-599) or range", field=path)
    return out


def success_ranges(codes: list[int | str]) -> tuple[tuple[int, int], ...] | None:
    """The stored `successCodes` as inclusive ranges for the executor; None means the 2xx rule."""
    ranges = []
    for code in codes:
        if isinstance(code, int):
            ranges.append((code, code))
        else:
            low, high = code.split("-")
            ranges.append((int(low), int(high)))
    return tuple(ranges) or None


def _pattern(obj: Mapping[str, Any], key: str) -> str:
    value = _str(obj, key, key, MAX_PATTERN)
    if value:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValidationError(f"is not a valid regular expression: {exc}", field=key) from None
        if not patterns.portable(value):
            # The document promises JSON Schema's regex format, which is ECMA 262.
            raise ValidationError(
                "must read the same in Python and JavaScript: escape a literal {, } or ], and "
                "leave out (?P...), inline flags, possessive quantifiers and \\A, \\Z",
                field=key,
            )
    return value


def _method(value: object) -> int:
    if is_int(value) and 0 <= value < len(METHODS):
        return value
    if isinstance(value, str) and value.upper() in METHODS:
        return METHODS.index(value.upper())
    raise ValidationError("must be 0-8 or one of " + ", ".join(METHODS), field="requestMethod")


def with_defaults(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload with every omitted field (and omitted nested field) set to its default."""
    merged = copy.deepcopy(DEFAULTS)
    return merge(merged, payload)


def merge(base: dict[str, Any], delta: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a PATCH delta: nested objects merge key by key, and so does a schedule."""
    out = copy.deepcopy(base)
    for key, value in delta.items():
        if key in _NESTED and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **copy.deepcopy(value)}
        elif key == "schedule" and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_schedule(out[key], copy.deepcopy(value))
        else:
            out[key] = copy.deepcopy(value)
    return out


_SCHEDULE_FORMS = {
    "lists": {"hours", "mdays", "minutes", "months", "wdays"},
    "cron": {"cron"},
    "timing": {"timing"},
    "at": {"at"},
    "frequencyInfo": {"frequencyInfo"},
}


def _form(schedule: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(name for name, keys in _SCHEDULE_FORMS.items() if keys & set(schedule))


def _merge_schedule(current: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """A delta of the job's own form, or of none (only timezone/expiresAt), changes what it names;
    one of another form replaces the schedule, keeping its time zone (and expiresAt, but for at)."""
    new = _form(delta)
    if not new or new == _form(current):
        return {**current, **delta}
    kept = ("timezone",) if "at" in new else ("timezone", "expiresAt")
    return {**{key: current[key] for key in kept if key in current}, **delta}


def validate(payload: object, *, folder_ids: set[int]) -> ValidJob:
    """Validate a whole job (defaults already applied for omitted fields) or raise."""
    job = _object(payload, "job")
    _check_keys(job, set(DEFAULTS) | READ_ONLY, "")
    spec: dict[str, Any] = {}
    spec["url"] = validate_url(job.get("url"))
    for key in ("enabled", "saveResponses", "redirectSuccess", "catchUp", "tlsVerify"):
        spec[key] = _bool(job, key, key)
    spec["title"] = _str(job, "title", "title", MAX_TITLE, perceived=True)

    auth = _object(job["auth"], "auth")
    _check_keys(auth, DEFAULTS["auth"], "auth")
    spec["auth"] = {
        "enable": _bool(auth, "enable", "auth.enable"),
        "user": _str(auth, "user", "auth.user", MAX_AUTH_FIELD),
    }
    password = _str(auth, "password", "auth.password", MAX_AUTH_FIELD)
    if spec["auth"]["enable"] and not spec["auth"]["user"]:
        raise ValidationError("basic auth is enabled: give a user", field="auth.user")

    notification = _object(job["notification"], "notification")
    _check_keys(notification, DEFAULTS["notification"], "notification")
    spec["notification"] = {
        key: _bool(notification, key, f"notification.{key}")
        for key in ("onFailure", "onSuccess", "onDisable", "onSslCertExpiry")
    }
    spec["notification"]["onFailureCount"] = _int(
        notification, "onFailureCount", "notification.onFailureCount", 1, 1000
    )
    spec["notification"]["onSslCertExpirySeconds"] = _int(
        notification, "onSslCertExpirySeconds", "notification.onSslCertExpirySeconds", 0, 90 * 86400
    )

    extended = _object(job["extendedData"], "extendedData")
    _check_keys(extended, DEFAULTS["extendedData"], "extendedData")
    body = _str(extended, "body", "extendedData.body", MAX_BODY, oneline=False)
    if len(body.encode()) > MAX_BODY:
        raise ValidationError(f"must be at most {MAX_BODY} bytes", field="extendedData.body")
    headers = _headers(extended["headers"])
    spec["secretHeaders"] = _secret_header_names(job["secretHeaders"])
    secret = secret_header_names(spec)
    header_secrets: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in secret:
            if value == PASSWORD_MASK:
                raise ValidationError(
                    f"{PASSWORD_MASK} is how reads show a secret header: send its value",
                    field=f"extendedData.headers.{name}",
                )
            header_secrets[name.lower()] = value
            headers[name] = PASSWORD_MASK
    spec["extendedData"] = {"headers": headers, "body": body}

    timeout = job["requestTimeout"]
    if not (is_int(timeout) and timeout == -1):  # -1: the service default; not -1.0 or true
        timeout = _int(job, "requestTimeout", "requestTimeout", 1, 300)
    spec["requestTimeout"] = timeout
    spec["folderId"] = _int(job, "folderId", "folderId", 0, 2**53)
    if spec["folderId"] and spec["folderId"] not in folder_ids:
        raise ValidationError("no such folder in this account", field="folderId")
    spec["requestMethod"] = _method(job["requestMethod"])

    try:
        schedule = Schedule.parse(job["schedule"])
    except ScheduleError as exc:
        raise ValidationError(exc.message, field=exc.field) from None
    spec["schedule"] = schedule.to_dict()

    spec["retries"] = _int(job, "retries", "retries", 0, MAX_RETRIES)
    spec["retryDelay"] = _int(job, "retryDelay", "retryDelay", 1, 3600)
    strategy = job["historyStrategy"]
    if not isinstance(strategy, str) or strategy.upper() not in HISTORY_STRATEGIES:
        raise ValidationError(
            "must be one of " + ", ".join(HISTORY_STRATEGIES), field="historyStrategy"
        )
    spec["historyStrategy"] = strategy.upper()
    spec["retentionDays"] = _int(job, "retentionDays", "retentionDays", 1, 365)
    spec["chainSuccess"] = _int(job, "chainSuccess", "chainSuccess", 0, 2**53)
    spec["chainFailure"] = _int(job, "chainFailure", "chainFailure", 0, 2**53)
    spec["successCodes"] = _success_codes(job["successCodes"])
    spec["successMatch"] = _pattern(job, "successMatch")
    spec["errorMatch"] = _pattern(job, "errorMatch")
    spec["maxDuration"] = _int(job, "maxDuration", "maxDuration", 0, 300_000)
    spec["maxConcurrent"] = _int(job, "maxConcurrent", "maxConcurrent", 1, 100)
    spec["queueMax"] = _int(job, "queueMax", "queueMax", 0, 1000)
    spec["notes"] = _str(job, "notes", "notes", MAX_NOTES, oneline=False)
    if "\x00" in spec["notes"]:
        raise ValidationError("must not contain NUL characters", field="notes")
    spec["keptFields"] = _kept(job["keptFields"])
    spec["callback"] = _callback(job["callback"])
    return ValidJob(spec=spec, password=password, schedule=schedule, header_secrets=header_secrets)


def _secret_header_names(value: object) -> list[str]:
    path = "secretHeaders"
    if not isinstance(value, list):
        raise ValidationError("must be a list of header names", field=path)
    if len(value) > MAX_SECRET_HEADERS:
        raise ValidationError(f"at most {MAX_SECRET_HEADERS} names", field=path)
    names: list[str] = []
    for n, name in enumerate(value):
        if not isinstance(name, str) or not _TOKEN.fullmatch(name) or len(name) > MAX_HEADER_NAME:
            raise ValidationError("is not a valid header name", field=f"{path}[{n}]")
        if name.lower() not in {known.lower() for known in names}:
            names.append(name)
    return names


def secret_header_names(spec: Mapping[str, Any]) -> frozenset[str]:
    """The lower-case names of the job's headers whose values are credentials."""
    return SECRET_HEADERS | {str(n).lower() for n in spec.get("secretHeaders") or ()}


def url_origin(url: str) -> str:
    """Scheme, host and port of a URL (`https://api.example.com:443`): the origin a stored
    credential belongs to, as a browser scopes cookies and curl scopes redirects' auth."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{parts.hostname or ''}:{port}"


def sent_headers(job: JobRecord) -> dict[str, str]:
    """The headers a run sends: the spec's, secret values put back from the sealed secrets."""
    stored = job.secrets.get("headers") or {}
    headers = dict(job.spec["extendedData"]["headers"])
    for name, value in headers.items():
        if value == PASSWORD_MASK and name.lower() in stored:
            headers[name] = stored[name.lower()]
    return headers


CALLBACK_TIMEOUT = (10, 86400)  # 10 s to 24 h


def _callback(value: object) -> dict[str, int] | None:
    if value is None:
        return None
    setting = _object(value, "callback")
    _check_keys(setting, {"timeout"}, "callback")
    if "timeout" not in setting:
        raise ValidationError("give the seconds to wait for the callback", field="callback.timeout")
    return {"timeout": _int(setting, "timeout", "callback.timeout", *CALLBACK_TIMEOUT)}


def _kept(value: object) -> dict[str, Any]:
    kept = _object(value, "keptFields")
    try:
        size = len(json.dumps(kept, separators=(",", ":"), allow_nan=False).encode())
    except (ValueError, TypeError):
        raise ValidationError("must hold JSON values only", field="keptFields") from None
    if size > MAX_KEPT:
        raise ValidationError(f"must be at most {MAX_KEPT} bytes as JSON", field="keptFields")
    return copy.deepcopy(kept)


def require_firing(valid: ValidJob, now: float) -> None:
    """An enabled job's schedule must have a run after `now`: one that never fires (30 February,
    a year or an `at` past, an `expiresAt` before its first run) is refused, naming the field.
    A disabled job may keep it, as cron-job.org keeps any schedule: its default (five empty
    lists) never fires, and a job past its `expiresAt` stays, "not scheduled anymore"."""
    if not valid.spec["enabled"]:
        return
    problem = valid.schedule.never_fires(now)
    if problem is not None:
        raise ValidationError(problem.message, field=problem.field)


def _ssl_expiry(job: JobRecord) -> dict[str, Any]:
    if job.ssl_cert_expiry is not None and job.spec["url"].lower().startswith("https:"):
        return {"sslCertExpiry": job.ssl_cert_expiry}
    return {}


def next_execution(job: JobRecord, now: float) -> int | None:
    """When the job fires next, None while it is disabled. Its stored position (`next_run_at`)
    is the first slot no tick has claimed yet; the tick claims up to two minutes ahead, so the
    schedule's next time after `now` may be earlier: a slot claimed, waiting for its second."""
    if not job.enabled:
        return None
    ahead = Schedule.parse(job.spec["schedule"]).next_after(now)
    if ahead is not None and ahead > (int(now) // 60 + 2) * 60:
        ahead = None  # beyond any claim: the stored position says (a cursor moved ahead)
    found = [t for t in (job.next_run_at, ahead) if t is not None]
    return min(found) if found else None


# The columns of `summary` rows (format=text|xml, columns=): a schedule's keys are those of any
# of its forms.
SUMMARY_COLUMNS = frozenset(
    {
        "jobId",
        "enabled",
        "title",
        "saveResponses",
        "url",
        "lastStatus",
        "lastDuration",
        "lastExecution",
        "sslCertExpiry",
        "nextExecution",
        "type",
        "requestTimeout",
        "redirectSuccess",
        "folderId",
        "requestMethod",
        *(
            f"schedule.{key}"
            for key in (
                "timezone",
                "expiresAt",
                *_SCHEDULE_FORMS["lists"],
                "cron",
                "at",
                *(
                    f"timing.{unit}"
                    for unit in ("years", "months", "days", "weekdays", "hours", "minutes")
                ),
            )
        ),
    }
)


def summary(job: JobRecord, now: float) -> dict[str, Any]:
    """cron-job.org's `Job` object: what `GET /jobs` lists (no secrets)."""
    spec = job.spec
    return {
        "jobId": job.job_id,
        "enabled": spec["enabled"],
        "title": spec["title"],
        "saveResponses": spec["saveResponses"],
        "url": spec["url"],
        "lastStatus": job.last_status,
        "lastDuration": job.last_duration,
        "lastExecution": job.last_execution,
        **_ssl_expiry(job),
        "nextExecution": next_execution(job, now),
        "type": 0,
        "requestTimeout": spec["requestTimeout"],
        "redirectSuccess": spec["redirectSuccess"],
        "folderId": spec["folderId"],
        "schedule": spec["schedule"],
        "requestMethod": spec["requestMethod"],
    }


def details(job: JobRecord, now: float) -> dict[str, Any]:
    """cron-job.org's `DetailedJob` plus cronhook's fields; the password is masked."""
    out = summary(job, now)
    spec = job.spec
    has_password = bool(job.secrets.get("password"))
    out["auth"] = {**spec["auth"], "password": PASSWORD_MASK if has_password else ""}
    out["notification"] = dict(spec["notification"])
    out["extendedData"] = copy.deepcopy(spec["extendedData"])
    secret = secret_header_names(spec)
    for name in out["extendedData"]["headers"]:
        if name.lower() in secret:  # stored masked; a job saved before sealing, in clear
            out["extendedData"]["headers"][name] = PASSWORD_MASK
    for key in DEFAULTS:
        if key not in out:
            # A job stored before a field existed has its default.
            out[key] = copy.deepcopy(spec.get(key, DEFAULTS[key]))
    out.update(
        failureStreak=job.failure_streak,
        successCount=job.success_count,
        failureCount=job.failure_count,
        disabledReason=job.disabled_reason,
        created=job.created_at,
        modified=job.updated_at,
        createdBy=spec.get("createdBy", ""),
        modifiedBy=spec.get("modifiedBy", ""),
    )
    return out


def url_host(url: str) -> str:
    """The host name a job's URL calls (lower case): a stored password belongs to it."""
    return urlsplit(url).hostname or ""


def editable(job: JobRecord) -> dict[str, Any]:
    """The stored job in input shape, real password included: the base a PATCH merges into."""
    spec = copy.deepcopy(job.spec)
    spec["auth"]["password"] = job.secrets.get("password", "")
    spec["extendedData"]["headers"] = sent_headers(job)
    for key in (*AUTHORSHIP, URL_VERSION):
        spec.pop(key, None)  # set by the service on each save, not by the client
    return spec
