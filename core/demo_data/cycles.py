"""The demo's improvement cycles, run through the real PDCA engine on the demo data.

The demo data set holds two scripted outcomes (:data:`~bihuan.core.demo_data.model.DEMO_SCENARIOS`):
credit-limit complaints fall by about 60 % from a given week (a fix that worked) and
hotline complaints stay flat (a fix that did not). :func:`run_demo_cycles` plays the
team's part for each: it opens a task on the root-cause groups the analysis found for
that cause, plans it, adds actions dated when the scenario's change began, completes
them, and asks the engine to check. The verdicts are the engine's own, computed from the
imported items with its significance test — nothing here knows what they will be — and
the demo then acts on them as a team would: standardise the fix that worked, open the
next cycle for the one that did not.

Which groups belong to a cause is read from the ground truth the generator wrote (the
groups whose items are mostly of that cause), the way a team lead picks them by reading
the groups' labels and items.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine

from bihuan.core.config import PdcaSettings
from bihuan.core.demo_data.model import DEMO_CAUSES, DemoManifest, DemoScenario
from bihuan.core.pdca import actions as pdca_actions
from bihuan.core.pdca import tasks as pdca_tasks
from bihuan.core.pdca.tasks import PdcaContext
from bihuan.storage import analysis_queries as aq
from bihuan.storage.engine import session_scope
from bihuan.storage.pdca_models import CheckResult, Verdict

#: the demo spans twelve weeks, so its checks compare six weeks before the first action
#: with four weeks after the last (the shipped default baseline, eight weeks, would reach
#: back before the data begins)
DEMO_PDCA = PdcaSettings(baseline_days=42, check_days=28)
#: a group is about a cause when at least this share of its items are
MIN_CAUSE_SHARE = 0.6
#: ... and it has at least this many items
MIN_GROUP_ITEMS = 10
#: the scenario outcome each verdict is expected to match
EXPECTED = {"improved": Verdict.EFFECTIVE, "not_improved": Verdict.NOT_EFFECTIVE}

LEAD, OWNER, ENGINE = "王组长", "李经理", "bihuan"


@dataclass(frozen=True)
class _Script:
    """What the team writes into the plan and does for one scenario."""

    root_cause: str
    actions: tuple[tuple[str, str], ...]  # (title, owner)
    standard: str


SCRIPTS: dict[str, _Script] = {
    "credit_limit_improved": _Script(
        root_cause="提额申请全部走人工审核，排队时间长且不告知进度",
        actions=(("上线自动提额规则（评分达标即时审批）", "信用卡中心 赵工"), ("提额进度短信通知", "渠道部 孙工")),
        standard="《信用卡额度调整操作规程》2026版：达标客户自动提额，人工复核不超过2个工作日",
    ),
    "hotline_unchanged": _Script(
        root_cause="高峰时段坐席不足，IVR菜单层级过深",
        actions=(("高峰时段增加外包坐席20席", "客服中心 周经理"), ("IVR菜单精简为三层", "客服中心 吴工")),
        standard="",
    ),
}


@dataclass(frozen=True)
class DemoCycle:
    """One scenario's task after the demo played it: the check and what the team did."""

    scenario: str
    expected: Verdict
    task_id: int
    title: str
    groups: list[int]
    check: CheckResult
    outcome: str
    next_task_id: int | None

    @property
    def as_expected(self) -> bool:
        return self.check.verdict == self.expected.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "task_id": self.task_id,
            "title": self.title,
            "groups": self.groups,
            "expected": self.expected.value,
            "verdict": self.check.verdict,
            "baseline_value": self.check.baseline_value,
            "check_value": self.check.check_value,
            "change": self.check.change,
            "ratio": self.check.ratio,
            "ratio_low": self.check.ratio_low,
            "ratio_high": self.check.ratio_high,
            "p_value": self.check.p_value,
            "test": self.check.test,
            "outcome": self.outcome,
            "next_task_id": self.next_task_id,
        }


def cause_groups(manifest: DemoManifest, engine: Engine) -> dict[str, list[int]]:
    """For each ground-truth cause, the analysed groups mostly about it, largest first."""
    truth: dict[str, dict[str, Any]] = json.loads(manifest.ground_truth.read_text(encoding="utf-8"))
    sources = [f.source for f in manifest.import_files if f.source]
    with session_scope(engine) as session:
        grouped = aq.groups_by_external_id(sources=sources, session=session)
    per_group: dict[int, Counter[str]] = defaultdict(Counter)
    for external_id, group_id in grouped.items():
        cause = truth.get(external_id, {}).get("cause")
        per_group[group_id][cause or ""] += 1
    found: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for group_id, causes in per_group.items():
        size = sum(causes.values())
        cause, count = causes.most_common(1)[0]
        if cause and size >= MIN_GROUP_ITEMS and count / size >= MIN_CAUSE_SHARE:
            found[cause].append((count, group_id))
    return {cause: [g for _, g in sorted(groups, reverse=True)] for cause, groups in found.items()}


def run_demo_cycles(manifest: DemoManifest, engine: Engine, ctx: PdcaContext) -> list[DemoCycle]:
    """Play every scenario with an expected verdict through plan, do, check and act.

    ``ctx`` gives the zone and the hooks (a notifier hears the stage changes and
    verdicts like any other); the windows are :data:`DEMO_PDCA`'s. Scenarios whose cause
    has no group of its own (possible only with unusual seeds) are left out.
    """
    demo_ctx = PdcaContext(zone=ctx.zone, settings=DEMO_PDCA, hooks=ctx.hooks)
    groups = cause_groups(manifest, engine)
    cycles = []
    for scenario in manifest.scenarios:
        if scenario.expected_verdict not in EXPECTED or scenario.key not in SCRIPTS:
            continue
        if not groups.get(scenario.cause):
            continue
        cycles.append(_play(scenario, groups[scenario.cause], manifest, engine, demo_ctx))
    return cycles


def _play(
    scenario: DemoScenario, group_ids: list[int], manifest: DemoManifest, engine: Engine, ctx: PdcaContext
) -> DemoCycle:
    script = SCRIPTS[scenario.key]
    # the scenario's change starts at the beginning of its first week; the team planned
    # the day before and finished both actions within two days
    start = manifest.now - timedelta(days=7 * (manifest.weeks - scenario.start_week))
    day = timedelta(days=1)

    def at(offset: timedelta, hour: int) -> datetime:
        local = (start + offset).astimezone(ctx.zone)
        return local.replace(hour=hour, minute=0, second=0, microsecond=0)

    task = pdca_tasks.open_task(
        engine,
        ctx,
        title=DEMO_CAUSES[scenario.cause],
        group_ids=group_ids,
        actor=LEAD,
        root_cause=script.root_cause,
        owner=OWNER,
        metric="volume",
        target="-50%",
        due_date=(start + 45 * day).date(),
        now=at(-day, 9),
    )
    assert task.id is not None
    task = pdca_tasks.move_task(engine, ctx, task.id, "do", read_version=task.version, actor=OWNER, now=at(-day, 10))
    added = [
        pdca_actions.add_action(
            engine, task.id, title=title, owner=owner, due_date=(start + 7 * day).date(), actor=OWNER, now=at(-day, 11)
        )
        for title, owner in script.actions
    ]
    done = [
        pdca_actions.complete_action(
            engine, action.id, read_version=action.version, actor=action.owner, now=at(n * day, 17)
        )
        for n, action in enumerate(added)
        if action.id is not None
    ]
    task = pdca_tasks.move_task(
        engine, ctx, task.id, "check", read_version=task.version, actor=OWNER, now=at(len(done) * day, 9)
    )
    # the engine checks on the first morning after the check window
    windows = pdca_tasks.check_windows_of(task, done, ctx)
    checked_at = datetime.combine(windows.check.end, time(9), tzinfo=ctx.zone)
    check = pdca_tasks.run_check(engine, ctx, task.id, actor=ENGINE, now=checked_at)
    task = pdca_tasks.move_task(engine, ctx, task.id, "act", read_version=task.version, actor=LEAD, now=checked_at)
    acted = checked_at + timedelta(hours=6)
    next_task_id = None
    if check.verdict == Verdict.EFFECTIVE and script.standard:
        pdca_tasks.standardise(
            engine, ctx, task.id, read_version=task.version, standard=script.standard, actor=LEAD, now=acted
        )
        outcome = "standardised"
    else:
        successor = pdca_tasks.next_cycle(engine, ctx, task.id, read_version=task.version, actor=LEAD, now=acted)
        next_task_id = successor.id
        outcome = "next_cycle"
    return DemoCycle(
        scenario=scenario.key,
        expected=EXPECTED[scenario.expected_verdict or ""],
        task_id=task.id,
        title=task.title,
        groups=group_ids,
        check=check,
        outcome=outcome,
        next_task_id=next_task_id,
    )
