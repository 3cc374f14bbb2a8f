"""What the values sources send mean: one parser per kind of value, for every collector.

Dates, ratings, NPS scores and channels arrive in many shapes (``2026/12/1 9:05``,
``2026年12月1日``, epoch milliseconds, ``非常满意``, ``4分``, ``新浪微博``…). The file
importer, the HTTP collectors and third-party collectors all read them with the functions
here, so that a value means the same whichever collector read it, and the pipeline checks
every item against the same rules:

* :class:`DateParser` / :func:`parse_datetime` — a timestamp as an aware UTC datetime;
  naive times are wall time in the configured zone (``[bihuan] timezone``);
* :func:`parse_rating`, :func:`parse_nps` and the one range check they and the pipeline
  share, :func:`scale_problem`; ratings are stored on bihuan's 0..5 scale
  (:data:`RATING_SCALE`);
* :func:`parse_channel` — ``微博``, ``95588热线``, ``App Store`` → bihuan's channels;
* :class:`DateWindow` — which timestamps are plausible at all (not beyond a horizon ahead
  of the run, not before a floor); the pipeline quarantines the others.

Parsers raise :class:`~bihuan.core.errors.RecordError` naming the field, so a collector
can quarantine the record with a reason a person can act on. Plugin authors may import
this module: it is part of the collector contract, like :mod:`bihuan.core.types`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from bihuan.core.errors import RecordError
from bihuan.core.types import CHANNELS

__all__ = [
    "RATING_SCALE",
    "DateBounds",
    "DateParser",
    "DateWindow",
    "parse_channel",
    "parse_datetime",
    "parse_nps",
    "parse_rating",
    "scale_problem",
]

# ── dates ─────────────────────────────────────────────────────────────────────────────

# 2026/10/1 9:05[:33], 2026.10.1, 2026-10-1, 2026年10月1日 09时05分, with optional AM/PM
_YMD = re.compile(
    r"(?P<y>\d{4})\s*[/.年-]\s*(?P<m>\d{1,2})\s*[/.月-]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:(?:(?<=日)\s*|[\sT]+)(?P<H>\d{1,2})\s*[:：时]\s*(?P<M>\d{1,2})(?:\s*[:：分]\s*(?P<S>\d{1,2})(?:\.(?P<f>\d{1,9}))?)?\s*[秒分]?"
    r"\s*(?P<ampm>[ap]\.?m\.?)?)?$",
    re.IGNORECASE,
)
# 10/01/2026 [9:05 PM] as US exports (CFPB "Date received") write it: month first
_MDY = re.compile(
    r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})"
    r"(?:\s+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,9}))?)?\s*(?P<ampm>[ap]\.?m\.?)?)?$",
    re.IGNORECASE,
)
# epoch seconds (10 digits: 2001-09-09 … 2286) or milliseconds (13), maybe with a fraction
_EPOCH_TEXT = re.compile(r"(?:\d{10}|\d{13})(?:\.\d+)?$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MISSING = object()
_EXCEL_EPOCH = datetime(1899, 12, 30)
_DATE_CACHE_MAX = 100_000
_MIN_YEAR, _MAX_YEAR = 1900, 2200


def _quick_ymd_hm(text: str) -> datetime | None:
    """``2026/10/1 9:05[:33]`` (Excel's CSV format on Chinese Windows) without a regex.

    ``None`` for anything else, and for impossible dates: the full parser decides those.
    """
    day, _, clock = text.partition(" ")
    ymd = day.split("/")
    if len(ymd) != 3 or len(ymd[0]) != 4:
        return None
    hms = clock.split(":") if clock else ("0", "0")
    try:
        if len(hms) == 2:
            return datetime(int(ymd[0]), int(ymd[1]), int(ymd[2]), int(hms[0]), int(hms[1]))
        if len(hms) == 3:
            return datetime(int(ymd[0]), int(ymd[1]), int(ymd[2]), int(hms[0]), int(hms[1]), int(hms[2]))
    except ValueError:
        pass
    return None


class DateParser:
    """Parses the timestamps of one run into UTC; naive values are in ``zone``.

    Accepts ISO 8601 (``T`` or space, fractional seconds, ``Z`` or an offset), Chinese
    and slash-separated dates with or without a time, US ``m/d/Y``, RFC 2822, epoch
    seconds or milliseconds (10 or 13 digits, as text or as a number), and date and
    datetime objects (workbook cells). Exports repeat timestamps (date-only columns,
    minute precision), so results are cached per string; the cache is bounded.

    :param excel_serials: read numbers from 20,000 to 100,000 as Excel serial day numbers
        (1954…2173). Only a spreadsheet's number cell in a date column is one; anywhere
        else such a number is not a date.
    """

    def __init__(self, zone: ZoneInfo, *, excel_serials: bool = False) -> None:
        self.zone = zone
        self.excel_serials = excel_serials
        self.cache: dict[str, datetime | None] = {}

    def parse(self, value: Any) -> datetime | None:
        """``value`` as an aware UTC datetime; ``None`` for an empty cell.

        :raises RecordError: ``invalid date '…'`` on field ``created_at``.
        """
        if value.__class__ is str:
            parsed = self.cache.get(value, _MISSING)
            if parsed is not _MISSING:
                return parsed  # type: ignore[return-value]
            return self.parse_new(value)
        if value is None:
            return None
        if isinstance(value, datetime):
            return self._aware(value, str(value))
        if isinstance(value, date):
            return self._aware(datetime.combine(value, time()), str(value))
        if isinstance(value, int | float) and not isinstance(value, bool):
            return self._number(value)
        return self.parse(str(value))

    def parse_new(self, value: str) -> datetime | None:
        """:meth:`parse` of a string not in :attr:`cache` (callers that looked it up)."""
        parsed = None
        # fast path: "2026-10-01 09:05:33" and other ISO 8601 without an offset
        if len(value) >= 10 and value[4] == "-" and value[7] == "-":
            try:
                naive = datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                if naive.tzinfo is None and _MIN_YEAR <= naive.year <= _MAX_YEAR:
                    parsed = _EPOCH + (naive - self.zone.utcoffset(naive) - _NAIVE_EPOCH)
        if parsed is None and value and not value.isspace():
            parsed = self._parse_text(value.strip())
        cache = self.cache
        if len(cache) >= _DATE_CACHE_MAX:
            cache.clear()
        cache[value] = parsed
        return parsed

    def _aware(self, value: datetime, shown: str) -> datetime:
        """``value`` as UTC; a naive one is wall time in the run's zone.

        Same result as ``value.replace(tzinfo=zone).astimezone(UTC)`` (``fold=0`` for
        ambiguous wall times), but with timedelta arithmetic: ``datetime.replace`` costs
        about 0.7 µs on CPython 3.11, a third of the budget of a whole row.
        """
        if not _MIN_YEAR <= value.year <= _MAX_YEAR:
            raise RecordError(f"invalid date {shown[:60]!r} (year {value.year})", field="created_at")
        if value.tzinfo is None:
            return _EPOCH + (value - self.zone.utcoffset(value) - _NAIVE_EPOCH)
        return _EPOCH + (value - _EPOCH)

    def _number(self, value: float) -> datetime:
        if not math.isfinite(value):
            raise RecordError(f"invalid date {value!r}", field="created_at")
        if self.excel_serials and 20_000 <= value < 100_000:  # an Excel serial day number (1954…2173)
            return self._aware(_EXCEL_EPOCH + timedelta(days=value), str(value))
        return self._parse_text(str(int(value)) if float(value).is_integer() else repr(float(value)))

    def _parse_text(self, text: str) -> datetime:
        if len(text) >= 8 and (text[4:5] == "-" or (len(text) == 8 and text.isdigit())):
            try:
                return self._aware(datetime.fromisoformat(text), text)
            except ValueError:
                pass
        quick = _quick_ymd_hm(text)
        if quick is not None:
            return self._aware(quick, text)
        if _EPOCH_TEXT.match(text):  # epoch seconds or milliseconds
            whole = text.partition(".")[0]
            seconds = float(text) / (1000 if len(whole) == 13 else 1)
            return self._aware(_EPOCH + timedelta(seconds=seconds), text)
        match = _YMD.match(text) or _MDY.match(text)
        if match is not None:
            parts = match.groupdict()
            hour = int(parts["H"] or 0)
            ampm = (parts["ampm"] or "").lower()[:1]
            if ampm and 1 <= hour <= 12:
                hour = hour % 12 + (12 if ampm == "p" else 0)
            try:
                value = datetime(
                    int(parts["y"]),
                    int(parts["m"]),
                    int(parts["d"]),
                    hour,
                    int(parts["M"] or 0),
                    int(parts["S"] or 0),
                    int((parts["f"] or "0")[:6].ljust(6, "0")),
                )
            except ValueError:
                pass
            else:
                return self._aware(value, text)
        elif "," in text or " " in text:
            try:
                return self._aware(parsedate_to_datetime(text), text)  # RFC 2822, as feeds write it
            except (TypeError, ValueError, IndexError):
                pass
        raise RecordError(f"invalid date {text[:60]!r}", field="created_at")


@lru_cache(maxsize=16)
def _parser(zone: ZoneInfo) -> DateParser:
    return DateParser(zone)


def parse_datetime(value: Any, zone: ZoneInfo, *, field: str = "created_at") -> datetime | None:
    """One timestamp as an aware UTC datetime, read like :class:`DateParser` reads a file's
    (naive times are wall time in ``zone``; no Excel serial numbers); ``None`` for an
    empty value. For collectors that read one record at a time (APIs, feeds): the parser
    of each zone, and its cache, are shared.

    :param field: the field named by the error (an API collector's JSON path).
    :raises RecordError: ``invalid date '…'`` on ``field``.
    """
    try:
        return _parser(zone).parse(value)
    except RecordError as exc:
        if field == exc.field:
            raise
        raise RecordError(f"{field}: {exc.reason}", field=field) from None
    except (OverflowError, ValueError):  # e.g. an epoch number far beyond datetime's range
        raise RecordError(f"{field}: invalid date {str(value)[:60]!r}", field=field) from None


@dataclass(frozen=True, slots=True)
class DateBounds:
    """The timestamps one run accepts: ``low <= created_at <= high`` (aware, UTC).

    Built once per run by :meth:`DateWindow.bounds`, so the check per item is two
    comparisons; :meth:`problem` words the reason for those outside.
    """

    low: datetime
    high: datetime
    window: DateWindow
    zone: ZoneInfo

    def problem(self, created_at: datetime) -> str | None:
        """Why ``created_at`` is not plausible, or ``None`` when it is."""
        if self.low <= created_at <= self.high:
            return None
        shown = f"{created_at.astimezone(self.zone):%Y-%m-%d %H:%M} ({self.zone})"
        if created_at > self.high:
            limit = f"{self.high.astimezone(self.zone):%Y-%m-%d %H:%M}"
            return (
                f"created_at {shown} is in the future: later than {limit}, {_days(self.window.future)} after the run "
                "started ([bihuan] future_horizon_days)"
            )
        return (
            f"created_at {shown} is before {self.window.earliest.isoformat()} ([bihuan] earliest_date): "
            "a placeholder date such as Excel's 1900-01-01 or the epoch's 1970-01-01?"
        )


def _days(span: timedelta) -> str:
    days = span / timedelta(days=1)
    return f"{days:g} day" + ("" if days == 1 else "s")


@dataclass(frozen=True, slots=True)
class DateWindow:
    """Which timestamps the pipeline stores (``[bihuan] future_horizon_days`` and
    ``earliest_date``); items outside go to quarantine with the reason.

    :ivar future: how far after the start of a run a timestamp may be (clocks differ, and
        a source a few hours ahead of ours is no error; a row dated 2099 is).
    :ivar earliest: the first local day accepted: dates before it are placeholders for
        "no date" (Excel's day 0 and 1, the epoch's 1970-01-01), not feedback.
    """

    future: timedelta = timedelta(days=1)
    earliest: date = date(2000, 1, 1)

    def bounds(self, now: datetime, zone: ZoneInfo) -> DateBounds:
        """The bounds for a run starting at ``now``; ``earliest`` is a day in ``zone``."""
        low = datetime(self.earliest.year, self.earliest.month, self.earliest.day, tzinfo=zone).astimezone(UTC)
        return DateBounds(low=low, high=(now + self.future).astimezone(UTC), window=self, zone=zone)


# ── ratings, NPS ──────────────────────────────────────────────────────────────────────

#: bihuan's rating scale: every stored rating lies in it (CSAT counts 4 and 5 as satisfied)
RATING_SCALE = (0.0, 5.0)
#: the NPS question's scale: a whole number of it
NPS_SCALE = (0, 10)

# fmt: off
RATING_WORDS: dict[str, float] = {
    "非常满意": 5.0, "很满意": 5.0, "十分满意": 5.0, "满意": 4.0, "比较满意": 4.0, "较满意": 4.0,
    "基本满意": 3.0, "一般": 3.0, "还行": 3.0, "不太满意": 2.0, "不满意": 2.0, "较不满意": 2.0,
    "非常不满意": 1.0, "很不满意": 1.0, "极不满意": 1.0,
    "very satisfied": 5.0, "satisfied": 4.0, "neutral": 3.0, "dissatisfied": 2.0, "unsatisfied": 2.0,
    "very dissatisfied": 1.0, "very unsatisfied": 1.0,
}
# fmt: on
_NUMBER_SUFFIXES = ("分", "星", "颗星", "stars", "star", "points", "pts")


def scale_problem(name: str, value: Any, low: float, high: float, *, whole: bool = False) -> str | None:
    """Why ``value`` is not a number on the ``low..high`` scale, or ``None`` when it is.

    The one range check of ratings and NPS scores: the file importer, the HTTP collectors
    and the pipeline (for every collector's items) all word it so.

    :param name: how the reason names the value, e.g. ``"rating"``, ``"NPS score"``.
    :param whole: only whole numbers are on the scale.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{name} {value!r} is not a number"
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    if not low <= value <= high:  # NaN fails this too
        return f"{name} {shown} outside {low:g}..{high:g}"
    if whole and not float(value).is_integer():
        return f"{name} {shown} is not a whole number {low:g}..{high:g}"
    return None


def _number(text: str) -> float:
    text = text.strip()
    for suffix in _NUMBER_SUFFIXES:
        if text.endswith(suffix):
            text = text[: -len(suffix)].strip()
            break
    return float(text)


def parse_rating(value: Any, rating_max: float = RATING_SCALE[1]) -> float | None:
    """A satisfaction rating on bihuan's 0..5 scale; ``None`` for an empty value.

    ``value`` is on the source's ``0..rating_max`` scale and is rescaled (a 10-point
    source's 9 is 4.5); words like 非常满意 are understood (on the 5-point scale).

    :raises RecordError: on field ``rating`` for words, out-of-range numbers and junk.
    """
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        rating = float(value)
        shown: Any = rating
    else:
        text = str(value).strip()
        if not text:
            return None
        word = RATING_WORDS.get(" ".join(text.lower().split()))
        if word is not None:
            return word
        try:
            rating = _number(text)
        except ValueError:
            raise RecordError(f"rating {text[:40]!r} is not a number or a satisfaction word", field="rating") from None
        shown = rating
    problem = scale_problem("rating", shown, 0, rating_max)
    if problem is not None:
        raise RecordError(problem, field="rating")
    if rating_max == RATING_SCALE[1]:
        return rating
    return round(rating * RATING_SCALE[1] / rating_max, 2)


def parse_nps(value: Any) -> int | None:
    """A likelihood-to-recommend score, an integer 0..10 (``"8"``, ``"8分"``, ``8.0``).

    :raises RecordError: on field ``nps``.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise RecordError(f"NPS score {value!r} is not a number", field="nps")
    text = str(value).strip()
    if not text:
        return None
    try:
        number = float(value) if isinstance(value, int | float) else _number(text)
    except ValueError:
        raise RecordError(f"NPS score {text[:40]!r} is not a number", field="nps") from None
    problem = scale_problem("NPS score", number, *NPS_SCALE, whole=True)
    if problem is not None:
        raise RecordError(problem, field="nps")
    return int(number)


# ── channels ──────────────────────────────────────────────────────────────────────────

# fmt: off
CHANNEL_WORDS: dict[str, str] = {
    "问卷": "survey", "调查": "survey", "满意度调查": "survey", "调研": "survey", "问卷调查": "survey",
    "微博": "social", "抖音": "social", "小红书": "social", "黑猫投诉": "social", "社交媒体": "social",
    "微信": "social", "知乎": "social", "快手": "social", "贴吧": "social", "论坛": "social",
    "weibo": "social", "douyin": "social", "twitter": "social", "facebook": "social",
    "工单": "ticket", "投诉": "ticket", "投诉工单": "ticket", "邮件": "ticket", "email": "ticket",
    "热线": "hotline", "电话": "hotline", "客服电话": "hotline", "客服热线": "hotline", "来电": "hotline",
    "phone": "hotline", "call center": "hotline", "call centre": "hotline",
    "应用商店": "app_review", "应用市场": "app_review", "app store": "app_review", "appstore": "app_review",
    "google play": "app_review", "华为应用市场": "app_review",
}
# Words found inside longer values (新浪微博, 抖音私信, 95588热线); checked in this order.
_CHANNEL_PARTS = (
    ("应用商店", "app_review"), ("应用市场", "app_review"), ("app store", "app_review"),
    ("黑猫", "social"), ("微博", "social"), ("论坛", "social"), ("抖音", "social"), ("小红书", "social"), ("微信", "social"),
    ("热线", "hotline"), ("电话", "hotline"), ("工单", "ticket"), ("投诉", "ticket"),
    ("问卷", "survey"), ("调查", "survey"),
)
# fmt: on
_HOTLINE_NUMBER = re.compile(r"95\d{3}(?!\d)")  # 95588, 95533…: the banks' service numbers


@lru_cache(maxsize=1024)
def parse_channel(value: str) -> str | None:
    """A channel name, or ``None`` when the value is not one (the caller keeps the raw value)."""
    text = " ".join(value.lower().split())
    if not text:
        return None
    if text in CHANNELS:
        return text
    found = CHANNEL_WORDS.get(text)
    if found is not None:
        return found
    if _HOTLINE_NUMBER.match(text):
        return "hotline"
    for part, channel in _CHANNEL_PARTS:
        if part in text:
            return channel
    return None
