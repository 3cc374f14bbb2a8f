"""Turning one row of an export (cells under a header) into an ``Item`` or a ``BadRecord``.

Shared by the CSV, XLSX and JSONL collectors and by ``bihuan quarantine retry``. This is
the hot path of a million-row import: column positions are resolved once per file and
the per-row work is a handful of index lookups, one hash and the value parsers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

from bihuan.collectors.fields import DateParser, parse_channel, parse_nps, parse_rating, resolve_columns
from bihuan.core.collector import RunContext
from bihuan.core.errors import CollectorConfigError, RecordError
from bihuan.core.types import BadRecord, Item

#: key under which cells beyond the header are kept in a quarantined record
EXTRA_CELLS_KEY = "_extra_cells"
_SEP = "\x1f"


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def cell_text(value: Any) -> str:
    """A cell as text, the same for the same value whatever the file type."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value)


def _has_bad_bytes(text: str) -> bool:
    # undecodable bytes arrive as lone surrogates U+DC80..U+DCFF (errors="surrogateescape")
    return any("\udc80" <= ch <= "\udcff" for ch in text)


class RowMapper:
    """Maps the rows of one header; build one per file (or per JSONL key set).

    :param header: the column names as read.
    :param ctx: the run context; ``ctx.config`` is a file collector's ``Config``.
    :param file_label: how locations name the file (e.g. ``"survey.csv"``).
    :param check_bytes: look for undecodable bytes (when the encoding was not certain).
    :raises CollectorConfigError: when no column holds the text or a mapped column is
        missing: the fix is a ``--map`` option, so it is a usage error (exit code 2).
    """

    def __init__(self, header: Sequence[Any], ctx: RunContext, *, file_label: str, check_bytes: bool = False) -> None:
        self.header = [cell_text(h).strip() for h in header]
        self.ctx = ctx
        self.file_label = file_label
        self.check_bytes = check_bytes
        config = ctx.config
        try:
            self.columns = resolve_columns(self.header, getattr(config, "mapping", None))
        except KeyError as exc:
            raise CollectorConfigError(f"{file_label}: {exc.args[0]}") from None
        if "text" not in self.columns:
            raise CollectorConfigError(
                f"{file_label}: no text column; columns are {self.header}; name it with --map text=<column>"
            )
        self.rating_max = float(getattr(config, "rating_max", 5))
        self.max_text = int(getattr(config, "max_text_chars", 20_000))
        self.dates = DateParser(ctx.timezone)
        self.width = len(self.header)
        self.field_of = {index: field for field, index in self.columns.items()}
        self.extra_columns = [i for i in range(self.width) if i not in self.field_of and self.header[i]]
        # the mapping is part of what the row means: a new --map must update stored items
        signature = _SEP.join(self.header) + "|" + ",".join(f"{f}={i}" for f, i in sorted(self.columns.items()))
        self.hash_prefix = signature + "\n"
        self._id_fields = [self.columns.get(f) for f in ("text", "created_at", "customer_ref", "rating", "nps")]
        self.id_index = self.columns.get("external_id")
        get = self.columns.get
        self.i_text: int = self.columns["text"]
        self.i_created, self.i_rating, self.i_nps = get("created_at"), get("rating"), get("nps")
        self.i_channel, self.i_customer, self.i_url = get("channel"), get("customer_ref"), get("url")

    # ── per row ───────────────────────────────────────────────────────────────────────

    def raw(self, cells: Sequence[Any]) -> dict[str, Any]:
        """The row as ``{column: cell}``, for quarantine (JSON-safe)."""
        raw: dict[str, Any] = {}
        for index, name in enumerate(self.header):
            raw[name or f"column {index + 1}"] = cell_text(cells[index]) if index < len(cells) else None
        if len(cells) > self.width:
            raw[EXTRA_CELLS_KEY] = [cell_text(c) for c in cells[self.width :]]
        return raw

    def external_id(self, cells: Sequence[Any], texts: Sequence[str]) -> str:
        if self.id_index is not None and self.id_index < len(texts):
            own = texts[self.id_index].strip()
            if own:
                return own
        return "h:" + _hash(_SEP.join(texts[i] if i is not None and i < len(texts) else "" for i in self._id_fields))

    def map(self, cells: Sequence[Any], location: str, *, all_text: bool = False) -> Item | BadRecord:
        """One row → an item, or a bad record naming ``location``, the field and the reason.

        :param all_text: every cell is already a ``str`` (CSV), skip the conversion.
        """
        texts = cells if all_text else [cell_text(c) for c in cells]
        joined = _SEP.join(texts)
        try:
            if len(cells) > self.width and any(t.strip() for t in texts[self.width :]):
                raise RecordError(f"row has {len(cells)} cells, the header has {self.width}")
            if "\x00" in joined:
                index = next(i for i, t in enumerate(texts) if "\x00" in t)
                raise RecordError("contains NUL bytes", field=self._field_name(index))
            if self.check_bytes and _has_bad_bytes(joined):
                index = next(i for i, t in enumerate(texts) if _has_bad_bytes(t))
                raise RecordError("contains bytes that are not valid text in this encoding", field=self._field_name(index))
            return self._item(cells, texts, joined)
        except RecordError as exc:
            try:
                external_id = self.external_id(cells, texts) if self.id_index is not None else None
            except Exception:  # an id must never turn a bad record into a crash
                external_id = None
            return BadRecord(
                raw=self.raw(cells), reason=exc.reason, location=location, field=exc.field, external_id=external_id
            )

    def _field_name(self, index: int) -> str:
        return self.field_of.get(index) or (self.header[index] if index < self.width else f"column {index + 1}")

    def _item(self, cells: Sequence[Any], texts: Sequence[str], joined: str) -> Item:
        # The hot path: plain index lookups, the common value shapes parsed inline and
        # the general parsers only for the rest.
        if len(texts) < self.width:  # short rows: missing trailing cells are empty
            texts = [*texts, *[""] * (self.width - len(texts))]
            cells = [*cells, *[None] * (self.width - len(cells))]
        text = texts[self.i_text].strip()
        if not text:
            raise RecordError("text is empty", field="text")
        if len(text) > self.max_text:
            raise RecordError(f"text is {len(text):,} characters, over the limit of {self.max_text:,}", field="text")
        extra: dict[str, Any] | None = None
        channel = self.ctx.channel
        if self.i_channel is not None and texts[self.i_channel]:
            raw_channel = texts[self.i_channel]
            parsed = parse_channel(raw_channel)
            if parsed is None:
                extra = {"channel_raw": raw_channel}
            else:
                channel = parsed
        for index in self.extra_columns:
            value = texts[index]
            if value:
                if extra is None:
                    extra = {}
                extra[self.header[index]] = value
        rating = None
        if self.i_rating is not None:
            value = cells[self.i_rating]
            if type(value) is str and value:
                try:
                    rating = float(value)
                except ValueError:
                    rating = parse_rating(value, self.rating_max)
                else:
                    if not 0 <= rating <= self.rating_max:
                        rating = parse_rating(value, self.rating_max)  # raises with the reason
            elif value is not None and value != "":
                rating = parse_rating(value, self.rating_max)
        nps = None
        if self.i_nps is not None:
            value = cells[self.i_nps]
            if type(value) is str and value.isdigit() and len(value) <= 2 and int(value) <= 10:
                nps = int(value)
            elif value is not None and value != "":
                nps = parse_nps(value)
        created_at = self.dates.parse(cells[self.i_created]) if self.i_created is not None else None
        customer = texts[self.i_customer].strip() or None if self.i_customer is not None else None
        url = texts[self.i_url].strip() or None if self.i_url is not None else None
        return Item(
            self.external_id(cells, texts),
            text,
            created_at,
            channel,
            rating,
            nps,
            customer,
            url,
            extra,
            _hash(self.hash_prefix + joined),
        )


def map_raw_record(ctx: RunContext, raw: dict[str, Any], *, file_label: str = "record") -> Item:
    """``parse_record`` of the file collectors: a quarantined ``{column: cell}`` → item."""
    header = [k for k in raw if k != EXTRA_CELLS_KEY]
    cells = [raw[k] if raw[k] is not None else "" for k in header]
    cells += list(raw.get(EXTRA_CELLS_KEY) or [])
    try:
        mapper = RowMapper(header, ctx, file_label=file_label, check_bytes=True)
    except CollectorConfigError as exc:
        raise RecordError(str(exc), field="text") from None
    result = mapper.map(cells, file_label)
    if isinstance(result, BadRecord):
        raise RecordError(result.reason, field=result.field)
    return result
