"""Reading a generated demo data set back with its ground truth, for evaluation.

Tests and benchmarks measure analysis quality (sentiment, taxonomy, grouping) against the
hidden truth the generator writes to ``ground_truth.json``; this reads the four export
files as written (independently of the collectors) and pairs each text with its truth.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bihuan.core.demo_data.model import GROUND_TRUTH_FILE, HOTLINE_FILE, SOCIAL_FILE, SURVEY_FILE, TICKETS_FILE


@dataclass(frozen=True, slots=True)
class DemoText:
    """One importable demo item: its id, text and ground truth (``cause``, ``topic``,
    ``sentiment``, ``week``, ``source`` … as in ``ground_truth.json``)."""

    external_id: str
    text: str
    truth: dict[str, Any]


def read_demo_texts(directory: Path) -> list[DemoText]:
    """Every importable item of the demo set in ``directory`` with a text: broken rows,
    empty texts and exact duplicate rows left out, in file order (survey, hotline,
    social, tickets)."""
    import openpyxl  # only needed here; the import path of bihuan stays light

    directory = Path(directory)
    truth = json.loads((directory / GROUND_TRUTH_FILE).read_text(encoding="utf-8"))
    rows: list[tuple[object, object]] = []
    with open(directory / SURVEY_FILE, encoding="gbk", newline="") as f:
        rows += [(r.get("编号"), r.get("您的意见或建议")) for r in csv.DictReader(f)]
    with open(directory / HOTLINE_FILE, encoding="utf-8-sig", newline="") as f:
        rows += [(r.get("记录编号"), r.get("通话摘要")) for r in csv.DictReader(f)]
    with open(directory / SOCIAL_FILE, encoding="utf-8") as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a deliberately broken line
            if isinstance(record, dict):
                rows.append((record.get("id"), record.get("帖子内容")))
    book = openpyxl.load_workbook(directory / TICKETS_FILE, read_only=True)
    sheet_rows = book.active.iter_rows(values_only=True)
    header = list(next(sheet_rows))
    key, text_column = header.index("工单号"), header.index("投诉内容")
    rows += [(r[key], r[text_column]) for r in sheet_rows]
    book.close()
    out: list[DemoText] = []
    seen: set[str] = set()
    for key, text in rows:
        if not isinstance(key, str) or not isinstance(text, str) or not text.strip() or key in seen:
            continue
        gt = truth.get(key)
        if gt is None or gt.get("broken"):
            continue
        seen.add(key)
        out.append(DemoText(key, text.strip(), gt))
    return out
