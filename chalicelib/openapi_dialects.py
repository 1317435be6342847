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
            "name": "product",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": "^[Vv][Ii][Ss][Uu][Aa][Ll][Cc][Rr][Oo][Nn]$"},
            "description": "VisualCron, in any case (anything else is no route: 404)",
        }
    ] + [
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
            "404": {
                "description": "No such job, method or format (VisualCron's shape); a first "
                "segment other than VisualCron is no route (the API's error shape)",
                "content": _visualcron_content(
                    {"anyOf": [_VC_ERROR, {"$ref": "#/components/schemas/Error"}]}
                ),
            },
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
    for grouped in (False, True):
        path = "/{product}" + ("/{fmt}/{group}/{method}" if grouped else "/{fmt}/{method}")
        out[path] = {m: _visualcron(m, grouped) for m in ("get", "post")}
    return {**out, **_voltmx_paths(), **_settings_paths()}


# ---- Volt MX Foundry ----------------------------------------------------------------------

_VOLTMX_ENVELOPE = obj(
    {
        "status": {"enum": ["SUCCESS", "FAIL"]},
        "result": {
            "anyOf": [
                {"type": "null"},
                obj({"code": {"type": "string"}, "field": {"type": ["string", "null"]}}),
            ]
        },
        "message": {"type": ["string", "null"]},
        "token": {"type": "null"},
    },
    ["status", "result", "message", "token"],
)
_NULLABLE_STR = {"type": ["string", "null"]}
_VOLTMX_SUMMARY = obj(
    {
        "jobId": {"type": "integer"},
        "jobName": {"type": "string"},
        "description": _NULLABLE_STR,
        "cronExpression": _NULLABLE_STR,
        "updatedUser": _NULLABLE_STR,
        "updatedDate": _NULLABLE_STR,
        "jobStatus": {"enum": ["Active", "Inactive"]},
        "jobHistoryTotal": {"type": "integer"},
        "jobHistorySuccessCount": {"type": "integer"},
        "jobHistoryFailCount": {"type": "integer"},
        "jobHistorySucPercentage": {"type": "integer"},
        "jobHistoryFailPercentage": {"type": "integer"},
        "jobLastRunStatus": {"enum": ["Success", "Fail", None]},
        "jobNextRunTime": _NULLABLE_STR,
    },
)
_VOLTMX_SERVICE = obj(
    {
        "version": {"type": "string"},
        "serviceType": {"enum": ["intSer", "objSer", "orchSer"]},
        "serviceName": {"type": "string"},
        "objectName": {"type": "string"},
        "operationName": {"type": "string"},
        "requestheaderMap": {"type": "object", "additionalProperties": {"type": "string"}},
        "serviceExecutionType": {"const": "SERVER_URL"},
        "postData": {"type": ["string", "object", "array", "null"]},
        "operationSecurityLevel": {"type": "string"},
    },
    ["serviceType", "serviceName", "serviceExecutionType"],
    additionalProperties=False,
)
_VOLTMX_DETAIL = obj(
    {
        "jobId": {"type": "integer"},
        "jobName": {"type": "string"},
        "description": _NULLABLE_STR,
        "jobFrequency": _NULLABLE_STR,
        "jobServiceInfo": {"anyOf": [{"type": "null"}, _VOLTMX_SERVICE]},
        "jobStatus": {"enum": ["Active", "Inactive"]},
        "historyStrategy": {"type": "string"},
        "retentionPeriod": {"type": "string"},
        "jobFrequencyInfo": {"type": ["object", "null"]},
    },
)
_VOLTMX_HISTORY = obj(
    {
        "jobRunId": {"type": "integer"},
        "jobStartTime": _NULLABLE_STR,
        "jobEndTime": _NULLABLE_STR,
        "jobDuration": {"type": "integer"},
        "executionFrequency": _NULLABLE_STR,
        "executionStatus": {"enum": ["Success", "Fail", "Running", "Queued"]},
        "completeHistory": {"type": "boolean"},
    },
)


def _voltmx_job_input() -> dict[str, Any]:
    from chalicelib.dialects.voltmx import READ_ONLY

    return obj(
        {
            **{key: {} for key in READ_ONLY},
            "jobId": {"type": ["integer", "string"]},
            "jobName": {"type": "string", "minLength": 1},
            "description": _NULLABLE_STR,
            "jobFrequency": {
                "type": ["string", "null"],
                "description": "Quartz: seconds first, 6 or 7 fields",
            },
            "jobFrequencyInfo": {"type": ["object", "null"]},
            "jobServiceInfo": _VOLTMX_SERVICE,
            "jobStatus": {"enum": ["Active", "Inactive"]},
            "historyStrategy": {"enum": ["OFF", "ERROR", "MINIMAL", "FULL"]},
            "retentionPeriod": {
                "type": ["string", "integer"],
                "description": "days, 1 to 365, as a string",
            },
        },
        additionalProperties=False,
    )


_VOLTMX_ERRORS = {
    "400": "A missing or invalid field (result.field), or a malformed body",
    "401": "Bad credentials, or a missing or unknown X-VoltMX-Authorization",
    "403": "The user or key lacks the call's scope",
    "404": "No such job or path",
    "405": "The path does not take this method",
    "409": "The job changed meanwhile",
    "413": "The body is too large",
    "429": "Rate limit (Retry-After)",
}


def _voltmx_op(
    summary: str, ok: dict[str, Any], path_params: list[str], body: bool
) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for n in path_params
    ]
    parameters.append(
        {
            "name": "X-VoltMX-Authorization",
            "in": "header",
            "required": True,
            "description": "the claims_token of /authService/accounts/login, or an API key",
            "schema": {"type": "string"},
        }
    )
    error = {"content": {"application/json": {"schema": _VOLTMX_ENVELOPE}}}
    op: dict[str, Any] = {
        "summary": f"Volt MX Foundry's job API: {summary}; see docs/coming-from-voltmx.md",
        "security": [],
        "parameters": parameters,
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": ok}}},
            **{code: {"description": text, **error} for code, text in _VOLTMX_ERRORS.items()},
        },
    }
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _voltmx_job_input()}},
        }
    return op


def _voltmx_paths() -> dict[str, Any]:
    array = {"type": "array"}
    listing = {"anyOf": [{**array, "items": _VOLTMX_SUMMARY}, _VOLTMX_DETAIL, _VOLTMX_ENVELOPE]}
    any_answer = {"anyOf": [_VOLTMX_ENVELOPE, {**array, "items": _VOLTMX_HISTORY}, _VOLTMX_DETAIL]}
    ref_only = ["ref"]
    two = ["ref", "arg"]
    three = ["ref", "arg", "more"]

    def ops(params: list[str], summary: str, answer: dict[str, Any]) -> dict[str, Any]:
        return {
            "get": _voltmx_op(f"{summary} (GET)", answer, params, False),
            "post": _voltmx_op(f"{summary} (POST)", _VOLTMX_ENVELOPE, params, True),
            "put": _voltmx_op(f"{summary} (PUT)", _VOLTMX_ENVELOPE, params, True),
            "delete": _voltmx_op(f"{summary} (DELETE)", _VOLTMX_ENVELOPE, params, False),
        }

    login_error = {"content": {"application/json": {"schema": _VOLTMX_ENVELOPE}}}
    form = obj(
        {"userid": {"type": "string"}, "password": {"type": "string"}},
        ["userid", "password"],
    )
    signed_in = obj(
        {
            "profile": {"type": "object"},
            "claims_token": obj(
                {
                    "value": {"type": "string"},
                    "exp": {"type": "integer", "description": "milliseconds since 1970"},
                    "integrity_check_required": {"type": "boolean"},
                },
                ["value", "exp", "integrity_check_required"],
            ),
            "refresh_token": {"type": "string"},
        },
        ["profile", "claims_token", "refresh_token"],
    )
    login_responses = {
        code: {"description": text, **login_error}
        for code, text in _VOLTMX_ERRORS.items()
        if code in ("400", "401", "405", "413", "429")
    }
    login = {
        "get": {
            "summary": "Volt MX's Accounts Login takes POST only (405)",
            "security": [],
            "responses": {"405": login_responses["405"]},
        },
        "post": {
            "summary": "Volt MX's Accounts Login: a cronhook user's session as claims_token",
            "security": [],
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {"schema": form},
                    "application/json": {"schema": form},
                },
            },
            "responses": {
                "200": {
                    "description": "Signed in",
                    "content": {"application/json": {"schema": signed_in}},
                },
                **login_responses,
            },
        },
    }
    return {
        "/authService/accounts/login": login,
        "/admin/api/jobs/{ref}": ops(
            ref_only, "job: list, create, update; job{id}: get, delete", listing
        ),
        "/admin/api/jobs/{ref}/{arg}": ops(
            two, "job/{id}: get, delete; history/{id}: history", any_answer
        ),
        "/admin/api/jobs/{ref}/{arg}/{more}": ops(three, "job/run/{id}: run now", _VOLTMX_ENVELOPE),
    }


def _settings_paths() -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    errors = {
        "400": "Invalid input; the error names the field",
        "401": "Missing, unknown or revoked API key",
        "403": "Key lacks the scope, or the caller's IP is not allowed",
        "409": "A job changed while it was re-pointed",
        "413": "Request body too large",
        "429": "Rate limit exceeded; see Retry-After",
    }
    settings = obj({"voltmxBaseUrl": {"type": "string"}}, ["voltmxBaseUrl"])
    repointed = obj(
        {
            "voltmxBaseUrl": {"type": "string"},
            "repointedJobs": {
                "type": "array",
                "items": obj(
                    {
                        "jobId": {"type": "integer"},
                        "url": {"type": "string"},
                        "cleared": {"type": "array", "items": {"type": "string"}},
                    }
                ),
            },
        },
        ["voltmxBaseUrl", "repointedJobs"],
    )
    security: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]

    def responses(ok: dict[str, Any], codes: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "200": {"description": "OK", "content": {"application/json": {"schema": ok}}}
        }
        out.update({c: {"description": errors[c], **error} for c in codes})
        return out

    return {
        "/settings": {
            "get": {
                "summary": "The account's settings: the Volt MX Foundry base URL",
                "description": "Needs an API key with the `read` scope (or `admin`).",
                "security": security,
                "responses": responses(settings, ("401", "403", "429")),
            },
            "put": {
                "summary": "Set the Volt MX Foundry base URL; the account's service jobs are "
                "re-pointed (a move to another origin drops their secret headers)",
                "description": "Needs an API key with the `admin` scope.",
                "security": security,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": obj(
                                {
                                    "voltmxBaseUrl": {
                                        "anyOf": [
                                            {"type": "null"},
                                            {"const": ""},
                                            {
                                                "allOf": [
                                                    {"$ref": "#/components/schemas/Url"},
                                                    {"pattern": "^[^?#]*$"},
                                                ],
                                                "description": "no query or fragment",
                                            },
                                        ]
                                    }
                                },
                                additionalProperties=False,
                            )
                        }
                    },
                },
                "responses": responses(repointed, tuple(errors)),
            },
        }
    }
