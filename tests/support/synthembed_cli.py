"""The installed ``synthembed`` console script against the fake OpenAI server, and the check every
stored row must pass: it re-validates from its raw answer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl

from tasks.runs.schema import TaskType
from tasks.synth.parsing import parse_example
from tests.support.fake_openai import FakeOpenAI

SYNTHEMBED = str(Path(sys.executable).parent / "synthembed")
# The embedded 0.5B model's "long" documents are 15-80 words (asked: 100-500): accept a tenth, as `make run` does.
E2E_LENGTHS = ("--min-length-ratio", "0.1")


# The fake server's answers are well-formed filler, not answers: the teacher's meaning checks would drop
# them and mine negatives among them. They are tested on real text in tests/clean/; here they are off.
NO_TEACHER = ("--meaning", "off", "--mine-negatives", "0")


def synthesize_argv(server: FakeOpenAI, store: str, *extra: str) -> list[str]:
    """``synthesize`` against ``server``: a short timeout, two retries, no meaning checks; ``extra`` appended."""
    return ["synthesize", "--store", store, "--llm-base-url", server.base_url, "--llm-model", server.model,
            "--timeout", "1", "--max-retries", "2", *NO_TEACHER, *extra]


def run_cli(argv: list[str], timeout_s: float = 300) -> subprocess.CompletedProcess:
    """The installed console script in a child process: real exit code, real stderr."""
    return subprocess.run([SYNTHEMBED, *argv], capture_output=True, text=True, timeout=timeout_s)


def assert_rows_are_valid(frame: pl.DataFrame) -> None:
    """Every stored row re-validates from its raw answer; an empty frame fails (it proves nothing)."""
    assert frame.height > 0, "no rows to validate"
    for row in frame.iter_rows(named=True):
        placeholders = json.loads(row["placeholders"])
        fields = parse_example(TaskType(row["task_type"]), row["raw"], row["language"], placeholders)
        assert fields  # every stored row re-validates from its raw answer
