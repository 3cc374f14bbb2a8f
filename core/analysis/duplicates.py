"""Near-duplicate linking: one complaint said twice is counted once.

Two kinds of repeat are linked to the first item seen (its *canonical* item, stored as
``item_analysis.duplicate_of``), so that volumes, Pareto and spikes count the complaint
once while the repeat stays visible (it is the repeat-contact KPI's raw material):

* **the same customer on the same problem** — the same ``customer_ref`` in the same
  root-cause group within ``window`` days of their previous contact (a chain of repeats
  all point at the first item);
* **the same text on several channels** — a social post copied into a ticket, a survey
  answer pasted twice: the same normalised text (case, spaces, punctuation and redaction
  marks ignored; at least :data:`MIN_TEXT_CHARS` characters so that "太慢了" from two
  customers stays two complaints) within ``window`` days.

Texts are compared by :func:`text_key`, a 64-bit hash of the normalised text that is
stored with each result (``item_analysis.text_key``).

The linker is fed items in analysis order; :meth:`DuplicateLinker.seed` primes it with
the already analysed items of the window before the first pending item (from their
stored keys: no text is normalised again), so an incremental run links today's repeat
to last week's complaint.

Memory: two dicts of 64-bit hashes → (canonical id, last seen), ~100 bytes an entry.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from hashlib import blake2b

from bihuan.core.redaction import REDACTION_TOKENS

__all__ = ["MIN_TEXT_CHARS", "DuplicateLinker", "normalise_text", "text_key"]

#: shorter normalised texts are never linked by text alone
MIN_TEXT_CHARS = 12

# spaces, punctuation and symbols (ASCII and CJK), and the marks redaction leaves behind
_REDACTED = re.compile(rf"\[(?:{'|'.join(t[1:-1] for t in REDACTION_TOKENS.values())})\]")
_NOISE = re.compile(r"[\s\W_]+")


def normalise_text(text: str) -> str:
    """``text`` as compared for copies: NFKC, lower case, no spaces, punctuation or
    redaction marks."""
    return _NOISE.sub("", _REDACTED.sub("", unicodedata.normalize("NFKC", text).lower()))


def text_key(text: str) -> int:
    """The key ``text`` is linked by: a signed 64-bit hash of :func:`normalise_text`
    (stable across processes and machines, unlike ``hash()``), never 0; 0 for a text
    too short to be linked by text alone."""
    normalised = normalise_text(text)
    if len(normalised) < MIN_TEXT_CHARS:
        return 0
    return int.from_bytes(blake2b(normalised.encode(), digest_size=8).digest(), "big", signed=True) or 1


class DuplicateLinker:
    """Finds the canonical item an item repeats (see the module doc).

    :param window_days: how far apart (in days, either direction) two items may be.
    """

    def __init__(self, window_days: int) -> None:
        self.window = float(window_days) * 86400.0
        self._by_customer: dict[int, tuple[int, float]] = {}
        self._by_text: dict[int, tuple[int, float]] = {}

    def __len__(self) -> int:
        return len(self._by_customer) + len(self._by_text)

    def _match(self, table: dict[int, tuple[int, float]], key: int, item_id: int, at: float) -> int | None:
        seen = table.get(key)
        if seen is not None and abs(at - seen[1]) <= self.window:
            table[key] = (seen[0], max(at, seen[1]))
            return seen[0]
        table[key] = (item_id, at)
        return None

    def link(
        self,
        item_id: int,
        *,
        group_id: int | None,
        created_at: datetime,
        customer_ref: str | None,
        text: str = "",
        key: int | None = None,
    ) -> int | None:
        """The canonical item ``item_id`` repeats, or ``None`` (then it is canonical itself).

        :param key: ``text``'s :func:`text_key` when the caller has it (then ``text`` is
            not read).
        """
        at = created_at.timestamp()
        canonical: int | None = None
        if customer_ref and group_id is not None:
            canonical = self._match(self._by_customer, hash((customer_ref, group_id)), item_id, at)
        if key is None:
            key = text_key(text)
        if key:
            by_text = self._match(self._by_text, key, canonical or item_id, at)
            if canonical is None:
                canonical = by_text
        return canonical if canonical != item_id else None

    def seed(
        self,
        item_id: int,
        *,
        group_id: int | None,
        created_at: datetime,
        customer_ref: str | None,
        text: str = "",
        key: int | None = None,
        duplicate_of: int | None,
    ) -> None:
        """Remember an item analysed earlier (its stored link decides its canonical item);
        ``key`` as for :meth:`link`."""
        canonical = duplicate_of or item_id
        at = created_at.timestamp()
        if customer_ref and group_id is not None:
            self._remember(self._by_customer, hash((customer_ref, group_id)), canonical, at)
        if key is None:
            key = text_key(text)
        if key:
            self._remember(self._by_text, key, canonical, at)

    @staticmethod
    def _remember(table: dict[int, tuple[int, float]], key: int, canonical: int, at: float) -> None:
        seen = table.get(key)
        table[key] = (seen[0], max(at, seen[1])) if seen is not None else (canonical, at)
