"""Runs: ids, the history item a run becomes (cron-job.org's HistoryItem), retry backoff.

A run id starts with the planned time in milliseconds, so a job's runs sort by plan; the slot
key (`jobId#plannedTime`, and for a run-now or chained run its tag) is what a target sees as
`webhook-id`: the same on every attempt, different for every run.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from chalicelib.store.base import RunRecord

ACTIVE_STATES = ("queued", "running")
IN_FLIGHT = ("queued", "running", "waiting")  # what an abort or a run edit can still reach
MAX_RETRY_DELAY_S = 900  # 15 minutes: also SQS's longest delay
DEADLINE_MARGIN_S = 300  # queueing and recording time a run may take beyond its timeout

STATUS_TEXT = {
    0: "Unknown / not executed yet",
    1: "OK",
    2: "Failed (DNS error)",
    3: "Failed (could not connect to host)",
    4: "Failed (HTTP error)",
    5: "Failed (timeout)",
    6: "Failed (too much response data)",
    7: "Failed (invalid URL)",
    8: "Failed (internal errors)",
    9: "Failed (unknown reason)",
}


@dataclass(frozen=True)
class RunControl:
    """What was asked of one run in flight, for every attempt of it: an abort (by whom), and
    settings that replace the job's for this run only (None: the job's). Kept as a small value
    in the state store under `control_key`, where the runner looks while its call waits."""

    aborted_by: str | None = None
    timeout: int | None = None
    retries: int | None = None
    retry_delay: int | None = None
    chain_success: int | None = None
    chain_failure: int | None = None
    on_success: bool | None = None
    on_failure: bool | None = None

    @classmethod
    def from_value(cls, value: Any) -> RunControl:
        if not isinstance(value, dict):
            return cls()
        known = {k: v for k, v in value.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_value(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def abort_text(self) -> str:
        """How an aborted run's record says so."""
        return f"Aborted by {self.aborted_by}" if self.aborted_by else "Aborted"


def control_key(account_id: str, first_run_id: str) -> str:
    """Where a run's RunControl is kept: by its first attempt's id, so every attempt finds it."""
    return f"runctl#{account_id}#{first_run_id}"


def run_id(job_id: int, planned: float, attempt: int = 1, tag: str = "") -> str:
    base = f"{round(planned * 1000):013d}-{job_id}-{attempt}"
    return f"{base}-{tag}" if tag else base


def attempt_id(run_id: str, attempt: int) -> str:
    """The id of another attempt of the same run (same planned time, job and tag)."""
    parts = run_id.split("-")
    parts[2] = str(attempt)
    return "-".join(parts)


def run_id_bound(planned_until: float) -> str:
    """The run ids below this one are those of runs planned up to `planned_until`."""
    return f"{round(planned_until * 1000) + 1:013d}"


def slot_key(job_id: int, planned: float) -> str:
    return f"{job_id}#{int(planned)}"


def run_tag(run_id: str) -> str:
    """The tag that sets a run-now or chained run apart from its job's other runs that second
    ("" for a scheduled slot)."""
    parts = run_id.split("-", 3)
    return parts[3] if len(parts) > 3 else ""


def webhook_id(job_id: int, planned: float, first_run_id: str) -> str:
    """What targets see as `webhook-id` (receivers drop a message id they have seen): the slot
    key, plus the tag of a run-now, so two run-nows in one second are two messages."""
    tag = run_tag(first_run_id)
    return f"{slot_key(job_id, planned)}#{tag}" if tag else slot_key(job_id, planned)


def retry_delay(attempt: int, base: int, retry_after: float | None, rng: random.Random) -> int:
    """Seconds before attempt `attempt + 1`: `base` doubling per attempt, +-20% jitter, capped
    at 15 minutes; a server's Retry-After is honoured when it asks for longer (up to the cap)."""
    delay: float = min(MAX_RETRY_DELAY_S, base << (attempt - 1))
    delay *= rng.uniform(0.8, 1.2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return max(1, min(MAX_RETRY_DELAY_S, round(delay)))


# What a history item carries only when it applies to the run.
OPTIONAL_FIELDS = (
    "remoteIp",
    "redirects",
    "bodySize",
    "tlsVerified",
    "missedSlots",
    "jobDisabled",
    "chainMissing",
    "retryAt",
    "nextAttempt",
    "chain",
)
STATS = ("nameLookup", "connect", "appConnect", "preTransfer", "startTransfer", "total")
# The columns of `history_item` rows (format=text|xml, columns=).
HISTORY_COLUMNS = frozenset(
    {
        "jobLogId",
        "jobId",
        "identifier",
        "date",
        "datePlanned",
        "jitter",
        "url",
        "duration",
        "status",
        "statusText",
        "httpStatus",
        "headers",
        "body",
        "state",
        "runId",
        "attempt",
        "trigger",
        "reason",
        "sslCertExpiry",
        *OPTIONAL_FIELDS,
        *(f"stats.{name}" for name in STATS),
    }
)


# In a job's spec: the job version from which its URL is the one it has now (absent: since it
# was created). A run of an earlier version finds its URL on its record, or in the job's past
# URLs (Service._keep_past_url). Written by the service, never taken from a client.
URL_VERSION = "urlVersion"


def with_url(data: dict[str, Any], url: str, spec: dict[str, Any], version: int) -> dict[str, Any]:
    """A run's data with the URL it calls: left out when it is the URL of its job (`spec` at
    `version`), whose version `jv` then says which it was. A run item stays under 1 KB (one
    write unit) whatever the URL's length; reads put the URL back (Service.show_urls)."""
    out = {k: v for k, v in data.items() if k not in ("url", "jv")}
    if url == spec["url"]:
        out["jv"] = version
    else:
        out["url"] = url
    return out


def url_of(run: RunRecord, spec: dict[str, Any], past: list[list[Any]]) -> str:
    """The URL the run called (or calls): its own, else its job's at the run's job version:
    `spec`'s since its URL_VERSION, before that the first of `past` ([until version, URL],
    oldest first) that ends after it."""
    data = run.data
    if "url" in data:
        return str(data["url"])
    version = int(data.get("jv", 0))
    if version >= int(spec.get(URL_VERSION, 0)):
        return str(spec["url"])
    for until, url in past:
        if int(until) > version:
            return str(url)
    return str(spec["url"])


def calling(run: RunRecord, now: float) -> bool:
    """Whether the run is at its call, as far as its record tells: `running`, or `queued` past
    its delivery time (a routine run writes nothing between its claim and its result; see
    RunRecord for the runs written `running`)."""
    if run.state == "running":
        return True
    planned = run.data.get("deliverAt", run.data.get("datePlanned", now))
    return run.state == "queued" and float(planned) <= now


def history_item(run: RunRecord, *, response: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run as cron-job.org's HistoryItem plus cronhook's fields; headers and body come from
    the saved `response`, when there is one (only the details route reads it)."""
    data = run.data
    item: dict[str, Any] = {
        "jobLogId": data.get("jobLogId", 0),
        "jobId": run.job_id,
        "identifier": run.run_id,
        "date": data.get("date", 0),
        "datePlanned": data.get("datePlanned", 0),
        "jitter": data.get("jitter", 0),
        "url": data.get("url", ""),
        "duration": data.get("duration", 0),
        "status": data.get("status", 0),
        "statusText": data.get("statusText", STATUS_TEXT[0]),
        "httpStatus": data.get("httpStatus", 0),
        "headers": None,
        "body": None,
        "stats": data.get("stats", _zero_stats()),
        "state": run.state,
        "runId": data.get("runId", run.run_id),
        "attempt": data.get("attempt", 1),
        "trigger": data.get("trigger", "schedule"),
        "reason": data.get("reason", ""),
    }
    if data.get("sslCertExpiry") is not None:
        item["sslCertExpiry"] = data["sslCertExpiry"]
    for key in OPTIONAL_FIELDS:
        if key in data:
            item[key] = data[key]
    if response:
        item["headers"] = response.get("headers")
        item["body"] = response.get("body")
    return item


def _zero_stats() -> dict[str, int]:
    return dict.fromkeys(STATS, 0)


def raw_headers(headers: list[tuple[str, str]]) -> str:
    """Response headers as cron-job.org shows them: one `Name: value` per CRLF-ended line."""
    return "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
