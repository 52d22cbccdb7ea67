"""Errors as the CLI shows them: one line naming the flag, the value given and what is allowed.

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

from pydantic import ValidationError

# Settings fields whose command-line flag is not simply --field-name.
FLAGS = {"timeout_s": "--timeout", "price_input_per_mtok": "--price-input", "price_output_per_mtok": "--price-output",
         "batch_poll_s": "--batch-poll", "mode": "--llm-mode", "base_url": "--llm-base-url", "model": "--llm-model",
         "batch_size": "--batch-size", "max_length": "--max-length", "min_ratio": "--min-length-ratio",
         "max_ratio": "--max-length-ratio"}


def one_line(exc: Exception) -> str:
    """A validation error as one line naming each flag, its value and what is allowed."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    parts = []
    for e in exc.errors():
        field = str(e["loc"][-1]) if e["loc"] else ""
        flag = FLAGS.get(field, f"--{field.replace('_', '-')}") if field else "input"
        value = f" {e['input']!r}" if field and not isinstance(e.get("input"), (dict, list)) else ""
        parts.append(f"{flag}{value}: {e['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)
