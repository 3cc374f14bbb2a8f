"""Text that can be stored and printed, made from names and bytes that may not be.

Python hands over a file name whose bytes are not UTF-8 — a GBK name unzipped from a
Windows archive — with each undecodable byte as a lone surrogate (``surrogateescape``,
U+DC80..U+DCFF). Such a string opens the file, but no database stores it and no
terminal shows it. And customer data brings lone surrogates of its own (a JSON escape
``\\ud83d``, half of an emoji).

* :func:`printable_name` — for file names and paths, and messages that quote them:
  bytes that decode as GB18030 (the names Chinese Windows writes) are decoded, the rest
  are shown as ``\\xNN``; control characters are shown as ``\\xNN`` too (a name cannot
  clear a terminal or fake a line of output).
* :func:`storable_text` — for record contents: every lone surrogate made visible
  (``\\xNN`` for an undecodable byte, ``\\uXXXX`` for the rest), nothing reinterpreted.

Both return their argument unchanged when there is nothing to do, at the cost of one
UTF-8 encode (and, for names, one regular-expression search).
"""

from __future__ import annotations

import os
import re

_SURROGATE = re.compile("[\ud800-\udfff]")
#: a run of non-ASCII characters holding at least one escaped byte: the bytes of one
#: name part (the characters between them that happened to decode as UTF-8 belong to it)
_ESCAPED_RUN = re.compile("[^\x00-\x7f]*[\udc80-\udcff][^\x00-\x7f]*")
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROLS_BUT_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _escape_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def storable_text(value: str) -> str:
    """``value`` without lone surrogates: an undecodable byte (U+DC80..U+DCFF) becomes
    ``\\xNN``, any other (a JSON escape such as ``\\ud83d``) ``\\uXXXX``."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub(_escape_surrogate, value)
    return value


def _decode_run(match: re.Match[str]) -> str:
    raw = match.group().encode("utf-8", "surrogateescape")
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace")


def _escape_control(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def printable_name(name: str | os.PathLike[str], *, lines: bool = False) -> str:
    """A file name, a path or a message quoting one, as text to store and print.

    :param lines: keep line breaks and tabs (for a message of several lines).
    """
    text = os.fspath(name)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _ESCAPED_RUN.sub(_decode_run, text)
        text = _SURROGATE.sub(_escape_surrogate, text)
    return (_CONTROLS_BUT_LINES if lines else _CONTROLS).sub(_escape_control, text)
