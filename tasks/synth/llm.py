"""An OpenAI-compatible chat client for generation: bounded, patient, and accountable.

Wraps ``openai.AsyncOpenAI`` (OpenAI, vLLM, llama.cpp and any compatible server) with

* a semaphore bounding concurrent requests across every shard of a run,
* per-request timeouts and retries with exponential backoff and full jitter,
  honouring ``Retry-After`` on 429,
* a concurrency slot held only while a request is on the wire (never during a backoff sleep),
* adaptive rate limiting from ``--rpm``/``--tpm``, ``x-ratelimit-*`` headers and 429s,
* JSON mode where the server supports it (switched off once if the server rejects it),
* token usage and latency recorded for every call.

It is the *online* backend; ``tasks.synth.batch`` sends the same :class:`ChatRequest` s
through a provider's Batch API instead.

>>> settings = LLMSettings(base_url="http://127.0.0.1:8080/v1", model="qwen")
>>> LLMClient(settings, api_key="sk-secret")
LLMClient(base_url='http://127.0.0.1:8080/v1', model='qwen', api_key='***')
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Literal

import httpx
import openai
from pydantic import BaseModel, Field

from tasks.synth.ratelimit import RateLimiter
from tasks.synth.requests import ChatRequest, Completion


class LLMSettings(BaseModel):
    """How to reach and drive the generator. The API key is never a setting: see :func:`tasks.secrets.llm_api_key`."""

    base_url: str = Field(description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1")
    model: str = Field(description="model name as the server knows it")
    concurrency: int = Field(4, ge=1, description="most requests in flight at once, over the whole run")
    timeout_s: float = Field(300.0, gt=0, description="per-request timeout")
    max_retries: int = Field(5, ge=0, description="retries per request on 429, 5xx, timeouts and connection errors")
    backoff_base_s: float = Field(1.0, ge=0, description="first backoff; doubles each retry, fully jittered")
    backoff_max_s: float = Field(60.0, ge=0, description="cap on one backoff and on an honoured Retry-After")
    temperature: float = Field(1.0, ge=0, description="sampling temperature (paper: 1.0)")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling (paper: 1.0)")
    max_tokens: int = Field(1536, ge=16, description="completion token limit per call")
    json_mode: bool = Field(True, description="ask for response_format=json_object")
    extra_body: dict = Field(default_factory=dict, description="server-specific options, e.g. llama.cpp repeat_penalty")
    mode: Literal["online", "batch"] = Field("online", description="online requests, or the provider's Batch API (half price, hours)")
    rpm: float | None = Field(None, gt=0, description="requests per minute allowed (default: learned from x-ratelimit headers)")
    tpm: float | None = Field(None, gt=0, description="tokens per minute allowed (default: learned from x-ratelimit headers)")
    batch_poll_s: float = Field(30.0, gt=0, description="batch mode: seconds between status polls")
    batch_collect_s: float = Field(2.0, ge=0, description="batch mode: quiet time before queued requests are submitted")
    batch_max_requests: int = Field(50_000, ge=1, description="batch mode: most requests in one batch (OpenAI: 50,000)")

    def chat_request(self, prompt: str, seed: int | None = None, label: str = "") -> ChatRequest:
        """The request these settings make of one user message (its ledger key included)."""
        return ChatRequest.user(self.model, prompt, temperature=self.temperature, top_p=self.top_p,
                                max_tokens=self.max_tokens, seed=seed, json_mode=self.json_mode,
                                extra_body=self.extra_body, label=label)


@dataclass
class UsageTotals:
    """Running totals of a shard's (or a run's) LLM use."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    seconds: float = 0.0

    def add(self, completion: Completion) -> None:
        self.calls += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        self.retries += completion.attempts - 1
        self.seconds += completion.latency_s

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


class LLMUnavailable(RuntimeError):
    """The server cannot be used at all (unreachable, wrong model, bad key): stop before spending."""


class LLMCallFailed(RuntimeError):
    """A request failed for good: a non-retryable error, or retries exhausted."""


@dataclass
class _Backoff:
    base_s: float
    max_s: float
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Full-jitter exponential delay; never shorter than the server's Retry-After."""
        jittered = self.rng.uniform(0, min(self.max_s, self.base_s * 2**attempt))
        return max(jittered, retry_after or 0.0)


def _retry_after_seconds(error: openai.APIStatusError) -> float | None:
    value = error.response.headers.get("retry-after")
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

    Create it inside the event loop that will use it (the flow does).
    """

    def __init__(self, settings: LLMSettings, api_key: str | None = None):
        self.settings = settings
        self._has_key = bool(api_key)
        self.limiter = RateLimiter(settings.rpm, settings.tpm)
        self._client = openai.AsyncOpenAI(
            base_url=settings.base_url,
            api_key=api_key or "unused-local-key",
            timeout=settings.timeout_s,
            max_retries=0,  # retries are ours: backoff, jitter and Retry-After as specified
            http_client=openai.DefaultAsyncHttpxClient(event_hooks={"response": [self._observe]}),
        )
        self._semaphore = asyncio.Semaphore(settings.concurrency)
        self._backoff = _Backoff(settings.backoff_base_s, settings.backoff_max_s)
        self._json_mode = settings.json_mode

    @property
    def capacity(self) -> int:
        """Requests this backend can usefully have in flight at once."""
        return self.settings.concurrency

    async def _observe(self, response: httpx.Response) -> None:
        if "x-ratelimit-remaining-requests" in response.headers or "x-ratelimit-remaining-tokens" in response.headers:
            self.limiter.observe(response.headers)

    def __repr__(self) -> str:
        key = "'***'" if self._has_key else "None"
        return f"LLMClient(base_url={self.settings.base_url!r}, model={self.settings.model!r}, api_key={key})"

    async def close(self) -> None:
        await self._client.close()

    async def preflight(self) -> None:
        """Check the server answers and serves the model, before any generation is paid for."""
        await check_server(self._client, self.settings)

    def request(self, prompt: str, seed: int | None = None, label: str = "") -> ChatRequest:
        """The request this client would send for one user message (its ledger key included)."""
        return self.settings.chat_request(prompt, seed, label)

    async def complete(self, prompt: str, seed: int | None = None) -> Completion:
        """One chat completion for a single user message (see :meth:`send`)."""
        return await self.send(self.request(prompt, seed))

    async def send(self, request: ChatRequest) -> Completion:
        """Send one request, retried as configured.

        A concurrency slot is held only while the request is on the wire; backoff sleeps and
        rate-limit waits hold none. ``seed`` makes sampling reproducible on servers that
        honour it (llama.cpp, vLLM; best effort on OpenAI).
        """
        start = time.perf_counter()
        estimate = len(request.prompt) // 3 + request.max_tokens  # for a tokens-per-minute limit
        for attempt in range(self.settings.max_retries + 1):
            kwargs = request.body(json_mode=self._json_mode)
            extra = {k: kwargs.pop(k) for k in dict(request.extra_body)}
            await self.limiter.acquire(estimate)
            try:
                async with self._semaphore:
                    response = await self._client.chat.completions.create(**kwargs, **({"extra_body": extra} if extra else {}))
            except openai.BadRequestError as exc:
                if "response_format" in kwargs and "response_format" in str(exc):
                    self._json_mode = False  # server lacks JSON mode: ask in the prompt only
                    continue
                raise LLMCallFailed(f"request rejected (400): {exc.message}") from None
            except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as exc:
                raise LLMCallFailed(f"request rejected ({exc.status_code}): {exc.message}") from None
            except (openai.RateLimitError, openai.InternalServerError, openai.APIStatusError) as exc:
                retry_after = _retry_after_seconds(exc) if exc.status_code == 429 else None
                error = f"HTTP {exc.status_code}"
                if retry_after is not None and retry_after > self.settings.backoff_max_s:
                    raise LLMCallFailed(
                        f"HTTP 429: the server asks to wait {retry_after:.0f}s, over backoff_max_s="
                        f"{self.settings.backoff_max_s:.0f}s; retry the shard later"
                    ) from None
                if exc.status_code < 500 and exc.status_code not in (408, 409, 429):
                    raise LLMCallFailed(f"request rejected ({exc.status_code}): {exc.message}") from None
                if retry_after is not None:
                    self.limiter.pause(retry_after)  # the limit is the server's, shared by every request
            except (openai.APITimeoutError, openai.APIConnectionError) as exc:
                retry_after, error = None, type(exc).__name__
            else:
                if not response.choices:
                    retry_after, error = None, "response without choices"
                else:
                    choice, usage = response.choices[0], response.usage
                    return Completion(
                        text=choice.message.content or "",
                        finish_reason=choice.finish_reason,
                        prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                        completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
                        latency_s=time.perf_counter() - start,
                        attempts=attempt + 1,
                    )
            if attempt == self.settings.max_retries:
                break
            await asyncio.sleep(self._backoff.delay(attempt, retry_after))
        raise LLMCallFailed(f"{error} after {self.settings.max_retries + 1} attempts")
