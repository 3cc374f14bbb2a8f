"""Queries behind pseudonymisation: the ``database_info`` facts and the row-by-row pass
that protects rows stored before the database had a pseudonym key
(``bihuan.core.privacy_pass``). Each takes ``*, session``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, bindparam, delete, select, update
from sqlmodel import Session

from bihuan.storage.engine import dialect_insert
from bihuan.storage.models import DatabaseInfo


def get_info(name: str, *, session: Session) -> str | None:
    """The value of the database fact ``name``."""
    row = session.get(DatabaseInfo, name)
    return row.value if row is not None else None


def insert_info(name: str, value: str, *, session: Session) -> str:
    """Record ``name`` unless it is recorded already; the value that holds afterwards
    (another process's, when it was first)."""
    insert = dialect_insert(session)
    session.execute(insert(DatabaseInfo).values(name=name, value=value).on_conflict_do_nothing())
    stored = session.execute(select(DatabaseInfo.value).where(DatabaseInfo.name == name)).scalar_one()
    return str(stored)


def set_info(name: str, value: str, *, session: Session) -> None:
    """Record ``name``, replacing what was recorded."""
    insert = dialect_insert(session)
    statement = insert(DatabaseInfo).values(name=name, value=value)
    session.execute(statement.on_conflict_do_update(index_elements=["name"], set_={"value": value}))


def any_rows(*, session: Session) -> bool:
    """Whether any table a collector run writes holds a row."""
    from bihuan.storage.models import CollectorRun, CollectorState, FeedbackItem, QuarantinedRecord

    for model in (FeedbackItem, QuarantinedRecord, CollectorRun, CollectorState):
        table = model.__table__  # type: ignore[attr-defined]
        if session.execute(select(table).limit(1)).first() is not None:
            return True
    return False


def rows_after(
    table: Table, key: str, columns: Sequence[str], after: Any, limit: int, *, session: Session
) -> list[tuple[Any, ...]]:
    """Up to ``limit`` rows of ``table`` with ``key`` greater than ``after`` (``None``:
    from the first), in key order: the key, then ``columns``."""
    key_column = table.c[key]
    query = select(key_column, *(table.c[c] for c in columns)).order_by(key_column).limit(limit)
    if after is not None:
        query = query.where(key_column > after)
    return [tuple(row) for row in session.execute(query)]


def update_rows(table: Table, key: str, changes: Sequence[dict[str, Any]], *, session: Session) -> None:
    """Set the columns of each change on the row whose ``key`` is the change's ``_key``.
    Every change sets the same columns (one statement per set of columns)."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for change in changes:
        columns = tuple(sorted(c for c in change if c != "_key"))
        by_columns.setdefault(columns, []).append(change)
    for columns, rows in by_columns.items():
        statement = (
            update(table).where(table.c[key] == bindparam("_key")).values({c: bindparam(f"_new_{c}") for c in columns})
        )
        params = [{"_key": row["_key"], **{f"_new_{c}": row[c] for c in columns}} for row in rows]
        session.connection().execute(statement, params)


def delete_rows(table: Table, key: str, keys: Sequence[Any], *, session: Session) -> None:
    """Delete the rows of ``table`` whose ``key`` is one of ``keys``."""
    if keys:
        session.connection().execute(delete(table).where(table.c[key].in_(list(keys))))


def existing_keys(table: Table, pairs: Sequence[tuple[str, str]], *, session: Session) -> set[tuple[str, str]]:
    """The ``(source, external_id)`` pairs of ``pairs`` that ``table`` holds."""
    found: set[tuple[str, str]] = set()
    by_source: dict[str, list[str]] = {}
    for source, external_id in pairs:
        by_source.setdefault(source, []).append(external_id)
    for source, ids in by_source.items():
        for start in range(0, len(ids), 1000):
            query = select(table.c.external_id).where(
                table.c.source == source, table.c.external_id.in_(ids[start : start + 1000])
            )
            found.update((source, row[0]) for row in session.execute(query))
    return found
