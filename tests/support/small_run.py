"""A small synthesis run written directly (no LLM): 3 task types × 3 languages, for the export and the cards.

The ``ja`` shards are unfinished (one part committed, one failed), so the run is partial; rejects
are recorded per part; the manifest's config carries a planted secret-looking endpoint and
server option that no card may show.
"""

from __future__ import annotations

import json

from tasks.runs.manifest import Manifest, PartEntry, ShardStatus, save_manifest
from tasks.runs.parts import write_part
from tasks.storage.store import open_store
from tests.support.runs import row, shard

MODEL = "fake-model-7b"
SECRET = "sk-planted-secret-0123456789"
ROWS = {  # (task type, language) -> rows committed
    ("retrieval", "en"): 6, ("retrieval", "es"): 4, ("retrieval", "ja"): 2,
    ("sts", "en"): 5, ("sts", "es"): 3, ("sts", "ja"): 2,
    ("bitext", "en"): 3, ("bitext", "es"): 2, ("bitext", "ja"): 1,
}
REQUESTED = 6  # per shard
PART_SIZE = 4


def small_run_row(task_type: str, language: str, i: int) -> dict:
    """Row ``i`` of a shard: texts of growing length, bitext rows paired with French."""
    placeholders = {"task": f"{task_type} task {i % 3}", "language": language}
    if task_type == "bitext":
        placeholders.update(src_code=language, tgt_code="fr")
    return row(i, example_id=f"{task_type[:3]}{language}{i:04d}", task_type=task_type, language=language,
               task=placeholders["task"], query="q" * (5 + 3 * i), positive="p" * (50 + 40 * i),
               negative=f"a negative {i}" if task_type != "short_short" else None, model=MODEL,
               placeholders=json.dumps(placeholders, sort_keys=True), prompt_tokens=10, completion_tokens=20,
               shard_seed=1)


def make_run(store_url: str, run_id: str = "r1", rows: dict | None = None) -> Manifest:
    """Write parts and a manifest for ``rows`` ((task type, language) -> count; default ROWS); return the manifest."""
    store = open_store(store_url)
    manifest = Manifest(run_id=run_id, parameters={
        "seed": 0, "max_tries_per_example": 2, "part_size": PART_SIZE,
        "generator": {"model": MODEL, "temperature": 1.0, "top_p": 1.0, "max_tokens": 1536, "json_mode": True,
                      "templates": "abc123def456"}})
    manifest.config = {"llm": {"base_url": f"https://user:{SECRET}@llm.example/v1", "model": MODEL, "mode": "online",
                               "extra_body": {"repeat_penalty": 1.1, "api_key": SECRET}}}
    for (task_type, language), count in (ROWS if rows is None else rows).items():
        parts = []
        for index, start in enumerate(range(0, REQUESTED, PART_SIZE)):
            todo = list(range(start, min(start + PART_SIZE, count)))
            failed = not todo and count < REQUESTED and language == "ja"
            part = PartEntry(index=index, seed=index, requested=min(PART_SIZE, REQUESTED - start), rows=len(todo),
                             rejects={"invalid_json": 1, "too_short": index}, usage={"calls": 3})
            if todo:
                path = write_part(store, run_id, task_type, language, index,
                                  [small_run_row(task_type, language, i) for i in todo])
                part = part.model_copy(update={"status": ShardStatus.COMPLETE, "path": path})
            elif failed:
                part = part.model_copy(update={"status": ShardStatus.FAILED, "error": "LLM call failed"})
            else:
                part = part.model_copy(update={"status": ShardStatus.COMPLETE})
            parts.append(part)
        entry = shard(task_type, language, parts, requested=REQUESTED)
        manifest.shards[entry.key] = entry
    save_manifest(store, manifest)
    return manifest
