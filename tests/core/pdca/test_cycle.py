"""A task through plan → do → check → act on SQLite and PostgreSQL: the baseline from
the data, the gates, the event log, the automatic check and its verdict, act."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine

from bihuan.core.errors import UsageError
from bihuan.core.pdca import actions, tasks
from bihuan.core.pdca.gates import GateError
from bihuan.core.pdca.tasks import PdcaContext
from bihuan.storage.pdca_models import Outcome, Stage

from .conftest import NOW, Recorder, Run, at, seed

FIRST_ACTION = date(2026, 9, 7)  # baseline: 2026-07-13 .. 09-06
LAST_DONE = date(2026, 10, 5)  # check window: 2026-10-06 .. 11-02


def _planned(engine: Engine, ctx: PdcaContext) -> int:
    task = tasks.open_task(
        engine,
        ctx,
        title="信用卡提额慢",
        group_ids=[1],
        actor="lead",
        metric="volume",
        target="-50%",
        owner="wang",
        due_date=date(2026, 12, 31),
        root_cause="人工审核排队",
        now=at(FIRST_ACTION),
    )
    assert task.id is not None
    return task.id


def _through_do(engine: Engine, ctx: PdcaContext, task_id: int) -> None:
    task = tasks.move_task(engine, ctx, task_id, "do", read_version=1, actor="wang")
    first = actions.add_action(
        engine,
        task_id,
        title="自动提额规则上线",
        owner="li",
        due_date=date(2026, 9, 30),
        actor="wang",
        now=at(FIRST_ACTION),
    )
    second = actions.add_action(
        engine,
        task_id,
        title="客服话术更新",
        owner="zhao",
        due_date=date(2026, 10, 10),
        actor="wang",
        now=at(FIRST_ACTION + timedelta(days=3)),
    )
    actions.complete_action(engine, first.id, read_version=1, actor="li", now=at(date(2026, 9, 20)))  # type: ignore[arg-type]
    actions.complete_action(engine, second.id, read_version=1, actor="zhao", now=at(LAST_DONE))  # type: ignore[arg-type]
    tasks.move_task(engine, ctx, task_id, "check", read_version=task.version, actor="wang")


def test_open_task_computes_the_baseline_per_week_and_a_relative_target(engine: Engine, ctx: PdcaContext) -> None:
    # group 1: 2 a day over the eight whole weeks before the week the task opens
    seed(engine, [Run(1, date(2026, 7, 13), 56, 2), Run(2, date(2026, 7, 13), 56, 3)])
    task_id = _planned(engine, ctx)
    view = tasks.load_task(engine, task_id)
    baseline = view.task.baseline
    assert baseline is not None
    assert (baseline["start"], baseline["end"]) == ("2026-07-13", "2026-09-07")
    assert [w["group"] for w in baseline["weeks"]] == [14] * 8
    assert baseline["value"] == pytest.approx(14.0)
    assert view.task.target_value == pytest.approx(7.0)  # -50 %
    assert view.group_ids == [1]
    assert [e.kind for e in view.events] == ["created"]


def test_leaving_plan_needs_owner_metric_baseline_target_and_due_date(engine: Engine, ctx: PdcaContext) -> None:
    seed(engine, [Run(1, date(2026, 10, 1), 40)])
    task = tasks.open_task(engine, ctx, title="转账卡顿", group_ids=[1], actor="lead", now=NOW)
    assert task.id is not None
    with pytest.raises(GateError) as refused:
        tasks.move_task(engine, ctx, task.id, "do", read_version=task.version, actor="lead")
    assert refused.value.reasons == [
        "no owner",
        "no target metric",
        "no baseline computed from the data (the groups have no feedback in the baseline weeks)",
        "no target value",
        "no due date",
    ]
    task = tasks.edit_task(
        engine,
        ctx,
        task.id,
        read_version=task.version,
        actor="lead",
        now=NOW,
        changes={"owner": "wang", "metric": "volume", "target_value": "-30%", "due_date": date(2027, 1, 31)},
    )
    assert (
        task.stage == Stage.PLAN
        and task.baseline is not None
        and task.baseline["value"] == pytest.approx(sum(w["group"] for w in task.baseline["weeks"]) / 8)
    )
    moved = tasks.move_task(engine, ctx, task.id, "do", read_version=task.version, actor="lead")
    assert moved.stage == Stage.DO
    events = tasks.load_task(engine, task.id).events
    owner = next(e for e in events if e.field == "owner")
    assert (owner.actor, owner.old, owner.new) == ("lead", None, "wang")
    assert [(e.old, e.new) for e in events if e.kind == "stage"] == [("plan", "do")]


def test_check_gate_wants_every_action_closed_and_act_wants_a_measurement(engine: Engine, ctx: PdcaContext) -> None:
    seed(engine, [Run(1, date(2026, 7, 1), 140)])
    task_id = _planned(engine, ctx)
    task = tasks.move_task(engine, ctx, task_id, "do", read_version=1, actor="wang")
    with pytest.raises(GateError, match="no action is done"):
        tasks.move_task(engine, ctx, task_id, "check", read_version=task.version, actor="wang")
    action = actions.add_action(engine, task_id, title="A", owner="li", due_date=date(2026, 9, 30), actor="wang")
    actions.add_action(engine, task_id, title="B", owner="li", due_date=date(2026, 9, 30), actor="wang")
    actions.complete_action(engine, action.id, read_version=action.version, actor="li")  # type: ignore[arg-type]
    with pytest.raises(GateError, match="open actions: #2 B"):
        tasks.move_task(engine, ctx, task_id, "check", read_version=task.version, actor="wang")
    with pytest.raises(GateError, match="do → act is not a PDCA move"):
        tasks.move_task(engine, ctx, task_id, "act", read_version=task.version, actor="wang")


def test_effective_fix_is_found_effective_with_its_numbers(
    engine: Engine, ctx: PdcaContext, recorder: Recorder
) -> None:
    seed(
        engine,
        [
            Run(1, date(2026, 7, 13), 56, 2),  # baseline: 112 in the group
            Run(2, date(2026, 7, 13), 56, 4),  # 224 elsewhere
            Run(1, date(2026, 10, 6), 28, 1),  # check window: 28, half the rate
            Run(2, date(2026, 10, 6), 28, 4),  # 112 elsewhere: overall volume steady
        ],
    )
    task_id = _planned(engine, ctx)
    _through_do(engine, ctx, task_id)
    with pytest.raises(UsageError, match="runs to 2026-11-02"):
        tasks.run_check(engine, ctx, task_id, actor="wang", now=at(date(2026, 10, 20)))
    [result] = tasks.due_checks(engine, ctx, now=NOW)  # the engine checks by itself
    assert (result.baseline_start, result.baseline_end) == (date(2026, 7, 13), date(2026, 9, 7))
    assert (result.check_start, result.check_end) == (date(2026, 10, 6), date(2026, 11, 3))
    assert result.baseline_value == pytest.approx(14.0) and result.check_value == pytest.approx(7.0)
    assert result.change == pytest.approx(-0.5)
    assert result.ratio == pytest.approx((28 / 140) / (112 / 336))
    # scipy: binomtest(28, 140, 140 / 476) — the group's 140 items split by overall volume
    assert result.p_value == pytest.approx(0.015518755124406817, rel=1e-9)
    assert result.verdict == "effective" and result.target_met is True
    assert result.detail["baseline"]["group"] == 112 and result.detail["check"]["total"] == 140
    assert tasks.due_checks(engine, ctx, now=NOW) == []  # once
    [verdict] = recorder.of("verdict")
    assert (verdict.task_id, verdict.verdict, verdict.target_met) == (task_id, "effective", True)


def test_a_fall_that_all_feedback_shares_is_not_a_fix(engine: Engine, ctx: PdcaContext) -> None:
    seed(
        engine,
        [
            Run(1, date(2026, 7, 13), 56, 2),
            Run(2, date(2026, 7, 13), 56, 4),
            Run(1, date(2026, 10, 6), 28, 1),  # the group halves …
            Run(2, date(2026, 10, 6), 28, 2),  # … and so does everything else
        ],
    )
    task_id = _planned(engine, ctx)
    _through_do(engine, ctx, task_id)
    result = tasks.run_check(engine, ctx, task_id, actor="wang", now=NOW)
    assert result.change == pytest.approx(-0.5) and result.target_met is True  # the raw count did halve
    assert result.ratio == pytest.approx(1.0)
    assert result.verdict == "not_effective"  # relative to all feedback nothing changed; -50 % is ruled out
    assert "rule out" in result.detail["reason"]


def test_too_little_data_is_inconclusive(engine: Engine, ctx: PdcaContext) -> None:
    seed(engine, [Run(1, date(2026, 7, 13), 4), Run(2, date(2026, 7, 13), 56), Run(1, date(2026, 10, 6), 2)])
    task_id = _planned(engine, ctx)
    _through_do(engine, ctx, task_id)
    result = tasks.run_check(engine, ctx, task_id, actor="wang", now=NOW)
    assert result.verdict == "inconclusive" and "too few" in result.detail["reason"]


def test_act_standardises_or_opens_the_next_cycle(engine: Engine, ctx: PdcaContext, recorder: Recorder) -> None:
    seed(engine, [Run(1, date(2026, 7, 13), 120, 2), Run(2, date(2026, 7, 13), 120, 3)])
    task_id = _planned(engine, ctx)
    _through_do(engine, ctx, task_id)
    task = tasks.load_task(engine, task_id).task
    with pytest.raises(GateError, match="no measurement yet"):
        tasks.move_task(engine, ctx, task_id, "act", read_version=task.version, actor="wang")
    tasks.run_check(engine, ctx, task_id, actor="wang", now=NOW)
    task = tasks.move_task(engine, ctx, task_id, "act", read_version=task.version, actor="wang")
    with pytest.raises(UsageError, match="which standard"):
        tasks.standardise(engine, ctx, task_id, read_version=task.version, standard=" ", actor="wang")
    successor = tasks.next_cycle(engine, ctx, task_id, read_version=task.version, actor="wang", now=NOW)
    old = tasks.load_task(engine, task_id)
    assert (old.task.stage, old.task.outcome) == (Stage.CLOSED, Outcome.NEXT_CYCLE)
    new = tasks.load_task(engine, successor.id)  # type: ignore[arg-type]
    assert (new.task.stage, new.task.parent_id, new.group_ids) == (Stage.PLAN, task_id, [1])
    assert (new.task.metric, new.task.owner, new.task.target_value) == ("volume", "wang", old.task.target_value)
    assert new.task.baseline is not None and new.task.baseline["end"] == "2026-11-23"
    assert new.events[0].note == f"next cycle of task {task_id}"
    stages = [(c.old, c.new, c.outcome) for c in recorder.of("stage")]
    assert stages == [
        ("plan", "do", None),
        ("do", "check", None),
        ("check", "act", None),
        ("act", "closed", "next_cycle"),
    ]


def test_standardise_records_the_standard_and_closes(engine: Engine, ctx: PdcaContext) -> None:
    seed(engine, [Run(1, date(2026, 7, 13), 120, 2)])
    task_id = _planned(engine, ctx)
    _through_do(engine, ctx, task_id)
    tasks.run_check(engine, ctx, task_id, actor="wang", now=NOW)
    task = tasks.load_task(engine, task_id).task
    task = tasks.move_task(engine, ctx, task_id, "act", read_version=task.version, actor="wang")
    closed = tasks.standardise(engine, ctx, task_id, read_version=task.version, standard="提额审核SOP v2", actor="wang")
    assert (closed.stage, closed.outcome, closed.standard) == (Stage.CLOSED, Outcome.STANDARDISED, "提额审核SOP v2")
    assert closed.closed_at is not None
    with pytest.raises(UsageError, match="closed"):
        tasks.edit_task(engine, ctx, task_id, read_version=closed.version, actor="x", changes={"owner": "y"})


def test_tasks_need_existing_unmerged_groups(engine: Engine, ctx: PdcaContext) -> None:
    with pytest.raises(UsageError, match="no root-cause group 99"):
        tasks.open_task(engine, ctx, title="x", group_ids=[99], actor="lead")
    with pytest.raises(UsageError, match="at least one"):
        tasks.open_task(engine, ctx, title="x", group_ids=[], actor="lead")
