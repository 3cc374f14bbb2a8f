"""What every file collector shares: configuration, paths, resume state and checkpoints.

State, per collector instance::

    {"files": {"/abs/path.csv": {"fingerprint": "<size>:<mtime_ns>:<blake2b of 64 KB>",
                                 "rows_done": 15000}}}

A path (or fingerprint) with personal data in it is stored pseudonymised
(``ctx.pseudonymise``), like every state.

``rows_done`` counts the records consumed after the header (CSV records, JSONL lines,
sheet rows; blank ones too). A checkpoint is emitted every ``checkpoint_every`` records
and when a file is finished. A finished file's entry is dropped, so importing the same
file again reads it again and the pipeline counts every row as a duplicate; a file that
changed since the checkpoint (another fingerprint) is read from the top, and the
pipeline's upsert on ``(source, external_id)`` sorts out what was already stored.
"""

from __future__ import annotations

import codecs
import glob
import hashlib
import os
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from bihuan.collectors.fields import FIELDS
from bihuan.collectors.rows import map_raw_record
from bihuan.core.collector import CollectorConfig, CollectorOutput, RunContext
from bihuan.core.errors import CollectorConfigError, MissingInputError, RecordError
from bihuan.core.printable import printable_name
from bihuan.core.types import BadRecord, Checkpoint, Item, KeyedRecord, ReadInfo


class FileCollectorConfig(CollectorConfig):
    """Keys every file collector takes (plugins.toml documents each one)."""

    #: files to read; relative paths resolve against the working directory; globs allowed
    paths: list[str] = Field(min_length=1)
    #: field → column header, overriding the detected columns (``--map text=意见``)
    mapping: dict[str, str] | None = None
    #: the top of the rating scale; ratings outside ``0..rating_max`` are quarantined
    rating_max: float = Field(default=5, gt=0)
    #: longer texts (and other cells) are quarantined
    max_text_chars: int = Field(default=20_000, gt=0)
    #: records between checkpoints (commit points a killed import resumes from)
    checkpoint_every: int = Field(default=5_000, gt=0)
    #: the column with each record's id (``--id-column``; the same as ``mapping.external_id``).
    #: Without it a column named like an id (编号, 工单号, id…) is the key, unless its
    #: values count the rows (1, 2, 3 …): then rows are known by their content
    id_column: str | None = None
    #: the files have no id column: rows are known by their content (``--no-id``)
    no_id: bool = False
    #: let a file's rows change items read from another file (``--update-across-files``);
    #: without it such rows are quarantined, so that ids restarting in every file never
    #: replace another day's rows
    update_across_files: bool = False

    @model_validator(mode="after")
    def _one_key(self) -> FileCollectorConfig:
        if self.no_id and (self.id_column is not None or "external_id" in (self.mapping or {})):
            raise ValueError("no_id (--no-id) and an id column (--id-column, --map external_id=…) exclude each other")
        mapped = (self.mapping or {}).get("external_id")
        if self.id_column is not None and mapped is not None and mapped != self.id_column:
            raise ValueError(f"id_column {self.id_column!r} and mapping external_id={mapped!r} disagree")
        return self

    @field_validator("mapping")
    @classmethod
    def _known_fields(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for field, column in (value or {}).items():
            if field not in FIELDS:
                raise ValueError(f"unknown field {field!r} in mapping (fields: {', '.join(FIELDS)})")
            if not str(column).strip():
                raise ValueError(f"mapping {field}: empty column name")
        return value


def _known_codec(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError(f"unknown encoding {value!r} (e.g. utf-8, gbk, gb18030, utf-16)") from None
    return value


class TextFileConfig(FileCollectorConfig):
    """Keys of collectors that read text files."""

    #: the file's encoding; detected when not given (BOM, UTF-8, GB18030, guess)
    encoding: str | None = None

    _encoding = field_validator("encoding")(_known_codec)


_NAMED_DELIMITERS = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}


#: the highest row ``header_row`` may name
MAX_HEADER_ROW = 1_000


class CsvConfig(TextFileConfig):
    """Keys of the ``csv`` collector."""

    #: the header's row number (``--header-row``); found when not given: the first row
    #: with a text column after title rows (see ``bihuan.collectors.layout``)
    header_row: int | None = Field(default=None, ge=1, le=MAX_HEADER_ROW)

    #: one character; detected among , TAB ; | when not given (``\\t`` or ``tab`` for TAB)
    delimiter: str | None = None

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = _NAMED_DELIMITERS.get(value.lower(), value)
        if len(value) != 1 or value in '"\r\n':
            raise ValueError(f"delimiter must be one character other than a quote or a newline, not {value!r}")
        return value


class JsonlConfig(TextFileConfig):
    """Keys of the ``jsonl`` collector."""


class XlsxConfig(FileCollectorConfig):
    """Keys of the ``xlsx`` collector."""

    #: the sheet to read; the first visible one when not given (a hidden one only when named)
    sheet: str | None = None
    #: the header's row number (``--header-row``); found when not given: the first row
    #: with a text column after title rows, joined with a row of sub-headers below it
    header_row: int | None = Field(default=None, ge=1, le=MAX_HEADER_ROW)


#: a block of records (see :meth:`FileCollector.read_blocks`): the records, and how many were read
Block = tuple[list[Item | KeyedRecord | BadRecord], int]


#: records per block at most (a checkpoint interval longer than that is cut): bounds memory
BLOCK_RECORDS = 5_000


def block_sizes(skip: int, every: int) -> Iterator[int]:
    """Sizes of the blocks after ``skip`` records: they end where checkpoints fall (every
    multiple of ``every``), and no block is longer than :data:`BLOCK_RECORDS`."""
    left = every - skip % every
    while True:
        while left > BLOCK_RECORDS:
            yield BLOCK_RECORDS
            left -= BLOCK_RECORDS
        yield left
        left = every


def blocks_of(outputs: Iterable[Any], sizes: Iterator[int]) -> Iterator[Block]:
    """Group per-record outputs (``None`` for a blank record) into blocks.

    If reading fails, the records read before come first as a block of their own, so
    that the pipeline keeps them, as it does from a per-record reader.
    """
    outputs = iter(outputs)
    while True:
        want = next(sizes)
        block: list[Any] = []
        consumed = 0
        try:
            for output in islice(outputs, want):
                consumed += 1
                if output is not None:
                    block.append(output)
        except Exception:
            if consumed:
                yield block, consumed
            raise
        if consumed:
            yield block, consumed
        if consumed < want:
            return


def expand_paths(patterns: list[str]) -> list[Path]:
    """Absolute paths of the configured files, in order, each once; globs may match none."""
    found: list[Path] = []
    for pattern in patterns:
        expanded = os.path.expanduser(pattern)
        if glob.has_magic(expanded):
            found.extend(Path(p).resolve() for p in sorted(glob.glob(expanded)))
        else:
            found.append(Path(expanded).resolve())
    return list(dict.fromkeys(found))


def fingerprint(path: Path) -> str:
    """Changes when the file does: size, modification time and a hash of its first 64 KB."""
    stat = path.stat()
    with path.open("rb") as f:
        head = hashlib.blake2b(f.read(65536), digest_size=16).hexdigest()
    return f"{stat.st_size}:{stat.st_mtime_ns}:{head}"


class FileCollector:
    """Paths, resume state and checkpoints; a subclass reads the records of one file."""

    name: ClassVar[str]
    channel: ClassVar[str] = "other"
    Config: ClassVar[type[FileCollectorConfig]]
    file_extensions: ClassVar[tuple[str, ...]]
    #: whether the pipeline may run :meth:`collect_keyed` in a forked helper process
    #: (``bihuan.core.helper``): true when reading needs only the files and ``ctx`` and
    #: leaves nothing on ``self`` that the caller looks at afterwards
    forkable: ClassVar[bool] = False

    def input_bytes(self, ctx: RunContext) -> int:
        """The size of the files to read; big inputs are prepared in a helper process."""
        total = 0
        for path in expand_paths(ctx.config.paths):
            try:
                total += path.stat().st_size
            except OSError:
                pass
        return total

    def check(self, ctx: RunContext) -> None:
        """Every configured file exists and is a readable regular file; the mapping is valid."""
        for field in getattr(ctx.config, "mapping", None) or {}:
            if field not in FIELDS:
                raise CollectorConfigError(f"--map {field}=…: unknown field {field!r} (fields: {', '.join(FIELDS)})")
        paths = expand_paths(ctx.config.paths)
        for path in paths:
            if not path.exists():
                raise MissingInputError(f"{path}: no such file", path=str(path))
            if not path.is_file():
                raise MissingInputError(f"{path}: not a regular file", path=str(path))
            if not os.access(path, os.R_OK):
                raise MissingInputError(f"{path}: not readable (permissions)", path=str(path))
        if not paths:
            ctx.log.warning("no file matches %s", ", ".join(ctx.config.paths))

    def collect(self, ctx: RunContext, state: dict[str, Any] | None) -> Iterator[CollectorOutput]:
        """Read every file, resuming each where the last checkpoint left it."""
        return self._outputs(ctx, state, blocks=False)

    def collect_keyed(self, ctx: RunContext, state: dict[str, Any] | None) -> Iterator[Any]:
        """:meth:`collect` for the pipeline: the records come as lists (see
        :meth:`read_blocks`), rows possibly as ``KeyedRecord``; the checkpoints are the same."""
        return self._outputs(ctx, state, blocks=True)

    def _outputs(self, ctx: RunContext, state: dict[str, Any] | None, *, blocks: bool) -> Iterator[Any]:
        pending: dict[str, dict[str, Any]] = {
            str(k): dict(v) for k, v in ((state or {}).get("files") or {}).items() if isinstance(v, dict)
        }
        every = ctx.config.checkpoint_every
        for path in expand_paths(ctx.config.paths):
            # stored in the state: text, whatever the name's bytes, and with personal data
            # pseudonymised as the pipeline stores every state (a file named after a
            # customer's phone): looked up the same way
            key = ctx.pseudonymise(printable_name(path))
            stamp = ctx.pseudonymise(fingerprint(path))
            entry = pending.get(key)
            skip = 0
            if entry is not None:
                if entry.get("fingerprint") == stamp:
                    skip = max(0, int(entry.get("rows_done") or 0))
                    ctx.log.info("%s: resuming after %d records", printable_name(path.name), skip)
                else:
                    ctx.log.info(
                        "%s changed since the last checkpoint; reading it from the top", printable_name(path.name)
                    )
            done = skip
            notes = self._read_notes = []
            if blocks:
                for records, consumed in self.read_blocks(path, ctx, skip, block_sizes(skip, every)):
                    if notes:
                        yield from notes
                        notes.clear()
                    done += consumed
                    if records:
                        yield records
                    if consumed and done % every == 0:
                        pending[key] = {"fingerprint": stamp, "rows_done": done}
                        yield Checkpoint({"files": {k: dict(v) for k, v in pending.items()}})
            else:
                for output in self.read(path, ctx, skip):
                    if notes:
                        yield from notes
                        notes.clear()
                    done += 1
                    if output is not None:
                        yield output
                    if done % every == 0:
                        pending[key] = {"fingerprint": stamp, "rows_done": done}
                        yield Checkpoint({"files": {k: dict(v) for k, v in pending.items()}})
            if notes:  # a file without records
                yield from notes
            pending.pop(key, None)
            yield Checkpoint({"files": {k: dict(v) for k, v in pending.items()}})

    def read(self, path: Path, ctx: RunContext, skip: int) -> Iterator[Item | BadRecord | None]:
        """One output per record after the first ``skip`` (``None`` for a blank record).

        Skipped records must be passed over without mapping them (resuming is cheap).
        How the file is read (its header, columns, key) goes to :meth:`note`.
        """
        raise NotImplementedError

    def note(self, info: ReadInfo) -> None:
        """Tell the run how the file being read is read: the report shows it (``--json``,
        ``--dry-run``). Yielded before the file's next records."""
        notes = getattr(self, "_read_notes", None)
        if notes is None:
            notes = self._read_notes = []
        notes.append(info)

    def read_blocks(self, path: Path, ctx: RunContext, skip: int, sizes: Iterator[int]) -> Iterator[Block]:
        """The records after the first ``skip`` in blocks of ``next(sizes)`` records read
        each (the last block of a file may be shorter).

        Each block is ``(records, consumed)``: the records without the blank ones, and
        how many records were read. Rows may be ``KeyedRecord``. This default groups
        :meth:`read`; collectors override it to read without one generator step per row.
        """
        return blocks_of(self.read(path, ctx, skip), sizes)

    def parse_record(self, ctx: RunContext, raw: Any) -> Item:
        """Re-parse a quarantined record (after the user's fixes) with the same mapping.

        :raises RecordError: when it is still bad.
        """
        if not isinstance(raw, dict):
            raise RecordError("the record is not a row with named columns; fix the file and import it again")
        return map_raw_record(ctx, raw)
