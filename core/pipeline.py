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
* items that break the contract (empty text, naive timestamps, ratings off bihuan's
  0..5 scale, NPS scores off 0..10, …) are quarantined like bad records, so a buggy
  third-party collector cannot corrupt the store;
* so are timestamps outside the run's :class:`~bihuan.core.values.DateBounds` (later
  than ``[bihuan] future_horizon_days`` after the run started, or before
  ``earliest_date``): one row dated 2099 would otherwise move every "latest" figure to
  that year. The bounds are computed once per run; the check is two comparisons an item,
  for the file importer's keyed rows too (:meth:`BatchWriter.build`), in this process
  or in the helper;
* nothing is stored or reported with raw personal data or a secret in it: the text is
  redacted by the ``redact_text`` hook, and everything else — ids, source and instance
  names, customer references, URLs, ``extra``, quarantined payloads and reasons, the
  state, the run's configuration and error — goes through the run's
  :class:`~bihuan.core.privacy.Privacy` (keyed pseudonyms where a value must still be
  compared, redaction and secret masking elsewhere).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import Engine

from bihuan.core.batches import BatchWriter, Record, read_batches
from bihuan.core.collector import Collector, RunContext
from bihuan.core.errors import DatabaseUnavailableError, StorageError, describe_failure
from bihuan.core.file_rules import item_as_raw
from bihuan.core.helper import HelperBatches, HelperFailure, helper_wanted
from bihuan.core.masking import known_secrets
from bihuan.core.printable import printable_name
from bihuan.core.privacy import Privacy, privacy_for
from bihuan.core.redaction import redact as default_redact
from bihuan.core.runs import run_owner
from bihuan.core.types import CHANNELS, BadRecord, Item
from bihuan.core.values import NPS_SCALE, RATING_SCALE, DateBounds, DateWindow, parse_channel, scale_problem
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


def item_problem(item: Item, bounds: DateBounds | None = None) -> tuple[str, str] | None:
    """``(field, reason)`` when an item breaks the contract, else ``None``.

    :param bounds: the timestamps the run accepts; ``None``: the default
        :class:`~bihuan.core.values.DateWindow` from now (the pipeline passes the run's).
    """
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
    if created_at is not None:
        if (type(created_at) is not datetime or created_at.tzinfo is None) and (
            not isinstance(created_at, datetime) or created_at.tzinfo is None
        ):
            return "created_at", "created_at must be a timezone-aware datetime"
        if bounds is None:
            bounds = DateWindow().bounds(utcnow(), UTC)
        if not bounds.low <= created_at <= bounds.high:
            return "created_at", bounds.problem(created_at) or ""
    channel = item.channel
    if channel is not None and channel not in CHANNELS and (type(channel) is not str or parse_channel(channel) is None):
        return "channel", f"unknown channel {channel!r}"
    nps = item.nps
    if nps is not None and (type(nps) is not int or not NPS_SCALE[0] <= nps <= NPS_SCALE[1]):
        if not isinstance(nps, int) or isinstance(nps, bool):
            return "nps", f"nps {nps!r} is not a whole number {NPS_SCALE[0]}..{NPS_SCALE[1]}"
        return "nps", f"{scale_problem('nps', nps, *NPS_SCALE, whole=True)}, the NPS scale"
    rating = item.rating
    if rating is not None and (type(rating) is not float or not RATING_SCALE[0] <= rating <= RATING_SCALE[1]):
        if isinstance(rating, bool) or not isinstance(rating, int | float):
            return "rating", f"rating {rating!r} is not a number"
        problem = scale_problem("rating", rating, *RATING_SCALE)
        if problem is not None:
            return "rating", f"{problem}, bihuan's rating scale"
    return None


def quarantine_payload(raw: Any, privacy: Privacy) -> str:
    """The raw record as JSON text, personal data pseudonymised or redacted, secrets
    masked, NUL bytes escaped by JSON."""
    return json.dumps(privacy.payload(raw), ensure_ascii=False, default=str)


def prepare_item(item: Item, bounds: DateBounds | None = None) -> Item | BadRecord:
    """Validate ``item`` and fill in its content hash; a broken item becomes a bad record.

    A channel written as people write it (``微博``, ``95588热线``) becomes bihuan's
    (:func:`~bihuan.core.values.parse_channel`), as the file importer reads it.
    """
    channel = item.channel
    if channel is not None and channel not in CHANNELS and type(channel) is str:
        item.channel = parse_channel(channel) or channel
    problem = item_problem(item, bounds)
    if problem is not None:
        return BadRecord(
            raw=item_as_raw(item),
            reason=problem[1],
            field=problem[0],
            location=item.origin or item.location or f"item {item.external_id!r}",
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
    privacy: Privacy | None = None,
) -> RunReport:
    """Run one collector instance to the end and return its report.

    Never raises for a failure of the collector itself (the report says ``failed`` with
    the error class); raises for ``KeyboardInterrupt``/``SystemExit``, after recording
    the run as ``interrupted``, and for a database that cannot be used
    (:class:`DatabaseUnavailableError`: unreachable, read-only, full), after recording
    the run as failed if the database still lets it — the database failed, not the
    collector, and every other run would fail the same way.

    :param config_record: the configuration to store on the run (secrets masked).
    :param dry_run: read and classify everything, write nothing.
    :param progress: called with the report after every committed batch.
    :param helper: prepare the batches in a forked helper process (see
        :mod:`bihuan.core.helper`): ``None`` decides by the collector and its input size.
    :param privacy: the database's :class:`Privacy` (:func:`privacy_for`), when the caller
        runs several collectors; loaded here otherwise.
    :raises ConfigError: this host has no pseudonym key for the database, or another one
        (see :mod:`bihuan.core.pseudonyms`); nothing is read or written then.
    """
    hooks = hooks or PipelineHooks()
    privacy = privacy or privacy_for(engine, hooks.redact, create=not dry_run)
    privacy = privacy.with_secrets(known_secrets(ctx.config))
    # the names items and state are stored under: personal data in them (a file named
    # after a customer's phone) pseudonymised, the same way on every run
    ctx.source = privacy.key(ctx.source, 200)
    ctx.instance = privacy.key(ctx.instance, 200)
    ctx.pseudonymise = privacy.pseudonymiser.tag
    # once per run: the check per item is then two comparisons
    bounds = ctx.date_window.bounds(utcnow(), ctx.timezone)
    report = RunReport(collector=ctx.instance, collector_type=collector_type, source=ctx.source, dry_run=dry_run)
    if not dry_run:
        pid, host = run_owner()
        with session_scope(engine, write=True) as session:
            run = queries.create_run(
                collector=ctx.instance,
                collector_type=collector_type,
                source=ctx.source,
                config=privacy.config(config_record),
                pid=pid,
                host=host,
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
        validate=partial(prepare_item, bounds=bounds),
        privacy=privacy,
        bounds=bounds,
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
            report.error_class = exc.error_class
            report.error = privacy.message(printable_name(exc.message, lines=True))[:MAX_ERROR_MESSAGE]
            report.status = RunStatus.FAILED
            details = f"\n{privacy.message(exc.details)}" if exc.details else ""
            log.warning("collector %s failed: %s%s", ctx.instance, report.error, details)
        else:
            report.status = RunStatus.SUCCEEDED
    except DatabaseUnavailableError as exc:
        report.status = RunStatus.FAILED
        report.error_class, report.error = exc.error_class, privacy.message(str(exc))[:MAX_ERROR_MESSAGE]
        with contextlib.suppress(StorageError):  # e.g. still full: marked interrupted later
            _finish(report, engine)
        raise
    except Exception as exc:
        report.status = RunStatus.FAILED
        report.error_class, message = describe_failure(exc)
        # a message may quote a file name that is not text (GBK bytes), a record or a
        # URL: never stored raw
        report.error = privacy.message(printable_name(message, lines=True))[:MAX_ERROR_MESSAGE]
        if report.error_class == "internal":  # a bug: its traceback, redacted like the rest
            log.warning("collector %s failed: %s\n%s", ctx.instance, report.error, privacy.message(_traceback(exc)))
        else:
            log.warning("collector %s failed: %s", ctx.instance, report.error)
    except BaseException as exc:
        report.status = RunStatus.INTERRUPTED
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


def _traceback(exc: BaseException) -> str:
    import traceback

    return printable_name("".join(traceback.format_exception(exc)).rstrip(), lines=True)


def summarize(reports: Iterable[RunReport]) -> dict[str, int]:
    """Totals over several runs: read, new, updated, duplicates, quarantined, failed."""
    total = {"read": 0, "new": 0, "updated": 0, "duplicates": 0, "quarantined": 0, "failed": 0}
    for r in reports:
        for key in ("read", "new", "updated", "duplicates", "quarantined"):
            total[key] += getattr(r, key)
        total["failed"] += r.status == RunStatus.FAILED
    return total
