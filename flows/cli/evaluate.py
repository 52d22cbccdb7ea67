"""``synthembed evaluate``: score embedding models with mteb (offline suite) and the passkey test.

It runs the ``evaluate`` flow (:mod:`flows.evaluate`)::

    synthembed evaluate --model file://./models/m1/model --baselines --passkey

The evaluation flags that ``pipeline`` takes too are declared once here (:func:`add_evaluation_options`),
with each command's defaults. Exit codes: 0 scored; 1 some (model × task) units failed, the others
were scored and the command that retries the failed ones is printed; 2 bad input (before any model loads).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from flows.cli.error_lines import EXIT_FAILED, EXIT_OK, USER_ERRORS, bad_input
from flows.cli.options import add_store_option, csv
from tasks.common.report import format_table
from tasks.common.settings import Settings
from tasks.evaluate.config import EvalConfig
from tasks.evaluate.devices import DEFAULT_BATCH_TOKENS


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
    p.add_argument("--benchmark", help="an mteb benchmark by name, e.g. 'MTEB(eng, v2)', 'NanoBEIR' (its data needs "
                   "the Hugging Face hub), or synthembed-offline (default: the offline suite)")
    p.add_argument("--tasks", help="comma-separated task names of the benchmark (default: all of it; without "
                   "--benchmark: offline tasks or standard MTEB tasks, which need the hub)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto, the GPU when there "
                   "is one; decoders load in bfloat16 there)")
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
        "baselines": args.baselines, "benchmark": args.benchmark, "tasks": csv(args.tasks) or None,
        "device": args.device, "bible_samples": args.bible_samples,
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
    p.add_argument("--batch-size", type=int, default=16, help="texts per forward pass, at most (default: 16)")
    p.add_argument("--batch-tokens", type=int, default=DEFAULT_BATCH_TOKENS,
                   help="padded tokens per forward pass, at most (default: %(default)s)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--dry-run", action="store_true", help="print the (model × task) units, each task's size and "
                   "an estimated time; load no model and no data (works offline)")
    r = p.add_argument_group("Ray", "fan the units out over Ray workers (default: this process, one model after "
                             "another)")
    r.add_argument("--num-workers", type=int, default=0, help="Ray workers (default: 0, no Ray)")
    r.add_argument("--use-gpu", action="store_true", help="one GPU per Ray worker")
    r.add_argument("--ray-address", default=settings.ray_address,
                   help="join this Ray cluster (default: RAY_ADDRESS, else a local Ray on 127.0.0.1)")


def evaluate_command(args: argparse.Namespace) -> int:
    from tasks.evaluate.preflight import check_evaluation, plan_evaluation

    try:
        config = evaluation_config(args, models=csv(args.model), base_model=args.base_model, store=args.store,
                                   max_length=args.max_length, batch_size=args.batch_size,
                                   batch_tokens=args.batch_tokens, seed=args.seed, num_workers=args.num_workers,
                                   use_gpu=args.use_gpu, ray_address=args.ray_address)
        if args.dry_run:
            print_plan(*plan_evaluation(config))  # no model, no data: metadata only
            return EXIT_OK
        specs = check_evaluation(config)  # before any model loads
    except (ValueError, *USER_ERRORS) as exc:
        return bad_input(exc)
    print(f"evaluating {', '.join(s.label for s in specs)}", file=sys.stderr)
    from flows.evaluate import evaluate  # imports Prefect and torch: after the checks

    report = evaluate(config, checked=True)
    print_evaluation(report)
    if report["failed"]:
        print_retry(report["failed"], ["synthembed", *getattr(args, "argv", sys.argv[1:])])
        return EXIT_FAILED
    return EXIT_OK


def print_retry(failed: list[dict], argv: list[str]) -> None:
    """Which units failed and why, and the command that redoes only those (the filed units are skipped)."""
    from tasks.evaluate.units import retry_command

    print(f"\n{len(failed)} unit(s) failed: " + "; ".join(f"{f['model']} × {f['task']}: {f['error']}" for f in failed),
          file=sys.stderr)
    print(f"retry them (units already filed are skipped):\n  {retry_command(argv, [f['task'] for f in failed])}",
          file=sys.stderr)


def print_plan(rows: list[dict], notes: list[str]) -> None:
    """The dry run: one row per unit and a total per model, then where the throughput figures come from."""
    print(format_table(rows))
    print("\nestimated from measured throughput (characters/s):")
    for note in notes:
        print(f"  {note}")


def print_evaluation(report: dict) -> None:
    """The model × task table, the passkey table, and where the files are."""
    print(format_table(report["table"]))
    if report.get("aggregate"):
        print()
        print(format_table(report["aggregate"]))
    if report["passkey"]:
        print()
        print(format_table([{"model": label, **{f"passkey@{r['length']}": r["accuracy"] for r in rows}}
                            for label, rows in report["passkey"].items()]))
    print(f"\nresults: {report['report']}  (mteb result files under {report['report'].split('/evals/')[0]}/evals/)")
    print(f"chart:   {report['plot']}")
    if report["passkey_plot"]:
        print(f"passkey: {report['passkey_plot']}")
