"""Which column holds which field, and how a cell becomes a value.

Exports from Chinese bank systems name their columns in many ways (``您的意见或建议``,
``通话摘要``, ``投诉内容``…); :func:`resolve_columns` recognises the common ones, Chinese
and English, and a user's ``--map field=column`` overrides. The value parsers (from
:mod:`bihuan.core.values`, shared with every other collector) raise ``RecordError``
naming the field, so the collector can quarantine the row with a reason a person can
act on.
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

from bihuan.core.values import (
    CHANNEL_WORDS,
    RATING_WORDS,
    DateParser,
    parse_channel,
    parse_nps,
    parse_rating,
)

__all__ = [
    "ALIASES",
    "CHANNEL_WORDS",
    "EXACT_ALIASES",
    "FIELDS",
    "RATING_WORDS",
    "DateParser",
    "MappingError",
    "normalise_header",
    "parse_channel",
    "parse_nps",
    "parse_rating",
    "resolve_columns",
]

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


# ── values ────────────────────────────────────────────────────────────────────────────
# The value parsers serve every collector (files, HTTP, plugins) and the pipeline: they
# live in core (bihuan.core.values); imported here, where the file importer finds them.
