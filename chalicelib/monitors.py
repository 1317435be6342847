"""Heartbeat monitors, the pure part: what a monitor is (validation, defaults), what a ping does
to it, when it is expected next, when it goes down, and how the API shows it. No store, no clock:
every time is passed in (epoch seconds, UTC).

The rules follow healthchecks.io: a success ping makes a monitor `up` and expects the next one
a period later (or at the schedule's first slot after the ping); past that it is `late`, and once
its grace has passed too, `down`. A `start` ping measures the duration of the run it begins; a
monitor that started must finish within its grace. A `fail` ping (or a non-zero exit status)
makes it `down` at once. A paused monitor never goes down; a ping resumes it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.errors import ValidationError
from chalicelib.schedule import Schedule, ScheduleError
from chalicelib.store.base import MonitorRecord

DEFAULT_GRACE_S = 300
GRACE_RANGE = (60, 365 * 86400)
EVERY_RANGE = (60, 365 * 86400)
DEFAULT_EVERY_S = 86400
MAX_TITLE = 200
PING_BODY_CAP = 10 * 1024  # bytes of a ping's body kept
PING_RETENTION_S = 30 * 86400  # pings expire as runs do by default
PING_RATE_PER_S = 1.0  # per monitor: a sustained ping a second ...
PING_BURST = 30.0  # ... with bursts of 30
TOKEN_BYTES = 24  # 192 bits
KINDS = ("success", "start", "fail")
MAX_EXIT_STATUS = 255
NOTIFICATION_DEFAULTS = {"onMonitorDown": True, "onMonitorUp": True}
FIELDS = ("title", "schedule", "grace", "timezone", "folderId", "notification")


# ---- tokens -------------------------------------------------------------------------------


def new_token() -> str:
    """An unguessable ping token: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """What the store keeps of a token: its SHA-256 (a token is random: no salt needed)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


# ---- validation ---------------------------------------------------------------------------


def _int(value: object, field: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError("must be an integer (seconds)", field=field)
    if not low <= value <= high:
        raise ValidationError(f"must be between {low} and {high}", field=field)
    return value


def schedule_of(spec: Mapping[str, Any]) -> Schedule | None:
    """The job schedule a monitor's `schedule` stands for; None for a period (`every`)."""
    data = spec["schedule"]
    if "every" in data:
        return None
    return Schedule.parse({**data, "timezone": spec["timezone"]})


def _schedule(value: object, timezone: str, now: float) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(
            'must be an object such as {"every": 3600} or {"cron": "0 2 * * *"}', field="schedule"
        )
    if "every" in value:
        if len(value) > 1:
            unknown = sorted(str(k) for k in value if k != "every")[0]
            raise ValidationError("unknown field beside 'every'", field=f"schedule.{unknown}")
        return {"every": _int(value["every"], "schedule.every", *EVERY_RANGE)}
    for key in value:
        if key in ("timezone", "expiresAt", "at") or (key == "timing" and _has_years(value)):
            raise ValidationError(
                SCHEDULE_KEYS.get(key, "not for a monitor"), field=f"schedule.{key}"
            )
    try:
        schedule = Schedule.parse({**value, "timezone": timezone})
    except ScheduleError as exc:
        raise ValidationError(exc.message, field=exc.field) from None
    if schedule.kind in ("none", "at"):
        raise ValidationError(
            "must repeat: a period ({'every': seconds}) or a cron, Quartz, cron-job.org or "
            "Cronicle schedule",
            field="schedule",
        )
    if schedule.next_after(now) is None:
        raise ValidationError("never fires again: nothing could be expected", field="schedule")
    data = schedule.to_dict()
    for key in ("timezone", "expiresAt"):  # the monitor's own timezone; it never expires
        data.pop(key, None)
    return data


SCHEDULE_KEYS = {
    "timezone": "give the monitor's time zone as its 'timezone'",
    "expiresAt": "a monitor's schedule does not expire: pause or delete the monitor",
    "at": "must repeat: a one-shot time expects nothing after it",
    "timing": "'years' is not for a monitor: it must keep repeating",
}


def _has_years(value: dict[str, Any]) -> bool:
    timing = value.get("timing")
    return isinstance(timing, dict) and timing.get("years") not in (None, [])


def _timezone(value: object) -> str:
    try:
        return Schedule.parse({"timezone": value}).timezone
    except ScheduleError as exc:
        raise ValidationError(exc.message, field="timezone") from None


def _notification(value: object) -> dict[str, bool]:
    if not isinstance(value, dict):
        raise ValidationError("must be an object", field="notification")
    out = dict(NOTIFICATION_DEFAULTS)
    for key, flag in value.items():
        if key not in NOTIFICATION_DEFAULTS:
            raise ValidationError("unknown field", field=f"notification.{key}")
        if not isinstance(flag, bool):
            raise ValidationError("must be true or false", field=f"notification.{key}")
        out[key] = flag
    return out


def validate(
    payload: object, now: float, folder_ids: set[int], base: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A monitor's spec from a PUT body (or a PATCH delta over `base`), every field checked."""
    if not isinstance(payload, dict):
        raise ValidationError("must be an object", field="monitor")
    for key in payload:
        if key not in FIELDS:
            raise ValidationError("unknown field", field=str(key))
    merged: dict[str, Any] = {
        "title": "",
        "schedule": {"every": DEFAULT_EVERY_S},
        "grace": DEFAULT_GRACE_S,
        "timezone": "UTC",
        "folderId": 0,
        "notification": {},
        **(base or {}),
        **payload,
    }
    title = merged["title"]
    if not isinstance(title, str) or len(title) > MAX_TITLE or any(c in title for c in "\r\n\0"):
        raise ValidationError(f"must be one line of at most {MAX_TITLE} characters", field="title")
    timezone = _timezone(merged["timezone"])
    folder = _int(merged["folderId"], "folderId", 0, 2**53)
    if folder and folder not in folder_ids:
        raise ValidationError("no such folder in this account", field="folderId")
    return {
        "title": title,
        "schedule": _schedule(merged["schedule"], timezone, now),
        "grace": _int(merged["grace"], "grace", *GRACE_RANGE),
        "timezone": timezone,
        "folderId": folder,
        "notification": _notification(merged["notification"]),
    }


# ---- rules --------------------------------------------------------------------------------


def expected_after(spec: Mapping[str, Any], t: float) -> int | None:
    """When the ping after one at `t` is due: a period later, or the schedule's next slot."""
    every = spec["schedule"].get("every")
    if every is not None:
        return int(t) + int(every)
    schedule = schedule_of(spec)
    return schedule.next_after(t) if schedule is not None else None


@dataclass(frozen=True)
class Ping:
    """A ping as the edge parsed it: `kind` success, start or fail; `exit_status` if given."""

    kind: str
    at: float
    exit_status: int | None = None


def parse_kind(suffix: str | None) -> tuple[str, int | None] | None:
    """The kind a ping URL's suffix means (none, start, fail or an exit status 0-255); None for
    a suffix that is none of them."""
    if suffix is None or suffix == "":
        return "success", None
    if suffix in ("start", "fail"):
        return suffix, None
    if suffix.isascii() and suffix.isdigit() and len(suffix) <= 3:
        status = int(suffix)
        if status <= MAX_EXIT_STATUS:
            return ("success" if status == 0 else "fail"), status
    return None


def after_ping(monitor: MonitorRecord, ping: Ping) -> MonitorRecord:
    """The monitor once `ping` arrived (version not counted): the state the store should hold."""
    spec, at = monitor.spec, ping.at
    changed = replace(monitor, last_ping=at, last_ping_kind=ping.kind, pings=monitor.pings + 1)
    if ping.kind == "start":
        changed.started_at = at
        if monitor.status in ("paused", "down"):
            changed.status = "new" if monitor.status == "paused" else "down"
        # A run that started must finish within the grace (healthchecks' "started" state).
        changed.alert_at = int(at) + int(spec["grace"]) if changed.status != "down" else None
        return changed
    if monitor.started_at is not None and at >= monitor.started_at:
        changed.last_duration_ms = round((at - monitor.started_at) * 1000)
    changed.started_at = None
    if ping.kind == "fail":
        changed.status = "down"
        changed.alert_at = None
        changed.down_since = monitor.down_since if monitor.status == "down" else int(at)
        return changed
    changed.status = "up"
    changed.down_since = None
    changed.next_expected = expected_after(spec, at)
    changed.alert_at = (
        None if changed.next_expected is None else changed.next_expected + int(spec["grace"])
    )
    return changed


def rescheduled(monitor: MonitorRecord) -> MonitorRecord:
    """The monitor after its schedule or grace changed: expectations counted from its last
    ping again (only while it is up: new, down and paused monitors expect nothing)."""
    changed = replace(monitor)
    if monitor.status == "up" and monitor.last_ping is not None:
        changed.next_expected = expected_after(monitor.spec, monitor.last_ping)
        alert = changed.next_expected
        changed.alert_at = None if alert is None else alert + int(monitor.spec["grace"])
        if monitor.started_at is not None:
            started = int(monitor.started_at) + int(monitor.spec["grace"])
            changed.alert_at = started if alert is None else min(started, changed.alert_at or 0)
    return changed


def gone_down(monitor: MonitorRecord, now: float) -> MonitorRecord | None:
    """The monitor marked down if its grace has run out by `now`, else None (nothing to do)."""
    if monitor.alert_at is None or monitor.alert_at > now or monitor.status in ("down", "paused"):
        return None
    return replace(
        monitor, status="down", down_since=monitor.alert_at, alert_at=None, started_at=None
    )


def paused(monitor: MonitorRecord) -> MonitorRecord:
    return replace(monitor, status="paused", alert_at=None, started_at=None, down_since=None)


def resumed(monitor: MonitorRecord) -> MonitorRecord:
    """A paused monitor waits for its first ping again, as a new one does."""
    if monitor.status != "paused":
        return replace(monitor)
    return replace(monitor, status="new", alert_at=None, next_expected=None)


def status(monitor: MonitorRecord, now: float) -> str:
    """new, up, late (past its expected time, within grace), down or paused, as of `now`: a
    monitor whose grace ran out is down even before the tick has marked it so."""
    if monitor.status != "up" and monitor.alert_at is None:
        return monitor.status
    if monitor.alert_at is not None and now >= monitor.alert_at:
        return "down"
    if monitor.status == "up" and monitor.next_expected is not None and now > monitor.next_expected:
        return "late"
    return monitor.status


# ---- views --------------------------------------------------------------------------------

# The columns of GET /monitors (text and XML listings; dotted inside an object).
COLUMNS = frozenset(
    {
        "monitorId",
        "title",
        "grace",
        "timezone",
        "folderId",
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
        "notification.onMonitorDown",
        "notification.onMonitorUp",
        *(
            f"schedule.{key}"
            for key in ("every", "cron", "hours", "mdays", "minutes", "months", "wdays")
        ),
        *(f"schedule.timing.{key}" for key in ("months", "days", "weekdays", "hours", "minutes")),
    }
)
# The columns of GET /monitors/{monitorId}/pings.
PING_COLUMNS = frozenset(
    {
        "pingId",
        "date",
        "kind",
        "exitStatus",
        "method",
        "remoteAddr",
        "userAgent",
        "body",
        "bodySize",
        "bodyTruncated",
        "duration",
    }
)


def view(monitor: MonitorRecord, now: float) -> dict[str, Any]:
    spec = monitor.spec
    return {
        "monitorId": monitor.monitor_id,
        **{key: spec[key] for key in FIELDS},
        "status": status(monitor, now),
        "started": monitor.started_at is not None,
        "lastPing": monitor.last_ping,
        "lastPingKind": monitor.last_ping_kind or None,
        "nextExpected": monitor.next_expected,
        "downAt": monitor.alert_at,
        "downSince": monitor.down_since,
        "lastDuration": monitor.last_duration_ms,
        "pings": monitor.pings,
        "createdAt": monitor.created_at,
        "updatedAt": monitor.updated_at,
    }
