"""A feed cut off inside a valid HTTP response (the body ends mid-entry, Content-Length
matches), or one that is not well-formed: what was read whole is stored, the run fails
with a clear error, and the ETag is not saved — so the next run reads the whole feed and
every entry ends up stored exactly once. A real server on 127.0.0.1, both backends."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from bihuan.core.pipeline import load_state
from tests.apiserver import Reply, Request
from tests.collectors.http.conftest import quarantined, stored


def rss(keys: range, *, amp: bool = False) -> bytes:
    items = "".join(
        f"<item><guid>e{n}</guid><title>投诉 {n}{' &amp; 退款' if not amp else ' & 退款'}</title>"
        f"<description>第{n}条：信用卡年费没有通知就扣了，客服也说不清楚</description>"
        f"<pubDate>Fri, {n:02d} Oct 2026 08:00:00 +0800</pubDate></item>\n"
        for n in keys
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>投诉</title>\n{items}'
        "</channel></rss>\n"
    ).encode()


class Feed:
    """The feed's server: ``bodies`` maps an ETag to the body sent under it; the body of
    the current version is sent unless the client has it (304) — or, while ``cut`` is
    set, that cut-off body (with the current version's ETag, a valid Content-Length)."""

    def __init__(self) -> None:
        self.current = '"v1"'
        self.bodies: dict[str, bytes] = {}
        self.cut: bytes | None = None

    def __call__(self, request: Request) -> Reply:
        if request.headers.get("If-None-Match") == self.current:
            return Reply(304, b"")
        body = self.cut if self.cut is not None else self.bodies[self.current]
        return Reply(body=body, headers={"ETag": self.current, "Content-Type": "application/rss+xml"})


def test_a_cut_off_feed_stores_what_arrived_whole_and_is_read_again_in_full(run: Any, engine: Engine, api: Any) -> None:
    feed = Feed()
    api.route("GET", "/feed.xml", feed)
    table = {"collector": "feed", "base_url": f"{api.url}/feed.xml"}

    feed.bodies['"v1"'] = rss(range(1, 3))
    first = run("tousu", table)
    assert (first.status, first.new) == ("succeeded", 2)
    assert load_state("tousu", engine=engine)["etag"] == '"v1"'

    # the feed grows to six entries; the next answer is cut in the middle of entry 5
    full = rss(range(1, 7))
    feed.current, feed.bodies['"v2"'] = '"v2"', full
    feed.cut = full[: full.index(b"<guid>e5") + 20]
    cut = run("tousu", table)
    feed.cut = None
    assert (cut.status, cut.error_class) == ("failed", "transient")
    assert "the feed is cut off" in (cut.error or "") and "the 4 entries read whole are stored" in (cut.error or "")
    # entries 3 and 4 are new, 2 is known (1 is older than the last run's newest: not read);
    # 5 arrived cut and is not stored half
    assert (cut.new, cut.duplicates) == (2, 1)
    assert sorted(stored(engine, "tousu")) == ["e1", "e2", "e3", "e4"]
    assert load_state("tousu", engine=engine)["etag"] == '"v1"'  # the cut answer's ETag was not saved

    # the next run asks with the last sound ETag, gets the whole feed, and stores the rest once
    whole = run("tousu", table)
    assert api.hits("/feed.xml")[-1].headers.get("If-None-Match") == '"v1"'
    assert (whole.status, whole.new, whole.duplicates, whole.quarantined) == ("succeeded", 2, 3, 0)
    items = stored(engine, "tousu")
    assert sorted(items) == [f"e{n}" for n in range(1, 7)]
    assert items["e5"].text.startswith("投诉 5 & 退款\n第5条：信用卡年费没有通知就扣了")  # whole, not the cut half
    assert quarantined(engine) == []
    assert load_state("tousu", engine=engine)["etag"] == '"v2"'
    assert run("tousu", table).read == 0  # 304 Not Modified


def test_a_feed_cut_before_its_first_entry_ends_is_a_transient_failure(run: Any, engine: Engine, api: Any) -> None:
    full = rss(range(1, 4))
    api.route("GET", "/feed.xml", lambda r: Reply(body=full[: full.index(b"</item>") - 5], headers={"ETag": '"x"'}))
    report = run("early", {"collector": "feed", "base_url": f"{api.url}/feed.xml"})
    assert (report.status, report.error_class, report.new) == ("failed", "transient", 0)
    assert "cut off" in (report.error or "") and load_state("early", engine=engine) is None


def test_a_malformed_feed_stores_its_entries_but_never_its_etag(run: Any, engine: Engine, api: Any) -> None:
    body = rss(range(1, 4), amp=True)  # a raw "&": not well-formed XML, though complete
    api.route("GET", "/feed.xml", lambda r: Reply(body=body, headers={"ETag": '"m"'}))
    report = run("amp", {"collector": "feed", "base_url": f"{api.url}/feed.xml"})
    assert (report.status, report.error_class, report.new) == ("failed", "data", 3)
    assert "not well-formed XML (line 3" in (report.error or "")
    assert load_state("amp", engine=engine) is None
    again = run("amp", {"collector": "feed", "base_url": f"{api.url}/feed.xml"})
    assert "If-None-Match" not in api.hits("/feed.xml")[-1].headers  # asked in full again
    assert (again.status, again.new, again.duplicates) == ("failed", 0, 3)  # nothing stored twice


def test_feedparsers_harmless_complaints_do_not_fail_the_run(run: Any, engine: Engine, api: Any) -> None:
    # text/xml without a charset: feedparser notes that it read UTF-8 where US-ASCII was declared
    body = rss(range(1, 3))
    api.route("GET", "/feed.xml", lambda r: Reply(body=body, headers={"ETag": '"ok"', "Content-Type": "text/xml"}))
    report = run("plain", {"collector": "feed", "base_url": f"{api.url}/feed.xml"})
    assert (report.status, report.new) == ("succeeded", 2)
    assert load_state("plain", engine=engine)["etag"] == '"ok"'
