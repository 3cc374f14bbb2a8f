"""Fixing and retrying quarantined records.

A retry parses the stored payload again with the collector that quarantined it (its
optional ``parse_record``), with the user's edits applied, and stores the item through
the same pipeline as a collection run (redaction, upsert, run record). A record that is
still bad stays open with its new reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bihuan.core.collection import CollectorInstance, CollectorRegistry, build_instance
from bihuan.core.collector import CollectorConfig, RunContext
from bihuan.core.config import Settings
from bihuan.core.errors import ConfigError, RecordError, UsageError
from bihuan.core.pipeline import PipelineHooks, RunReport, run_collector
from bihuan.core.types import BadRecord, Checkpoint, Item
from bihuan.storage import queries
from bihuan.storage.engine import session_scope
from bihuan.storage.models import QuarantinedRecord, QuarantineStatus


@dataclass
class RetryOutcome:
    """What happened to one quarantined record."""

    record_id: int
    status: str  # "stored" | "still bad" | "skipped"
    reason: str | None = None
    item_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.record_id, "status": self.status, "reason": self.reason, "item_id": self.item_id}


def decoded_payload(record: QuarantinedRecord) -> Any:
    """The stored payload as Python data."""
    return json.loads(record.payload)


def apply_edits(payload: Any, edits: Mapping[str, str]) -> Any:
    """Set top-level keys of a dict payload (``--set 评分=5``)."""
    if not edits:
        return payload
    if not isinstance(payload, dict):
        raise UsageError("--set needs a record whose payload is an object (a row with named fields)")
    return {**payload, **edits}


def _instance_for(
    record: QuarantinedRecord, registry: CollectorRegistry, settings: Settings, *, session: Any
) -> CollectorInstance:
    if record.collector in settings.collectors:
        return build_instance(record.collector, settings.collectors[record.collector], registry)
    run = queries.get_run(record.run_id, session=session) if record.run_id is not None else None
    raw: dict[str, Any] = dict(run.config or {}) if run is not None else {}
    raw.setdefault("collector", record.collector_type)
    raw["source"] = record.source
    return build_instance(record.collector, raw, registry, where=f"quarantined record {record.id}")


class _ReplayCollector:
    """Feeds already-parsed items to the pipeline (so retries share its guarantees)."""

    name = "retry"
    channel = "other"
    Config = CollectorConfig

    def __init__(self, outputs: list[Item | BadRecord]) -> None:
        self.outputs = outputs

    def check(self, ctx: RunContext) -> None:
        return None

    def collect(self, ctx: RunContext, state: dict[str, Any] | None) -> Iterator[Item | BadRecord | Checkpoint]:
        yield from self.outputs


def retry_records(
    record_ids: Sequence[int],
    *,
    engine: Engine,
    registry: CollectorRegistry,
    settings: Settings,
    hooks: PipelineHooks | None = None,
    edits: Mapping[str, str] | None = None,
) -> tuple[list[RetryOutcome], list[RunReport]]:
    """Retry quarantined records; returns one outcome per record and the runs it made."""
    outcomes: list[RetryOutcome] = []
    by_instance: dict[str, tuple[CollectorInstance, list[tuple[QuarantinedRecord, Item]]]] = {}
    zone = ZoneInfo(settings.bihuan.timezone)
    with session_scope(engine) as session:
        for record_id in record_ids:
            record = queries.get_quarantined(record_id, session=session)
            if record is None:
                raise UsageError(f"no quarantined record {record_id}")
            if record.status != QuarantineStatus.OPEN:
                outcomes.append(RetryOutcome(record_id, "skipped", f"record is {record.status}"))
                continue
            instance = _instance_for(record, registry, settings, session=session)
            collector = instance.cls()
            parse = getattr(collector, "parse_record", None)
            if parse is None:
                raise ConfigError(
                    f"collector {instance.collector_type!r} cannot re-parse records; fix the source and collect again"
                )
            try:
                item = parse(instance.context(zone), apply_edits(decoded_payload(record), edits or {}))
            except RecordError as exc:
                outcomes.append(RetryOutcome(record_id, "still bad", exc.reason))
                continue
            if record.external_id:
                # keep the id the record had when it was read, so a second retry updates in place
                item.external_id = record.external_id
            if getattr(instance.config, "update_across_files", None) is not None:
                # a file row, from where it was read: a retry is the user's word, so it may
                # replace what the file rules kept (another file's row, an id's first row)
                item.origin = record.location
            by_instance.setdefault(instance.name, (instance, []))[1].append((record, item))

    reports = []
    for instance, pairs in by_instance.values():
        context = instance.context(zone, settings.bihuan.date_window)
        if getattr(context.config, "update_across_files", None) is False:
            context.config = context.config.model_copy(update={"update_across_files": True})
        report = run_collector(
            _ReplayCollector([item for _, item in pairs]),  # type: ignore[arg-type]
            context,
            engine=engine,
            collector_type=instance.collector_type,
            hooks=hooks,
            config_record={"retry_of": [record.id for record, _ in pairs]},
        )
        reports.append(report)
        with session_scope(engine, write=True) as session:
            for record, item in pairs:
                if report.status != "succeeded":
                    outcomes.append(RetryOutcome(record.id or 0, "still bad", report.error))
                    continue
                stored = queries.get_item(instance.source, item.external_id, session=session)
                fresh = queries.get_quarantined(record.id or 0, session=session)
                if stored is None or fresh is None:
                    outcomes.append(RetryOutcome(record.id or 0, "still bad", "the item was refused by the pipeline"))
                    continue
                queries.resolve_quarantined(fresh, status=QuarantineStatus.RETRIED, item_id=stored.id, session=session)
                outcomes.append(RetryOutcome(record.id or 0, "stored", item_id=stored.id))
    outcomes.sort(key=lambda o: o.record_id)
    return outcomes, reports


def discard_records(record_ids: Sequence[int], *, engine: Engine) -> int:
    """Mark open quarantined records as discarded; returns how many changed."""
    changed = 0
    with session_scope(engine, write=True) as session:
        for record_id in record_ids:
            record = queries.get_quarantined(record_id, session=session)
            if record is None:
                raise UsageError(f"no quarantined record {record_id}")
            if record.status == QuarantineStatus.OPEN:
                queries.resolve_quarantined(record, status=QuarantineStatus.DISCARDED, session=session)
                changed += 1
    return changed
