"""Untrusted text made safe to show: on a terminal, in the workplace, in a report file.

Feedback texts, source and file names, labels, owners, quarantine reasons — anything
that came from outside or from another user — may hold characters that a terminal or a
browser acts on instead of showing: ``ESC`` starts an escape sequence (clear the screen,
move the cursor, an OSC-8 hyperlink, a window title), ``CR`` and ``BS`` overwrite what
was shown, a bidi override (U+202E) reverses the text after it, zero-width characters
hide a word's real spelling. :func:`display_text` is the one function every view passes
such text through before it shows it (the workplace also wraps the result in a
``rich.text.Text``, so it is never parsed as markup either).

The convention, the same everywhere:

- C0 control characters and DEL become their Unicode control pictures: ``ESC`` → ``␛``,
  ``CR`` → ``␍``, ``BS`` → ``␈``, ``NUL`` → ``␀``, ``DEL`` → ``␡`` (U+2400 …);
- every other invisible or control character (C1 controls, bidi embeddings, overrides
  and isolates, zero-width spaces and joiners, soft hyphen, BOM, lone surrogates) is
  shown by its code point, ``<U+202E>``, as ``less`` does; a zero-width joiner between
  two emoji (👨‍👩‍👧) is part of the emoji and kept;
- a line break is kept in a ``multiline`` view (a CR LF pair is one break) and shown as
  ``⏎`` in a one-line cell; a tab is kept in a multiline view and a space in a cell.

Nothing else changes: Chinese text, emoji, the ideographic space, combining marks.
"""

from __future__ import annotations

import unicodedata

__all__ = ["LINE_BREAK", "display_text"]

#: what a line break looks like in a one-line cell
LINE_BREAK = "⏎"

_ZWJ = "\u200d"
_VS16 = "\ufe0f"
#: categories shown by their code point: controls, format characters, surrogates, line
#: and paragraph separators (Zl/Zp: handled as line breaks before this applies)
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_LINE_BREAKS = frozenset({"\n", "\u2028", "\u2029"})


def _picture(ch: str) -> str | None:
    """The control picture of a C0 control or DEL (U+2400 + code, U+2421 for DEL)."""
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    return None


def _emoji_part(ch: str) -> bool:
    """Whether ``ch`` can stand on either side of a joiner in an emoji ZWJ sequence."""
    return ch == _VS16 or unicodedata.category(ch) in ("So", "Sk")


def display_text(value: object, *, multiline: bool = False, limit: int | None = None) -> str:
    """``value`` (a string, or anything: ``str(value)``; ``None`` is ``""``) as a string
    that shows every character it holds and makes a terminal or browser do nothing.

    :param multiline: keep line breaks and tabs (a detail view); else the result is one
        line (a table cell, a list line): a break shows as ``⏎``, a tab as a space.
    :param limit: at most this many characters, the last one ``…`` when cut (counted
        after the replacements, so a cut never splits ``␛`` from what follows).
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    # the common case: nothing to replace (isprintable is False for every character
    # that needs a look, and for a few harmless ones such as U+3000, which pass below)
    if not text.isprintable():
        text = _replace(text, multiline=multiline)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def _replace(text: str, *, multiline: bool) -> str:
    out: list[str] = []
    last = len(text) - 1
    i = 0
    while i <= last:
        ch = text[i]
        if ch.isprintable():
            out.append(ch)
        elif ch == "\r" and i < last and text[i + 1] == "\n":
            # CR LF is one line break, however the file was written
            out.append("\n" if multiline else LINE_BREAK)
            i += 1
        elif ch in _LINE_BREAKS:
            out.append("\n" if multiline else LINE_BREAK)
        elif ch == "\t":
            out.append("\t" if multiline else " ")
        elif (picture := _picture(ch)) is not None:
            out.append(picture)
        elif ch == _ZWJ and 0 < i < last and _emoji_part(text[i - 1]) and _emoji_part(text[i + 1]):
            out.append(ch)
        elif unicodedata.category(ch) in _HIDDEN:
            out.append(f"<U+{ord(ch):04X}>")
        else:  # not printable to Python, harmless on a screen: spaces (U+3000), unassigned, private use
            out.append(ch)
        i += 1
    return "".join(out)
