"""What the team does to root-cause groups: rename, merge, split — each with history.

Each operation is one transaction. Centroids are updated with the items, so the next
``bihuan analyze`` continues from the team's corrections: new items join the merged
group, never the absorbed ones, and the split-off group attracts its kind of complaint.
A group that was merged away keeps its row (``status = merged``, ``merged_into``), so an
improvement task that points at it can still find where its complaints went.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from bihuan.core.analysis.grouping import GroupIndex, GroupingSettings, GroupModel, group_label
from bihuan.core.analysis.keywords import tokens_for
from bihuan.core.analysis.state import load_keywords
from bihuan.core.errors import UsageError
from bihuan.storage import analysis_queries as aq
from bihuan.storage.analysis_models import GroupAction, GroupStatus, IssueGroup
from bihuan.storage.types import utcnow

__all__ = [
    "MergeResult",
    "SplitResult",
    "active_group",
    "merge_groups",
    "move_items",
    "rename_group",
    "split_group",
]


def active_group(group_id: int, *, session: Session) -> IssueGroup:
    """The group, which must exist and not have been merged away.

    :raises UsageError: naming the group (and where it went).
    """
    group = aq.get_group(group_id, session=session)
    if group is None:
        raise UsageError(f"no group {group_id}")
    if group.status != GroupStatus.ACTIVE:
        raise UsageError(f"group {group_id} was merged into group {group.merged_into}")
    return group


def _touch(group: IssueGroup) -> None:
    group.version += 1
    group.updated_at = utcnow()


def rename_group(group_id: int, label: str, *, actor: str, session: Session) -> tuple[str, str]:
    """Give a group the team's label; analysis keeps it from now on. Returns (old, new)."""
    label = label.strip()
    if not label:
        raise UsageError("the label must not be empty")
    group = active_group(group_id, session=session)
    old = group.label
    group.label = label
    group.label_locked = True
    _touch(group)
    session.add(group)
    aq.add_group_event(group_id, GroupAction.RENAMED, {"old": old, "new": label}, actor=actor, session=session)
    return old, label


def _apply_model(row: IssueGroup, model: GroupModel, settings: GroupingSettings) -> None:
    model.truncate(settings.centroid_terms)
    row.centroid = model.to_centroid()
    row.keywords = model.keywords()
    row.category = model.category
    row.size = model.size
    if not row.label_locked:
        row.label = group_label(row.keywords, settings.label_terms)


@dataclass(frozen=True, slots=True)
class MergeResult:
    target: int
    merged: tuple[int, ...]
    moved: int
    label: str


def merge_groups(target_id: int, source_ids: Iterable[int], *, actor: str, session: Session) -> MergeResult:
    """Fold ``source_ids`` into ``target_id``: their items move, their centroids add up,
    they are marked merged (pointing at the target), and both sides get an event."""
    sources = sorted(set(source_ids))
    if not sources:
        raise UsageError("name at least one group to merge into the target")
    if target_id in sources:
        raise UsageError(f"group {target_id} cannot be merged into itself")
    settings = GroupingSettings()
    target = active_group(target_id, session=session)
    model = GroupModel.from_centroid(target.id, target.centroid, size=target.size)
    moved = 0
    for source_id in sources:
        source = active_group(source_id, session=session)
        part = GroupModel.from_centroid(source.id, source.centroid, size=source.size)
        for term, weight in part.terms.items():
            model.terms[term] = model.terms.get(term, 0.0) + weight
        for cat, weight in part.categories.items():
            model.categories[cat] = model.categories.get(cat, 0.0) + weight
        model.size += part.size
        members = aq.group_members(source_id, session=session)
        moved += aq.move_items(members, target_id, session=session)
        source.status = GroupStatus.MERGED
        source.merged_into = target_id
        source.size = 0
        _touch(source)
        session.add(source)
        aq.add_group_event(
            source_id, GroupAction.MERGED, {"into": target_id, "items": len(members)}, actor=actor, session=session
        )
        # groups merged into the source earlier now point at the target directly
        for earlier in aq.list_groups(include_merged=True, session=session):
            if earlier.merged_into == source_id:
                earlier.merged_into = target_id
                session.add(earlier)
    _apply_model(target, model, settings)
    _touch(target)
    session.add(target)
    aq.add_group_event(target_id, GroupAction.MERGED, {"from": sources, "items": moved}, actor=actor, session=session)
    session.flush()
    return MergeResult(target_id, tuple(sources), moved, target.label)


@dataclass(frozen=True, slots=True)
class SplitResult:
    source: int
    new_group: int
    moved: int
    remaining: int
    label: str


def split_group(
    group_id: int,
    *,
    keyword: str | None = None,
    item_ids: Iterable[int] | None = None,
    label: str | None = None,
    actor: str,
    session: Session,
) -> SplitResult:
    """Move some of a group's items into a new group: those whose text contains
    ``keyword`` (case-insensitive), or the listed ``item_ids``. Both groups' centroids are
    recomputed from their items.

    :raises UsageError: when the selection is empty, or would take every item.
    """
    if (keyword is None) == (item_ids is None):
        raise UsageError("split by a keyword or by item ids (one of them)")
    source = active_group(group_id, session=session)
    members = aq.member_texts(group_id, session=session)
    if keyword is not None:
        needle = keyword.strip().lower()
        if not needle:
            raise UsageError("the keyword must not be empty")
        chosen = {item_id for item_id, text, _ in members if needle in text.lower()}
    else:
        wanted = set(item_ids or ())
        chosen = {item_id for item_id, _, _ in members if item_id in wanted}
        strangers = wanted - chosen
        if strangers:
            raise UsageError(f"items not in group {group_id}: {', '.join(map(str, sorted(strangers)[:10]))}")
    if not chosen:
        raise UsageError(f"no item of group {group_id} matches; nothing to split")
    if len(chosen) == len(members):
        raise UsageError(f"every item of group {group_id} matches; rename the group instead")
    settings = GroupingSettings()
    index = GroupIndex(load_keywords(session), settings=settings)
    new_id = aq.max_group_id(session=session) + 1
    split_off, rest = GroupModel(id=new_id), GroupModel(id=group_id)
    for item_id, text, categories in members:
        vector = index.vectorise(tokens_for(text), categories)
        if vector is not None:
            (split_off if item_id in chosen else rest).add(vector, limit=settings.centroid_terms)
    split_off.size, rest.size = len(chosen), len(members) - len(chosen)
    new_row = IssueGroup(id=new_id, label="")
    if label and label.strip():
        new_row.label, new_row.label_locked = label.strip(), True
    _apply_model(new_row, split_off, settings)
    session.add(new_row)
    session.flush()
    aq.move_items(sorted(chosen), new_id, session=session)
    aq.redirect_duplicates(sorted(chosen), session=session)
    _apply_model(source, rest, settings)
    _touch(source)
    session.add(source)
    detail: dict[str, Any] = {"items": len(chosen), "keyword": keyword} if keyword else {"items": len(chosen)}
    aq.add_group_event(group_id, GroupAction.SPLIT, {**detail, "into": new_id}, actor=actor, session=session)
    aq.add_group_event(
        new_id,
        GroupAction.CREATED,
        {**detail, "split_from": group_id, "label": new_row.label},
        actor=actor,
        session=session,
    )
    session.flush()
    return SplitResult(group_id, new_id, len(chosen), len(members) - len(chosen), new_row.label)


def move_items(item_ids: Iterable[int], group_id: int, *, actor: str, session: Session) -> int:
    """A person's correction: these items belong to ``group_id``. Recorded on the target
    group with where each came from; centroids are left as they are (a handful of items
    does not move a group, and the next merge or split recomputes them)."""
    target = active_group(group_id, session=session)
    ids = sorted(set(item_ids))
    sources = aq.item_groups(ids, session=session)
    missing = [i for i in ids if i not in sources]
    if missing:
        raise UsageError(f"not analysed yet, or no such item: {', '.join(map(str, missing))}")
    moving = [i for i in ids if sources[i] != group_id]
    if not moving:
        return 0
    aq.move_items(moving, group_id, session=session)
    for source_id in {sources[i] for i in moving if sources[i] is not None}:
        source = aq.get_group(source_id, session=session)
        if source is not None:
            source.size = max(0, source.size - sum(1 for i in moving if sources[i] == source_id))
            _touch(source)
            session.add(source)
    target.size += len(moving)
    _touch(target)
    session.add(target)
    aq.add_group_event(
        group_id,
        GroupAction.MOVED,
        {"items": moving, "from": {str(i): sources[i] for i in moving}},
        actor=actor,
        session=session,
    )
    return len(moving)
