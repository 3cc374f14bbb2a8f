"""Which column holds which field, and how a cell becomes a value.

Exports from Chinese bank systems name their columns in many ways (``您的意见或建议``,
``通话摘要``, ``投诉内容``…); :func:`resolve_columns` recognises the common ones, Chinese
and English, and a user's ``--map field=column`` overrides. The value parsers raise
``RecordError`` naming the field, so the collector can quarantine the row with a reason
a person can act on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bihuan.core.errors import RecordError
from bihuan.core.types import CHANNELS

#: fields a column can be mapped to (``--map field=column``)
FIELDS = ("text", "created_at", "rating", "nps", "channel", "customer_ref", "external_id", "url")

# Header aliases, compared after normalise_header. Order inside a tuple does not matter;
# exact matches over all fields win over "contains" matches, and earlier fields in
# _CONTAINS_ORDER win a column both could claim by containment.
ALIASES: dict[str, tuple[str, ...]] = {
    "text": (
        "内容", "意见", "反馈内容", "反馈", "评价", "评价内容", "您的意见或建议", "意见或建议", "建议", "投诉内容",
        "通话摘要", "通话小结", "帖子内容", "正文", "留言", "描述", "问题描述", "text", "comment", "comments",
        "content", "feedback", "body", "message", "consumercomplaintnarrative", "description", "review",
    ),
    "created_at": (
        "时间", "日期", "提交时间", "创建时间", "发布时间", "来电时间", "投诉时间", "反馈时间", "createdat", "created",
        "date", "timestamp", "time", "datereceived", "submittedat", "createdtime",
    ),
    "rating": ("评分", "满意度", "满意度评分", "星级", "打分", "rating", "score", "stars", "csat", "satisfaction"),
    "nps": ("推荐", "推荐意愿", "推荐度", "推荐意愿010分", "nps", "likelihoodtorecommend", "npsscore"),
    "channel": ("渠道", "来源渠道", "来源", "平台", "channel", "platform", "sourcechannel"),
    "customer_ref": (
        "客户号", "客户编号", "客户id", "会员号", "customerid", "customer", "customerref", "userid", "客户",
    ),
    "external_id": (
        "编号", "序号", "id", "工单号", "记录编号", "单号", "complaintid", "ticketid", "responseid", "recordid",
    ),
    "url": ("链接", "网址", "url", "link"),
}
# A "contains" match needs a more specific alias; short ones like "id" or "时间" would
# claim unrelated columns ("客户id", "处理时间").
_CONTAINS_ORDER = ("nps", "rating", "created_at", "customer_ref", "external_id", "url", "channel", "text")
_CONTAINS_MIN = 2

_PUNCTUATION = re.compile(r"[\s\ufeff（）()【】\[\]：:_\-－/\\.,，、?？!！'\"“”]+")


def normalise_header(name: Any) -> str:
    """Lower-cased, without spaces, brackets and punctuation: ``"推荐意愿(0-10分)"`` → ``"推荐意愿010分"``."""
    return _PUNCTUATION.sub("", str(name or "")).lower()


def resolve_columns(header: Sequence[Any], mapping: Mapping[str, str] | None = None) -> dict[str, int]:
    """Field → column index for ``header``.

    ``mapping`` (field → column header) wins; then exact alias matches; then a column
    whose name contains an alias. Each column serves one field.

    :raises KeyError: with a message, when a mapped column is not in the header.
    """
    normalised = [normalise_header(h) for h in header]
    columns: dict[str, int] = {}
    used: set[int] = set()
    for field, column in (mapping or {}).items():
        wanted = normalise_header(column)
        for index, name in enumerate(normalised):
            if name == wanted and index not in used:
                columns[field] = index
                used.add(index)
                break
        else:
            raise KeyError(f"--map {field}={column}: no column {column!r}; columns are {list(map(str, header))}")
    for field in FIELDS:
        if field in columns:
            continue
        aliases = set(ALIASES[field])
        for index, name in enumerate(normalised):
            if index not in used and name in aliases:
                columns[field] = index
                used.add(index)
                break
    for field in _CONTAINS_ORDER:
        if field in columns:
            continue
        aliases = [a for a in ALIASES[field] if len(a) >= _CONTAINS_MIN]
        for index, name in enumerate(normalised):
            if index not in used and any(a in name for a in aliases):
                columns[field] = index
                used.add(index)
                break
    return columns


# ── values ────────────────────────────────────────────────────────────────────────────

_DATE_PATTERNS = (
    # 2026/10/1 9:05[:33], 2026.10.1, 2026年10月1日 09:05
    re.compile(
        r"(?P<y>\d{4})\s*[/.年-]\s*(?P<m>\d{1,2})\s*[/.月-]\s*(?P<d>\d{1,2})\s*日?"
        r"(?:[ T]+(?P<H>\d{1,2})[:：时](?P<M>\d{1,2})(?:[:：分](?P<S>\d{1,2})(?:\.(?P<f>\d{1,6}))?)?秒?)?$"
    ),
    # 10/01/2026 [9:05] as US exports (CFPB "Date received") write it
    re.compile(
        r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})(?:\s+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?$"
    ),
)
_DATE_CACHE_MAX = 50_000


class DateParser:
    """Parses the timestamps of one run; naive values are in ``zone``.

    Exports repeat timestamps (date-only columns, minute precision), so results are
    cached per string; the cache is bounded.
    """

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._cache: dict[str, datetime] = {}

    def parse(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return self._aware(value)
        text = str(value).strip()
        if not text:
            return None
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        parsed = self._parse_text(text)
        if len(self._cache) >= _DATE_CACHE_MAX:
            self._cache.clear()
        self._cache[text] = parsed
        return parsed

    def _aware(self, value: datetime) -> datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.zone)
        return value.astimezone(UTC)

    def _parse_text(self, text: str) -> datetime:
        try:
            return self._aware(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            pass
        if text.isdigit() and len(text) in (10, 13):  # epoch seconds or milliseconds
            seconds = int(text) / (1000 if len(text) == 13 else 1)
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
        for pattern in _DATE_PATTERNS:
            match = pattern.match(text)
            if match is None:
                continue
            parts = match.groupdict()
            try:
                value = datetime(
                    int(parts["y"]),
                    int(parts["m"]),
                    int(parts["d"]),
                    int(parts.get("H") or 0),
                    int(parts.get("M") or 0),
                    int(parts.get("S") or 0),
                    int((parts.get("f") or "0").ljust(6, "0")),
                )
            except ValueError:
                break
            return self._aware(value)
        raise RecordError(f"invalid date {text[:60]!r}", field="created_at")


_RATING_WORDS = {
    "非常满意": 5.0, "很满意": 5.0, "满意": 4.0, "比较满意": 4.0, "基本满意": 3.0, "一般": 3.0,
    "不满意": 2.0, "不太满意": 2.0, "非常不满意": 1.0, "很不满意": 1.0,
    "very satisfied": 5.0, "satisfied": 4.0, "neutral": 3.0, "dissatisfied": 2.0, "very dissatisfied": 1.0,
}
_NUMBER_SUFFIXES = ("分", "星", "stars", "star", "points")


def _number(text: str) -> float:
    for suffix in _NUMBER_SUFFIXES:
        if text.endswith(suffix):
            text = text[: -len(suffix)].strip()
            break
    return float(text)


def parse_rating(value: Any, rating_max: float) -> float | None:
    """A satisfaction rating in ``0..rating_max``; words like 非常满意 are understood."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        rating = float(value)
    else:
        text = str(value).strip()
        if not text:
            return None
        word = _RATING_WORDS.get(text.lower())
        if word is not None:
            return word
        try:
            rating = _number(text)
        except ValueError:
            raise RecordError(f"rating {text[:40]!r} is not a number", field="rating") from None
    if not 0 <= rating <= rating_max or rating != rating:
        raise RecordError(f"rating {rating:g} outside 0..{rating_max:g}", field="rating")
    return rating


def parse_nps(value: Any) -> int | None:
    """A likelihood-to-recommend score, an integer 0..10."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        number = _number(text)
    except ValueError:
        raise RecordError(f"NPS score {text[:40]!r} is not a number", field="nps") from None
    if not number.is_integer() or not 0 <= number <= 10:
        raise RecordError(f"NPS score {text[:40]!r} outside 0..10", field="nps")
    return int(number)


_CHANNEL_WORDS = {
    "问卷": "survey", "调查": "survey", "满意度调查": "survey", "调研": "survey",
    "微博": "social", "抖音": "social", "小红书": "social", "黑猫投诉": "social", "社交媒体": "social",
    "微信": "social", "知乎": "social", "weibo": "social", "douyin": "social", "twitter": "social",
    "工单": "ticket", "投诉": "ticket", "投诉工单": "ticket", "邮件": "ticket",
    "热线": "hotline", "电话": "hotline", "客服电话": "hotline", "客服热线": "hotline", "phone": "hotline",
    "应用商店": "app_review", "app store": "app_review", "appstore": "app_review", "应用市场": "app_review",
    "google play": "app_review",
}


def parse_channel(value: Any) -> str | None:
    """A channel name, or ``None`` when the value is not one (the caller keeps the raw value)."""
    text = str(value or "").strip().lower()
    if not text:
        return None
    if text in CHANNELS:
        return text
    return _CHANNEL_WORDS.get(text)
