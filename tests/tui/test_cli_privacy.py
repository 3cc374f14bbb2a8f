"""No raw personal data at rest or in output (issue 15 §2): real files with personal data
in every column and in the file name, imported through the real CLI into both
databases; then every text column of what a run writes is read back, and every line the
CLI printed, and none holds a mobile, ID, card or account number, e-mail, name or token.
Customers are pseudonymised with the database's key, so the same customer links across
imports (in this process and in the forked helper) and 回访 finds the repeat complaint."""

from __future__ import annotations

import gc
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, text

from bihuan.core import helper
from bihuan.core.config import Settings
from bihuan.core.redaction import digits_of
from bihuan.core.sla import cases, followups
from bihuan.core.sla.cases import CaseContext
from bihuan.core.sla.hooks import CaseHooks
from bihuan.plugins.kit_privacy import STORED_COLUMNS, stored_leaks
from bihuan.storage.engine import create_db_engine
from bihuan.tui.cli import cli

ID18 = "11010519491231002X"
ID15 = "110105491231002"
CARD = "6222021234567890128"
TOKEN = "tok-secret-4711"
#: what must never be stored or printed (digits compared without separators too)
RAW = [
    "13812345678",
    "13912345678",
    "13712345678",
    "13612345678",
    "13512345678",
    "13412345678",
    ID18,
    ID15,
    CARD,
    "622202123456789",  # the 15 digits a spreadsheet keeps of the card
    "6217000012345678901",
    "075512345678",
    "zhangsan",
    "王五@例子.中国",
    "张三",
    "李四",
    TOKEN,
]
RAW_DIGITS = [r for r in RAW if r.isdigit() and len(r) >= 11]

HEADER = "编号,提交时间,满意度评分,您的意见或建议,客户编号,链接,联系电话,证件号,卡号,邮箱,姓名,备注\n"
ROWS = [
    # the id itself is a phone number; every other column holds personal data too
    (
        "13912345678,2026-11-02 09:15,2,"
        '"手机13812345678打不通，座机0755 1234 5678，身份证'
        + ID18
        + "，卡号"
        + CARD
        + '，邮箱zhangsan@example.com，姓名：张三",'
        "138-1234-5678,"
        f"https://crm.example.com/c?phone=13712345678&access_token={TOKEN},"
        "0755 1234 5678," + ID15 + ",账号：6217000012345678901,王五@例子.中国,李四,"
        '"{""13612345678"": 13512345678}"\n'
    ),
    # quarantined: the date is a phone number, and the reason would quote it
    "S2,13412345678,3,网点排队太久,C2,,,,,,,\n",
    # quarantined: a rating out of range, with personal data in the payload
    f"S3,2026-11-03 10:00,9,柜员态度差 {ID18},13812345678,,0755 1234 5678,,,,张三,\n",
]


def write_csv(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text(header + "".join(rows), encoding="utf-8")
    return path


def write_xlsx(path: Path) -> Path:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["编号", "意见", "卡号", "联系电话", "证件号码", "客户号"])
    # numeric cells: a 19-digit card as Excel keeps it (a float of 15 digits), a mobile as an int
    sheet.append(["X1", "ATM吞卡，卡号见附件", float(CARD), 13812345678, float(ID18[:-1] + "1"), 13912345678])
    workbook.save(path)
    return path


def write_jsonl(path: Path) -> Path:
    records = [
        {
            "id": "J1",
            "内容": "转账一直失败",
            "时间": "2026-11-04 08:00",
            "客户": {"手机": 13812345678, "13912345678": "vip"},
        },
        {"id": "J2", "内容": "理财经理很耐心", "时间": "2026-11-05 08:00", "联系人": "张三", "tel": 13612345678},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    return path


def cli_run(db: str, *args: str, outputs: list[str] | None = None) -> Result:
    result = CliRunner().invoke(cli, ["--db", db, *args], catch_exceptions=False)
    # the command froze its objects for the garbage collector (as a process that exits
    # does no harm): let the engine it made go, with its PostgreSQL connections
    gc.unfreeze()
    gc.collect()
    if outputs is not None:
        outputs.append(result.output)
    return result


def raw_in(value: str) -> list[str]:
    """The raw values found in ``value``, also with separators ignored."""
    digits = digits_of(value)
    return [r for r in RAW if r in value] + [r for r in RAW_DIGITS if r in digits and r not in value]


def stored_cells(engine: Engine) -> list[tuple[str, str]]:
    """``(table.column, text)`` of every text column a collector run writes."""
    cells = []
    with engine.connect() as conn:
        for table, columns in STORED_COLUMNS.items():
            for row in conn.execute(text(f"SELECT {', '.join(columns)} FROM {table}")):
                for column, value in zip(columns, row, strict=True):
                    if value is not None:
                        value = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                        if column in ("extra", "config", "state") and value.startswith(("{", "[")):
                            value = json.dumps(json.loads(value), ensure_ascii=False)
                        cells.append((f"{table}.{column}", value))
    return cells


def test_personal_data_in_every_column_and_file_name_is_never_stored_or_printed(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    outputs: list[str] = []
    survey = write_csv(tmp_path / "客户13812345678投诉.csv", ROWS)
    imported = cli_run(db_url, "import", str(survey), "--json", outputs=outputs)
    assert imported.exit_code == 3, imported.output
    report = json.loads(imported.stdout)
    assert (report["read"], report["new"], report["quarantined"]) == (3, 1, 2)
    assert cli_run(db_url, "import", str(survey), outputs=outputs).exit_code == 3  # re-imported: nothing new
    assert (
        cli_run(db_url, "import", str(write_xlsx(tmp_path / "卡号6222021234567890128.xlsx")), outputs=outputs).exit_code
        == 0
    )
    assert cli_run(db_url, "import", str(write_jsonl(tmp_path / "weibo.jsonl")), outputs=outputs).exit_code == 0
    # a header the run's error quotes: every header holds personal data, none is a text column
    headless = write_csv(tmp_path / "h.csv", ["1,2\n"], header="13812345678,张三@例子.中国\n")
    failed = cli_run(db_url, "import", str(headless), outputs=outputs)
    assert failed.exit_code == 2 and "no text column" in failed.output

    for args in (
        ("runs",),
        ("runs", "--json"),
        ("quarantine", "list"),
        ("quarantine", "list", "--json"),
        ("quarantine", "show", "1"),
        ("quarantine", "show", "2", "--json"),
        ("privacy", "status"),
    ):
        result = cli_run(db_url, *args, outputs=outputs)
        assert result.exit_code == 0, (args, result.output)

    leaks = [(where, found) for where, cell in stored_cells(engine) if (found := raw_in(cell))]
    assert leaks == []
    assert stored_leaks(engine, [TOKEN]) == []
    printed = [found for output in outputs if (found := raw_in(output))]
    assert printed == []

    with engine.connect() as conn:
        item = conn.execute(
            text(
                "SELECT source, external_id, customer_ref, url, extra, text FROM feedback_item WHERE text LIKE '%打不通%'"
            )
        ).one()
        [reason] = conn.execute(text("SELECT reason FROM quarantined_record WHERE field = 'created_at'")).scalars()
        [state_name] = conn.execute(
            text("SELECT collector FROM collector_state WHERE collector LIKE '%客户%'")
        ).scalars()
        items = conn.execute(text("SELECT count(*) FROM feedback_item")).scalar()
    # what is kept is still useful: stable pseudonyms where values are compared, tokens elsewhere
    assert item.source.startswith("客户[手机号 ") and item.source.endswith("]投诉")
    assert item.external_id.startswith("[手机号 ") and item.customer_ref.startswith("cref:")
    assert item.url == "https://crm.example.com/c?phone=[手机号]&access_token=***"
    extra = item.extra if isinstance(item.extra, dict) else json.loads(item.extra)
    assert extra["联系电话"] == "[电话]" and extra["证件号"] == "[身份证号]" and extra["姓名"] == "[姓名]"
    assert extra["卡号"] == "账号：[账号]" and extra["邮箱"] == "[邮箱]"
    assert "姓名：[姓名]" in item.text and "[银行卡号]" in item.text and "[电话]" in item.text
    assert reason == "invalid date '[手机号]'"
    assert state_name == f"import:{item.source}"
    assert items == 4  # the survey's row, the spreadsheet's, the two JSON lines


def test_the_same_customer_links_across_imports_and_the_helper_process(
    db_url: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two imports, the second prepared in the forked helper, the customer written two
    ways: one pseudonym, and 回访 sees the second contact as a repeat complaint."""
    now = datetime.now().astimezone()
    first_at, second_at, resolved_at = now - timedelta(days=5), now - timedelta(days=2), now - timedelta(days=4)
    header = "工单号,创建时间,投诉内容,评分,客户手机\n"
    first = write_csv(
        tmp_path / "工单_一.csv", [f"T1,{first_at:%Y-%m-%d %H:%M},信用卡年费乱扣,1,13812345678\n"], header
    )
    second = write_csv(
        tmp_path / "工单_二.csv", [f"T9,{second_at:%Y-%m-%d %H:%M},年费还是没退,1,+86 138-1234-5678\n"], header
    )
    # the customer is known by the mobile number, as in many bank systems
    options = ("--channel", "ticket", "--map", "customer_ref=客户手机")
    assert cli_run(db_url, "import", str(first), *options).exit_code == 0

    forks: list[Any] = []
    original = helper.HelperBatches.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        forks.append(args)
        original(self, *args, **kwargs)

    monkeypatch.setattr(helper.HelperBatches, "__init__", counting)
    monkeypatch.setenv("BIHUAN_HELPER_PROCESS", "always")
    assert cli_run(db_url, "import", str(second), *options).exit_code == 0
    assert len(forks) == 1, "the second import was prepared in the helper process"

    with engine.connect() as conn:
        refs = dict(conn.execute(text("SELECT external_id, customer_ref FROM feedback_item")).all())
        first_id = conn.execute(text("SELECT id FROM feedback_item WHERE external_id = 'T1'")).scalar_one()
    assert refs["T1"] == refs["T9"] and refs["T1"].startswith("cref:") and "13812345678" not in refs["T1"]

    settings = Settings()
    ctx = CaseContext(zone=settings.bihuan.zone, sla=settings.sla, followup=settings.followup, hooks=CaseHooks())
    cases.open_new_cases(engine, ctx, now=first_at + timedelta(hours=1))
    cases.resolve(engine, ctx, first_id, actor="王", now=resolved_at)
    [repeat] = followups.repeat_complaints(engine, ctx, days=30, now=now)
    assert (repeat.item_id, repeat.customer_ref) == (first_id, refs["T1"])
    assert repeat.repeat_text == "年费还是没退"


def test_a_database_from_before_is_pseudonymised_when_the_cli_upgrades_it(tmp_path: Path) -> None:
    """A database at the revision before pseudonyms, with raw rows: the first command
    upgrades it and pseudonymises every row with the new key, in one transaction; a
    re-import of the same file then finds its rows."""
    from alembic import command

    from bihuan.storage.migrate import alembic_config

    path = tmp_path / "old.db"
    db = f"sqlite:///{path}"
    old = create_db_engine(db)
    cfg = alembic_config()
    with old.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0010")
    survey = write_csv(
        tmp_path / "s.csv", ["13912345678,2026-11-02 09:15,2,手机13812345678打不通,138-1234-5678,,,,,,,\n"]
    )
    now = "2026-11-02 01:15:00"
    with old.begin() as conn:
        run_id = conn.execute(
            text(
                "INSERT INTO collector_run (collector, collector_type, source, config, status, started_at, "
                "heartbeat_at, read, new, updated, duplicates, quarantined, error_message) VALUES "
                "('import:s', 'csv', 's', :config, 'failed', :now, :now, 1, 1, 0, 0, 1, :error) RETURNING id"
            ),
            {
                "config": json.dumps({"paths": [str(survey)], "base_url": f"https://x.example.com/?token={TOKEN}"}),
                "now": now,
                "error": "no text column; headers are ['13812345678']",
            },
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO feedback_item (source, external_id, channel, text, customer_ref, created_at, url, "
                "extra, content_hash, collected_at, updated_at, run_id, origin) VALUES ('s', '13912345678', "
                "'survey', '手机[手机号]打不通，座机010-12345678', '13812345678', :now, "
                ":url, :extra, 'h', :now, :now, :run, '客户13812345678.csv row 2')"
            ),
            {
                "now": now,
                "url": f"https://crm.example.com/c?phone=13712345678&access_token={TOKEN}",
                "extra": json.dumps({"卡号": "6217000012345678901"}),
                "run": run_id,
            },
        )
        conn.execute(
            text(
                "INSERT INTO quarantined_record (collector, collector_type, source, location, reason, payload, "
                "payload_hash, external_id, run_id, status, created_at) VALUES ('import:s', 'csv', 's', "
                "'s.csv row 3', 'invalid date ''13412345678''', :payload, 'p', NULL, :run, 'open', :now)"
            ),
            {
                "payload": json.dumps({"提交时间": "13412345678", "姓名": "张三"}, ensure_ascii=False),
                "run": run_id,
                "now": now,
            },
        )
        conn.execute(
            text(
                "INSERT INTO collector_state (collector, collector_type, state, updated_at) VALUES (:c, 'csv', :s, :now)"
            ),
            {
                "c": "import:客户13812345678",
                "s": json.dumps({"next": f"https://x.example.com/?access_token={TOKEN}"}),
                "now": now,
            },
        )
    old.dispose()

    assert cli_run(db, "runs").exit_code == 0  # any command upgrades, and protects the rows
    engine = create_db_engine(db)
    leaks = [(where, found) for where, cell in stored_cells(engine) if (found := raw_in(cell))]
    assert leaks == []
    with engine.connect() as conn:
        item = conn.execute(text("SELECT external_id, customer_ref, text FROM feedback_item")).one()
    assert item.external_id.startswith("[手机号 ") and item.customer_ref.startswith("cref:")
    assert item.text == "手机[手机号]打不通，座机[电话]"  # redacted again with today's rules
    # the file imported again finds the row stored before the upgrade
    again = cli_run(db, "import", str(survey), "--source", "s", "--json")
    assert json.loads(again.stdout)["new"] == 0, again.output
    with engine.connect() as conn:
        refs = conn.execute(text("SELECT DISTINCT customer_ref FROM feedback_item")).scalars().all()
    assert refs == [item.customer_ref]
    engine.dispose()


def test_the_key_is_created_by_the_first_import_not_by_opening_the_database(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'new.db'}"
    keys = Path.cwd() / "keys"  # the test's BIHUAN_HOME is its working directory
    assert cli_run(db, "init").exit_code == 0 and cli_run(db, "runs").exit_code == 0
    assert not keys.exists()  # a reading host never gets a key it would have to share
    status = cli_run(db, "privacy", "status", "--json")
    assert json.loads(status.stdout)["database_key_fingerprint"] is None
    survey = write_csv(tmp_path / "s.csv", ["A1,2026-11-02 09:15,2,网点排队太久,C1,,,,,,,\n"])
    assert cli_run(db, "import", str(survey)).exit_code == 0
    [key] = keys.glob("*.key")
    status = json.loads(cli_run(db, "privacy", "status", "--json").stdout)
    assert status["ok"] and status["key_source"] == str(key) and status["database_key_fingerprint"]
