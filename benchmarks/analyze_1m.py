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

Usage::

    .venv/bin/python benchmarks/analyze_1m.py [--rows 1000000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bihuan.core.demo_data import generate_demo_dataset
from bihuan.core.demo_data.reading import read_demo_texts
from bihuan.storage import bulk
from bihuan.storage.engine import create_db_engine, session_scope
from bihuan.storage.migrate import upgrade_database

BIHUAN = [sys.executable, "-c", "from bihuan.tui.cli import main; main()"]
START = datetime(2025, 11, 17, tzinfo=UTC)


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


def fill(db: Path, rows: list[tuple]) -> None:
    engine = create_db_engine(f"sqlite:///{db}")
    upgrade_database(engine)
    for begin in range(0, len(rows), 50_000):
        with session_scope(engine, write=True) as session:
            bulk.upsert_items(rows[begin : begin + 50_000], run_id=None, now=datetime.now(UTC), session=session)
    engine.dispose()


def analyze(db: Path, home: Path) -> tuple[float, float, dict]:
    """Wall seconds, peak RSS (MB) and the --json report of one ``bihuan analyze``."""
    env = {**os.environ, "BIHUAN_HOME": str(home), "BIHUAN_LOAD_PLUGINS": ""}
    probe = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "elapsed = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps({'elapsed': elapsed, 'rss': rss, 'code': p.returncode, 'out': p.stdout, 'err': p.stderr}))\n"
    )
    command = [*BIHUAN, "--db", str(db), "analyze", "--json"]
    result = subprocess.run(
        [sys.executable, "-c", probe, *command], env=env, capture_output=True, text=True, check=True
    )
    data = json.loads(result.stdout)
    if data["code"] != 0:
        raise SystemExit(f"bihuan analyze failed: {data['err'][-2000:]}")
    return data["elapsed"], data["rss"], json.loads(data["out"])


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
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bihuan-analyze-db-"))
    db = work / "bihuan.db"
    started = time.perf_counter()
    rows = items(args.rows, first=0, start=START, span=timedelta(weeks=52), seed=1)
    fill(db, rows)
    texts = [r[3] for r in random.Random(2).sample(rows, 2000)]
    del rows
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"prepared {args.rows:,} items in {time.perf_counter() - started:.0f} s ({db})")

    seconds, rss, report = analyze(db, work)
    print(
        f"full: {report['analysed']:,} items in {seconds:.1f} s ({report['analysed'] / seconds:,.0f} items/s), "
        f"peak RSS {rss:,.0f} MB, {report['groups']:,} groups, {report['duplicates']:,} repeats linked, "
        f"{len(report['spikes'])} spikes"
    )

    more = items(args.more, first=args.rows, start=START + timedelta(weeks=52), span=timedelta(days=2), seed=3)
    fill(db, more)
    inc_seconds, inc_rss, inc = analyze(db, work)
    print(
        f"incremental: {inc['analysed']:,} new items in {inc_seconds:.2f} s (engine {inc['seconds']:.2f} s), "
        f"peak RSS {inc_rss:,.0f} MB, {inc['new_groups']} new groups"
    )

    naive = naive_snownlp(texts)
    print(
        f"baseline: plain snownlp sentiment only {naive:,.0f} items/s; full pipeline / baseline = "
        f"{report['analysed'] / seconds / naive:,.0f}x"
    )
    if not args.keep:
        for path in work.iterdir():
            path.unlink()
        work.rmdir()


if __name__ == "__main__":
    main()
