"""``bihuan analyze``: incremental analysis of new and changed feedback items.

Each run takes the items that have no result for their current content (never analysed,
or changed since), in id order and in batches, and per batch:

1. detects the language and scores sentiment (a ``score_sentiment`` plugin first, then
   the built-in model), labels it negative / neutral / positive;
2. tokenises, extracts keywords (document frequencies kept across runs) and assigns
   taxonomy categories;
3. assigns each item to the nearest root-cause group or founds a new one — group ids are
   stable, nothing renumbers;
4. writes the results, the groups and the model state in one transaction, so a run that
   is interrupted continues where it stopped.

After the last batch it looks for spikes (each group against its own baseline), records
each new one with its notice in the outbox, and tells the ``on_spike`` hook about it once.

One analysis runs at a time per database: a run holds the analysis lock
(:mod:`bihuan.storage.analysis_lock`) from before it reads the pending work until after
its last write, and every batch is written only while it still holds it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session

from bihuan.core.analysis.duplicates import DuplicateLinker, text_key
from bihuan.core.analysis.features import FeaturePipeline, Features
from bihuan.core.analysis.grouping import GroupIndex, GroupingSettings, GroupRecord
from bihuan.core.analysis.head_start import HeadStart
from bihuan.core.analysis.hooks import AnalysisHooks
from bihuan.core.analysis.keywords import KeywordExtractor
from bihuan.core.analysis.sentiment import label_for
from bihuan.core.analysis.state import KEYWORD_STATE, forget_for_rebuild, load_group_index, load_keywords, save_groups
from bihuan.core.analysis.taxonomy import Taxonomy, load_taxonomy
from bihuan.core.analysis.weekly import SpikeRule, detect_spikes, week_periods
from bihuan.core.notices import SpikeNotice
from bihuan.core.errors import AlreadyRunningError
from bihuan.storage import analysis_lock
from bihuan.storage import analysis_queries as aq
from bihuan.storage.analysis_pending import find_pending, pending_page, prune_queue
from bihuan.storage.engine import session_scope
from bihuan.storage.types import utcnow

log = logging.getLogger(__name__)

#: items per batch (one transaction each)
BATCH = 20_000
KEYWORDS_PER_ITEM = 5
#: weeks of a group's history its spike baseline averages
SPIKE_BASELINE_WEEKS = 8
DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")


@dataclass
class AnalysisReport:
    """What one ``bihuan analyze`` run did (``--json`` prints it)."""

    analysed: int = 0
    batches: int = 0
    new_groups: int = 0
    groups: int = 0
    duplicates: int = 0
    spikes: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    model: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _plugin_scores(texts: list[str], languages: list[str], hooks: AnalysisHooks) -> list[float] | None:
    """A ``score_sentiment`` plugin's answer (clamped to 0..1), or ``None``."""
    if hooks.score_sentiment is None:
        return None
    answer = hooks.score_sentiment(texts, languages)
    if answer is None:
        return None
    if len(answer) != len(texts):
        raise ValueError(f"score_sentiment returned {len(answer)} scores for {len(texts)} texts")
    return [min(1.0, max(0.0, float(s))) for s in answer]


def _pending_batches(
    engine: Engine, batch: int, after_id: int, watermark: int | None
) -> Iterator[list[aq.PendingItem]]:
    while True:
        with session_scope(engine) as session:
            items = pending_page(after_id=after_id, limit=batch, watermark=watermark, session=session)
        if not items:
            return
        after_id = items[-1].id
        yield items


def _seed_duplicates(linker: DuplicateLinker, since: datetime, *, session: Session) -> list[tuple[int, int]]:
    """Prime the linker with the analysed items of the window before the first pending one.

    Returns the text keys it had to compute — results written before keys were stored
    (migration 0004) — for the caller to store, so the next run reads them.
    """
    window = timedelta(seconds=linker.window)
    computed: list[tuple[int, int]] = []
    for row in aq.recent_analysed(since=since - window, session=session):
        key = row.text_key
        if key is None:
            key = text_key(row.text or "")
            computed.append((row.item_id, key))
        linker.seed(
            row.item_id,
            group_id=row.group_id,
            created_at=row.created_at,
            customer_ref=row.customer_ref,
            key=key,
            duplicate_of=row.duplicate_of,
        )
    return computed


def analyze(
    engine: Engine,
    *,
    taxonomy: Taxonomy | None = None,
    zone: ZoneInfo = DEFAULT_ZONE,
    hooks: AnalysisHooks | None = None,
    repeat_window_days: int = 7,
    batch: int = BATCH,
    grouping: GroupingSettings | None = None,
    progress: Callable[[AnalysisReport, int], None] | None = None,
    rebuild: bool = False,
    wait: float = 0.0,
) -> AnalysisReport:
    """Analyse every pending item; returns what was done.

    :param taxonomy: the category rules (default: the shipped bank taxonomy).
    :param zone: the zone weeks are counted in (spikes).
    :param repeat_window_days: how far apart two contacts may be to count as a repeat.
    :param progress: called with the report and the items still pending, once before the
        first batch (the total) and after each batch.
    :param rebuild: forget every result first and analyse everything again; the groups
        improvement tasks point to keep their ids (see :func:`forget_for_rebuild`).
    :param wait: seconds to wait for an analysis already running on the database.
    :raises AlreadyRunningError: another analysis still runs after ``wait`` seconds.
    """
    hooks = hooks or AnalysisHooks()
    taxonomy = taxonomy or load_taxonomy()
    lock = analysis_lock.acquire(engine, wait=wait)
    if isinstance(lock, analysis_lock.Holder):
        waited = f"; waited {wait:g} s for it" if wait > 0 else ""
        raise AlreadyRunningError(
            f"analysis already running ({lock.describe(zone)}){waited}: "
            "try again when it is done (bihuan analyze --wait SECONDS waits for it)"
        )
    started = time.perf_counter()  # the analysis's own time, not the wait for another's
    with lock:
        if rebuild:
            with session_scope(engine, write=True) as session:
                lock.verify(session)
                forget_for_rebuild(session=session)
        head_start = HeadStart(engine, batch, taxonomy)
        try:
            return _run(
                engine, taxonomy, zone, hooks, repeat_window_days, batch, grouping, progress, head_start, started, lock
            )
        finally:
            head_start.close()


def _run(
    engine: Engine,
    taxonomy: Taxonomy,
    zone: ZoneInfo,
    hooks: AnalysisHooks,
    repeat_window_days: int,
    batch: int,
    grouping: GroupingSettings | None,
    progress: Callable[[AnalysisReport, int], None] | None,
    head_start: HeadStart,
    started: float,
    lock: analysis_lock.HeldLock,
) -> AnalysisReport:
    report = AnalysisReport()
    linker = DuplicateLinker(repeat_window_days)
    with session_scope(engine) as session:
        work = find_pending(session=session)  # the queue and the range above the watermark
        pending = work.summary
        keywords = load_keywords(session)
        index = load_group_index(keywords, session=session, settings=grouping)
        computed_keys = _seed_duplicates(linker, pending.earliest, session=session) if pending.earliest else []
    if computed_keys:
        with session_scope(engine, write=True) as session:
            aq.set_text_keys(computed_keys, session=session)
    pending_total = pending.count
    if progress:
        progress(report, pending_total)  # before the first batch: the caller learns the total
    known_groups = set(index.group_ids())
    pipeline = FeaturePipeline(taxonomy, ahead=pending_total > batch)
    # nothing pending: no paging at all (a first page would walk every analysed item)
    batches: Iterator[list[aq.PendingItem]] = iter(())
    if (first := head_start.first_batch(work)) is not None:  # read already
        batches = chain([first], _pending_batches(engine, batch, first[-1].id, work.watermark))
    elif pending.first_id:
        batches = _pending_batches(engine, batch, pending.first_id - 1, work.watermark)
    with pipeline:
        for items, features in head_start.run(batches, pipeline):
            _analyse_batch(items, features, engine, hooks, keywords, index, linker, known_groups, report, lock)
            if progress:
                progress(report, max(0, pending_total - report.analysed))
    if work.queued:
        with session_scope(engine, write=True) as session:
            prune_queue(session=session)  # the changed items analysed now (or gone)
    report.groups = len(known_groups)
    report.spikes = _fire_spikes(engine, zone=zone, hooks=hooks)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _analyse_batch(
    items: list[aq.PendingItem],
    features: Features,
    engine: Engine,
    hooks: AnalysisHooks,
    keywords: KeywordExtractor,
    index: GroupIndex,
    linker: DuplicateLinker,
    known_groups: set[int],
    report: AnalysisReport,
    lock: analysis_lock.HeldLock,
) -> None:
    """Keywords, groups, repeat links for one batch; written in one transaction (by the
    lock's holder only)."""
    texts = [item.text for item in items]
    languages, token_lists, categories = features.languages, features.tokens, features.categories
    scores, model = features.scores, features.model
    plugin = _plugin_scores(texts, languages, hooks)
    if plugin is not None:
        scores, model = plugin, "plugin"
    report.model = model
    keywords.update(token_lists)
    group_ids = index.assign(
        [GroupRecord(item.id, tokens, cats) for item, tokens, cats in zip(items, token_lists, categories, strict=True)]
    )
    now = utcnow()
    results = []
    for item, language, score, tokens, cats, group_id, key in zip(
        items, languages, scores, token_lists, categories, group_ids, features.text_keys, strict=True
    ):
        duplicate_of = linker.link(
            item.id, group_id=group_id, created_at=item.created_at, customer_ref=item.customer_ref, key=key
        )
        report.duplicates += duplicate_of is not None
        results.append(
            {
                "item_id": item.id,
                "content_hash": item.content_hash,
                "language": language,
                "sentiment": score,
                "sentiment_label": label_for(score),
                "keywords": keywords.extract(tokens, k=KEYWORDS_PER_ITEM),
                "categories": cats,
                "category": cats[0] if cats else None,
                "group_id": group_id,
                "duplicate_of": duplicate_of,
                "text_key": key,
                "model": model,
                "analysed_at": now,
            }
        )
    with session_scope(engine, write=True) as session:
        lock.verify(session)
        new_ids = save_groups(index, known_groups, session=session)
        aq.upsert_results(results, session=session)
        aq.save_state(KEYWORD_STATE, keywords.to_dict(), session=session)
    known_groups |= new_ids
    report.new_groups += len(new_ids)
    report.analysed += len(items)
    report.batches += 1


def _fire_spikes(engine: Engine, *, zone: ZoneInfo, hooks: AnalysisHooks) -> list[dict[str, Any]]:
    """Detect spikes per group; record and announce each new one once."""
    with session_scope(engine) as session:
        newest = aq.newest_item_at(session=session)
        if newest is None:
            return []
        # the weeks the rule looks at: the running one, the one before, and their baselines,
        # counted per group in the database (reading the ~10 weeks' rows took seconds)
        since = newest - timedelta(weeks=SPIKE_BASELINE_WEEKS + 2, days=1)
        periods = week_periods(since, newest, zone)
        counts = aq.group_period_counts([start for _, start in periods], session=session)
        by_group = {gid: {periods[k][0]: n for k, n in weeks.items()} for gid, weeks in counts.items()}
        spikes = detect_spikes(by_group, zone, as_of=newest, rule=SpikeRule(baseline_weeks=SPIKE_BASELINE_WEEKS))
    fired: list[dict[str, Any]] = []
    for spike in spikes:
        with session_scope(engine, write=True) as session:
            if aq.spike_seen(spike.group_id, spike.week, session=session):
                continue
            aq.add_spike(spike.group_id, spike.week, spike.count, spike.baseline, spike.score, session=session)
            group = aq.get_group(spike.group_id, session=session)
            label = group.label if group else str(spike.group_id)
            if hooks.outbox is not None:  # the notice commits with the spike it announces
                notice = SpikeNotice(
                    group_id=spike.group_id, label=label, week=spike.week, count=spike.count, baseline=spike.baseline
                )
                hooks.outbox.record([notice], session=session)
        fired.append({**asdict(spike), "week": spike.week.isoformat(), "label": label})
        if hooks.on_spike is not None:
            try:
                hooks.on_spike(spike=spike, label=label)
            except Exception:  # a notifier must never stop the analysis
                log.exception("on_spike hook failed for group %s", spike.group_id)
    return fired
