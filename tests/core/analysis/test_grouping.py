"""Root-cause grouping: quality on the demo truth, stable ids across batches, centroids that round-trip."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bihuan.core.analysis.grouping import GroupIndex, GroupingSettings, GroupModel, GroupRecord, group_label
from bihuan.core.analysis.keywords import KeywordExtractor, tokens_for
from bihuan.core.analysis.taxonomy import load_taxonomy
from bihuan.core.demo_data.reading import DemoText


def records(texts: list[str], start: int = 0) -> list[GroupRecord]:
    taxonomy = load_taxonomy()
    return [GroupRecord(start + i, tokens_for(t), taxonomy.classify(t)) for i, t in enumerate(texts)]


def purity(truth: list[str], groups: list[int | None]) -> float:
    by_group: dict[int | None, Counter[str]] = {}
    for label, group in zip(truth, groups, strict=True):
        by_group.setdefault(group, Counter())[label] += 1
    return sum(c.most_common(1)[0][1] for c in by_group.values()) / len(truth)


def build(texts: list[str], batch: int = 1000) -> tuple[GroupIndex, list[int | None]]:
    extractor = KeywordExtractor()
    index = GroupIndex(extractor)
    out: list[int | None] = []
    recs = records(texts)
    for start in range(0, len(recs), batch):
        chunk = recs[start : start + batch]
        extractor.update(r.tokens for r in chunk)
        out += index.assign(chunk)
    return index, out


def test_demo_complaints_group_by_their_true_cause(demo_texts: list[DemoText]) -> None:
    texts = [d.text for d in demo_texts]
    truth = [d.truth["cause"] for d in demo_texts]
    _, groups = build(texts)
    assert purity(truth, groups) >= 0.8
    sizes = Counter(g for g in groups if g is not None)
    # a readable number of groups for a team, not one per item
    assert 12 <= len(sizes) <= len(texts) / 20
    # each big true cause is mostly in a few groups, not scattered
    for cause in ("credit_limit", "mobile_app", "hotline_access"):
        spread = Counter(g for g, t in zip(groups, truth, strict=True) if t == cause)
        top3 = sum(n for _, n in spread.most_common(3))
        assert top3 / sum(spread.values()) >= 0.6, (cause, spread.most_common(5))


def test_labels_come_from_the_top_keywords(demo_texts: list[DemoText]) -> None:
    index, groups = build([d.text for d in demo_texts if d.truth["cause"] == "credit_limit"])
    biggest = Counter(groups).most_common(1)[0][0]
    assert "提额" in index.groups[biggest].label
    assert group_label(["转账", "卡顿", "手机银行"]) == "转账·卡顿·手机银行"
    assert group_label(["late", "fee"]) == "late fee"
    assert group_label([]) == "(no keywords)"


def test_earlier_groups_keep_their_ids_and_new_items_join_the_nearest(demo_texts: list[DemoText]) -> None:
    texts = [d.text for d in demo_texts]
    half = len(texts) // 2
    extractor = KeywordExtractor()
    index = GroupIndex(extractor)
    first = records(texts[:half])
    extractor.update(r.tokens for r in first)
    first_groups = index.assign(first)
    ids_before = set(index.group_ids())
    assert ids_before == {g for g in first_groups if g is not None}
    assert sorted(ids_before) == list(range(1, len(ids_before) + 1))

    second = records(texts[half:], start=half)
    extractor.update(r.tokens for r in second)
    second_groups = index.assign(second)
    assert ids_before <= set(index.group_ids()), "no group vanishes"
    new_ids = set(index.group_ids()) - ids_before
    assert all(gid > max(ids_before) for gid in new_ids), "new groups get new ids"
    joined = sum(g in ids_before for g in second_groups)
    assert joined / len(second_groups) >= 0.8, "most of the second half joins existing groups"

    # the very same complaint again joins the group its twin is in
    again = index.assign(records([texts[0]], start=10**6))
    assert again == [first_groups[0]]


def test_items_without_terms_get_no_group() -> None:
    index = GroupIndex(KeywordExtractor())
    assert index.assign(records(["好", "！！！", ""])) == [None, None, None]


def test_centroids_round_trip_through_the_stored_form(demo_texts: list[DemoText]) -> None:
    texts = [d.text for d in demo_texts[:1500]]
    index, _ = build(texts)
    stored = {
        g.id: (g.to_centroid(), g.size, g.label) for g in index.groups.values()
    }  # what issue_group.centroid / size / label hold
    restored = GroupIndex(
        index.extractor,
        [GroupModel.from_centroid(gid, c, size=n, label=label) for gid, (c, n, label) in stored.items()],
    )
    assert restored.next_id == max(stored) + 1
    probe = records([d.text for d in demo_texts[1500:1700]], start=5000)
    settings_free = [index.nearest(v)[0] for v in (index.vectorise(r.tokens, r.categories) for r in probe) if v]
    restored_pick = [restored.nearest(v)[0] for v in (restored.vectorise(r.tokens, r.categories) for r in probe) if v]
    assert settings_free == restored_pick


def test_a_stricter_threshold_makes_more_groups(demo_texts: list[DemoText]) -> None:
    texts = [d.text for d in demo_texts[:1500]]
    loose = GroupIndex(KeywordExtractor(), settings=GroupingSettings(join_threshold=0.2))
    strict = GroupIndex(KeywordExtractor(), settings=GroupingSettings(join_threshold=0.5))
    for index in (loose, strict):
        recs = records(texts)
        index.extractor.update(r.tokens for r in recs)
        index.assign(recs)
    assert len(strict.groups) > len(loose.groups)


def reference_nearest(index: GroupIndex, vector: Any, only: set[int] | None = None) -> tuple[int | None, float]:
    """The similarity rule written out plainly: every group sharing a term with the item,
    its score summed term by term in the vector's order, then the shared categories'."""
    text, cats = vector
    scores: dict[int, float] = {}
    for term, weight in text.items():
        for group in index.groups.values():
            if group.norm > 0 and term in group.terms:
                scores[group.id] = scores.get(group.id, 0.0) + weight * (group.terms[term] * (1.0 / group.norm))
    for cat, weight in cats.items():
        for gid in scores:
            group = index.groups[gid]
            if cat in group.categories:
                scores[gid] += weight * (group.categories[cat] * (1.0 / group.norm))
    if only is not None:
        scores = {gid: score for gid, score in scores.items() if gid in only}
    if not scores:
        return None, 0.0
    best = max(scores.values())
    return min(gid for gid, score in scores.items() if score == best), best


def test_nearest_sums_exactly_as_the_plain_rule(demo_texts: list[DemoText]) -> None:
    # the index scores into a list by slot; the choices and the floats are the plain rule's
    index, _ = build([d.text for d in demo_texts[:3000]], batch=500)
    for gid in sorted(index.groups)[::7]:
        index.remove(gid)  # freed slots are reused by the next batch's new groups
    more = records([d.text for d in demo_texts[3000:3400]], start=9000)
    index.extractor.update(r.tokens for r in more)
    index.assign(more)
    probe = records([d.text for d in demo_texts[3400:3900]], start=20_000)
    some = set(sorted(index.groups)[::3])
    vectors = [v for v in (index.vectorise(r.tokens, r.categories) for r in probe) if v]
    assert len(vectors) > 400
    for vector in vectors:
        assert index.nearest(vector) == reference_nearest(index, vector)
        assert index.nearest(vector, only=dict.fromkeys(some)) == reference_nearest(index, vector, some)  # type: ignore[arg-type]


def test_nearest_ties_go_to_the_lowest_id() -> None:
    centroid = {"format": 1, "terms": {"提额": 2.0, "信用卡": 1.0}, "categories": {"credit_card": 0.5}}
    twins = [GroupModel.from_centroid(gid, centroid, size=3) for gid in (7, 3, 5)]
    index = GroupIndex(KeywordExtractor(), twins)
    vector = ({"提额": 0.8, "信用卡": 0.5}, {"credit_card": 0.3})
    assert index.nearest(vector)[0] == 3
    assert index.nearest(vector, only=dict.fromkeys([7, 5]))[0] == 5  # type: ignore[arg-type]
    assert index.nearest(({"年费": 1.0}, {"credit_card": 1.0})) == (None, 0.0)  # a category alone is no match


def test_a_weight_stored_as_zero_still_makes_a_candidate() -> None:
    # a stored centroid rounds a tiny weight to 0: the group shares the term all the same
    # (the list-of-scores path cannot tell that from "no shared term", the dict path can)
    zero = GroupModel.from_centroid(4, {"terms": {"年费": 0.0, "提额": 1.0}, "categories": {"fees": 1.0}}, size=2)
    other = GroupModel.from_centroid(9, {"terms": {"转账": 1.0}, "categories": {}}, size=2)
    index = GroupIndex(KeywordExtractor(), [zero, other])
    vector = ({"年费": 1.0}, {"fees": 0.5})
    assert index.nearest(vector) == reference_nearest(index, vector)
    assert index.nearest(vector)[0] == 4 and index.nearest(vector)[1] > 0
    index.remove(4)
    assert index.nearest(({"转账": 1.0}, {})) == (9, 1.0)
