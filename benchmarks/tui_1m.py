"""Benchmark: the workplace (``bihuan tui``) on a 1,000,000-item database.

Measured in the same run, on one SQLite database:

* **first paint** — from starting a fresh ``python`` process that opens the workplace to
  the first frame of the dashboard (the shell with its tiles and tables, before the
  figures arrive), and to the dashboard's figures (KPIs, Pareto, spikes) shown;
* **inbox** — opening the inbox, the next page, page 1,000, and each filter change
  (channel, sentiment, group, a Chinese search word), from the key press to the table
  filled, driven through Textual's Pilot;
* **search** — words no item contains (3+ and 2 characters), few, many and Latin ones,
  through the text index and, as the baseline, through the scan it replaces (the same
  query with the index's narrowing switched off);
* **baseline** — page 1,000 read with ``LIMIT/OFFSET`` instead of the keyset the inbox
  uses.

Items: recombined texts of the demo set over one year, four channels, analysis results
written directly (200 groups of Zipf-like sizes, sentiment labels), so the database has
the shape ``bihuan analyze`` leaves without spending three minutes on the analysis.

Usage::

    .venv/bin/python benchmarks/tui_1m.py [--rows 1000000] [--db PATH] [--paint-runs N]
        [--baseline-python OTHER_CHECKOUT/.venv/bin/python]

``--baseline-python`` times the first paint of another checkout on the same database,
its runs alternated with this checkout's (the baseline of the start-up figures).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from analyze_1m import START, items

from bihuan.storage import analysis_queries as aq
from bihuan.storage import bulk, text_search
from bihuan.storage.analysis_models import IssueGroup
from bihuan.storage.engine import create_db_engine, session_scope
from bihuan.storage.migrate import upgrade_database

GROUPS = 200
#: inbox searches: (word, what it is); counts on the benchmark's 1M items
SEARCHES = (
    ("不存在的词语", "no item contains it"),
    ("张伟", "2 characters, no item contains them"),
    ("提额申请", "~4,300 items"),
    ("转人工难", "~6,600 items"),
    ("手机银行", "~210,000 items"),
    ("提额", "2 characters, many items"),
    ("atm", "Latin, ~19,000 items as ATM"),
)
LABELS = ("negative", "negative", "negative", "neutral", "positive")


def build(db: Path, rows: int) -> None:
    engine = create_db_engine(f"sqlite:///{db}")
    upgrade_database(engine)
    rng = random.Random(7)
    weights = [1 / (rank + 1) for rank in range(GROUPS)]
    with session_scope(engine, write=True) as session:
        for gid in range(1, GROUPS + 1):
            session.add(IssueGroup(id=gid, label=f"分组{gid}·转账·手机银行", keywords=["转账", "手机银行"], size=0))
    step = 50_000
    for begin in range(0, rows, step):
        batch = items(
            min(step, rows - begin),
            first=begin,
            start=START + timedelta(weeks=52) * begin / rows,
            span=timedelta(weeks=52) * step / rows,
            seed=begin,
        )
        with session_scope(engine, write=True) as session:
            bulk.upsert_items(batch, run_id=None, now=datetime.now(UTC), session=session)
            ids = [
                r[0]
                for r in session.connection().exec_driver_sql(
                    f"SELECT id FROM feedback_item ORDER BY id LIMIT {len(batch)} OFFSET {begin}"
                )
            ]
            aq.upsert_results(
                [
                    {
                        "item_id": item_id,
                        "content_hash": f"h{begin + k}",
                        "language": "zh",
                        "sentiment": 0.2,
                        "sentiment_label": rng.choice(LABELS),
                        "keywords": ["转账"],
                        "categories": ["transfer_payment"],
                        "category": "transfer_payment",
                        "group_id": rng.choices(range(1, GROUPS + 1), weights)[0],
                        "duplicate_of": None,
                        "model": "bench",
                        "analysed_at": datetime.now(UTC),
                    }
                    for k, item_id in enumerate(ids)
                ],
                session=session,
            )
        print(f"  {begin + len(batch):,} items", end="\r", flush=True)
    started = time.perf_counter()
    with session_scope(engine, write=True) as session:  # as the end of an import run does
        indexed = text_search.catch_up(session=session)
    print(f"text index: {indexed:,} items indexed in {time.perf_counter() - started:.1f} s")
    engine.dispose()


FIRST_PAINT = r"""
import json, sys, time
from pathlib import Path
from bihuan.tui.cli import main
from bihuan.tui.screens.dashboard import DashboardScreen

marks = {}
shown = DashboardScreen.show
mounted = DashboardScreen.on_mount

def on_mount(self):
    mounted(self)
    self.call_after_refresh(lambda: marks.setdefault("paint", time.time()))

def show(self, dashboard):
    shown(self, dashboard)
    def done():
        marks["figures"] = time.time()
        Path(out).write_text(json.dumps(marks))
        self.app.exit()
    self.call_after_refresh(done)

DashboardScreen.on_mount = on_mount
DashboardScreen.show = show
out = sys.argv[2]  # the app owns the terminal: the marks go to a file
sys.argv = ["bihuan", "--db", sys.argv[1], "tui"]
main()
"""


def first_paint(db: Path, home: Path, python: str = sys.executable) -> tuple[float, float]:
    """Seconds from process start to the first frame, and to the dashboard's figures.

    :param python: the interpreter of the checkout to start (another checkout's venv for
        a baseline on the same database).
    """
    env = {**os.environ, "BIHUAN_HOME": str(home), "BIHUAN_LOAD_PLUGINS": "", "TERM": "xterm-256color"}
    # as an installed copy runs: from bytecode (the variable makes every start compile bihuan)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    marks_file = home / "marks.json"
    marks_file.unlink(missing_ok=True)
    started = time.time()
    # a pseudo-terminal, so the app runs as it does for a person (not headless)
    import pty

    pid, fd = pty.fork()
    if pid == 0:
        os.execve(python, [python, "-c", FIRST_PAINT, str(db), str(marks_file)], env)
    output = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.waitpid(pid, 0)
    if not marks_file.exists():
        raise SystemExit("the workplace did not start:\n" + output.decode("utf-8", "replace")[-3000:])
    marks = json.loads(marks_file.read_text())
    return marks["paint"] - started, marks["figures"] - started


async def inbox(db: Path, rows: int) -> dict[str, float]:
    """Median seconds from each key press or filter change to the inbox table painted."""
    from bihuan.core.config import Settings
    from bihuan.core.pdca.hooks import PdcaHooks
    from bihuan.core.pdca.tasks import PdcaContext
    from bihuan.storage.types import UTCDateTime
    from bihuan.tui.app import BihuanApp, Services
    from bihuan.tui.screens.inbox import InboxScreen

    painted: list[float] = []
    show_page = InboxScreen.show_page

    def recording_show_page(self: InboxScreen, page: list) -> None:  # type: ignore[type-arg]
        show_page(self, page)
        self.call_after_refresh(lambda: painted.append(time.perf_counter()))

    InboxScreen.show_page = recording_show_page  # type: ignore[method-assign]
    settings = Settings()
    engine = create_db_engine(f"sqlite:///{db}")
    services = Services(
        engine=engine,
        settings=settings,
        actor="bench",
        pdca=PdcaContext(zone=settings.bihuan.zone, settings=settings.pdca, hooks=PdcaHooks()),
    )
    app = BihuanApp(services)
    timings: dict[str, list[float]] = {}
    with session_scope(engine) as session:
        row = (
            session.connection()
            .exec_driver_sql(
                "SELECT created_at, id FROM feedback_item ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET "
                f"{min(49_949, rows - 51)}"
            )
            .one()
        )
    page_999_end = (UTCDateTime().process_result_value(datetime.fromisoformat(row[0]), engine.dialect), row[1])
    async with app.run_test(size=(160, 45)) as pilot:
        await app.workers.wait_for_complete()

        async def timed(name: str, action) -> None:  # type: ignore[no-untyped-def]
            seen = len(painted)
            started = time.perf_counter()
            await action()
            while len(painted) == seen:
                await asyncio.sleep(0.0005)
            timings.setdefault(name, []).append(painted[-1] - started)
            await app.workers.wait_for_complete()  # the detail pane, before the next step
            await pilot.pause(0.05)

        await timed("open the inbox (first page)", lambda: pilot.press("f3"))
        screen = app.screen
        assert isinstance(screen, InboxScreen)
        for _ in range(5):
            await timed("next page (PageDown)", lambda: pilot.press("pagedown"))

        async def page_1000() -> None:
            screen.page_starts = [None] * 999 + [page_999_end]
            screen.load_page()

        for _ in range(3):
            await timed("page 1,000", page_1000)
        for name, change in (
            ("filter: channel", {"channel": "social"}),
            ("filter: sentiment", {"channel": None, "sentiment": "positive"}),
            ("filter: a mid-sized group", {"sentiment": None, "group_id": 50}),
            ("filter: a small group", {"group_id": 200}),
            ("clear the filters", {"group_id": None}),
        ):

            async def apply(change=change) -> None:  # type: ignore[no-untyped-def]
                screen.apply_filter(**change)

            for _ in range(3):
                await timed(name, apply)
        narrowing = text_search.narrowing
        for word, what in SEARCHES:
            for how in ("index", "scan"):
                # the baseline: the same query without the index's narrowing (the scan)
                text_search.narrowing = narrowing if how == "index" else (lambda query, session: None)  # type: ignore[assignment]

                async def search(word=word) -> None:  # type: ignore[no-untyped-def]
                    screen.apply_filter(search=word)

                for _ in range(3):
                    await timed(f"search {word} ({what}), {how}", search)
        text_search.narrowing = narrowing
    engine.dispose()
    InboxScreen.show_page = show_page  # type: ignore[method-assign]
    return {name: statistics.median(values) for name, values in timings.items()}


def offset_page(db: Path, page: int) -> float:
    engine = create_db_engine(f"sqlite:///{db}")
    from bihuan.storage import inbox_queries as iq

    with session_scope(engine) as session:
        iq.inbox_page(iq.InboxFilter(), session=session)  # warm the cache as the keyset runs had
        started = time.perf_counter()
        session.connection().exec_driver_sql(
            "SELECT i.id, i.created_at, i.channel, i.source, i.text, i.rating, a.sentiment_label, a.category, "
            "a.group_id, g.label FROM feedback_item i LEFT JOIN item_analysis a ON a.item_id = i.id "
            "LEFT JOIN issue_group g ON g.id = a.group_id "
            f"ORDER BY i.created_at DESC, i.id DESC LIMIT 50 OFFSET {(page - 1) * 50}"
        ).all()
        elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def search_queries(db: Path) -> dict[str, tuple[float, float]]:
    """Median seconds of the first page of each search, the query alone (wall, CPU),
    through the index and through the scan; the busier the machine, the more the inbox
    figures above are the terminal's drawing rather than the query."""
    from bihuan.storage import inbox_queries as iq

    engine = create_db_engine(f"sqlite:///{db}")
    narrowing = text_search.narrowing
    out: dict[str, tuple[float, float]] = {}
    with session_scope(engine) as session:
        iq.inbox_page(iq.InboxFilter(), session=session)
        for word, what in SEARCHES:
            for how in ("index", "scan"):
                text_search.narrowing = narrowing if how == "index" else (lambda query, session: None)  # type: ignore[assignment]
                walls, cpus = [], []
                for _ in range(5):
                    wall, cpu = time.perf_counter(), time.process_time()
                    iq.inbox_page(iq.InboxFilter(search=word), session=session)
                    walls.append(time.perf_counter() - wall)
                    cpus.append(time.process_time() - cpu)
                out[f"search {word} ({what}), {how}"] = (statistics.median(walls), statistics.median(cpus))
    text_search.narrowing = narrowing
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="reuse this database (built there when missing)")
    parser.add_argument("--paint-runs", type=int, default=3, help="first-paint runs (median reported)")
    parser.add_argument(
        "--baseline-python",
        metavar="PATH",
        help="also time the first paint with this interpreter (another checkout's venv), runs alternated",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bihuan-tui-"))
    db = args.db or work / "bihuan.db"
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, load average {os.getloadavg()[0]:.2f}"
    )
    if not db.exists():
        started = time.perf_counter()
        build(db, args.rows)
        print(f"built {args.rows:,} analysed items in {time.perf_counter() - started:.0f} s ({db})")
    sides = {"this checkout": sys.executable}
    if args.baseline_python:
        sides = {f"baseline ({args.baseline_python})": args.baseline_python, **sides}
    paints: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    for _ in range(args.paint_runs):
        for name, python in sides.items():
            paints[name].append(first_paint(db, work, python))
    for name, runs in paints.items():
        print(
            f"first paint, {name}: {statistics.median(p for p, _ in runs):.2f} s "
            f"(runs: {', '.join(f'{p:.2f}' for p, _ in runs)}); "
            f"dashboard figures shown: {statistics.median(f for _, f in runs):.2f} s"
        )
    for name, seconds in asyncio.run(inbox(db, args.rows)).items():
        print(f"inbox {name}: {seconds * 1000:.0f} ms")
    for name, (wall, cpu) in search_queries(db).items():
        print(f"query only: {name}: {wall * 1000:.1f} ms ({cpu * 1000:.1f} ms CPU)")
    for page in (1000, 10_000, 19_000):
        print(f"baseline: page {page:,} by LIMIT/OFFSET (query only): {offset_page(db, page) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
