"""`cronhook apply -f jobs.yaml`: show the plan that makes the account match the file, ask, carry
it out, and say what was and was not applied (docs/CLI.md)."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any

import typer

from cronhook_client.cli.base import API_ERROR, NOT_FOUND, confirm, fail, state
from cronhook_client.cli.export import account, monitors_of
from cronhook_client.cli.output import say, warn
from cronhook_client.client import Client
from cronhook_client.execution import execute
from cronhook_client.job_entries import DEFAULTS
from cronhook_client.manifest import load
from cronhook_client.manifest_model import Manifest
from cronhook_client.models import METHODS, Job
from cronhook_client.monitor_entries import MONITOR_DEFAULTS
from cronhook_client.monitor_plan import compute_monitors
from cronhook_client.plan import Action, Plan, PlanError, compute
from cronhook_client.schedule_check import ScheduleCheck


def _plan(
    manifest: Manifest,
    client: Client,
    current: list[Job],
    folders: dict[int, str],
    prune: bool,
    resend_secrets: bool,
) -> Plan:
    """What the file changes: folders and jobs, and monitors when the file has `monitors`."""
    schedules = ScheduleCheck(client, manifest)
    plan = compute(
        manifest, current, folders, schedules.job, prune=prune, resend_secrets=resend_secrets
    )
    if not manifest.manages_monitors:
        return plan
    monitors = monitors_of(client)
    if monitors is None:
        fail(
            f"{client.url} has no monitors (no GET /monitors): take `monitors` out of "
            f"{manifest.file}",
            NOT_FOUND,
        )
    extra = compute_monitors(manifest, monitors, folders, schedules.monitor, prune=prune)
    return Plan.ordered(plan.actions + extra)


def _show_plan(plan: Plan, file: str) -> None:
    marks = {"create": ("+", "green"), "update": ("~", "yellow"), "delete": ("-", "red")}
    for action in plan.actions:
        verb = action.kind.split("-")[0]
        mark, colour = marks[verb]
        say(f"[{colour}]{mark} {action.title()}[/]")
        if action.kind in ("create", "create-monitor"):
            for key, value in _worth_showing(action).items():
                say(f"    {key}: {value}", markup=False)
        for change in action.changes:
            say(f"    {change.show()}", markup=False)
    counts = plan.counts()
    say(
        f"Plan: {counts['create']} to create, {counts['update']} to change, "
        f"{counts['delete']} to delete ({file})."
    )


def _worth_showing(action: Action) -> dict[str, str]:
    """A new job's or monitor's fields that differ from the defaults (secrets hidden)."""
    out: dict[str, str] = {}
    defaults = MONITOR_DEFAULTS if action.kind == "create-monitor" else DEFAULTS
    for key, value in action.payload.items():
        default: Any = defaults.get(key)
        if key in ("title", "folderId") or value == default:
            continue
        if key == "auth":
            value = {k: v for k, v in value.items() if k != "password" and v != default.get(k)}
            if "password" in action.payload["auth"]:
                value["password"] = "(secret)"
            if not value:
                continue
        if key == "extendedData" and value.get("headers"):
            value = {**value, "headers": {k: "(...)" for k in value["headers"]}}
        if key == "requestMethod":
            value = METHODS[value]
        out[key] = value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "))
    if action.folder:
        out["folder"] = action.folder
    return out


def apply(
    file: Annotated[str, typer.Option("--file", "-f", help="the jobs file ('-' for stdin)")],
    prune: Annotated[
        bool,
        typer.Option(
            help="delete the jobs, folders (and monitors, if it has `monitors`) the file "
            "does not name"
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="apply without asking")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show the plan only")] = False,
    resend_secrets: Annotated[
        bool, typer.Option(help="send every password again (the API shows them masked)")
    ] = False,
    show_secrets: Annotated[
        bool,
        typer.Option(
            help="print the signing secrets of new jobs and the ping URLs of new monitors"
        ),
    ] = False,
) -> None:
    """Make the account's jobs, folders and monitors match a jobs file: plan, ask, apply."""
    text = sys.stdin.read() if file == "-" else None
    manifest = load("<stdin>" if file == "-" else file, os.environ, text=text)
    client = state.client()
    current, folders = account(client)
    try:
        plan = _plan(manifest, client, current, folders, prune, resend_secrets)
    except PlanError as exc:
        fail(str(exc), API_ERROR)
    if plan.empty:
        say(f"No changes: the account matches {manifest.file}.")
        return
    _show_plan(plan, manifest.file)
    if dry_run:
        return
    if not yes and not confirm("Apply these changes?"):
        fail("nothing applied", API_ERROR)

    def done(action: Action) -> None:
        say(f"[green]✓[/] {action.title()}")

    jobs_by_title = {j.get("title", ""): int(j["jobId"]) for j in current}
    outcome = execute(plan, client, folders, jobs_by_title, done)
    if show_secrets:
        for name, secret in outcome.secrets.items():
            say(f"signing secret of {name!r}: {secret}", markup=False)
        for name, url in outcome.ping_urls.items():
            say(f"ping URL of monitor {name!r}: {url}", markup=False)
    elif outcome.ping_urls:
        warn(
            f"the ping URLs of the {len(outcome.ping_urls)} monitor(s) created are not printed "
            "without --show-secrets: `cronhook monitors ping-url ID` makes a new one"
        )
    if outcome.failed is None:
        counts = plan.counts()
        say(
            f"Applied: {counts['create']} created, {counts['update']} changed, "
            f"{counts['delete']} deleted."
        )
        return
    action, error = outcome.failed, outcome.error
    assert error is not None
    where = ""
    if error.field and action.path:
        field = {"folderId": "folder", "title": "name"}.get(error.field, error.field)
        path = f"{action.path}.{field}"
        line = manifest.line_of(path)
        where = f" ({manifest.file}:{line}: {path})" if line else f" ({path})"
    say(f"[red]✗[/] {action.title()}: {error.message}{where}")
    applied = len(outcome.done)
    pending = [action, *outcome.skipped]
    warn(
        f"error: apply stopped: {applied} of {len(plan.actions)} changes applied, "
        f"{len(pending)} not: " + "; ".join(a.title() for a in pending)
    )
    warn(f"fix the cause and run `cronhook apply -f {file}` again to complete it")
    raise typer.Exit(API_ERROR)
