"""Quality runs: train recipes on one synthesis run, score each on the offline suite, compare.

What ``make quality`` runs, and the tool behind every quality claim in BENCHMARKS.md and the README
(the three-seed table, the filter ablation). One synthesis run is made (or reused with ``--run``),
then each *variant* — a name and the ``synthembed train`` options that define it — is trained once
per seed and scored with ``synthembed evaluate`` on the offline suite; the untrained base,
all-MiniLM-L6-v2 and multilingual-e5-small are scored once, in the same run, as the baselines.
Everything goes through the CLI a user runs, so what is measured is what ships.

    .venv/bin/python tests/bench/quality.py --run file:///tmp/q/runs/r1 --seeds 1,2,3 \\
        --variant "lr1e-4=--learning-rate 1e-4 --steps 60" --variant "lr1e-3=--learning-rate 1e-3 --steps 30"

``--labelled-mix W`` adds, for each variant, a twin trained on the synthesis run mixed with real
English–Spanish pairs (Django's translation catalogs, which overlap nothing the suite scores) at
weights 1:W — the paper's synthetic-plus-labelled recipe beside the synthetic-only one.

Prints, and writes to ``{workdir}/quality.md`` / ``quality.json`` / ``quality.png``: one row per
variant with the mean over seeds of each task's main score and of their mean, the spread
(min–max of the per-seed means), whether it beats the base on every task in every seed, and
the time per stage.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # tasks, tests.support: run as a script from anywhere
from flows.cli.error_lines import EXIT_LOW_YIELD, EXIT_OK  # noqa: E402 (after the path insert)

SYNTHEMBED = [sys.executable, "-m", "flows.cli"]
BASELINES = ("base", "all-MiniLM-L6-v2", "multilingual-e5-small")


# Exit codes that still leave usable output: synthesize's 3 means every shard is complete but some kept
# under --min-yield of their examples (the embedded 0.5B's long-long documents do); the log says which.
USABLE_EXITS = {"synthesize": (EXIT_OK, EXIT_LOW_YIELD)}


def run_cli(args: list[str], log: Path) -> float:
    """One ``synthembed`` command, its output appended to ``log``; seconds it took. Raises on failure."""
    started = time.perf_counter()
    with open(log, "a") as out:
        out.write(f"\n$ synthembed {shlex.join(args)}\n")
        out.flush()
        done = subprocess.run(SYNTHEMBED + args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, check=False)
    if done.returncode not in USABLE_EXITS.get(args[0], (0,)):
        raise SystemExit(f"synthembed {shlex.join(args)} failed (exit {done.returncode}); see {log}")
    return time.perf_counter() - started


def newest_report(store: Path) -> dict:
    """The scores.json the last ``synthembed evaluate`` into ``store`` wrote."""
    reports = sorted((store / "evals" / "reports").glob("*/scores.json"))
    return json.loads(reports[-1].read_text())


def evaluate(models: list[str], store: Path, log: Path, extra: list[str]) -> tuple[list[dict], float]:
    seconds = run_cli(["evaluate", "--model", ",".join(models), "--store", f"file://{store}", *extra], log)
    return newest_report(store)["table"], seconds


def write_django_pairs(path: Path) -> str:
    """Django's English–Spanish catalog strings as a labelled Parquet file (anchor, positive); its URL."""
    import polars as pl

    from tests.support.real_text import translation_pairs

    pairs = translation_pairs("es")
    pl.DataFrame({"anchor": [en for en, _ in pairs], "positive": [es for _, es in pairs]}).write_parquet(path)
    return f"file://{path}"


def summarise(name: str, tables: list[dict], base: dict) -> dict:
    """Mean per task over seeds, the spread of the per-seed means, and 'beats base everywhere'."""
    tasks = [k for k in tables[0] if k not in ("model", "mean")]
    row = {"model": name, "seeds": len(tables)}
    for task in tasks:
        row[task] = round(sum(t[task] for t in tables) / len(tables), 4)
    means = [t["mean"] for t in tables]
    row["mean"] = round(sum(means) / len(means), 4)
    row["spread"] = f"{min(means):.4f}–{max(means):.4f}"
    row["beats base on every task, every seed"] = all(t[task] > base[task] for t in tables for task in tasks)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default="quality", help="store and results folder (default: ./quality)")
    parser.add_argument("--run", help="an existing synthesis run URL; default: synthesize one with --synth")
    parser.add_argument("--synth", default="--languages en,es --task-types all --examples-per-shard 8",
                        help="synthembed synthesize options for the run")
    parser.add_argument("--variant", action="append", default=[],
                        help='NAME="train options"; repeatable (default: one variant, the train defaults)')
    parser.add_argument("--seeds", default="1", help="comma-separated training seeds")
    parser.add_argument("--eval", default="", help="extra synthembed evaluate options (e.g. --bible-samples 500)")
    parser.add_argument("--base-model", default="embedded-qwen")
    parser.add_argument("--labelled-mix", type=float, default=0.0,
                        help="also train each variant on the run mixed 1:W with Django's EN-ES pairs (0: no)")
    args = parser.parse_args(argv)

    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    log, store = workdir / "quality.log", workdir / "store"
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = [v.split("=", 1) if "=" in v else (v, "") for v in args.variant] or [("defaults", "")]
    eval_extra = shlex.split(args.eval)
    timings: dict[str, float] = {}

    run = args.run
    if run is None:
        run_id = "quality-" + time.strftime("%Y%m%d-%H%M%S")
        timings["synthesis"] = run_cli(["synthesize", *shlex.split(args.synth), "--store", f"file://{store}",
                                        "--run-id", run_id], log)
        run = f"file://{store}/runs/{run_id}"
    print(f"data: {run}", flush=True)

    if args.labelled_mix > 0:
        labelled = write_django_pairs(workdir / "django-en-es.parquet")
        variants += [(f"{name}+labelled", f"--data {run},{labelled} --data-weights 1,{args.labelled_mix} "
                      "--labelled-instruction 'Retrieve the Spanish translation of the English text' " + options)
                     for name, options in variants]
    base_table, timings["evaluate baselines"] = evaluate([f"base:{args.base_model}", "minilm", "e5-small"], store,
                                                       log, eval_extra)
    rows, tables_by_variant = [], {}
    for name, options in variants:
        tables = []
        for seed in seeds:
            out = store / "models" / f"{name}-s{seed}"
            timings[f"train {name} s{seed}"] = run_cli(
                ["train", "--data", run, "--out", f"file://{out}", "--base-model", args.base_model,
                 "--seed", str(seed), *shlex.split(options)], log)
            table, timings[f"evaluate {name} s{seed}"] = evaluate([f"file://{out}/model"], store, log, eval_extra)
            tables.append(table[0])
            print(f"{name} seed {seed}: mean {table[0]['mean']:.4f}", flush=True)
        tables_by_variant[name] = tables
        rows.append(summarise(name, tables, base_table[0]))
    for label, table in zip(BASELINES, base_table, strict=True):
        rows.append({"model": label, "seeds": "-", **{k: v for k, v in table.items() if k != "model"}})

    from tasks.common.report import markdown_table

    report = [f"data: `{run}`", "", markdown_table(rows), "", "| stage | seconds |", "|---|---:|",
              *[f"| {stage} | {seconds:.0f} |" for stage, seconds in timings.items()],
              "", f"command: `{shlex.join([sys.argv[0], *(argv or sys.argv[1:])])}`"]
    (workdir / "quality.md").write_text("\n".join(report) + "\n")
    (workdir / "quality.json").write_text(json.dumps({"run": run, "rows": rows, "per_seed": tables_by_variant,
                                                      "baselines": base_table, "seconds": timings}, indent=1))
    _plot(rows, workdir / "quality.png")
    print("\n".join(report))
    return 0


def _plot(rows: list[dict], path: Path) -> None:
    from tasks.evaluate.plots import scores_png

    plain = [{k: v for k, v in r.items() if k not in ("seeds", "mean", "spread", "beats base on every task, every seed")}
             for r in rows]
    path.write_bytes(scores_png(plain))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
