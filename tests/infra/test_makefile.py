"""The Makefile's targets that run flows start the Prefect server they talk to.

`make quality` once ran `synthembed synthesize` with no server up and failed after set-up with
"Failed to reach API at http://127.0.0.1:4200/api/": every target whose commands run a flow must
depend on `ui` (which starts the server) and point PREFECT_API_URL at it. `make -n` prints the
commands without running them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def planned_commands(target: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    done = subprocess.run(["make", "-n", target], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("target", ["run", "quality", "deploy"])
def test_flow_targets_start_the_server_and_point_at_it(target):
    commands = planned_commands(target)
    assert "prefect_server.sh start" in commands
    assert "PREFECT_API_URL=http://127.0.0.1:4200/api" in commands
