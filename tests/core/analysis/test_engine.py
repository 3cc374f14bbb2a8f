"""``bihuan analyze`` on the demo data, through the real import: incremental, stable, spikes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from bihuan.core.analysis.engine import analyze
from bihuan.core.analysis.hooks import AnalysisHooks
from bihuan.core.outbox import Outbox
from bihuan.plugins.manager import BihuanPluginManager
from bihuan.storage import outbox_queries as oq
from bihuan.storage.engine import session_scope


def test_every_item_is_analysed_once_and_a_rerun_has_nothing_to_do(demo_engine: Engine) -> None:
    items = scalar(demo_engine, "SELECT count(*) FROM feedback_item")
    spikes: list[tuple[Any, str]] = []
    outbox = Outbox([SpikeTarget()])
    hooks = AnalysisHooks(on_spike=lambda spike, label: spikes.append((spike, label)), outbox=outbox)
    report = analyze(demo_engine, hooks=hooks)
    assert report.analysed == items > 3000
    assert scalar(demo_engine, "SELECT count(*) FROM item_analysis") == items
    assert report.groups >= 8
    labels = {row for row in _column(demo_engine, "SELECT sentiment_label FROM item_analysis")}
    assert labels <= {"negative", "neutral", "positive"} and "negative" in labels and "positive" in labels

    again = analyze(demo_engine)
    assert (again.analysed, again.new_groups, again.spikes) == (0, 0, [])

    # the demo's 手机银行转账卡顿 spikes in its last week: announced once, with a label
    assert any("转账" in label or "卡顿" in label for _, label in spikes), [label for _, label in spikes]
    # … and each spike's notice is in the outbox, committed with the spike it announces
    with session_scope(demo_engine) as session:
        stored = [(r.payload["group_id"], r.payload["label"]) for r in oq.list_deliveries(limit=100, session=session)]
    assert sorted(stored) == sorted((spike.group_id, label) for spike, label in spikes)
    assert len(outbox.take_recorded()) == len(spikes) == len(report.spikes)


class SpikeTarget:
    """A notice target that takes spikes (delivery is not what this test is about)."""

    name = "spikes"

    def accepts(self, kind: str) -> bool:
        return kind == "spike"

    def send(self, envelope: Any, *, timeout: float) -> None:
        raise AssertionError("not delivered in this test")


def test_group_ids_are_stable_when_new_feedback_arrives(
    demo_engine: Engine, pm: BihuanPluginManager, tmp_path: Path, import_demo: Any
) -> None:
    analyze(demo_engine)
    before = dict(_rows(demo_engine, "SELECT item_id, group_id FROM item_analysis"))
    import_demo(demo_engine, pm, tmp_path / "more", suffix="-next", seed=7)
    report = analyze(demo_engine)
    assert report.analysed > 3000
    after = dict(_rows(demo_engine, "SELECT item_id, group_id FROM item_analysis"))
    assert all(after[item] == group for item, group in before.items()), "yesterday's items keep their groups"


def test_a_changed_item_is_analysed_again(demo_engine: Engine) -> None:
    analyze(demo_engine)
    with demo_engine.begin() as conn:
        item_id = conn.execute(text("SELECT min(id) FROM feedback_item")).scalar()
        conn.execute(
            text("UPDATE feedback_item SET text = :t, content_hash = 'changed' WHERE id = :i"),
            {"t": "非常满意，客服耐心专业，点赞", "i": item_id},
        )
    report = analyze(demo_engine)
    assert report.analysed == 1
    label = scalar(demo_engine, f"SELECT sentiment_label FROM item_analysis WHERE item_id = {item_id}")
    assert label == "positive"


def test_a_sentiment_plugin_replaces_the_model(demo_engine: Engine) -> None:
    report = analyze(demo_engine, hooks=AnalysisHooks(score_sentiment=lambda texts, languages: [0.0] * len(texts)))
    assert report.model == "plugin"
    assert set(_column(demo_engine, "SELECT sentiment_label FROM item_analysis")) == {"negative"}


def scalar(engine: Engine, sql: str) -> Any:
    return _rows(engine, sql)[0][0]


def _rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql))]


def _column(engine: Engine, sql: str) -> list[Any]:
    return [row[0] for row in _rows(engine, sql)]


def test_a_large_run_featurises_ahead_in_a_helper_process_with_the_same_results(demo_engine: Engine) -> None:
    from bihuan.core.analysis.features import featurise
    from bihuan.core.analysis.taxonomy import load_taxonomy

    report = analyze(demo_engine, batch=500)  # more pending than one batch: the helper process runs
    assert report.batches > 5 and report.analysed == scalar(demo_engine, "SELECT count(*) FROM feedback_item")
    sample = _rows(
        demo_engine,
        "SELECT f.text, a.language, a.sentiment, a.categories FROM item_analysis a "
        "JOIN feedback_item f ON f.id = a.item_id ORDER BY a.item_id LIMIT 60",
    )
    expected = featurise([text for text, *_ in sample], load_taxonomy())
    assert [r[1] for r in sample] == expected.languages
    assert [round(r[2], 9) for r in sample] == [round(s, 9) for s in expected.scores]
    assert [r[3] if isinstance(r[3], list) else __import__("json").loads(r[3]) for r in sample] == expected.categories


def test_progress_hears_the_total_before_the_first_batch(demo_engine: Engine) -> None:
    items = scalar(demo_engine, "SELECT count(*) FROM feedback_item")
    calls: list[tuple[int, int]] = []
    analyze(demo_engine, batch=1000, progress=lambda report, remaining: calls.append((report.analysed, remaining)))
    assert calls[0] == (0, items) and calls[-1] == (items, 0)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls) and len(calls) == 1 + -(-items // 1000)
    calls.clear()
    assert (
        analyze(demo_engine, progress=lambda report, remaining: calls.append((report.analysed, remaining))).batches == 0
    )
    assert calls == [(0, 0)]


def test_results_from_before_text_keys_get_them_when_first_needed(
    demo_engine: Engine, pm: BihuanPluginManager, tmp_path: Path, import_demo: Any
) -> None:
    """Results carry their text's key; those written before keys were stored (migration
    0004) are keyed when a run first reads them, and link exactly as keyed ones do."""
    from datetime import timedelta

    from bihuan.core.analysis.duplicates import DuplicateLinker, text_key
    from bihuan.core.analysis.engine import _seed_duplicates
    from bihuan.storage import analysis_queries as aq
    from bihuan.storage.engine import session_scope

    analyze(demo_engine)
    stored = _rows(
        demo_engine, "SELECT f.text, a.text_key FROM item_analysis a JOIN feedback_item f ON f.id = a.item_id"
    )
    assert all(key == text_key(body) for body, key in stored) and any(key for _, key in stored)
    with demo_engine.begin() as conn:
        conn.execute(text("UPDATE item_analysis SET text_key = NULL"))

    with session_scope(demo_engine) as session:
        newest = aq.newest_item_at(session=session)
        assert newest is not None
        since = newest - timedelta(days=3)
        from_texts = DuplicateLinker(window_days=7)
        computed = _seed_duplicates(from_texts, since, session=session)
        window = list(aq.recent_analysed(since=since - timedelta(days=7), session=session))
        aq.set_text_keys(computed, session=session)
    assert len(computed) == len(window) > 100
    with session_scope(demo_engine) as session:
        from_keys = DuplicateLinker(window_days=7)
        assert _seed_duplicates(from_keys, since, session=session) == []  # read back, nothing to compute
        again = list(aq.recent_analysed(since=since - timedelta(days=7), session=session))
    assert (
        dict(computed) == {row.item_id: row.text_key for row in again} == {r.item_id: text_key(r.text) for r in window}
    )
    # a copy of each text in the window, and each customer again: the same canonical item either way
    for offset, row in enumerate(window):
        at, body = row.created_at + timedelta(hours=1), (row.text or "") + "！"
        probe = {"group_id": row.group_id, "created_at": at, "customer_ref": row.customer_ref}
        assert from_texts.link(10**9 + offset, **probe, text=body) == from_keys.link(
            10**9 + offset, **probe, key=text_key(body)
        )

    # the next run keys what it reads and what it writes
    with demo_engine.begin() as conn:
        conn.execute(text("UPDATE item_analysis SET text_key = NULL"))
    before = scalar(demo_engine, "SELECT max(id) FROM feedback_item")
    import_demo(demo_engine, pm, tmp_path / "more", suffix="-next", seed=7, weeks=6)
    assert analyze(demo_engine).analysed > 0
    with session_scope(demo_engine) as session:
        first_new = min(
            r.created_at
            for r in aq.recent_analysed(since=newest - timedelta(weeks=60), session=session)
            if r.item_id > before
        )
        window_start = first_new - timedelta(days=7)
        keys = {r.item_id: r.text_key for r in aq.recent_analysed(since=window_start, session=session)}
    assert None not in keys.values() and len(keys) > len(window)
    unkeyed = scalar(demo_engine, "SELECT count(*) FROM item_analysis WHERE text_key IS NULL")
    assert unkeyed > 0  # older results stay as they were until a run needs them
    keyed = _rows(
        demo_engine,
        "SELECT f.text, a.text_key FROM item_analysis a JOIN feedback_item f ON f.id = a.item_id "
        "WHERE a.text_key IS NOT NULL",
    )
    assert all(key == text_key(body) for body, key in keyed)


def test_an_incremental_run_has_its_batch_featurised_ahead_with_the_same_results(
    demo_engine: Engine, pm: BihuanPluginManager, tmp_path: Path, import_demo: Any, monkeypatch: Any
) -> None:
    """New items (one batch) are featurised in a helper process while the run finds its
    work: the analysing process never runs the language models (it adds the categories
    and text keys while it waits), and the results are what featurising here would give."""
    import bihuan.core.analysis.features as features_module
    from bihuan.core.analysis.duplicates import text_key
    from bihuan.core.analysis.features import featurise
    from bihuan.core.analysis.taxonomy import load_taxonomy

    analyze(demo_engine)
    before = scalar(demo_engine, "SELECT max(id) FROM feedback_item")
    import_demo(demo_engine, pm, tmp_path / "more", suffix="-next", seed=7, weeks=6)
    new = scalar(demo_engine, f"SELECT count(*) FROM feedback_item WHERE id > {before}")

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("featurised in the analysing process")

    monkeypatch.setattr(features_module, "featurise", refuse)
    monkeypatch.setattr(features_module, "model_features", refuse)
    assert analyze(demo_engine).analysed == new > 1000
    monkeypatch.undo()
    sample = _rows(
        demo_engine,
        "SELECT f.text, a.language, a.sentiment, a.categories, a.text_key FROM item_analysis a "
        f"JOIN feedback_item f ON f.id = a.item_id WHERE a.item_id > {before} ORDER BY a.item_id",
    )
    expected = featurise([body for body, *_ in sample], load_taxonomy())
    assert [r[1] for r in sample] == expected.languages
    assert [round(r[2], 9) for r in sample] == [round(s, 9) for s in expected.scores]
    assert [r[3] if isinstance(r[3], list) else __import__("json").loads(r[3]) for r in sample] == expected.categories
    assert [r[4] for r in sample] == expected.text_keys == [text_key(r[0]) for r in sample]


def test_a_changed_old_item_comes_first_and_the_new_ones_follow(
    demo_engine: Engine, pm: BihuanPluginManager, tmp_path: Path, import_demo: Any
) -> None:
    """Features made ahead for the newest items are not used when the first batch is
    another (an old item changed): every item is still analysed once, in id order."""
    analyze(demo_engine)
    before = scalar(demo_engine, "SELECT max(id) FROM feedback_item")
    with demo_engine.begin() as conn:
        oldest = conn.execute(text("SELECT min(id) FROM feedback_item")).scalar()
        conn.execute(
            text("UPDATE feedback_item SET text = :t, content_hash = 'changed' WHERE id = :i"),
            {"t": "非常满意，客服耐心专业，点赞", "i": oldest},
        )
    import_demo(demo_engine, pm, tmp_path / "more", suffix="-next", seed=7, weeks=6)
    new = scalar(demo_engine, f"SELECT count(*) FROM feedback_item WHERE id > {before}")
    report = analyze(demo_engine)
    assert report.analysed == new + 1
    assert scalar(demo_engine, f"SELECT sentiment_label FROM item_analysis WHERE item_id = {oldest}") == "positive"
    assert scalar(demo_engine, "SELECT count(*) FROM item_analysis") == scalar(
        demo_engine, "SELECT count(*) FROM feedback_item"
    )
    assert analyze(demo_engine).analysed == 0


def test_an_incremental_run_finds_its_work_without_reading_every_item(
    demo_engine: Engine, pm: BihuanPluginManager, tmp_path: Path, import_demo: Any, monkeypatch: Any
) -> None:
    """The changed items come from the queue the trigger fills, the new ones from above the
    highest analysed id: the comparison of every item with its result never runs, and the
    queue is empty after the run."""
    from bihuan.storage import analysis_queries as aq

    analyze(demo_engine)
    before = scalar(demo_engine, "SELECT max(id) FROM feedback_item")
    with demo_engine.begin() as conn:
        conn.execute(
            text("UPDATE feedback_item SET text = '非常满意，点赞', content_hash = 'changed' WHERE id IN (3, 40)")
        )
    import_demo(demo_engine, pm, tmp_path / "more", suffix="-next", seed=7, weeks=6)
    new = scalar(demo_engine, f"SELECT count(*) FROM feedback_item WHERE id > {before}")
    assert _column(demo_engine, "SELECT item_id FROM analysis_queue ORDER BY item_id") == [3, 40]

    def refuse(**kwargs: Any) -> Any:
        raise AssertionError("compared every item with its result")

    monkeypatch.setattr(aq, "pending_summary", refuse)
    monkeypatch.setattr(aq, "count_pending", refuse)
    assert analyze(demo_engine, batch=500).analysed == new + 2
    assert (
        _column(demo_engine, "SELECT sentiment_label FROM item_analysis WHERE item_id IN (3, 40)") == ["positive"] * 2
    )
    assert scalar(demo_engine, "SELECT count(*) FROM analysis_queue") == 0
    monkeypatch.undo()
    with demo_engine.connect() as conn:
        stale = conn.execute(
            text(
                "SELECT count(*) FROM feedback_item f LEFT JOIN item_analysis a ON a.item_id = f.id "
                "WHERE a.item_id IS NULL OR a.content_hash != f.content_hash"
            )
        ).scalar()
    assert stale == 0


def test_the_head_start_helper_is_stopped_when_more_items_arrive_than_it_can_take(
    demo_engine: Engine, pm: BihuanPluginManager, tmp_path: Path, import_demo: Any, monkeypatch: Any
) -> None:
    """Forked once the new items are counted, the helper is stopped if reading them finds
    more than one batch (an import went on meanwhile); the run then featurises itself."""
    from bihuan.core.analysis.features import FeaturePipeline, featurise
    from bihuan.core.analysis.head_start import HeadStart
    from bihuan.core.analysis.taxonomy import load_taxonomy
    from bihuan.storage import analysis_queries as aq
    from bihuan.storage.engine import session_scope

    analyze(demo_engine)
    before = scalar(demo_engine, "SELECT max(id) FROM feedback_item")
    import_demo(demo_engine, pm, tmp_path / "more", suffix="-next", seed=7, weeks=6)
    new = scalar(demo_engine, f"SELECT count(*) FROM feedback_item WHERE id > {before}")
    with session_scope(demo_engine) as session:
        assert aq.count_items_above(before, limit=10**6, session=session) == new
        assert aq.count_items_above(before, limit=5, session=session) == 5

    taxonomy = load_taxonomy()
    # counted while one batch (new - 1) could take them all; read after more arrived
    monkeypatch.setattr(aq, "count_items_above", lambda *args, **kwargs: new - 1)
    late = HeadStart(demo_engine, new - 1, taxonomy)
    monkeypatch.undo()
    assert late._process is None
    with session_scope(demo_engine) as session:
        batch = aq.pending_items(after_id=before, limit=new, session=session)
    with FeaturePipeline(taxonomy, ahead=False) as pipeline:
        [(items, features)] = list(late.run(iter([batch]), pipeline))
    assert features == featurise([item.text for item in items], taxonomy)
    late.close()

    timely = HeadStart(demo_engine, new, taxonomy)
    assert timely._process is not None
    with FeaturePipeline(taxonomy, ahead=False) as pipeline:
        [(items, features)] = list(timely.run(iter([batch]), pipeline))
    timely.close()
    assert features == featurise([item.text for item in items], taxonomy)


def test_the_items_read_ahead_are_not_read_again_unless_one_changed(
    demo_engine: Engine, pm: BihuanPluginManager, tmp_path: Path, import_demo: Any, monkeypatch: Any
) -> None:
    import bihuan.core.analysis.engine as engine_module

    analyze(demo_engine)
    before = scalar(demo_engine, "SELECT max(id) FROM feedback_item")
    import_demo(demo_engine, pm, tmp_path / "more", suffix="-next", seed=7, weeks=6)
    newest = scalar(demo_engine, "SELECT max(id) FROM feedback_item")
    pages: list[int] = []
    read_page = engine_module.pending_page

    def recorded(**kwargs: Any) -> Any:
        pages.append(kwargs["after_id"])
        return read_page(**kwargs)

    monkeypatch.setattr(engine_module, "pending_page", recorded)
    assert analyze(demo_engine).analysed == newest - before
    assert pages == [newest]  # only the look for more after them

    # a new item changed after it arrived: the batch is read again (and the change analysed)
    import_demo(demo_engine, pm, tmp_path / "again", suffix="-third", seed=8, weeks=6)
    first_new = newest + 1
    with demo_engine.begin() as conn:
        conn.execute(text(f"UPDATE feedback_item SET content_hash = 'edited' WHERE id = {first_new}"))
    pages.clear()
    analyze(demo_engine)
    assert pages[0] == first_new - 1
    assert scalar(demo_engine, f"SELECT content_hash FROM item_analysis WHERE item_id = {first_new}") == "edited"
