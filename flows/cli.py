"""The ``synthembed`` command line.

    synthembed synthesize --languages en,es --task-types retrieval,sts --examples-per-shard 4
    synthembed retry --run-id RUN_ID          # redo only what failed
    synthembed status --run-id RUN_ID         # shards, parts, yield, rejects, filters, tokens
    synthembed clean --run-id RUN_ID          # rerun the near-duplicate and decontamination filters
    synthembed unlock --run-id RUN_ID         # break the lease of a writer that is gone
    synthembed export --run-id RUN_ID --out DIR [--push-to-hub OWNER/NAME]   # a Hugging Face dataset folder

Without ``--llm-base-url`` the embedded llama.cpp server (Qwen2.5-Coder-0.5B) is started on
127.0.0.1 for the run and stopped afterwards. Exit codes of synthesize and retry: 0 every shard
complete at or above ``--min-yield``, 3 every shard complete but some below it, 1 some shards
failed (the retry command is printed) or the filters failed, 2 bad input or an unusable
store/LLM server, before any spend.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
from contextlib import nullcontext

from pydantic import ValidationError

from flows.clean import EvaluationSourceMissing, add_clean_parser, clean_arguments, clean_command, clean_settings
from flows.errors import one_line
from flows.export import add_export_parser, export_command
from tasks.clean.filters import check_evaluation_sources
from tasks.common.report import format_table
from tasks.common.secrets import SecretUnavailable, llm_api_key
from tasks.common.settings import Settings, config_file
from tasks.storage.lease import LeaseHeld, break_lease
from tasks.runs.manifest import ParameterMismatch, load_manifest
from tasks.storage.store import StoreError, check_store, open_store
from tasks.synth.check_settings import ExampleChecks
from tasks.synth.config import SynthesisConfig, check_run_id
from tasks.language.languages import parse_languages, parse_weights
from tasks.synth.lengths import LengthPolicy
from tasks.llm.client import LLMClient, LLMSettings, LLMUnavailable
from tasks.synth.run import retry_plan
from tasks.synth.summary import filter_table, shard_table, task_type_table
from tasks.train.config import ATTENTION_IMPLEMENTATIONS

SETTINGS: Settings  # environment + synthembed.toml: the defaults of every command (read in main)

EXIT_LOW_YIELD = 3  # every shard complete, but some kept too few of their examples (README "Yield")
# Errors that mean "fix the input or the environment": one line on stderr, exit code 2.
USER_ERRORS = (StoreError, LLMUnavailable, ParameterMismatch, SecretUnavailable, LeaseHeld, EvaluationSourceMissing)


def _synthesize_parser(sub: argparse._SubParsersAction) -> None:
    _synthesis_arguments(sub.add_parser("synthesize", help="generate synthetic training data with an LLM"))


def _synthesis_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--languages", default="en", help="comma-separated ISO codes, or 'all' (default: en)")
    p.add_argument("--task-types", default="all",
                   help="comma-separated: retrieval,classification,short_short,long_long,sts,bitext (default: all)")
    p.add_argument("--examples-per-shard", type=int, default=4, help="examples per task type × language (default: 4)")
    p.add_argument("--total-examples", type=int, help="split this many over languages by weight instead")
    p.add_argument("--language-weights", help="e.g. en=0.6,es=0.4 (default: English-dominant)")
    p.add_argument("--store", default=SETTINGS.store, help=f"fsspec URL: file://PATH or s3://BUCKET/PREFIX (default: {SETTINGS.store})")
    p.add_argument("--run-id", help="create or resume this run (default: a new timestamped id)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--llm-base-url", default=SETTINGS.llm_base_url,
                   help="OpenAI-compatible base URL (default: start the embedded llama.cpp server)")
    p.add_argument("--llm-model", default=SETTINGS.llm_model, help="model name on that server (required with --llm-base-url)")
    p.add_argument("--concurrency", type=int, default=4, help="LLM requests in flight, over the whole run (default: 4)")
    p.add_argument("--shard-concurrency", type=int, default=64,
                   help="most shards in flight; parts start whenever the LLM would run dry (default: 64)")
    p.add_argument("--part-size", type=int, default=500, help="most examples per committed part (default: 500)")
    p.add_argument("--llm-mode", choices=["online", "batch"], default="online",
                   help="online requests, or the provider's Batch API: half price, answers within 24 h (default: online)")
    p.add_argument("--rpm", type=float, help="requests per minute allowed (default: learned from x-ratelimit headers)")
    p.add_argument("--tpm", type=float, help="tokens per minute allowed (default: learned from x-ratelimit headers)")
    p.add_argument("--batch-poll", type=float, default=30.0, help="batch mode: seconds between status polls (default: 30)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (shards, parts, requests, tokens, cost) and exit: no LLM call, no server needed")
    p.add_argument("--shard-retries", type=int, default=1, help="Prefect retries of a language whose part failed; only unfinished parts are redone (default: 1)")
    p.add_argument("--max-tokens", type=int, default=8192,
                   help="most completion tokens per call; each request asks for what its lengths need in its "
                        "language, up to this (default: 8192; the embedded server: its context less the prompt)")
    p.add_argument("--min-length-ratio", type=float, default=0.5,
                   help="a field may be this fraction of the length its prompt asks for (default: 0.5)")
    p.add_argument("--max-length-ratio", type=float, default=2.0,
                   help="... or this multiple of it; longer is rejected as too_long (default: 2.0)")
    p.add_argument("--long-min-words", type=int, default=300,
                   help="words long-long prompts ask for per document (paper: 300; default: 300)")
    p.add_argument("--no-language-id", dest="language_id", action="store_false",
                   help="check only each text's script, not its identified language")
    p.add_argument("--max-tries-per-example", type=int, default=2,
                   help="generation attempts per example before it is given up (default: 2)")
    p.add_argument("--min-yield", type=float, default=0.5,
                   help="flag complete shards that kept fewer than this share of their examples; exit 3 (default: 0.5)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per LLM request (default: 300)")
    p.add_argument("--max-retries", type=int, default=5, help="retries per LLM request (default: 5)")
    _budget_arguments(p)
    clean_arguments(p)
    p.add_argument("--price-input", type=float, default=0.0, help="USD per million prompt tokens (cost estimate)")
    p.add_argument("--price-output", type=float, default=0.0, help="USD per million completion tokens")


def _budget_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--budget-tokens", type=int, help="send no request that could take the run past this many tokens")
    p.add_argument("--budget-usd", type=float, help="send no request that could take the estimated cost past this")


def _status_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="show a synthesis run's shards and per-task-type yield")
    p.add_argument("--run-id", required=True)
    p.add_argument("--store", default=SETTINGS.store)


def _unlock_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("unlock", help="break a run's lease (its writer is gone, e.g. a lost machine)")
    p.add_argument("--run-id", required=True)
    p.add_argument("--store", default=SETTINGS.store)


def unlock_command(args: argparse.Namespace) -> int:
    try:
        check_run_id(args.run_id)
        held = break_lease(open_store(args.store), args.run_id)
    except (ValueError, *USER_ERRORS) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"broke the lease of {held.get('holder')} on run {args.run_id}" if held else f"run {args.run_id} has no lease")
    return 0


def _retry_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("retry", help="redo only the failed or unfinished shards of a synthesis run")
    p.add_argument("--run-id", required=True)
    p.add_argument("--store", default=SETTINGS.store)
    p.add_argument("--languages", help="only shards of these languages (default: all unfinished)")
    p.add_argument("--llm-base-url", help="another endpoint than the run's (e.g. the server moved)")
    p.add_argument("--llm-model", help="model name on that endpoint")
    _budget_arguments(p)


def _train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="fine-tune a decoder LLM into an embedding model (Ray Train)")
    p.add_argument("--data", required=True, help="synthesis run URL(s), comma-separated: {store}/runs/{run_id}")
    p.add_argument("--data-weights", help="mixing weight per --data URL, comma-separated")
    p.add_argument("--base-model", default="embedded-qwen",
                   help="HF folder, hub id, .gguf file, or embedded-qwen / smollm2-135m (default: embedded-qwen)")
    p.add_argument("--out", required=True, help="store URL for checkpoints and the model, e.g. file://./models/m1")
    p.add_argument("--batch-size", type=int, default=32, help="contrastive batch over all workers (default: 32)")
    p.add_argument("--mini-batch-size", type=int, default=8, help="rows per forward pass, GradCache (default: 8)")
    p.add_argument("--mini-batch-tokens", type=int, help="and at most this many padded tokens per forward pass "
                   "(rows x the longest row; texts are sorted by length first; default: rows only)")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--learning-rate", type=float, default=1e-4)
    p.add_argument("--warmup-steps", type=int, default=10)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--lora-rank", type=int, default=16)
    p.add_argument("--temperature", type=float, default=0.02)
    p.add_argument("--false-negative-margin", type=float,
                   help="mask a negative scoring above cos(query, positive) - MARGIN, by the model's own "
                   "scores (e.g. 0.05; default: off)")
    p.add_argument("--same-task-type-batches", action="store_true",
                   help="draw every batch from one synthesis task type")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--num-workers", type=int, default=1)
    p.add_argument("--use-gpu", action="store_true")
    p.add_argument("--attn-implementation", choices=ATTENTION_IMPLEMENTATIONS,
                   help="attention kernels (default: flash_attention_2 where installed on GPU, else sdpa)")
    p.add_argument("--cpus-per-worker", type=float, help="CPUs (and torch threads) per worker "
                   "(default: the Ray cluster's CPUs shared by the workers)")
    p.add_argument("--checkpoint-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint under --out")
    p.add_argument("--extend-steps", action="store_true",
                   help="with --resume: allow more --steps than the run planned; its lr decay is re-planned "
                   "from the last step's lr to 0 at the new total")
    p.add_argument("--ray-address", default=SETTINGS.ray_address, help="join this Ray cluster (default: local Ray on 127.0.0.1)")
    p.add_argument("--push-to-hub", metavar="REPO", help="then upload {out}/model as hub model OWNER/NAME (token: $HF_TOKEN)")


def train_command(args: argparse.Namespace) -> int:
    from tasks.common.hub import HubUnavailable, check_repo_id
    from tasks.train.config import TrainConfig
    from tasks.train.preflight import check_training_inputs

    try:
        repo_id = check_repo_id(args.push_to_hub) if args.push_to_hub else None
        config = TrainConfig(
            data=_csv(args.data),
            data_weights=[float(w) for w in args.data_weights.split(",")] if args.data_weights else None,
            base_model=args.base_model, out=args.out, batch_size=args.batch_size,
            mini_batch_size=args.mini_batch_size, mini_batch_tokens=args.mini_batch_tokens, steps=args.steps,
            learning_rate=args.learning_rate, warmup_steps=args.warmup_steps, max_length=args.max_length,
            lora_rank=args.lora_rank, temperature=args.temperature, gradient_checkpointing=args.gradient_checkpointing,
            attn_implementation=args.attn_implementation, false_negative_margin=args.false_negative_margin, same_task_type_batches=args.same_task_type_batches,
            num_workers=args.num_workers, use_gpu=args.use_gpu, cpus_per_worker=args.cpus_per_worker,
            checkpoint_every=args.checkpoint_every, seed=args.seed, extend_steps=args.extend_steps,
        )
        pairs = check_training_inputs(config, resume=args.resume)  # before Ray or a model starts
    except (ValueError, *USER_ERRORS) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{pairs} training pairs from {len(config.data)} run(s)", file=sys.stderr)
    from flows.train import train

    summary = train(config, resume=args.resume, ray_address=args.ray_address)
    print(format_table([{"first_loss": summary["first_loss"], "last_loss": summary["last_loss"]}]))
    for key in ("model", "card", "adapter", "loss_plot", "checkpoint"):
        print(f"{key + ':':11} {summary[key]}")
    if repo_id:  # after the model and its card are stored: a failed push leaves them as they are
        from tasks.train.hub import push_model

        try:
            print(f"{'hub:':11} {push_model(summary['model'], repo_id)}")
        except HubUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


def _evaluate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score embedding models with mteb (offline suite) and the passkey test")
    p.add_argument("--model", default="", help="comma-separated: exported model folders/URLs ({out}/model), "
                   "base:SPEC, minilm, e5-small, random, or hub ids")
    p.add_argument("--baselines", action="store_true",
                   help="add the untrained base model, all-MiniLM-L6-v2 and multilingual-e5-small")
    p.add_argument("--base-model", help="the untrained base for --baselines (default: what the first model was trained from)")
    p.add_argument("--tasks", help="comma-separated task names (default: the offline suite; standard MTEB "
                   "tasks need the Hugging Face hub)")
    p.add_argument("--store", default=SETTINGS.store, help="results go to {store}/evals/")
    p.add_argument("--bible-samples", type=int, default=2000, help="verse pairs per Bible task (default: 2000)")
    p.add_argument("--bbc-per-label", type=int, help="BBC articles per section (default: all)")
    p.add_argument("--max-length", type=int, default=512, help="tokens per text for decoder models (default: 512)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--passkey", action="store_true", help="also run personalized passkey retrieval (decoder models)")
    p.add_argument("--passkey-lengths", default="256,512,1024,2048,4096", help="context lengths in tokens")
    p.add_argument("--passkey-docs", type=int, default=100, help="candidate documents per query (default: 100)")
    p.add_argument("--passkey-queries", type=int, default=50, help="queries per length (default: 50)")
    p.add_argument("--rope-theta", type=float, help="override the RoPE base for the passkey test (paper: 1e5)")
    p.add_argument("--seed", type=int, default=42)


def _csv(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def evaluate_command(args: argparse.Namespace) -> int:
    from tasks.evaluate.config import EvalConfig
    from tasks.evaluate.preflight import check_evaluation

    try:
        config = EvalConfig(
            models=_csv(args.model), baselines=args.baselines, base_model=args.base_model,
            tasks=_csv(args.tasks) or None, store=args.store, bible_samples=args.bible_samples,
            bbc_per_label=args.bbc_per_label, max_length=args.max_length, batch_size=args.batch_size,
            seed=args.seed, passkey=args.passkey, passkey_lengths=[int(n) for n in _csv(args.passkey_lengths)],
            passkey_docs=args.passkey_docs, passkey_queries=args.passkey_queries, rope_theta=args.rope_theta,
        )
        specs = check_evaluation(config)  # before any model loads
    except (ValueError, *USER_ERRORS) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"evaluating {', '.join(s.label for s in specs)}", file=sys.stderr)
    from flows.evaluate import evaluate

    print_evaluation(evaluate(config))
    return 0


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


def _pipeline_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pipeline", help="synthesize -> train -> evaluate in one parent flow (what `make run` runs)")
    _synthesis_arguments(p)
    t = p.add_argument_group("training")
    t.add_argument("--base-model", default="embedded-qwen", help="model to fine-tune (default: embedded-qwen)")
    t.add_argument("--out", default="", help="store URL for the model (default: {store}/models/{run_id})")
    t.add_argument("--steps", type=int, default=30)
    t.add_argument("--train-batch-size", type=int, default=8, help="contrastive batch (default: 8)")
    t.add_argument("--mini-batch-size", type=int, default=16,
                   help="rows per forward pass (default: 16, the whole batch with hard negatives: no GradCache pass)")
    t.add_argument("--train-max-length", type=int, default=128, help="tokens per training text (default: 128)")
    t.add_argument("--learning-rate", type=float, default=1e-3,
                   help="default 1e-3 for a short CPU run (the paper's 1e-4 is for ~1k steps at batch 2048)")
    t.add_argument("--warmup-steps", type=int, default=3)
    t.add_argument("--num-workers", type=int, default=1)
    t.add_argument("--cpus-per-worker", type=float, default=2.0)
    t.add_argument("--use-gpu", action="store_true")
    t.add_argument("--resume", action="store_true", help="continue the training run under --out")
    e = p.add_argument_group("evaluation")
    e.add_argument("--tasks", help="comma-separated task names (default: the offline suite)")
    e.add_argument("--bible-samples", type=int, default=200, help="verse pairs per Bible task (default: 200)")
    e.add_argument("--bbc-per-label", type=int, default=8, help="BBC articles per section (default: 8)")
    e.add_argument("--eval-max-length", type=int, default=128, help="tokens per text for decoder models (default: 128)")
    e.add_argument("--no-baselines", action="store_true", help="score only the trained model")
    e.add_argument("--passkey", action="store_true", help="also run passkey retrieval")
    e.add_argument("--passkey-lengths", default="256,512,1024")


def pipeline_command(args: argparse.Namespace) -> int:
    from tasks.evaluate.config import EvalConfig
    from tasks.pipeline import check_stages, plan_stages
    from tasks.train.config import TrainConfig

    if not _llm_flags_ok(args):
        return 2
    embedded = not args.llm_base_url
    try:
        synthesis = _config(args, args.llm_base_url or "http://127.0.0.1:1/v1", args.llm_model or "embedded", {})
        training = TrainConfig(
            data=[], base_model=args.base_model, out=args.out, batch_size=args.train_batch_size,
            mini_batch_size=args.mini_batch_size, steps=args.steps, learning_rate=args.learning_rate,
            warmup_steps=args.warmup_steps, max_length=args.train_max_length, num_workers=args.num_workers,
            cpus_per_worker=args.cpus_per_worker, use_gpu=args.use_gpu, checkpoint_every=max(args.steps // 2, 1),
            seed=args.seed)
        evaluation = EvalConfig(
            baselines=not args.no_baselines, tasks=_csv(args.tasks) or None, bible_samples=args.bible_samples,
            bbc_per_label=args.bbc_per_label, max_length=args.eval_max_length, passkey=args.passkey,
            passkey_lengths=[int(n) for n in _csv(args.passkey_lengths)])
        if args.dry_run:
            return print_plan(synthesis)
        check_stages(synthesis, *plan_stages(synthesis, training, evaluation), resume_training=args.resume)
        if not embedded:
            asyncio.run(_preflight(synthesis))
    except (ValidationError, ValueError, *USER_ERRORS) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    from flows.pipeline import pipeline
    from flows.synthesize import SynthesisIncomplete

    print(f"pipeline run {synthesis.run_id}: synthesize -> train -> evaluate", file=sys.stderr)
    try:
        summary = asyncio.run(pipeline(synthesis, training, evaluation, embedded_llm=embedded,
                                       resume_training=args.resume))
    except SynthesisIncomplete as exc:
        print(f"error: synthesis incomplete: {exc}", file=sys.stderr)
        retry = shlex.join(["synthembed", "retry", "--run-id", synthesis.run_id, "--store", synthesis.store])
        print(f"Retry the failed shards with:\n  {retry}\nthen run the pipeline again with --run-id "
              f"{synthesis.run_id} (complete shards are kept).", file=sys.stderr)
        return 1
    print(f"\n{summary['rows']} rows synthesized; training loss {summary['first_loss']:.3f} -> {summary['last_loss']:.3f}")
    print(format_table(summary["table"]))
    print()
    print(format_table([{"stage": k, "seconds": v} for k, v in summary["seconds"].items()]))
    print(f"\ndata:    {summary['data']}\nmodel:   {summary['model']}\nloss:    {summary['loss_plot']}"
          f"\nresults: {summary['report']}\nchart:   {summary['plot']}")
    return 0


def _config_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="show the effective settings (secrets masked)")
    p.add_argument("action", choices=["show"])


def build_parser(settings: Settings | None = None) -> argparse.ArgumentParser:
    """The whole command line; its defaults come from ``settings`` (read now when not given)."""
    global SETTINGS
    SETTINGS = settings if settings is not None else Settings()
    parser = argparse.ArgumentParser(prog="synthembed", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _synthesize_parser(sub)
    _status_parser(sub)
    _retry_parser(sub)
    _unlock_parser(sub)
    add_export_parser(sub, SETTINGS.store)
    add_clean_parser(sub, SETTINGS.store)
    _train_parser(sub)
    _evaluate_parser(sub)
    _pipeline_parser(sub)
    _config_parser(sub)
    return parser


def _config(args: argparse.Namespace, base_url: str, model: str, extra_body: dict) -> SynthesisConfig:
    llm = LLMSettings(base_url=base_url, model=model, concurrency=args.concurrency, max_tokens=args.max_tokens,
                      timeout_s=args.timeout, max_retries=args.max_retries, extra_body=extra_body,
                      mode=args.llm_mode, rpm=args.rpm, tpm=args.tpm, batch_poll_s=args.batch_poll)
    fields = dict(
        languages=args.languages, task_types=args.task_types,
        examples_per_shard=args.examples_per_shard, total_examples=args.total_examples,
        language_weights=parse_weights(args.language_weights) if args.language_weights else None,
        seed=args.seed, shard_concurrency=args.shard_concurrency, shard_retries=args.shard_retries,
        part_size=args.part_size, min_yield=args.min_yield, clean=clean_settings(args), max_tries_per_example=args.max_tries_per_example,
        checks=ExampleChecks(language_id=args.language_id, lengths=LengthPolicy(
            min_ratio=args.min_length_ratio, max_ratio=args.max_length_ratio, long_min_words=args.long_min_words)),
        store=args.store, llm=llm, budget_tokens=args.budget_tokens, budget_usd=args.budget_usd,
        price_input_per_mtok=args.price_input, price_output_per_mtok=args.price_output,
    )
    if args.run_id:
        fields["run_id"] = args.run_id
    return SynthesisConfig(**fields)


async def _preflight(config: SynthesisConfig) -> None:
    """Cheap checks that turn a bad store, LLM endpoint or evaluation source into one clear error before any spend."""
    check_evaluation_sources(config.clean)
    await asyncio.to_thread(check_store, open_store(config.store))
    client = LLMClient(config.llm, llm_api_key())
    try:
        await client.preflight()
    finally:
        await client.close()


def _llm_flags_ok(args: argparse.Namespace) -> bool:
    if bool(args.llm_base_url) != bool(args.llm_model):
        print("error: --llm-base-url and --llm-model go together (the server and its model's name); "
              "give neither to use the embedded server", file=sys.stderr)
        return False
    return True


def synthesize_command(args: argparse.Namespace) -> int:
    if not _llm_flags_ok(args):
        return 2
    try:  # validate every parameter before starting anything
        config = _config(args, args.llm_base_url or "http://127.0.0.1:1/v1", args.llm_model or "embedded", {})
        check_evaluation_sources(config.clean)
    except (ValidationError, ValueError) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    if args.dry_run:
        return print_plan(config)
    return _run(lambda base_url, model, extra: _config(args, base_url, model, extra),
                None if args.llm_base_url else "embedded", args.llm_base_url, args.llm_model)


def print_plan(config: SynthesisConfig) -> int:
    """The dry run: what the run would ask and cost, without any LLM call."""
    from tasks.synth.estimate import estimate_run

    plan = estimate_run(config)
    print(format_table(plan.table()))
    prices = f"${config.price_input_per_mtok}/M prompt, ${config.price_output_per_mtok}/M completion tokens"
    print(f"\n{plan.requests} first-try requests ({config.llm.mode}); cost estimated at {prices}"
          f"{' (batch: half price)' if config.llm.mode == 'batch' else ''}. Rejected answers are retried up to "
          f"{config.max_tries_per_example} tries per example, on top of this.")
    return 0


def retry_command(args: argparse.Namespace) -> int:
    """Redo the failed or unfinished shards of a run with its original parameters and seeds."""
    from infra.services.llama import MODEL_ALIAS

    if not _llm_flags_ok(args):
        return 2
    try:
        store = open_store(args.store)
        manifest = load_manifest(store, check_run_id(args.run_id))
    except (ValueError, *USER_ERRORS) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if manifest is None:
        print(f"error: no synthesis run {args.run_id!r} in {store.url()}", file=sys.stderr)
        return 2
    only = parse_languages(args.languages) if args.languages else None
    stored, todo = retry_plan(manifest, args.store, only)
    if not todo:
        print(f"nothing to retry: every {'selected ' if only else ''}shard of {args.run_id} is complete")
        return 0
    print(f"retrying {len(todo)} shard(s) of {args.run_id}: {', '.join(todo)}", file=sys.stderr)
    embedded = not args.llm_base_url and stored.llm.model == MODEL_ALIAS
    base_url = args.llm_base_url or stored.llm.base_url
    model = args.llm_model or stored.llm.model

    def config(url: str, name: str, extra: dict) -> SynthesisConfig:
        llm = stored.llm.model_copy(update={"base_url": url, "model": name, "extra_body": extra or stored.llm.extra_body})
        budget = {k: getattr(args, k) for k in ("budget_tokens", "budget_usd") if getattr(args, k) is not None}
        return stored.model_copy(update={"llm": llm, **budget})

    return _run(config, "embedded" if embedded else None, base_url, model, only_shards=todo)


def _run(make_config, embedded: str | None, base_url: str | None, model: str | None,
         only_shards: list[str] | None = None) -> int:
    """Start the embedded LLM if asked, preflight, run the flow, print the outcome."""
    from flows.synthesize import SynthesisIncomplete, synthesize  # imports Prefect: keep --help fast
    from infra.services.llama import RECOMMENDED_EXTRA_BODY, local_llm

    with local_llm() if embedded else nullcontext() as llm:
        if llm is not None:
            print(f"started the embedded LLM server at {llm.base_url} ({llm.model})", file=sys.stderr)
            config = make_config(llm.base_url, llm.model, RECOMMENDED_EXTRA_BODY)
            config = config.model_copy(update={"llm": config.llm.model_copy(
                update={"max_tokens": min(config.llm.max_tokens, llm.max_tokens)})})
        else:
            config = make_config(base_url, model, {})
        try:
            asyncio.run(_preflight(config))
            summary = asyncio.run(synthesize(config, only_shards=only_shards))
        except USER_ERRORS as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:  # the store filled up or turned read-only under the run
            print(f"error: cannot write to the store {config.store} ({exc.strerror or exc}: {exc.filename or ''}); "
                  "committed parts, the manifest and the request ledger are intact: free space or fix the store, "
                  "then run the same command again", file=sys.stderr)
            return 2
        except SynthesisIncomplete as exc:
            summary = exc.summary
    _print_summary(summary)
    print_run_tables(open_store(config.store), summary.run_id)
    if not summary.ok:
        if summary.stopped_reason:
            print(f"\nstopped early: {summary.stopped_reason}", file=sys.stderr)
        print(f"\n{len(summary.shards_failed)} shard(s) not complete:", file=sys.stderr)
        for key, error in summary.failed_errors.items():
            print(f"  {key}: {error}", file=sys.stderr)
        retry = shlex.join(["synthembed", "retry", "--run-id", summary.run_id, "--store", config.store])
        print(f"\nRetry only the failed shards (same parameters and seeds) with:\n  {retry}", file=sys.stderr)
        return 1
    if summary.filters_error:
        print(f"\nthe filters failed ({summary.filters_error}); every part is committed: rerun them with\n  "
              f"{shlex.join(['synthembed', 'clean', '--run-id', summary.run_id, '--store', config.store])}", file=sys.stderr)
        return 1
    if summary.low_yield:
        print(f"\n{len(summary.low_yield)} complete shard(s) kept under {summary.min_yield:.0%} of the examples they "
              "asked for (see their rejects above; --min-yield sets the threshold):", file=sys.stderr)
        for key, share in summary.low_yield.items():
            print(f"  {key}: {share:.0%}", file=sys.stderr)
        return EXIT_LOW_YIELD
    return 0


def print_run_tables(store, run_id: str, shards: bool = False) -> None:
    """The per-task-type yield (and optionally every shard) of a run, as terminal tables."""
    manifest = load_manifest(store, run_id)
    if shards:
        config = SynthesisConfig.model_validate(manifest.config) if manifest.config else None  # for prices
        print(format_table([{k: v for k, v in row.items() if k != "error"} for row in shard_table(manifest, config)]))
        print()
    print(format_table(task_type_table(manifest)))


def status_command(args: argparse.Namespace) -> int:
    try:
        store = open_store(args.store)
        if load_manifest(store, check_run_id(args.run_id)) is None:
            print(f"error: no synthesis run {args.run_id!r} in {store.url()}", file=sys.stderr)
            return 2
    except (ValueError, *USER_ERRORS) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_run_tables(store, args.run_id, shards=True)
    manifest = load_manifest(store, args.run_id)
    if manifest.filters:
        print()
        print(format_table(filter_table(manifest)))
    return 0


def _print_summary(summary) -> None:
    tokens = summary.prompt_tokens + summary.completion_tokens
    rate = summary.rows / summary.seconds if summary.seconds else 0.0
    print(f"run {summary.run_id}: {summary.rows} rows from {summary.shards_complete} complete shard(s) "
          f"in {summary.seconds:.0f}s ({rate:.2f} rows/s, {summary.completion_tokens / max(summary.seconds, 1e-9):.1f} "
          f"generated tokens/s, {tokens} tokens in {summary.llm_calls} calls, est. ${summary.cost_usd:.4f})")
    if summary.filtered:
        dropped = ", ".join(f"{name} {n}" for name, n in summary.filtered.items())
        print(f"filters:  {dropped} row(s) left out by readers (synthembed status shows them by reason)")
    print(f"data:     {summary.data_url}")
    print(f"manifest: {summary.manifest_url}")


# No usage telemetry from a temporary Prefect server the CLI starts (it would look up prefect.io
# from an offline machine); users who want it set these themselves.
QUIET_ENVIRONMENT = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "RAY_USAGE_STATS_ENABLED": "0"}


def main(argv: list[str] | None = None) -> int:
    global SETTINGS
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    argv = sys.argv[1:] if argv is None else argv
    try:
        SETTINGS = Settings()
    except ValueError as exc:  # a malformed synthembed.toml, or an invalid SYNTHEMBED_* value
        print(f"error: the settings ({config_file()} or SYNTHEMBED_* variables) are invalid: {one_line(exc)}",
              file=sys.stderr)
        return 2
    args = build_parser(SETTINGS).parse_args(argv)
    if args.command == "synthesize":
        return synthesize_command(args)
    if args.command == "retry":
        return retry_command(args)
    if args.command == "config":
        print(format_table([{"setting": k, "value": "" if v is None else v} for k, v in SETTINGS.masked().items()]))
        return 0
    if args.command == "train":
        return train_command(args)
    if args.command == "pipeline":
        return pipeline_command(args)
    if args.command == "evaluate":
        return evaluate_command(args)
    if args.command == "status":
        return status_command(args)
    if args.command == "unlock":
        return unlock_command(args)
    if args.command == "export":
        return export_command(args)
    if args.command == "clean":
        return clean_command(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
