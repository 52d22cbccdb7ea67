"""Progress for long work: a bar on an interactive terminal, and a log line every 10 %.

The log lines go to whatever logger is given (a Prefect run logger inside flows), so the
Prefect UI shows progress too; the bar only appears when stderr is a terminal.

>>> import logging
>>> p = Progress(total=4, desc="examples", logger=logging.getLogger("doctest"))
>>> for _ in range(4): p.advance()
>>> p.done
4
>>> p.close()
"""

from __future__ import annotations

import logging
import threading

from tqdm.auto import tqdm


class Progress:
    """Counts finished units of work; thread-safe, cheap to call per unit."""

    def __init__(self, total: int, desc: str, logger: logging.Logger | logging.LoggerAdapter, every: float = 0.1):
        self.total, self.desc, self.logger = total, desc, logger
        self.done = 0
        self._step = max(1, int(total * every))
        self._lock = threading.Lock()
        self._bar = tqdm(total=total, desc=desc, unit="ex", disable=None, leave=False)

    def advance(self, n: int = 1) -> None:
        with self._lock:
            before, self.done = self.done, self.done + n
            self._bar.update(n)
            if self.done == self.total or before // self._step != self.done // self._step:
                self.logger.info("%s: %d/%d (%.0f%%)", self.desc, self.done, self.total, 100 * self.done / max(1, self.total))

    def close(self) -> None:
        self._bar.close()
