"""Finding out how a text export is encoded, without being told.

Excel on a Chinese Windows saves CSV as GBK (GB18030 is its superset), newer tools as
UTF-8 with or without a BOM, some as UTF-16. The order of the checks matters: a BOM is
certain; strict UTF-8 almost never succeeds by accident on GBK bytes; GB18030 decodes
almost anything, so it comes after UTF-8; charset-normalizer guesses the rest.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

from bihuan.core.errors import CollectorConfigError, InputError

_CHUNK = 1 << 20

#: leading bytes of files people save as .csv by mistake
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive, e.g. an XLSX workbook"),
    (b"\xd0\xcf\x11\xe0", "an old Excel/Office document (XLS)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass(frozen=True, slots=True)
class DetectedEncoding:
    """The codec to read a file with.

    :ivar name: a Python codec name.
    :ivar certain: ``True`` when the whole file decodes strictly (or has a BOM); when
        ``False`` some bytes may not decode and rows holding them must be checked.
    """

    name: str
    certain: bool


def _binary_kind(head: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    # text has (almost) no NUL bytes; a few stray ones are data errors, many mean binary
    if head.count(0) > 8 + len(head) // 100:
        return "binary data"
    return None


def _decodes_strictly(path: Path, encoding: str) -> bool:
    """Whether the whole file decodes with ``encoding``, streamed in chunks."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def check_codec(name: str, *, where: str) -> str:
    """``name`` if Python knows the codec, else a configuration error."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise CollectorConfigError(f"{where}: unknown encoding {name!r}") from None


def detect_encoding(path: Path, declared: str | None = None) -> DetectedEncoding:
    """How to decode ``path``; raises ``InputError`` for files that are not text.

    :param declared: the encoding the user named (``--encoding``); a BOM still wins,
        since a file cannot carry a UTF-8 BOM and be GBK.
    """
    with path.open("rb") as f:
        head = f.read(65536)
    for bom, name in _BOMS:
        if head.startswith(bom):
            return DetectedEncoding(name, certain=True)
    kind = _binary_kind(head)
    if kind is not None:
        raise InputError(f"{path.name}: not a text file (looks like {kind})", path=str(path))
    if declared:
        name = check_codec(declared, where=path.name)
        return DetectedEncoding(name, certain=_decodes_strictly(path, name))
    for name in ("utf-8", "gb18030"):
        if _decodes_strictly(path, name):
            return DetectedEncoding(name, certain=True)
    from charset_normalizer import from_path  # only for the rare file that needs it

    best = from_path(path).best()
    if best is not None:
        return DetectedEncoding(best.encoding, certain=False)
    return DetectedEncoding("utf-8", certain=False)
