"""``bihuan analyze`` and ``bihuan groups merge|split`` from the command line, on both databases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from bihuan.tui.cli import cli


def run(db: str, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--db", db, *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if "--json" in args else result.output


def test_analyze_is_incremental_and_groups_can_be_merged_and_split(db_url: str, tmp_path: Path) -> None:
    imported = run(db_url, "demo", "--dir", str(tmp_path / "demo"), "--no-analyze", "--json")
    first = run(db_url, "analyze", "--json")
    assert (
        first["analysed"] == imported["stored"] > 3000
        and first["groups"] >= 10
        and first["model"].startswith("snownlp")
    )
    assert first["duplicates"] > 0, "the demo's repeat contacts are linked"
    assert run(db_url, "analyze", "--json")["analysed"] == 0

    listed = run(db_url, "groups", "list", "--json")
    assert sum(g["items"] for g in listed) == first["analysed"] - _ungrouped(db_url)
    big, second = listed[0], listed[1]
    merged = run(db_url, "groups", "merge", str(big["id"]), str(second["id"]), "--by", "王", "--json")
    assert merged == {"target": big["id"], "merged": [second["id"]], "moved": second["items"], "label": merged["label"]}
    after = {g["id"]: g for g in run(db_url, "groups", "list", "--json", "--all")}
    assert after[big["id"]]["items"] == big["items"] + second["items"]
    assert (after[second["id"]]["status"], after[second["id"]]["merged_into"]) == ("merged", big["id"])

    split = run(db_url, "groups", "split", str(big["id"]), "--keyword", "手机银行", "--json")
    assert split["moved"] > 0 and split["moved"] + split["remaining"] == big["items"] + second["items"]
    shown = run(db_url, "groups", "show", str(big["id"]), "--json")
    assert [e["action"] for e in shown["history"]][-2:] == ["merged", "split"]

    plain = run(db_url, "analyze")
    assert plain.startswith("analysed 0 items")


def test_usage_errors_name_the_group(db_url: str, tmp_path: Path) -> None:
    run(db_url, "demo", "--dir", str(tmp_path / "demo"), "--no-analyze", "--json")
    run(db_url, "analyze", "--json")
    runner = CliRunner()
    missing = runner.invoke(cli, ["--db", db_url, "groups", "merge", "1", "99999"])
    assert missing.exit_code == 2 and "no group 99999" in missing.output
    itself = runner.invoke(cli, ["--db", db_url, "groups", "merge", "1", "1"])
    assert itself.exit_code == 2 and "into itself" in itself.output
    bad_ids = runner.invoke(cli, ["--db", db_url, "groups", "split", "1", "--items", "a,b"])
    assert bad_ids.exit_code == 2 and "--items" in bad_ids.output


def _ungrouped(db: str) -> int:
    from sqlalchemy import text

    from bihuan.storage.engine import create_db_engine

    engine = create_db_engine(db)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM item_analysis WHERE group_id IS NULL")).scalar()
    engine.dispose()
    return int(count or 0)
