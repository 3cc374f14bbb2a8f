"""``bihuan import`` and friends as a script uses them: exit codes, --json, re-imports."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from bihuan.storage.engine import create_db_engine
from bihuan.tui.cli import cli

HEADER = "编号,提交时间,满意度评分,推荐意愿(0-10分),您的意见或建议,客户编号\n"
GOOD_ROWS = [
    "S001,2026/10/1 9:05,2,3,手机银行转账一直转圈，客服电话13812345678也打不通,C1001\n",
    "S002,2026-10-02 10:30:00,5,9,网点服务很好，排队时间短,C1002\n",
    'S003,2026年10月3日 14:00,1,0,"信用卡提额申请一个月没有回复，\n卡号6222021234567890128",C1003\n',
]
BAD_ROWS = [
    "S004,2026-13-45 25:00,4,8,理财收益说明不清,C1004\n",  # invalid date
    "S005,2026-10-05 08:00,9,8,年费扣得莫名其妙,C1005\n",  # rating outside 0..5
    "S006,2026-10-06 08:00,3,5,,C1006\n",  # empty text
]


def write_survey(path: Path, rows: list[str], encoding: str = "gbk") -> Path:
    path.write_bytes((HEADER + "".join(rows)).encode(encoding))
    return path


def run(db: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", db, *args], catch_exceptions=False)


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    run(url, "init")  # only init creates a database named by --db
    return url


def stored_texts(db: str) -> list[str]:
    engine = create_db_engine(db)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT text FROM feedback_item ORDER BY external_id")).scalars().all()
    engine.dispose()
    return list(rows)


def test_gbk_survey_is_stored_once_redacted_and_bad_rows_quarantined(tmp_path: Path, db: str) -> None:
    survey = write_survey(tmp_path / "survey.csv", GOOD_ROWS + BAD_ROWS)

    first = run(db, "import", str(survey), "--json")
    assert first.exit_code == 3, first.output
    report = json.loads(first.stdout)
    assert (report["read"], report["new"], report["updated"], report["duplicates"], report["quarantined"]) == (
        6,
        3,
        0,
        0,
        3,
    )

    texts = stored_texts(db)
    assert len(texts) == 3
    joined = "".join(texts)
    assert "13812345678" not in joined and "6222021234567890128" not in joined
    assert "[手机号]" in joined and "[银行卡号]" in joined
    assert any("\n" in t for t in texts), "a quoted newline stays inside its cell"

    again = run(db, "import", str(survey), "--json")
    assert again.exit_code == 3
    report = json.loads(again.stdout)
    # the bad rows are reported again (the file still has them) but not stored twice
    assert (report["new"], report["updated"], report["duplicates"], report["quarantined"]) == (0, 0, 3, 3)
    assert len(stored_texts(db)) == 3
    assert len(json.loads(run(db, "quarantine", "list", "--json").stdout)) == 3


def test_clean_file_exits_zero_and_plain_output_names_the_counts(tmp_path: Path, db: str) -> None:
    survey = write_survey(tmp_path / "survey.csv", GOOD_ROWS, encoding="utf-8-sig")
    result = run(db, "import", str(survey))
    assert result.exit_code == 0, result.output
    assert "3 new" in result.output or "new" in result.output


def test_a_changed_row_is_updated_not_duplicated(tmp_path: Path, db: str) -> None:
    survey = write_survey(tmp_path / "survey.csv", GOOD_ROWS)
    assert run(db, "import", str(survey)).exit_code == 0
    write_survey(survey, [GOOD_ROWS[0], GOOD_ROWS[1].replace("排队时间短", "排队时间很短"), GOOD_ROWS[2]])
    report = json.loads(run(db, "import", str(survey), "--json").stdout)
    assert (report["new"], report["updated"], report["duplicates"]) == (0, 1, 2)
    assert any("排队时间很短" in t for t in stored_texts(db))


def test_quarantine_names_file_row_and_field_and_retry_with_a_fix_stores_it(tmp_path: Path, db: str) -> None:
    survey = write_survey(tmp_path / "survey.csv", GOOD_ROWS + BAD_ROWS)
    run(db, "import", str(survey))

    listed = json.loads(run(db, "quarantine", "list", "--json").stdout)
    records = listed["records"] if isinstance(listed, dict) else listed
    by_field = {r["field"]: r for r in records}
    assert set(by_field) == {"created_at", "rating", "text"}
    assert "survey.csv row 6" in by_field["rating"]["location"]
    assert "9" in by_field["rating"]["reason"]

    record_id = str(by_field["rating"]["id"])
    shown = run(db, "quarantine", "show", record_id)
    assert shown.exit_code == 0 and "年费扣得莫名其妙" in shown.output

    still_bad = run(db, "quarantine", "retry", record_id, "--json")
    assert "still bad" in still_bad.output
    fixed = run(db, "quarantine", "retry", record_id, "--set", "满意度评分=4", "--json")
    assert fixed.exit_code == 0, fixed.output
    assert any("年费扣得莫名其妙" in t for t in stored_texts(db))
    remaining = json.loads(run(db, "quarantine", "list", "--json").stdout)
    remaining = remaining["records"] if isinstance(remaining, dict) else remaining
    assert {r["field"] for r in remaining} == {"created_at", "text"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import", "does-not-exist.csv"], "does-not-exist.csv"),
        (["import", "{survey}", "--map", "nonsense"], "FIELD=COLUMN"),
        (["import", "{survey}", "--map", "text=不存在的列"], "不存在的列"),
        (["import", "{survey}", "--sheet", "Sheet1"], "sheet"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(tmp_path: Path, db: str, args: list[str], message: str) -> None:
    survey = write_survey(tmp_path / "survey.csv", GOOD_ROWS)
    result = CliRunner().invoke(cli, ["--db", db, *[a.format(survey=survey) for a in args]])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_file_that_is_not_csv_fails_with_exit_1_and_names_the_file(tmp_path: Path, db: str) -> None:
    fake = tmp_path / "export.csv"
    fake.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 40)
    result = CliRunner().invoke(cli, ["--db", db, "import", str(fake)])
    assert result.exit_code == 1, result.output
    assert "export.csv" in result.output


def test_no_text_column_is_reported_with_the_headers(tmp_path: Path, db: str) -> None:
    path = tmp_path / "numbers.csv"
    path.write_text("编号,评分\n1,5\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", db, "import", str(path)])
    assert result.exit_code in (1, 2)
    assert "text" in result.output and "评分" in result.output


def test_dry_run_writes_nothing(tmp_path: Path, db: str) -> None:
    survey = write_survey(tmp_path / "survey.csv", GOOD_ROWS)
    report = json.loads(run(db, "import", str(survey), "--dry-run", "--json").stdout)
    assert report["new"] == 3
    assert stored_texts(db) == []


def test_runs_lists_the_import_with_its_counts(tmp_path: Path, db: str) -> None:
    survey = write_survey(tmp_path / "survey.csv", GOOD_ROWS + BAD_ROWS)
    run(db, "import", str(survey))
    runs = json.loads(run(db, "runs", "--json").stdout)
    assert runs[0]["collector"] == "import:survey"
    assert (runs[0]["read"], runs[0]["new"], runs[0]["quarantined"]) == (6, 3, 3)


# ── hostile files ─────────────────────────────────────────────────────────────────────


def gbk_named(directory: Path, name: str) -> Path:
    """``directory / name`` with the name in GBK bytes, as unzipping a Windows archive
    writes it: not UTF-8, so Python holds it with lone surrogates."""
    return Path(os.fsdecode(os.fsencode(directory) + b"/" + name.encode("gbk")))


def test_a_file_named_in_gbk_bytes_imports_with_a_readable_source_and_locations(tmp_path: Path, db_url: str) -> None:
    """Such a name crashed the import (UnicodeEncodeError storing the source or a
    location), with or without --source."""
    path = write_survey(gbk_named(tmp_path, "客户意见.csv"), GOOD_ROWS + BAD_ROWS)
    assert "\udcbf" in str(path)  # 客 is BF CD in GBK, not UTF-8

    result = run(db_url, "import", str(path), "--json")
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert (report["new"], report["quarantined"]) == (3, 3)
    assert (report["runs"][0]["collector"], report["runs"][0]["source"]) == ("import:客户意见", "客户意见")
    records = json.loads(run(db_url, "quarantine", "list", "--json").stdout)
    records = records["records"] if isinstance(records, dict) else records
    assert sorted(r["location"] for r in records) == [f"客户意见.csv row {n}" for n in (5, 6, 7)]
    [stored_run] = json.loads(run(db_url, "runs", "--json").stdout)
    assert stored_run["config"]["paths"] == [str(tmp_path / "客户意见.csv")]

    plain = run(db_url, "import", str(path), "--source", "survey")  # printed, not only JSON
    assert plain.exit_code == 3 and "import:survey" in plain.output
    assert "\\x" not in plain.output and "\udcbf" not in plain.output


def test_a_file_named_in_bytes_that_are_not_gbk_either_is_shown_escaped(tmp_path: Path, db_url: str) -> None:
    path = Path(os.fsdecode(os.fsencode(tmp_path) + b"/survey\xff\x1b[2J.csv"))
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 40)  # not a CSV: the error quotes the name
    result = run(db_url, "import", str(path), "--json")
    assert result.exit_code == 1
    [failed] = json.loads(result.stdout)["runs"]
    assert failed["source"] == "survey\\xff\\x1b[2J"
    assert (
        failed["error"]
        == f"{tmp_path}/survey\\xff\\x1b[2J.csv: not a CSV text file (looks like a ZIP archive, e.g. an Excel .xlsx workbook)"
    )


@pytest.mark.parametrize("helper", ["never", "always"])
def test_a_stray_quote_costs_one_row_of_300(tmp_path: Path, db_url: str, monkeypatch, helper: str) -> None:
    """It kept rows 102-300 inside one item's text, exit code 0."""
    monkeypatch.setenv("BIHUAN_HELPER_PROCESS", helper)
    rows = [f"S{i:03d},2026-10-01 09:00,4,8,第{i}条：网点排队太久,C{i}\n" for i in range(1, 301)]
    rows[101] = 'S102,2026-10-01 09:00,4,8,"他说""排队太久,C102\n'
    path = write_survey(tmp_path / "survey.csv", rows)
    result = run(db_url, "import", str(path), "--json")
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert (report["read"], report["new"], report["quarantined"]) == (300, 299, 1)
    assert len(stored_texts(db_url)) == 299 and all("\n" not in t for t in stored_texts(db_url))
    [record] = json.loads(run(db_url, "quarantine", "list", "--json").stdout)
    assert (record["location"], record["field"]) == ("survey.csv row 103", "text")
    assert record["reason"].startswith("unterminated quote")


def test_an_encoding_that_cannot_be_told_is_refused_with_advice(tmp_path: Path, db_url: str) -> None:
    """Too little Chinese to be sure, and a stray byte: it was guessed as a Latin code
    page and 好 stored as mojibake, exit code 0."""
    english = "".join(f"E{i},the app logs me out ({i})\n" for i in range(100))
    path = tmp_path / "export.csv"
    path.write_bytes(("id,text\n" + english).encode() + "C1,好\n".encode("gbk") + b"X1,stray \xff byte\n")
    refused = run(db_url, "import", str(path), "--json")
    assert refused.exit_code == 1
    [failed] = json.loads(refused.stdout)["runs"]
    assert failed["error"].startswith(f"{path}: cannot tell how this file is encoded")
    assert "--encoding gb18030" in failed["error"] and stored_texts(db_url) == []
    told = run(db_url, "import", str(path), "--encoding", "gb18030", "--json")
    assert told.exit_code == 3
    assert (json.loads(told.stdout)["new"], json.loads(told.stdout)["quarantined"]) == (101, 1)
    assert "好" in stored_texts(db_url)
