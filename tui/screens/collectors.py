"""Collectors: each configured instance with its last run; run one or all with live
counts; the quarantine with reasons, edit-and-retry and discard."""

from __future__ import annotations

import json
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, Header, Static

from bihuan.core.collection import CollectorInstance, configured_instances, run_instances
from bihuan.core.errors import BihuanError
from bihuan.core.pipeline import RunReport
from bihuan.core.quarantine import decoded_payload, discard_records, retry_records
from bihuan.storage import queries
from bihuan.storage.engine import session_scope
from bihuan.storage.models import CollectorRun, QuarantinedRecord
from bihuan.tui.screens.base import BihuanScreen
from bihuan.tui.widgets.form import Field, FormScreen
from bihuan.tui.widgets.untrusted import display_text, untrusted

#: payload fields offered for editing in one form (a record with more shows the first ones)
MAX_FORM_FIELDS = 12


class CollectorsScreen(BihuanScreen):
    CSS_PATH = "collectors.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "run_selected", "Run collector", id="collectors.run"),
        Binding("ctrl+a", "run_all", "Run all", id="collectors.run_all"),
        Binding("e", "retry", "Edit & retry", id="collectors.retry"),
        Binding("delete", "discard", "Discard record", id="collectors.discard"),
        Binding("ctrl+r", "reload", "Reload", id="collectors.reload"),
    ]
    palette = (
        ("Run the selected collector", "Collect what is new since its last run", "run_selected"),
        ("Run all enabled collectors", "Like `bihuan collect`", "run_all"),
        ("Edit and retry the quarantined record", "Fix a field and store the record", "retry"),
        ("Discard the quarantined record", "Mark it discarded (it stays listed with --all)", "discard"),
        ("Reload collectors", "Read runs and quarantine again", "reload"),
    )

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(classes="pane", id="collectors-pane"):
            yield Static("Collectors", classes="title")
            yield DataTable(id="collectors", cursor_type="row")
            yield Static("", id="run-progress", classes="muted", markup=False)
        with Vertical(classes="pane", id="quarantine-pane"):
            yield Static("Quarantine", classes="title", id="quarantine-title")
            yield DataTable(id="quarantine", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#collectors", DataTable).add_columns(
            "instance", "collector", "enabled", "last run", "status", "read", "new", "updated", "quar.", "error"
        )
        self.query_one("#quarantine", DataTable).add_columns("id", "collector", "where", "field", "reason")

    def _instances(self) -> dict[str, CollectorInstance]:
        services = self.bihuan.services
        return configured_instances(services.settings, services.registry)

    def refresh_data(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, group="collectors")
    def load(self) -> None:
        try:
            instances = self._instances()
        except BihuanError as exc:
            self.app.call_from_thread(
                self.notify, display_text(exc), title="plugins.toml", severity="error", markup=False
            )
            instances = {}
        with session_scope(self.bihuan.services.engine) as session:
            last = {
                name: next(iter(queries.list_runs(collector=name, limit=1, session=session)), None)
                for name in instances
            }
            records = list(queries.list_quarantined(limit=500, session=session))
            open_count = queries.count_quarantined(session=session)
        self.app.call_from_thread(self.show, instances, last, records, open_count)

    def show(
        self,
        instances: dict[str, CollectorInstance],
        last: dict[str, CollectorRun | None],
        records: list[QuarantinedRecord],
        open_count: int,
    ) -> None:
        # names come from plugins.toml and plugins, records and errors from the sources:
        # every such cell is plain text (a str cell would be parsed as markup)
        table = self.query_one("#collectors", DataTable)
        table.clear()
        for name, instance in instances.items():
            run = last.get(name)
            cells: tuple[object, ...] = ("never", "", "", "", "", "", "")
            if run is not None:
                cells = (
                    f"{run.started_at:%Y-%m-%d %H:%M}",
                    untrusted(run.status),
                    run.read,
                    run.new,
                    run.updated,
                    run.quarantined,
                    untrusted(f"{run.error_class}: {run.error_message}" if run.error_class else ""),
                )
            table.add_row(
                untrusted(name),
                untrusted(instance.collector_type),
                "yes" if instance.config.enabled else "no",
                *cells,
                key=name,
            )
        if not instances:
            self.query_one("#run-progress", Static).update(
                "No collectors configured: add [collectors.<name>] tables to plugins.toml."
            )
        quarantine = self.query_one("#quarantine", DataTable)
        quarantine.clear()
        for record in records:
            quarantine.add_row(
                str(record.id),
                untrusted(record.collector),
                untrusted(record.location),
                untrusted(record.field),
                untrusted(record.reason),
                key=str(record.id),
            )
        self.query_one("#quarantine-title", Static).update(f"Quarantine ({open_count:,} open)")

    # ── running ──────────────────────────────────────────────────────────────────────

    def action_run_selected(self) -> None:
        table = self.query_one("#collectors", DataTable)
        if table.row_count:
            name = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            if name is not None:
                self.run_collectors([name])

    def action_run_all(self) -> None:
        self.run_collectors(None)

    @work(thread=True, exclusive=True, group="collector-run")
    def run_collectors(self, names: list[str] | None) -> None:
        services = self.bihuan.services
        progress = self.query_one("#run-progress", Static)
        try:
            instances = self._instances()
            chosen = [instances[n] for n in names] if names else [i for i in instances.values() if i.config.enabled]
        except (BihuanError, KeyError) as exc:
            self.app.call_from_thread(self.notify, display_text(exc), severity="error", markup=False)
            return

        def tick(report: RunReport) -> None:
            line = f"{report.collector}: read {report.read:,} · new {report.new:,} · quarantined {report.quarantined:,}"
            self.app.call_from_thread(progress.update, display_text(line))

        def start(instance: CollectorInstance) -> None:
            self.app.call_from_thread(progress.update, display_text(f"{instance.name}: starting…"))

        reports = run_instances(
            chosen,
            engine=services.engine,
            timezone=services.pdca.zone,
            date_window=services.settings.bihuan.date_window,
            hooks=services.pipeline_hooks,
            progress=tick,
            on_start=start,
        )
        summary = "; ".join(f"{r.collector} {r.status}: {r.new:,} new, {r.quarantined:,} quarantined" for r in reports)
        self.app.call_from_thread(progress.update, display_text(summary) or "nothing to run")
        self.app.call_from_thread(self.action_reload)

    # ── quarantine ───────────────────────────────────────────────────────────────────

    def _selected_record(self) -> int | None:
        table = self.query_one("#quarantine", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return int(key) if key is not None else None

    def action_retry(self) -> None:
        record_id = self._selected_record()
        if record_id is None:
            return
        with session_scope(self.bihuan.services.engine) as session:
            record = queries.get_quarantined(record_id, session=session)
        if record is None:
            return
        payload = decoded_payload(record)
        keys = list(payload)[:MAX_FORM_FIELDS] if isinstance(payload, dict) else []
        fields = [Field(f"f{i}", key, "" if payload[key] is None else str(payload[key])) for i, key in enumerate(keys)]
        title = f"#{record.id} {display_text(record.location)}: {display_text(record.reason)}"
        if not fields:
            title += (
                f"\n(payload: {display_text(json.dumps(payload, ensure_ascii=False), limit=200)} — retried as it is)"
            )

        def done(values: dict[str, str] | None) -> None:
            if values is None:
                return
            edits = {
                keys[int(name[1:])]: value for name, value in values.items() if value != fields[int(name[1:])].value
            }
            self.retry(record_id, edits)

        self.app.push_screen(FormScreen(title, fields), done)

    @work(thread=True, group="quarantine-retry")
    def retry(self, record_id: int, edits: dict[str, str]) -> None:
        services = self.bihuan.services
        try:
            outcomes, _ = retry_records(
                [record_id],
                engine=services.engine,
                registry=services.registry,
                settings=services.settings,
                hooks=services.pipeline_hooks,
                edits=edits,
            )
        except BihuanError as exc:
            self.app.call_from_thread(
                self.notify, display_text(exc), title="retry refused", severity="error", markup=False
            )
            return
        for outcome in outcomes:
            if outcome.status == "stored":
                message, severity = f"#{outcome.record_id} stored as item {outcome.item_id}", "information"
            else:
                message, severity = f"#{outcome.record_id} {outcome.status}: {outcome.reason}", "warning"
            self.app.call_from_thread(self.notify, display_text(message), severity=severity, markup=False)
        self.app.call_from_thread(self.action_reload)

    def action_discard(self) -> None:
        record_id = self._selected_record()
        if record_id is not None:
            discard_records([record_id], engine=self.bihuan.services.engine)
            self.notify(f"#{record_id} discarded")
            self.action_reload()
