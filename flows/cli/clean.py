"""``synthembed clean``: rerun the filters over a run's committed rows (:mod:`flows.clean`).

    synthembed clean --run-id RUN_ID [--eval-texts FILE] [--decontaminate drop|mark|off] [--meaning drop|mark|off]
                     [--teacher e5-small|st:NAME_OR_PATH|http(s)://HOST/v1#MODEL] [--negatives-per-query K] ...
    synthembed clean --run-id RUN_ID --judge [--judge-threshold 4] [--relabel] [--budget-tokens N]
                     [--llm-base-url URL --llm-model M]

Flags not given keep the settings the run was made with. The LLM filters (``--judge``, ``--relabel``) ask the run's
own LLM (its endpoint, model, mode and budget; the embedded server is started again for a run made with
it) unless ``--llm-base-url``/``--llm-model`` or ``--budget-tokens``/``--budget-usd`` say otherwise.
Exit codes: 0 the filters ran and were saved, 1 saved, but an LLM filter left rows unasked (its budget
ran out, or requests failed: rerun to ask only those), 2 bad input, an unusable LLM server, or the run's
lease was taken while they ran (nothing saved).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from contextlib import nullcontext

from flows.clean import clean
from flows.cli.error_lines import EXIT_FAILED, EXIT_OK, USER_ERRORS, bad_input
from flows.cli.options import (
    add_budget_options,
    add_filter_options,
    add_llm_endpoint_options,
    add_run_options,
    check_llm_endpoint,
    filter_settings,
)
from tasks.clean.filters import check_evaluation_sources, llm_filter_report
from tasks.clean.settings import CleanSettings
from tasks.common.report import format_table
from tasks.common.secrets import llm_api_key
from tasks.common.settings import Settings
from tasks.llm.backends import check_backend
from tasks.runs.manifest import Manifest, find_run
from tasks.runs.tables import filter_table
from tasks.storage.lease import LeaseHeld, LeaseLost
from tasks.storage.store import StoreError, open_store
from tasks.synth.config import SynthesisConfig


def add_clean_parser(sub: argparse._SubParsersAction, settings: Settings) -> None:
    p = sub.add_parser("clean", help="rerun the filters (near-duplicates, decontamination, meaning, the LLM judge) "
                       "and the negative mining over a run's rows")
    add_run_options(p, settings)
    add_filter_options(p)
    llm = p.add_argument_group("the LLM filters",
                               "--judge and --relabel ask the run's own LLM and budget unless these say otherwise")
    add_llm_endpoint_options(llm, settings, retry=True)
    add_budget_options(llm)


def run_generator(args: argparse.Namespace, stored: Manifest) -> SynthesisConfig:
    """The run's configuration as the LLM filters use it: its endpoint, model and budget, each replaced by the
    flag given (ValueError when the run stored no LLM and none is given)."""
    if not stored.config.get("llm") and not args.llm_base_url:
        raise ValueError(f"--judge and --relabel ask the run's LLM, and run {stored.run_id!r} stored none: "
                         "give --llm-base-url and --llm-model")
    given = {"base_url": args.llm_base_url, "model": args.llm_model}
    budgets = {"budget_tokens": args.budget_tokens, "budget_usd": args.budget_usd}
    return SynthesisConfig.model_validate({
        **stored.config, "store": args.store, "run_id": stored.run_id,
        "llm": {**stored.config.get("llm", {}), **{k: v for k, v in given.items() if v}},
        **{k: v for k, v in budgets.items() if v is not None}})


def clean_command(args: argparse.Namespace) -> int:
    from flows.services import made_with_embedded_llm

    errors = (ValueError, *USER_ERRORS, StoreError, LeaseHeld, LeaseLost, OSError, ImportError,
              subprocess.SubprocessError)  # OSError: files, the hub (ConnectionError), the store, no such run
    try:
        check_llm_endpoint(args)
        store = open_store(args.store)
        stored = find_run(store, args.run_id)
        settings = filter_settings(args, CleanSettings.model_validate(stored.config.get("clean", {})))
        check_evaluation_sources(settings)
        generator = run_generator(args, stored) if settings.needs_llm else None
    except errors as exc:
        return bad_input(exc)
    embedded = generator is not None and not args.llm_base_url and made_with_embedded_llm(generator.llm)
    with _embedded_llm(generator) if embedded else nullcontext(generator) as generator:
        try:
            llm = generator.run_llm() if generator else None
            if llm is not None:  # the server answers and serves the model before anything is taken or spent
                asyncio.run(check_backend(llm.llm, llm_api_key(), store, args.run_id))
            manifest = asyncio.run(clean(store, args.run_id, settings, llm))
        except errors as exc:
            return bad_input(exc)
    print(format_table(filter_table(manifest)) if manifest.filters else "no filter ran (all turned off)")
    for line in llm_filter_report(manifest):
        print(line)
    unasked = any(e.details.get("not_asked") or e.details.get("failed") for e in manifest.filters.values())
    if unasked:
        print("some rows were not asked: what was asked is saved; run the same command again to ask only the rest",
              file=sys.stderr)
    return EXIT_FAILED if unasked else EXIT_OK


def _embedded_llm(config: SynthesisConfig):
    """The embedded server the run was made with, started again for its LLM filters."""
    from flows.services import start_embedded_llm

    print(f"starting the embedded LLM server ({config.llm.model}) for the LLM filters", file=sys.stderr)
    return start_embedded_llm(config)
