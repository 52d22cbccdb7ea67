"""The run manifest: every planned shard and its parts, their status and accounting, in one JSON object.

``{store}/runs/{run_id}/manifest.json`` is the commit log of a run. A shard (task type ×
language) is cut into parts of at most ``part_size`` examples; each part's Parquet file is
written first (atomically), then the part is marked ``complete`` here. Readers trust the
manifest, so a crash between the two leaves a part that is simply redone — from the request
ledger, without paying again. A shard is complete when all its parts are.

>>> m = Manifest(run_id="r1", parameters={"seed": 1})
>>> m.shards["sts/en"] = ShardEntry(task_type="sts", language="en", seed=5, requested=2,
...                                 parts=[PartEntry(index=0, seed=9, requested=2)])
>>> [e.key for e in m.unfinished()], m.shards["sts/en"].parts[0].key("sts/en")
(['sts/en'], 'sts/en/0')
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timezone
from enum import Enum

from pydantic import BaseModel, Field, model_validator

from tasks.storage.store import Store

RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"  # one path segment: no '/', no '..' prefix
MANIFEST_VERSION = 2  # 2: shards hold parts (1: one file per shard, read as one part)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ShardStatus(str, Enum):
    PENDING = "pending"  # planned, not yet finished
    COMPLETE = "complete"  # data written and committed
    FAILED = "failed"  # gave up after retries; `error` says why


class PartEntry(BaseModel):
    """One part of a shard: examples ``[index * part_size, ...)``, written and committed on its own.

    ``usage`` counts every answer the part paid for, once (from its request ledger);
    ``reused`` how many answers its last attempt took from the ledger instead of paying again.
    """

    index: int
    seed: int
    requested: int
    status: ShardStatus = ShardStatus.PENDING
    rows: int = 0
    rejects: dict[str, int] = Field(default_factory=dict)
    usage: dict[str, float] = Field(default_factory=dict)
    reused: int = 0
    tasks_brainstormed: int = 0
    attempts: int = 0
    error: str | None = None
    path: str | None = None
    updated_at: str = Field(default_factory=utc_now)

    def key(self, shard: str) -> str:
        return f"{shard}/{self.index}"


class ShardEntry(BaseModel):
    """One shard (task type × language) of a run; its totals are those of its parts."""

    task_type: str
    language: str
    seed: int
    requested: int
    parts: list[PartEntry] = Field(default_factory=list)
    status: ShardStatus = ShardStatus.PENDING
    rows: int = 0
    rejects: dict[str, int] = Field(default_factory=dict)
    usage: dict[str, float] = Field(default_factory=dict)
    tasks_brainstormed: int = 0
    attempts: int = 0
    error: str | None = None
    updated_at: str = Field(default_factory=utc_now)

    @model_validator(mode="before")
    @classmethod
    def _one_part_from_version_1(cls, data):
        """A version-1 shard (one file, no parts) reads as a shard of one part."""
        if isinstance(data, dict) and "parts" not in data and "path" in data:
            part = {k: data[k] for k in ("seed", "requested", "status", "rows", "rejects", "usage",
                                         "tasks_brainstormed", "attempts", "error", "path") if k in data}
            data = {**data, "parts": [{"index": 0, **part}]}
        return data

    @property
    def key(self) -> str:
        return shard_key(self.task_type, self.language)

    def unfinished_parts(self) -> list[PartEntry]:
        return [p for p in self.parts if p.status is not ShardStatus.COMPLETE]

    def with_part(self, part: PartEntry) -> ShardEntry:
        """This shard with ``part`` replaced and its totals recomputed."""
        parts = [part if p.index == part.index else p for p in self.parts]
        rejects = summed(p.rejects for p in parts)
        usage = {name: round(n, 3) for name, n in summed(p.usage for p in parts).items()}
        statuses = {p.status for p in parts}
        status = (ShardStatus.COMPLETE if statuses == {ShardStatus.COMPLETE}
                  else ShardStatus.FAILED if ShardStatus.FAILED in statuses else ShardStatus.PENDING)
        errors = [f"part {p.index}: {p.error}" for p in parts if p.status is ShardStatus.FAILED and p.error]
        return self.model_copy(update=dict(
            parts=parts, status=status, rows=sum(p.rows for p in parts), rejects=rejects, usage=usage,
            tasks_brainstormed=sum(p.tasks_brainstormed for p in parts), attempts=max(p.attempts for p in parts),
            error="; ".join(errors)[:500] or None, updated_at=utc_now()))


class FilterEntry(BaseModel):
    """One filter over a run's committed rows (near-duplicates, contamination, meaning), recomputed as a whole.

    ``path`` holds its verdicts (``example_id``, ``reason``, details); ``action`` says whether
    readers drop those rows (``drop``) or only see them flagged (``mark``); ``add``: the file holds
    what readers may add to rows (mined negatives: ``example_id``, ``negatives``); ``replace``: the
    positives readers asking for them read instead (relabeled: ``example_id``, ``positive``,
    ``negatives``). ``counts`` is by reason, ``by_shard`` by shard key then reason.
    """

    path: str
    action: str = "drop"
    rows_checked: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    by_shard: dict[str, dict[str, int]] = Field(default_factory=dict)
    details: dict = Field(default_factory=dict)
    seconds: float = 0.0
    updated_at: str = Field(default_factory=utc_now)


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
    filters: dict[str, FilterEntry] = Field(default_factory=dict)  # by name; see tasks.clean.filters

    def unfinished(self) -> list[ShardEntry]:
        """Shards still to do: pending or failed, in plan order."""
        return [e for e in self.shards.values() if e.status is not ShardStatus.COMPLETE]

    def failed(self) -> list[ShardEntry]:
        return [e for e in self.shards.values() if e.status is ShardStatus.FAILED]

    def usage(self) -> dict[str, float]:
        """What the run paid for, over all shards (each answer once): calls, prompt_tokens, ..."""
        return summed(e.usage for e in self.shards.values())

    def total_rows(self) -> int:
        return sum(e.rows for e in self.shards.values() if e.status is ShardStatus.COMPLETE)


def summed(counts: Iterable[dict]) -> dict:
    """Counts added up by name.

    >>> summed([{"calls": 2, "too_short": 1}, {"calls": 3}])
    {'calls': 5, 'too_short': 1}
    """
    total: dict = {}
    for entry in counts:
        for name, n in entry.items():
            total[name] = total.get(name, 0) + n
    return total


def shard_key(task_type: str, language: str) -> str:
    return f"{task_type}/{language}"


def manifest_path(store: Store, run_id: str) -> str:
    return store.path("runs", run_id, "manifest.json")


def load_manifest(store: Store, run_id: str) -> Manifest | None:
    data = store.read_json(manifest_path(store, run_id))
    return Manifest.model_validate(data) if data is not None else None


def check_run_id(run_id: str) -> str:
    """A run id that is one safe path segment, or ValueError (it becomes a folder and object keys).

    >>> check_run_id("20261127-031500-a1b2")
    '20261127-031500-a1b2'
    >>> check_run_id("../etc")
    Traceback (most recent call last):
    ...
    ValueError: run id '../etc' is not allowed: use letters, digits, '.', '_' and '-' (up to 128), starting with a letter or digit
    """
    if not re.fullmatch(RUN_ID_PATTERN.strip("^$"), run_id or ""):
        raise ValueError(f"run id {run_id!r} is not allowed: use letters, digits, '.', '_' and '-' (up to 128), "
                         "starting with a letter or digit")
    return run_id


class RunNotFound(FileNotFoundError):
    """The store holds no synthesis run of that id (no manifest)."""


def find_run(store: Store, run_id: str) -> Manifest:
    """The manifest of run ``run_id``; ValueError for an id that is not a safe path segment, else
    RunNotFound: the one place that says a run is not there."""
    manifest = load_manifest(store, check_run_id(run_id))
    if manifest is None:
        raise RunNotFound(f"no synthesis run {run_id!r} in {store.url()}")
    return manifest


def save_manifest(store: Store, manifest: Manifest) -> None:
    """Write the manifest atomically (a reader sees the previous or the new version)."""
    manifest.updated_at = utc_now()
    store.write_json(manifest_path(store, manifest.run_id), manifest.model_dump(mode="json"))


FIELDS_ADDED_OVER_TIME = {"generator"}  # parameters whose sub-keys are fields, compared when both runs have them


class ParameterMismatch(ValueError):
    """A run id was reused with parameters that would change what the run produces."""


def check_same_run(manifest: Manifest, parameters: dict, advice: dict[str, str] | None = None) -> None:
    """Refuse to resume a run with different identity parameters (seed, languages, sizes, model...).

    A parameter the stored run predates is not compared: one not in its manifest, or a field of
    ``generator`` it has not (its other dicts are data: a key added or removed is a change). ``advice``
    maps a parameter (``generator.templates``) to what to tell the user when it is the one that changed.
    """
    changed = []
    for key, new in parameters.items():
        old = manifest.parameters.get(key, new)
        if isinstance(old, dict) and isinstance(new, dict):  # name the sub-keys that changed
            keys = set(old) & set(new) if key in FIELDS_ADDED_OVER_TIME else set(old) | set(new)
            changed += [(f"{key}.{k}", old.get(k), new.get(k)) for k in sorted(keys) if old.get(k) != new.get(k)]
        elif old != new:
            changed.append((key, old, new))
    if changed:
        detail = "; ".join(f"{k}: was {old!r}, now {new!r}" for k, old, new in changed)
        hint = next((advice[k] for k, _, _ in changed if k in (advice or {})),
                    "Re-run with the original parameters to resume it, or choose a new --run-id.")
        raise ParameterMismatch(f"run {manifest.run_id!r} already exists with other parameters ({detail}). {hint}")
