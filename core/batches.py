"""Writing a collector's output in batches, in two stages.

A batch is everything between two checkpoints. Stage 1, :meth:`BatchWriter.prepare`,
in three steps: :meth:`~BatchWriter.key` (validation, the last version of every key and
its content hash), :meth:`~BatchWriter.lookup` (which keys are stored with another hash
or not at all: new / updated / duplicate) and :meth:`~BatchWriter.build` (the rows for
the driver, redacted, of the keyed records that are not stored yet). Stage 2,
:meth:`BatchWriter.write`: redaction of the quarantined records, the last of the
encoding, and one transaction — the rows, the quarantined records, the
collector's state and the run's counts, committed together.

What is stored besides the text goes through the run's :class:`~bihuan.core.privacy.Privacy`:
ids (pseudonymised in :meth:`~BatchWriter.key`, before the lookup, so that a re-import
finds them), customer references, URLs and ``extra`` (in :meth:`~BatchWriter.build`),
quarantined payloads, reasons and locations, and the state (in :meth:`~BatchWriter.write`).

Both stages run on the collector's thread, or stage 1 runs in a forked helper process
(:mod:`bihuan.core.helper`) while this process writes the previous batch — all of it
but the lookup, which this process makes between two writes: a re-import, with nothing
to write, then uses both cores. The work is split so that the two processes take about
as long per row. Redaction is stage 1's: with the text index's upkeep moved out of
imports, the writing side (the ``executemany`` itself is most of it) was the longer one.
A second *thread* was measured slower (1.97 s against 1.71 s for a 100,000-row CSV on
SQLite): ``sqlite3`` hands the GIL back and forth for every row of an ``executemany``.

A helper's batch is looked up before the batches ahead of it are written. Keys written
by those batches are *unsettled*: their rows go into :attr:`PreparedBatch.recheck` and
are classified when written, against what the writing transaction sees.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from bihuan.core.collector import RunContext
from bihuan.core.types import BadRecord, Checkpoint, Item, KeyedRecord
from bihuan.storage import bulk, queries
from bihuan.storage.engine import session_scope
from bihuan.storage.types import utcnow

if TYPE_CHECKING:
    from bihuan.core.pipeline import PipelineHooks, RunReport
    from bihuan.core.privacy import Privacy

#: cut-off for stored error reasons
MAX_REASON = 2_000

#: what a collector's buffer holds between checkpoints
Record = Item | KeyedRecord | BadRecord
_RECORDS = (Item, KeyedRecord, BadRecord)


@dataclass(slots=True)
class Counts:
    read: int = 0
    new: int = 0
    updated: int = 0
    duplicates: int = 0
    quarantined: int = 0


@dataclass
class PreparedBatch:
    """A batch ready to write.

    :ivar rows: new and changed items, classified and counted, in the order of
        ``storage.bulk.ITEM_COLUMNS``; ``created_at`` converted for the driver, the
        text, ``extra`` and ``url`` redacted, ``customer_ref`` pseudonymised.
    :ivar recheck: rows of unsettled keys, classified and counted when written.
    :ivar bad: the records to quarantine, in the order read (not redacted yet).
    """

    rows: list[tuple[Any, ...]]
    recheck: list[tuple[Any, ...]]
    bad: list[BadRecord]
    state: dict[str, Any] | None
    counts: Counts


@dataclass(slots=True)
class KeyedBatch:
    """A batch between :meth:`BatchWriter.key` and :meth:`BatchWriter.build`.

    :ivar latest: the last version of every key, in the order read.
    :ivar hashes: ``{key: content hash}`` of ``latest``: what the lookup needs.
    :ivar records: what ``latest`` was taken from (built where a key came twice).
    :ivar bad: records to quarantine so far, with their position in ``records``.
    """

    latest: dict[str, Item | KeyedRecord]
    hashes: dict[str, str]
    records: Sequence[Record]
    bad: list[tuple[int, BadRecord]]
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
        privacy: Privacy,
    ) -> None:
        self.ctx = ctx
        self.engine = engine
        self.hooks = hooks
        self.collector_type = collector_type
        self.report = report
        self.dry_run = dry_run
        self.validate = validate
        self.privacy = privacy
        self.encoder = bulk.ItemEncoder(engine.dialect)

    # ── stage 1 ───────────────────────────────────────────────────────────────────────

    def prepare(
        self,
        records: Sequence[Record],
        state: dict[str, Any] | None,
        *,
        unsettled: Collection[str] = frozenset(),
    ) -> PreparedBatch:
        """Classify and build ``records`` (in the order read) into rows: :meth:`key`,
        :meth:`lookup` and :meth:`build` in one go.

        :param unsettled: keys whose stored version may change before this batch is
            written (see the module docstring).
        """
        keyed = self.key(records)
        return self.build(keyed, self.lookup(keyed.hashes), state, unsettled=unsettled)

    def key(self, records: Sequence[Record]) -> KeyedBatch:
        """The last version of every key of ``records`` and its content hash."""
        counts = Counts(read=len(records))
        bad: list[tuple[int, BadRecord]] = []
        latest, hashes, records = self._latest(records, bad, counts)
        return KeyedBatch(latest=latest, hashes=hashes, records=records, bad=bad, counts=counts)

    def lookup(self, hashes: dict[str, str]) -> dict[str, str | None]:
        """``hashes``' keys not stored with that hash (see :func:`bulk.changed_hashes`)."""
        if not hashes:
            return {}
        with session_scope(self.engine) as session:
            return bulk.changed_hashes(self.ctx.source, hashes, session=session)

    def build(
        self,
        keyed: KeyedBatch,
        changed: dict[str, str | None],
        state: dict[str, Any] | None,
        *,
        unsettled: Collection[str] = frozenset(),
    ) -> PreparedBatch:
        """Build the rows of ``keyed`` that :meth:`lookup` found ``changed``.

        :param unsettled: keys whose stored version may have changed since the lookup
            (see the module docstring).
        """
        latest, records, bad, counts = keyed.latest, keyed.records, keyed.bad, keyed.counts
        # usually none: the keys this batch shares with one still being written, which
        # are built whatever the lookup said (and classified when written)
        unsure = latest.keys() & unsettled if unsettled else ()
        if unsure:
            hashes = keyed.hashes
            changed = {key: changed.get(key, hashes[key]) for key in latest if key in changed or key in unsure}
        source, default_channel = self.ctx.source, self.ctx.channel
        redact = self.hooks.redact
        privacy = self.privacy
        time = self.encoder.time
        now = time(utcnow())
        last_at: Any = None
        last_time: Any = None
        rows: list[tuple[Any, ...]] = []
        recheck: list[tuple[Any, ...]] = []
        built_bad: list[tuple[KeyedRecord, BadRecord]] = []
        # a keyed record stored before with the same hash is never built
        duplicates = len(latest) - len(changed)
        new = updated = 0
        for external_id, known in changed.items():
            record = latest[external_id]
            if isinstance(record, KeyedRecord):
                fields = record.fields()
                if isinstance(fields, BadRecord):
                    built_bad.append((record, fields))
                    continue
                _, text, created_at, channel, rating, nps, customer_ref, url, extra, content_hash = fields
            else:
                text, created_at, channel, content_hash = (
                    record.text,
                    record.created_at,
                    record.channel,
                    record.content_hash,
                )
                rating, nps, customer_ref, url, extra = (
                    record.rating,
                    record.nps,
                    record.customer_ref,
                    record.url,
                    record.extra,
                )
                if rating is not None:
                    rating = float(rating)
            # exports repeat a timestamp row after row: convert it once
            if created_at is None:
                at = now
            elif created_at is last_at:
                at = last_time
            else:
                at = last_time = time(created_at)
                last_at = created_at
            if extra:
                extra = privacy.extra(extra)
            row = (
                source,
                external_id,
                channel or default_channel,
                redact(text),
                rating,
                nps,
                privacy.customer(customer_ref) if customer_ref else None,
                at,
                privacy.url(url) if url else url,
                extra or None,
                content_hash,
            )
            if external_id in unsure:
                recheck.append(row)
                continue
            rows.append(row)
            if known is None:
                new += 1
            else:
                updated += 1
        counts.duplicates += duplicates
        counts.new += new
        counts.updated += updated
        if built_bad:
            # quarantine in the order read, wherever the problem was found
            position = {id(record): index for index, record in enumerate(records)}
            bad += [(position[id(keyed)], record) for keyed, record in built_bad]
            bad.sort(key=itemgetter(0))
        # Every bad record read counts; one already in quarantine is not stored twice.
        counts.quarantined = len(bad)
        return PreparedBatch(rows=rows, recheck=recheck, bad=[record for _, record in bad], state=state, counts=counts)

    def _latest(
        self, records: Sequence[Record], bad: list[tuple[int, BadRecord]], counts: Counts
    ) -> tuple[dict[str, Item | KeyedRecord], dict[str, str], Sequence[Record]]:
        """The last version of every key (a later row for a key wins), its hash, and the
        records it was taken from.

        Invalid items and bad records go to ``bad`` with their position. The earlier
        versions of a key count as duplicates or updates. A keyed record whose key comes
        twice is built first: it may turn out bad, and then the other version is the
        one that counts.
        """
        latest: dict[str, Item | KeyedRecord] = {}
        hashes: dict[str, str] = {}
        repeated: set[str] = set()
        validate = self.validate
        # ids are stored pseudonymised (personal data in them): look them up that way
        pseudonymise = self.privacy.external_id
        for position, record in enumerate(records):
            if isinstance(record, KeyedRecord):  # most of a big import: keep this short
                key = pseudonymise(record[0])
                if key in latest:
                    repeated.add(key)
                latest[key] = record
                hashes[key] = record[1]
                continue
            if isinstance(record, BadRecord):
                bad.append((position, record))
                continue
            checked = validate(record)
            if isinstance(checked, BadRecord):
                bad.append((position, checked))
                continue
            key = pseudonymise(checked.external_id)
            previous = latest.get(key)
            if previous is not None:
                if isinstance(previous, KeyedRecord):
                    repeated.add(key)
                elif previous.content_hash == checked.content_hash:
                    counts.duplicates += 1
                else:
                    counts.updated += 1
            latest[key] = checked
            hashes[key] = checked.content_hash  # type: ignore[assignment]
        if not repeated:
            return latest, hashes, records
        built = [r.build() if isinstance(r, KeyedRecord) and pseudonymise(r[0]) in repeated else r for r in records]
        bad.clear()
        counts.duplicates = counts.updated = 0
        return self._latest(built, bad, counts)

    # ── stage 2: in this process ──────────────────────────────────────────────────────

    def write(self, batch: PreparedBatch) -> None:
        """Redact and write one prepared batch in one transaction; add its counts to the report."""
        counts = batch.counts
        if not self.dry_run:
            now = utcnow()
            with session_scope(self.engine, write=True) as session:
                rows = batch.rows
                if batch.recheck:
                    rows = rows + self._settle(batch.recheck, counts, session)
                # redacted in stage 1 (``prepare``): with a helper process that is the
                # other core's work, and this side's write is the longer one
                sql, params = self.encoder.encode_converted(
                    rows, source=self.ctx.source, run_id=self.report.run_id, now=now
                )
                bulk.write_encoded(params, session=session, sql=sql)
                quarantine = self._quarantine_rows(batch.bad, now)
                if quarantine:
                    known = queries.existing_payload_hashes(
                        self.ctx.source, [row["payload_hash"] for row in quarantine], session=session
                    )
                    queries.add_quarantined(
                        [row for row in quarantine if row["payload_hash"] not in known], session=session
                    )
                if batch.state is not None:
                    queries.save_state(
                        self.ctx.instance,
                        self.privacy.state(batch.state),
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

    def _settle(self, rows: list[tuple[Any, ...]], counts: Counts, session: Any) -> list[tuple[Any, ...]]:
        """Classify unsettled rows against what this transaction sees; the rows to write."""
        key_at, hash_at = bulk.EXTERNAL_ID_AT, bulk.CONTENT_HASH_AT
        stored = bulk.existing_hashes(self.ctx.source, [row[key_at] for row in rows], session=session)
        changed = []
        for row in rows:
            known = stored.get(row[key_at])
            if known is None:
                counts.new += 1
            elif known == row[hash_at]:
                counts.duplicates += 1
                continue
            else:
                counts.updated += 1
            changed.append(row)
        return changed

    def _quarantine_rows(self, bad: list[BadRecord], now: datetime) -> list[dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        privacy = self.privacy
        for record in bad:
            payload = json.dumps(privacy.payload(record.raw), ensure_ascii=False, default=str)
            location = privacy.key(record.location) if record.location is not None else None
            payload_hash = hashlib.blake2b(f"{location}\x1f{payload}".encode(), digest_size=16).hexdigest()
            rows[payload_hash] = {
                "collector": self.ctx.instance,
                "collector_type": self.collector_type,
                "source": self.ctx.source,
                "location": location,
                "field": privacy.key(record.field, 100) if record.field else record.field,
                "reason": privacy.message(record.reason)[:MAX_REASON],
                "payload": payload,
                "payload_hash": payload_hash,
                "external_id": privacy.external_id(record.external_id) if record.external_id else None,
                "run_id": self.report.run_id,
                "status": "open",
                "created_at": now,
            }
        return list(rows.values())

    def flush(self, records: Sequence[Record], state: dict[str, Any] | None) -> None:
        """Prepare and write one batch."""
        self.write(self.prepare(records, state))


def read_batches(
    outputs: Iterable[Any],
    instance: str,
    max_buffer: int,
    flush: Callable[[list[Record], dict[str, Any] | None], None],
) -> None:
    """Cut a collector's outputs into batches: at every checkpoint, every ``max_buffer``
    records (bounding memory) and at the end.

    When the collector raises, the records read before are flushed (without a state:
    the state stays at the last checkpoint) and the error propagates.
    """
    records: list[Record] = []
    try:
        for output in outputs:
            if output.__class__ is list:  # several records at once (``collect_keyed``)
                records += output
                if len(records) >= max_buffer:
                    flush(records, None)
                    records = []
            elif isinstance(output, _RECORDS):
                records.append(output)
                if len(records) >= max_buffer:
                    flush(records, None)
                    records = []
            elif isinstance(output, Checkpoint):
                flush(records, output.state)
                records = []
            else:
                raise TypeError(
                    f"collector {instance!r} yielded {type(output).__name__}; expected Item, Checkpoint or BadRecord"
                )
    except Exception:
        if records:
            flush(records, None)
        raise
    if records:
        flush(records, None)
