"""The notice outbox: notices that reach every target at least once.

**Recording.** The engine writes each notice (an SLA breach, an overdue action, a spike,
a check verdict, a stage change, a reopened case) with :meth:`Outbox.record` *in the
transaction of the event itself*: a committed breach flag always has its notice, a
rolled-back move has none. One delivery row per notice target that takes the notice's
kind (:meth:`NoticeTarget.accepts`); a notice no target takes is not stored.

**Delivering.** :meth:`Outbox.deliver` sends what is due, each target on its own thread
(one dead target never holds up another), the notices of one target in the order they
happened, all within one shared deadline (``[notify] deadline_seconds``, 2 s): a command
never waits longer than that on delivery, and what is not delivered by then stays
pending. Each attempt first *claims* its row (counts the attempt, takes a lease), so two
senders at once never send the same delivery twice; a sender killed mid-attempt leaves
a lease that runs out and the next ``bihuan tick`` tries again.

A failed attempt is retried later, with exponential backoff and jitter
(:class:`RetryPolicy`), by the next ``bihuan tick``; after the last attempt, or at once
when the target refused for good (a wrong key), the delivery is *failed* and
``bihuan notices`` lists it (``bihuan notices retry ID`` tries again).

**Duplicates.** At least once means a receiver may see a notice twice (an answer lost
on the way back): every attempt carries the notice's stable id — the ``X-Bihuan-Notice-Id``
header and, for JSON webhooks, ``notice_id`` in the body — so a receiver drops repeats.

Errors are stored and logged through :func:`mask_secrets`: never a URL's key, a token,
or a server's echo of one.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bihuan.core.errors import ConfigError, DeliveryError, UsageError
from bihuan.core.notices import Notice, notice_from_dict

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlmodel import Session

    from bihuan.storage.outbox_queries import DeliveryRow

log = logging.getLogger("bihuan.notify")

#: header (and JSON field ``notice_id``) carrying the notice's stable id
NOTICE_ID_HEADER = "X-Bihuan-Notice-Id"
#: seconds a command waits for deliveries, all targets together
DEFAULT_DEADLINE_SECONDS = 2.0
#: an attempt is not started with less time than this left before the deadline
MIN_ATTEMPT_SECONDS = 0.05
#: seconds of the deadline kept to record how the last attempts ended (a request still
#: waiting on a hanging server times out this long before the deadline)
RECORD_SECONDS = 0.3
#: seconds a claimed delivery stays held after the deadline: the attempt's outcome is
#: recorded by then, unless its sender died mid-attempt (then the next round takes it over)
LEASE_SECONDS = 10.0
#: deliveries per target one round looks at (a long backlog is worked off over several ticks)
ROUND_LIMIT = 500
#: longest stored error text
MAX_ERROR_CHARS = 300


# ── masking ───────────────────────────────────────────────────────────────────────────

MASK = "***"


def mask_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` fit to store and print: each of ``secrets`` (and its URL-quoted forms),
    URL credentials, secret query parameters (``key=``, ``access_token=``, ``sign=``…),
    ``"token": …`` pairs and bearer tokens replaced by ``***``
    (:func:`bihuan.core.masking.mask_secrets`, the one masking function), personal data
    redacted (a robot may echo the notice), cut to :data:`MAX_ERROR_CHARS`."""
    from bihuan.core.privacy import safe_text

    text = safe_text(text, secrets)
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


# ── the contract of a target ──────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Envelope:
    """One notice on its way to one target."""

    #: the notice's stable id (a UUID), the same in every attempt and for every target
    id: str
    notice: Notice
    #: when the notice was recorded (UTC)
    created_at: datetime
    #: 1 for the first attempt
    attempt: int
    #: the team's time zone (``[bihuan] timezone``): say times in it
    zone: tzinfo

    def headline(self) -> str:
        return self.notice.headline(self.zone)

    def body(self) -> str:
        return self.notice.body(self.zone)

    def headers(self) -> dict[str, str]:
        """Headers every request of this delivery carries."""
        return {NOTICE_ID_HEADER: self.id}


@runtime_checkable
class NoticeTarget(Protocol):
    """Where notices go: a group robot, a webhook, a mail gateway… Contributed by a plugin
    through the ``register_notice_targets`` hook.

    ``name`` is stored with each delivery: keep it stable (a renamed target leaves the
    old name's pending deliveries unsent) and unique across plugins.
    """

    name: str

    def accepts(self, kind: str) -> bool:
        """Whether notices of ``kind`` (``sla_breach``, ``spike``…) go to this target."""
        ...

    def send(self, envelope: Envelope, *, timeout: float) -> None:
        """Deliver once, within ``timeout`` seconds. Return when the receiver accepted it;
        raise :class:`~bihuan.core.errors.DeliveryError` (``retry=`` whether a later
        attempt may succeed) when not. Any other exception counts as a retryable failure."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed delivery is tried again, and when the outbox gives up."""

    #: attempts after the first
    retries: int = 8
    #: the wait after the first failure, doubled after each further one
    backoff_seconds: float = 30.0
    #: the longest wait between two attempts
    max_backoff_seconds: float = 3600.0

    @property
    def max_attempts(self) -> int:
        return self.retries + 1

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failure: the doubled backoff, capped,
        half of it fixed and half random ("equal jitter"), so that deliveries failed
        together (a target down for an hour) do not all come back at the same moment."""
        base = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** max(0, attempts - 1))
        return base / 2 + (rng or random).uniform(0, base / 2)


@dataclass
class DeliveryReport:
    """What one round of delivery did."""

    delivered: int = 0
    #: failed attempts that will be tried again
    retrying: int = 0
    #: deliveries given up in this round
    failed: int = 0
    #: due deliveries not tried in this round (the deadline, or their target failing)
    left: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for key, n in counts.items():
                setattr(self, key, getattr(self, key) + n)

    def to_dict(self) -> dict[str, int]:
        return {"delivered": self.delivered, "retrying": self.retrying, "failed": self.failed, "left": self.left}


# ── the outbox ────────────────────────────────────────────────────────────────────────


class Outbox:
    """Records notices in the event's transaction and delivers them to the targets."""

    def __init__(
        self,
        targets: Sequence[NoticeTarget] = (),
        *,
        policy: RetryPolicy | None = None,
        zone: tzinfo = UTC,
        deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
        rng: random.Random | None = None,
    ) -> None:
        self.targets: dict[str, NoticeTarget] = {}
        for target in targets:
            if target.name in self.targets:
                raise ConfigError(f"two notice targets are named {target.name!r}")
            self.targets[target.name] = target
        self.policy = policy or RetryPolicy()
        self.zone = zone
        self.deadline_seconds = deadline_seconds
        self._rng = rng or random.Random()
        self._recorded: list[int] = []
        self._lock = threading.Lock()

    def targets_for(self, kind: str) -> list[str]:
        """Names of the targets that take notices of ``kind``. Asked inside the event's
        transaction: a target whose ``accepts`` raises is logged and left out, never
        allowed to undo the event."""
        names = []
        for name, target in self.targets.items():
            try:
                if target.accepts(kind):
                    names.append(name)
            except Exception:
                log.exception("notify %s: accepts(%r) failed; the notice is not sent there", name, kind)
        return names

    # ── recording ─────────────────────────────────────────────────────────────────

    def record(self, notices: Iterable[Notice], *, session: Session) -> list[int]:
        """Write ``notices`` in ``session``'s transaction (the event's own), one delivery
        per target that takes each; returns the notice ids. Once the transaction commits,
        they are among :meth:`take_recorded`."""
        from sqlalchemy import event

        from bihuan.storage import outbox_queries as oq
        from bihuan.storage.types import utcnow

        ids = []
        for notice in notices:
            names = self.targets_for(notice.kind)
            if names:
                key = str(uuid.uuid4())
                ids.append(oq.add_notice(key, notice.kind, notice.to_dict(), names, utcnow(), session=session))
        if ids:
            event.listen(session, "after_commit", lambda _session: self._remember(ids), once=True)
        return ids

    def _remember(self, ids: list[int]) -> None:
        with self._lock:
            self._recorded.extend(ids)

    def take_recorded(self) -> list[int]:
        """The notices this process recorded (and committed) since the last call."""
        with self._lock:
            ids, self._recorded = self._recorded, []
        return ids

    def requeue(self, engine: Engine, notice_ids: Sequence[int] | None = None) -> list[int]:
        """Make the undelivered deliveries of ``notice_ids`` (default: every notice with a
        failed delivery) due now, failed ones too; returns the notice ids. An unknown id
        is a :class:`UsageError`."""
        from bihuan.storage import outbox_queries as oq
        from bihuan.storage.engine import session_scope
        from bihuan.storage.outbox_models import DeliveryStatus
        from bihuan.storage.types import utcnow

        with session_scope(engine, write=True) as session:
            if notice_ids is None:
                failed = oq.list_deliveries(statuses=[DeliveryStatus.FAILED], limit=ROUND_LIMIT, session=session)
                ids = sorted({row.notice_id for row in failed})
            else:
                ids = sorted(set(notice_ids))
                missing = sorted(set(ids) - oq.existing_notice_ids(ids, session=session))
                if missing:
                    raise UsageError(f"no notice {', '.join(map(str, missing))} (`bihuan notices --all` lists them)")
            if ids:
                oq.requeue(ids, utcnow(), session=session)
        return ids

    # ── delivering ────────────────────────────────────────────────────────────────

    def deliver_recorded(self, engine: Engine, *, deadline: float | None = None) -> DeliveryReport:
        """Deliver what this process recorded since the last call (a command, at its end)."""
        ids = self.take_recorded()
        return self.deliver(engine, notice_ids=ids, deadline=deadline) if ids else DeliveryReport()

    def deliver(
        self, engine: Engine, *, notice_ids: Sequence[int] | None = None, deadline: float | None = None
    ) -> DeliveryReport:
        """Send the due deliveries (of ``notice_ids``, or all), each target on its own
        thread, and return within ``deadline`` seconds (default ``deadline_seconds``)
        however the targets behave. Never raises for a target's failure."""
        from bihuan.storage import outbox_queries as oq
        from bihuan.storage.engine import session_scope
        from bihuan.storage.types import utcnow

        report = DeliveryReport()
        if not self.targets:
            return report
        end = time.monotonic() + (self.deadline_seconds if deadline is None else deadline)
        now = utcnow()
        lanes: dict[str, list[DeliveryRow]] = {}
        with session_scope(engine) as session:
            for name in self.targets:  # each its own share: one target's backlog never starves another
                rows = oq.due_deliveries(now, targets=[name], notice_ids=notice_ids, limit=ROUND_LIMIT, session=session)
                if rows:
                    lanes[name] = rows
        threads = [
            threading.Thread(
                target=self._lane,
                args=(engine, self.targets[name], lane, end, report),
                name=f"bihuan-notify-{index}",
                # a thread still inside a request at the deadline must not keep the
                # process alive: its delivery stays claimed until the lease runs out
                daemon=True,
            )
            for index, (name, lane) in enumerate(lanes.items())
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, end - time.monotonic()))
        return report

    def _lane(
        self, engine: Engine, target: NoticeTarget, rows: list[DeliveryRow], end: float, report: DeliveryReport
    ) -> None:
        """One target's due deliveries, in order, until the deadline or a failure that
        says the target is down (the rest then waits for the next round)."""
        for index, row in enumerate(rows):
            remaining = end - RECORD_SECONDS - time.monotonic()
            if remaining < MIN_ATTEMPT_SECONDS:
                report.add(left=len(rows) - index)
                return
            try:
                outcome = self._attempt(engine, target, row, end)
            except Exception:  # the database went away: the rows stay pending
                log.exception("notify %s: could not record a delivery of notice %s", target.name, row.notice_id)
                report.add(left=len(rows) - index)
                return
            if outcome is not None:
                report.add(**{outcome: 1})
            if outcome == "retrying":
                report.add(left=len(rows) - index - 1)
                return

    def _attempt(self, engine: Engine, target: NoticeTarget, row: DeliveryRow, end: float) -> str | None:
        from bihuan.storage import outbox_queries as oq
        from bihuan.storage.engine import session_scope
        from bihuan.storage.outbox_models import DeliveryStatus
        from bihuan.storage.types import utcnow

        now = utcnow()
        lease = now + timedelta(seconds=max(0.0, end - time.monotonic()) + LEASE_SECONDS)
        with session_scope(engine, write=True) as session:
            attempt = oq.claim(row.id, now, lease, session=session)
        if attempt is None:  # delivered or held by another sender meanwhile
            return None
        error: str | None = None
        retry = True
        try:
            notice = notice_from_dict(row.payload)
        except (ValueError, TypeError) as exc:
            error, retry = f"the stored notice cannot be read: {exc}", False
        else:
            envelope = Envelope(id=row.key, notice=notice, created_at=row.created_at, attempt=attempt, zone=self.zone)
            try:
                timeout = max(MIN_ATTEMPT_SECONDS, end - RECORD_SECONDS - time.monotonic())
                target.send(envelope, timeout=timeout)
            except DeliveryError as exc:
                error, retry = str(exc), exc.retry
            except ConfigError as exc:  # e.g. an unset variable: may be set by the next tick
                error = str(exc)
            except Exception as exc:  # a target plugin's bug must not stop the others  # noqa: BLE001
                error = f"{type(exc).__name__}: {exc}"
        finished = utcnow()
        what = f"notify {target.name}: {row.kind} notice {row.notice_id}"
        if error is None:
            with session_scope(engine, write=True) as session:
                oq.finish_attempt(row.id, status=DeliveryStatus.DELIVERED, now=finished, session=session)
            log.debug("%s delivered (attempt %d)", what, attempt)
            return "delivered"
        error = mask_secrets(error)
        of = f"attempt {attempt} of {self.policy.max_attempts}"
        if retry and attempt < self.policy.max_attempts:
            wait = self.policy.delay(attempt, self._rng)
            with session_scope(engine, write=True) as session:
                oq.finish_attempt(
                    row.id,
                    status=DeliveryStatus.PENDING,
                    now=finished,
                    error=error,
                    next_attempt_at=finished + timedelta(seconds=wait),
                    session=session,
                )
            log.warning("%s: %s (%s; `bihuan tick` tries again after %.0f s)", what, error, of, wait)
            return "retrying"
        with session_scope(engine, write=True) as session:
            oq.finish_attempt(row.id, status=DeliveryStatus.FAILED, now=finished, error=error, session=session)
        log.error("%s: %s (%s; given up, see `bihuan notices --failed`)", what, error, of)
        return "failed"
