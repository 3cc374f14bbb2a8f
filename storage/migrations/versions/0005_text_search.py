"""Text search: a trigram index over ``feedback_item.text`` for the inbox's search, which
otherwise reads every text (``LIKE '%…%'``: ~0.55 s on a million items).

SQLite (3.34 or newer, built with FTS5): a contentless FTS5 table with the ``trigram``
tokenizer, its term list, the id up to which items are indexed, and a list of indexed
items changed or deleted since, which triggers on ``feedback_item`` keep in the same
transaction as every change — see :mod:`bihuan.storage.text_search` for how they are
read and why index writes are batched rather than done by the triggers themselves.
Without FTS5 trigram support nothing is created and the search scans, as before.

PostgreSQL: ``pg_trgm`` and a GIN trigram index on ``text``. Creating the extension needs
the CREATE privilege on the database (pg_trgm is a trusted extension); when it cannot be
created the index is left out, a warning says so, and the search scans. A DBA can add it
later with the two statements of :data:`PG_STATEMENTS`.

Existing items are indexed here, in the upgrade (about 30 s for a million items on
SQLite and on PostgreSQL, measured on a busy 2-core machine).

**Later migrations:** a batch ("move and copy") migration of ``feedback_item`` on SQLite
drops the table's triggers with the old table: it must create them again *and* rebuild
the index (the items changed meanwhile were not recorded). Until it does, the search
sees the triggers missing and scans (correct, slow); ``tests/storage/test_text_search.py``
fails on a head revision without them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00.000000
"""

import logging
import sqlite3
from collections.abc import Sequence

from alembic import op
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("bihuan.storage.migrations")


_INDEXED_THROUGH = "(SELECT indexed_through FROM feedback_item_fts_state)"


def _note(item_id: str, indexed_text: str) -> str:
    """The trigger statement that notes an item of the index (an id up to the state's
    ``indexed_through``) as pending, unless it is pending already. Items above it are
    new since the last catch-up and need no note: they are found by their ids."""
    return (
        f"INSERT INTO feedback_item_fts_pending (item_id, indexed_text) SELECT {item_id}, {indexed_text} "
        f"WHERE {item_id} <= {_INDEXED_THROUGH} "
        f"AND NOT EXISTS (SELECT 1 FROM feedback_item_fts_pending WHERE item_id = {item_id})"
    )


# Each text is indexed followed by two U+0001 sentinels, so that every position of the
# text starts a trigram (1- and 2-character queries are found through the term list).
SQLITE_STATEMENTS = (
    "CREATE VIRTUAL TABLE feedback_item_fts USING fts5("
    "text, content='', tokenize='trigram', detail='none', columnsize=0)",
    "CREATE VIRTUAL TABLE feedback_item_fts_terms USING fts5vocab(feedback_item_fts, instance)",
    # indexed_text: what the index holds for the item now (NULL: nothing)
    "CREATE TABLE feedback_item_fts_pending (item_id INTEGER PRIMARY KEY, indexed_text TEXT)",
    # one row: items with a higher id were added since the last catch-up, not indexed yet
    "CREATE TABLE feedback_item_fts_state (indexed_through INTEGER NOT NULL)",
    # An insert above indexed_through (every append: SQLite gives a new row the highest
    # id) writes nothing; the WHEN keeps imports from paying for a trigger (~4 µs a row
    # when it writes). An item already pending keeps the indexed_text recorded first.
    # (Not INSERT OR IGNORE: the conflict policy of an outer statement, such as the
    # imports' upsert, overrides the one of a statement in a trigger.)
    "CREATE TRIGGER feedback_item_fts_insert AFTER INSERT ON feedback_item "
    f"WHEN new.id <= {_INDEXED_THROUGH} BEGIN {_note('new.id', 'NULL')}; END",
    "CREATE TRIGGER feedback_item_fts_update AFTER UPDATE OF id, text ON feedback_item "
    "WHEN old.text IS NOT new.text OR old.id IS NOT new.id BEGIN "
    f"{_note('old.id', 'old.text')}; {_note('new.id', 'NULL')}; END",
    "CREATE TRIGGER feedback_item_fts_delete AFTER DELETE ON feedback_item "
    f"WHEN old.id <= {_INDEXED_THROUGH} BEGIN {_note('old.id', 'old.text')}; END",
)
SQLITE_BACKFILL = (
    "INSERT INTO feedback_item_fts (rowid, text) SELECT id, text || char(1, 1) FROM feedback_item ORDER BY id",
    "INSERT INTO feedback_item_fts_state (indexed_through) SELECT coalesce(max(id), 0) FROM feedback_item",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS feedback_item_fts_insert",
    "DROP TRIGGER IF EXISTS feedback_item_fts_update",
    "DROP TRIGGER IF EXISTS feedback_item_fts_delete",
    "DROP TABLE IF EXISTS feedback_item_fts_state",
    "DROP TABLE IF EXISTS feedback_item_fts_pending",
    "DROP TABLE IF EXISTS feedback_item_fts_terms",
    "DROP TABLE IF EXISTS feedback_item_fts",
)
PG_STATEMENTS = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS ix_feedback_item_text_trgm ON feedback_item USING gin (text gin_trgm_ops)",
)


def _sqlite_has_trigram(conn: Connection) -> bool:
    if sqlite3.sqlite_version_info < (3, 34, 0):
        return False
    try:
        with conn.begin_nested():
            conn.exec_driver_sql("CREATE VIRTUAL TABLE temp.bihuan_trigram_probe USING fts5(x, tokenize='trigram')")
            conn.exec_driver_sql("DROP TABLE temp.bihuan_trigram_probe")
    except DBAPIError:
        return False
    return True


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == 'sqlite':
        if not _sqlite_has_trigram(conn):
            log.warning(
                "SQLite %s has no FTS5 trigram tokenizer (3.34+ built with FTS5 is needed): "
                "the inbox search reads every text",
                sqlite3.sqlite_version,
            )
            return
        for statement in (*SQLITE_STATEMENTS, *SQLITE_BACKFILL):
            conn.exec_driver_sql(statement)
        # one segment instead of the dozens a bulk insert leaves: every query reads fewer
        conn.exec_driver_sql("INSERT INTO feedback_item_fts (feedback_item_fts) VALUES ('optimize')")
    elif conn.dialect.name == 'postgresql':
        try:
            with conn.begin_nested():
                conn.exec_driver_sql(PG_STATEMENTS[0])
        except DBAPIError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            log.warning(
                "cannot create the pg_trgm extension (%s): the inbox search reads every text; "
                "a database owner can run: %s",
                reason,
                "; ".join(PG_STATEMENTS),
            )
            return
        conn.exec_driver_sql(PG_STATEMENTS[1])


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == 'sqlite':
        for statement in SQLITE_DROP:
            conn.exec_driver_sql(statement)
    elif conn.dialect.name == 'postgresql':
        # the extension stays: other objects may use it
        conn.exec_driver_sql("DROP INDEX IF EXISTS ix_feedback_item_text_trgm")
