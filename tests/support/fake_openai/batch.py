"""The Batch API of the fake server: ``/v1/files`` and ``/v1/batches``, answered through the same policy.

A batch goes validating -> in_progress -> finalizing -> completed (``expired`` if an item
expired; ``failed`` on an invalid input file; ``cancelled`` when cancelled in time), taking
``batch_delay_s``. Its items are numbered with the online requests, so answers never repeat.

>>> line = json.dumps({"custom_id": "a", "method": "POST", "url": CHAT_ENDPOINT, "body": {"messages": []}})
>>> items, errors = parse_batch_input(f"{line}\\n{line}\\n".encode(), CHAT_ENDPOINT)
>>> [item["custom_id"] for item in items], [error["code"] for error in errors]
(['a'], ['duplicate_custom_id'])
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from aiohttp import web

from tests.support.fake_openai.replies import CHAT_ENDPOINT, chat_reply, error_body, last_message

# Batch object fields that stay null until the batch gets that far.
_BATCH_LATER = ("output_file_id", "error_file_id", "in_progress_at", "finalizing_at", "completed_at", "failed_at",
                "expired_at", "cancelling_at", "cancelled_at", "model", "usage")


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def found(obj: dict | None, what: str) -> web.Response:
    return web.json_response(obj) if obj else web.json_response(error_body(f"No such {what}"), status=404)


def parse_batch_input(content: bytes, endpoint: str) -> tuple[list[dict], list[dict]]:
    """A batch input file's request lines, and an OpenAI-style error per invalid line."""
    items, errors, seen = [], [], set()

    def reject(code: str, message: str, line: int | None) -> None:
        errors.append({"code": code, "message": message, "param": None, "line": line})

    for number, line in enumerate(content.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            reject("invalid_json_line", f"line {number} is not valid JSON: {exc}", number)
            continue
        if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str):
            reject("missing_custom_id", f"line {number} has no string custom_id", number)
        elif item["custom_id"] in seen:
            reject("duplicate_custom_id", f"line {number} repeats custom_id {item['custom_id']!r}", number)
        elif item.get("method") != "POST" or item.get("url") != endpoint:
            reject("invalid_request", f"line {number} is not a POST to {endpoint}", number)
        elif not isinstance(item.get("body"), dict):
            reject("invalid_body", f"line {number} has no JSON object body", number)
        else:
            seen.add(item["custom_id"])
            items.append(item)
    if not items and not errors:
        reject("empty_file", "the input file has no requests", None)
    return items, errors


class BatchAPI:
    """Files and batches, mixed into :class:`tests.support.fake_openai.server.FakeOpenAI`.

    Uses the server's ``_lock``, ``_decide`` (numbering and the policy), ``retry_after_s``,
    ``batch_delay_s`` and counters; records ``files``, ``file_contents``, ``batches``,
    ``batch_requests`` (custom_id, kind) and ``batch_bodies``.
    """

    def _batch_routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/files", self._upload), web.get("/v1/files/{id}", self._get_file),
            web.get("/v1/files/{id}/content", self._file_content), web.post("/v1/batches", self._create_batch),
            web.get("/v1/batches/{id}", self._get_batch), web.post("/v1/batches/{id}/cancel", self._cancel_batch),
        ]

    # --- files -------------------------------------------------------------------------------

    def _add_file(self, content: bytes, filename: str, purpose: str) -> dict:
        file = {"id": new_id("file-"), "object": "file", "bytes": len(content), "created_at": int(time.time()),
                "filename": filename, "purpose": purpose, "status": "processed", "status_details": None}
        self.files[file["id"]], self.file_contents[file["id"]] = file, content
        return file

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField) or form.get("purpose") != "batch":
            return web.json_response(error_body("expected multipart fields purpose=batch and file"), status=400)
        return web.json_response(self._add_file(upload.file.read(), upload.filename, "batch"))

    async def _get_file(self, request: web.Request) -> web.Response:
        return found(self.files.get(request.match_info["id"]), "file")

    async def _file_content(self, request: web.Request) -> web.Response:
        content = self.file_contents.get(request.match_info["id"])
        if content is None:
            return found(None, "file")
        return web.Response(body=content, content_type="application/octet-stream")

    # --- batches -----------------------------------------------------------------------------

    async def _create_batch(self, request: web.Request) -> web.Response:
        spec = await request.json()
        if spec.get("input_file_id") not in self.file_contents:
            return web.json_response(error_body(f"input file {spec.get('input_file_id')!r} not found"), status=400)
        if spec.get("endpoint") != CHAT_ENDPOINT or spec.get("completion_window") != "24h":
            return web.json_response(error_body(f"only endpoint {CHAT_ENDPOINT} with completion_window 24h"),
                                     status=400)
        now = int(time.time())
        batch = {"id": new_id("batch_"), "object": "batch", "endpoint": CHAT_ENDPOINT, "errors": None,
                 "input_file_id": spec["input_file_id"], "completion_window": "24h", "status": "validating",
                 "created_at": now, "expires_at": now + 24 * 3600, "metadata": spec.get("metadata"),
                 "request_counts": {"total": 0, "completed": 0, "failed": 0}, **dict.fromkeys(_BATCH_LATER)}
        self.batches[batch["id"]] = batch
        task = asyncio.create_task(self._run_batch(batch))
        self._batch_tasks.add(task)  # a reference, so the task is not garbage-collected mid-run
        task.add_done_callback(self._batch_tasks.discard)
        return web.json_response(batch)

    async def _get_batch(self, request: web.Request) -> web.Response:
        return found(self.batches.get(request.match_info["id"]), "batch")

    async def _cancel_batch(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["id"])
        if batch is None:
            return found(None, "batch")
        if batch["status"] not in ("validating", "in_progress"):
            return web.json_response(error_body(f"cannot cancel a batch that is {batch['status']}"), status=409)
        batch.update(status="cancelling", cancelling_at=int(time.time()))  # the runner finishes the cancel
        return web.json_response(batch)

    @staticmethod
    def _finish(batch: dict, status: str) -> None:
        batch.update({"status": status, f"{status}_at": int(time.time())})

    async def _run_batch(self, batch: dict) -> None:
        """validating -> in_progress -> completed (expired if an item expired; failed on bad input)."""
        await asyncio.sleep(self.batch_delay_s / 2)
        if batch["status"] == "cancelling":
            return self._finish(batch, "cancelled")
        items, errors = parse_batch_input(self.file_contents[batch["input_file_id"]], batch["endpoint"])
        if errors:
            batch["errors"] = {"object": "list", "data": errors}
            return self._finish(batch, "failed")
        batch.update(status="in_progress", in_progress_at=int(time.time()), model=items[0]["body"].get("model"))
        batch["request_counts"]["total"] = len(items)
        await asyncio.sleep(self.batch_delay_s / 2)
        if batch["status"] == "cancelling":
            return self._finish(batch, "cancelled")
        batch.update(status="finalizing", finalizing_at=int(time.time()))
        lines = [self._answer_batch_item(item) for item in items]
        answered, failed = [], []
        for line in lines:
            (answered if line["response"] and line["response"]["status_code"] == 200 else failed).append(line)
        batch["request_counts"].update(completed=len(answered), failed=len(failed))
        for key, part, purpose in (("output_file_id", answered, "output"), ("error_file_id", failed, "error")):
            if part:
                content = "".join(json.dumps(line) + "\n" for line in part).encode()
                batch[key] = self._add_file(content, f"{batch['id']}_{purpose}.jsonl", "batch_output")["id"]
        expired = any(line["error"] and line["error"]["code"] == "batch_expired" for line in lines)
        self._finish(batch, "expired" if expired else "completed")

    def _answer_batch_item(self, item: dict) -> dict:
        """One output (or error) line, answered through the policy like an online request."""
        body, prompt = item["body"], last_message(item["body"])
        line = {"id": new_id("batch_req_"), "custom_id": item["custom_id"], "response": None, "error": None}
        with self._lock:
            n, kind = self._decide(prompt)
            self.batch_requests.append((item["custom_id"], kind))
            self.batch_bodies.append(body)
        if kind == "expire":
            line["error"] = {"code": "batch_expired",
                             "message": "This request could not be executed before the completion window expired."}
            return line
        reply = chat_reply(kind, n, prompt, body, self.retry_after_s)
        with self._lock:
            self.completion_tokens_sent += reply.completion_tokens
        line["response"] = {"status_code": reply.status, "request_id": uuid.uuid4().hex, "body": reply.body}
        return line
