"""Reading and preparing a collector's batches in a forked helper process.

A big file import is Python work on both sides of a batch: reading, mapping, redacting
and encoding rows (stage 1 of :mod:`bihuan.core.batches`), and handing them to the
database (stage 2). With a helper process, stage 1 runs on the machine's other core —
the helper runs the collector and prepares every batch, this process writes each batch
as it arrives, one transaction per checkpoint as always.

Why fork: the helper inherits the collector, its context and config, the plugin hooks and
the state it resumes from, so only prepared batches cross the pipe. Where fork is not
available the pipeline runs both stages in this process (:func:`helper_wanted`).

What keeps the pipeline's guarantees:

* the helper never writes to the database: it reads what is stored through its own
  connection (a forked process must not touch its parent's), every write is here;
* the lookup of stored hashes runs here, between two writes, so that a re-import (where
  this process has nothing to write) spends it on this core: the helper sends a batch's
  keys and hashes as soon as it has read it, this process answers through shared
  memory (:class:`_Answers`: a status byte per key, so neither side ever waits on a full
  pipe), and the helper builds the batch two batches later, by when the answer is there;
* a lookup may not see the batches still being written here: batches are numbered,
  each answer says the number of the last one committed when it was made, and keys
  written by later ones go back as unsettled rows that are classified in the writing
  transaction (see :mod:`bihuan.core.batches`);
* the helper ignores SIGINT: Ctrl+C reaches this process, which stops the helper and
  reaps it (:meth:`HelperBatches.close`) on any way out — the end, an error, an
  interrupt; if this process is killed, the helper dies with it
  (:func:`bihuan.core.lifeline.die_with_parent`; without it, its next send would fail);
* the helper's log records are sent here and logged here; its failure is re-raised here
  as :class:`HelperFailure` with the error class and message it would have had.
"""

from __future__ import annotations

import gc
import logging
import marshal
import multiprocessing
import os
import signal
import sys
import traceback
from collections import deque
from collections.abc import Collection, Iterator
from multiprocessing.connection import Connection
from typing import Any

from bihuan.core.batches import BatchWriter, KeyedBatch, PreparedBatch, Record, read_batches
from bihuan.core.collector import RunContext
from bihuan.core.errors import CollectorError, describe_failure
from bihuan.core.types import ReadInfo
from bihuan.core.lifeline import die_with_parent
from bihuan.storage import bulk
from bihuan.storage.engine import create_db_engine

log = logging.getLogger(__name__)

#: ``BIHUAN_HELPER_PROCESS``: ``auto`` (default), ``always`` (whenever possible), ``never``
HELPER_ENV = "BIHUAN_HELPER_PROCESS"
#: inputs smaller than this are read in-process: forking costs more than it saves
HELPER_MIN_BYTES = 1 << 20
#: seconds the helper gets to exit after SIGTERM before it is killed
_STOP_TIMEOUT = 5.0
#: batches the helper reads before it builds the first: the lookup of a batch runs here
#: while the helper reads the next one
_LOOKAHEAD = 2
#: batches between two runs of the garbage collector in the helper (see ``_isolate``)
_COLLECT_EVERY = 50
#: a batch's keys in an answer: duplicate (stored with the same hash), new, changed
_DUPLICATE, _NEW, _CHANGED = 0, 1, 2


class HelperFailure(CollectorError):
    """The collector (or preparing a batch) failed in the helper process.

    :ivar error_class: the class the failure would have had in this process.
    :ivar message: the run's error message, as this process would have written it.
    :ivar details: the helper's traceback, for the log.
    """

    def __init__(self, error_class: str, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.message = message
        self.details = details


def helper_wanted(collector: Any, ctx: RunContext, *, requested: bool | None = None) -> bool:
    """Whether to prepare this run's batches in a helper process.

    Only collectors that say so (``forkable = True``: they read local input and keep
    nothing on ``self`` that the caller needs) and offer ``collect_keyed``, only where
    fork exists, and — unless ``requested`` or ``$BIHUAN_HELPER_PROCESS`` say otherwise —
    only for inputs of at least :data:`HELPER_MIN_BYTES`.
    """
    setting = os.environ.get(HELPER_ENV, "auto").strip().lower()
    if requested is None and setting in ("never", "0", "off", "no", "false"):
        return False
    if requested is False or not getattr(collector, "forkable", False) or not hasattr(collector, "collect_keyed"):
        return False
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    if requested or setting in ("always", "1", "on", "yes", "true"):
        return True
    size = getattr(collector, "input_bytes", None)
    return size is not None and size(ctx) >= HELPER_MIN_BYTES


class HelperBatches:
    """Prepared batches of one run, from a forked helper; iterate, then :meth:`close`.

    :param writer: the run's writer; the helper prepares with a copy of it that reads
        through its own connection.
    :param collector: the collector; the helper iterates ``collect_keyed``.
    :param state: the state the run resumes from.
    :param max_buffer: records per batch when the collector yields no checkpoint.
    :param track_writes: whether batches are written (not a dry run), so that their keys
        are unsettled until committed.
    """

    def __init__(
        self,
        writer: BatchWriter,
        collector: Any,
        state: dict[str, Any] | None,
        *,
        max_buffer: int,
        track_writes: bool,
    ) -> None:
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        # the number of the last batch committed here; shared memory, written only here
        self._committed = context.RawValue("q", 0)
        self._written = 0
        self._finished = False
        self._lookup = writer.lookup
        self._note = writer.note
        # a batch can be a list's worth over max_buffer; a bigger one is looked up there
        self._answers = _Answers(context, capacity=2 * max_buffer)
        url = writer.engine.url.render_as_string(hide_password=False)
        self._process = context.Process(
            target=_helper_main,
            args=(
                send,
                self._receive,
                self._committed,
                self._answers,
                writer,
                url,
                collector,
                state,
                max_buffer,
                track_writes,
            ),
            name=f"bihuan-helper {writer.ctx.instance}",
            daemon=True,
        )
        try:
            self._process.start()
        finally:
            send.close()

    def __iter__(self) -> Iterator[PreparedBatch]:
        """Each batch in the order the helper read it, answering the helper's lookups on
        the way (between two batches, which is when the caller has written one); raises
        :class:`HelperFailure`."""
        receive = self._receive
        while True:
            try:
                message = receive.recv()
            except EOFError:
                self._process.join(_STOP_TIMEOUT)
                code = self._process.exitcode
                raise HelperFailure(
                    "internal", f"the helper process preparing the batches stopped unexpectedly (exit code {code})"
                ) from None
            kind = message[0]
            if kind == "work":
                _, lookup, batch = message
                if lookup is not None:
                    number, blob = lookup
                    hashes = marshal.loads(blob)
                    self._answers.put(number, self._written, _statuses(hashes, self._lookup(hashes)))
                if batch is not None:
                    yield _unpack(batch)
            elif kind == "info":
                self._note(message[1])
            elif kind == "log":
                _, name, level, text = message
                logging.getLogger(name).log(level, "%s", text)
            elif kind == "failed":
                self._finished = True
                raise HelperFailure(*message[1:])
            else:  # "done"
                self._finished = True
                return

    def committed(self) -> None:
        """Tell the helper that the batch last yielded is committed."""
        self._written += 1
        self._committed.value = self._written

    def close(self) -> None:
        """Stop the helper if it still runs and reap it; safe to call twice."""
        process = self._process
        if process.pid is not None and process.exitcode is None:
            # after its last message the helper only closes its connection and exits
            process.join(_STOP_TIMEOUT if self._finished else 0)
            if process.exitcode is None:
                process.terminate()
                process.join(_STOP_TIMEOUT)
            if process.exitcode is None:
                process.kill()
                process.join()
        self._receive.close()


# ── in the helper process ─────────────────────────────────────────────────────────────


class _PipeLog(logging.Handler):
    """Sends the helper's log records to the parent, which logs them."""

    def __init__(self, send: Connection) -> None:
        super().__init__()
        self.send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            self.send.send(("log", record.name, record.levelno, text))
        except Exception:  # a log line must never stop the import
            self.handleError(record)


class _Unsettled:
    """Keys of the batches sent but perhaps not committed by the parent."""

    def __init__(self) -> None:
        self._pending: deque[tuple[int, set[str]]] = deque()

    def keys(self, done: int) -> Collection[str]:
        """The keys of the batches after number ``done``: what a lookup made when the
        parent had committed ``done`` batches may not show."""
        later = [keys for number, keys in self._pending if number > done]
        if not later:
            return frozenset()
        return later[0] if len(later) == 1 else set().union(*later)

    def forget(self, through: int) -> None:
        """Drop the batches up to number ``through``: no lookup still to come predates them."""
        pending = self._pending
        while pending and pending[0][0] <= through:
            pending.popleft()

    def add(self, number: int, batch: PreparedBatch) -> None:
        at = bulk.EXTERNAL_ID_AT
        keys = {row[at] for row in batch.rows}
        keys.update(row[at] for row in batch.recheck)
        if keys:
            self._pending.append((number, keys))


class _Answers:
    """The parent's answers to the helper's lookups, in shared memory.

    One slot per batch of lookahead (:data:`_LOOKAHEAD`), used by turns: the helper reads
    the answer for batch *n* before it sends the keys of batch *n* + ``_LOOKAHEAD``,
    whose answer goes into the same slot. Each slot holds the
    batch's number, the number of batches committed when the lookup was made, and a
    status byte per key (``_DUPLICATE``, ``_NEW``, ``_CHANGED``) in the order sent.
    Batches of more than ``capacity`` keys are looked up by the helper itself.
    """

    def __init__(self, context: Any, *, capacity: int) -> None:
        self.capacity = capacity
        self._statuses = context.RawArray("B", _LOOKAHEAD * capacity)
        self._meta = context.RawArray("q", 3 * _LOOKAHEAD)  # per slot: number, committed, length
        self._ready = context.Semaphore(0)

    def put(self, number: int, committed: int, statuses: bytes) -> None:
        """(In the parent.) Publish the answer for batch ``number``."""
        slot = number % _LOOKAHEAD
        start = slot * self.capacity
        memoryview(self._statuses).cast("B")[start : start + len(statuses)] = statuses
        self._meta[3 * slot : 3 * slot + 3] = [number, committed, len(statuses)]
        self._ready.release()

    def take(self, number: int, parent: int) -> tuple[bytes, int]:
        """(In the helper.) Wait for the answer for batch ``number``: its statuses and
        the number of batches committed when it was made. Raises ``BrokenPipeError``
        when process ``parent`` is gone."""
        while not self._ready.acquire(timeout=1.0):
            if os.getppid() != parent:
                raise BrokenPipeError("the parent process is gone")
        slot = number % _LOOKAHEAD
        found, committed, length = self._meta[3 * slot : 3 * slot + 3]
        if found != number:  # the protocol makes this impossible; say so if it happens
            raise RuntimeError(f"lookup answer for batch {found} where {number} was expected")
        start = slot * self.capacity
        return bytes(memoryview(self._statuses).cast("B")[start : start + length]), committed


_ABSENT = object()


def _statuses(hashes: dict[str, str], changed: dict[str, str | None]) -> bytes:
    """The status byte of every key of ``hashes``, in order, from the lookup's answer."""
    if not changed:
        return bytes(len(hashes))  # a re-import: every key a duplicate
    if len(changed) == len(hashes) and all(known is None for known in changed.values()):
        return bytes([_NEW]) * len(hashes)
    get = changed.get
    return bytes(
        [
            _DUPLICATE if (known := get(key, _ABSENT)) is _ABSENT else _NEW if known is None else _CHANGED
            for key in hashes
        ]
    )


def _changed(keys: dict[str, Any], statuses: bytes) -> dict[str, str | None]:
    """The answer as :meth:`BatchWriter.lookup` gives it: the keys not duplicates, with
    ``None`` for new ones (the stored hash itself is not needed for building)."""
    if statuses.count(_DUPLICATE) == len(statuses):
        return {}
    if statuses.count(_NEW) == len(statuses):
        return dict.fromkeys(keys)
    return {key: None if status == _NEW else "" for key, status in zip(keys, statuses, strict=True) if status}


def _pack(batch: PreparedBatch) -> tuple[Any, ...]:
    """A batch for a message. The rows go as one ``marshal`` blob when they can: a sixth
    of the time ``pickle`` takes (which keeps a memo of every object) on the helper's
    side; PostgreSQL's rows hold datetimes, which only pickle takes."""
    rows = (batch.rows, batch.recheck, batch.recheck_raw, batch.bad_positions)
    try:
        blob = marshal.dumps(rows)
    except ValueError:
        return (None, rows, batch.bad, batch.state, batch.counts)
    return (blob, None, batch.bad, batch.state, batch.counts)


def _unpack(packed: tuple[Any, ...]) -> PreparedBatch:
    blob, pickled, bad, state, counts = packed
    rows, recheck, recheck_raw, bad_positions = marshal.loads(blob) if blob is not None else pickled
    return PreparedBatch(
        rows=rows,
        recheck=recheck,
        bad=bad,
        state=state,
        counts=counts,
        recheck_raw=recheck_raw,
        bad_positions=bad_positions,
    )


def _isolate(send: Connection) -> None:
    """Make the forked process independent of the parent's terminal and log handlers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # What the parent had is never garbage here: the collector need not traverse it
    # (and copy the pages it would touch)
    gc.freeze()
    # Every row read is a few containers that live until its batch is built, two batches
    # later: the collector, run by allocation counts, traversed them again and again
    # (~1 s of a 5 s re-import of a million rows). Reading makes no reference cycles of
    # its own; the collector runs every _COLLECT_EVERY batches for any a collector makes.
    gc.disable()

    # The parent's streams may be a progress display's proxies, whose locks another
    # thread of the parent may have held at the fork: write to the descriptors directly.
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the process)
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    handler = _PipeLog(send)
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger):
            logger.handlers = []
    logging.getLogger().handlers = [handler]


def _helper_main(
    send: Connection,
    receive: Connection,
    committed: Any,
    answers: _Answers,
    writer: BatchWriter,
    url: str,
    collector: Any,
    state: dict[str, Any] | None,
    max_buffer: int,
    track_writes: bool,
) -> None:
    receive.close()  # the parent's end: when the parent is gone, sending fails
    parent = os.getppid()
    die_with_parent(parent)  # and while it reads, between two sends
    _isolate(send)
    # A connection of its own: the inherited engine's connections belong to the parent
    # (the engine object stays referenced, so they are never closed from here). Pooled:
    # one connection for the run keeps its page cache between lookups.
    engine = create_db_engine(url)
    writer.engine = engine
    unsettled = _Unsettled() if track_writes else None
    # read, not yet built: (number, keyed batch, checkpoint state, looked up by the parent)
    pending: deque[tuple[int, KeyedBatch, dict[str, Any] | None, bool]] = deque()
    number = 0
    failed: BaseException | None = None

    def build_next() -> tuple[Any, ...]:
        built, keyed, checkpoint, asked = pending.popleft()
        if asked:
            statuses, done = answers.take(built, parent)
            changed = _changed(keyed.hashes, statuses)
        else:
            done = committed.value
            changed = writer.lookup(keyed.hashes)
        batch = writer.build(keyed, changed, checkpoint, unsettled=unsettled.keys(done) if unsettled else ())
        if unsettled is not None:
            unsettled.add(built, batch)
            # every later batch is looked up after batch built - _LOOKAHEAD - 1 was
            # committed, or (by the helper) after what is committed now
            unsettled.forget(min(built - _LOOKAHEAD, committed.value))
        return _pack(batch)

    def note(info: ReadInfo) -> None:
        send.send(("info", info))

    def flush(records: list[Record], checkpoint: dict[str, Any] | None) -> None:
        nonlocal number, failed
        if failed is not None:  # read_batches flushes what it holds after a failure
            raise failed
        try:
            number += 1
            keyed = writer.key(records)
            asked = 0 < len(keyed.hashes) <= answers.capacity
            lookup = (number, marshal.dumps(keyed.hashes)) if asked else None
            pending.append((number, keyed, checkpoint, asked))
            batch = build_next() if len(pending) > _LOOKAHEAD else None
        except BaseException as exc:
            failed = exc  # nothing after a batch that was not built may be written
            raise
        send.send(("work", lookup, batch))
        if number % _COLLECT_EVERY == 0:
            gc.collect()

    try:
        try:
            read_batches(collector.collect_keyed(writer.ctx, state), writer.ctx.instance, max_buffer, flush, note)
            while pending:
                send.send(("work", None, build_next()))
        except BrokenPipeError:
            return  # the parent is gone
        except Exception as exc:
            try:
                # what was read before the collector failed is written, as in-process
                while pending and failed is None:
                    send.send(("work", None, build_next()))
            except BrokenPipeError:
                return
            except Exception as later:  # noqa: BLE001 (the first failure is the one reported)
                log.debug("after the failure, building a batch failed too: %s", later)
            error_class, message = describe_failure(exc)
            details = "".join(traceback.format_exception(exc)).rstrip() if error_class == "internal" else None
            send.send(("failed", error_class, message, details))
            return
        send.send(("done",))
    except BrokenPipeError:
        pass
    finally:
        engine.dispose()
