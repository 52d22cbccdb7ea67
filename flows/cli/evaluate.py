"""``synthembed evaluate``: score embedding models with mteb (offline suite) and the passkey test.

It runs the ``evaluate`` flow (:mod:`flows.evaluate`)::

    synthembed evaluate --model file://./models/m1/model --baselines --passkey

The evaluation flags that ``pipeline`` takes too are declared once here (:func:`add_evaluation_options`),
with each command's defaults. Exit codes: 0 scored, 2 bad input (before any model loads).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from flows.cli.error_lines import EXIT_OK, USER_ERRORS, bad_input
from flows.cli.options import add_store_option, csv
from tasks.common.report import format_table
from tasks.common.settings import Settings
from tasks.evaluate.config import EvalConfig


@dataclass(frozen=True)
class EvaluationDefaults:
    """The defaults of the evaluation flags in one command (``evaluate``'s; the pipeline makes a short CPU run)."""

    baselines: bool = False
    bible_samples: int = 2000
    bbc_per_label: int | None = None
    passkey_lengths: str = "256,512,1024,2048,4096"


def add_evaluation_options(p: argparse.ArgumentParser | argparse._ArgumentGroup, defaults: EvaluationDefaults) -> None:
    """What to score on: every ``evaluate`` flag except which models, where results go, and per-model sizes."""
    p.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=defaults.baselines,
                   help="add the untrained base model, all-MiniLM-L6-v2 and multilingual-e5-small "
                   f"(default: {'on' if defaults.baselines else 'off'})")
    p.add_argument("--tasks", help="comma-separated task names (default: the offline suite; standard MTEB "
                   "tasks need the Hugging Face hub)")
    p.add_argument("--bible-samples", type=int, default=defaults.bible_samples,
                   help="verse pairs per Bible task (default: %(default)s)")
    p.add_argument("--bbc-per-label", type=int, default=defaults.bbc_per_label,
                   help=f"BBC articles per section (default: {defaults.bbc_per_label or 'all'})")
    p.add_argument("--passkey", action="store_true", help="also run personalized passkey retrieval (decoder models)")
    p.add_argument("--passkey-lengths", default=defaults.passkey_lengths,
                   help="context lengths in tokens (default: %(default)s)")
    p.add_argument("--passkey-docs", type=int, default=100, help="candidate documents per query (default: 100)")
    p.add_argument("--passkey-queries", type=int, default=50, help="queries per length (default: 50)")
    p.add_argument("--rope-theta", type=float, help="override the RoPE base for the passkey test (paper: 1e5)")


def evaluation_config(args: argparse.Namespace, **command) -> EvalConfig:
    """The config the evaluation flags describe; ``command``: the fields the command fills its own way."""
    return EvalConfig(**{
        "baselines": args.baselines, "tasks": csv(args.tasks) or None, "bible_samples": args.bible_samples,
        "bbc_per_label": args.bbc_per_label, "passkey": args.passkey,
        "passkey_lengths": [int(n) for n in csv(args.passkey_lengths)], "passkey_docs": args.passkey_docs,
        "passkey_queries": args.passkey_queries, "rope_theta": args.rope_theta, **command})


def add_evaluate_parser(sub: argparse._SubParsersAction, settings: Settings) -> None:
    p = sub.add_parser("evaluate", help="score embedding models with mteb (offline suite) and the passkey test")
    p.add_argument("--model", default="", help="comma-separated: exported model folders/URLs ({out}/model), "
                   "base:SPEC, minilm, e5-small, random, or hub ids")
    p.add_argument("--base-model",
                   help="the untrained base for --baselines (default: what the first model was trained from)")
    add_store_option(p, settings, help="results go to {store}/evals/")
    add_evaluation_options(p, EvaluationDefaults())
    p.add_argument("--max-length", type=int, default=512, help="tokens per text for decoder models (default: 512)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=42)


def evaluate_command(args: argparse.Namespace) -> int:
    from tasks.evaluate.preflight import check_evaluation

    try:
        config = evaluation_config(args, models=csv(args.model), base_model=args.base_model, store=args.store,
                                   max_length=args.max_length, batch_size=args.batch_size, seed=args.seed)
        specs = check_evaluation(config)  # before any model loads
    except (ValueError, *USER_ERRORS) as exc:
        return bad_input(exc)
    print(f"evaluating {', '.join(s.label for s in specs)}", file=sys.stderr)
    from flows.evaluate import evaluate  # imports Prefect and torch: after the checks

    print_evaluation(evaluate(config, checked=True))
    return EXIT_OK


def print_evaluation(report: dict) -> None:
    """The model × task table, the passkey table, and where the files are."""
    print(format_table(report["table"]))
    if report["passkey"]:
        print()
        print(format_table([{"model": label, **{f"passkey@{r['length']}": r["accuracy"] for r in rows}}
                            for label, rows in report["passkey"].items()]))
    print(f"\nresults: {report['report']}  (mteb result files under {report['report'].split('/evals/')[0]}/evals/)")
    print(f"chart:   {report['plot']}")
    if report["passkey_plot"]:
        print(f"passkey: {report['passkey_plot']}")
