"""Decoding JSON records so that one bad line is one quarantined record.

Python's ``json`` accepts things that are not JSON, and fails on others in ways that
stop a whole import. Each has one outcome here:

* ``NaN``, ``Infinity``, ``-Infinity`` (not JSON, RFC 8259): the line is quarantined
  (in a ``.json`` document, the document is refused, as for any other invalid JSON);
* a key given twice in one object: ``json`` keeps the last value silently, so the line
  is quarantined, naming the key;
* nesting deeper than the interpreter's recursion limit (``RecursionError``): the line
  is quarantined;
* a lone surrogate escape (``"\\ud83d"``, half of an emoji cut off): decodes to a
  string no database takes; the row mapper finds it (its UTF-8 check) and the reason is
  put in words here (:func:`surrogate_reason`); the raw line is kept, escapes and all;
* a BOM at the start of a line (files concatenated with ``cat``): skipped;
* a line longer than :func:`max_line_chars`: quarantined unread, with its first
  characters (the file is read in bounded pieces, so a 2 GB line never sits in memory).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from bihuan.core.errors import RecordError

#: characters of a line kept in quarantine when the line is too long to read
KEPT_OF_LONG_LINE = 1_000
#: a line may be this many times ``max_text_chars`` (escapes make Chinese six times longer)
_LINE_FACTOR = 16


def max_line_chars(config: Any) -> int:
    """The longest JSON line read: room for a text at the limit, escaped, and its fields."""
    return max(1 << 20, _LINE_FACTOR * int(getattr(config, "max_text_chars", 20_000)))


class NotJsonError(ValueError):
    """``NaN`` or ``Infinity`` in the input."""


class Duplicated(dict):  # type: ignore[type-arg]
    """An object in which a key occurs twice; :attr:`duplicate` is the first such key."""

    duplicate: str = ""


def _constant(name: str) -> Any:
    raise NotJsonError(name)


class JsonDecoder:
    """Decodes one record at a time; :attr:`duplicate` is the first key found twice in
    the last record decoded, at any depth (``""`` when none was)."""

    def __init__(self) -> None:
        found: list[str] = []  # the first duplicated key of the record being decoded
        self._found = found

        def hook(pairs: list[tuple[str, Any]], dict: type = dict, len: Any = len) -> dict[str, Any]:
            # called for every object decoded: the common case is one dict() and a compare
            obj = dict(pairs)
            if len(obj) == len(pairs):
                return obj
            seen: set[str] = set()
            duplicated = Duplicated(obj)
            duplicated.duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
            if not found:
                found.append(duplicated.duplicate)
            return duplicated

        self._decoder = json.JSONDecoder(object_pairs_hook=hook, parse_constant=_constant)

    @property
    def duplicate(self) -> str:
        return self._found[0] if self._found else ""

    def line(self, line: str) -> Any:
        """One JSON Lines record; raises ``RecordError`` with the reason."""
        self._found.clear()
        try:
            value = self._decoder.decode(line)
        except json.JSONDecodeError as exc:
            if line.startswith("\ufeff"):  # a BOM where two files were joined
                return self.line(line[1:])
            raise RecordError(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
        except NotJsonError as exc:
            raise RecordError(f"invalid JSON: {exc} is not a JSON value") from None
        except RecursionError:
            raise RecordError("invalid JSON: nested too deeply to read") from None
        if self._found:
            raise RecordError(
                f"key {self.duplicate!r} occurs twice in one object; which value is meant is unclear",
                field=self.duplicate,
            )
        return value

    def document(self, text: str) -> Any:
        """A whole ``.json`` document; ``json.JSONDecodeError`` for invalid JSON (the
        caller tells a JSON Lines file saved as ``.json`` from a broken one),
        ``ValueError`` with the reason for the rest."""
        self._found.clear()
        try:
            return self._decoder.decode(text.removeprefix("\ufeff"))
        except NotJsonError as exc:
            raise ValueError(f"{exc} is not a JSON value") from None
        except RecursionError:
            raise ValueError("nested too deeply to read") from None


def surrogate_reason(record: dict[str, Any]) -> tuple[str, str] | None:
    """``(field key, reason)`` when a string of ``record`` holds a lone surrogate that a
    JSON escape made (``\\ud83d``), not an undecodable byte of the file."""
    for key, value in record.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        for ch in text:
            if "\ud800" <= ch <= "\udfff" and not "\udc80" <= ch <= "\udcff":
                return key, (
                    f"lone surrogate escape \\u{ord(ch):04x} in {key!r} (half of an emoji, cut off?): "
                    "not a character any text can hold"
                )
    return None


@dataclass(frozen=True, slots=True)
class LongLine:
    """A line over the limit: its first characters and its length."""

    start: str
    length: int

    def reason(self, limit: int) -> str:
        return f"line is {self.length:,} characters, over the limit of {limit:,}; not read"


def bounded_lines(f: TextIO, limit: int) -> Iterator[str | LongLine]:
    """The lines of ``f``; a line over ``limit`` characters comes as a :class:`LongLine`
    (read in pieces of ``limit``, never held whole)."""
    readline = f.readline
    while True:
        line = readline(limit)
        if not line:
            return
        if len(line) < limit or line[-1] == "\n":
            yield line
            continue
        length = len(line)
        while True:
            more = readline(limit)
            length += len(more)
            if not more or more[-1] == "\n":
                break
        yield LongLine(line[:KEPT_OF_LONG_LINE], length - (more[-1:] == "\n"))
