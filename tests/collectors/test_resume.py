"""Checkpoints and resume state of the file collectors."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bihuan.collectors.base import fingerprint
from bihuan.collectors.files import CsvCollector, JsonlCollector, XlsxCollector
from bihuan.core.types import Checkpoint, ReadInfo


def numbered_csv(path: Path, rows: int, word: str = "第") -> Path:
    path.write_text("id,text\n" + "".join(f"{i},{word}{i}条\n" for i in range(rows)), encoding="utf-8")
    return path


def test_checkpoints_every_n_records_and_a_finished_file_leaves_the_state(tmp_path: Path, collect) -> None:
    path = numbered_csv(tmp_path / "r.csv", 10)
    out = collect(CsvCollector(), path, checkpoint_every=4)
    key = str(path.resolve())
    stamp = fingerprint(path)
    assert out.checkpoints == [
        {"files": {key: {"fingerprint": stamp, "rows_done": 4}}},
        {"files": {key: {"fingerprint": stamp, "rows_done": 8}}},
        {"files": {}},
    ]
    # every checkpoint sits right after the records it covers
    kinds = ["C" if isinstance(o, Checkpoint) else "R" if isinstance(o, ReadInfo) else "I" for o in out.all]
    assert "".join(kinds) == "RIIIICIIIICIIC", "how the file is read comes before its first record"
    size, mtime, head = stamp.split(":")
    assert int(size) == path.stat().st_size and int(mtime) == path.stat().st_mtime_ns and len(head) == 32


def test_states_are_new_objects_each_time(tmp_path: Path, collect) -> None:
    out = collect(CsvCollector(), numbered_csv(tmp_path / "r.csv", 9), checkpoint_every=3)
    first, second = out.checkpoints[0], out.checkpoints[1]
    assert first is not second and first["files"] is not second["files"]
    assert next(iter(first["files"].values()))["rows_done"] == 3, "later checkpoints do not change earlier ones"
    json.dumps(out.checkpoints)  # storable as JSON


def test_resume_skips_committed_records(tmp_path: Path, collect) -> None:
    path = numbered_csv(tmp_path / "r.csv", 10)
    state = collect(CsvCollector(), path, checkpoint_every=4).checkpoints[0]
    resumed = collect(CsvCollector(), path, state=state, checkpoint_every=4, id_column="id")
    assert [i.external_id for i in resumed.items] == [str(i) for i in range(4, 10)]
    assert [c["files"].get(str(path), {}).get("rows_done") for c in resumed.checkpoints] == [8, None]


def test_resume_keeps_row_numbers_and_counts_bad_and_blank_records(tmp_path: Path, collect) -> None:
    path = tmp_path / "b.csv"
    path.write_text("id,text,rating\n1,a,1\n\n2,b,9\n3,c,1\n4,d,9\n", encoding="utf-8")
    state = collect(CsvCollector(), path, checkpoint_every=3).checkpoints[0]
    assert next(iter(state["files"].values()))["rows_done"] == 3
    resumed = collect(CsvCollector(), path, state=state, id_column="id")
    assert [i.external_id for i in resumed.items] == ["3"]
    assert [b.location for b in resumed.bad] == ["b.csv row 6"]


def test_a_changed_file_is_read_from_the_top(tmp_path: Path, collect) -> None:
    path = numbered_csv(tmp_path / "r.csv", 10)
    state = collect(CsvCollector(), path, checkpoint_every=4).checkpoints[0]
    numbered_csv(path, 10, word="改过的第")
    restarted = collect(CsvCollector(), path, state=state, checkpoint_every=4)
    assert len(restarted.items) == 10 and restarted.items[0].text == "改过的第0条"


def test_a_touched_file_is_read_from_the_top(tmp_path: Path, collect) -> None:
    path = numbered_csv(tmp_path / "r.csv", 10)
    state = collect(CsvCollector(), path, checkpoint_every=4).checkpoints[0]
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert len(collect(CsvCollector(), path, state=state).items) == 10


def test_other_files_in_the_state_are_kept(tmp_path: Path, collect) -> None:
    a, b = numbered_csv(tmp_path / "a.csv", 5), numbered_csv(tmp_path / "b.csv", 5)
    elsewhere = {"fingerprint": "1:2:3", "rows_done": 7}
    state = {"files": {"/somewhere/else.csv": elsewhere}}
    out = collect(CsvCollector(), [a, b], state=state, checkpoint_every=3)
    assert out.checkpoints[-1] == {"files": {"/somewhere/else.csv": elsewhere}}
    assert len(out.items) == 10
    # while b is read, a is finished and no longer in the state
    mid_b = [c for c in out.checkpoints if str(b) in c["files"]]
    assert mid_b and all(str(a) not in c["files"] for c in mid_b)


def test_resume_a_second_file_after_the_first_finished(tmp_path: Path, collect) -> None:
    a, b = numbered_csv(tmp_path / "a.csv", 3), numbered_csv(tmp_path / "b.csv", 6)
    out = collect(CsvCollector(), [a, b], checkpoint_every=4)
    state = next(c for c in out.checkpoints if str(b) in c["files"])
    resumed = collect(CsvCollector(), [a, b], state=state, checkpoint_every=4, id_column="id")
    # a is read again (the pipeline counts duplicates), b from where it was
    assert [i.external_id for i in resumed.items] == ["0", "1", "2", "4", "5"]


def test_xlsx_and_jsonl_resume_too(tmp_path: Path, collect) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["工单号", "投诉内容"])
    for i in range(7):
        sheet.append([f"T{i}", f"投诉{i}"])
    xlsx = tmp_path / "t.xlsx"
    workbook.save(xlsx)
    state = collect(XlsxCollector(), xlsx, checkpoint_every=5).checkpoints[0]
    assert [i.external_id for i in collect(XlsxCollector(), xlsx, state=state).items] == ["T5", "T6"]

    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("".join(json.dumps({"id": i, "text": f"帖子{i}"}) + "\n" for i in range(7)), encoding="utf-8")
    state = collect(JsonlCollector(), jsonl, checkpoint_every=5).checkpoints[0]
    assert [i.external_id for i in collect(JsonlCollector(), jsonl, state=state).items] == ["5", "6"]


def test_a_state_past_the_end_yields_nothing_more(tmp_path: Path, collect) -> None:
    path = numbered_csv(tmp_path / "r.csv", 3)
    state = {"files": {str(path): {"fingerprint": fingerprint(path), "rows_done": 99}}}
    out = collect(CsvCollector(), path, state=state)
    assert out.items == [] and out.checkpoints == [{"files": {}}]
