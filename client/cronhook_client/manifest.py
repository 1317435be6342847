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

import yaml

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
_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_RANGE = re.compile(r"\s*(\d{3})\s*-\s*(\d{3})\s*", re.ASCII)


class ManifestError(Exception):
    """A jobs file that cannot be applied: where (file, line, field) and why."""

    def __init__(self, file: str, line: int | None, where: str | None, message: str) -> None:
        self.file, self.line, self.where, self.message = file, line, where, message
        super().__init__(str(self))

    def __str__(self) -> str:
        place = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{place}: {self.where}: {self.message}" if self.where else f"{place}: {self.message}"
        )


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
class Manifest:
    file: str
    folders: list[str]
    jobs: list[DesiredJob]
    lines: dict[str, int]  # "jobs[0].schedule.cron" -> line (1-based)

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


# ---- reading YAML with positions ------------------------------------------------------------


def _to_python(node: yaml.Node, path: str, lines: dict[str, int], file: str) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader.construct_scalar(_LOADER, key_node)
            if not isinstance(key_node, yaml.ScalarNode) or not isinstance(key, str):
                raise ManifestError(file, key_node.start_mark.line + 1, path, "keys must be text")
            inner = f"{path}.{key}" if path else key
            if key in out:
                raise ManifestError(file, key_node.start_mark.line + 1, inner, "is given twice")
            lines[inner] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, inner, lines, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, f"{path}[{n}]", lines, file) for n, item in enumerate(node.value)]
    return _LOADER.construct_object(node, deep=True)


_LOADER = yaml.SafeLoader("")


def parse_yaml(text: str, file: str) -> tuple[Any, dict[str, int]]:
    """The document as plain Python and the line of every path in it."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ManifestError(file, line, None, f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ManifestError(file, None, None, f"not valid YAML: {exc}") from None
    lines: dict[str, int] = {}
    if node is None:
        return None, lines
    return _to_python(node, "", lines, file), lines


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
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise m.error(f"{path}.name", "every job needs a name (it becomes the job's title)")
    if len(name) > 255 or any(c in name for c in "\r\n\x00"):
        raise m.error(f"{path}.name", "must be one line of at most 255 characters")
    secrets: set[str] = set()
    expanded = _expand(raw, path, env, m, secrets)
    spec = copy.deepcopy(DEFAULTS)
    spec["title"] = name
    folder = expanded.get("folder")
    if folder is not None and (not isinstance(folder, str) or not folder):
        raise m.error(f"{path}.folder", "must be a folder title of this file")
    if folder is not None and folder not in m.folders:
        raise m.error(f"{path}.folder", f"folder {folder!r} is not in this file's `folders`")
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
        raise ManifestError(file, 1, None, "must be a mapping with `jobs` (and `folders`)")
    for key in data:
        if key not in ("version", "folders", "jobs"):
            raise m.error(key, "unknown key: a jobs file has `version`, `folders` and `jobs`")
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
    return m
