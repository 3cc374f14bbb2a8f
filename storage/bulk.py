"""Bulk writes of feedback items: one driver-level ``executemany`` per batch.

Imports write hundreds of thousands of rows; building one ORM object (or even one Core
parameter dict) per row costs more than the database itself. This module compiles one
``INSERT … ON CONFLICT (source, external_id) DO UPDATE`` per dialect from the table
definition and hands tuples straight to the driver, converting only the columns whose
type needs it (timestamps, JSON) with the same bind processors SQLAlchemy would use.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import orjson
from sqlalchemy import Engine, text
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
    "origin",
)
_WRITE_COLUMNS = (*ITEM_COLUMNS, "collected_at", "updated_at", "run_id")
#: where a row, and the parameters it is encoded into, hold its id and its content hash
EXTERNAL_ID_AT = ITEM_COLUMNS.index("external_id")
CONTENT_HASH_AT = ITEM_COLUMNS.index("content_hash")
ORIGIN_AT = ITEM_COLUMNS.index("origin")
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
        #: the upsert of rows without an origin (:func:`upsert_items`): it leaves a stored
        #: item's origin as it is, and works on a schema from before the column
        self.upsert_sql_without_origin = (
            f"INSERT INTO {quote(_TABLE.name)} ({', '.join(quote(c) for c in _WRITE_COLUMNS if c != 'origin')}) "
            f"VALUES ({', '.join(m for m, c in zip(markers, _WRITE_COLUMNS, strict=True) if c != 'origin')}) "
            f"ON CONFLICT ({quote('source')}, {quote('external_id')}) DO UPDATE SET "
            + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in _UPDATE_COLUMNS if c != "origin")
        )
        self.upsert_sql = (
            f"INSERT INTO {quote(_TABLE.name)} ({cols}) VALUES ({values}) "
            f"ON CONFLICT ({quote('source')}, {quote('external_id')}) DO UPDATE SET {updates}"
        )
        #: the upsert with the batch-wide values (source, times, run) written into the SQL
        #: as literals: binding them costs SQLite ~8 % of the statement per row, and
        #: the statement is compiled once per batch anyway. ``None``: bind every value.
        self.literal_sql: str | None = None
        if dialect.name == "sqlite":
            self.datetime: Callable[[datetime], Any] = _sqlite_datetime
            constants = {
                "source": "{source}",
                "collected_at": "{moment}",
                "updated_at": "{moment}",
                "run_id": "{run_id}",
            }
            literal_values = ", ".join(constants.get(name, marker) for name in _WRITE_COLUMNS)
            self.literal_sql = (
                f"INSERT INTO {quote(_TABLE.name)} ({cols}) VALUES ({literal_values}) "
                f"ON CONFLICT ({quote('source')}, {quote('external_id')}) DO UPDATE SET {updates}"
            )
        else:
            processor = _TABLE.c.created_at.type.bind_processor(dialect)
            self.datetime = processor if processor is not None else (lambda value: value)


def json_text(value: Any) -> str:
    """Compact JSON text, non-ASCII kept as is (orjson; plain json for what it refuses)."""
    try:
        return orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError):  # non-str keys, lone surrogates, odd types
        return json.dumps(value, ensure_ascii=True, default=str, separators=(",", ":"))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: "MM:SS" for every second of an hour
_MINUTES_SECONDS = tuple(f"{m:02d}:{s:02d}" for m in range(60) for s in range(60))
#: hours since the epoch → "YYYY-MM-DD HH:" (UTC); bounded, cleared when full
_HOUR_PREFIXES: dict[int, str] = {}
_HOUR_PREFIXES_MAX = 100_000


def _sqlite_datetime(value: datetime) -> str:
    """What SQLAlchemy's SQLite ``DATETIME`` stores (naive UTC, always ``.ffffff``), faster.

    The same text for the same instant as ORM writes and query parameters, so that text
    comparison in SQL stays time comparison. ``isoformat`` and ``astimezone`` cost ~2 µs
    per row (the largest single item of encoding a row); the difference to the epoch is
    exact for any aware datetime (it applies the offset), and the text is put together
    from a cached hour prefix and a table of minutes and seconds.
    """
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} refused: bihuan stores aware UTC")
    delta = value - _EPOCH
    hour, second = divmod(delta.days * 86400 + delta.seconds, 3600)
    prefix = _HOUR_PREFIXES.get(hour)
    if prefix is None:
        if len(_HOUR_PREFIXES) >= _HOUR_PREFIXES_MAX:
            _HOUR_PREFIXES.clear()
        at = _EPOCH + timedelta(hours=hour)
        prefix = _HOUR_PREFIXES[hour] = f"{at.year:04d}-{at.month:02d}-{at.day:02d} {at.hour:02d}:"
    micro = delta.microseconds
    return prefix + _MINUTES_SECONDS[second] + (f".{micro:06d}" if micro else ".000000")


_plans: dict[str, _Plan] = {}


def _plan_for(dialect: Dialect) -> _Plan:
    key = f"{dialect.name}:{dialect.driver}"
    plan = _plans.get(key)
    if plan is None:
        plan = _plans[key] = _Plan(dialect)
    return plan


class ItemEncoder:
    """Turns item rows into driver parameters for one dialect (see :func:`write_encoded`).

    In one step (:meth:`encode`), or in two: :attr:`time` converts a row's ``created_at``
    when the row is made, :meth:`encode_converted` does the rest when it is written (the
    pipeline makes rows in a helper process and writes them in another, see
    ``bihuan.core.helper``).
    """

    def __init__(self, dialect: Dialect) -> None:
        self.plan = _plan_for(dialect)
        #: ``created_at`` (an aware datetime) as the driver takes it
        self.time: Callable[[datetime], Any] = self.plan.datetime

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
            (s, e, ch, t, r, n, c, when(at), u, json_text(x) if x else None, h, o, moment, moment, run_id)
            for s, e, ch, t, r, n, c, at, u, x, h, o in rows
        ]

    def encode_converted(
        self,
        rows: Sequence[Sequence[Any]],
        *,
        source: str,
        run_id: int | None,
        now: datetime,
    ) -> tuple[str | None, list[tuple[Any, ...]]]:
        """SQL and parameters for :func:`write_encoded`, for ``rows`` of ``source`` whose
        ``created_at`` went through :attr:`time` already (redacted, like every row here).

        :returns: ``(sql, params)``; ``sql`` is ``None`` for the plan's usual upsert.
        """
        plan = self.plan
        moment = plan.datetime(now)
        literal = plan.literal_sql is not None and "\x00" not in source and (run_id is None or type(run_id) is int)
        params = []
        append = params.append
        for s, e, ch, t, r, n, c, at, u, x, h, o in rows:
            x = json_text(x) if x else None
            if literal:
                append((e, ch, t, r, n, c, at, u, x, h, o))
            else:
                append((s, e, ch, t, r, n, c, at, u, x, h, o, moment, moment, run_id))
        if not literal:
            return None, params
        sql = plan.literal_sql.format(  # type: ignore[union-attr]
            source=_sqlite_text(source), moment=_sqlite_text(moment), run_id="NULL" if run_id is None else int(run_id)
        )
        return sql, params


def _sqlite_text(value: str) -> str:
    """An SQLite string literal (quotes doubled; the caller keeps NUL characters out)."""
    return "'" + value.replace("'", "''") + "'"


def write_encoded(params: list[tuple[Any, ...]], *, session: Session, sql: str | None = None) -> None:
    """Insert or update encoded rows in one ``executemany``; a later row for a key wins.

    :param sql: the statement :meth:`ItemEncoder.encode_converted` returned with ``params``.
    """
    if params:
        conn = session.connection()
        conn.exec_driver_sql(sql or _plan_for(conn.dialect).upsert_sql, params)  # type: ignore[arg-type]


def existing_hashes(source: str, external_ids: Iterable[str], *, session: Session) -> dict[str, str]:
    """``{external_id: content_hash}`` for the ids of ``source`` already stored."""
    # the keys of a dict are unique already (the pipeline passes its batch's)
    ids = list(external_ids) if isinstance(external_ids, dict) else list(dict.fromkeys(external_ids))
    found: dict[str, str] = {}
    conn = session.connection()
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    cursor = _sqlite_json_cursor(session)
    postgresql = conn.dialect.name == "postgresql"
    # driver-level SQL: compiling an expanding IN of 5,000 parameters through
    # SQLAlchemy costs more than the query, and its result rows more than the lookup
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        if postgresql:
            found.update(conn.exec_driver_sql(PG_LOOKUP, (source, chunk)).fetchall())
            continue
        if cursor is not None:
            array = _json_param(chunk)
            if array is not None:
                # one JSON parameter instead of 5,000: SQLite binds and sorts an IN list
                # of that many values slower than it walks the index for each
                found.update(cursor.execute(_SQLITE_LOOKUP, (array, source)))
                continue
        sql = (
            f"SELECT external_id, content_hash FROM {_TABLE.name} "
            f"WHERE source = {marker} AND external_id IN ({', '.join([marker] * len(chunk))})"
        )
        for external_id, digest in conn.exec_driver_sql(sql, (source, *chunk)):
            found[external_id] = digest
    return found


def changed_hashes(source: str, hashes: Mapping[str, str], *, session: Session) -> dict[str, str | None]:
    """The ids of ``hashes`` (``{external_id: content_hash}``) of ``source`` that are not
    stored with that hash: ``{external_id: the stored hash, or None when not stored}``,
    in the order of ``hashes``. Ids stored with the same hash — duplicates — are left out.

    The comparison is made in the database: a re-import, every row a
    duplicate, gets an empty answer instead of every stored ``(id, hash)`` pair to build
    and compare here (measured 1.1 s against 1.6–1.9 s for a million ids on SQLite). On
    SQLite, a chunk whose key range holds nothing stored (new ids after the stored ones)
    is not looked up.
    """
    changed: dict[str, str | None] = {}
    conn = session.connection()
    cursor = _sqlite_json_cursor(session)
    postgresql = conn.dialect.name == "postgresql"
    items = iter(hashes.items())
    while chunk := dict(islice(items, _LOOKUP_CHUNK)):
        if postgresql:
            params = (source, list(chunk), list(chunk.values()))
            changed.update(conn.exec_driver_sql(PG_CHANGED, params).fetchall())
            continue
        if cursor is not None:
            pairs = _json_param(chunk)
            if pairs is not None:
                # SQLite compares text by its bytes, in UTF-8 the order of Python's str
                (stored,) = cursor.execute(_SQLITE_ANY_IN_RANGE, (source, min(chunk), max(chunk))).fetchone()
                if stored:
                    changed.update(cursor.execute(_SQLITE_CHANGED, (pairs, source)))
                else:
                    changed.update(dict.fromkeys(chunk))
                continue
        known = existing_hashes(source, chunk, session=session)
        get = known.get
        for external_id, digest in chunk.items():
            before = get(external_id)
            if before != digest:
                changed[external_id] = before
    return changed


def stored_versions(
    source: str, external_ids: Iterable[str], *, session: Session
) -> dict[str, tuple[str, str | None, int | None]]:
    """``{external_id: (content_hash, origin, run_id)}`` of the ids of ``source`` stored.

    For the few ids an import would change (see ``bihuan.core.batches``): where the
    stored version was read from decides whether the import may change it.
    """
    ids = list(dict.fromkeys(external_ids))
    found: dict[str, tuple[str, str | None, int | None]] = {}
    conn = session.connection()
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    postgresql = conn.dialect.name == "postgresql"
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        if postgresql:  # an index probe per id, whatever the statistics (see PG_LOOKUP)
            found.update((r[0], r[1:]) for r in conn.exec_driver_sql(PG_VERSIONS, (chunk, source)))
            continue
        sql = (
            f"SELECT external_id, content_hash, origin, run_id FROM {_TABLE.name} "
            f"WHERE source = {marker} AND external_id IN ({', '.join([marker] * len(chunk))})"
        )
        for external_id, digest, origin, run_id in conn.exec_driver_sql(sql, (source, *chunk)):
            found[external_id] = (digest, origin, run_id)
    return found


# JSON functions are built into SQLite from 3.38 (before, only when compiled in)
_SQLITE_JSON = sqlite3.sqlite_version_info >= (3, 38)
# CROSS JOIN keeps the order: each id of the array, then its row through the unique index
_SQLITE_LOOKUP = (
    f"SELECT f.external_id, f.content_hash FROM json_each(?) AS j CROSS JOIN {_TABLE.name} AS f "
    "ON f.source = ? AND f.external_id = j.value"
)

_SQLITE_ANY_IN_RANGE = f"SELECT EXISTS (SELECT 1 FROM {_TABLE.name} WHERE source = ? AND external_id BETWEEN ? AND ?)"
# the ids, in the object's order, not stored with the object's hash, and what is stored
_SQLITE_CHANGED = (
    f"SELECT j.key, f.content_hash FROM json_each(?) AS j LEFT JOIN {_TABLE.name} AS f "
    "ON f.source = ? AND f.external_id = j.key WHERE f.content_hash IS NOT j.value"
)

# PostgreSQL: the ids as one array, each looked up by a subquery of its own. Not
# ``IN (%s, … 5,000 times)``: psycopg prepares a statement from its fifth execution on,
# PostgreSQL then plans it once for any parameters, the list is no constant any more and
# every row of the source is compared with each of the 5,000 values (one lookup took
# 45–90 s at 250,000 rows). Not a join with ``unnest`` either: with statistics that say
# the table is small (fresh, or autovacuum off or behind) the planner hashes every row
# of the source for each lookup. A subquery in the select list is never flattened into
# a join, and an equality on both columns of the unique index (at most one row) is an
# index probe whatever the statistics say; ``OFFSET 0`` keeps the filter on its answer
# from running it a second time. tests/storage/test_bulk_plans.py pins the plans.
_PG_PROBE = f"(SELECT f.content_hash FROM {_TABLE.name} AS f WHERE f.source = %s AND f.external_id = k.id)"
#: parameters: source, the ids (a list)
PG_LOOKUP = (
    f"SELECT id, stored FROM (SELECT k.id, {_PG_PROBE} AS stored FROM unnest(%s::text[]) AS k(id) OFFSET 0) AS s "
    "WHERE stored IS NOT NULL"
)
#: parameters: source, the ids, their hashes (two lists of one length); the ids not
#: stored with their hash, in order, with what is stored (NULL: nothing)
PG_CHANGED = (
    f"SELECT id, stored FROM (SELECT k.id, k.hash, {_PG_PROBE} AS stored "
    "FROM unnest(%s::text[], %s::text[]) AS k(id, hash) OFFSET 0) AS s WHERE stored IS DISTINCT FROM hash"
)

#: parameters: the ids (a list), source; ``OFFSET 0`` keeps the lateral subquery from
#: being pulled up into a join the planner could hash
PG_VERSIONS = (
    "SELECT k.id, f.content_hash, f.origin, f.run_id FROM unnest(%s::text[]) AS k(id) CROSS JOIN LATERAL "
    f"(SELECT content_hash, origin, run_id FROM {_TABLE.name} WHERE source = %s AND external_id = k.id OFFSET 0) AS f"
)


def _json_param(ids: list[str] | dict[str, str]) -> str | None:
    """Ids (or ``{id: hash}``) as one JSON parameter, or ``None`` when JSON cannot carry
    them exactly (lone surrogates, NUL characters)."""
    try:
        text = orjson.dumps(ids).decode()
    except (TypeError, orjson.JSONEncodeError):
        return None
    return None if "\\u0000" in text else text


def _sqlite_json_cursor(session: Session) -> Any | None:
    """A driver cursor on the session's connection where the lookups can take their ids
    as one JSON parameter (SQLite with JSON functions), else ``None``."""
    conn = session.connection()
    if conn.dialect.name != "sqlite" or not _SQLITE_JSON:
        return None
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


#: rows an import writes between two looks at PostgreSQL's statistics of the items
STATISTICS_EVERY = 50_000


def refresh_statistics(engine: Engine) -> bool:
    """PostgreSQL: ``ANALYZE feedback_item`` when its statistics are missing or the rows
    changed since the last ``ANALYZE`` outnumber the rows it counted (so a growing table
    is analysed at about every doubling: a handful of times in a million-row load, each
    under a second or two); returns whether it ran. Autovacuum would do this, where it
    is on and keeps up; bihuan does not count on it. No-op on SQLite.
    """
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as conn:
        counted, changed = conn.execute(
            text(
                "SELECT c.reltuples, coalesce(s.n_mod_since_analyze, 0) FROM pg_class AS c "
                "LEFT JOIN pg_stat_user_tables AS s ON s.relid = c.oid WHERE c.oid = CAST(:table AS regclass)"
            ),
            {"table": _TABLE.name},
        ).one()
        if counted >= 0 and changed <= counted:
            return False
        conn.exec_driver_sql(f"ANALYZE {_TABLE.name}")
        conn.commit()
    return True


def upsert_items(rows: Sequence[Sequence[Any]], *, run_id: int | None, now: datetime, session: Session) -> None:
    """Insert or update ``rows`` (values in :data:`ITEM_COLUMNS` order) in one batch.

    Rows must be redacted and validated already; ``created_at`` aware, ``extra`` a dict or
    ``None``. Within the batch a later row for the same key wins. Rows may leave off the
    last column, ``origin``: then a stored item keeps its origin.
    """
    if not rows:
        return
    encoder = ItemEncoder(session.connection().dialect)
    if len(rows[0]) == len(ITEM_COLUMNS):
        write_encoded(encoder.encode(rows, run_id=run_id, now=now), session=session)
        return
    origin = _WRITE_COLUMNS.index("origin")
    params = [
        row[:origin] + row[origin + 1 :] for row in encoder.encode([(*r, None) for r in rows], run_id=run_id, now=now)
    ]
    write_encoded(params, session=session, sql=encoder.plan.upsert_sql_without_origin)
