"""Move jobs in and out: cronhook's own export, cron-job.org job lists and Cronicle events.

`parse(document)` reads any of these shapes into jobs in cronhook's input shape, remembering where
in the file each came from so that an error names the file's own field (`rows[2].timing.minutes`).
`import_jobs` validates every job through `Service.create_job` on an in-memory copy first and
writes only when all are valid; `export_jobs` writes cronhook's own format, which `import_jobs`
reads back (folders by title, chains between the exported jobs, passwords included).

Accepted shapes:
- cronhook: `{"format": "cronhook-jobs", "version": 1, "folders": [...], "jobs": [...]}`;
- cron-job.org: `GET /jobs` (`{"jobs": [...]}`), `GET /jobs/{id}` (`{"jobDetails": {...}}`), a list
  of either, or the `{"job": {...}}` body of `PUT /jobs`; folder ids are not carried over;
- Cronicle: `get_schedule` (`{"rows": [...]}`), `get_event` (`{"event": {...}}`), an event or a list
  of events, run by the HTTP request plugin (`urlplug`): `params.url/method/headers/data/timeout/
  follow/ssl_cert_bypass/success_match/error_match`, `timing` and `timezone` become the schedule,
  `retries`, `retry_delay`, `catch_up`, `max_children`, `queue_max`, `chain` and `chain_error` map
  onto cronhook's fields of the same meaning.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib import jobs
from chalicelib.config import Settings
from chalicelib.errors import ValidationError
from chalicelib.service import Service
from chalicelib.store.base import Stores
from chalicelib.store.memory import memory_stores

EXPORT_FORMAT = "cronhook-jobs"
EXPORT_VERSION = 1
CHAINS = ("chainSuccess", "chainFailure")

# cronhook field -> Cronicle event field, to name the file's field in an error.
_CRONICLE_FIELDS = {
    "url": "params.url",
    "requestMethod": "params.method",
    "extendedData.headers": "params.headers",
    "extendedData.body": "params.data",
    "requestTimeout": "params.timeout",
    "redirectSuccess": "params.follow",
    "tlsVerify": "params.ssl_cert_bypass",
    "successMatch": "params.success_match",
    "errorMatch": "params.error_match",
    "schedule.timezone": "timezone",
    "schedule.timing": "timing",
    "schedule": "timing",
    "retryDelay": "retry_delay",
    "catchUp": "catch_up",
    "maxConcurrent": "max_children",
    "queueMax": "queue_max",
    "chainSuccess": "chain",
    "chainFailure": "chain_error",
}


@dataclass
class Candidate:
    """One job read from the file: its input payload and where it came from."""

    where: str
    payload: dict[str, Any]
    source_id: str | None = None
    chains: dict[str, str] = field(default_factory=dict)  # our chain field -> target's source id
    renames: Mapping[str, str] = field(default_factory=dict)  # our field -> the file's field

    def source_field(self, ours: str | None) -> str:
        """The file's path for one of our field paths (for error messages)."""
        name = ours or ""
        for mine, theirs in sorted(self.renames.items(), key=lambda kv: -len(kv[0])):
            if name == mine or name.startswith(mine + "."):
                name = theirs + name[len(mine) :]
                break
        if not name:
            return self.where or "job"
        return f"{self.where}.{name}" if self.where else name


@dataclass
class Bundle:
    """Everything read from one file."""

    kind: str
    jobs: list[Candidate]
    folders: dict[int, str] = field(default_factory=dict)  # source folder id -> title


def _at(where: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def parse(document: object) -> Bundle:
    """Read a file's JSON document into candidate jobs, or raise ValidationError naming the spot."""
    if isinstance(document, list):
        return _bundle([_item(obj, _at("", i)) for i, obj in enumerate(document)])
    if not isinstance(document, dict):
        raise ValidationError("the file must hold a JSON object or a list of jobs", field="file")
    if "format" in document:
        return _cronhook(document)
    for key in ("jobs", "rows", "events"):
        if isinstance(document.get(key), list):
            return _bundle([_item(obj, _at(key, i)) for i, obj in enumerate(document[key])])
    if isinstance(document.get("event"), dict):
        return _bundle([_cronicle(document["event"], "event")])
    return _bundle([_item(document, "")])


def _bundle(candidates: list[Candidate]) -> Bundle:
    kinds = {"cronicle" if c.renames else "cron-job.org" for c in candidates}
    return Bundle(kind=" and ".join(sorted(kinds)) or "empty", jobs=candidates)


def _item(obj: object, where: str) -> Candidate:
    if not isinstance(obj, dict):
        raise ValidationError("must be an object", field=where or "file")
    if isinstance(obj.get("jobDetails"), dict):
        return _cron_job_org(obj["jobDetails"], _at(where, "jobDetails"))
    if isinstance(obj.get("job"), dict):
        return _cron_job_org(obj["job"], _at(where, "job"))
    if any(key in obj for key in ("params", "plugin", "timing")):
        return _cronicle(obj, where)
    return _cron_job_org(obj, where)


def _take_chains(payload: dict[str, Any]) -> dict[str, str]:
    chains = {}
    for key in CHAINS:
        target = payload.get(key)
        if target:
            chains[key] = str(target)
        if key in payload:
            payload[key] = 0
    return chains


def _cron_job_org(job: Mapping[str, Any], where: str) -> Candidate:
    payload = dict(job)
    source_id = payload.get("jobId")
    # A folder id names a folder of the account the list came from, not of this one.
    if "folderId" in payload:
        payload["folderId"] = 0
    auth = payload.get("auth")
    if isinstance(auth, dict) and auth.get("password") == jobs.PASSWORD_MASK:
        # A masked password was never exported; only cronhook's own export carries passwords.
        payload["auth"] = {k: v for k, v in auth.items() if k != "password"}
    chains = _take_chains(payload)
    return Candidate(where, payload, None if source_id is None else str(source_id), chains)


def _flag(value: object) -> object:
    """Cronicle writes booleans as 0/1; anything else is left for validation to refuse."""
    if jobs.is_int(value) and value in (0, 1):
        return bool(value)
    return value


def _header_lines(text: object, where: str) -> object:
    """Cronicle's `headers` parameter is text, one `Name: value` per line."""
    if not isinstance(text, str):
        return text
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise ValidationError(
                f"line {number} is not of the form 'Name: value'",
                field=_at(where, "params.headers"),
            )
        headers[name.strip()] = value.strip()
    return headers


def _cronicle(event: Mapping[str, Any], where: str) -> Candidate:
    plugin = event.get("plugin")
    if plugin is not None and plugin != "urlplug":
        raise ValidationError(
            f"only events of Cronicle's HTTP request plugin (urlplug) can be imported, "
            f"not {plugin!r}",
            field=_at(where, "plugin"),
        )
    params = event.get("params", {})
    if not isinstance(params, dict):
        raise ValidationError("must be an object", field=_at(where, "params"))
    job: dict[str, Any] = {"url": params.get("url"), "enabled": _flag(event.get("enabled", False))}
    if "title" in event:
        job["title"] = event["title"]
    if "method" in params:
        job["requestMethod"] = params["method"]
    extended: dict[str, Any] = {}
    if "headers" in params:
        extended["headers"] = _header_lines(params["headers"], where)
    if "data" in params:
        extended["body"] = params["data"]
    if extended:
        job["extendedData"] = extended
    if "timeout" in params:
        timeout = params["timeout"]
        digits = isinstance(timeout, str) and timeout.isascii() and timeout.isdigit()
        job["requestTimeout"] = int(timeout) if digits else timeout
    if "follow" in params:
        # Cronicle follows redirects; cronhook does not, but can count a redirect as success.
        job["redirectSuccess"] = _flag(params["follow"])
    if "ssl_cert_bypass" in params:
        bypass = _flag(params["ssl_cert_bypass"])
        job["tlsVerify"] = (not bypass) if isinstance(bypass, bool) else bypass
    for theirs, ours in (("success_match", "successMatch"), ("error_match", "errorMatch")):
        if params.get(theirs):
            job[ours] = params[theirs]
    # Cronicle: no timing object (or false) means "on demand"; an empty one means every minute.
    timing = event.get("timing")
    if timing is not None and timing is not False:
        job["schedule"] = {"timing": timing}
        if event.get("timezone"):
            job["schedule"]["timezone"] = event["timezone"]
    else:
        job["schedule"] = {}
    if "retries" in event:
        job["retries"] = event["retries"]
    if event.get("retry_delay"):
        job["retryDelay"] = event["retry_delay"]
    if "catch_up" in event:
        job["catchUp"] = _flag(event["catch_up"])
    if event.get("max_children"):
        job["maxConcurrent"] = event["max_children"]
    if _flag(event.get("queue")) is True and "queue_max" in event:
        job["queueMax"] = event["queue_max"]
    chains = {
        ours: str(event[theirs])
        for ours, theirs in (("chainSuccess", "chain"), ("chainFailure", "chain_error"))
        if event.get(theirs)
    }
    source_id = event.get("id")
    return Candidate(
        where,
        job,
        None if source_id is None else str(source_id),
        chains,
        renames=_CRONICLE_FIELDS,
    )


def _cronhook(document: Mapping[str, Any]) -> Bundle:
    if document.get("format") != EXPORT_FORMAT:
        raise ValidationError(f"unknown format; cronhook writes {EXPORT_FORMAT!r}", field="format")
    if document.get("version") != EXPORT_VERSION:
        raise ValidationError(f"this cronhook reads version {EXPORT_VERSION}", field="version")
    folders: dict[int, str] = {}
    for i, folder in enumerate(document.get("folders") or []):
        if (
            not isinstance(folder, dict)
            or not jobs.is_int(folder.get("folderId"))
            or not isinstance(folder.get("title"), str)
        ):
            raise ValidationError('must be {"folderId": n, "title": "..."}', field=f"folders[{i}]")
        folders[folder["folderId"]] = folder["title"]
    candidates = []
    items = document.get("jobs")
    if not isinstance(items, list):
        raise ValidationError("must be a list", field="jobs")
    for i, job in enumerate(items):
        where = f"jobs[{i}]"
        if not isinstance(job, dict):
            raise ValidationError("must be an object", field=where)
        payload = dict(job)
        source_id = payload.get("jobId")
        folder = payload.get("folderId", 0)
        if folder and folder not in folders:
            raise ValidationError("no folder with this id in the file", field=f"{where}.folderId")
        chains = _take_chains(payload)
        candidates.append(
            Candidate(where, payload, None if source_id is None else str(source_id), chains)
        )
    return Bundle(kind="cronhook", jobs=candidates, folders=folders)


# ---- import and export -----------------------------------------------------------------------


def _folder_plan(
    existing: Mapping[int, str], wanted: Mapping[int, str]
) -> tuple[dict[int, int], list[str]]:
    """Source folder id -> existing folder id (by title), and the titles still to create."""
    by_title = {title: folder_id for folder_id, title in existing.items()}
    mapping: dict[int, int] = {}
    missing: list[str] = []
    for source_id, title in wanted.items():
        if title in by_title:
            mapping[source_id] = by_title[title]
        elif title not in missing:
            missing.append(title)
    return mapping, missing


def _prepared(candidate: Candidate, folders: Mapping[int, int]) -> dict[str, Any]:
    payload = dict(candidate.payload)
    if payload.get("folderId"):
        payload["folderId"] = folders[payload["folderId"]]
    return payload


def import_jobs(
    stores: Stores, settings: Settings, account_id: str, document: object
) -> dict[str, Any]:
    """Validate every job of the document, then create them all; nothing is written on error."""
    bundle = parse(document)
    existing_folders = stores.state.folders(account_id)[0]
    folder_map, missing = _folder_plan(existing_folders, bundle.folders)

    # 1. Every job through the real use case, on an in-memory copy of the account's folders.
    trial = Service(memory_stores(), settings)
    trial_folders = dict(existing_folders)
    for title in missing:
        trial_folders[max(trial_folders, default=0) + 1] = title
    trial.stores.state.put_folders(account_id, trial_folders, 0)
    trial_map, _ = _folder_plan(trial_folders, bundle.folders)
    for candidate in bundle.jobs:
        try:
            trial.create_job(account_id, _prepared(candidate, trial_map))
        except ValidationError as exc:
            raise ValidationError(exc.message, field=candidate.source_field(exc.field)) from None
    sources: dict[str, int] = {}
    for index, candidate in enumerate(bundle.jobs):
        if candidate.source_id is not None:
            sources.setdefault(candidate.source_id, index)
    for candidate in bundle.jobs:
        for key, target in candidate.chains.items():
            if target not in sources:
                raise ValidationError(
                    f"chains to {target!r}, which is not among the imported jobs",
                    field=candidate.source_field(key),
                )

    # 2. Write: folders first, then the jobs, then the chains between them (new ids now known).
    service = Service(stores, settings)
    created_folders = []
    for title in missing:
        folder_id = service.create_folder(account_id, {"title": title})
        created_folders.append({"folderId": folder_id, "title": title})
    folder_map, _ = _folder_plan(stores.state.folders(account_id)[0], bundle.folders)
    imported = []
    new_ids: dict[str, int] = {}
    for candidate in bundle.jobs:
        job, secret = service.create_job(account_id, _prepared(candidate, folder_map))
        if candidate.source_id is not None:
            new_ids.setdefault(candidate.source_id, job.job_id)
        imported.append(
            {
                "jobId": job.job_id,
                "title": job.spec["title"],
                "from": candidate.where or "job",
                "sourceId": candidate.source_id,
                "signingSecret": secret,
            }
        )
    for candidate, row in zip(bundle.jobs, imported, strict=True):
        if candidate.chains:
            delta = {key: new_ids[target] for key, target in candidate.chains.items()}
            service.update_job(account_id, row["jobId"], delta)
    return {"format": bundle.kind, "imported": imported, "foldersCreated": created_folders}


def export_jobs(stores: Stores, account_id: str) -> dict[str, Any]:
    """The account's jobs and folders in cronhook's export format (passwords included)."""
    folders, _ = stores.state.folders(account_id)
    exported = []
    for job in stores.jobs.list(account_id):
        exported.append({"jobId": job.job_id, **jobs.editable(job)})
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "account": account_id,
        "exportedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "folders": [{"folderId": f, "title": t} for f, t in sorted(folders.items())],
        "jobs": exported,
    }
