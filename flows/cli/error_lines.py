"""How a command fails: one line on stderr naming the flag, the value given and what is allowed;
and the exit codes that go with it.

>>> from pydantic import BaseModel, Field, ValidationError
>>> class Knob(BaseModel):
...     min_ratio: float = Field(gt=0)
>>> try:
...     Knob(min_ratio=0)
... except ValidationError as exc:
...     print(one_line(exc))
--min-length-ratio 0: Input should be greater than 0
"""

from __future__ import annotations

import sys

from pydantic import ValidationError

from tasks.clean.filters import EvaluationSourceMissing
from tasks.common.secrets import SecretUnavailable
from tasks.llm.client import LLMUnavailable
from tasks.runs.manifest import ParameterMismatch, RunNotFound
from tasks.storage.lease import LeaseHeld
from tasks.storage.store import StoreError

EXIT_OK = 0
EXIT_FAILED = 1  # something failed after it started (shards, filters, a hub upload): what to run next is printed
EXIT_BAD_INPUT = 2  # fix the input or the environment; nothing was spent
EXIT_LOW_YIELD = 3  # every shard complete, but some kept too few of their examples (README "Yield")
EXIT_INTERRUPTED = 130  # Ctrl-C: stopped gracefully, every answer received recorded (128 + SIGINT)
EXIT_BROKEN_PIPE = 141  # the reader of stdout went away (`| head`), as a command killed by SIGPIPE (128 + 13)

# Errors that mean "fix the input or the environment" besides ValueError: one line, exit code 2.
USER_ERRORS = (StoreError, LLMUnavailable, ParameterMismatch, SecretUnavailable, LeaseHeld, EvaluationSourceMissing,
               RunNotFound)

# Settings fields whose command-line flag is not simply --field-name.
FLAGS = {"timeout_s": "--timeout", "price_input_per_mtok": "--price-input", "price_output_per_mtok": "--price-output",
         "batch_poll_s": "--batch-poll", "mode": "--llm-mode", "base_url": "--llm-base-url", "model": "--llm-model",
         "batch_size": "--batch-size", "max_length": "--max-length", "min_ratio": "--min-length-ratio",
         "max_ratio": "--max-length-ratio"}


def one_line(exc: Exception | str) -> str:
    """An error as one line; a validation error names each flag, its value and what is allowed."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    parts = []
    for e in exc.errors():
        field = str(e["loc"][-1]) if e["loc"] else ""
        flag = FLAGS.get(field, f"--{field.replace('_', '-')}") if field else "input"
        value = f" {e['input']!r}" if field and not isinstance(e.get("input"), (dict, list)) else ""
        parts.append(f"{flag}{value}: {e['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def print_error(exc: Exception | str) -> None:
    print(f"error: {one_line(exc)}", file=sys.stderr)


def bad_input(exc: Exception | str) -> int:
    """Say what is wrong in one line; the exit code of bad input."""
    print_error(exc)
    return EXIT_BAD_INPUT
