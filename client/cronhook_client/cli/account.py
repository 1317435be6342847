"""Account-wide settings: the scheduler switch and where notifications go."""

from __future__ import annotations

from typing import Annotated

import typer

from cronhook_client.cli import output
from cronhook_client.cli.base import Output, state
from cronhook_client.cli.output import Format, emit


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


def notifications(
    url: Annotated[
        str | None, typer.Option(help="POST signed notices to this URL ('' stops them)")
    ] = None,
    email: Annotated[
        str | None, typer.Option(help="e-mail notices to this address ('' stops them)")
    ] = None,
    fmt: Output = Format.table,
) -> None:
    """Show or set where the account's notices go.

    Which notices are sent is each job's and monitor's `notification` fields. A new URL's
    signing secret is printed once."""
    client = state.client()
    if url is None and email is None:
        shown = dict(client.get_notifications())
    else:
        shown = dict(client.set_notifications(url=url, email=email))
        shown = {**client.get_notifications(), **shown}
    emit(shown, fmt, lambda n: output.fields({k: v or "-" for k, v in n.items()}))
