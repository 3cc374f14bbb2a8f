"""The file collectors: ``csv``, ``xlsx`` and ``jsonl`` exports, as scripts import them.

Each file is read as a stream (a million-row CSV never sits in memory; a ``.json``
array is the one exception), every record becomes an ``Item`` or a ``BadRecord`` (see
:mod:`bihuan.collectors.rows`), and a ``Checkpoint`` every ``checkpoint_every`` records
lets a killed import resume where it was (see :mod:`bihuan.collectors.base`).

Locations name what a user sees: ``survey.csv row 17`` counts CSV records with the
header as row 1 (like Excel's row numbers; a quoted newline does not add a row),
``tickets.xlsx sheet 工单 row 17`` is the sheet's row, ``social.jsonl line 17`` the line.
"""

from __future__ import annotations

import csv
import json
import sys
import zipfile
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar

from bihuan.collectors.base import (
    Block,
    CsvConfig,
    FileCollector,
    FileCollectorConfig,
    JsonlConfig,
    XlsxConfig,
    blocks_of,
    expand_paths,
    fingerprint,
)
from bihuan.collectors.csv_reader import BrokenRow, CsvRecords, RunawayQuote
from bihuan.collectors.encoding import DetectedEncoding, detect_encoding
from bihuan.collectors.json_text import (
    Duplicated,
    JsonDecoder,
    LongLine,
    bounded_lines,
    max_line_chars,
    surrogate_reason,
)
from bihuan.collectors.layout import HEADER_SEARCH, SAMPLE_ROWS, Header, find_header
from bihuan.collectors.rows import RowMapper, cell_text, map_raw_record
from bihuan.core.collector import RunContext
from bihuan.core.errors import CollectorConfigError, InputError, RecordError
from bihuan.core.printable import printable_name
from bihuan.core.types import BadRecord, Item, ReadInfo

# A huge field is read whole and then quarantined as too long, instead of making the
# csv module stop the whole file with "field larger than field limit".
csv.field_size_limit(min(sys.maxsize, 1 << 30))

_DELIMITERS = (",", "\t", ";", "|")
_MAX_KEY_SETS = 256
_DESCRIBED_KEY_SETS = 3


def _log_encoding(ctx: RunContext, path: Path, detected: DetectedEncoding) -> None:
    name = printable_name(path)
    if detected.how == "guess":
        ctx.log.warning("%s: encoding guessed as %s; pass --encoding if the text looks garbled", name, detected.name)
    elif detected.how == "mostly":
        ctx.log.warning("%s: read as %s; rows with bytes that do not decode are quarantined", name, detected.name)
    else:
        ctx.log.info("%s: reading as %s", name, detected)


def _first_records(records: Iterator[Any], header_row: int | None) -> list[tuple[int, Any]]:
    """``(number, cells)`` of the first records: enough non-blank ones to find the header
    and then :data:`~bihuan.collectors.layout.SAMPLE_ROWS` of data (fewer at the end of
    the input, or before a record the CSV reader cannot read)."""
    wanted = (header_row or HEADER_SEARCH) + 2 + SAMPLE_ROWS
    found: list[tuple[int, Any]] = []
    filled = 0
    number = 0
    while filled < wanted:
        try:
            cells = next(records)
        except (StopIteration, csv.Error):
            break
        number += 1
        found.append((number, cells))
        filled += any(_filled(c) for c in cells)
    return found


def _sample_cells(records: CsvRecords) -> Iterator[Any]:
    """The CSV records for finding the header: a record the reader cannot take (a broken
    quote, a bad line) counts as a record with no cells."""
    for cells in records.records():
        yield cells if cells.__class__ is list else []


def data_sample(records: list[tuple[int, Any]], header_row: int) -> list[Any]:
    """The non-blank records after the header, as far as ``records`` go."""
    return [cells for number, cells in records if number > header_row and any(_filled(c) for c in cells)][:SAMPLE_ROWS]


def header_mapping(config: Any) -> dict[str, str]:
    """The columns the user named (``--map``, ``--id-column``): a header row has them."""
    mapping = dict(getattr(config, "mapping", None) or {})
    if getattr(config, "id_column", None) is not None:
        mapping["external_id"] = config.id_column
    return mapping


def read_info(mapper: RowMapper, header: Header | None = None) -> ReadInfo:
    """The run report's account of how ``mapper``'s input is read."""
    details: dict[str, Any] = {"file": mapper.label}
    if header is not None:
        details["header_row"] = header.row
        details["header"] = header.how
        if len(header.rows) > 1:
            details["header_rows"] = list(header.rows)
        if header.skipped:
            details["skipped_rows"] = [{"row": number, "text": text[:80]} for number, text in header.skipped]
    details.update(mapper.describe())
    return ReadInfo(where=mapper.label, details=details)


def sniff_delimiter(line: str) -> str:
    """The candidate delimiter that occurs most often outside quotes in ``line`` (``,`` if none)."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_DELIMITERS, key=lambda d: counts[d])  # ties go to the earlier candidate
    return best if counts[best] else ","


class CsvCollector(FileCollector):
    """CSV/TSV exports: encoding and delimiter detected, quoted newlines, ragged rows."""

    name: ClassVar[str] = "csv"
    Config: ClassVar[type[FileCollectorConfig]] = CsvConfig
    file_extensions: ClassVar[tuple[str, ...]] = (".csv", ".tsv", ".txt")
    forkable: ClassVar[bool] = True

    def read(self, path: Path, ctx: RunContext, skip: int) -> Iterator[Item | BadRecord | None]:
        return self._read(path, ctx, skip, None)

    def read_blocks(self, path: Path, ctx: RunContext, skip: int, sizes: Iterator[int]) -> Iterator[Block]:
        return self._read(path, ctx, skip, sizes)

    def _read(self, path: Path, ctx: RunContext, skip: int, sizes: Iterator[int] | None) -> Iterator[Any]:
        """Records one by one, or keyed in blocks of ``next(sizes)`` records."""
        config = ctx.config
        detected = detect_encoding(path, config.encoding, what="CSV")
        _log_encoding(ctx, path, detected)
        with path.open(encoding=detected.name, errors="surrogateescape", newline="") as f:
            lines = [line for line in islice(f, 1000) if line.strip()]
            if not lines:
                raise InputError(f"{path}: empty file (expected a header row)", path=str(path))
            # the first line with a separator: a title line above the header may have none
            first = next((line for line in lines[:HEADER_SEARCH] if any(d in line for d in _DELIMITERS)), lines[0])
            delimiter = config.delimiter or ("\t" if path.suffix.lower() == ".tsv" else sniff_delimiter(first))
            # the first records tell where the header is and which column numbers rows;
            # then the file is read again from the top (the same rows on every resume)
            f.seek(0)
            sample = _first_records(_sample_cells(CsvRecords(f, delimiter=delimiter)), config.header_row)
            header = find_header(sample, header_row=config.header_row, mapping=header_mapping(config), where=str(path))
            if header is None:
                raise InputError(f"{path}: empty file (expected a header row)", path=str(path))
            mapper = RowMapper(
                header.names,
                ctx,
                # locations and origins name the file as stored: personal data in the
                # name pseudonymised (origins are compared with stored ones)
                label=ctx.pseudonymise(printable_name(path.name)),
                encoding=detected.name,
                where=str(path),
                sample=data_sample(sample, header.row),
            )
            self.note(read_info(mapper, header))
            f.seek(0)
            records = CsvRecords(f, delimiter=delimiter)
            number = header.row  # the record number: rows count from the top of the file
            if sum(1 for _ in islice(records.records(), header.row)) < header.row:
                return
            records.width = mapper.width
            if skip and sum(1 for _ in islice(records.records(), skip)) < skip:
                return
            number += skip
            if sizes is None:
                yield from self._rows(records, mapper, number)
            else:
                yield from self._blocks(records, mapper, number, sizes)

    @staticmethod
    def _rows(records: CsvRecords, mapper: RowMapper, number: int) -> Iterator[Item | BadRecord | None]:
        map_row = mapper.map
        text_at = mapper.i_text
        for cells in records.records():
            number += 1
            if cells.__class__ is not list:
                yield _not_a_row(cells, mapper, number)
                continue
            # only a row without text can be blank (or only separators): test that first
            text = cells[text_at] if len(cells) > text_at else ""
            if (not text or text.isspace()) and not "".join(cells).strip():
                yield None
                continue
            yield map_row(cells, number, all_text=True)

    @staticmethod
    def _blocks(records: CsvRecords, mapper: RowMapper, number: int, sizes: Iterator[int]) -> Iterator[Block]:
        """:meth:`_rows` in blocks, keyed: one loop over the reader per block, no
        generator step per row (a tenth of what reading a row costs). The line check of
        :class:`CsvRecords` is inlined: one attribute read and one store per row."""
        key = mapper.keyed
        text_at = mapper.i_text
        while True:
            want = next(sizes)
            start = number
            block: list[Any] = []
            ended = False
            try:
                while number - start < want:
                    reader = records.reader
                    done = records.done
                    try:
                        for cells in islice(reader, want - (number - start)):
                            number += 1
                            line_num = reader.line_num
                            if line_num - done != 1:  # a record over several lines
                                broken = records.judge(line_num)
                                if broken is not None:  # reading goes on with a new reader
                                    block.append(_not_a_row(broken, mapper, number))
                                    break
                            records.done = done = line_num
                            text = cells[text_at] if len(cells) > text_at else ""
                            if (not text or text.isspace()) and not "".join(cells).strip():
                                continue
                            block.append(key(cells, number, True))
                        else:
                            ended = number - start < want
                            break
                    except RunawayQuote as exc:
                        number += 1
                        block.append(_not_a_row(records.runaway(exc), mapper, number))
                    except csv.Error as exc:  # the reader goes on with the next record
                        number += 1
                        records.done = reader.line_num
                        block.append(_not_a_row(exc, mapper, number))
            except Exception:
                if number > start:
                    yield block, number - start  # what was read before the failure
                raise
            if number > start:
                yield block, number - start
            if ended:
                return


def _not_a_row(problem: BrokenRow | csv.Error, mapper: RowMapper, number: int) -> BadRecord:
    """The bad record for a line with a stray quote, or for a record ``csv`` cannot read."""
    if isinstance(problem, csv.Error):
        return BadRecord(
            raw={"error": str(problem)}, reason=f"unreadable CSV record: {problem}", location=mapper.location(number)
        )
    cells = problem.cells
    at = len(cells) - 1  # the open quote's cell runs to the end of the line
    column = mapper.header[at] if 0 <= at < mapper.width else f"column {at + 1}"
    field = mapper.field_of.get(at) or (mapper.keys[at] if 0 <= at < mapper.width else None)
    return mapper._bad(cells, number, RecordError(problem.reason(column), field=field))


class XlsxCollector(FileCollector):
    """Excel workbooks, streamed row by row (openpyxl read-only mode)."""

    name: ClassVar[str] = "xlsx"
    Config: ClassVar[type[FileCollectorConfig]] = XlsxConfig
    file_extensions: ClassVar[tuple[str, ...]] = (".xlsx", ".xlsm")
    forkable: ClassVar[bool] = True

    def read(self, path: Path, ctx: RunContext, skip: int) -> Iterator[Item | BadRecord | None]:
        return self._read(path, ctx, skip, keyed=False)

    def read_blocks(self, path: Path, ctx: RunContext, skip: int, sizes: Iterator[int]) -> Iterator[Block]:
        return blocks_of(self._read(path, ctx, skip, keyed=True), sizes)

    def _read(self, path: Path, ctx: RunContext, skip: int, *, keyed: bool) -> Iterator[Any]:
        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException

        from bihuan.collectors.xlsx_reader import RowValues, SheetRows, check_archive  # imports openpyxl

        shown = printable_name(path)
        check_archive(path, shown)  # a zip bomb is refused before openpyxl unpacks anything
        try:
            workbook = load_workbook(path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, EOFError) as exc:
            raise InputError(f"{shown}: not an Excel .xlsx workbook ({exc})", path=str(path)) from None
        try:
            sheet = _sheet(workbook, ctx, shown)
            # Some tools write a wrong dimension (e.g. "A1"); without it openpyxl reads
            # every cell that is there instead of cutting rows at the declared width.
            sheet.reset_dimensions()
            label = ctx.pseudonymise(f"{printable_name(path.name)} sheet {sheet.title}")
            where = f"{shown} sheet {sheet.title}"
            config = ctx.config
            # the first rows tell where the header is and which column numbers rows; then
            # the sheet is read again from the top (the same rows on every resume)
            sample = _first_records(iter(SheetRows(workbook, sheet, path, shown)), config.header_row)
            header = find_header(sample, header_row=config.header_row, mapping=header_mapping(config), where=where)
            if header is None:
                raise InputError(f"{shown}: sheet {sheet.title!r} is empty (expected a header row)", path=str(path))
            names = header.names
            width = max((i + 1 for i, name in enumerate(names) if name), default=1)
            # a number cell in the date column is an Excel serial day number
            mapper = RowMapper(
                names[:width],
                ctx,
                label=label,
                where=where,
                sample=data_sample(sample, header.row),
                excel_serials=True,
            )
            self.note(read_info(mapper, header))
            values = RowValues(mapper.field_of, mapper.i_date, workbook.epoch)
            rows = SheetRows(workbook, sheet, path, shown)
            row_iter = iter(rows)
            number = header.row
            for _ in islice(row_iter, header.row):
                pass
            number += sum(1 for _ in islice(row_iter, skip))
            map_row = mapper.keyed if keyed else mapper.map
            for row in row_iter:
                number += 1
                if not any(_filled(c) for c in row):
                    yield None
                    continue
                try:
                    cells = values(row)
                except RecordError as exc:
                    yield mapper._bad(row, number, exc)
                    continue
                yield map_row(cells, number)
            if rows.formulas:
                ctx.log.warning(
                    "%s sheet %s: %d formula cells have no value saved with them (the file was not saved by Excel?): "
                    "their formula text was read, e.g. %s",
                    shown,
                    sheet.title,
                    len(rows.formulas),
                    ", ".join(rows.formulas[:5]),
                )
        finally:
            workbook.close()


def _sheet(workbook: Any, ctx: RunContext, shown: str) -> Any:
    """The sheet to read: the one named, or the first *visible* one (a workbook's first
    sheet is often a hidden lookup table); the log names the sheets left unread."""
    wanted = ctx.config.sheet
    names = workbook.sheetnames
    if wanted is not None:
        if wanted not in names:
            raise CollectorConfigError(f"{shown}: no sheet {wanted!r}; sheets are {names}")
        sheet = workbook[wanted]
        if sheet not in workbook.worksheets:
            raise CollectorConfigError(f"{shown}: sheet {wanted!r} is a chart, not a worksheet")
        if sheet.sheet_state != "visible":
            ctx.log.info("%s: reading sheet %s, which is %s in Excel", shown, wanted, sheet.sheet_state)
        return sheet
    sheets = workbook.worksheets
    if not sheets:
        raise InputError(f"{shown}: the workbook has no worksheet")
    visible = [s for s in sheets if s.sheet_state == "visible"]
    sheet = (visible or sheets)[0]
    hidden = [s.title for s in sheets if s.sheet_state != "visible"]
    others = [s.title for s in visible if s is not sheet]
    if hidden or others:
        ctx.log.info(
            "%s: reading sheet %s%s%s; --sheet NAME reads another",
            shown,
            sheet.title,
            f"; hidden sheets left unread: {', '.join(hidden)}" if hidden else "",
            f"; other sheets left unread: {', '.join(others)}" if others else "",
        )
    return sheet


def _filled(cell: Any) -> bool:
    return cell is not None and not (isinstance(cell, str) and not cell.strip())


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(JsonDecoder().line(line), dict)
    except RecordError as exc:
        # one bad object on the first line is still JSON Lines; a part of a document is not
        return not exc.reason.startswith("invalid JSON: Expecting") and not exc.reason.startswith(
            "invalid JSON: Unterminated"
        )


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    return "a number"


class JsonlCollector(FileCollector):
    """One JSON object per line (or a ``.json`` file holding one array of objects).

    Keys are mapped like CSV headers (nested objects are kept as JSON text). The first
    object decides: without a key that maps to the text the file is a configuration
    problem (``--map text=<key>``); later objects without one are quarantined.
    """

    name: ClassVar[str] = "jsonl"
    Config: ClassVar[type[FileCollectorConfig]] = JsonlConfig
    file_extensions: ClassVar[tuple[str, ...]] = (".jsonl", ".ndjson", ".json")
    forkable: ClassVar[bool] = True

    def read(self, path: Path, ctx: RunContext, skip: int) -> Iterator[Item | BadRecord | None]:
        detected = detect_encoding(path, ctx.config.encoding, what="JSON")
        _log_encoding(ctx, path, detected)
        reader = _JsonRecords(path, ctx, detected.name, self.note)
        limit = max_line_chars(ctx.config)
        with path.open(encoding=detected.name, errors="surrogateescape") as f:
            first = next(
                (line for line in bounded_lines(f, limit) if not isinstance(line, LongLine) and line.strip()), ""
            )
            first = first.lstrip("\ufeff \t")
            f.seek(0)
            records: Iterator[tuple[int, Any]]
            if first.startswith("[") or (
                first.startswith("{") and path.suffix.lower() == ".json" and not _is_json_object(first)
            ):
                # a JSON array, or one pretty-printed object: the one case read whole
                data = self._load_whole(f, path, reader.decoder)
                if data is None:  # a .json file that is really JSON Lines
                    f.seek(0)
                    records = enumerate(bounded_lines(f, limit), start=1)
                else:
                    reader.unit = "item"
                    records = enumerate(data if isinstance(data, list) else [data], start=1)
            else:
                records = enumerate(bounded_lines(f, limit), start=1)
            for number, record in islice(records, skip, None):
                if isinstance(record, LongLine):
                    yield BadRecord(raw=record.start, reason=record.reason(limit), location=reader.location(number))
                else:
                    yield reader.one(record, number)

    @staticmethod
    def _load_whole(f: Any, path: Path, decoder: JsonDecoder) -> Any:
        try:
            return decoder.document(f.read())
        except json.JSONDecodeError as exc:
            if exc.msg == "Extra data":
                return None
            raise InputError(f"{path}: not valid JSON: {exc}", path=str(path)) from None
        except ValueError as exc:
            raise InputError(f"{path}: not valid JSON: {exc}", path=str(path)) from None

    def parse_record(self, ctx: RunContext, raw: Any) -> Item:
        """Re-parse a quarantined object, or a quarantined line that was not valid JSON."""
        if isinstance(raw, str):
            raw = JsonDecoder().line(raw.strip())  # RecordError says what is wrong
        if not isinstance(raw, dict):
            raise RecordError(f"expected a JSON object, got {_json_kind(raw)}")
        return map_raw_record(ctx, raw)


class _JsonRecords:
    """Maps JSON records; one ``RowMapper`` per distinct key set."""

    def __init__(self, path: Path, ctx: RunContext, encoding: str, note: Callable[[ReadInfo], None]) -> None:
        self.path = path
        self.note = note
        self.ctx = ctx
        self.encoding = encoding
        self.unit = "line"
        self.label = ctx.pseudonymise(printable_name(path.name))
        self.decoder = JsonDecoder()
        self.mappers: dict[tuple[str, ...], RowMapper | str] = {}
        self.decided = False  # whether an object has shown that the file has a text key
        self.described = 0  # key sets whose reading was noted for the report

    def location(self, number: int) -> str:
        return f"{self.label} {self.unit} {number}"

    def one(self, record: Any, number: int) -> Item | BadRecord | None:
        line: str | None = None
        if isinstance(record, str):  # a line
            line = record.strip()
            if not line:
                return None
            try:
                record = self.decoder.line(line)
            except RecordError as exc:
                return BadRecord(
                    raw=record.rstrip("\r\n"), reason=exc.reason, location=self.location(number), field=exc.field
                )
        elif record.__class__ is Duplicated:  # an item of a .json document
            return BadRecord(
                raw=dict(record),
                reason=f"key {record.duplicate!r} occurs twice in one object; which value is meant is unclear",
                location=self.location(number),
                field=record.duplicate,
            )
        if not isinstance(record, dict):
            return BadRecord(
                raw=record, reason=f"expected a JSON object, got {_json_kind(record)}", location=self.location(number)
            )
        keys = tuple(record)
        mapper = self.mappers.get(keys)
        if mapper is None:
            mapper = self._mapper(keys)
        if isinstance(mapper, str):  # this key set has no text field (or an unusable key)
            return BadRecord(raw=line or record, reason=mapper, location=self.location(number), field="text")
        try:
            result = mapper.map([record[k] for k in keys], number)
        except RecursionError:  # a value nested too deeply to turn into text
            raw = line if line is not None else f"{json.dumps(keys, ensure_ascii=False)} (nested too deeply to keep)"
            return BadRecord(raw=raw, reason="invalid JSON: nested too deeply to read", location=self.location(number))
        if isinstance(result, BadRecord):
            # the object as it was, with its JSON types; or the line, when it holds a lone
            # surrogate escape (the line keeps it as six ASCII characters)
            result.raw = record
            if result.reason == mapper.bad_bytes_reason:
                found = surrogate_reason(record)
                if found is not None:
                    result.field, result.reason = mapper.field_of.get(keys.index(found[0])) or found[0], found[1]
                    if line is not None:
                        result.raw = line
        return result

    def _mapper(self, keys: tuple[str, ...]) -> RowMapper | str:
        if len(self.mappers) >= _MAX_KEY_SETS:
            self.mappers.clear()
        bad_key = next((k for k in keys if not _storable(k)), None)
        if bad_key is not None:  # a key with a lone surrogate escape cannot be stored
            reason = (
                f"key {bad_key.encode('utf-8', 'backslashreplace').decode()!r} is not text (a lone surrogate escape)"
            )
            self.mappers[keys] = reason
            return reason
        label = self.label
        try:
            mapper: RowMapper | str = RowMapper(
                keys, self.ctx, label=label, unit=self.unit, encoding=self.encoding, where=str(self.path)
            )
        except CollectorConfigError as exc:
            if not self.decided:
                raise
            mapper = str(exc).removeprefix(f"{self.path}: ").replace("headers are", "keys are")
        self.decided = True
        self.mappers[keys] = mapper
        if isinstance(mapper, RowMapper) and self.described < _DESCRIBED_KEY_SETS:
            self.described += 1
            self.note(read_info(mapper))
        return mapper


__all__ = [
    "CsvCollector",
    "FileCollector",
    "FileCollectorConfig",
    "JsonlCollector",
    "XlsxCollector",
    "cell_text",
    "expand_paths",
    "fingerprint",
    "sniff_delimiter",
]
