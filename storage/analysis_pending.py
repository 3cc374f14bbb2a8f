"""An incremental run's work, found without reading every item.

An item is *pending* when it has no result for its current content: never analysed, or
changed since. Comparing every item's ``content_hash`` with its result's reads both
tables whole — on a million items ~0.4 s of CPU and as much again in system time, for
every run, however few items are new. So the engine asks in three cheap parts:

* **changed items** are listed in ``analysis_queue``: a trigger on ``feedback_item``
  (migration 0006) adds an item whenever an update changes its ``content_hash``, whoever
  makes it (an import, an edit, SQL by hand); :func:`prune_queue` removes the items whose
  result is current again;
* **new items** are above the *watermark*, the highest item id with a result (results are
  written batch by batch in id order, so an interrupted run leaves its rest above it);
* **nothing else is pending** when the items at or below the watermark are exactly as
  many as the results (every result belongs to an item at or below it). Three counts
  show it, read from indexes and the primary key. It fails when an item below the
  watermark has no result — on PostgreSQL a transaction that took lower ids may commit
  after a run analysed higher ones — and then, or when the trigger is missing, the
  whole comparison runs as before (:attr:`Pending.watermark` is ``None``).

On a million analysed items with 10,000 new ones this takes ~5 ms instead of ~0.5 s.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, exists, func, or_, select, text
from sqlmodel import Session

from bihuan.storage import analysis_queries as aq
from bihuan.storage.analysis_models import AnalysisQueue, ItemAnalysis
from bihuan.storage.models import FeedbackItem

log = logging.getLogger(__name__)

_ITEMS = FeedbackItem.__table__  # type: ignore[attr-defined]
_RESULTS = ItemAnalysis.__table__  # type: ignore[attr-defined]
_QUEUE = AnalysisQueue.__table__  # type: ignore[attr-defined]

#: the trigger of migration 0006 that fills ``analysis_queue``
QUEUE_TRIGGER = "feedback_item_analysis_queue"

# an item without a result for its current content
_PENDING = or_(_RESULTS.c.item_id.is_(None), _RESULTS.c.content_hash != _ITEMS.c.content_hash)


@dataclass(frozen=True, slots=True)
class Pending:
    """The pending work (:class:`~bihuan.storage.analysis_queries.PendingSummary`) and how
    to page through it: ``watermark`` is the highest analysed id when the pending items
    are the queued ones at or below it and every item above it; ``None`` when they had
    to be found by comparing every item. ``queued``: entries in the queue;
    ``queued_above``: those above the watermark (new items changed since they arrived)."""

    summary: aq.PendingSummary
    watermark: int | None
    queued: int
    queued_above: int = 0


def queue_trigger_installed(*, session: Session) -> bool:
    """Whether the trigger that fills the queue is on ``feedback_item`` (and enabled)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        sql = (
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass('feedback_item') "
            "AND tgname = :name AND tgenabled <> 'D'"
        )
    else:
        sql = (
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'feedback_item' AND name = :name"
        )
    return bool(conn.execute(text(sql), {"name": QUEUE_TRIGGER}).scalar())


def find_pending(*, session: Session) -> Pending:
    """Count, earliest ``created_at`` and lowest id of the pending items, and how to page
    through them (see the module doc)."""
    conn = session.connection()
    watermark = aq.max_analysed_id(session=session)
    above = select(func.count()).select_from(_ITEMS).where(_ITEMS.c.id > watermark).scalar_subquery()
    queue_above = select(func.count()).select_from(_QUEUE).where(_QUEUE.c.item_id > watermark).scalar_subquery()
    items, results, newer, queued, queued_above = conn.execute(
        select(
            select(func.count()).select_from(_ITEMS).scalar_subquery(),
            select(func.count()).select_from(_RESULTS).scalar_subquery(),
            above,
            select(func.count()).select_from(_QUEUE).scalar_subquery(),
            queue_above,
        )
    ).one()
    if items - newer != results or not queue_trigger_installed(session=session):
        log.info("pending items found by reading every item (%s items, %s results)", items, results)
        return Pending(aq.pending_summary(session=session), None, queued)
    joined = _ITEMS.outerjoin(_RESULTS, _RESULTS.c.item_id == _ITEMS.c.id)
    summary = [func.count(), func.min(_ITEMS.c.created_at), func.min(_ITEMS.c.id)]
    changed = conn.execute(
        select(*summary)
        .select_from(joined.join(_QUEUE, _QUEUE.c.item_id == _ITEMS.c.id))
        .where(_ITEMS.c.id <= watermark, _PENDING)
    ).one()
    new = conn.execute(select(*summary).select_from(joined).where(_ITEMS.c.id > watermark, _PENDING)).one()
    count = int(changed[0] or 0) + int(new[0] or 0)
    earliest = min((_aware(t) for t in (changed[1], new[1]) if t is not None), default=None)
    first_id = min((i for i in (changed[2], new[2]) if i is not None), default=None)
    return Pending(aq.PendingSummary(count, earliest, first_id), watermark, queued, queued_above)


def pending_page(*, after_id: int, limit: int, watermark: int | None, session: Session) -> list[aq.PendingItem]:
    """The next ``limit`` pending items with ``id > after_id``, in id order.

    With a ``watermark`` (from :func:`find_pending`): the queued items at or below it
    and the items above it, each read through the primary key; without one: every item
    compared with its result (:func:`~bihuan.storage.analysis_queries.pending_items`).
    """
    if watermark is None:
        return aq.pending_items(after_id=after_id, limit=limit, session=session)
    newer = aq.pending_items(after_id=max(after_id, watermark), limit=limit, session=session)
    if after_id >= watermark:
        return newer
    # driven by the queue (its primary key range), each item then read by its id
    stmt = (
        select(*aq.PENDING_COLUMNS)
        .select_from(
            _QUEUE.join(_ITEMS, _ITEMS.c.id == _QUEUE.c.item_id).outerjoin(_RESULTS, _RESULTS.c.item_id == _ITEMS.c.id)
        )
        .where(_QUEUE.c.item_id > after_id, _QUEUE.c.item_id <= watermark, _PENDING)
        .order_by(_QUEUE.c.item_id)
        .limit(limit)
    )
    changed = [aq.PendingItem(*row) for row in session.connection().execute(stmt)]
    return list(heapq.merge(changed, newer, key=lambda item: item.id))[:limit]


def prune_queue(*, session: Session) -> int:
    """Remove the queued items whose result is current (or which are gone); returns how
    many. An item changed again after its result was written stays queued."""
    current = (
        select(_ITEMS.c.id)
        .select_from(_ITEMS.join(_RESULTS, _RESULTS.c.item_id == _ITEMS.c.id))
        .where(_ITEMS.c.id == _QUEUE.c.item_id, _RESULTS.c.content_hash == _ITEMS.c.content_hash)
    )
    gone = ~exists(select(_ITEMS.c.id).where(_ITEMS.c.id == _QUEUE.c.item_id))
    result = session.connection().execute(delete(_QUEUE).where(or_(exists(current), gone)))
    return result.rowcount or 0


def _aware(moment: datetime | str) -> datetime:
    if isinstance(moment, str):  # SQLite returns min() of a text column as text
        return datetime.fromisoformat(moment).replace(tzinfo=UTC)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
