"""The fake server itself: real HTTP on 127.0.0.1 from an aiohttp event loop in one background thread.

Online chat (``/v1/chat/completions``), ``/v1/models``, ``/stats`` and ``/stats/reset`` are
served here; the Batch API comes from :class:`tests.support.fake_openai.batch.BatchAPI`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable

from aiohttp import web

from tests.support.fake_openai.batch import BatchAPI
from tests.support.fake_openai.replies import CHAT_ENDPOINT, MODEL, chat_reply, error_body, last_message

Policy = Callable[[int, str], str]
RateLimitHeaders = dict[str, str] | Callable[[int], dict[str, str]]


class FakeOpenAI(BatchAPI):
    """The scripted server; a context manager that serves while inside ``with``.

    Args:
        policy: ``(n, prompt) -> kind`` (see :mod:`tests.support.fake_openai`); default always "ok".
        stall_s: how long "stall" (and online "expire") waits before answering.
        retry_after_s: the Retry-After header of a 429.
        latency_s: simulated answer time per answered request.
        per_token_s: further answer time per completion token.
        max_concurrent: requests answered at once; the rest queue for a slot before their latency.
        rate_limit_headers: headers added to every chat response, or ``n -> headers``.
        batch_delay_s: how long a batch takes (half validating, half in progress).
        port: 0 picks a free port.

    Counters: ``in_flight`` / ``max_in_flight`` count chat requests received and not yet
    answered; ``answering`` / ``max_answering`` those inside their simulated latency at once
    (past the ``max_concurrent`` queue), so concurrency is proven by counts, not by a clock.
    """

    def __init__(self, policy: Policy | None = None, stall_s: float = 2.0, retry_after_s: float = 0.3, *,
                 latency_s: float = 0.01, per_token_s: float = 0.0, max_concurrent: int | None = None,
                 rate_limit_headers: RateLimitHeaders | None = None, batch_delay_s: float = 0.2, port: int = 0):
        self.policy: Policy = policy or (lambda n, prompt: "ok")
        self.stall_s, self.retry_after_s = stall_s, retry_after_s
        self.latency_s, self.per_token_s, self.max_concurrent = latency_s, per_token_s, max_concurrent
        self.rate_limit_headers, self.batch_delay_s = rate_limit_headers, batch_delay_s
        self.model = MODEL
        self.requests: list[tuple[float, str]] = []  # online chat requests: (monotonic time, kind)
        self.bodies: list[dict] = []  # online chat request bodies, in arrival order
        self.batch_requests: list[tuple[str, str]] = []  # batch items: (custom_id, kind)
        self.batch_bodies: list[dict] = []
        self.files: dict[str, dict] = {}  # id -> file object
        self.file_contents: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}  # id -> batch object, updated as it runs
        self.authorizations: set[str] = set()
        self.in_flight = self.max_in_flight = self.completion_tokens_sent = 0
        self.answering = self.max_answering = 0
        self._chat_count = 0  # numbers online and batch requests alike, so answers never repeat
        self._lock = threading.Lock()  # the policy and the counters are shared with the test's thread
        # Bound now, as before, so base_url is known before the server starts.
        self._sock = socket.create_server(("127.0.0.1", port), backlog=1024)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._batch_tasks: set[asyncio.Task] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"

    def count(self, kind: str) -> int:
        return sum(1 for _, k in self.requests if k == kind)

    def _decide(self, prompt: str) -> tuple[int, str]:
        """Number the request and ask the policy what to do; the caller holds the lock."""
        n, self._chat_count = self._chat_count, self._chat_count + 1
        return n, self.policy(n, prompt)

    # --- online chat -------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.json_response(error_body("the body is not a JSON object"), status=400)
        prompt = last_message(body)
        with self._lock:
            self.authorizations.add(request.headers.get("Authorization", ""))
            n, kind = self._decide(prompt)
            self.requests.append((time.monotonic(), kind))
            self.bodies.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if kind in ("stall", "expire"):
                await asyncio.sleep(self.stall_s)
            reply = chat_reply(kind, n, prompt, body, self.retry_after_s)
            if reply.status == 200:
                async with self._slots or contextlib.nullcontext():
                    await self._answer_time(reply.completion_tokens)
                with self._lock:
                    self.completion_tokens_sent += reply.completion_tokens
            extra = self.rate_limit_headers(n) if callable(self.rate_limit_headers) else self.rate_limit_headers
            headers = {**{k: str(v) for k, v in (extra or {}).items()}, **reply.headers}
            return web.json_response(reply.body, status=reply.status, headers=headers)
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _answer_time(self, completion_tokens: int) -> None:
        """The simulated latency of one answer, counted in ``answering`` while it lasts."""
        with self._lock:
            self.answering += 1
            self.max_answering = max(self.max_answering, self.answering)
        try:
            await asyncio.sleep(self.latency_s + self.per_token_s * completion_tokens)
        finally:
            with self._lock:
                self.answering -= 1

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "test"}]})

    async def _stats(self, request: web.Request) -> web.Response:
        with self._lock:
            arrivals = [t for t, _ in self.requests]
            return web.json_response({
                "requests": len(self.requests), "in_flight": self.in_flight, "max_in_flight": self.max_in_flight,
                "completion_tokens": self.completion_tokens_sent, "batch_requests": len(self.batch_requests),
                # the benchmark's clock: first and last arrival (monotonic seconds of this process)
                "first_arrival_s": arrivals[0] if arrivals else None, "last_arrival_s": arrivals[-1] if arrivals else None})

    async def _reset_stats(self, request: web.Request) -> web.Response:
        """Forget recorded requests (a long benchmark reuses one server); answers stay distinct."""
        with self._lock:
            self.requests.clear()
            self.bodies.clear()
            self.max_in_flight = self.in_flight
            self.max_answering = self.answering
        return web.json_response({"ok": True})

    # --- lifecycle ---------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=1024**3)  # batch input files can be large
        app.add_routes([
            web.get("/v1/models", self._models), web.post(CHAT_ENDPOINT, self._chat),
            web.get("/stats", self._stats), web.post("/stats/reset", self._reset_stats),
            *self._batch_routes(),
        ])
        return app

    async def _start(self) -> None:
        self._slots = asyncio.Semaphore(self.max_concurrent) if self.max_concurrent else None
        # handler_cancellation: a request whose client gave up (timeout) stops counting as in flight;
        # a short shutdown_timeout: leaving ``with`` never waits for stalled requests.
        self._runner = web.AppRunner(self._app(), access_log=None, handler_cancellation=True, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock, backlog=1024).start()

    async def _stop(self) -> None:
        for task in list(self._batch_tasks):
            task.cancel()
        await self._runner.cleanup()

    def _serve(self, started: threading.Event, failure: list[BaseException]) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._start())
        except BaseException as exc:  # reported to __enter__ in the caller's thread
            failure.append(exc)
        started.set()
        if not failure:
            loop.run_forever()
        loop.close()

    def __enter__(self) -> FakeOpenAI:
        started, failure = threading.Event(), []
        self._thread = threading.Thread(target=self._serve, args=(started, failure), name="fake-openai", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._sock.close()
