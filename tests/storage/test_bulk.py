"""The bulk upsert path: one row per (source, external_id), first-seen time kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from bihuan.storage import bulk, queries
from bihuan.storage.engine import session_scope

T0 = datetime(2026, 10, 1, 8, 30, tzinfo=UTC)


def row(external_id: str, text: str, digest: str, *, source: str = "survey") -> tuple:
    return (source, external_id, "survey", text, 4.0, 9, "C001", T0, None, {"网点": "朝阳支行"}, digest)


def test_insert_then_update_keeps_first_seen_time(engine: Engine) -> None:
    first = T0 + timedelta(days=1)
    with session_scope(engine, write=True) as session:
        bulk.upsert_items(
            [row("1", "转账一直失败", "a"), row("2", "服务很好", "b")], run_id=None, now=first, session=session
        )
    later = first + timedelta(hours=5)
    with session_scope(engine, write=True) as session:
        bulk.upsert_items([row("1", "转账一直失败，已解决", "c")], run_id=None, now=later, session=session)
    with session_scope(engine) as session:
        assert queries.count_items(session=session) == 2
        item = queries.get_item("survey", "1", session=session)
        assert item is not None
        assert item.text == "转账一直失败，已解决"
        assert item.content_hash == "c"
        assert item.collected_at == first
        assert item.updated_at == later
        assert item.created_at == T0
        assert item.extra == {"网点": "朝阳支行"}


def test_same_external_id_in_other_source_is_another_item(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        bulk.upsert_items(
            [row("1", "a", "a"), row("1", "b", "b", source="hotline")], run_id=None, now=T0, session=session
        )
    with session_scope(engine) as session:
        assert queries.count_items(session=session) == 2
        assert bulk.existing_hashes("hotline", ["1", "2"], session=session) == {"1": "b"}


def test_existing_hashes_handles_more_ids_than_one_statement_takes(engine: Engine) -> None:
    rows = [row(str(i), f"text {i}", f"h{i}") for i in range(12_000)]
    with session_scope(engine, write=True) as session:
        bulk.upsert_items(rows, run_id=None, now=T0, session=session)
    with session_scope(engine) as session:
        found = bulk.existing_hashes("survey", [str(i) for i in range(13_000)], session=session)
    assert len(found) == 12_000
    assert found["11999"] == "h11999"


def test_sqlite_timestamps_are_the_text_sqlalchemy_writes() -> None:
    import random
    from datetime import timezone
    from zoneinfo import ZoneInfo

    from sqlalchemy.dialects import sqlite

    from bihuan.storage.models import FeedbackItem

    dialect = sqlite.dialect()
    outer = FeedbackItem.__table__.c.created_at.type.bind_processor(dialect)  # type: ignore[attr-defined]
    inner = sqlite.DATETIME().bind_processor(dialect)
    zones = [UTC, ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York"), timezone(timedelta(hours=-3, minutes=-30))]
    rng = random.Random(4)
    for _ in range(5_000):
        value = datetime(1901, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(250 * 365 * 86400), microseconds=rng.choice([0, rng.randrange(1_000_000)])
        )
        value = value.astimezone(rng.choice(zones))
        assert bulk._sqlite_datetime(value) == inner(outer(value))
    with pytest.raises(ValueError, match="naive"):
        bulk._sqlite_datetime(datetime(2026, 1, 1))


def test_lookups_find_ids_exactly_whatever_they_hold(engine: Engine) -> None:
    odd = ["引号'和\"双引号", "back\\slash", "tab\tand\nnewline", "\\u0000", "emoji 😀", "x" * 300]
    if engine.dialect.name == "sqlite":
        odd.append("nul\x00byte")  # PostgreSQL text cannot hold NUL
    with session_scope(engine, write=True) as session:
        bulk.upsert_items([row(i, "t", f"h{n}") for n, i in enumerate(odd)], run_id=None, now=T0, session=session)
    with session_scope(engine) as session:
        assert bulk.existing_hashes("survey", [*odd, "absent"], session=session) == {
            i: f"h{n}" for n, i in enumerate(odd)
        }


def test_changed_hashes_leaves_out_duplicates_and_keeps_the_order(engine: Engine) -> None:
    # stored: ids 0..11,999 of "survey" with hash h<i>, and id 5 of another source
    rows = [row(f"{i:05d}", f"text {i}", f"h{i}") for i in range(12_000)]
    rows.append(row("00005", "other", "x", source="hotline"))
    with session_scope(engine, write=True) as session:
        bulk.upsert_items(rows, run_id=None, now=T0, session=session)
    # three chunks: stored ids with a few changed, then a chunk of new ids after the
    # stored ones (its range holds nothing), then new ids mixed with stored ones
    asked = {f"{i:05d}": f"h{i}" for i in range(12_000)}
    asked.update({"00003": "changed", "07000": "changed"})
    asked.update({f"{i:05d}": f"n{i}" for i in range(12_000, 15_500)})
    asked.update({"00010": "h10", "a-new": "n", "00011": "other", "": "n"})
    with session_scope(engine) as session:
        changed = bulk.changed_hashes("survey", asked, session=session)
        assert bulk.changed_hashes("survey", {}, session=session) == {}
        assert bulk.changed_hashes("nobody", {"00001": "h1"}, session=session) == {"00001": None}
    expected = {"00003": "h3", "07000": "h7000"}
    expected.update(dict.fromkeys(f"{i:05d}" for i in range(12_000, 15_500)))
    expected.update({"a-new": None, "00011": "h11", "": None})
    assert list(changed.items()) == [(k, expected[k]) for k in asked if k in expected]


def test_changed_hashes_of_ids_json_cannot_carry(engine: Engine) -> None:
    # an id with NUL (SQLite only: PostgreSQL text cannot hold it) falls back from the
    # one-parameter lookup; the rest of its chunk with it
    odd = ["nul\x00byte"] if engine.dialect.name == "sqlite" else []
    with session_scope(engine, write=True) as session:
        bulk.upsert_items([row(i, "t", "h") for i in [*odd, "plain"]], run_id=None, now=T0, session=session)
    with session_scope(engine) as session:
        asked = {**dict.fromkeys(odd, "h"), "plain": "other", "fresh": "h"}
        assert bulk.changed_hashes("survey", asked, session=session) == {"plain": "h", "fresh": None}


def test_batch_values_written_into_the_sql_keep_the_source_exact(engine: Engine) -> None:
    encoder = bulk.ItemEncoder(engine.dialect)
    source = "O'Brien 的 '问卷'"
    rows = [
        (
            source,
            "1",
            "survey",
            "手机***12345678",
            4.0,
            9,
            None,
            encoder.time(T0),
            None,
            {"备注": "x"},
            "h",
            "f.csv row 2",
        )
    ]
    sql, params = encoder.encode_converted(rows, source=source, run_id=None, now=T0)
    with session_scope(engine, write=True) as session:
        bulk.write_encoded(params, session=session, sql=sql)
    with session_scope(engine) as session:
        item = queries.get_item(source, "1", session=session)
    assert item is not None and item.text == "手机***12345678" and item.created_at == T0 and item.collected_at == T0
    assert item.origin == "f.csv row 2"


def test_origins_are_written_kept_by_rows_without_one_and_looked_up(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        bulk.upsert_items(
            [(*row("1", "转账失败", "a"), "day1.csv row 2"), (*row("2", "服务好", "b"), "day1.csv row 3")],
            run_id=None,
            now=T0,
            session=session,
        )
    with session_scope(engine, write=True) as session:
        # a writer that does not know origins (demo data, benchmarks) leaves them alone
        bulk.upsert_items([row("1", "转账失败，已解决", "c")], run_id=None, now=T0, session=session)
    with session_scope(engine) as session:
        found = bulk.stored_versions("survey", ["1", "2", "absent", "1"], session=session)
    assert found == {"1": ("c", "day1.csv row 2", None), "2": ("b", "day1.csv row 3", None)}
