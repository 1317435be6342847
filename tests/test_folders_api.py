"""Folders as in cron-job.org: unique titles per account; deleting one moves its jobs to root."""

from __future__ import annotations

from tests.helpers import Api, Persona, body, new_job


def make_folder(api: Api, who: Persona, title: str) -> int:
    response = api.put("/folders", who, {"folder": {"title": title}})
    assert response.status_code == 200, response.body
    return int(body(response)["folderId"])


def test_it_creates_lists_and_reads_folders(api: Api, alice: Persona) -> None:
    folder_id = make_folder(api, alice, "Backups")
    assert body(api.get("/folders", alice)) == {
        "folders": [{"folderId": folder_id, "title": "Backups"}]
    }
    assert body(api.get(f"/folders/{folder_id}", alice)) == {
        "folderDetails": {"folderId": folder_id, "title": "Backups"}
    }


def test_it_answers_409_to_a_duplicate_title(api: Api, alice: Persona, bob: Persona) -> None:
    make_folder(api, alice, "Backups")
    response = api.put("/folders", alice, {"folder": {"title": "Backups"}})
    assert response.status_code == 409 and body(response)["error"]["code"] == "conflict"
    make_folder(api, bob, "Backups")


def test_it_renames_a_folder_unless_the_title_is_taken(api: Api, alice: Persona) -> None:
    first = make_folder(api, alice, "Backups")
    make_folder(api, alice, "Reports")
    response = api.patch(f"/folders/{first}", alice, {"folder": {"title": "Daily Backups"}})
    assert response.status_code == 200 and body(response) == {}
    assert body(api.get(f"/folders/{first}", alice))["folderDetails"]["title"] == "Daily Backups"
    assert (
        api.patch(f"/folders/{first}", alice, {"folder": {"title": "Reports"}}).status_code == 409
    )


def test_it_moves_jobs_to_the_root_when_their_folder_goes(api: Api, alice: Persona) -> None:
    folder_id = make_folder(api, alice, "Backups")
    job_id = body(api.put("/jobs", alice, new_job(folderId=folder_id)))["jobId"]
    assert api.delete(f"/folders/{folder_id}", alice).status_code == 200
    assert api.get(f"/folders/{folder_id}", alice).status_code == 404
    assert body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]["folderId"] == 0


def test_it_rejects_a_folder_without_a_title(api: Api, alice: Persona) -> None:
    response = api.put("/folders", alice, {"folder": {"title": "  "}})
    assert response.status_code == 400 and body(response)["error"]["field"] == "folder.title"
    long = api.put("/folders", alice, {"folder": {"title": "x" * 129}})
    assert long.status_code == 400


def test_it_hides_another_accounts_folders(api: Api, alice: Persona, bob: Persona) -> None:
    folder_id = make_folder(api, alice, "Backups")
    assert api.get(f"/folders/{folder_id}", bob).status_code == 404
    assert api.delete(f"/folders/{folder_id}", bob).status_code == 404
    response = api.put("/jobs", bob, new_job(folderId=folder_id))
    assert response.status_code == 400 and body(response)["error"]["field"] == "folderId"
