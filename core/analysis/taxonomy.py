"""Taxonomy: editable keyword rules that put feedback into categories.

A taxonomy is a TOML file of ``[[category]]`` tables, each with a stable ``key``, a
``label`` for people, ``keywords`` and optional ``exclude`` words; the format and the
matching rules are documented at the top of the shipped default,
``default_taxonomy.toml`` (a retail-bank taxonomy in Chinese with English keywords).
``plugins.toml`` may point to the team's own copy (``[analysis] taxonomy = "..."``).

>>> taxonomy = load_taxonomy()
>>> taxonomy.classify("信用卡用了两年，申请提额一直被拒")
['credit_limit']
>>> taxonomy.label("credit_limit")
'额度与提额'

Matching, in short: Chinese keywords are substrings; Latin keywords are case-insensitive
and match at word edges (``"fee"`` is not in ``"feedback"``; ``"refinanc*"`` is a prefix);
where keywords overlap the longest wins; a category's strength is the number of its
different keywords in the text; ``exclude`` words veto their category.

Speed: :meth:`Taxonomy.classify` is one regex pass over the lower-cased text plus a few
dict operations per keyword found. ``re`` has no keyword-set search: it tries the
alternatives of a group one after another, so a flat alternation of the default
taxonomy's ~420 keywords costs ~120 µs per 40-character text, and a trie of them (one
alternative per distinct first character, ~180) still ~4 µs. The pattern here instead
puts one class of all first characters in front (``re`` skips every other position
without entering the pattern), then a lookahead class of all second characters (most
candidate positions fail there in one step), then groups of ~30 first characters
(lookbehind classes), then a branch on the *second* character that confirms the first
with a two-character lookbehind, then the rest as a trie with the shorter keyword last.
It finds exactly what the flat alternation finds (tests compare them), and classifying
costs ~3 µs per demo text (45 characters on average; figures in
tests/core/analysis/test_taxonomy.py).
"""

from __future__ import annotations

import re
import threading
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from bihuan.core.errors import ConfigError

__all__ = [
    "DEFAULT_TAXONOMY_FILE",
    "Category",
    "Taxonomy",
    "default_taxonomy_text",
    "load_taxonomy",
    "parse_taxonomy",
]

#: the shipped default, a data file of this package
DEFAULT_TAXONOMY_FILE = "default_taxonomy.toml"

_KEY = re.compile(r"[a-z][a-z0-9_]*\Z")
_CATEGORY_FIELDS = frozenset({"key", "label", "keywords", "exclude", "description"})
# letters and digits that make a word edge for Latin keywords (the text is lower-cased)
_WORD_CHAR = re.compile(r"[a-z0-9]")
_WORD_EDGE_AFTER = r"(?![a-z0-9])"
# spaces and hyphens inside a keyword: any run of whitespace or hyphens in the text
_SEPARATORS = re.compile(r"[\s\-]+")
_SEPARATOR_PATTERN = r"[\s\-]+"
# first characters per group of the matcher (30 measured best with the default taxonomy:
# fewer groups mean more second-character alternatives to try in each)
_FIRST_CHARS_PER_GROUP = 30
# a category's strength: _UNIT per keyword found plus the keywords' total length
_UNIT = 1 << 12


@dataclass(frozen=True, slots=True)
class Category:
    """One category of a taxonomy.

    :ivar key: stable id stored on items (lowercase ASCII letters, digits, ``_``).
    :ivar label: the name people see.
    :ivar keywords: the words that put a text into the category, as written in the file.
    :ivar exclude: words that keep a text out of it, whatever its keywords.
    :ivar description: optional note for the team.
    """

    key: str
    label: str
    keywords: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    description: str = ""


def _normalise_keyword(word: str) -> tuple[str, bool]:
    """``(matching form, is_prefix)``: lower-cased, separators as single spaces, ``*`` off."""
    form = _SEPARATORS.sub(" ", word.strip().lower()).strip()
    prefix = form.endswith("*")
    if prefix:
        form = form.rstrip("*").rstrip()
    return form, prefix and bool(form) and bool(_WORD_CHAR.match(form[-1]))


def _check_keyword(word: Any, where: str, field: str) -> tuple[str, bool]:
    if not isinstance(word, str):
        raise ConfigError(f"{where}: {field} must be strings, got {word!r}")
    if "*" in word.strip().rstrip("*"):
        raise ConfigError(f"{where}: {field} {word!r}: '*' is only allowed at the end (a prefix)")
    form, prefix = _normalise_keyword(word)
    if not form:
        raise ConfigError(f"{where}: empty {field.removesuffix('s')} {word!r}")
    return form, prefix


# ---------------------------------------------------------------------------------------
# The matcher
# ---------------------------------------------------------------------------------------


def _piece(char: str) -> str:
    return _SEPARATOR_PATTERN if char == " " else re.escape(char)


def _rest(node: dict[str, Any]) -> str:
    """The trie below ``node`` as a pattern: longer continuations first, the end last."""
    branches = [_piece(char) + _rest(child) for char, child in sorted(node.items()) if char]
    if "" in node:
        form, prefix = node[""]
        branches.append("" if prefix or not _WORD_CHAR.match(form[-1]) else _WORD_EDGE_AFTER)
    if len(branches) == 1:
        return branches[0]
    return "(?:" + "|".join(branches) + ")"


def _matcher_pattern(words: Mapping[str, bool]) -> str:
    """The pattern finding ``words`` (form → is_prefix), leftmost and longest first.

    See the module doc. In order: one class of all first characters (``re`` skips the
    other text positions without entering the pattern); a lookahead class of all second
    characters (most positions fail here, in one step); groups of first characters
    confirmed by a lookbehind class; the second character as the branch to take, the
    exact first character confirmed by a two-character lookbehind; the rest of the trie.
    One-character keywords come last (the longest keyword wins). A Latin first character
    must not follow a Latin letter or digit (a lookbehind over the consumed characters).
    """
    trie: dict[str, Any] = {}
    for form, prefix in words.items():
        node = trie
        for char in form:
            node = node.setdefault(char, {})
        node[""] = (form, prefix)
    firsts = sorted(trie)
    seconds = sorted({char for node in trie.values() for char in node if char and char != " "})
    separated = any(" " in node for node in trie.values())  # "a b…": any separator may follow
    groups = []
    singles = []
    for start in range(0, len(firsts), _FIRST_CHARS_PER_GROUP):
        chunk = firsts[start : start + _FIRST_CHARS_PER_GROUP]
        by_second: dict[str, list[str]] = {}
        spaced: list[str] = []
        for first in chunk:
            node = trie[first]
            latin = bool(_WORD_CHAR.match(first))
            for second in sorted(node):
                if second and second != " ":
                    edge = "(?<![a-z0-9]..)" if latin else ""
                    by_second.setdefault(second, []).append(
                        f"(?<={re.escape(first + second)}){edge}{_rest(node[second])}"
                    )
            edge = "(?<![a-z0-9].)" if latin else ""
            if " " in node:
                spaced.append(f"(?<={re.escape(first)}){edge}{_SEPARATOR_PATTERN}{_rest(node[' '])}")
            if "" in node:
                form, prefix = node[""]
                end = "" if prefix or not latin else _WORD_EDGE_AFTER
                singles.append(f"(?<={re.escape(first)}){edge}{end}")
        branches = [
            re.escape(second) + (alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")")
            for second, alts in sorted(by_second.items())
        ]
        branches.extend(spaced)
        if branches:
            groups.append((_char_class(chunk), _alternation(branches)))
    if len(groups) == 1:
        longer = groups[0][1]
    else:
        longer = _alternation([f"(?<={chars}){body}" for chars, body in groups])
    ahead = "[" + "".join(re.escape(char) for char in seconds) + (r"\s\-" if separated else "") + "]"
    parts = [f"(?={ahead}){longer}"] if groups else []
    if singles:
        parts.append(_alternation(singles))
    return _char_class(firsts) + _alternation(parts)


def _alternation(branches: list[str]) -> str:
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


def _char_class(chars: Iterable[str]) -> str:
    return "[" + "".join(re.escape(char) for char in chars) + "]"


def _compile(words: Mapping[str, bool]) -> re.Pattern[str] | None:
    return re.compile(_matcher_pattern(words)) if words else None


# ---------------------------------------------------------------------------------------
# Taxonomy
# ---------------------------------------------------------------------------------------


class Taxonomy:
    """Categories and their keyword rules; :meth:`classify` puts a text into categories.

    Immutable and thread-safe; it pickles as its categories (the matcher is rebuilt).

    :raises ConfigError: for a duplicate or malformed key, a category without keywords,
        or one keyword written both as ``"x"`` and as the prefix ``"x*"``.
    """

    def __init__(self, categories: Iterable[Category], *, source: str = "<taxonomy>") -> None:
        self._categories = tuple(categories)
        self._source = source
        self._build()

    def _build(self) -> None:
        source = self._source
        if not self._categories:
            raise ConfigError(f"taxonomy {source}: no categories")
        self._index: dict[str, int] = {}
        prefix_of: dict[str, bool] = {}
        owner: dict[str, str] = {}
        # matching form -> category indexes having it as a keyword
        keyword_categories: dict[str, list[int]] = {}
        excludes: list[tuple[int, tuple[tuple[str, ...], re.Pattern[str] | None]]] = []
        for index, category in enumerate(self._categories):
            where = f"taxonomy {source}: category {category.key!r}"
            if not isinstance(category.key, str) or not _KEY.match(category.key):
                raise ConfigError(
                    f"taxonomy {source}: category key {category.key!r} must be lowercase ASCII letters, "
                    "digits and '_', starting with a letter"
                )
            if category.key in self._index:
                raise ConfigError(f"taxonomy {source}: duplicate category key {category.key!r}")
            self._index[category.key] = index
            if not isinstance(category.label, str) or not category.label.strip():
                raise ConfigError(f"{where}: label must be a non-empty string")
            if isinstance(category.keywords, str) or isinstance(category.exclude, str):
                raise ConfigError(f"{where}: keywords and exclude must be lists of words, not one string")
            if not category.keywords:
                raise ConfigError(f"{where}: no keywords (list at least one)")
            for word in category.keywords:
                form, prefix = _check_keyword(word, where, "keywords")
                if prefix_of.setdefault(form, prefix) != prefix:
                    other = form if prefix else form + "*"
                    raise ConfigError(
                        f"{where}: keyword {word!r} is also listed as {other!r} (in {owner[form]!r}); keep one of them"
                    )
                owner.setdefault(form, category.key)
                indexes = keyword_categories.setdefault(form, [])
                if index not in indexes:
                    indexes.append(index)
            # excludes: plain words (a substring test is exact) and the rest as a pattern
            plain: list[str] = []
            other: dict[str, bool] = {}
            for word in category.exclude:
                form, prefix = _check_keyword(word, where, "exclude")
                if " " in form or _WORD_CHAR.match(form[0]) or _WORD_CHAR.match(form[-1]):
                    other[form] = prefix
                elif form not in plain:
                    plain.append(form)
            if plain or other:
                excludes.append((index, (tuple(plain), _compile(other))))
        self._keys = tuple(c.key for c in self._categories)
        # Strength as one integer, so that ranking is a plain sort: a category starts at
        # n - 1 - index (earlier categories win ties) and each of its keywords found adds
        # (_UNIT + its length) * n, i.e. the count first, then the total length.
        n = len(self._categories)
        self._bias = tuple(n - 1 - index for index in range(n))
        # keyword form -> ((category index, weight), ...)
        self._lookup: dict[str, tuple[tuple[int, int], ...]] = {
            form: tuple((index, (_UNIT + min(len(form), _UNIT - 1)) * n) for index in indexes)
            for form, indexes in keyword_categories.items()
        }
        self._excludes: dict[int, tuple[tuple[str, ...], re.Pattern[str] | None]] = dict(excludes)
        self._excluding = frozenset(self._excludes)
        self._matcher = _compile(prefix_of)
        assert self._matcher is not None
        self._findall = self._matcher.findall

    # -- reading -------------------------------------------------------------------------

    @property
    def categories(self) -> tuple[Category, ...]:
        """The categories, in file order."""
        return self._categories

    @property
    def keys(self) -> tuple[str, ...]:
        """The category keys, in file order."""
        return self._keys

    @property
    def source(self) -> str:
        """Where the taxonomy came from (a path, or ``<default>``)."""
        return self._source

    def label(self, key: str) -> str:
        """The label of category ``key``; an unknown key (e.g. stored on an item before the
        category was removed from the file) is returned as it is."""
        index = self._index.get(key)
        return key if index is None else self._categories[index].label

    def category(self, key: str) -> Category:
        """The category ``key``. :raises KeyError: when there is none."""
        return self._categories[self._index[key]]

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __iter__(self) -> Iterator[Category]:
        return iter(self._categories)

    def __len__(self) -> int:
        return len(self._categories)

    def __repr__(self) -> str:
        return f"<Taxonomy {self._source}: {len(self._categories)} categories>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (self._categories, self._source))

    # -- classifying ---------------------------------------------------------------------

    def _strengths(self, found: Iterable[str]) -> dict[int, int]:
        """category index -> strength of the keyword forms ``found`` (separators normalised)."""
        strengths: dict[int, int] = {}
        bias = self._bias
        for form in {_SEPARATORS.sub(" ", form) for form in found}:
            for index, weight in self._lookup[form]:
                strengths[index] = strengths.get(index, bias[index]) + weight
        return strengths

    def _vetoed(self, index: int, lowered: str) -> bool:
        words, pattern = self._excludes[index]
        for word in words:
            if word in lowered:
                return True
        return pattern is not None and pattern.search(lowered) is not None

    def classify(self, text: str | None) -> list[str]:
        """The keys of the categories ``text`` belongs to, the strongest first (empty when
        none): strength is the number of different keywords of the category in the text,
        then their total length, then file order. ``exclude`` words veto a category."""
        # the hot path of analysis: one regex pass, then a few dict operations per match
        if not text:
            return []
        lowered = text.lower()
        found = self._findall(lowered)
        if not found:
            return []
        lookup, bias = self._lookup, self._bias
        strengths: dict[int, int] = {}
        get = strengths.get
        try:
            for form in found if len(found) == 1 else set(found):
                for index, weight in lookup[form]:
                    strengths[index] = get(index, bias[index]) + weight
        except KeyError:  # "credit-report", "Credit  report": separators vary
            strengths = self._strengths(found)
        if not self._excluding.isdisjoint(strengths):
            for index in self._excluding.intersection(strengths):
                if self._vetoed(index, lowered):
                    del strengths[index]
        keys = self._keys
        if len(strengths) < 2:
            return [keys[index] for index in strengths]
        return [keys[index] for index in sorted(strengths, key=strengths.__getitem__, reverse=True)]

    def classify_many(self, texts: Iterable[str | None]) -> list[list[str]]:
        """:meth:`classify` for each text, in order."""
        classify = self.classify
        return [classify(text) for text in texts]

    def explain(self, text: str | None) -> dict[str, list[str]]:
        """Why :meth:`classify` chose its categories: category key → the keywords found
        (lower-cased, as matched, each once), in the order of :meth:`classify`."""
        if not text:
            return {}
        lowered = text.lower()
        found = list(dict.fromkeys(_SEPARATORS.sub(" ", form) for form in self._findall(lowered)))
        keywords: dict[int, list[str]] = {}
        for form in found:
            for index, _ in self._lookup[form]:
                keywords.setdefault(index, []).append(form)
        return {key: keywords[self._index[key]] for key in self.classify(text)}


def _restore(categories: tuple[Category, ...], source: str) -> Taxonomy:
    return Taxonomy(categories, source=source)


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


def _strings(value: Any, where: str, field: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: {field} must be a list of strings, got {type(value).__name__}")
    for item in value:
        if not isinstance(item, str):
            raise ConfigError(f"{where}: {field} must be a list of strings, got {item!r}")
    return tuple(value)


def _categories_from(data: Mapping[str, Any], source: str) -> list[Category]:
    unknown = set(data) - {"category"}
    if unknown:
        raise ConfigError(
            f"taxonomy {source}: unknown top-level entries {', '.join(sorted(unknown))}"
            " (the file holds [[category]] tables only)"
        )
    tables = data.get("category")
    if tables is None:
        raise ConfigError(f"taxonomy {source}: no [[category]] tables")
    if not isinstance(tables, list):
        raise ConfigError(f"taxonomy {source}: 'category' must be an array of tables: write [[category]]")
    categories = []
    for number, table in enumerate(tables, start=1):
        if not isinstance(table, dict):
            raise ConfigError(f"taxonomy {source}: category #{number} must be a table: write [[category]]")
        key = table.get("key")
        where = f"taxonomy {source}: category #{number}" + (f" ({key!r})" if isinstance(key, str) else "")
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{where}: missing key")
        unknown = set(table) - _CATEGORY_FIELDS
        if unknown:
            raise ConfigError(
                f"{where}: unknown field(s) {', '.join(sorted(unknown))}"
                f" (allowed: {', '.join(sorted(_CATEGORY_FIELDS))})"
            )
        label = table.get("label")
        if not isinstance(label, str) or not label.strip():
            raise ConfigError(f"{where}: missing label")
        description = table.get("description", "")
        if not isinstance(description, str):
            raise ConfigError(f"{where}: description must be a string")
        categories.append(
            Category(
                key=key,
                label=label.strip(),
                keywords=_strings(table.get("keywords", []), where, "keywords"),
                exclude=_strings(table.get("exclude", []), where, "exclude"),
                description=description,
            )
        )
    return categories


def parse_taxonomy(text: str, *, source: str = "<string>") -> Taxonomy:
    """A :class:`Taxonomy` from TOML text (see ``default_taxonomy.toml`` for the format).

    :raises ConfigError: naming ``source`` and the problem (with the line number for TOML
        syntax errors).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"taxonomy {source}: invalid TOML: {exc}") from None
    return Taxonomy(_categories_from(data, source), source=source)


def default_taxonomy_text() -> str:
    """The text of the shipped default taxonomy (to copy and edit)."""
    try:
        return resources.files(__package__).joinpath(DEFAULT_TAXONOMY_FILE).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:  # a broken installation
        raise ConfigError(
            f"the default taxonomy {DEFAULT_TAXONOMY_FILE} is missing from the installed package {__package__}; "
            "reinstall bihuan"
        ) from exc


_default: Taxonomy | None = None
_default_lock = threading.Lock()


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load the taxonomy file at ``path``, or the shipped default when ``path`` is None.

    The default is parsed once per process and shared (a :class:`Taxonomy` is immutable);
    a file is read each time, so edits are picked up by the next call.

    :raises ConfigError: naming the file and the problem: missing or unreadable file,
        invalid TOML (with its line and column), missing or duplicate keys, a category
        without keywords, unknown fields.
    """
    global _default
    if path is None:
        if _default is None:
            with _default_lock:
                if _default is None:
                    _default = parse_taxonomy(default_taxonomy_text(), source="<default>")
        return _default
    file = Path(path).expanduser()
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"taxonomy file {file} not found") from None
    except OSError as exc:
        raise ConfigError(f"taxonomy file {file} cannot be read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"taxonomy {file}: not UTF-8 (line {line}); save the file as UTF-8") from None
    return parse_taxonomy(text, source=str(file))
