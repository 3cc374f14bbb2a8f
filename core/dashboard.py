"""What the team sees first: the report's KPIs, Pareto and spikes, with the PDCA counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bihuan.core.analysis.report import Report, build_report
from bihuan.core.pdca.metrics import local_midnight
from bihuan.storage import analysis_queries as aq
from bihuan.storage import case_queries as cq
from bihuan.storage import pdca_queries as pq
from bihuan.storage.engine import session_scope
from bihuan.storage.pdca_models import Stage


@dataclass(frozen=True)
class Dashboard:
    report: Report | None  # None before anything is analysed
    open_tasks: int
    overdue_actions: int
    #: share of first responses in time, in the report's period and the one before
    sla_compliance: float | None = None
    sla_compliance_before: float | None = None


def load_dashboard(
    engine: Engine, *, zone: ZoneInfo, today: date, repeat_window_days: int, weeks: int = 4
) -> Dashboard:
    """The dashboard's figures: the report's default period, counted back from ``today``
    (the complete weeks before today's week, as ``bihuan report`` shows them)."""
    with session_scope(engine) as session:
        report: Report | None = None
        if aq.latest_analysed_at(session=session) is not None:  # else: nothing analysed yet
            report = build_report(
                session,
                zone=zone,
                weeks=weeks,
                top=1000,
                repeat_window_days=repeat_window_days,
                as_of=local_midnight(today, zone),
            )
        open_tasks = len(pq.list_tasks(stages=[s for s in Stage if s != Stage.CLOSED], session=session))
        overdue = len(pq.overdue_actions(today, session=session))
        compliance: list[float | None] = [None, None]
        if report is not None:
            start, end, before = (
                local_midnight(d, zone) for d in (report.period_start, report.period_end, report.previous_start)
            )
            for i, (since, until) in enumerate(((start, end), (before, start))):
                met, due = cq.response_compliance(since, until, session=session)
                compliance[i] = met / due if due else None
    return Dashboard(
        report=report,
        open_tasks=open_tasks,
        overdue_actions=overdue,
        sla_compliance=compliance[0],
        sla_compliance_before=compliance[1],
    )
