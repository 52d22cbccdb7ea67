"""``synthembed export``: write a run as a Hugging Face dataset folder (:mod:`flows.export`), optionally push it.

    synthembed export --run-id RUN_ID --out ./exports/RUN_ID [--push-to-hub OWNER/NAME [--private]]

Exit codes: 0 written (and pushed), 1 written but the push failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import logging
import sys

from flows.cli.error_lines import EXIT_FAILED, EXIT_OK, bad_input, print_error
from flows.cli.options import add_run_options
from tasks.common.report import format_table
from tasks.common.settings import Settings
from tasks.storage.store import StoreError


def add_export_parser(sub: argparse._SubParsersAction, settings: Settings) -> None:
    p = sub.add_parser("export", help="write a run as a Hugging Face dataset folder (card, plots), optionally push it")
    add_run_options(p, settings)
    p.add_argument("--out", required=True, help="local folder to write; must be absent or empty (see --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out once the new export is complete")
    p.add_argument("--push-to-hub", metavar="REPO", help="then upload it as hub dataset OWNER/NAME (token: $HF_TOKEN)")
    p.add_argument("--private", action="store_true", help="create the --push-to-hub repository private")


def export_command(args: argparse.Namespace) -> int:
    from flows.export import export, log

    try:
        summary = export(args.store, args.run_id, args.out, overwrite=args.overwrite, push_to_hub=args.push_to_hub,
                         private=args.private, logger=_on_stderr(log))
    except (ValueError, StoreError, OSError) as exc:
        return bad_input(exc)
    print(format_table(summary["configs"]))
    print(f"\ndataset: {summary['out']}\ncard:    {summary['card']}")
    if summary["hub_error"]:
        print_error(summary["hub_error"])
        return EXIT_FAILED
    if summary["hub_url"]:
        print(f"hub:     {summary['hub_url']}")
    return EXIT_OK


class _Stderr(logging.Handler):
    """Messages to whatever ``sys.stderr`` is when they are logged (it may be swapped, e.g. under pytest)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stderr)


def _on_stderr(logger: logging.Logger) -> logging.Logger:
    """``logger`` printing its messages plainly on stderr: the command's progress lines."""
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        logger.addHandler(_Stderr())
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
