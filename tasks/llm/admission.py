"""Admission of parts: keep the LLM busy across shard and part boundaries, without flooding memory.

Each running part tells how many requests it can send *now* (its brainstorm calls first, then
one per example). A new part is admitted while fewer than ``target`` requests are ready, so
the brainstorms of later parts overlap the generations of earlier ones and the backend's
concurrency stays full until the very last part.

Each admitted part holds a :class:`AdmissionTicket` for its ready requests; releasing the ticket gives
back whatever the part did not finish, so a part that fails half-way (its store went away)
cannot keep the room it was admitted with and stall every later part.

>>> import asyncio
>>> gate = Admission(target=8)
>>> ticket = asyncio.run(gate.admit(5))
>>> gate.ready
5
>>> ticket.done(2); gate.ready
3
>>> ticket.release(); gate.ready  # the part ended: its 3 unfinished requests are given back
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

    async def admit(self, requests: int) -> AdmissionTicket | None:
        """Wait for room, then count ``requests`` as ready; None if admission was closed meanwhile."""
        async with self._queue:  # one waiter at a time: each sees the previous one's requests
            while self.ready >= self.target and not self.closed:
                self._room.clear()
                await self._room.wait()
            if self.closed:
                return None
            self.ready += requests
            return AdmissionTicket(self, requests)

    async def wait_for_room(self) -> None:
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
        """Admit nothing more (the budget is used up); waiters get None."""
        self.closed = True
        self._room.set()


class AdmissionTicket:
    """The ready requests of one admitted part: counted down as they finish, the rest given back by
    :meth:`release` (always called when the part ends, however it ends)."""

    def __init__(self, admission: Admission, requests: int):
        self._admission, self.outstanding = admission, requests

    def add(self, requests: int) -> None:
        """The part has more requests ready (its generations, after the brainstorm)."""
        self.outstanding += requests
        self._admission.add(requests)

    def done(self, requests: int = 1) -> None:
        requests = min(requests, self.outstanding)
        self.outstanding -= requests
        self._admission.done(requests)

    def release(self) -> None:
        self.done(self.outstanding)
