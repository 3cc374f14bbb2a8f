"""Due times in calendar and in working time, across evenings, weekends, holidays and zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bihuan.core.config import BusinessHours
from bihuan.core.sla.policy import add_hours

SH = ZoneInfo("Asia/Shanghai")
OFFICE = BusinessHours(start=time(9), end=time(18), days=[1, 2, 3, 4, 5])


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def test_calendar_hours_run_through_the_night() -> None:
    assert add_hours(sh(2026, 11, 20, 20), 24, zone=SH) == sh(2026, 11, 21, 20)


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        (sh(2026, 11, 23, 10), 4, sh(2026, 11, 23, 14)),  # Monday morning: same day
        (sh(2026, 11, 23, 16), 4, sh(2026, 11, 24, 11)),  # 2 h today, 2 h tomorrow
        (sh(2026, 11, 20, 20), 4, sh(2026, 11, 23, 13)),  # Friday evening: Monday 13:00
        (sh(2026, 11, 21, 11), 4, sh(2026, 11, 23, 13)),  # Saturday: Monday
        (sh(2026, 11, 23, 7), 9, sh(2026, 11, 23, 18)),  # before opening: a full day, due at closing
        (sh(2026, 11, 23, 10), 72, sh(2026, 12, 3, 10)),  # 72 working hours = 8 days of 9 h
    ],
)
def test_business_hours_count_only_working_time(start: datetime, hours: float, due: datetime) -> None:
    assert add_hours(start, hours, zone=SH, business=OFFICE) == due


def test_holidays_stop_the_clock() -> None:
    national_day = frozenset({date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 5)})
    due = add_hours(sh(2026, 9, 30, 17), 4, zone=SH, business=OFFICE, holidays=national_day)
    assert due == sh(2026, 10, 6, 12)  # 1 h on the 30th; the 1st, 2nd and 5th off, weekend between


def test_utc_in_utc_out_with_the_office_in_shanghai() -> None:
    start = datetime(2026, 11, 23, 1, tzinfo=UTC)  # 09:00 in Shanghai
    due = add_hours(start, 2, zone=SH, business=OFFICE)
    assert due == datetime(2026, 11, 23, 3, tzinfo=UTC) and due.tzinfo is UTC


BERLIN = ZoneInfo("Europe/Berlin")  # summer time ends at 03:00 on Sunday 2026-10-25


def test_calendar_hours_are_elapsed_hours_across_a_dst_change() -> None:
    start = datetime(2026, 10, 24, 12, tzinfo=BERLIN)  # Saturday noon, UTC+2
    due = add_hours(start, 24, zone=BERLIN)
    assert due == datetime(2026, 10, 25, 10, tzinfo=UTC)  # 11:00 local (UTC+1), not 12:00
    assert due.utcoffset() == timedelta(hours=1)


def test_business_hours_in_the_office_zone_across_a_dst_change() -> None:
    friday = datetime(2026, 10, 23, 14, tzinfo=UTC)  # 16:00 in Berlin, summer time
    due = add_hours(friday, 4, zone=BERLIN, business=OFFICE)
    assert due == datetime(2026, 10, 26, 10, tzinfo=UTC)  # 2 h Friday, 2 h Monday: 11:00 winter time


def test_a_weekend_team_and_no_working_time_at_all() -> None:
    seven_days = BusinessHours(start=time(8), end=time(20), days=[1, 2, 3, 4, 5, 6, 7])
    assert add_hours(sh(2026, 11, 21, 19), 2, zone=SH, business=seven_days) == sh(2026, 11, 22, 9)  # Sunday 09:00
    every_day_off = frozenset(date(2026, 1, 1) + timedelta(days=d) for d in range(4000))
    with pytest.raises(ValueError, match="no working time"):
        add_hours(sh(2026, 1, 1, 10), 1, zone=SH, business=OFFICE, holidays=every_day_off)
