"""`cronhook apply` for the file's heartbeat monitors: the actions that make the account's
monitors match it. Monitors are matched by title (the file's `name`), as jobs are; a monitor's
ping URL is a credential the API shows once, so it is never compared, written or changed here."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from cronhook_client.manifest_model import DesiredMonitor, Manifest
from cronhook_client.monitor_entries import MONITOR_DEFAULTS
from cronhook_client.plan import Action, Change, PlanError

_UNTITLED = re.compile(r"monitor-(\d+)")
COMPARED = ("title", "schedule", "grace", "timezone", "notification")


def compute_monitors(
    manifest: Manifest,
    current: list[dict[str, Any]],
    folders: dict[int, str],
    normalise: Callable[[DesiredMonitor], dict[str, Any]],
    *,
    prune: bool = False,
) -> list[Action]:
    """Creates and updates in file order, then (with `prune`) deletes of the monitors the file
    does not name. `normalise` returns a monitor's schedule as the API stores it (it may raise
    ManifestError: nothing has been sent then)."""
    by_title: dict[str, list[dict[str, Any]]] = {}
    for monitor in current:
        by_title.setdefault(monitor.get("title", ""), []).append(monitor)
    ids = {int(m["monitorId"]): m for m in current}
    actions: list[Action] = []
    matched: set[int] = set()
    for want in manifest.monitors:
        found = by_title.get(want.name, [])
        if len(found) > 1:
            listed = ", ".join(str(m["monitorId"]) for m in found)
            raise PlanError(
                f"monitors {listed} are all titled {want.name!r}: apply finds monitors by title; "
                "rename or delete all but one"
            )
        have = found[0] if found else None
        untitled = _UNTITLED.fullmatch(want.name)
        if have is None and untitled and int(untitled[1]) in ids:
            candidate = ids[int(untitled[1])]
            if not candidate.get("title"):
                have = candidate  # `cronhook export` names an untitled monitor monitor-<id>
        wanted = {**copy.deepcopy(want.spec), "schedule": normalise(want)}
        del wanted["folderId"]
        if have is None:
            actions.append(
                Action(
                    "create-monitor", want.name, payload=wanted, folder=want.folder, path=want.path
                )
            )
            continue
        matched.add(int(have["monitorId"]))
        changes: list[Change] = []
        delta: dict[str, Any] = {}
        for key in COMPARED:
            old = have.get(key, MONITOR_DEFAULTS[key])
            if wanted[key] != old:
                changes.extend(_diff(key, old, wanted[key]))
                delta[key] = wanted[key]
        folder_now = folders.get(int(have.get("folderId", 0)))
        if want.folder != folder_now:
            changes.append(Change("folder", folder_now, want.folder))
        if changes:
            actions.append(
                Action(
                    "update-monitor",
                    want.name,
                    target_id=int(have["monitorId"]),
                    changes=changes,
                    payload=delta,
                    folder=want.folder,
                    path=want.path,
                )
            )
    if prune:
        for monitor in current:
            if int(monitor["monitorId"]) not in matched:
                name = monitor.get("title") or f"monitor-{monitor['monitorId']}"
                actions.append(Action("delete-monitor", name, target_id=int(monitor["monitorId"])))
    return actions


def _flat(value: Any, path: str) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{path}.{key}"))
        return out
    return {path: value}


def _diff(key: str, old: Any, new: Any) -> list[Change]:
    """Field by field: `schedule.every: 3600 -> null`, `schedule.cron: null -> "0 2 * * *"`."""
    old_flat, new_flat = _flat(old, key), _flat(new, key)
    paths = list(dict.fromkeys([*new_flat, *old_flat]))
    return [
        Change(p, old_flat.get(p), new_flat.get(p))
        for p in paths
        if old_flat.get(p) != new_flat.get(p)
    ]
