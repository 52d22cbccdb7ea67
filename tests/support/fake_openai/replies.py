"""What one chat request is answered, whatever carries it: an online response or a batch output line.

The policy's *kind* picks the answer: ``ok`` (a valid answer, :mod:`.answers`), an error
status, or one of the misbehaving answers the module docstring of :mod:`tests.support.fake_openai`
lists. Token counts are word counts; ``max_tokens`` cuts an answer as a real server would.

>>> reply = chat_reply("ok", 0, 'Return "S1".', {"max_tokens": 2}, retry_after_s=0.3)
>>> reply.status, reply.body["choices"][0]["finish_reason"], reply.completion_tokens
(200, 'length', 2)
>>> chat_reply("429", 1, "x", {}, retry_after_s=0.3).headers
{'Retry-After': '0.3'}
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from tests.support.fake_openai.answers import field_languages, malformed_answer, valid_answer, wrong_keys_answer
from tests.support.fake_openai.filter_answers import judge_answer

MODEL = "fake-model"
CHAT_ENDPOINT = "/v1/chat/completions"


@dataclass
class Reply:
    """One chat answer before it is sent (online) or written to a batch output line."""

    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)
    completion_tokens: int = 0


def error_body(message: str, kind: str = "invalid_request_error", code: str | None = None) -> dict:
    """An OpenAI-style error object."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def last_message(body: dict) -> str:
    """The prompt: the content of a request's last message."""
    content = (body.get("messages") or [{}])[-1].get("content", "")
    return content if isinstance(content, str) else json.dumps(content)


def _answer_language(kind: str, prompt: str) -> str | None:
    """The one language a misbehaving answer is written in (None: each field in its own)."""
    if kind == "wrong_language":
        return "en"
    if kind == "one_language":
        return next(iter(field_languages(prompt).values()), None)
    return None


def chat_reply(kind: str, n: int, prompt: str, body: dict, retry_after_s: float) -> Reply:
    """What the policy's ``kind`` answers to one chat request (shared by online and batch)."""
    if kind == "429":
        return Reply(429, error_body("rate limited", "rate_limit_exceeded"), {"Retry-After": str(retry_after_s)})
    if kind == "500":
        return Reply(500, error_body("internal error", "server_error"))
    if kind == "no_json_mode" and "response_format" in body:
        return Reply(400, error_body("response_format is not supported"))
    content = {
        "malformed": malformed_answer,
        "wrong_keys": wrong_keys_answer,
        "low_score": lambda: judge_answer(1),
    }.get(kind, lambda: valid_answer(prompt, n, _answer_language(kind, prompt)))()
    # Token counts are word counts; max_tokens cuts the answer like a real server would.
    words, limit, finish = content.split(), body.get("max_completion_tokens") or body.get("max_tokens"), "stop"
    if limit and len(words) > limit:
        words, finish = words[:limit], "length"
        content = " ".join(words)
    prompt_tokens = len(prompt.split())
    return Reply(200, {
        "id": f"chatcmpl-{n}", "object": "chat.completion", "created": int(time.time()), "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                  "total_tokens": prompt_tokens + len(words)},
    }, completion_tokens=len(words))
