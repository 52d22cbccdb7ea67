"""One LLM request as data: what is sent, and the key it is remembered by.

The key is a hash of everything that decides the answer — model, messages, sampling
parameters, seed, JSON mode and server options — so a recorded answer is reused only for
exactly the same request, and a changed model, template or temperature is a new key.

>>> r = ChatRequest.user("qwen", "Say hi", temperature=1.0, top_p=1.0, max_tokens=64, seed=7)
>>> r.key == ChatRequest.user("qwen", "Say hi", temperature=1.0, top_p=1.0, max_tokens=64, seed=7).key
True
>>> r.key == ChatRequest.user("qwen", "Say hi", temperature=0.7, top_p=1.0, max_tokens=64, seed=7).key
False
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property

# How many tokens a prompt is before the server has counted it. English prompts run ~4
# characters per token with common tokenizers; the chat template adds a few tokens per request.
TYPICAL_TOKENS_PER_CHAR = 0.25
CHAT_TEMPLATE_TOKENS = 16


def estimate_prompt_tokens(prompt: str, tokens_per_char: float = TYPICAL_TOKENS_PER_CHAR) -> int:
    """Tokens a prompt will probably count for (a budget passes its own, more cautious ratio).

    >>> estimate_prompt_tokens("x" * 400)
    116
    """
    return int(len(prompt) * tokens_per_char) + CHAT_TEMPLATE_TOKENS


@dataclass(frozen=True)
class ChatRequest:
    """A chat completion request, independent of how it is sent (online or in a batch)."""

    model: str
    messages: tuple[tuple[str, str], ...]  # (role, content)
    temperature: float
    top_p: float
    max_tokens: int
    seed: int | None = None
    json_mode: bool = True
    extra_body: tuple[tuple[str, object], ...] = ()  # sorted items of server-specific options
    label: str = field(default="", compare=False)  # what the request is for (logs, ledger); not part of the key

    @classmethod
    def user(cls, model: str, prompt: str, *, temperature: float, top_p: float, max_tokens: int,
             seed: int | None = None, json_mode: bool = True, extra_body: dict | None = None,
             label: str = "") -> ChatRequest:
        """A request with a single user message."""
        return cls(model, (("user", prompt),), temperature, top_p, max_tokens, seed, json_mode,
                   tuple(sorted((extra_body or {}).items())), label)

    @property
    def prompt(self) -> str:
        return self.messages[-1][1]

    @cached_property
    def key(self) -> str:
        """sha256 of the canonical JSON of every field that decides the answer (hex, 32 chars)."""
        canonical = json.dumps(
            [self.model, self.messages, self.temperature, self.top_p, self.max_tokens, self.seed,
             self.json_mode, self.extra_body],
            ensure_ascii=False, separators=(",", ":"), default=str,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]

    def body(self, json_mode: bool | None = None) -> dict:
        """The OpenAI ``/v1/chat/completions`` body (``json_mode`` overrides a server fallback)."""
        body = {
            "model": self.model,
            "messages": [{"role": role, "content": content} for role, content in self.messages],
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
        }
        if self.seed is not None:
            body["seed"] = self.seed
        if self.json_mode if json_mode is None else json_mode:
            body["response_format"] = {"type": "json_object"}
        body.update(dict(self.extra_body))
        return body


@dataclass
class Completion:
    """One answer and what it cost. ``reused`` marks an answer taken from the request ledger."""

    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    attempts: int = 1
    reused: bool = False

    @classmethod
    def from_body(cls, body: dict, latency_s: float, attempts: int) -> Completion:
        """The answer in an OpenAI ``/v1/chat/completions`` response body (online or from a batch).

        >>> Completion.from_body({"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
        ...                       "usage": {"prompt_tokens": 3, "completion_tokens": 1}}, 0.5, 1).text
        'hi'
        """
        choice, usage = body["choices"][0], body.get("usage") or {}
        return cls(text=(choice.get("message") or {}).get("content") or "", finish_reason=choice.get("finish_reason"),
                   prompt_tokens=usage.get("prompt_tokens") or 0, completion_tokens=usage.get("completion_tokens") or 0,
                   latency_s=latency_s, attempts=attempts)
