"""`cronhook login`: save an API URL and key as a profile."""

from __future__ import annotations

from typing import Annotated

import typer

from cronhook_client import config
from cronhook_client.cli import output
from cronhook_client.cli.base import AUTH, fail, state
from cronhook_client.client import Client
from cronhook_client.errors import Unauthorized


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
