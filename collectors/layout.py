"""What the first rows of a spreadsheet say: where the header is, and which column only
numbers the rows.

Bank exports seldom start with their header. A report title comes first
(``XX银行2026年11月客户投诉明细表``, one cell, often merged across the sheet), or a few
lines of report facts (``导出时间,2026-12-01``), and grouped columns have a two-row header
whose upper cells are merged over the lower ones::

    序号 | 工单信息                 | 客户诉求 | 处理情况
         | 工单号 | 受理时间 | 渠道 |          | 处理意见 | 办结时间

:func:`find_header` finds the header among the first non-blank rows (or takes the row
the user names with ``--header-row``) and joins such a two-row header into one name per
column. Merged cells arrive as a value in the first cell and empty cells after it, in
XLSX (openpyxl's read-only mode does not report merges) as in a CSV saved from it, so
the same rules serve both.

:func:`row_number_run` tells a column that counts rows (序号 1, 2, 3 … restarting in
every daily file) from a record id, by its values: such a column must never key records
across files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bihuan.collectors.fields import (
    EXACT_ALIASES,
    AmbiguousTextError,
    MappingError,
    _contained_field,
    cell_text,
    normalise_header,
    plan_columns,
)
from bihuan.core.errors import CollectorConfigError

#: data rows whose values decide whether a column numbers the rows
SAMPLE_ROWS = 1_000
#: non-blank rows searched for the header (title rows and report facts come before it)
HEADER_SEARCH = 10
#: rows a ``--header-row`` may name beyond the search (the sample is read that far)
MAX_HEADER_ROW = 1_000
#: header names of columns that number rows (normalised); also the empty name, and
#: pandas' "Unnamed: 0" index column
SEQUENCE_HEADERS = frozenset(
    {
        "序号",
        "序",
        "行号",
        "行",
        "no",
        "nr",
        "num",
        "row",
        "rowno",
        "rownumber",
        "seq",
        "seqno",
        "index",
        "unnamed0",
        "",
    }
)
_HEADER_CELL_MAX = 40
_DATE_LIKE = re.compile(r"\d{4}\s*[-/.年]\s*\d{1,2}")


def _filled(cell: Any) -> bool:
    return cell is not None and not (isinstance(cell, str) and not cell.strip())


def _name(cell: Any) -> str:
    return cell_text(cell).strip()


def _count(cells: Sequence[Any]) -> int:
    return sum(1 for c in cells if _filled(c))


@dataclass
class Header:
    """The header of a file.

    :ivar names: one name per column (a two-row header joined).
    :ivar row: the number of its (last) row; data starts after it.
    :ivar rows: the numbers of its rows (one, or two for a two-row header).
    :ivar skipped: ``(number, text)`` of the non-blank rows above it (titles, report facts).
    :ivar how: why this row, in words.
    """

    names: list[str]
    row: int
    rows: tuple[int, ...]
    skipped: list[tuple[int, str]] = field(default_factory=list)
    how: str = "the first row"


def _has_text(names: Sequence[str], mapping: Mapping[str, str] | None) -> bool:
    """Whether ``names`` read as a header has a text column (an ambiguous one counts)."""
    try:
        return "text" in plan_columns(names, mapping).columns
    except AmbiguousTextError:
        return True
    except MappingError:  # --map names a column this row does not have
        return False


def _header_like(cell: Any) -> bool:
    """A cell that can be a column name: short text, not a number or a date."""
    if not isinstance(cell, str):
        return False
    text = cell.strip()
    if len(text) > _HEADER_CELL_MAX or _DATE_LIKE.match(text):
        return False
    try:
        float(text)
    except ValueError:
        return True
    return False


def _known(cell: Any) -> bool:
    name = _name(cell)
    return bool(name) and (normalise_header(name) in EXACT_ALIASES or _contained_field(name) is not None)


def _two_rows(upper: Sequence[Any], lower: Sequence[Any]) -> list[str] | None:
    """The names of a two-row header (``upper`` merged over the sub-headers ``lower``),
    or ``None`` when ``lower`` is not a row of sub-headers.

    ``lower`` must fill a gap of ``upper`` (a merged group cell leaves empty cells after
    it) with a name a field is known by, and hold only names. A column's name is its
    sub-header, or the upper cell where it has none (a cell merged down both rows);
    sub-headers that repeat are prefixed with their group (``受理信息/时间``).
    """
    width = max(
        max((i + 1 for i, c in enumerate(upper) if _filled(c)), default=0),
        max((i + 1 for i, c in enumerate(lower) if _filled(c)), default=0),
    )

    def at(row: Sequence[Any], i: int) -> Any:
        return row[i] if i < len(row) else None

    if _count(upper) < 2 or not all(_header_like(c) for c in upper if _filled(c)):
        return None  # one cell above is a title, a date or number a report fact: no group names
    gaps = [i for i in range(width) if not _filled(at(upper, i)) and _filled(at(lower, i))]
    if not gaps or not any(_known(at(lower, i)) for i in gaps):
        return None
    if not all(_header_like(c) for c in lower if _filled(c)):
        return None
    names: list[str] = []
    groups: list[str] = []
    group = ""
    for i in range(width):
        up, down = _name(at(upper, i)), _name(at(lower, i))
        if up:
            group = up if down else ""
        names.append(down or up)
        groups.append(group if down else "")
    seen = [n for n in names if n]
    for i, name in enumerate(names):
        if name and seen.count(name) > 1 and groups[i] and groups[i] != name:
            names[i] = f"{groups[i]}/{name}"
    return names


def find_header(
    rows: Sequence[tuple[int, Sequence[Any]]],
    *,
    header_row: int | None,
    mapping: Mapping[str, str] | None,
    where: str,
) -> Header | None:
    """The header among ``rows`` (``(number, cells)`` from the top of the file, blank
    ones included); ``None`` when every row is blank.

    With ``header_row`` the header is that row (and the one below, when it holds the
    sub-headers of merged cells). Otherwise it is the first row that has a text column
    (alone, or joined with the row below) and has only title-like rows above it: rows
    with fewer cells (a title, ``导出时间,2026-12-01``; a row as wide is a header
    without a text column, and the rows below it data). A one-cell row is a title when
    a wider row with a text column follows. Failing that, the first non-blank row (whose
    missing text column the caller reports).

    :raises CollectorConfigError: ``header_row`` names a blank or missing row.
    """
    nonblank = [(n, cells) for n, cells in rows if any(_filled(c) for c in cells)]
    if not nonblank:
        return None

    def text_of(cells: Sequence[Any]) -> str:
        return " ".join(_name(c) for c in cells if _filled(c))

    def block(j: int, how: str) -> Header:
        number, cells = nonblank[j]
        skipped = [(n, text_of(c)) for n, c in nonblank[:j]]
        if j + 1 < len(nonblank) and nonblank[j + 1][0] == number + 1:
            joined = _two_rows(cells, nonblank[j + 1][1])
            if joined is not None:
                below = nonblank[j + 1][0]
                return Header(joined, below, (number, below), skipped, f"{how}, with the sub-headers of row {below}")
        return Header([_name(c) for c in cells], number, (number,), skipped, how)

    if header_row is not None:
        for j, (number, _) in enumerate(nonblank):
            if number == header_row:
                return block(j, "--header-row")
        last = rows[-1][0] if rows else 0
        state = "is empty" if header_row <= last else f"is beyond the rows read ({last})"
        raise CollectorConfigError(f"{where}: --header-row {header_row}: row {header_row} {state}")

    candidates = nonblank[:HEADER_SEARCH]
    counts = [_count(cells) for _, cells in candidates]
    for j, (number, cells) in enumerate(candidates):
        if any(counts[i] >= max(2, counts[j]) for i in range(j)) and not (
            mapping and _has_text([_name(c) for c in cells], mapping)
        ):
            break  # a full row above: this and later rows are data (unless it has the --map columns)
        below = candidates[j + 1] if j + 1 < len(candidates) else None
        if below is not None and below[0] == number + 1:
            joined = _two_rows(cells, below[1])
            if joined is not None and _has_text(joined, mapping):
                return block(j, "the first row with a header" if j else "the first row")
        if not _has_text([_name(c) for c in cells], mapping):
            continue
        if counts[j] == 1 and any(
            counts[k] > 1 and _has_text([_name(c) for c in candidates[k][1]], mapping)
            for k in range(j + 1, len(candidates))
        ):
            continue  # a one-cell title that happens to contain a word like 意见
        return block(j, "the first row with a header, after title rows" if j else "the first row")
    return block(0, "the first row")


def row_number_run(values: Sequence[str], header: str) -> str | None:
    """``"1..20"`` when ``values`` (a column's cells in file order) count rows, else ``None``.

    Rows are counted by whole numbers going up by one from 0 or 1 (1, 2, 3 …; 001, 002 …;
    at least two of them), or from any number in a column named like a row number (序号,
    行号, No., #, or no name). Numbers that do not start at 0 or 1 under another name
    (``20261201001``, ``GD202612010001``) are ids: a system that numbers its records
    across files does not restart.
    """
    if not values:
        return None
    numbers: list[int] = []
    for value in values:
        value = value.strip()
        if not value.isdecimal() or len(value) > 18:
            return None
        numbers.append(int(value))
    start = numbers[0]
    if any(number != start + k for k, number in enumerate(numbers)):
        return None
    named = normalise_header(header) in SEQUENCE_HEADERS
    if (start in (0, 1) and len(numbers) >= 2) or named:
        return f"{start}..{numbers[-1]}"
    return None


def row_number_columns(
    header: Sequence[str],
    sample: Sequence[Sequence[Any]],
    candidates: Sequence[int],
    text_of: Callable[[Any], str],
) -> dict[int, str]:
    """Of the columns ``candidates``, those whose values in ``sample`` count rows:
    ``{index: "1..20"}`` (see :func:`row_number_run`)."""
    found: dict[int, str] = {}
    for index in candidates:
        values = [text_of(row[index]) if index < len(row) else "" for row in sample]
        run = row_number_run(values, header[index])
        if run is not None:
            found[index] = run
    return found


@dataclass
class KeyChoice:
    """Which column keys the rows of a file, and why.

    :ivar column: the id column, or ``None``: rows are known by their content.
    :ivar row_numbers: columns that count rows (``{index: "1..20"}``): not a key, and
        left out of the row's content (a row's position is not what it says).
    :ivar reason: why, in words.
    """

    column: int | None
    row_numbers: dict[int, str]
    reason: str


CONTENT_KEY = "rows are known by their content (text, time, customer, rating, NPS, channel)"


def _id_named(name: str) -> bool:
    normalised = normalise_header(name)
    exact = EXACT_ALIASES.get(normalised)
    return exact == "external_id" or (exact is None and bool(normalised) and _contained_field(name) == "external_id")


def choose_key(
    names: Sequence[str],
    columns: dict[str, int],
    *,
    explicit: str | None,
    no_id: bool,
    sample: Sequence[Sequence[Any]] | None,
) -> KeyChoice:
    """The key of a file's rows; sets (or removes) ``columns["external_id"]`` to match.

    Without ``explicit``, the key is the first column named like an id (编号, 工单号,
    id…) whose values do not count the rows: an export with 序号 (1, 2, 3 …) and 工单号
    (GD202612010001 …) is keyed by 工单号.

    :param columns: field → column index, as resolved (``external_id`` included when a
        column is named like an id or was chosen).
    :param explicit: how the user chose the id column (``"--id-column"``), if they did.
    :param no_id: the user said the file has no id column (``--no-id``).
    :param sample: the first data rows, to tell row numbers by their values; ``None``
        where there are none (JSON records, a quarantined record retried).
    """
    id_at = columns.get("external_id")
    others = {i for f, i in columns.items() if f != "external_id"}
    named = [i for i, name in enumerate(names) if i not in others and _id_named(name)]
    if id_at is not None and id_at not in named:
        named.insert(0, id_at)
    candidates = list(named)
    candidates += [
        i
        for i, name in enumerate(names)
        if i not in others and i not in named and normalise_header(name) in SEQUENCE_HEADERS
    ]
    runs = row_number_columns(names, sample, candidates, cell_text) if sample else {}
    chosen: int | None = None
    if no_id:
        reason = f"--no-id: {CONTENT_KEY}"
    elif explicit is not None and id_at is not None:
        chosen = id_at
        run = runs.pop(id_at, None)
        reason = f"{names[id_at]!r}, chosen with {explicit}"
        if run is not None:
            reason += (
                f" (its values count the rows, {run}: if they start again in every file, another file's rows "
                "with the same numbers are not replaced but quarantined)"
            )
    else:
        ids = [i for i in named if i not in runs]
        counted = "; ".join(f"{names[i]!r} counts the rows ({runs[i]} in file order)" for i in named if i in runs)
        if ids:
            chosen = ids[0]
            reason = f"{names[chosen]!r}, named like a record id"
            if counted:
                reason += f" ({counted}: a row number, not a record id)"
        elif counted:
            first = names[named[0]]
            reason = f"{counted}: a row number, not a record id; {CONTENT_KEY}; --id-column {first} makes it the key"
        else:
            reason = f"no id column: {CONTENT_KEY}"
    if chosen is None:
        columns.pop("external_id", None)
    else:
        columns["external_id"] = chosen
    return KeyChoice(chosen, runs, reason)
