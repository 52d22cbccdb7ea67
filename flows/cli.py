"""The ``synthembed`` command line.

    synthembed synthesize --languages en,es --task-types retrieval,sts --examples-per-shard 4

Without ``--llm-base-url`` the embedded llama.cpp server (Qwen2.5-Coder-0.5B) is started on
127.0.0.1 for the run and stopped afterwards. Exit codes: 0 every shard complete, 1 some
shards failed (the retry command is printed), 2 bad input or an unusable store/LLM server.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from contextlib import nullcontext

from pydantic import ValidationError

from tasks.storage.manifest import ParameterMismatch
from tasks.storage.store import StoreError, check_store, open_store
from tasks.synth.config import DEFAULT_STORE, SynthesisConfig
from tasks.synth.languages import parse_weights
from tasks.synth.llm import LLMClient, LLMSettings, LLMUnavailable, api_key_from_env


def _synthesize_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synthesize", help="generate synthetic training data with an LLM")
    p.add_argument("--languages", default="en", help="comma-separated ISO codes, or 'all' (default: en)")
    p.add_argument("--task-types", default="all",
                   help="comma-separated: retrieval,classification,short_short,long_long,sts,bitext (default: all)")
    p.add_argument("--examples-per-shard", type=int, default=4, help="examples per task type × language (default: 4)")
    p.add_argument("--total-examples", type=int, help="split this many over languages by weight instead")
    p.add_argument("--language-weights", help="e.g. en=0.6,es=0.4 (default: English-dominant)")
    p.add_argument("--store", default=DEFAULT_STORE, help=f"fsspec URL: file://PATH or s3://BUCKET/PREFIX (default: {DEFAULT_STORE})")
    p.add_argument("--run-id", help="create or resume this run (default: a new timestamped id)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--llm-base-url", help="OpenAI-compatible base URL (default: start the embedded llama.cpp server)")
    p.add_argument("--llm-model", help="model name on that server (required with --llm-base-url)")
    p.add_argument("--concurrency", type=int, default=4, help="LLM requests in flight (default: 4)")
    p.add_argument("--shard-concurrency", type=int, default=4, help="shards in flight (default: 4)")
    p.add_argument("--shard-retries", type=int, default=1, help="retries of a failed shard (default: 1)")
    p.add_argument("--max-tokens", type=int, default=1536, help="completion token limit per call")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per LLM request (default: 300)")
    p.add_argument("--max-retries", type=int, default=5, help="retries per LLM request (default: 5)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synthembed", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _synthesize_parser(sub)
    return parser


def _config(args: argparse.Namespace, base_url: str, model: str, extra_body: dict) -> SynthesisConfig:
    llm = LLMSettings(base_url=base_url, model=model, concurrency=args.concurrency, max_tokens=args.max_tokens,
                      timeout_s=args.timeout, max_retries=args.max_retries, extra_body=extra_body)
    fields = dict(
        languages=args.languages, task_types=args.task_types,
        examples_per_shard=args.examples_per_shard, total_examples=args.total_examples,
        language_weights=parse_weights(args.language_weights) if args.language_weights else None,
        seed=args.seed, shard_concurrency=args.shard_concurrency, shard_retries=args.shard_retries,
        store=args.store, llm=llm,
    )
    if args.run_id:
        fields["run_id"] = args.run_id
    return SynthesisConfig(**fields)


def _retry_command(argv: list[str], run_id: str) -> str:
    """The same command with ``--run-id`` set: re-running it redoes only unfinished shards."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--run-id":
            skip = True
            continue
        if not arg.startswith("--run-id="):
            kept.append(arg)
    return shlex.join(["synthembed", *kept, "--run-id", run_id])


async def _preflight(config: SynthesisConfig) -> None:
    """Cheap checks that turn a bad store or LLM endpoint into one clear error before any spend."""
    await asyncio.to_thread(check_store, open_store(config.store))
    client = LLMClient(config.llm, api_key_from_env())
    try:
        await client.preflight()
    finally:
        await client.close()


def synthesize_command(args: argparse.Namespace, argv: list[str]) -> int:
    from flows.synthesize import SynthesisIncomplete, synthesize  # imports Prefect: keep --help fast
    from infra.services.llama import RECOMMENDED_EXTRA_BODY, local_llm

    if bool(args.llm_base_url) != bool(args.llm_model):
        print("error: --llm-base-url and --llm-model go together (the server and its model's name); "
              "give neither to use the embedded server", file=sys.stderr)
        return 2
    try:  # validate every parameter before starting anything
        _config(args, args.llm_base_url or "http://127.0.0.1:1/v1", args.llm_model or "embedded", {})
    except (ValidationError, ValueError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    embedded = local_llm() if not args.llm_base_url else nullcontext()
    with embedded as llm:
        if llm is not None:
            print(f"started the embedded LLM server at {llm.base_url} ({llm.model})", file=sys.stderr)
        base_url, model = (llm.base_url, llm.model) if llm else (args.llm_base_url, args.llm_model)
        config = _config(args, base_url, model, RECOMMENDED_EXTRA_BODY if llm else {})
        try:
            asyncio.run(_preflight(config))
            summary = asyncio.run(synthesize(config))
        except (StoreError, LLMUnavailable, ParameterMismatch) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except SynthesisIncomplete as exc:
            summary = exc.summary
    _print_summary(summary)
    if not summary.ok:
        print(f"\n{len(summary.shards_failed)} shard(s) failed:", file=sys.stderr)
        for key, error in summary.failed_errors.items():
            print(f"  {key}: {error}", file=sys.stderr)
        print(f"\nRetry only the unfinished shards with:\n  {_retry_command(argv, summary.run_id)}", file=sys.stderr)
        return 1
    return 0


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
    return str(exc)


def _print_summary(summary) -> None:
    tokens = summary.prompt_tokens + summary.completion_tokens
    rate = summary.rows / summary.seconds if summary.seconds else 0.0
    print(f"run {summary.run_id}: {summary.rows} rows from {summary.shards_complete} complete shard(s) "
          f"in {summary.seconds:.0f}s ({rate:.2f} rows/s, {summary.completion_tokens / max(summary.seconds, 1e-9):.1f} "
          f"generated tokens/s, {tokens} tokens in {summary.llm_calls} calls)")
    print(f"data:     {summary.data_url}")
    print(f"manifest: {summary.manifest_url}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.command == "synthesize":
        return synthesize_command(args, argv)
    return 2


if __name__ == "__main__":
    sys.exit(main())
