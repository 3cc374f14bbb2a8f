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
* the helper's lookup of stored hashes may not see the batches still being written
  here: it numbers its batches, this process publishes the number of the last one
  committed, and keys written by later ones go back as unsettled rows that are
  classified in the writing transaction (see :mod:`bihuan.core.batches`);
* the helper ignores SIGINT: Ctrl+C reaches this process, which stops the helper and
  reaps it (:meth:`HelperBatches.close`) on any way out — the end, an error, an
  interrupt; if this process is killed, the helper's next send fails and it exits;
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

from bihuan.core.batches import BatchWriter, PreparedBatch, Record, read_batches
from bihuan.core.collector import RunContext
from bihuan.core.errors import CollectorError, describe_failure
from bihuan.storage import bulk
from bihuan.storage.engine import create_db_engine

log = logging.getLogger(__name__)

#: ``BIHUAN_HELPER_PROCESS``: ``auto`` (default), ``always`` (whenever possible), ``never``
HELPER_ENV = "BIHUAN_HELPER_PROCESS"
#: inputs smaller than this are read in-process: forking costs more than it saves
HELPER_MIN_BYTES = 1 << 20
#: seconds the helper gets to exit after SIGTERM before it is killed
_STOP_TIMEOUT = 5.0

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
        url = writer.engine.url.render_as_string(hide_password=False)
        self._process = context.Process(
            target=_helper_main,
            args=(send, self._receive, self._committed, writer, url, collector, state, max_buffer, track_writes),
            name=f"bihuan-helper {writer.ctx.instance}",
            daemon=True,
        )
        try:
            self._process.start()
        finally:
            send.close()

    def __iter__(self) -> Iterator[PreparedBatch]:
        """Each batch in the order the helper read it; raises :class:`HelperFailure`."""
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
            if kind == "batch":
                yield _unpack(message)
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
    """Keys of the batches sent but not yet committed by the parent."""

    def __init__(self, committed: Any) -> None:
        self._committed = committed
        self._pending: deque[tuple[int, set[str]]] = deque()

    def keys(self) -> Collection[str]:
        """Read before the lookup: what the lookup's snapshot may not show yet."""
        done = self._committed.value
        pending = self._pending
        while pending and pending[0][0] <= done:
            pending.popleft()
        if not pending:
            return frozenset()
        if len(pending) == 1:
            return pending[0][1]
        return set().union(*(keys for _, keys in pending))

    def add(self, number: int, batch: PreparedBatch) -> None:
        at = bulk.EXTERNAL_ID_AT
        keys = {row[at] for row in batch.rows}
        keys.update(row[at] for row in batch.recheck)
        if keys:
            self._pending.append((number, keys))


def _pack(batch: PreparedBatch) -> tuple[Any, ...]:
    """A batch as a message. The rows go as one ``marshal`` blob when they can: a sixth
    of the time ``pickle`` takes (which keeps a memo of every object) on the helper's
    side; PostgreSQL's rows hold datetimes, which only pickle takes."""
    try:
        blob = marshal.dumps((batch.rows, batch.recheck))
    except ValueError:
        return ("batch", None, (batch.rows, batch.recheck), batch.bad, batch.state, batch.counts)
    return ("batch", blob, None, batch.bad, batch.state, batch.counts)


def _unpack(message: tuple[Any, ...]) -> PreparedBatch:
    _, blob, pickled, bad, state, counts = message
    rows, recheck = marshal.loads(blob) if blob is not None else pickled
    return PreparedBatch(rows=rows, recheck=recheck, bad=bad, state=state, counts=counts)


def _isolate(send: Connection) -> None:
    """Make the forked process independent of the parent's terminal and log handlers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # What the parent had is never garbage here: the collector need not traverse it
    # (and copy the pages it would touch)
    gc.freeze()
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
    writer: BatchWriter,
    url: str,
    collector: Any,
    state: dict[str, Any] | None,
    max_buffer: int,
    track_writes: bool,
) -> None:
    receive.close()  # the parent's end: when the parent is gone, sending fails
    _isolate(send)
    # A connection of its own: the inherited engine's connections belong to the parent
    # (the engine object stays referenced, so they are never closed from here).
    engine = create_db_engine(url, null_pool=True) if url.startswith("sqlite") else create_db_engine(url)
    writer.engine = engine
    unsettled = _Unsettled(committed) if track_writes else None
    number = 0

    def flush(records: list[Record], checkpoint: dict[str, Any] | None) -> None:
        nonlocal number
        batch = writer.prepare(records, checkpoint, unsettled=unsettled.keys() if unsettled else frozenset())
        number += 1
        if unsettled is not None:
            unsettled.add(number, batch)
        send.send(_pack(batch))

    try:
        try:
            read_batches(collector.collect_keyed(writer.ctx, state), writer.ctx.instance, max_buffer, flush)
        except BrokenPipeError:
            return  # the parent is gone
        except Exception as exc:
            error_class, message = describe_failure(exc)
            details = "".join(traceback.format_exception(exc)).rstrip() if error_class == "internal" else None
            send.send(("failed", error_class, message, details))
            return
        send.send(("done",))
    except BrokenPipeError:
        pass
    finally:
        engine.dispose()
