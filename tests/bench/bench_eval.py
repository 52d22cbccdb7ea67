"""Evaluation wall time: the (model × task) units fanned out over Ray workers against one model after
another in one process, on the same cores, with the same scores.

Four models on the offline suite (random, all-MiniLM-L6-v2, multilingual-e5-small, untrained
SmolLM2-135M), each configuration in a fresh process with a fresh store (nothing filed to skip):

* sequential: :func:`tasks.evaluate.runner.score_model` per model, as the flow's ``evaluate-model`` tasks;
* fan-out: :func:`tasks.evaluate.fanout.run_units` on ``--workers`` Ray workers on 127.0.0.1,
  Ray's start-up included (the flow's ``fan-out-units`` task).

Prefect is left out of both: the flow adds the same per-model bookkeeping around either.

    python tests/bench/bench_eval.py                         # make bench-eval
    python tests/bench/bench_eval.py --bible-samples 2000    # the default suite's sizes (long on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

MODELS = ["random", "minilm", "e5-small", "base:smollm2-135m"]


def run_one(mode: str, workers: int, bible_samples: int, bbc_per_label: int) -> dict:
    """One configuration, in this process: wall seconds and every score."""
    from tasks.common.settings import Settings
    from tasks.evaluate.config import EvalConfig
    from tasks.evaluate.runner import score_model
    from tasks.evaluate.suite import select_tasks

    store = tempfile.mkdtemp(prefix=f"bench-eval-{mode}-")
    config = EvalConfig(models=MODELS, store=f"file://{store}", bible_samples=bible_samples,
                        bbc_per_label=bbc_per_label, num_workers=workers if mode == "fan-out" else 0, device="cpu")
    specs = config.specs()
    started = time.perf_counter()
    if mode == "fan-out":
        from tasks.evaluate.fanout import run_units

        outcomes = run_units(specs, config)
    else:
        outcomes = [score_model(spec, select_tasks(None, bible_samples, bbc_per_label), config, Settings().cache)
                    .to_dict() for spec in specs]
    seconds = time.perf_counter() - started
    return {"mode": mode, "seconds": round(seconds, 1), "scores": {o["label"]: o["scores"] for o in outcomes},
            "failed": {o["label"]: o["failed"] for o in outcomes if o["failed"]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bible-samples", type=int, default=200)
    parser.add_argument("--bbc-per-label", type=int, default=20)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one configuration, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.workers, args.bible_samples, args.bbc_per_label)))
        return

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    runs = []
    for mode in ("sequential", "fan-out"):
        out = subprocess.run([sys.executable, __file__, "--one", mode, "--workers", str(args.workers),
                              "--bible-samples", str(args.bible_samples), "--bbc-per-label", str(args.bbc_per_label)],
                             capture_output=True, text=True, env=env, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    sequential, fanned = runs
    same = sequential["scores"] == fanned["scores"]
    print(f"{len(MODELS)} models x 6 offline tasks ({args.bible_samples} verse pairs, {args.bbc_per_label} BBC "
          f"articles a section), {os.cpu_count()} cores\n")
    print("| run | workers | wall s | x sequential | scores equal |\n|---|---:|---:|---:|---|")
    print(f"| sequential (one process, one model after another) | - | {sequential['seconds']} | 1.00 | - |")
    print(f"| fan-out on Ray | {args.workers} | {fanned['seconds']} | "
          f"{fanned['seconds'] / sequential['seconds']:.2f} | {'yes' if same else 'NO'} |")
    if sequential["failed"] or fanned["failed"]:
        print(f"\nfailed units: {sequential['failed']} {fanned['failed']}")
    sys.exit(0 if same and not (sequential["failed"] or fanned["failed"]) else 1)


if __name__ == "__main__":
    main()
