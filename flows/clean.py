"""``synthembed clean``: rerun the filters over a run's committed rows, and the flags they share with ``synthesize``.

Synthesis runs the filters at its end; this reruns them alone, e.g. against another evaluation
set, with a stricter near-duplicate threshold, or after a retry made by an older version::

    synthembed clean --run-id 20261202-011500-a1b2 --eval-texts my_test_set.jsonl --decontaminate drop

Nothing is generated and no data file is rewritten: only ``{run}/filters/`` and the manifest's
``filters`` change (tasks.clean.filters), under the run's lease.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path

from pydantic import ValidationError

from flows.errors import one_line
from tasks.clean.filters import EvaluationSourceMissing, check_evaluation_sources, clean_run
from tasks.clean.settings import CleanSettings
from tasks.runs.verdicts import remove_stale_verdicts
from tasks.common.report import format_table
from tasks.storage.lease import LeaseHeld, LeaseLost, holding_lease
from tasks.runs.manifest import load_manifest, save_manifest
from tasks.storage.store import StoreError, open_store
from tasks.synth.config import check_run_id
from tasks.synth.summary import filter_table


def clean_arguments(p: argparse.ArgumentParser) -> None:
    """The filter flags, for ``synthesize``, ``pipeline`` and ``clean`` (``retry`` reuses the run's own).

    Every default is None, "not given": ``synthesize`` then takes :class:`CleanSettings`' defaults,
    ``clean`` the settings the run was made with.
    """
    p.add_argument("--no-near-dedup", dest="near_duplicates", action="store_false", default=None,
                   help="keep near-duplicate queries and documents (default: drop them, keeping the first)")
    p.add_argument("--query-threshold", type=float, help="shingle Jaccard that makes two queries near-duplicates (default: 0.8)")
    p.add_argument("--document-threshold", type=float,
                   help="shingle Jaccard that makes two documents near-duplicates (default: 0.7)")
    p.add_argument("--decontaminate", choices=["drop", "mark", "off"],
                   help="rows sharing a 13-word (50-character) passage with evaluation data: drop, mark or keep (default: drop)")
    p.add_argument("--no-offline-suite", dest="offline_suite", action="store_false", default=None,
                   help="do not decontaminate against the offline evaluation suite's texts")
    p.add_argument("--eval-texts", dest="evaluation_files", action="append", metavar="FILE",
                   help="more evaluation texts to decontaminate against (.txt lines, .jsonl/.parquet 'text'); repeatable")
    p.add_argument("--eval-mteb-tasks", dest="mteb_tasks", metavar="NAMES",
                   help="comma-separated mteb tasks whose texts to decontaminate against (needs the hub)")


def clean_settings(args: argparse.Namespace, base: CleanSettings | None = None) -> CleanSettings:
    """``base`` (default: the defaults) with the filter flags that were given; file paths made absolute."""
    given = {name: getattr(args, name) for name in CleanSettings.model_fields if getattr(args, name, None) is not None}
    if "mteb_tasks" in given:
        given["mteb_tasks"] = [n.strip() for n in given["mteb_tasks"].split(",") if n.strip()]
    if "evaluation_files" in given:  # a retry from another folder must still find them
        given["evaluation_files"] = [str(Path(p).resolve()) for p in given["evaluation_files"]]
    return CleanSettings.model_validate({**(base or CleanSettings()).model_dump(), **given})


def add_clean_parser(sub: argparse._SubParsersAction, default_store: str) -> None:
    p = sub.add_parser("clean", help="rerun the near-duplicate and decontamination filters over a run's rows")
    p.add_argument("--run-id", required=True)
    p.add_argument("--store", default=default_store)
    clean_arguments(p)


async def _clean(store, run_id: str, settings: CleanSettings):
    async with holding_lease(store, run_id) as lease:  # one writer per run
        manifest = await asyncio.to_thread(load_manifest, store, run_id)
        cleaned = await asyncio.to_thread(clean_run, store, manifest, settings)
        if lease.lost.is_set():  # broken or taken over while the filters ran: the new writer's manifest stands
            raise LeaseLost(f"the lease of run {run_id!r} was taken while the filters ran; nothing was saved")
        await asyncio.to_thread(save_manifest, store, cleaned)
        await asyncio.to_thread(remove_stale_verdicts, store, cleaned)
        return cleaned


def clean_command(args: argparse.Namespace) -> int:
    try:
        store = open_store(args.store)
        if (stored := load_manifest(store, check_run_id(args.run_id))) is None:
            print(f"error: no synthesis run {args.run_id!r} in {store.url()}", file=sys.stderr)
            return 2
        settings = clean_settings(args, CleanSettings.model_validate(stored.config.get("clean", {})))
        check_evaluation_sources(settings)
        manifest = asyncio.run(_clean(store, args.run_id, settings))
    except (ValidationError, ValueError, StoreError, LeaseHeld, LeaseLost, OSError, ImportError,
            subprocess.SubprocessError) as exc:  # OSError: files, the hub (ConnectionError), the store
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    print(format_table(filter_table(manifest)) if manifest.filters else "no filter ran (all turned off)")
    return 0


__all__ = ["EvaluationSourceMissing", "add_clean_parser", "clean_arguments", "clean_command", "clean_settings"]
