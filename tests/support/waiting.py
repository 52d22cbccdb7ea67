"""Waiting for something to happen, bounded: a condition polled until true, or a clear failure.

>>> wait_for(lambda: True)
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], object], timeout_s: float = 60.0, poll_s: float = 0.02) -> None:
    """Poll ``condition`` until it is true; fail the test after ``timeout_s`` (a hang guard, not a timing claim)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(poll_s)
