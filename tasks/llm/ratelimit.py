"""Adaptive rate limiting: requests and tokens per minute, from settings, headers and 429s.

Providers publish their limits on every answer (``x-ratelimit-limit-requests``,
``x-ratelimit-remaining-tokens``, ``x-ratelimit-reset-requests: 6m0s`` …). The limiter keeps
one token bucket per limit, sized from ``--rpm``/``--tpm`` or from those headers, pulls its
level down to what the server says remains, and stops every sender until the reset when a
limit is used up or a 429 asks to wait. With no limit known it costs nothing.

>>> limiter, start = RateLimiter(), time.monotonic()
>>> limiter.observe({"x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": "0",
...                  "x-ratelimit-reset-requests": "1.5s"})
>>> left, elapsed = limiter.paused_for(), time.monotonic() - start
>>> limiter.requests.capacity, 1.5 - elapsed <= left <= 1.5  # paused until the reset, from the answer on
(600.0, True)
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_reset(value: str | None) -> float | None:
    """``6m0s`` / ``1.5s`` / ``250ms`` / ``20`` -> seconds.

    >>> parse_reset("6m0s"), parse_reset("250ms"), parse_reset("20"), parse_reset(None)
    (360.0, 0.25, 20.0, None)
    """
    if not value:
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    return sum(float(n) * _UNIT_S[u] for n, u in parts) if parts else None


class Bucket:
    """A per-minute limit as a token bucket: ``capacity`` per minute, refilled continuously."""

    def __init__(self, per_minute: float | None):
        self.capacity = float(per_minute) if per_minute else 0.0
        self.level = self.capacity
        self._at = time.monotonic()

    @property
    def active(self) -> bool:
        return self.capacity > 0

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self._at) * self.capacity / 60.0)
        self._at = now

    def wait_s(self, amount: float) -> float:
        """Seconds until ``amount`` is available (an amount above capacity waits for a full bucket)."""
        missing = min(amount, self.capacity) - self.level
        return 0.0 if missing <= 0 else missing * 60.0 / self.capacity


class RateLimiter:
    """Shared by every request of a run (one event loop)."""

    def __init__(self, rpm: float | None = None, tpm: float | None = None):
        self.requests, self.tokens = Bucket(rpm), Bucket(tpm)
        self._fixed = (rpm is not None, tpm is not None)  # user limits are never raised by headers
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.waited_s = 0.0

    @property
    def active(self) -> bool:
        return self.requests.active or self.tokens.active or self._paused_until > time.monotonic()

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - time.monotonic())

    def pause(self, seconds: float) -> None:
        """Nobody sends for ``seconds`` (a 429's Retry-After, or a limit used up until its reset)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def acquire(self, tokens: int) -> None:
        """Wait until one request of about ``tokens`` tokens may be sent, then count it."""
        if not self.active:
            return
        async with self._lock:  # first come, first served
            while True:
                now = time.monotonic()
                self.requests.refill(now)
                self.tokens.refill(now)
                wait = max(self._paused_until - now,
                           self.requests.wait_s(1) if self.requests.active else 0.0,
                           self.tokens.wait_s(tokens) if self.tokens.active else 0.0)
                if wait <= 0:
                    break
                self.waited_s += wait
                await asyncio.sleep(wait)
            if self.requests.active:
                self.requests.level -= 1
            if self.tokens.active:
                self.tokens.level -= min(tokens, self.tokens.capacity)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn from an answer's ``x-ratelimit-*`` headers."""
        now = time.monotonic()
        for bucket, kind, fixed in ((self.requests, "requests", self._fixed[0]), (self.tokens, "tokens", self._fixed[1])):
            limit, remaining = headers.get(f"x-ratelimit-limit-{kind}"), headers.get(f"x-ratelimit-remaining-{kind}")
            try:
                limit_n = float(limit) if limit is not None else None
                remaining_n = float(remaining) if remaining is not None else None
            except ValueError:
                continue
            if limit_n and (not fixed or limit_n < bucket.capacity):
                if not bucket.active:
                    bucket.level = limit_n
                bucket.capacity = limit_n
            if remaining_n is None or not bucket.active:
                continue
            bucket.refill(now)
            bucket.level = min(bucket.level, remaining_n)
            if remaining_n <= 0:
                reset = parse_reset(headers.get(f"x-ratelimit-reset-{kind}"))
                if reset:
                    self.pause(reset)
