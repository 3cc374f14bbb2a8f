"""File names that are not text: GBK bytes from a Windows archive, control characters.
Every kind of file imports, and what is stored (locations, the resume state) is text."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bihuan.collectors.base import fingerprint
from bihuan.collectors.files import CsvCollector, JsonlCollector, XlsxCollector
from bihuan.core.printable import printable_name, storable_text


def gbk_named(directory: Path, name: str) -> Path:
    return Path(os.fsdecode(os.fsencode(directory) + b"/" + name.encode("gbk")))


def test_gbk_named_files_of_every_kind_import_with_printable_locations(tmp_path: Path, store) -> None:
    csv_path = gbk_named(tmp_path, "问卷调查.csv")
    csv_path.write_text("编号,意见,评分\n1,好,5\n2,坏,9\n3,一般,3\n4,还行,4\n5,不错,5\n", encoding="gbk")
    jsonl_path = gbk_named(tmp_path, "微博舆情.jsonl")
    jsonl_path.write_text('{"id": "w1", "text": "转账慢"}\n{"id": "w2"}\n', encoding="utf-8")
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "工单"
    for row in (["工单号", "投诉内容"], ["T1", "排队太久"], ["T2", None]):
        book.active.append(row)
    xlsx_path = gbk_named(tmp_path, "投诉工单.xlsx")
    book.save(xlsx_path)

    # a checkpoint every two rows: the state (keyed by the file) is stored mid-file
    stored = store(CsvCollector(), csv_path, checkpoint_every=2)
    assert (stored.report.status, stored.report.new, stored.report.quarantined) == ("succeeded", 4, 1)
    assert stored.quarantine == [("问卷调查.csv row 3", "rating", "rating 9 outside 0..5")]
    stored = store(JsonlCollector(), jsonl_path)
    assert stored.quarantine[-1][0] == "微博舆情.jsonl line 2"
    stored = store(XlsxCollector(), xlsx_path)
    assert stored.quarantine[-1][:2] == ("投诉工单.xlsx sheet 工单 row 3", "text")


def test_the_resume_state_of_a_gbk_named_file_is_text_and_still_resumes(tmp_path: Path, collect) -> None:
    path = gbk_named(tmp_path, "问卷.csv")
    path.write_text("编号,意见\n" + "".join(f"R{i},第{i}条\n" for i in range(10)), encoding="utf-8")
    out = collect(CsvCollector(), path, checkpoint_every=4)
    keys = [key for state in out.checkpoints for key in state["files"]]
    assert keys and set(keys) == {str(tmp_path / "问卷.csv")}
    json.dumps(out.checkpoints).encode("utf-8")  # storable
    state = {"files": {str(tmp_path / "问卷.csv"): {"fingerprint": fingerprint(path), "rows_done": 6}}}
    assert [i.external_id for i in collect(CsvCollector(), path, state=state).items] == ["R6", "R7", "R8", "R9"]


def test_printable_names_and_storable_text() -> None:
    escaped = os.fsdecode("/导出/".encode() + "客户意见.csv".encode("gbk"))
    assert printable_name(escaped) == "/导出/客户意见.csv"
    assert printable_name(os.fsdecode(b"/x/\xff\xfe.csv")) == "/x/\\xff\\xfe.csv"
    assert printable_name("a\x1b[2J\rb\n.csv") == "a\\x1b[2J\\x0db\\x0a.csv"
    assert printable_name("line one\n\tline two", lines=True) == "line one\n\tline two"
    assert printable_name("普通的名字.csv") == "普通的名字.csv"
    assert storable_text("bad \udcff byte, half \ud83d emoji") == "bad \\xff byte, half \\ud83d emoji"
