"""Which column holds which field, and how a cell becomes a value.

Exports from Chinese bank systems name their columns in many ways (``您的意见或建议``,
``通话摘要``, ``投诉内容``…); :func:`resolve_columns` recognises the common ones, Chinese
and English, and a user's ``--map field=column`` overrides. The value parsers raise
``RecordError`` naming the field, so the collector can quarantine the row with a reason
a person can act on.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from bihuan.core.errors import RecordError
from bihuan.core.types import CHANNELS

#: fields a column can be mapped to (``--map field=column``)
FIELDS = ("text", "created_at", "rating", "nps", "channel", "customer_ref", "external_id", "url")

#: header aliases per field, as people write them; compared after :func:`normalise_header`
# fmt: off
ALIASES: dict[str, tuple[str, ...]] = {
    "text": (
        "内容", "意见", "反馈", "反馈内容", "评价", "评价内容", "您的意见或建议", "意见或建议", "建议", "投诉内容",
        "通话摘要", "通话小结", "帖子内容", "正文", "留言", "留言内容", "描述", "问题描述", "诉求", "客户诉求",
        "诉求内容", "投诉诉求", "来电内容", "咨询内容", "反映内容", "反映问题", "投诉事项", "text", "comment",
        "comments", "content", "feedback", "body", "message", "consumer complaint narrative", "description",
        "review", "review text",
    ),
    "created_at": (
        "时间", "日期", "提交时间", "创建时间", "发布时间", "来电时间", "投诉时间", "反馈时间", "评价时间",
        "created_at", "created", "date", "timestamp", "time", "date received", "submitted_at", "created time",
        "datetime",
    ),
    "rating": ("评分", "满意度", "满意度评分", "星级", "打分", "rating", "score", "stars", "csat", "satisfaction"),
    "nps": ("推荐", "推荐意愿", "推荐度", "推荐指数", "nps", "nps score", "likelihood to recommend"),
    "channel": ("渠道", "来源渠道", "平台", "channel", "platform", "source channel"),
    "customer_ref": (
        "客户号", "客户编号", "客户id", "会员号", "会员编号", "customer_id", "customer", "customer ref", "user_id",
    ),
    "external_id": (
        "编号", "序号", "id", "工单号", "记录编号", "单号", "complaint id", "ticket_id", "response_id", "record_id",
    ),
    "url": ("链接", "网址", "url", "link"),
}
# fmt: on

# Ties between "contains" matches of equal length go to the earlier field here: a column
# named 留言时间 is a time, 反馈编号 an id, 满意度评价 a rating.
_PRIORITY = ("nps", "rating", "created_at", "external_id", "url", "channel", "text", "customer_ref")
_PUNCTUATION = re.compile(r"[\s\ufeff\u3000（）()【】\[\]{}<>《》：:_\-－—/\\.,，、;；?？!！'\"“”‘’·•*#]+")


def normalise_header(name: Any) -> str:
    """Lower-cased, without spaces, brackets and punctuation: ``"推荐意愿(0-10分)"`` → ``"推荐意愿010分"``."""
    return _PUNCTUATION.sub("", str(name or "")).lower()


_NORMALISED = {field: tuple(dict.fromkeys(normalise_header(a) for a in aliases)) for field, aliases in ALIASES.items()}
#: normalised alias → field, for the exact pass
EXACT_ALIASES: dict[str, str] = {alias: field for field in FIELDS for alias in _NORMALISED[field]}


_WORD = re.compile(r"[a-z0-9]+")
#: per field, the ASCII aliases as word sequences ("date received" → ("date", "received"))
_ALIAS_WORDS = {
    field: tuple(dict.fromkeys(tuple(_WORD.findall(a.lower())) for a in aliases if a.isascii()))
    for field, aliases in ALIASES.items()
}


def _has_words(words: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    n = len(wanted)
    return any(words[i : i + n] == wanted for i in range(len(words) - n + 1))


@lru_cache(maxsize=4096)
def _contained_field(header: str) -> str | None:
    """The field whose alias best matches inside ``header`` (the "contains" pass).

    English aliases match whole words only ("id" in "Order ID", not in "paid"; "time"
    not in "Timely response"), Chinese ones anywhere. Which match wins:

    * Chinese headers: the longest alias, then one that ends the name (the head noun
      comes last: 客户留言 is a message, 留言时间 a time, but 满意度评价 a rating);
    * English headers: an alias that ends the name ("Customer Comment" is a comment),
      then the longest;

    then :data:`_PRIORITY`.
    """
    name = normalise_header(header)
    words = tuple(_WORD.findall(header.lower()))
    english = name.isascii()
    best: tuple[int, int, int] | None = None
    found: str | None = None
    for rank, field in enumerate(_PRIORITY):
        candidates = [(a, a in name) for a in _NORMALISED[field] if not a.isascii()]
        candidates += [("".join(w), _has_words(words, w)) for w in _ALIAS_WORDS[field]]
        for alias, matched in candidates:
            if not matched:
                continue
            size, last = len(alias), int(name.endswith(alias))
            score = (last, size, -rank) if english else (size, last, -rank)
            if best is None or score > best:
                best, found = score, field
    return found


class MappingError(ValueError):
    """``--map`` names an unknown field or a column the file does not have."""


class AmbiguousTextError(MappingError):
    """Two columns could equally be the text; the user must choose (``--map text=…``)."""


# Columns with the bank's side of a case (处理意见, 回复内容, Company response): their
# names often contain a text alias (意见, 内容), but the customer's words are elsewhere.
# They come last when a field is looked for by a name it contains.
_REPLY_MARKERS = ("处理", "回复", "答复", "办理", "处置", "办结", "回访", "批复")
_REPLY_WORDS = ("reply", "replies", "response", "resolution", "answer")
#: how a column came to hold the text, best first (see :func:`plan_columns`)
_TEXT_TIERS = ("a known name for the text", "a name that contains one", "a name like the bank's reply")


def is_reply_column(header: str) -> bool:
    """Whether ``header`` names the bank's reply or handling of a case (处理意见, Reply)."""
    name = normalise_header(header)
    if any(marker in name for marker in _REPLY_MARKERS):
        return True
    words = _WORD.findall(str(header).lower())
    return any(word in words for word in _REPLY_WORDS)


@dataclass
class ColumnPlan:
    """Which column holds which field, and why the text column is the one it is.

    :ivar columns: field → column index.
    :ivar text_candidates: every column that could hold the text, the chosen one first.
    :ivar text_reason: why the text column was chosen, in words.
    """

    columns: dict[str, int]
    text_candidates: list[int] = dataclass_field(default_factory=list)
    text_reason: str = ""


def resolve_columns(header: Sequence[str], mapping: Mapping[str, str] | None = None) -> dict[str, int]:
    """Field → column index for ``header`` (see :func:`plan_columns`)."""
    return plan_columns(header, mapping).columns


def plan_columns(header: Sequence[str], mapping: Mapping[str, str] | None = None) -> ColumnPlan:
    """Which column holds which field.

    ``mapping`` (field → column header) wins; then exact alias matches over all fields;
    then a column whose name contains an alias (see :func:`_contained_field`), reply
    columns (:func:`is_reply_column`) last. The first matching column wins and each
    column serves one field.

    The text is never picked silently among equals: of the columns that could hold it,
    one with a known text name (意见, 投诉内容, 客户诉求…) beats one whose name contains
    one (补充内容), which beats a reply column (处理意见). Two candidates of the best
    kind are ambiguous: :class:`AmbiguousTextError` names both (``--map text=…``).

    :raises MappingError: when ``mapping`` names an unknown field or a missing column.
    """
    names = [normalise_header(h) for h in header]
    columns: dict[str, int] = {}
    used: set[int] = set()
    for wanted, column in (mapping or {}).items():
        if wanted not in FIELDS:
            raise MappingError(f"--map {wanted}={column}: unknown field {wanted!r} (fields: {', '.join(FIELDS)})")
        # the header exactly as written first, then the same name modulo case and punctuation
        candidates = [i for i, h in enumerate(header) if h == column and i not in used]
        candidates += [i for i, n in enumerate(names) if n == normalise_header(column) and i not in used]
        if not candidates:
            raise MappingError(f"--map {wanted}={column}: no column {column!r}; columns are {list(header)}")
        columns[wanted] = candidates[0]
        used.add(candidates[0])
    plan = ColumnPlan(columns)
    _plan_text(header, names, plan, used)
    for index, name in enumerate(names):
        found = EXACT_ALIASES.get(name)
        if found is not None and found not in columns and index not in used:
            columns[found] = index
            used.add(index)
    replies = [i for i in range(len(names)) if is_reply_column(str(header[i]))]
    for index in [i for i in range(len(names)) if i not in replies] + replies:
        if index in used or not names[index]:
            continue
        found = _contained_field(str(header[index]))
        if found is not None and found not in columns:
            columns[found] = index
            used.add(index)
    return plan


def _plan_text(header: Sequence[str], names: list[str], plan: ColumnPlan, used: set[int]) -> None:
    """Choose the text column of ``plan`` (unless mapped) and list the candidates."""
    tiers: dict[int, int] = {}
    for index, name in enumerate(names):
        if not name:
            continue
        exact = EXACT_ALIASES.get(name)
        if exact == "text" or (exact is None and _contained_field(str(header[index])) == "text"):
            tiers[index] = 2 if is_reply_column(str(header[index])) else 0 if exact == "text" else 1
    mapped = plan.columns.get("text")
    if mapped is not None:
        plan.text_candidates = [mapped, *(i for i in tiers if i != mapped)]
        plan.text_reason = "chosen with --map text=…"
        return
    free = {i: tier for i, tier in tiers.items() if i not in used}
    if not free:
        return
    best = min(free.values())
    # one name twice is one column exported twice, not a choice (--map could not make it)
    distinct = {names[i]: i for i in reversed([i for i, tier in free.items() if tier == best])}
    chosen = sorted(distinct.values())
    if len(chosen) > 1:
        shown = " and ".join(repr(str(header[i])) for i in chosen)
        raise AmbiguousTextError(
            f"columns {shown} could each hold the text ({_TEXT_TIERS[best]}); choose one with "
            "--map text=COLUMN (the others are kept as metadata)"
        )
    text = chosen[0]
    plan.columns["text"] = text
    used.add(text)
    others = sorted((i for i in free if i != text), key=lambda i: (free[i], i))
    plan.text_candidates = [text, *others]
    if not others:
        plan.text_reason = "the only column that looks like the text"
    else:
        shown = ", ".join(f"{str(header[i])!r} ({_TEXT_TIERS[free[i]]})" for i in others)
        plan.text_reason = f"{_TEXT_TIERS[best]}, before {shown}; --map text=COLUMN chooses another"


def cell_text(value: Any) -> str:
    """A cell as text, the same for the same value whatever the file type."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


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
    seconds or milliseconds (10 or 13 digits), Excel datetime cells and Excel serial
    numbers. Exports repeat timestamps (date-only columns, minute precision), so results
    are cached per string; the cache is bounded.
    """

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
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
        if 20_000 <= value < 100_000:  # an Excel serial day number (1954…2173)
            return self._aware(_EXCEL_EPOCH + timedelta(days=value), str(value))
        return self._parse_text(str(int(value)) if float(value).is_integer() else str(value))

    def _parse_text(self, text: str) -> datetime:
        if len(text) >= 8 and (text[4:5] == "-" or (len(text) == 8 and text.isdigit())):
            try:
                return self._aware(datetime.fromisoformat(text), text)
            except ValueError:
                pass
        quick = _quick_ymd_hm(text)
        if quick is not None:
            return self._aware(quick, text)
        if text.isdigit() and len(text) in (10, 13):  # epoch seconds or milliseconds
            seconds = int(text) / (1000 if len(text) == 13 else 1)
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


# ── ratings, NPS, channels ────────────────────────────────────────────────────────────

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


def _number(text: str) -> float:
    text = text.strip()
    for suffix in _NUMBER_SUFFIXES:
        if text.endswith(suffix):
            text = text[: -len(suffix)].strip()
            break
    return float(text)


def parse_rating(value: Any, rating_max: float) -> float | None:
    """A satisfaction rating in ``0..rating_max``, as given; words like 非常满意 are understood.

    :raises RecordError: on field ``rating`` for words, out-of-range numbers and junk.
    """
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        rating = float(value)
        shown = f"{rating:g}"
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
        shown = text[:40]
    if not 0 <= rating <= rating_max:  # NaN fails this too
        raise RecordError(f"rating {shown} outside 0..{rating_max:g}", field="rating")
    return rating


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
    if not 0 <= number <= 10:
        raise RecordError(f"NPS score {text[:40]} outside 0..10", field="nps")
    if not number.is_integer():
        raise RecordError(f"NPS score {text[:40]} is not a whole number 0..10", field="nps")
    return int(number)


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
