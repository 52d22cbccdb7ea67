"""``synthembed config show``: the effective settings, secrets masked.

They come from the environment (``SYNTHEMBED_*``) and ``synthembed.toml`` (:mod:`tasks.common.settings`),
and are the defaults of every command's flags.
"""

from __future__ import annotations

import argparse

from flows.cli.error_lines import EXIT_OK
from tasks.common.report import format_table
from tasks.common.settings import Settings


def add_config_parser(sub: argparse._SubParsersAction, settings: Settings) -> None:
    p = sub.add_parser("config", help="show the effective settings (secrets masked)")
    p.add_argument("action", choices=["show"])
    p.set_defaults(settings=settings)  # what `show` prints travels with the parsed arguments


def config_command(args: argparse.Namespace) -> int:
    print(format_table([{"setting": k, "value": "" if v is None else v} for k, v in args.settings.masked().items()]))
    return EXIT_OK
