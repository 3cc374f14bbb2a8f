"""Built-in plugin: post notices to WeCom / DingTalk group robots and JSON webhooks.

Configured by ``[notify]`` in plugins.toml (see there). Each ``[[notify.targets]]`` table
becomes a notice target of the outbox (:mod:`bihuan.core.outbox`): every notice it takes
is written with the event that caused it, posted at the end of that command (within
``deadline_seconds``, all targets together, each on its own), and retried with backoff by
``bihuan tick`` until it is delivered or given up (``bihuan notices`` lists those).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from bihuan.plugins.markers import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable

    from bihuan.core.config import NotifySettings, NotifyTarget, Settings
    from bihuan.core.outbox import Envelope, NoticeTarget

_settings: NotifySettings | None = None
#: set while this thread posts a notice
_posting = threading.local()


class _HideNotifierRequests(logging.Filter):
    """httpx logs every request's full URL at INFO (``bihuan -v``), and a robot's URL
    carries its key: drop the records of requests the notifier makes (its own log names
    the target instead)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_posting, "active", False)


def _hide_request_urls() -> None:
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, _HideNotifierRequests) for f in httpx_log.filters):
        httpx_log.addFilter(_HideNotifierRequests())


class RobotTarget:
    """One ``[[notify.targets]]`` table as a notice target."""

    def __init__(self, config: NotifyTarget, *, timeout_seconds: float) -> None:
        self.name = config.name
        self.config = config
        self.timeout_seconds = timeout_seconds
        self._client: Any = None
        self._lock = threading.Lock()

    def accepts(self, kind: str) -> bool:
        return kind in self.config.events

    def send(self, envelope: Envelope, *, timeout: float) -> None:
        # the time counts from here: importing httpx (the first time) and building its
        # client take a good part of a second, which the request's own timeout must not add
        expires = time.monotonic() + min(self.timeout_seconds, timeout)
        # imported when a notice is posted: every command loads this plugin, few send
        # anything, and httpx is ~0.1 s of a command's start-up
        from bihuan.plugins.notify_targets import new_client, post

        with self._lock:  # one client per target, its connections kept between notices
            if self._client is None:
                self._client = new_client()
        _posting.active = True
        try:
            post(self._client, self.config, envelope, expires=expires)
        finally:
            _posting.active = False


@hookimpl
def configure(settings: Settings) -> None:
    global _settings
    _settings = settings.notify
    if _settings.targets:
        _hide_request_urls()


@hookimpl
def register_notice_targets(register: Callable[[NoticeTarget], None]) -> None:
    if _settings is None:
        return
    for target in _settings.targets:
        register(RobotTarget(target, timeout_seconds=_settings.timeout_seconds))
