"""`cronhook history` and `cronhook runs`: what runs did, as they happen."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
import yaml

from cronhook_client.cli import output
from cronhook_client.cli.base import IN_FLIGHT, NOT_FOUND, Output, fail, group, state
from cronhook_client.cli.output import Format, emit, table
from cronhook_client.errors import NotFound
from cronhook_client.models import HistoryItem

app = group("One run: its state, or abort it.")


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


@app.command("get")
def runs_get(run_id: str, fmt: Output = Format.table) -> None:
    """A run's state and outcome, from its latest attempt."""
    emit(state.client().get_run(run_id), fmt, lambda run: output.fields(dict(run)))


@app.command("active")
def runs_active(fmt: Output = Format.table) -> None:
    """The runs queued or running now."""
    emit(
        state.client().active_runs(),
        fmt,
        lambda rows: table(output.HISTORY_COLUMNS, [output.history_row(r) for r in rows]),
    )


@app.command("abort")
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
