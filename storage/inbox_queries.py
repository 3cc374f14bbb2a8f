"""The inbox: feedback items newest first, filtered, one page at a time.

Pages are keyset-paged on ``(created_at, id)``: the next page starts after the last row
shown, so page 1,000 costs what page 1 costs and a million items are never loaded. The
``created_at`` index serves the order; filters narrow the rows read along it. A text
search is narrowed by the trigram index where it has few candidates (see
:mod:`bihuan.storage.text_search`); its results are always exactly the substring rule's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, and_, case, func, or_, tuple_
from sqlmodel import Session, col, select

from bihuan.storage import text_search
from bihuan.storage.analysis_models import IssueGroup, ItemAnalysis
from bihuan.storage.case_models import CaseStatus, ItemCase
from bihuan.storage.models import FeedbackItem
from bihuan.storage.types import utcnow


@dataclass(frozen=True)
class InboxFilter:
    """What the inbox shows; ``None`` means "any"."""

    channel: str | None = None
    source: str | None = None
    sentiment: str | None = None  # negative | neutral | positive | unanalysed
    category: str | None = None
    group_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: a substring of the (redacted) text, Chinese or not; ASCII letters in any case
    search: str | None = None
    #: SLA state: "owed" (a response or resolution is due), "breached" (past due), "resolved"
    sla: str | None = None
    #: the moment "breached" is judged at
    now: datetime | None = None


@dataclass(frozen=True)
class InboxRow:
    id: int
    created_at: datetime
    channel: str
    source: str
    text: str
    rating: float | None
    sentiment_label: str | None
    category: str | None
    group_id: int | None
    group_label: str | None


#: where a page starts: the (created_at, id) of the last row of the page before
Cursor = tuple[datetime, int]


def _conditions(f: InboxFilter, dialect: str) -> list[Any]:
    conditions: list[Any] = []
    if f.channel:
        conditions.append(FeedbackItem.channel == f.channel)
    if f.source:
        conditions.append(FeedbackItem.source == f.source)
    if f.sentiment == "unanalysed":
        conditions.append(col(ItemAnalysis.item_id).is_(None))
    elif f.sentiment:
        # through coalesce, so the planner cannot use the label's index: walking the
        # created_at index newest first and stopping after a page beats fetching every
        # positive item of a million and sorting them (568 ms → see benchmarks/RESULTS.md)
        conditions.append(func.coalesce(ItemAnalysis.sentiment_label, "") == f.sentiment)
    if f.category:
        conditions.append(func.coalesce(ItemAnalysis.category, "") == f.category)
    if f.group_id is not None:
        conditions.append(ItemAnalysis.group_id == f.group_id)
    if f.since is not None:
        conditions.append(col(FeedbackItem.created_at) >= f.since)
    if f.until is not None:
        conditions.append(col(FeedbackItem.created_at) < f.until)
    if f.sla == "resolved":
        conditions.append(ItemCase.status == CaseStatus.RESOLVED)
    elif f.sla in ("owed", "breached"):
        due = case(
            (col(ItemCase.responded_at).is_(None), col(ItemCase.response_due)), else_=col(ItemCase.resolution_due)
        )
        conditions += [ItemCase.status != CaseStatus.RESOLVED, due.is_not(None)]
        if f.sla == "breached":
            conditions.append(due < (f.now or utcnow()))
    if f.search:
        conditions.append(text_search.text_matches(f.search, dialect))
    return conditions


_ROW_COLUMNS = (
    FeedbackItem.id,
    FeedbackItem.created_at,
    FeedbackItem.channel,
    FeedbackItem.source,
    FeedbackItem.text,
    FeedbackItem.rating,
    ItemAnalysis.sentiment_label,
    ItemAnalysis.category,
    ItemAnalysis.group_id,
    IssueGroup.label,
)


def _with_joins(stmt: Any, *, analysis: bool = True, group: bool = True) -> Any:
    if analysis:
        stmt = stmt.outerjoin(ItemAnalysis, col(ItemAnalysis.item_id) == col(FeedbackItem.id))
    if group:
        stmt = stmt.outerjoin(IssueGroup, col(IssueGroup.id) == col(ItemAnalysis.group_id))
    return stmt


def inbox_page(f: InboxFilter, *, after: Cursor | None = None, limit: int = 50, session: Session) -> list[InboxRow]:
    """Up to ``limit`` items matching ``f``, newest first, after ``after``."""
    conditions = _conditions(f, session.connection().dialect.name)
    narrowed = text_search.narrowing(f.search, session=session) if f.search else None
    if narrowed is not None:
        conditions.append(narrowed)
    # Narrowed to index candidates, or to a group (read through its index), the page's ids
    # are found and sorted first and the rows fetched for those alone: sorting thousands
    # of whole rows (texts, labels) cost ~45 % more (a group of 3,400 items: 18 -> 7 ms).
    # Otherwise the created_at index gives the order and the walk stops at the page.
    ids_first = narrowed is not None or f.group_id is not None
    if not ids_first:
        stmt = _with_joins(select(*_ROW_COLUMNS).select_from(FeedbackItem))
    else:
        # only the joins the filters need (SQLite would read every candidate's analysis row)
        analysed = f.sentiment is not None or f.category is not None or f.group_id is not None
        stmt = _with_joins(
            select(FeedbackItem.id, FeedbackItem.created_at).select_from(FeedbackItem), analysis=analysed, group=False
        )
    if f.sla:
        stmt = stmt.join(ItemCase, col(ItemCase.item_id) == col(FeedbackItem.id))
    if after is not None:
        conditions.append(tuple_(col(FeedbackItem.created_at), col(FeedbackItem.id)) < tuple_(*_bind(after)))
    if conditions:
        stmt = stmt.where(and_(*conditions))
    stmt = stmt.order_by(col(FeedbackItem.created_at).desc(), col(FeedbackItem.id).desc()).limit(limit)
    if ids_first:
        page = stmt.subquery()
        stmt = (
            _with_joins(select(*_ROW_COLUMNS).select_from(page).join(FeedbackItem, col(FeedbackItem.id) == page.c.id))
            .order_by(page.c.created_at.desc(), page.c.id.desc())
        )
    return [InboxRow(*row) for row in session.exec(stmt)]  # type: ignore[call-overload]


def _bind(cursor: Cursor) -> tuple[Any, Any]:
    from sqlalchemy import literal

    from bihuan.storage.types import UTCDateTime

    return literal(cursor[0], UTCDateTime()), literal(cursor[1])


@dataclass(frozen=True)
class ItemDetail:
    item: FeedbackItem
    analysis: ItemAnalysis | None
    group: IssueGroup | None
    #: items linked as the same complaint: the one this repeats, and those repeating it
    linked: list[tuple[int, str, datetime, str]]


def item_detail(item_id: int, *, session: Session) -> ItemDetail | None:
    item = session.get(FeedbackItem, item_id)
    if item is None:
        return None
    analysis = session.get(ItemAnalysis, item_id)
    group = session.get(IssueGroup, analysis.group_id) if analysis and analysis.group_id else None
    links = [col(ItemAnalysis.duplicate_of) == item_id]
    if analysis is not None and analysis.duplicate_of is not None:
        links += [
            col(ItemAnalysis.item_id) == analysis.duplicate_of,
            col(ItemAnalysis.duplicate_of) == analysis.duplicate_of,
        ]
    stmt = (
        select(FeedbackItem.id, FeedbackItem.channel, FeedbackItem.created_at, FeedbackItem.text)
        .join(ItemAnalysis, col(ItemAnalysis.item_id) == col(FeedbackItem.id))
        .where(or_(*links), FeedbackItem.id != item_id)
        .order_by(col(FeedbackItem.created_at))
        .limit(20)
    )
    linked = [tuple(row) for row in session.exec(stmt)]  # type: ignore[call-overload]
    return ItemDetail(item=item, analysis=analysis, group=group, linked=linked)  # type: ignore[arg-type]


@dataclass(frozen=True)
class GroupProfile:
    items: int
    negatives: int
    channels: list[tuple[str, int]]  # most first


def group_profile(group_id: int, *, session: Session) -> GroupProfile:
    """A group's size, negatives and channel mix (one indexed aggregate)."""
    stmt = (
        select(
            FeedbackItem.channel, func.count(), func.sum(func.cast(ItemAnalysis.sentiment_label == "negative", Integer))
        )
        .join(ItemAnalysis, col(ItemAnalysis.item_id) == col(FeedbackItem.id))
        .where(ItemAnalysis.group_id == group_id)
        .group_by(FeedbackItem.channel)
        .order_by(func.count().desc())
    )
    rows = list(session.exec(stmt))  # type: ignore[call-overload]
    return GroupProfile(
        items=sum(r[1] for r in rows),
        negatives=sum(int(r[2] or 0) for r in rows),
        channels=[(r[0], r[1]) for r in rows],
    )
