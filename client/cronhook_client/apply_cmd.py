"""`cronhook apply -f jobs.yaml` and `cronhook export`: jobs as code (docs/CLI.md)."""

from __future__ import annotations

import copy
import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from cronhook_client import manifest as mf
from cronhook_client.errors import ApiError
from cronhook_client.models import METHODS, Job
from cronhook_client.output import say, warn
from cronhook_client.plan import MASK, Action, Plan, PlanError, compute, execute

SECRET_HEADER = re.compile(
    r"authorization|cookie|token|secret|key|auth|password|signature|session", re.I
)


def _cli() -> Any:
    from cronhook_client import cli

    return cli


def _account(client: Any) -> tuple[list[Job], dict[int, str]]:
    folders = {f["folderId"]: f["title"] for f in client.list_folders()}
    jobs = [client.get_job(j["jobId"]) for j in client.list_jobs()]
    return jobs, folders


def _show_plan(plan: Plan, file: str) -> None:
    marks = {"create": ("+", "green"), "update": ("~", "yellow"), "delete": ("-", "red")}
    for action in plan.actions:
        verb = action.kind.split("-")[0]
        mark, colour = marks[verb]
        say(f"[{colour}]{mark} {action.title()}[/]")
        if action.kind == "create":
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
    """A new job's fields that differ from the defaults (secrets hidden)."""
    out: dict[str, str] = {}
    for key, value in action.payload.items():
        default: Any = mf.DEFAULTS.get(key)
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
        bool, typer.Option(help="delete jobs and folders the file does not name")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="apply without asking")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show the plan only")] = False,
    resend_secrets: Annotated[
        bool, typer.Option(help="send every password again (the API shows them masked)")
    ] = False,
    show_secrets: Annotated[
        bool, typer.Option(help="print the signing secrets of the jobs created")
    ] = False,
) -> None:
    """Make the account's jobs and folders match a jobs file: plan, ask, apply."""
    cli = _cli()
    text = sys.stdin.read() if file == "-" else None
    manifest = mf.load("<stdin>" if file == "-" else file, os.environ, text=text)
    client = cli.state.client()
    current, folders = _account(client)
    schedules: dict[str, dict[str, Any]] = {}

    def normalise(want: mf.DesiredJob) -> dict[str, Any]:
        if want.name not in schedules:
            try:
                preview = client.preview_schedule(want.spec["schedule"], count=1)
            except ApiError as exc:
                if exc.status != 400:
                    raise
                where = f"{want.path}.{exc.field or 'schedule'}"
                raise manifest.error(where, exc.message) from None
            schedules[want.name] = dict(preview["schedule"])
        return schedules[want.name]

    try:
        plan = compute(
            manifest, current, folders, normalise, prune=prune, resend_secrets=resend_secrets
        )
    except PlanError as exc:
        cli.fail(str(exc), cli.API_ERROR)
    if plan.empty:
        say(f"No changes: the account matches {manifest.file}.")
        return
    _show_plan(plan, manifest.file)
    if dry_run:
        return
    if not yes and not cli._confirm("Apply these changes?"):
        cli.fail("nothing applied", cli.API_ERROR)

    def done(action: Action) -> None:
        say(f"[green]✓[/] {action.title()}")

    jobs_by_title = {j.get("title", ""): int(j["jobId"]) for j in current}
    outcome = execute(plan, client, folders, jobs_by_title, done)
    if show_secrets:
        for name, secret in outcome.secrets.items():
            say(f"signing secret of {name!r}: {secret}", markup=False)
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
    raise typer.Exit(cli.API_ERROR)


# ---- export -------------------------------------------------------------------------------


def _var(name: str, what: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper() or "JOB"
    if stem[0].isdigit():
        stem = "JOB_" + stem
    return f"{stem}_{re.sub(r'[^A-Za-z0-9]+', '_', what).strip('_').upper()}"


def _differs(value: Any, default: Any) -> Any:
    """The part of a nested value that is not the default (None: nothing)."""
    if isinstance(value, dict) and isinstance(default, dict) and default:
        out = {k: v for k, v in value.items() if k not in default or v != default[k]}
        return out or None
    return None if value == default else value


def exported(jobs: list[Job], folders: dict[int, str]) -> tuple[dict[str, Any], list[str]]:
    """The jobs file of an account, and the environment variables its secrets now name."""
    names: dict[int, str] = {}
    seen: dict[str, int] = {}
    for job in jobs:
        name = job.get("title") or f"job-{job['jobId']}"
        if name in seen:
            raise PlanError(
                f"jobs {seen[name]} and {job['jobId']} are both titled {name!r}: apply finds "
                "jobs by title, so give each a title of its own before exporting"
            )
        seen[name] = job["jobId"]
        names[job["jobId"]] = name
    variables: list[str] = []
    out_jobs: list[dict[str, Any]] = []
    for job in sorted(jobs, key=lambda j: j["jobId"]):
        name = names[job["jobId"]]
        entry: dict[str, Any] = {"name": name}
        if job.get("folderId"):
            entry["folder"] = folders.get(job["folderId"], job["folderId"])
        entry["url"] = job["url"]
        for key, default in mf.DEFAULTS.items():
            if key in ("title", "url", "folderId"):
                continue
            value: Any = copy.deepcopy(job.get(key, default))
            if key == "schedule":
                value = dict(value)
                if value.get("timezone") == "UTC":
                    del value["timezone"]
                if value.get("expiresAt") == 0:
                    del value["expiresAt"]
                lists = ("hours", "mdays", "minutes", "months", "wdays")
                if all(value.get(k) == [] for k in lists) and set(value) <= set(lists):
                    value = {}
            if key == "auth" and value.get("password") == MASK:
                variable = _var(name, "password")
                value["password"] = "${" + variable + "}"
                variables.append(f"{variable} (the password of job {name!r})")
            if key == "extendedData":
                for header, text in list(value.get("headers", {}).items()):
                    if SECRET_HEADER.search(header) and "${" not in text:
                        variable = _var(name, header)
                        value["headers"][header] = "${" + variable + "}"
                        variables.append(f"{variable} (header {header} of job {name!r})")
                    elif "${" in text:
                        value["headers"][header] = text.replace("${", "$${")
            if key in ("chainSuccess", "chainFailure") and value in names:
                value = names[value]
            if key == "requestMethod":
                default, value = METHODS[0], METHODS[value] if 0 <= value < 9 else value
            part = _differs(value, default)
            if part is not None:
                entry[key] = part
        out_jobs.append(entry)
    document = {"version": 1, "folders": [folders[f] for f in sorted(folders)], "jobs": out_jobs}
    return document, variables


def export(
    file: Annotated[
        str | None, typer.Option("--file", "-f", help="write here (default: stdout)")
    ] = None,
) -> None:
    """Write the account's jobs and folders as the jobs file `apply` reads (no secrets)."""
    cli = _cli()
    client = cli.state.client()
    jobs, folders = _account(client)
    try:
        document, variables = exported(jobs, folders)
    except PlanError as exc:
        cli.fail(str(exc), cli.API_ERROR)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    text = (
        f"# cronhook jobs file: `cronhook apply -f` reads it (docs/CLI.md).\n"
        f"# Exported from {client.url} at {stamp}; secrets are ${{VARIABLES}}, never values.\n"
        + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    )
    if file:
        Path(file).write_text(text)
        warn(f"wrote {len(jobs)} jobs and {len(folders)} folders to {file}")
    else:
        sys.stdout.write(text)
    if variables:
        warn("set these environment variables before `cronhook apply`:")
        for line in variables:
            warn(f"  {line}")


def register(app: typer.Typer) -> None:
    app.command("apply")(apply)
    app.command("export")(export)
