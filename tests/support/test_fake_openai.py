"""The fake OpenAI server tells the truth: what it was sent, valid answers in every language,
token limits, latency under a server-side cap, rate-limit headers and the Batch API.

Concurrency is proven by the server's own counts (``max_in_flight``, ``max_answering``), never by
an upper limit on elapsed time."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from tasks.language.languages import LANGUAGES
from tasks.language.scripts import script_share
from tasks.synth.check_settings import ExampleChecks
from tasks.synth.parsing import Rejected, RejectReason, parse_example, parse_task_list
from tasks.synth.sampling import pick_task, sample_examples, shard_seed
from tasks.synth.task_types import TASK_SPECS, TaskType
from tasks.synth.templates import BRAINSTORM
from tests.support.fake_openai import FakeOpenAI, valid_answer
from tests.support.real_text import REAL_TEXT_LANGUAGES
from tests.support.waiting import wait_for

# A dozen-plus languages across scripts: Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari,
# Bengali, Han, Japanese, Hangul, Thai, Georgian, Armenian, Ethiopic, Tamil, Myanmar.
LANGUAGE_SAMPLE = ["en", "es", "ru", "el", "ar", "he", "hi", "bn", "zh", "ja", "ko", "th", "ka", "hy", "am", "ta", "my"]


def _client(server: FakeOpenAI) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=10)


def _ask(client: openai.OpenAI, prompt: str, **options):
    return client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": prompt}], **options)


def _prompts(task_type: TaskType, language: str, count: int, pool: list[str]) -> list[tuple[str, dict]]:
    """Generation prompts exactly as a shard renders them (tasks/synth/shard.py)."""
    seed = shard_seed(1, task_type, language)
    requests = sample_examples(task_type, language, count, seed)
    out = []
    for r in requests:
        placeholders = {**r.placeholders, "task": pick_task(pool, seed, r.index)} if pool else r.placeholders
        out.append((r.template.render(placeholders), placeholders))
    return out


def _checks(language: str, placeholders: dict) -> ExampleChecks:
    """Every check where the server answers with real text; the script check where it has only filler."""
    languages = {language, placeholders.get("src_code", language), placeholders.get("tgt_code", language)}
    return ExampleChecks(language_id=languages <= set(REAL_TEXT_LANGUAGES))


def test_request_bodies_and_authorization_are_recorded():
    with FakeOpenAI(latency_s=0) as server:
        reply = _ask(_client(server), 'Return "S1".', temperature=0.7, top_p=0.9, seed=42, max_tokens=512,
                     response_format={"type": "json_object"})
    [body] = server.bodies
    assert (body["temperature"], body["top_p"], body["seed"], body["max_tokens"]) == (0.7, 0.9, 42, 512)
    assert body["response_format"] == {"type": "json_object"} and body["model"] == "fake-model"
    assert [kind for _, kind in server.requests] == ["ok"] and server.authorizations == {"Bearer x"}
    tokens = len(reply.choices[0].message.content.split())
    assert reply.usage.completion_tokens == tokens == server.completion_tokens_sent


@pytest.mark.parametrize("task_type", list(TaskType))
def test_every_task_type_is_answered_validly_in_languages_of_every_script(task_type):
    with FakeOpenAI(latency_s=0) as server:
        client = _client(server)
        pool = []
        if TASK_SPECS[task_type].brainstorm:
            pool = parse_task_list(_ask(client, BRAINSTORM[task_type][0].render({})).choices[0].message.content)
            assert len(pool) >= 5
        for language in LANGUAGE_SAMPLE:
            answers = set()
            for prompt, placeholders in _prompts(task_type, language, 2, pool):
                text = _ask(client, prompt).choices[0].message.content
                assert parse_example(task_type, text, language, placeholders, _checks(language, placeholders))
                answers.add(text)
            assert len(answers) == 2  # distinct per request, so exact dedup keeps both


@pytest.mark.parametrize("task_type", list(TaskType))
def test_valid_answer_passes_parsing_in_all_93_languages(task_type):
    """Real text where the server has some (74 languages): every check; script-filler elsewhere: the script check."""
    pool = ["Given a topic, retrieve passages about it."]
    for language in LANGUAGES:
        [(prompt, placeholders)] = _prompts(task_type, language, 1, pool if TASK_SPECS[task_type].brainstorm else [])
        parse_example(task_type, valid_answer(prompt, 3), language, placeholders, _checks(language, placeholders))
        assert valid_answer(prompt, 3) != valid_answer(prompt, 4)


def test_bitext_sides_are_each_in_their_own_language():
    prompt, placeholders = next((p, ph) for p, ph in _prompts(TaskType.BITEXT, "ru", 8, [])
                                if ph["src_code"] == "ru")
    fields = parse_example(TaskType.BITEXT, valid_answer(prompt, 0), "ru", placeholders)
    assert script_share(fields["S1"], "Cyrillic") > 0.9 and script_share(fields["S2"], "Latin") > 0.9  # ru, then en


def test_wrong_language_answers_are_rejected_for_non_latin_languages():
    [(prompt, placeholders)] = _prompts(TaskType.STS, "th", 1, [])
    with FakeOpenAI(policy=lambda n, p: "wrong_language", latency_s=0) as server:
        text = _ask(_client(server), prompt).choices[0].message.content
    assert json.loads(text)  # valid JSON with the right keys...
    with pytest.raises(Rejected) as rejected:
        parse_example(TaskType.STS, text, "th", placeholders)
    assert rejected.value.reason is RejectReason.WRONG_SCRIPT  # ...but not in Thai


def test_max_tokens_truncates_the_answer_and_says_length():
    with FakeOpenAI(latency_s=0) as server:
        reply = _ask(_client(server), 'Return "positive_document" of about 100 words, written in English.', max_tokens=16)
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == 16 == len(reply.choices[0].message.content.split())
    assert server.completion_tokens_sent == 16


def test_max_concurrent_queues_requests_before_their_latency():
    with FakeOpenAI(latency_s=0.2, max_concurrent=4) as server, ThreadPoolExecutor(8) as pool:
        client = _client(server)
        start = time.monotonic()
        list(pool.map(lambda i: _ask(client, f'"S1" {i}'), range(8)))
        elapsed = time.monotonic() - start
    assert server.max_answering == 4 and elapsed >= 0.4  # two waves of four, not one of eight
    assert server.max_in_flight >= 5  # all arrived; the cap queued them server-side


async def _many(base_url: str, count: int) -> None:
    import asyncio

    async with openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=30) as client:
        await asyncio.gather(*(client.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": f'"S1" {i}'}]) for i in range(count)))


def test_hundreds_of_concurrent_requests_overlap_on_one_event_loop():
    import asyncio

    with FakeOpenAI(latency_s=1.0, per_token_s=0.001) as server:
        asyncio.run(_many(server.base_url, 256))
    assert len(server.requests) == 256 and server.answering == 0
    assert server.max_in_flight >= 128
    assert server.max_answering >= 128  # their latencies overlapped: serially this would take 256 s


def test_rate_limit_headers_from_a_dict_or_per_request():
    fixed = {"x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": "599",
             "x-ratelimit-reset-requests": "100ms"}
    with FakeOpenAI(rate_limit_headers=fixed, latency_s=0) as server:
        raw = _client(server).chat.completions.with_raw_response.create(
            model="fake-model", messages=[{"role": "user", "content": '"S1"'}])
    assert all(raw.headers[k] == v for k, v in fixed.items())

    def remaining(n: int) -> dict:
        return {"x-ratelimit-remaining-requests": str(600 - n - 1)}

    with FakeOpenAI(policy=lambda n, p: "429" if n == 1 else "ok", rate_limit_headers=remaining, latency_s=0) as server:
        client = _client(server)
        first = client.chat.completions.with_raw_response.create(model="m", messages=[{"role": "user", "content": "x"}])
        with pytest.raises(openai.RateLimitError) as limited:
            _ask(client, "x")
    assert first.headers["x-ratelimit-remaining-requests"] == "599"
    assert limited.value.response.headers["x-ratelimit-remaining-requests"] == "598"
    assert limited.value.response.headers["retry-after"] == "0.3"


def _wait_for_batch(client: openai.OpenAI, batch_id: str):
    """The batch once it has ended (waited for without a time limit on its speed: only a hang guard)."""
    seen = []

    def ended() -> bool:
        seen.append(client.batches.retrieve(batch_id))
        return seen[-1].status in _ENDED

    wait_for(ended, poll_s=0.05)
    return seen[-1]


_ENDED = ("completed", "failed", "expired", "cancelled")


def _jsonl(client: openai.OpenAI, file_id: str) -> dict[str, dict]:
    return {line["custom_id"]: line for line in map(json.loads, client.files.content(file_id).text.splitlines())}


def test_batch_round_trip_with_a_failed_and_an_expired_item():
    def policy(n: int, prompt: str) -> str:
        return {"item 1": "500", "item 2": "expire"}.get(prompt.split('"S1" ')[-1], "ok")

    lines = [{"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "fake-model", "messages": [{"role": "user", "content": f'"S1" item {i}'}],
                       "temperature": 0.5, "max_tokens": 64}} for i in range(4)]
    content = "".join(json.dumps(line) + "\n" for line in lines).encode()
    with FakeOpenAI(policy=policy, batch_delay_s=0.2) as server:
        client = _client(server)
        uploaded = client.files.create(file=("input.jsonl", content), purpose="batch")
        assert client.files.retrieve(uploaded.id).bytes == len(content)
        assert client.files.content(uploaded.id).content == content
        created = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                        completion_window="24h", metadata={"run": "test"})
        assert created.status == "validating" and created.metadata == {"run": "test"}
        batch = _wait_for_batch(client, created.id)
        output, errors = _jsonl(client, batch.output_file_id), _jsonl(client, batch.error_file_id)
    assert batch.status == "expired" and batch.in_progress_at and batch.expired_at
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (4, 2, 2)
    assert set(output) == {"c0", "c3"} and set(errors) == {"c1", "c2"}
    answer = output["c0"]["response"]
    assert answer["status_code"] == 200 and answer["body"]["object"] == "chat.completion"
    assert json.loads(answer["body"]["choices"][0]["message"]["content"])["S1"]
    assert errors["c1"]["response"]["status_code"] == 500 and errors["c1"]["error"] is None
    assert errors["c2"]["response"] is None and errors["c2"]["error"]["code"] == "batch_expired"
    assert server.batch_requests == [("c0", "ok"), ("c1", "500"), ("c2", "expire"), ("c3", "ok")]
    assert [b["temperature"] for b in server.batch_bodies] == [0.5] * 4 and server.requests == []
    assert server.batches[batch.id]["status"] == "expired"


def test_a_batch_with_an_invalid_line_fails_and_one_can_be_cancelled():
    good = json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
                       "body": {"model": "m", "messages": [{"role": "user", "content": "x"}]}})
    with FakeOpenAI(batch_delay_s=0.2) as server:
        client = _client(server)
        bad = client.files.create(file=("bad.jsonl", f"{good}\n{{not json\n".encode()), purpose="batch")
        failed = _wait_for_batch(client, client.batches.create(
            input_file_id=bad.id, endpoint="/v1/chat/completions", completion_window="24h").id)
        ok = client.files.create(file=("ok.jsonl", good.encode()), purpose="batch")
        created = client.batches.create(input_file_id=ok.id, endpoint="/v1/chat/completions", completion_window="24h")
        assert client.batches.cancel(created.id).status == "cancelling"
        cancelled = _wait_for_batch(client, created.id)
    assert failed.status == "failed" and failed.errors.data[0].line == 2
    assert failed.errors.data[0].code == "invalid_json_line"
    assert cancelled.status == "cancelled" and server.batch_requests == []


def test_stats_endpoint_counts_requests_and_tokens():
    with FakeOpenAI(latency_s=0) as server:
        _ask(_client(server), '"S1"')
        stats = httpx.get(server.base_url.removesuffix("/v1") + "/stats").json()
    first, last = stats.pop("first_arrival_s"), stats.pop("last_arrival_s")
    assert stats == {"requests": 1, "in_flight": 0, "max_in_flight": 1, "batch_requests": 0,
                     "completion_tokens": server.completion_tokens_sent}
    assert first == last == server.requests[0][0]


def test_runs_as_a_separate_process_until_sigterm():
    process = subprocess.Popen([sys.executable, "-m", "tests.support.fake_openai", "--port", "0", "--latency-s", "0"],
                               stdout=subprocess.PIPE, text=True)
    try:
        base_url = process.stdout.readline().strip()
        reply = _ask(openai.OpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=10), '"S1"')
        assert reply.choices[0].finish_reason == "stop"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
