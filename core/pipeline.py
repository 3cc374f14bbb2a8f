"""The collector pipeline: everything a collector author does not have to write.

``run_collector`` drives one collector instance:

* items are buffered; at each ``Checkpoint`` the buffer is classified against what is
  stored (new / updated / duplicate by ``(source, external_id)`` and content hash), new
  and changed items are redacted and upserted, bad records are quarantined, the state
  and the run's counts are written — all in one transaction. A crash or kill at any
  point loses nothing and duplicates nothing on the next run;
* a collector that raises stops only its own run: the items it yielded before the
  error are still stored (without advancing its state) and the run is marked failed
  with its error class;
* items that break the contract (empty text, naive timestamps, …) are quarantined like
  bad records, so a buggy third-party collector cannot corrupt the store.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from bihuan.core.batches import BatchWriter, Record, read_batches
from bihuan.core.collector import Collector, RunContext
from bihuan.core.errors import describe_failure
from bihuan.core.file_rules import item_as_raw
from bihuan.core.helper import HelperBatches, HelperFailure, helper_wanted
from bihuan.core.redaction import redact as default_redact
from bihuan.core.types import CHANNELS, BadRecord, Item
from bihuan.storage import queries
from bihuan.storage.engine import session_scope
from bihuan.storage.models import RunStatus
from bihuan.storage.types import utcnow

log = logging.getLogger(__name__)

#: flush even without a checkpoint when this many items are buffered (bounds memory)
MAX_BUFFER = 20_000
MAX_ERROR_MESSAGE = 2_000


@dataclass
class RunReport:
    """The outcome of one collector run (what ``--json`` prints per run)."""

    collector: str
    collector_type: str
    source: str
    run_id: int | None = None
    status: str = RunStatus.RUNNING
    read: int = 0
    new: int = 0
    updated: int = 0
    duplicates: int = 0
    quarantined: int = 0
    #: of ``quarantined``: file rows that would have changed an item read from another
    #: file (allowed with ``update_across_files``)
    refused_updates: int = 0
    #: of ``quarantined``: later rows of a file repeating an id with other content
    repeated_ids: int = 0
    #: of ``updated``: items read from another file that were changed (``update_across_files``)
    updated_across_files: int = 0
    #: the first row of each of the three kinds above, in words
    examples: dict[str, str] = field(default_factory=dict)
    #: how each input was read (``ReadInfo.details``): header row, columns, key, text
    files: list[dict[str, Any]] = field(default_factory=list)
    error_class: str | None = None
    error: str | None = None
    dry_run: bool = False
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data


@dataclass
class PipelineHooks:
    """What the pipeline asks of plugins; built from the plugin manager by the caller.

    Core does not import the plugin system: ``bihuan.plugins.manager.pipeline_hooks``
    turns the ``redact_text``/``on_items_stored``/``on_collector_run_finished`` hooks
    into these callables.
    """

    redact: Callable[[str], str] = default_redact
    on_items_stored: Callable[..., None] | None = None
    on_run_finished: Callable[[RunReport], None] | None = None


def item_content_hash(item: Item) -> str:
    """A hash of everything stored about an item; used when a collector gives none."""
    parts = (
        item.text,
        item.created_at.isoformat() if item.created_at else "",
        item.channel or "",
        "" if item.rating is None else repr(float(item.rating)),
        "" if item.nps is None else str(item.nps),
        item.customer_ref or "",
        item.url or "",
        json.dumps(item.extra, ensure_ascii=False, sort_keys=True, default=str) if item.extra else "",
    )
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def item_problem(item: Item) -> tuple[str, str] | None:
    """``(field, reason)`` when an item breaks the contract, else ``None``."""
    external_id = item.external_id
    if type(external_id) is not str or not external_id:
        return "external_id", "external_id must be a non-empty string"
    if len(external_id) > 300:
        return "external_id", "external_id is longer than 300 characters"
    text = item.text
    if type(text) is not str or not text or text.isspace():
        return "text", "text is empty"
    if "\x00" in text:
        return "text", "text contains NUL bytes"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "text", "text contains undecodable bytes"
    origin = item.origin
    if origin is not None and (type(origin) is not str or len(origin) > 2_000):
        return "origin", "origin must be a string of at most 2,000 characters"
    created_at = item.created_at
    if created_at is not None and (type(created_at) is not datetime or created_at.tzinfo is None):
        if not isinstance(created_at, datetime) or created_at.tzinfo is None:
            return "created_at", "created_at must be a timezone-aware datetime"
    if item.channel is not None and item.channel not in CHANNELS:
        return "channel", f"unknown channel {item.channel!r}"
    nps = item.nps
    if nps is not None and (type(nps) is not int or not 0 <= nps <= 10):
        if not isinstance(nps, int) or isinstance(nps, bool) or not 0 <= nps <= 10:
            return "nps", f"nps {nps!r} is not an integer 0..10"
    rating = item.rating
    if (
        rating is not None
        and type(rating) is not float
        and (isinstance(rating, bool) or not isinstance(rating, int | float))
    ):
        return "rating", f"rating {rating!r} is not a number"
    return None


def _redact_value(value: Any, redact: Callable[[str], str]) -> Any:
    """Redact every string inside ``value`` and make it storable as text.

    Undecodable bytes (lone surrogates from ``surrogateescape``) become ``\\xNN`` so the
    payload can still be stored, shown and fixed.
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _redact_value(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v, redact) for v in value]
    return value


def quarantine_payload(raw: Any, redact: Callable[[str], str]) -> str:
    """The raw record as JSON text, PII redacted, NUL bytes escaped by JSON."""
    return json.dumps(_redact_value(raw, redact), ensure_ascii=False, default=str)


def prepare_item(item: Item) -> Item | BadRecord:
    """Validate ``item`` and fill in its content hash; a broken item becomes a bad record."""
    problem = item_problem(item)
    if problem is not None:
        return BadRecord(
            raw=item_as_raw(item),
            reason=problem[1],
            field=problem[0],
            location=f"item {item.external_id!r}",
            external_id=item.external_id if isinstance(item.external_id, str) else None,
        )
    if item.content_hash is None:
        item.content_hash = item_content_hash(item)
    return item


def load_state(instance: str, *, engine: Engine) -> dict[str, Any] | None:
    """The state the last checkpoint of ``instance`` saved."""
    with session_scope(engine) as session:
        return queries.get_state(instance, session=session)


def _state_run(instance: str, *, engine: Engine) -> int | None:
    """The run that saved the state of ``instance``."""
    with session_scope(engine) as session:
        return queries.get_state_run(instance, session=session)


def run_collector(
    collector: Collector,
    ctx: RunContext,
    *,
    engine: Engine,
    collector_type: str,
    hooks: PipelineHooks | None = None,
    config_record: dict[str, Any] | None = None,
    dry_run: bool = False,
    progress: Callable[[RunReport], None] | None = None,
    max_buffer: int = MAX_BUFFER,
    helper: bool | None = None,
) -> RunReport:
    """Run one collector instance to the end and return its report.

    Never raises for a failure of the collector itself (the report says ``failed`` with
    the error class); raises only for ``KeyboardInterrupt``/``SystemExit``, after
    recording the run as failed.

    :param config_record: the configuration to store on the run (secrets masked).
    :param dry_run: read and classify everything, write nothing.
    :param progress: called with the report after every committed batch.
    :param helper: prepare the batches in a forked helper process (see
        :mod:`bihuan.core.helper`): ``None`` decides by the collector and its input size.
    """
    hooks = hooks or PipelineHooks()
    report = RunReport(collector=ctx.instance, collector_type=collector_type, source=ctx.source, dry_run=dry_run)
    if not dry_run:
        with session_scope(engine, write=True) as session:
            run = queries.create_run(
                collector=ctx.instance,
                collector_type=collector_type,
                source=ctx.source,
                config=config_record,
                session=session,
            )
            report.run_id = run.id
    writer = BatchWriter(
        ctx,
        engine=engine,
        hooks=hooks,
        collector_type=collector_type,
        report=report,
        dry_run=dry_run,
        validate=prepare_item,
        payload_text=quarantine_payload,
    )

    def flush(records: list[Record], state: dict[str, Any] | None) -> None:
        writer.flush(records, state)
        if progress:
            progress(report)

    note = writer.note

    try:
        try:
            collector.check(ctx)
            state = load_state(ctx.instance, engine=engine)
            if (state or {}).get("files"):
                # rows the run that saved this state stored count as read by this one:
                # a resumed file's repeated ids are repeats, not updates
                writer.rules.this_pass.add(_state_run(ctx.instance, engine=engine) or -1)
            if helper_wanted(collector, ctx, requested=helper):
                _write_from_helper(writer, collector, state, max_buffer=max_buffer, progress=progress)
            else:
                # keyed records let the batch skip mapping rows already stored
                collect = getattr(collector, "collect_keyed", None) or collector.collect
                read_batches(collect(ctx, state), ctx.instance, max_buffer, flush, note)
        except HelperFailure as exc:
            report.error_class, report.error = exc.error_class, exc.message[:MAX_ERROR_MESSAGE]
            report.status = RunStatus.FAILED
            log.warning("collector %s failed: %s%s", ctx.instance, report.error, f"\n{exc.details}" if exc.details else "")
        else:
            report.status = RunStatus.SUCCEEDED
    except Exception as exc:
        report.status = RunStatus.FAILED
        report.error_class, message = describe_failure(exc)
        report.error = message[:MAX_ERROR_MESSAGE]
        log.warning("collector %s failed: %s", ctx.instance, report.error, exc_info=report.error_class == "internal")
    except BaseException as exc:
        report.status = RunStatus.FAILED
        report.error_class = "interrupted"
        report.error = type(exc).__name__
        _finish(report, engine)
        raise
    finally:
        ctx.close()
    _finish(report, engine)
    if hooks.on_run_finished:
        hooks.on_run_finished(report)
    return report


def _write_from_helper(
    writer: BatchWriter,
    collector: Collector,
    state: dict[str, Any] | None,
    *,
    max_buffer: int,
    progress: Callable[[RunReport], None] | None,
) -> None:
    """Write the batches a helper process reads and prepares, as they come."""
    batches = HelperBatches(writer, collector, state, max_buffer=max_buffer, track_writes=not writer.dry_run)
    try:
        for batch in batches:
            writer.write(batch)
            batches.committed()
            if progress:
                progress(writer.report)
    finally:
        batches.close()


def _finish(report: RunReport, engine: Engine) -> None:
    report.finished_at = utcnow()
    if report.dry_run or report.run_id is None:
        return
    with session_scope(engine, write=True) as session:
        queries.finish_run(
            report.run_id,
            status=RunStatus(report.status),
            error_class=report.error_class,
            error_message=report.error,
            session=session,
        )


def summarize(reports: Iterable[RunReport]) -> dict[str, int]:
    """Totals over several runs: read, new, updated, duplicates, quarantined, failed."""
    total = {"read": 0, "new": 0, "updated": 0, "duplicates": 0, "quarantined": 0, "failed": 0}
    for r in reports:
        for key in ("read", "new", "updated", "duplicates", "quarantined"):
            total[key] += getattr(r, key)
        total["failed"] += r.status == RunStatus.FAILED
    return total
