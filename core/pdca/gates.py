"""The stage gates: which moves a task may make, and what each needs first.

A refused move says every reason at once, so the team can fix them in one go.
"""

from __future__ import annotations

from collections.abc import Sequence

from bihuan.core.errors import BihuanError
from bihuan.storage.pdca_models import Action, ActionStatus, CheckResult, ImprovementTask, Stage

#: the moves ``move_task`` makes; closing goes through standardise, next cycle or cancel
MOVES: dict[Stage, frozenset[Stage]] = {
    Stage.PLAN: frozenset({Stage.DO}),
    Stage.DO: frozenset({Stage.PLAN, Stage.CHECK}),
    Stage.CHECK: frozenset({Stage.DO, Stage.ACT}),
    Stage.ACT: frozenset({Stage.DO}),
    Stage.CLOSED: frozenset(),
}


class GateError(BihuanError):
    """A stage move the gates refuse; ``reasons`` lists what is missing."""

    error_class = "gate"

    def __init__(self, task_id: int, target: str, reasons: Sequence[str]) -> None:
        self.reasons = list(reasons)
        super().__init__(f"task {task_id} cannot move to {target}: " + "; ".join(self.reasons))


def plan_gaps(task: ImprovementTask, group_count: int) -> list[str]:
    """What the plan still lacks before the task may leave it."""
    gaps = []
    if group_count == 0:
        gaps.append("no root-cause group")
    if not task.owner:
        gaps.append("no owner")
    if not task.metric:
        gaps.append("no target metric")
    if not task.baseline or task.baseline.get("value") is None:
        gaps.append("no baseline computed from the data (the groups have no feedback in the baseline weeks)")
    if task.target_value is None:
        gaps.append("no target value")
    if task.due_date is None:
        gaps.append("no due date")
    return gaps


def move_gaps(
    task: ImprovementTask,
    target: Stage,
    *,
    group_count: int,
    actions: Sequence[Action],
    checks: Sequence[CheckResult],
) -> list[str]:
    """Every reason the move from the task's stage to ``target`` is refused (empty: allowed)."""
    current = Stage(task.stage)
    if target not in MOVES[current]:
        allowed = ", ".join(sorted(s.value for s in MOVES[current])) or "none (the task is closed)"
        return [f"{current.value} → {target.value} is not a PDCA move (from {current.value}: {allowed})"]
    if current is Stage.PLAN:
        return plan_gaps(task, group_count)
    if current is Stage.DO and target is Stage.CHECK:
        gaps = []
        if not any(a.status == ActionStatus.DONE for a in actions):
            gaps.append("no action is done")
        still_open = [a for a in actions if a.status == ActionStatus.OPEN]
        if still_open:
            gaps.append("open actions: " + ", ".join(f"#{a.id} {a.title}" for a in still_open))
        return gaps
    if current is Stage.CHECK and target is Stage.ACT and not checks:
        return ["no measurement yet: run the check (bihuan task check)"]
    return []
