"""Substring search over feedback texts, served by a trigram index (migration 0005).

**What a search finds** is fixed by one rule, the same on both databases: the items whose
text contains the query as a substring, ASCII letters matched without regard to case and
every other character exactly (SQLite's ``LIKE '%…%'``; fullwidth Ａ and ａ, or Ä and ä,
are different letters). The index never decides a result: it only narrows the rows
whose text is then checked with that rule, so an index that holds more candidates
than it should costs time, never correctness.

**SQLite** (FTS5 ``trigram``, 3.34+):

* ``feedback_item_fts`` — contentless, ``detail=none``: per item, the set of trigrams of
  its text followed by two U+0001 sentinels. A query of 3+ characters asks for items
  holding all of its trigrams. Thanks to the sentinels every position of a text starts a
  trigram, so a 1–2-character query is every trigram that *begins* with it, read from the
  term list ``feedback_item_fts_terms`` (fts5vocab) by range.
* ``feedback_item_fts_state.indexed_through`` — items with a higher id were added since
  the index last caught up. Appends (SQLite gives a new row the highest id plus one)
  write nothing more than the row: a trigger that writes a note costs an import ~4 µs a
  row, one whose condition is false next to nothing.
* ``feedback_item_fts_pending`` — items up to ``indexed_through`` whose entry is stale:
  changed, deleted, or inserted with a lower id; written by triggers on ``feedback_item``
  in the same transaction as the change, with the text the index holds for the item
  (NULL: none).
* :func:`catch_up` indexes the new and the pending items in one statement each;
  :func:`catch_up_in_steps` does it in transactions of a bounded size, in ``bihuan tick``
  and in the background when the workplace opens (the index serves the workplace's
  search). Not in imports, where it measured 17 % of a 1M-row import's wall time, nor in
  ``bihuan analyze``, where indexing a million new items added ~20 s to the 180 s the
  analysis may take: the index is derived data, kept up by those who read it. FTS5 writes from row triggers would cost ~80 µs a row (FTS5 flushes its buffer at
  every statement savepoint, i.e. for every row of an ``executemany``); in batches they
  cost ~4 µs for the survey texts of the import benchmark.
* A search takes its candidates from the index, the pending list *and* the new items, so
  results are right whether or not the index caught up: it cannot drift from the texts.

Candidates are used only when there are few (:data:`MAX_CANDIDATES`): a word in many
items is found fastest by walking the newest items and checking each, as before.

**PostgreSQL**: ``pg_trgm``'s GIN index on ``text`` serves ``LIKE`` (queries without ASCII
letters) and ``ILIKE`` (with them; the exact rule is checked beside it — ILIKE's wider
folding finds a superset wherever the database's lower-casing keeps A–Z ASCII, i.e. in
every locale but Turkish ones); the planner chooses between it and the ``created_at``
order from its statistics. Without the extension the same conditions scan.

Still scanned: 1–2-character queries on PostgreSQL (no trigram serves them), 1–2-character
queries with a non-ASCII letter that has case on SQLite (how FTS5 folds it is not known
here), and everything on a SQLite without FTS5 trigram.
"""

from __future__ import annotations

import sqlite3
import string
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, column, func, select, table, union_all
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col

from bihuan.storage.engine import session_scope
from bihuan.storage.models import FeedbackItem

#: a search with more index candidates than this scans in the inbox's order instead
MAX_CANDIDATES = 10_000

FTS_TABLE = "feedback_item_fts"
TERMS_TABLE = "feedback_item_fts_terms"
PENDING_TABLE = "feedback_item_fts_pending"
STATE_TABLE = "feedback_item_fts_state"
TRIGGERS = ("feedback_item_fts_insert", "feedback_item_fts_update", "feedback_item_fts_delete")
#: every SQLite object of the index: the search uses it only when all exist
SQLITE_OBJECTS = (FTS_TABLE, TERMS_TABLE, PENDING_TABLE, STATE_TABLE, *TRIGGERS)
PG_INDEX = "ix_feedback_item_text_trgm"

_fts = table(FTS_TABLE, column("rowid"), column(FTS_TABLE))
_terms = table(TERMS_TABLE, column("term"), column("doc"))
_pending = table(PENDING_TABLE, column("item_id"), column("indexed_text"))
_state = table(STATE_TABLE, column("indexed_through"))

_FTS5_PROBED = "bihuan_fts5"
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
#: the highest code point: "q" + this sorts after every trigram starting with "q"
_TOP = "\U0010ffff"


def is_index_object(name: str | None) -> bool:
    """Whether a table or index name belongs to the text index (not to the models)."""
    return bool(name) and (name.startswith(FTS_TABLE) or name == PG_INDEX)  # type: ignore[union-attr]


def include_name(name: str | None, type_: str, _parents: Any) -> bool:
    """Alembic's ``include_name``: the text index lives in migrations only, not in the
    models, so comparing models with the database leaves it out."""
    return not (type_ in ("table", "index") and is_index_object(name))


def like_pattern(query: str) -> str:
    """``%query%`` with LIKE's wildcards and the escape character escaped (escape ``\\``)."""
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def text_matches(query: str, dialect: str) -> ColumnElement[bool]:
    """The search rule (module doc) as a condition on ``feedback_item.text``."""
    text = col(FeedbackItem.text)
    if dialect != "postgresql":
        return text.like(like_pattern(query), escape="\\")
    letters = sorted({c for c in query.translate(_ASCII_LOWER) if c in string.ascii_lowercase})
    if not letters:
        return text.like(like_pattern(query), escape="\\")
    lowered = like_pattern(query.translate(_ASCII_LOWER))
    # ILIKE is what the trigram index serves; it also folds non-ASCII letters, so the rule
    # itself is checked on its matches: the query's letters folded in the text, nothing else
    upper = "".join(letters).upper()
    exact = func.translate(text, upper, "".join(letters)).like(lowered, escape="\\")
    return and_(text.ilike(lowered, escape="\\"), exact)


def _runtime_has_fts5(conn: Connection) -> bool:
    """Whether this connection's SQLite has FTS5 (with the trigram tokenizer from 3.34)."""
    if sqlite3.sqlite_version_info < (3, 34, 0):
        return False
    known = conn.info.get(_FTS5_PROBED)  # per DBAPI connection: its library does not change
    if known is None:
        try:
            conn.exec_driver_sql("SELECT fts5(NULL)")  # FTS5's API function; missing without FTS5
            known = True
        except DBAPIError:
            known = False
        conn.info[_FTS5_PROBED] = known
    return bool(known)


def sqlite_index_ready(conn: Connection) -> bool:
    """Whether this SQLite database has the whole index and this SQLite can read it.

    Without FTS5 the database still works: the triggers write only to the pending list,
    which searches read unindexed and the next :func:`catch_up` on a SQLite with FTS5
    indexes.
    """
    if conn.dialect.name != "sqlite" or not _runtime_has_fts5(conn):
        return False
    names = ", ".join(f"'{name}'" for name in SQLITE_OBJECTS)
    found = conn.exec_driver_sql(f"SELECT count(*) FROM sqlite_master WHERE name IN ({names})").scalar()
    return found == len(SQLITE_OBJECTS)


def _fts_query(query: str) -> str:
    """An FTS5 query for items holding every trigram of ``query`` (3+ characters).

    ``detail=none`` keeps no positions, so this is a superset of the items containing the
    query; the trigrams starting at every third character and the last one cover it.
    """
    starts = [*range(0, len(query) - 2, 3), len(query) - 3]
    trigrams = dict.fromkeys(query[i : i + 3] for i in starts)
    return " AND ".join('"' + trigram.replace('"', '""') + '"' for trigram in trigrams)


def _fold_safe(query: str) -> bool:
    """Whether FTS5's case folding of ``query`` is known: ASCII, or characters without case."""
    return all(c.isascii() or c.lower() == c == c.upper() for c in query)


def candidates(query: str) -> Any | None:
    """A select of item ids that holds every item whose text matches ``query`` (and may
    hold others): from the SQLite index, the pending list and the items added since the
    index caught up; ``None`` if the index cannot serve the query."""
    if not query or "\x00" in query:
        return None
    if len(query) >= 3:
        indexed = select(_fts.c.rowid).where(_fts.c[FTS_TABLE].match(_fts_query(query)))
    elif _fold_safe(query):
        # FTS5 folds case per character; for ASCII and caseless characters that is known
        low = query.translate(_ASCII_LOWER)
        high = low + _TOP * (3 - len(low))
        indexed = select(_terms.c.doc.label("rowid")).where(_terms.c.term >= low, _terms.c.term <= high)
    else:
        return None
    return union_all(indexed, select(_pending.c.item_id), _new_items())


def _new_items() -> Any:
    """The ids above ``indexed_through`` (a range of the table's rowids: cheap to read)."""
    items = FeedbackItem.__table__  # type: ignore[attr-defined]
    return select(items.c.id).where(items.c.id > select(_state.c.indexed_through).scalar_subquery())


def narrowing(query: str, *, session: Session) -> ColumnElement[bool] | None:
    """A condition on ``feedback_item.id`` that narrows a search for ``query`` to the
    index's candidates, when the index serves the query and they are few (module doc)."""
    conn = session.connection()
    if not sqlite_index_ready(conn):
        return None
    found = candidates(query)
    if found is None:
        return None
    capped = select(func.count()).select_from(found.limit(MAX_CANDIDATES + 1).subquery())
    if conn.execute(capped).scalar_one() > MAX_CANDIDATES:
        return None
    return col(FeedbackItem.id).in_(found)


def pending_count(*, session: Session) -> int:
    """How many items wait for :func:`catch_up`: new and pending (0 without the SQLite index)."""
    conn = session.connection()
    if not sqlite_index_ready(conn):
        return 0
    waiting = select(func.count()).select_from(union_all(select(_pending.c.item_id), _new_items()).subquery())
    return int(conn.execute(waiting).scalar_one())


def catch_up(*, session: Session, at_least: int = 1, limit: int | None = None) -> int:
    """Index the new and pending items if there are ``at_least`` of them; returns how many.

    Runs in the caller's (write) transaction. Each pending item's old entry is removed
    with the text the index holds for it; then the current text of every pending item that
    still exists and of the new items is indexed, in ascending id order (FTS5 appends
    rather than flushing per row), and ``indexed_through`` moves to the highest id indexed.

    :param limit: index at most this many new items (the lowest ids; all pending ones
        always): the rest stay new, found by searches as before, for the next call.
    """
    waiting = pending_count(session=session)
    if waiting < max(at_least, 1):
        return 0
    conn = session.connection()
    pending = int(conn.exec_driver_sql(f"SELECT count(*) FROM {PENDING_TABLE}").scalar_one())
    batch = "" if limit is None else f" LIMIT {max(int(limit), 0)}"
    through = f"(SELECT indexed_through FROM {STATE_TABLE})"
    conn.exec_driver_sql(
        f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, text) "
        f"SELECT 'delete', item_id, indexed_text || char(1, 1) FROM {PENDING_TABLE} "
        "WHERE indexed_text IS NOT NULL ORDER BY item_id"
    )
    # CROSS JOIN: SQLite keeps the pending list as the outer loop (not a scan of every item)
    conn.exec_driver_sql(
        f"INSERT INTO {FTS_TABLE} (rowid, text) "
        f"SELECT i.id, i.text || char(1, 1) FROM {PENDING_TABLE} AS p CROSS JOIN feedback_item AS i "
        "ON i.id = p.item_id ORDER BY p.item_id"
    )
    # pending ids are all at most indexed_through: these follow them in id order
    new_items = f"SELECT id, text FROM feedback_item WHERE id > {through} ORDER BY id{batch}"
    conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE} (rowid, text) SELECT id, text || char(1, 1) FROM ({new_items})")
    # the highest id just indexed (read before the mark moves: the same rows as above,
    # nothing else writes inside this transaction)
    highest = conn.exec_driver_sql(f"SELECT max(id) FROM ({new_items})").scalar()
    if highest is not None:
        conn.exec_driver_sql(f"UPDATE {STATE_TABLE} SET indexed_through = max(indexed_through, {int(highest)})")
    conn.exec_driver_sql(f"DELETE FROM {PENDING_TABLE}")
    return waiting if limit is None else min(waiting, pending + max(int(limit), 0))


#: new items indexed per transaction by :func:`catch_up_in_steps`: ~0.3–0.5 s of SQLite's
#: write lock each, so a colleague's edit meanwhile waits at most that long
CATCH_UP_STEP = 20_000


def catch_up_in_steps(engine: Engine, *, step: int = CATCH_UP_STEP, stop: Callable[[], bool] | None = None) -> int:
    """:func:`catch_up` in write transactions of at most ``step`` new items, until nothing
    waits (or ``stop()`` says so between two); returns how many items were indexed.
    Nothing to do on PostgreSQL (its index is kept by the database)."""
    done = 0
    while stop is None or not stop():
        with session_scope(engine, write=True) as session:
            indexed = catch_up(session=session, limit=step)
        done += indexed
        if indexed == 0:
            break
    return done
