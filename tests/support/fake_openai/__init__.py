"""A scripted OpenAI-compatible server for tests and benchmarks: real HTTP on 127.0.0.1.

It serves ``/v1/models``, ``/v1/chat/completions``, the Batch API (``/v1/files``,
``/v1/batches``) and ``/stats`` from an aiohttp event loop in one background thread, so hundreds
of concurrent keep-alive requests with simulated latency cost no thread each. One module per job:

* :mod:`.answers` — answers built from our prompts (the keys of ``TASK_SPECS``, each in its language);
* :mod:`.filter_answers` — answers to the cleaning stage's questions (the judge, the relabeler);
* :mod:`.replies` — what a policy's kind answers to one chat request, online or in a batch;
* :mod:`.server` — :class:`FakeOpenAI`, the HTTP server and its online chat;
* :mod:`.batch` — the Batch API's files and batches;
* :mod:`.cli` — the server as a separate process (``python -m tests.support.fake_openai``).

A *policy* ``(n, prompt) -> kind`` decides each chat request (``n``: 0-based over all chat
requests, online and batch items; ``prompt``: the last message's content):

    ok              a valid answer for whatever the prompt asks, in the requested language's script
    429 / 500       rate limited (with Retry-After) / internal error
    stall           wait ``stall_s`` (past the client's timeout), then answer
    malformed       truncated JSON
    wrong_keys      JSON without the keys asked for
    wrong_language  valid JSON, but in English whatever language was asked
    one_language    valid JSON, every field in the first field's language (bitext: no translation)
    no_json_mode    400 if ``response_format`` is sent (a server without JSON mode), else ok
    expire          a batch item left unanswered, so its batch expires (online: like stall)
    low_score       a judge's rating of 1 (``ok`` rates 5; :mod:`.filter_answers`)

Everything is recorded for assertions: ``requests`` (time, kind), ``bodies`` (each request's
JSON), ``batch_requests``, ``batch_bodies``, ``files``, ``batches``, and the concurrency
counters ``max_in_flight`` and ``max_answering``.

    with FakeOpenAI(policy=lambda n, prompt: "500" if n == 0 else "ok", latency_s=0.2, max_concurrent=4) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x")
        client.chat.completions.create(model=server.model, messages=[...], temperature=0.7)
    assert server.bodies[-1]["temperature"] == 0.7 and server.count("500") == 1

As a separate process (a throughput benchmark must not share the client's GIL); it prints its
base URL, then serves until SIGTERM or SIGINT::

    python -m tests.support.fake_openai --port 8999 --latency-s 0.5 --max-concurrent 64
"""

from tests.support.fake_openai.answers import (
    DEFAULT_FIELD_WORDS,
    FIELD_WORDS,
    FILLER,
    KEYS,
    field_languages,
    field_segments,
    field_words,
    filler_text,
    identifiable_sentences,
    real_text,
    valid_answer,
)
from tests.support.fake_openai.batch import parse_batch_input
from tests.support.fake_openai.cli import main
from tests.support.fake_openai.replies import CHAT_ENDPOINT, MODEL, Reply, chat_reply
from tests.support.fake_openai.server import FakeOpenAI, Policy, RateLimitHeaders

__all__ = [
    "CHAT_ENDPOINT", "DEFAULT_FIELD_WORDS", "FIELD_WORDS", "FILLER", "KEYS", "MODEL", "FakeOpenAI", "Policy",
    "RateLimitHeaders", "Reply", "chat_reply", "field_languages", "field_segments", "field_words", "filler_text",
    "identifiable_sentences", "main", "parse_batch_input", "real_text", "valid_answer",
]
