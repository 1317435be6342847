"""The jobs file that `cronhook apply` reads and `cronhook export` writes.

    folders: [reports]
    jobs:
      - name: nightly-report          # the job's title: apply finds the job by it
        folder: reports               # a folder of this file, by title
        url: https://example.com/report
        enabled: true
        schedule: {cron: "30 4 * * 1-5", timezone: America/New_York}
        extendedData:
          headers: {Authorization: "Bearer ${REPORT_TOKEN}"}
        chainSuccess: cleanup         # another job of this file, by name (or a job id)

Every other key is a job field of the API with its name and meaning; a field left out means its
default, so the file states the whole job. `${NAME}` in any string is replaced by the environment
variable NAME (`$${` is a literal `${`); a missing variable is an error. Errors name the file,
line and field, and are raised before anything is sent.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cronhook_client.models import METHODS
from cronhook_client.yaml_lines import ManifestError, parse_yaml

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
# What a monitor is when a field is left out (chalicelib.monitors.validate; a test holds them
# equal). `title` is the file's `name`, `folderId` its `folder`.
MONITOR_DEFAULTS: dict[str, Any] = {
    "title": "",
    "schedule": {"every": 86400},
    "grace": 300,
    "timezone": "UTC",
    "folderId": 0,
    "notification": {"onMonitorDown": True, "onMonitorUp": True},
}
MONITOR_FIELDS = ("name", "folder", "schedule", "grace", "timezone", "notification")
MONITOR_READ_ONLY = (
    "monitorId",
    "pingUrl",
    "status",
    "started",
    "lastPing",
    "lastPingKind",
    "nextExpected",
    "downAt",
    "downSince",
    "lastDuration",
    "pings",
    "createdAt",
    "updatedAt",
)
MONITOR_SCHEDULE_KEYS = {  # what a monitor's schedule may not hold, and why (as the API says)
    "timezone": "give the monitor's time zone as its `timezone`",
    "expiresAt": "a monitor's schedule does not expire: pause or delete the monitor",
    "at": "must repeat: a one-shot time expects nothing after it",
}
SECONDS = (60, 365 * 86400)  # the range of a monitor's period and grace
FILE_FIELDS = ("name", "folder", *(k for k in DEFAULTS if k not in ("title", "folderId")))
_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_RANGE = re.compile(r"\s*(\d{3})\s*-\s*(\d{3})\s*", re.ASCII)


@dataclass
class DesiredJob:
    """One job of the file: its name, fields in the API's shape (defaults filled in), the folder
    and chained jobs by name, and which fields came from environment variables."""

    name: str
    path: str  # where in the file: "jobs[2]"
    spec: dict[str, Any]
    folder: str | None = None
    chains: dict[str, str] = field(default_factory=dict)  # chainSuccess -> job name
    secrets: set[str] = field(default_factory=set)  # "auth.password", "extendedData.headers.X"
    schedule_given: Any = None


@dataclass
class DesiredMonitor:
    """One heartbeat monitor of the file: its name, fields in the API's shape (defaults filled
    in; the schedule as written, not yet normalised) and its folder by title."""

    name: str
    path: str  # where in the file: "monitors[0]"
    spec: dict[str, Any]
    folder: str | None = None


@dataclass
class Manifest:
    file: str
    folders: list[str]
    jobs: list[DesiredJob]
    lines: dict[str, int]  # "jobs[0].schedule.cron" -> line (1-based)
    monitors: list[DesiredMonitor] = field(default_factory=list)
    # A file without a `monitors` key leaves the account's monitors alone (`--prune` too), so a
    # jobs file written before apply managed monitors does not delete them.
    manages_monitors: bool = False

    def line_of(self, path: str) -> int | None:
        """The line of `path`, else of its nearest parent that the file spells out."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None

    def error(self, path: str, message: str) -> ManifestError:
        return ManifestError(self.file, self.line_of(path), path, message)


# ---- checking -------------------------------------------------------------------------------


def substitute(value: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """`${NAME}` replaced from env; returns the text and the names used. KeyError: missing."""
    used: list[str] = []

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name = match.group(1)
        if name not in env:
            raise KeyError(name)
        used.append(name)
        return env[name]

    return _VAR.sub(one, value), used


def _expand(value: Any, path: str, env: Mapping[str, str], m: Manifest, secrets: set[str]) -> Any:
    if isinstance(value, str):
        try:
            text, used = substitute(value, env)
        except KeyError as exc:
            raise m.error(path, f"environment variable {exc.args[0]} is not set") from None
        if used:
            secrets.add(path)
        return text
    if isinstance(value, dict):
        return {k: _expand(v, f"{path}.{k}", env, m, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{path}[{n}]", env, m, secrets) for n, v in enumerate(value)]
    return value


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    return "a list"


def _check_type(value: Any, default: Any, path: str, m: Manifest) -> None:
    ok = (
        isinstance(value, bool)
        if isinstance(default, bool)
        else (isinstance(value, int) and not isinstance(value, bool))
        if isinstance(default, int)
        else isinstance(value, type(default))
    )
    if not ok:
        raise m.error(path, f"must be {_type_name(default)}")


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


def _name(raw: dict[str, Any], path: str, m: Manifest, what: str, longest: int) -> str:
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise m.error(f"{path}.name", f"every {what} needs a name (it becomes the {what}'s title)")
    if len(name) > longest or any(c in name for c in "\r\n\x00"):
        raise m.error(f"{path}.name", f"must be one line of at most {longest} characters")
    return name


def _folder(expanded: dict[str, Any], path: str, m: Manifest) -> str | None:
    folder = expanded.get("folder")
    if folder is not None and (not isinstance(folder, str) or not folder):
        raise m.error(f"{path}.folder", "must be a folder title of this file")
    if folder is not None and folder not in m.folders:
        raise m.error(f"{path}.folder", f"folder {folder!r} is not in this file's `folders`")
    return folder


def _job(raw: Any, path: str, env: Mapping[str, str], m: Manifest) -> DesiredJob:
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
    name = _name(raw, path, m, "job", 255)
    secrets: set[str] = set()
    expanded = _expand(raw, path, env, m, secrets)
    spec = copy.deepcopy(DEFAULTS)
    spec["title"] = name
    folder = _folder(expanded, path, m)
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
        _check_type(value, DEFAULTS[key], where, m)
        if key in NESTED:
            for inner, item in value.items():
                if inner not in DEFAULTS[key]:
                    raise m.error(f"{where}.{inner}", "unknown field")
                _check_type(item, DEFAULTS[key][inner], f"{where}.{inner}", m)
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


def _seconds(value: Any, where: str, m: Manifest) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise m.error(where, "must be an integer (seconds)")
    if not SECONDS[0] <= value <= SECONDS[1]:
        raise m.error(where, f"must be between {SECONDS[0]} and {SECONDS[1]} seconds")
    return value


def _monitor(raw: Any, path: str, env: Mapping[str, str], m: Manifest) -> DesiredMonitor:
    if not isinstance(raw, dict):
        raise m.error(path, "each monitor must be a mapping with at least a name")
    for key in raw:
        where = f"{path}.{key}"
        if key == "title":
            raise m.error(where, "a monitor's title is its `name` in this file")
        if key == "folderId":
            raise m.error(where, "name the folder instead: `folder: <title>`")
        if key in MONITOR_READ_ONLY:
            raise m.error(where, "is read-only (the API sets it): leave it out")
        if key not in MONITOR_FIELDS:
            raise m.error(where, "unknown field")
    name = _name(raw, path, m, "monitor", 200)
    expanded = _expand(raw, path, env, m, set())
    spec = copy.deepcopy(MONITOR_DEFAULTS)
    spec["title"] = name
    folder = _folder(expanded, path, m)
    schedule = expanded.get("schedule", spec["schedule"])
    where = f"{path}.schedule"
    if isinstance(schedule, str):
        schedule = {"cron": schedule}  # shorthand: a cron string
    if not isinstance(schedule, dict) or not schedule:
        raise m.error(where, "must be a cron string, {every: seconds} or another repeating form")
    if "every" in schedule:
        for key in schedule:
            if key != "every":
                raise m.error(f"{where}.{key}", "unknown field beside `every`")
        _seconds(schedule["every"], f"{where}.every", m)
    for key, why in MONITOR_SCHEDULE_KEYS.items():
        if key in schedule:
            raise m.error(f"{where}.{key}", why)
    spec["schedule"] = schedule
    if "grace" in expanded:
        spec["grace"] = _seconds(expanded["grace"], f"{path}.grace", m)
    if "timezone" in expanded:
        zone = expanded["timezone"]
        if not isinstance(zone, str) or not zone:
            raise m.error(f"{path}.timezone", "must be a time zone name such as Europe/Berlin")
        spec["timezone"] = zone
    if "notification" in expanded:
        value = expanded["notification"]
        _check_type(value, {}, f"{path}.notification", m)
        for inner, flag in value.items():
            if inner not in MONITOR_DEFAULTS["notification"]:
                raise m.error(f"{path}.notification.{inner}", "unknown field")
            _check_type(flag, True, f"{path}.notification.{inner}", m)
        spec["notification"] = {**MONITOR_DEFAULTS["notification"], **value}
    return DesiredMonitor(name=name, path=path, spec=spec, folder=folder)


def load(path: str | Path, env: Mapping[str, str], *, text: str | None = None) -> Manifest:
    """Read and check a jobs file (`-` is stdin's text, passed as `text`)."""
    file = str(path)
    if text is None:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ManifestError(file, None, None, f"cannot read: {exc.strerror}") from None
    data, lines = parse_yaml(text, file)
    m = Manifest(file=file, folders=[], jobs=[], lines=lines)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ManifestError(file, 1, None, "must be a mapping with `jobs`, `monitors`, `folders`")
    for key in data:
        if key not in ("version", "folders", "jobs", "monitors"):
            raise m.error(
                key, "unknown key: a jobs file has `version`, `folders`, `jobs` and `monitors`"
            )
    if data.get("version", 1) != 1:
        raise m.error("version", "this cronhook reads version 1 only")
    folders = data.get("folders") or []
    if not isinstance(folders, list):
        raise m.error("folders", "must be a list of folder titles")
    for n, title in enumerate(folders):
        if not isinstance(title, str) or not title.strip():
            raise m.error(f"folders[{n}]", "must be a folder title")
        if title in m.folders:
            raise m.error(f"folders[{n}]", f"folder {title!r} is listed twice")
        m.folders.append(title)
    raw_jobs = data.get("jobs") or []
    if not isinstance(raw_jobs, list):
        raise m.error("jobs", "must be a list of jobs")
    names: dict[str, str] = {}
    for n, raw in enumerate(raw_jobs):
        job = _job(raw, f"jobs[{n}]", env, m)
        if job.name in names:
            raise m.error(
                f"{job.path}.name", f"{job.name!r} is already the name of {names[job.name]}"
            )
        names[job.name] = job.path
        m.jobs.append(job)
    for job in m.jobs:
        for key, target in job.chains.items():
            if target not in names:
                raise m.error(f"{job.path}.{key}", f"no job named {target!r} in this file")
    m.manages_monitors = "monitors" in data
    raw_monitors = data.get("monitors") or []
    if not isinstance(raw_monitors, list):
        raise m.error("monitors", "must be a list of monitors")
    monitor_names: dict[str, str] = {}
    for n, raw in enumerate(raw_monitors):
        monitor = _monitor(raw, f"monitors[{n}]", env, m)
        if monitor.name in monitor_names:
            raise m.error(
                f"{monitor.path}.name",
                f"{monitor.name!r} is already the name of {monitor_names[monitor.name]}",
            )
        monitor_names[monitor.name] = monitor.path
        m.monitors.append(monitor)
    return m
