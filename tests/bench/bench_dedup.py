"""Benchmark near-duplicate removal (rensa vs datasketch, same shingles) and decontamination at run scale.

Builds synthetic rows with planted near-duplicates and planted evaluation texts
(``tests/bench/dedup_rows.py``), writes them to a temporary Parquet file, and measures each
stage in a fresh child process, so peak RSS (psutil, sampled every 20 ms) is the stage's own:

1. ``find_near_duplicates`` (exact + near, query and document passes) with rensa, then with
   datasketch: wall seconds, rows/s, peak RSS, recall and precision on the planted copies.
   A planted copy counts as found when it and its original are not both kept; a dropped row
   is correct when it and the row named in ``duplicate_of`` are linked by planted copies.
2. ``find_contaminated`` against every text of the offline suite (``offline_suite_texts``):
   loading, indexing, scanning all rows' query/positive/negative; recall on the planted
   texts; rows flagged without a plant.

    .venv/bin/python tests/bench/bench_dedup.py                 # 500k rows (~12 min on 2 cores)
    .venv/bin/python tests/bench/bench_dedup.py --quick         # 50k rows
    .venv/bin/python tests/bench/bench_dedup.py --rows 200000 --out /tmp/dedup_results.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]


class PeakRss:
    """Peak resident memory of this process, sampled with psutil in a background thread."""

    def __init__(self, interval_s: float = 0.02):
        import psutil

        self._process, self._interval, self.peak = psutil.Process(), interval_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(self._interval)

    def __enter__(self) -> Self:
        self.start = self._process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def _stage_near_dup(data: Path, library: str) -> dict:
    import polars as pl

    from tasks.clean.near_dup import find_near_duplicates

    rows, copies = pl.read_parquet(data / "rows.parquet"), pl.read_parquet(data / "copies.parquet")
    with PeakRss() as rss:
        started = time.perf_counter()
        dropped = find_near_duplicates(rows, library=library)
        seconds = time.perf_counter() - started
    dropped_ids = set(dropped["example_id"].to_list())
    found = [e in dropped_ids or o in dropped_ids for e, o in zip(copies["example_id"], copies["original_id"])]
    # Planted clusters: each copy joins its original's (originals come first).
    cluster: dict[str, str] = {}
    for e, o in zip(copies["example_id"], copies["original_id"]):
        cluster[e] = cluster.setdefault(o, o)
    correct = sum(
        cluster.get(e, e) == cluster.get(o, o) for e, o in zip(dropped["example_id"], dropped["duplicate_of"])
    )
    per_edit = (
        copies.with_columns(found=pl.Series(found))
        .group_by("field", "edit")
        .agg(pl.len(), recall=pl.col("found").mean())
    )
    return {
        "library": library,
        "rows": len(rows),
        "seconds": seconds,
        "peak_rss": rss.peak,
        "rss_before": rss.start,
        "dropped": len(dropped),
        "by_reason": dict(dropped.group_by("reason").len().iter_rows()),
        "recall": sum(found) / max(1, len(found)),
        "precision": correct / max(1, len(dropped)),
        "planted": len(found),
        "per_edit": per_edit.sort("field", "edit").rows(),
    }


def _stage_decontaminate(data: Path) -> dict:
    import polars as pl

    from tasks.clean.decontaminate import build_index, find_contaminated
    from tasks.clean.eval_texts import offline_suite_texts

    rows, plants = pl.read_parquet(data / "rows.parquet"), pl.read_parquet(data / "plants.parquet")
    with PeakRss() as rss:
        started = time.perf_counter()
        texts = list(offline_suite_texts())
        loaded = time.perf_counter()
        index = build_index(texts)
        indexed = time.perf_counter()
        flagged = find_contaminated(rows, index)
        scanned = time.perf_counter()
    flagged_ids = set(flagged["example_id"].to_list())
    planted_ids = set(plants["example_id"].to_list())
    recall_by_kind = (
        plants.with_columns(found=pl.col("example_id").is_in(list(flagged_ids)))
        .group_by("kind")
        .agg(pl.len(), recall=pl.col("found").mean())
        .sort("kind")
        .rows()
    )
    return {
        "rows": len(rows),
        "eval_texts": len(texts),
        "distinct_ngrams": len(index.words.hashes) + len(index.chars.hashes),
        "index_mb": index.nbytes / 2**20,
        "load_s": loaded - started,
        "index_s": indexed - loaded,
        "scan_s": scanned - indexed,
        "peak_rss": rss.peak,
        "rss_before": rss.start,
        "planted": len(planted_ids),
        "recall": len(planted_ids & flagged_ids) / max(1, len(planted_ids)),
        "recall_by_kind": recall_by_kind,
        "flagged_unplanted": len(flagged_ids - planted_ids),
        "skipped_short": index.skipped_short,
    }


def _child(stage: str, data: Path) -> dict:
    command = [sys.executable, __file__, "--stage", stage, "--data", str(data)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode:
        raise RuntimeError(f"stage {stage} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mib(value: int) -> str:
    return f"{value / 2**20:,.0f} MiB"


def report(rows: int, generate_s: float, near: list[dict], decon: dict) -> str:
    from tasks.common.report import markdown_table

    machine = (
        f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    lines = [
        f"# Dedup benchmark, {datetime.date.today().isoformat()}",
        "",
        (
            f"Machine: {machine}. {rows:,} synthetic rows (generated in {generate_s:.0f} s); "
            f"{near[0]['planted']:,} planted copies, {decon['planted']:,} planted evaluation texts."
        ),
        "",
        "## Exact + near-duplicate removal (both passes, same shingles)",
        "",
    ]
    lines.append(
        markdown_table(
            [
                {
                    "library": r["library"],
                    "wall s": round(r["seconds"], 1),
                    "rows/s": round(r["rows"] / r["seconds"]),
                    "peak RSS": _mib(r["peak_rss"]),
                    "RSS before": _mib(r["rss_before"]),
                    "dropped": r["dropped"],
                    "query dups": r["by_reason"].get("near_duplicate_query", 0),
                    "document dups": r["by_reason"].get("near_duplicate_document", 0),
                    "recall": round(r["recall"], 4),
                    "precision": round(r["precision"], 4),
                }
                for r in near
            ]
        )
    )
    lines += ["", "Recall per planted edit:", ""]
    by_library = {r["library"]: {(f, e): (n, rec) for f, e, n, rec in r["per_edit"]} for r in near}
    keys = [(f, e) for f, e, _, _ in near[0]["per_edit"]]
    lines.append(
        markdown_table(
            [
                {
                    "field": f,
                    "edit": e,
                    "copies": by_library[near[0]["library"]][f, e][0],
                    **{lib: round(v[f, e][1], 4) for lib, v in by_library.items()},
                }
                for f, e in keys
            ]
        )
    )
    lines += ["", "## Decontamination against the offline suite", ""]
    lines.append(
        markdown_table(
            [
                {
                    "eval texts": decon["eval_texts"],
                    "distinct n-grams": decon["distinct_ngrams"],
                    "index": f"{decon['index_mb']:.1f} MiB",
                    "load s": round(decon["load_s"], 1),
                    "index s": round(decon["index_s"], 1),
                    "scan s": round(decon["scan_s"], 1),
                    "rows/s": round(decon["rows"] / decon["scan_s"]),
                    "peak RSS": _mib(decon["peak_rss"]),
                    "RSS before": _mib(decon["rss_before"]),
                    "recall": round(decon["recall"], 4),
                    "flagged without plant": decon["flagged_unplanted"],
                }
            ]
        )
    )
    lines += ["", "Recall per planted kind: " + ", ".join(f"{k} {r:.3f} ({n})" for k, n, r in decon["recall_by_kind"])]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--quick", action="store_true", help="50k rows")
    parser.add_argument("--out", type=Path, help="also write the markdown report here")
    parser.add_argument("--libraries", default="rensa,datasketch")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        result = (
            _stage_decontaminate(args.data) if args.stage == "decontaminate" else _stage_near_dup(args.data, args.stage)
        )
        print(json.dumps(result))
        return
    from dedup_rows import make_rows

    n = 50_000 if args.quick else args.rows
    with tempfile.TemporaryDirectory(prefix="bench-dedup-") as tmp:
        data = Path(tmp)
        started = time.perf_counter()
        rows, copies, plants = make_rows(n)
        generate_s = time.perf_counter() - started
        rows.write_parquet(data / "rows.parquet")
        copies.write_parquet(data / "copies.parquet")
        plants.write_parquet(data / "plants.parquet")
        del rows, copies, plants
        near = []
        for library in args.libraries.split(","):
            near.append(_child(library, data))
            print(f"{library}: {near[-1]['seconds']:.1f} s", file=sys.stderr)
        decon = _child("decontaminate", data)
    text = report(n, generate_s, near, decon)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
