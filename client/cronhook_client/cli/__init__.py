"""The `cronhook` command: the API from a terminal or a CI job (docs/CLI.md).

Exit codes (scripts may rely on them): 0 done; 1 the API refused or failed (or an apply stopped
part way, or was declined); 2 usage error or an invalid jobs file (nothing sent); 3 not found;
4 no key, a wrong key or a missing scope; 5 the API cannot be reached; 6 `jobs run --wait`: the
run ended without success.

One module per command group; this one only assembles them and reads the global options.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cronhook_client.cli import (
    account,
    apply,
    export,
    folders,
    jobs,
    keys,
    login,
    monitors,
    runs,
    schedule,
)
from cronhook_client.cli.base import Group, state

app = typer.Typer(
    cls=Group,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="cronhook from the command line: jobs, runs, history, keys, and jobs as code.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
    state.reset(url, key, profile)


app.command("login")(login.login)
app.add_typer(jobs.app, name="jobs")
app.command("history")(runs.history)
app.add_typer(runs.app, name="runs")
app.add_typer(keys.app, name="keys")
app.add_typer(folders.app, name="folders")
app.add_typer(monitors.app, name="monitors")
app.command("scheduler")(account.scheduler)
app.command("notifications")(account.notifications)
app.add_typer(schedule.app, name="schedule")
app.command("apply")(apply.apply)
app.command("export")(export.export)


def main() -> None:
    """The console script."""
    app()


if __name__ == "__main__":
    main()
