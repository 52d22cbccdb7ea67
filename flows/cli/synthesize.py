"""``synthembed synthesize`` and ``synthembed retry``: generate a run's data, or redo what failed of it.

    synthembed synthesize --languages en,es --task-types retrieval,sts --examples-per-shard 4
    synthembed synthesize ... --dry-run       # the plan and its cost, no LLM call
    synthembed retry --run-id RUN_ID          # redo only what failed, with the run's parameters and seeds

Both check everything they can before Prefect starts (values, evaluation sources, the store,
the LLM endpoint: :func:`preflight`), then run the ``synthesize`` flow. Without
``--llm-base-url`` (or, for a retry, when the run was made that way) the embedded llama.cpp
server is started for the run and stopped afterwards. Exit codes: 0 every shard complete at or
above ``--min-yield``, 3 every shard complete but some below it, 1 some shards failed (the retry
command is printed, with a raised budget when the budget stopped the run) or the filters failed, 2 bad
input, an unusable store/LLM server, an existing run id with other parameters or a run another writer
holds, before any spend; 130 Ctrl-C (the requests on the wire are answered and recorded first).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shlex
import sys
from contextlib import contextmanager, nullcontext

from flows.cli.error_lines import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_LOW_YIELD, EXIT_OK, USER_ERRORS, bad_input
from flows.cli.options import (
    add_budget_options,
    add_filter_options,
    add_llm_endpoint_options,
    add_run_options,
    check_llm_endpoint,
    filter_settings,
)
from flows.cli.status import print_run_tables
from tasks.clean.filters import check_evaluation_sources
from tasks.common.report import format_table
from tasks.common.secrets import llm_api_key
from tasks.common.settings import Settings
from tasks.language.languages import parse_languages, parse_weights
from tasks.llm.backends import check_backend
from tasks.llm.client import LLMSettings
from tasks.runs.manifest import load_manifest
from tasks.storage.lease import check_lease_free
from tasks.storage.store import check_store, open_store
from tasks.synth.check_settings import ExampleChecks
from tasks.synth.config import SynthesisConfig
from tasks.synth.lengths import LengthPolicy
from tasks.synth.run import check_resumable
from tasks.synth.summary import SynthesisSummary, budget_to_finish


def add_synthesize_parser(sub: argparse._SubParsersAction, settings: Settings) -> None:
    add_synthesis_options(sub.add_parser("synthesize", help="generate synthetic training data with an LLM"), settings)


def add_retry_parser(sub: argparse._SubParsersAction, settings: Settings) -> None:
    p = sub.add_parser("retry", help="redo only the failed or unfinished shards of a synthesis run")
    add_run_options(p, settings)
    p.add_argument("--languages", help="only shards of these languages (default: all unfinished)")
    add_llm_endpoint_options(p, settings, retry=True)
    add_budget_options(p)


def add_synthesis_options(p: argparse.ArgumentParser, settings: Settings) -> None:
    """What a synthesis run is made of: the ``synthesize`` command's flags, which ``pipeline`` takes too."""
    p.add_argument("--languages", default="en", help="comma-separated ISO codes, or 'all' (default: en)")
    p.add_argument("--task-types", default="all",
                   help="comma-separated: retrieval,classification,short_short,long_long,sts,bitext (default: all)")
    p.add_argument("--examples-per-shard", type=int, help="examples per task type × language (default: 4)")
    p.add_argument("--total-examples", type=int, help="split this many over languages by weight instead")
    p.add_argument("--language-weights", help="with --total-examples: e.g. en=0.6,es=0.4 (default: English-dominant)")
    add_run_options(p, settings, new_run=True)
    p.add_argument("--seed", type=int, default=0)
    add_llm_endpoint_options(p, settings)
    p.add_argument("--concurrency", type=int, default=4,
                   help="LLM requests in flight, over the whole run (default: 4; the embedded server: one per slot)")
    p.add_argument("--shard-concurrency", type=int, default=64,
                   help="most shards in flight; parts start whenever the LLM would run dry (default: 64)")
    p.add_argument("--part-size", type=int, default=500, help="most examples per committed part (default: 500)")
    p.add_argument("--llm-mode", choices=["online", "batch"], default="online",
                   help="online requests, or the provider's Batch API: half price, answers within 24 h "
                   "(default: online)")
    p.add_argument("--rpm", type=float, help="requests per minute allowed (default: learned from x-ratelimit headers)")
    p.add_argument("--tpm", type=float, help="tokens per minute allowed (default: learned from x-ratelimit headers)")
    p.add_argument("--batch-poll", type=float, default=30.0,
                   help="batch mode: seconds between status polls (default: 30)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (shards, parts, requests, tokens, cost) and exit: no LLM call, "
                   "no server needed")
    p.add_argument("--shard-retries", type=int, default=1,
                   help="Prefect retries of a language whose part failed; only unfinished parts are redone "
                   "(default: 1)")
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
    add_budget_options(p)
    add_filter_options(p)
    p.add_argument("--price-input", type=float, default=0.0, help="USD per million prompt tokens (cost estimate)")
    p.add_argument("--price-output", type=float, default=0.0, help="USD per million completion tokens")


def synthesis_config(args: argparse.Namespace) -> SynthesisConfig:
    """The run the synthesis flags describe (ValueError naming the flag otherwise).

    Without ``--llm-base-url`` the endpoint is a placeholder until the embedded server is up
    (:func:`flows.services.start_embedded_llm` points the config at it).
    """
    # without --llm-base-url: the embedded model's name (or "embedded", its default) until the server is up
    model = args.llm_model or args.embedded_model or "embedded"
    llm = LLMSettings(base_url=args.llm_base_url or "http://127.0.0.1:1/v1", model=model,
                      concurrency=args.concurrency, max_tokens=args.max_tokens, timeout_s=args.timeout,
                      max_retries=args.max_retries, mode=args.llm_mode, rpm=args.rpm, tpm=args.tpm,
                      batch_poll_s=args.batch_poll)
    lengths = LengthPolicy(min_ratio=args.min_length_ratio, max_ratio=args.max_length_ratio,
                           long_min_words=args.long_min_words)
    fields = dict(
        languages=args.languages, task_types=args.task_types, total_examples=args.total_examples,
        language_weights=parse_weights(args.language_weights) if args.language_weights else None,
        seed=args.seed, shard_concurrency=args.shard_concurrency, shard_retries=args.shard_retries,
        part_size=args.part_size, min_yield=args.min_yield, clean=filter_settings(args),
        max_tries_per_example=args.max_tries_per_example,
        checks=ExampleChecks(language_id=args.language_id, lengths=lengths),
        store=args.store, llm=llm, budget_tokens=args.budget_tokens, budget_usd=args.budget_usd,
        price_input_per_mtok=args.price_input, price_output_per_mtok=args.price_output,
    )
    if args.run_id:
        fields["run_id"] = args.run_id
    if args.examples_per_shard is not None:
        fields["examples_per_shard"] = args.examples_per_shard
    check_sizes(args)  # after the weights parsed: a malformed one is named first
    return SynthesisConfig(**fields)


def check_sizes(args: argparse.Namespace) -> None:
    """ValueError for size flags that contradict each other (one of them would be ignored)."""
    if args.total_examples is not None and args.examples_per_shard is not None:
        raise ValueError(f"--examples-per-shard {args.examples_per_shard} and --total-examples {args.total_examples} "
                         "exclude each other: give the size of each shard, or the total to split over them")
    if args.language_weights and args.total_examples is None:
        raise ValueError(f"--language-weights {args.language_weights!r} needs --total-examples: the weights split "
                         "that total over the languages (each shard otherwise has --examples-per-shard)")


def synthesize_command(args: argparse.Namespace) -> int:
    try:  # every parameter, before anything starts
        check_llm_endpoint(args)
        config = synthesis_config(args)
        check_evaluation_sources(config.clean)
        if args.dry_run and args.run_id:  # an existing run: refused as the real run would be
            check_existing_run(config, embedded=not args.llm_base_url)
    except (ValueError, *USER_ERRORS) as exc:
        return bad_input(exc)
    if args.dry_run:
        return print_plan(config)
    return run_synthesis(config, embedded=not args.llm_base_url)


def retry_command(args: argparse.Namespace) -> int:
    """Redo the failed or unfinished shards of a run with its original parameters and seeds."""
    from flows.retry import plan_retry  # imports Prefect: keep --help fast
    from flows.services import made_with_embedded_llm

    try:
        check_llm_endpoint(args)
        languages = retry_languages(args.languages)
        plan = plan_retry(open_store(args.store), args.store, args.run_id, languages, args.llm_base_url,
                          args.llm_model, args.budget_tokens, args.budget_usd)
        if plan.shards:
            check_evaluation_sources(plan.config.clean)  # the files the run was cleaned against may be gone
    except (ValueError, *USER_ERRORS) as exc:
        return bad_input(exc)
    if not plan.shards:
        print(plan.describe())
        return EXIT_OK
    print(plan.describe(), file=sys.stderr)
    embedded = not args.llm_base_url and made_with_embedded_llm(plan.config.llm)
    return run_synthesis(plan.config, embedded, only_shards=plan.shards)


def retry_languages(text: str | None) -> list[str] | None:
    """The languages ``retry --languages`` asks for: None for every language (not given, or ``all``);
    ValueError naming the flag for an empty or unknown one."""
    if text is None or text.strip() == "all":
        return None
    try:
        return parse_languages(text)
    except ValueError as exc:
        raise ValueError(f"--languages {text!r}: {exc}") from None


def print_plan(config: SynthesisConfig) -> int:
    """The dry run: what the run would ask and cost, without any LLM call."""
    from tasks.synth.estimate import estimate_run

    plan = estimate_run(config)
    print(format_table(plan.table()))
    prices = f"${config.price_input_per_mtok}/M prompt, ${config.price_output_per_mtok}/M completion tokens"
    print(f"\n{plan.requests} first-try requests ({config.llm.mode}); cost estimated at {prices}"
          f"{' (batch: half price)' if config.llm.mode == 'batch' else ''}. Rejected answers are retried up to "
          f"{config.max_tries_per_example} tries per example, on top of this.")
    return EXIT_OK


def check_existing_run(config: SynthesisConfig, embedded: bool) -> None:
    """ParameterMismatch if ``config`` names a run the store holds with other parameters (the dry run's check;
    ``embedded``: compared as the embedded server would run it)."""
    if embedded:
        from flows.services import embedded_config

        config = embedded_config(config)
    check_resumable(open_store(config.store), config)


async def preflight(config: SynthesisConfig) -> None:
    """Check the store, the LLM endpoint and the run before Prefect starts: a bad one is one clear error
    before any spend (inside the flow it would come with Prefect's traceback).

    The LLM backend ``--llm-mode`` names checks itself: the server answers and serves the model (batch:
    and has a Batch API). Then an existing run of that id must have the same parameters, and no live
    writer may hold its lease.
    """
    store = open_store(config.store)
    await asyncio.to_thread(check_store, store)
    await check_backend(config.llm, llm_api_key(), store, config.run_id)
    await asyncio.to_thread(check_resumable, store, config)
    await asyncio.to_thread(check_lease_free, store, config.run_id)


def run_synthesis(config: SynthesisConfig, embedded: bool, only_shards: list[str] | None = None) -> int:
    """Start the embedded LLM server if asked, check the endpoint, run the flow, report; the exit code."""
    from flows.services import start_embedded_llm
    from flows.synthesize import SynthesisIncomplete, SynthesisInterrupted, synthesize  # imports Prefect

    with start_embedded_llm(config) if embedded else nullcontext(config) as config:
        if embedded:
            print(f"started the embedded LLM server at {config.llm.base_url} ({config.llm.model})", file=sys.stderr)
        try:
            asyncio.run(preflight(config))
            with quiet_refusals():
                summary = asyncio.run(synthesize(config, only_shards=only_shards, checked=True))  # sources checked
        except USER_ERRORS as exc:
            return bad_input(exc)
        except OSError as exc:  # the store filled up or turned read-only under the run
            return bad_input(f"cannot write to the store {config.store} ({exc.strerror or exc}: {exc.filename or ''}); "
                             "committed parts, the manifest and the request ledger are intact: free space or fix the "
                             "store, then run the same command again")
        except SynthesisInterrupted as exc:  # Ctrl-C, handled by the flow: every answer received is recorded
            print(exc, file=sys.stderr)
            return EXIT_INTERRUPTED
        except KeyboardInterrupt:  # Ctrl-C outside the flow's generation (its preflight, its end): nothing in flight
            print("interrupted (Ctrl-C): run the same command again to resume it", file=sys.stderr)
            return EXIT_INTERRUPTED
        except SynthesisIncomplete as exc:
            summary = exc.summary
    return report(summary, config.store)


class _Refusal(logging.Filter):
    """Leaves out Prefect's report of an exception the CLI prints itself, in one line (a refusal)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], USER_ERRORS))


@contextmanager
def quiet_refusals():
    """While the flow runs: a refusal raised inside it (a writer that took the lease after the preflight)
    is not also printed with Prefect's traceback."""
    logger, refusal = logging.getLogger("prefect.flow_runs"), _Refusal()
    logger.addFilter(refusal)
    try:
        yield
    finally:
        logger.removeFilter(refusal)


def report(summary: SynthesisSummary, store_url: str) -> int:
    """What the run made, its per-task-type yield, and what to do about what went wrong; the exit code."""
    _print_summary(summary)
    manifest = load_manifest(open_store(store_url), summary.run_id)
    print_run_tables(manifest)
    if not summary.ok:
        if summary.stopped_reason:
            print(f"\nstopped early: {summary.stopped_reason}", file=sys.stderr)
        print(f"\n{len(summary.shards_failed)} shard(s) not complete:", file=sys.stderr)
        for key, error in summary.failed_errors.items():
            print(f"  {key}: {error}", file=sys.stderr)
        raised = budget_flags(manifest) if summary.stopped_reason else []
        print(f"\nRetry only the failed shards (same parameters and seeds{', a larger budget' if raised else ''}) "
              f"with:\n  {command_line('retry', summary.run_id, store_url, *raised)}", file=sys.stderr)
        return EXIT_FAILED
    if summary.filters_error:
        print(f"\nthe filters failed ({summary.filters_error}); every part is committed: rerun them with\n  "
              f"{command_line('clean', summary.run_id, store_url)}", file=sys.stderr)
        return EXIT_FAILED
    if summary.low_yield:
        print(f"\n{len(summary.low_yield)} complete shard(s) kept under {summary.min_yield:.0%} of the examples they "
              "asked for (see their rejects above; --min-yield sets the threshold):", file=sys.stderr)
        for key, share in summary.low_yield.items():
            print(f"  {key}: {share:.0%}", file=sys.stderr)
        return EXIT_LOW_YIELD
    return EXIT_OK


def command_line(command: str, run_id: str, store_url: str, *extra: str) -> str:
    """The ``synthembed`` command that works on this run further, as the user would type it."""
    return shlex.join(["synthembed", command, "--run-id", run_id, "--store", store_url, *extra])


def budget_flags(manifest) -> list[str]:
    """``--budget-tokens N`` / ``--budget-usd X`` raised enough to finish a run its budget stopped (else none)."""
    raised = budget_to_finish(manifest, SynthesisConfig.model_validate(manifest.config)) if manifest.config else {}
    flags = {"budget_tokens": ("--budget-tokens", "{:d}"), "budget_usd": ("--budget-usd", "{:g}")}
    return [part for name, value in raised.items() for part in (flags[name][0], flags[name][1].format(value))]


def _print_summary(summary: SynthesisSummary) -> None:
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
