"""Due times: a policy's hours after the clock starts, in calendar time or in working time.

Working time is the team's business hours on working days, in the team's zone, minus
holidays. A clock started outside working time starts at the next opening: a ticket filed
at 20:00 on Friday with four business hours is due at 13:00 on Monday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bihuan.core.config import BusinessHours

#: a guard: no policy waits longer than this many days of closed office
_MAX_DAYS = 3660


def add_hours(
    start: datetime,
    hours: float,
    *,
    zone: ZoneInfo,
    business: BusinessHours | None = None,
    holidays: frozenset[date] = frozenset(),
) -> datetime:
    """``start`` plus ``hours``: of calendar time, or of working time when ``business``.

    Elapsed time is counted in UTC (Python adds and subtracts wall-clock time between
    datetimes of the same zone, which is an hour off across a DST change); the result is
    in ``start``'s zone.
    """
    if business is None:
        return (start.astimezone(UTC) + timedelta(hours=hours)).astimezone(start.tzinfo)
    remaining = timedelta(hours=hours)
    local = start.astimezone(zone)
    day = local.date()
    for _ in range(_MAX_DAYS):
        if day.isoweekday() in business.days and day not in holidays:
            opens = datetime.combine(day, business.start, tzinfo=zone)
            closes = datetime.combine(day, business.end, tzinfo=zone)
            begin = max(local, opens).astimezone(UTC)
            end = closes.astimezone(UTC)
            if begin < end:
                available = end - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(start.tzinfo)
                remaining -= available
        day += timedelta(days=1)
        local = datetime.combine(day, business.start, tzinfo=zone)
    raise ValueError("no working time in ten years: check [sla.business_hours] and holidays")
