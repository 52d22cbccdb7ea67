"""The LLM client against a real HTTP server that misbehaves on purpose."""

from __future__ import annotations

import asyncio
import random

import pytest

from tasks.llm.client import LLMCallFailed, LLMClient, LLMSettings, LLMUnavailable, _Backoff
from tests.support.fake_openai import FakeOpenAI


def _settings(server: FakeOpenAI, **overrides) -> LLMSettings:
    defaults = dict(timeout_s=1.0, max_retries=3, backoff_base_s=0.05, backoff_max_s=2.0)
    return LLMSettings(base_url=server.base_url, model=server.model, **{**defaults, **overrides})


async def _complete(settings: LLMSettings, n: int = 1, **kwargs):
    client = LLMClient(settings, **kwargs)
    try:
        return await asyncio.gather(*(client.complete('Return "S1", "S2", "S3".') for _ in range(n)))
    finally:
        await client.close()


def test_429_is_retried_after_the_retry_after_delay():
    with FakeOpenAI(policy=lambda n, p: "429" if n == 0 else "ok", retry_after_s=0.6) as server:
        [completion] = asyncio.run(_complete(_settings(server)))
    (t0, _), (t1, _) = server.requests
    assert t1 - t0 >= 0.6, "the retry came before Retry-After allowed it"
    assert completion.attempts == 2 and completion.completion_tokens > 0


def test_retry_after_beyond_the_cap_fails_fast():
    with FakeOpenAI(policy=lambda n, p: "429", retry_after_s=30) as server:
        with pytest.raises(LLMCallFailed, match="asks to wait 30s"):
            asyncio.run(_complete(_settings(server)))
    assert len(server.requests) == 1


@pytest.mark.parametrize("fault", ["500", "stall"])
def test_server_errors_and_timeouts_are_retried_then_succeed(fault):
    with FakeOpenAI(policy=lambda n, p: fault if n < 2 else "ok", stall_s=1.5) as server:
        [completion] = asyncio.run(_complete(_settings(server)))
    assert completion.attempts == 3


def test_retries_are_bounded_and_the_error_is_named():
    with FakeOpenAI(policy=lambda n, p: "500") as server:
        with pytest.raises(LLMCallFailed, match="HTTP 500 after 4 attempts"):
            asyncio.run(_complete(_settings(server)))
    assert len(server.requests) == 4


def test_backoff_doubles_its_range_each_retry_up_to_the_cap_with_full_jitter():
    backoff = _Backoff(base_s=0.1, max_s=0.8, rng=random.Random(0))
    draws = {attempt: [backoff.delay(attempt, None) for _ in range(500)] for attempt in range(6)}
    for attempt, delays in draws.items():
        bound = min(0.8, 0.1 * 2**attempt)  # 0.1, 0.2, 0.4, then the cap
        assert all(0 <= d <= bound for d in delays), attempt
        assert max(delays) > 0.9 * bound and min(delays) < 0.1 * bound, attempt  # the whole range: full jitter
        assert len(set(delays)) == len(delays), attempt  # no two waits alike
    assert max(draws[2]) > 2 * max(draws[0]) and max(draws[4]) == pytest.approx(max(draws[5]), abs=0.08)
    assert backoff.delay(0, retry_after=5.0) == 5.0  # never shorter than the server's Retry-After


def test_the_client_sleeps_its_backoff_between_retries():
    chosen: list[tuple[int, float]] = []  # (attempt, seconds) of every backoff the client slept
    with FakeOpenAI(policy=lambda n, p: "500") as server:
        async def go():
            client = LLMClient(_settings(server, max_retries=4, backoff_base_s=0.1, backoff_max_s=0.8))
            delay = client._backoff.delay

            def recorded(attempt, retry_after):
                chosen.append((attempt, delay(attempt, retry_after)))
                return chosen[-1][1]

            client._backoff.delay = recorded
            try:
                with pytest.raises(LLMCallFailed):
                    await client.complete('Return "S1".')
            finally:
                await client.close()
        asyncio.run(go())
    gaps = [b[0] - a[0] for a, b in zip(server.requests, server.requests[1:])]
    assert [attempt for attempt, _ in chosen] == [0, 1, 2, 3] and len(gaps) == 4  # one backoff per retry, growing
    assert all(d <= min(0.8, 0.1 * 2**attempt) for attempt, d in chosen)  # capped
    assert all(gap >= d for gap, (_, d) in zip(gaps, chosen)), (gaps, chosen)  # and really waited


def test_json_mode_is_dropped_once_when_the_server_rejects_it():
    async def run(settings):
        client = LLMClient(settings)
        first = await client.complete('Return "S1".')
        rest = await asyncio.gather(*(client.complete('Return "S1".') for _ in range(2)))
        await client.close()
        return [first, *rest]

    with FakeOpenAI(policy=lambda n, p: "no_json_mode") as server:
        completions = asyncio.run(run(_settings(server)))
    assert all(c.text.startswith("{") for c in completions)
    assert len(server.requests) == 4  # one rejected JSON-mode request, then three plain ones


def test_concurrency_is_bounded_across_all_callers():
    with FakeOpenAI(policy=lambda n, p: "ok") as server:
        asyncio.run(_complete(_settings(server, concurrency=3), n=12))
    assert server.max_in_flight == 3


def test_preflight_reports_an_unreachable_server():
    from infra.services.process import free_port

    settings = LLMSettings(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", timeout_s=2)
    client = LLMClient(settings)
    with pytest.raises(LLMUnavailable, match="cannot reach the LLM server"):
        asyncio.run(client.preflight())


def test_preflight_reports_a_model_the_server_does_not_serve():
    with FakeOpenAI() as server:
        client = LLMClient(LLMSettings(base_url=server.base_url, model="gpt-7"))
        with pytest.raises(LLMUnavailable, match="'gpt-7' is not served"):
            asyncio.run(client.preflight())
    assert server.requests == []  # /models only: no generation was paid for


def test_the_api_key_never_shows_in_repr():
    client = LLMClient(LLMSettings(base_url="http://127.0.0.1:1/v1", model="m"), api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(client) and "***" in repr(client)


def test_no_concurrency_slot_is_held_while_a_request_backs_off():
    with FakeOpenAI(policy=lambda n, p: "500" if n == 0 else "ok") as server:
        async def go():
            client = LLMClient(_settings(server, concurrency=1, max_retries=1))
            backing_off = asyncio.Event()

            def fixed(attempt, retry_after):  # a fixed, long backoff, announced
                backing_off.set()
                return 0.5

            client._backoff.delay = fixed
            try:
                first = asyncio.create_task(client.complete("A"))
                await backing_off.wait()  # A was on the wire, was answered 500, and now backs off
                await asyncio.gather(first, client.complete("B"))
            finally:
                await client.close()
        asyncio.run(go())
    prompts = [body["messages"][-1]["content"] for body in server.bodies]
    assert prompts == ["A", "B", "A"], "B waited for A's backoff: the slot was held while sleeping"


def test_the_body_sent_is_exactly_what_the_settings_and_seed_say():
    with FakeOpenAI() as server:
        settings = _settings(server, temperature=0.7, top_p=0.9, max_tokens=321, extra_body={"repeat_penalty": 1.1})
        async def go():
            client = LLMClient(settings)
            try:
                await client.send(client.request("hello", seed=42))
            finally:
                await client.close()
        asyncio.run(go())
    [body] = server.bodies
    assert body["temperature"] == 0.7 and body["top_p"] == 0.9 and body["max_tokens"] == 321 and body["seed"] == 42
    assert body["response_format"] == {"type": "json_object"} and body["repeat_penalty"] == 1.1
    assert body["model"] == server.model and body["messages"] == [{"role": "user", "content": "hello"}]
