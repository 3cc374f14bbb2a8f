"""The inbox: every feedback item, newest first, a page at a time, with filters, Chinese
text search and a detail pane (redacted text, metadata, group, linked near-duplicates).

Pages are keyset queries (see :mod:`bihuan.storage.inbox_queries`): the next page costs
what the first did, on a million items too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Input, Select, Static

from bihuan.core.analysis.group_ops import move_items
from bihuan.core.analysis.taxonomy import load_taxonomy
from bihuan.core.errors import BihuanError
from bihuan.core.sla import cases as sla_cases
from bihuan.core.types import CHANNELS
from bihuan.storage import inbox_queries as iq
from bihuan.storage.engine import session_scope
from bihuan.storage.types import utcnow
from bihuan.tui.screens.base import BihuanScreen
from bihuan.tui.widgets.form import Field, FormScreen
from bihuan.tui.widgets.untrusted import display_text, untrusted

PAGE = 50
SLA_STATES = (("owed an answer", "owed"), ("breached", "breached"), ("resolved", "resolved"))
PERIODS = (("last 7 days", 7), ("last 30 days", 30), ("last 90 days", 90), ("last year", 365))
SENTIMENTS = (("negative", "negative"), ("neutral", "neutral"), ("positive", "positive"), ("unanalysed", "unanalysed"))


class InboxScreen(BihuanScreen):
    CSS_PATH = "inbox.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("pagedown,ctrl+n", "next_page", "Next page", id="inbox.next_page"),
        Binding("pageup,ctrl+p", "previous_page", "Previous page", id="inbox.previous_page"),
        Binding("slash", "search", "Search", id="inbox.search"),
        Binding("ctrl+l", "clear_filters", "Clear filters", id="inbox.clear_filters"),
        Binding("ctrl+g", "move_to_group", "Move to group", id="inbox.move_to_group"),
        Binding("r", "respond", "Responded", id="inbox.respond"),
        Binding("v", "resolve", "Resolved", id="inbox.resolve"),
    ]
    palette = (
        ("Next page of the inbox", "The next 50 items", "next_page"),
        ("Previous page of the inbox", "The 50 items before", "previous_page"),
        ("Search the feedback texts", "Find items containing a word or phrase", "search"),
        ("Clear the inbox filters", "Show every item again", "clear_filters"),
        ("Move the item to another group", "Correct the item's root-cause group", "move_to_group"),
        ("Mark the item responded", "Its SLA case got its first answer now", "respond"),
        ("Mark the item resolved", "Its SLA case is resolved now; complaints get a 回访", "resolve"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.filter = iq.InboxFilter()
        #: the cursor each shown page started after (page 1: None)
        self.page_starts: list[iq.Cursor | None] = [None]
        self.rows: list[iq.InboxRow] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="filters"):
            yield Select((), prompt="channel", id="filter-channel")
            yield Select(SENTIMENTS, prompt="sentiment", id="filter-sentiment")
            yield Select((), prompt="category", id="filter-category")
            yield Select(PERIODS, prompt="period", id="filter-period")
            yield Select(SLA_STATES, prompt="SLA", id="filter-sla")
            yield Input(placeholder="source", id="filter-source")
            yield Input(placeholder="group id", id="filter-group", type="integer")
            yield Input(placeholder="search text (/)", id="filter-search")
        with Horizontal(id="inbox-body"):
            with Vertical(id="inbox-list", classes="pane"):
                yield DataTable(id="inbox", cursor_type="row", zebra_stripes=True)
                yield Static("", id="page", classes="muted")
            yield Static("", id="detail", classes="pane", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#inbox", DataTable).add_columns("when", "channel", "sent.", "group", "text")
        self.load_channels()
        self.load_page()

    def load_channels(self) -> None:
        # the known channels and the taxonomy's categories, not a GROUP BY over a million
        # items when the inbox opens
        self.query_one("#filter-channel", Select).set_options([(c, c) for c in sorted(CHANNELS)])
        taxonomy = load_taxonomy(self.bihuan.services.settings.taxonomy_path())
        # the taxonomy is the team's file: its labels are text, never markup
        categories = [(untrusted(f"{c.label} ({c.key})"), c.key) for c in taxonomy.categories]
        self.query_one("#filter-category", Select).set_options(categories)

    @work(thread=True, exclusive=True, group="inbox-page")
    def load_page(self) -> None:
        with session_scope(self.bihuan.services.engine) as session:
            rows = iq.inbox_page(self.filter, after=self.page_starts[-1], limit=PAGE, session=session)
        self.app.call_from_thread(self.show_page, rows)

    def show_page(self, rows: list[iq.InboxRow]) -> None:
        self.rows = rows
        table = self.query_one("#inbox", DataTable)
        table.clear()
        zone = self.bihuan.services.pdca.zone
        for row in rows:
            # every stored value is untrusted: plain text (never markup), controls made visible
            table.add_row(
                f"{row.created_at.astimezone(zone):%Y-%m-%d %H:%M}",
                untrusted(row.channel),
                untrusted(row.sentiment_label or "—"),
                str(row.group_id or ""),
                untrusted(row.text, limit=120),
                key=str(row.id),
            )
        first = (len(self.page_starts) - 1) * PAGE + 1
        shown = f"items {first:,}–{first + len(rows) - 1:,}" if rows else "no items match"
        self.query_one("#page", Static).update(f"page {len(self.page_starts)} · {shown}")
        if not rows:
            self.query_one("#detail", Static).update("")

    def action_next_page(self) -> None:
        if len(self.rows) == PAGE:
            last = self.rows[-1]
            self.page_starts.append((last.created_at, last.id))
            self.load_page()

    def action_previous_page(self) -> None:
        if len(self.page_starts) > 1:
            self.page_starts.pop()
            self.load_page()

    def apply_filter(self, **changes: object) -> None:
        from dataclasses import replace

        self.filter = replace(self.filter, **changes)  # type: ignore[arg-type]
        self.page_starts = [None]
        self.load_page()

    def on_select_changed(self, event: Select.Changed) -> None:
        value = None if event.value is Select.BLANK else str(event.value)
        if event.select.id == "filter-channel":
            self.apply_filter(channel=value)
        elif event.select.id == "filter-sentiment":
            self.apply_filter(sentiment=value)
        elif event.select.id == "filter-category":
            self.apply_filter(category=value)
        elif event.select.id == "filter-sla":
            self.apply_filter(sla=value, now=utcnow())
        elif event.select.id == "filter-period":
            since = utcnow() - timedelta(days=int(value)) if value else None
            self.apply_filter(since=since)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if event.input.id == "filter-search":
            self.apply_filter(search=value or None)
        elif event.input.id == "filter-group":
            self.apply_filter(group_id=int(value) if value.isdigit() else None)
        elif event.input.id == "filter-source":
            self.apply_filter(source=value or None)
        self.query_one("#inbox", DataTable).focus()

    def action_search(self) -> None:
        self.query_one("#filter-search", Input).focus()

    def action_clear_filters(self) -> None:
        for name in ("search", "group", "source"):
            self.query_one(f"#filter-{name}", Input).value = ""
        for name in ("channel", "sentiment", "category", "period", "sla"):
            self.query_one(f"#filter-{name}", Select).clear()
        self.apply_filter(
            channel=None, sentiment=None, category=None, since=None, source=None, group_id=None, search=None, sla=None
        )

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.load_detail(int(event.row_key.value))

    @work(thread=True, exclusive=True, group="inbox-detail")
    def load_detail(self, item_id: int) -> None:
        with session_scope(self.bihuan.services.engine) as session:
            detail = iq.item_detail(item_id, session=session)
        if detail is not None:
            self.app.call_from_thread(self.show_detail, detail)

    def show_detail(self, detail: iq.ItemDetail) -> None:
        item, analysis, zone = detail.item, detail.analysis, self.bihuan.services.pdca.zone
        # every stored value is untrusted: one line each, the text with its line breaks
        one = display_text
        lines = [
            f"#{item.id} · {one(item.channel)} · {one(item.source)} · {item.created_at.astimezone(zone):%Y-%m-%d %H:%M}",
            "",
            display_text(item.text, multiline=True),
            "",
        ]
        if item.rating is not None or item.nps is not None:
            lines.append(
                f"rating {item.rating if item.rating is not None else '—'} · NPS {item.nps if item.nps is not None else '—'}"
            )
        if item.customer_ref:
            lines.append(f"customer {one(item.customer_ref)}")
        if analysis is not None:
            categories = one(", ".join(analysis.categories)) or "no category"
            lines.append(f"sentiment {one(analysis.sentiment_label)} ({analysis.sentiment:.2f}) · {categories}")
            lines.append(f"keywords {one(' '.join(analysis.keywords))}")
        if detail.group is not None:
            lines.append(f"group #{detail.group.id} {one(detail.group.label)}")
        if item.url:
            lines.append(one(item.url))
        for key, value in (item.extra or {}).items():
            lines.append(f"{one(key)}: {one(value)}")
        if detail.linked:
            lines += ["", "linked (same complaint):"]
            lines += [
                f"  #{i} {one(channel)} {at.astimezone(zone):%m-%d %H:%M} {one(text, limit=60)}"
                for i, channel, at, text in detail.linked
            ]
        self.query_one("#detail", Static).update(Text("\n".join(lines)))

    @property
    def selected_item(self) -> int | None:
        table = self.query_one("#inbox", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return int(key) if key is not None else None

    def action_move_to_group(self) -> None:
        item_id = self.selected_item
        if item_id is None:
            return
        services = self.bihuan.services

        def valid(values: dict[str, str]) -> str | None:
            return None if values["group"].isdigit() else "give the id of the group the item belongs to"

        def done(values: dict[str, str] | None) -> None:
            if not values:
                return
            try:
                with session_scope(services.engine, write=True) as session:
                    move_items([item_id], int(values["group"]), actor=services.actor, session=session)
            except BihuanError as exc:
                self.notify(display_text(exc), title="not moved", severity="error", markup=False)
                return
            self.notify(f"item {item_id} moved to group {values['group']}")
            self.load_page()
            self.load_detail(item_id)

        form = FormScreen(f"Move item {item_id} to group", [Field("group", "Group id")], validate=valid)
        self.app.push_screen(form, done)

    def _case_change(self, label: str, change: Any) -> None:
        self.apply_change(label, change, reload=self.load_page)

    def action_respond(self) -> None:
        item_id, services = self.selected_item, self.bihuan.services
        if item_id is not None:
            self._case_change(
                f"item {item_id} responded", lambda: sla_cases.respond(services.engine, item_id, actor=services.actor)
            )

    def action_resolve(self) -> None:
        item_id, services = self.selected_item, self.bihuan.services
        if item_id is not None and services.cases is not None:
            self._case_change(
                f"item {item_id} resolved",
                lambda: sla_cases.resolve(services.engine, services.cases, item_id, actor=services.actor),  # type: ignore[arg-type]
            )
