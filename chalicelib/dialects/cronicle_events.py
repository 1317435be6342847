"""Cronicle's events and jobs as cronhook's jobs and runs, both ways (pure: no storage, no HTTP).

An event of Cronicle's HTTP Request plugin (`urlplug`) is a cronhook job; a Cronicle job is a
cronhook run. Cronicle fields with no cronhook counterpart (server placement, e-mail lists, the
web hook, other plugin parameters), and values cronhook takes in a narrower range (a `timeout`
of 3600 runs with cronhook's longest, 300 s), are kept in the job's `keptFields.cronicle` as
`[given]` or `[given, cronhook value at save]` and shown back as given while the cronhook value
is still the one they were saved with: an edit through cronhook's own API shows through.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib import jobs
from chalicelib.store.base import JobRecord, RunRecord

PLUGIN = "urlplug"
PLACEMENT = (
    "target",
    "algo",
    "multiplex",
    "stagger",
    "cpu_limit",
    "cpu_sustain",
    "memory_limit",
    "memory_sustain",
    "log_max_size",
    "detached",
)
# Sent back as read, or set by the service: taken and ignored.
READ_ONLY = frozenset({"id", "created", "modified", "username", "api_key", "session_id", "jobs"})
# Arguments of a call, not fields of the event.
ARGUMENTS = frozenset({"reset_cursor", "abort_jobs", "callback", "offset", "limit", "post_data"})
TIMING_KEYS = ("years", "months", "days", "weekdays", "hours", "minutes")
NO_SCHEDULE: dict[str, list[int]] = {
    key: [] for key in ("hours", "mdays", "minutes", "months", "wdays")
}
DEFAULT_CATEGORY = "general"  # Cronicle's stock category: cronhook's root folder
_HEADER_LINE = re.compile(r"^([^:]+):\s*(.+)$")
# Where a cronhook field's error is a Cronicle parameter's.
_FIELDS = (
    ("url", "params.url"),
    ("requestMethod", "params.method"),
    ("extendedData.headers", "params.headers"),
    ("extendedData.body", "params.data"),
    ("requestTimeout", "timeout"),
    ("redirectSuccess", "params.follow"),
    ("tlsVerify", "params.ssl_cert_bypass"),
    ("successMatch", "params.success_match"),
    ("errorMatch", "params.error_match"),
    ("schedule.timing", "timing"),
    ("schedule.timezone", "timezone"),
    ("schedule", "timing"),
    ("catchUp", "catch_up"),
    ("retryDelay", "retry_delay"),
    ("maxConcurrent", "max_children"),
    ("queueMax", "queue_max"),
    ("chainSuccess", "chain"),
    ("chainFailure", "chain_error"),
    ("folderId", "category"),
    ("keptFields", "target"),
    ("notification", "notify_fail"),
)


class Refused(Exception):
    """An error answer in Cronicle's words: `code` (a string) and `description`."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def cronicle_field(field_name: str | None) -> str:
    """The Cronicle parameter a cronhook field's error is about."""
    if not field_name:
        return "params"
    for ours, theirs in _FIELDS:
        if field_name == ours or field_name.startswith(ours + "."):
            return theirs + field_name[len(ours) :] if ours == "schedule.timing" else theirs
    return field_name


def malformed(name: str, why: str) -> Refused:
    return Refused("api", f"Malformed parameter: {name} ({why})")


def flag(value: Any, name: str) -> bool:
    """Cronicle's boolean: true/false, a number, or its text ("1", "true")."""
    if isinstance(value, bool):
        return value
    if jobs.is_int(value) and value >= 0:
        return value != 0
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return value.strip("0") != ""
    raise malformed(name, "must be 0 or 1")


def count(value: Any, name: str) -> int:
    """A whole number from 0, as a JSON number or its text (a query string has only text)."""
    if jobs.is_int(value) and value >= 0:
        return int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 15:
        return int(value)
    raise malformed(name, "must be a whole number from 0")


def text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise malformed(name, "must be a string")
    return value


def event_id(value: Any, name: str = "id") -> int | None:
    """A cronhook job id from Cronicle's string id ("42", or 42); None for no such id."""
    if jobs.is_int(value):
        return int(value) if 0 < value < 2**53 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 16:
        return int(value) or None
    if isinstance(value, str):
        return None  # a Cronicle id ("3c182051"): no event here has it
    raise malformed(name, "must be a string")


@dataclass
class EventInput:
    """An event as a Cronicle client sent it, in cronhook's terms: the job fields it sets (a
    delta in cronhook's wire format), Cronicle values to keep, and the references the caller
    resolves against the account (category, chains; None: not given, "" for a chain: none)."""

    delta: dict[str, Any] = field(default_factory=dict)
    kept: dict[str, list[Any]] = field(default_factory=dict)
    category: str | None = None
    chain: str | None = None
    chain_error: str | None = None


def event_input(event: Mapping[str, Any], current: Mapping[str, Any] | None) -> EventInput:
    """Translate a create (`current` None) or an update (`current`: the event as it stands,
    for the fields two Cronicle parameters decide together)."""
    out = EventInput()
    delta, kept = out.delta, out.kept
    plugin = event.get("plugin", None if current is not None else PLUGIN)
    if plugin is not None and plugin != PLUGIN:
        raise Refused(
            "event",
            f"Only HTTP Request events (plugin '{PLUGIN}') run here; '{plugin}' does not",
        )
    if "title" in event:
        title = text(event["title"], "title")
        if not title.strip():
            raise malformed("title", "must not be empty")
        delta["title"] = title
    if "enabled" in event:
        delta["enabled"] = flag(event["enabled"], "enabled")
    if "catch_up" in event:
        delta["catchUp"] = flag(event["catch_up"], "catch_up")
    if "notes" in event:
        delta["notes"] = text(event["notes"], "notes")
    if "category" in event:
        out.category = text(event["category"], "category") or DEFAULT_CATEGORY
    for name in ("chain", "chain_error"):
        if name in event:
            setattr(out, name, text(event[name], name) if event[name] is not None else "")
    _schedule(event, current, delta)
    _limits(event, current, delta, kept)
    _notices(event, delta, kept)
    _params(event, current, delta, kept)
    for name in (*PLACEMENT, "web_hook"):
        if name in event:
            kept[name] = [event[name]]
    for name, value in event.items():
        known = name in READ_ONLY or name in ARGUMENTS or name in _MAPPED or name in kept
        if not known:
            kept[name] = [value]  # as Cronicle stores an event: whatever else it was given
    return out


_MAPPED = frozenset(
    {
        "plugin",
        "title",
        "enabled",
        "catch_up",
        "notes",
        "category",
        "chain",
        "chain_error",
        "timing",
        "timezone",
        "timeout",
        "retries",
        "retry_delay",
        "max_children",
        "queue",
        "queue_max",
        "notify_success",
        "notify_fail",
        "params",
    }
)


def _schedule(
    event: Mapping[str, Any], current: Mapping[str, Any] | None, delta: dict[str, Any]
) -> None:
    schedule: dict[str, Any] = {}
    if "timing" in event or current is None:
        timing = event.get("timing")
        if isinstance(timing, dict):
            schedule["timing"] = timing  # {} is every minute, as in Cronicle
        elif timing in (None, False, 0, ""):
            schedule.update(NO_SCHEDULE)  # absent (or false): on demand
        else:
            raise malformed("timing", "must be an object")
    if "timezone" in event:
        schedule["timezone"] = text(event["timezone"], "timezone") or "UTC"
    if schedule:
        delta["schedule"] = schedule


def _keep(kept: dict[str, list[Any]], name: str, given: Any, ours: Any) -> None:
    kept[name] = [given, ours]


def _limits(
    event: Mapping[str, Any],
    current: Mapping[str, Any] | None,
    delta: dict[str, Any],
    kept: dict[str, list[Any]],
) -> None:
    """Counts Cronicle takes in a wider range than cronhook: run with the nearest cronhook
    value, shown back as given."""
    if "retries" in event:
        given = count(event["retries"], "retries")
        delta["retries"] = min(given, jobs.MAX_RETRIES)
        _keep(kept, "retries", given, delta["retries"])
    if "retry_delay" in event:
        given = count(event["retry_delay"], "retry_delay")
        delta["retryDelay"] = max(1, min(given, 3600))
        _keep(kept, "retry_delay", given, delta["retryDelay"])
    if "max_children" in event:
        given = count(event["max_children"], "max_children")
        delta["maxConcurrent"] = min(given, 100) if given else 100  # 0: no bound
        _keep(kept, "max_children", given, delta["maxConcurrent"])
    if "queue" in event or "queue_max" in event:
        before = current or {}
        queue = flag(event.get("queue", before.get("queue", 0)), "queue")
        most = count(event.get("queue_max", before.get("queue_max", 0)), "queue_max")
        delta["queueMax"] = (min(most, 1000) if most else 1000) if queue else 0
        if "queue" in event:
            _keep(kept, "queue", 1 if queue else 0, delta["queueMax"])
        if "queue_max" in event:
            _keep(kept, "queue_max", most, delta["queueMax"])
    params = event.get("params")
    given_params = params if isinstance(params, dict) else {}
    if "timeout" in event or "timeout" in given_params:
        # The event's run time and the plugin's request time both bound the one call: the
        # smaller of those given (0 is none: cronhook's longest).
        total = count(event["timeout"], "timeout") if "timeout" in event else None
        request = None
        if "timeout" in given_params:
            request = count(given_params["timeout"] or 0, "params.timeout")
        bound = min([n for n in (total, request) if n] or [0])
        delta["requestTimeout"] = min(bound, 300) if bound else 300
        if total is not None:
            _keep(kept, "timeout", total, delta["requestTimeout"])
        if request is not None:
            # urlplug's own parameter is text ("30"): shown back as text.
            _keep(kept, "params.timeout", str(request), delta["requestTimeout"])


def _notices(event: Mapping[str, Any], delta: dict[str, Any], kept: dict[str, list[Any]]) -> None:
    """Cronicle mails the listed addresses; cronhook notifies the account's address."""
    notification = {}
    for name, ours in (("notify_success", "onSuccess"), ("notify_fail", "onFailure")):
        if name in event:
            listed = text(event[name] or "", name)
            notification[ours] = bool(listed.strip())
            _keep(kept, name, event[name], notification[ours])
    if notification:
        delta["notification"] = notification


def _params(
    event: Mapping[str, Any],
    current: Mapping[str, Any] | None,
    delta: dict[str, Any],
    kept: dict[str, list[Any]],
) -> None:
    if "params" not in event:
        return
    params = event["params"]
    if not isinstance(params, dict):
        raise malformed("params", "must be an object")
    if "url" in params:
        delta["url"] = text(params["url"], "params.url").strip()
    if "method" in params:
        delta["requestMethod"] = text(params["method"], "params.method").upper()
    extended: dict[str, Any] = {}
    if "headers" in params:
        extended["headers"] = headers_from_text(params["headers"])
    if "data" in params:
        extended["body"] = text(params["data"] if params["data"] is not None else "", "params.data")
    if extended:
        delta["extendedData"] = extended
    if "follow" in params:
        delta["redirectSuccess"] = not flag(params["follow"], "params.follow")
    if "ssl_cert_bypass" in params:
        delta["tlsVerify"] = not flag(params["ssl_cert_bypass"], "params.ssl_cert_bypass")
    for name, ours in (("success_match", "successMatch"), ("error_match", "errorMatch")):
        if name in params:
            pattern = text(params[name] or "", f"params.{name}")
            delta[ours] = "" if pattern == ".*" else pattern  # Cronicle's default matches all
    mapped = {"url", "method", "headers", "data", "follow", "ssl_cert_bypass", "timeout"}
    mapped |= {"success_match", "error_match"}
    for name, value in params.items():
        if name not in mapped:
            kept[f"params.{name}"] = [value]


def headers_from_text(value: Any) -> dict[str, str]:
    """urlplug's request headers, one `Name: value` a line (lines of another shape are skipped,
    as Cronicle skips them); an object of names and values is taken too."""
    if isinstance(value, dict):
        return value
    lines = text(value if value is not None else "", "params.headers")
    found: dict[str, str] = {}
    for line in lines.replace("\r\n", "\n").strip().split("\n"):
        match = _HEADER_LINE.match(line)
        if match:
            name = match.group(1).strip()
            for seen in [k for k in found if k.lower() == name.lower()]:
                del found[seen]  # the last one given wins, as in Cronicle
            found[name] = match.group(2).strip()
    return found


def headers_to_text(headers: Mapping[str, str]) -> str:
    return "".join(f"{name}: {value}\n" for name, value in headers.items())


# ---- cronhook -> Cronicle ---------------------------------------------------------------------


def _at(spec: Mapping[str, Any], path: str) -> Any:
    value: Any = spec
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


_KEPT_SOURCE = {
    "timeout": "requestTimeout",
    "params.timeout": "requestTimeout",
    "retries": "retries",
    "retry_delay": "retryDelay",
    "max_children": "maxConcurrent",
    "queue": "queueMax",
    "queue_max": "queueMax",
    "notify_success": "notification.onSuccess",
    "notify_fail": "notification.onFailure",
}


def event_view(job: JobRecord, category: str, default_timeout: int) -> dict[str, Any]:
    """The job as a Cronicle event (Event Data Format); ids are strings."""
    spec = job.spec
    timeout = spec["requestTimeout"] if spec["requestTimeout"] > 0 else default_timeout
    schedule = spec["schedule"]
    headers = spec["extendedData"]["headers"]
    event: dict[str, Any] = {
        "id": str(job.job_id),
        "title": spec["title"],
        "enabled": 1 if spec["enabled"] else 0,
        "category": category,
        "plugin": PLUGIN,
        "target": "",
        "timezone": schedule.get("timezone", "UTC"),
        "timeout": timeout,
        "retries": spec["retries"],
        "retry_delay": spec["retryDelay"],
        "catch_up": 1 if spec["catchUp"] else 0,
        "max_children": spec["maxConcurrent"],
        "queue": 1 if spec["queueMax"] else 0,
        "queue_max": spec["queueMax"],
        "chain": str(spec["chainSuccess"]) if spec["chainSuccess"] else "",
        "chain_error": str(spec["chainFailure"]) if spec["chainFailure"] else "",
        "notify_success": "",
        "notify_fail": "",
        "web_hook": "",
        "notes": spec.get("notes", ""),
        "created": job.created_at,
        "modified": job.updated_at,
        "username": spec.get("createdBy", ""),
        "params": {
            "method": jobs.METHODS[spec["requestMethod"]],
            "url": spec["url"],
            "headers": headers_to_text(headers),
            "data": spec["extendedData"]["body"],
            "timeout": str(timeout),
            "follow": 0 if spec["redirectSuccess"] else 1,
            "ssl_cert_bypass": 0 if spec.get("tlsVerify", True) else 1,
            "success_match": spec.get("successMatch", ""),
            "error_match": spec.get("errorMatch", ""),
        },
    }
    timing = _timing(schedule)
    if timing is not None:
        event["timing"] = timing
    elif not _unscheduled(schedule):
        event["schedule"] = schedule  # a cron or one-shot schedule set through cronhook's API
    kept = (spec.get("keptFields") or {}).get("cronicle") or {}
    for name, entry in kept.items():
        if not isinstance(entry, list) or not entry:
            continue
        source = _KEPT_SOURCE.get(name)
        if len(entry) > 1 and (source is None or _at(spec, source) != entry[1]):
            continue  # changed since through cronhook's API: the job's value shows
        if name.startswith("params."):
            event["params"][name[len("params.") :]] = entry[0]
        else:
            event[name] = entry[0]
    return event


def _timing(schedule: Mapping[str, Any]) -> dict[str, Any] | None:
    if "timing" in schedule:
        return dict(schedule["timing"])
    if "cron" in schedule or "at" in schedule or _unscheduled(schedule):
        return None
    # cron-job.org's lists: [-1] is every, as a left-out Cronicle list is.
    names = {"months": "months", "mdays": "days", "wdays": "weekdays", "hours": "hours"}
    names["minutes"] = "minutes"
    return {
        theirs: list(schedule[ours])
        for ours, theirs in names.items()
        if schedule.get(ours) and schedule[ours] != [-1]
    }


def _unscheduled(schedule: Mapping[str, Any]) -> bool:
    return all(schedule.get(key) == [] for key in NO_SCHEDULE)


def source_text(run: RunRecord) -> str:
    trigger = run.data.get("trigger", "schedule")
    if trigger == "schedule":
        return "Scheduler"
    if trigger == "chain":
        return "Chain Reaction"
    by = run.data.get("by")
    return f"API Key ({by})" if by else "Manual"


_FINISHED = ("done", "aborted", "lost", "skipped", "cancelled")


def perf(stats: Mapping[str, int]) -> str:
    """The call's phases in Cronicle's perf format (milliseconds, `scale=1000`)."""

    def ms(us: int) -> str:
        return f"{max(us, 0) / 1000:.3f}"

    dns = stats.get("nameLookup", 0)
    connect = stats.get("connect", 0)
    tls = stats.get("appConnect", 0)
    first = stats.get("startTransfer", 0)
    sent = max(dns, connect, tls, stats.get("preTransfer", 0))
    phases = {
        "dns": dns,
        "connect": max(connect - dns, 0) if connect else 0,
        "tls": max(tls - connect, 0) if tls else 0,
        "ttfb": max(first - sent, 0) if first else 0,
        "total": stats.get("total", 0),
    }
    return "scale=1000&" + "&".join(f"{name}={ms(us)}" for name, us in phases.items())


def job_view(run: RunRecord, event: Mapping[str, Any] | None, now: float) -> dict[str, Any]:
    """A run as a Cronicle job (get_job_status): the event's fields, then the run's."""
    data = run.data
    out: dict[str, Any] = dict(event or {})
    out.pop("jobs", None)
    start = float(data.get("date") or data.get("datePlanned") or 0)
    out.update(
        id=data.get("runId", run.run_id),
        event=str(run.job_id),
        event_title=(event or {}).get("title", ""),
        plugin=PLUGIN,
        plugin_title="HTTP Request",
        category_title=(event or {}).get("category", ""),
        hostname="cronhook",
        source=source_text(run),
        time_start=start,
        now=int(now),
        state=run.state,  # cronhook's: queued, running, waiting, done, aborted, ...
        attempt=data.get("attempt", 1),
    )
    if run.state in _FINISHED:
        elapsed = data.get("duration", 0) / 1000
        ok = data.get("status") == 1
        http = int(data.get("httpStatus", 0))
        out.update(
            complete=1,
            progress=1,
            code=0 if ok else (http if http >= 400 else 1),
            description=f"Success (HTTP {http})" if ok else data.get("statusText", ""),
            perf=perf(data.get("stats") or {}),
            time_end=start + elapsed,
            elapsed=elapsed,
            http_status=http,
        )
    else:
        out.update(progress=0, elapsed=max(0.0, now - start) if data.get("date") else 0.0)
    return out
