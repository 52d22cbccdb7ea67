"""llama.cpp's ``llama-server`` as the embedded generator, for real (Qwen2.5-Coder-0.5B, 2 slots):
requests in flight are decoded together, the synthesis client's JSON mode and ``repeat_penalty``
are honoured, and a server killed with -9 comes back on its port."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import pytest
from openai import AsyncOpenAI

from infra.services.llama import local_llm
from infra.services.process import http_ok
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def llm():
    with local_llm(slots=2, n_ctx=1024) as server:
        yield server


def _ask(llm, prompts: list[str], **options) -> tuple[list[str], float]:
    """Send ``prompts`` at once; their answers and the seconds until the last one arrived."""
    async def go():
        client = AsyncOpenAI(base_url=llm.base_url, api_key="local", max_retries=0, timeout=300)
        try:
            started = time.perf_counter()
            answers = await asyncio.gather(*(client.chat.completions.create(
                model=llm.model, messages=[{"role": "user", "content": p}], **options) for p in prompts))
            return [a.choices[0].message.content for a in answers], time.perf_counter() - started
        finally:
            await client.close()
    return asyncio.run(go())


def test_two_requests_in_flight_finish_in_less_than_twice_one(llm):
    # Given exactly 24 tokens per answer (ignore_eos), one request alone and then two at once;
    # the best of two tries each, so that a burst of load from elsewhere does not decide it.
    fixed = dict(max_tokens=24, temperature=1.0, seed=7, extra_body={"ignore_eos": True})
    _ask(llm, ["Say hello."], max_tokens=4)  # warm-up
    one = min(_ask(llm, ["Tell me about rivers."], **fixed)[1] for _ in range(2))
    two = min(_ask(llm, ["Tell me about rivers.", "Tell me about hills."], **fixed)[1] for _ in range(2))
    # Then both finish in less than twice one's time: served one after the other (the old
    # llama-cpp-python server) they take 2x and more; decoded together, on 2 idle cores, ~1.2x
    # (1.75x measured with the cores shared by ~12 busy processes: the CPU share, not the
    # weights' memory traffic, is then what limits it).
    print(f"\none request {one:.2f}s, two in flight {two:.2f}s ({two / one:.2f}x)")
    assert two < 2 * one, (one, two)


def test_json_mode_and_repeat_penalty_are_honoured(llm):
    # JSON mode: a prompt that asks for prose still gets a JSON object (a grammar constrains the sampler).
    answer, _ = _ask(llm, ["Write two lines of poetry about the sea."], max_tokens=64, temperature=1.0, seed=3,
                     response_format={"type": "json_object"})
    assert isinstance(json.loads(answer[0]), dict), answer
    # repeat_penalty (llama.cpp's sampling option, sent in extra_body) changes the greedy answer.
    prompt = ["Repeat the word banana twenty times, separated by spaces."]
    plain, _ = _ask(llm, prompt, max_tokens=32, temperature=0.0, extra_body={"repeat_penalty": 1.0})
    penalised, _ = _ask(llm, prompt, max_tokens=32, temperature=0.0, extra_body={"repeat_penalty": 1.8})
    assert plain[0].lower().count("banana") > penalised[0].lower().count("banana"), (plain, penalised)


def test_a_killed_server_is_restarted_on_its_port(llm):
    first = llm.service.process.pid
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: llm.service.restarts == 1 and http_ok(llm.service.ready_url), timeout_s=180, poll_s=0.2)
    assert llm.service.process.pid != first
    answer, _ = _ask(llm, ["Say hello."], max_tokens=8)  # serving again, at the same base URL
    assert answer[0]
