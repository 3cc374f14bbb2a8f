"""The model state an incremental analysis continues from, and how it is saved.

* keyword statistics (document frequencies) in ``analysis_state`` under
  :data:`KEYWORD_STATE`;
* group centroids on the group rows (``issue_group.centroid``), so that what the team
  does to groups (merge, split) is what the next run starts from.
"""

from __future__ import annotations

from sqlmodel import Session

from bihuan.core.analysis.grouping import GroupIndex, GroupingSettings, GroupModel
from bihuan.core.analysis.keywords import KeywordExtractor
from bihuan.storage import analysis_queries as aq
from bihuan.storage.analysis_models import GroupAction, GroupStatus, IssueGroup
from bihuan.storage.types import utcnow

#: the ``analysis_state`` key of the keyword statistics
KEYWORD_STATE = "keywords"


def load_keywords(session: Session) -> KeywordExtractor:
    """The keyword statistics the last run left (empty before the first)."""
    return KeywordExtractor.from_dict(aq.load_state(KEYWORD_STATE, session=session) or {})


def load_group_index(
    extractor: KeywordExtractor, *, session: Session, settings: GroupingSettings | None = None
) -> GroupIndex:
    """The active groups with their stored centroids; new ids continue above every id used."""
    models = [
        GroupModel.from_centroid(row.id, row.centroid, size=row.size, label=row.label, label_locked=row.label_locked)
        for row in aq.list_groups(session=session)
    ]
    return GroupIndex(extractor, models, next_id=aq.max_group_id(session=session) + 1, settings=settings)


def save_groups(index: GroupIndex, known: set[int], *, session: Session, actor: str = "bihuan") -> set[int]:
    """Write every group the index changed (centroid, size, keywords, label unless the
    team locked it); returns the ids of groups it founded.

    The rows are read with one query and written with one flush (a batch changes most
    groups: a query and a flush per group took ~0.1 s for 141 of them).
    """
    changed = index.changed_groups()
    rows = {row.id: row for row in aq.groups_by_id([group.id for group in changed], session=session)}
    new_ids: set[int] = set()
    now = utcnow()
    for group in changed:
        row = rows.get(group.id)
        if row is None:
            row = IssueGroup(id=group.id, label=group.label, category=group.category)
            new_ids.add(group.id)
            session.add(row)
        elif row.status != GroupStatus.ACTIVE:
            continue  # merged away meanwhile by the team: its items were moved
        elif not row.label_locked:
            row.label = group.label
        row.keywords = group.keywords()
        row.category = group.category
        row.size = group.size
        row.centroid = group.to_centroid()
        row.updated_at = now
    session.flush()
    for group in changed:  # in id order, as the groups were written
        if group.id in new_ids and group.id not in known:
            aq.add_group_event(group.id, GroupAction.CREATED, {"label": group.label}, actor=actor, session=session)
    index.mark_saved()
    return new_ids


def forget_for_rebuild(*, session: Session) -> list[int]:
    """Forget every result and the groups no task points to (:func:`aq.forget_results`);
    the groups kept become seeds: each active one's centroid scaled to the weight of one
    item, so that the rebuilt analysis fills it with the items nearest to what it was
    about while those items, not its old members, shape it. Returns the ids kept."""
    kept = aq.forget_results(session=session)
    for row in aq.groups_by_id(kept, session=session):
        if row.status != GroupStatus.ACTIVE:
            continue
        model = GroupModel.from_centroid(row.id, row.centroid, size=0)
        if model.norm > 0:
            model.terms = {term: weight / model.norm for term, weight in model.terms.items()}
            model.categories = {cat: weight / model.norm for cat, weight in model.categories.items()}
        row.centroid = model.to_centroid()
        row.size = 0
        row.updated_at = utcnow()
    session.flush()
    return kept
