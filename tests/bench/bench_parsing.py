"""Benchmark the LLM-output parser on answers built to hurt it (tests.support.adversarial_answers).

Question: does any adversarial answer — nesting past the recursion limit, a 5 MB field, a
whitespace-heavy unterminated fence, a long run of backslashes — take the parser longer than
``PARSE_LIMIT_S`` (parsed as an example of every task type, and as a task list)? The unit
tests (tests/synth/test_parsing_fuzz.py) prove these answers are kept or rejected, never raised;
the time is measured here, where a wall clock belongs. Exit status 1 if any is over the limit.

    .venv/bin/python tests/bench/bench_parsing.py     # a few seconds
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere

from tasks.synth.parsing import Rejected, parse_example, parse_task_list  # noqa: E402
from tasks.synth.task_types import TaskType  # noqa: E402
from tests.support.adversarial_answers import ADVERSARIAL_ANSWERS, PARSE_LIMIT_S  # noqa: E402

PLACEHOLDERS = {"src_code": "en", "tgt_code": "de"}


def seconds_to_parse(text: str, task_type: TaskType) -> float:
    """Wall time of one answer through the parser, as an example of ``task_type`` and as a task list."""
    start = time.perf_counter()
    for parse in (lambda: parse_example(task_type, text, "en", PLACEHOLDERS), lambda: parse_task_list(text)):
        try:
            parse()
        except Rejected:
            pass
    return time.perf_counter() - start


def main() -> int:
    print(f"| answer | characters | slowest task type | seconds (limit {PARSE_LIMIT_S}) |")
    print("|---|---:|---|---:|")
    over = 0
    for text in ADVERSARIAL_ANSWERS:
        timings = {task_type.value: seconds_to_parse(text, task_type) for task_type in TaskType}
        slowest = max(timings, key=timings.get)
        over += timings[slowest] >= PARSE_LIMIT_S
        print(f"| `{text[:24]!r}…` | {len(text):,} | {slowest} | {timings[slowest]:.3f} |")
    print(f"{over} of {len(ADVERSARIAL_ANSWERS)} answers over {PARSE_LIMIT_S} s")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
