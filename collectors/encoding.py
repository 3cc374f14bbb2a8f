"""Finding out how a text export is encoded, without being told.

Excel on a Chinese Windows saves CSV as GBK (GB18030 is its superset), newer tools as
UTF-8 with or without a BOM, a few as UTF-16. The order of the checks matters:

1. a BOM is certain (and beats a declared encoding: a file cannot carry a UTF-8 BOM and
   be GBK);
2. binary files people save as ``.csv`` by mistake (an XLSX, a PDF…) are refused early;
3. strict UTF-8 over the whole file: it almost never succeeds by accident on GBK bytes;
4. strict GB18030: it decodes almost any GBK text, so it must come after UTF-8;
5. *mostly* UTF-8 (or GB18030): a file whose multi-byte text decodes but for a handful
   of stray bytes is still read in that encoding, and only the rows holding the stray
   bytes are quarantined — decoding it as something else would garble every row;
6. charset-normalizer's guess for the rest (Big5, Shift-JIS, Windows-1252…).

Files are scanned in 1 MB chunks with incremental decoders, so a 500 MB export is never
held in memory. Readers open the file with ``errors="surrogateescape"``: a byte that
does not decode becomes a lone surrogate, and the row mapper quarantines that row.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path

from bihuan.core.errors import CollectorConfigError, InputError

_CHUNK = 1 << 20
_HEAD = 8192

#: leading bytes of files people save as .csv by mistake
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive, e.g. an Excel .xlsx workbook"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel/Office document (.xls)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "a program (ELF)"),
)
_BOMS: tuple[tuple[bytes, str], ...] = (
    # UTF-32 first: its little-endian BOM starts with the UTF-16 one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: bytes that occur in text files: everything but the C0 controls other than TAB, LF, VT, FF, CR, ESC
_TEXT_BYTES = bytes(b for b in range(256) if b >= 0x20 or b in b"\t\n\x0b\x0c\r\x1b")
_SURROGATES = re.compile("[\udc80-\udcff]")
_HIGH_BYTES = bytes(range(0x80, 0x100))
#: two bytes as a common (GB2312) Chinese character is encoded in GBK and GB18030
_GB_PAIRS = re.compile(b"[\xa1-\xfe][\xa1-\xfe]")
#: pairs counted before the evidence is plenty (counting costs ten times decoding)
_ENOUGH_PAIRS = 4096
#: a "mostly" verdict allows one bad byte per this many bytes of valid multi-byte text
#: (a file of plain ASCII and a few high bytes is no evidence of UTF-8: it is left to
#: charset-normalizer, since Windows-1252 is as likely as a stray byte)
_TOLERANCE = 50
#: bad bytes seen before a lenient scan may give up early
_MIN_BAD_TO_GIVE_UP = 16


@dataclass(frozen=True, slots=True)
class DetectedEncoding:
    """The codec to read a file with, and how it was chosen.

    :ivar name: a Python codec name.
    :ivar how: ``"bom"``, ``"declared"``, ``"strict"`` (the whole file decodes),
        ``"mostly"`` (a few bytes do not decode) or ``"guess"`` (charset-normalizer).
    """

    name: str
    how: str

    @property
    def certain(self) -> bool:
        """Whether every byte of the file is known to decode."""
        return self.how in ("bom", "strict")

    def __str__(self) -> str:
        return self.name if self.how in ("strict", "declared", "bom") else f"{self.name} ({self.how})"


def binary_kind(head: bytes, *, nuls: bool = True) -> str | None:
    """What a file that is not text looks like, from its first bytes; ``None`` for text.

    :param nuls: also call NUL-heavy data binary (not for UTF-16/32 text).
    """
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if not nuls:
        return None
    head = head[:_HEAD]
    # Text has (almost) no NUL bytes: a few stray ones are data errors, many mean binary.
    # Nor other control bytes: none occur inside UTF-8 or GBK multi-byte characters.
    if head.count(0) > 8 + len(head) // 100 or len(head.translate(None, _TEXT_BYTES)) > 8 + len(head) // 20:
        return "binary data"
    return None


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le``/``-be`` for BOM-less UTF-16 text, ``None`` for anything else.

    Text in UTF-16 has a NUL next to every ASCII character (the delimiters, digits and
    line breaks of a CSV). Chinese characters have none, and a few have one on the other
    side (一 is U+4E00), so a Chinese export has few NULs and no clean pattern of them;
    what tells it from binary data is that its head, decoded, reads as text (common
    characters, line breaks), which it does in one byte order only: read the other way,
    a line break is U+0A00 and ASCII turns into unrelated scripts.
    """
    head = head[: len(head) & ~1]
    if len(head) < 4 or head.count(0) < 2:
        return None
    for name in ("utf-16-le", "utf-16-be"):
        # a bad code unit (or a pair cut at the end of the head) must not hide the
        # pattern: the whole file is checked afterwards, and refused with where it fails
        if _looks_like_text(head.decode(name, "replace")):
            return name
    return None


#: characters of the text a CSV holds: ASCII, Latin-1, general punctuation, CJK
#: symbols and punctuation, CJK (extension A and unified ideographs), full-width forms
_COMMON_TEXT = re.compile("[\t\n\r\x20-\x7e\xa0-\xff\u2000-\u206f\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


def _looks_like_text(text: str) -> bool:
    """Whether decoded ``text`` reads as text: a line break, and nearly all of it
    common characters (random bytes decode to every part of the code space)."""
    if not text or ("\n" not in text and "\r" not in text):
        return False
    return len(_COMMON_TEXT.sub("", text)) <= 1 + len(text) // 50


def _whole_file_decodes(path: Path, encoding: str, what: str) -> None:
    """Raise ``InputError`` unless every byte of ``path`` decodes as ``encoding``.

    For UTF-16/32 files: their bytes cannot be kept aside for one row as UTF-8 and
    GB18030 bytes can (``surrogateescape`` handles bytes from 0x80 up only).
    """
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = 0
    with path.open("rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{path}: not a valid {encoding} {what} file: bytes {offset + exc.start}-{offset + exc.end - 1}"
                    f" do not decode ({exc.reason}); re-export the file",
                    path=str(path),
                ) from None
            if not chunk:
                return
            offset += len(chunk)


@dataclass(slots=True)
class _Scan:
    """What decoding a whole file leniently found.

    :ivar bad: bytes that do not decode.
    :ivar surplus: bytes over characters (one to three per valid multi-byte character).
    :ivar pairs: byte pairs shaped like GB2312 Chinese characters (both bytes A1-FE).
    :ivar high: bytes from 0x80 up.
    :ivar first_bad_line: the line of the first byte that does not decode (from 1).
    :ivar complete: whether the whole file was read (the scan gives up on hopeless ones).
    """

    bad: int = 0
    surplus: int = 0
    pairs: int = 0
    high: int = 0
    first_bad_line: int | None = None
    complete: bool = True


def _scan(path: Path, encoding: str, *, lenient: bool) -> _Scan | None:
    """Decode the whole file: its :class:`_Scan`, or ``None`` if strict decoding fails.

    For GB18030, pairs and high bytes are counted until :data:`_ENOUGH_PAIRS`. Lenient
    mode also counts bad bytes and the surplus, and stops early once bad bytes clearly
    outnumber the evidence for ``encoding`` (see :func:`_mostly`).
    """
    decoder = codecs.getincrementaldecoder(encoding)("surrogateescape" if lenient else "strict")
    scan = _Scan()
    lines = 0
    gb = encoding == "gb18030"
    try:
        with path.open("rb") as f:
            while True:
                chunk = f.read(_CHUNK)
                text = decoder.decode(chunk, final=not chunk)
                if gb and scan.pairs < _ENOUGH_PAIRS:  # evidence, until there is plenty of it
                    _count_pairs(chunk, scan)
                if lenient:
                    found = len(_SURROGATES.findall(text)) if not text.isascii() else 0
                    if found and scan.first_bad_line is None:
                        at = _SURROGATES.search(text)
                        scan.first_bad_line = lines + text.count("\n", 0, at.start() if at else 0) + 1
                    lines += text.count("\n")
                    scan.bad += found
                    # a bad byte is one character; valid multi-byte ones are fewer characters than bytes
                    scan.surplus += len(chunk) - len(text)
                    if scan.bad > _MIN_BAD_TO_GIVE_UP and not _mostly(encoding, scan):
                        scan.complete = False
                        return scan
                if not chunk:
                    break
    except UnicodeDecodeError:
        return None
    return scan


def _count_pairs(chunk: bytes, scan: _Scan) -> None:
    """Add the high bytes and GB2312-shaped pairs of ``chunk`` to ``scan``, 64 KB at a
    time until there are :data:`_ENOUGH_PAIRS` (the first few KB of a Chinese file)."""
    for at in range(0, len(chunk), 1 << 16):
        piece = chunk[at : at + (1 << 16)]
        high = len(piece) - len(piece.translate(None, _HIGH_BYTES))
        if high:
            scan.high += high
            scan.pairs += len(_GB_PAIRS.findall(piece))
            if scan.pairs >= _ENOUGH_PAIRS:
                return


def _mostly(encoding: str, scan: _Scan) -> bool:
    """Whether a file that does not decode whole is still, by the evidence, ``encoding``
    with a few stray bytes (whose rows are quarantined).

    UTF-8: at least as many bytes of valid multi-byte characters as bad bytes — valid
    UTF-8 sequences hardly occur by chance (a Latin-1 file has none, a GBK file few).
    GB18030: most high bytes sit in pairs shaped like common Chinese characters, at
    least two such pairs per bad byte (a Latin-1 file's accented letters stand alone).
    Either: one bad byte per :data:`_TOLERANCE` bytes of multi-byte text is always fine.
    """
    if scan.surplus <= 0:
        return False
    if scan.bad * _TOLERANCE <= scan.surplus:
        return True
    if encoding == "utf-8":
        return scan.bad <= scan.surplus
    return scan.pairs >= 2 * scan.bad and 4 * scan.pairs >= scan.high


def check_codec(name: str) -> str:
    """The canonical codec name for ``name``; raises ``LookupError`` for unknown ones."""
    return codecs.lookup(name).name


def detect_encoding(path: Path, declared: str | None = None, *, what: str = "CSV") -> DetectedEncoding:
    """How to decode ``path``.

    :param declared: the encoding the user named (``--encoding``); trusted unless the
        file has a BOM. Bytes that do not decode are quarantined with their row.
    :param what: the kind of file expected, for the error message.
    :raises InputError: when the file is not text (a ZIP, PDF, image, binary data).
    :raises CollectorConfigError: when ``declared`` is not a known codec.
    """
    with path.open("rb") as f:
        head = f.read(_HEAD)
    for bom, name in _BOMS:
        if head.startswith(bom):
            if name != "utf-8-sig":
                _whole_file_decodes(path, name, what)
            return DetectedEncoding(name, "bom")
    if declared:
        try:
            name = check_codec(declared)
        except LookupError:
            raise CollectorConfigError(f"{path}: unknown encoding {declared!r}") from None
        wide = name.startswith(("utf-16", "utf-32"))
        # UTF-16/32 text is full of NUL bytes: only the magic numbers tell binary apart
        kind = binary_kind(head, nuls=not wide)
        if kind is not None:
            raise InputError(f"{path}: not a {what} text file (looks like {kind})", path=str(path))
        if wide:
            _whole_file_decodes(path, name, what)
        return DetectedEncoding(name, "declared")
    utf16 = _utf16_without_bom(head)
    if utf16 is not None:
        _whole_file_decodes(path, utf16, what)
        return DetectedEncoding(utf16, "strict")
    kind = binary_kind(head)
    if kind is not None:
        raise InputError(f"{path}: not a {what} text file (looks like {kind})", path=str(path))
    if _scan(path, "utf-8", lenient=False) is not None:
        return DetectedEncoding("utf-8", "strict")
    # before GB18030: UTF-8 text with accents and a stray byte often decodes as GB18030
    # too ("é" is C3 A9, a GBK character), and would be read as Chinese
    scan = _scan(path, "utf-8", lenient=True)
    if scan is not None and scan.complete and _mostly("utf-8", scan):
        return DetectedEncoding("utf-8", "mostly")
    scan = _scan(path, "gb18030", lenient=False)
    if scan is not None:
        if _chinese_looking(scan):
            return DetectedEncoding("gb18030", "strict")
        # it decodes, but as rare characters made of accented letters and the ASCII
        # after them (German, French in a Latin code page): left to the guesser
    else:
        scan = _scan(path, "gb18030", lenient=True)
        if scan is not None and scan.complete and _mostly("gb18030", scan):
            return DetectedEncoding("gb18030", "mostly")
        if scan is not None and _chinese_looking(scan):
            raise _refusal(path, scan)
    from charset_normalizer import from_path  # only for the rare file that needs it

    best = from_path(path).best()
    if best is not None:
        return DetectedEncoding(best.encoding, "guess")
    return DetectedEncoding("utf-8", "mostly")


def _chinese_looking(scan: _Scan) -> bool:
    """Whether most high bytes pair up like common Chinese characters in GBK (in a
    Latin code page, accented letters mostly stand alone between ASCII letters)."""
    return scan.pairs > 0 and 4 * scan.pairs >= scan.high


def _refusal(path: Path, scan: _Scan) -> InputError:
    """The error for a file that looks Chinese but is neither UTF-8 nor GB18030: any
    guess (a Latin code page, Big5…) would store its text garbled."""
    from charset_normalizer import from_path

    best = from_path(path).best()
    guess = f"the best guess, {best.encoding}," if best is not None else "a guess"
    where = f", the first on line {scan.first_bad_line}" if scan.first_bad_line else ""
    return InputError(
        f"{path}: cannot tell how this file is encoded: it is neither UTF-8 nor GB18030 "
        f"({scan.bad:,}{'' if scan.complete else '+'} bytes do not decode as GB18030{where}), "
        f"and {guess} could garble its Chinese text; pass --encoding gb18030 to read it as GB18030 "
        "and quarantine the rows whose bytes do not decode, or --encoding with its real encoding",
        path=str(path),
    )
