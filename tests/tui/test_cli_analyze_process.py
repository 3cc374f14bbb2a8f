"""``bihuan analyze`` as real processes: two at once on one database, a killed one and its
workers, a rebuild with improvement tasks open — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bihuan.core.errors import EXIT_BUSY
from bihuan.storage.engine import resolve_database_url
from bihuan.tui.cli import cli

BIHUAN = [sys.executable, "-c", "from bihuan.tui.cli import main; main()"]
TOPICS = (
    "手机银行转账一直转圈，等了十分钟也没到账",
    "信用卡年费莫名其妙被扣了，也没有提前通知",
    "客服热线一直打不通，排队二十分钟",
    "网点排队时间太长，只开了一个窗口",
    "理财产品收益说明不清楚，和宣传的不一样",
    "贷款审批太慢了，材料交了三次",
    "账户突然被冻结，打电话也说不清原因",
    "ATM机吞卡了，第二天才拿回来",
)


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIHUAN_")}
    env.update({"BIHUAN_HOME": str(home), "BIHUAN_LOAD_PLUGINS": ""})
    return env


def imported(db: str, tmp_path: Path, rows: int) -> str:
    """``db`` with ``rows`` survey answers imported (a CSV written here)."""
    path = tmp_path / "survey.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("编号,提交时间,满意度评分,您的意见或建议\n")
        for i in range(rows):
            out.write(f"S{i:06d},2026-10-{1 + i % 28:02d} 09:{i % 60:02d},{1 + i % 5},{TOPICS[i % 8]}（第{i}位客户）\n")
    result = CliRunner().invoke(cli, ["--db", db, "import", str(path), "--source", "survey", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["new"] == rows
    return db


def scalar(db: str, sql: str) -> Any:
    engine = create_engine(resolve_database_url(db), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    except Exception:  # noqa: BLE001 (a table not there yet, a locked SQLite file: not yet)
        return None
    finally:
        engine.dispose()


def group_sizes(db: str) -> list[tuple[str, int]]:
    engine = create_engine(resolve_database_url(db), poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT label, size FROM issue_group WHERE status = 'active'")).all()
        members = conn.execute(text("SELECT count(*) FROM item_analysis WHERE group_id IS NOT NULL")).scalar()
    engine.dispose()
    assert sum(size for _, size in rows) == members, "group sizes count every member once"
    return sorted((label, size) for label, size in rows)


def start_analyze(db: str, home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*BIHUAN, "--db", db, "analyze", "--json", *args],
        env=env_for(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for_results(db: str, process: subprocess.Popen[str], timeout: float = 120) -> int:
    """Until the first batch of ``process`` is written; how many results there are."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        found = scalar(db, "SELECT count(*) FROM item_analysis")
        if found:
            return int(found)
        time.sleep(0.02)
    raise AssertionError(f"no results while the analysis ran (exit {process.poll()}): {process.communicate()[1]}")


def children_of(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            # the fields after the command's closing parenthesis: state, ppid, …
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(proc.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


ROWS = 12_000


@pytest.mark.slow
def test_two_analyses_at_once_analyse_each_item_once(db_url: str, tmp_path: Path) -> None:
    db = imported(db_url, tmp_path, ROWS)
    home = tmp_path / "home"
    first = start_analyze(db, home, "--batch", "200")  # many small batches: a long run
    wait_for_results(db, first)
    # started while the first works: it waits for it, and then finds nothing left to do
    second = start_analyze(db, home, "--batch", "200", "--wait", "600")
    # a third that does not wait says who runs, with its own exit code
    third = start_analyze(db, home, "--wait", "0")
    _, third_err = third.communicate(timeout=120)
    out_first, err_first = first.communicate(timeout=600)
    out_second, err_second = second.communicate(timeout=600)
    assert first.returncode == 0, err_first
    assert second.returncode == 0, err_second
    assert third.returncode == EXIT_BUSY, third_err
    assert f"analysis already running (pid {first.pid} on " in third_err and "Traceback" not in third_err
    analysed = [json.loads(out_first)["analysed"], json.loads(out_second)["analysed"]]
    assert analysed == [ROWS, 0]
    assert scalar(db, "SELECT count(*) FROM analysis_lock") == 0

    # the same items analysed by a single run from scratch: the same groups, the same sizes
    together = group_sizes(db)
    rebuilt = CliRunner().invoke(cli, ["--db", db, "analyze", "--rebuild", "--batch", "200", "--json"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads(rebuilt.output)["analysed"] == ROWS
    assert group_sizes(db) == together


@pytest.mark.slow
@pytest.mark.parametrize("batches", ["many", "one"])
def test_a_killed_analysis_leaves_no_worker_and_the_next_run_completes_it(
    db_url: str, tmp_path: Path, batches: str
) -> None:
    db = imported(db_url, tmp_path, ROWS)
    home = tmp_path / "home"
    # many batches: featurised one ahead by a pool worker; one: by the head start's helper
    batch = "1000" if batches == "many" else str(ROWS)
    process = start_analyze(db, home, "--batch", batch)
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while not workers and process.poll() is None and time.monotonic() < deadline:
        workers = children_of(process.pid)
        time.sleep(0.01)
    assert workers, "the analysis started no worker"
    if batches == "many":
        wait_for_results(db, process)  # mid-analysis
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the analysis finished before it could be killed"
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [pid for pid in workers if alive(pid)]
    for pid in survivors:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert not survivors, "a worker outlived the killed analysis"

    # the killed run's lock does not block the next one (no --wait)
    rerun = subprocess.run(
        [*BIHUAN, "--db", db, "analyze", "--json", "--wait", "0"],
        check=False,
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert scalar(db, "SELECT count(*) FROM item_analysis") == ROWS
    group_sizes(db)


def cli_json(db: str, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--db", db, *args, "--json"], env={"BIHUAN_USER": "王经理"})
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_rebuild_keeps_the_groups_tasks_point_to(db_url: str, tmp_path: Path) -> None:
    db = imported(db_url, tmp_path, 3_000)
    cli_json(db, "analyze")
    before = {g["id"]: g for g in cli_json(db, "groups", "list", "--all")}
    first, second, third = sorted(before.values(), key=lambda g: -g["items"])[:3]
    on_first = cli_json(db, "task", "open", str(first["id"]), "--title", "转账到账慢")
    on_second = cli_json(db, "task", "open", str(second["id"]), "--title", "年费")
    # the team merges a task's group after the task was opened: the task follows the merge
    cli_json(db, "groups", "merge", str(third["id"]), str(second["id"]))
    highest = max(before)

    rebuilt = cli_json(db, "analyze", "--rebuild")
    assert rebuilt["analysed"] == 3_000
    after = {g["id"]: g for g in cli_json(db, "groups", "list", "--all")}
    kept = {first["id"], second["id"], third["id"]}
    assert kept <= set(after)
    assert (after[second["id"]]["status"], after[second["id"]]["merged_into"]) == ("merged", third["id"])
    # the active ones are filled again, with what they were about
    assert after[first["id"]]["label"] == first["label"] and after[first["id"]]["items"] > 0
    assert after[third["id"]]["items"] > 0
    # the other groups are new, their ids never used before
    assert all(group_id in kept or group_id > highest for group_id in after)
    assert sum(g["items"] for g in after.values()) == 3_000 - int(
        scalar(db, "SELECT count(*) FROM item_analysis WHERE group_id IS NULL") or 0
    )
    # the tasks still stand on their groups, and their history is whole
    assert cli_json(db, "task", "show", str(on_first["id"]))["groups"] == [first["id"]]
    assert cli_json(db, "task", "show", str(on_second["id"]))["groups"] == [second["id"]]
    assert [e["action"] for e in cli_json(db, "groups", "show", str(second["id"]))["history"]][-1] == "merged"
    # and a second rebuild still finds them
    assert cli_json(db, "analyze", "--rebuild")["analysed"] == 3_000
