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
    """``utf-16-le``/``-be`` for BOM-less UTF-16 text (NULs on every other byte)."""
    head = head[: _HEAD & ~1]
    nuls = head.count(0)
    if len(head) < 4 or nuls < max(2, len(head) // 4):
        return None
    odd = head[1::2].count(0)
    for name, share in (("utf-16-le", odd), ("utf-16-be", nuls - odd)):
        if share >= 0.95 * nuls:
            try:
                head.decode(name)
            except UnicodeDecodeError:
                continue
            return name
    return None


def _scan(path: Path, encoding: str, *, lenient: bool) -> tuple[int, int] | None:
    """Decode the whole file; ``(bad bytes, multi-byte surplus)`` or ``None`` if hopeless.

    Strict mode stops at the first bad byte (returns ``None``). Lenient mode counts the
    bytes that do not decode and the surplus of bytes over characters (about one or two
    per valid CJK character) and gives up as soon as bad bytes outnumber the tolerance.
    """
    decoder = codecs.getincrementaldecoder(encoding)("surrogateescape" if lenient else "strict")
    bad = surplus = 0
    try:
        with path.open("rb") as f:
            while True:
                chunk = f.read(_CHUNK)
                text = decoder.decode(chunk, final=not chunk)
                if lenient:
                    found = len(_SURROGATES.findall(text)) if not text.isascii() else 0
                    bad += found
                    # a bad byte is one character; valid multi-byte ones are fewer characters than bytes
                    surplus += len(chunk) - len(text)
                    if bad > _MIN_BAD_TO_GIVE_UP and bad * _TOLERANCE > surplus:
                        return None
                if not chunk:
                    break
    except UnicodeDecodeError:
        return None
    return bad, surplus


def _mostly(path: Path, encoding: str) -> bool:
    result = _scan(path, encoding, lenient=True)
    if result is None:
        return False
    bad, surplus = result
    return surplus > 0 and bad * _TOLERANCE <= surplus


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
            return DetectedEncoding(name, "bom")
    if declared:
        try:
            name = check_codec(declared)
        except LookupError:
            raise CollectorConfigError(f"{path}: unknown encoding {declared!r}") from None
        # UTF-16/32 text is full of NUL bytes: only the magic numbers tell binary apart
        kind = binary_kind(head, nuls=not name.startswith(("utf-16", "utf-32")))
        if kind is not None:
            raise InputError(f"{path}: not a {what} text file (looks like {kind})", path=str(path))
        return DetectedEncoding(name, "declared")
    utf16 = _utf16_without_bom(head)
    if utf16 is not None:
        return DetectedEncoding(utf16, "guess")
    kind = binary_kind(head)
    if kind is not None:
        raise InputError(f"{path}: not a {what} text file (looks like {kind})", path=str(path))
    for name in ("utf-8", "gb18030"):
        if _scan(path, name, lenient=False) is not None:
            return DetectedEncoding(name, "strict")
    for name in ("utf-8", "gb18030"):
        if _mostly(path, name):
            return DetectedEncoding(name, "mostly")
    from charset_normalizer import from_path  # only for the rare file that needs it

    best = from_path(path).best()
    if best is not None:
        return DetectedEncoding(best.encoding, "guess")
    return DetectedEncoding("utf-8", "mostly")
