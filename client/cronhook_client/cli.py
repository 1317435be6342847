"""The `cronhook` command: the API from a terminal or a CI job (docs/CLI.md).

Exit codes (scripts may rely on them): 0 done; 1 the API refused or failed (or an apply stopped
part way, or was declined); 2 usage error or an invalid jobs file (nothing sent); 3 not found;
4 no key, a wrong key or a missing scope; 5 the API cannot be reached; 6 `jobs run --wait`: the
run ended without success.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, NoReturn

import typer
import yaml
from typer import _click
from typer.core import TyperGroup

from cronhook_client import config, output
from cronhook_client.client import Client
from cronhook_client.errors import (
    ApiError,
    ConfigError,
    ConnectionFailed,
    NotFound,
    Unauthorized,
)
from cronhook_client.manifest import ManifestError
from cronhook_client.models import METHODS, HistoryItem, Job
from cronhook_client.output import Format, emit, table, when

OK, API_ERROR, USAGE, NOT_FOUND, AUTH, UNREACHABLE, RUN_FAILED = 0, 1, 2, 3, 4, 5, 6
IN_FLIGHT = ("queued", "running", "waiting")


class _Group(TyperGroup):
    """Turns the client's errors into one line on stderr and the documented exit code."""

    def invoke(self, ctx: _click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ManifestError as exc:
            fail(str(exc), USAGE)
        except ConfigError as exc:
            fail(str(exc), AUTH)
        except ConnectionFailed as exc:
            fail(str(exc), UNREACHABLE)
        except NotFound as exc:
            fail(f"not found: {exc.message}", NOT_FOUND)
        except Unauthorized as exc:
            fail(f"{exc.message} (HTTP {exc.status})", AUTH)
        except ApiError as exc:
            where = f" [{exc.field}]" if exc.field else ""
            fail(f"the API refused{where}: {exc.message} ({exc.status} {exc.code})", API_ERROR)


def fail(message: str, code: int) -> NoReturn:
    output.warn(f"error: {message}")
    raise typer.Exit(code)


app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="cronhook from the command line: jobs, runs, history, keys, and jobs as code.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


class State:
    url: str | None = None
    key: str | None = None
    profile: str | None = None
    _client: Client | None = None

    def client(self) -> Client:
        if self._client is None:
            chosen = config.resolve(self.url, self.key, self.profile)
            path = config.profiles_path()
            if chosen.source.startswith("profile") and config.too_open(path):
                output.warn(f"warning: others may read {path}, which holds keys: chmod 600 it")
            self._client = Client.from_profile(chosen)
        return self._client


state = State()

Output = Annotated[
    Format, typer.Option("--output", "-o", help="table (for people), json or yaml (for scripts)")
]


@app.callback()
def main_options(
    url: Annotated[
        str | None, typer.Option(help="API URL (else CRONHOOK_URL, else profile)")
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="API key (else CRONHOOK_KEY, else profile)")
    ] = None,
    profile: Annotated[
        str | None, typer.Option(help="profile name (else CRONHOOK_PROFILE, else default)")
    ] = None,
) -> None:
    state.url, state.key, state.profile = url, key, profile
    state._client = None


# ---- login ---------------------------------------------------------------------------------


@app.command()
def login(
    url: Annotated[str | None, typer.Option("--url", help="the API's URL")] = None,
    key: Annotated[str | None, typer.Option("--key", help="an API key")] = None,
    profile: Annotated[str, typer.Option(help="the profile to write")] = config.DEFAULT_PROFILE,
    check: Annotated[bool, typer.Option(help="try the key before saving it")] = True,
) -> None:
    """Save an API URL and key as a profile (file mode 0600)."""
    url = url or state.url or typer.prompt("API URL", default="http://127.0.0.1:8000")
    key = key or state.key or typer.prompt("API key", hide_input=True)
    assert url is not None and key is not None
    chosen = config.Profile(url=url.rstrip("/"), key=key.strip(), name=profile)
    if check:
        client = Client.from_profile(chosen)
        try:
            count = len(client.list_jobs())
            note = f"{count} job{'s' if count != 1 else ''} in the account"
        except Unauthorized as exc:
            if exc.status == 401:
                fail(f"the API refused the key: {exc.message}; nothing saved", AUTH)
            note = f"the key cannot list jobs ({exc.message})"
    path = config.save(chosen)
    output.say(f"saved profile {profile!r} to {path} (mode 0600)")
    if check:
        output.say(f"{chosen.url}: {note}")


# ---- jobs ----------------------------------------------------------------------------------

jobs_app = typer.Typer(cls=_Group, no_args_is_help=True, help="List, create, change and run jobs.")
app.add_typer(jobs_app, name="jobs")


def _folder_titles() -> dict[int, str]:
    return {f["folderId"]: f["title"] for f in state.client().list_folders()}


def _folder_id(title: str) -> int:
    for fid, name in _folder_titles().items():
        if name == title:
            return fid
    fail(f"no folder titled {title!r}", NOT_FOUND)


@jobs_app.command("list")
def jobs_list(
    fmt: Output = Format.table,
    folder: Annotated[str | None, typer.Option(help="only the jobs of this folder")] = None,
) -> None:
    """The account's jobs."""
    rows = state.client().list_jobs()
    if folder is not None:
        fid = _folder_id(folder)
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


@jobs_app.command("get")
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
        job["folderId"] = _folder_id(folder) if folder else 0
    return job


UrlOpt = Annotated[str | None, typer.Option(help="the URL to call")]
TitleOpt = Annotated[str | None, typer.Option(help="the job's title")]
CronOpt = Annotated[str | None, typer.Option(help='a cron schedule, e.g. "*/5 * * * *"')]
TzOpt = Annotated[str | None, typer.Option("--tz", help="the schedule's time zone (IANA)")]
MethodOpt = Annotated[str | None, typer.Option(help="HTTP method (GET, POST, ...)")]
HeaderOpt = Annotated[
    list[str] | None, typer.Option("--header", "-H", help="a request header, Name: value")
]
BodyOpt = Annotated[str | None, typer.Option(help="the request body")]
EnabledOpt = Annotated[bool | None, typer.Option("--enabled/--disabled", help="fire on schedule")]
FolderOpt = Annotated[str | None, typer.Option(help="folder title ('' for the root)")]
DataOpt = Annotated[str | None, typer.Option(help="other job fields as a JSON object")]


@jobs_app.command("create")
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


@jobs_app.command("edit")
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


@jobs_app.command("delete")
def jobs_delete(
    job_id: int,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
) -> None:
    """Delete a job and its history."""
    client = state.client()
    job = client.get_job(job_id)
    if not yes and not _confirm(f"delete job {job_id} {job.get('title', '')!r}?"):
        fail("not deleted", API_ERROR)
    client.delete_job(job_id)
    output.say(f"deleted job {job_id}")


def _confirm(question: str) -> bool:
    try:
        return typer.confirm(question, default=False)
    except typer.Abort:
        return False


@jobs_app.command("pause")
def jobs_pause(job_id: int) -> None:
    """Stop a job firing until it is resumed."""
    state.client().pause_job(job_id)
    output.say(f"paused job {job_id}")


@jobs_app.command("resume")
def jobs_resume(job_id: int) -> None:
    """Let a job fire again from its next slot (clears a failure streak)."""
    job = state.client().resume_job(job_id)
    output.say(f"resumed job {job_id}; next run {when(job.get('nextExecution'))}")


@jobs_app.command("run")
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


# ---- history and runs ----------------------------------------------------------------------


@app.command()
def history(
    job_id: int,
    limit: Annotated[int, typer.Option(help="runs to show (newest first)")] = 10,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="then print new runs")] = False,
    interval: Annotated[float, typer.Option(help="seconds between looks with --follow")] = 2.0,
    count: Annotated[
        int, typer.Option(help="with --follow: stop after this many new runs ended (0: never)")
    ] = 0,
    fmt: Output = Format.table,
) -> None:
    """A job's runs with their timing phases (DNS, connect, TLS, first byte, total in ms)."""
    client = state.client()
    page = client.job_history(job_id, limit=limit)
    items = list(reversed(page.get("history", [])))
    if not follow:
        emit(
            page.get("history", []),
            fmt,
            lambda rows: table(output.HISTORY_COLUMNS, [output.history_row(r) for r in rows]),
        )
        return
    seen: dict[str, str] = {}
    ended = 0

    def show(item: HistoryItem) -> None:
        if fmt is Format.table:
            output.say("  ".join(str(c) for c in output.history_row(item)), markup=False)
        elif fmt is Format.json:
            print(json.dumps(item), flush=True)
        else:
            print(yaml.safe_dump([item], sort_keys=False), end="", flush=True)

    if fmt is Format.table:
        output.say("  ".join(output.HISTORY_COLUMNS), style="bold")
    for item in items:
        seen[_attempt(item)] = str(item.get("state"))
        show(item)
    output.warn(f"following job {job_id}: new runs appear as they happen (Ctrl-C stops)")
    try:
        while True:
            time.sleep(interval)
            fresh = client.job_history(job_id, limit=max(limit, 25)).get("history", [])
            for item in reversed(fresh):
                key, now = _attempt(item), str(item.get("state"))
                if seen.get(key) == now:
                    continue
                seen[key] = now
                show(item)
                if now not in IN_FLIGHT:
                    ended += 1
                    if count and ended >= count:
                        return
    except KeyboardInterrupt:
        return


def _attempt(item: HistoryItem) -> str:
    return f"{item.get('identifier')}#{item.get('attempt', 1)}"


runs_app = typer.Typer(cls=_Group, no_args_is_help=True, help="One run: its state, or abort it.")
app.add_typer(runs_app, name="runs")


@runs_app.command("get")
def runs_get(run_id: str, fmt: Output = Format.table) -> None:
    """A run's state and outcome, from its latest attempt."""
    emit(state.client().get_run(run_id), fmt, lambda run: output.fields(dict(run)))


@runs_app.command("active")
def runs_active(fmt: Output = Format.table) -> None:
    """The runs queued or running now."""
    emit(
        state.client().active_runs(),
        fmt,
        lambda rows: table(output.HISTORY_COLUMNS, [output.history_row(r) for r in rows]),
    )


@runs_app.command("abort")
def runs_abort(run_id: str, fmt: Output = Format.table) -> None:
    """Ask a run in flight to end (a call in flight is cut)."""
    try:
        run = state.client().abort_run(run_id)
    except NotFound as exc:
        if exc.no_route:
            fail(
                f"this server cannot abort runs (no POST /runs/{{runId}}/abort at "
                f"{state.client().url}): it is older than the run controls",
                NOT_FOUND,
            )
        raise
    emit(dict(run), fmt, lambda r: f"run {run_id}: {r.get('state')} ({r.get('statusText')})")


# ---- keys, folders, scheduler --------------------------------------------------------------

keys_app = typer.Typer(cls=_Group, no_args_is_help=True, help="API keys (an admin key's job).")
app.add_typer(keys_app, name="keys")


@keys_app.command("list")
def keys_list(fmt: Output = Format.table) -> None:
    """The account's keys, without their secrets."""
    emit(
        state.client().list_keys(),
        fmt,
        lambda rows: table(
            ["id", "name", "scopes", "created (UTC)", "last used (UTC)", "revoked"],
            [
                [
                    k.get("keyId"),
                    k.get("name"),
                    ",".join(k.get("scopes", [])),
                    when(k.get("createdAt")),
                    when(k.get("lastUsedAt")),
                    "yes" if k.get("revoked") else "",
                ]
                for k in rows
            ],
        ),
    )


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="what the key is for")] = "",
    scope: Annotated[
        list[str] | None, typer.Option(help="read, write, run or admin (repeat; default r/w/run)")
    ] = None,
    ip: Annotated[list[str] | None, typer.Option(help="allowed address or CIDR (repeat)")] = None,
    fmt: Output = Format.table,
) -> None:
    """Create a key; its secret is printed once."""
    made = state.client().create_key(name, scope or None, ip_allowlist=ip or None)
    emit(
        dict(made), fmt, lambda k: f"created key {k['keyId']} ({','.join(k['scopes'])})\n{k['key']}"
    )


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key at once."""
    state.client().revoke_key(key_id)
    output.say(f"revoked key {key_id}")


monitors_app = typer.Typer(
    cls=_Group, no_args_is_help=True, help="Heartbeat monitors: work elsewhere pings them."
)
app.add_typer(monitors_app, name="monitors")


def _monitor_row(m: dict[str, Any]) -> list[Any]:
    schedule = m.get("schedule") or {}
    every = schedule.get("every")
    when = f"every {every} s" if every else schedule.get("cron") or json.dumps(schedule)
    return [m["monitorId"], m.get("title", ""), m.get("status", ""), when, m.get("grace", "")]


@monitors_app.command("list")
def monitors_list(fmt: Output = Format.table) -> None:
    """The account's monitors and their status (new, up, late, down, paused)."""
    emit(
        state.client().list_monitors(),
        fmt,
        lambda rows: table(
            ["id", "title", "status", "schedule", "grace (s)"], [_monitor_row(m) for m in rows]
        ),
    )


@monitors_app.command("get")
def monitors_get(monitor_id: int, fmt: Output = Format.table) -> None:
    """One monitor: its status, last ping and next expected time."""
    emit(state.client().get_monitor(monitor_id), fmt)


@monitors_app.command("create")
def monitors_create(
    title: Annotated[str, typer.Option(help="what the monitor watches")],
    every: Annotated[int | None, typer.Option(help="expected period in seconds")] = None,
    cron: Annotated[str | None, typer.Option(help="or a cron schedule")] = None,
    grace: Annotated[int, typer.Option(help="seconds late before it goes down")] = 300,
    tz: Annotated[str, typer.Option(help="the cron schedule's time zone")] = "UTC",
    fmt: Output = Format.table,
) -> None:
    """Create a monitor; prints its ping URL (shown once: keep it)."""
    if (every is None) == (cron is None):
        fail("give --every SECONDS or --cron TEXT", 2)
    schedule: dict[str, Any] = {"every": every} if every is not None else {"cron": cron}
    created = state.client().create_monitor(
        {"title": title, "schedule": schedule, "grace": grace, "timezone": tz}
    )
    emit(created, fmt, lambda c: f"created monitor {c['monitorId']}; ping {c['pingUrl']}")


@monitors_app.command("delete")
def monitors_delete(monitor_id: int) -> None:
    state.client().delete_monitor(monitor_id)
    output.say(f"deleted monitor {monitor_id}")


@monitors_app.command("pause")
def monitors_pause(monitor_id: int) -> None:
    state.client().pause_monitor(monitor_id)
    output.say(f"paused monitor {monitor_id}")


@monitors_app.command("resume")
def monitors_resume(monitor_id: int) -> None:
    state.client().resume_monitor(monitor_id)
    output.say(f"resumed monitor {monitor_id}")


@monitors_app.command("ping-url")
def monitors_ping_url(monitor_id: int) -> None:
    """A new ping URL (the old one stops working)."""
    output.say(state.client().rotate_ping_url(monitor_id))


@monitors_app.command("pings")
def monitors_pings(
    monitor_id: int,
    count: Annotated[int, typer.Option(help="how many, newest first")] = 25,
    fmt: Output = Format.table,
) -> None:
    """The monitor's last pings."""
    pings = state.client().monitor_pings(monitor_id, limit=count)["pings"]
    emit(
        pings,
        fmt,
        lambda rows: table(
            ["date (UTC)", "kind", "exit", "from"],
            [
                [
                    _utc(p["date"]),
                    p.get("kind", ""),
                    p.get("exitStatus", ""),
                    p.get("remoteAddr", ""),
                ]
                for p in rows
            ],
        ),
    )


def _utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(epoch)))


folders_app = typer.Typer(cls=_Group, no_args_is_help=True, help="Folders of jobs.")
app.add_typer(folders_app, name="folders")


@folders_app.command("list")
def folders_list(fmt: Output = Format.table) -> None:
    """The account's folders."""
    emit(
        state.client().list_folders(),
        fmt,
        lambda rows: table(["id", "title"], [[f["folderId"], f["title"]] for f in rows]),
    )


@folders_app.command("create")
def folders_create(title: str) -> None:
    """Create a folder (titles are unique)."""
    output.say(f"created folder {state.client().create_folder(title)}")


@folders_app.command("rename")
def folders_rename(folder_id: int, title: str) -> None:
    state.client().update_folder(folder_id, title)
    output.say(f"renamed folder {folder_id}")


@folders_app.command("delete")
def folders_delete(folder_id: int) -> None:
    """Delete a folder; its jobs move to the root."""
    state.client().delete_folder(folder_id)
    output.say(f"deleted folder {folder_id}")


@app.command()
def scheduler(
    switch: Annotated[str | None, typer.Argument(help="on or off (nothing: show it)")] = None,
) -> None:
    """Show or switch the account's scheduler (off: no job fires on schedule)."""
    client = state.client()
    if switch is None:
        enabled = client.get_scheduler()
    elif switch in ("on", "off"):
        enabled = client.set_scheduler(switch == "on")
    else:
        raise typer.BadParameter("on or off", param_hint="SWITCH")
    output.say(f"scheduler {'on' if enabled else 'off'}")


schedule_app = typer.Typer(cls=_Group, no_args_is_help=True, help="Schedules before saving.")
app.add_typer(schedule_app, name="schedule")


@schedule_app.command("preview")
def schedule_preview(
    schedule: Annotated[str, typer.Argument(help="a cron string, or a schedule as JSON")],
    tz: TzOpt = None,
    count: Annotated[int, typer.Option(help="how many next runs")] = 5,
    after: Annotated[str | None, typer.Option(help="from this ISO time (default now)")] = None,
    fmt: Output = Format.table,
) -> None:
    """Describe a schedule and list its next runs."""
    parsed: dict[str, Any]
    if schedule.lstrip().startswith("{"):
        try:
            parsed = json.loads(schedule)
        except ValueError as exc:
            raise typer.BadParameter(f"not JSON: {exc}", param_hint="SCHEDULE") from None
    else:
        parsed = {"cron": schedule}
    if tz:
        parsed["timezone"] = tz
    preview = state.client().preview_schedule(parsed, after=after, count=count)

    def render(p: Any) -> Any:
        zone = p.get("schedule", {}).get("timezone", "UTC")
        rows = [[n["local"], n["utc"]] for n in p.get("next", [])]
        return table([f"local ({zone})", "UTC"], rows, title=p.get("description"))

    emit(dict(preview), fmt, render)


# ---- jobs as code --------------------------------------------------------------------------

from cronhook_client import apply_cmd  # noqa: E402  (registers apply and export)

apply_cmd.register(app)


def main() -> None:
    """The console script."""
    app()


if __name__ == "__main__":
    main()
