"""The per-account scheduler switch and the schedule preview."""

from __future__ import annotations

from tests.helpers import Api, Persona, body


def test_it_switches_the_scheduler_per_account(api: Api, alice: Persona, bob: Persona) -> None:
    assert body(api.get("/scheduler", alice)) == {"enabled": True}
    assert body(api.put("/scheduler", alice, {"enabled": False})) == {"enabled": False}
    assert body(api.get("/scheduler", alice)) == {"enabled": False}
    assert body(api.get("/scheduler", bob)) == {"enabled": True}


def test_it_needs_admin_to_switch_the_scheduler(api: Api, carol: Persona) -> None:
    assert api.put("/scheduler", carol, {"enabled": False}).status_code == 403


def test_it_rejects_a_non_boolean_switch(api: Api, alice: Persona) -> None:
    response = api.put("/scheduler", alice, {"enabled": "off"})
    assert response.status_code == 400 and body(response)["error"]["field"] == "enabled"


def test_it_previews_the_next_runs_in_the_schedules_zone(api: Api, alice: Persona) -> None:
    response = api.post(
        "/schedules/preview",
        alice,
        {
            "schedule": {"cron": "30 4 * * 1-5", "timezone": "Europe/Berlin"},
            "after": "2026-03-27T12:00:00Z",
            "count": 3,
        },
    )
    assert response.status_code == 200, response.body
    preview = body(response)
    assert preview["valid"] is True and "04:30" in preview["description"]
    assert [run["local"] for run in preview["next"]] == [
        "2026-03-30T04:30:00+02:00",
        "2026-03-31T04:30:00+02:00",
        "2026-04-01T04:30:00+02:00",
    ]
    assert preview["next"][0]["utc"] == "2026-03-30T02:30:00Z"
    assert preview["next"][0]["epoch"] == 1774837800


def test_it_defaults_to_five_runs_after_now(api: Api, alice: Persona) -> None:
    preview = body(api.post("/schedules/preview", alice, {"schedule": {"cron": "* * * * *"}}))
    assert len(preview["next"]) == 5


def test_it_names_the_problem_in_a_bad_schedule(api: Api, alice: Persona) -> None:
    response = api.post("/schedules/preview", alice, {"schedule": {"cron": "61 * * * *"}})
    assert response.status_code == 400
    error = body(response)["error"]
    assert error["field"] == "schedule.cron" and "61" in error["message"]


def test_it_bounds_the_preview_count(api: Api, alice: Persona) -> None:
    response = api.post(
        "/schedules/preview", alice, {"schedule": {"cron": "* * * * *"}, "count": 101}
    )
    assert response.status_code == 400 and body(response)["error"]["field"] == "count"
