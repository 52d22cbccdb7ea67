"""``synthembed status`` and ``synthembed unlock``: look at a synthesis run, or free it from a writer that is gone.

    synthembed status --run-id RUN_ID         # shards, parts, yield, rejects, filters, tokens
    synthembed unlock --run-id RUN_ID         # break the lease of a writer that is gone (e.g. a lost machine)

``unlock`` refuses a lease whose holder is a process alive on this host (stop it instead), unless
``--force``; a run the store does not hold is bad input (exit 2), as for ``status``.
"""

from __future__ import annotations

import argparse

from flows.cli.error_lines import EXIT_OK, USER_ERRORS, bad_input
from flows.cli.options import add_run_options
from tasks.common.report import format_table
from tasks.common.settings import Settings
from tasks.runs.manifest import Manifest, RunNotFound, check_run_id, find_run, load_manifest
from tasks.runs.tables import filter_table, task_type_table
from tasks.storage.lease import RunLease, unlock
from tasks.storage.store import open_store
from tasks.synth.config import SynthesisConfig
from tasks.synth.summary import shard_table


def add_status_parser(sub: argparse._SubParsersAction, settings: Settings) -> None:
    add_run_options(sub.add_parser("status", help="show a synthesis run's shards and per-task-type yield"), settings)


def add_unlock_parser(sub: argparse._SubParsersAction, settings: Settings) -> None:
    p = sub.add_parser("unlock", help="break a run's lease (its writer is gone, e.g. a lost machine)")
    add_run_options(p, settings)
    p.add_argument("--force", action="store_true",
                   help="break it even when its holder is a process alive on this host (two writers would race)")


def status_command(args: argparse.Namespace) -> int:
    try:
        manifest = find_run(open_store(args.store), args.run_id)
    except (ValueError, *USER_ERRORS) as exc:
        return bad_input(exc)
    print_run_tables(manifest, shards=True)
    if manifest.stopped_reason:
        print(f"\nstopped_reason: {manifest.stopped_reason}")
    if manifest.filters:
        print()
        print(format_table(filter_table(manifest)))
    return EXIT_OK


def unlock_command(args: argparse.Namespace) -> int:
    try:
        store = open_store(args.store)
        check_run_id(args.run_id)
        if load_manifest(store, args.run_id) is None and RunLease(store, args.run_id).holder() is None:
            raise RunNotFound(f"no synthesis run {args.run_id!r} in {store.url()}")
        held = unlock(store, args.run_id, force=args.force)
    except (ValueError, *USER_ERRORS) as exc:
        return bad_input(exc)
    print(f"broke the lease of {held.get('holder')} on run {args.run_id}" if held
          else f"run {args.run_id} has no lease")
    return EXIT_OK


def print_run_tables(manifest: Manifest, shards: bool = False) -> None:
    """The per-task-type yield (and optionally every shard) of a run, as terminal tables."""
    if shards:
        config = SynthesisConfig.model_validate(manifest.config) if manifest.config else None  # for prices
        print(format_table([{k: v for k, v in row.items() if k != "error"} for row in shard_table(manifest, config)]))
        print()
    print(format_table(task_type_table(manifest)))
