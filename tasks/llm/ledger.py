"""The request ledger: every LLM answer a run paid for, durable in the store, keyed by request.

A run never pays twice for the same request. Before a request is sent its key (a hash of
model, messages, sampling parameters and seed: :class:`tasks.llm.requests.ChatRequest`) is
looked up here; an answer recorded by an earlier attempt — a Prefect retry, ``synthembed
retry``, or the same command again after ``kill -9`` — is reused. Rejected answers are kept
too, with their reject reason, so the ledger is also the audit trail of what was thrown away.

Layout: one folder per part, JSON lines, one object per answer::

    {store}/runs/{run_id}/ledger/{task_type}/{language}/part-00003/{session}.jsonl
    {store}/runs/{run_id}/ledger/filters/{name}/{session}.jsonl      # a whole-run filter's questions (the judge)

How records reach the store depends on it:

* ``file://``: appended to the session's file as each answer arrives (one ``write`` per line),
  so a killed process loses nothing it was answered;
* object stores (S3) cannot append: records are buffered and uploaded as immutable segments
  ``{session}-{seq}.jsonl`` at least every ``flush_s`` seconds or ``flush_n`` answers.

After a part is committed its files are compacted into one.

>>> import tempfile
>>> from tasks.storage.store import open_store
>>> from tasks.llm.requests import Completion
>>> ledger = RequestLedger(open_store(tempfile.mkdtemp()), "r1")
>>> part = ledger.open_part("sts/en/0")
>>> part.record("k1", Completion("{}", "stop", 10, 5, 0.1), verdict="kept")
>>> ledger.close_part(part)
>>> ledger.open_part("sts/en/0").get("k1").completion_tokens
5
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from dataclasses import asdict

from fsspec.implementations.local import LocalFileSystem

from tasks.llm.requests import Completion
from tasks.storage.store import Store

log = logging.getLogger(__name__)

FLUSH_S = 2.0  # object stores: the most answers lost to a kill -9 are those of the last FLUSH_S ...
FLUSH_N = 32  # ... or FLUSH_N answers, whichever comes first


def part_prefix(store: Store, run_id: str, part_key: str) -> str:
    """``sts/en/3`` -> ``{run}/ledger/sts/en/part-00003``."""
    task_type, language, index = part_key.split("/")
    return store.path("runs", run_id, "ledger", task_type, language, f"part-{int(index):05d}")


def filter_prefix(store: Store, run_id: str, name: str) -> str:
    """``judge`` -> ``{run}/ledger/filters/judge``: the answers to one whole-run filter's questions
    (``filters`` is no task type, so no part of a shard shares the folder)."""
    return store.path("runs", run_id, "ledger", "filters", name)


class PartLedger:
    """The recorded answers of one part, plus the sink new answers go to."""

    def __init__(self, store: Store, prefix: str, session: str):
        self.store, self.prefix, self.session = store, prefix, session
        self.records: dict[str, dict] = {}
        self._append = isinstance(store.fs, LocalFileSystem)
        self._buffer: list[str] = []
        self._segment = 0
        self._last_flush = time.monotonic()
        self._file = None
        self._load()

    def _files(self) -> list[str]:
        try:
            return sorted(p for p in self.store.fs.find(self.prefix) if p.endswith(".jsonl"))
        except FileNotFoundError:
            return []

    def _load(self) -> None:
        for path in self._files():
            try:
                with self.store.fs.open(path, "rb") as f:
                    lines = f.read().decode("utf-8", errors="replace").splitlines()
            except FileNotFoundError:  # compacted away between listing and reading
                continue
            for line in lines:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by a killed writer: that answer is simply asked again
                self.records.setdefault(record["key"], record)

    def get(self, key: str) -> Completion | None:
        """The recorded answer to the request with this key (``reused=True``), or None."""
        if (record := self.records.get(key)) is None:
            return None
        return Completion(**{k: record[k] for k in Completion.__dataclass_fields__ if k in record}, reused=True)

    def record(self, key: str, completion: Completion, verdict: str, label: str = "", model: str = "") -> None:
        """Remember one paid answer and what was decided about it (``kept`` or a reject reason)."""
        record = {"key": key, "label": label, "model": model, "verdict": verdict, "at": round(time.time(), 3),
                  **{k: v for k, v in asdict(completion).items() if k != "reused"}}
        self.records[key] = record
        line = json.dumps(record, ensure_ascii=False) + "\n"
        if self._append:
            if self._file is None:
                self.store.fs.makedirs(self.prefix, exist_ok=True)
                self._file = open(f"{self.prefix}/{self.session}.jsonl", "a", encoding="utf-8", buffering=1)
            self._file.write(line)  # line-buffered: in the OS's hands at once, kill -9 safe
        else:
            self._buffer.append(line)

    def flush_due(self) -> bool:
        return bool(self._buffer) and (len(self._buffer) >= FLUSH_N or time.monotonic() - self._last_flush >= FLUSH_S)

    def flush(self) -> None:
        """Upload buffered records as one new immutable segment (object stores)."""
        if not self._buffer:
            return
        lines, self._buffer = self._buffer, []
        path = f"{self.prefix}/{self.session}-{self._segment:05d}.jsonl"
        self._segment += 1
        self._last_flush = time.monotonic()
        try:
            self.store.write_bytes(path, "".join(lines).encode())
        except Exception:
            self._buffer = lines + self._buffer  # keep them for the next flush
            self._segment -= 1
            raise

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None

    def compact(self) -> None:
        """Merge the part's files into one (after its commit): fewer objects to list on resume."""
        files = self._files()
        if len(files) <= 1:
            return
        target = f"{self.prefix}/compact-{self.session}.jsonl"
        self.store.write_bytes(target, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.records.values()).encode())
        for path in files:
            if path != target:
                self.store.fs.rm_file(path)

    def totals(self) -> dict[str, float]:
        """What the part's recorded answers cost, each counted once."""
        records = self.records.values()
        return {"calls": len(self.records),
                "prompt_tokens": sum(r["prompt_tokens"] for r in records),
                "completion_tokens": sum(r["completion_tokens"] for r in records),
                "retries": sum(r.get("attempts", 1) - 1 for r in records),
                "seconds": round(sum(r["latency_s"] for r in records), 3)}


class RequestLedger:
    """The run's ledger: opens one :class:`PartLedger` per running part and flushes them."""

    def __init__(self, store: Store, run_id: str):
        self.store, self.run_id = store, run_id
        self.session = f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
        self._open: set[PartLedger] = set()

    def open_part(self, part_key: str) -> PartLedger:
        part = PartLedger(self.store, part_prefix(self.store, self.run_id, part_key), self.session)
        self._open.add(part)
        return part

    def open_filter(self, name: str) -> PartLedger:
        """The ledger of a whole-run filter's questions (:func:`filter_prefix`), kept like a part's."""
        part = PartLedger(self.store, filter_prefix(self.store, self.run_id, name), self.session)
        self._open.add(part)
        return part

    def close_part(self, part: PartLedger, compact: bool = False) -> None:
        self._open.discard(part)
        part.close()
        if compact:
            part.compact()

    async def flush_forever(self, every_s: float = 0.25) -> None:
        """Background task: upload every part's due segment (cancel it when the run ends)."""
        while True:
            await asyncio.sleep(every_s)
            for part in [p for p in self._open if p.flush_due()]:
                try:
                    await asyncio.to_thread(part.flush)
                except Exception as exc:  # the store hiccupped: the records stay buffered, retried next round
                    log.warning("ledger flush of %s failed (%s); retrying", part.prefix, exc)
