"""Benchmark: import 1,000,000 CSV rows into PostgreSQL, against ``COPY`` into the same schema.

Measured in the same run, each on a fresh database created for it:

* **COPY floor** — the same rows read with ``csv.reader`` and sent with psycopg's
  ``COPY … FROM STDIN`` into bihuan's ``feedback_item`` (its indexes — the unique key, the
  trigram index of the texts — and triggers, migrated by this checkout): the fastest a
  Python import into this schema can be;
* **import** — ``bihuan import`` in a fresh process (the database migrated before, by
  ``bihuan init``, untimed): detection, parsing, mapping, validation, redaction, lookups,
  upserts, checkpoints;
* **re-import** — the same command again (every row a duplicate).

``--baseline-python`` also times import and re-import with another checkout's
interpreter (e.g. the commit a branch started from), their runs alternated with this
checkout's so that a machine shared with other work slows both alike. Each figure is the
median; every run is shown. The databases are dropped afterwards.

Usage::

    .venv/bin/python benchmarks/import_pg_1m.py [--rows 1000000] [--repeat 3]
        [--url postgresql://postgres@127.0.0.1:5432/test] [--baseline-python OTHER/.venv/bin/python]

Figures go to stdout as a Markdown table; copy them into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_1m import BIHUAN_MAIN, DATA, machine, two_cores, write_csv

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _conninfo(url: str, database: str | None = None) -> str:
    parsed = make_url(url)
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _admin(url: str) -> psycopg.Connection:
    """A connection to the server's maintenance database, waiting (up to 10 minutes) while
    the server has no connection to spare: it may be shared with other work."""
    deadline = time.monotonic() + 600
    while True:
        try:
            return psycopg.connect(_conninfo(url), autocommit=True)
        except psycopg.OperationalError as exc:
            if "too many clients" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(10)


@contextmanager
def fresh_database(url: str, python: str, home: Path) -> Iterator[str]:
    """A new database, migrated by ``python``'s bihuan; dropped afterwards."""
    name = f"bihuan_bench_{uuid.uuid4().hex[:8]}"
    with _admin(url) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    database = _conninfo(url, name)
    try:
        env = {**os.environ, "BIHUAN_HOME": str(home), "BIHUAN_LOAD_PLUGINS": ""}
        subprocess.run([python, *BIHUAN_MAIN, "--db", database, "init"], env=env, check=True, capture_output=True)
        yield database
    finally:
        with _admin(url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def copy_floor(path: Path, database: str) -> float:
    """Rows/s of csv.reader + ``COPY FROM STDIN`` into the migrated ``feedback_item``."""
    now = datetime.now(UTC)
    columns = (
        "source, external_id, channel, text, rating, nps, customer_ref, created_at, extra, content_hash,"
        " collected_at, updated_at"
    )
    with psycopg.connect(database) as conn:
        started = time.perf_counter()
        with path.open(encoding="utf-8", newline="") as f, conn.cursor() as cursor:
            reader = csv.reader(f)
            next(reader)
            with cursor.copy(f"COPY feedback_item ({columns}) FROM STDIN") as copy:
                for r in reader:
                    copy.write_row(
                        (
                            "survey",
                            r[0],
                            "survey",
                            r[4],
                            float(r[2]),
                            int(r[3]),
                            r[5],
                            r[1] + "+08",
                            json.dumps({"网点": r[6]}, ensure_ascii=False),
                            "",
                            now,
                            now,
                        )
                    )
        conn.commit()
        elapsed = time.perf_counter() - started
        rows = conn.execute("SELECT count(*) FROM feedback_item").fetchone()[0]  # type: ignore[index]
    return rows / elapsed


def count_rows(database: str) -> int:
    with psycopg.connect(database) as conn:
        return conn.execute("SELECT count(*) FROM feedback_item").fetchone()[0]  # type: ignore[index]


def bihuan_import(path: Path, database: str, home: Path, python: str, timeout: float | None) -> tuple[float, dict]:
    """Wall time and the --json report of one ``bihuan import``; after ``timeout`` seconds
    the import is stopped, and the report is ``{"stopped": rows stored by then}``."""
    env = {**os.environ, "BIHUAN_HOME": str(home), "BIHUAN_LOAD_PLUGINS": ""}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    command = [python, *BIHUAN_MAIN, "--db", database, "import", str(path), "--source", "survey", "--json"]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the import and its helper process
        process.communicate()
        return time.perf_counter() - started, {"stopped": count_rows(database)}
    elapsed = time.perf_counter() - started
    if process.returncode not in (0, 3):
        raise SystemExit(f"bihuan import failed ({process.returncode}): {err[-2000:]}")
    return elapsed, json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each step (the median is the figure)")
    parser.add_argument("--url", default=os.environ.get("BIHUAN_BENCH_POSTGRES_URL", DEFAULT_URL))
    parser.add_argument(
        "--baseline-python", metavar="PATH", help="also time import and re-import with this interpreter"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop an import after this long and report how many rows it stored (a stalling baseline)",
    )
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    home = DATA / "home"
    home.mkdir(exist_ok=True)
    path = DATA / f"survey_{args.rows}.csv"
    if not path.exists():
        write_csv(path, args.rows)
    sides = {"this checkout": sys.executable}
    if args.baseline_python:
        sides["baseline"] = args.baseline_python

    with psycopg.connect(_conninfo(args.url)) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        autovacuum = conn.execute("SHOW autovacuum").fetchone()[0]  # type: ignore[index]
    cores_before = two_cores()
    floors: list[float] = []
    imports: dict[str, list[float]] = {name: [] for name in sides}
    reimports: dict[str, list[float]] = {name: [] for name in sides}
    stopped: dict[str, list[int]] = {name: [] for name in sides}  # rows stored when an import was stopped
    for run in range(args.repeat):
        with fresh_database(args.url, sys.executable, home) as database:
            floors.append(copy_floor(path, database))
        # alternate which side goes first, so that neither always runs on a warmer machine
        order = list(sides.items()) if run % 2 == 0 else list(reversed(sides.items()))
        for name, python in order:
            with fresh_database(args.url, python, home) as database:
                elapsed, report = bihuan_import(path, database, home, python, args.timeout)
                if "stopped" in report:
                    stopped[name].append(report["stopped"])
                    print(
                        f"{name}: import stopped after {elapsed:.0f} s at {report['stopped']:,} rows", file=sys.stderr
                    )
                    continue
                assert (report["read"], report["new"]) == (args.rows, args.rows), report
                imports[name].append(elapsed)
                elapsed, report = bihuan_import(path, database, home, python, args.timeout)
                if "stopped" in report:
                    print(f"{name}: re-import stopped after {elapsed:.0f} s", file=sys.stderr)
                    continue
                assert (report["read"], report["duplicates"]) == (args.rows, args.rows), report
                reimports[name].append(elapsed)
                print(
                    f"run {run + 1}: {name} import {imports[name][-1]:.1f} s, re-import {elapsed:.1f} s",
                    file=sys.stderr,
                )
        print(f"run {run + 1}: COPY floor {floors[-1]:,.0f} rows/s", file=sys.stderr)

    def rate(seconds: list[float]) -> str:
        return f"{args.rows / statistics.median(seconds):,.0f} rows/s"

    def runs(seconds: list[float]) -> str:
        return ", ".join(f"{s:.1f}" for s in seconds) + " s"

    print(
        f"machine: {machine()}, PostgreSQL {server} (autovacuum {autovacuum}), load average {os.getloadavg()[0]:.2f} at the end"
    )
    print(f"two cores: before, {cores_before}; after, {two_cores()}")
    command = f".venv/bin/python benchmarks/import_pg_1m.py --rows {args.rows} --repeat {args.repeat}"
    if args.baseline_python:
        command += f" --baseline-python {args.baseline_python}"
    print(f"command: {command}\n")
    print("| measurement | figure (median) | runs |")
    print("|---|---|---|")
    floor = statistics.median(floors)
    print(
        f"| COPY floor: csv.reader + psycopg COPY into bihuan's feedback_item | {floor:,.0f} rows/s"
        f" | {', '.join(f'{f:,.0f}' for f in floors)} rows/s |"
    )
    for name in sides:
        seconds = imports[name]
        if seconds:
            share = args.rows / statistics.median(seconds) / floor
            print(
                f"| {name}: import, {args.rows:,} rows, fresh database | {rate(seconds)} ({share:.0%} of COPY)"
                f" | {runs(seconds)} |"
            )
        if stopped[name]:
            print(
                f"| {name}: imports stopped after {args.timeout:.0f} s | {len(stopped[name])} of {args.repeat}"
                f" | rows stored by then: {', '.join(f'{n:,}' for n in stopped[name])} |"
            )
        if reimports[name]:
            print(f"| {name}: re-import (all duplicates) | {rate(reimports[name])} | {runs(reimports[name])} |")


if __name__ == "__main__":
    main()
