"""A stray quote in a CSV export: the broken row is quarantined, every other row is read
as the row it is — counted exactly, through the real pipeline, in this process and in
the forked helper, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from bihuan.collectors import csv_reader
from bihuan.collectors.base import fingerprint
from bihuan.collectors.files import CsvCollector


def survey(path: Path, rows: int, special: dict[int, str], *, encoding: str = "utf-8", newline: str = "\n") -> Path:
    """``编号,意见,评分`` rows 1..rows (ids ``T1``…: ids that count rows would not be keys); row ``i`` in ``special`` gets that text cell as written."""
    lines = ["编号,意见,评分"]
    for i in range(1, rows + 1):
        lines.append(f"T{i},{special.get(i, expected_text(i))},{1 + i % 5}")
    path.write_bytes((newline.join(lines) + newline).encode(encoding))
    return path


def expected_text(i: int) -> str:
    return f"第{i}条：手机银行转账一直转圈"


def test_a_stray_quote_in_a_300_row_file_quarantines_one_row_and_keeps_299(tmp_path: Path, store) -> None:
    path = survey(tmp_path / "survey.csv", 300, {102: '"网点排队太久'}, encoding="gbk", newline="\r\n")
    stored = store(CsvCollector(), path)
    report = stored.report
    assert (report.status, report.read, report.new, report.quarantined) == ("succeeded", 300, 299, 1)
    assert stored.items == {f"T{i}": expected_text(i) for i in range(1, 301) if i != 102}
    [(location, field, reason)] = stored.quarantine
    assert (location, field) == ("survey.csv row 103", "text")  # the header is row 1
    assert reason.startswith("unterminated quote: the quoted cell in column '意见' does not close on this row")
    assert "the next 198 lines" in reason


def test_a_stray_quote_near_the_top_of_a_10k_row_file_does_not_swallow_the_rest(tmp_path: Path, store) -> None:
    # no later quote: the open cell would run to the end of the file (the reader judges
    # it after RUNAWAY_LINES lines instead of holding the rest of the file)
    path = survey(tmp_path / "big.csv", 10_000, {100: '"他说太慢'})
    stored = store(CsvCollector(), path, checkpoint_every=700)
    report = stored.report
    assert (report.read, report.new, report.quarantined) == (10_000, 9_999, 1)
    assert len(stored.items) == 9_999 and stored.items["T101"] == expected_text(101)
    assert stored.items["T10000"] == expected_text(10_000)
    [(location, field, reason)] = stored.quarantine
    assert (location, field) == ("big.csv row 101", "text")
    assert f"more than {csv_reader.RUNAWAY_LINES:,} lines" in reason


def test_a_stray_quote_closed_by_a_later_quoted_cell(tmp_path: Path, store) -> None:
    """The stray quote closes at the opening quote of a real quoted cell 8 rows down; a
    quoted cell with a real line break further down is still one cell."""
    special = {102: '"有个引号', 110: '"有逗号, 也有引号""没问题"""', 200: '"两行的\r\n意见, 是真的"'}
    path = survey(tmp_path / "s.csv", 300, special)
    stored = store(CsvCollector(), path)
    assert (stored.report.read, stored.report.new, stored.report.quarantined) == (300, 299, 1)
    assert stored.items["T110"] == '有逗号, 也有引号"没问题"'
    assert stored.items["T200"] == "两行的\r\n意见, 是真的"
    assert "T101" in stored.items and "T103" in stored.items and "T102" not in stored.items
    [(location, _, reason)] = stored.quarantine
    assert location == "s.csv row 103" and "the next 8 lines" in reason


def test_several_stray_quotes_each_cost_one_row(tmp_path: Path, store) -> None:
    broken = {7: '"a', 50: '"b', 51: '"c', 1_500: '"d', 2_999: '"e'}
    path = survey(tmp_path / "s.csv", 3_000, broken)
    stored = store(CsvCollector(), path, checkpoint_every=400)
    assert (stored.report.read, stored.report.new, stored.report.quarantined) == (3_000, 2_995, 5)
    assert sorted(stored.items, key=lambda k: int(k[1:])) == [f"T{i}" for i in range(1, 3_001) if i not in broken]
    assert [q[0] for q in stored.quarantine] == [f"s.csv row {i + 1}" for i in sorted(broken)]


def test_real_multi_line_cells_are_never_split(tmp_path: Path, store) -> None:
    """Cells with line breaks (one with more lines than the runaway limit, one of
    prose with commas) stay one cell each: their quotes close properly."""
    poem = "\n".join(f"第{n}行" for n in range(csv_reader.RUNAWAY_LINES + 200))
    prose = "第一句, 第二句\n第三句, 第四句\n结束"
    path = survey(tmp_path / "m.csv", 40, {5: f'"{poem}"', 30: f'"{prose}"'})
    stored = store(CsvCollector(), path)
    assert (stored.report.read, stored.report.new, stored.report.quarantined) == (40, 40, 0)
    assert stored.items["T5"] == poem and stored.items["T30"] == prose


def test_a_long_unclosed_cell_of_prose_is_kept_as_read(tmp_path: Path, collect) -> None:
    """An open quote followed by lines that are not rows (a truncated export's last
    cell): nothing to re-read, so it is read as csv always read it."""
    tail = "\n".join(f"没写完的第{n}行" for n in range(csv_reader.RUNAWAY_LINES + 10))
    path = tmp_path / "t.csv"
    path.write_text(f'编号,意见\n1,好\n2,"{tail}\n', encoding="utf-8")
    out = collect(CsvCollector(), path)
    assert [i.text for i in out.items] == ["好", tail]


@pytest.mark.parametrize("rows_done", [0, 99, 101, 150, 1_400])
def test_resuming_after_a_stray_quote_reads_the_same_rows(tmp_path: Path, collect, rows_done: int) -> None:
    path = survey(tmp_path / "r.csv", 2_000, {100: '"坏'})
    state = {"files": {str(path.resolve()): {"fingerprint": fingerprint(path), "rows_done": rows_done}}}
    out = collect(CsvCollector(), path, state=state)
    expected = [f"T{i}" for i in range(rows_done + 1, 2_001) if i != 100]
    assert [i.external_id for i in out.items] == expected
    assert [b.location for b in out.bad] == (["r.csv row 101"] if rows_done < 100 else [])


@pytest.mark.parametrize(
    ("body", "texts"),
    [
        # every line ending in one file, and CRLF inside a quoted cell
        ('编号,意见\r\n1,一\r2,二\n3,"三\r\n行"\r\n4,四\r', ["一", "二", "三\r\n行", "四"]),
        ("编号,意见\r1,一\r2,二\r", ["一", "二"]),  # old Mac line ends only
        ("编号,意见\n1,一\n\n\r\n2,二", ["一", "二"]),  # blank lines of each kind, no final newline
    ],
)
def test_mixed_line_endings(tmp_path: Path, store, body: str, texts: list[str]) -> None:
    path = tmp_path / "le.csv"
    path.write_bytes(body.encode("utf-8"))
    stored = store(CsvCollector(), path)
    assert stored.report.quarantined == 0
    # 编号 counts the rows here, so it is no key: the items are known by their content
    assert sorted(stored.items.values()) == sorted(texts)
