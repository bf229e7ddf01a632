"""Business hours between two UTC instants: the Python twin of migrations/003's SQL functions.

Both count, in the team's local wall-clock time, the seconds that fall on a working weekday that is not a
holiday and inside [day_start, day_end). They use the same closed form, so they agree to the millisecond
and the SQL runs in O(1) per row inside the merge (no loop over days):

    seconds_at(t) = (working days before date(t) - holidays before date(t)) * day_length
                    + seconds of date(t) worked up to t
    between(a, b) = max(0, seconds_at(b) - seconds_at(a))

Days are numbered from 1900-01-01 (a Monday). `week_prefix[k]` is the number of working days among ISO
weekdays 1..k, and `holiday_days` the sorted day numbers of holidays that fall on working days (a holiday
on a non-working day changes nothing), with a sentinel first so SQL's width_bucket never sees an empty array.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from .config import BusinessHours

EPOCH = dt.date(1900, 1, 1)  # a Monday: day 0 has ISO weekday 1
HOLIDAY_SENTINEL = -(2**31)


@dataclass(frozen=True)
class Calendar:
    timezone: str
    day_start: int  # seconds after local midnight
    day_end: int
    working_days: tuple[int, ...]
    week_prefix: tuple[int, ...]  # 8 entries: working days among ISO weekdays 1..k, k = 0..7
    holiday_days: tuple[int, ...]  # sentinel first, then sorted day numbers

    @classmethod
    def from_config(cls, hours: BusinessHours) -> Calendar:
        working = tuple(sorted(set(hours.working_days)))
        prefix = tuple(sum(1 for day in working if day <= k) for k in range(8))
        holidays = sorted(
            {(day - EPOCH).days for day in hours.holidays if day >= EPOCH and day.isoweekday() in working}
        )
        return cls(
            timezone=hours.timezone,
            day_start=hours.start_seconds,
            day_end=hours.end_seconds,
            working_days=working,
            week_prefix=prefix,
            holiday_days=(HOLIDAY_SENTINEL, *holidays),
        )

    @property
    def day_length(self) -> int:
        return self.day_end - self.day_start

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local(self, utc: dt.datetime) -> dt.datetime:
        """Wall-clock time of a naive-UTC (or aware) instant in the team's zone, as a naive datetime."""
        aware = utc.replace(tzinfo=dt.timezone.utc) if utc.tzinfo is None else utc
        return aware.astimezone(self._zone()).replace(tzinfo=None)

    def seconds_at(self, local: dt.datetime) -> float:
        day = (local.date() - EPOCH).days
        weeks, weekday_index = divmod(day, 7)
        holidays_before = bisect_left(self.holiday_days, day) - 1
        base = weeks * len(self.working_days) + self.week_prefix[weekday_index] - holidays_before
        seconds = base * self.day_length
        is_working = self.week_prefix[weekday_index + 1] > self.week_prefix[weekday_index]
        is_holiday = bisect_left(self.holiday_days, day + 1) - 1 > holidays_before
        if is_working and not is_holiday:
            midnight = dt.datetime.combine(local.date(), dt.time())
            into_day = (local - midnight).total_seconds() - self.day_start
            seconds += min(max(into_day, 0.0), float(self.day_length))
        return float(seconds)

    def seconds_between(self, start_utc: dt.datetime, end_utc: dt.datetime) -> float:
        return max(0.0, self.seconds_at(self.local(end_utc)) - self.seconds_at(self.local(start_utc)))

    def hours_between(self, start_utc: dt.datetime | None, end_utc: dt.datetime | None) -> float | None:
        if start_utc is None or end_utc is None:
            return None
        return self.seconds_between(start_utc, end_utc) / 3600.0
