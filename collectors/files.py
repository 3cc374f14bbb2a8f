"""The file collectors: ``csv``, ``xlsx`` and ``jsonl`` exports, as scripts import them.

Each file is read as a stream (a million-row CSV never sits in memory), every record
becomes an ``Item`` or a ``BadRecord`` (see :mod:`bihuan.collectors.rows`), and a
``Checkpoint`` every ``checkpoint_every`` records lets a killed import resume where it
was. State, per collector instance::

    {"files": {"/abs/path.csv": {"fingerprint": "<size>:<mtime_ns>:<hash of 64 KB>",
                                 "rows_done": 15000}}}

A file's entry is dropped when the file is finished, so importing the same file again
reads it again and the pipeline counts every row as a duplicate; a file that changed
since the checkpoint (other fingerprint) is read from the top.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import os
import sys
import zipfile
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from bihuan.collectors.encoding import detect_encoding
from bihuan.collectors.fields import FIELDS
from bihuan.collectors.rows import RowMapper, cell_text, map_raw_record
from bihuan.core.collector import CollectorConfig, CollectorOutput, RunContext
from bihuan.core.errors import CollectorConfigError, InputError, MissingInputError
from bihuan.core.types import BadRecord, Checkpoint, Item

# A field larger than this is read whole (and then refused as too long), instead of
# making the csv module stop the file with "field larger than field limit".
csv.field_size_limit(min(sys.maxsize, 1 << 30))

_DELIMITERS = (",", "\t", ";", "|")


class FileCollectorConfig(CollectorConfig):
    """Keys every file collector takes (see plugins.toml for the documentation)."""

    paths: list[str] = Field(min_length=1)
    mapping: dict[str, str] | None = None
    rating_max: float = Field(default=5, gt=0)
    max_text_chars: int = Field(default=20_000, gt=0)
    checkpoint_every: int = Field(default=5_000, gt=0)

    @field_validator("mapping")
    @classmethod
    def _known_fields(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for field in value or {}:
            if field not in FIELDS:
                raise ValueError(f"unknown field {field!r} in mapping (fields: {', '.join(FIELDS)})")
        return value


class CsvConfig(FileCollectorConfig):
    encoding: str | None = None
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)


class JsonlConfig(FileCollectorConfig):
    encoding: str | None = None


class XlsxConfig(FileCollectorConfig):
    sheet: str | None = None


def expand_paths(patterns: list[str]) -> list[Path]:
    """Absolute paths of the configured files; globs match zero or more files."""
    found: list[Path] = []
    for pattern in patterns:
        expanded = os.path.expanduser(pattern)
        if glob.has_magic(expanded):
            found.extend(Path(p).resolve() for p in sorted(glob.glob(expanded)))
        else:
            found.append(Path(expanded).resolve())
    return list(dict.fromkeys(found))


def fingerprint(path: Path) -> str:
    """Changes when the file does: size, modification time and its first 64 KB."""
    stat = path.stat()
    with path.open("rb") as f:
        head = hashlib.blake2b(f.read(65536), digest_size=8).hexdigest()
    return f"{stat.st_size}:{stat.st_mtime_ns}:{head}"


class _FileCollector:
    """Paths, resume state and checkpoints; subclasses read one file's records."""

    name: ClassVar[str]
    channel: ClassVar[str] = "other"
    Config: ClassVar[type[FileCollectorConfig]]
    file_extensions: ClassVar[tuple[str, ...]]

    def check(self, ctx: RunContext) -> None:
        for path in expand_paths(ctx.config.paths):
            if not path.exists():
                raise MissingInputError(f"{path}: no such file", path=str(path))
            if not path.is_file():
                raise MissingInputError(f"{path}: not a file", path=str(path))
            if not os.access(path, os.R_OK):
                raise MissingInputError(f"{path}: not readable (permissions)", path=str(path))

    def collect(self, ctx: RunContext, state: dict[str, Any] | None) -> Iterator[CollectorOutput]:
        pending: dict[str, dict[str, Any]] = dict((state or {}).get("files") or {})
        every = ctx.config.checkpoint_every
        for path in expand_paths(ctx.config.paths):
            key = str(path)
            stamp = fingerprint(path)
            entry = pending.get(key)
            skip = int(entry["rows_done"]) if entry and entry.get("fingerprint") == stamp else 0
            if entry and not skip:
                ctx.log.info("%s changed since the last checkpoint; reading it from the top", path.name)
            done = skip
            for output in self.read(path, ctx, skip):
                done += 1
                if output is not None:
                    yield output
                if done % every == 0:
                    pending[key] = {"fingerprint": stamp, "rows_done": done}
                    yield Checkpoint({"files": {k: dict(v) for k, v in pending.items()}})
            pending.pop(key, None)
            yield Checkpoint({"files": {k: dict(v) for k, v in pending.items()}})

    def read(self, path: Path, ctx: RunContext, skip: int) -> Iterator[Item | BadRecord | None]:
        """One output per record after the first ``skip`` (``None`` for blank records)."""
        raise NotImplementedError

    def parse_record(self, ctx: RunContext, raw: Any) -> Item:
        """Re-parse a quarantined record (after the user's fixes)."""
        if not isinstance(raw, dict):
            from bihuan.core.errors import RecordError

            raise RecordError("the record is not an object with named fields; fix the file and import it again")
        return map_raw_record(ctx, raw)


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


class CsvCollector(_FileCollector):
    """CSV/TSV exports: encoding and delimiter detected, quoted newlines, ragged rows."""

    name: ClassVar[str] = "csv"
    Config: ClassVar[type[FileCollectorConfig]] = CsvConfig
    file_extensions: ClassVar[tuple[str, ...]] = (".csv", ".tsv", ".txt")

    def read(self, path: Path, ctx: RunContext, skip: int) -> Iterator[Item | BadRecord | None]:
        config = ctx.config
        detected = detect_encoding(path, config.encoding)
        ctx.log.info("%s: reading as %s", path.name, detected.name)
        with path.open(encoding=detected.name, errors="surrogateescape", newline="") as f:
            first_line = f.readline()
            if not first_line.strip():
                raise InputError(f"{path.name}: empty file or empty first line (expected a header)", path=str(path))
            delimiter = config.delimiter or ("\t" if path.suffix.lower() == ".tsv" else _sniff_delimiter(first_line))
            f.seek(0)
            reader = csv.reader(f, delimiter=delimiter)
            header = next(reader)
            mapper = RowMapper(header, ctx, file_label=path.name, check_bytes=not detected.certain)
            label = path.name
            index = skip
            if skip:
                for _ in islice(reader, skip):
                    pass
            while True:
                index += 1
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield BadRecord(raw={"error": str(exc)}, reason=f"unreadable CSV: {exc}", location=f"{label} row {index + 1}")
                    continue
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    yield None
                    continue
                yield mapper.map(cells, f"{label} row {index + 1}", all_text=True)


class JsonlCollector(_FileCollector):
    """One JSON object per line (or a ``.json`` file holding one array of objects)."""

    name: ClassVar[str] = "jsonl"
    Config: ClassVar[type[FileCollectorConfig]] = JsonlConfig
    file_extensions: ClassVar[tuple[str, ...]] = (".jsonl", ".ndjson", ".json")

    def read(self, path: Path, ctx: RunContext, skip: int) -> Iterator[Item | BadRecord | None]:
        detected = detect_encoding(path, ctx.config.encoding)
        mappers: dict[tuple[str, ...], RowMapper | str] = {}
        with path.open(encoding=detected.name, errors="surrogateescape") as f:
            first = f.read(1).lstrip("\ufeff")
            while first and first.isspace():
                first = f.read(1)
            f.seek(0)
            if first == "[":
                records: Iterator[tuple[str, Any]] = self._array(f, path)
            else:
                records = ((f"{path.name} line {n}", line) for n, line in enumerate(f, start=1))
            for location, record in islice(records, skip, None):
                yield self._one(record, location, mappers, ctx, path, not detected.certain)

    @staticmethod
    def _array(f: Any, path: Path) -> Iterator[tuple[str, Any]]:
        try:
            data = json.load(f)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path.name}: not valid JSON: {exc}", path=str(path)) from None
        for n, obj in enumerate(data, start=1):
            yield f"{path.name} item {n}", obj

    @staticmethod
    def _one(
        record: Any, location: str, mappers: dict[tuple[str, ...], RowMapper | str], ctx: RunContext, path: Path, check: bool
    ) -> Item | BadRecord | None:
        if isinstance(record, str):
            line = record.strip()
            if not line:
                return None
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                return BadRecord(raw=line, reason=f"invalid JSON: {exc.msg} at column {exc.colno}", location=location)
        if not isinstance(record, dict):
            return BadRecord(raw=record, reason=f"expected a JSON object, got {type(record).__name__}", location=location)
        keys = tuple(record)
        mapper = mappers.get(keys)
        if mapper is None:
            try:
                mapper = RowMapper(keys, ctx, file_label=path.name, check_bytes=check)
            except CollectorConfigError as exc:
                mapper = str(exc)
            mappers[keys] = mapper
        if isinstance(mapper, str):  # this key set has no text field
            return BadRecord(raw=record, reason=mapper.split(": ", 1)[-1], location=location, field="text")
        result = mapper.map([record[k] for k in keys], location)
        if isinstance(result, BadRecord):
            result.raw = record
        return result


class XlsxCollector(_FileCollector):
    """Excel workbooks, streamed row by row (openpyxl read-only mode)."""

    name: ClassVar[str] = "xlsx"
    Config: ClassVar[type[FileCollectorConfig]] = XlsxConfig
    file_extensions: ClassVar[tuple[str, ...]] = (".xlsx", ".xlsm")

    def read(self, path: Path, ctx: RunContext, skip: int) -> Iterator[Item | BadRecord | None]:
        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException

        try:
            workbook = load_workbook(path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as exc:
            raise InputError(f"{path.name}: not an Excel workbook ({type(exc).__name__}: {exc})", path=str(path)) from None
        try:
            sheet_name = ctx.config.sheet
            if sheet_name is None:
                sheet = workbook.worksheets[0]
            elif sheet_name in workbook.sheetnames:
                sheet = workbook[sheet_name]
            else:
                raise CollectorConfigError(f"{path.name}: no sheet {sheet_name!r}; sheets are {workbook.sheetnames}")
            label = f"{path.name} sheet {sheet.title}"
            rows = sheet.iter_rows(values_only=True)
            number = 0
            header: tuple[Any, ...] | None = None
            for number, row in enumerate(rows, start=1):  # noqa: B007 - number is used after the loop
                if any(cell not in (None, "") for cell in row):
                    header = row
                    break
            if header is None:
                raise InputError(f"{label}: the sheet is empty (expected a header row)", path=str(path))
            width = max(i + 1 for i, c in enumerate(header) if c not in (None, ""))
            mapper = RowMapper(header[:width], ctx, file_label=label)
            for offset, row in enumerate(islice(rows, skip, None), start=number + skip + 1):
                if not any(cell not in (None, "") for cell in row):
                    yield None
                    continue
                yield mapper.map(row, f"{label} row {offset}")
        finally:
            workbook.close()


__all__ = ["CsvCollector", "FileCollectorConfig", "JsonlCollector", "XlsxCollector", "cell_text"]
