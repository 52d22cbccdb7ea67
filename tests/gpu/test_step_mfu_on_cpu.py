"""The prepared GPU step script runs, here on the CPU with a tiny shape, and prints its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("step_mfu.py")


def test_the_mfu_step_script_runs_and_reports_its_figures():
    result = subprocess.run([sys.executable, str(SCRIPT), "--shape", "tiny", "--device", "cpu", "--seq", "16",
                             "--batch", "4", "--mini-batch", "2", "--steps", "1"],
                            capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["tokens_per_s"] > 0 and 0 < figures["mfu"] < 1 and figures["seq"] == 16
