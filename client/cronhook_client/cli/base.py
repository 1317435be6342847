"""What every command group shares: the exit codes, the one place that turns the client's errors
into one line and a code, the client chosen by the global options, and the `-o` option."""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

import typer
from typer import _click
from typer.core import TyperGroup

from cronhook_client import config
from cronhook_client.cli import output
from cronhook_client.cli.output import Format
from cronhook_client.client import Client
from cronhook_client.errors import (
    ApiError,
    ConfigError,
    ConnectionFailed,
    NotFound,
    Unauthorized,
)
from cronhook_client.yaml_lines import ManifestError

OK, API_ERROR, USAGE, NOT_FOUND, AUTH, UNREACHABLE, RUN_FAILED = 0, 1, 2, 3, 4, 5, 6
IN_FLIGHT = ("queued", "running", "waiting")


class Group(TyperGroup):
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


def group(help: str) -> typer.Typer:
    """A command group (`cronhook jobs ...`) whose errors end as every command's do."""
    return typer.Typer(cls=Group, no_args_is_help=True, help=help)


def fail(message: str, code: int) -> NoReturn:
    output.warn(f"error: {message}")
    raise typer.Exit(code)


def confirm(question: str) -> bool:
    try:
        return typer.confirm(question, default=False)
    except typer.Abort:
        return False


class State:
    """The global options of this invocation, and the client made from them on first use."""

    url: str | None = None
    key: str | None = None
    profile: str | None = None
    _client: Client | None = None

    def reset(self, url: str | None, key: str | None, profile: str | None) -> None:
        self.url, self.key, self.profile = url, key, profile
        self._client = None

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
TzOpt = Annotated[str | None, typer.Option("--tz", help="the schedule's time zone (IANA)")]


def folder_id(title: str) -> int:
    """The id of the account's folder with this title ('' is the root); exit 3 if none."""
    if not title:
        return 0
    for folder in state.client().list_folders():
        if folder["title"] == title:
            return folder["folderId"]
    fail(f"no folder titled {title!r}", NOT_FOUND)
