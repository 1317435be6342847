"""`cronhook folders`: folders of jobs and monitors."""

from __future__ import annotations

from cronhook_client.cli import output
from cronhook_client.cli.base import Output, group, state
from cronhook_client.cli.output import Format, emit, table

app = group("Folders of jobs and monitors.")


@app.command("list")
def folders_list(fmt: Output = Format.table) -> None:
    """The account's folders."""
    emit(
        state.client().list_folders(),
        fmt,
        lambda rows: table(["id", "title"], [[f["folderId"], f["title"]] for f in rows]),
    )


@app.command("create")
def folders_create(title: str) -> None:
    """Create a folder (titles are unique)."""
    output.say(f"created folder {state.client().create_folder(title)}")


@app.command("rename")
def folders_rename(folder_id: int, title: str) -> None:
    state.client().update_folder(folder_id, title)
    output.say(f"renamed folder {folder_id}")


@app.command("delete")
def folders_delete(folder_id: int) -> None:
    """Delete a folder; its jobs move to the root."""
    state.client().delete_folder(folder_id)
    output.say(f"deleted folder {folder_id}")
