"""The `monitors` entries of a jobs file: a heartbeat monitor's fields with their defaults,
`name` for the title and `folder` by title; read into DesiredMonitor with every value checked
(the schedule's own rules are the API's, asked before anything is sent)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from cronhook_client.manifest_model import (
    DesiredMonitor,
    Manifest,
    check_type,
    entry_folder,
    entry_name,
    expand,
)

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


def _seconds(value: Any, where: str, m: Manifest) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise m.error(where, "must be an integer (seconds)")
    if not SECONDS[0] <= value <= SECONDS[1]:
        raise m.error(where, f"must be between {SECONDS[0]} and {SECONDS[1]} seconds")
    return value


def _schedule(value: Any, where: str, m: Manifest) -> dict[str, Any]:
    """The schedule as written, with what the file can check alone checked (the API's
    preview checks the rest before anything is sent)."""
    schedule = {"cron": value} if isinstance(value, str) else value  # shorthand: a cron string
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
    timing = schedule.get("timing")
    if isinstance(timing, dict) and timing.get("years") not in (None, []):
        raise m.error(f"{where}.timing.years", "is not for a monitor: it must keep repeating")
    return schedule


def parse_monitor(raw: Any, path: str, env: Mapping[str, str], m: Manifest) -> DesiredMonitor:
    """One entry of `monitors` (at `path`, e.g. "monitors[0]") with its defaults filled in."""
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
    name = entry_name(raw, path, m, "monitor", 200)
    expanded = expand(raw, path, env, m, set())
    spec = copy.deepcopy(MONITOR_DEFAULTS)
    spec["title"] = name
    folder = entry_folder(expanded, path, m)
    if "schedule" in expanded:
        spec["schedule"] = _schedule(expanded["schedule"], f"{path}.schedule", m)
    if "grace" in expanded:
        spec["grace"] = _seconds(expanded["grace"], f"{path}.grace", m)
    if "timezone" in expanded:
        zone = expanded["timezone"]
        if not isinstance(zone, str) or not zone:
            raise m.error(f"{path}.timezone", "must be a time zone name such as Europe/Berlin")
        spec["timezone"] = zone
    if "notification" in expanded:
        value = expanded["notification"]
        check_type(value, {}, f"{path}.notification", m)
        for inner, flag in value.items():
            if inner not in MONITOR_DEFAULTS["notification"]:
                raise m.error(f"{path}.notification.{inner}", "unknown field")
            check_type(flag, True, f"{path}.notification.{inner}", m)
        spec["notification"] = {**MONITOR_DEFAULTS["notification"], **value}
    return DesiredMonitor(name=name, path=path, spec=spec, folder=folder)
