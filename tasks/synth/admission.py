"""Admission of parts: keep the LLM busy across shard and part boundaries, without flooding memory.

Each running part tells how many requests it can send *now* (its brainstorm calls first, then
one per example). A new part is admitted while fewer than ``target`` requests are ready, so
the brainstorms of later parts overlap the generations of earlier ones and the backend's
concurrency stays full until the very last part.

>>> import asyncio
>>> gate = Admission(target=8)
>>> asyncio.run(gate.admit(5)), gate.ready
(True, 5)
>>> gate.done(5); gate.ready
0
"""

from __future__ import annotations

import asyncio


class Admission:
    """Counts ready requests; :meth:`admit` waits (first come, first served) until there is room."""

    def __init__(self, target: int):
        self.target = max(1, target)
        self.ready = 0
        self.closed = False
        self._room = asyncio.Event()
        self._room.set()
        self._queue = asyncio.Lock()

    async def admit(self, requests: int) -> bool:
        """Wait for room, then count ``requests`` as ready. False if admission was closed meanwhile."""
        async with self._queue:  # one waiter at a time: each sees the previous one's requests
            while self.ready >= self.target and not self.closed:
                self._room.clear()
                await self._room.wait()
            if self.closed:
                return False
            self.ready += requests
            return True

    async def room(self) -> None:
        """Wait until a part could be admitted (or admission is closed), without admitting one."""
        while self.ready >= self.target and not self.closed:
            self._room.clear()
            await self._room.wait()

    def add(self, requests: int) -> None:
        """An admitted part has more requests ready (its generations, after the brainstorm)."""
        self.ready += requests

    def done(self, requests: int = 1) -> None:
        self.ready = max(0, self.ready - requests)
        if self.ready < self.target:
            self._room.set()

    def close(self) -> None:
        """Admit nothing more (the budget is used up); waiters return False."""
        self.closed = True
        self._room.set()
