"""The collector contract: what a built-in or third-party collector implements.

An author writes only fetching and parsing; the pipeline (``core.pipeline``) owns
buffering, transactions, state, deduplication, redaction and quarantine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from bihuan.core.types import BadRecord, Checkpoint, Item, ReadInfo
from bihuan.core.values import DateWindow

if TYPE_CHECKING:
    from bihuan.core.http import Http

CollectorOutput = Item | Checkpoint | BadRecord | ReadInfo


class CollectorConfig(BaseModel):
    """Keys every ``[collectors.<instance>]`` table may carry.

    A collector's own ``Config`` subclasses this. Unknown keys are an error, so that a
    misspelt key is reported instead of silently ignored.
    """

    model_config = ConfigDict(extra="forbid")

    #: run this instance in ``bihuan collect`` without naming it
    enabled: bool = True
    #: the registered collector name; defaults to the table's key
    collector: str | None = None
    #: the ``source`` stored on items; defaults to the instance name
    source: str | None = None
    #: the channel for items that do not carry their own
    channel: str = "other"


@dataclass
class RunContext:
    """What a collector gets for one run.

    :ivar instance: the collector instance name (the ``[collectors.<instance>]`` key, or
        ``import:<source>`` for ``bihuan import``); state is kept per instance.
    :ivar source: the ``source`` stored on every item of this run.
    :ivar channel: default channel for items that carry none.
    :ivar config: the validated ``Config`` of the collector.
    :ivar timezone: the zone naive timestamps in the source are read in (parse them with
        :class:`bihuan.core.values.DateParser` or :func:`~bihuan.core.values.parse_datetime`).
    :ivar date_window: which timestamps the pipeline stores (``[bihuan]
        future_horizon_days`` and ``earliest_date``); it quarantines the others.
    :ivar log: a logger named after the instance.
    :ivar pseudonymise: see the attribute's comment.
    :ivar http: the HTTP client for sources on the network (a property).
    """

    instance: str
    source: str
    channel: str
    config: Any
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    date_window: DateWindow = field(default_factory=DateWindow)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("bihuan.collector"))
    #: personal data in a string → keyed pseudonyms, as the pipeline stores identifiers
    #: and state: a collector that keys its state by something that may hold personal
    #: data (a file path) looks it up with this. Set by the pipeline for a run.
    pseudonymise: Callable[[str], str] = field(default=lambda text: text, repr=False)
    _http: Http | None = field(default=None, repr=False)

    @property
    def http(self) -> Http:
        """The run's HTTP client (see :mod:`bihuan.core.http`), made on first use from the
        config's ``timeout_seconds``, ``retries`` and ``backoff_seconds``; closed by the
        pipeline when the run ends."""
        if self._http is None:
            from bihuan.core.http import Http, HttpSettings

            self._http = Http(self.instance, HttpSettings.from_config(self.config))
        return self._http

    def close(self) -> None:
        """Release what the run opened (the HTTP client)."""
        if self._http is not None:
            self._http.close()
            self._http = None


@runtime_checkable
class Collector(Protocol):
    """A source of feedback.

    Collectors are instantiated without arguments, once per run. Class attributes:

    * ``name`` — the registered name (``collector = "<name>"`` in plugins.toml);
    * ``channel`` — the default channel of what it collects;
    * ``Config`` — a :class:`CollectorConfig` subclass validated from plugins.toml / CLI.

    Optional class attribute ``file_extensions`` (e.g. ``(".csv",)``): ``bihuan import``
    picks this collector for files with these extensions.

    Optional method ``parse_record(ctx, raw) -> Item`` turns one raw record (as stored in
    quarantine) into an item, raising ``RecordError``; collectors that have it support
    ``bihuan quarantine retry``.
    """

    name: ClassVar[str]
    channel: ClassVar[str]
    Config: ClassVar[type[CollectorConfig]]

    def check(self, ctx: RunContext) -> None:
        """Raise ``CollectorConfigError``/``AuthError`` when the run cannot work."""
        ...

    def collect(self, ctx: RunContext, state: dict[str, Any] | None) -> Iterator[CollectorOutput]:
        """Yield items, bad records and checkpoints, resuming from ``state``."""
        ...
