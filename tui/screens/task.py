"""One improvement task: its plan, actions, check results and history.

Every edit is sent with the version this screen read; when someone else changed the task
in between, the edit is refused, the screen says so and shows the task as it now is —
nothing is silently overwritten.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static

from bihuan.core.pdca import actions as pdca_actions
from bihuan.core.pdca import tasks as pdca_tasks
from bihuan.core.pdca.history import event_line
from bihuan.core.pdca.metrics import format_value
from bihuan.core.pdca.tasks import TaskView
from bihuan.storage.pdca_models import Action, ActionStatus, CheckResult
from bihuan.tui.screens.base import BihuanScreen
from bihuan.tui.widgets.form import Field, FormScreen
from bihuan.tui.widgets.sparkline import sparkline
from bihuan.tui.widgets.untrusted import display_text, untrusted


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _action_problem(values: dict[str, str]) -> str | None:
    """What is wrong with an action form's values, or ``None``."""
    if not values["title"] or not values["owner"]:
        return "an action needs a title and an owner"
    return None if _is_date(values["due"]) else "the deadline is YYYY-MM-DD"


class TaskScreen(BihuanScreen):
    CSS_PATH = "task.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="task.back"),
        Binding("e", "edit", "Edit plan", id="task.edit"),
        Binding("m", "move", "Move stage", id="task.move"),
        Binding("a", "add_action", "Add action", id="task.add_action"),
        Binding("u", "edit_action", "Edit action", id="task.edit_action"),
        Binding("d", "action_done", "Action done", id="task.action_done"),
        Binding("k", "check", "Run check", id="task.check"),
        Binding("s", "standardise", "Standardise", id="task.standardise"),
        Binding("n", "next_cycle", "Next cycle", id="task.next_cycle"),
    ]
    palette = (
        ("Edit the task's plan", "Owner, metric, target, due date, root cause", "edit"),
        ("Move the task to another stage", "plan, do, check or act (the gates say what is missing)", "move"),
        ("Add an action", "An action with an owner and a deadline", "add_action"),
        ("Edit the selected action", "Its title, owner or deadline", "edit_action"),
        ("Mark the selected action done", "Stamp it done now", "action_done"),
        ("Run the check", "Measure the metric before and after, with a significance test", "check"),
        ("Standardise and close", "The fix worked: record the standard", "standardise"),
        ("Open the next cycle", "Close this task and continue on the same groups", "next_cycle"),
    )

    def __init__(self, task_id: int) -> None:
        super().__init__()
        self.task_id = task_id
        self.view: TaskView | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static("", id="plan", classes="pane", markup=False)
            with Vertical(classes="pane", id="actions-pane"):
                yield Static("Actions", classes="title")
                yield DataTable(id="actions", cursor_type="row")
            yield Static("", id="check", classes="pane", markup=False)
            yield Static("", id="history", classes="pane", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#actions", DataTable).add_columns("id", "action", "owner", "due", "status", "done")
        self.load()

    @work(thread=True, exclusive=True, group="task")
    def load(self) -> None:
        view = pdca_tasks.load_task(self.bihuan.services.engine, self.task_id)
        self.app.call_from_thread(self.show, view)

    def show(self, view: TaskView) -> None:
        self.view = view
        task = view.task
        one = display_text  # titles, owners, causes, standards, history: untrusted, one line each
        outcome = f" · {one(task.outcome)}" if task.outcome else ""
        lines = [
            f"#{task.id} {one(task.title)}   [{one(task.stage)}{outcome}]   version {task.version}",
            f"groups: {', '.join(map(str, view.group_ids))}   owner: {one(task.owner) or '—'}   due: {task.due_date or '—'}",
            f"root cause: {one(task.root_cause) or '—'}",
            f"metric: {one(task.metric) or '—'}   target: {format_value(task.target_value, task.metric)}",
        ]
        if task.baseline:
            weekly = [w["group"] for w in task.baseline["weeks"]]
            lines.append(
                f"baseline: {format_value(task.baseline['value'], task.metric)}  {sparkline(weekly)}  "
                f"({task.baseline['start']} .. {task.baseline['end']})"
            )
        if task.parent_id:
            lines.append(f"next cycle of task {task.parent_id}")
        if task.standard:
            lines.append(f"standard adopted: {one(task.standard)}")
        self.query_one("#plan", Static).update(Text("\n".join(lines)))
        table = self.query_one("#actions", DataTable)
        table.clear()
        for a in view.actions:
            overdue = a.status == ActionStatus.OPEN and a.due_date < self.bihuan.services.pdca.today()
            status = untrusted(a.status + (" · overdue" if overdue else ""), style="red" if overdue else "")
            done = f"{a.done_at:%Y-%m-%d}" if a.done_at else ""
            table.add_row(
                str(a.id), untrusted(a.title), untrusted(a.owner), str(a.due_date), status, done, key=str(a.id)
            )
        check = self._check_text(view.checks[-1]) if view.checks else "No check yet."
        self.query_one("#check", Static).update(Text(check))
        zone = self.bihuan.services.pdca.zone
        history = [one(event_line(e, zone)) for e in view.events[-15:]]
        self.query_one("#history", Static).update(Text("History\n" + "\n".join(history)))

    @staticmethod
    def _check_text(check: CheckResult) -> str:
        base, after = check.detail.get("baseline", {}), check.detail.get("check", {})
        lines = [
            f"Check {check.checked_at:%Y-%m-%d}: {check.verdict.upper()} — {display_text(check.detail.get('reason', ''))}",
            (
                f"before {check.baseline_start} .. {check.baseline_end}: {format_value(check.baseline_value, check.metric)}"
                f"  ({base.get('group', 0)} of {base.get('total', 0)})"
            ),
            (
                f"after  {check.check_start} .. {check.check_end}: {format_value(check.check_value, check.metric)}"
                f"  ({after.get('group', 0)} of {after.get('total', 0)})"
            ),
        ]
        if check.baseline_value and check.check_value is not None:
            width = 30
            scale = max(check.baseline_value, check.check_value) or 1
            lines.append("before " + "█" * round(width * check.baseline_value / scale))
            lines.append("after  " + "█" * round(width * check.check_value / scale))
        if check.ratio is not None and check.p_value is not None:
            interval = f", 95 % CI {check.ratio_low:.2f}–{check.ratio_high:.2f}" if check.ratio_high is not None else ""
            lines.append(f"ratio {check.ratio:.2f}{interval}, p = {check.p_value:.3g} ({check.test})")
        if check.target_met is not None:
            lines.append("target met" if check.target_met else "target not met")
        return "\n".join(lines)

    # ── edits ────────────────────────────────────────────────────────────────────────

    def _apply(self, label: str, change: Any) -> None:
        self.apply_change(label, change, reload=self.load)

    @property
    def _version(self) -> int:
        assert self.view is not None
        return self.view.task.version

    def action_edit(self) -> None:
        if self.view is None:
            return
        task = self.view.task
        fields = [
            Field("owner", "Owner", task.owner or ""),
            Field("metric", "Target metric", task.metric or "", "volume, share, negative_share or csat"),
            Field("target", "Target", "" if task.target_value is None else f"{task.target_value:g}", "-50% or a value"),
            Field("due", "Due date", str(task.due_date or ""), "YYYY-MM-DD"),
            Field("root_cause", "Root cause", task.root_cause or ""),
        ]
        read_version = self._version
        services = self.bihuan.services

        def valid(values: dict[str, str]) -> str | None:
            return None if not values["due"] or _is_date(values["due"]) else "the due date is YYYY-MM-DD"

        def done(values: dict[str, str] | None) -> None:
            if not values:
                return
            changes: dict[str, Any] = {"owner": values["owner"] or None, "root_cause": values["root_cause"] or None}
            if values["metric"]:
                changes["metric"] = values["metric"]
            if values["target"] and values["target"] != ("" if task.target_value is None else f"{task.target_value:g}"):
                changes["target_value"] = values["target"]
            if values["due"]:
                changes["due_date"] = date.fromisoformat(values["due"])
            self._apply(
                "plan saved",
                lambda: pdca_tasks.edit_task(
                    services.engine,
                    services.pdca,
                    self.task_id,
                    read_version=read_version,
                    actor=services.actor,
                    changes=changes,
                ),
            )

        self.app.push_screen(FormScreen(f"Plan of task {self.task_id}", fields, validate=valid), done)

    def action_move(self) -> None:
        if self.view is None:
            return
        read_version = self._version
        services = self.bihuan.services

        def done(values: dict[str, str] | None) -> None:
            if values:
                self._apply(
                    f"moved to {values['stage']}",
                    lambda: pdca_tasks.move_task(
                        services.engine,
                        services.pdca,
                        self.task_id,
                        values["stage"],
                        read_version=read_version,
                        actor=services.actor,
                    ),
                )

        form = FormScreen(
            f"Move task {self.task_id} (now {self.view.task.stage})",
            [Field("stage", "To stage", "", "plan, do, check or act")],
        )
        self.app.push_screen(form, done)

    def action_add_action(self) -> None:
        services = self.bihuan.services

        def done(values: dict[str, str] | None) -> None:
            if values:
                self._apply(
                    "action added",
                    lambda: pdca_actions.add_action(
                        services.engine,
                        self.task_id,
                        title=values["title"],
                        owner=values["owner"],
                        due_date=date.fromisoformat(values["due"]),
                        actor=services.actor,
                    ),
                )

        fields = [Field("title", "Action"), Field("owner", "Owner"), Field("due", "Deadline", "", "YYYY-MM-DD")]
        self.app.push_screen(FormScreen(f"New action for task {self.task_id}", fields, validate=_action_problem), done)

    def _selected_action(self) -> Action | None:
        if self.view is None or not self.view.actions:
            return None
        table = self.query_one("#actions", DataTable)
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((a for a in self.view.actions if str(a.id) == key), None)

    def action_edit_action(self) -> None:
        action = self._selected_action()
        if action is None or action.id is None:
            return
        services = self.bihuan.services
        action_id, version = action.id, action.version

        def done(values: dict[str, str] | None) -> None:
            if values:
                changes = {
                    "title": values["title"],
                    "owner": values["owner"],
                    "due_date": date.fromisoformat(values["due"]),
                }
                self._apply(
                    f"action {action_id} saved",
                    lambda: pdca_actions.edit_action(
                        services.engine, action_id, read_version=version, actor=services.actor, changes=changes
                    ),
                )

        fields = [
            Field("title", "Action", action.title),
            Field("owner", "Owner", action.owner),
            Field("due", "Deadline", str(action.due_date), "YYYY-MM-DD"),
        ]
        self.app.push_screen(FormScreen(f"Action {action_id}", fields, validate=_action_problem), done)

    def action_action_done(self) -> None:
        action = self._selected_action()
        if action is None or action.id is None:
            return
        services = self.bihuan.services
        action_id, version = action.id, action.version
        self._apply(
            f"action {action_id} done",
            lambda: pdca_actions.complete_action(
                services.engine, action_id, read_version=version, actor=services.actor
            ),
        )

    def action_check(self) -> None:
        services = self.bihuan.services
        self._apply(
            "check stored",
            lambda: pdca_tasks.run_check(
                services.engine, services.pdca, self.task_id, actor=services.actor, early=True
            ),
        )

    def action_standardise(self) -> None:
        if self.view is None:
            return
        read_version = self._version
        services = self.bihuan.services

        def done(values: dict[str, str] | None) -> None:
            if values:
                self._apply(
                    "standardised and closed",
                    lambda: pdca_tasks.standardise(
                        services.engine,
                        services.pdca,
                        self.task_id,
                        read_version=read_version,
                        standard=values["standard"],
                        actor=services.actor,
                    ),
                )

        self.app.push_screen(FormScreen("The standard adopted", [Field("standard", "Standard")]), done)

    def action_next_cycle(self) -> None:
        if self.view is None:
            return
        read_version = self._version
        services = self.bihuan.services
        self._apply(
            "next cycle opened",
            lambda: pdca_tasks.next_cycle(
                services.engine, services.pdca, self.task_id, read_version=read_version, actor=services.actor
            ),
        )
