"""Writing a collector's output in batches, in two stages.

A batch is everything between two checkpoints. Stage 1, :meth:`BatchWriter.prepare`,
is Python work: validation, classification against what is stored (new / updated /
duplicate), redaction of what will be written, encoding for the driver. Stage 2,
:meth:`BatchWriter.write`, is one transaction: the rows, the quarantined records, the
collector's state and the run's counts, committed together.

Both stages run on the collector's thread. Writing batch *n* on a second thread while
batch *n + 1* is prepared was measured slower here (1.97 s against 1.71 s for a
100,000-row CSV on SQLite): ``sqlite3`` hands the GIL back and forth for every row of an
``executemany`` while the other thread wants it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from bihuan.core.collector import RunContext
from bihuan.core.types import BadRecord, Item
from bihuan.storage import bulk, queries
from bihuan.storage.engine import session_scope
from bihuan.storage.types import utcnow

if TYPE_CHECKING:
    from bihuan.core.pipeline import PipelineHooks, RunReport

#: cut-off for stored error reasons
MAX_REASON = 2_000


@dataclass(slots=True)
class Counts:
    read: int = 0
    new: int = 0
    updated: int = 0
    duplicates: int = 0
    quarantined: int = 0


@dataclass
class PreparedBatch:
    """A batch ready to write: encoded rows, quarantine rows, state and counts."""

    params: list[tuple[Any, ...]]
    quarantine: list[dict[str, Any]]
    state: dict[str, Any] | None
    counts: Counts


class BatchWriter:
    """Prepares and writes the batches of one collector run."""

    def __init__(
        self,
        ctx: RunContext,
        *,
        engine: Engine,
        hooks: PipelineHooks,
        collector_type: str,
        report: RunReport,
        dry_run: bool,
        validate: Callable[[Item], Item | BadRecord],
        payload_text: Callable[[Any, Callable[[str], str]], str],
    ) -> None:
        self.ctx = ctx
        self.engine = engine
        self.hooks = hooks
        self.collector_type = collector_type
        self.report = report
        self.dry_run = dry_run
        self.validate = validate
        self.payload_text = payload_text
        self.encoder = bulk.ItemEncoder(engine.dialect)

    # ── stage 1: on the collector's thread ────────────────────────────────────────────

    def prepare(self, items: list[Item], bad: list[BadRecord], state: dict[str, Any] | None, read: int) -> PreparedBatch:
        counts = Counts(read=read)
        ctx = self.ctx
        # Validate and dedupe within the buffer: the last version of a key wins.
        latest: dict[str, Item] = {}
        for output in items:
            item = self.validate(output)
            if type(item) is not Item:
                bad.append(item)  # type: ignore[arg-type]
                continue
            previous = latest.get(item.external_id)
            if previous is not None:
                if previous.content_hash == item.content_hash:
                    counts.duplicates += 1
                else:
                    counts.updated += 1
            latest[item.external_id] = item

        now = utcnow()
        with session_scope(self.engine) as session:
            stored = bulk.existing_hashes(ctx.source, latest, session=session) if latest else {}
            quarantine = self._quarantine_rows(bad, now, session)
        redact = self.hooks.redact
        rows = []
        for external_id, item in latest.items():
            known = stored.get(external_id)
            if known is None:
                counts.new += 1
            elif known == item.content_hash:
                counts.duplicates += 1
                continue
            else:
                counts.updated += 1
            extra = item.extra
            if extra:
                extra = {k: (redact(v) if isinstance(v, str) else v) for k, v in extra.items()}
            rows.append(
                (
                    ctx.source,
                    external_id,
                    item.channel or ctx.channel,
                    redact(item.text),
                    None if item.rating is None else float(item.rating),
                    item.nps,
                    item.customer_ref,
                    item.created_at or now,
                    item.url,
                    extra or None,
                    item.content_hash,
                )
            )
        # Every bad record read counts; one already in quarantine is not stored twice.
        counts.quarantined = len(bad)
        params = self.encoder.encode(rows, run_id=self.report.run_id, now=now)
        return PreparedBatch(params=params, quarantine=quarantine, state=state, counts=counts)

    def _quarantine_rows(self, bad: list[BadRecord], now: datetime, session: Any) -> list[dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for record in bad:
            payload = self.payload_text(record.raw, self.hooks.redact)
            payload_hash = hashlib.blake2b(f"{record.location}\x1f{payload}".encode(), digest_size=16).hexdigest()
            rows[payload_hash] = {
                "collector": self.ctx.instance,
                "collector_type": self.collector_type,
                "source": self.ctx.source,
                "location": record.location,
                "field": record.field,
                "reason": record.reason[:MAX_REASON],
                "payload": payload,
                "payload_hash": payload_hash,
                "external_id": record.external_id,
                "run_id": self.report.run_id,
                "status": "open",
                "created_at": now,
            }
        if rows:
            known = queries.existing_payload_hashes(self.ctx.source, list(rows), session=session)
            for payload_hash in known:
                rows.pop(payload_hash, None)
        return list(rows.values())

    # ── stage 2: on the writer thread ─────────────────────────────────────────────────

    def write(self, batch: PreparedBatch) -> None:
        counts = batch.counts
        if not self.dry_run:
            with session_scope(self.engine, write=True) as session:
                bulk.write_encoded(batch.params, session=session)
                queries.add_quarantined(batch.quarantine, session=session)
                if batch.state is not None:
                    queries.save_state(
                        self.ctx.instance,
                        batch.state,
                        collector_type=self.collector_type,
                        run_id=self.report.run_id,
                        session=session,
                    )
                assert self.report.run_id is not None
                queries.add_run_counts(
                    self.report.run_id,
                    read=counts.read,
                    new=counts.new,
                    updated=counts.updated,
                    duplicates=counts.duplicates,
                    quarantined=counts.quarantined,
                    session=session,
                )
        report = self.report
        report.read += counts.read
        report.new += counts.new
        report.updated += counts.updated
        report.duplicates += counts.duplicates
        report.quarantined += counts.quarantined
        if not self.dry_run and (counts.new or counts.updated) and self.hooks.on_items_stored:
            self.hooks.on_items_stored(
                collector=self.ctx.instance,
                source=self.ctx.source,
                run_id=report.run_id,
                new=counts.new,
                updated=counts.updated,
            )

    def flush(self, items: list[Item], bad: list[BadRecord], state: dict[str, Any] | None, read: int) -> None:
        """Prepare and write one batch."""
        self.write(self.prepare(items, bad, state, read))
