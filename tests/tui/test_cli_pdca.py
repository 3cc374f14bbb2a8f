"""``bihuan task``, ``bihuan action`` and ``bihuan tick`` on the demo data, on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bihuan.tui.cli import cli


def run(db: str, *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(cli, ["--db", db, *args], env={"BIHUAN_USER": "王经理"})
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args and code == 0 else result.output


@pytest.fixture
def demo(db_url: str, tmp_path: Path) -> dict[str, Any]:
    """``bihuan demo --json`` on a fresh database: what it printed."""
    return run(db_url, "demo", "--dir", str(tmp_path / "demo"), "--json")


@pytest.fixture
def demo_db(db_url: str, demo: dict[str, Any]) -> str:
    return db_url


def test_the_demo_plays_one_effective_and_one_ineffective_cycle_from_the_data(
    db_url: str, demo: dict[str, Any]
) -> None:
    cycles = {c["scenario"]: c for c in demo["cycles"]}
    assert set(cycles) == {"credit_limit_improved", "hotline_unchanged"}

    improved = cycles["credit_limit_improved"]
    # the data set cuts these complaints by 60 % from the week the actions were done
    assert improved["verdict"] == "effective" and improved["expected"] == "effective"
    assert improved["change"] == pytest.approx(-0.6, abs=0.15)
    assert improved["ratio_high"] < 1 and improved["p_value"] < 0.001
    assert improved["outcome"] == "standardised" and improved["next_task_id"] is None

    flat = cycles["hotline_unchanged"]
    assert flat["verdict"] == "not_effective" and flat["outcome"] == "next_cycle"
    assert flat["ratio_low"] < 1 < flat["ratio_high"]  # no significant change ...
    assert flat["ratio_low"] > 0.5  # ... and the -50 % target ruled out

    closed = run(db_url, "task", "show", str(improved["task_id"]), "--json")
    assert closed["stage"] == "closed" and closed["outcome"] == "standardised" and closed["standard"]
    assert sorted(closed["groups"]) == sorted(improved["groups"]) and all(a["status"] == "done" for a in closed["actions"])
    assert [c["verdict"] for c in closed["checks"]] == ["effective"]
    events = closed["events"]
    assert [e["kind"] for e in events] == [
        *("created", "stage", "action_added", "action_added", "action_changed", "action_changed"),
        *("stage", "check", "stage", "stage"),
    ]
    assert [(e["old"], e["new"]) for e in events if e["kind"] == "stage"] == [
        ("plan", "do"),
        ("do", "check"),
        ("check", "act"),
        ("act", "closed"),
    ]
    # the history happened when the scenario says, in order, before today
    times = [datetime.fromisoformat(e["at"]) for e in events]
    assert times == sorted(times) and times[-1] < datetime.now(UTC) - timedelta(days=3)
    check = closed["checks"][0]
    assert check["check_end"] <= times[-1].date().isoformat() and check["baseline_end"] <= times[2].date().isoformat()

    successor = run(db_url, "task", "show", str(flat["next_task_id"]), "--json")
    assert successor["stage"] == "plan" and successor["parent_id"] == flat["task_id"]
    assert set(successor["groups"]) == set(flat["groups"])
    assert successor["baseline"]["value"] > 0


def test_a_task_from_the_top_group_through_do_to_check(demo_db: str) -> None:
    top = run(demo_db, "groups", "list", "--json")[0]
    opened = run(
        demo_db,
        "task",
        "open",
        str(top["id"]),
        "--title",
        "手机银行转账卡顿",
        "--metric",
        "volume",
        "--target",
        "-50%",
        "--json",
    )
    task = str(opened["id"])
    assert opened["stage"] == "plan" and opened["groups"] == [top["id"]]
    weekly = [w["group"] for w in opened["baseline"]["weeks"]]
    assert len(weekly) == 8 and sum(weekly) > 0
    assert opened["target_value"] == pytest.approx(opened["baseline"]["value"] / 2)

    refused = run(demo_db, "task", "move", task, "do", code=1)
    assert "cannot move to do: no owner; no due date" in refused

    run(demo_db, "task", "edit", task, "--owner", "李", "--due", "2027-01-31")
    run(demo_db, "task", "move", task, "do")
    action = run(
        demo_db, "action", "add", task, "--title", "转账链路扩容", "--owner", "赵", "--due", "2026-11-01", "--json"
    )
    overdue = run(demo_db, "action", "list", "--overdue", "--json")
    assert [a["id"] for a in overdue] == [action["id"]]
    tick = run(demo_db, "tick", "--json")
    assert [o["action_id"] for o in tick["overdue_actions"]] == [action["id"]]
    assert run(demo_db, "tick", "--json")["overdue_actions"] == []  # announced once

    run(demo_db, "action", "done", str(action["id"]))
    run(demo_db, "task", "move", task, "check")
    too_soon = run(demo_db, "task", "check", task, code=2)
    assert "check after that, or check early (--early)" in too_soon
    run(demo_db, "task", "move", task, "act", code=1)

    shown = run(demo_db, "task", "show", task, "--json")
    assert shown["stage"] == "check" and shown["actions"][0]["status"] == "done"
    kinds = [e["kind"] for e in shown["events"]]
    assert kinds == ["created", "field", "field", "stage", "action_added", "action_changed", "stage"]
    assert {e["actor"] for e in shown["events"]} == {"王经理"}


def test_a_stale_expected_version_is_refused_and_nothing_is_written(demo_db: str) -> None:
    top = run(demo_db, "groups", "list", "--json")[0]
    task = str(run(demo_db, "task", "open", str(top["id"]), "--title", "t", "--json")["id"])
    run(demo_db, "task", "edit", task, "--owner", "甲", "--expect-version", "1")
    # exit code 4: a stale write, retryable (it was 1, "any other failure", before issue 15)
    refused = run(demo_db, "task", "edit", task, "--owner", "乙", "--expect-version", "1", code=4)
    assert f"task {task} was changed by 王经理" in refused and "nothing was saved" in refused
    assert run(demo_db, "task", "show", task, "--json")["owner"] == "甲"


def test_unknown_ids_are_usage_errors(demo_db: str) -> None:
    assert "no root-cause group 99999" in run(demo_db, "task", "open", "99999", "--title", "x", code=2)
    assert "no improvement task 42" in run(demo_db, "task", "show", "42", code=2)


def test_the_issue_names_of_the_commands_are_aliases(demo_db: str) -> None:
    top = run(demo_db, "groups", "list", "--json")[0]
    task = run(demo_db, "tasks", "new", str(top["id"]), "--title", "t", "--json")
    assert task["stage"] == "plan"
    history = run(demo_db, "tasks", "history", str(task["id"]), "--json")
    assert [e["kind"] for e in history] == ["created"]
    assert run(demo_db, "actions", "list", "--task", str(task["id"]), "--json") == []
    refused = run(demo_db, "tasks", "act", str(task["id"]), "--next-cycle", code=1)
    assert "the next cycle starts from act; the task is in plan" in refused
    assert "exactly one of --standardise STANDARD or --next-cycle" in run(demo_db, "tasks", "act", "1", code=2)
    assert "new  = open" in run(demo_db, "tasks", "--help")
