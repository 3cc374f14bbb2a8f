"""Domain types that collectors yield and the pipeline consumes.

A collector's ``collect`` is a generator of three kinds of value:

* :class:`Item` — one piece of feedback, not yet redacted (the pipeline redacts it);
* :class:`Checkpoint` — "everything yielded so far may be committed, with this state";
* :class:`BadRecord` — a record that cannot become an item; it goes to quarantine.

They are plain slotted dataclasses, not pydantic models, because a bulk import creates a
million of them and validation lives in one place (``core.pipeline``).

:class:`KeyedRecord` is a fourth kind, for the built-in file collectors' ``collect_keyed``
only: a record known by its key before it is parsed, so that re-importing a file costs
almost nothing for the rows already stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from operator import itemgetter
from typing import Any


class Channel(StrEnum):
    """Where a piece of feedback came from."""

    SURVEY = "survey"
    SOCIAL = "social"
    TICKET = "ticket"
    HOTLINE = "hotline"
    APP_REVIEW = "app_review"
    OTHER = "other"


CHANNELS: frozenset[str] = frozenset(c.value for c in Channel)


@dataclass(slots=True)
class Item:
    """One piece of feedback as a collector read it.

    ``external_id`` must be stable: the same record read again must get the same id, so
    that the pipeline can upsert on ``(source, external_id)``. ``created_at`` must be
    timezone-aware when given. ``content_hash`` may be precomputed by the collector from
    the raw record (cheaper than hashing the item); when ``None`` the pipeline computes it.
    ``location`` says where the collector read it (``"survey.csv row 17"``, ``"page 2
    record 5"``): not stored with the item, but named when the pipeline quarantines it.
    """

    external_id: str
    text: str
    created_at: datetime | None = None
    channel: str | None = None
    rating: float | None = None
    nps: int | None = None
    customer_ref: str | None = None
    url: str | None = None
    extra: dict[str, Any] | None = None
    content_hash: str | None = None
    #: where a file collector read it (``"day1.csv row 3"``, the format of
    #: ``BadRecord.location``). Items with an origin are file rows: an id is read once
    #: per file, and an item read from another file is not changed without the run's
    #: ``update_across_files`` (see ``bihuan.core.batches``). ``None`` for other sources,
    #: whose records change in place when they come again.
    origin: str | None = None
    #: where another source's record was read (``"page 2 record 3"``): named if the
    #: pipeline refuses the item (a date beyond the horizon); not stored, no file rules
    location: str | None = None


@dataclass(slots=True, frozen=True)
class Checkpoint:
    """Commit point: items yielded before it are stored together with ``state``.

    ``state`` must be JSON-serialisable; the next run of the same collector instance gets
    it back as the ``state`` argument of ``collect``.
    """

    state: dict[str, Any]


@dataclass(slots=True)
class BadRecord:
    """A record that could not become an item; stored in quarantine with its reason.

    :param raw: the record as read (JSON-serialisable: dict, list, str, numbers).
    :param reason: what is wrong, in words a user can act on.
    :param location: where it was read, e.g. ``"survey.csv row 17"``.
    :param field: the field that is wrong, when one is.
    :param external_id: the id the record would have had, so a fixed retry upserts in place.
    """

    raw: Any
    reason: str
    location: str | None = None
    field: str | None = None
    external_id: str | None = None


@dataclass(slots=True)
class ReadInfo:
    """How a collector read one input, for the run's report (not stored as an item).

    The file collectors yield one per file (or per JSON key set) before its records:
    the header row, which column holds which field, which column is the record's key
    and why, which column is the text and which others could have been. The pipeline
    adds ``details`` to the report's ``files`` (``--json``, ``--dry-run``).

    :param where: the input, as locations name it (``"day2.csv"``).
    :param details: JSON-serialisable facts about how it was read.
    """

    where: str
    details: dict[str, Any]


class KeyedRecord(tuple):  # type: ignore[type-arg]
    """A record whose key is known before it is parsed: ``(external_id, content_hash, …)``.

    A collector that can tell a record's ``external_id`` and ``content_hash`` from the raw
    record more cheaply than it can map it (a CSV row: one join and one hash of its
    cells) yields these from ``collect_keyed`` where ``collect`` yields items. The
    pipeline counts a record whose key and hash are already stored as a duplicate without
    building it; every other one is built.

    It is a tuple (the key, then whatever a subclass needs to build the item) because a
    big import makes one per row and a tuple is the cheapest object Python makes.
    Subclasses implement :meth:`fields`: the item's fields in :class:`Item` order, with
    this ``external_id`` and ``content_hash``, already valid (the pipeline does not
    validate them again, but for what depends on the run: the timestamp's plausibility,
    see :class:`bihuan.core.values.DateWindow`) — or a :class:`BadRecord`; and
    :meth:`reject`, for the record the pipeline refuses.
    """

    __slots__ = ()

    external_id = property(itemgetter(0), doc="the id the item will have")
    content_hash = property(itemgetter(1), doc="the hash the item will have")

    @property
    def origin(self) -> str | None:
        """Where the record was read (see :attr:`Item.origin`); ``None`` when not a file row."""
        return None

    def fields(self) -> tuple[Any, ...] | BadRecord:
        raise NotImplementedError

    def reject(self, reason: str, field: str | None) -> BadRecord:
        """This record for quarantine: the pipeline refused its built fields (e.g. a date
        beyond the horizon) for ``reason``. Subclasses give the raw record and where it
        was read; this default keeps the built fields."""
        fields = self.fields()
        if isinstance(fields, BadRecord):
            return fields
        names = ("external_id", "text", "created_at", "channel", "rating", "nps", "customer_ref", "url", "extra")
        raw = {name: value.isoformat() if isinstance(value, datetime) else value for name, value in zip(names, fields)}
        return BadRecord(raw=raw, reason=reason, field=field, external_id=self.external_id)

    def refused(self, reason: str) -> BadRecord:
        """The record as a bad record with ``reason``: the file rules refused its id
        (another file's item, an id repeated in its file)."""
        return self.reject(reason, "external_id")

    def build(self) -> Item | BadRecord:
        """The item (or the bad record) this record turns into."""
        fields = self.fields()
        return fields if isinstance(fields, BadRecord) else Item(*fields)
