"""Next fire instant of a `Spec` in a time zone: field-walking over wall-clock days, then DST.

Days are found month by month from per-month tables of matching days; inside a day the next
matching second comes from bisecting the sorted hour, minute and second tuples. Each local day
is cut into pieces of constant UTC offset (see `_build_pieces`), which is where the DST rules of
`chalicelib.schedule` are applied. Nothing here iterates minute by minute.
"""

from __future__ import annotations

import calendar
import math
from bisect import bisect_left
from datetime import date, datetime
from zoneinfo import ZoneInfo

from chalicelib.schedule_fields import Spec

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
DAY = 86400
HORIZON_YEARS = 8  # covers 29 February across 2100, which is not a leap year
AND_HORIZON_YEARS = 40  # "29 February on a Monday" needs the 28-year weekday cycle, and 2100
# tzdata offsets run from -12:00 to +14:00; 16 h either side of a local day covers every instant
# whose wall clock falls on that day.
_MARGIN = 16 * 3600
# Epoch bounds searched (1900-01-01 .. 9000-01-01 UTC): datetime stops at year 9999.
MIN_T = -2_208_988_800
MAX_T = 221_845_392_000

# (first wall second of the day, end second, UTC offset, gap end instant or None)
Piece = tuple[int, int, int, int | None]
_PIECES: dict[tuple[str, bool], dict[int, tuple[Piece, ...]]] = {}
_PIECES_LIMIT = 20_000
_MONTHS_LIMIT = 2_000
_WHOLE_DAY: tuple[Piece, ...] = ((0, DAY, 0, None),)


def _offset(zone: ZoneInfo, instant: int) -> int:
    delta = datetime.fromtimestamp(instant, zone).utcoffset()
    return 0 if delta is None else delta.days * DAY + delta.seconds


def _build_pieces(zone: ZoneInfo, ordinal: int, interval: bool) -> tuple[Piece, ...]:
    """Cut one local day into stretches of wall time with one UTC offset each.

    Assumes at most one offset change within the day and 16 h around it: tzdata has no two
    changes less than three days apart anywhere from 1970 to 2060 (checked over all zones).
    """
    w0 = (ordinal - EPOCH_ORDINAL) * DAY
    lo, hi = w0 - _MARGIN, w0 + DAY + _MARGIN
    before, after = _offset(zone, lo), _offset(zone, hi)
    if before == after:
        return ((0, DAY, before, None),)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset(zone, mid) == before:
            lo = mid
        else:
            hi = mid
    change = hi
    old_end = min(max(change + before - w0, 0), DAY)
    new_start = min(max(change + after - w0, 0), DAY)
    if interval:
        # Real elapsed time: each instant fires if its wall clock matches, so skipped wall
        # times never fire and repeated ones fire twice, as Vixie cron does for "*" hours.
        pieces: list[Piece] = [(0, old_end, before, None), (new_start, DAY, after, None)]
    elif after > before:
        # Spring forward: every wall time in the gap fires once, when the gap ends.
        pieces = [(0, old_end, before, None), (old_end, new_start, 0, change)]
        pieces.append((new_start, DAY, after, None))
    else:
        # Fall back: a repeated wall time keeps the old offset, i.e. its first occurrence.
        pieces = [(0, old_end, before, None), (old_end, DAY, after, None)]
    return tuple(p for p in pieces if p[0] < p[1])


def day_pieces(zone: ZoneInfo, ordinal: int, interval: bool) -> tuple[Piece, ...]:
    """The cached pieces of local day `ordinal` (proleptic Gregorian) in `zone`."""
    cache = _PIECES.setdefault((zone.key, interval), {})
    found = cache.get(ordinal)
    if found is None:
        if len(cache) >= _PIECES_LIMIT:
            cache.clear()
        found = cache[ordinal] = _build_pieces(zone, ordinal, interval)
    return found


def wall_to_instant(zone: ZoneInfo, wall: datetime) -> int:
    """Epoch seconds of a naive wall-clock time under the fixed-time DST rules."""
    ordinal = wall.toordinal()
    second = wall.hour * 3600 + wall.minute * 60 + wall.second
    w0 = (ordinal - EPOCH_ORDINAL) * DAY
    for lo, hi, offset, gap in day_pieces(zone, ordinal, interval=False):
        if lo <= second < hi:
            return gap if gap is not None else w0 + second - offset
    raise AssertionError("day pieces cover the whole day")


def _near_weekday(day: int, length: int, first: int) -> int:
    """Quartz's `W`: the Monday-Friday nearest `day`, never leaving the month."""
    weekday = (first + day - 1) % 7
    if weekday == 6:
        return day - 1 if day > 1 else day + 2
    if weekday == 0:
        return day + 1 if day < length else day - 2
    return day


def month_days(spec: Spec, year: int, month: int) -> tuple[int, ...]:
    """Sorted days of one month whose day-of-month and day-of-week rules match."""
    monday_based, length = calendar.monthrange(year, month)
    first = (monday_based + 1) % 7  # weekday of the 1st, 0=Sunday
    dom: set[int] | None = None
    if not spec.dom_every:
        dom = {d for d in spec.dom if d <= length}
        dom.update(length - back for back in spec.dom_last if back < length)
        if spec.dom_last_weekday:
            dom.add(_near_weekday(length, length, first))
        dom.update(_near_weekday(d, length, first) for d in spec.dom_nearest if d <= length)
    dow: set[int] | None = None
    if not spec.dow_every:
        dow = set()
        for weekday in spec.dow:
            dow.update(range(1 + (weekday - first) % 7, length + 1, 7))
        last = (first + length - 1) % 7
        dow.update(length - (last - weekday) % 7 for weekday in spec.dow_last)
        for weekday, nth in spec.dow_nth:
            day = 1 + (weekday - first) % 7 + 7 * (nth - 1)
            if day <= length:
                dow.add(day)
    if dom is None and dow is None:
        return tuple(range(1, length + 1))
    if dom is None or dow is None:
        chosen = dom if dow is None else dow
    else:
        chosen = dom | dow if spec.day_or else dom & dow
    return tuple(sorted(chosen or ()))


class Walker:
    """Finds fire instants of one spec in one zone; keeps per-month tables between calls."""

    __slots__ = ("_horizon", "_months", "_utc", "_zone", "spec")

    def __init__(self, spec: Spec, zone: ZoneInfo) -> None:
        self.spec = spec
        self._zone = zone
        self._utc = zone.key in ("UTC", "Etc/UTC")
        both = not spec.dom_every and not spec.dow_every and not spec.day_or
        # A fifth weekday of February (`2#5` in February) comes only in a leap year whose 1 February
        # is that weekday: up to 28 years apart, like "29 February on a Monday".
        fifth = any(nth == 5 for _, nth in spec.dow_nth)
        self._horizon = AND_HORIZON_YEARS if both or fifth else HORIZON_YEARS
        self._months: dict[int, tuple[int, tuple[int, ...]]] = {}

    def next_after(self, t: float, limit: int | None) -> int | None:
        """First fire instant strictly after `t` and not after `limit`, within the horizon.

        Times past year 9000 (and NaN) have no next run; times before 1900 search from 1900.
        """
        if not t <= MAX_T:
            return None
        start = (math.floor(t) if t >= MIN_T else MIN_T) + 1
        if limit is not None and start > limit:
            return None
        offset = 0 if self._utc else _offset(self._zone, start)
        ordinal = (start + offset) // DAY + EPOCH_ORDINAL
        # A fall-back change can send the wall clock back across midnight: the day before may
        # still have runs ahead of `start`.
        if not self._utc and len(self._pieces(ordinal - 1)) > 1:
            ordinal -= 1
        first = date.fromordinal(ordinal)
        found = self._search(first.year, first.month, first.day, start, limit)
        if found is None or (limit is not None and found > limit):
            return None
        return found

    def _pieces(self, ordinal: int) -> tuple[Piece, ...]:
        if self._utc:
            return _WHOLE_DAY
        return day_pieces(self._zone, ordinal, self.spec.hour_interval)

    def _month(self, year: int, month: int) -> tuple[int, tuple[int, ...]]:
        key = year * 12 + month
        found = self._months.get(key)
        if found is None:
            if len(self._months) >= _MONTHS_LIMIT:
                self._months.clear()
            base = date(year, month, 1).toordinal() - 1
            found = self._months[key] = (base, month_days(self.spec, year, month))
        return found

    def _search(self, year: int, month: int, day: int, start: int, limit: int | None) -> int | None:
        spec = self.spec
        years, months = spec.years, spec.months
        last_year = year + self._horizon if years is None else years[-1]
        while year <= last_year:
            if years is not None:
                index = bisect_left(years, year)
                if index == len(years):
                    return None
                if years[index] != year:
                    year, month, day = years[index], 1, 1
                    continue
            for current in months[bisect_left(months, month) :]:
                if current != month:
                    day = 1
                base, days = self._month(year, current)
                if limit is not None and (base + 1 - EPOCH_ORDINAL) * DAY - _MARGIN > limit:
                    return None
                for matched in days[bisect_left(days, day) :]:
                    found = self._in_day(base + matched, start)
                    if found is not None:
                        return self._earliest(found, base + matched, start)
            year, month, day = year + 1, 1, 1
        return None

    def _earliest(self, found: int, ordinal: int, start: int) -> int:
        # Real-elapsed-time schedules only: if the next day starts with wall times repeated
        # from a fall-back across midnight, their first occurrence precedes today's late runs.
        if self._utc or not self.spec.hour_interval or len(self._pieces(ordinal + 1)) < 2:
            return found
        nxt = date.fromordinal(ordinal + 1)
        spec = self.spec
        if nxt.month not in spec.months or (spec.years is not None and nxt.year not in spec.years):
            return found
        if nxt.day not in self._month(nxt.year, nxt.month)[1]:
            return found
        other = self._in_day(ordinal + 1, start)
        return found if other is None else min(found, other)

    def _in_day(self, ordinal: int, start: int) -> int | None:
        w0 = (ordinal - EPOCH_ORDINAL) * DAY
        for lo, hi, offset, gap in self._pieces(ordinal):
            if gap is None:
                second = max(start + offset - w0, lo)
                if second < hi:
                    tod = self._next_time(second)
                    if tod is not None and tod < hi:
                        return w0 + tod - offset
            elif gap >= start:
                tod = self._next_time(lo)
                if tod is not None and tod < hi:
                    return gap
        return None

    def _next_time(self, second: int) -> int | None:
        """Smallest matching second of the day at or after `second`, or None."""
        spec = self.spec
        hours, minutes, seconds = spec.hours, spec.minutes, spec.seconds
        hour, rest = divmod(second, 3600)
        minute, sec = divmod(rest, 60)
        h = bisect_left(hours, hour)
        if h < len(hours) and hours[h] == hour:
            m = bisect_left(minutes, minute)
            if m < len(minutes) and minutes[m] == minute:
                s = bisect_left(seconds, sec)
                if s < len(seconds):
                    return hour * 3600 + minute * 60 + seconds[s]
                m += 1
            if m < len(minutes):
                return hour * 3600 + minutes[m] * 60 + seconds[0]
            h += 1
        if h < len(hours):
            return hours[h] * 3600 + minutes[0] * 60 + seconds[0]
        return None
