"""`cronhook apply`: what the file changes in the account, as a Plan of actions decided apart
from the API calls (execution.py carries it out; monitor_plan.py adds the monitors' actions).

Jobs are matched by title (the file's `name`), folders by title. A password or a secret header
(Authorization, Proxy-Authorization, Cookie, X-Api-Key and the job's `secretHeaders`) cannot be
compared (the API shows it masked): it is sent when the job is created, when the API holds none,
when the job's URL moves to another origin (the API drops stored credentials then), or with
`resend_secrets`; otherwise the mask goes back, which the API reads as "unchanged".
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cronhook_client.job_entries import DEFAULTS, NESTED
from cronhook_client.manifest_model import DesiredJob, Manifest
from cronhook_client.models import Job

MASK = "********"
_UNTITLED = re.compile(r"job-(\d+)")


@dataclass(frozen=True)
class Change:
    """One field that differs: its dotted path, old and new (secrets are not shown)."""

    path: str
    old: Any
    new: Any
    secret: bool = False

    def show(self) -> str:
        if self.secret:
            return f"{self.path}: (secret {'set' if self.old in ('', None) else 'changed'})"
        return f"{self.path}: {_show(self.old)} -> {_show(self.new)}"


@dataclass
class Action:
    """One API call of the plan (or two: a job created, then chained to jobs made after it)."""

    kind: str  # create-folder, create, update, delete, delete-folder, create-monitor, ...
    name: str
    target_id: int = 0
    changes: list[Change] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)
    folder: str | None = None  # the folder the job goes in, by title (its id may not exist yet)
    chains: dict[str, str] = field(default_factory=dict)  # chain fields by job name
    path: str = ""  # where in the file

    def title(self) -> str:
        what = self.kind.split("-")[1] if "-" in self.kind else "job"
        where = f" (id {self.target_id})" if self.target_id else ""
        return f"{self.kind.split('-')[0]} {what} {self.name!r}{where}"


# The order a plan is carried out in: folders first (jobs and monitors go in them), jobs in
# file order (so a chain can name a job made before it), monitors, then deletes, folders last.
PHASES = {
    "create-folder": 0,
    "create": 1,
    "update": 1,
    "create-monitor": 2,
    "update-monitor": 2,
    "delete": 3,
    "delete-monitor": 4,
    "delete-folder": 5,
}


@dataclass
class Plan:
    actions: list[Action]

    @classmethod
    def ordered(cls, actions: list[Action]) -> Plan:
        """The actions in the order they are carried out (each phase keeps file order)."""
        return cls(sorted(actions, key=lambda action: PHASES[action.kind]))

    @property
    def empty(self) -> bool:
        return not self.actions

    def counts(self) -> dict[str, int]:
        out = {"create": 0, "update": 0, "delete": 0}
        for action in self.actions:
            out[action.kind.split("-")[0]] += 1
        return out


def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, separators=(", ", ": "))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


def _secret_names(spec: dict[str, Any]) -> frozenset[str]:
    return SECRET_HEADERS | {str(n).lower() for n in spec.get("secretHeaders") or ()}


def _masked(headers: dict[str, Any], secret: frozenset[str]) -> dict[str, Any]:
    return {k: (MASK if k.lower() in secret else v) for k, v in headers.items()}


def light_schedule(schedule: dict[str, Any]) -> dict[str, Any]:
    """The API's defaults of a schedule that are plain to see (zone UTC, expiresAt 0)."""
    out = dict(schedule)
    out.setdefault("timezone", "UTC")
    if "at" not in out:
        out.setdefault("expiresAt", 0)
    return out


class PlanError(Exception):
    """The account cannot be matched to the file (e.g. two jobs share a title)."""


def compute(
    manifest: Manifest,
    current: list[Job],
    folders: dict[int, str],
    normalise: Callable[[DesiredJob], dict[str, Any]],
    *,
    prune: bool = False,
    resend_secrets: bool = False,
) -> Plan:
    """The actions that make the account match the file. `current` are the account's jobs in
    full (`GET /jobs/{id}`); `normalise` returns a job's schedule as the API stores it (it may
    raise ManifestError: nothing has been sent then)."""
    by_title: dict[str, list[Job]] = {}
    for job in current:
        by_title.setdefault(job.get("title", ""), []).append(job)
    ids = {job["jobId"]: job for job in current}
    folder_ids = {title: fid for fid, title in folders.items()}
    actions: list[Action] = []
    for title in manifest.folders:
        if title not in folder_ids:
            actions.append(Action("create-folder", title, payload={"title": title}))
    matched: set[int] = set()
    for want in manifest.jobs:
        found = by_title.get(want.name, [])
        if len(found) > 1:
            listed = ", ".join(str(j["jobId"]) for j in found)
            raise PlanError(
                f"jobs {listed} are all titled {want.name!r}: apply finds jobs by title; "
                "rename or delete all but one"
            )
        have = found[0] if found else None
        untitled = _UNTITLED.fullmatch(want.name)
        if have is None and untitled and int(untitled[1]) in ids:
            candidate = ids[int(untitled[1])]
            if not candidate.get("title"):
                have = candidate  # `cronhook export` names an untitled job job-<id>
        if have is None:
            payload = copy.deepcopy(want.spec)
            payload["schedule"] = normalise(want)
            if not payload["auth"]["password"]:
                del payload["auth"]["password"]
            actions.append(
                Action(
                    "create",
                    want.name,
                    payload=payload,
                    folder=want.folder,
                    chains=dict(want.chains),
                    path=want.path,
                )
            )
            continue
        matched.add(have["jobId"])
        action = _update(want, have, folders, ids, normalise, resend_secrets)
        if action is not None:
            actions.append(action)
    if prune:
        for job in current:
            if job["jobId"] not in matched:
                name = job.get("title") or f"job-{job['jobId']}"
                actions.append(Action("delete", name, target_id=job["jobId"]))
        for fid, title in sorted(folders.items()):
            if title not in manifest.folders:
                actions.append(Action("delete-folder", title, target_id=fid))
    return Plan(actions)


def _flat(value: Any, path: str) -> dict[str, Any]:
    if isinstance(value, dict) and path.split(".")[0] in (*NESTED, "schedule"):
        out: dict[str, Any] = {}  # an empty map (no headers) has no paths
        for key, item in value.items():
            out.update(_flat(item, f"{path}.{key}"))
        return out
    return {path: value}


def _diff(key: str, old: Any, new: Any, secrets: set[str]) -> list[Change]:
    if key in NESTED:
        old_flat = _flat(old, key)
        new_flat = _flat(new, key)
        paths = list(dict.fromkeys([*new_flat, *old_flat]))
        return [
            Change(p, old_flat.get(p), new_flat.get(p), p in secrets)
            for p in paths
            if old_flat.get(p) != new_flat.get(p) and not p.startswith("auth.password")
        ]
    if key == "schedule":
        old_flat, new_flat = _flat(old, key), _flat(new, key)
        paths = list(dict.fromkeys([*new_flat, *old_flat]))
        return [
            Change(p, old_flat.get(p), new_flat.get(p))
            for p in paths
            if old_flat.get(p) != new_flat.get(p)
        ]
    return [Change(key, old, new, key in secrets)]


def _update(
    want: DesiredJob,
    have: Job,
    folders: dict[int, str],
    ids: dict[int, Job],
    normalise: Callable[[DesiredJob], dict[str, Any]],
    resend_secrets: bool,
) -> Action | None:
    current: dict[str, Any] = dict(have)
    changes: list[Change] = []
    delta: dict[str, Any] = {}
    moved = _origin(want.spec["url"]) != _origin(current.get("url", ""))
    for key, wanted in want.spec.items():
        if key in ("folderId", "chainSuccess", "chainFailure"):
            continue
        old = current.get(key, DEFAULTS[key])
        if key == "schedule":
            if light_schedule(wanted) == old:
                continue
            wanted = normalise(want)
        if key == "auth":
            old_cmp = {k: v for k, v in old.items() if k != "password"}
            new_cmp = {k: v for k, v in wanted.items() if k != "password"}
            if old_cmp != new_cmp:
                changes.extend(_diff(key, old, wanted, want.secrets))
                delta["auth"] = new_cmp
            continue
        if key == "extendedData":
            secret = _secret_names(want.spec)
            held_headers = old.get("headers") or {}
            wanted_headers = wanted.get("headers") or {}
            same = (
                _masked(held_headers, secret) == _masked(wanted_headers, secret)
                and old.get("body") == wanted.get("body")
                and {k for k in held_headers if held_headers[k] == MASK}
                == {k for k in wanted_headers if k.lower() in secret}
            )
            if same and not resend_secrets and not moved:
                continue
            sent = {
                k: (
                    MASK
                    if k.lower() in secret
                    and held_headers.get(k) == MASK
                    and not (resend_secrets or moved)
                    else v
                )
                for k, v in wanted_headers.items()
            }
            changes.extend(
                _diff(
                    key,
                    {**old, "headers": _masked(held_headers, secret)},
                    {**wanted, "headers": _masked(wanted_headers, secret)},
                    set(),
                )
            )
            changes.extend(
                Change(f"extendedData.headers.{k}", held_headers.get(k, ""), v, secret=True)
                for k, v in wanted_headers.items()
                if k.lower() in secret and sent[k] != MASK
            )
            delta[key] = {**wanted, "headers": sent}
            continue
        if wanted != old:
            changes.extend(_diff(key, old, wanted, want.secrets))
            delta[key] = wanted
    # the password: shown masked, so compared only as "set or not"
    password = want.spec["auth"]["password"]
    held = current.get("auth", {}).get("password", "")
    if password and (not held or resend_secrets or (moved and held)):
        why = "auth.password" + ("" if not held else " (sent again)")
        changes.append(Change(why, held, password, secret=True))
        delta.setdefault("auth", {})["password"] = password
    elif not password and held == MASK:
        changes.append(Change("auth.password", "(set)", "(none)"))
        delta.setdefault("auth", {})["password"] = ""
    folder_now = folders.get(int(current.get("folderId", 0)))
    if want.folder != folder_now:
        changes.append(Change("folder", folder_now, want.folder))
    chains: dict[str, str] = {}
    for key in ("chainSuccess", "chainFailure"):
        now_id = int(current.get(key, 0))
        now_name = ids[now_id].get("title") if now_id in ids else None
        if key in want.chains:
            if want.chains[key] != now_name:
                changes.append(Change(key, now_name or now_id, want.chains[key]))
                chains[key] = want.chains[key]
        elif want.spec[key] != now_id:
            changes.append(Change(key, now_name or now_id, want.spec[key]))
            delta[key] = want.spec[key]
    if not changes:
        return None
    return Action(
        "update",
        want.name,
        target_id=int(have["jobId"]),
        changes=changes,
        payload=delta,
        folder=want.folder,
        chains=chains,
        path=want.path,
    )
