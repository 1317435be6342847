"""The schedule form `frequencyInfo` (Volt MX Foundry's `jobFrequencyInfo`) in cronhook's own
job API: each frequency type, the Quartz it stands for, and errors naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.schedule import Schedule, ScheduleError
from tests.helpers import Api, Persona, body, new_job

MONDAY_NOON = 1_796_644_800  # 2026-12-07 12:00:00 UTC, a Monday


def frequency(**info: Any) -> Schedule:
    return Schedule.parse({"frequencyInfo": info})


def wall(epoch: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%a %d %H:%M")


def test_it_runs_an_hour_based_frequency_past_every_hour() -> None:
    schedule = frequency(frequencyType=1, minuteValues=[5, 35])
    assert [wall(t) for t in schedule.upcoming(3, MONDAY_NOON)] == [
        "Mon 07 12:05",
        "Mon 07 12:35",
        "Mon 07 13:05",
    ]


def test_it_reads_an_hour_value_of_type_1_as_every_n_hours() -> None:
    schedule = frequency(frequencyType=1, minuteValues=[0], hourValues=[6])
    assert [wall(t) for t in schedule.upcoming(2, MONDAY_NOON)] == ["Mon 07 18:00", "Tue 08 00:00"]


def test_it_runs_a_day_based_frequency_at_its_times() -> None:
    schedule = frequency(frequencyType=2, minuteValues=[30], hourValues=[9, 17])
    assert [wall(t) for t in schedule.upcoming(2, MONDAY_NOON)] == ["Mon 07 17:30", "Tue 08 09:30"]


def test_it_counts_week_values_from_sunday_as_quartz_does() -> None:
    schedule = frequency(frequencyType=3, minuteValues=[0], hourValues=[8], weekValues=[1, 4])
    assert [wall(t) for t in schedule.upcoming(2, MONDAY_NOON)] == ["Wed 09 08:00", "Sun 13 08:00"]


def test_it_runs_a_month_based_frequency_on_its_days() -> None:
    schedule = frequency(
        frequencyType=4, minuteValues=[0], hourValues=[0], dayValues=[1], monthValues=[1, 7]
    )
    assert [wall(t) for t in schedule.upcoming(2, MONDAY_NOON)] == ["Fri 01 00:00", "Thu 01 00:00"]


def test_it_keeps_the_form_it_was_given() -> None:
    info = {"frequencyType": 2, "minuteValues": [0], "hourValues": [3]}
    schedule = Schedule.parse({"frequencyInfo": info, "timezone": "Europe/Berlin"})
    assert schedule.to_dict()["frequencyInfo"] == info
    assert Schedule.parse(schedule.to_dict()).to_dict() == schedule.to_dict()
    assert schedule.describe() == "At 03:00 (Europe/Berlin)"


@pytest.mark.parametrize(
    ("info", "field", "words"),
    [
        ("daily", "schedule.frequencyInfo", "must be an object"),
        ({}, "schedule.frequencyInfo.frequencyType", "1 (hour-based)"),
        ({"frequencyType": 5}, "schedule.frequencyInfo.frequencyType", "4 (month-based)"),
        ({"frequencyType": True}, "schedule.frequencyInfo.frequencyType", "must be 1"),
        ({"frequencyType": 1}, "schedule.frequencyInfo.minuteValues", "required"),
        (
            {"frequencyType": 2, "minuteValues": [0]},
            "schedule.frequencyInfo.hourValues",
            "required by frequencyType 2",
        ),
        (
            {"frequencyType": 1, "minuteValues": [60]},
            "schedule.frequencyInfo.minuteValues",
            "out of range 0-59",
        ),
        (
            {"frequencyType": 1, "minuteValues": [0], "hourValues": [2, 2]},
            "schedule.frequencyInfo.hourValues",
            "one interval",
        ),
        (
            {"frequencyType": 2, "minuteValues": [0], "hourValues": [1], "weekValues": [1]},
            "schedule.frequencyInfo.weekValues",
            "not used by frequencyType 2",
        ),
        (
            {"frequencyType": 3, "minuteValues": [0], "hourValues": [1], "weekValues": [0]},
            "schedule.frequencyInfo.weekValues",
            "out of range 1-7",
        ),
        (
            {"frequencyType": 4, "minuteValues": [0], "hourValues": [1], "dayValues": ["1"]},
            "schedule.frequencyInfo.dayValues",
            "not a whole number",
        ),
    ],
)
def test_it_names_the_field_of_a_bad_frequency(info: Any, field: str, words: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        Schedule.parse({"frequencyInfo": info})
    assert caught.value.field == field
    assert words in caught.value.message


def test_it_refuses_a_frequency_mixed_with_another_form() -> None:
    with pytest.raises(ScheduleError) as caught:
        Schedule.parse(
            {"frequencyInfo": {"frequencyType": 1, "minuteValues": [0]}, "cron": "* * * * *"}
        )
    assert caught.value.field == "schedule" and "send exactly one" in caught.value.message


def test_it_names_the_days_of_a_frequency_that_never_fires(api: Api, alice: Persona) -> None:
    info = {"frequencyType": 4, "minuteValues": [0], "hourValues": [0], "dayValues": [31]}
    response = api.put(
        "/jobs", alice, new_job(schedule={"frequencyInfo": {**info, "monthValues": [2]}})
    )
    assert response.status_code == 400
    assert body(response)["error"]["field"] == "schedule.frequencyInfo.dayValues"


def test_it_takes_a_frequency_in_cronhooks_job_api(api: Api, alice: Persona) -> None:
    info = {"frequencyType": 3, "minuteValues": [15], "hourValues": [6], "weekValues": [2]}
    response = api.put("/jobs", alice, new_job(schedule={"frequencyInfo": info}))
    assert response.status_code == 200, response.body
    job_id = body(response)["jobId"]
    details = body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]
    assert details["schedule"]["frequencyInfo"] == info
    # a PATCH of another form replaces it, keeping the time zone
    patched = api.patch(f"/jobs/{job_id}", alice, {"job": {"schedule": {"cron": "0 * * * *"}}})
    assert patched.status_code == 200, patched.body
    schedule = body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]["schedule"]
    assert schedule["cron"] == "0 * * * *" and "frequencyInfo" not in schedule
    back = api.patch(f"/jobs/{job_id}", alice, {"job": {"schedule": {"frequencyInfo": info}}})
    assert back.status_code == 200, back.body


def test_it_names_a_bad_frequency_in_cronhooks_job_api(api: Api, alice: Persona) -> None:
    bad = {"frequencyType": 2, "minuteValues": [0], "hourValues": [24]}
    response = api.put("/jobs", alice, new_job(schedule={"frequencyInfo": bad}))
    assert response.status_code == 400
    assert body(response)["error"]["field"] == "schedule.frequencyInfo.hourValues"
    assert body(api.get("/jobs", alice))["jobs"] == []


def test_it_previews_a_frequency(api: Api, alice: Persona) -> None:
    info = {"frequencyType": 2, "minuteValues": [0], "hourValues": [12]}
    response = api.post("/schedules/preview", alice, {"schedule": {"frequencyInfo": info}})
    assert response.status_code == 200, response.body
