"""next_after against an independent brute-force matcher, and against cronsim and croniter.

The brute force checks every minute of each candidate day and applies the DST rules itself
(gap -> first existing minute after it; repeated time -> fold 0; every-hour or stepped hour
fields -> real instants whose wall clock matches). Days whose date cannot match are skipped
whole, so a year-long search stays cheap. It uses the same search horizon as the module.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from cronsim import CronSim, CronSimError
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chalicelib.schedule import Schedule

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
# DST changes of 2026 (UTC) in the zones above; runs near them are where rules matter.
CHANGES = [
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
    datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
    datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
    datetime(2026, 11, 1, 6, 0, tzinfo=UTC),
    datetime(2026, 4, 4, 15, 0, tzinfo=UTC),
    datetime(2026, 10, 3, 15, 30, tzinfo=UTC),
]
YEAR_2026 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class Cron:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    doms: frozenset[int]
    months: frozenset[int]
    dows: frozenset[int]
    dom_star: bool
    dow_star: bool
    hour_interval: bool


@st.composite
def cron_field(
    draw: st.DrawFn, lo: int, hi: int, hot: tuple[int, ...] = ()
) -> tuple[str, set[int]]:
    """Field text and the values it stands for, built from the parts so no parser is shared."""
    form = draw(st.sampled_from(["star", "step", "value", "range", "range_step", "list"]))
    values = st.sampled_from(hot) | st.integers(lo, hi) if hot else st.integers(lo, hi)
    if form == "star":
        return "*", set(range(lo, hi + 1))
    if form == "step":
        step = draw(st.integers(1, hi - lo + 1))
        return f"*/{step}", set(range(lo, hi + 1, step))
    if form == "value":
        value = draw(values)
        return str(value), {value}
    if form == "list":
        chosen = draw(st.lists(values, min_size=1, max_size=4, unique=True))
        return ",".join(map(str, chosen)), set(chosen)
    a, b = sorted((draw(values), draw(values)))
    if form == "range":
        return f"{a}-{b}", set(range(a, b + 1))
    step = draw(st.integers(1, hi - lo + 1))
    return f"{a}-{b}/{step}", set(range(a, b + 1, step))


@st.composite
def crons(draw: st.DrawFn) -> Cron:
    minute, minutes = draw(cron_field(0, 59, hot=(0, 15, 30, 45)))
    hour, hours = draw(cron_field(0, 23, hot=(1, 2, 3)))
    dom, doms = draw(cron_field(1, 31, hot=(1, 28, 29, 30, 31)))
    month, months = draw(cron_field(1, 12, hot=(2, 3, 4, 10, 11)))
    dow, dows = draw(cron_field(0, 7))
    return Cron(
        text=f"{minute} {hour} {dom} {month} {dow}",
        minutes=frozenset(minutes),
        hours=frozenset(hours),
        doms=frozenset(doms),
        months=frozenset(months),
        dows=frozenset(d % 7 for d in dows),
        dom_star=dom.startswith("*"),
        dow_star=dow.startswith("*"),
        hour_interval=hour.startswith("*") or "/" in hour or len(hours) == 24,
    )


instants = st.one_of(
    st.integers(0, 366 * 86400).map(lambda s: YEAR_2026 + s),
    st.tuples(st.sampled_from(CHANGES), st.integers(-36 * 3600, 36 * 3600)).map(
        lambda pair: pair[0].timestamp() + pair[1]
    ),
).flatmap(lambda t: st.sampled_from([t, t + 0.5]))


def day_matches(c: Cron, day: date) -> bool:
    if day.month not in c.months:
        return False
    dom_ok = day.day in c.doms
    dow_ok = day.isoweekday() % 7 in c.dows
    # Vixie cron: a "*"-led day field makes the two day fields AND, otherwise OR.
    return dom_ok and dow_ok if c.dom_star or c.dow_star else dom_ok or dow_ok


def last_year(c: Cron, zone: ZoneInfo, t: float) -> int:
    """The module's horizon: 8 years from the start, 40 when both day fields must match."""
    start = datetime.fromtimestamp(int(t) + 1, zone).year
    both = c.text.split()[2] != "*" and c.text.split()[4] != "*"
    return start + (40 if both and (c.dom_star or c.dow_star) else 8)


def exists(zone: ZoneInfo, wall: datetime) -> bool:
    aware = wall.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall


def fixed_instant(zone: ZoneInfo, wall: datetime) -> int:
    """Rule 1: a missing wall time fires at the first existing minute; rule 2: fold 0."""
    while not exists(zone, wall):
        wall += timedelta(minutes=1)
    return int(wall.replace(tzinfo=zone, fold=0).timestamp())


def brute_fixed(c: Cron, zone: ZoneInfo, t: float) -> int | None:
    day = datetime.fromtimestamp(t, zone).date() - timedelta(days=1)
    end = last_year(c, zone, t)
    best: int | None = None
    while day.year <= end:
        if best is not None and day > datetime.fromtimestamp(best, UTC).date() + timedelta(2):
            break
        if day_matches(c, day):
            for minute_of_day in range(1440):
                hour, minute = divmod(minute_of_day, 60)
                if hour in c.hours and minute in c.minutes:
                    u = fixed_instant(zone, datetime.combine(day, time(hour, minute)))
                    if u > t and (best is None or u < best):
                        best = u
        day += timedelta(days=1)
    return best


def brute_interval(c: Cron, zone: ZoneInfo, t: float) -> int | None:
    u = (int(t) // 60 + 1) * 60
    end = last_year(c, zone, t)
    while True:
        wall = datetime.fromtimestamp(u, zone)
        if wall.year > end:
            return None
        if not day_matches(c, wall.date()):
            # Leap to three hours before the next local midnight: no DST change is that big.
            u += max(60, ((23 - wall.hour) * 60 + 59 - wall.minute) * 60 - 3 * 3600)
        elif wall.hour in c.hours and wall.minute in c.minutes:
            return u
        else:
            u += 60


def brute_next(c: Cron, zone_name: str, t: float) -> int | None:
    zone = ZoneInfo(zone_name)
    return brute_interval(c, zone, t) if c.hour_interval else brute_fixed(c, zone, t)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(c=crons(), zone=st.sampled_from(ZONES), t=instants)
def test_it_agrees_with_a_brute_force_matcher_that_applies_the_dst_rules(
    c: Cron, zone: str, t: float
) -> None:
    schedule = Schedule.parse({"cron": c.text, "timezone": zone})
    expected = brute_next(c, zone, t)
    assert schedule.next_after(t) == expected
    if expected is not None:
        assert schedule.next_after(expected) == brute_next(c, zone, expected)


@settings(max_examples=150, deadline=None)
@given(c=crons(), t=instants)
def test_it_agrees_with_cronsim_in_utc(c: Cron, t: float) -> None:
    # cronsim 2.8 reads a one-value range with a step ("0-0/1") as "0/1", i.e. to the end of
    # the field; Vixie cron and we read it as the single value.
    assume(not re.search(r"(?<!\d)(\d+)-\1/", c.text))
    try:
        found: int | None = int(next(CronSim(c.text, datetime.fromtimestamp(t, UTC))).timestamp())
    except CronSimError:
        found = None  # cronsim refuses day-of-month values no chosen month has
    except StopIteration:
        found = None
    assert Schedule.parse({"cron": c.text}).next_after(t) == found


@pytest.mark.parametrize(
    ("quartz", "croniter_form"),
    [
        ("0 15 10 ? * MON-FRI", "0 15 10 ? * MON-FRI"),
        ("*/20 5 * * * ?", "*/20 5 * * * ?"),
        ("0 0 12 1,15 * ?", "0 0 12 1,15 * ?"),
        # Quartz 2-6 is Monday-Friday; croniter counts from Sunday = 0.
        ("30 0/15 9-17 ? * 2-6", "30 0/15 9-17 ? * 1-5"),
        ("0 0 0 ? * 6#3", "0 0 0 ? * 5#3"),
        ("0 0 0 15W * ?", "0 0 0 15W * ?"),
        ("0 0 12 * * ? 2026", "0 0 12 * * ? 2026"),
    ],
)
def test_it_agrees_with_croniter_on_quartz_in_utc(quartz: str, croniter_form: str) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    it = croniter(croniter_form, start, second_at_beginning=True)
    expected = [int(it.get_next(float)) for _ in range(40)]
    assert Schedule.parse({"cron": quartz}).upcoming(40, start.timestamp()) == expected


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
@pytest.mark.parametrize("cron", ["30 2 * * *", "45 1 * * *", "15 3 * * 0", "0 2,3 * * *"])
def test_it_agrees_with_cronsim_on_fixed_times_across_2026s_changes(zone: str, cron: str) -> None:
    start = datetime(2026, 1, 1, tzinfo=ZoneInfo(zone))
    it = CronSim(cron, start)
    expected = [int(next(it).timestamp()) for _ in range(400)]
    assert Schedule.parse({"cron": cron, "timezone": zone}).upcoming(400, start.timestamp()) == (
        expected
    )


def _weekday_days(year: int, month: int) -> list[date]:
    length = calendar.monthrange(year, month)[1]
    return [
        date(year, month, d) for d in range(1, length + 1) if date(year, month, d).weekday() < 5
    ]


def _nearest_weekday(year: int, month: int, day: int) -> date | None:
    length = calendar.monthrange(year, month)[1]
    if day > length:
        return None
    candidates = _weekday_days(year, month)
    return min(candidates, key=lambda d: (abs(d.day - day), d.day))


QUARTZ_DAYS = {
    "0 0 0 L * ?": lambda y, m: [date(y, m, calendar.monthrange(y, m)[1])],
    "0 0 0 L-3 * ?": lambda y, m: [date(y, m, calendar.monthrange(y, m)[1] - 3)],
    "0 0 0 LW * ?": lambda y, m: [_weekday_days(y, m)[-1]],
    "0 0 0 15W * ?": lambda y, m: [_nearest_weekday(y, m, 15)],
    "0 0 0 1W * ?": lambda y, m: [_nearest_weekday(y, m, 1)],
    "0 0 0 31W * ?": lambda y, m: [_nearest_weekday(y, m, 31)],
    "0 0 0 ? * 6L": lambda y, m: [
        max(d for d in _days(y, m) if d.isoweekday() == 5)  # the last Friday
    ],
    "0 0 0 ? * 2#5": lambda y, m: [d for d in _days(y, m) if d.weekday() == 0][4:5],
    "0 0 0 ? * SUN#1,SAT#2": lambda y, m: sorted(
        [d for d in _days(y, m) if d.isoweekday() == 7][:1]
        + [d for d in _days(y, m) if d.isoweekday() == 6][1:2]
    ),
}


def _days(year: int, month: int) -> list[date]:
    return [date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]


@pytest.mark.parametrize("cron", sorted(QUARTZ_DAYS))
def test_it_places_quartz_day_specials_like_a_plain_calendar_would(cron: str) -> None:
    rule = QUARTZ_DAYS[cron]
    expected = [
        int(datetime.combine(d, time(), tzinfo=UTC).timestamp())
        for year in range(2026, 2034)
        for month in range(1, 13)
        for d in rule(year, month)
        if d is not None
    ]
    got = Schedule.parse({"cron": cron}).upcoming(len(expected), YEAR_2026 - 1)
    assert got == expected
