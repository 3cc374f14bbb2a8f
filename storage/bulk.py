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
from datetime import UTC, datetime
from typing import Any

import orjson
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
    """SQL text and the two per-row conversions for one dialect, built once.

    Only ``created_at`` (a datetime) and ``extra`` (JSON) need converting per row; the
    batch-wide ``collected_at``/``updated_at``/``run_id`` are converted once per batch.
    """

    def __init__(self, dialect: Dialect) -> None:
        quote = dialect.identifier_preparer.quote
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        cols = ", ".join(quote(c) for c in _WRITE_COLUMNS)
        # psycopg adapts JSON at execution time, which a driver-level executemany
        # bypasses: send JSON text and let the server cast it.
        markers = [
            f"CAST({marker} AS JSON)" if name == "extra" and dialect.name == "postgresql" else marker
            for name in _WRITE_COLUMNS
        ]
        values = ", ".join(markers)
        updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in _UPDATE_COLUMNS)
        self.upsert_sql = (
            f"INSERT INTO {quote(_TABLE.name)} ({cols}) VALUES ({values}) "
            f"ON CONFLICT ({quote('source')}, {quote('external_id')}) DO UPDATE SET {updates}"
        )
        if dialect.name == "sqlite":
            self.datetime: Callable[[datetime], Any] = _sqlite_datetime
        else:
            processor = _TABLE.c.created_at.type.bind_processor(dialect)
            self.datetime = processor if processor is not None else (lambda value: value)


def json_text(value: Any) -> str:
    """Compact JSON text, non-ASCII kept as is (orjson; plain json for what it refuses)."""
    try:
        return orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError):  # non-str keys, lone surrogates, odd types
        return json.dumps(value, ensure_ascii=True, default=str, separators=(",", ":"))


def _sqlite_datetime(value: datetime) -> str:
    """What SQLAlchemy's SQLite ``DATETIME`` stores (naive UTC, always ``.ffffff``), faster.

    The same text for the same instant as ORM writes and query parameters, so that text
    comparison in SQL stays time comparison.
    """
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} refused: bihuan stores aware UTC")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # "2026-01-05 01:05:33.000000+00:00" without its offset: cheaper than replace()
    return value.isoformat(" ", "microseconds")[:-6]


_plans: dict[str, _Plan] = {}


def _plan_for(dialect: Dialect) -> _Plan:
    key = f"{dialect.name}:{dialect.driver}"
    plan = _plans.get(key)
    if plan is None:
        plan = _plans[key] = _Plan(dialect)
    return plan


class ItemEncoder:
    """Turns item rows into driver parameters for one dialect (see :func:`write_encoded`).

    Encoding is Python work and writing is the database's: the pipeline encodes a batch
    on one thread while another writes the previous one.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.plan = _plan_for(dialect)

    def encode(self, rows: Sequence[Sequence[Any]], *, run_id: int | None, now: datetime) -> list[tuple[Any, ...]]:
        """Parameters for ``rows`` (values in :data:`ITEM_COLUMNS` order, redacted and valid)."""
        convert = self.plan.datetime
        moment = convert(now)
        converted: dict[datetime, Any] = {}  # exports repeat timestamps; convert each once

        def when(value: datetime) -> Any:
            text = converted.get(value)
            if text is None:
                text = converted[value] = convert(value)
            return text

        # one comprehension with unpacking: this is most of the write side's Python work
        return [
            (s, e, ch, t, r, n, c, when(at), u, json_text(x) if x else None, h, moment, moment, run_id)
            for s, e, ch, t, r, n, c, at, u, x, h in rows
        ]


def write_encoded(params: list[tuple[Any, ...]], *, session: Session) -> None:
    """Insert or update encoded rows in one ``executemany``; a later row for a key wins."""
    if params:
        conn = session.connection()
        conn.exec_driver_sql(_plan_for(conn.dialect).upsert_sql, params)  # type: ignore[arg-type]


def existing_hashes(source: str, external_ids: Iterable[str], *, session: Session) -> dict[str, str]:
    """``{external_id: content_hash}`` for the ids of ``source`` already stored."""
    ids = list(dict.fromkeys(external_ids))
    found: dict[str, str] = {}
    conn = session.connection()
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    # driver-level SQL: compiling an expanding IN of 5,000 parameters through
    # SQLAlchemy costs more than the query
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        sql = (
            f"SELECT external_id, content_hash FROM {_TABLE.name} "
            f"WHERE source = {marker} AND external_id IN ({', '.join([marker] * len(chunk))})"
        )
        for external_id, digest in conn.exec_driver_sql(sql, (source, *chunk)):
            found[external_id] = digest
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
    write_encoded(ItemEncoder(session.connection().dialect).encode(rows, run_id=run_id, now=now), session=session)
