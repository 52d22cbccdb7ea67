"""``synthembed pipeline``: synthesize → train → evaluate in one parent flow (what ``make run`` runs).

    synthembed pipeline --languages en,es --task-types all --examples-per-shard 8 --steps 30

It takes the flags of the three stage commands under the same names: all of ``synthesize``'s,
``train``'s but where the data comes from (the run it synthesizes), ``evaluate``'s but which
models (the one it trains, against its base and the baselines). Its defaults make a short CPU run.
Where two stages share a name, training has it; the evaluation's is ``--eval-max-length``.
``--train-batch-size`` and ``--train-max-length`` are older spellings of ``--batch-size`` and
``--max-length``. Exit codes: 0 done, 1 synthesis incomplete (the retry command is printed),
2 bad input or an unusable store/LLM server, before any spend.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from flows.cli.error_lines import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, USER_ERRORS, bad_input, print_error
from flows.cli.evaluate import EvaluationDefaults, add_evaluation_options, evaluation_config
from flows.cli.options import check_llm_endpoint
from flows.cli.synthesize import (
    add_synthesis_options,
    check_existing_run,
    command_line,
    preflight,
    print_plan,
    synthesis_config,
)
from flows.cli.train import TrainingDefaults, add_training_options, training_config
from tasks.common.report import format_table
from tasks.common.settings import Settings

# A short CPU run: the paper's learning rate 1e-4 is for ~1k steps at batch 2048; a mini-batch of 16
# holds the whole batch of 8 with its hard negatives, so GradCache makes no second pass.
# τ = 0.05, not the paper's 0.02: on make run's ~35 pairs in batches of 8, τ = 0.02 collapsed a run (seed 0:
# mean 0.092, below the untrained base; lr 3e-4 did not save it: 0.122) and τ = 0.05 trained the same data to
# 0.585 (BENCHMARKS.md "Quality: the temperature"). Warm-up over 10 of the 30 steps, not 3: with 3, a make run
# at seed 1 collapsed even at τ = 0.05 (lr 1e-3 from step 2, a loss spike on step 4, then stuck near ln 16); with 10 the
# same data and seed trained (BENCHMARKS.md "Quality: three seeds"). Held-out loss every 5 steps: seconds each.
PIPELINE_TRAINING = TrainingDefaults(
    steps=30, batch_size=8, mini_batch_size=16, max_length=128, learning_rate=1e-3, warmup_steps=10,
    temperature=0.05, eval_every=5, cpus_per_worker=2.0, checkpoint_every=None,
    aliases={"--batch-size": "--train-batch-size", "--max-length": "--train-max-length"})
PIPELINE_EVALUATION = EvaluationDefaults(baselines=True, bible_samples=200, bbc_per_label=8,
                                         passkey_lengths="256,512,1024")


def add_pipeline_parser(sub: argparse._SubParsersAction, settings: Settings) -> None:
    p = sub.add_parser("pipeline", help="synthesize -> train -> evaluate in one parent flow (what `make run` runs)",
                       description="Synthesize, train on the run, evaluate the model: the stage commands' flags under "
                       "the same names, with defaults for a short CPU run.")
    add_synthesis_options(p, settings)
    t = p.add_argument_group("training", "the model is trained on the run just synthesized")
    t.add_argument("--out", default="", help="store URL for the model (default: {store}/models/{run_id})")
    add_training_options(t, PIPELINE_TRAINING)
    e = p.add_argument_group("evaluation", "the trained model is scored first, against its base and the baselines")
    add_evaluation_options(e, PIPELINE_EVALUATION)
    e.add_argument("--eval-max-length", type=int, default=128, help="tokens per text for decoder models (default: 128)")


def pipeline_command(args: argparse.Namespace) -> int:
    from tasks.pipeline import plan_stages

    embedded = not args.llm_base_url
    try:
        check_llm_endpoint(args)
        synthesis = synthesis_config(args)
        every = args.checkpoint_every if args.checkpoint_every is not None else max(args.steps // 2, 1)
        training = training_config(args, data=[], out=args.out, seed=args.seed, checkpoint_every=every)
        evaluation = evaluation_config(args, max_length=args.eval_max_length)
        if args.dry_run:
            if args.run_id:  # an existing run: refused as the real run would be
                check_existing_run(synthesis, embedded)
            return print_plan(synthesis)
        from flows.pipeline import check_pipeline  # imports Prefect: after the dry run

        check_pipeline(synthesis, *plan_stages(synthesis, training, evaluation), resume_training=args.resume)
        if not embedded:  # the embedded server starts inside the flow; a given one is checked now
            asyncio.run(preflight(synthesis))
    except (ValueError, *USER_ERRORS) as exc:
        return bad_input(exc)
    from flows.pipeline import pipeline
    from flows.synthesize import SynthesisIncomplete, SynthesisInterrupted

    print(f"pipeline run {synthesis.run_id}: synthesize -> train -> evaluate", file=sys.stderr)
    try:
        summary = asyncio.run(pipeline(synthesis, training, evaluation, embedded_llm=embedded,
                                       resume_training=args.resume, checked=True))
    except SynthesisInterrupted as exc:  # Ctrl-C during synthesis: every answer received is recorded
        print(f"{exc} (with --run-id {synthesis.run_id})", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SynthesisIncomplete as exc:
        print_error(f"synthesis incomplete: {exc}")
        print(f"Retry the failed shards with:\n  {command_line('retry', synthesis.run_id, synthesis.store)}\n"
              f"then run the pipeline again with --run-id {synthesis.run_id} (complete shards are kept).",
              file=sys.stderr)
        return EXIT_FAILED
    print(f"\n{summary['rows']} rows synthesized; "
          f"training loss {summary['first_loss']:.3f} -> {summary['last_loss']:.3f}")
    print(format_table(summary["table"]))
    print()
    print(format_table([{"stage": k, "seconds": v} for k, v in summary["seconds"].items()]))
    print(f"\ndata:    {summary['data']}\nmodel:   {summary['model']}\nloss:    {summary['loss_plot']}"
          f"\nresults: {summary['report']}\nchart:   {summary['plot']}")
    return EXIT_OK
