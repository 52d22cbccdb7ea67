"""Options that several commands take, each declared once here.

* the run: ``--run-id`` and ``--store`` (every command that reads or writes a synthesis run);
* the LLM endpoint: ``--llm-base-url`` with ``--llm-model`` (synthesize, pipeline, retry), or else
  ``--embedded-model`` (synthesize, pipeline);
* the budgets: ``--budget-tokens``, ``--budget-usd`` (synthesize, pipeline, retry);
* the filters: near-duplicates, decontamination, meaning checks, the LLM judge, relabeling and negative
  mining (synthesize, pipeline, clean).

The options of a stage that the pipeline also takes live with that stage's command
(:mod:`flows.cli.synthesize`, :mod:`flows.cli.train`, :mod:`flows.cli.evaluate`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tasks.clean.settings import CleanSettings
from tasks.common.settings import Settings
from tasks.common.shipped_models import DEFAULT_GGUF, SHIPPED_GGUFS


def add_run_options(p: argparse.ArgumentParser, settings: Settings, new_run: bool = False) -> None:
    """``--run-id`` (required, unless the command may start a ``new_run``) and ``--store``."""
    if new_run:
        p.add_argument("--run-id", help="create or resume this run (default: a new timestamped id)")
    else:
        p.add_argument("--run-id", required=True, help="the synthesis run")
    add_store_option(p, settings)


def add_store_option(p: argparse.ArgumentParser, settings: Settings, help: str | None = None) -> None:
    p.add_argument("--store", default=settings.store,
                   help=help or f"fsspec URL: file://PATH or s3://BUCKET/PREFIX (default: {settings.store})")


def add_llm_endpoint_options(p: argparse.ArgumentParser, settings: Settings, retry: bool = False) -> None:
    """``--llm-base-url`` and ``--llm-model``, which go together (:func:`check_llm_endpoint`).

    A new run defaults to the settings' endpoint, or else the embedded llama.cpp server; a retry
    to the endpoint the run was made with.
    """
    if retry:
        p.add_argument("--llm-base-url", help="another endpoint than the run's (e.g. the server moved)")
        p.add_argument("--llm-model", help="model name on that endpoint")
        return
    p.add_argument("--llm-base-url", default=settings.llm_base_url,
                   help="OpenAI-compatible base URL (default: start the embedded llama.cpp server)")
    p.add_argument("--llm-model", default=settings.llm_model,
                   help="model name on that server (required with --llm-base-url)")
    p.add_argument("--embedded-model", metavar="NAME",
                   help=f"the embedded server's model, without --llm-base-url: {' or '.join(SHIPPED_GGUFS)} "
                   f"(default: {DEFAULT_GGUF})")


def check_llm_endpoint(args: argparse.Namespace) -> None:
    """ValueError unless both ``--llm-base-url`` and ``--llm-model`` are given, or neither; and unless
    ``--embedded-model`` (where the command has it) names a shipped model and goes without them."""
    if bool(args.llm_base_url) != bool(args.llm_model):
        raise ValueError("--llm-base-url and --llm-model go together (the server and its model's name); "
                         "give neither to use the embedded server")
    embedded_model = getattr(args, "embedded_model", None)
    if embedded_model is None:
        return
    if embedded_model not in SHIPPED_GGUFS:
        raise ValueError(f"--embedded-model {embedded_model!r}: not a shipped model; "
                         f"allowed: {', '.join(SHIPPED_GGUFS)}")
    if args.llm_base_url:
        raise ValueError(f"--embedded-model {embedded_model} picks the embedded server's model: it goes without "
                         f"--llm-base-url {args.llm_base_url}")


def add_budget_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--budget-tokens", type=int, help="send no request that could take the run past this many tokens")
    p.add_argument("--budget-usd", type=float, help="send no request that could take the estimated cost past this")


def add_filter_options(p: argparse.ArgumentParser) -> None:
    """The filter flags. Every default is None, "not given": ``synthesize`` then takes
    :class:`CleanSettings`' defaults, ``clean`` the settings the run was made with (:func:`filter_settings`).
    """
    p.add_argument("--no-near-dedup", dest="near_duplicates", action="store_false", default=None,
                   help="keep near-duplicate queries and documents (default: drop them, keeping the first)")
    p.add_argument("--query-threshold", type=float,
                   help="shingle Jaccard that makes two queries near-duplicates (default: 0.8)")
    p.add_argument("--document-threshold", type=float,
                   help="shingle Jaccard that makes two documents near-duplicates (default: 0.7)")
    p.add_argument("--decontaminate", choices=["drop", "mark", "off"],
                   help="rows sharing a 13-word (50-character) passage with evaluation data: drop, mark or keep "
                   "(default: drop)")
    p.add_argument("--no-offline-suite", dest="offline_suite", action="store_false", default=None,
                   help="do not decontaminate against the offline evaluation suite's texts")
    p.add_argument("--eval-texts", dest="evaluation_files", action="append", metavar="FILE",
                   help="more evaluation texts to decontaminate against (.txt lines, .jsonl/.parquet 'text'); "
                   "repeatable")
    p.add_argument("--eval-mteb-tasks", dest="mteb_tasks", metavar="NAMES",
                   help="comma-separated mteb tasks whose texts to decontaminate against (needs the hub)")
    p.add_argument("--meaning", metavar="drop|mark|off",  # checked with the settings: one error line
                   help="rows the teacher finds inconsistent (not a translation, negative above positive, positive "
                   "not in the top k, STS out of order, wrong label): drop, mark or keep (default: drop)")
    p.add_argument("--teacher", metavar="SPEC",
                   help="the embedder that judges meaning and mines negatives: e5-small (default, offline), "
                   "st:NAME_OR_PATH (sentence-transformers), or http(s)://HOST/v1#MODEL (OpenAI-compatible "
                   "embeddings; key from SYNTHEMBED_TEACHER_API_KEY or the LLM's)")
    p.add_argument("--meaning-top-k", type=int, metavar="K",
                   help="the worst rank a positive may have among its task type and language's documents (default: 10)")
    p.add_argument("--translation-threshold", type=float, metavar="S",
                   help="the least teacher similarity of a bitext pair (default: 0.83, for e5-small)")
    p.add_argument("--mine-negatives", type=int, metavar="K",
                   help="hard negatives to mine per row from the run's documents, below --negative-score-ratio of its "
                   "positive's score (training uses them after the row's own); 0: none (default: 3)")
    p.add_argument("--negative-score-ratio", type=float, metavar="R",
                   help="a mined negative scores under R x the positive's score (default: 0.95)")
    p.add_argument("--judge", nargs="?", const="drop", metavar="drop|mark|off",
                   help="let the run's LLM rate each row 1-5 for relevance and correctness against its task (one "
                   "request per row, through the run's ledger and budget: a rerun pays nothing); rows scoring under "
                   "--judge-threshold, or whose rating is unparseable: drop (--judge alone), mark or keep "
                   "(default: off)")
    p.add_argument("--judge-threshold", type=float, metavar="S",
                   help="the least judge score (1 to 5) a row keeps (default: 3)")
    p.add_argument("--relabel", action=argparse.BooleanOptionalAction, default=None,
                   help="let the run's LLM pick each query's best positive among the teacher's top candidates from "
                   "the run's documents (retrieval, short-short, long-long; one request per row, through the run's "
                   "ledger and budget); training reads the choice; the old positive becomes a negative if the LLM "
                   "finds it irrelevant (default: off)")
    p.add_argument("--relabel-candidates", type=int, metavar="K",
                   help="documents shown per query with --relabel, its own positive included (default: 4)")


def filter_settings(args: argparse.Namespace, base: CleanSettings | None = None) -> CleanSettings:
    """``base`` (default: the defaults) with the filter flags that were given; file paths made absolute."""
    given = {name: getattr(args, name) for name in CleanSettings.model_fields if getattr(args, name, None) is not None}
    if "mteb_tasks" in given:
        given["mteb_tasks"] = csv(given["mteb_tasks"])
    if "evaluation_files" in given:  # a retry from another folder must still find them
        given["evaluation_files"] = [str(Path(p).resolve()) for p in given["evaluation_files"]]
    return CleanSettings.model_validate({**(base or CleanSettings()).model_dump(), **given})


def csv(text: str | None) -> list[str]:
    """The non-empty items of a comma-separated flag value, stripped.

    >>> csv(" en, es,,de ")
    ['en', 'es', 'de']
    """
    return [part.strip() for part in (text or "").split(",") if part.strip()]
