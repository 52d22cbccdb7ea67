"""Adaptive rate limits: buckets from settings or headers, pauses on exhausted limits and 429s."""

from __future__ import annotations

import asyncio
import time

from tasks.llm.client import LLMClient, LLMSettings
from tasks.llm.ratelimit import RateLimiter
from tests.support.fake_openai import FakeOpenAI


def test_a_configured_requests_per_minute_spaces_requests_after_the_burst():
    limiter = RateLimiter(rpm=600)  # 10/s, burst of 600 at start: drain it first
    limiter.requests.level = 2

    async def go():
        start = time.monotonic()
        for _ in range(5):
            await limiter.acquire(1)
        return time.monotonic() - start

    elapsed = asyncio.run(go())
    # 2 at once, then 3 at 10/s: waits of at most 0.1 s each (shorter by what refilled meanwhile), really slept
    assert 0 < limiter.waited_s <= 0.3 + 1e-6 and elapsed >= 0.25


def test_headers_set_the_limits_and_an_exhausted_limit_pauses_until_its_reset():
    limiter = RateLimiter()
    assert not limiter.active
    limiter.observe({"x-ratelimit-limit-tokens": "90000", "x-ratelimit-remaining-tokens": "1000",
                     "x-ratelimit-reset-tokens": "3s"})
    assert limiter.tokens.capacity == 90000 and limiter.tokens.level <= 1000 and limiter.paused_for() == 0
    start = time.monotonic()
    limiter.observe({"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "0",
                     "x-ratelimit-reset-requests": "1m30s"})
    left, elapsed = limiter.paused_for(), time.monotonic() - start
    assert 90 - elapsed <= left <= 90  # paused until the reset, counted from the answer


def test_user_limits_are_not_raised_by_headers():
    limiter = RateLimiter(rpm=60)
    limiter.observe({"x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-requests": "9999"})
    assert limiter.requests.capacity == 60


def test_the_client_learns_from_response_headers_and_waits_for_the_reset():
    headers = lambda n: {"x-ratelimit-limit-requests": "100",  # noqa: E731
                         "x-ratelimit-remaining-requests": "0" if n == 0 else "50",
                         "x-ratelimit-reset-requests": "0.6s"}
    with FakeOpenAI(rate_limit_headers=headers) as server:
        async def go():
            client = LLMClient(LLMSettings(base_url=server.base_url, model=server.model, concurrency=4))
            try:
                await client.complete("first")
                await asyncio.gather(*(client.complete(f"then {i}") for i in range(3)))
            finally:
                await client.close()
        asyncio.run(go())
    (t0, _), *rest = server.requests
    assert all(t - t0 >= 0.55 for t, _ in rest), "requests went out before the advertised reset"
