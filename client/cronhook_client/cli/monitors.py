"""`cronhook monitors`: heartbeat monitors, which work that runs elsewhere pings."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from cronhook_client.cli import output
from cronhook_client.cli.base import USAGE, Output, fail, folder_id, group, state
from cronhook_client.cli.output import Format, emit, table

app = group("Heartbeat monitors: work elsewhere pings them.")


def _monitor_row(m: dict[str, Any]) -> list[Any]:
    schedule = m.get("schedule") or {}
    every = schedule.get("every")
    when = f"every {every} s" if every else schedule.get("cron") or json.dumps(schedule)
    return [m["monitorId"], m.get("title", ""), m.get("status", ""), when, m.get("grace", "")]


@app.command("list")
def monitors_list(fmt: Output = Format.table) -> None:
    """The account's monitors and their status (new, up, late, down, paused)."""
    emit(
        state.client().list_monitors(),
        fmt,
        lambda rows: table(
            ["id", "title", "status", "schedule", "grace (s)"], [_monitor_row(m) for m in rows]
        ),
    )


@app.command("get")
def monitors_get(monitor_id: int, fmt: Output = Format.table) -> None:
    """One monitor: its status, last ping and next expected time."""
    emit(state.client().get_monitor(monitor_id), fmt, output.fields)


TitleOpt = Annotated[str | None, typer.Option(help="what the monitor watches")]
EveryOpt = Annotated[int | None, typer.Option(help="expected period in seconds")]
CronOpt = Annotated[str | None, typer.Option(help="or a cron schedule")]
GraceOpt = Annotated[int | None, typer.Option(help="seconds late before it goes down")]
TzOpt = Annotated[str | None, typer.Option("--tz", help="the cron schedule's time zone")]
FolderOpt = Annotated[str | None, typer.Option(help="folder title ('' for the root)")]
DownOpt = Annotated[
    bool | None,
    typer.Option("--notify-down/--no-notify-down", help="notify when it goes down"),
]
UpOpt = Annotated[
    bool | None,
    typer.Option("--notify-up/--no-notify-up", help="notify when it is up again"),
]


def _fields(
    title: str | None,
    every: int | None,
    cron: str | None,
    grace: int | None,
    tz: str | None,
    folder: str | None,
    down: bool | None,
    up: bool | None,
) -> dict[str, Any]:
    """The monitor fields the options give (the API fills in or keeps the others)."""
    if every is not None and cron is not None:
        raise typer.BadParameter("give --every or --cron, not both")
    fields: dict[str, Any] = {}
    if title is not None:
        fields["title"] = title
    if every is not None:
        fields["schedule"] = {"every": every}
    if cron is not None:
        fields["schedule"] = {"cron": cron}
    if grace is not None:
        fields["grace"] = grace
    if tz is not None:
        fields["timezone"] = tz
    if folder is not None:
        fields["folderId"] = folder_id(folder)
    notices = {"onMonitorDown": down, "onMonitorUp": up}
    if down is not None or up is not None:
        fields["notification"] = {k: v for k, v in notices.items() if v is not None}
    return fields


@app.command("create")
def monitors_create(
    title: Annotated[str, typer.Option(help="what the monitor watches")],
    every: EveryOpt = None,
    cron: CronOpt = None,
    grace: GraceOpt = None,
    tz: TzOpt = None,
    folder: FolderOpt = None,
    notify_down: DownOpt = None,
    notify_up: UpOpt = None,
    fmt: Output = Format.table,
) -> None:
    """Create a monitor; prints its ping URL (shown once: keep it)."""
    if (every is None) == (cron is None):
        fail("give --every SECONDS or --cron TEXT", USAGE)
    fields = _fields(title, every, cron, grace, tz, folder, notify_down, notify_up)
    created = state.client().create_monitor(fields)
    emit(created, fmt, lambda c: f"created monitor {c['monitorId']}; ping {c['pingUrl']}")


@app.command("edit")
def monitors_edit(
    monitor_id: int,
    title: TitleOpt = None,
    every: EveryOpt = None,
    cron: CronOpt = None,
    grace: GraceOpt = None,
    tz: TzOpt = None,
    folder: FolderOpt = None,
    notify_down: DownOpt = None,
    notify_up: UpOpt = None,
) -> None:
    """Change the fields given (the others stay).

    The next expected ping is counted again from the last one."""
    delta = _fields(title, every, cron, grace, tz, folder, notify_down, notify_up)
    if not delta:
        raise typer.BadParameter("give at least one field to change")
    client = state.client()
    if "notification" in delta:  # the API replaces the object: keep the notice not named
        held = client.get_monitor(monitor_id).get("notification") or {}
        delta["notification"] = {**held, **delta["notification"]}
    client.update_monitor(monitor_id, delta)
    output.say(f"updated monitor {monitor_id}: {', '.join(delta)}")


@app.command("delete")
def monitors_delete(monitor_id: int) -> None:
    state.client().delete_monitor(monitor_id)
    output.say(f"deleted monitor {monitor_id}")


@app.command("pause")
def monitors_pause(monitor_id: int) -> None:
    state.client().pause_monitor(monitor_id)
    output.say(f"paused monitor {monitor_id}")


@app.command("resume")
def monitors_resume(monitor_id: int) -> None:
    state.client().resume_monitor(monitor_id)
    output.say(f"resumed monitor {monitor_id}")


@app.command("ping-url")
def monitors_ping_url(monitor_id: int) -> None:
    """A new ping URL (the old one stops working)."""
    output.say(state.client().rotate_ping_url(monitor_id))


@app.command("pings")
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
