"""`synthembed train` turns bad input into one error (exit 2) before Ray or a model starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.runs import training_run

SYNTHEMBED = str(Path(sys.executable).parent / "synthembed")


@pytest.mark.parametrize("change, message", [
    ({"--batch-size": "1"}, "batch_size must be at least 2"),
    ({"--data": "file:///nowhere/runs/r1"}, "no synthesis run 'r1'"),
    ({"--base-model": "/no/such/model"}, "model not found"),
    ({"--batch-size": "64"}, "lower --batch-size"),
    ({"--batch-size": "6", "--num-workers": "4"}, "divide evenly"),
])
def test_bad_training_input_fails_fast_without_starting_ray(change, message, tmp_path):
    args = {"--data": training_run(tmp_path, "r1", 10), "--base-model": "smollm2-135m", "--out": f"file://{tmp_path}/out",
            "--batch-size": "4", **change}
    result = subprocess.run([SYNTHEMBED, "train", *[x for kv in args.items() for x in kv]],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr, result.stderr[-2000:]
    assert "ray" not in result.stderr.lower().replace("array", "")  # Ray never started
    assert not (tmp_path / "out").exists()
