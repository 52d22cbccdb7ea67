"""A 429 with ``Retry-After`` pauses *every* sender, not only the request that got it (README, "Rate limits").

Against the scripted server over real HTTP: many requests queued behind a concurrency of 4, one
answered 429. Between the moment the client has the 429 and the end of its ``Retry-After``,
the server must see no request at all — neither the requests that were waiting for a
concurrency slot (a slot frees as soon as the 429 comes back) nor those whose slot frees when
the requests in flight are answered.
"""

from __future__ import annotations

import asyncio

from tasks.llm.client import LLMClient, LLMSettings
from tests.support.fake_openai import FakeOpenAI

RETRY_AFTER_S = 1.0
SLACK_S = 0.1  # requests already on the wire when the 429 left the server may still arrive just after it


def test_a_429_with_retry_after_pauses_every_sender_until_it_has_passed():
    # Given 16 requests behind a concurrency of 4, answers taking 0.3 s, and the fifth request answered 429
    with FakeOpenAI(policy=lambda n, prompt: "429" if n == 4 else "ok", retry_after_s=RETRY_AFTER_S,
                    latency_s=0.3) as server:
        settings = LLMSettings(base_url=server.base_url, model=server.model, concurrency=4, timeout_s=5.0,
                               max_retries=3, backoff_base_s=0.05, backoff_max_s=5.0)

        async def go():
            client = LLMClient(settings)
            try:
                return await asyncio.gather(*(client.complete(f'Return "S1" #{i}.', seed=i) for i in range(16)))
            finally:
                await client.close()

        completions = asyncio.run(go())
    # Then every request is answered, the rate-limited one on its second attempt ...
    assert len(completions) == 16 and sorted(c.attempts for c in completions) == [1] * 15 + [2]
    arrivals = [t for t, _ in server.requests]
    [limited] = [t for t, kind in server.requests if kind == "429"]
    # ... and no request at all reached the server while the Retry-After lasted
    during = [round(t - limited, 3) for t in arrivals if limited + SLACK_S <= t < limited + RETRY_AFTER_S - SLACK_S]
    assert during == [], f"sent {len(during)} request(s) during the pause, at +{during} s"
    assert len(arrivals) == 17 and sum(t >= limited + RETRY_AFTER_S - SLACK_S for t in arrivals) >= 8
