"""The filters over a run's committed rows, under the run's lease: what ``synthembed clean`` does,
and the last step of every synthesis run.

Synthesis runs the filters (near-duplicates, overlap with evaluation data, meaning checks by a
teacher embedder, the optional LLM judge, then the negative mining: :mod:`tasks.clean.filters`) at its end; ``synthembed
clean`` reruns them alone, e.g. against another evaluation set, with a stricter near-duplicate
threshold, another teacher, or after a retry made by an older version::

    synthembed clean --run-id 20261202-011500-a1b2 --eval-texts my_test_set.jsonl --decontaminate drop

Nothing is generated and no data file is rewritten: only ``{run}/filters/``, the teacher's cached
vectors under ``{run}/embeddings/``, the LLM filters' answers under ``{run}/ledger/filters/`` and the
manifest's ``filters`` change. Plain functions, not a Prefect flow: ``clean`` is one local step with nothing
to retry or resume, and runs without a Prefect server (inside a synthesis run it is a task).
"""

from __future__ import annotations

import asyncio

from tasks.clean.filters import clean_run
from tasks.clean.settings import CleanSettings
from tasks.llm.run_llm import RunLLM
from tasks.runs.manifest import Manifest, load_manifest, save_manifest
from tasks.runs.verdicts import remove_stale_verdicts
from tasks.storage.lease import LeaseLost, RunLease, holding_lease
from tasks.storage.store import Store


async def filter_run(store: Store, manifest: Manifest, settings: CleanSettings, lease: RunLease,
                     llm: RunLLM | None = None) -> Manifest:
    """Run the filters over every committed row of ``manifest``'s run and save what they found.

    The caller holds the run's ``lease``. The filters run in a thread so that the event loop keeps
    renewing it meanwhile; if it was broken or taken over by the end, nothing is saved: the new
    writer's manifest stands. ``llm``: the run's LLM and budget, for the judge and the relabeler.
    """
    cleaned = await asyncio.to_thread(clean_run, store, manifest, settings, llm)
    if lease.lost.is_set():
        raise LeaseLost(f"the lease of run {manifest.run_id!r} was taken while the filters ran; nothing was saved")
    await asyncio.to_thread(save_manifest, store, cleaned)
    await asyncio.to_thread(remove_stale_verdicts, store, cleaned)
    return cleaned


async def clean(store: Store, run_id: str, settings: CleanSettings, llm: RunLLM | None = None) -> Manifest:
    """``synthembed clean``: take the run's lease (one writer per run), then :func:`filter_run`."""
    async with holding_lease(store, run_id) as lease:
        manifest = await asyncio.to_thread(load_manifest, store, run_id)  # as saved now, under the lease
        return await filter_run(store, manifest, settings, lease, llm)
