"""The OpenAPI document's component schemas: what the API takes, as strictly as it checks it,
and what it answers.

Request schemas mirror the validation in `jobs`, `schedule`, `auth` and `service`. Where JSON
Schema cannot state a rule, the description does and the schema errs to one side: it allows fewer
values than the API takes where most others a client could write would be refused (the dates
expiresAt takes, cron's extensions), and more where the rule is about other data (whether a
folder or job exists, a header named twice, the headers' total size).
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from chalicelib import auth, jobs, patterns, text
from chalicelib.schedule import KEYS

_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_STR = {"type": "string"}
_NULL = {"type": "null"}
_INT_LIST = {"type": "array", "items": _INT}
_ONE_LINE = {"type": "string", "pattern": patterns.ONE_LINE}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(
    properties: dict[str, Any], required: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = required
    return schema


def closed(
    properties: dict[str, Any], required: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    """An object that refuses fields it does not name."""
    return obj(properties, required, additionalProperties=False, **extra)


# cron-job.org reads the fields it knows and ignores the rest: so do the cron-job.org job routes
# (jobs.drop_unknown), unless asked to be strict. Their objects take other fields.
_IGNORED = "Other fields are ignored, named in X-Cronhook-Ignored-Fields (strict: a 400)."


def ignoring(
    properties: dict[str, Any],
    required: list[str] | None = None,
    *,
    known: Collection[str] = (),
    **extra: Any,
) -> dict[str, Any]:
    """An object of a cron-job.org job write: a field it does not name is ignored, but one of
    `known` it does not name (a key of another schedule form) is refused."""
    schema = obj(properties, required, **extra)
    others = sorted(set(known) - set(properties))
    if others:
        schema["not"] = {"anyOf": [{"required": [name]} for name in others]}
    return schema


def _ints(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


def _line(max_length: int) -> dict[str, Any]:
    return {**_ONE_LINE, "maxLength": max_length}


def _perceived(schema: dict[str, Any], max_length: int) -> dict[str, Any]:
    """Text people read: counted in user-perceived characters, which maxLength cannot say."""
    note = (
        f"At most {max_length} characters as people count them (grapheme clusters: an accented "
        f"letter or an emoji sequence is one). maxLength counts code points: every string within "
        f"it is taken, and a longer one of such sequences too, up to "
        f"{max_length * text.CODE_POINTS_PER_CHARACTER} code points."
    )
    old = schema.get("description")
    return {**schema, "description": f"{old} {note}" if old else note}


def _reference(thing: str, what: str) -> dict[str, Any]:
    """The id of one of the account's folders or jobs: which exist, no schema can say."""
    return {
        "type": "integer",
        "default": 0,
        "description": f"The id of one of the account's {thing}s ({what}); ids run from 1 to "
        f"2^53, and another is refused with 400.",
    }


def _exactly(pattern: str) -> dict[str, Any]:
    return {"type": "string", "pattern": f"^{pattern}$"}


URL = {"type": "string", "maxLength": jobs.MAX_URL, "pattern": patterns.URL}
EXTENDED_DATA = ignoring(
    {
        "headers": {
            "type": "object",
            "maxProperties": jobs.MAX_HEADERS,
            "propertyNames": {
                **_exactly(jobs.TOKEN),
                "maxLength": jobs.MAX_HEADER_NAME,
                "not": _exactly(patterns.words(sorted(jobs.FORBIDDEN_HEADERS))),
            },
            "additionalProperties": _line(jobs.MAX_HEADER_VALUE),
            "description": f"At most {jobs.MAX_HEADERS_TOTAL} bytes in all; each name once, "
            "whatever its case. The values of Authorization, Proxy-Authorization, Cookie, "
            "X-Api-Key and of the headers named in secretHeaders are sealed and read back as "
            f"{jobs.PASSWORD_MASK}; sending that mask back keeps the stored value.",
        },
        "body": {
            "type": "string",
            "maxLength": jobs.MAX_BODY,
            "description": f"At most {jobs.MAX_BODY} bytes as UTF-8.",
        },
    }
)


# ---- schedules ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _zones() -> str:
    """Every IANA zone name this system knows, as one pattern: an enum of ~600 would make a fuzzer
    try each one."""
    names = (n.replace("+", "\\+").replace(".", "\\.") for n in sorted(available_timezones()))
    return f"^(?:{'|'.join(names)})$"


_CRONJOB_LISTS = {
    "hours": (0, 23),
    "mdays": (1, 31),
    "minutes": (0, 59),
    "months": (1, 12),
    "wdays": (0, 6),
}
_TIMING_LISTS = {
    "years": (1970, 2199),
    "months": (1, 12),
    "days": (1, 31),
    "weekdays": (0, 6),
    "hours": (0, 23),
    "minutes": (0, 59),
}
_EXPIRES_AT = {
    "enum": [0, None],
    "description": "0 or null: never. The API also takes a date and time YYYYMMDDhhmmss in the "
    "schedule's zone (years 1900-8999, a real date: 20260230000000 is refused), which no schema "
    "can tell from other numbers, so this one lists only never.",
}


def _frequency(kind: int, lists: dict[str, Any], required: list[str]) -> dict[str, Any]:
    def values(low: int, high: int) -> dict[str, Any]:
        return {"type": "array", "minItems": 1, "items": _ints(low, high)}

    def optional(low: int, high: int, most: int | None = None) -> dict[str, Any]:
        # null or [] reads as left out
        schema: dict[str, Any] = {"type": ["array", "null"], "items": _ints(low, high)}
        return {**schema, "maxItems": most} if most else schema

    fields = {"frequencyType": {"const": kind}, "minuteValues": values(0, 59)}
    for key, span in lists.items():
        fields[key] = values(*span) if key in required else optional(*span)
    if kind == 1:
        fields["hourValues"] = optional(1, 23, 1)
    return closed(fields, ["frequencyType", "minuteValues", *required])


FREQUENCY_INFO = {
    "oneOf": [
        _frequency(1, {"hourValues": (1, 23)}, []),
        _frequency(2, {"hourValues": (0, 23)}, ["hourValues"]),
        _frequency(3, {"hourValues": (0, 23), "weekValues": (1, 7)}, ["hourValues", "weekValues"]),
        _frequency(
            4,
            {"hourValues": (0, 23), "dayValues": (1, 31), "monthValues": (1, 12)},
            ["hourValues", "dayValues"],
        ),
    ],
    "description": "Volt MX Foundry's jobFrequencyInfo: 1 hour-based (minuteValues past every "
    "hour; hourValues [N]: every N hours, 1-23), 2 day-based (hourValues x minuteValues), 3 "
    "week-based (weekValues 1=Sunday..7=Saturday), 4 month-based (dayValues of monthValues, "
    "every month when left out). The fields a type does not use are refused.",
}


def _schedule_input(*, delta: bool = False) -> dict[str, Any]:
    """A schedule in a new job, or (delta) in a PATCH, where cron-job.org's lists, the time zone
    and expiresAt may come alone and merge into the job's schedule."""
    zone = ref("Timezone")
    common = {"timezone": zone, "expiresAt": _EXPIRES_AT}
    lists = {
        key: {"anyOf": [{"const": [-1]}, {"type": "array", "minItems": 1, "items": _ints(*span)}]}
        for key, span in _CRONJOB_LISTS.items()
    }
    at = {
        "type": "string",
        "format": "date-time",
        "pattern": "^(?:19[0-9]{2}|[2-8][0-9]{3})-",
        "description": "A time with its offset, years 1900-8999; fires once.",
    }
    if delta:
        changed = {key: {"anyOf": [*value["anyOf"], {"const": []}]} for key, value in lists.items()}
        on_its_own = [
            ignoring(
                {**common, **changed},
                known=KEYS,
                description="Any of cron-job.org's lists, the time zone or expiresAt: they "
                "change the job's schedule and keep the rest of it. Lists given to a job of "
                "another form replace it, so all five are needed then.",
            )
        ]
    else:
        on_its_own = [
            ignoring(common, known=KEYS, description="No schedule: the job runs on demand only."),
            ignoring(
                {**common, **{key: {"const": []} for key in lists}},
                list(lists),
                known=KEYS,
                description="cron-job.org's way to say no schedule.",
            ),
            ignoring(
                {**common, **lists},
                list(lists),
                known=KEYS,
                description="cron-job.org's object: [-1] for every value, else the values to run "
                "at; a day runs if it matches mdays or wdays when both are restricted.",
            ),
        ]
    forms = [
        _NULL,
        *on_its_own,
        ignoring(
            {
                **common,
                "cron": {
                    "type": "string",
                    "pattern": patterns.cron(),
                    "description": "5-field Unix cron (names, @daily-style macros, L, W and #) "
                    "or 6/7-field Quartz (seconds first, optional year, ? in exactly one day "
                    "field, L, L-n, W, LW, #, nL), or EventBridge's cron(...) form. The pattern "
                    "shows the common part, which is always accepted: fields of *, numbers, "
                    "names, ascending ranges, steps and lists, one space apart.",
                },
            },
            ["cron"],
            known=KEYS,
        ),
        ignoring(
            {
                **common,
                "timing": closed(
                    {
                        key: {"type": ["array", "null"], "items": _ints(*span)}
                        for key, span in _TIMING_LISTS.items()
                    },
                    description="Cronicle's timing: a missing, null or empty list means every.",
                ),
            },
            ["timing"],
            known=KEYS,
        ),
        ignoring(
            {"timezone": zone, "expiresAt": {"enum": [0, None]}, "at": at}, ["at"], known=KEYS
        ),
        ignoring({**common, "frequencyInfo": FREQUENCY_INFO}, ["frequencyInfo"], known=KEYS),
    ]
    return {
        "oneOf": forms,
        "description": "When the job runs: exactly one of cron-job.org's lists, a cron text, "
        "Cronicle's timing, one time (at) or Volt MX's frequencyInfo; each may name its time "
        "zone. null, {} or only a time zone: on demand only. "
        + _IGNORED
        + " The keys of timing are cronhook's own: "
        "another is refused.",
    }


_SCHEDULE = {
    "description": (
        "The schedule as stored: cron-job.org's lists (five empty lists: no schedule), cron, "
        "timing or at, with its time zone and (but for at) expiresAt."
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
        "frequencyInfo": FREQUENCY_INFO,
    },
}


# ---- jobs -----------------------------------------------------------------------------------


# A field a client may send back as it read it: the API ignores it (OpenAPI's readOnly).
_READ_ONLY = {"readOnly": True, "description": "Read-only: ignored in requests."}


def _job_fields() -> dict[str, Any]:
    """A job's fields as a client sends them; read-only ones are taken and ignored."""
    return {
        "enabled": _BOOL,
        "title": _perceived(_line(jobs.MAX_TITLE), jobs.MAX_TITLE),
        "saveResponses": _BOOL,
        "url": ref("Url"),
        "auth": {
            **ignoring(
                {
                    "enable": _BOOL,
                    "user": _line(jobs.MAX_AUTH_FIELD),
                    "password": _line(jobs.MAX_AUTH_FIELD),
                },
                description="Basic auth; enabling it needs a user. A stored password is "
                "sent only to the host it was given for: moving the URL to another host asks "
                "for it again.",
            ),
            "if": {"properties": {"enable": {"const": True}}, "required": ["enable"]},
            "then": {"properties": {"user": {"minLength": 1}}, "required": ["user"]},
        },
        "callback": {
            "anyOf": [
                {"type": "null"},
                closed({"timeout": _ints(*jobs.CALLBACK_TIMEOUT)}, ["timeout"]),
            ],
            "description": "A long job: the target answers 202 and POSTs its outcome to the "
            "URL in X-Cronhook-Callback-Url within `timeout` seconds.",
        },
        "notification": ignoring(
            {
                "onFailure": _BOOL,
                "onFailureCount": _ints(1, 1000),
                "onSuccess": _BOOL,
                "onDisable": _BOOL,
                "onSslCertExpiry": _BOOL,
                "onSslCertExpirySeconds": _ints(0, 90 * 86400),
            }
        ),
        "extendedData": ref("ExtendedData"),
        "requestTimeout": {
            "anyOf": [{"const": -1}, _ints(1, 300)],
            "description": "Seconds; -1: the service default.",
        },
        "redirectSuccess": _BOOL,
        "folderId": _reference("folder", "0 for none"),
        "schedule": ref("ScheduleInput"),
        "requestMethod": {
            "anyOf": [
                _ints(0, len(jobs.METHODS) - 1),
                _exactly(patterns.words(jobs.METHODS)),
            ],
            "description": "0-8 or the method's name: " + ", ".join(jobs.METHODS),
        },
        "retries": _ints(0, 10),
        "retryDelay": _ints(1, 3600),
        "catchUp": _BOOL,
        "historyStrategy": _exactly(patterns.words(jobs.HISTORY_STRATEGIES)),
        "retentionDays": _ints(1, 365),
        "chainSuccess": _reference("job", "the job to run after a success; 0 for none"),
        "chainFailure": _reference("job", "the job to run after a failure; 0 for none"),
        "successCodes": {"type": "array", "maxItems": 20, "items": ref("SuccessCode")},
        "successMatch": {**_line(jobs.MAX_PATTERN), "format": "regex"},
        "errorMatch": {**_line(jobs.MAX_PATTERN), "format": "regex"},
        "maxDuration": _ints(0, 300_000),
        "tlsVerify": _BOOL,
        "maxConcurrent": _ints(1, 100),
        "queueMax": _ints(0, 1000),
        "secretHeaders": {
            "type": "array",
            "maxItems": jobs.MAX_SECRET_HEADERS,
            "items": {**_exactly(jobs.TOKEN), "maxLength": jobs.MAX_HEADER_NAME},
            "description": "More headers whose values are credentials (sealed, masked in "
            "reads, sent only to the URL's origin), besides Authorization, "
            "Proxy-Authorization, Cookie and X-Api-Key.",
        },
        "notes": {
            "type": "string",
            "maxLength": jobs.MAX_NOTES,
            "pattern": "^[^\\u0000]*$",
            "description": "Free text kept with the job (several lines allowed).",
        },
        "keptFields": {
            "type": "object",
            "description": "Fields another scheduler's API gave (Cronicle's server placement, "
            f"e-mail lists), kept as given and shown back; cronhook does not act on them. At "
            f"most {jobs.MAX_KEPT} bytes as JSON.",
        },
        **{name: _READ_ONLY for name in sorted(jobs.READ_ONLY)},
    }


_JOB = obj(
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
        "schedule": ref("Schedule"),
        "requestMethod": _INT,
    },
    ["jobId", "enabled", "title", "url", "schedule", "requestMethod"],
)


def _detailed_job() -> dict[str, Any]:
    fields = _job_fields()
    for name in jobs.READ_ONLY:
        fields.pop(name)
    fields.update(
        url=ref("Url"),
        schedule=ref("Schedule"),
        requestMethod=_INT,
        failureStreak=_INT,
        successCount=_INT,
        failureCount=_INT,
        disabledReason={"type": ["string", "null"]},
        created={**_INT, "description": "When the job was created (epoch seconds)."},
        modified={**_INT, "description": "When the job was last changed (epoch seconds)."},
        createdBy={**_STR, "description": "The name (or id) of the key that created it."},
        modifiedBy={**_STR, "description": "The name (or id) of the key that last changed it."},
    )
    return {"allOf": [ref("Job"), obj(fields)]}


# ---- keys, history, errors ------------------------------------------------------------------

_KEY = obj(
    {
        "keyId": _STR,
        "name": _STR,
        "scopes": {"type": "array", "items": {"type": "string", "enum": list(auth.SCOPES)}},
        "ipAllowlist": {"type": "array", "items": _STR},
        "rateLimit": {"type": ["number", "null"]},
        "rateLimitBurst": {"type": ["number", "null"]},
        "strict": _BOOL,
        "createdAt": _INT,
        "lastUsedAt": {"type": ["integer", "null"]},
        "revoked": _BOOL,
        "revokedAt": {"type": ["integer", "null"]},
        "prefix": _STR,
    },
    ["keyId", "scopes", "revoked"],
)


def _key_input() -> dict[str, Any]:
    v4 = f"{patterns.IPV4}(?:/{patterns.int_range(0, 32)})?"
    v6 = f"{patterns.IPV6}(?:/{patterns.int_range(0, 128)})?"

    def limit(low: float, high: float) -> dict[str, Any]:
        return {"type": ["number", "null"], "minimum": low, "maximum": high}

    return closed(
        {
            "name": _perceived({"type": "string", "maxLength": 128}, 128),
            "scopes": {
                "type": "array",
                "minItems": 1,
                "items": {"enum": list(auth.SCOPES)},
                "description": "Default: read, write, run.",
            },
            "ipAllowlist": {
                "type": ["array", "null"],
                "maxItems": 50,
                "items": {"type": "string", "pattern": f"^(?:{v4}|{v6})$"},
                "description": "IP addresses or CIDR ranges (a netmask after / is taken too).",
            },
            "rateLimit": {**limit(0.01, 10_000), "description": "Requests per second."},
            "rateLimitBurst": limit(1, 10_000),
            "strict": {
                "type": "boolean",
                "description": "true: the cron-job.org job routes answer an unknown field with "
                "a 400 (as ?strict=true does) instead of ignoring it. Default false.",
            },
        }
    )


_ERROR = obj(
    {"error": obj({"code": _STR, "field": _STR, "message": _STR}, ["code", "message"])},
    ["error"],
)

_STATS = obj(
    {
        k: _INT
        for k in ("nameLookup", "connect", "appConnect", "preTransfer", "startTransfer", "total")
    },
    description="Microseconds from the start of the call, as libcurl counts them.",
)

_HISTORY_ITEM = obj(
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
        "stats": ref("HistoryItemStats"),
        "sslCertExpiry": _INT,
        "state": {
            "type": "string",
            "enum": [
                "queued",
                "running",
                "done",
                "aborted",
                "lost",
                "skipped",
                "waiting",
                "cancelled",
            ],
        },
        "runId": _STR,
        "attempt": _INT,
        "trigger": _STR,
        "reason": _STR,
    },
    ["jobId", "identifier", "date", "datePlanned", "status", "stats", "state"],
)

_FOLDER_TITLE = _perceived(
    {
        "type": "string",
        "maxLength": 128,
        "pattern": f"^[^\\r\\n\\u0000]*[^\\r\\n\\u0000{patterns.SPACE}][^\\r\\n\\u0000]*$",
        "description": "One line with something besides white space; unique in the account "
        "(compared in Unicode NFC: a title typed with a precomposed letter or a combining "
        "accent is one title).",
    },
    128,
)


def schemas() -> dict[str, Any]:
    """Every component schema, by name."""
    job_fields = _job_fields()
    return {
        "Url": URL,
        "ExtendedData": EXTENDED_DATA,
        "SuccessCode": {
            "anyOf": [_ints(100, 599), _exactly(patterns.ordered_ranges(100, 599))],
            "description": "An HTTP status or a range of them such as '200-299' (spaces around "
            "the parts are taken too).",
        },
        "ScheduleInput": _schedule_input(),
        "Timezone": {
            "type": ["string", "null"],
            "pattern": _zones(),
            "description": "An IANA time zone; null or left out: UTC.",
        },
        "Schedule": _SCHEDULE,
        "JobInput": ignoring(
            job_fields,
            ["url"],
            description="A new job (cron-job.org's DetailedJob plus cronhook's fields); "
            "left-out fields take their defaults. " + _IGNORED,
        ),
        "ScheduleDelta": _schedule_input(delta=True),
        "JobDelta": ignoring(
            {**job_fields, "schedule": ref("ScheduleDelta")},
            description="The fields to change; auth, notification, extendedData and the "
            "schedule merge into the job's. The result must be a valid job, which depends on the "
            "job: a 400 names the field when it is not. " + _IGNORED,
        ),
        "Job": _JOB,
        "DetailedJob": _detailed_job(),
        "FolderInput": closed({"folderId": _READ_ONLY, "title": _FOLDER_TITLE}, ["title"]),
        "FolderDelta": closed({"folderId": _READ_ONLY, "title": _FOLDER_TITLE}),
        "Folder": obj({"folderId": _INT, "title": {"type": "string", "maxLength": 128}}, ["title"]),
        "KeyInput": _key_input(),
        "Key": _KEY,
        "HistoryItem": _HISTORY_ITEM,
        "HistoryItemStats": _STATS,
        "Error": _ERROR,
        "CronicleAnswer": obj(
            {
                "code": {"type": ["integer", "string"], "description": "0 on success"},
                "description": _STR,
            },
            ["code"],
        ),
    }
