"""``make quality``'s driver (tests/bench/quality.py) goes on where a command's output is usable.

Its first full run stopped after 26 min of synthesis: ``synthesize`` exited 3 (every shard complete,
three of them under --min-yield) and the driver took that for a failure.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "quality.py"


@pytest.fixture
def quality():
    spec = importlib.util.spec_from_file_location("quality_driver", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exiting_with(code: int) -> list[str]:
    return [sys.executable, "-c", f"import sys; print('ran'); sys.exit({code})"]


def test_low_yield_synthesis_is_usable(quality, tmp_path, monkeypatch):
    monkeypatch.setattr(quality, "SYNTHEMBED", exiting_with(3))
    quality.run_cli(["synthesize", "--languages", "en"], tmp_path / "log")  # no SystemExit
    assert "ran" in (tmp_path / "log").read_text()


@pytest.mark.parametrize("command, code", [("synthesize", 1), ("synthesize", 2), ("train", 3), ("evaluate", 1)])
def test_failures_stop_the_run(quality, tmp_path, monkeypatch, command, code):
    monkeypatch.setattr(quality, "SYNTHEMBED", exiting_with(code))
    with pytest.raises(SystemExit, match=f"exit {code}"):
        quality.run_cli([command], tmp_path / "log")
