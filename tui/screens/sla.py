"""SLA and 回访 queue: cases owed a response or resolution, soonest due first (breached
ones marked), and the follow-up calls to make; answer, resolve and record outcomes."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, Header, Static

from bihuan.core.sla import cases as sla_cases
from bihuan.core.sla import followups as sla_followups
from bihuan.storage import case_queries as cq
from bihuan.storage.case_models import FollowUp
from bihuan.storage.engine import session_scope
from bihuan.storage.types import utcnow
from bihuan.tui.screens.base import BihuanScreen
from bihuan.tui.widgets.form import Field, FormScreen
from bihuan.tui.widgets.untrusted import untrusted


class SlaScreen(BihuanScreen):
    CSS_PATH = "sla.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "respond", "Responded", id="sla.respond"),
        Binding("v", "resolve", "Resolved", id="sla.resolve"),
        Binding("o", "record", "Record 回访", id="sla.record"),
        Binding("b", "toggle_breached", "Breached only", id="sla.breached"),
        Binding("ctrl+r", "reload", "Reload", id="sla.reload"),
    ]
    palette = (
        ("Mark the case responded", "The first answer was given now", "respond"),
        ("Mark the case resolved", "Resolved now; complaints get their 回访 scheduled", "resolve"),
        ("Record the 回访 outcome", "What the customer said; unhappy reopens the case", "record"),
        ("Show breached cases only", "Toggle between all due cases and the breached ones", "toggle_breached"),
        ("Reload the SLA queue", "Open cases for new feedback and read the queue again", "reload"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.breached_only = False
        self.case_versions: dict[int, int] = {}
        self.followups: list[FollowUp] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(classes="pane", id="cases-pane"):
            yield Static("Due", classes="title", id="cases-title")
            yield DataTable(id="cases", cursor_type="row", zebra_stripes=True)
        with Vertical(classes="pane", id="followups-pane"):
            yield Static("回访 follow-ups", classes="title", id="followups-title")
            yield DataTable(id="followups", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#cases", DataTable).add_columns("item", "channel", "status", "due", "", "text")
        self.query_one("#followups", DataTable).add_columns("id", "item", "due", "")

    def refresh_data(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.load()

    def action_toggle_breached(self) -> None:
        self.breached_only = not self.breached_only
        self.load()

    @work(thread=True, exclusive=True, group="sla")
    def load(self) -> None:
        services = self.bihuan.services
        now = utcnow()
        if services.cases is not None:
            sla_cases.open_new_cases(services.engine, services.cases, now=now)
            sla_cases.announce_breaches(services.engine, services.cases, now=now)
        with session_scope(services.engine) as session:
            rows = cq.open_cases(now=now, breached_only=self.breached_only, session=session)
            pending = cq.pending_followups(session=session)
        self.app.call_from_thread(self.show, rows, pending, now)

    def show(self, rows: list[cq.CaseRow], pending: list[FollowUp], now: object) -> None:
        zone = self.bihuan.services.pdca.zone
        table = self.query_one("#cases", DataTable)
        table.clear()
        self.case_versions = {r.item_id: r.version for r in rows}
        breached = 0
        for r in rows:
            late = r.due is not None and r.due < now  # type: ignore[operator]
            breached += late
            due = f"{r.due.astimezone(zone):%m-%d %H:%M}" if r.due else ""
            table.add_row(
                str(r.item_id),
                untrusted(r.channel),
                untrusted(r.status),
                due,
                Text("BREACHED", style="bold red") if late else "",
                untrusted(r.text, limit=80),
                key=str(r.item_id),
            )
        scope = "breached" if self.breached_only else "due"
        self.query_one("#cases-title", Static).update(f"Cases {scope} ({len(rows)}, {breached} breached)")
        self.followups = pending
        calls = self.query_one("#followups", DataTable)
        calls.clear()
        for f in pending:
            overdue = f.due_at < now  # type: ignore[operator]
            calls.add_row(
                str(f.id),
                str(f.item_id),
                f"{f.due_at.astimezone(zone):%m-%d %H:%M}",
                Text("overdue", style="red") if overdue else "",
                key=str(f.id),
            )
        self.query_one("#followups-title", Static).update(f"回访 follow-ups ({len(pending)} waiting)")

    def _selected(self, table_id: str) -> int | None:
        table = self.query_one(f"#{table_id}", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return int(key) if key is not None else None

    def _apply(self, label: str, change: Any) -> None:
        self.apply_change(label, change, reload=self.load)

    def action_respond(self) -> None:
        item = self._selected("cases")
        if item is None:
            return
        services, version = self.bihuan.services, self.case_versions.get(item)
        self._apply(
            f"case {item} responded",
            lambda: sla_cases.respond(services.engine, item, actor=services.actor, read_version=version),
        )

    def action_resolve(self) -> None:
        item = self._selected("cases")
        if item is None or self.bihuan.services.cases is None:
            return
        services, version = self.bihuan.services, self.case_versions.get(item)
        self._apply(
            f"case {item} resolved",
            lambda: sla_cases.resolve(
                services.engine,
                services.cases,
                item,
                actor=services.actor,
                read_version=version,  # type: ignore[arg-type]
            ),
        )

    def action_record(self) -> None:
        followup_id = self._selected("followups")
        if followup_id is None or self.bihuan.services.cases is None:
            return
        services = self.bihuan.services

        def valid(values: dict[str, str]) -> str | None:
            if values["outcome"] not in ("satisfied", "unsatisfied", "unreachable"):
                return "outcome: satisfied, unsatisfied or unreachable"
            if values["satisfaction"] and values["satisfaction"] not in "12345":
                return "satisfaction: 1 (very unhappy) .. 5 (very happy), or empty"
            return None

        def done(values: dict[str, str] | None) -> None:
            if not values:
                return
            satisfaction = int(values["satisfaction"]) if values["satisfaction"] else None
            self._apply(
                f"回访 {followup_id} recorded",
                lambda: sla_followups.record_followup(
                    services.engine,
                    services.cases,
                    followup_id,
                    outcome=values["outcome"],  # type: ignore[arg-type]
                    satisfaction=satisfaction,
                    note=values["note"] or None,
                    actor=services.actor,
                ),
            )

        fields = [
            Field("outcome", "Outcome", "satisfied", "satisfied, unsatisfied or unreachable"),
            Field("satisfaction", "Satisfaction 1-5", ""),
            Field("note", "Note"),
        ]
        self.app.push_screen(FormScreen(f"回访 {followup_id}", fields, validate=valid), done)
