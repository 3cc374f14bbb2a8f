"""The rows of an XLSX sheet, with one defined outcome for everything a workbook holds.

* **A zip bomb** — a part that would unpack to far more than any workbook does (a
  sheet of a billion empty rows, shared strings of 10 GB in a 10 MB file): the workbook
  is refused before anything is unpacked (:func:`check_archive`). Python's ``zipfile``
  never unpacks more than the size a part declares, so the declared sizes are the ones
  to check.
* **Formulas** are never evaluated. A formula cell is read as the value Excel saved with
  it (what the user saw: ``=HYPERLINK(url, "点击")`` reads ``点击``); a formula without
  a saved value (a file written by a program, never opened in Excel) is read as its
  formula text (``=1+1``), and the run's log says how many and where the first was.
* **Errors** (``#N/A``, ``#DIV/0!``…) are not values: in a column mapped to a field the
  row is quarantined (``#N/A`` would otherwise be stored as a text, a customer, an id);
  in other columns the cell is left out, as an empty one.
* **Numbers** arrive as Excel shows them: at most 15 significant digits (all an Excel
  number holds), never an exponent. A 19-digit card number typed into Excel was rounded
  by Excel when it was saved: ``6222021234567890000``, not ``6.22202123456789e+18`` nor
  the binary expansion ``6222021234567889920``.
* **Dates stored as numbers** (a date column without a date format) in the date column
  are Excel serial day numbers of the workbook's own date system (1900, or 1904 for
  workbooks from old Mac Excel, four years apart).
* **Rows and columns** beyond Excel's limits (1,048,576 × 16,384) mean a corrupt or
  hostile file: it is refused at that row.

Reading goes through openpyxl's own streaming sheet parser with one change (the formula
text of a cell without a saved value); it uses openpyxl internals of the 3.1 series.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl.utils.datetime import from_excel
from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser

from bihuan.core.errors import InputError, RecordError

#: Excel's last row and column
MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384
#: a part bigger than this unpacked, and compressed more than MAX_RATIO to one, is a bomb
BOMB_SIZE = 64 << 20
MAX_RATIO = 200
#: no part of a workbook is bigger than this unpacked
MAX_PART = 4 << 30
#: Excel serial day numbers read as dates in the date column (as the date parser does)
SERIAL_DATES = (20_000, 100_000)


class ExcelError(str):
    """An error value of a cell (``#N/A``, ``#DIV/0!``…), not data."""

    __slots__ = ()


class Formula(str):
    """The text of a formula that has no saved value (``=1+1``)."""

    __slots__ = ()


def check_archive(path: Path, shown: str) -> None:
    """Refuse a workbook whose parts would unpack to more than any real workbook.

    :param shown: the file's name as messages show it.
    :raises InputError: naming the part, its sizes and the ratio.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip: openpyxl says what it is
    for part in parts:
        size, packed = part.file_size, max(part.compress_size, 1)
        if size > MAX_PART or (size > BOMB_SIZE and size > MAX_RATIO * packed):
            raise InputError(
                f"{shown}: refused: part {part.filename} would unpack to {size:,} bytes from {packed:,} "
                f"({size // packed:,} to 1), far more than a workbook holds (a zip bomb?)",
                path=str(path),
            )


class _Cells(WorkSheetParser):
    """openpyxl's sheet parser reading saved values (``data_only``), which keeps the
    formula text of a formula cell without one, and marks error values."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, data_only=True, **kwargs)
        self.formulas: list[str] = []  # coordinates of formulas without a saved value

    def parse_cell(self, element: Any) -> dict[str, Any]:
        cell = super().parse_cell(element)
        if element.find(FORMULA_TAG) is not None:
            formula = self.parse_formula(element)  # registers shared formulas for the cells after
            if cell["value"] is None:
                text = getattr(formula, "text", formula)
                cell["value"] = Formula(text if isinstance(text, str) else str(text))
                self.formulas.append(element.get("r") or f"row {cell['row']} column {cell['column']}")
        if cell["data_type"] == "e" and cell["value"].__class__ is str:  # an error, or a formula's saved one
            cell["value"] = ExcelError(cell["value"])
        return cell


class SheetRows:
    """The rows of one sheet of a read-only workbook, as tuples of values (``None`` for
    an empty cell), missing rows filled in as openpyxl does.

    :ivar formulas: coordinates of the formula cells read as formula text.
    """

    def __init__(self, workbook: Any, sheet: Any, path: Path, shown: str) -> None:
        self.workbook = workbook
        self.sheet = sheet
        self.path = path
        self.shown = shown
        self.formulas: list[str] = []

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        workbook, sheet = self.workbook, self.sheet
        with sheet._get_source() as source:
            parser = _Cells(
                source,
                sheet._shared_strings,
                epoch=workbook.epoch,
                date_formats=workbook._date_formats,
                timedelta_formats=workbook._timedelta_formats,
            )
            self.formulas = parser.formulas
            expected = 1
            for index, cells in parser.parse():
                if index > MAX_ROWS:
                    raise InputError(
                        f"{self.shown}: sheet {sheet.title!r} has a row {index:,}, beyond Excel's last row "
                        f"({MAX_ROWS:,}): a damaged or hostile file",
                        path=str(self.path),
                    )
                while expected < index:  # rows the file leaves out are empty
                    expected += 1
                    yield ()
                expected = index + 1
                if not cells:
                    yield ()
                    continue
                width = cells[-1]["column"]
                if width > MAX_COLUMNS:
                    raise InputError(
                        f"{self.shown}: sheet {sheet.title!r} row {index:,} has a column {width:,}, beyond Excel's "
                        f"last column ({MAX_COLUMNS:,}): a damaged or hostile file",
                        path=str(self.path),
                    )
                row: list[Any] = [None] * width
                for cell in cells:
                    row[cell["column"] - 1] = cell["value"]
                yield tuple(row)


def excel_number(value: float) -> str:
    """A float cell as Excel shows it: 15 significant digits, no exponent (below 10²¹:
    identifiers, amounts; Excel too writes bigger numbers with one)."""
    shown = format(value, ".15g")
    return format(Decimal(shown), "f") if abs(value) < 1e21 else shown


class RowValues:
    """Turns a sheet row's values into what the row mapper takes (see the module doc).

    :param field_of: column index → field, for the columns mapped to fields.
    :param date_at: the index of the date column, if any.
    :param epoch: the workbook's date system (``workbook.epoch``).
    """

    def __init__(self, field_of: dict[int, str], date_at: int | None, epoch: datetime) -> None:
        self.field_of = field_of
        self.date_at = date_at
        self.epoch = epoch

    def __call__(self, row: tuple[Any, ...]) -> list[Any]:
        """The row's values; raises ``RecordError`` for an error value in a mapped column."""
        values = list(row)
        for i, value in enumerate(values):
            kind = value.__class__
            if kind is float or kind is int:
                if i == self.date_at and SERIAL_DATES[0] <= value < SERIAL_DATES[1]:
                    values[i] = from_excel(value, self.epoch)
                elif kind is float:
                    values[i] = excel_number(value) if math.isfinite(value) else str(value)
            elif kind is ExcelError:
                field = self.field_of.get(i)
                if field is not None:
                    raise RecordError(f"the cell holds the Excel error {value}, not a value", field=field)
                values[i] = None
        return values
