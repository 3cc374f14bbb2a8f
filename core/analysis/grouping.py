"""Root-cause groups with stable ids: online clustering of TF-IDF vectors.

Each item becomes a sparse unit vector: the TF-IDF weights of its terms (the heaviest
``item_terms``, from :meth:`KeywordExtractor.vector`) plus one pseudo-term per taxonomy
category (weight ``category_weight`` before normalising), so items of one category lean
together while their words decide. A group is the sum of its members' vectors (its
*centroid*), truncated to the ``centroid_terms`` heaviest terms; similarity is the cosine
between an item and a centroid.

Assignment, one batch at a time (:meth:`GroupIndex.assign`):

1. every item joins the most similar existing group when the similarity reaches
   ``join_threshold``; otherwise it founds a new group, which later items of the same
   batch may join;
2. the groups founded in this batch are refined (``refine_passes`` rounds of k-means:
   centroids from their members, members moved to the nearest of them), so that a
   group's founder does not decide its shape alone; groups left empty vanish;
3. the joins are added to the centroids, new groups get the next free ids in the order
   they were founded, and the inverted index (term → groups) is updated.

Stability: an item that was assigned in an earlier batch never moves, and an existing
group is never renumbered or dropped — only the team merges or splits groups (see
:mod:`bihuan.core.analysis.group_ops`). Centroids live on the group rows
(``issue_group.centroid``), so a merge or split done by the team is what the next run
continues from.

Speed: candidates come from the inverted index of centroid terms, so an item is compared
with the groups that share one of its terms only (tens, not all of them). Each group has
a *slot* (a small integer, reused after the group goes), the postings are keyed by slot,
and an item's scores are summed into a list indexed by slot: list indexing instead of dict
lookups, and the best score found by C-level ``max``/``count`` — about 40% less time than
a dict of scores per item (``nearest`` is most of a batch's grouping time), with every
score summed in the same order, so the same floats and the same choices.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from bihuan.core.analysis.keywords import KeywordExtractor

__all__ = ["GroupIndex", "GroupModel", "GroupRecord", "GroupingSettings", "group_label"]

_FORMAT = 1
_CATEGORY = "§"  # prefix of category keys in the inverted index (never a term: not a letter)


def _by_score_then_lowest_id(item: tuple[int, float]) -> tuple[float, int]:
    return item[1], -item[0]


@dataclass(frozen=True, slots=True)
class GroupingSettings:
    """Tuning of the clustering (benchmarks/grouping_quality.py measures the defaults).

    :ivar join_threshold: minimum cosine similarity for an item to join a group.
    :ivar category_weight: weight of each taxonomy category next to the unit text vector.
    :ivar item_terms: terms kept per item vector (the heaviest).
    :ivar centroid_terms: terms kept per group centroid (the heaviest).
    :ivar refine_passes: k-means rounds over the groups a batch founds.
    :ivar label_terms: top terms joined into a group's label.
    """

    join_threshold: float = 0.25
    category_weight: float = 0.5
    item_terms: int = 24
    centroid_terms: int = 48
    refine_passes: int = 2
    label_terms: int = 3


@dataclass(slots=True)
class GroupRecord:
    """What grouping needs of one item: its terms and categories."""

    item_id: int
    tokens: Sequence[str]
    categories: Sequence[str] = ()


Vector = tuple[dict[str, float], dict[str, float]]  # (text terms, categories), jointly unit length


@dataclass(slots=True)
class GroupModel:
    """A group as the index holds it: centroid sums, size, label."""

    id: int
    terms: dict[str, float] = field(default_factory=dict)
    categories: dict[str, float] = field(default_factory=dict)
    size: int = 0
    label: str = ""
    label_locked: bool = False
    norm: float = 0.0

    def add(self, vector: Vector, *, limit: int) -> None:
        text, cats = vector
        terms = self.terms
        for term, weight in text.items():
            terms[term] = terms.get(term, 0.0) + weight
        for cat, weight in cats.items():
            self.categories[cat] = self.categories.get(cat, 0.0) + weight
        self.size += 1
        if len(terms) > 2 * limit:
            self.truncate(limit)

    def truncate(self, limit: int) -> None:
        """Keep the ``limit`` heaviest terms and recompute the norm."""
        if len(self.terms) > limit:
            self.terms = dict(sorted(self.terms.items(), key=itemgetter(1), reverse=True)[:limit])
        self.norm = math.sqrt(sum(w * w for w in self.terms.values()) + sum(w * w for w in self.categories.values()))

    def keywords(self, k: int = 8) -> list[str]:
        return [term for term, _ in sorted(self.terms.items(), key=lambda tw: (-tw[1], tw[0]))[:k]]

    @property
    def category(self) -> str | None:
        if not self.categories:
            return None
        return min(self.categories.items(), key=lambda cw: (-cw[1], cw[0]))[0]

    def to_centroid(self) -> dict[str, Any]:
        """The centroid as stored in ``issue_group.centroid``."""
        return {
            "format": _FORMAT,
            "terms": {t: round(w, 6) for t, w in self.terms.items()},
            "categories": {c: round(w, 6) for c, w in self.categories.items()},
        }

    @classmethod
    def from_centroid(
        cls,
        group_id: int,
        centroid: Mapping[str, Any] | None,
        *,
        size: int,
        label: str = "",
        label_locked: bool = False,
    ) -> GroupModel:
        centroid = centroid or {}
        model = cls(
            id=group_id,
            terms={str(t): float(w) for t, w in (centroid.get("terms") or {}).items()},
            categories={str(c): float(w) for c, w in (centroid.get("categories") or {}).items()},
            size=size,
            label=label,
            label_locked=label_locked,
        )
        model.truncate(len(model.terms))
        return model


def group_label(keywords: Sequence[str], k: int = 3) -> str:
    """A readable label from a group's top keywords: ``转账·卡顿·手机银行``, ``late fee charged``."""
    top = list(keywords[:k])
    if not top:
        return "(no keywords)"
    if all(term.isascii() for term in top):
        return " ".join(top)
    return "·".join(top)


class GroupIndex:
    """The groups and the inverted index that finds candidates for an item."""

    def __init__(
        self,
        extractor: KeywordExtractor,
        groups: Iterable[GroupModel] = (),
        *,
        next_id: int = 1,
        settings: GroupingSettings | None = None,
    ) -> None:
        self.extractor = extractor
        self.settings = settings or GroupingSettings()
        self.groups: dict[int, GroupModel] = {}
        # term or "§category" → {slot: the group's normalised weight}
        self._postings: dict[str, dict[int, float]] = {}
        self._indexed: dict[int, tuple[str, ...]] = {}
        self._slot_of: dict[int, int] = {}  # group id → slot
        self._slot_ids: list[int | None] = []  # slot → group id (None: free)
        self._free_slots: list[int] = []
        # groups posting a term weight that is not positive (a stored centroid rounded to
        # 0) or a negative category weight: the fast path of nearest() tells a candidate
        # by its positive score, which needs positive weights, so it is not used then
        self._irregular: set[int] = set()
        self._changed: set[int] = set()
        self.next_id = next_id
        for group in groups:
            self.groups[group.id] = group
            self._reindex(group)
            self.next_id = max(self.next_id, group.id + 1)

    # -- vectors -------------------------------------------------------------------------

    def vectorise(self, tokens: Sequence[str], categories: Sequence[str] = ()) -> Vector | None:
        """An item's unit vector, or ``None`` when it has no terms (nothing to group by)."""
        text = self.extractor.vector(tokens, self.settings.item_terms)
        if not text:
            return None
        weight = self.settings.category_weight
        squares = sum(w * w for w in text.values())
        cats = dict.fromkeys(categories, 0.0)
        scale = 1.0 / math.sqrt(1.0 + len(cats) * weight * weight)
        text_scale = scale / math.sqrt(squares)
        return (
            {term: w * text_scale for term, w in text.items()},
            {cat: weight * scale for cat in cats},
        )

    # -- the inverted index ------------------------------------------------------------

    def _slot(self, group_id: int) -> int:
        slot = self._slot_of.get(group_id)
        if slot is None:
            if self._free_slots:
                slot = self._free_slots.pop()
                self._slot_ids[slot] = group_id
            else:
                slot = len(self._slot_ids)
                self._slot_ids.append(group_id)
            self._slot_of[group_id] = slot
        return slot

    def _reindex(self, group: GroupModel) -> None:
        """Post the group's normalised centroid weights under its terms and categories
        (categories as ``§key``, so one pass over the postings scores both)."""
        self._unindex(group.id)
        if group.norm <= 0:
            return
        postings = self._postings
        slot = self._slot(group.id)
        inverse = 1.0 / group.norm
        for term, weight in group.terms.items():
            posted = postings.setdefault(term, {})[slot] = weight * inverse
            if not posted > 0.0:
                self._irregular.add(group.id)
        for cat, weight in group.categories.items():
            posted = postings.setdefault(_CATEGORY + cat, {})[slot] = weight * inverse
            if not posted >= 0.0:
                self._irregular.add(group.id)
        self._indexed[group.id] = (*group.terms, *(_CATEGORY + cat for cat in group.categories))

    def _unindex(self, group_id: int) -> None:
        keys = self._indexed.pop(group_id, ())
        self._irregular.discard(group_id)
        if not keys:
            return
        slot = self._slot_of[group_id]
        for term in keys:
            bucket = self._postings.get(term)
            if bucket is not None:
                bucket.pop(slot, None)
                if not bucket:
                    del self._postings[term]

    def _release(self, group_id: int) -> None:
        """Unindex a group that goes away and free its slot for another."""
        self._unindex(group_id)
        slot = self._slot_of.pop(group_id, None)
        if slot is not None:
            self._slot_ids[slot] = None
            self._free_slots.append(slot)

    def nearest(self, vector: Vector, *, only: Mapping[int, GroupModel] | None = None) -> tuple[int | None, float]:
        """The most similar group (lowest id on a tie) and the cosine similarity.

        Candidates are the groups sharing a term with the item (a shared category alone
        is no match); their score is the sum, term by term in the vector's order, of the
        item's weight times the group's, then the shared categories' products.
        """
        text, cats = vector
        if self._irregular or (text and min(text.values()) <= 0.0) or (cats and min(cats.values()) < 0.0):
            return self._nearest_by_dict(vector, only)
        postings = self._postings
        scores = [0.0] * len(self._slot_ids)
        shared = False
        for term, weight in text.items():
            bucket = postings.get(term)
            if bucket:
                shared = True
                for slot, gw in bucket.items():
                    scores[slot] += weight * gw  # 0.0 + x is x: the same sums as a dict of scores
        if not shared:
            return None, 0.0  # no shared word: a shared category alone is no match
        # text weights are positive, category weights not negative: the candidates are
        # exactly the slots scoring above 0
        for cat, weight in cats.items():
            bucket = postings.get(_CATEGORY + cat)
            if bucket:
                for slot, gw in bucket.items():
                    if scores[slot]:
                        scores[slot] += weight * gw
        ids = self._slot_ids
        if only is not None:
            slot_of = self._slot_of
            found = [(scores[slot_of[gid]], gid) for gid in only if gid in slot_of and scores[slot_of[gid]] > 0.0]
            if not found:
                return None, 0.0
            best = max(score for score, _ in found)
            return min(gid for score, gid in found if score == best), best
        best = max(scores)
        if scores.count(best) == 1:
            return ids[scores.index(best)], best
        return min(ids[slot] for slot, score in enumerate(scores) if score == best), best  # type: ignore[type-var]

    def _nearest_by_dict(self, vector: Vector, only: Mapping[int, GroupModel] | None) -> tuple[int | None, float]:
        """:meth:`nearest` with a dict of scores: right for any posted weight."""
        text, cats = vector
        scores: dict[int, float] = {}
        get = scores.get
        postings = self._postings
        for term, weight in text.items():
            bucket = postings.get(term)
            if bucket:
                for slot, gw in bucket.items():
                    scores[slot] = get(slot, 0.0) + weight * gw
        if not scores:
            return None, 0.0
        for cat, weight in cats.items():
            bucket = postings.get(_CATEGORY + cat)
            if bucket:
                for slot, gw in bucket.items():
                    if slot in scores:
                        scores[slot] += weight * gw
        by_id: dict[int, float] = {self._slot_ids[slot]: score for slot, score in scores.items()}  # type: ignore[misc]
        if only is not None:
            by_id = {gid: score for gid, score in by_id.items() if gid in only}
            if not by_id:
                return None, 0.0
        best = max(by_id.items(), key=_by_score_then_lowest_id)
        return best[0], best[1]

    # -- assignment --------------------------------------------------------------------

    def assign(self, records: Sequence[GroupRecord]) -> list[int | None]:
        """Each record's group id (``None`` for a record without terms); see the module doc."""
        settings = self.settings
        threshold = settings.join_threshold
        vectors = [self.vectorise(r.tokens, r.categories) for r in records]
        result: list[int | None] = [None] * len(records)
        joins: dict[int, list[int]] = {}  # existing group → members (indexes into records)
        founded: dict[int, GroupModel] = {}  # temporary (negative) id → new group
        members: dict[int, list[int]] = {}
        next_temp = -1
        for i, vector in enumerate(vectors):
            if vector is None:
                continue
            gid, score = self.nearest(vector)
            if gid is not None and score >= threshold:
                result[i] = gid
                (members if gid < 0 else joins).setdefault(gid, []).append(i)
                continue
            group = GroupModel(id=next_temp)
            group.add(vector, limit=settings.centroid_terms)
            group.truncate(settings.centroid_terms)
            founded[next_temp] = group
            members[next_temp] = [i]
            self.groups[next_temp] = group
            self._reindex(group)
            result[i] = next_temp
            next_temp -= 1
        if founded:
            self._refine(founded, members, vectors, result)
        for gid, indexes in joins.items():
            group = self.groups[gid]
            for i in indexes:
                group.add(vectors[i], limit=settings.centroid_terms)  # type: ignore[arg-type]
            self._settle(group)
        renumbered: dict[int, int] = {}
        for temp in sorted(founded, reverse=True):  # -1, -2, …: the order they were founded
            group = founded[temp]
            self._release(temp)
            del self.groups[temp]
            if not members.get(temp):
                continue
            group.id = renumbered[temp] = self.next_id
            self.next_id += 1
            self.groups[group.id] = group
            self._settle(group)
        return [renumbered.get(g, g) if g is not None and g < 0 else g for g in result]

    def _refine(
        self,
        founded: dict[int, GroupModel],
        members: dict[int, list[int]],
        vectors: Sequence[Vector | None],
        result: list[int | None],
    ) -> None:
        """k-means rounds over this batch's new groups (nothing saved yet can move)."""
        limit = self.settings.centroid_terms
        for _ in range(self.settings.refine_passes):
            for temp, group in founded.items():
                group.terms, group.categories, group.size = {}, {}, 0
                for i in members.get(temp, ()):
                    group.add(vectors[i], limit=limit)  # type: ignore[arg-type]
                group.truncate(limit)
                self._reindex(group)
            moved = 0
            regrouped: dict[int, list[int]] = {temp: [] for temp in founded}
            for temp, indexes in members.items():
                for i in indexes:
                    best, _ = self.nearest(vectors[i], only=founded)  # type: ignore[arg-type]
                    target = best if best is not None else temp
                    moved += target != temp
                    regrouped[target].append(i)
                    result[i] = target
            members.clear()
            members.update({temp: indexes for temp, indexes in regrouped.items() if indexes})
            if not moved:
                break
        for temp, group in founded.items():
            group.terms, group.categories, group.size = {}, {}, 0
            for i in members.get(temp, ()):
                group.add(vectors[i], limit=limit)  # type: ignore[arg-type]

    def _settle(self, group: GroupModel) -> None:
        """Truncate, relabel and re-index a group that changed."""
        settings = self.settings
        group.truncate(settings.centroid_terms)
        if not group.label_locked:
            group.label = group_label(group.keywords(), settings.label_terms)
        self._reindex(group)
        self._changed.add(group.id)

    # -- bookkeeping -------------------------------------------------------------------

    def group_ids(self) -> list[int]:
        return sorted(self.groups)

    def changed_groups(self) -> list[GroupModel]:
        """Groups created or changed since :meth:`mark_saved`, by id."""
        return [self.groups[gid] for gid in sorted(self._changed) if gid in self.groups]

    def mark_saved(self) -> None:
        self._changed.clear()

    def remove(self, group_id: int) -> None:
        """Forget a group (merged away by the team): no item joins it any more."""
        self._release(group_id)
        self.groups.pop(group_id, None)
        self._changed.discard(group_id)

    def put(self, group: GroupModel) -> None:
        """Add or replace a group (after a merge or split recomputed its centroid)."""
        self.groups[group.id] = group
        self.next_id = max(self.next_id, group.id + 1)
        self._settle(group)
