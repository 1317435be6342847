"""Volt MX Foundry services as job targets: the account's Foundry base URL (`GET|PUT /settings`,
field `voltmxBaseUrl`), a job's `jobServiceInfo` checked and resolved to the call a run makes,
and the re-pointing of those jobs when the base URL changes.

Integration (`intSer`) and orchestration (`orchSer`) services are called with POST at
`{base}/services/{serviceName}/{operationName}`; object services (`objSer`) at
`{base}/services/data/v1/{serviceName}/objects/{objectName}`, with the HTTP method of the
operation (get, create, update, partialupdate, delete). `requestheaderMap` becomes the job's
headers and `postData` its body. The URL is resolved when the job is written, so a run needs
nothing but the job; a changed base URL re-points every such job through `Service.edit_job`,
whose rule drops the secret headers of a job whose URL moves to another origin.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib import jobs
from chalicelib.errors import NotFound, ValidationError
from chalicelib.service import Service
from chalicelib.store.base import JobRecord

BASE_URL = "voltmxBaseUrl"
SERVICE_INFO = "jobServiceInfo"
KEPT = "voltmx"  # the job's keptFields entry holding what the Volt MX API gave
SECRET_HEADERS = frozenset({"x-voltmx-authorization", "x-kony-authorization"})
SERVICE_TYPES = ("intSer", "objSer", "orchSer")
# Object service operations and the HTTP method Foundry's object API takes for each.
OBJECT_OPERATIONS = {
    "get": "GET",
    "create": "POST",
    "update": "PUT",
    "partialupdate": "PATCH",
    "delete": "DELETE",
}
_TEXT_FIELDS = ("version", "serviceName", "objectName", "operationName", "operationSecurityLevel")
_FIELDS = (*_TEXT_FIELDS, "serviceType", "requestheaderMap", "serviceExecutionType", "postData")
# A name that stays one path segment: no "/", no dot segments, nothing to percent-encode.
_SEGMENT = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9_.~-]{0,199}")


def settings_key(account_id: str) -> str:
    return f"settings#{account_id}"


def base_url(svc: Service, account_id: str) -> str:
    """The account's Foundry base URL, "" when it has none."""
    stored = svc.stores.state.get_value(settings_key(account_id)) or {}
    return str(stored.get(BASE_URL) or "")


def account_settings(svc: Service, account_id: str) -> dict[str, Any]:
    return {BASE_URL: base_url(svc, account_id)}


def validate_base_url(value: object) -> str:
    """An http(s) URL without query or fragment, its trailing slashes dropped; "" to unset."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise ValidationError("must be a URL string, or empty to unset", field=BASE_URL)
    jobs.validate_url(value, BASE_URL)
    parts = urllib.parse.urlsplit(value)
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ValidationError("must have no query string or fragment", field=BASE_URL)
    return value.rstrip("/")


@dataclass(frozen=True)
class ServiceCall:
    """What a run of a Foundry service job sends: the job fields it sets."""

    info: dict[str, str]  # jobServiceInfo without requestheaderMap and postData, as kept
    method: str
    path: str  # after the base URL
    headers: dict[str, str]
    body: str

    def url(self, base: str) -> str:
        return base + self.path


def _field(name: str) -> str:
    return f"{SERVICE_INFO}.{name}"


def service_call(value: object) -> ServiceCall:
    """Validate a `jobServiceInfo` object, naming the field at fault."""
    if not isinstance(value, dict):
        raise ValidationError("must be an object", field=SERVICE_INFO)
    for key in value:
        if key not in _FIELDS:
            raise ValidationError(
                "unknown field; the fields are " + ", ".join(_FIELDS), field=_field(str(key))
            )
    info: dict[str, str] = {}
    for name in _TEXT_FIELDS:
        given = value.get(name)
        if given is not None and not isinstance(given, str):
            raise ValidationError("must be a string", field=_field(name))
        info[name] = given or ""
    kind = value.get("serviceType")
    if kind not in SERVICE_TYPES:
        raise ValidationError(
            "must be intSer (integration), objSer (object) or orchSer (orchestration)",
            field=_field("serviceType"),
        )
    info["serviceType"] = str(kind)
    if value.get("serviceExecutionType") != "SERVER_URL":
        raise ValidationError("must be SERVER_URL", field=_field("serviceExecutionType"))
    info["serviceExecutionType"] = "SERVER_URL"
    names = ["serviceName", "objectName" if kind == "objSer" else "operationName"]
    for name in names:
        if not _SEGMENT.fullmatch(info[name]) or info[name] in (".", ".."):
            raise ValidationError(
                "is required: letters, digits and _ . ~ - (one path segment)", field=_field(name)
            )
    if kind == "objSer":
        operation = info["operationName"].lower() or "get"
        method = OBJECT_OPERATIONS.get(operation)
        if method is None:
            raise ValidationError(
                "an object service's operation is one of " + ", ".join(OBJECT_OPERATIONS),
                field=_field("operationName"),
            )
    else:
        method = "POST"
    headers = _headers(value.get("requestheaderMap"))
    return ServiceCall(info, method, path_of(info), headers, _body(value))


def _headers(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(
            "must be an object of header names and values", field=_field("requestheaderMap")
        )
    for name, text in value.items():
        if not isinstance(text, str):
            raise ValidationError("must be a string", field=_field(f"requestheaderMap.{name}"))
    return dict(value)


def _body(value: Mapping[str, Any]) -> str:
    """`postData` as the request body: text as given, an object or a list as its JSON."""
    data = value.get("postData")
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    if isinstance(data, dict | list):
        return json.dumps(data, separators=(",", ":"))
    raise ValidationError("must be a JSON text or object", field=_field("postData"))


def job_fields(call: ServiceCall, base: str) -> dict[str, Any]:
    """The cronhook job fields a service call sets; refused without the account's base URL."""
    if not base:
        raise ValidationError(
            "the account has no Volt MX Foundry base URL: set it with PUT /settings "
            '{"voltmxBaseUrl": "https://<host>:<port>"} before naming a service',
            field=BASE_URL,
        )
    return {
        "url": call.url(base),
        "requestMethod": jobs.METHODS.index(call.method),
        "extendedData": {"headers": call.headers, "body": call.body},
        # Foundry's own credentials are sealed and masked like Authorization, and dropped when
        # the job's URL moves to another origin.
        "secretHeaders": sorted(h for h in call.headers if h.lower() in SECRET_HEADERS),
    }


def kept_info(job: JobRecord) -> dict[str, Any] | None:
    """The `jobServiceInfo` a job was written with (without headers and body), if any: None
    also when it no longer names a service (keptFields may be edited with cronhook's own API)."""
    kept = (job.spec.get("keptFields") or {}).get(KEPT)
    info = kept.get(SERVICE_INFO) if isinstance(kept, dict) else None
    if not isinstance(info, dict) or info.get("serviceType") not in SERVICE_TYPES:
        return None
    last = "objectName" if info["serviceType"] == "objSer" else "operationName"
    for name in ("serviceName", last):
        text = info.get(name)
        if not isinstance(text, str) or not _SEGMENT.fullmatch(text) or text in (".", ".."):
            return None
    return info


def path_of(info: Mapping[str, Any]) -> str:
    if info.get("serviceType") == "objSer":
        return f"/services/data/v1/{info['serviceName']}/objects/{info['objectName']}"
    return f"/services/{info['serviceName']}/{info['operationName']}"


def set_account_settings(
    svc: Service, account_id: str, payload: object, actor: str
) -> dict[str, Any]:
    """Store the settings given; a new base URL re-points the account's service jobs (each
    through the job-edit use case). Answers the settings and the jobs it re-pointed, with the
    credentials each lost by moving to another origin."""
    if not isinstance(payload, dict):
        raise ValidationError(
            'send an object such as {"voltmxBaseUrl": "https://..."}', field="body"
        )
    for key in payload:
        if key != BASE_URL:
            raise ValidationError(f"unknown setting; the settings are {BASE_URL}", field=str(key))
    stored = dict(svc.stores.state.get_value(settings_key(account_id)) or {})
    before = str(stored.get(BASE_URL) or "")
    base = validate_base_url(payload[BASE_URL]) if BASE_URL in payload else before
    moves: list[tuple[int, str]] = []
    if base and base != before:
        for job in svc.list_jobs(account_id):
            info = kept_info(job)
            if info is not None:
                url = base + path_of(info)
                jobs.validate_url(url, BASE_URL)  # all checked before anything is written
                if url != job.spec["url"]:
                    moves.append((job.job_id, url))
    stored[BASE_URL] = base
    svc.stores.state.put_value(settings_key(account_id), stored)
    repointed = []
    for job_id, url in moves:
        try:
            edited = svc.edit_job(account_id, job_id, {"url": url}, actor)
        except NotFound:  # deleted meanwhile
            continue
        repointed.append({"jobId": job_id, "url": url, "cleared": list(edited.cleared)})
    return {**account_settings(svc, account_id), "repointedJobs": repointed}
