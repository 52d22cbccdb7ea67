"""The filter ablation: one synthesis run, four sets of filters, one training recipe, the offline suite.

Issue 20's question — do the meaning checks and mined negatives make the model better, and never a
task worse? — answered at equal data: the same synthesized rows, copied four times and cleaned
four ways with ``synthembed clean`` (near-duplicates and decontamination in every arm):

* ``recipe alone``  ``--meaning off --mine-negatives 0`` (the paper's recipe: the model's own rows)
* ``+ meaning``     ``--meaning drop --mine-negatives 0``
* ``+ mined``       ``--meaning off --mine-negatives 3``
* ``+ both``        ``--meaning drop --mine-negatives 3`` (the defaults)

then each arm trained with the same ``synthembed train`` options and seed and scored with
``synthembed evaluate`` beside the untrained base and the baselines (``quality.py``'s helpers, so
what is measured is what ships). The teacher's embeddings are cached in the run, so each copy
embeds nothing again.

    .venv/bin/python tests/bench/filter_ablation.py --run file:///tmp/q/runs/r1 --workdir ablation \\
        --train "--steps 30 --batch-size 8 --mini-batch-size 16 --max-length 128 --learning-rate 1e-3 --warmup-steps 3"

Writes ``{workdir}/ablation.md`` and ``ablation.json``: rows kept and training pairs per arm, each
task's main score, the mean, and the time per stage.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import BASELINES, evaluate, run_cli  # noqa: E402  (a sibling script)

ARMS = {
    "recipe alone": ["--meaning", "off", "--mine-negatives", "0"],
    "+ meaning": ["--meaning", "drop", "--mine-negatives", "0"],
    "+ mined": ["--meaning", "off", "--mine-negatives", "3"],
    "+ both": ["--meaning", "drop", "--mine-negatives", "3"],
}


def copy_run(source: Path, store: Path) -> str:
    """``source`` (a run folder in a local store) copied into ``store``; the copy's run id.

    The manifest names its part and filter files by absolute path, so those are moved along.
    """
    run_id = source.name
    target = store / "runs" / run_id
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    manifest = target / "manifest.json"
    manifest.write_text(manifest.read_text().replace(str(source.parent.parent), str(store)))
    return run_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a synthesis run in a local store: file:///STORE/runs/RUN_ID")
    parser.add_argument("--workdir", default="ablation")
    parser.add_argument("--train", default="", help="synthembed train options, the same for every arm")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--eval", default="--bible-samples 200 --bbc-per-label 8 --max-length 128",
                        help="synthembed evaluate options (default: make run's suite)")
    parser.add_argument("--base-model", default="embedded-qwen")
    parser.add_argument("--skip-baselines", action="store_true", help="score the arms only")
    args = parser.parse_args(argv)
    if not args.run.startswith("file://"):
        raise SystemExit(f"--run {args.run!r}: a local run (file://...) is needed; copy it down first")

    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    log, scores_store = workdir / "ablation.log", workdir / "scores"
    source, eval_extra = Path(args.run.removeprefix("file://")), shlex.split(args.eval)
    rows, seconds = [], {}
    for arm, flags in ARMS.items():
        slug = arm.replace("+ ", "").replace(" ", "-")
        store = workdir / "arms" / slug
        run_id = copy_run(source, store)
        seconds[f"clean {arm}"] = run_cli(["clean", "--run-id", run_id, "--store", f"file://{store}", *flags], log)
        out = store / "model"
        seconds[f"train {arm}"] = run_cli(
            ["train", "--data", f"file://{store}/runs/{run_id}", "--out", f"file://{out}", "--base-model",
             args.base_model, "--seed", str(args.seed), *shlex.split(args.train)], log)
        table, seconds[f"evaluate {arm}"] = evaluate([f"file://{out}/model"], scores_store, log, eval_extra)
        pairs = re.findall(r"(\d+) training pairs", log.read_text())[-1]  # the train flow logs it
        rows.append({"arm": arm, "training pairs": pairs, **{k: v for k, v in table[0].items() if k != "model"}})
        print(f"{arm}: mean {table[0]['mean']:.4f}", flush=True)
    if not args.skip_baselines:
        base_table, seconds["evaluate baselines"] = evaluate(
            [f"base:{args.base_model}", "minilm", "e5-small"], scores_store, log, eval_extra)
        rows += [{"arm": name, **{k: v for k, v in t.items() if k != "model"}}
                 for name, t in zip(BASELINES, base_table, strict=True)]

    from tasks.common.report import markdown_table

    report = [f"data: `{args.run}`, training seed {args.seed}", "", markdown_table(rows), "",
              "| stage | seconds |", "|---|---:|", *[f"| {k} | {v:.0f} |" for k, v in seconds.items()], "",
              f"command: `{shlex.join([sys.argv[0], *(argv or sys.argv[1:])])}`"]
    (workdir / "ablation.md").write_text("\n".join(report) + "\n")
    (workdir / "ablation.json").write_text(json.dumps({"run": args.run, "rows": rows, "seconds": seconds}, indent=1))
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
