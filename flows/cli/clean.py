"""``synthembed clean``: rerun the filters over a run's committed rows (:mod:`flows.clean`).

    synthembed clean --run-id RUN_ID [--eval-texts FILE] [--decontaminate drop|mark|off] [--meaning drop|mark|off]
                     [--teacher e5-small|st:NAME_OR_PATH|http(s)://HOST/v1#MODEL] [--negatives-per-query K] ...

Flags not given keep the settings the run was made with. Exit codes: 0 the filters ran and
were saved, 2 bad input, or the run's lease was taken while they ran (nothing saved).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess

from flows.clean import clean
from flows.cli.error_lines import EXIT_OK, bad_input
from flows.cli.options import add_filter_options, add_run_options, filter_settings
from tasks.clean.filters import check_evaluation_sources
from tasks.clean.settings import CleanSettings
from tasks.common.report import format_table
from tasks.common.settings import Settings
from tasks.runs.manifest import find_run
from tasks.runs.tables import filter_table
from tasks.storage.lease import LeaseHeld, LeaseLost
from tasks.storage.store import StoreError, open_store


def add_clean_parser(sub: argparse._SubParsersAction, settings: Settings) -> None:
    p = sub.add_parser("clean", help="rerun the filters (near-duplicates, decontamination, meaning) "
                       "and the negative mining over a run's rows")
    add_run_options(p, settings)
    add_filter_options(p)


def clean_command(args: argparse.Namespace) -> int:
    try:
        store = open_store(args.store)
        stored = find_run(store, args.run_id)
        settings = filter_settings(args, CleanSettings.model_validate(stored.config.get("clean", {})))
        check_evaluation_sources(settings)
        manifest = asyncio.run(clean(store, args.run_id, settings))
    except (ValueError, StoreError, LeaseHeld, LeaseLost, OSError, ImportError,
            subprocess.SubprocessError) as exc:  # OSError: files, the hub (ConnectionError), the store, no such run
        return bad_input(exc)
    print(format_table(filter_table(manifest)) if manifest.filters else "no filter ran (all turned off)")
    return EXIT_OK
