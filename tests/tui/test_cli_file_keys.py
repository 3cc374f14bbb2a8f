"""``bihuan import`` of real bank exports: which column keys the rows, what a file may
change, title rows and merged headers, and which column is the text.

Every storage test runs on SQLite and PostgreSQL (``db_url``), and the import behaviour
is checked in this process and in the forked helper (``BIHUAN_HELPER_PROCESS``).
"""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from bihuan.core.helper import HELPER_ENV
from bihuan.storage.engine import create_db_engine
from bihuan.tui.cli import cli

HELPER_MODES = [
    "never",
    pytest.param(
        "always", marks=pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")
    ),
]


def run(db: str, *args: str, helper: str = "never") -> Result:
    return CliRunner().invoke(cli, ["--db", db, *args], catch_exceptions=False, env={HELPER_ENV: helper})


def as_json(result: Result) -> dict[str, Any]:
    return json.loads(result.stdout)


def counts(report: dict[str, Any]) -> tuple[int, ...]:
    return tuple(report[k] for k in ("read", "new", "updated", "duplicates", "quarantined"))


def items(db: str) -> list[tuple[Any, ...]]:
    engine = create_db_engine(db)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT external_id, text, extra, origin FROM feedback_item ORDER BY id")).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def loads(value: Any) -> Any:
    """A JSON column's value: text on SQLite, already decoded on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else value


def quarantined(db: str) -> list[tuple[Any, ...]]:
    engine = create_db_engine(db)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT location, field, reason, external_id FROM quarantined_record ORDER BY id"))
        found = [tuple(row) for row in rows]
    engine.dispose()
    return found


def daily_survey(path: Path, day: int, rows: int = 20, *, id_of: Any = str, encoding: str = "gbk") -> Path:
    """A day's survey export as the bank's system writes it: 序号 counts the rows."""
    lines = ["序号,提交时间,满意度,您的意见或建议\n"]
    for i in range(1, rows + 1):
        lines.append(f"{id_of(i)},2026-12-{day:02d} 09:{i:02d}:00,{1 + i % 5},第{day}天的第{i}条：手机银行转账失败\n")
    path.write_bytes("".join(lines).encode(encoding))
    return path


# ── row numbers are not record ids across files ──────────────────────────────────────


@pytest.mark.parametrize("helper", HELPER_MODES)
def test_the_nightly_job_keeps_every_day_when_each_export_numbers_its_rows_from_1(
    tmp_path: Path, db_url: str, helper: str
) -> None:
    day1 = daily_survey(tmp_path / "2026-12-01.csv", 1)
    day2 = daily_survey(tmp_path / "2026-12-02.csv", 2)
    first = run(db_url, "import", str(day1), "--source", "survey", "--json", helper=helper)
    assert first.exit_code == 0, first.output
    second = run(db_url, "import", str(day2), "--source", "survey", "--json", helper=helper)
    assert second.exit_code == 0, second.output
    # before: "updated 20", day 1 gone
    assert counts(as_json(second)) == (20, 20, 0, 0, 0)
    stored = items(db_url)
    assert len(stored) == 40
    assert sum("第1天" in body for _, body, _, _ in stored) == 20
    assert all(not key.isdigit() for key, _, _, _ in stored), "序号 is not the key"
    assert all("序号" not in (loads(extra) or {}) for _, _, extra, _ in stored), "a row number is not kept"
    assert stored[-1][3] == "2026-12-02.csv row 21"
    [info] = as_json(second)["runs"][0]["files"]
    assert info["key"]["column"] is None and info["row_numbers"] == {"序号": "1..20"}
    assert "counts the rows" in info["key"]["reason"]

    again = run(db_url, "import", str(day2), "--source", "survey", "--json", helper=helper)
    assert counts(as_json(again)) == (20, 0, 0, 20, 0)


@pytest.mark.parametrize("helper", HELPER_MODES)
def test_an_id_column_that_restarts_in_every_file_never_overwrites_another_files_rows(
    tmp_path: Path, db_url: str, helper: str
) -> None:
    # R1, R2 … does not count rows as numbers do: only the stored items show it restarts
    day1 = daily_survey(tmp_path / "day1.csv", 1, id_of=lambda i: f"R{i}", encoding="utf-8")
    day2 = daily_survey(tmp_path / "day2.csv", 2, id_of=lambda i: f"R{i}", encoding="utf-8")
    assert run(db_url, "import", str(day1), "--source", "survey", helper=helper).exit_code == 0
    refused = run(db_url, "import", str(day2), "--source", "survey", "--json", helper=helper)
    assert refused.exit_code == 3, refused.output
    report = as_json(refused)
    assert counts(report) == (20, 0, 0, 0, 20)
    assert report["refused_updates"] == 20
    assert report["runs"][0]["examples"]["refused_updates"] == "'R1' at day2.csv row 2 would replace day1.csv row 2"
    assert all("第1天" in body for _, body, _, _ in items(db_url)), "day 1 is intact"
    location, field, reason, key = quarantined(db_url)[0]
    assert (location, field, key) == ("day2.csv row 2", "external_id", "R1")
    assert "stored from day1.csv row 2 with other content" in reason and "--update-across-files" in reason

    human = run(db_url, "import", str(day2), "--source", "survey", helper=helper)
    assert human.exit_code == 3
    assert "20 rows quarantined: their id is stored from another file with other content" in human.output
    assert "e.g. 'R1' at day2.csv row 2 would replace day1.csv row 2" in human.output
    assert len(quarantined(db_url)) == 20, "refused again, not quarantined twice"

    # the user says what the key is: the rows are new items
    keyed_by_content = run(db_url, "import", str(day2), "--source", "survey", "--no-id", "--json", helper=helper)
    assert keyed_by_content.exit_code == 0, keyed_by_content.output
    assert counts(as_json(keyed_by_content)) == (20, 20, 0, 0, 0)
    assert len(items(db_url)) == 40


@pytest.mark.parametrize("helper", HELPER_MODES)
def test_a_real_ticket_number_is_the_key_and_updates_only_from_the_same_file_or_when_asked(
    tmp_path: Path, db_url: str, helper: str
) -> None:
    def export(path: Path, status_of_2: str) -> Path:
        rows = [
            "序号,工单号,受理时间,投诉内容,处理状态\n",
            "1,GD202612010001,2026-12-01 09:00,信用卡年费被重复扣收,已办结\n",
            f"2,GD202612010002,2026-12-01 09:30,网点排队两个小时,{status_of_2}\n",
        ]
        path.write_text("".join(rows), encoding="utf-8")
        return path

    first = run(db_url, "import", str(export(tmp_path / "tickets.csv", "处理中")), "--source", "t", "--json")
    assert as_json(first)["runs"][0]["files"][0]["key"]["column"] == "工单号"
    assert [key for key, *_ in items(db_url)] == ["GD202612010001", "GD202612010002"]

    # the same export again, a status changed: updated in place
    (tmp_path / "later").mkdir()
    same = run(
        db_url,
        "import",
        str(export(tmp_path / "later" / "tickets.csv", "已办结")),
        "--source",
        "t",
        "--json",
        helper=helper,
    )
    assert counts(as_json(same)) == (2, 0, 1, 1, 0)

    # the next day's export names it otherwise: refused unless the job says so
    other = export(tmp_path / "tickets-1202.csv", "已回访")
    refused = run(db_url, "import", str(other), "--source", "t", "--json", helper=helper)
    assert refused.exit_code == 3 and as_json(refused)["refused_updates"] == 1
    allowed = run(db_url, "import", str(other), "--source", "t", "--update-across-files", "--json", helper=helper)
    assert allowed.exit_code == 0, allowed.output
    report = as_json(allowed)
    assert counts(report) == (2, 0, 1, 1, 0) and report["updated_across_files"] == 1
    assert "GD202612010002" in report["runs"][0]["examples"]["updated_across_files"]
    assert loads(items(db_url)[1][2])["处理状态"] == "已回访"


@pytest.mark.parametrize("helper", HELPER_MODES)
def test_a_repeated_id_in_one_file_is_quarantined_once_and_a_reimport_changes_nothing(
    tmp_path: Path, db_url: str, helper: str
) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text(
        "工单号,投诉内容,处理状态\n"
        "GD001,转账一直失败,处理中\n"
        "GD002,网点排队太久,已办结\n"
        "GD001,转账一直失败,已办结\n"  # the same ticket again, other content
        "GD002,网点排队太久,已办结\n",  # the same row again
        encoding="utf-8",
    )
    first = run(db_url, "import", str(path), "--json", helper=helper)
    assert first.exit_code == 3, first.output
    assert counts(as_json(first)) == (4, 2, 0, 1, 1) and as_json(first)["repeated_ids"] == 1
    [(location, field, reason, key)] = quarantined(db_url)
    assert (location, field, key) == ("tickets.csv row 4", "external_id", "GD001")
    assert "already read at tickets.csv row 2 with other content; the first row counts" in reason
    assert loads(items(db_url)[0][2]) == {"处理状态": "处理中"}, "the first row is the one stored"
    for _ in range(2):  # before: "updated 1" on every re-import
        again = run(db_url, "import", str(path), "--json", helper=helper)
        assert counts(as_json(again)) == (4, 0, 0, 3, 1)
    assert len(quarantined(db_url)) == 1


def test_a_changed_row_of_a_file_without_an_id_is_a_second_item(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "survey.csv"
    header = "提交时间,满意度,您的意见或建议,网点\n"
    path.write_text(header + "2026-12-01 09:00,2,转账失败,朝阳\n2026-12-01 10:00,5,服务很好,海淀\n", encoding="utf-8")
    run(db_url, "import", str(path))
    # only a metadata column changed: the same item, updated
    path.write_text(header + "2026-12-01 09:00,2,转账失败,东城\n2026-12-01 10:00,5,服务很好,海淀\n", encoding="utf-8")
    assert counts(as_json(run(db_url, "import", str(path), "--json"))) == (2, 0, 1, 1, 0)
    # the text changed: another item beside the first (as README and the user guide say)
    path.write_text(
        header + "2026-12-01 09:00,2,转账总是失败,东城\n2026-12-01 10:00,5,服务很好,海淀\n", encoding="utf-8"
    )
    assert counts(as_json(run(db_url, "import", str(path), "--json"))) == (2, 1, 0, 1, 0)
    assert [body for _, body, _, _ in items(db_url)] == ["转账失败", "服务很好", "转账总是失败"]


def test_dry_run_shows_the_mapping_the_key_and_what_would_happen(tmp_path: Path, db_url: str) -> None:
    day1 = daily_survey(tmp_path / "day1.csv", 1, rows=5)
    day2 = daily_survey(tmp_path / "day2.csv", 2, rows=5)
    run(db_url, "import", str(day1), "--source", "survey", "--id-column", "序号")
    dry = run(db_url, "import", str(day2), "--source", "survey", "--id-column", "序号", "--dry-run")
    assert dry.exit_code == 3, dry.output
    out = dry.output
    assert "read 5 new 0 updated 0 duplicates 0 quarantined 5" in out
    assert "day2.csv: header row 1; text: '您的意见或建议'; key: 序号" in out
    assert "its values count the rows, 1..5" in out
    assert "columns: 序号 → external_id; 提交时间 → created_at; 满意度 → rating; 您的意见或建议 → text" in out
    assert "5 rows quarantined: their id is stored from another file" in out
    assert "dry run: nothing was written" in out
    assert len(quarantined(db_url)) == 0 and len(items(db_url)) == 5

    plain = as_json(run(db_url, "import", str(day2), "--source", "survey", "--dry-run", "--json"))
    assert counts(plain) == (5, 5, 0, 0, 0) and plain["dry_run"] is True
    [info] = plain["runs"][0]["files"]
    assert info["columns"] == {"created_at": "提交时间", "rating": "满意度", "text": "您的意见或建议"}
    assert info["row_numbers"] == {"序号": "1..5"} and info["header_row"] == 1


# ── title rows and merged headers ─────────────────────────────────────────────────────


def merged_complaints_xlsx(path: Path) -> Path:
    """A bank's monthly complaint sheet: a title merged over the sheet, then a two-row
    header whose group cells are merged over their sub-headers."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "明细"
    sheet.append(["XX银行2026年11月客户投诉明细表"])
    sheet.merge_cells("A1:G1")
    sheet.append(["序号", "工单信息", None, None, "客户诉求", "处理情况", None])
    sheet.append([None, "工单号", "受理时间", "渠道", None, "处理意见", "办结时间"])
    for cells in ("A2:A3", "B2:D2", "E2:E3", "F2:G2"):
        sheet.merge_cells(cells)
    for i in range(1, 4):
        sheet.append(
            [i, f"GD20261101{i:04d}", f"2026-11-0{i} 09:30:00", "热线", f"信用卡年费扣了{i}次", "已退费", "2026-11-20"]
        )
    workbook.save(path)
    return path


@pytest.mark.parametrize("helper", HELPER_MODES)
def test_a_title_row_and_a_merged_two_row_header_in_xlsx(tmp_path: Path, db_url: str, helper: str) -> None:
    path = merged_complaints_xlsx(tmp_path / "complaints.xlsx")
    result = run(db_url, "import", str(path), "--json", helper=helper)
    assert result.exit_code == 0, result.output  # before: every row quarantined
    report = as_json(result)
    assert counts(report) == (3, 3, 0, 0, 0)
    [info] = report["runs"][0]["files"]
    assert info["header_rows"] == [2, 3]
    assert info["skipped_rows"] == [{"row": 1, "text": "XX银行2026年11月客户投诉明细表"}]
    assert info["columns"] == {
        "external_id": "工单号",
        "created_at": "受理时间",
        "channel": "渠道",
        "text": "客户诉求",
    }
    assert info["text"]["candidates"] == ["客户诉求", "处理意见"]
    engine = create_db_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT external_id, text, channel, extra, origin FROM feedback_item ORDER BY external_id")
        ).all()
    engine.dispose()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (f"GD20261101{i:04d}", f"信用卡年费扣了{i}次", "hotline") for i in range(1, 4)
    ]
    assert loads(rows[0][3]) == {"处理意见": "已退费", "办结时间": "2026-11-20"}
    assert rows[0][4] == "complaints.xlsx sheet 明细 row 4"


def test_a_title_line_in_a_gbk_csv_and_header_row(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "survey.csv"
    path.write_bytes(
        (
            "XX银行2026年11月客户满意度调查明细\n"
            "导出时间,2026-12-01 08:00\n"
            "\n"
            "编号,提交时间,满意度,您的意见或建议\n"
            "S01,2026-11-30 09:00,2,转账一直失败\n"
            "S02,2026-11-30 10:00,5,服务很好\n"
        ).encode("gbk")
    )
    found = run(db_url, "import", str(path), "--json")
    assert found.exit_code == 0, found.output  # before: the title was the header: exit 2
    report = as_json(found)
    assert counts(report) == (2, 2, 0, 0, 0)
    info = report["runs"][0]["files"][0]
    assert info["header_row"] == 4 and [s["row"] for s in info["skipped_rows"]] == [1, 2]
    assert [key for key, *_ in items(db_url)] == ["S01", "S02"]
    assert items(db_url)[0][3] == "survey.csv row 5"

    named = run(db_url, "import", str(path), "--header-row", "4", "--json")
    assert counts(as_json(named)) == (2, 0, 0, 2, 0)
    wrong = run(db_url, "import", str(path), "--header-row", "2")
    assert wrong.exit_code == 2
    assert "no text column; headers are ['导出时间', '2026-12-01 08:00']" in wrong.output
    blank = run(db_url, "import", str(path), "--header-row", "3")
    assert blank.exit_code == 2 and "--header-row 3: row 3 is empty" in blank.output
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"text": "好"}\n', encoding="utf-8")
    assert (
        "--header-row does not apply to the jsonl collector"
        in run(db_url, "import", str(jsonl), "--header-row", "2").output
    )


# ── which column is the text ──────────────────────────────────────────────────────────


def test_two_candidate_text_columns_are_named_and_map_text_chooses(tmp_path: Path, db: str) -> None:
    path = tmp_path / "complaints.csv"
    path.write_text("工单号,处理意见,客户诉求\nGD1,已致歉并退费,年费扣了两次\n", encoding="utf-8")
    plain = run(db, "import", str(path))
    assert plain.exit_code == 0, plain.output
    # before: 处理意见 (the bank's reply) was stored as the customer's words, silently
    assert items(db)[0][1] == "年费扣了两次"
    assert "text: '客户诉求'" in plain.output
    assert "before '处理意见' (a name like the bank's reply)" in plain.output
    info = as_json(run(db, "import", str(path), "--json"))["runs"][0]["files"][0]
    assert info["text"]["column"] == "客户诉求" and info["text"]["candidates"] == ["客户诉求", "处理意见"]
    assert info["metadata"] == ["处理意见"]

    other = tmp_path / "other.csv"
    other.write_text("编号,意见,建议\nA1,网点太远,多开网点\n", encoding="utf-8")
    refused = run(db, "import", str(other))
    assert refused.exit_code == 2
    assert "columns '意见' and '建议' could each hold the text" in refused.output
    assert "--map text=COLUMN" in refused.output
    chosen = run(db, "import", str(other), "--map", "text=建议", "--json")
    assert chosen.exit_code == 0, chosen.output
    assert as_json(chosen)["runs"][0]["files"][0]["text"]["reason"] == "chosen with --map text=…"
    assert items(db)[-1][1] == "多开网点"


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    run(url, "init")  # only init creates a database named by --db
    return url


def test_id_options_are_checked(tmp_path: Path, db: str) -> None:
    path = daily_survey(tmp_path / "d.csv", 1, rows=2)
    both = run(db, "import", str(path), "--no-id", "--id-column", "序号")
    assert both.exit_code == 2 and "--no-id and --id-column exclude each other" in both.output
    missing = run(db, "import", str(path), "--id-column", "工单号")
    assert missing.exit_code == 2 and "--id-column 工单号: no column '工单号'" in missing.output


def test_report_details_are_redacted(tmp_path: Path, db: str) -> None:
    path = tmp_path / "s.csv"
    path.write_text("客户张三13812345678的投诉汇总\n编号,意见\nA1,转账失败\n", encoding="utf-8")
    result = run(db, "import", str(path), "--json")
    assert "13812345678" not in result.stdout
    assert as_json(result)["runs"][0]["files"][0]["skipped_rows"][0]["text"] == "客户张三[手机号]的投诉汇总"
