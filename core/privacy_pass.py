"""Protecting the rows stored before a database had a pseudonym key.

A database upgraded from a version without pseudonyms holds raw customer references, ids
and source names with phone numbers in them, URLs with tokens, quarantined payloads
quoting whole rows. A migration cannot fix them (it has no key), so the first use of a
key does, in the transaction that records the key's fingerprint
(:func:`bihuan.core.pseudonyms.load_key`): every row is rewritten exactly as the pipeline
would write it today. Nothing is written with the key before this pass has run, and
nothing is written without it after, so there is never a mix.

What changes, per table: ``feedback_item`` — source, external_id, customer_ref, url,
extra, origin, and the text (redacted again with today's rules); ``quarantined_record`` —
collector, source, location, reason, payload (and its hash), external_id;
``collector_run`` — collector, source, config, error_message; ``collector_state`` —
collector and state. Only rows that change are written.

Two stored ids that pseudonymise to the same one (``13812345678`` and ``138-1234-5678``
in one source) would break the ``(source, external_id)`` key: the later one gets its row
id appended (``[手机号 …]#123``), so both rows stay.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from sqlmodel import Session

from bihuan.core.privacy import Privacy
from bihuan.storage import privacy_queries
from bihuan.storage.models import CollectorRun, CollectorState, FeedbackItem, QuarantinedRecord

log = logging.getLogger(__name__)

BATCH = 2_000
_SOURCE_MAX, _ID_MAX = 200, 300


def protect_existing_rows(session: Session, privacy: Privacy) -> dict[str, int]:
    """Rewrite every stored row as the pipeline writes it now; rows changed, per table."""
    changed = {
        "feedback_item": _items(session, privacy),
        "quarantined_record": _quarantined(session, privacy),
        "collector_run": _runs(session, privacy),
        "collector_state": _states(session, privacy),
    }
    if any(changed.values()):
        log.warning(
            "pseudonymised the personal data of rows stored before: %s",
            ", ".join(f"{n} in {table}" for table, n in changed.items() if n),
        )
    return changed


def _changes(row: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {column: value for column, value in new.items() if value != row[column]}


def _items(session: Session, privacy: Privacy) -> int:
    table = FeedbackItem.__table__  # type: ignore[attr-defined]
    columns = ("source", "external_id", "customer_ref", "url", "extra", "text", "origin")
    assigned: set[tuple[str, str]] = set()
    total = 0
    after = None
    while rows := privacy_queries.rows_after(table, "id", columns, after, BATCH, session=session):
        after = rows[-1][0]
        updates: list[dict[str, Any]] = []
        for row_id, *values in rows:
            row = dict(zip(columns, values, strict=True))
            new = {
                "source": privacy.key(row["source"], _SOURCE_MAX),
                "external_id": privacy.key(row["external_id"], _ID_MAX),
                "customer_ref": privacy.customer(row["customer_ref"]),
                "url": privacy.url(row["url"]),
                "extra": privacy.extra(row["extra"]) if isinstance(row["extra"], dict) else row["extra"],
                "text": privacy.redact(row["text"]),
                "origin": privacy.key(row["origin"]) if row["origin"] else row["origin"],
            }
            change = _changes(row, new)
            if change:
                change["_key"] = row_id
                updates.append(change)
            pair = (new["source"], new["external_id"])
            if "source" in change or "external_id" in change:
                change["_pair"] = pair
            else:
                assigned.add(pair)
        moved = [u for u in updates if "_pair" in u]
        taken = privacy_queries.existing_keys(table, [u["_pair"] for u in moved], session=session) | assigned
        for update in moved:
            pair = update.pop("_pair")
            if pair in taken:
                suffix = f"#{update['_key']}"
                pair = (pair[0], pair[1][: _ID_MAX - len(suffix)] + suffix)
                update["source"], update["external_id"] = pair
            taken.add(pair)
            assigned.add(pair)
        privacy_queries.update_rows(table, "id", updates, session=session)
        total += len(updates)
    return total


def _quarantined(session: Session, privacy: Privacy) -> int:
    table = QuarantinedRecord.__table__  # type: ignore[attr-defined]
    columns = ("collector", "source", "location", "reason", "payload", "external_id")
    total = 0
    after = None
    while rows := privacy_queries.rows_after(table, "id", columns, after, BATCH, session=session):
        after = rows[-1][0]
        updates = []
        for row_id, *values in rows:
            row = dict(zip(columns, values, strict=True))
            try:
                payload = json.dumps(privacy.payload(json.loads(row["payload"])), ensure_ascii=False, default=str)
            except (TypeError, ValueError):
                payload = privacy.message(row["payload"])
            location = privacy.key(row["location"]) if row["location"] is not None else None
            new = {
                "collector": privacy.key(row["collector"], _SOURCE_MAX),
                "source": privacy.key(row["source"], _SOURCE_MAX),
                "location": location,
                "reason": privacy.message(row["reason"]),
                "payload": payload,
                "external_id": privacy.key(row["external_id"], _ID_MAX) if row["external_id"] else row["external_id"],
            }
            change = _changes(row, new)
            if change:
                change["payload_hash"] = payload_hash(location, payload)
                change["_key"] = row_id
                updates.append(change)
        privacy_queries.update_rows(table, "id", updates, session=session)
        total += len(updates)
    return total


def payload_hash(location: str | None, payload: str) -> str:
    """What a quarantined record is known by (a re-read record is not added twice)."""
    return hashlib.blake2b(f"{location}\x1f{payload}".encode(), digest_size=16).hexdigest()


def _runs(session: Session, privacy: Privacy) -> int:
    table = CollectorRun.__table__  # type: ignore[attr-defined]
    columns = ("collector", "source", "config", "error_message")
    total = 0
    after = None
    while rows := privacy_queries.rows_after(table, "id", columns, after, BATCH, session=session):
        after = rows[-1][0]
        updates = []
        for row_id, *values in rows:
            row = dict(zip(columns, values, strict=True))
            new = {
                "collector": privacy.key(row["collector"], _SOURCE_MAX),
                "source": privacy.key(row["source"], _SOURCE_MAX),
                "config": privacy.config(row["config"]) if isinstance(row["config"], dict) else row["config"],
                "error_message": privacy.message(row["error_message"]) if row["error_message"] else None,
            }
            change = _changes(row, new)
            if change:
                change["_key"] = row_id
                updates.append(change)
        privacy_queries.update_rows(table, "id", updates, session=session)
        total += len(updates)
    return total


def _states(session: Session, privacy: Privacy) -> int:
    table = CollectorState.__table__  # type: ignore[attr-defined]
    rows = privacy_queries.rows_after(table, "collector", ("state",), None, 1_000_000, session=session)
    names = {name for name, _ in rows}
    updates: list[dict[str, Any]] = []
    dropped: list[str] = []
    for name, state in rows:
        new_name = privacy.key(name, _SOURCE_MAX)
        if new_name != name and new_name in names:
            # another row has the name already: this one's state is dropped (the collector
            # reads from the top, and the upsert recognises what is stored)
            dropped.append(name)
            continue
        change = _changes({"collector": name, "state": state}, {"collector": new_name, "state": privacy.state(state)})
        if change:
            change["_key"] = name
            updates.append(change)
            names.add(new_name)
    privacy_queries.delete_rows(table, "collector", dropped, session=session)
    privacy_queries.update_rows(table, "collector", updates, session=session)
    return len(updates) + len(dropped)
