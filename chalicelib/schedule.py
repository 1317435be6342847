"""Every schedule syntax cronhook accepts as one `Schedule`: next runs, description, storage form.

Forms of the job's `schedule` field, told apart by their keys (each may add `timezone`, an
IANA name defaulting to "UTC"; the first three may add `expiresAt`):

- cron-job.org `{hours, mdays, minutes, months, wdays}`: `[-1]` means every; `expiresAt` is
  `YYYYMMDDhhmmss` in the schedule's zone (0 = never, runs exactly at it still fire). A day must
  match both `mdays` and `wdays`, as cron-job.org's executor selects jobs (`mday` AND `wday`),
  unlike Vixie cron's OR.
  `None`, `{}`, only `timezone`/`expiresAt`, or all five lists empty mean kind "none".
- `{"cron": ...}`: 5 fields are Unix cron (Vixie rules, names, `@daily`-style macros, and the
  common `L`, `W`, `#` extensions); 6-7 fields are Quartz (seconds first, optional year, `?`,
  `L`, `L-n`, `W`, `LW`, `#`, `nL`, weekdays 1=Sunday..7=Saturday); EventBridge's
  `cron(min hour dom month dow year)` is read as Quartz with second 0.
- `{"timing": {years, months, days, weekdays, hours, minutes}}` (Cronicle): a missing or empty
  list means every; all given lists must match (no Vixie OR).
- `{"at": "2026-12-01T09:30:00+01:00"}`: fires once; the offset (or Z) is required.
- `{"frequencyInfo": {"frequencyType": 1-4, "minuteValues": [...], ...}}` (Volt MX Foundry's
  `jobFrequencyInfo`): hour-, day-, week- or month-based, read as the Quartz expression it
  stands for (`schedule_fields.frequency_info`).

DST rules, applied in the schedule's zone:

1. A wall-clock time that does not exist (spring forward) fires once, at the first instant
   after the gap (02:30 in Berlin on 2026-03-29 fires at 03:00 CEST).
2. A wall-clock time that happens twice (fall back) fires once, at its first occurrence.
3. Schedules whose hour field is every hour or a step (`*`, `*/2`, `3/4`, `[-1]`, no `hours`)
   follow real elapsed time: each instant fires when its wall clock matches, so `*/15` keeps
   its 15-minute beat through both changes, as Vixie cron does for wildcard-hour jobs. A wall
   time the clock skips then does not fire and one it repeats fires twice; with Lord Howe's
   30-minute shift an hourly `0 * * * *` therefore runs 90 minutes apart across each change.
   `expiresAt` is resolved with rules 1 and 2.

Why our own matcher: croniter 7 fires a daily 02:30 Berlin job twice on 2026-10-25, reads
Quartz weekday 6 as Saturday and rejects `6L` and `LW`; cronsim 2.8 applies rules 1-2
correctly but only to 5-field expressions (a seconds field double-fires too), has no year
field, `?` or Quartz numbering, and skips `*/15 2 * * *` on the spring day because its minute
starts with "*". Neither could be wrapped without re-implementing most of the matching, so
`schedule_walk` walks the fields itself, and the tests hold it to cronsim and croniter
wherever those are right. Times are whole seconds; `at` drops fractions of a second.

Searches look 8 years ahead (40 when a day-of-month and a day-of-week must both match, and up
to the last listed year when a year field is given); a schedule that never fires within that,
such as `0 0 30 2 *`, has no next run, and `never_fires(now)` says why, naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.schedule_describe import describe_spec
from chalicelib.schedule_fields import (
    ListField,
    ScheduleError,
    Spec,
    frequency_info,
    frequency_quartz,
    int_list,
    parse_cron,
    show,
    spec_from_lists,
)
from chalicelib.schedule_walk import Walker, wall_to_instant

__all__ = ["KEYS", "Schedule", "ScheduleError"]

_CRONJOB = (
    ListField("hours", "hour", 0, 23),
    ListField("mdays", "day of month", 1, 31),
    ListField("minutes", "minute", 0, 59),
    ListField("months", "month", 1, 12),
    ListField("wdays", "weekday", 0, 6),
)
_CRONJOB_EVERY = {
    "hours": "[-1] for every hour",
    "mdays": "[-1] for every day of the month",
    "minutes": "[-1] for every minute",
    "months": "[-1] for every month",
    "wdays": "[-1] for every day of the week",
}
_TIMING = (
    ListField("years", "year", 1970, 2199),
    ListField("months", "month", 1, 12),
    ListField("days", "day", 1, 31),
    ListField("weekdays", "weekday", 0, 6),
    ListField("hours", "hour", 0, 23),
    ListField("minutes", "minute", 0, 59),
)
_COMMON = {"timezone", "expiresAt"}
_FORMS = {
    "cron-job.org": {f.key for f in _CRONJOB},
    "cron": {"cron"},
    "timing": {"timing"},
    "at": {"at"},
    "frequencyInfo": {"frequencyInfo"},
}
_ALL_KEYS = _COMMON.union(*_FORMS.values())
KEYS = frozenset(_ALL_KEYS)  # the keys a `schedule` object may have, in every form
# The field a schedule that matches no date names: where its days are.
_DAY_FIELD = {
    "cronjob": "schedule.mdays",
    "cron": "schedule.cron",
    "quartz": "schedule.cron",
    "timing": "schedule.timing.days",
    "frequency": "schedule.frequencyInfo.dayValues",
}


class Schedule:
    """When a job runs: parsed from any accepted form, answering next runs in UTC epoch seconds."""

    __slots__ = ("_at", "_expires", "_expires_at", "_source", "_walker", "kind", "timezone")

    kind: str
    timezone: str

    def __init__(
        self,
        kind: str,
        timezone: str,
        expires_at: int = 0,
        spec: Spec | None = None,
        source: Any = None,
        at: int | None = None,
    ) -> None:
        """Use `Schedule.parse`; this stores already-validated parts."""
        zone = ZoneInfo(timezone)
        self.kind = kind
        self.timezone = timezone
        self._expires_at = expires_at
        self._expires = None if not expires_at else wall_to_instant(zone, _expiry_wall(expires_at))
        self._walker = None if spec is None else _walker(spec, timezone)
        self._source = source
        self._at = at

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None) -> Schedule:
        """Validate a job's `schedule` field as the client sent it; raises ScheduleError only."""
        if data is None:
            return cls("none", "UTC")
        if not isinstance(data, Mapping):
            raise ScheduleError("schedule", 'must be an object such as {"cron": "*/5 * * * *"}')
        if not data.keys() <= _ALL_KEYS:
            unknown = sorted(str(k) for k in data if k not in _ALL_KEYS)
            raise ScheduleError(
                "schedule",
                f"unknown key '{unknown[0]}'; use cron, timing, at, or hours, mdays, minutes, "
                "months and wdays, each with optional timezone and expiresAt",
            )
        forms = [name for name, keys in _FORMS.items() if keys & data.keys()]
        if len(forms) > 1:
            raise ScheduleError(
                "schedule", f"mixes the {forms[0]} and {forms[1]} forms; send exactly one"
            )
        timezone = _timezone(data.get("timezone"))
        expires_at = _expires_at(data.get("expiresAt"))
        form = forms[0] if forms else None
        if form == "at":
            if expires_at:
                raise ScheduleError("schedule.expiresAt", "does not apply to a one-shot 'at'")
            return cls("at", timezone, at=_at(data["at"]), source=data["at"])
        if form == "cron":
            text = data["cron"]
            if not isinstance(text, str) or not text.strip():
                raise ScheduleError("schedule.cron", "must be a cron expression string")
            canonical = " ".join(text.split())
            spec, quartz = parse_cron(canonical)
            kind = "quartz" if quartz else "cron"
            return cls(kind, timezone, expires_at, spec, canonical)
        if form == "timing":
            return cls._parse_timing(data["timing"], timezone, expires_at)
        if form == "frequencyInfo":
            info, text = frequency_info(data["frequencyInfo"], "schedule.frequencyInfo")
            return cls("frequency", timezone, expires_at, parse_cron(text)[0], info)
        if form == "cron-job.org":
            return cls._parse_cronjob(data, timezone, expires_at)
        return cls("none", timezone, expires_at)

    @classmethod
    def _parse_cronjob(cls, data: Mapping[str, Any], timezone: str, expires_at: int) -> Schedule:
        # cron-job.org shows an unscheduled job as five empty lists.
        if all(data.get(f.key) == [] for f in _CRONJOB):
            return cls("none", timezone, expires_at)
        lists: dict[str, list[int] | None] = {}
        for f in _CRONJOB:
            lists[f.key] = int_list(
                data.get(f.key), f"schedule.{f.key}", f, _CRONJOB_EVERY[f.key], True
            )
        spec = spec_from_lists(
            lists["minutes"],
            lists["hours"],
            lists["mdays"],
            lists["months"],
            lists["wdays"],
            None,
            day_or=False,
        )
        return cls("cronjob", timezone, expires_at, spec, lists)

    @classmethod
    def _parse_timing(cls, timing: Any, timezone: str, expires_at: int) -> Schedule:
        if not isinstance(timing, Mapping):
            raise ScheduleError("schedule.timing", 'must be an object such as {"minutes": [0]}')
        known = {f.key for f in _TIMING}
        unknown = sorted(str(k) for k in timing if k not in known)
        if unknown:
            raise ScheduleError(
                "schedule.timing",
                f"unknown key '{unknown[0]}'; use years, months, days, weekdays, hours, minutes",
            )
        lists: dict[str, list[int] | None] = {}
        for f in _TIMING:
            value = timing.get(f.key)
            # In Cronicle a missing or empty list is skipped: `timing.minutes.length` is falsy.
            if value is None or value == []:
                lists[f.key] = None
                continue
            every = f"leave '{f.key}' out for every {f.unit}"
            lists[f.key] = int_list(value, f"schedule.timing.{f.key}", f, every, False)
        spec = spec_from_lists(
            lists["minutes"],
            lists["hours"],
            lists["days"],
            lists["months"],
            lists["weekdays"],
            lists["years"],
            day_or=False,
        )
        return cls("timing", timezone, expires_at, spec, lists)

    @property
    def is_scheduled(self) -> bool:
        """False for "none": the job runs on demand only."""
        return self.kind != "none"

    def next_after(self, t: float) -> int | None:
        """The first run strictly after epoch `t` (UTC seconds), or None when there is none."""
        if self._at is not None:
            return self._at if self._at > t else None
        if self._walker is None:
            return None
        return self._walker.next_after(t, self._expires)

    def never_fires(self, now: float) -> ScheduleError | None:
        """Why the schedule has no run after `now`, naming the field to change; None when it
        has one, or when it is "none" (a job run on demand only is not scheduled at all)."""
        if self.kind == "none" or self.next_after(now) is not None:
            return None
        if self._at is not None:
            return ScheduleError(
                "schedule.at", f"{self._source_at()} has passed; give a time ahead"
            )
        assert self._walker is not None
        if self._expires is not None:
            wall = _wall_text(_expiry_wall(self._expires_at))
            if self._expires <= now:
                return ScheduleError("schedule.expiresAt", f"{wall} has passed, so it never fires")
            if self._walker.next_after(now, None) is not None:
                return ScheduleError(
                    "schedule.expiresAt", f"{wall} comes before its first run, so it never fires"
                )
        years = self._walker.spec.years
        where = _DAY_FIELD[self.kind]
        if years is not None and years[-1] < datetime.fromtimestamp(now, UTC).year:
            where = "schedule.timing.years" if self.kind == "timing" else where
            return ScheduleError(where, f"its last year, {years[-1]}, has passed: it never fires")
        return ScheduleError(
            where, "never fires: no real date has its days and months (as 30 February)"
        )

    def upcoming(self, n: int, after: float) -> list[int]:
        """The next `n` runs strictly after `after`, fewer if the schedule ends."""
        runs: list[int] = []
        t = after
        while len(runs) < n:
            found = self.next_after(t)
            if found is None:
                break
            runs.append(found)
            t = found
        return runs

    def describe(self) -> str:
        """Plain English, e.g. "At 04:30, Monday through Friday (Europe/Berlin)"."""
        if self.kind == "none":
            return "On demand only (no schedule)"
        if self._at is not None:
            moment = datetime.fromisoformat(self._source)
            offset = moment.utcoffset() or timedelta(0)
            sign = "-" if offset < timedelta(0) else "+"
            minutes = abs(int(offset.total_seconds())) // 60
            return f"Once at {_wall_text(moment)} ({sign}{minutes // 60:02d}:{minutes % 60:02d})"
        assert self._walker is not None
        if self.kind == "frequency":
            text = describe_spec("quartz", self._walker.spec, frequency_quartz(self._source))
        else:
            text = describe_spec(self.kind, self._walker.spec, self._source)
        if self._expires_at:
            text += f", until {_wall_text(_expiry_wall(self._expires_at))}"
        return f"{text} ({self.timezone})"

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON-able form; `Schedule.parse(s.to_dict())` behaves identically."""
        out: dict[str, Any] = {"timezone": self.timezone}
        if self.kind == "at":
            out["at"] = self._source_at()
            return out
        out["expiresAt"] = self._expires_at
        if self.kind in ("cron", "quartz"):
            out["cron"] = self._source
        elif self.kind == "timing":
            out["timing"] = {k: v for k, v in self._source.items() if v is not None}
        elif self.kind == "frequency":
            out["frequencyInfo"] = dict(self._source)
        else:
            lists = self._source or {}
            for f in _CRONJOB:
                if self.kind == "none":
                    out[f.key] = []
                else:
                    value = lists[f.key]
                    out[f.key] = [-1] if value is None else list(value)
        return out

    def _source_at(self) -> str:
        return datetime.fromisoformat(self._source).replace(microsecond=0).isoformat()

    def __repr__(self) -> str:
        return f"Schedule({self.to_dict()!r})"


@lru_cache(maxsize=1024)
def _walker(spec: Spec, timezone: str) -> Walker:
    # Shared between schedules: its month tables stay warm across the jobs of one tick.
    return Walker(spec, ZoneInfo(timezone))


def _timezone(value: Any) -> str:
    if value is None:
        return "UTC"
    if not isinstance(value, str) or not value:
        raise ScheduleError(
            "schedule.timezone", "must be an IANA time zone name such as 'Europe/Berlin'"
        )
    # Not whatever ZoneInfo loads: the host's own files (`localtime`, `posixrules`, `posix/...`,
    # `right/...`) mean another thing, or nothing, on another machine.
    if value not in _iana_names():
        raise ScheduleError("schedule.timezone", f"unknown time zone {value!r}")
    return value


@lru_cache(maxsize=1)
def _iana_names() -> frozenset[str]:
    """The IANA zone names (links such as US/Eastern included) of the pinned tzdata package."""
    from importlib import resources

    names = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return frozenset(names) - {"Factory"}


def _expiry_wall(value: int) -> datetime:
    digits = f"{value:014d}"
    return datetime(
        int(digits[:4]),
        int(digits[4:6]),
        int(digits[6:8]),
        int(digits[8:10]),
        int(digits[10:12]),
        int(digits[12:14]),
    )


def _expires_at(value: Any) -> int:
    hint = "must be a date-time YYYYMMDDhhmmss in the schedule's time zone, or 0 for never"
    if value is None or (value == 0 and not isinstance(value, (bool, float))):
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScheduleError("schedule.expiresAt", f"{show(value)} {hint}")
    if not 19000101000000 <= value <= 89991231235959:
        raise ScheduleError("schedule.expiresAt", f"{value} {hint}")
    try:
        _expiry_wall(value)
    except ValueError:
        raise ScheduleError("schedule.expiresAt", f"{value} is not a real date-time") from None
    return value


def _at(value: Any) -> int:
    hint = "give an ISO 8601 time with an offset, such as 2026-12-01T09:30:00+01:00"
    if not isinstance(value, str):
        raise ScheduleError("schedule.at", hint)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ScheduleError("schedule.at", f"{show(value)} is not a valid time; {hint}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ScheduleError("schedule.at", f"{show(value)} has no offset; {hint}")
    if not 1900 <= moment.year <= 8999:
        raise ScheduleError("schedule.at", f"year {moment.year} is out of range 1900-8999")
    return math.floor(moment.timestamp())


def _wall_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S" if moment.second else "%Y-%m-%d %H:%M")
