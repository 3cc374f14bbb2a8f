"""Benchmark: ``bihuan analyze`` of 1,000,000 feedback items end to end, then 10,000 more.

Measured in the same run:

* **full analysis** — ``bihuan analyze`` in a fresh process on a SQLite database holding
  ``--rows`` items: language, sentiment, keywords, taxonomy, root-cause groups, repeat
  links, spikes, all results written; wall time and peak RSS of the process;
* **incremental** — 10,000 new items imported, ``bihuan analyze`` again: wall time;
* **baseline** — plain snownlp (``SnowNLP(text).sentiments``, sentiment only) on 2,000
  of the same texts: items/s, and the ratio of the full pipeline to it.

Items: texts of the generated demo set (52 weeks, four channels, ground-truth causes)
recombined with clauses of other texts, so that a million texts are varied as real ones
are, over one year, with customer numbers from a pool of 200,000 (repeat contacts).

The full analysis can be done once and kept (``--base PATH``: built there when missing,
else reused and never changed); every incremental measurement then runs on a fresh copy
of it. ``--compare REV`` measures, in the same run and on copies of the same database,
the incremental step with the code of git revision ``REV`` too (its tree exported to a
temporary directory), alternating old and new ``--repeat`` times. Before each timed run
the copy is brought to that code's schema (untimed: a one-time upgrade, timed separately).

Usage::

    .venv/bin/python benchmarks/analyze_1m.py [--rows 1000000] [--keep]
    .venv/bin/python benchmarks/analyze_1m.py --base /tmp/analysed-1m.db --compare HEAD~3 --repeat 3
    .venv/bin/python benchmarks/analyze_1m.py --compare HEAD~3 --full-compare --repeat 5

``--full-compare`` also runs the full analysis with ``REV`` first, on a copy of the same
freshly filled database, and compares the digests of the two results.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bihuan.core.demo_data import generate_demo_dataset
from bihuan.core.demo_data.reading import read_demo_texts
from bihuan.storage import bulk
from bihuan.storage.engine import create_db_engine, session_scope
from bihuan.storage.migrate import upgrade_database

BIHUAN = [sys.executable, "-c", "from bihuan.tui.cli import main; main()"]
START = datetime(2025, 11, 17, tzinfo=UTC)
REPO = Path(__file__).resolve().parent.parent


def corpus() -> list[tuple[str, str]]:
    """(text, channel) of the 52-week demo set."""
    directory = Path(tempfile.mkdtemp(prefix="bihuan-analyze-"))
    generate_demo_dataset(directory, weeks=52, now=START + timedelta(weeks=52))
    channels = {"survey": "survey", "social": "social", "tickets": "ticket", "hotline": "hotline"}
    return [(d.text, channels[d.truth["source"]]) for d in read_demo_texts(directory)]


def items(count: int, *, first: int, start: datetime, span: timedelta, seed: int) -> list[tuple]:
    """``count`` item rows (bulk.ITEM_COLUMNS order) from recombined demo texts."""
    rng = random.Random(seed)
    texts = corpus_cache()
    clauses = [c for text, _ in texts for c in text.replace("。", "，").split("，") if len(c) >= 4]
    step = span / count
    rows = []
    for i in range(count):
        text, channel = texts[rng.randrange(len(texts))]
        if rng.random() < 0.6:
            text = f"{text.rstrip('。！!')}，{clauses[rng.randrange(len(clauses))]}。"
        created = start + step * i + timedelta(seconds=rng.uniform(-600, 600))
        rating = float(rng.randint(1, 5)) if channel == "survey" else None
        nps = rng.randint(0, 10) if channel == "survey" else None
        ref = f"C{rng.randrange(200_000):06d}"
        rows.append(
            (channel, f"B{first + i:09d}", channel, text, rating, nps, ref, created, None, None, f"h{first + i}")
        )
    return rows


_CORPUS: list[tuple[str, str]] = []


def corpus_cache() -> list[tuple[str, str]]:
    if not _CORPUS:
        _CORPUS.extend(corpus())
    return _CORPUS


def fill(db: Path, rows: list[tuple], *, create: bool = True) -> None:
    """Import ``rows``; ``create``: bring the schema to this checkout's first (else the
    database stays at the revision it is at: feedback_item is the same in every one)."""
    engine = create_db_engine(f"sqlite:///{db}")
    if create:
        upgrade_database(engine)
    for begin in range(0, len(rows), 50_000):
        with session_scope(engine, write=True) as session:
            bulk.upsert_items(rows[begin : begin + 50_000], run_id=None, now=datetime.now(UTC), session=session)
    engine.dispose()


def analyze(db: Path, home: Path, code: Path | None = None) -> tuple[float, float, dict, float]:
    """Wall seconds, peak RSS (MB), the --json report and the CPU seconds (user + system,
    the helper process included) of one ``bihuan analyze``.

    :param code: a directory holding another tree's ``bihuan`` package (see
        :func:`export_tree`) to run instead of this checkout.
    """
    env = {**os.environ, "BIHUAN_HOME": str(home), "BIHUAN_LOAD_PLUGINS": ""}
    if code is not None:
        env["PYTHONPATH"] = str(code)
    probe = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "elapsed = time.perf_counter() - t\n"
        "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "rss, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime\n"
        "print(json.dumps({'elapsed': elapsed, 'rss': rss, 'cpu': cpu, 'code': p.returncode, 'out': p.stdout, 'err': p.stderr}))\n"
    )
    command = [*BIHUAN, "--db", str(db), "analyze", "--json"]
    result = subprocess.run(
        [sys.executable, "-c", probe, *command], env=env, capture_output=True, text=True, check=True
    )
    data = json.loads(result.stdout)
    if data["code"] != 0:
        raise SystemExit(f"bihuan analyze failed: {data['err'][-2000:]}")
    return data["elapsed"], data["rss"], json.loads(data["out"]), data["cpu"]


def export_tree(rev: str, into: Path) -> Path:
    """``git archive`` of ``rev`` under ``into``, laid out as an importable ``bihuan``
    namespace (``into/bihuan/core`` …); returns the directory to put on PYTHONPATH."""
    tree = into / "tree"
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    package = into / "bihuan"
    package.mkdir()
    for name in ("core", "plugins", "collectors", "storage", "tui"):
        (package / name).symlink_to(tree / name)
    return into


def tree_head(code: Path | None) -> str:
    """The newest migration of a tree (this checkout when ``code`` is None)."""
    env = {**os.environ, **({"PYTHONPATH": str(code)} if code else {})}
    probe = "from bihuan.storage.migrate import head_revision; print(head_revision())"
    return subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def migrate(db: Path, revision: str) -> float:
    """Bring ``db`` to ``revision`` with this checkout's migrations (up or down); seconds."""
    from alembic import command

    from bihuan.storage.migrate import alembic_config, current_revision

    engine = create_db_engine(f"sqlite:///{db}")
    started = time.perf_counter()
    current = current_revision(engine)
    if current != revision:
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            if current is not None and current > revision:  # revisions are numbered 0001, 0002 …
                command.downgrade(cfg, revision)
            else:
                command.upgrade(cfg, revision)
    engine.dispose()
    return time.perf_counter() - started


def incremental(
    base: Path, work: Path, more: list[tuple], code: Path | None, head: str
) -> tuple[float, float, dict, float, str]:
    """Copy ``base``, bring it to ``head``, add ``more`` items, time ``bihuan analyze``;
    also returns its CPU seconds and :func:`results_digest` of the database afterwards."""
    db = work / "incremental.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(base, db)
    migrate(db, head)
    fill(db, more, create=False)
    try:
        seconds, rss, report, cpu = analyze(db, work, code)
        return seconds, rss, report, cpu, results_digest(db)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)


def results_digest(db: Path) -> str:
    """A hash of everything the analysis decided — every item's result (language,
    sentiment, keywords, categories, group, repeat link), the groups and the spikes —
    leaving out timestamps and columns one version has and another lacks: equal digests
    mean the two codes' results are identical."""
    digest = hashlib.sha256()
    queries = (
        (
            "SELECT item_id, language, round(sentiment, 9), sentiment_label, keywords, categories, category, "
            "group_id, duplicate_of FROM item_analysis ORDER BY item_id"
        ),
        "SELECT id, label, category, keywords, centroid, size, status, merged_into FROM issue_group ORDER BY id",
        "SELECT group_id, week, count, baseline, score FROM spike_event ORDER BY group_id, week",
    )
    with closing(sqlite3.connect(db)) as conn:
        for query in queries:
            for row in conn.execute(query):
                digest.update(repr(row).encode())
    return digest.hexdigest()[:16]


def naive_snownlp(texts: list[str]) -> float:
    from snownlp import SnowNLP

    started = time.perf_counter()
    for text in texts:
        SnowNLP(text).sentiments  # noqa: B018 — the baseline is exactly this
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--more", type=int, default=10_000)
    parser.add_argument("--base", type=Path, help="the analysed database: reused if it exists, else built and kept")
    parser.add_argument("--compare", metavar="REV", help="also time the incremental step with git revision REV")
    parser.add_argument(
        "--full-compare",
        action="store_true",
        help="with --compare, when the base is built: the full analysis with REV first, on a copy of the same database",
    )
    parser.add_argument("--repeat", type=int, default=1, help="incremental measurements per side")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bihuan-analyze-db-"))
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    sides: list[tuple[str, Path | None]] = [("this checkout", None)]
    if args.compare:
        sides.insert(0, (f"{args.compare} ({git_rev(args.compare)})", export_tree(args.compare, work / "old")))
    heads = {label: tree_head(code) for label, code in sides}
    texts: list[str] = []
    base = args.base
    if base is None or not base.exists():
        db = work / "bihuan.db"
        started = time.perf_counter()
        rows = items(args.rows, first=0, start=START, span=timedelta(weeks=52), seed=1)
        fill(db, rows)
        texts = [r[3] for r in random.Random(2).sample(rows, 2000)]
        del rows
        print(f"prepared {args.rows:,} items in {time.perf_counter() - started:.0f} s ({db})")
        full_digests: set[str] = set()
        for label, code in sides if args.full_compare else sides[-1:]:
            copy = db if code is None else work / "full-compare.db"
            if code is not None:  # the same items, at the schema of that code
                shutil.copyfile(db, copy)
                migrate(copy, heads[label])
            load = os.getloadavg()[0]
            seconds, rss, report, cpu = analyze(copy, work, code)
            full_digests.add(digest := results_digest(copy))
            print(
                f"full [{label}]: {report['analysed']:,} items in {seconds:.1f} s "
                f"({report['analysed'] / seconds:,.0f} items/s), CPU {cpu:.1f} s, load {load:.1f} before, "
                f"{os.getloadavg()[0]:.1f} after, peak RSS {rss:,.0f} MB, {report['groups']:,} groups, "
                f"{report['duplicates']:,} repeats linked, {len(report['spikes'])} spikes; results {digest}",
                flush=True,
            )
            if code is not None:
                copy.unlink()
        if len(full_digests) > 1:
            print(f"full analysis results DIFFER: {sorted(full_digests)}")
        elif args.full_compare and args.compare:
            print("full analysis results identical")
        if base is not None:
            shutil.copyfile(db, base)
        base = db
    else:
        print(f"reusing the analysed database {base}")

    more = items(args.more, first=args.rows, start=START + timedelta(weeks=52), span=timedelta(days=2), seed=3)
    upgrade_copy = work / "upgrade.db"
    shutil.copyfile(base, upgrade_copy)
    from bihuan.storage.migrate import current_revision

    engine = create_db_engine(f"sqlite:///{upgrade_copy}")
    at = current_revision(engine)
    engine.dispose()
    if at != heads["this checkout"]:
        print(
            f"schema upgrade {at} -> {heads['this checkout']} on the analysed database: {migrate(upgrade_copy, heads['this checkout']):.1f} s"
        )
    upgrade_copy.unlink()
    timings: dict[str, list[float]] = {label: [] for label, _ in sides}
    engine_times: dict[str, list[float]] = {label: [] for label, _ in sides}
    cpu_times: dict[str, list[float]] = {label: [] for label, _ in sides}
    digests: set[str] = set()
    for attempt in range(args.repeat):
        for label, code in sides:
            # the machine is shared: the load average before each run goes with its figure
            load = os.getloadavg()[0]
            inc_seconds, inc_rss, inc, inc_cpu, digest = incremental(base, work, more, code, heads[label])
            timings[label].append(inc_seconds)
            engine_times[label].append(inc["seconds"])
            cpu_times[label].append(inc_cpu)
            digests.add(digest)
            print(
                f"incremental [{label}] #{attempt + 1}: {inc['analysed']:,} new items in {inc_seconds:.2f} s "
                f"(engine {inc['seconds']:.2f} s, CPU {inc_cpu:.2f} s, load {load:.1f}), peak RSS {inc_rss:,.0f} MB, "
                f"{inc['new_groups']} new groups, {inc['duplicates']:,} repeats linked, {len(inc['spikes'])} spikes; "
                f"results {digest}",
                flush=True,
            )
    for label, seconds_list in timings.items():
        print(
            f"incremental [{label}]: median {statistics.median(seconds_list):.2f} s wall, "
            f"{statistics.median(engine_times[label]):.2f} s in the engine, "
            f"{statistics.median(cpu_times[label]):.2f} s CPU, of {len(seconds_list)}"
        )
    if len(sides) > 1 or args.repeat > 1:
        print("results identical in every run" if len(digests) == 1 else f"results DIFFER: {sorted(digests)}")

    if texts:
        naive = naive_snownlp(texts)
        print(
            f"baseline: plain snownlp sentiment only {naive:,.0f} items/s; full pipeline / baseline = "
            f"{report['analysed'] / seconds / naive:,.0f}x"
        )
    if not args.keep:
        shutil.rmtree(work)
    else:
        print(f"kept {work}")


def git_rev(rev: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", rev], capture_output=True, text=True, check=True
    ).stdout.strip()


if __name__ == "__main__":
    main()
