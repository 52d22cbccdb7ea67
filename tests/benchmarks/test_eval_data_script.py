"""infra/eval_data.sh exports the SWORD modules once, then only reports that they are there."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "infra" / "eval_data.sh"


@pytest.mark.skipif(shutil.which("mod2imp") is None, reason="SWORD tools not installed: the script would apt-get")
def test_exports_once_then_skips(tmp_path):
    env = {**os.environ, "SYNTHEMBED_CACHE": str(tmp_path)}
    first = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=True)
    assert "packages already installed" in first.stdout
    assert first.stdout.count("exported ") == 3
    exports = sorted(p.name for p in (tmp_path / "eval" / "sword").iterdir())
    assert exports == ["engKJV2006eb.imp", "engWEB2015eb.imp", "spaRV1909eb.imp"]
    assert (tmp_path / "eval" / "sword" / "spaRV1909eb.imp").read_text(encoding="utf-8").count("$$$Genesis 1:1\n") == 1

    second = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert second.stdout.count("already exported") == 3 and "exported engWEB" not in second.stdout
