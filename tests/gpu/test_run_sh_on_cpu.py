"""``bash tests/gpu/run.sh --cpu``: the GPU check's every step on the CPU at tiny sizes, with ray,
prefect, polars, mteb and openai blocked from import as they are absent on the lent GPU machines.

If this passes, the prepared check needs nothing the GPU machine lacks (no Ray, no flows.cli,
nothing downloaded), and its absolute ``$OUT`` paths hold. ~2 minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_gpu_check_runs_on_the_cpu_without_ray_prefect_polars_mteb_or_openai(tmp_path):
    out, work = tmp_path / "results", tmp_path / "work"  # absolute, as the device tool sets $OUT
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(out), "WORK": str(work)}
    done = subprocess.run(["bash", str(ROOT / "tests" / "gpu" / "run.sh"), "--cpu"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    log = (out / "results.log").read_text() if (out / "results.log").exists() else ""
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:] + log[-6000:]
    assert "blocked: ray, prefect, polars, mteb, openai" in log
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "step" in r and "loss" in r]
    assert steps == [1, 2, 3, 4]  # 3 steps, then the resume trains step 4 alone
    assert next(r for r in records if r.get("check") == "reload")["ok"] is True
    assert {r["gradient_checkpointing"] for r in records if "mfu" in r} == {True, False}
    assert {r["case"] for r in records if r.get("check") == "embed"} == {"short", "long"}
    versus = next(r for r in records if r.get("check") == "cached_mnrl")  # ours and CachedMNRL, same batch
    assert versus["ours_tokens_per_s"] > 0 and versus["st_tokens_per_s"] > 0 and versus["target_met"] is None
    assert (work / "out" / "model" / "modules.json").is_file()  # written where it was reloaded from
    assert sorted(p.name for p in out.iterdir()) == ["results.jsonl", "results.log", "summary.md"]
