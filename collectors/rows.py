"""Turning one row of an export (cells under a header) into an ``Item`` or a ``BadRecord``.

Shared by the CSV, XLSX and JSONL collectors and by ``bihuan quarantine retry``. This is
the hot path of a million-row import: column positions are resolved once per file, and
the per-row work is a handful of index lookups, cached value parsers, one UTF-8 encode
(which also finds undecodable bytes) and one keyed hash.

Rows and the header may differ in length:

* more cells than the header: fine when the extra cells are empty (trailing separators,
  as spreadsheets write them); otherwise the row is quarantined ("row has 9 cells,
  header has 7") with the extra cells kept under ``_extra_cells``;
* fewer cells: the missing cells count as empty, unless the text column itself is
  missing — then the row is quarantined.

Cells of unmapped columns go to ``Item.extra`` (empty ones are left out); a cell longer
than ``max_text_chars`` is quarantined like an over-long text, so ``extra`` stays small.
Every item gets a ``content_hash`` here (the pipeline then need not hash it again): a
hash of the header, the resolved mapping, the run's default channel, time zone and
rating scale, and every cell of the row.

For imports, :meth:`RowMapper.keyed` stops after the id and the content hash and returns
a :class:`KeyedRow`: the pipeline maps only the rows it does not find stored with the
same hash, so a re-imported file costs a join and a hash per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import blake2b
from typing import Any

from bihuan.collectors.fields import (
    DateParser,
    MappingError,
    cell_text,
    parse_channel,
    parse_nps,
    parse_rating,
    plan_columns,
)
from bihuan.collectors.layout import choose_key
from bihuan.core.collector import RunContext
from bihuan.core.errors import CollectorConfigError, RecordError
from bihuan.core.types import BadRecord, Item, KeyedRecord

#: key under which cells beyond the header are kept in a quarantined record
EXTRA_CELLS_KEY = "_extra_cells"
#: separator of hashed cells (the ASCII unit separator never occurs in exports)
SEP = "\x1f"
#: fields whose raw cells make the content id of a row without an id column
ID_FIELDS = ("text", "created_at", "customer_ref", "rating", "nps", "channel")
MAX_EXTERNAL_ID = 300
_MISSING = object()
_CACHE_MAX = 2048


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def unique_keys(header: Sequence[str]) -> list[str]:
    """Header names usable as dict keys: empty ones become ``column N``, repeats ``name (2)``."""
    keys: list[str] = []
    seen: set[str] = set()
    for index, name in enumerate(header):
        key = name or f"column {index + 1}"
        if key in seen:
            n = 2
            while f"{key} ({n})" in seen:
                n += 1
            key = f"{key} ({n})"
        seen.add(key)
        keys.append(key)
    return keys


class RowMapper:
    """Maps the rows of one header; build one per file (or per JSONL key set).

    :param header: the column names as read.
    :param ctx: the run context; ``ctx.config`` is a file collector's ``Config``.
    :param label: how locations name the file, e.g. ``"survey.csv"`` or
        ``"tickets.xlsx sheet 工单"``; locations read ``"<label> <unit> <number>"``.
    :param unit: ``"row"`` or ``"line"``.
    :param encoding: the codec the file was decoded with, for the reason of rows that
        hold undecodable bytes.
    :param where: how configuration errors name the file (its path); ``label`` if not given.
    :param sample: the first data rows, which tell a column that counts rows from an id
        column (see :func:`bihuan.collectors.layout.choose_key`); ``None`` for none.
    :param excel_serials: the cells come from a spreadsheet: a number in the date column
        is an Excel serial day number (see :class:`~bihuan.core.values.DateParser`).
    :raises CollectorConfigError: when no column holds the text, two hold it equally or
        ``--map`` names a missing column: the fix is an option, so it is a usage error.
    """

    def __init__(
        self,
        header: Sequence[Any],
        ctx: RunContext,
        *,
        label: str,
        unit: str = "row",
        encoding: str | None = None,
        where: str | None = None,
        sample: Sequence[Sequence[Any]] | None = None,
        excel_serials: bool = False,
    ) -> None:
        names = [cell_text(h).strip() for h in header]
        config = ctx.config
        mapping = dict(getattr(config, "mapping", None) or {})
        id_column = getattr(config, "id_column", None)
        explicit = "--map external_id=…" if "external_id" in mapping else None
        if id_column is not None:
            mapping["external_id"] = id_column
            explicit = "--id-column"
        try:
            plan = plan_columns(names, mapping)
        except MappingError as exc:
            message = str(exc)
            if id_column is not None:
                message = message.replace("--map external_id=", "--id-column ")
            raise CollectorConfigError(f"{where or label}: {message}") from None
        columns = plan.columns
        if "text" not in columns:
            raise CollectorConfigError(
                f"{where or label}: no text column; headers are {names}; use --map text=<column> "
                "(or --header-row N when the header is not the first row)"
            )
        key = choose_key(names, columns, explicit=explicit, no_id=bool(getattr(config, "no_id", False)), sample=sample)
        #: columns that count rows: not part of a row's content, not kept (see choose_key)
        self.row_numbers = key.row_numbers
        self.key_reason = key.reason
        self.text_candidates = [names[i] for i in plan.text_candidates]
        self.text_reason = plan.text_reason
        self.header = names
        self.keys = unique_keys(names)
        self.columns = columns
        self.label = label
        self.unit = unit
        #: what an item's origin starts with: its location without the number
        self.origin_prefix = f"{label} {unit} "
        self.width = len(names)
        self.bad_bytes_reason = (
            f"row contains bytes that are not valid {encoding}"
            if encoding
            else "row contains invalid characters (lone surrogates)"
        )
        self.rating_max = float(getattr(config, "rating_max", 5))
        self.max_text = int(getattr(config, "max_text_chars", 20_000))
        self.default_channel = ctx.channel
        self.dates = DateParser(ctx.timezone, excel_serials=excel_serials)
        self._dates_get = self.dates.cache.get
        self.field_of = {index: field for field, index in columns.items()}
        self.extra_columns = [
            (i, self.keys[i]) for i in range(self.width) if i not in self.field_of and i not in self.row_numbers
        ]
        get = columns.get
        self.i_text = columns["text"]
        self.i_date, self.i_rating, self.i_nps = get("created_at"), get("rating"), get("nps")
        self.i_channel, self.i_customer, self.i_url, self.i_id = (
            get("channel"),
            get("customer_ref"),
            get("url"),
            get("external_id"),
        )
        self.id_parts = [get(f) for f in ID_FIELDS]
        # What a row means depends on the header, the mapping and the run's defaults: a
        # new --map or --channel must update stored items, so all of it keys the hash.
        signature = SEP.join(
            [
                *names,
                "|",
                *(f"{f}={i}" for f, i in sorted(columns.items())),
                "|",
                ctx.channel,
                str(ctx.timezone),
                # another scale's ratings are stored rescaled to 0..5 (they were stored as
                # read before): the mark makes a re-import update them
                repr(self.rating_max) if self.rating_max == 5 else f"{self.rating_max!r}->5",
                # (only when there are any: the hashes of other files stay what they were)
                *(["|rows=" + ",".join(map(str, sorted(self.row_numbers)))] if self.row_numbers else []),
            ]
        )
        # content_hash = blake2b(digest of the signature + the row's cells); copying a hash
        # object that has absorbed the prefix is cheaper than a keyed hash per row
        self.hash_prefix = blake2b(
            blake2b(signature.encode("utf-8", "surrogatepass"), digest_size=32).digest(), digest_size=16
        )
        self._ratings: dict[str, float | None] = {}
        self._nps: dict[str, int | None] = {}

    def describe(self) -> dict[str, Any]:
        """How this header is read, for the run's report (see ``ReadInfo``)."""
        names = self.header
        key = self.i_id
        return {
            "columns": {field: names[i] for field, i in sorted(self.columns.items(), key=lambda fi: fi[1])},
            "key": {"column": names[key] if key is not None else None, "reason": self.key_reason},
            "row_numbers": {names[i]: run for i, run in self.row_numbers.items()},
            "text": {"column": names[self.i_text], "candidates": self.text_candidates, "reason": self.text_reason},
            "metadata": [key for _, key in self.extra_columns],
        }

    # ── per row ───────────────────────────────────────────────────────────────────────

    def location(self, number: int) -> str:
        return f"{self.label} {self.unit} {number}"

    def raw(self, cells: Sequence[Any]) -> dict[str, Any]:
        """The row as ``{column: cell}`` for quarantine (JSON-safe; missing cells ``None``)."""
        n = len(cells)
        raw: dict[str, Any] = {key: cell_text(cells[i]) if i < n else None for i, key in enumerate(self.keys)}
        if n > self.width:
            raw[EXTRA_CELLS_KEY] = [cell_text(c) for c in cells[self.width :]]
        return raw

    def map(self, cells: Sequence[Any], number: int, *, all_text: bool = False) -> Item | BadRecord:
        """One row → an item, or a bad record naming the location, the field and the reason.

        :param number: the row (or line) number shown in the location.
        :param all_text: every cell is already a ``str`` (CSV): no conversion needed.
        """
        try:
            if all_text and len(cells) == self.width:
                values = texts = cells
            else:
                values, texts = self._fit(cells, all_text)
            return Item(*self._fields(values, texts, self._bytes(texts), None, None, number))
        except RecordError as exc:
            return self._bad(cells, number, exc)

    def keyed(self, cells: Sequence[Any], number: int, all_text: bool = False) -> KeyedRow | Item | BadRecord:
        """Like :meth:`map`, but only as far as the row's id and content hash.

        The rest of the mapping is left to :meth:`KeyedRow.build`, which the pipeline
        skips for a row stored before with the same hash. Rows with something unusual (a
        ragged row, undecodable bytes, NUL bytes, an over-long id) are mapped at once, so
        their problems are reported exactly as :meth:`map` reports them.
        """
        if len(cells) != self.width:
            return self.map(cells, number, all_text=all_text)
        texts = cells if all_text else [cell_text(c) for c in cells]
        joined = SEP.join(texts) if not self.row_numbers else self._content(texts)
        try:
            data = joined.encode("utf-8")
        except UnicodeEncodeError:
            return self.map(cells, number, all_text=all_text)
        if "\x00" in joined:
            return self.map(cells, number, all_text=all_text)
        i = self.i_id
        external_id = texts[i].strip() if i is not None else ""
        if not external_id:
            external_id = self._external_id(texts)
        elif len(external_id) > MAX_EXTERNAL_ID:
            return self.map(cells, number, all_text=all_text)
        content = self.hash_prefix.copy()
        content.update(data)
        return KeyedRow((external_id, content.hexdigest(), self, cells, texts, number))

    def _bytes(self, texts: Sequence[str]) -> bytes:
        """The row's cells as UTF-8 (hashed into the content hash); ``RecordError`` for
        undecodable or NUL bytes."""
        joined = SEP.join(texts) if not self.row_numbers else self._content(texts)
        try:
            data = joined.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes arrive as lone surrogates
            raise RecordError(self.bad_bytes_reason, field=self._field_where(texts, _has_surrogates)) from None
        if "\x00" in joined:
            raise RecordError("contains NUL bytes", field=self._field_where(texts, lambda t: "\x00" in t))
        return data

    def _content(self, texts: Sequence[str]) -> str:
        """The cells that make a row's content, joined: all but the row-number columns."""
        hidden = self.row_numbers
        return SEP.join("" if i in hidden else text for i, text in enumerate(texts))

    def _bad(self, cells: Sequence[Any], number: int, exc: RecordError) -> BadRecord:
        return BadRecord(
            raw=self.raw(cells),
            reason=exc.reason,
            location=self.location(number),
            field=exc.field,
            external_id=self._own_id(cells),
        )

    def _fields(
        self,
        values: Sequence[Any],
        texts: Sequence[str],
        data: bytes | None,
        external_id: str | None,
        content_hash: str | None,
        number: int,
    ) -> tuple[Any, ...]:
        """The item's fields (in ``Item`` order) of a fitted row; raises ``RecordError``.

        ``external_id`` and ``content_hash`` come from :meth:`keyed`, or are worked out
        here from ``data`` (after every other check, so that a row with several problems
        reports the same one either way).
        """
        text = texts[self.i_text].strip()
        if not text:
            raise RecordError("text is empty", field="text")
        if len(text) > self.max_text:
            raise RecordError(f"text is {len(text):,} characters, over the limit of {self.max_text:,}", field="text")

        extra: dict[str, Any] | None = None
        for i, key in self.extra_columns:
            value = texts[i]
            if value and not value.isspace():
                if len(value) > self.max_text:
                    raise RecordError(
                        f"cell is {len(value):,} characters, over the limit of {self.max_text:,}", field=key
                    )
                if extra is None:
                    extra = {}
                extra[key] = value.strip()

        # the value caches are looked up inline: a method call per field would cost
        # more than the lookup itself on the million-row path
        created_at = rating = nps = None
        i = self.i_date
        if i is not None:
            value = values[i]
            if value.__class__ is str:
                created_at = self._dates_get(value, _MISSING)
                if created_at is _MISSING:
                    created_at = self.dates.parse_new(value)
            else:
                created_at = self.dates.parse(value)
        i = self.i_rating
        if i is not None:
            value = values[i]
            rating = self._ratings.get(value, _MISSING) if value.__class__ is str else _MISSING
            if rating is _MISSING:
                rating = self._rating(value)
        i = self.i_nps
        if i is not None:
            value = values[i]
            nps = self._nps.get(value, _MISSING) if value.__class__ is str else _MISSING
            if nps is _MISSING:
                nps = self._nps_of(value)
        channel = self.default_channel
        i = self.i_channel
        if i is not None:
            raw_channel = texts[i].strip()
            if raw_channel:
                parsed = parse_channel(raw_channel)
                if parsed is None:  # an unknown channel is kept, not an error
                    extra = {**(extra or {}), "channel_raw": raw_channel}
                else:
                    channel = parsed
        i = self.i_customer
        customer_ref = (texts[i].strip() or None) if i is not None else None
        i = self.i_url
        url = (texts[i].strip() or None) if i is not None else None

        if external_id is None:
            i = self.i_id
            external_id = texts[i].strip() if i is not None else ""
            if not external_id or len(external_id) > MAX_EXTERNAL_ID:
                external_id = self._external_id(texts)
            content = self.hash_prefix.copy()
            content.update(data)  # type: ignore[arg-type]
            content_hash = content.hexdigest()
        origin = self.origin_prefix + str(number)
        return (external_id, text, created_at, channel, rating, nps, customer_ref, url, extra, content_hash, origin)

    # ── helpers ───────────────────────────────────────────────────────────────────────

    def _fit(self, cells: Sequence[Any], all_text: bool) -> tuple[Sequence[Any], list[str]]:
        """Values and texts of exactly ``width`` cells, or ``RecordError`` for a ragged row."""
        texts = list(cells) if all_text else [cell_text(c) for c in cells]
        n, width = len(texts), self.width
        if n > width:
            filled = [i for i in range(width, n) if texts[i].strip()]
            if filled:
                raise RecordError(f"row has {filled[-1] + 1} cells, header has {width}")
            return cells[:width], texts[:width]
        if n < width:
            if n <= self.i_text:
                raise RecordError(
                    f"row has {n} cells, header has {width}; the text column {self.header[self.i_text]!r} is missing",
                    field="text",
                )
            return [*cells, *([None] * (width - n))], texts + [""] * (width - n)
        return cells, texts

    def _field_where(self, texts: Sequence[str], test: Any) -> str | None:
        for index, value in enumerate(texts):
            if test(value):
                return self.field_of.get(index) or (self.keys[index] if index < self.width else EXTRA_CELLS_KEY)
        return None

    def _rating(self, value: Any) -> float | None:
        if value.__class__ is not str:
            return parse_rating(value, self.rating_max)
        rating = self._ratings.get(value, _MISSING)
        if rating is _MISSING:
            rating = parse_rating(value, self.rating_max)
            if len(self._ratings) < _CACHE_MAX:
                self._ratings[value] = rating
        return rating  # type: ignore[return-value]

    def _nps_of(self, value: Any) -> int | None:
        if value.__class__ is not str:
            return parse_nps(value)
        nps = self._nps.get(value, _MISSING)
        if nps is _MISSING:
            nps = parse_nps(value)
            if len(self._nps) < _CACHE_MAX:
                self._nps[value] = nps
        return nps  # type: ignore[return-value]

    def _external_id(self, texts: Sequence[str]) -> str:
        i = self.i_id
        if i is not None:
            own = texts[i].strip()
            if own:
                if len(own) > MAX_EXTERNAL_ID:
                    raise RecordError(f"id is longer than {MAX_EXTERNAL_ID} characters", field="external_id")
                return own
        # no id: the content is the identity, so the same row read twice is one item
        key = SEP.join("" if i is None else texts[i] for i in self.id_parts)
        return "h:" + blake2b(key.encode("utf-8"), digest_size=16).hexdigest()

    def _own_id(self, cells: Sequence[Any]) -> str | None:
        """The id column's value for a bad record, so a fixed retry upserts in place: the
        content id of a file without one (its retry is read with another header)."""
        i = self.i_id
        if i is None:
            texts = [cell_text(c) for c in cells[: self.width]]
            texts += [""] * (self.width - len(texts))
            if any(_has_surrogates(t) or "\x00" in t for t in texts):
                return None
            return self._external_id(texts)
        if i >= len(cells):
            return None
        own = cell_text(cells[i]).strip()
        if not own or len(own) > MAX_EXTERNAL_ID or _has_surrogates(own) or "\x00" in own:
            return None
        return own


class KeyedRow(KeyedRecord):
    """A row of the exact header width, known by its id and content hash (see
    :meth:`RowMapper.keyed`): ``(external_id, content_hash, mapper, cells, texts, number)``."""

    __slots__ = ()

    @property
    def origin(self) -> str:
        return self[2].location(self[5])

    def fields(self) -> tuple[Any, ...] | BadRecord:
        external_id, content_hash, mapper, cells, texts, number = self
        try:
            return mapper._fields(cells, texts, None, external_id, content_hash, number)
        except RecordError as exc:
            return mapper._bad(cells, number, exc)

    def refused(self, reason: str) -> BadRecord:
        external_id, _, mapper, cells, _, number = self
        return BadRecord(
            raw=mapper.raw(cells),
            reason=reason,
            location=mapper.location(number),
            field="external_id",
            external_id=external_id,
        )

    def reject(self, reason: str, field: str | None) -> BadRecord:
        _, _, mapper, cells, _, number = self
        return mapper._bad(cells, number, RecordError(reason, field=field))


def map_raw_record(ctx: RunContext, raw: dict[str, Any]) -> Item:
    """``parse_record`` of the file collectors: a quarantined ``{column: cell}`` → item.

    :raises RecordError: when the record is still bad (the reason names the field).
    """
    header = [k for k in raw if k != EXTRA_CELLS_KEY]
    cells: list[Any] = [raw[k] for k in header]
    extra_cells = raw.get(EXTRA_CELLS_KEY)
    if isinstance(extra_cells, list):
        cells += extra_cells
    try:
        mapper = RowMapper(header, ctx, label="record")
    except CollectorConfigError as exc:
        raise RecordError(str(exc).removeprefix("record: "), field="text") from None
    result = mapper.map(cells, 1)
    if isinstance(result, BadRecord):
        raise RecordError(result.reason, field=result.field)
    result.origin = None  # not read from a file row now: the caller knows where it came from
    return result
