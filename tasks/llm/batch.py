"""The Batch API backend: the same requests as online, sent as OpenAI Batch JSONL (half price).

Parts call :meth:`BatchClient.send` exactly as they call the online client. Requests are
queued; once no new request has arrived for ``batch_collect_s`` (or ``batch_max_requests``
are queued) they go out as one batch — first the brainstorms of every part, then, as those
come back, the generations. Each batch is uploaded through ``/v1/files``, created through
``/v1/batches``, polled every ``batch_poll_s`` and downloaded when done.

Every batch is recorded in the store (``{run}/batches/{id}.json``: its id and request keys)
before it is polled, so a resumed run waits for, or downloads, the batches it already paid
for instead of submitting them again. Items that expired or failed with a transient error
(5xx, 429) are resubmitted alone, up to ``max_retries`` times; others fail their request.

Each batch's input is stored beside its record (``{id}.input.jsonl``); the same JSONL runs
through vLLM's offline batch runner on a GPU machine
(``python -m vllm.entrypoints.openai.run_batch -i {id}.input.jsonl -o out.jsonl --model M``;
see infra/cloud/README.md), whose output lines have the Batch API's shape (:func:`read_output`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import openai

from tasks.llm.client import LLMCallFailed, LLMSettings, LLMUnavailable, SendingStopped, check_server
from tasks.llm.requests import ChatRequest, Completion
from tasks.storage.store import Store

log = logging.getLogger(__name__)
FINAL = {"completed", "failed", "expired", "cancelled"}
TRANSIENT = {"batch_expired", "server_error", "rate_limit_exceeded", "timeout"}


def batch_line(request: ChatRequest) -> str:
    """One line of Batch JSONL; the request's ledger key is its ``custom_id``."""
    return json.dumps({"custom_id": request.key, "method": "POST", "url": "/v1/chat/completions",
                       "body": request.body()}, ensure_ascii=False)


def read_output(text: str) -> dict[str, dict | str]:
    """custom_id -> the chat.completion body, or an error code for items that did not succeed."""
    results: dict[str, dict | str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        response, error = item.get("response") or {}, item.get("error")
        if response.get("status_code") == 200 and not error:
            results[item["custom_id"]] = response["body"]
        else:
            status = response.get("status_code")
            code = (error or {}).get("code") or (response.get("body") or {}).get("error", {}).get("code")
            results[item["custom_id"]] = code or ("server_error" if (status or 500) >= 500 or status == 429 else f"http_{status}")
    return results


async def check_batch_api(client: openai.AsyncOpenAI, settings: LLMSettings) -> None:
    """LLMUnavailable unless the server has ``/batches``: a server without the Batch API answers 404 there
    (one with it lists batches, or answers 405 when it only takes ``POST``). Nothing is created or paid."""
    try:
        await client.batches.list(limit=1)
    except openai.NotFoundError:
        raise LLMUnavailable(f"the LLM server at {settings.base_url} has no Batch API (/batches answered 404): "
                             "run with --llm-mode online, or point --llm-base-url at a server with one") from None
    except openai.APIStatusError:
        pass  # it is there (405: POST only; other errors show when a batch is submitted)


class BatchClient:
    """Collects requests into batches, submits, polls and resolves each request's answer."""

    def __init__(self, settings: LLMSettings, api_key: str | None, store: Store, run_id: str):
        self.settings, self.store, self.run_id = settings, store, run_id
        self._client = openai.AsyncOpenAI(base_url=settings.base_url, api_key=api_key or "unused-local-key",
                                          timeout=settings.timeout_s, max_retries=settings.max_retries)
        self._queue: dict[str, ChatRequest] = {}  # waiting to be submitted
        self._waiters: dict[str, list[asyncio.Future]] = {}
        self._tries: dict[str, int] = {}
        self._known: dict[str, str] = {}  # request key -> id of the batch it was submitted in
        self._members: dict[str, dict[str, ChatRequest]] = {}  # batch id -> its requests someone awaits
        self._results: dict[str, dict | str] = {}  # downloaded answers nobody has asked for yet
        self._watching: dict[str, asyncio.Task] = {}
        self._last_queued = 0.0
        self._wake = asyncio.Event()
        self._collector: asyncio.Task | None = None
        self.submitted: list[str] = []  # batch ids this process created
        self._stopped: str | None = None

    @property
    def capacity(self) -> int:
        return self.settings.batch_max_requests

    def request(self, prompt: str, seed: int | None = None, label: str = "", max_tokens: int | None = None) -> ChatRequest:
        return self.settings.chat_request(prompt, seed, label, max_tokens)

    def _record_path(self, batch_id: str) -> str:
        return self.store.path("runs", self.run_id, "batches", f"{batch_id}.json")

    async def preflight(self) -> None:
        """The server answers, serves the model and has a Batch API (LLMUnavailable otherwise), before any spend."""
        await check_server(self._client, self.settings)
        await check_batch_api(self._client, self.settings)
        await asyncio.to_thread(self._load_records)

    def _load_records(self) -> None:
        """Batches an earlier process submitted: their requests are waited for, not sent again."""
        for path in sorted(self.store.fs.glob(self.store.path("runs", self.run_id, "batches", "*.json"))):
            record = self.store.read_json(path) or {}
            for key in record.get("keys", []):
                self._known[key] = record["id"]

    async def close(self) -> None:
        for task in [self._collector, *self._watching.values()]:
            if task:
                task.cancel()
        await self._client.close()

    def stop(self, reason: str) -> None:
        """Submit nothing more and stop waiting: every waiting request raises SendingStopped. Batches
        already submitted are recorded in the store, so a resumed run waits for them instead of paying again."""
        self._stopped = self._stopped or reason
        self._queue.clear()
        for key in list(self._waiters):
            for future in self._waiters.pop(key):
                if not future.done():
                    future.set_exception(SendingStopped(reason))

    async def send(self, request: ChatRequest) -> Completion:
        if self._stopped:
            raise SendingStopped(self._stopped)
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(request.key, []).append(future)
        if request.key in self._results:
            self._handle(request, self._results.pop(request.key), latency=0.0)
        elif (batch_id := self._known.get(request.key)) is not None:
            self._members.setdefault(batch_id, {})[request.key] = request
            self._watch(batch_id)
        else:
            self._enqueue(request)
        return await future

    def _enqueue(self, request: ChatRequest) -> None:
        self._queue[request.key] = request
        self._last_queued = time.monotonic()
        self._wake.set()
        if self._collector is None or self._collector.done():
            self._collector = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        """Submit the queue once it is full or quiet for ``batch_collect_s``."""
        while self._queue:
            quiet = self.settings.batch_collect_s - (time.monotonic() - self._last_queued)
            if quiet > 0 and len(self._queue) < self.settings.batch_max_requests:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=quiet)
                except asyncio.TimeoutError:
                    pass
                continue
            requests = [self._queue.pop(k) for k in list(self._queue)[: self.settings.batch_max_requests]]
            try:
                await self._submit(requests)
            except Exception as exc:  # the upload or create failed for good: these requests fail
                self._fail([r.key for r in requests], f"batch submission failed: {exc}")

    async def _submit(self, requests: list[ChatRequest]) -> None:
        payload = ("\n".join(batch_line(r) for r in requests) + "\n").encode()
        upload = await self._client.files.create(file=(f"synthembed-{self.run_id}.jsonl", payload), purpose="batch")
        batch = await self._client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                                  completion_window="24h", metadata={"synthembed_run": self.run_id})
        record = {"id": batch.id, "input_file_id": upload.id, "created_at": time.time(),
                  "keys": [r.key for r in requests], "labels": [r.label for r in requests]}
        # the input beside the record: auditable, and runnable elsewhere (vLLM's run_batch)
        await asyncio.to_thread(self.store.write_bytes, self._record_path(batch.id).removesuffix(".json") + ".input.jsonl", payload)
        await asyncio.to_thread(self.store.write_json, self._record_path(batch.id), record)  # before polling
        self.submitted.append(batch.id)
        log.info("batch %s submitted: %d requests", batch.id, len(requests))
        for r in requests:
            self._known[r.key] = batch.id
        self._members[batch.id] = {r.key: r for r in requests}
        self._watch(batch.id)

    def _watch(self, batch_id: str) -> None:
        if batch_id not in self._watching:
            self._watching[batch_id] = asyncio.create_task(self._poll(batch_id))

    async def _poll(self, batch_id: str) -> None:
        started = time.monotonic()
        while (batch := await self._client.batches.retrieve(batch_id)).status not in FINAL:
            await asyncio.sleep(self.settings.batch_poll_s)
        results: dict[str, dict | str] = {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                results.update(read_output((await self._client.files.content(file_id)).text))
        if batch.status == "failed" and not results:
            errors = "; ".join(e.message or e.code or "" for e in (batch.errors.data if batch.errors else []))
            results = {key: f"failed: {errors or 'no reason given'}" for key, bid in self._known.items() if bid == batch_id}
        latency = time.monotonic() - started
        for key in [k for k, bid in self._known.items() if bid == batch_id]:
            del self._known[key]
            result = results.get(key, "batch_expired")  # neither answered nor failed: not processed in time
            request = self._members.get(batch_id, {}).get(key)
            if request is None:
                self._results[key] = result  # its part has not asked yet (a resumed run)
            else:
                self._handle(request, result, latency)
        self._members.pop(batch_id, None)

    def _handle(self, request: ChatRequest, result: dict | str, latency: float) -> None:
        """Resolve a request from its batch result, resubmit it (transient), or fail it."""
        tries = self._tries.get(request.key, 0) + 1
        if isinstance(result, dict):
            for future in self._waiters.pop(request.key, []):
                if not future.done():
                    future.set_result(Completion.from_body(result, latency, tries))
        elif result in TRANSIENT and tries <= self.settings.max_retries:
            self._tries[request.key] = tries
            self._enqueue(request)  # resubmitted alone, in the next batch
        else:
            self._fail([request.key], f"batch item {result} after {tries} submission(s)")

    def _fail(self, keys: list[str], message: str) -> None:
        for key in keys:
            for future in self._waiters.pop(key, []):
                if not future.done():
                    future.set_exception(LLMCallFailed(message))
