"""`cronhook jobs`: list, create, change, run and delete jobs."""

from __future__ import annotations

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
from cronhook_client.cli.job_options import (
    AfterOpt,
    BodyOpt,
    CertDaysOpt,
    CertOpt,
    CronOpt,
    DataOpt,
    DisableOpt,
    EnabledOpt,
    FailureOpt,
    FolderOpt,
    HeaderOpt,
    MethodOpt,
    SuccessOpt,
    TitleOpt,
    UrlOpt,
    headers,
    job_fields,
    method_number,
    notification,
)
from cronhook_client.cli.output import Format, emit, table, when
from cronhook_client.models import Job

app = group("List, create, change and run jobs.")
OVERRIDES = "For this run only"


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
    notify_failure: FailureOpt = None,
    notify_after: AfterOpt = None,
    notify_success: SuccessOpt = None,
    notify_disable: DisableOpt = None,
    notify_cert: CertOpt = None,
    cert_days: CertDaysOpt = None,
    fmt: Output = Format.table,
) -> None:
    """Create a job; prints its id and its signing secret (shown only now)."""
    notices = notification(
        notify_failure, notify_after, notify_success, notify_disable, notify_cert, cert_days
    )
    job = job_fields(url, title, cron, tz, method, header, body, enabled, folder, data, notices)
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
    notify_failure: FailureOpt = None,
    notify_after: AfterOpt = None,
    notify_success: SuccessOpt = None,
    notify_disable: DisableOpt = None,
    notify_cert: CertOpt = None,
    cert_days: CertDaysOpt = None,
) -> None:
    """Change the fields given (a PATCH: the others stay, notification fields too)."""
    notices = notification(
        notify_failure, notify_after, notify_success, notify_disable, notify_cert, cert_days
    )
    delta = job_fields(url, title, cron, tz, method, header, body, enabled, folder, data, notices)
    if not delta:
        raise typer.BadParameter("give at least one field to change")
    state.client().update_job(job_id, delta)
    output.say(f"updated job {job_id}: {', '.join(delta)}")


@app.command("notifications")
def jobs_notifications(job_id: int, fmt: Output = Format.table) -> None:
    """Which notices the job sends.

    `jobs edit --notify-...` changes them; `cronhook notifications` says where they go."""
    notification = dict(state.client().get_job(job_id).get("notification") or {})

    def render(n: dict[str, Any]) -> Any:
        after = n.get("onFailureCount", 1)
        days = int(n.get("onSslCertExpirySeconds", 0)) // 86400
        rows = [
            ["failure", _yes(n.get("onFailure")), f"after {after} failure(s) in a row"],
            ["success", _yes(n.get("onSuccess")), "when it succeeds again after failures"],
            ["disable", _yes(n.get("onDisable")), "when cronhook disables the job"],
            ["cert", _yes(n.get("onSslCertExpiry")), f"{days} days before the TLS cert expires"],
        ]
        return table(["notice", "on", "when"], rows, title=f"job {job_id}")

    emit(notification, fmt, render)


def _yes(flag: Any) -> str:
    return "yes" if flag else "no"


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
    body: Annotated[
        str | None, typer.Option(help="this run's request body", rich_help_panel=OVERRIDES)
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            "-H",
            help="a header for this run, Name: value (added to the job's)",
            rich_help_panel=OVERRIDES,
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            help="this run's URL (same origin if the job holds credentials)",
            rich_help_panel=OVERRIDES,
        ),
    ] = None,
    method: Annotated[
        str | None, typer.Option(help="this run's HTTP method", rich_help_panel=OVERRIDES)
    ] = None,
    request_timeout: Annotated[
        int | None,
        typer.Option(
            help="this run's request timeout in seconds (1-300)", rich_help_panel=OVERRIDES
        ),
    ] = None,
    fmt: Output = Format.table,
) -> None:
    """Run a job now (its schedule does not move).

    --body, --header, --url, --method and --request-timeout change this run only."""
    client = state.client()
    run_id = client.run_job(
        job_id,
        body=body,
        headers=headers(header) if header else None,
        url=url,
        method=None if method is None else method_number(method),
        timeout=request_timeout,
    )
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
