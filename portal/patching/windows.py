"""When patch windows are open: each occurrence starts at a local time in the device's company's zone, so one
MSP-wide policy opens at 02:00 in Berlin and at 02:00 in New York. Pure functions of a window and a time."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

SEARCH_DAYS = 62  # a monthly window occurs at least once in this many days


class WindowLike(Protocol):
    frequency: str
    weekdays: list[int]
    week_of_month: int | None
    weekday: int | None
    starts_at: object  # datetime.time
    duration_minutes: int


@dataclass(frozen=True)
class Occurrence:
    start: datetime
    end: datetime


def occurs_on(window: WindowLike, day: date) -> bool:
    """Whether an occurrence of ``window`` starts on the local ``day``."""
    if window.frequency == "daily":
        return True
    if window.frequency == "weekly":
        return day.weekday() in (window.weekdays or [])
    if window.frequency == "monthly":
        if window.weekday is None or day.weekday() != window.weekday:
            return False
        if window.week_of_month == 5:
            return (day + timedelta(days=7)).month != day.month
        return (day.day - 1) // 7 + 1 == window.week_of_month
    return False


def _occurrence_on(window: WindowLike, day: date, zone: zoneinfo.ZoneInfo) -> Occurrence:
    start = datetime.combine(day, window.starts_at, tzinfo=zone)  # type: ignore[arg-type]
    return Occurrence(start=start, end=start + timedelta(minutes=window.duration_minutes))


def open_occurrence(window: WindowLike, *, at: datetime, zone: zoneinfo.ZoneInfo) -> Occurrence | None:
    """The occurrence open at ``at`` (an aware time), if any; an occurrence may run past local midnight."""
    local_day = at.astimezone(zone).date()
    for day in (local_day, local_day - timedelta(days=1)):
        if occurs_on(window, day):
            occurrence = _occurrence_on(window, day, zone)
            if occurrence.start <= at < occurrence.end:
                return occurrence
    return None


def next_occurrence(window: WindowLike, *, after: datetime, zone: zoneinfo.ZoneInfo) -> Occurrence | None:
    """The first occurrence that starts after ``after``."""
    local_day = after.astimezone(zone).date()
    for offset in range(SEARCH_DAYS):
        day = local_day + timedelta(days=offset)
        if occurs_on(window, day):
            occurrence = _occurrence_on(window, day, zone)
            if occurrence.start > after:
                return occurrence
    return None


def earliest_next(windows: list[WindowLike], *, after: datetime, zone: zoneinfo.ZoneInfo) -> Occurrence | None:
    found = [occurrence for window in windows if (occurrence := next_occurrence(window, after=after, zone=zone))]
    return min(found, key=lambda occurrence: occurrence.start) if found else None
