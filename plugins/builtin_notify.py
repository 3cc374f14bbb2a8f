"""Built-in plugin: post notices to WeCom / DingTalk group robots and JSON webhooks.

Configured by ``[notify]`` in plugins.toml (see there). Notices are queued and posted by
one background thread, so a slow or dead webhook never holds up an import, an analysis
or the workplace; at exit the queue gets a few seconds to drain (:func:`flush`).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from typing import TYPE_CHECKING

from bihuan.core.notices import (
    ActionOverdue,
    CaseReopened,
    CheckVerdict,
    Notice,
    SlaBreach,
    SpikeNotice,
    StageChanged,
)
from bihuan.plugins.markers import hookimpl

if TYPE_CHECKING:
    from bihuan.core.analysis.weekly import Spike
    from bihuan.core.config import NotifySettings, Settings

log = logging.getLogger("bihuan.notify")
#: seconds the queue may take to drain when the process exits
EXIT_FLUSH_SECONDS = 5.0
THREAD_NAME = "bihuan-notify"


class _HideNotifierRequests(logging.Filter):
    """httpx logs every request's full URL at INFO (``bihuan -v``), and a robot's URL
    carries its key: drop those records when they come from the notifier's thread (its
    own log names the target instead)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != THREAD_NAME


def _hide_request_urls() -> None:
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, _HideNotifierRequests) for f in httpx_log.filters):
        httpx_log.addFilter(_HideNotifierRequests())


class Notifier:
    """A queue of notices and the thread that posts them to the configured targets."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        self.sent = 0
        self.failed = 0
        self._queue: queue.Queue[Notice | None] = queue.Queue()
        _hide_request_urls()
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread.start()

    def submit(self, notice: Notice) -> None:
        if any(notice.kind in t.events for t in self.settings.targets):
            self._queue.put(notice)

    def _run(self) -> None:
        # imported on the notifier's own thread: every command loads this plugin, few
        # send anything, and httpx is ~0.1 s of a command's start-up
        from importlib.metadata import version

        import httpx

        from bihuan.plugins.notify_targets import deliver

        headers = {"User-Agent": f"bihuan/{version('bihuan')}"}
        with httpx.Client(timeout=self.settings.timeout_seconds, headers=headers) as client:
            while True:
                notice = self._queue.get()
                try:
                    if notice is None:
                        return
                    for target in self.settings.targets:
                        if notice.kind in target.events:
                            if deliver(client, target, notice, self.settings):
                                self.sent += 1
                            else:
                                self.failed += 1
                except Exception:  # the thread must live on whatever one notice does
                    log.exception("notify: %s could not be sent", getattr(notice, "kind", notice))
                finally:
                    self._queue.task_done()

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for queued notices to be posted; True if drained."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)

    def close(self, timeout: float = EXIT_FLUSH_SECONDS) -> None:
        self.flush(timeout)
        self._queue.put(None)


_notifier: Notifier | None = None


def notifier() -> Notifier | None:
    """The running notifier (``None`` without targets)."""
    return _notifier


def flush(timeout: float = EXIT_FLUSH_SECONDS) -> bool:
    return _notifier.flush(timeout) if _notifier is not None else True


def _close_at_exit() -> None:
    if _notifier is not None:
        _notifier.close()


@hookimpl
def configure(settings: Settings) -> None:
    global _notifier
    if _notifier is not None:
        _notifier.close(0)
        _notifier = None
    if settings.notify.targets:
        _notifier = Notifier(settings.notify)


# registered once: it closes whichever notifier is running when the process exits
atexit.register(_close_at_exit)


def _submit(notice: Notice) -> None:
    if _notifier is not None:
        _notifier.submit(notice)


@hookimpl
def on_spike(spike: Spike, label: str) -> None:
    _submit(
        SpikeNotice(group_id=spike.group_id, label=label, week=spike.week, count=spike.count, baseline=spike.baseline)
    )


@hookimpl
def on_sla_breach(breach: SlaBreach) -> None:
    _submit(breach)


@hookimpl
def on_action_overdue(overdue: ActionOverdue) -> None:
    _submit(overdue)


@hookimpl
def on_task_stage_changed(change: StageChanged) -> None:
    _submit(change)


@hookimpl
def on_check_verdict(verdict: CheckVerdict) -> None:
    _submit(verdict)


@hookimpl
def on_case_reopened(reopened: CaseReopened) -> None:
    _submit(reopened)
