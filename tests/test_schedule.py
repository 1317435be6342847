"""Schedule forms, next runs across DST, month ends, expiry, descriptions and storage form."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib.schedule import Schedule, ScheduleError


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def runs(data: dict[str, Any], after: str, n: int = 3) -> list[str]:
    """The next `n` runs after `after`, as ISO times in the schedule's own zone."""
    schedule = Schedule.parse(data)
    zone = ZoneInfo(schedule.timezone)
    return [datetime.fromtimestamp(u, zone).isoformat() for u in schedule.upcoming(n, epoch(after))]


def gaps(data: dict[str, Any], after: str, n: int) -> set[int]:
    found = Schedule.parse(data).upcoming(n, epoch(after))
    return {b - a for a, b in itertools.pairwise(found)}


# --- the forms -------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [None, {}, {"timezone": "Europe/Berlin", "expiresAt": 0}])
def test_it_treats_a_missing_schedule_as_on_demand_only(data: dict[str, Any] | None) -> None:
    schedule = Schedule.parse(data)
    assert schedule.kind == "none"
    assert not schedule.is_scheduled
    assert schedule.next_after(epoch("2026-01-01T00:00:00+00:00")) is None
    assert schedule.upcoming(5, 0) == []
    assert schedule.describe() == "On demand only (no schedule)"


def test_it_keeps_the_time_zone_of_an_unscheduled_job() -> None:
    assert Schedule.parse({"timezone": "Europe/Berlin"}).timezone == "Europe/Berlin"


def test_it_reads_five_empty_lists_as_cronjob_orgs_unscheduled_job() -> None:
    empty = {"hours": [], "mdays": [], "minutes": [], "months": [], "wdays": []}
    schedule = Schedule.parse({"timezone": "Asia/Tokyo", **empty})
    assert schedule.kind == "none"
    assert schedule.to_dict() == {"timezone": "Asia/Tokyo", "expiresAt": 0, **empty}


def test_it_defaults_the_time_zone_to_utc() -> None:
    assert Schedule.parse({"cron": "0 * * * *"}).timezone == "UTC"


def test_it_runs_a_cronjob_org_object_every_half_hour_on_weekdays() -> None:
    data = {
        "timezone": "Europe/Berlin",
        "expiresAt": 0,
        "hours": [-1],
        "mdays": [-1],
        "minutes": [30, 0],
        "months": [-1],
        "wdays": [1, 2, 3, 4, 5],
    }
    assert Schedule.parse(data).kind == "cronjob"
    assert runs(data, "2026-01-02T23:10:00+01:00") == [
        "2026-01-02T23:30:00+01:00",
        "2026-01-05T00:00:00+01:00",
        "2026-01-05T00:30:00+01:00",
    ]


def test_it_fires_cronjob_org_lists_on_days_matching_both_mdays_and_wdays() -> None:
    # cron-job.org's executor selects jobs with (mday = -1 OR mday = d) AND (wday = -1 OR
    # wday = w): Friday the 13th, not every Friday and every 13th as Vixie cron would.
    data = {"hours": [9], "mdays": [13], "minutes": [0], "months": [-1], "wdays": [5]}
    assert runs(data, "2026-01-01T00:00:00+00:00", 3) == [
        "2026-02-13T09:00:00+00:00",
        "2026-03-13T09:00:00+00:00",
        "2026-11-13T09:00:00+00:00",
    ]
    assert "Friday" in Schedule.parse(data).describe()
    assert " or " not in Schedule.parse(data).describe()


def test_it_dedupes_and_sorts_cronjob_org_lists() -> None:
    data = {"hours": [5, 3, 5], "mdays": [-1], "minutes": [0], "months": [-1], "wdays": [-1]}
    assert Schedule.parse(data).to_dict()["hours"] == [3, 5]


def test_it_runs_a_unix_cron_with_month_and_day_names() -> None:
    data = {"cron": "15 9 * jan-mar MON-Fri"}
    assert runs(data, "2026-03-30T12:00:00+00:00", 2) == [
        "2026-03-31T09:15:00+00:00",
        "2027-01-01T09:15:00+00:00",
    ]


def test_it_combines_restricted_day_fields_with_or_like_vixie_cron() -> None:
    # Friday the 13th is not required: the 13th or any Friday fires.
    assert runs({"cron": "0 0 13 * 5"}, "2026-02-01T00:00:00+00:00", 4) == [
        "2026-02-06T00:00:00+00:00",
        "2026-02-13T00:00:00+00:00",
        "2026-02-20T00:00:00+00:00",
        "2026-02-27T00:00:00+00:00",
    ]


def test_it_ands_the_day_fields_when_day_of_month_starts_with_a_star() -> None:
    # In Vixie cron "*/2" counts as unrestricted for the OR rule: odd days that are Mondays.
    assert runs({"cron": "0 0 */2 * 1"}, "2026-06-01T00:00:00+00:00", 3) == [
        "2026-06-15T00:00:00+00:00",
        "2026-06-29T00:00:00+00:00",
        "2026-07-13T00:00:00+00:00",
    ]


@pytest.mark.parametrize("dow", ["0", "7", "SUN", "sun"])
def test_it_reads_sunday_as_0_7_or_its_name(dow: str) -> None:
    assert runs({"cron": f"0 12 * * {dow}"}, "2026-01-01T00:00:00+00:00", 1) == [
        "2026-01-04T12:00:00+00:00"
    ]


@pytest.mark.parametrize(
    ("macro", "first"),
    [
        ("@yearly", "2027-01-01T00:00:00+00:00"),
        ("@annually", "2027-01-01T00:00:00+00:00"),
        ("@monthly", "2026-04-01T00:00:00+00:00"),
        ("@weekly", "2026-03-15T00:00:00+00:00"),
        ("@daily", "2026-03-11T00:00:00+00:00"),
        ("@midnight", "2026-03-11T00:00:00+00:00"),
        ("@hourly", "2026-03-10T13:00:00+00:00"),
    ],
)
def test_it_expands_the_cron_macros(macro: str, first: str) -> None:
    assert runs({"cron": macro}, "2026-03-10T12:30:00+00:00", 1) == [first]


def test_it_fires_a_quartz_seconds_field_at_that_exact_second() -> None:
    assert runs({"cron": "*/20 * * * * ?"}, "2026-01-01T00:00:00+00:00", 4) == [
        "2026-01-01T00:00:20+00:00",
        "2026-01-01T00:00:40+00:00",
        "2026-01-01T00:01:00+00:00",
        "2026-01-01T00:01:20+00:00",
    ]


def test_it_runs_volt_mxs_hourly_quartz_string() -> None:
    data = {"cron": "41 5 * * * ? *", "timezone": "Europe/Berlin"}
    assert Schedule.parse(data).kind == "quartz"
    assert runs(data, "2026-01-01T00:00:00+01:00", 2) == [
        "2026-01-01T00:05:41+01:00",
        "2026-01-01T01:05:41+01:00",
    ]


def test_it_numbers_quartz_weekdays_from_sunday_as_1() -> None:
    # 2026-01-05 is a Monday: Quartz 2, and croniter's reading of it as Tuesday is wrong.
    assert runs({"cron": "0 0 12 ? * 2"}, "2026-01-01T00:00:00+00:00", 1) == [
        "2026-01-05T12:00:00+00:00"
    ]
    assert runs({"cron": "0 0 12 ? * L"}, "2026-01-01T00:00:00+00:00", 1) == [
        "2026-01-03T12:00:00+00:00"
    ]


def test_it_fires_volt_mxs_last_friday_of_each_month_in_2026_only() -> None:
    data = {"cron": "0 15 10 ? * 6L 2026"}
    assert runs(data, "2026-01-01T00:00:00+00:00", 3) == [
        "2026-01-30T10:15:00+00:00",
        "2026-02-27T10:15:00+00:00",
        "2026-03-27T10:15:00+00:00",
    ]
    assert runs(data, "2026-12-01T00:00:00+00:00", 2) == ["2026-12-25T10:15:00+00:00"]


def test_it_finds_a_quartz_year_beyond_the_usual_horizon() -> None:
    assert runs({"cron": "0 0 0 1 1 ? 2045"}, "2026-01-01T00:00:00+00:00", 2) == [
        "2045-01-01T00:00:00+00:00"
    ]


def test_it_finds_a_fifth_weekday_of_february_decades_ahead() -> None:
    # Only a leap year whose 1 February is a Monday has five Mondays in February.
    expected = ["2044-02-29T00:00:00+00:00", "2072-02-29T00:00:00+00:00"]
    assert runs({"cron": "0 0 0 ? 2 2#5"}, "2026-01-01T00:00:00+00:00", 2) == expected
    assert runs({"cron": "0 0 * 2 1#5"}, "2026-01-01T00:00:00+00:00", 2) == expected


def test_it_wraps_a_quartz_range_that_ends_below_its_start() -> None:
    # Quartz's CronExpression runs such a range on past the field's end; Unix cron refuses it.
    hours = runs({"cron": "0 0 22-2/2 * * ?"}, "2026-01-01T03:00:00+00:00", 3)
    assert hours == [
        "2026-01-01T22:00:00+00:00",
        "2026-01-02T00:00:00+00:00",
        "2026-01-02T02:00:00+00:00",
    ]
    days = runs({"cron": "0 0 12 ? * FRI-MON"}, "2026-01-01T00:00:00+00:00", 5)
    assert [d[:10] for d in days] == [
        "2026-01-02",  # Friday
        "2026-01-03",
        "2026-01-04",
        "2026-01-05",  # Monday
        "2026-01-09",
    ]
    months = runs({"cron": "0 0 0 1 NOV-FEB ?"}, "2026-02-15T00:00:00+00:00", 2)
    assert months == ["2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00"]
    with pytest.raises(ScheduleError, match="runs backwards"):
        Schedule.parse({"cron": "0 22-2 * * *"})


def test_it_takes_eventbridge_years_up_to_2199() -> None:
    assert runs({"cron": "cron(0 12 1 1 ? 2150)"}, "2026-01-01T00:00:00+00:00") == [
        "2150-01-01T12:00:00+00:00"
    ]


def test_it_reads_eventbridge_cron_as_quartz_with_second_zero() -> None:
    data = {"cron": "cron(0 12 ? * MON-FRI *)"}
    assert Schedule.parse(data).kind == "quartz"
    assert runs(data, "2026-01-02T13:00:00+00:00", 1) == ["2026-01-05T12:00:00+00:00"]


def test_it_runs_a_cronicle_timing_object_twice_a_day() -> None:
    data = {"timing": {"hours": [4, 16], "minutes": [30]}, "timezone": "America/New_York"}
    assert Schedule.parse(data).kind == "timing"
    assert runs(data, "2026-01-01T00:00:00-05:00", 3) == [
        "2026-01-01T04:30:00-05:00",
        "2026-01-01T16:30:00-05:00",
        "2026-01-02T04:30:00-05:00",
    ]


def test_it_runs_an_empty_cronicle_timing_object_every_minute() -> None:
    assert gaps({"timing": {}}, "2026-01-01T00:00:30+00:00", 5) == {60}


def test_it_skips_empty_cronicle_lists_like_cronicle_does() -> None:
    schedule = Schedule.parse({"timing": {"minutes": [0], "hours": []}})
    assert schedule.to_dict()["timing"] == {"minutes": [0]}
    assert gaps(schedule.to_dict(), "2026-01-01T00:00:00+00:00", 4) == {3600}


def test_it_requires_every_cronicle_list_to_match() -> None:
    # Cronicle's reference example: 2015 only, March-May, the 1st and 15th when a weekday.
    timing = {
        "years": [2015],
        "months": [3, 4, 5],
        "days": [1, 15],
        "weekdays": [1, 2, 3, 4, 5],
        "hours": [6],
        "minutes": [15],
    }
    assert runs({"timing": timing}, "2015-01-01T00:00:00+00:00", 5) == [
        "2015-04-01T06:15:00+00:00",
        "2015-04-15T06:15:00+00:00",
        "2015-05-01T06:15:00+00:00",
        "2015-05-15T06:15:00+00:00",
    ]


def test_it_finds_29_february_on_a_monday_decades_ahead_for_cronicle() -> None:
    timing = {"months": [2], "days": [29], "weekdays": [1], "hours": [0], "minutes": [0]}
    assert runs({"timing": timing}, "2026-01-01T00:00:00+00:00", 1) == ["2044-02-29T00:00:00+00:00"]


def test_it_fires_an_at_schedule_once() -> None:
    schedule = Schedule.parse({"at": "2026-12-01T09:30:00+01:00"})
    assert schedule.kind == "at"
    assert schedule.next_after(epoch("2026-12-01T08:29:59+00:00")) == epoch("2026-12-01T08:30Z")
    assert schedule.next_after(epoch("2026-12-01T08:30:00+00:00")) is None
    assert schedule.upcoming(5, 0) == [epoch("2026-12-01T08:30:00+00:00")]


def test_it_accepts_z_and_fractional_seconds_in_an_at_time() -> None:
    schedule = Schedule.parse({"at": "2026-12-01T08:30:00.000Z"})
    assert schedule.next_after(0) == epoch("2026-12-01T08:30:00+00:00")
    assert schedule.to_dict() == {"timezone": "UTC", "at": "2026-12-01T08:30:00+00:00"}


# --- next_after's contract ---------------------------------------------------------------------


def test_it_returns_runs_strictly_after_the_given_time() -> None:
    schedule = Schedule.parse({"cron": "0 * * * *"})
    on_the_hour = epoch("2026-01-01T10:00:00+00:00")
    assert schedule.next_after(on_the_hour) == on_the_hour + 3600
    assert schedule.next_after(on_the_hour - 0.5) == on_the_hour


@pytest.mark.parametrize("t", [float("nan"), float("inf"), 1e15])
def test_it_has_no_next_run_after_year_9000(t: float) -> None:
    assert Schedule.parse({"cron": "* * * * *"}).next_after(t) is None


def test_it_searches_from_1900_for_earlier_times() -> None:
    found = Schedule.parse({"cron": "0 0 1 1 *"}).next_after(float("-inf"))
    assert found == epoch("1901-01-01T00:00:00+00:00")


def test_it_stops_at_expires_at_in_the_schedules_zone() -> None:
    data = {"cron": "0 * * * *", "timezone": "Europe/Berlin", "expiresAt": 20260105120000}
    assert runs(data, "2026-01-05T10:30:00+01:00", 5) == [
        "2026-01-05T11:00:00+01:00",
        "2026-01-05T12:00:00+01:00",
    ]
    assert Schedule.parse(data).next_after(epoch("2026-06-01T00:00:00+00:00")) is None


def test_it_gives_up_on_29_february_quickly_until_2028() -> None:
    assert runs({"cron": "0 0 29 2 *"}, "2026-01-01T00:00:00+00:00", 2) == [
        "2028-02-29T00:00:00+00:00",
        "2032-02-29T00:00:00+00:00",
    ]


def test_it_crosses_2100_which_has_no_29_february() -> None:
    assert runs({"cron": "0 0 29 2 *"}, "2096-03-01T00:00:00+00:00", 1) == [
        "2104-02-29T00:00:00+00:00"
    ]


@pytest.mark.parametrize("cron", ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 0 ? * 2#5 1999"])
def test_it_returns_none_quickly_for_a_schedule_that_never_fires(cron: str) -> None:
    schedule = Schedule.parse({"cron": cron, "timezone": "Europe/Berlin"})
    started = time.perf_counter()
    assert schedule.next_after(epoch("2026-01-01T00:00:00+00:00")) is None
    assert time.perf_counter() - started < 0.05


# --- month ends, W and # ---------------------------------------------------------------------


def test_it_skips_months_without_a_31st() -> None:
    assert runs({"cron": "0 0 31 * *"}, "2026-01-31T12:00:00+00:00", 3) == [
        "2026-03-31T00:00:00+00:00",
        "2026-05-31T00:00:00+00:00",
        "2026-07-31T00:00:00+00:00",
    ]


def test_it_fires_on_the_last_day_of_each_month_with_l() -> None:
    assert runs({"cron": "0 0 0 L * ?"}, "2027-12-31T12:00:00+00:00", 3) == [
        "2028-01-31T00:00:00+00:00",
        "2028-02-29T00:00:00+00:00",
        "2028-03-31T00:00:00+00:00",
    ]


def test_it_counts_back_from_the_last_day_with_l_minus_n() -> None:
    assert runs({"cron": "0 0 0 L-2 * ?"}, "2026-01-01T00:00:00+00:00", 2) == [
        "2026-01-29T00:00:00+00:00",
        "2026-02-26T00:00:00+00:00",
    ]


def test_it_fires_on_the_last_weekday_of_the_month_with_lw() -> None:
    # 2026-01-31 is a Saturday and 2026-05-31 a Sunday: both fall back to Friday.
    assert runs({"cron": "0 0 0 LW * ?"}, "2026-01-01T00:00:00+00:00", 5) == [
        "2026-01-30T00:00:00+00:00",
        "2026-02-27T00:00:00+00:00",
        "2026-03-31T00:00:00+00:00",
        "2026-04-30T00:00:00+00:00",
        "2026-05-29T00:00:00+00:00",
    ]


def test_it_moves_w_to_the_nearest_weekday_within_the_month() -> None:
    # 2026-08-15 is a Saturday (-> Friday 14th), 2026-11-15 a Sunday (-> Monday 16th).
    assert runs({"cron": "0 0 0 15W 8,11 ?"}, "2026-01-01T00:00:00+00:00", 2) == [
        "2026-08-14T00:00:00+00:00",
        "2026-11-16T00:00:00+00:00",
    ]
    # 2026-08-01 is a Saturday: Quartz does not jump back into July, it fires on Monday the 3rd.
    assert runs({"cron": "0 0 0 1W 8 ?"}, "2026-01-01T00:00:00+00:00", 1) == [
        "2026-08-03T00:00:00+00:00"
    ]


def test_it_fires_on_the_nth_weekday_with_hash() -> None:
    assert runs({"cron": "0 0 0 ? * 6#3"}, "2026-01-01T00:00:00+00:00", 2) == [
        "2026-01-16T00:00:00+00:00",
        "2026-02-20T00:00:00+00:00",
    ]
    assert runs({"cron": "0 0 * * 5#3"}, "2026-01-01T00:00:00+00:00", 1) == [
        "2026-01-16T00:00:00+00:00"
    ]


def test_it_skips_months_without_a_fifth_monday() -> None:
    assert runs({"cron": "0 0 0 ? * MON#5"}, "2026-01-01T00:00:00+00:00", 2) == [
        "2026-03-30T00:00:00+00:00",
        "2026-06-29T00:00:00+00:00",
    ]


# --- DST -----------------------------------------------------------------------------------------


def test_it_fires_a_daily_0230_berlin_job_at_0300_on_the_spring_change() -> None:
    data = {"cron": "30 2 * * *", "timezone": "Europe/Berlin"}
    assert runs(data, "2026-03-28T12:00:00+01:00") == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]


def test_it_fires_a_daily_0230_berlin_job_once_on_the_autumn_change() -> None:
    data = {"cron": "30 2 * * *", "timezone": "Europe/Berlin"}
    assert runs(data, "2026-10-24T12:00:00+02:00") == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]


def test_it_does_not_refire_a_fixed_time_job_during_the_repeated_hour() -> None:
    data = {"cron": "30 2 * * *", "timezone": "Europe/Berlin"}
    second_0215 = epoch("2026-10-25T02:15:00+01:00")
    assert Schedule.parse(data).next_after(second_0215) == epoch("2026-10-26T02:30:00+01:00")


def test_it_keeps_a_berlin_every_15_minutes_job_on_real_time_in_spring() -> None:
    data = {"cron": "*/15 * * * *", "timezone": "Europe/Berlin"}
    assert runs(data, "2026-03-29T01:40:00+01:00", 3) == [
        "2026-03-29T01:45:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T03:15:00+02:00",
    ]
    assert gaps(data, "2026-03-28T20:00:00+00:00", 40) == {900}


def test_it_keeps_a_berlin_every_30_minutes_job_on_real_time_in_autumn() -> None:
    data = {"cron": "*/30 * * * *", "timezone": "Europe/Berlin"}
    assert runs(data, "2026-10-25T01:40:00+02:00", 6) == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-25T03:00:00+01:00",
        "2026-10-25T03:30:00+01:00",
    ]
    assert gaps(data, "2026-10-24T20:00:00+00:00", 40) == {1800}


def test_it_keeps_an_every_2_hours_job_on_the_wall_clock_grid() -> None:
    data = {"cron": "0 */2 * * *", "timezone": "Europe/Berlin"}
    assert runs(data, "2026-10-24T23:30:00+02:00", 4) == [
        "2026-10-25T00:00:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T04:00:00+01:00",
    ]


def test_it_fires_a_fixed_hour_job_whose_minutes_all_fall_in_the_gap_once() -> None:
    data = {"cron": "*/15 2 * * *", "timezone": "Europe/Berlin"}
    assert runs(data, "2026-03-28T12:00:00+01:00", 2) == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:00:00+02:00",
    ]


def test_it_fires_a_quartz_second_in_the_gap_when_the_gap_ends() -> None:
    data = {"cron": "30 30 2 * * ?", "timezone": "Europe/Berlin"}
    assert runs(data, "2026-03-28T12:00:00+01:00", 2) == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:30+02:00",
    ]
    assert runs(data, "2026-10-24T12:00:00+02:00", 2) == [
        "2026-10-25T02:30:30+02:00",
        "2026-10-26T02:30:30+01:00",
    ]


def test_it_fires_a_daily_0230_new_york_job_at_0300_in_spring() -> None:
    data = {"cron": "30 2 * * *", "timezone": "America/New_York"}
    assert runs(data, "2026-03-07T12:00:00-05:00", 2) == [
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:30:00-04:00",
    ]


def test_it_fires_a_daily_0130_new_york_job_once_in_autumn() -> None:
    data = {"cron": "30 1 * * *", "timezone": "America/New_York"}
    assert runs(data, "2026-10-31T12:00:00-04:00", 2) == [
        "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00",
    ]


def test_it_keeps_a_new_york_every_10_minutes_job_on_real_time_both_ways() -> None:
    data = {"cron": "*/10 * * * *", "timezone": "America/New_York"}
    assert gaps(data, "2026-03-08T04:00:00-05:00", 30) == {600}
    assert gaps(data, "2026-11-01T00:00:00-04:00", 30) == {600}


def test_it_fires_a_lord_howe_job_in_the_half_hour_gap_when_it_ends() -> None:
    # Lord Howe moves from +10:30 to +11:00 at 02:00: 02:00-02:29 does not exist.
    data = {"cron": "15 2 * * *", "timezone": "Australia/Lord_Howe"}
    assert runs(data, "2026-10-03T12:00:00+10:30", 2) == [
        "2026-10-04T02:30:00+11:00",
        "2026-10-05T02:15:00+11:00",
    ]


def test_it_fires_a_lord_howe_job_in_the_repeated_half_hour_once() -> None:
    # Lord Howe moves from +11:00 back to +10:30 at 02:00: 01:30-01:59 happens twice.
    data = {"cron": "45 1 * * *", "timezone": "Australia/Lord_Howe"}
    assert runs(data, "2026-04-04T12:00:00+11:00", 2) == [
        "2026-04-05T01:45:00+11:00",
        "2026-04-06T01:45:00+10:30",
    ]


def test_it_keeps_a_lord_howe_every_30_minutes_job_on_real_time() -> None:
    data = {"cron": "*/30 * * * *", "timezone": "Australia/Lord_Howe"}
    assert gaps(data, "2026-10-03T22:00:00+10:30", 12) == {1800}
    assert gaps(data, "2026-04-04T22:00:00+11:00", 12) == {1800}


def test_it_runs_a_lord_howe_hourly_job_90_minutes_apart_across_the_change() -> None:
    data = {"cron": "0 * * * *", "timezone": "Australia/Lord_Howe"}
    assert runs(data, "2026-10-04T00:30:00+10:30", 3) == [
        "2026-10-04T01:00:00+10:30",
        "2026-10-04T03:00:00+11:00",
        "2026-10-04T04:00:00+11:00",
    ]


def test_it_handles_a_fall_back_that_crosses_midnight() -> None:
    # St. John's went from 00:01 NDT back to 23:01 NST on 2010-11-07 until 2011.
    every = {"cron": "*/30 * * * *", "timezone": "America/St_Johns"}
    assert gaps(every, "2010-11-06T22:00:00-02:30", 8) == {1800}
    daily = {"cron": "30 23 * * *", "timezone": "America/St_Johns"}
    assert runs(daily, "2010-11-06T12:00:00-02:30", 2) == [
        "2010-11-06T23:30:00-02:30",
        "2010-11-07T23:30:00-03:30",
    ]


def test_it_applies_the_gap_rule_to_cronjob_org_and_cronicle_forms() -> None:
    cronjob = {"hours": [2], "mdays": [-1], "minutes": [30], "months": [-1], "wdays": [-1]}
    for data in (cronjob, {"timing": {"hours": [2], "minutes": [30]}}):
        assert runs({**data, "timezone": "Europe/Berlin"}, "2026-03-28T12:00:00+01:00", 1) == [
            "2026-03-29T03:00:00+02:00"
        ]


# --- description ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (
            {"cron": "30 4 * * 1-5", "timezone": "Europe/Berlin"},
            "At 04:30, Monday through Friday (Europe/Berlin)",
        ),
        (
            {
                "timezone": "Europe/Berlin",
                "hours": [4],
                "mdays": [-1],
                "minutes": [30],
                "months": [-1],
                "wdays": [1, 2, 3, 4, 5],
            },
            "At 04:30, Monday through Friday (Europe/Berlin)",
        ),
        ({"timing": {"minutes": [0, 15, 30, 45]}}, "Every 15 minutes (UTC)"),
        (
            {"timing": {"minutes": [5, 20, 35, 50]}},
            "At 5, 20, 35, and 50 minutes past the hour (UTC)",
        ),
        (
            {"hours": [9], "minutes": [0], "mdays": [-1], "months": [-1], "wdays": [1, 3, 5]},
            "At 09:00, only on Monday, Wednesday, and Friday (UTC)",
        ),
        (
            {"hours": [9], "minutes": [0], "mdays": [-1], "months": [-1], "wdays": [0, 2, 4, 6]},
            "At 09:00, only on Sunday, Tuesday, Thursday, and Saturday (UTC)",
        ),
        (
            {"timing": {"days": [1, 15], "weekdays": [1], "hours": [9], "minutes": [0]}},
            "At 09:00, on day 1 and 15 of the month, only on Monday (UTC)",
        ),
        (
            {"timing": {"years": [2027], "months": [3], "hours": [9], "minutes": [0]}},
            "At 09:00, only in March, only in 2027 (UTC)",
        ),
        (
            {"cron": "0 15 10 ? * 6L 2026"},
            "At 10:15, on the last Friday of the month, only in 2026 (UTC)",
        ),
        ({"cron": "@daily", "timezone": "Asia/Tokyo"}, "At 00:00 (Asia/Tokyo)"),
        ({"cron": "0 0 13 * 5"}, "At 00:00, on day 13 of the month, or on Friday (UTC)"),
        (
            {"cron": "0 0 1,15 * 1-5"},
            "At 00:00, on day 1 and 15 of the month, or Monday through Friday (UTC)",
        ),
        ({"cron": "0 9 * * 0-7"}, "At 09:00 (UTC)"),
        ({"cron": "0 9 13 * 0-7"}, "At 09:00 (UTC)"),  # Vixie's OR with every weekday
        (
            {"cron": "0 9 * * *", "timezone": "Europe/Berlin", "expiresAt": 20261231235959},
            "At 09:00, until 2026-12-31 23:59:59 (Europe/Berlin)",
        ),
        ({"at": "2026-12-01T09:30:00+01:00"}, "Once at 2026-12-01 09:30 (+01:00)"),
        ({"at": "2026-12-01T09:30:00-03:30"}, "Once at 2026-12-01 09:30 (-03:30)"),
    ],
)
def test_it_describes_the_schedule_in_plain_english(data: dict[str, Any], text: str) -> None:
    assert Schedule.parse(data).describe() == text


def test_it_imports_cron_descriptor_only_to_describe() -> None:
    code = "import sys, chalicelib.schedule; print('cron_descriptor' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- storage form --------------------------------------------------------------------------------

ROUND_TRIPS: list[dict[str, Any]] = [
    {"cron": "30 2 * * *", "timezone": "Europe/Berlin"},
    {"cron": "  */5   *  * * * ", "expiresAt": 20270101000000},
    {"cron": "0 15 10 ? * 6L 2026", "timezone": "America/New_York"},
    {"cron": "cron(0 12 ? * MON-FRI *)"},
    {"cron": "@weekly"},
    {"hours": [-1], "mdays": [1, 15], "minutes": [0], "months": [-1], "wdays": [5]},
    {"timing": {"hours": [4, 16], "minutes": [30], "weekdays": []}, "timezone": "Asia/Kolkata"},
    {"timing": {}},
    {"at": "2026-12-01T09:30:00+01:00", "timezone": "Europe/Paris"},
    {"timezone": "Europe/Berlin", "expiresAt": 20270101000000},
    {},
]


@pytest.mark.parametrize("data", ROUND_TRIPS)
def test_it_round_trips_through_its_storage_form(data: dict[str, Any]) -> None:
    first = Schedule.parse(data)
    again = Schedule.parse(first.to_dict())
    assert again.to_dict() == first.to_dict()
    assert (again.kind, again.timezone, again.describe()) == (
        first.kind,
        first.timezone,
        first.describe(),
    )
    after = epoch("2026-01-01T00:00:00+00:00")
    assert again.upcoming(20, after) == first.upcoming(20, after)


def test_it_stores_a_cronjob_org_object_in_cronjob_orgs_shape() -> None:
    data = {"hours": [12, 0], "mdays": [-1], "minutes": [0], "months": [-1], "wdays": [-1]}
    assert Schedule.parse(data).to_dict() == {
        "timezone": "UTC",
        "expiresAt": 0,
        "hours": [0, 12],
        "mdays": [-1],
        "minutes": [0],
        "months": [-1],
        "wdays": [-1],
    }


def test_it_stores_a_cron_string_with_its_whitespace_normalised() -> None:
    assert Schedule.parse({"cron": " 0  9 * * 1 "}).to_dict() == {
        "timezone": "UTC",
        "expiresAt": 0,
        "cron": "0 9 * * 1",
    }
