"""Which column holds which field, and how a cell becomes a value.

Exports from Chinese bank systems name their columns in many ways (``您的意见或建议``,
``通话摘要``, ``投诉内容``…); :func:`resolve_columns` recognises the common ones, Chinese
and English, and a user's ``--map field=column`` overrides. The value parsers (from
:mod:`bihuan.core.values`, shared with every other collector) raise ``RecordError``
naming the field, so the collector can quarantine the row with a reason a person can
act on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
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
        "通话摘要", "通话小结", "帖子内容", "正文", "留言", "留言内容", "描述", "问题描述", "text", "comment",
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


def resolve_columns(header: Sequence[str], mapping: Mapping[str, str] | None = None) -> dict[str, int]:
    """Field → column index for ``header``.

    ``mapping`` (field → column header) wins; then exact alias matches over all fields;
    then a column whose name contains an alias (see :func:`_contained_field`). The
    first matching column wins and each column serves one field.

    :raises MappingError: when ``mapping`` names an unknown field or a missing column.
    """
    names = [normalise_header(h) for h in header]
    columns: dict[str, int] = {}
    used: set[int] = set()
    for field, column in (mapping or {}).items():
        if field not in FIELDS:
            raise MappingError(f"--map {field}={column}: unknown field {field!r} (fields: {', '.join(FIELDS)})")
        # the header exactly as written first, then the same name modulo case and punctuation
        candidates = [i for i, h in enumerate(header) if h == column and i not in used]
        candidates += [i for i, n in enumerate(names) if n == normalise_header(column) and i not in used]
        if not candidates:
            raise MappingError(f"--map {field}={column}: no column {column!r}; columns are {list(header)}")
        columns[field] = candidates[0]
        used.add(candidates[0])
    for index, name in enumerate(names):
        field = EXACT_ALIASES.get(name)
        if field is not None and field not in columns and index not in used:
            columns[field] = index
            used.add(index)
    for index, name in enumerate(names):
        if index in used or not name:
            continue
        field = _contained_field(str(header[index]))
        if field is not None and field not in columns:
            columns[field] = index
            used.add(index)
    return columns


# ── values ────────────────────────────────────────────────────────────────────────────
# The value parsers serve every collector (files, HTTP, plugins) and the pipeline: they
# live in core (bihuan.core.values); imported here, where the file importer finds them.
