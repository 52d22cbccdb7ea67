"""An OpenAI-compatible chat client for generation: bounded, patient, and accountable.

Speaks ``/v1/chat/completions`` (OpenAI, vLLM, llama.cpp and any compatible server) with

* a semaphore bounding concurrent requests across every shard of a run,
* per-request timeouts and retries with exponential backoff and full jitter,
  honouring ``Retry-After`` on 429,
* a concurrency slot held only while a request is on the wire (never during a backoff sleep),
* adaptive rate limiting from ``--rpm``/``--tpm``, ``x-ratelimit-*`` headers and 429s,
* JSON mode where the server supports it (switched off once if the server rejects it),
* token usage and latency recorded for every call.

It is the *online* backend; ``tasks.llm.batch`` sends the same :class:`ChatRequest` s
through a provider's Batch API instead.

>>> settings = LLMSettings(base_url="http://127.0.0.1:8080/v1", model="qwen")
>>> LLMClient(settings, api_key="sk-secret")
LLMClient(base_url='http://127.0.0.1:8080/v1', model='qwen', api_key='***')
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from typing import Literal

import aiohttp
import httpx
import openai
from multidict import CIMultiDictProxy
from pydantic import BaseModel, Field

from tasks.llm.ratelimit import RateLimiter
from tasks.llm.requests import ChatRequest, Completion, estimate_prompt_tokens


class LLMSettings(BaseModel):
    """How to reach and drive the generator. The API key is never a setting: see :func:`tasks.common.secrets.llm_api_key`."""

    base_url: str = Field(description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1")
    model: str = Field(description="model name as the server knows it")
    concurrency: int = Field(4, ge=1, description="most requests in flight at once, over the whole run")
    timeout_s: float = Field(300.0, gt=0, description="per-request timeout")
    max_retries: int = Field(5, ge=0, description="retries per request on 429, 5xx, timeouts and connection errors")
    backoff_base_s: float = Field(1.0, ge=0, description="first backoff; doubles each retry, fully jittered")
    backoff_max_s: float = Field(60.0, ge=0, description="cap on one backoff and on an honoured Retry-After")
    temperature: float = Field(1.0, ge=0, description="sampling temperature (paper: 1.0)")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling (paper: 1.0)")
    max_tokens: int = Field(8192, ge=16, description="most completion tokens per call: each request asks for what "
                                                    "its requested lengths need in its language, up to this")
    json_mode: bool = Field(True, description="ask for response_format=json_object")
    extra_body: dict = Field(default_factory=dict, description="server-specific options, e.g. llama.cpp repeat_penalty")
    mode: Literal["online", "batch"] = Field("online", description="online requests, or the provider's Batch API (half price, hours)")
    rpm: float | None = Field(None, gt=0, description="requests per minute allowed (default: learned from x-ratelimit headers)")
    tpm: float | None = Field(None, gt=0, description="tokens per minute allowed (default: learned from x-ratelimit headers)")
    batch_poll_s: float = Field(30.0, gt=0, description="batch mode: seconds between status polls")
    batch_collect_s: float = Field(2.0, ge=0, description="batch mode: quiet time before queued requests are submitted")
    batch_max_requests: int = Field(50_000, ge=1, description="batch mode: most requests in one batch (OpenAI: 50,000)")

    def chat_request(self, prompt: str, seed: int | None = None, label: str = "",
                     max_tokens: int | None = None) -> ChatRequest:
        """The request these settings make of one user message (its ledger key included).

        ``max_tokens`` is what this request needs; it is capped at the settings' ``max_tokens``.
        """
        return ChatRequest.user(self.model, prompt, temperature=self.temperature, top_p=self.top_p,
                                max_tokens=min(max_tokens, self.max_tokens) if max_tokens else self.max_tokens, seed=seed, json_mode=self.json_mode,
                                extra_body=self.extra_body, label=label)


class LLMUnavailable(RuntimeError):
    """The server cannot be used at all (unreachable, wrong model, bad key): stop before spending."""


class LLMCallFailed(RuntimeError):
    """A request failed for good: a non-retryable error, or retries exhausted."""


class SendingStopped(RuntimeError):
    """The backend was told to stop (:meth:`LLMClient.stop`: Ctrl-C): this request was not sent, or not
    answered, so nothing was paid for it; requests already on the wire are answered as usual."""


@dataclass
class _Backoff:
    base_s: float
    max_s: float
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Full-jitter exponential delay; never shorter than the server's Retry-After."""
        jittered = self.rng.uniform(0, min(self.max_s, self.base_s * 2**attempt))
        return max(jittered, retry_after or 0.0)


def _retry_after_seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from LLM servers; fall back to backoff


async def check_server(client: openai.AsyncOpenAI, settings: LLMSettings) -> None:
    """Raise LLMUnavailable unless the server answers ``/models`` and serves ``settings.model``."""
    try:
        models = await client.models.list()
    except openai.AuthenticationError as exc:
        raise LLMUnavailable(f"the LLM server at {settings.base_url} rejected the API key ({exc.status_code})") from None
    except (openai.APIConnectionError, openai.APITimeoutError, httpx.HTTPError) as exc:
        raise LLMUnavailable(
            f"cannot reach the LLM server at {settings.base_url} ({type(exc).__name__}); "
            "start it or pass --llm-base-url"
        ) from None
    except openai.APIStatusError as exc:
        raise LLMUnavailable(f"the LLM server at {settings.base_url} answered {exc.status_code} to /models") from None
    served = [m.id for m in models.data]
    if served and settings.model not in served:
        raise LLMUnavailable(
            f"model {settings.model!r} is not served at {settings.base_url} (served: {', '.join(served[:10])})"
        )


class LLMClient:
    """Chat completions with bounded concurrency, retries and usage accounting.

    Requests go out through one ``aiohttp`` session (a keep-alive pool of ``concurrency``
    connections): at hundreds of requests per second the client's own CPU decides
    throughput, and this path costs a fraction of ``openai.AsyncOpenAI``'s (see BENCHMARKS.md).
    The ``openai`` client is still what checks the server (:meth:`preflight`).
    Create it inside the event loop that will use it (the flow does).
    """

    def __init__(self, settings: LLMSettings, api_key: str | None = None):
        self.settings = settings
        self._api_key = api_key
        self.limiter = RateLimiter(settings.rpm, settings.tpm)
        self._url = settings.base_url.rstrip("/") + "/chat/completions"
        self._session: aiohttp.ClientSession | None = None
        self._semaphore = asyncio.Semaphore(settings.concurrency)
        self._backoff = _Backoff(settings.backoff_base_s, settings.backoff_max_s)
        self._json_mode = settings.json_mode
        self._stopped: str | None = None
        self._stop = asyncio.Event()

    @property
    def capacity(self) -> int:
        """Requests this backend can usefully have in flight at once."""
        return self.settings.concurrency

    def __repr__(self) -> str:
        key = "'***'" if self._api_key else "None"
        return f"LLMClient(base_url={self.settings.base_url!r}, model={self.settings.model!r}, api_key={key})"

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self._api_key or 'unused-local-key'}"}
            self._session = aiohttp.ClientSession(
                headers=headers, timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s),
                connector=aiohttp.TCPConnector(limit=self.settings.concurrency, limit_per_host=0))
        return self._session

    def stop(self, reason: str) -> None:
        """Send nothing more: requests waiting for a slot, a backoff or a retry raise SendingStopped;
        those on the wire are answered (and so recorded) as usual."""
        self._stopped = self._stopped or reason
        self._stop.set()

    def _check_stopped(self) -> None:
        if self._stopped:
            raise SendingStopped(self._stopped)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def preflight(self) -> None:
        """Check the server answers and serves the model, before any generation is paid for."""
        client = openai.AsyncOpenAI(base_url=self.settings.base_url, api_key=self._api_key or "unused-local-key",
                                    timeout=min(self.settings.timeout_s, 30.0), max_retries=1)
        try:
            await check_server(client, self.settings)
        finally:
            await client.close()

    def request(self, prompt: str, seed: int | None = None, label: str = "", max_tokens: int | None = None) -> ChatRequest:
        """The request this client would send for one user message (its ledger key included)."""
        return self.settings.chat_request(prompt, seed, label, max_tokens)

    async def complete(self, prompt: str, seed: int | None = None) -> Completion:
        """One chat completion for a single user message (see :meth:`send`)."""
        return await self.send(self.request(prompt, seed))

    async def _post(self, body: dict) -> tuple[int, dict, CIMultiDictProxy]:
        """One HTTP exchange under a concurrency slot: (status, JSON body or {}, headers).

        A request that waited for its slot while a 429 paused every sender (``Retry-After``) gives the
        slot back and waits out the pause: nothing is sent until it has passed.
        """
        while True:
            async with self._semaphore:
                self._check_stopped()  # queued for a slot while the run was stopped: not sent
                if (paused_s := self.limiter.paused_for()) <= 0:
                    data = json.dumps(body, ensure_ascii=False).encode()
                    async with self._http().post(self._url, data=data) as response:
                        raw = await response.read()
                    break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), paused_s)
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        return response.status, data if isinstance(data, dict) else {}, response.headers

    async def send(self, request: ChatRequest) -> Completion:
        """Send one request, retried as configured.

        A concurrency slot is held only while the request is on the wire; backoff sleeps and
        rate-limit waits hold none. The request's own ``seed`` makes sampling reproducible on
        servers that honour it (llama.cpp, vLLM; best effort on OpenAI).
        """
        start = time.perf_counter()
        estimate = estimate_prompt_tokens(request.prompt) + request.max_tokens  # for a tokens-per-minute limit
        for attempt in range(self.settings.max_retries + 1):
            self._check_stopped()
            body = request.body(json_mode=self._json_mode)
            await self.limiter.acquire(estimate)
            retry_after = None
            try:
                status, data, headers = await self._post(body)
            except (asyncio.TimeoutError, aiohttp.ClientError, OSError) as exc:
                error = "timeout" if isinstance(exc, asyncio.TimeoutError) else f"{type(exc).__name__}"
            else:
                if "x-ratelimit-remaining-requests" in headers or "x-ratelimit-remaining-tokens" in headers:
                    self.limiter.observe(headers)
                if status == 200 and data.get("choices"):
                    return Completion.from_body(data, time.perf_counter() - start, attempt + 1)
                message = str((data.get("error") or {}).get("message", "")) if isinstance(data.get("error"), dict) else ""
                error = "response without choices" if status == 200 else f"HTTP {status}"
                if status == 400 and "response_format" in body and "response_format" in message:
                    self._json_mode = False  # server lacks JSON mode: ask in the prompt only
                    continue
                if status == 429:
                    retry_after = _retry_after_seconds(headers.get("retry-after"))
                    if retry_after is not None and retry_after > self.settings.backoff_max_s:
                        raise LLMCallFailed(
                            f"HTTP 429: the server asks to wait {retry_after:.0f}s, over backoff_max_s="
                            f"{self.settings.backoff_max_s:.0f}s; retry the shard later")
                    if retry_after is not None:
                        self.limiter.pause(retry_after)  # the limit is the server's, shared by every request
                elif 400 <= status < 500 and status not in (408, 409):
                    raise LLMCallFailed(f"request rejected ({status}): {message or 'no message'}")
            if attempt == self.settings.max_retries:
                break
            with contextlib.suppress(asyncio.TimeoutError):  # a stop ends the backoff: nothing is owed for it
                await asyncio.wait_for(self._stop.wait(), self._backoff.delay(attempt, retry_after))
        raise LLMCallFailed(f"{error} after {self.settings.max_retries + 1} attempts")
