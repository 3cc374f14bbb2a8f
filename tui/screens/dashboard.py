"""The dashboard: KPI tiles against the previous period, the Pareto of root-cause groups
with its cumulative line, and the spikes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Static

from bihuan.tui.screens.base import BihuanScreen
from bihuan.tui.widgets.kpi_tile import KpiTile
from bihuan.tui.widgets.sparkline import sparkline
from bihuan.tui.widgets.untrusted import display_text, untrusted

if TYPE_CHECKING:  # the first screen drawn: the database layer is imported by its worker
    from bihuan.core.dashboard import Dashboard


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _change(delta: float | None, *, percent: bool, lower_is_better: bool) -> tuple[str | None, bool | None]:
    if delta is None:
        return None, None
    # shares change by percentage points, not by percent of themselves
    text = f"{delta * 100:+.1f} pt" if percent else f"{delta:+,}"
    if delta == 0:
        return text, None
    return text, (delta < 0) == lower_is_better


class DashboardScreen(BihuanScreen):
    CSS_PATH = "dashboard.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Reload", id="dashboard.reload"),
        Binding("enter", "open_group", "Open group", id="dashboard.open_group", show=False),
    ]
    palette = (
        ("Reload the dashboard", "Recompute KPIs, Pareto and spikes", "reload"),
        ("Open the selected group", "Show the group's items and keywords", "open_group"),
    )

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="tiles"):
            yield KpiTile("feedback", id="tile-volume")
            yield KpiTile("negative share", id="tile-negative")
            yield KpiTile("CSAT", id="tile-csat")
            yield KpiTile("NPS", id="tile-nps")
            yield KpiTile("SLA in time", id="tile-sla")
            yield KpiTile("open tasks", id="tile-tasks")
            yield KpiTile("overdue actions", id="tile-overdue")
        yield Static("", id="period", classes="muted")
        with Horizontal(id="body"):
            with Vertical(id="pareto-pane", classes="pane"):
                yield Static("Root causes that hurt most (Pareto)", classes="title")
                yield DataTable(id="pareto", cursor_type="row", zebra_stripes=True)
            with Vertical(id="spikes-pane", classes="pane"):
                yield Static("Spikes", classes="title")
                yield Static("", id="spikes", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#pareto", DataTable)
        table.add_columns("#", "group", "items", "neg.", "cum.", "80%", "weekly")
        self.loading_widgets(True)

    def loading_widgets(self, loading: bool) -> None:
        self.query_one("#pareto", DataTable).loading = loading

    def refresh_data(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="dashboard")
    def load(self) -> None:
        from bihuan.core.dashboard import load_dashboard

        services = self.bihuan.services
        dashboard = load_dashboard(
            services.engine,
            zone=services.pdca.zone,
            today=services.pdca.today(),
            repeat_window_days=services.settings.analysis.repeat_window_days,
        )
        self.app.call_from_thread(self.show, dashboard)

    def show(self, dashboard: Dashboard) -> None:
        self.loading_widgets(False)
        self.query_one("#tile-tasks", KpiTile).set_value(str(dashboard.open_tasks), None)
        overdue = self.query_one("#tile-overdue", KpiTile)
        overdue.set_value(str(dashboard.overdue_actions), None, good=dashboard.overdue_actions == 0)
        sla, before = dashboard.sla_compliance, dashboard.sla_compliance_before
        delta = sla - before if sla is not None and before is not None else None
        change, good = _change(delta, percent=True, lower_is_better=False)
        self.query_one("#tile-sla", KpiTile).set_value(_pct(sla), change, good=good)
        report = dashboard.report
        table = self.query_one("#pareto", DataTable)
        table.clear()
        if report is None:
            self.query_one("#period", Static).update("Nothing analysed yet: import feedback and run `bihuan analyze`.")
            return
        self._tiles(report.kpis["all"])
        last_day = report.period_end.toordinal() - 1
        from datetime import date

        compared = f"against the {(report.period_end - report.period_start).days} days before"
        if report.kpis["all"].get("no_previous_data"):
            compared += " (no data in the previous period)"
        self.query_one("#period", Static).update(f" {report.period_start} .. {date.fromordinal(last_day)} {compared}")
        for rank, group in enumerate(report.groups, 1):
            table.add_row(
                str(rank),
                untrusted(group.label),
                f"{group.volume:,}",
                _pct(group.negative_share),
                _pct(group.cumulative_share),
                "●" if group.vital_few else "",
                sparkline(group.weekly),
                key=str(group.group_id),
            )
        spikes = [
            f"{display_text(s['label'])}: {s['count']} in the week of {s['week']} (baseline {s['baseline']:.1f})"
            for s in report.spikes
        ]
        self.query_one("#spikes", Static).update("\n".join(spikes) or "no spikes in the period")

    def _tiles(self, kpis: dict[str, Any]) -> None:
        current, change = kpis["current"], kpis["change"]
        specs = (
            ("#tile-volume", f"{current['items']:,}", change.get("items"), False, True),
            ("#tile-negative", _pct(current["negative_share"]), change.get("negative_share"), True, True),
            ("#tile-csat", _pct(current["csat"]), change.get("csat"), True, False),
            ("#tile-nps", "—" if current["nps"] is None else f"{current['nps']:+.1f}", change.get("nps"), False, False),
        )
        for selector, value, delta, percent, lower_is_better in specs:
            if kpis.get("no_previous_data"):
                # nothing to compare with: not "+503", and not silence either
                self.query_one(selector, KpiTile).set_value(value, "no data before", good=None)
                continue
            if selector == "#tile-nps" and delta is not None:
                text, good = f"{delta:+.1f}", (delta > 0 if delta else None)
            else:
                text, good = _change(delta, percent=percent, lower_is_better=lower_is_better)
            self.query_one(selector, KpiTile).set_value(value, text, good=good)

    def action_open_group(self) -> None:
        table = self.query_one("#pareto", DataTable)
        if table.row_count == 0:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key is not None:
            self.bihuan.open_group(int(key))

    def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        self.action_open_group()
