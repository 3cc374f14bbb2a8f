"""Bulk writes of feedback items: one driver-level ``executemany`` per batch.

Imports write hundreds of thousands of rows; building one ORM object (or even one Core
parameter dict) per row costs more than the database itself. This module compiles one
``INSERT … ON CONFLICT (source, external_id) DO UPDATE`` per dialect from the table
definition and hands tuples straight to the driver, converting only the columns whose
type needs it (timestamps, JSON) with the same bind processors SQLAlchemy would use.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, bindparam, select
from sqlalchemy.engine import Dialect
from sqlmodel import Session

from bihuan.storage.models import FeedbackItem

#: order of the values in a row handed to :func:`upsert_items`
ITEM_COLUMNS: tuple[str, ...] = (
    "source",
    "external_id",
    "channel",
    "text",
    "rating",
    "nps",
    "customer_ref",
    "created_at",
    "url",
    "extra",
    "content_hash",
)
_WRITE_COLUMNS = (*ITEM_COLUMNS, "collected_at", "updated_at", "run_id")
# collected_at keeps the first time we saw the item; everything else follows the source.
_UPDATE_COLUMNS = tuple(c for c in _WRITE_COLUMNS if c not in ("source", "external_id", "collected_at"))
# SQLite's limit on bound variables is 32766 since 3.32; stay well below it.
_LOOKUP_CHUNK = 5000

_TABLE = FeedbackItem.__table__  # type: ignore[attr-defined]


class _Plan:
    """SQL text and per-column converters for one dialect, built once."""

    def __init__(self, dialect: Dialect) -> None:
        quote = dialect.identifier_preparer.quote
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        cols = ", ".join(quote(c) for c in _WRITE_COLUMNS)
        markers = []
        self.converters: list[tuple[int, Callable[[Any], Any]]] = []
        for index, name in enumerate(_WRITE_COLUMNS):
            column_type = _TABLE.c[name].type
            processor = column_type.bind_processor(dialect)
            if processor is None and isinstance(column_type, JSON):
                # psycopg adapts JSON at execution time, which a driver-level executemany
                # bypasses: send JSON text and let the server cast it.
                processor = _json_text
                markers.append(f"CAST({marker} AS JSON)")
            else:
                markers.append(marker)
            if processor is not None:
                self.converters.append((index, processor))
        values = ", ".join(markers)
        updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in _UPDATE_COLUMNS)
        self.upsert_sql = (
            f"INSERT INTO {quote(_TABLE.name)} ({cols}) VALUES ({values}) "
            f"ON CONFLICT ({quote('source')}, {quote('external_id')}) DO UPDATE SET {updates}"
        )


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


_plans: dict[str, _Plan] = {}


def _plan(conn: Connection) -> _Plan:
    key = f"{conn.dialect.name}:{conn.dialect.driver}"
    plan = _plans.get(key)
    if plan is None:
        plan = _plans[key] = _Plan(conn.dialect)
    return plan


def existing_hashes(source: str, external_ids: Iterable[str], *, session: Session) -> dict[str, str]:
    """``{external_id: content_hash}`` for the ids of ``source`` already stored."""
    ids = list(dict.fromkeys(external_ids))
    found: dict[str, str] = {}
    stmt = select(_TABLE.c.external_id, _TABLE.c.content_hash).where(
        _TABLE.c.source == source, _TABLE.c.external_id.in_(bindparam("ids", expanding=True))
    )
    conn = session.connection()
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        found.update((eid, digest) for eid, digest in conn.execute(stmt, {"ids": chunk}))
    return found


def upsert_items(
    rows: Sequence[Sequence[Any]], *, run_id: int | None, now: datetime, session: Session
) -> None:
    """Insert or update ``rows`` (values in :data:`ITEM_COLUMNS` order) in one batch.

    Rows must be redacted and validated already; ``created_at`` aware, ``extra`` a dict or
    ``None``. Within the batch a later row for the same key wins.
    """
    if not rows:
        return
    conn = session.connection()
    plan = _plan(conn)
    converters = plan.converters
    params: list[tuple[Any, ...]] = []
    for row in rows:
        values = [*row, now, now, run_id]
        for index, convert in converters:
            value = values[index]
            if value is not None:
                values[index] = convert(value)
        params.append(tuple(values))
    conn.exec_driver_sql(plan.upsert_sql, params)  # type: ignore[arg-type]
