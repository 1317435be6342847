"""`cronhook export`: write the account as the jobs file `cronhook apply` reads."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from cronhook_client.cli.base import API_ERROR, fail, state
from cronhook_client.cli.output import warn
from cronhook_client.client import Client
from cronhook_client.errors import NotFound
from cronhook_client.export import exported
from cronhook_client.models import Job
from cronhook_client.plan import PlanError


def account(client: Client) -> tuple[list[Job], dict[int, str]]:
    """The account's jobs in full and its folders (id -> title)."""
    folders = {f["folderId"]: f["title"] for f in client.list_folders()}
    jobs = [client.get_job(j["jobId"]) for j in client.list_jobs()]
    return jobs, folders


def monitors_of(client: Client) -> list[dict[str, Any]] | None:
    """The account's monitors; None from a server older than monitors (no such route)."""
    try:
        return client.list_monitors()
    except NotFound as exc:
        if exc.no_route:
            return None
        raise


def export(
    file: Annotated[
        str | None, typer.Option("--file", "-f", help="write here (default: stdout)")
    ] = None,
) -> None:
    """Write the account's jobs, folders and monitors as the jobs file `apply` reads.

    Secrets are written as ${VARIABLES}, never as values."""
    client = state.client()
    jobs, folders = account(client)
    monitors = monitors_of(client)
    try:
        document, variables = exported(jobs, folders, monitors)
    except PlanError as exc:
        fail(str(exc), API_ERROR)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    text = (
        f"# cronhook jobs file: `cronhook apply -f` reads it (docs/CLI.md).\n"
        f"# Exported from {client.url} at {stamp}; secrets are ${{VARIABLES}}, never values.\n"
        + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    )
    if file:
        Path(file).write_text(text)
        warn(
            f"wrote {len(jobs)} jobs, {len(monitors or [])} monitors and {len(folders)} folders "
            f"to {file}"
        )
    else:
        sys.stdout.write(text)
    if variables:
        warn("set these environment variables before `cronhook apply`:")
        for line in variables:
            warn(f"  {line}")
