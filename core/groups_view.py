"""The groups screen's data: every active group with its size and its place in the
current Pareto, and one group's profile, items and tasks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bihuan.core.analysis.pareto import RankedGroup
from bihuan.core.analysis.report import build_report
from bihuan.core.errors import UsageError
from bihuan.storage import analysis_queries as aq
from bihuan.storage import inbox_queries as iq
from bihuan.storage import pdca_queries as pq
from bihuan.storage.analysis_models import GroupEvent, IssueGroup
from bihuan.storage.engine import session_scope
from bihuan.storage.pdca_models import ImprovementTask


@dataclass(frozen=True)
class GroupRow:
    group: IssueGroup
    items: int
    ranked: RankedGroup | None  # in the last four weeks' Pareto, if it had items then


def group_rows(
    engine: Engine, *, zone: ZoneInfo, repeat_window_days: int, as_of: datetime | None = None
) -> list[GroupRow]:
    """Active groups, those of the current Pareto first in its order, then by size.

    :param as_of: now, for the report's default period (default: the clock's now).
    """
    with session_scope(engine) as session:
        groups = aq.list_groups(session=session)
        sizes = aq.group_sizes(session=session)
        try:
            ranked = {
                g.group_id: g
                for g in build_report(
                    session, zone=zone, top=100_000, repeat_window_days=repeat_window_days, as_of=as_of
                ).groups
            }
        except UsageError:
            ranked = {}
    order = list(ranked)
    rows = [GroupRow(g, sizes.get(g.id, 0), ranked.get(g.id)) for g in groups]
    rows.sort(key=lambda r: (order.index(r.group.id) if r.group.id in ranked else len(order), -r.items))
    return rows


@dataclass(frozen=True)
class GroupDetail:
    group: IssueGroup
    profile: iq.GroupProfile
    items: list[iq.InboxRow]
    tasks: list[ImprovementTask]
    history: list[GroupEvent]


def group_detail(engine: Engine, group_id: int, *, items: int = 100) -> GroupDetail:
    with session_scope(engine) as session:
        group = aq.get_group(group_id, session=session)
        if group is None:
            raise UsageError(f"no group {group_id}")
        return GroupDetail(
            group=group,
            profile=iq.group_profile(group_id, session=session),
            items=iq.inbox_page(iq.InboxFilter(group_id=group_id), limit=items, session=session),
            tasks=pq.tasks_of_group(group_id, session=session),
            history=aq.group_history(group_id, session=session),
        )
