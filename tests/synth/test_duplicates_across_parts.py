"""Exact duplicates are dropped across a shard's parts, not only inside one (README, "Duplicates").

A generator that gives the same answer to every request makes the same example (same
``example_id``) in every part of an STS shard (its task definition is fixed). Whether the parts
run together or the first was committed by an earlier process, the shard keeps that example once
and counts the others as ``duplicate`` rejects.
"""

from __future__ import annotations

import asyncio

from tasks.llm.client import LLMSettings
from tasks.llm.requests import ChatRequest, Completion
from tasks.runs.manifest import ShardStatus, load_manifest
from tasks.runs.parts import scan_run
from tasks.storage.store import open_store
from tasks.synth.check_settings import ExampleChecks
from tasks.synth.config import SynthesisConfig
from tasks.synth.lengths import LengthPolicy
from tasks.synth.run import SynthesisRun, prepare_run
from tests.support.fake_openai import valid_answer


class SameAnswer:
    """A backend whose every answer is the first one it gave (valid for an STS prompt)."""

    def __init__(self, settings: LLMSettings):
        self.settings, self.capacity, self.text = settings, 4, None

    def request(self, prompt: str, seed: int | None = None, label: str = "",
                max_tokens: int | None = None) -> ChatRequest:
        return self.settings.chat_request(prompt, seed, label, max_tokens)

    async def send(self, request: ChatRequest) -> Completion:
        self.text = self.text or valid_answer(request.prompt, 0, "en")
        return Completion(self.text, "stop", len(request.prompt.split()), len(self.text.split()), 0.0)

    def stop(self, reason: str) -> None:
        pass

    async def close(self) -> None:
        pass


def _config(tmp_path) -> SynthesisConfig:
    # lengths loose and no language identification: the one answer passes for every prompt's unit
    return SynthesisConfig(languages=["en"], task_types=["sts"], examples_per_shard=3, part_size=1, run_id="dups",
                           store=f"file://{tmp_path}", llm={"base_url": "http://127.0.0.1:1/v1", "model": "m"},
                           checks=ExampleChecks(language_id=False, lengths=LengthPolicy(min_ratio=0.01, max_ratio=100)))


def _run(config: SynthesisConfig, parts: list[int] | None = None) -> None:
    """One process's attempt: the shard's parts ``parts`` (default: every unfinished one)."""
    store = open_store(config.store)

    async def go():
        manifest = prepare_run(store, config)
        run = SynthesisRun(store, manifest, config, SameAnswer(config.llm))
        entry = manifest.shards["sts/en"]
        if parts is None:
            await run.run_shard(entry)
        else:
            for index in parts:
                await run.run_part("sts/en", entry.parts[index])
        await run.writer.save()

    asyncio.run(go())


def _shard(config: SynthesisConfig):
    store = open_store(config.store)
    return load_manifest(store, config.run_id).shards["sts/en"], scan_run(store, config.run_id).collect()


def test_the_same_example_in_three_parts_is_kept_once(tmp_path):
    config = _config(tmp_path)
    _run(config)
    shard, rows = _shard(config)
    assert shard.status is ShardStatus.COMPLETE and len(shard.parts) == 3
    assert rows.height == 1 and shard.rows == 1
    assert shard.rejects == {"duplicate": 2}


def test_a_part_committed_by_an_earlier_process_is_not_duplicated_by_the_next(tmp_path):
    config = _config(tmp_path)
    _run(config, parts=[0])  # an earlier process committed part 0, then stopped
    _run(config)  # the next one does parts 1 and 2
    shard, rows = _shard(config)
    assert shard.status is ShardStatus.COMPLETE and rows.height == 1
    assert shard.rejects == {"duplicate": 2}
