"""The report's one pass over a period's analysed items, lean.

:func:`bihuan.storage.analysis_queries.analysed_rows` hands out an object with an aware
``datetime`` per row; the report (and the dashboard built on it) reads ~250,000 rows for
four weeks of a million-item year and spent most of its time making those. Here the
database computes each item's time as whole seconds since the epoch (truncated, as
``int(datetime.timestamp())`` does) and the rows stay plain tuples.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, and_, cast, extract, func, select
from sqlmodel import Session

from bihuan.storage.analysis_models import ItemAnalysis
from bihuan.storage.models import FeedbackItem

_ITEMS = FeedbackItem.__table__  # type: ignore[attr-defined]
_RESULTS = ItemAnalysis.__table__  # type: ignore[attr-defined]

#: (seconds since the epoch, channel, group id, sentiment, sentiment label, rating, NPS,
#: customer reference, the item it repeats (a linked repeat) or None)
ReportRow = tuple[int, str, int | None, float, str, float | None, int | None, str | None, int | None]


def _epoch_seconds(dialect: str) -> Any:
    created = _ITEMS.c.created_at
    if dialect == "sqlite":
        # the stored text without its fraction: strftime would round .9995 s up
        return cast(func.strftime("%s", func.substr(created, 1, 19)), Integer)
    return cast(func.floor(extract("epoch", created)), BigInteger)


def report_rows(
    *, since: datetime, until: datetime, session: Session, chunk: int = 20_000
) -> Iterator[Sequence[ReportRow]]:
    """Every analysed item created in ``[since, until)`` as :data:`ReportRow`, streamed in
    lists of up to ``chunk`` (a generator step per row cost more than the row's work)."""
    conn = session.connection()
    stmt = (
        select(
            _epoch_seconds(conn.dialect.name),
            _ITEMS.c.channel,
            _RESULTS.c.group_id,
            _RESULTS.c.sentiment,
            _RESULTS.c.sentiment_label,
            _ITEMS.c.rating,
            _ITEMS.c.nps,
            _ITEMS.c.customer_ref,
            _RESULTS.c.duplicate_of,
        )
        .select_from(_ITEMS.join(_RESULTS, _RESULTS.c.item_id == _ITEMS.c.id))
        .where(and_(_ITEMS.c.created_at >= since, _ITEMS.c.created_at < until))
    )
    yield from conn.execute(stmt.execution_options(yield_per=chunk)).partitions()  # type: ignore[misc]
