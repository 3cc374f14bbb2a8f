"""Forked helper processes die with the process that started them.

A helper (the analysis's feature worker and head start, the import's batch reader) is
reaped by its parent on every way out the parent sees: the end, an error, Ctrl+C. A
parent killed outright (SIGKILL, the OOM killer) sees nothing, and a helper blocked on a
pipe whose other end it inherited itself waits forever — with its memory and, for some,
a database connection. :func:`die_with_parent`, called first thing in the helper, ends
it when the parent goes:

* on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (through ``ctypes``: no dependency): the
  kernel kills the helper when the thread that forked it ends — for bihuan's helpers the
  main thread or a worker thread that reaps them before it ends, so only ever with the
  parent;
* elsewhere (or if ``prctl`` fails), a daemon thread polls ``os.getppid()``: a parent that
  is gone leaves the helper re-parented, and the thread kills it.

Either way the helper is killed, not asked to stop: it writes nothing to the database
(the parent does every write), so there is nothing to finish cleanly.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading

__all__ = ["die_with_parent", "watch_parent"]

log = logging.getLogger(__name__)

#: ``PR_SET_PDEATHSIG`` from <linux/prctl.h>
_PR_SET_PDEATHSIG = 1
#: seconds between two looks at the parent's pid (the portable fallback)
WATCH_INTERVAL = 0.5


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _set_pdeathsig() -> bool:
    """Ask the kernel to SIGKILL this process when its parent ends (Linux); whether it took."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            log.debug("prctl(PR_SET_PDEATHSIG) failed: errno %s", ctypes.get_errno())
            return False
    except (OSError, AttributeError):  # no libc to load, or no prctl in it
        return False
    return True


def watch_parent(parent: int, *, interval: float = WATCH_INTERVAL) -> threading.Thread:
    """Start a daemon thread that kills this process once ``parent`` is no longer its
    parent (it died, and the process was re-parented); returns the thread."""

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(interval)
        _kill_self()

    thread = threading.Thread(target=watch, name="bihuan-parent-watch", daemon=True)
    thread.start()
    return thread


def die_with_parent(parent: int, *, use_prctl: bool = True) -> None:
    """End this (forked) process when process ``parent`` ends; see the module doc.

    :param parent: the parent's pid, taken *before* the fork (``os.getpid()`` there): if
        the parent died between the fork and this call, this process ends now.
    :param use_prctl: ``False`` uses the portable watchdog thread even on Linux.
    """
    if use_prctl and _set_pdeathsig():
        # the parent may have died before prctl took: then nothing will signal us
        if os.getppid() != parent:
            _kill_self()
        return
    if os.getppid() != parent:
        _kill_self()
    watch_parent(parent)
