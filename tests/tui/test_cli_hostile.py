"""Hostile stored text in the CLI's tables, plain lines, JSON and report files: never a raw
escape, CR, BS or bidi control on the terminal, never markup, tables that keep their shape."""

from __future__ import annotations

import json
import re
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlmodel import col, select

from bihuan.storage import queries
from bihuan.storage.engine import session_scope
from bihuan.tui import output
from bihuan.tui.cli import cli
from tests.core.pdca.conftest import SH, Run, seed
from tests.tui.conftest import services_for
from tests.tui.hostile import SHORT_SHOWN, Seeded, hostile, make_hostile, raw_controls, visible


@pytest.fixture
def hostile_db(db_url: str, engine: Engine) -> tuple[str, Seeded]:
    seed(
        engine,
        [
            Run(1, date(2026, 9, 14), 42, 1),
            Run(1, date(2026, 10, 26), 28, 2),
            Run(2, date(2026, 9, 14), 70, 1, label="positive", rating=5),
        ],
    )
    return db_url, make_hostile(engine, services_for(engine).pdca)


def run(db: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", db, *args])
    assert result.exit_code == 0, result.output
    assert raw_controls(result.output) == [], result.output  # stdout and stderr
    return result.stdout


def test_quarantine_list_and_show(hostile_db: tuple[str, Seeded], engine: Engine) -> None:
    db, _ = hostile_db
    lines = run(db, "quarantine", "list").splitlines()
    assert lines[0] == "id\tstatus\tcollector\twhere\tfield\treason"
    rows = [line.split("\t") for line in lines[1:]]
    assert {r[2] for r in rows} == {visible("Q"), "[/]", "[@click=app.quit]quit[/]"}
    assert {tuple(r[3:]) for r in rows} == {(visible("L"), visible("F"), visible("R"))}  # six cells each

    with session_scope(engine) as session:
        record_id = queries.list_quarantined(limit=1, session=session)[0].id
    shown = run(db, "quarantine", "show", str(record_id))
    for line in (f"location: {visible('L')}", f"reason: {visible('R')}", f"source: {visible('S')}"):
        assert line in shown.splitlines()
    # the payload: JSON escapes ESC, CR, BS and BEL; the rest is made visible
    assert "\\u001b[2J" in shown and "<U+009B>2J" in shown and "<U+202E>反<U+200B>" in shown

    as_json = run(db, "quarantine", "show", str(record_id), "--json")
    data = json.loads(as_json)
    assert (data["reason"], data["location"]) == (hostile("R"), hostile("L"))  # the exact values, escaped
    assert "\\u202e" in as_json and "\\u009b" in as_json


def test_groups_runs_tasks_and_actions(hostile_db: tuple[str, Seeded]) -> None:
    db, seeded = hostile_db
    listed = [line.split("\t") for line in run(db, "groups", "list").splitlines()]
    assert all(len(row) == 5 for row in listed)
    assert [row for row in listed if row[0] == "1"] == [["1", "98", "C" + SHORT_SHOWN, visible("G"), "active"]]
    shown = run(db, "groups", "show", "1").splitlines()
    assert f"label: {visible('G')}" in shown and f"keywords: {visible('K')}" in shown
    assert any(
        line.endswith(f" {visible('A')}: renamed {{'old': 'group 1', 'new': {hostile('G')!r}}}") for line in shown
    )

    runs = [line.split("\t") for line in run(db, "runs").splitlines()]
    assert all(len(row) == 10 for row in runs)
    assert (runs[1][1], runs[1][9]) == (visible("RUN"), "data: " + visible("ERR"))

    task = run(db, "task", "show", str(seeded.task_id)).splitlines()
    assert task[0] == f"task {seeded.task_id} [plan] {visible('TT')}  (version 1)"
    assert f"owner: {visible('OW')}" in task[1] and task[2] == f"  root cause: {visible('RC')}"
    assert f"{visible('AT')}\t{visible('AO')}\t2026-12-15\topen" in "\n".join(task)
    assert any(f" {visible('A')}: created " in line for line in task)
    tasks = [line.split("\t") for line in run(db, "task", "list").splitlines()]
    assert (tasks[1][2], tasks[1][4]) == (visible("TT"), visible("OW"))
    history = run(db, "task", "history", str(seeded.task_id))
    assert f" {visible('A')}: action_added " in history
    actions = [line.split("\t") for line in run(db, "action", "list").splitlines()]
    assert (actions[1][2], actions[1][3]) == (visible("AT"), visible("AO"))


def test_report_on_the_terminal_and_in_files(hostile_db: tuple[str, Seeded], engine: Engine, tmp_path: Path) -> None:
    from bihuan.core.analysis.group_ops import rename_group

    db, _ = hostile_db
    with session_scope(engine, write=True) as session:
        rename_group(2, "好评 | 第一行\r\n第二行\t<i>", actor="王", session=session)
    terminal = run(db, "report", "--since", "2026-10-26", "--until", "2026-11-22")
    assert "G␛[2J␛]8;;" in terminal  # the label folds over lines in its column

    md_path, html_path = tmp_path / "r.md", tmp_path / "r.html"
    run(db, "report", "--since", "2026-10-26", "--until", "2026-11-22", "--out", str(md_path))
    markdown = md_path.read_text(encoding="utf-8")
    assert raw_controls(markdown) == []
    # Markdown: markup and pipes escaped, the row keeps its eight cells
    [row] = [line for line in markdown.splitlines() if line.startswith("| ") and "#1)" in line]
    assert len(re.findall(r"(?<!\\)\|", row)) == 9
    assert "G␛\\[2J␛\\]8;;http://evil/␛\\\\click" in row and "&lt;U+202E&gt;反&lt;U+200B&gt;" in row
    [other] = [line for line in markdown.splitlines() if line.startswith("| ") and "#2)" in line]
    assert "好评 \\| 第一行⏎第二行 &lt;i&gt; (#2)" in other and len(re.findall(r"(?<!\\)\|", other)) == 9

    run(db, "report", "--since", "2026-10-26", "--until", "2026-11-22", "--out", str(html_path))
    page = html_path.read_text(encoding="utf-8")
    assert raw_controls(page) == []
    assert "G␛[2J␛]8;;http://evil/␛\\click" in page and "&lt;U+202E&gt;反&lt;U+200B&gt;" in page


def test_sla_queue_and_tick_lines(hostile_db: tuple[str, Seeded], engine: Engine) -> None:
    from bihuan.core.pdca import actions as pdca_actions
    from bihuan.storage.models import FeedbackItem
    from bihuan.storage.types import utcnow

    db, seeded = hostile_db
    today = utcnow().astimezone(SH).date()
    seed(engine, [Run(None, today - timedelta(days=3), 1, channel="social")], prefix="sla-")
    with session_scope(engine, write=True) as session:
        item = session.exec(select(FeedbackItem).where(col(FeedbackItem.channel) == "social")).one()
        item.text = hostile("ST")
    pdca_actions.add_action(
        engine, seeded.task_id, title=hostile("LATE"), owner="王", due_date=today - timedelta(days=2), actor="王"
    )
    cases = [line.split("\t") for line in run(db, "sla", "list").splitlines()]
    assert all(len(row) == 6 for row in cases), cases
    [text] = [row[5] for row in cases if row[1] == "social"]
    assert text.startswith("ST␛[2J␛]8;;http://evil/␛\\click␛]8;;␛\\␛]0;pwned␇<U+009B>2J␍␈[")
    ticked = run(db, "tick").splitlines()
    [overdue] = [line for line in ticked if line.startswith("行动逾期")]
    assert f"「{visible('TT')}」" in overdue and f"「{visible('LATE')}」" in overdue


def test_json_output_holds_the_exact_values_and_no_raw_controls(hostile_db: tuple[str, Seeded]) -> None:
    db, seeded = hostile_db
    out = run(db, "task", "show", str(seeded.task_id), "--json")
    data = json.loads(out)
    assert (data["title"], data["owner"], data["actions"][0]["title"]) == (hostile("TT"), hostile("OW"), hostile("AT"))
    groups = json.loads(run(db, "groups", "list", "--json"))
    assert hostile("G") in {g["label"] for g in groups}


def test_tables_on_a_terminal_are_one_line_plain_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    output.print_table(("name", "note"), [(hostile("N"), "第一行\n第二行"), ("[bold]x[/bold]", None)])
    # Rich styles the header on a terminal (SGR sequences): every other escape would be the data's
    shown = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    assert raw_controls(shown) == []
    assert "[bold]x[/bold]" in shown and "第一行⏎第二行" in shown and "N␛[2J" in shown


def test_json_escapes_every_control_and_invisible_code_point(capsys: pytest.CaptureFixture[str]) -> None:
    import unicodedata

    acting = {"Cc", "Cf", "Cs", "Zl", "Zp"}
    # apart: two surrogates side by side would read back as one character beyond the BMP
    text = "a".join(chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in acting)
    output.emit_json({"text": text + "转账👨\u200d👩"})
    out = capsys.readouterr().out
    assert {ch for ch in out if unicodedata.category(ch) in acting} == {"\n"}  # the indentation's
    assert json.loads(out) == {"text": text + "转账👨\u200d👩"}
