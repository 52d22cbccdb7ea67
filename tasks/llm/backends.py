"""LLM backends behind one small interface: online requests or a provider's Batch API.

Both take the same :class:`~tasks.llm.requests.ChatRequest` and return the same
:class:`~tasks.llm.requests.Completion`, so parts, the request ledger and budgets do not
know which one runs:

* ``online`` (:class:`tasks.llm.client.LLMClient`): ``/v1/chat/completions``, bounded
  concurrency, retries, adaptive rate limits. OpenAI, vLLM, llama.cpp.
* ``batch`` (:class:`tasks.llm.batch.BatchClient`): requests are collected into OpenAI
  Batch JSONL, uploaded through ``/v1/files`` + ``/v1/batches``, polled and downloaded;
  half the price, answers within the provider's completion window.
"""

from __future__ import annotations

from typing import Protocol

from tasks.llm.client import LLMClient, LLMSettings
from tasks.llm.requests import ChatRequest, Completion
from tasks.storage.store import Store


class LLMBackend(Protocol):
    settings: LLMSettings

    @property
    def capacity(self) -> int:
        """How many requests are worth having ready at once (concurrency, or a batch's size)."""

    def request(self, prompt: str, seed: int | None = None, label: str = "", max_tokens: int | None = None) -> ChatRequest:
        """The request for one user message; ``max_tokens`` (what it needs) is capped by the settings."""

    async def send(self, request: ChatRequest) -> Completion:
        """The answer to one request; raises LLMCallFailed when it fails for good."""

    async def preflight(self) -> None:
        """Raise LLMUnavailable before any spend if the server cannot be used."""

    def stop(self, reason: str) -> None:
        """Send nothing more (Ctrl-C): waiting requests raise SendingStopped; those on the wire are answered."""

    async def close(self) -> None: ...


def open_backend(settings: LLMSettings, api_key: str | None, store: Store, run_id: str) -> LLMBackend:
    """The backend ``settings.mode`` names (create it inside the event loop that uses it); a batch
    backend files its batches under the run ``run_id``."""
    if settings.mode == "batch":
        from tasks.llm.batch import BatchClient

        return BatchClient(settings, api_key, store, run_id)
    return LLMClient(settings, api_key)


async def check_backend(settings: LLMSettings, api_key: str | None, store: Store, run_id: str) -> None:
    """Raise LLMUnavailable unless the backend ``settings`` name can be used (the server answers and serves the
    model; batch: and has a Batch API): before anything is spent."""
    backend = open_backend(settings, api_key, store, run_id)
    try:
        await backend.preflight()
    finally:
        await backend.close()
