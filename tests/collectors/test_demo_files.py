"""The demo data set (``bihuan demo``) read through the matching collectors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bihuan.collectors.files import CsvCollector, JsonlCollector, XlsxCollector

#: which field each deliberately broken kind of row is quarantined on
BROKEN_FIELD = {
    "empty_text": "text",
    "invalid_date": "created_at",
    "rating_out_of_range": "rating",
    "nps_out_of_range": "nps",
    "ragged_row": None,
    "invalid_json": None,
    "json_not_object": None,
}


def test_demo_files_read_as_the_manifest_says(tmp_path: Path, collect) -> None:
    from bihuan.core.demo_data import generate_demo_dataset

    manifest = generate_demo_dataset(tmp_path, weeks=6)
    collectors = {"csv": CsvCollector(), "xlsx": XlsxCollector(), "jsonl": JsonlCollector()}
    assert {f.collector for f in manifest.import_files} == set(collectors)
    for demo in manifest.import_files:
        out = collect(collectors[demo.collector], demo.path, channel=demo.channel)
        items, bad = out.items, out.bad
        assert len(items) + len(bad) == demo.rows, demo.name
        assert len(bad) == demo.broken, (demo.name, Counter((b.field, b.reason) for b in bad))
        assert len({i.external_id for i in items}) == demo.items, demo.name
        assert len(items) == demo.items + demo.duplicates, demo.name
        expected_fields = Counter()
        for kind, count in demo.broken_reasons.items():
            expected_fields[BROKEN_FIELD[kind]] += count
        assert Counter(b.field for b in bad) == expected_fields, demo.name
        assert all(b.location and b.location.startswith(demo.path.name) for b in bad)
        # every item is complete: the mapping found the id, the time and the text
        assert all(i.created_at is not None and i.text for i in items), demo.name
        assert not any(i.external_id.startswith("h:") for i in items), demo.name
        assert all(i.channel == demo.channel for i in items), demo.name


def test_demo_columns_land_in_the_right_fields(tmp_path: Path, collect) -> None:
    from bihuan.core.demo_data import generate_demo_dataset

    manifest = generate_demo_dataset(tmp_path, weeks=6)
    by_name = {f.path.name: f for f in manifest.import_files}

    survey = collect(CsvCollector(), by_name["survey_responses.csv"].path).items
    assert all(i.rating is not None and i.nps is not None for i in survey)
    assert any(i.customer_ref for i in survey)  # anonymous answers have none
    assert {k for i in survey for k in (i.extra or {})} <= {"网点"}

    hotline = collect(CsvCollector(), by_name["hotline_records.csv"].path).items
    assert {i.rating for i in hotline} - {None} <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert any(i.rating is not None for i in hotline)

    social = collect(JsonlCollector(), by_name["social_mentions.jsonl"].path).items
    assert all(i.url and i.url.startswith("https://") for i in social)
    assert {k for i in social for k in (i.extra or {})} <= {"作者", "channel_raw"}

    tickets = collect(XlsxCollector(), by_name["complaint_tickets.xlsx"].path).items
    assert any(i.customer_ref for i in tickets)
    assert all(set(i.extra or {}) <= {"处理状态", "业务类型"} for i in tickets)



def test_the_demo_is_the_same_whatever_day_it_is_made(tmp_path: Path) -> None:
    """Every day of a week makes the same files; a later week the same records, weeks later."""
    import json
    from datetime import date

    from bihuan.core.demo_data import demo_end, generate_demo_dataset

    monday, sunday, later = date(2026, 11, 30), date(2026, 12, 6), date(2027, 3, 3)
    assert demo_end(monday) == demo_end(sunday) == demo_end(date(2026, 12, 2))
    assert demo_end(monday).isoformat() == "2026-11-29T16:00:00+00:00"  # Monday 00:00 in China
    made = {day: generate_demo_dataset(tmp_path / day.isoformat(), now=demo_end(day)) for day in (monday, sunday, later)}
    for demo_file in made[monday].files:
        twin = tmp_path / sunday.isoformat() / demo_file.name
        assert demo_file.path.read_bytes() == twin.read_bytes(), demo_file.name

    def records(day: date) -> list[dict]:
        truth = json.loads(made[day].ground_truth.read_text(encoding="utf-8"))
        return list(truth.values())  # the ids carry the date; what each record is does not

    assert records(later) == records(monday)
    assert [f.to_dict()["items"] for f in made[later].files] == [f.to_dict()["items"] for f in made[monday].files]
