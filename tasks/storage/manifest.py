"""The run manifest: every planned shard, its status and its accounting, in one JSON object.

``{store}/runs/{run_id}/manifest.json`` is the commit log of a run. A shard's Parquet file is
written first (atomically), then the shard is marked ``complete`` here; readers trust the
manifest, so a crash between the two leaves a shard that is simply redone.

>>> m = Manifest(run_id="r1", parameters={"seed": 1})
>>> m.shards["sts/en"] = ShardEntry(task_type="sts", language="en", seed=5, requested=2)
>>> [e.key for e in m.unfinished()]
['sts/en']
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum

from pydantic import BaseModel, Field

from tasks.storage.store import Store

MANIFEST_VERSION = 1


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ShardStatus(str, Enum):
    PENDING = "pending"  # planned, not yet finished
    COMPLETE = "complete"  # data written and committed
    FAILED = "failed"  # gave up after retries; `error` says why


class ShardEntry(BaseModel):
    """One shard (task type × language) of a run."""

    task_type: str
    language: str
    seed: int
    requested: int
    status: ShardStatus = ShardStatus.PENDING
    rows: int = 0
    rejects: dict[str, int] = Field(default_factory=dict)
    usage: dict[str, float] = Field(default_factory=dict)
    tasks_brainstormed: int = 0
    attempts: int = 0
    error: str | None = None
    path: str | None = None
    updated_at: str = Field(default_factory=utc_now)

    @property
    def key(self) -> str:
        return shard_key(self.task_type, self.language)


class Manifest(BaseModel):
    """All shards of one synthesis run plus the parameters that define it."""

    version: int = MANIFEST_VERSION
    run_id: str
    created_at: str = Field(default_factory=utc_now)
    updated_at: str = Field(default_factory=utc_now)
    parameters: dict = Field(default_factory=dict)
    config: dict = Field(default_factory=dict)  # the full run configuration (no secrets), for retries
    shards: dict[str, ShardEntry] = Field(default_factory=dict)
    stopped_reason: str | None = None

    def unfinished(self) -> list[ShardEntry]:
        """Shards still to do: pending or failed, in plan order."""
        return [e for e in self.shards.values() if e.status is not ShardStatus.COMPLETE]

    def failed(self) -> list[ShardEntry]:
        return [e for e in self.shards.values() if e.status is ShardStatus.FAILED]

    def total_rows(self) -> int:
        return sum(e.rows for e in self.shards.values() if e.status is ShardStatus.COMPLETE)


def shard_key(task_type: str, language: str) -> str:
    return f"{task_type}/{language}"


def manifest_path(store: Store, run_id: str) -> str:
    return store.path("runs", run_id, "manifest.json")


def load_manifest(store: Store, run_id: str) -> Manifest | None:
    data = store.read_json(manifest_path(store, run_id))
    return Manifest.model_validate(data) if data is not None else None


def save_manifest(store: Store, manifest: Manifest) -> None:
    """Write the manifest atomically (a reader sees the previous or the new version)."""
    manifest.updated_at = utc_now()
    store.write_json(manifest_path(store, manifest.run_id), manifest.model_dump(mode="json"))


class ParameterMismatch(ValueError):
    """A run id was reused with parameters that would change what the run produces."""


def check_same_run(manifest: Manifest, parameters: dict) -> None:
    """Refuse to resume a run with different identity parameters (seed, languages, sizes...)."""
    changed = {
        k: (manifest.parameters.get(k), v) for k, v in parameters.items() if manifest.parameters.get(k) != v
    }
    if changed:
        detail = "; ".join(f"{k}: was {old!r}, now {new!r}" for k, (old, new) in changed.items())
        raise ParameterMismatch(
            f"run {manifest.run_id!r} already exists with other parameters ({detail}). "
            "Re-run with the original parameters to resume it, or choose a new --run-id."
        )
