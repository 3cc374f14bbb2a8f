"""What a row of a file may change: the file rules of the batch writer.

Rows of files (records with an ``origin``, see :class:`~bihuan.core.types.Item`) follow
two rules, checked only for the few keys stored with another hash:

* **an id is read once per file**: a later row of the same file with the same id and
  other content is quarantined, naming the first row, which counts (the same content
  again is a duplicate). So a file imported twice changes nothing;
* **a file does not change what another file stored**: a row whose id is stored from
  another file (or from an import that did not record its file) with other content is
  quarantined, unless the run's configuration has ``update_across_files``; row numbers
  and ids that restart in every file can then never replace another day's rows. A
  re-exported file of the same name updates its rows in place.

Records without an origin (API collectors) are versions of the same record: the last
one wins, as the source says. :class:`FileRules` holds what a run needs to apply the
rules; :class:`~bihuan.core.batches.BatchWriter` asks it.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import Any

from bihuan.core.types import BadRecord, Item, KeyedRecord

#: the kinds of rows the file rules quarantine or let through, counted on the report
REFUSED, REPEATED, ACROSS = "refused_updates", "repeated_ids", "updated_across_files"
#: a stored version: ``(content hash, origin, run id)``
Version = tuple[str, str | None, int | None]
#: the run id a dry run's remembered versions carry
DRY_RUN = -1


def origin_file(origin: str) -> str:
    """The file part of an origin: ``"day1.csv row 3"`` → ``"day1.csv"``."""
    return origin.rsplit(" ", 2)[0]


def item_as_raw(item: Item) -> dict[str, Any]:
    """An item's fields as a quarantine payload (for records that have no raw row)."""
    raw = {
        "external_id": item.external_id,
        "text": item.text,
        "created_at": item.created_at.isoformat() if isinstance(item.created_at, datetime) else item.created_at,
        "channel": item.channel,
        "rating": item.rating,
        "nps": item.nps,
        "customer_ref": item.customer_ref,
        "url": item.url,
    }
    if item.extra:
        raw["extra"] = item.extra
    return raw


def bad_version(record: Item | KeyedRecord, reason: str) -> BadRecord:
    """``record`` quarantined under the file rules, with its raw row where it has one."""
    if isinstance(record, KeyedRecord):
        return record.refused(reason)
    return BadRecord(
        raw=item_as_raw(record),
        reason=reason,
        location=record.origin,
        field="external_id",
        external_id=record.external_id,
    )


class SeenKeys:
    """The keys of the file being read that earlier batches of this run held.

    A re-imported file's later row repeating an id finds the id stored by an earlier
    run from the same file, just as a re-exported file's changed row does; only the
    first has read the id before, in this run. Kept compact: the 64-bit hashes of the
    keys (8 bytes a row), as they come; sorted into a few runs only when asked, which
    happens only for ids stored with other content (a re-import asks nothing).
    """

    def __init__(self) -> None:
        self.file: str | None = None
        self._fresh: list[array[int]] = []
        self._runs: list[array[int]] = []  # sorted, each at most half the one before

    def start(self, file: str | None) -> None:
        """Forget the keys when a batch is of another file than the last."""
        if file != self.file:
            self.file = file
            self._fresh = []
            self._runs = []

    def add(self, keys: Iterable[str]) -> None:
        self._fresh.append(array("q", map(hash, keys)))

    def __contains__(self, key: str) -> bool:
        runs = self._runs
        for part in self._fresh:
            run = array("q", sorted(part))
            while runs and len(runs[-1]) <= 2 * len(run):  # merging sorted runs is linear
                run = array("q", sorted(runs.pop() + run))
            runs.append(run)
        self._fresh = []
        wanted = hash(key)
        for run in runs:
            at = bisect_left(run, wanted)
            if at < len(run) and run[at] == wanted:
                return True
        return False


class FileRules:
    """The file rules for one run.

    :param across: rows may change items read from another file (``update_across_files``).
    :param run_id: the run's id (``None`` for a dry run).
    :param dry_run: nothing is written: remember what would have been, for later batches.
    :param redact: the redaction hook: reasons and examples quote ids and file names.
    """

    def __init__(self, *, across: bool, run_id: int | None, dry_run: bool, redact: Callable[[str], str]) -> None:
        self.across = across
        self.redact = redact
        #: runs whose stored rows count as read by this one: this run, and the run it
        #: resumes (added by the pipeline)
        self.this_pass = {run_id if run_id is not None else DRY_RUN}
        #: (dry runs) what earlier batches would have written: ``{key: (hash, origin)}``
        self.dry_seen: dict[str, tuple[str, str | None]] | None = {} if dry_run else None
        self.seen = SeenKeys()

    # ── per batch ─────────────────────────────────────────────────────────────────────

    def start(self, latest: dict[str, Item | KeyedRecord]) -> str | None:
        """A batch begins; the file its rows come from (``None``: not file rows)."""
        first = next(iter(latest.values()), None)
        origin = first.origin if first is not None else None
        file = origin_file(origin) if origin is not None else None
        self.seen.start(file)
        return file

    def finish(self, file: str | None, latest: Collection[str]) -> None:
        """A batch was built: its keys have been read."""
        if file is not None:
            self.seen.add(latest)

    def written(self, key: str, content_hash: str, origin: str | None) -> None:
        """(Dry runs.) A row that a real run would have written."""
        if self.dry_seen is not None:
            self.dry_seen[key] = (content_hash, origin)

    def as_if_written(
        self, hashes: dict[str, str], changed: dict[str, str | None], versions: dict[str, Version]
    ) -> dict[str, str | None]:
        """(Dry runs.) ``changed`` as the lookup would have answered had the earlier
        batches been written; their versions go into ``versions``."""
        seen = self.dry_seen
        again = hashes.keys() & seen.keys() if seen else ()
        if not again:
            return changed
        assert seen is not None
        changed = dict(changed)
        for key in again:
            content_hash, origin = seen[key]
            if content_hash == hashes[key]:
                changed.pop(key, None)
            else:
                changed[key] = content_hash
                versions[key] = (content_hash, origin, DRY_RUN)
        return changed

    # ── per row ───────────────────────────────────────────────────────────────────────

    def refusal(self, key: str, origin: str | None, version: Version, note: Callable[[str, str], None]) -> str | None:
        """Why the row read at ``origin`` may not change ``key``'s stored ``version``
        (counted with ``note(kind, example)``), or ``None`` when it may (an update)."""
        if origin is None:
            return None  # not a file row: a newer version of the record
        _, stored_origin, stored_run = version
        file = origin_file(origin)
        same_file = stored_origin is not None and origin_file(stored_origin) == file
        if same_file and stored_run in self.this_pass:
            first = stored_origin
        elif key in self.seen:  # an earlier batch read it (a duplicate, or refused)
            first = f"an earlier row of {file}"
        elif same_file:
            return None  # the same file, exported again: its rows update in place
        else:
            first = None
        if first is not None:
            return self.repeated(key, origin, first, note)
        where = stored_origin or "an earlier import that did not record its file"
        if self.across:
            note(ACROSS, self.redact(f"{key!r} from {origin}, was read from {where}"))
            return None
        note(REFUSED, self.redact(f"{key!r} at {origin} would replace {where}"))
        return self.redact(
            f"id {key!r} is stored from {where} with other content; a file does not change another "
            "file's rows (pass --update-across-files to update them, or --no-id / --id-column COLUMN "
            "if this column is not a record id)"
        )

    def repeated(self, key: str, origin: str | None, first: str, note: Callable[[str, str], None]) -> str:
        """The reason for a row that repeats ``key`` first read at ``first``; counted."""
        note(REPEATED, self.redact(f"{key!r} at {origin}, first read at {first}"))
        return self.redact(
            f"id {key!r} already read at {first} with other content; the first row counts (an id is read once per file)"
        )
