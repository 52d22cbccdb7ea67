"""A small OpenAI-compatible server for fault tests: real HTTP on 127.0.0.1, scripted answers.

It answers ``/v1/models`` and ``/v1/chat/completions``. A *policy* decides, per request, what
to do: answer validly, send 429 with Retry-After, 500, stall past the client's timeout, or
return malformed JSON. Valid answers are built from the keys the prompt asks for, so every
task type gets a well-formed, distinct example.

    with FakeOpenAI(policy=lambda n, prompt: "ok" if n % 2 else "500") as server:
        ... LLMSettings(base_url=server.base_url, model=server.model) ...
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "fake-model"
KEYS = ("user_query", "positive_document", "hard_negative_document", "input_text", "misleading_label",
        "label", "input", "S1", "S2", "S3")

# Policy results: "ok", "429", "500", "stall", "malformed", "wrong_keys", "no_json_mode".
Policy = Callable[[int, str], str]


def valid_answer(prompt: str, n: int) -> str:
    """A valid JSON answer for whatever the prompt asks (brainstorm list or example)."""
    if '"tasks"' in prompt:
        return json.dumps({"tasks": [f"Given a topic number {n}-{i}, retrieve passages about it." for i in range(5)]})
    asked = [k for k in KEYS if f'"{k}"' in prompt]
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    body = {k: f"{k.replace('_', ' ')} number {n} " + " ".join(words * 12) for k in asked}
    return json.dumps(body)


class FakeOpenAI:
    """Threaded HTTP server; ``requests`` records (time, policy result) for assertions."""

    def __init__(self, policy: Policy | None = None, stall_s: float = 2.0, retry_after_s: float = 0.3):
        self.policy: Policy = policy or (lambda n, prompt: "ok")
        self.stall_s, self.retry_after_s = stall_s, retry_after_s
        self.requests: list[tuple[float, str]] = []
        self.authorizations: set[str] = set()
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.model = MODEL

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def count(self, kind: str) -> int:
        return sum(1 for _, k in self.requests if k == kind)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, status: int, body: dict | str, headers: dict | None = None):
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "test"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                request = json.loads(self.rfile.read(length) or b"{}")
                prompt = request["messages"][-1]["content"]
                with fake._lock:
                    fake.authorizations.add(self.headers.get("Authorization", ""))
                    n = len(fake.requests)
                    kind = fake.policy(n, prompt)
                    fake.requests.append((time.monotonic(), kind))
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    self._answer(kind, n, prompt, request)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            def _answer(self, kind: str, n: int, prompt: str, request: dict):
                if kind == "429":
                    return self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": str(fake.retry_after_s)})
                if kind == "500":
                    return self._send(500, {"error": {"message": "internal error"}})
                if kind == "no_json_mode" and "response_format" in request:
                    return self._send(400, {"error": {"message": "response_format is not supported"}})
                if kind == "stall":
                    time.sleep(fake.stall_s)
                content = {
                    "malformed": '{"user_query": "unterminated',
                    "wrong_keys": json.dumps({"something": "else"}),
                }.get(kind) or valid_answer(prompt, n)
                time.sleep(0.01)  # let concurrent requests overlap measurably
                self._send(200, {
                    "id": f"cmpl-{n}", "object": "chat.completion", "created": int(time.time()), "model": MODEL,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(content.split()),
                              "total_tokens": len(prompt.split()) + len(content.split())},
                })

        return Handler

    def __enter__(self) -> "FakeOpenAI":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
