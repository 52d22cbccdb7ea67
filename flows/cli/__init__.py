"""The ``synthembed`` command line.

    synthembed synthesize --languages en,es --task-types retrieval,sts --examples-per-shard 4
    synthembed retry --run-id RUN_ID          # redo only what failed
    synthembed status --run-id RUN_ID         # shards, parts, yield, rejects, filters, tokens
    synthembed unlock --run-id RUN_ID         # break the lease of a writer that is gone
    synthembed clean --run-id RUN_ID          # rerun the near-duplicate and decontamination filters
    synthembed export --run-id RUN_ID --out DIR [--push-to-hub OWNER/NAME]   # a Hugging Face dataset folder
    synthembed train --data {store}/runs/RUN_ID --out file://./models/m1     # fine-tune with Ray Train
    synthembed evaluate --model file://./models/m1/model --baselines         # mteb scores, passkey test
    synthembed pipeline                       # synthesize -> train -> evaluate (what `make run` runs)
    synthembed config show                    # the effective settings, secrets masked

One module per command group: ``synthesize`` (synthesize, retry), ``status`` (status, unlock),
``clean``, ``export``, ``train``, ``evaluate``, ``pipeline``, ``config``; the options several
commands share are declared once in ``options``, errors are turned into one line and an exit
code in ``error_lines``. Exit codes: 0 done, 1 failed after it started (what to run next is
printed), 2 bad input or an unusable store/LLM server (before any spend), 3 (synthesize, retry)
every shard complete but some under ``--min-yield``, 130 stopped by Ctrl-C (every answer received
recorded: the same command resumes), 141 the reader of stdout went away (``| head``). The defaults of
the flags come from the settings (environment and ``synthembed.toml``), read once in :func:`main` and
passed down.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import NamedTuple

from flows.cli import clean, config, evaluate, export, pipeline, status, synthesize, train
from flows.cli.error_lines import EXIT_BROKEN_PIPE, bad_input, one_line
from flows.cli.train import train_command
from tasks.common.settings import Settings, config_file


class Command(NamedTuple):
    add_parser: Callable[[argparse._SubParsersAction, Settings], None]
    run: Callable[[argparse.Namespace], int]  # the exit code


COMMANDS: dict[str, Command] = {  # in the order `synthembed --help` lists them
    "synthesize": Command(synthesize.add_synthesize_parser, synthesize.synthesize_command),
    "status": Command(status.add_status_parser, status.status_command),
    "retry": Command(synthesize.add_retry_parser, synthesize.retry_command),
    "unlock": Command(status.add_unlock_parser, status.unlock_command),
    "export": Command(export.add_export_parser, export.export_command),
    "clean": Command(clean.add_clean_parser, clean.clean_command),
    "train": Command(train.add_train_parser, train_command),
    "evaluate": Command(evaluate.add_evaluate_parser, evaluate.evaluate_command),
    "pipeline": Command(pipeline.add_pipeline_parser, pipeline.pipeline_command),
    "config": Command(config.add_config_parser, config.config_command),
}

# No usage telemetry from a temporary Prefect server the CLI starts (it would look up prefect.io
# from an offline machine); users who want it set these themselves.
QUIET_ENVIRONMENT = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "RAY_USAGE_STATS_ENABLED": "0"}


def build_parser(settings: Settings | None = None) -> argparse.ArgumentParser:
    """The whole command line; its defaults come from ``settings`` (read now when not given)."""
    settings = settings if settings is not None else Settings()
    parser = argparse.ArgumentParser(prog="synthembed", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS.values():
        command.add_parser(sub, settings)
    return parser


def main(argv: list[str] | None = None) -> int:
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    try:
        settings = Settings()
    except ValueError as exc:  # a malformed synthembed.toml, or an invalid SYNTHEMBED_* value
        return bad_input(f"the settings ({config_file()} or SYNTHEMBED_* variables) are invalid: {one_line(exc)}")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(settings).parse_args(argv)
    args.argv = argv  # as typed: a command that prints what to run next repeats it
    try:
        code = COMMANDS[args.command].run(args)
        sys.stdout.flush()  # here, not at exit: a reader gone by now is a BrokenPipeError caught below
        return code
    except BrokenPipeError:  # `synthembed status ... | head -1`: the reader has what it wanted
        return stdout_closed()


def stdout_closed() -> int:
    """The reader of stdout went away: no traceback (nor one when Python flushes stdout at exit); exit 141,
    as a command killed by SIGPIPE does."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


__all__ = ["COMMANDS", "build_parser", "main", "train_command"]
