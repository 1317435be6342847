"""Cron text and field lists -> one field-set `Spec`; every mistake raises `ScheduleError`.

Unix cron (5 fields, Vixie rules), Quartz (6-7 fields, seconds first, optional year) and
EventBridge's `cron(...)` all end up as the same `Spec`, as do the cron-job.org and Cronicle
list objects (see `spec_from_lists`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
QUARTZ_YEARS = (1970, 2199)  # EventBridge's year field; Quartz takes up to 100 years ahead


class ScheduleError(ValueError):
    """A schedule the client sent cannot be used; `field` is the API's dotted path to it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Spec:
    """Which wall-clock seconds fire: one sorted tuple per time field, rules for the day.

    Weekdays are 0=Sunday..6=Saturday whatever the source numbering. `day_or` is Vixie
    cron's rule (day-of-month OR day-of-week); otherwise both must match. `hour_interval`
    marks schedules that run every hour or every N hours: they follow real elapsed time
    across DST changes instead of the wall-clock rules.
    """

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...] | None
    dom_every: bool
    dom: frozenset[int]
    dom_last: frozenset[int]  # days before the month's last day: L -> 0, L-3 -> 3
    dom_last_weekday: bool  # LW
    dom_nearest: frozenset[int]  # nW
    dow_every: bool
    dow: frozenset[int]
    dow_last: frozenset[int]  # nL: the last such weekday of the month
    dow_nth: frozenset[tuple[int, int]]  # d#n: the n-th such weekday of the month
    day_or: bool
    hour_interval: bool


def show(value: Any) -> str:
    """Render a client value the way they wrote it in JSON (`true`, `"5"`, `1.5`)."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


@dataclass(frozen=True, slots=True)
class _Field:
    name: str  # singular, as it appears in messages: "minute", "day-of-week"
    lo: int
    hi: int
    names: tuple[str, ...] = ()
    name_base: int = 0  # the number the first name stands for


_SECOND = _Field("second", 0, 59)
_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DOM = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, MONTH_NAMES, 1)
# Vixie cron accepts 0-7 for the day of week, both 0 and 7 meaning Sunday.
_DOW_UNIX = _Field("day-of-week", 0, 7, DAY_NAMES, 0)
# Quartz numbers weekdays 1=Sunday..7=Saturday.
_DOW_QUARTZ = _Field("day-of-week", 1, 7, DAY_NAMES, 1)
_YEAR = _Field("year", QUARTZ_YEARS[0], QUARTZ_YEARS[1])

_CRON = "schedule.cron"


def _fail(message: str) -> ScheduleError:
    return ScheduleError(_CRON, message)


def _number(text: str, f: _Field) -> int:
    upper = text.upper()
    if upper in f.names:
        return f.names.index(upper) + f.name_base
    if not (text.isascii() and text.isdigit()):
        raise _fail(f"'{text}' is not a valid {f.name}")
    value = int(text)
    if not f.lo <= value <= f.hi:
        raise _fail(f"{f.name} {value} is out of range {f.lo}-{f.hi}")
    return value


def _item(item: str, f: _Field, wrap: bool = False) -> tuple[set[int], bool]:
    """One comma-separated item -> its values, and whether it used a step. With `wrap` (Quartz)
    a range that ends below its start runs on past the field's end: hours 22-2 are 22,23,0,1,2."""
    base, slash, step_text = item.partition("/")
    span = f.hi - f.lo + 1
    if base == "*":
        lo, hi = f.lo, f.hi
    elif "-" in base:
        a, _, b = base.partition("-")
        lo, hi = _number(a, f), _number(b, f)
        if lo > hi and not wrap:
            raise _fail(f"{f.name} range {base} runs backwards; list it as two ranges")
        if lo > hi:
            hi += span
    else:
        lo = _number(base, f)
        # Quartz and most crons read "5/15" as "from 5 to the end, every 15".
        hi = f.hi if slash else lo
    step = 1
    if slash:
        if not (step_text.isascii() and step_text.isdigit()) or not 1 <= int(step_text) <= span:
            raise _fail(f"{f.name} step '{step_text}' must be a number from 1 to {span}")
        step = int(step_text)
    return {f.lo + (v - f.lo) % span for v in range(lo, hi + 1, step)}, bool(slash)


def _plain(text: str, f: _Field, wrap: bool = False) -> tuple[set[int], bool]:
    values: set[int] = set()
    stepped = False
    for item in text.split(","):
        if not item:
            raise _fail(f"{f.name} field '{text}' has an empty list item")
        got, step = _item(item, f, wrap)
        values |= got
        stepped = stepped or step
    return values, stepped


@dataclass(slots=True)
class _Days:
    every: bool
    dom: set[int]
    last: set[int]
    last_weekday: bool
    nearest: set[int]


def _dom(text: str, wrap: bool = False) -> _Days:
    out = _Days(text in ("*", "?"), set(), set(), False, set())
    if out.every:
        return out
    for item in text.upper().split(","):
        if item == "LW":
            out.last_weekday = True
        elif item == "L":
            out.last.add(0)
        elif item.startswith("L-"):
            back = item[2:]
            if not (back.isascii() and back.isdigit()) or not 0 <= int(back) <= 30:
                raise _fail(f"'{item}' needs a number of days 0-30 after 'L-'")
            out.last.add(int(back))
        elif item.endswith("W"):
            out.nearest.add(_number(item[:-1], _DOM))
        else:
            out.dom |= _item(item, _DOM, wrap)[0]
    return out


@dataclass(slots=True)
class _Weekdays:
    every: bool
    dow: set[int]
    last: set[int]
    nth: set[tuple[int, int]]


def _dow(text: str, quartz: bool) -> _Weekdays:
    f = _DOW_QUARTZ if quartz else _DOW_UNIX

    def internal(value: int) -> int:
        return value - 1 if quartz else value % 7

    out = _Weekdays(text in ("*", "?"), set(), set(), set())
    if out.every:
        return out
    for item in text.upper().split(","):
        if quartz and item == "L":
            out.dow.add(6)  # In Quartz, a lone "L" in day-of-week means Saturday.
        elif item.endswith("L") and len(item) > 1:
            out.last.add(internal(_number(item[:-1], f)))
        elif "#" in item:
            day, _, nth = item.partition("#")
            if not (nth.isascii() and nth.isdigit()) or not 1 <= int(nth) <= 5:
                raise _fail(f"'{item}' needs a week number 1-5 after '#'")
            out.nth.add((internal(_number(day, f)), int(nth)))
        else:
            out.dow |= {internal(v) for v in _item(item, f, quartz)[0]}
    return out


def _spec(
    seconds: Iterable[int],
    minutes: Iterable[int],
    hours: set[int],
    hour_stepped: bool,
    days: _Days,
    months: Iterable[int],
    weekdays: _Weekdays,
    years: Iterable[int] | None,
    day_or: bool,
) -> Spec:
    return Spec(
        seconds=tuple(sorted(seconds)),
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        months=tuple(sorted(months)),
        years=None if years is None else tuple(sorted(years)),
        dom_every=days.every,
        dom=frozenset(days.dom),
        dom_last=frozenset(days.last),
        dom_last_weekday=days.last_weekday,
        dom_nearest=frozenset(days.nearest),
        dow_every=weekdays.every,
        dow=frozenset(weekdays.dow),
        dow_last=frozenset(weekdays.last),
        dow_nth=frozenset(weekdays.nth),
        day_or=day_or,
        hour_interval=hour_stepped or len(hours) == 24,
    )


def quartz_text(text: str) -> str | None:
    """The Quartz form of EventBridge's `cron(min hour dom month dow year)`, else None."""
    stripped = text.strip()
    if stripped.lower().startswith("cron(") and stripped.endswith(")"):
        return "0 " + stripped[5:-1].strip()
    return None


@lru_cache(maxsize=1024)
def parse_cron(text: str) -> tuple[Spec, bool]:
    """Parse a Unix (5-field), Quartz (6-7 field) or EventBridge `cron(...)` expression.

    Returns the spec and whether it was read as Quartz; cached, since the tick re-parses
    every due job's stored schedule.
    """
    quartz_form = quartz_text(text)
    if quartz_form is not None:
        text = quartz_form
    parts = text.split()
    if len(parts) == 1 and parts[0].startswith("@"):
        macro = MACROS.get(parts[0].lower())
        if macro is None:
            raise _fail(f"unknown macro '{parts[0]}'; use one of {', '.join(MACROS)}")
        parts = macro.split()
    if len(parts) == 5:
        return _unix(parts), False
    if len(parts) in (6, 7):
        return _quartz(parts), True
    raise _fail(f"expected 5 fields (Unix cron) or 6-7 (Quartz, seconds first), got {len(parts)}")


def _unix(parts: list[str]) -> Spec:
    minute, hour, dom, month, dow = parts
    hours, hour_stepped = _plain(hour, _HOUR)
    # In Vixie cron, if either day field starts with "*" the two are ANDed (so "*/2" still
    # counts as unrestricted for this rule); only two restricted fields are ORed.
    day_or = dom[0] not in "*?" and dow[0] not in "*?"
    return _spec(
        (0,),
        _plain(minute, _MINUTE)[0],
        hours,
        hour_stepped,
        _dom(dom),
        _plain(month, _MONTH)[0],
        _dow(dow, quartz=False),
        None,
        day_or,
    )


def _quartz(parts: list[str]) -> Spec:
    second, minute, hour, dom, month, dow = parts[:6]
    year = parts[6] if len(parts) == 7 else "*"
    # Quartz refuses a day-of-month and a day-of-week together: one of them must be "?".
    if (dom == "?") == (dow == "?"):
        raise _fail("Quartz needs '?' in exactly one of day-of-month and day-of-week")
    for name, value in (("second", second), ("minute", minute), ("hour", hour)):
        if "?" in value:
            raise _fail(f"'?' is only allowed in day-of-month or day-of-week, not the {name}")
    # Quartz reads a range that ends below its start as wrapping round (22-2, FRI-MON, NOV-FEB).
    hours, hour_stepped = _plain(hour, _HOUR, wrap=True)
    return _spec(
        _plain(second, _SECOND, wrap=True)[0],
        _plain(minute, _MINUTE, wrap=True)[0],
        hours,
        hour_stepped,
        _dom(dom, wrap=True),
        _plain(month, _MONTH, wrap=True)[0],
        _dow(dow, quartz=True),
        None if year == "*" else _plain(year, _YEAR)[0],
        False,
    )


@dataclass(frozen=True, slots=True)
class ListField:
    """One list-valued key of the cron-job.org or Cronicle objects."""

    key: str  # "hours"
    unit: str  # "hour"
    lo: int
    hi: int


def int_list(
    value: Any, where: str, f: ListField, every: str, allow_every_marker: bool
) -> list[int] | None:
    """Validate a list of whole numbers in range; None means "every" ([-1] or missing)."""
    hint = f"list at least one {f.unit} ({f.lo}-{f.hi}), or {every}"
    if value is None or value == []:
        raise ScheduleError(where, hint)
    if not isinstance(value, list):
        raise ScheduleError(where, f"must be a list of {f.key}: {hint}")
    out: set[int] = set()
    for item in value:
        # bool is an int in Python; JSON true is not a number.
        if isinstance(item, bool) or not isinstance(item, int):
            raise ScheduleError(where, f"{f.unit} {show(item)} is not a whole number")
        if item == -1 and allow_every_marker:
            if len(value) != 1:
                raise ScheduleError(where, f"use [-1] alone for every {f.unit}")
            return None
        if not f.lo <= item <= f.hi:
            raise ScheduleError(where, f"{f.unit} {item} is out of range {f.lo}-{f.hi}")
        out.add(item)
    return sorted(out)


def spec_from_lists(
    minutes: list[int] | None,
    hours: list[int] | None,
    mdays: list[int] | None,
    months: list[int] | None,
    wdays: list[int] | None,
    years: list[int] | None,
    day_or: bool,
) -> Spec:
    """Build a spec from validated lists (None = every); `day_or` needs both day lists set."""
    days = _Days(mdays is None, set(mdays or ()), set(), False, set())
    weekdays = _Weekdays(wdays is None, set(wdays or ()), set(), set())
    hour_set = set(range(24)) if hours is None else set(hours)
    return _spec(
        (0,),
        range(60) if minutes is None else minutes,
        hour_set,
        False,
        days,
        range(1, 13) if months is None else months,
        weekdays,
        years,
        day_or and mdays is not None and wdays is not None,
    )


# Volt MX Foundry's `jobFrequencyInfo`: a frequency type and the values of the fields it uses.
FREQUENCY_TYPES = {1: "hour", 2: "day", 3: "week", 4: "month"}
_FREQUENCY_MINUTES = ListField("minuteValues", "minute", 0, 59)
_FREQUENCY_HOURS = ListField("hourValues", "hour", 0, 23)
_FREQUENCY_INTERVAL = ListField("hourValues", "hour interval", 1, 23)
_FREQUENCY_WEEKDAYS = ListField("weekValues", "weekday (1=Sunday..7=Saturday)", 1, 7)
_FREQUENCY_DAYS = ListField("dayValues", "day of month", 1, 31)
_FREQUENCY_MONTHS = ListField("monthValues", "month", 1, 12)
# frequency type -> (its lists, which of them are required)
_FREQUENCY_LISTS: dict[int, tuple[tuple[ListField, ...], tuple[str, ...]]] = {
    1: ((_FREQUENCY_MINUTES, _FREQUENCY_INTERVAL), ("minuteValues",)),
    2: ((_FREQUENCY_MINUTES, _FREQUENCY_HOURS), ("minuteValues", "hourValues")),
    3: (
        (_FREQUENCY_MINUTES, _FREQUENCY_HOURS, _FREQUENCY_WEEKDAYS),
        ("minuteValues", "hourValues", "weekValues"),
    ),
    4: (
        (_FREQUENCY_MINUTES, _FREQUENCY_HOURS, _FREQUENCY_DAYS, _FREQUENCY_MONTHS),
        ("minuteValues", "hourValues", "dayValues"),
    ),
}


def frequency_info(value: Any, where: str) -> tuple[dict[str, Any], str]:
    """Validate a `jobFrequencyInfo` object; returns it normalized and as Quartz text.

    Type 1 (hour-based) fires at `minuteValues` past every hour, or every N hours from midnight
    with `hourValues: [N]`; type 2 (day-based) every day at `hourValues` x `minuteValues`; type 3
    (week-based) on `weekValues` (Quartz's 1=Sunday..7=Saturday) at those times; type 4
    (month-based) on `dayValues` of `monthValues` (every month when left out)."""
    if not isinstance(value, dict):
        raise ScheduleError(where, 'must be an object such as {"frequencyType": 1, ...}')
    kind = value.get("frequencyType")
    if isinstance(kind, bool) or not isinstance(kind, int) or kind not in FREQUENCY_TYPES:
        raise ScheduleError(
            f"{where}.frequencyType",
            "must be 1 (hour-based), 2 (day-based), 3 (week-based) or 4 (month-based)",
        )
    lists, required = _FREQUENCY_LISTS[kind]
    known = {f.key for f in lists}
    for key in value:
        if key != "frequencyType" and key not in known:
            raise ScheduleError(
                f"{where}.{key}",
                f"not used by frequencyType {kind}; it takes {', '.join(f.key for f in lists)}",
            )
    out: dict[str, Any] = {"frequencyType": kind}
    for f in lists:
        given = value.get(f.key)
        if given is None or given == []:
            if f.key not in required:
                continue
            raise ScheduleError(
                f"{where}.{f.key}",
                f"is required by frequencyType {kind}: list at least one {f.unit} ({f.lo}-{f.hi})",
            )
        got = int_list(given, f"{where}.{f.key}", f, f"leave {f.key} out", False)
        assert got is not None
        out[f.key] = got
    hours = value.get("hourValues")
    if kind == 1 and isinstance(hours, list) and len(hours) > 1:
        raise ScheduleError(f"{where}.hourValues", "give one interval: [N] for every N hours")
    return out, frequency_quartz(out)


def frequency_quartz(info: dict[str, Any]) -> str:
    """The Quartz expression of a validated `jobFrequencyInfo`."""

    def listed(key: str, default: str = "*") -> str:
        values = info.get(key)
        return ",".join(map(str, values)) if values else default

    kind = info["frequencyType"]
    minutes, hours = listed("minuteValues"), listed("hourValues")
    if kind == 1:
        step = (info.get("hourValues") or [1])[0]
        return f"0 {minutes} {'*' if step == 1 else f'0/{step}'} * * ?"
    if kind == 2:
        return f"0 {minutes} {hours} * * ?"
    if kind == 3:
        return f"0 {minutes} {hours} ? * {listed('weekValues')}"
    return f"0 {minutes} {hours} {listed('dayValues')} {listed('monthValues')} ?"
