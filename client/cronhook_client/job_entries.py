"""The `jobs` entries of a jobs file: the API's job fields with their defaults, `name` for the
title, `folder` and chains by name; read into DesiredJob with every value checked."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from cronhook_client.manifest_model import (
    DesiredJob,
    Manifest,
    check_type,
    entry_folder,
    entry_name,
    expand,
)
from cronhook_client.models import METHODS

# What a job is when a field is left out: the API's defaults (chalicelib.jobs.DEFAULTS; a test
# holds the two equal). `title` is the file's `name`, `folderId` its `folder`.
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
    "requestTimeout": -1,
    "redirectSuccess": False,
    "folderId": 0,
    "schedule": {},
    "requestMethod": 0,
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
    "secretHeaders": [],
    "notes": "",
    "callback": None,
    "keptFields": {},
}


NESTED = ("auth", "notification", "extendedData")


HISTORY_STRATEGIES = ("OFF", "ERROR", "MINIMAL", "FULL")


READ_ONLY = (
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
)


# The fields a jobs-file entry may carry: the API's, with title -> name and folderId -> folder.
FILE_FIELDS = ("name", "folder", *(k for k in DEFAULTS if k not in ("title", "folderId")))


_RANGE = re.compile(r"\s*(\d{3})\s*-\s*(\d{3})\s*", re.ASCII)


def normal_codes(codes: list[Any], path: str, m: Manifest) -> list[int | str]:
    """successCodes as the API stores them: integers and "low-high" ranges."""
    out: list[int | str] = []
    for n, code in enumerate(codes):
        if isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599:
            out.append(code)
            continue
        match = _RANGE.fullmatch(code) if isinstance(code, str) else None
        if match and 100 <= int(match[1]) <= int(match[2]) <= 599:
            out.append(f"{int(match[1])}-{int(match[2])}")
            continue
        raise m.error(f"{path}[{n}]", "must be an HTTP status (100-599) or a range like 200-299")
    return out


def parse_job(raw: Any, path: str, env: Mapping[str, str], m: Manifest) -> DesiredJob:
    """One entry of `jobs` (at `path`, e.g. "jobs[0]") in the API's shape, defaults filled in."""
    if not isinstance(raw, dict):
        raise m.error(path, "each job must be a mapping with at least name and url")
    for key in raw:
        where = f"{path}.{key}"
        if key == "title":
            raise m.error(where, "a job's title is its `name` in this file")
        if key == "folderId":
            raise m.error(where, "name the folder instead: `folder: <title>`")
        if key in READ_ONLY:
            raise m.error(where, "is read-only (the API sets it): leave it out")
        if key not in FILE_FIELDS:
            raise m.error(where, "unknown field")
    name = entry_name(raw, path, m, "job", 255)
    secrets: set[str] = set()
    expanded = expand(raw, path, env, m, secrets)
    spec = copy.deepcopy(DEFAULTS)
    spec["title"] = name
    folder = entry_folder(expanded, path, m)
    chains: dict[str, str] = {}
    for key, value in expanded.items():
        where = f"{path}.{key}"
        if key in ("name", "folder"):
            continue
        if key == "schedule" and isinstance(value, str):
            value = {"cron": value}  # shorthand: a cron string
        if key == "requestMethod":
            if isinstance(value, str) and value.upper() in METHODS:
                value = METHODS.index(value.upper())
            elif not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 9):
                raise m.error(where, "must be one of " + ", ".join(METHODS))
        if key in ("chainSuccess", "chainFailure") and isinstance(value, str):
            chains[key] = value
            continue
        if key == "url":
            if not isinstance(value, str) or not re.match(r"https?://", value, re.I):
                raise m.error(where, "must be an http:// or https:// URL")
            spec[key] = value
            continue
        if key == "callback":  # a long job: {timeout: seconds}, checked by the API
            if value is not None and not isinstance(value, dict):
                raise m.error(where, "must be a mapping such as {timeout: 3600}, or null")
            spec[key] = value
            continue
        check_type(value, DEFAULTS[key], where, m)
        if key in NESTED:
            for inner, item in value.items():
                if inner not in DEFAULTS[key]:
                    raise m.error(f"{where}.{inner}", "unknown field")
                check_type(item, DEFAULTS[key][inner], f"{where}.{inner}", m)
            if key == "extendedData":
                for header, text in value.get("headers", {}).items():
                    if not isinstance(text, str):
                        raise m.error(f"{where}.headers.{header}", "must be a string")
            value = {**DEFAULTS[key], **value}
        if key == "historyStrategy":
            if value.upper() not in HISTORY_STRATEGIES:
                raise m.error(where, "must be one of " + ", ".join(HISTORY_STRATEGIES))
            value = value.upper()
        if key == "successCodes":
            value = normal_codes(value, where, m)
        spec[key] = value
    if spec["url"] is None:
        raise m.error(f"{path}.url", "every job needs a url")
    relative = {s[len(path) + 1 :] for s in secrets}
    return DesiredJob(
        name=name,
        path=path,
        spec=spec,
        folder=folder,
        chains=chains,
        secrets=relative,
        schedule_given=raw.get("schedule"),
    )
