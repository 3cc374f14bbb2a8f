"""Benchmark: import 1,000,000 CSV rows end to end on SQLite (parse, redact, upsert).

Measured in the same run:

* **floor** — the same rows read with ``csv.reader`` and inserted with raw ``sqlite3``
  ``executemany`` into a table of the same shape (unique ``(source, external_id)``),
  one transaction: the fastest a Python import into SQLite can be;
* **import** — ``bihuan import`` in a fresh process on a fresh database: detection,
  parsing, mapping, validation, redaction, classification, upsert, checkpoints;
* **re-import** — the same command again (every row a duplicate);
* **memory** — peak RSS of the import process at 250k and 1M rows (flat means the
  pipeline streams).

Each step is timed ``--repeat`` times (the median is the figure; every run is shown),
after ``os.sync()``, so that writing back the files of the step before does not run
into it, and with the files it reads read once before (see :func:`timed`). ``--baseline-python`` also times the re-import and the import with another
checkout's interpreter, their runs alternated with this checkout's.

Usage::

    .venv/bin/python benchmarks/import_1m.py [--rows 1000000] [--repeat 3] [--keep]
        [--baseline-python OTHER_CHECKOUT/.venv/bin/python]

Figures go to stdout as a Markdown table; copy them into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
HEADER = ("编号", "提交时间", "满意度评分", "推荐意愿(0-10分)", "您的意见或建议", "客户编号", "网点")
COMPLAINTS = (
    "手机银行转账一直转圈，等了十分钟也没到账",
    "信用卡提额申请提交一个月了还没有回复",
    "客服热线一直打不通，排队二十分钟",
    "网点排队时间太长，只开了一个窗口",
    "理财产品收益说明不清楚，和宣传的不一样",
    "年费莫名其妙被扣了，也没有提前通知",
    "柜员态度很好，办理业务很快，点赞",
    "贷款审批太慢了，材料交了三次",
    "账户突然被冻结，打电话也说不清原因",
    "ATM机吞卡了，第二天才拿回来",
)
BIHUAN_MAIN = ["-c", "from bihuan.tui.cli import main; main()"]


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    """A survey export: 7 columns, ~5 % of texts with a phone number.

    Rows are in submission order over one year, as survey systems export them, with a
    few minutes of jitter (so the time column is nearly, not strictly, sorted).
    """
    rng = random.Random(seed)
    # a year that has ended: an import quarantines times beyond [bihuan] future_horizon_days
    start = datetime(2025, 1, 1)
    step = 365 * 86400 / rows
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for i in range(rows):
            text = f"{COMPLAINTS[rng.randrange(len(COMPLAINTS))]}（第{i}条）"
            if rng.random() < 0.05:
                text += f"，联系电话13{rng.randrange(10**9):09d}"
            writer.writerow(
                (
                    f"S{i:08d}",
                    (start + timedelta(seconds=i * step + rng.uniform(-300, 300))).strftime("%Y-%m-%d %H:%M:%S"),
                    1 + i % 5,
                    i % 11,
                    text,
                    f"C{rng.randrange(200_000):06d}",
                    f"网点{i % 300}",
                )
            )


def floor(path: Path, db: Path, schema_from: Path | None = None) -> float:
    """Rows/s of csv.reader + raw sqlite3 executemany into a same-shaped table.

    :param schema_from: take the ``feedback_item`` table and its indexes from this
        database (bihuan's migrated schema) instead of a bare table with one unique key.
    """
    db.unlink(missing_ok=True)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    if schema_from is None:
        conn.execute(
            "CREATE TABLE feedback_item (id INTEGER PRIMARY KEY, source TEXT, external_id TEXT, channel TEXT,"
            " text TEXT, rating REAL, nps INTEGER, customer_ref TEXT, created_at TEXT, extra TEXT,"
            " content_hash TEXT, collected_at TEXT, updated_at TEXT, UNIQUE (source, external_id))"
        )
    else:
        source = sqlite3.connect(schema_from)
        # the table and its indexes; not the text index's triggers (the floor is the
        # table's own cost; the index's cost is measured as import before/after it)
        statements = source.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'feedback_item' AND type IN ('table', 'index')"
            " AND sql IS NOT NULL ORDER BY type DESC"
        ).fetchall()
        source.close()
        conn.execute("PRAGMA foreign_keys=OFF")
        for (statement,) in statements:
            conn.execute(statement)
    start = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        conn.execute("BEGIN")
        now = datetime.now().isoformat(" ")
        conn.executemany(
            "INSERT INTO feedback_item (source, external_id, channel, text, rating, nps, customer_ref, created_at,"
            " extra, content_hash, collected_at, updated_at) VALUES ('survey', ?, 'survey', ?, ?, ?, ?, ?, ?, '', ?, ?)",
            ((r[0], r[4], float(r[2]), int(r[3]), r[5], r[1], r[6], now, now) for r in reader),
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    rows = conn.execute("SELECT count(*) FROM feedback_item").fetchone()[0]
    conn.close()
    return rows / elapsed


def bihuan_import(path: Path, db: Path, home: Path, python: str = sys.executable) -> tuple[float, dict, float]:
    """Wall time, the --json report and the peak RSS (MB) of one ``bihuan import``."""
    # bytecode written and read as an installed copy would (the shell may turn it off)
    env = {**os.environ, "BIHUAN_HOME": str(home), "BIHUAN_LOAD_PLUGINS": ""}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    command = [python, *BIHUAN_MAIN, "--db", str(db), "import", str(path), "--source", "survey", "--json"]
    # each measurement in its own child so ru_maxrss is that process's peak
    probe = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "elapsed = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps({'elapsed': elapsed, 'rss': rss, 'code': p.returncode, 'out': p.stdout, 'err': p.stderr}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, *command], env=env, capture_output=True, text=True, check=True
    )
    data = json.loads(result.stdout)
    if data["code"] not in (0, 3):
        raise SystemExit(f"bihuan import failed ({data['code']}): {data['err']}")
    return data["elapsed"], json.loads(data["out"]), data["rss"]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"


_SPIN = "import time\nt = time.perf_counter()\nn = 0\nwhile n < 10_000_000: n += 1\nprint(time.perf_counter() - t)"


def two_cores() -> str:
    """How much of two cores the machine gives now: a pure-Python loop alone, then two
    at once. A helper-process import needs both; this machine's second core has been
    seen at ~60 % when its neighbours were busy."""
    alone = float(subprocess.run([sys.executable, "-c", _SPIN], capture_output=True, text=True, check=True).stdout)
    pair = [subprocess.Popen([sys.executable, "-c", _SPIN], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    both = [float(p.communicate()[0]) for p in pair]
    return f"a loop alone {alone:.2f} s, two at once {max(both):.2f} s (slower of the two)"


def fresh(db: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return db


def timed(step, *warm: Path):  # type: ignore[no-untyped-def]
    """``step()`` after the page cache's dirty pages are written back and the files it
    reads are read once. This machine's page cache does not keep files for long (seen:
    the CSV and the database read back at ~60 MB/s minutes after they were written),
    and a disk that slow would otherwise be timed, not the import."""
    os.sync()
    for path in warm:
        for suffix in ("", "-wal"):
            name = Path(f"{path}{suffix}")
            if name.exists():
                with name.open("rb") as f:
                    while f.read(1 << 20):
                        pass
    return step()


def runs(values: list[float], unit: str = "s") -> str:
    return ", ".join(f"{v:.1f}" if unit == "s" else f"{v:,.0f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each step (the median is the figure)")
    parser.add_argument("--keep", action="store_true", help="keep benchmarks/data afterwards")
    parser.add_argument(
        "--baseline-python",
        metavar="PATH",
        help="also time import and re-import with this interpreter (another checkout's venv), runs alternated",
    )
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    home = DATA / "home"
    home.mkdir(exist_ok=True)

    small_rows = args.rows // 4
    big, small = DATA / f"survey_{args.rows}.csv", DATA / f"survey_{small_rows}.csv"
    for path, rows in ((big, args.rows), (small, small_rows)):
        if not path.exists():
            write_csv(path, rows)
    sides = {"this checkout": sys.executable}
    if args.baseline_python:
        sides["baseline"] = args.baseline_python

    cores_before = two_cores()
    floors, schema_floors = [], []
    imports: dict[str, list[tuple[float, dict, float]]] = {name: [] for name in sides}
    reimports: dict[str, list[tuple[float, dict, float]]] = {name: [] for name in sides}
    db = DATA / "bench.db"
    for _ in range(args.repeat):
        floors.append(timed(lambda: floor(big, DATA / "floor.db"), big))
        for name, python in sides.items():
            imports[name].append(timed(lambda: bihuan_import(big, fresh(db), home, python), big))  # noqa: B023
        schema_floors.append(timed(lambda: floor(big, DATA / "floor_schema.db", schema_from=db), big))
    # the re-imports, on the database this checkout's last import wrote
    imports["this checkout"].append(timed(lambda: bihuan_import(big, fresh(db), home), big))
    for _ in range(args.repeat):
        for name, python in sides.items():
            reimports[name].append(timed(lambda: bihuan_import(big, db, home, python), big, db))  # noqa: B023
    small_rss = [
        timed(lambda: bihuan_import(small, fresh(DATA / "small.db"), home), small)[2] for _ in range(args.repeat)
    ]

    for side in (imports, reimports):
        for results in side.values():
            for _, report, _ in results:
                assert report["read"] == args.rows, report
    for _, report, _ in imports["this checkout"]:
        assert report["new"] == args.rows, report
    for _, report, _ in reimports["this checkout"]:
        assert report["duplicates"] == args.rows and report["new"] == 0, report

    def rate(results: list[tuple[float, dict, float]]) -> tuple[float, list[float]]:
        seconds = [elapsed for elapsed, _, _ in results]
        return args.rows / statistics.median(seconds), seconds

    floor_rate, schema_floor_rate = statistics.median(floors), statistics.median(schema_floors)
    import_rate, import_runs = rate(imports["this checkout"])
    reimport_rate, reimport_runs = rate(reimports["this checkout"])
    rss = max(r for _, _, r in imports["this checkout"])
    rerss = max(r for _, _, r in reimports["this checkout"])
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.2f} at the end")
    print(f"two cores: before, {cores_before}; after, {two_cores()}")
    command = f".venv/bin/python benchmarks/import_1m.py --rows {args.rows} --repeat {args.repeat}"
    if args.baseline_python:
        command += f" --baseline-python {args.baseline_python}"
    print(f"command: {command}\n")
    print("| measurement | figure (median) | runs | target |")
    print("|---|---|---|---|")
    print(
        f"| floor: csv.reader + raw sqlite3 executemany, bare table (one unique key) | {floor_rate:,.0f} rows/s"
        f" | {runs(floors, 'rows/s')} rows/s | — |"
    )
    print(
        f"| floor into bihuan's schema (same indexes) | {schema_floor_rate:,.0f} rows/s"
        f" | {runs(schema_floors, 'rows/s')} rows/s | — |"
    )
    print(
        f"| bihuan import, {args.rows:,} rows, fresh db (wall, incl. start-up) | {import_rate:,.0f} rows/s"
        f" | {runs(import_runs)} s | ≥ 100,000 rows/s |"
    )
    print(
        f"| import as share of floor (bare table / same schema) | {import_rate / floor_rate:.0%}"
        f" / {import_rate / schema_floor_rate:.0%} | — | ≥ 30 % |"
    )
    print(
        f"| re-import of the same file (all duplicates) | {reimport_rate:,.0f} rows/s"
        f" | {runs(reimport_runs)} s | ≥ 200,000 rows/s |"
    )
    if args.baseline_python:
        base_import, base_import_runs = rate(imports["baseline"])
        base_reimport, base_reimport_runs = rate(reimports["baseline"])
        print(f"| baseline: import | {base_import:,.0f} rows/s | {runs(base_import_runs)} s | — |")
        print(f"| baseline: re-import | {base_reimport:,.0f} rows/s | {runs(base_reimport_runs)} s | — |")
    print(f"| peak RSS, import of {small_rows:,} rows | {max(small_rss):.0f} MB | {runs(small_rss, 'MB')} MB | — |")
    print(f"| peak RSS, import of {args.rows:,} rows | {rss:.0f} MB | — | ≤ 300 MB, flat |")
    print(f"| peak RSS, re-import of {args.rows:,} rows | {rerss:.0f} MB | — | ≤ 300 MB |")
    if not args.keep:
        shutil.rmtree(DATA)


if __name__ == "__main__":
    main()
