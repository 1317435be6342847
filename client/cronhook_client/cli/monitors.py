"""`cronhook monitors`: heartbeat monitors, which work that runs elsewhere pings."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from cronhook_client.cli import output
from cronhook_client.cli.base import Output, fail, group, state
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
    emit(state.client().get_monitor(monitor_id), fmt)


@app.command("create")
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
