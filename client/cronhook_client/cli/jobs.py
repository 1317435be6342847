"""`cronhook jobs`: list, create, change, run and delete jobs."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from cronhook_client.cli import output
from cronhook_client.cli.base import (
    API_ERROR,
    IN_FLIGHT,
    RUN_FAILED,
    Output,
    TzOpt,
    confirm,
    fail,
    folder_id,
    group,
    state,
)
from cronhook_client.cli.output import Format, emit, table, when
from cronhook_client.models import METHODS, Job

app = group("List, create, change and run jobs.")


@app.command("list")
def jobs_list(
    fmt: Output = Format.table,
    folder: Annotated[str | None, typer.Option(help="only the jobs of this folder")] = None,
) -> None:
    """The account's jobs."""
    rows = state.client().list_jobs()
    if folder is not None:
        fid = folder_id(folder)
        rows = [job for job in rows if job.get("folderId") == fid]

    def render(jobs: list[Job]) -> Any:
        return table(
            ["id", "title", "enabled", "schedule", "next run (UTC)", "last", "url"],
            [
                [
                    j["jobId"],
                    j.get("title", ""),
                    "yes" if j.get("enabled") else "no",
                    output.schedule_text(dict(j.get("schedule", {}))),
                    when(j.get("nextExecution")),
                    (j.get("lastStatus", 0) and when(j.get("lastExecution"))) or "-",
                    j.get("url", ""),
                ]
                for j in jobs
            ],
        )

    emit(rows, fmt, render)


@app.command("get")
def jobs_get(job_id: int, fmt: Output = Format.table) -> None:
    """One job with every field (passwords masked)."""
    emit(state.client().get_job(job_id), fmt, lambda job: output.fields(dict(job)))


def _job_fields(
    url: str | None,
    title: str | None,
    cron: str | None,
    tz: str | None,
    method: str | None,
    header: list[str] | None,
    body: str | None,
    enabled: bool | None,
    folder: str | None,
    data: str | None,
) -> dict[str, Any]:
    """The job fields the options give (a delta for edit, a whole job for create)."""
    job: dict[str, Any] = {}
    if data:
        try:
            extra = json.loads(data)
        except ValueError as exc:
            raise typer.BadParameter(f"not JSON: {exc}", param_hint="--data") from None
        if not isinstance(extra, dict):
            raise typer.BadParameter("must be a JSON object of job fields", param_hint="--data")
        job.update(extra)
    if url is not None:
        job["url"] = url
    if title is not None:
        job["title"] = title
    if cron is not None or tz is not None:
        schedule = dict(job.get("schedule") or {})
        if cron is not None:
            schedule["cron"] = cron
        if tz is not None:
            schedule["timezone"] = tz
        job["schedule"] = schedule
    if method is not None:
        if method.upper() not in METHODS:
            raise typer.BadParameter("one of " + ", ".join(METHODS), param_hint="--method")
        job["requestMethod"] = METHODS.index(method.upper())
    if header:
        headers: dict[str, str] = {}
        for item in header:
            name, sep, value = item.partition(":")
            if not sep or not name.strip():
                raise typer.BadParameter("give Name: value", param_hint="--header")
            headers[name.strip()] = value.strip()
        job.setdefault("extendedData", {})["headers"] = headers
    if body is not None:
        job.setdefault("extendedData", {})["body"] = body
    if enabled is not None:
        job["enabled"] = enabled
    if folder is not None:
        job["folderId"] = folder_id(folder)
    return job


UrlOpt = Annotated[str | None, typer.Option(help="the URL to call")]
TitleOpt = Annotated[str | None, typer.Option(help="the job's title")]
CronOpt = Annotated[str | None, typer.Option(help='a cron schedule, e.g. "*/5 * * * *"')]
MethodOpt = Annotated[str | None, typer.Option(help="HTTP method (GET, POST, ...)")]
HeaderOpt = Annotated[
    list[str] | None, typer.Option("--header", "-H", help="a request header, Name: value")
]
BodyOpt = Annotated[str | None, typer.Option(help="the request body")]
EnabledOpt = Annotated[bool | None, typer.Option("--enabled/--disabled", help="fire on schedule")]
FolderOpt = Annotated[str | None, typer.Option(help="folder title ('' for the root)")]
DataOpt = Annotated[str | None, typer.Option(help="other job fields as a JSON object")]


@app.command("create")
def jobs_create(
    url: Annotated[str, typer.Option(help="the URL to call")],
    title: TitleOpt = None,
    cron: CronOpt = None,
    tz: TzOpt = None,
    method: MethodOpt = None,
    header: HeaderOpt = None,
    body: BodyOpt = None,
    enabled: EnabledOpt = True,
    folder: FolderOpt = None,
    data: DataOpt = None,
    fmt: Output = Format.table,
) -> None:
    """Create a job; prints its id and its signing secret (shown only now)."""
    job = _job_fields(url, title, cron, tz, method, header, body, enabled, folder, data)
    created = state.client().create_job(job)
    emit(
        dict(created),
        fmt,
        lambda c: f"created job {c['jobId']}\nsigning secret: {c['signingSecret']}",
    )


@app.command("edit")
def jobs_edit(
    job_id: int,
    url: UrlOpt = None,
    title: TitleOpt = None,
    cron: CronOpt = None,
    tz: TzOpt = None,
    method: MethodOpt = None,
    header: HeaderOpt = None,
    body: BodyOpt = None,
    enabled: EnabledOpt = None,
    folder: FolderOpt = None,
    data: DataOpt = None,
) -> None:
    """Change the fields given (a PATCH: the others stay)."""
    delta = _job_fields(url, title, cron, tz, method, header, body, enabled, folder, data)
    if not delta:
        raise typer.BadParameter("give at least one field to change")
    state.client().update_job(job_id, delta)
    output.say(f"updated job {job_id}: {', '.join(delta)}")


@app.command("delete")
def jobs_delete(
    job_id: int,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
) -> None:
    """Delete a job and its history."""
    client = state.client()
    job = client.get_job(job_id)
    if not yes and not confirm(f"delete job {job_id} {job.get('title', '')!r}?"):
        fail("not deleted", API_ERROR)
    client.delete_job(job_id)
    output.say(f"deleted job {job_id}")


@app.command("pause")
def jobs_pause(job_id: int) -> None:
    """Stop a job firing until it is resumed."""
    state.client().pause_job(job_id)
    output.say(f"paused job {job_id}")


@app.command("resume")
def jobs_resume(job_id: int) -> None:
    """Let a job fire again from its next slot (clears a failure streak)."""
    job = state.client().resume_job(job_id)
    output.say(f"resumed job {job_id}; next run {when(job.get('nextExecution'))}")


@app.command("run")
def jobs_run(
    job_id: int,
    wait: Annotated[
        bool, typer.Option(help="wait for the run's outcome (exit 6 if it failed)")
    ] = False,
    timeout: Annotated[float, typer.Option(help="seconds --wait waits at most")] = 300.0,
    fmt: Output = Format.table,
) -> None:
    """Run a job now (its schedule does not move)."""
    client = state.client()
    run_id = client.run_job(job_id)
    if not wait:
        emit({"runId": run_id}, fmt, lambda r: f"started run {r['runId']}")
        return
    deadline = time.monotonic() + timeout
    run = client.get_run(run_id)
    while run.get("state") in IN_FLIGHT and time.monotonic() < deadline:
        time.sleep(0.5)
        run = client.get_run(run_id)
    emit(dict(run), fmt, lambda r: table(output.HISTORY_COLUMNS, [output.history_row(run)]))
    if run.get("state") in IN_FLIGHT:
        fail(f"run {run_id} still {run.get('state')} after {timeout:g} s", RUN_FAILED)
    if run.get("status") != 1:
        raise typer.Exit(RUN_FAILED)
