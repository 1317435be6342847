"""`cronhook schedule preview`: a schedule described, and its next runs, before saving it."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cronhook_client.cli.base import Output, TzOpt, group, state
from cronhook_client.cli.output import Format, emit, table

app = group("Schedules before saving.")


@app.command("preview")
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
