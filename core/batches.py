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
finds them), customer references, URLs, ``extra`` and origins (in
:meth:`~BatchWriter.build`), quarantined payloads, reasons and locations, and the state
(in :meth:`~BatchWriter.write`).

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

Rows of files (records with an ``origin``) follow the file rules of
:mod:`bihuan.core.file_rules`: an id is read once per file, and a file does not change
what another file stored.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bihuan.core.collector import RunContext
from bihuan.core.file_rules import FileRules, Version, bad_version, item_as_raw
from bihuan.core.types import BadRecord, Checkpoint, Item, KeyedRecord, ReadInfo
from bihuan.core.values import DateBounds, DateWindow
from bihuan.storage import bulk, queries
from bihuan.storage.engine import session_scope
from bihuan.storage.types import utcnow

if TYPE_CHECKING:
    from bihuan.core.pipeline import PipelineHooks, RunReport
    from bihuan.core.privacy import Privacy

#: cut-off for stored error reasons
MAX_REASON = 2_000

#: bounds that hold every timestamp (a writer built without the run's)
_NO_BOUNDS = DateBounds(
    low=datetime.min.replace(tzinfo=UTC),
    high=datetime.max.replace(tzinfo=UTC),
    window=DateWindow(),
    zone=ZoneInfo("UTC"),
)

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
    #: of ``quarantined``: rows that would have changed an item read from another file
    refused_updates: int = 0
    #: of ``quarantined``: later rows of a file repeating an id with other content
    repeated_ids: int = 0
    #: of ``updated``: items read from another file, changed (``update_across_files``)
    updated_across_files: int = 0
    #: the first row of each kind above, in words
    examples: dict[str, str] | None = None

    def note(self, kind: str, example: str) -> None:
        """Count one row of ``kind`` (see ``bihuan.core.file_rules``), with an example."""
        setattr(self, kind, getattr(self, kind) + 1)
        if self.examples is None:
            self.examples = {}
        self.examples.setdefault(kind, example)


@dataclass
class PreparedBatch:
    """A batch ready to write.

    :ivar rows: new and changed items, classified and counted, in the order of
        ``storage.bulk.ITEM_COLUMNS``; ``created_at`` converted for the driver, the
        text and ``extra`` redacted.
    :ivar recheck: rows of unsettled keys, classified and counted when written.
    :ivar bad: the records to quarantine, in the order read (not redacted yet).
    """

    rows: list[tuple[Any, ...]]
    recheck: list[tuple[Any, ...]]
    bad: list[BadRecord]
    state: dict[str, Any] | None
    counts: Counts
    #: per row of ``recheck``, its position in the batch and its raw row (``None`` for
    #: records without one): what to quarantine, in the order read, if the file rules
    #: refuse it when it is written
    recheck_raw: list[tuple[int, Any]] | None = None
    #: the positions in the batch of ``bad``, when there are rows to recheck
    bad_positions: list[int] | None = None


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
        bounds: DateBounds | None = None,
    ) -> None:
        """:param validate: checks an item (the keyed records' fields are valid as built).
        :param bounds: the timestamps the run stores; keyed records outside are
            quarantined when built (items are checked by ``validate``)."""
        self.ctx = ctx
        self.engine = engine
        self.hooks = hooks
        self.collector_type = collector_type
        self.report = report
        self.dry_run = dry_run
        self.validate = validate
        self.privacy = privacy
        self.bounds = bounds
        self.encoder = bulk.ItemEncoder(engine.dialect)
        #: what rows of files may change (see :mod:`bihuan.core.file_rules`)
        self.rules = FileRules(
            across=bool(getattr(ctx.config, "update_across_files", False)),
            run_id=report.run_id,
            dry_run=dry_run,
            redact=hooks.redact,
        )
        #: rows written since the table's statistics were last looked at (PostgreSQL)
        self._unchecked_rows = 0

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
        rules = self.rules
        versions: dict[str, Version] = {}
        file = rules.start(latest)
        changed = rules.as_if_written(keyed.hashes, changed, versions)
        # where the stored versions of file rows were read decides what may change them
        asked = [
            key for key, known in changed.items() if known is not None and key not in unsure and key not in versions
        ]
        asked = [key for key in asked if latest[key].origin is not None]
        if asked:
            versions.update(self.versions(asked))
        source, default_channel = self.ctx.source, self.ctx.channel
        redact = self.hooks.redact
        privacy = self.privacy
        time = self.encoder.time
        now = time(utcnow())
        last_at: Any = None
        last_time: Any = None
        # the run's date window (no limits without one)
        bounds = self.bounds or _NO_BOUNDS
        low, high = bounds.low, bounds.high
        rows: list[tuple[Any, ...]] = []
        recheck: list[tuple[Any, ...]] = []
        recheck_raw: list[Any] = []
        built_bad: list[tuple[Item | KeyedRecord, BadRecord]] = []
        # a keyed record stored before with the same hash is never built
        duplicates = len(latest) - len(changed)
        new = updated = 0
        written = rules.written if rules.dry_seen is not None else None
        for external_id, known in changed.items():
            record = latest[external_id]
            version = versions.get(external_id) if known is not None else None
            if version is not None:
                refusal = rules.refusal(external_id, record.origin, version, counts.note)
                if refusal is not None:
                    built_bad.append((record, bad_version(record, refusal)))
                    continue
            if isinstance(record, KeyedRecord):
                fields = record.fields()
                if isinstance(fields, BadRecord):
                    built_bad.append((record, fields))
                    continue
                _, text, created_at, channel, rating, nps, customer_ref, url, extra, content_hash, origin = fields
                # the timestamp's plausibility depends on the run, not on the row: checked
                # here (once per distinct value: exports repeat timestamps row after row)
                if created_at is not None and created_at is not last_at and not low <= created_at <= high:
                    built_bad.append((record, record.reject(bounds.problem(created_at) or "", "created_at")))
                    continue
            else:
                _, text, created_at, channel, rating, nps, customer_ref, url, extra, content_hash, origin = _fields(
                    record
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
                privacy.key(origin) if origin else origin,
            )
            if external_id in unsure:
                recheck.append(row)
                raw = record.refused("").raw if isinstance(record, KeyedRecord) else item_as_raw(record)
                recheck_raw.append((id(record), raw))
                continue
            rows.append(row)
            if written is not None:
                written(external_id, content_hash, origin)
            if known is None:
                new += 1
            else:
                updated += 1
        counts.duplicates += duplicates
        counts.new += new
        counts.updated += updated
        rules.finish(file, latest)
        position: dict[int, int] = {}
        if built_bad or recheck:
            position = {id(record): index for index, record in enumerate(records)}
        if built_bad:
            # quarantine in the order read, wherever the problem was found
            bad += [(position[id(keyed)], record) for keyed, record in built_bad]
            bad.sort(key=itemgetter(0))
        # Every bad record read counts; one already in quarantine is not stored twice.
        counts.quarantined = len(bad)
        return PreparedBatch(
            rows=rows,
            recheck=recheck,
            bad=[record for _, record in bad],
            state=state,
            counts=counts,
            recheck_raw=[(position[at], raw) for at, raw in recheck_raw] if recheck else None,
            bad_positions=[at for at, _ in bad] if recheck else None,
        )

    def versions(self, keys: list[str]) -> dict[str, Version]:
        """The stored versions of ``keys``: ``{key: (hash, origin, run id)}``."""
        with session_scope(self.engine) as session:
            return bulk.stored_versions(self.ctx.source, keys, session=session)

    def _latest(
        self, records: Sequence[Record], bad: list[tuple[int, BadRecord]], counts: Counts
    ) -> tuple[dict[str, Item | KeyedRecord], dict[str, str], Sequence[Record]]:
        """The version of every key that counts, its hash, and the records it was taken from.

        For file rows (records with an origin) the first valid row of a key counts: a
        later row with the same content is a duplicate, one with other content is
        quarantined (an id is read once per file). For other records the last version
        counts and the earlier ones count as duplicates or updates.

        Invalid items and bad records go to ``bad`` with their position. A keyed record
        whose key comes twice is built first: it may turn out bad, and then the other
        version is the one that counts.
        """
        latest: dict[str, Item | KeyedRecord] = {}
        hashes: dict[str, str] = {}
        repeated: set[str] = set()
        # ids are stored pseudonymised (personal data in them): look them up that way
        pseudonymise = self.privacy.external_id
        for position, record in enumerate(records):
            if isinstance(record, KeyedRecord):  # most of a big import: keep this short
                key = pseudonymise(record[0])
                if key in latest:
                    repeated.add(key)
                    continue
                latest[key] = record
                hashes[key] = record[1]
                continue
            self._take(position, record, latest, hashes, bad, counts)
        if not repeated:
            return latest, hashes, records
        # again, with the records of repeated keys built
        latest.clear()
        hashes.clear()
        bad.clear()
        counts.duplicates = counts.updated = counts.repeated_ids = 0
        counts.examples = None
        for position, record in enumerate(records):
            if isinstance(record, KeyedRecord):
                key = pseudonymise(record[0])
                if key not in repeated:
                    latest[key] = record
                    hashes[key] = record[1]
                    continue
                built = record.build()
                if isinstance(built, BadRecord):
                    bad.append((position, built))
                    continue
                self._take(position, built, latest, hashes, bad, counts, keyed=record)
            else:
                self._take(position, record, latest, hashes, bad, counts)
        return latest, hashes, records

    def _take(
        self,
        position: int,
        record: Item | BadRecord,
        latest: dict[str, Item | KeyedRecord],
        hashes: dict[str, str],
        bad: list[tuple[int, BadRecord]],
        counts: Counts,
        *,
        keyed: KeyedRecord | None = None,
    ) -> None:
        """One record of :meth:`_latest` that is not an unrepeated keyed record.

        :param keyed: the keyed record ``record`` was built from (its raw row).
        """
        if isinstance(record, BadRecord):
            bad.append((position, record))
            return
        checked = record if keyed is not None else self.validate(record)
        if isinstance(checked, BadRecord):
            bad.append((position, checked))
            return
        key = self.privacy.external_id(checked.external_id)
        if checked.origin is not None and keyed is None:
            # compared with stored origins, which are pseudonymised (file collectors name
            # their files with ctx.pseudonymise already; another collector may not)
            checked.origin = self.privacy.key(checked.origin)
        previous = latest.get(key)
        if previous is not None:
            if checked.origin is not None:  # a file row: the first one counts
                if previous.content_hash == checked.content_hash:
                    counts.duplicates += 1
                else:
                    first = previous.origin or "an earlier row"
                    reason = self.rules.repeated(key, checked.origin, first, counts.note)
                    bad.append((position, bad_version(keyed or checked, reason)))
                return
            if previous.content_hash == checked.content_hash:
                counts.duplicates += 1
            else:
                counts.updated += 1
        latest[key] = keyed if keyed is not None else checked
        hashes[key] = checked.content_hash  # type: ignore[assignment]

    # ── stage 2: in this process ──────────────────────────────────────────────────────

    def write(self, batch: PreparedBatch) -> None:
        """Redact and write one prepared batch in one transaction; add its counts to the report."""
        counts = batch.counts
        if not self.dry_run:
            now = utcnow()
            with session_scope(self.engine, write=True) as session:
                rows = batch.rows
                bad = batch.bad
                if batch.recheck:
                    settled, refused = self._settle(batch.recheck, batch.recheck_raw, counts, session)
                    rows = rows + settled
                    if refused:
                        # in the order read, among the batch's other bad records
                        merged = [*zip(batch.bad_positions or [], bad, strict=True), *refused]
                        merged.sort(key=itemgetter(0))
                        bad = [record for _, record in merged]
                        counts.quarantined += len(refused)
                # redacted in stage 1 (``prepare``): with a helper process that is the
                # other core's work, and this side's write is the longer one
                sql, params = self.encoder.encode_converted(
                    rows, source=self.ctx.source, run_id=self.report.run_id, now=now
                )
                bulk.write_encoded(params, session=session, sql=sql)
                quarantine = self._quarantine_rows(bad, now)
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
            self._keep_statistics(len(rows))
        report = self.report
        report.read += counts.read
        report.new += counts.new
        report.updated += counts.updated
        report.duplicates += counts.duplicates
        report.quarantined += counts.quarantined
        report.refused_updates += counts.refused_updates
        report.repeated_ids += counts.repeated_ids
        report.updated_across_files += counts.updated_across_files
        for kind, example in (counts.examples or {}).items():
            report.examples.setdefault(kind, example)
        if not self.dry_run and (counts.new or counts.updated) and self.hooks.on_items_stored:
            self.hooks.on_items_stored(
                collector=self.ctx.instance,
                source=self.ctx.source,
                run_id=report.run_id,
                new=counts.new,
                updated=counts.updated,
            )

    def _keep_statistics(self, written: int) -> None:
        """After every :data:`bulk.STATISTICS_EVERY` rows written, bring PostgreSQL's
        statistics of the items up to date if the load outgrew them (autovacuum may be
        off or behind): the statements after the load are planned on them."""
        self._unchecked_rows += written
        if self._unchecked_rows >= bulk.STATISTICS_EVERY and self.engine.dialect.name == "postgresql":
            self._unchecked_rows = 0
            bulk.refresh_statistics(self.engine)

    def _settle(
        self, rows: list[tuple[Any, ...]], raws: list[tuple[int, Any]] | None, counts: Counts, session: Any
    ) -> tuple[list[tuple[Any, ...]], list[tuple[int, BadRecord]]]:
        """Classify unsettled rows against what this transaction sees: the rows to write,
        and those the file rules refuse (as bad records, with their positions)."""
        key_at, hash_at, origin_at = bulk.EXTERNAL_ID_AT, bulk.CONTENT_HASH_AT, bulk.ORIGIN_AT
        stored = bulk.stored_versions(self.ctx.source, [row[key_at] for row in rows], session=session)
        changed = []
        refused: list[tuple[int, BadRecord]] = []
        for index, row in enumerate(rows):
            version = stored.get(row[key_at])
            if version is None:
                counts.new += 1
            elif version[0] == row[hash_at]:
                counts.duplicates += 1
                continue
            else:
                reason = self.rules.refusal(row[key_at], row[origin_at], version, counts.note)
                if reason is not None:
                    at, raw = raws[index] if raws is not None else (index, None)
                    bad = BadRecord(raw, reason, location=row[origin_at], field="external_id", external_id=row[key_at])
                    refused.append((at, bad))
                    continue
                counts.updated += 1
            changed.append(row)
        return changed, refused

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

    def note(self, info: ReadInfo) -> None:
        """Add how an input was read to the report; its names and cells redacted (a
        title row or a header may hold personal data as well as a text)."""
        self.report.files.append(_redacted(info.details, self.hooks.redact))

    def flush(self, records: Sequence[Record], state: dict[str, Any] | None) -> None:
        """Prepare and write one batch."""
        self.write(self.prepare(records, state))


def read_batches(
    outputs: Iterable[Any],
    instance: str,
    max_buffer: int,
    flush: Callable[[list[Record], dict[str, Any] | None], None],
    note: Callable[[ReadInfo], None] | None = None,
) -> None:
    """Cut a collector's outputs into batches: at every checkpoint, every ``max_buffer``
    records (bounding memory) and at the end. ``ReadInfo`` outputs go to ``note``.

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
            elif isinstance(output, ReadInfo):
                if note is not None:
                    note(output)
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


#: an item's fields in ``Item`` order (a slotted dataclass: ``astuple`` would copy deeply)
#: (``location`` only names a refused item, it is not stored)
_fields = attrgetter(*(name for name in Item.__slots__ if name != "location"))


def _redacted(value: Any, redact: Callable[[str], str]) -> Any:
    """``value`` with every string in it (keys too) redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_redacted(k, redact): _redacted(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v, redact) for v in value]
    return value
