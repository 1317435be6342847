"""The jobs file of a live account (folders, jobs, monitors), as `cronhook export` writes it and
`cronhook apply` reads it: only what differs from the defaults, folders and chains by name,
secrets as ${VARIABLES}."""

from __future__ import annotations

import copy
import re
from typing import Any

from cronhook_client.job_entries import DEFAULTS
from cronhook_client.models import METHODS, Job
from cronhook_client.monitor_entries import MONITOR_DEFAULTS
from cronhook_client.plan import MASK, PlanError

SECRET_HEADER = re.compile(
    r"authorization|cookie|token|secret|key|auth|password|signature|session", re.I
)


def _var(name: str, what: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper() or "JOB"
    if stem[0].isdigit():
        stem = "JOB_" + stem
    return f"{stem}_{re.sub(r'[^A-Za-z0-9]+', '_', what).strip('_').upper()}"


def _differs(value: Any, default: Any) -> Any:
    """The part of a nested value that is not the default (None: nothing)."""
    if isinstance(value, dict) and isinstance(default, dict) and default:
        out = {k: v for k, v in value.items() if k not in default or v != default[k]}
        return out or None
    return None if value == default else value


def exported(
    jobs: list[Job], folders: dict[int, str], monitors: list[dict[str, Any]] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The jobs file of an account, and the environment variables its secrets now name.
    `monitors` None (a server without monitors) writes no `monitors` key."""
    names: dict[int, str] = {}
    seen: dict[str, int] = {}
    for job in jobs:
        name = job.get("title") or f"job-{job['jobId']}"
        if name in seen:
            raise PlanError(
                f"jobs {seen[name]} and {job['jobId']} are both titled {name!r}: apply finds "
                "jobs by title, so give each a title of its own before exporting"
            )
        seen[name] = job["jobId"]
        names[job["jobId"]] = name
    variables: list[str] = []
    out_jobs: list[dict[str, Any]] = []
    for job in sorted(jobs, key=lambda j: j["jobId"]):
        name = names[job["jobId"]]
        entry: dict[str, Any] = {"name": name}
        if job.get("folderId"):
            entry["folder"] = folders.get(job["folderId"], job["folderId"])
        entry["url"] = job["url"]
        for key, default in DEFAULTS.items():
            if key in ("title", "url", "folderId"):
                continue
            value: Any = copy.deepcopy(job.get(key, default))
            if key == "schedule":
                value = dict(value)
                if value.get("timezone") == "UTC":
                    del value["timezone"]
                if value.get("expiresAt") == 0:
                    del value["expiresAt"]
                lists = ("hours", "mdays", "minutes", "months", "wdays")
                if all(value.get(k) == [] for k in lists) and set(value) <= set(lists):
                    value = {}
            if key == "auth" and value.get("password") == MASK:
                variable = _var(name, "password")
                value["password"] = "${" + variable + "}"
                variables.append(f"{variable} (the password of job {name!r})")
            if key == "extendedData":
                for header, text in list(value.get("headers", {}).items()):
                    if SECRET_HEADER.search(header) and "${" not in text:
                        variable = _var(name, header)
                        value["headers"][header] = "${" + variable + "}"
                        variables.append(f"{variable} (header {header} of job {name!r})")
                    elif "${" in text:
                        value["headers"][header] = text.replace("${", "$${")
            if key in ("chainSuccess", "chainFailure") and value in names:
                value = names[value]
            if key == "requestMethod":
                default, value = METHODS[0], METHODS[value] if 0 <= value < 9 else value
            part = _differs(value, default)
            if part is not None:
                entry[key] = part
        out_jobs.append(entry)
    document: dict[str, Any] = {
        "version": 1,
        "folders": [folders[f] for f in sorted(folders)],
        "jobs": out_jobs,
    }
    if monitors is not None:
        document["monitors"] = exported_monitors(monitors, folders)
    return document, variables


def exported_monitors(
    monitors: list[dict[str, Any]], folders: dict[int, str]
) -> list[dict[str, Any]]:
    """The file's `monitors`: each by its title (`monitor-<id>` if it has none), with the fields
    that differ from the defaults; a cron schedule as its string. No ping URL: the API shows it
    once, and `cronhook monitors ping-url` makes a new one."""
    seen: dict[str, int] = {}
    out: list[dict[str, Any]] = []
    for monitor in sorted(monitors, key=lambda m: int(m["monitorId"])):
        name = monitor.get("title") or f"monitor-{monitor['monitorId']}"
        if name in seen:
            raise PlanError(
                f"monitors {seen[name]} and {monitor['monitorId']} are both titled {name!r}: "
                "apply finds monitors by title, so give each a title of its own before exporting"
            )
        seen[name] = int(monitor["monitorId"])
        entry: dict[str, Any] = {"name": name}
        if monitor.get("folderId"):
            entry["folder"] = folders.get(monitor["folderId"], monitor["folderId"])
        schedule = dict(monitor.get("schedule") or {})
        if schedule != MONITOR_DEFAULTS["schedule"]:
            entry["schedule"] = schedule["cron"] if set(schedule) == {"cron"} else schedule
        for key in ("grace", "timezone", "notification"):
            part = _differs(monitor.get(key, MONITOR_DEFAULTS[key]), MONITOR_DEFAULTS[key])
            if part is not None:
                entry[key] = part
        out.append(entry)
    return out
