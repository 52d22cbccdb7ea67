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
import sys

from tasks.clean.filters import CleanSettings, EvaluationSourceMissing, check_evaluation_sources, clean_run
from tasks.report import format_table
from tasks.storage.lease import LeaseHeld, holding_lease
from tasks.storage.manifest import load_manifest, save_manifest
from tasks.storage.store import StoreError, open_store
from tasks.synth.config import check_run_id
from tasks.synth.summary import filter_table


def clean_arguments(p: argparse.ArgumentParser) -> None:
    """The filter flags, for ``synthesize``, ``retry``, ``pipeline`` and ``clean``."""
    p.add_argument("--no-near-dedup", dest="near_dedup", action="store_false",
                   help="keep near-duplicate queries and documents (default: drop them, keeping the first)")
    p.add_argument("--query-threshold", type=float, default=0.8,
                   help="shingle Jaccard that makes two queries near-duplicates (default: 0.8)")
    p.add_argument("--document-threshold", type=float, default=0.7,
                   help="shingle Jaccard that makes two documents near-duplicates (default: 0.7)")
    p.add_argument("--decontaminate", choices=["drop", "mark", "off"], default="drop",
                   help="rows sharing a 13-word (50-character) passage with evaluation data: drop, mark or keep (default: drop)")
    p.add_argument("--no-offline-suite", dest="offline_suite", action="store_false",
                   help="do not decontaminate against the offline evaluation suite's texts")
    p.add_argument("--eval-texts", action="append", default=[], metavar="FILE",
                   help="more evaluation texts to decontaminate against (.txt lines, .jsonl/.parquet 'text'); repeatable")
    p.add_argument("--eval-mteb-tasks", default="", metavar="NAMES",
                   help="comma-separated mteb tasks whose texts to decontaminate against (needs the hub)")


def clean_settings(args: argparse.Namespace) -> CleanSettings:
    return CleanSettings(near_duplicates=args.near_dedup, query_threshold=args.query_threshold,
                         document_threshold=args.document_threshold, decontaminate=args.decontaminate,
                         offline_suite=args.offline_suite, evaluation_files=args.eval_texts,
                         mteb_tasks=[n.strip() for n in args.eval_mteb_tasks.split(",") if n.strip()])


def add_clean_parser(sub: argparse._SubParsersAction, default_store: str) -> None:
    p = sub.add_parser("clean", help="rerun the near-duplicate and decontamination filters over a run's rows")
    p.add_argument("--run-id", required=True)
    p.add_argument("--store", default=default_store)
    clean_arguments(p)


async def _clean(store, run_id: str, settings: CleanSettings):
    async with holding_lease(store, run_id):  # one writer per run
        manifest = await asyncio.to_thread(load_manifest, store, run_id)
        cleaned = await asyncio.to_thread(clean_run, store, manifest, settings)
        await asyncio.to_thread(save_manifest, store, cleaned)
        return cleaned


def clean_command(args: argparse.Namespace) -> int:
    try:
        settings = clean_settings(args)
        check_evaluation_sources(settings)
        store = open_store(args.store)
        if load_manifest(store, check_run_id(args.run_id)) is None:
            print(f"error: no synthesis run {args.run_id!r} in {store.url()}", file=sys.stderr)
            return 2
        manifest = asyncio.run(_clean(store, args.run_id, settings))
    except (ValueError, StoreError, LeaseHeld, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(filter_table(manifest)) if manifest.filters else "no filter ran (all turned off)")
    return 0


__all__ = ["EvaluationSourceMissing", "add_clean_parser", "clean_arguments", "clean_command", "clean_settings"]
