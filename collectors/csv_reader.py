"""CSV records that one stray quote cannot swallow.

A ``"`` at the start of a cell opens a quoted field that runs, newlines and all, to the
next ``"``. A stray one (``"好评`` typed by a customer, a cut-off export) therefore
takes in every later row as the text of one cell — up to the end of the file, or up to
some later quote, after which the quoting of the rest of the file is turned inside out.
``csv.reader`` cannot tell: it is the file that is wrong.

:class:`CsvRecords` watches how many physical lines each record takes. Nearly all take
one, and for those the cost is one attribute read and one store per record (the hot
loops in :mod:`bihuan.collectors.files` drive ``csv.reader`` themselves). A record that
spans several lines is judged (:meth:`CsvRecords.judge`), from the lines it was read
from:

* it is well-formed CSV on its own (``strict`` parsing: the quote closes, and only a
  delimiter or the end of the line follows it) — a cell with a real line break, kept;
* otherwise, if the lines after its first one read as rows of the header's width, the
  first line had a stray quote: that line is quarantined as a *broken row* and reading
  starts again on the line after it, so every later row is read as the row it is;
* otherwise it is kept as ``csv`` read it (the old, lenient reading).

A record still open after :data:`RUNAWAY_LINES` lines is judged before it ends (its
lines are fed in chunks, and the check runs between two chunks), so a stray quote near
the top of a million-row file is caught after a thousand lines, not at the end of the
file with the whole rest of it in memory.

Line numbers are those of ``csv.reader`` (``line_num``): lines as a file opened with
``newline=""`` splits them, at ``\\n``, ``\\r\\n`` and a lone ``\\r`` alike.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any, TextIO

#: a record still open after this many lines is judged before it ends
RUNAWAY_LINES = 1_000
#: characters of whole lines read at a time (``readlines`` hint)
CHUNK_CHARS = 1 << 16
#: share of the lines after a broken one that must read as rows of the header's width
ROWS_SHARE = 0.8


class RunawayQuote(Exception):
    """Raised through ``csv.reader`` from the line feed: the record starting at
    ``line`` has run over :data:`RUNAWAY_LINES` lines into lines that read as rows."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


@dataclass(frozen=True, slots=True)
class BrokenRow:
    """A physical line that opens a quote which never closes where it should.

    :ivar cells: the line read as a row on its own (the open quote's cell runs to the
        end of the line).
    :ivar taken: how many following lines the open quote took in (read again as rows);
        at least this many when :ivar:`runaway`.
    :ivar runaway: whether the quote ran over :data:`RUNAWAY_LINES` lines.
    """

    cells: list[str]
    taken: int
    runaway: bool

    def reason(self, column: str) -> str:
        more = f"more than {self.taken:,}" if self.runaway else f"the next {self.taken:,}"
        return (
            f"unterminated quote: the quoted cell in column {column!r} does not close on this row "
            f"(it took in {more} lines, which are read as rows of their own)"
        )


class CsvRecords:
    """``csv.reader`` over an open text file, with the lines of the current record kept.

    Drive :attr:`reader` and, after every record, compare ``reader.line_num`` with the
    line the last record ended on (:attr:`done`): one more is the common case — store it
    in :attr:`done`; anything else goes to :meth:`judge`. A ``RunawayQuote`` raised while
    iterating goes to :meth:`runaway`. Both may return a :class:`BrokenRow`, after which
    :attr:`reader` is a new reader (its ``line_num`` starts again at 0).

    :param f: the file, opened with ``newline=""``, positioned where reading starts.
    :param width: the number of columns of the header.
    """

    def __init__(self, f: TextIO, *, delimiter: str, width: int = 0) -> None:
        self.f = f
        self.delimiter = delimiter
        self.width = width
        #: lines read from the file so far (absolute line numbers count from 1)
        self.given = 0
        #: chunks of lines still needed, as (number of the first line, lines)
        self.kept: deque[tuple[int, list[str]]] = deque()
        #: the absolute number of the line before the current reader's first
        self.base = 0
        #: ``reader.line_num`` after the last record handled (the consumer keeps it)
        self.done = 0
        #: the first line of a long record already judged to be a real one
        self._long_from = 0
        self.reader: Any = csv.reader(self._feed([]), delimiter=delimiter)

    # ── the line feed (runs inside csv.reader's iteration) ──────────────────────────────

    def _feed(self, replay: list[str]) -> Iterator[str]:
        return chain.from_iterable(self._chunks(replay))

    def _chunks(self, replay: list[str]) -> Iterator[list[str]]:
        if replay:
            yield replay
        read = self.f.readlines
        while True:
            # every line handed out so far has been read into the current record (the
            # reader asks for a line only inside a record): check its length here
            start = self.base + self.done + 1
            if self.given - start >= RUNAWAY_LINES and start != self._long_from:
                if self._rows_follow(start):
                    raise RunawayQuote(start)
                self._long_from = start  # a real long cell: let it run
            kept = self.kept
            while kept and kept[0][0] + len(kept[0][1]) <= start:
                kept.popleft()
            chunk = read(CHUNK_CHARS)
            if not chunk:
                return
            kept.append((self.given + 1, chunk))
            self.given += len(chunk)
            yield chunk

    # ── judging ─────────────────────────────────────────────────────────────────────────

    def lines(self, first: int, last: int) -> list[str]:
        """Kept lines ``first..last`` (absolute numbers, inclusive)."""
        found: list[str] = []
        for start, chunk in self.kept:
            end = start + len(chunk) - 1
            if end < first or start > last:
                continue
            found += chunk[max(first, start) - start : min(last, end) - start + 1]
        return found

    def judge(self, line_num: int) -> BrokenRow | None:
        """The record that ended at ``reader.line_num == line_num`` spans several lines:
        ``None`` to keep it, or the :class:`BrokenRow` its first line is (after which
        :attr:`reader` is a new reader from the line after it)."""
        first, last = self.base + self.done + 1, self.base + line_num
        self.done = line_num
        lines = self.lines(first, last)
        if len(lines) < 2 or _well_formed(lines, self.delimiter):
            return None
        if not self._rows_follow(first, lines[1:]):
            return None
        return self._break(first, lines[0], len(lines) - 1, runaway=False)

    def runaway(self, exc: RunawayQuote) -> BrokenRow:
        """The record starting at ``exc.line`` ran away: its first line is a broken row."""
        [line] = self.lines(exc.line, exc.line)
        return self._break(exc.line, line, RUNAWAY_LINES, runaway=True)

    def _rows_follow(self, first: int, lines: list[str] | None = None) -> bool:
        """Whether the lines after ``first`` look like rows of the header's width.

        Each line is judged on its own — read as a row, or by its count of delimiters
        (a line that opens a stray quote of its own still has the row's delimiters) —
        so that two broken rows in a row, or a real multi-line cell among the lines,
        do not hide the rows around them.
        """
        if lines is None:
            lines = self.lines(first + 1, self.given)
        width, delimiter = self.width, self.delimiter
        if width < 1:
            return False
        lines = [line for line in lines if line.strip()]
        fitting = sum(
            1
            for line in lines
            if line.count(delimiter) == width - 1 or _fits(next(csv.reader([line], delimiter=delimiter), []), width)
        )
        return fitting >= 1 and fitting >= ROWS_SHARE * len(lines)

    def _break(self, first: int, line: str, taken: int, *, runaway: bool) -> BrokenRow:
        cells = next(csv.reader([line.rstrip("\r\n")], delimiter=self.delimiter), [])
        replay = self.lines(first + 1, self.given)
        self.kept = deque([(first + 1, replay)] if replay else [])
        self.base, self.done, self._long_from = first, 0, 0
        self.reader = csv.reader(self._feed(replay), delimiter=self.delimiter)
        return BrokenRow(cells, taken, runaway)

    # ── without mapping (the header, resuming) ────────────────────────────────────────

    def records(self) -> Iterator[list[str] | BrokenRow | csv.Error]:
        """Every record, broken row or unreadable record (a ``csv.Error``, after which
        the reader goes on with the next line) in turn."""
        while True:
            reader = self.reader
            try:
                for cells in reader:
                    line_num = reader.line_num
                    if line_num - self.done != 1:
                        broken = self.judge(line_num)
                        if broken is not None:
                            yield broken
                            break
                    self.done = line_num
                    yield cells
                else:
                    return
            except RunawayQuote as exc:
                yield self.runaway(exc)
            except csv.Error as exc:
                self.done = reader.line_num
                yield exc


def _fits(cells: list[str], width: int) -> bool:
    """A row of ``width`` cells (trailing empty cells beyond it allowed)."""
    n = len(cells)
    return n == width or (n > width and not "".join(cells[width:]).strip())


def _well_formed(lines: list[str], delimiter: str) -> bool:
    """Whether ``lines`` are exactly one record of strict CSV (the quotes close, and
    nothing but a delimiter or the line's end follows a closing quote)."""
    try:
        rows = list(csv.reader(lines, delimiter=delimiter, strict=True))
    except csv.Error:
        return False
    return len(rows) == 1
