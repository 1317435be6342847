"""Every way a client can get a schedule wrong: the field it names and the message it reads."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.schedule import Schedule, ScheduleError

EVERY = {"hours": [-1], "mdays": [-1], "minutes": [0], "months": [-1], "wdays": [-1]}

CASES: list[tuple[Any, str, str]] = [
    # the object itself
    ("*/5 * * * *", "schedule", 'must be an object such as {"cron": "*/5 * * * *"}'),
    (
        {"crontab": "* * * * *"},
        "schedule",
        "unknown key 'crontab'; use cron, timing, at, or hours, mdays, minutes, months and "
        "wdays, each with optional timezone and expiresAt",
    ),
    (
        {"cron": "* * * * *", "timing": {}},
        "schedule",
        "mixes the cron and timing forms; send exactly one",
    ),
    (
        {"cron": "* * * * *", **EVERY},
        "schedule",
        "mixes the cron-job.org and cron forms; send exactly one",
    ),
    # time zone
    (
        {"cron": "* * * * *", "timezone": "Mars/Base"},
        "schedule.timezone",
        "unknown time zone 'Mars/Base'",
    ),
    ({"timezone": "Europe"}, "schedule.timezone", "unknown time zone 'Europe'"),
    ({"timezone": "../etc/passwd"}, "schedule.timezone", "unknown time zone '../etc/passwd'"),
    # Files of this host's zoneinfo that are not IANA zones: another host may lack them.
    ({"timezone": "localtime"}, "schedule.timezone", "unknown time zone 'localtime'"),
    (
        {"timezone": "posix/Europe/Berlin"},
        "schedule.timezone",
        "unknown time zone 'posix/Europe/Berlin'",
    ),
    ({"timezone": "Factory"}, "schedule.timezone", "unknown time zone 'Factory'"),
    (
        {"timezone": 1},
        "schedule.timezone",
        "must be an IANA time zone name such as 'Europe/Berlin'",
    ),
    # expiresAt
    (
        {"cron": "* * * * *", "expiresAt": "20261231235959"},
        "schedule.expiresAt",
        '"20261231235959" must be a date-time YYYYMMDDhhmmss in the schedule\'s time zone, '
        "or 0 for never",
    ),
    (
        {"expiresAt": True},
        "schedule.expiresAt",
        "true must be a date-time YYYYMMDDhhmmss in the schedule's time zone, or 0 for never",
    ),
    (
        {"expiresAt": 2026123123},
        "schedule.expiresAt",
        "2026123123 must be a date-time YYYYMMDDhhmmss in the schedule's time zone, or 0 for never",
    ),
    (
        {"expiresAt": 20261332000000},
        "schedule.expiresAt",
        "20261332000000 is not a real date-time",
    ),
    (
        {"at": "2026-12-01T09:30:00Z", "expiresAt": 20270101000000},
        "schedule.expiresAt",
        "does not apply to a one-shot 'at'",
    ),
    # cron-job.org lists
    (
        {"hours": [1], "minutes": [0], "mdays": [-1], "months": [-1]},
        "schedule.wdays",
        "list at least one weekday (0-6), or [-1] for every day of the week",
    ),
    (
        {**EVERY, "hours": []},
        "schedule.hours",
        "list at least one hour (0-23), or [-1] for every hour",
    ),
    (
        {**EVERY, "hours": "5"},
        "schedule.hours",
        "must be a list of hours: list at least one hour (0-23), or [-1] for every hour",
    ),
    ({**EVERY, "hours": [True]}, "schedule.hours", "hour true is not a whole number"),
    ({**EVERY, "minutes": [1.5]}, "schedule.minutes", "minute 1.5 is not a whole number"),
    ({**EVERY, "minutes": ["5"]}, "schedule.minutes", 'minute "5" is not a whole number'),
    ({**EVERY, "minutes": [61]}, "schedule.minutes", "minute 61 is out of range 0-59"),
    ({**EVERY, "hours": [24]}, "schedule.hours", "hour 24 is out of range 0-23"),
    ({**EVERY, "mdays": [0]}, "schedule.mdays", "day of month 0 is out of range 1-31"),
    ({**EVERY, "months": [13]}, "schedule.months", "month 13 is out of range 1-12"),
    ({**EVERY, "wdays": [7]}, "schedule.wdays", "weekday 7 is out of range 0-6"),
    ({**EVERY, "hours": [-1, 3]}, "schedule.hours", "use [-1] alone for every hour"),
    # Cronicle timing
    ({"timing": [0]}, "schedule.timing", 'must be an object such as {"minutes": [0]}'),
    (
        {"timing": {"seconds": [0]}},
        "schedule.timing",
        "unknown key 'seconds'; use years, months, days, weekdays, hours, minutes",
    ),
    ({"timing": {"hours": [25]}}, "schedule.timing.hours", "hour 25 is out of range 0-23"),
    ({"timing": {"days": [32]}}, "schedule.timing.days", "day 32 is out of range 1-31"),
    (
        {"timing": {"years": [1969]}},
        "schedule.timing.years",
        "year 1969 is out of range 1970-2199",
    ),
    ({"timing": {"minutes": [-1]}}, "schedule.timing.minutes", "minute -1 is out of range 0-59"),
    (
        {"timing": {"weekdays": 1}},
        "schedule.timing.weekdays",
        "must be a list of weekdays: list at least one weekday (0-6), or leave 'weekdays' "
        "out for every weekday",
    ),
    # at
    (
        {"at": "2026-12-01T09:30:00"},
        "schedule.at",
        '"2026-12-01T09:30:00" has no offset; give an ISO 8601 time with an offset, '
        "such as 2026-12-01T09:30:00+01:00",
    ),
    (
        {"at": "tomorrow"},
        "schedule.at",
        '"tomorrow" is not a valid time; give an ISO 8601 time with an offset, '
        "such as 2026-12-01T09:30:00+01:00",
    ),
    (
        {"at": 1764577800},
        "schedule.at",
        "give an ISO 8601 time with an offset, such as 2026-12-01T09:30:00+01:00",
    ),
    # cron text
    ({"cron": ""}, "schedule.cron", "must be a cron expression string"),
    ({"cron": 5}, "schedule.cron", "must be a cron expression string"),
    ({"cron": "61 * * * *"}, "schedule.cron", "minute 61 is out of range 0-59"),
    ({"cron": "* 24 * * *"}, "schedule.cron", "hour 24 is out of range 0-23"),
    ({"cron": "* * 0 * *"}, "schedule.cron", "day-of-month 0 is out of range 1-31"),
    ({"cron": "* * 32 * *"}, "schedule.cron", "day-of-month 32 is out of range 1-31"),
    ({"cron": "* * * 13 *"}, "schedule.cron", "month 13 is out of range 1-12"),
    ({"cron": "* * * * 8"}, "schedule.cron", "day-of-week 8 is out of range 0-7"),
    ({"cron": "* * * FOO *"}, "schedule.cron", "'FOO' is not a valid month"),
    ({"cron": "x * * * *"}, "schedule.cron", "'x' is not a valid minute"),
    ({"cron": "1,,2 * * * *"}, "schedule.cron", "minute field '1,,2' has an empty list item"),
    (
        {"cron": "*/0 * * * *"},
        "schedule.cron",
        "minute step '0' must be a number from 1 to 60",
    ),
    (
        {"cron": "0 */25 * * *"},
        "schedule.cron",
        "hour step '25' must be a number from 1 to 24",
    ),
    (
        {"cron": "0 22-2 * * *"},
        "schedule.cron",
        "hour range 22-2 runs backwards; list it as two ranges",
    ),
    (
        {"cron": "* * * *"},
        "schedule.cron",
        "expected 5 fields (Unix cron) or 6-7 (Quartz, seconds first), got 4",
    ),
    (
        {"cron": "0 0 0 * * ? * *"},
        "schedule.cron",
        "expected 5 fields (Unix cron) or 6-7 (Quartz, seconds first), got 8",
    ),
    (
        {"cron": "@reboot"},
        "schedule.cron",
        "unknown macro '@reboot'; use one of @yearly, @annually, @monthly, @weekly, @daily, "
        "@midnight, @hourly",
    ),
    ({"cron": "0 ? * * *"}, "schedule.cron", "'?' is not a valid hour"),
    ({"cron": "0 0 * * L"}, "schedule.cron", "'L' is not a valid day-of-week"),
    # Quartz
    (
        {"cron": "0 0 12 * * *"},
        "schedule.cron",
        "Quartz needs '?' in exactly one of day-of-month and day-of-week",
    ),
    (
        {"cron": "0 0 12 ? * ?"},
        "schedule.cron",
        "Quartz needs '?' in exactly one of day-of-month and day-of-week",
    ),
    (
        {"cron": "? 0 12 ? * 1"},
        "schedule.cron",
        "'?' is only allowed in day-of-month or day-of-week, not the second",
    ),
    ({"cron": "60 0 12 ? * 1"}, "schedule.cron", "second 60 is out of range 0-59"),
    ({"cron": "0 0 12 ? * 0"}, "schedule.cron", "day-of-week 0 is out of range 1-7"),
    ({"cron": "0 0 12 ? * 8"}, "schedule.cron", "day-of-week 8 is out of range 1-7"),
    ({"cron": "0 0 12 ? * 1 2200"}, "schedule.cron", "year 2200 is out of range 1970-2199"),
    ({"cron": "² * * * *"}, "schedule.cron", "'²' is not a valid minute"),
    ({"cron": "*/² * * * *"}, "schedule.cron", "minute step '²' must be a number from 1 to 60"),
    ({"cron": "0 0 12 ? * 1#²"}, "schedule.cron", "'1#²' needs a week number 1-5 after '#'"),
    ({"cron": "0 0 12 L-² * ?"}, "schedule.cron", "'L-²' needs a number of days 0-30 after 'L-'"),
    ({"cron": "0 0 12 ? * 6#6"}, "schedule.cron", "'6#6' needs a week number 1-5 after '#'"),
    ({"cron": "0 0 12 L-31 * ?"}, "schedule.cron", "'L-31' needs a number of days 0-30 after 'L-'"),
    ({"cron": "0 0 12 32W * ?"}, "schedule.cron", "day-of-month 32 is out of range 1-31"),
    (
        {"cron": "cron(0 12 * * * *)"},
        "schedule.cron",
        "Quartz needs '?' in exactly one of day-of-month and day-of-week",
    ),
]


@pytest.mark.parametrize(("data", "field", "message"), CASES)
def test_it_rejects_an_invalid_schedule_naming_the_field(
    data: Any, field: str, message: str
) -> None:
    with pytest.raises(ScheduleError) as caught:
        Schedule.parse(data)
    assert (caught.value.field, caught.value.message) == (field, message)
    assert str(caught.value) == message


def test_it_raises_a_value_error_subclass() -> None:
    error = ScheduleError("schedule.cron", "minute 61 is out of range 0-59")
    assert isinstance(error, ValueError)
    assert str(error) == "minute 61 is out of range 0-59"
