"""The team's corrections to groups — merge, split, rename — and how the next analysis follows them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bihuan.core.analysis.engine import analyze
from bihuan.core.analysis.group_ops import merge_groups, rename_group, split_group
from bihuan.core.errors import UsageError
from bihuan.plugins.manager import BihuanPluginManager
from bihuan.storage import analysis_queries as aq
from bihuan.storage.engine import session_scope


def rows(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def two_biggest(engine: Engine) -> tuple[int, int]:
    found = rows(
        engine,
        "SELECT group_id FROM item_analysis WHERE group_id IS NOT NULL GROUP BY group_id ORDER BY count(*) DESC, group_id",
    )
    return found[0][0], found[1][0]


def test_merge_moves_items_keeps_history_and_new_items_never_join_the_merged_group(
    demo_engine: Engine, pm: BihuanPluginManager, tmp_path: Path, import_demo: Any
) -> None:
    analyze(demo_engine)
    target, source = two_biggest(demo_engine)
    source_items = {r[0] for r in rows(demo_engine, "SELECT item_id FROM item_analysis WHERE group_id = :g", g=source)}
    with session_scope(demo_engine, write=True) as session:
        result = merge_groups(target, [source], actor="王经理", session=session)
    assert result.moved == len(source_items)
    assert rows(demo_engine, "SELECT count(*) FROM item_analysis WHERE group_id = :g", g=source) == [(0,)]
    with session_scope(demo_engine) as session:
        merged = aq.get_group(source, session=session)
        assert (merged.status, merged.merged_into) == ("merged", target)
        history = aq.group_history(target, session=session)
        assert history[-1].action == "merged" and history[-1].actor == "王经理"
        assert history[-1].detail == {"from": [source], "items": len(source_items)}
        assert aq.group_history(source, session=session)[-1].detail["into"] == target

    import_demo(demo_engine, pm, tmp_path / "more", suffix="-next", seed=11)
    analyze(demo_engine)
    assert rows(demo_engine, "SELECT count(*) FROM item_analysis WHERE group_id = :g", g=source) == [(0,)]
    # the items that would have joined the absorbed group join the target
    assert rows(demo_engine, "SELECT count(*) FROM item_analysis WHERE group_id = :g", g=target)[0][0] > (
        len(source_items) * 1.5
    )

    with session_scope(demo_engine, write=True) as session, pytest.raises(UsageError, match="merged into group"):
        merge_groups(target, [source], actor="x", session=session)


def test_split_by_keyword_founds_a_group_that_attracts_its_kind(
    demo_engine: Engine, pm: BihuanPluginManager, tmp_path: Path, import_demo: Any
) -> None:
    analyze(demo_engine)
    counts = rows(
        demo_engine,
        "SELECT a.group_id, count(*) FROM item_analysis a JOIN feedback_item f ON f.id = a.item_id "
        "WHERE f.text LIKE '%转账%' GROUP BY a.group_id ORDER BY count(*) DESC",
    )
    group = counts[0][0]
    total = rows(demo_engine, "SELECT count(*) FROM item_analysis WHERE group_id = :g", g=group)[0][0]
    with session_scope(demo_engine, write=True) as session:
        result = split_group(group, keyword="转账", label="转账问题", actor="李", session=session)
    assert result.moved + result.remaining == total and result.moved == counts[0][1]
    moved_texts = rows(
        demo_engine,
        "SELECT f.text FROM item_analysis a JOIN feedback_item f ON f.id = a.item_id WHERE a.group_id = :g",
        g=result.new_group,
    )
    assert len(moved_texts) == result.moved and all("转账" in t for (t,) in moved_texts)
    with session_scope(demo_engine) as session:
        new = aq.get_group(result.new_group, session=session)
        assert (new.label, new.label_locked) == ("转账问题", True)
        assert "转账" in new.keywords
        assert aq.group_history(group, session=session)[-1].detail == {
            "items": result.moved,
            "keyword": "转账",
            "into": result.new_group,
        }
    # the next import's transfer complaints find the split-off group
    import_demo(demo_engine, pm, tmp_path / "more", suffix="-next", seed=5)
    analyze(demo_engine)
    assert rows(demo_engine, "SELECT count(*) FROM item_analysis WHERE group_id = :g", g=result.new_group)[0][0] > (
        result.moved
    )


def test_split_refuses_empty_and_total_selections_and_strangers(demo_engine: Engine) -> None:
    analyze(demo_engine)
    group, other = two_biggest(demo_engine)
    stranger = rows(demo_engine, "SELECT min(item_id) FROM item_analysis WHERE group_id = :g", g=other)[0][0]
    with session_scope(demo_engine, write=True) as session:
        with pytest.raises(UsageError, match="nothing to split"):
            split_group(group, keyword="不存在的词语", actor="x", session=session)
        with pytest.raises(UsageError, match="not in group"):
            split_group(group, item_ids=[stranger], actor="x", session=session)
        with pytest.raises(UsageError, match="one of them"):
            split_group(group, actor="x", session=session)


def test_a_renamed_group_keeps_its_label_through_later_analysis(
    demo_engine: Engine, pm: BihuanPluginManager, tmp_path: Path, import_demo: Any
) -> None:
    analyze(demo_engine)
    group, _ = two_biggest(demo_engine)
    with session_scope(demo_engine, write=True) as session:
        old, new = rename_group(group, " 手机银行转账卡顿 ", actor="王", session=session)
    assert new == "手机银行转账卡顿" and old != new
    import_demo(demo_engine, pm, tmp_path / "more", suffix="-next", seed=3)
    analyze(demo_engine)
    with session_scope(demo_engine) as session:
        assert aq.get_group(group, session=session).label == "手机银行转账卡顿"
