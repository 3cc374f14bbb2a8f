"""The ``bihuan`` command as a separate process: killed imports, installed plugins, demo."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

BIHUAN = [sys.executable, "-c", "from bihuan.tui.cli import main; main()"]


def bihuan_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIHUAN_")}
    env.update({"BIHUAN_HOME": str(home), "BIHUAN_LOAD_PLUGINS": "", **extra})
    return env


def count_rows(db: Path, table: str = "feedback_item") -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:  # schema not created yet
        return 0
    finally:
        conn.close()


def big_survey(path: Path, rows: int) -> Path:
    with path.open("w", encoding="gbk", newline="") as out:
        out.write("编号,提交时间,满意度评分,您的意见或建议\n")
        for i in range(rows):
            out.write(f"R{i:06d},2026-10-{1 + i % 28:02d} 09:{i % 60:02d},{1 + i % 5},第{i}条：手机银行转账卡顿\n")
    return path


def processes_naming(marker: str) -> list[int]:
    """Processes whose command line holds ``marker`` (a forked helper has its parent's)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


def no_process_left(marker: str, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while processes_naming(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not processes_naming(marker)


def init_database(db: Path, env: dict[str, str]) -> None:
    """``bihuan --db DB init``: only init creates a database named by --db."""
    subprocess.run([*BIHUAN, "--db", str(db), "init"], env=env, check=True, capture_output=True, timeout=120)


def start_when_writing(command: list[str], env: dict[str, str], db: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while count_rows(db) == 0 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    return process


@pytest.mark.slow
def test_an_import_killed_half_way_leaves_each_row_exactly_once_after_the_rerun(tmp_path: Path) -> None:
    rows = 120_000
    survey = big_survey(tmp_path / "big.csv", rows)  # 5 MB: read by a helper process
    db = tmp_path / "kill.db"
    env = bihuan_env(tmp_path / "home")
    init_database(db, env)
    command = [*BIHUAN, "--db", str(db), "import", str(survey), "--json"]

    process = start_when_writing(command, env, db)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stored_at_kill = count_rows(db)
    assert process.returncode == -signal.SIGKILL, "the import finished before it could be killed"
    assert 0 < stored_at_kill < rows
    assert no_process_left(str(db)), "the helper process outlived the killed import"

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["new"] == rows - stored_at_kill
    conn = sqlite3.connect(db)
    total, distinct = conn.execute("SELECT count(*), count(DISTINCT external_id) FROM feedback_item").fetchone()
    conn.close()
    assert total == distinct == rows


@pytest.mark.slow
@pytest.mark.parametrize("helper", ["always", "never"])
def test_ctrl_c_stops_the_import_and_its_helper_and_the_rerun_completes_it(tmp_path: Path, helper: str) -> None:
    rows = 120_000
    survey = big_survey(tmp_path / "big.csv", rows)
    db = tmp_path / "interrupt.db"
    env = bihuan_env(tmp_path / "home", BIHUAN_HELPER_PROCESS=helper)
    init_database(db, env)
    command = [*BIHUAN, "--db", str(db), "import", str(survey), "--json"]

    process = start_when_writing(command, env, db)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl+C does: the whole foreground group
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0, "the import finished before it could be interrupted"
    assert b"Traceback" not in stderr
    assert no_process_left(str(db))
    conn = sqlite3.connect(db)
    (status, error_class) = conn.execute("SELECT status, error_class FROM collector_run").fetchone()
    conn.close()
    # status interrupted (it was failed before issue 15): like a run whose process was killed
    assert (status, error_class) == ("interrupted", "interrupted")

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    conn = sqlite3.connect(db)
    total, distinct = conn.execute("SELECT count(*), count(DISTINCT external_id) FROM feedback_item").fetchone()
    conn.close()
    assert total == distinct == rows


PLUGIN_MODULE = '''
from bihuan.core.collector import CollectorConfig
from bihuan.core.types import Item
from bihuan.plugins import hookimpl


class InHouseComplaints:
    """Complaints from the bank's in-house complaint system."""

    name = "inhouse_complaints"
    channel = "ticket"
    Config = CollectorConfig

    def check(self, ctx):
        pass

    def collect(self, ctx, state):
        yield Item(external_id="IH-1", text="柜台办理业务等了两个小时")


@hookimpl
def register_collectors(register):
    register(InHouseComplaints)
'''


def install_fake_plugin(site: Path) -> None:
    site.mkdir(parents=True)
    (site / "acme_bihuan.py").write_text(textwrap.dedent(PLUGIN_MODULE), encoding="utf-8")
    info = site / "acme_bihuan-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-bihuan\nVersion: 0.3\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[bihuan]\nacme = acme_bihuan\n", encoding="utf-8")


def test_an_installed_plugin_is_listed_and_its_collector_runs(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_fake_plugin(site)
    env = bihuan_env(tmp_path / "home", BIHUAN_LOAD_PLUGINS="acme", PYTHONPATH=str(site))
    listed = subprocess.run([*BIHUAN, "plugins", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)}
    assert plugins["acme"]["origin"] == "entry point"
    assert plugins["acme"]["distribution"] == "acme-bihuan 0.3"
    assert plugins["acme"]["hooks"] == ["register_collectors"]
    assert "inhouse_complaints" in plugins["acme"]["contributes"][0]
    assert plugins["builtin"]["origin"] == "built-in"

    config = tmp_path / "plugins.toml"
    config.write_text('[collectors.inhouse]\ncollector = "inhouse_complaints"\n', encoding="utf-8")
    db = tmp_path / "plugin.db"
    init_database(db, env)
    collected = subprocess.run(
        [*BIHUAN, "--db", str(db), "--config", str(config), "collect", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert collected.returncode == 0, collected.stderr
    assert json.loads(collected.stdout)["new"] == 1
    assert count_rows(db) == 1


def test_a_plugin_that_fails_to_import_is_reported_and_bihuan_goes_on(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_fake_plugin(site)
    (site / "acme_bihuan.py").write_text("import does_not_exist_anywhere\n", encoding="utf-8")
    env = bihuan_env(tmp_path / "home", BIHUAN_LOAD_PLUGINS="acme", PYTHONPATH=str(site))
    listed = subprocess.run([*BIHUAN, "plugins"], env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0
    assert "does_not_exist_anywhere" in listed.stdout + listed.stderr

    strict = subprocess.run(
        [*BIHUAN, "plugins"], env={**env, "BIHUAN_STRICT_PLUGINS": "1"}, capture_output=True, text=True, timeout=60
    )
    assert strict.returncode != 0
    assert "acme" in strict.stderr


def test_demo_generates_imports_and_reports(tmp_path: Path) -> None:
    env = bihuan_env(tmp_path / "home")
    result = subprocess.run([*BIHUAN, "demo", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["new"] >= 3000
    assert report["quarantined"] > 0
    assert set(report["by_channel"]) >= {"survey", "social", "ticket", "hotline"}
    demo_db = tmp_path / "home" / "demo.db"
    conn = sqlite3.connect(demo_db)
    texts = [t for (t,) in conn.execute("SELECT text FROM feedback_item")]
    conn.close()
    assert len(texts) == report["new"]
    assert any("[手机号]" in t for t in texts)
