"""Root-cause groups: the ranked list, one group's profile, items, tasks and history; and
the team's corrections (rename, merge, split) and "open an improvement task" from here."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Static

from bihuan.core.analysis.group_ops import merge_groups, rename_group, split_group
from bihuan.core.errors import BihuanError
from bihuan.core.groups_view import GroupDetail, GroupRow, group_detail, group_rows
from bihuan.core.pdca import tasks as pdca_tasks
from bihuan.storage.engine import session_scope
from bihuan.tui.screens.base import BihuanScreen
from bihuan.tui.widgets.form import Field, FormScreen
from bihuan.tui.widgets.sparkline import sparkline
from bihuan.tui.widgets.untrusted import display_text, untrusted


class GroupsScreen(BihuanScreen):
    CSS_PATH = "groups.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "rename", "Rename", id="groups.rename"),
        Binding("m", "merge", "Merge into", id="groups.merge"),
        Binding("s", "split", "Split", id="groups.split"),
        Binding("t", "open_task", "Open task", id="groups.open_task"),
        Binding("ctrl+r", "reload", "Reload", id="groups.reload"),
    ]
    palette = (
        ("Rename the group", "Give the selected group a label the team understands", "rename"),
        ("Merge groups into this one", "Move other groups' items into the selected group", "merge"),
        ("Split the group", "Move the items containing a keyword into a new group", "split"),
        ("Open an improvement task", "Start a PDCA task on the selected group", "open_task"),
        ("Reload groups", "Read the groups again", "reload"),
    )

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with Vertical(id="group-list", classes="pane"):
                yield Static("Root-cause groups", classes="title")
                yield DataTable(id="groups", cursor_type="row", zebra_stripes=True)
            with Vertical(id="group-detail", classes="pane"):
                yield Static("", id="group-summary", markup=False)
                yield DataTable(id="group-items", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#groups", DataTable).add_columns("id", "group", "items", "4 wk", "neg.", "trend")
        self.query_one("#group-items", DataTable).add_columns("when", "channel", "text")
        self.query_one("#groups", DataTable).loading = True

    @property
    def selected_group(self) -> int | None:
        table = self.query_one("#groups", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return int(key) if key is not None else None

    def refresh_data(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.load_groups()

    @work(thread=True, exclusive=True, group="groups")
    def load_groups(self) -> None:
        services = self.bihuan.services
        rows = group_rows(
            services.engine,
            zone=services.pdca.zone,
            repeat_window_days=services.settings.analysis.repeat_window_days,
            as_of=services.pdca.clock(),
        )
        self.app.call_from_thread(self.show_groups, rows)

    def show_groups(self, rows: list[GroupRow]) -> None:
        table = self.query_one("#groups", DataTable)
        table.loading = False
        keep = self.bihuan.focus_group if self.bihuan.focus_group is not None else self.selected_group
        self.bihuan.focus_group = None
        table.clear()
        for row in rows:
            ranked = row.ranked
            table.add_row(
                str(row.group.id),
                untrusted(row.group.label),
                f"{row.items:,}",
                f"{ranked.volume:,}" if ranked else "",
                f"{ranked.negative_share:.0%}" if ranked else "",
                sparkline(ranked.weekly) if ranked else "",
                key=str(row.group.id),
            )
        if keep is not None and str(keep) in table.rows:
            table.move_cursor(row=table.get_row_index(str(keep)))
        if table.row_count:
            self.load_detail(self.selected_group)
        else:
            self.query_one("#group-summary", Static).update("No groups yet: run `bihuan analyze`.")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "groups" and event.row_key.value is not None:
            self.load_detail(int(event.row_key.value))

    @work(thread=True, exclusive=True, group="group-detail")
    def load_detail(self, group_id: int | None) -> None:
        if group_id is None:
            return
        detail = group_detail(self.bihuan.services.engine, group_id)
        self.app.call_from_thread(self.show_detail, detail)

    def show_detail(self, detail: GroupDetail) -> None:
        group, profile = detail.group, detail.profile
        one = display_text  # labels, keywords, channels, titles, actors: untrusted, one line each
        mix = ", ".join(f"{one(channel)} {count / profile.items:.0%}" for channel, count in profile.channels) or "—"
        negative = f"{profile.negatives / profile.items:.0%}" if profile.items else "—"
        lines = [
            f"#{group.id} {one(group.label)}",
            f"{profile.items:,} items · {negative} negative · category {one(group.category) or '—'}",
            f"keywords: {one(' '.join(group.keywords[:10])) or '—'}",
            f"channels: {mix}",
        ]
        if detail.tasks:
            lines.append("tasks: " + "; ".join(f"#{t.id} {one(t.title)} [{one(t.stage)}]" for t in detail.tasks))
        if detail.history:
            last = detail.history[-1]
            lines.append(f"last change: {one(last.action)} by {one(last.actor)} at {last.at:%Y-%m-%d}")
        self.query_one("#group-summary", Static).update(Text("\n".join(lines)))
        items = self.query_one("#group-items", DataTable)
        items.clear()
        zone = self.bihuan.services.pdca.zone
        for row in detail.items:
            items.add_row(
                f"{row.created_at.astimezone(zone):%m-%d %H:%M}",
                untrusted(row.channel),
                untrusted(row.text),
                key=str(row.id),
            )

    # ── the team's corrections ───────────────────────────────────────────────────────

    def _with_group(self) -> int | None:
        group_id = self.selected_group
        if group_id is None:
            self.notify("No group selected", severity="warning")
        return group_id

    def _write(self, label: str, change: Any) -> None:
        """Run ``change(session)`` in a write transaction; report the outcome."""

        def write() -> None:
            with session_scope(self.bihuan.services.engine, write=True) as session:
                change(session)

        self.apply_change(label, write, reload=self.action_reload)

    def action_rename(self) -> None:
        group_id = self._with_group()
        if group_id is None:
            return

        def done(values: dict[str, str] | None) -> None:
            if values:
                self._write(
                    f"group {group_id} renamed",
                    lambda s: rename_group(group_id, values["label"], actor=self.bihuan.services.actor, session=s),
                )

        self.app.push_screen(FormScreen(f"Rename group {group_id}", [Field("label", "New label")]), done)

    def action_merge(self) -> None:
        group_id = self._with_group()
        if group_id is None:
            return

        def done(values: dict[str, str] | None) -> None:
            if values:
                sources = [int(v) for v in values["groups"].replace(",", " ").split()]
                self._write(
                    f"merged {', '.join(map(str, sources))} into {group_id}",
                    lambda s: merge_groups(group_id, sources, actor=self.bihuan.services.actor, session=s),
                )

        def ids(values: dict[str, str]) -> str | None:
            parts = values["groups"].replace(",", " ").split()
            return None if parts and all(p.isdigit() for p in parts) else "give group ids, e.g. 12 15"

        form = FormScreen(
            f"Merge into group {group_id}", [Field("groups", "Groups to merge into it (ids)")], validate=ids
        )
        self.app.push_screen(form, done)

    def action_split(self) -> None:
        group_id = self._with_group()
        if group_id is None:
            return

        def done(values: dict[str, str] | None) -> None:
            if values:
                self._write(
                    f"split group {group_id} by {values['keyword']!r}",
                    lambda s: split_group(
                        group_id,
                        keyword=values["keyword"],
                        label=values["label"] or None,
                        actor=self.bihuan.services.actor,
                        session=s,
                    ),
                )

        fields = [Field("keyword", "Items whose text contains"), Field("label", "Label of the new group (optional)")]
        self.app.push_screen(FormScreen(f"Split group {group_id}", fields), done)

    def action_open_task(self) -> None:
        group_id = self._with_group()
        if group_id is None:
            return
        services = self.bihuan.services

        def done(values: dict[str, str] | None) -> None:
            if not values:
                return
            try:
                task = pdca_tasks.open_task(
                    services.engine,
                    services.pdca,
                    title=values["title"],
                    group_ids=[group_id],
                    actor=services.actor,
                    metric=values["metric"] or None,
                    target=values["target"] or None,
                    owner=values["owner"] or None,
                )
            except BihuanError as exc:
                self.notify(display_text(exc), title="task not opened", severity="error", markup=False)
                return
            self.notify(f"task {task.id} opened in plan", markup=False)
            self.bihuan.open_task(task.id)  # type: ignore[arg-type]

        fields = [
            Field("title", "Title", placeholder="e.g. 信用卡提额慢"),
            Field("metric", "Target metric", value="volume", placeholder="volume, share, negative_share or csat"),
            Field("target", "Target", value="-50%", placeholder="-50% or a value"),
            Field("owner", "Owner"),
        ]
        self.app.push_screen(FormScreen(f"Open an improvement task on group {group_id}", fields), done)
