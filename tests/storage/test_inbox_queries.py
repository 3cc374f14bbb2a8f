"""The inbox's pages filtered by a root-cause group, on SQLite and PostgreSQL: every item
of the group once, newest first (ties by id), across keyset pages and with other filters."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from bihuan.storage import inbox_queries as iq
from bihuan.storage.analysis_models import IssueGroup, ItemAnalysis
from bihuan.storage.engine import session_scope
from bihuan.storage.models import FeedbackItem
from tests.storage.test_text_search import START, catch_up, rows_for, upsert


def pages(engine: Engine, limit: int, **filters: object) -> list[iq.InboxRow]:
    rows: list[iq.InboxRow] = []
    after = None
    with session_scope(engine) as session:
        while True:
            page = iq.inbox_page(iq.InboxFilter(**filters), after=after, limit=limit, session=session)  # type: ignore[arg-type]
            rows += page
            if len(page) < limit:
                return rows
            after = (page[-1].created_at, page[-1].id)


def test_a_group_filter_pages_through_the_group_newest_first(engine: Engine) -> None:
    texts = [f"第{i}条：{'提额太慢' if i % 3 else '转账失败'}" for i in range(90)]
    upsert(engine, rows_for(texts))
    catch_up(engine)
    with session_scope(engine, write=True) as session:
        session.add_all([IssueGroup(id=1, label="提额慢"), IssueGroup(id=2, label="转账")])
        session.flush()
        items = session.execute(select(FeedbackItem.id, FeedbackItem.created_at, FeedbackItem.channel)).all()
        for item_id, _, _ in items:
            session.add(
                ItemAnalysis(
                    item_id=item_id, content_hash="h", language="zh", sentiment=0.2, sentiment_label="negative",
                    keywords=[], categories=[], model="test", analysed_at=START,
                    group_id=None if item_id % 5 == 0 else 1 + item_id % 2,
                )
            )  # fmt: skip
    in_group = sorted(((at, i) for i, at, _ in items if i % 5 and 1 + i % 2 == 1), reverse=True)
    for limit in (7, 50):
        shown = pages(engine, limit, group_id=1)
        assert [r.id for r in shown] == [i for _, i in in_group]
        assert {(r.group_id, r.group_label) for r in shown} == {(1, "提额慢")}
    channel_of = {i: ch for i, _, ch in items}
    app_only = [i for _, i in in_group if channel_of[i] == "app"]
    assert [r.id for r in pages(engine, 4, group_id=1, channel="app")] == app_only
    later = START + timedelta(hours=40)
    assert [r.id for r in pages(engine, 4, group_id=1, since=later)] == [
        i for at, i in in_group if at.replace(tzinfo=later.tzinfo) >= later
    ]
    with_search = [r.id for r in pages(engine, 3, group_id=1, search="提额")]
    texts_by_id = dict(zip(sorted(i for i, _, _ in items), texts, strict=True))
    assert with_search == [i for _, i in in_group if "提额" in texts_by_id[i]]
    assert pages(engine, 5, group_id=99) == []
