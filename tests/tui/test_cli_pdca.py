"""``bihuan task``, ``bihuan action`` and ``bihuan tick`` on the demo data, on both databases."""

from __future__ import annotations

import json
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
def demo_db(db_url: str, tmp_path: Path) -> str:
    run(db_url, "demo", "--dir", str(tmp_path / "demo"), "--json")
    return db_url


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
    refused = run(demo_db, "task", "edit", task, "--owner", "乙", "--expect-version", "1", code=1)
    assert f"task {task} was changed by 王经理" in refused and "nothing was saved" in refused
    assert run(demo_db, "task", "show", task, "--json")["owner"] == "甲"


def test_unknown_ids_are_usage_errors(demo_db: str) -> None:
    assert "no root-cause group 99999" in run(demo_db, "task", "open", "99999", "--title", "x", code=2)
    assert "no improvement task 42" in run(demo_db, "task", "show", "42", code=2)
