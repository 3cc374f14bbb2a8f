"""A forked helper dies with its parent: prctl on Linux, the watchdog thread anywhere."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# A parent that forks a child which ties itself to the parent and then blocks for good
# (as a worker waiting on a pipe whose write end it holds itself); the parent prints the
# child's pid and sleeps until it is killed.
PARENT = """
import os, sys, time
from bihuan.core.lifeline import die_with_parent
use_prctl = sys.argv[1] == "prctl"
parent = os.getpid()
read, write = os.pipe()
child = os.fork()
if child == 0:
    if sys.argv[1] != "none":
        die_with_parent(parent, use_prctl=use_prctl)
    os.read(read, 1)  # never answered: write is open here too
    os._exit(0)
print(child, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _child_after_parent_killed(mode: str) -> bool:
    """Whether the child still runs 3 s after its parent was SIGKILLed."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT, mode], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        time.sleep(0.2)
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 3
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        return _alive(child)
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl: Linux")
@pytest.mark.parametrize("mode", ["prctl", "watchdog"])
def test_the_child_dies_with_its_parent(mode: str) -> None:
    assert not _child_after_parent_killed(mode)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc: Linux")
def test_without_it_the_child_outlives_its_parent() -> None:
    """The situation the lifeline is for (and proof that the test above can fail)."""
    assert _child_after_parent_killed("none")
