"""`cronhook keys`: API keys (an admin key's job)."""

from __future__ import annotations

from typing import Annotated

import typer

from cronhook_client.cli import output
from cronhook_client.cli.base import Output, group, state
from cronhook_client.cli.output import Format, emit, table, when

app = group("API keys (an admin key's job).")


@app.command("list")
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


@app.command("create")
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


@app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key at once."""
    state.client().revoke_key(key_id)
    output.say(f"revoked key {key_id}")
