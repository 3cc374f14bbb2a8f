"""Every case of the hostile corpus (``hostile_corpus.py``) imported through the real CLI
into a real SQLite database, with the exact counts, exit codes and stored values it must give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, text

from bihuan.storage.engine import create_db_engine
from bihuan.tui.cli import cli
from tests.collectors.hostile_corpus import CASES, Case, write_case

AT_REST_TABLES = ("feedback_item", "quarantined_record", "collector_run", "collector_state")
COUNTS = ("read", "new", "updated", "duplicates", "quarantined")


def test_the_corpus_has_at_least_forty_cases() -> None:
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


def _at_rest(db: str) -> str:
    """Every string stored in the tables that hold what was read, as one blob."""
    engine = create_db_engine(db)
    parts: list[str] = []
    with engine.connect() as conn:
        for table in AT_REST_TABLES:
            columns = [c["name"] for c in inspect(conn).get_columns(table)]
            for record in conn.execute(text(f"SELECT {', '.join(columns)} FROM {table}")):
                parts.extend(str(v) for v in record if v is not None)
    engine.dispose()
    return "\n".join(parts)


def _texts(db: str) -> list[str]:
    engine = create_db_engine(db)
    with engine.connect() as conn:
        found = list(conn.execute(text("SELECT text FROM feedback_item")).scalars())
    engine.dispose()
    return found


@pytest.mark.parametrize("case", CASES, ids=lambda c: ascii(c.name).strip("'"))
def test_hostile_input(case: Case, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    paths = write_case(case, folder)
    db = f"sqlite:///{tmp_path / 'corpus.db'}"
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", db, "init"]).exit_code == 0
    for step, done in enumerate(case.imports):
        args = ["--db", db, "import", *(str(paths[f]) for f in done.files), *done.args, "--json"]
        result = runner.invoke(cli, args)
        where = f"{case.name} import {step + 1}: {result.output[-2000:]}"
        assert result.exit_code == done.exit_code, where
        report = json.loads(result.stdout)
        if "error" in report:
            assert done.message is None or done.message in report["error"], where
            continue
        assert {k: report[k] for k in COUNTS} == done.expect, where
    texts = _texts(db)
    if case.stored is not None:
        assert len(texts) == case.stored
    if case.texts is not None:
        assert case.texts(texts), texts
    if case.at_rest is not None:
        assert case.at_rest(_at_rest(db))
