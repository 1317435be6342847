"""A schedule that can never fire is a 400 naming the field for an enabled job, and a preview
that says `valid: false` with the same message; a disabled job may keep it, as on cron-job.org."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api, Persona, body, new_job

LISTS = {"hours": [0], "minutes": [0], "wdays": [-1]}

NEVER: list[tuple[dict[str, Any], str, str]] = [
    ({"cron": "0 0 30 2 *"}, "schedule.cron", "never fires"),
    ({**LISTS, "mdays": [31], "months": [2]}, "schedule.mdays", "never fires"),
    ({"cron": "0 0 0 30 FEB ?"}, "schedule.cron", "never fires"),
    ({"cron": "0 0 0 1 1 ? 2020"}, "schedule.cron", "2020, has passed"),
    ({"timing": {"years": [2021], "minutes": [0]}}, "schedule.timing.years", "2021, has passed"),
    ({"at": "2021-06-01T09:30:00+02:00"}, "schedule.at", "has passed; give a time ahead"),
    ({"cron": "*/5 * * * *", "expiresAt": 20210101000000}, "schedule.expiresAt", "has passed"),
]


IDS = [str(schedule) for schedule, _, _ in NEVER]


@pytest.mark.parametrize(("schedule", "field", "words"), NEVER, ids=IDS)
def test_it_refuses_an_enabled_job_whose_schedule_never_fires(
    api: Api, alice: Persona, schedule: dict[str, Any], field: str, words: str
) -> None:
    response = api.put("/jobs", alice, new_job(schedule=schedule))
    assert response.status_code == 400, response.body
    error = body(response)["error"]
    assert error["code"] == "invalid_field" and error["field"] == field
    assert words in error["message"]
    assert body(api.get("/jobs", alice))["jobs"] == []


@pytest.mark.parametrize(("schedule", "field", "words"), NEVER, ids=IDS)
def test_it_previews_a_schedule_that_never_fires_as_not_valid_with_the_same_message(
    api: Api, alice: Persona, schedule: dict[str, Any], field: str, words: str
) -> None:
    refused = body(api.put("/jobs", alice, new_job(schedule=schedule)))["error"]
    response = api.post("/schedules/preview", alice, {"schedule": schedule})
    assert response.status_code == 200, response.body
    preview = body(response)
    assert preview["valid"] is False and preview["next"] == []
    assert preview["error"] == refused


def test_it_refuses_an_expiry_before_the_schedules_first_run(api: Api, alice: Persona) -> None:
    schedule = {"cron": "0 0 0 1 1 ? 2099", "expiresAt": 20990102000000}
    job = new_job(schedule={**schedule, "expiresAt": 20980601000000})
    response = api.put("/jobs", alice, job)
    assert response.status_code == 400
    error = body(response)["error"]
    assert error["field"] == "schedule.expiresAt" and "before its first run" in error["message"]
    assert api.put("/jobs", alice, new_job(schedule=schedule)).status_code == 200


def test_it_keeps_such_a_schedule_in_a_disabled_job_as_cron_job_org_does(
    api: Api, alice: Persona
) -> None:
    response = api.put("/jobs", alice, new_job(enabled=False, schedule={"cron": "0 0 30 2 *"}))
    assert response.status_code == 200, response.body
    job_id = body(response)["jobId"]
    job = body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]
    assert job["schedule"]["cron"] == "0 0 30 2 *" and job["nextExecution"] is None


def test_it_refuses_to_switch_on_a_job_whose_schedule_never_fires(api: Api, alice: Persona) -> None:
    created = api.put("/jobs", alice, new_job(enabled=False, schedule={"cron": "0 0 30 2 *"}))
    job_id = body(created)["jobId"]
    response = api.patch(f"/jobs/{job_id}", alice, {"job": {"enabled": True}})
    assert response.status_code == 400
    assert body(response)["error"]["field"] == "schedule.cron"
    assert api.post(f"/jobs/{job_id}/resume", alice).status_code == 400
    assert body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]["enabled"] is False


def test_it_refuses_a_patch_that_moves_an_enabled_job_to_a_schedule_that_never_fires(
    api: Api, alice: Persona
) -> None:
    job_id = body(api.put("/jobs", alice, new_job()))["jobId"]
    delta = {"schedule": {"mdays": [31], "months": [4]}}
    response = api.patch(f"/jobs/{job_id}", alice, {"job": delta})
    assert response.status_code == 400
    assert body(response)["error"]["field"] == "schedule.mdays"
    assert body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]["schedule"]["mdays"] == [-1]


def test_it_lets_a_one_shot_job_that_has_fired_be_edited(
    api: Api, alice: Persona, stores: Any
) -> None:
    job_id = body(api.put("/jobs", alice, new_job(schedule={"at": "2099-01-01T00:00:00Z"})))[
        "jobId"
    ]
    # As if it had fired: its time has passed, and it stays enabled with nothing ahead.
    job = stores.jobs.get(alice.account, job_id)
    job.spec["schedule"]["at"] = "2021-01-01T00:00:00+00:00"
    job.next_run_at = None
    assert stores.jobs.replace(job, job.version)
    response = api.patch(f"/jobs/{job_id}", alice, {"job": {"title": "renamed"}})
    assert response.status_code == 200, response.body
    assert body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]["title"] == "renamed"


def test_it_takes_an_enabled_job_run_on_demand_only(api: Api, alice: Persona) -> None:
    response = api.put("/jobs", alice, new_job(schedule={}))
    assert response.status_code == 200, response.body
