"""A run whose process is gone is marked ``interrupted`` (issue 15 §6): killed on this
host (its pid is gone), or silent too long (a run on another host), when ``bihuan runs``,
the next import or collect, or ``bihuan tick`` looks; the next import resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text, update

from bihuan.core.runs import STALE_AFTER, this_host
from bihuan.storage import queries
from bihuan.storage.engine import session_scope
from bihuan.storage.models import CollectorRun
from bihuan.storage.types import utcnow
from bihuan.tui.cli import cli
from tests.tui.test_cli_process import BIHUAN, big_survey, bihuan_env


def bihuan_json(db_url: str, *args: str) -> dict | list:  # type: ignore[type-arg]
    result = CliRunner().invoke(cli, ["--db", db_url, *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def run_status(engine: Engine) -> list[tuple[int, str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(text('SELECT id, status, "read" FROM collector_run ORDER BY id')).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def stored_items(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        total, distinct = conn.execute(text("SELECT count(*), count(DISTINCT external_id) FROM feedback_item")).one()
    return int(total), int(distinct)


@pytest.mark.slow
def test_a_killed_import_is_shown_interrupted_and_the_next_import_resumes(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    rows = 120_000
    survey = big_survey(tmp_path / "big.csv", rows)
    command = [*BIHUAN, "--db", db_url, "import", str(survey), "--json"]
    env = bihuan_env(tmp_path / "home")
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 180
    while process.poll() is None and time.monotonic() < deadline:
        runs = run_status(engine)
        if runs and runs[0][2] > 0:  # a checkpoint is committed: the import is half-way
            break
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)  # the import and its helper process
    process.communicate()
    assert process.returncode == -signal.SIGKILL, "the import finished before it could be killed"
    [(run_id, status, _)] = run_status(engine)
    assert status == "running"  # nobody could record its end
    stored_at_kill = stored_items(engine)[0]
    assert 0 < stored_at_kill < rows

    [listed] = bihuan_json(db_url, "runs")
    assert (listed["id"], listed["status"], listed["error_class"]) == (run_id, "interrupted", "interrupted")
    assert (listed["pid"], listed["host"]) == (process.pid, this_host())
    assert f"pid {process.pid}" in listed["error_message"] and "resumes" in listed["error_message"]
    assert listed["finished_at"] is not None

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["new"] == rows - stored_at_kill
    assert stored_items(engine) == (rows, rows)
    assert [r["status"] for r in bihuan_json(db_url, "runs")] == ["succeeded", "interrupted"]


def add_run(engine: Engine, collector: str, *, pid: int | None, host: str | None, silent: timedelta) -> int:
    with session_scope(engine, write=True) as session:
        run = queries.create_run(
            collector=collector,
            collector_type="csv",
            source=collector,
            config=None,
            pid=pid,
            host=host,
            session=session,
        )
        run_id = run.id
        assert run_id is not None
        session.execute(
            update(CollectorRun).where(CollectorRun.id == run_id).values(heartbeat_at=utcnow() - silent)  # type: ignore[arg-type]
        )
    return run_id


def statuses(db_url: str) -> dict[str, str]:
    return {r["collector"]: r["status"] for r in bihuan_json(db_url, "runs")}


def test_runs_of_other_hosts_are_interrupted_by_their_heartbeat_and_local_ones_by_their_pid(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        add_run(engine, "remote-silent", pid=4242, host="other-host", silent=STALE_AFTER + timedelta(minutes=5))
        add_run(engine, "remote-busy", pid=4242, host="other-host", silent=timedelta(minutes=5))
        add_run(engine, "no-owner-silent", pid=None, host=None, silent=STALE_AFTER * 2)
        add_run(engine, "local-alive", pid=alive.pid, host=this_host(), silent=timedelta(0))
        assert statuses(db_url) == {
            "remote-silent": "interrupted",
            "remote-busy": "running",
            "no-owner-silent": "interrupted",
            "local-alive": "running",
        }
    finally:
        alive.kill()
        alive.wait()
    # the next tick looks too: the local process is gone now
    assert len(bihuan_json(db_url, "tick")["runs_interrupted"]) == 1
    assert statuses(db_url)["local-alive"] == "interrupted"

    # a run taken for dead that beats its heartbeat after all is running again
    with session_scope(engine, write=True) as session:
        [remote] = [r for r in queries.list_runs(session=session) if r.collector == "remote-silent"]
        queries.add_run_counts(remote.id, read=5, new=5, updated=0, duplicates=0, quarantined=0, session=session)  # type: ignore[arg-type]
    with session_scope(engine) as session:
        revived = queries.get_run(remote.id, session=session)  # type: ignore[arg-type]
        assert revived is not None
        assert (revived.status, revived.finished_at, revived.error_class) == ("running", None, None)


def test_the_next_import_marks_a_dead_run_before_it_starts(tmp_path: Path, db_url: str, engine: Engine) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    add_run(engine, "import:s", pid=dead.pid, host=this_host(), silent=timedelta(seconds=1))
    survey = tmp_path / "s.csv"
    survey.write_text("编号,意见\n1,转账慢\n", encoding="utf-8")
    report = bihuan_json(db_url, "import", str(survey))
    assert report["new"] == 1  # type: ignore[call-overload]
    with session_scope(engine) as session:
        runs = {r.id: r.status for r in queries.list_runs(session=session)}
    assert sorted(runs.values()) == ["interrupted", "succeeded"]


def test_a_dry_run_marks_nothing(tmp_path: Path, db_url: str, engine: Engine) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    add_run(engine, "import:s", pid=dead.pid, host=this_host(), silent=timedelta(seconds=1))
    survey = tmp_path / "s.csv"
    survey.write_text("编号,意见\n1,转账慢\n", encoding="utf-8")
    bihuan_json(db_url, "import", str(survey), "--dry-run")
    assert [s for _, s, _ in run_status(engine)] == ["running"]
