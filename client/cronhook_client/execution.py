"""Carrying out an apply's Plan (plan.py decides it): one API call per action, in order, stopping
at the first failure so that a re-run, planned again, completes it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cronhook_client.client import Client
from cronhook_client.errors import ApiError
from cronhook_client.plan import Action, Plan


@dataclass
class Outcome:
    done: list[Action] = field(default_factory=list)
    failed: Action | None = None
    error: ApiError | None = None
    skipped: list[Action] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)  # new job -> its signing secret
    ping_urls: dict[str, str] = field(default_factory=dict)  # new monitor -> its ping URL


def execute(
    plan: Plan,
    client: Client,
    folders: dict[int, str],
    jobs: dict[str, int],
    on_done: Callable[[Action], None] = lambda action: None,
) -> Outcome:
    """Carry out the plan's actions in order; stop at the first API error (a re-run completes it).
    `folders` (id -> title) and `jobs` (title -> id) are the account's before the run."""
    folder_ids = {title: fid for fid, title in folders.items()}
    job_ids = dict(jobs)
    outcome = Outcome()
    later: list[Action] = []  # jobs whose chains name jobs created after them
    for n, action in enumerate(plan.actions):
        try:
            _one(action, client, folder_ids, job_ids, outcome, later)
        except ApiError as exc:
            outcome.failed, outcome.error = action, exc
            outcome.skipped = plan.actions[n + 1 :]
            return outcome
        outcome.done.append(action)
        on_done(action)
    for action in later:
        try:
            client.update_job(job_ids[action.name], _chains(action, job_ids))
        except ApiError as exc:
            outcome.failed, outcome.error = action, exc
            return outcome
    return outcome


def _chains(action: Action, job_ids: dict[str, int]) -> dict[str, Any]:
    return {key: job_ids[name] for key, name in action.chains.items()}


def _one(
    action: Action,
    client: Client,
    folder_ids: dict[str, int],
    job_ids: dict[str, int],
    outcome: Outcome,
    later: list[Action],
) -> None:
    if action.kind == "create-folder":
        folder_ids[action.name] = client.create_folder(action.name)
        return
    if action.kind == "delete-folder":
        client.delete_folder(action.target_id)
        return
    if action.kind == "delete":
        client.delete_job(action.target_id)
        return
    if action.kind == "delete-monitor":
        client.delete_monitor(action.target_id)
        return
    if action.kind in ("create-monitor", "update-monitor"):
        payload = {**copy.deepcopy(action.payload), "folderId": _folder(action, folder_ids)}
        if action.kind == "update-monitor":
            client.update_monitor(action.target_id, payload)
            return
        monitor = client.create_monitor(payload)
        action.target_id = int(monitor["monitorId"])
        outcome.ping_urls[action.name] = str(monitor["pingUrl"])
        return
    payload = copy.deepcopy(action.payload)
    payload["folderId"] = _folder(action, folder_ids)
    ready = all(name in job_ids for name in action.chains.values())
    if ready:
        payload.update(_chains(action, job_ids))
    elif action.chains:
        later.append(action)
    if action.kind == "create":
        created = client.create_job(payload)
        job_ids[action.name] = int(created["jobId"])
        action.target_id = int(created["jobId"])
        outcome.secrets[action.name] = created["signingSecret"]
    else:
        client.update_job(action.target_id, payload)


def _folder(action: Action, folder_ids: dict[str, int]) -> int:
    return folder_ids[action.folder] if action.folder else 0
