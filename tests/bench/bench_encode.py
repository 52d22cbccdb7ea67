"""Benchmark evaluation encoding: our path against plain ``SentenceTransformer.encode``.

The texts are what mteb asks an encoder for on the three Bible tasks of the offline suite
(bitext mining EN–ES, retrieval EN→ES and ES→EN), recorded from a real mteb run with a cheap
recording encoder, then replayed call by call:

(a) ``SentenceTransformer.encode`` on each request's final inputs (instruction in front for
    the exported model), nothing remembered: the baseline;
(b) our evaluation path, :func:`tasks.evaluate.models.load_encoder`'s ``DedupEncoder`` over
    ``SentenceTransformerEncoder``, one memo shared by the three tasks;
(c) the same with a memo per task (``share_across_tasks=False``), as before sharing.

Same model instance, batch size and token limit for all three; (b) and (c) must return (a)'s
vectors. Models: SmolLM2-135M exported as ``synthembed train`` exports it (the untrained base
with a fresh LoRA, written once to the cache), at ``--smollm2-pairs`` verse pairs (a 135M
decoder embeds ~8 texts/s on two CPU cores), and all-MiniLM-L6-v2 from its wheel at ``--pairs``.
Reported: texts requested per second (requests / wall time), the speed-up over (a) in wall
time and in this process's CPU time (steadier when other work shares the cores; the load
average is printed), and the worst cosine gap to (a)'s vectors.

    .venv/bin/python tests/bench/bench_encode.py [--pairs 250] [--smollm2-pairs 80] [--models smollm2,minilm]
    make bench-encode
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODELS = ("smollm2", "minilm")


@dataclass
class Request:
    """One ``encode`` call mteb made: the task, the role and the texts (a prepared DataLoader)."""

    task_metadata: object
    prompt_type: object
    hf_split: str
    hf_subset: str
    loader: object

    @property
    def texts(self) -> list[str]:
        return list(self.loader.dataset["text"])


def record_requests(pairs: int, batch_size: int) -> list[Request]:
    """Run the three Bible tasks once with a recording random encoder; every call it got."""
    from tasks.evaluate.encoders import RandomEncoder
    from tasks.evaluate.suite import run_tasks, select_tasks

    requests: list[Request] = []

    class Recorder(RandomEncoder):
        def encode(self, inputs, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs):
            requests.append(Request(task_metadata, prompt_type, hf_split, hf_subset, inputs))
            return super().encode(inputs, task_metadata=task_metadata, hf_split=hf_split, hf_subset=hf_subset,
                                  prompt_type=prompt_type, **kwargs)

    names = ["BibleBitextMining", "BibleRetrievalEnEs", "BibleRetrievalEsEn"]
    run_tasks(Recorder(), select_tasks(names, bible_samples=pairs), batch_size)
    return requests


def exported_smollm2(cache: Path) -> Path:
    """SmolLM2-135M with a fresh (no-op) LoRA, exported once as a sentence-transformers folder."""
    out = cache / "bench" / "smollm2-135m-exported"
    if (out / "modules.json").exists():
        return out
    import torch
    from transformers import AutoTokenizer

    from tasks.train.base_model import resolve_base_model
    from tasks.train.merge import export_sentence_transformer
    from tasks.train.model import EmbeddingModel

    path = resolve_base_model("smollm2-135m")
    torch.manual_seed(0)
    model = EmbeddingModel.from_pretrained(path, lora_rank=8, dtype=torch.float32)
    export_sentence_transformer(model, AutoTokenizer.from_pretrained(path), out,
                                "Given a web search query, retrieve relevant passages", overwrite=True)
    return out


def load(name: str, cache: Path, max_length: int, batch_size: int):
    """Our evaluation encoder for ``name`` (as the evaluate flow loads it)."""
    from tasks.evaluate.models import load_encoder, parse_model

    spec = parse_model(str(exported_smollm2(cache)) if name == "smollm2" else "minilm")
    return load_encoder(spec, cache, max_length, batch_size)


def timed(run) -> tuple[float, float, list[np.ndarray]]:
    """``run()``'s wall seconds, this process's CPU seconds (all threads) and its vectors."""
    wall, cpu = time.perf_counter(), time.process_time()
    vectors = run()
    return time.perf_counter() - wall, time.process_time() - cpu, vectors


def time_baseline(encoder, requests: list[Request], batch_size: int) -> tuple[float, float, list[np.ndarray]]:
    st, inner = encoder.model.model, encoder.model  # the SentenceTransformer, and what it is sent
    inputs = [inner.model_inputs(r.texts, r.task_metadata, r.prompt_type) for r in requests]
    return timed(lambda: [st.encode(texts, batch_size=batch_size, show_progress_bar=False) for texts in inputs])


def time_ours(encoder, requests: list[Request]) -> tuple[float, float, list[np.ndarray]]:
    return timed(lambda: [encoder.encode(r.loader, task_metadata=r.task_metadata, hf_split=r.hf_split,
                                         hf_subset=r.hf_subset, prompt_type=r.prompt_type) for r in requests])


def worst_cosine_gap(actual: list[np.ndarray], expected: list[np.ndarray]) -> float:
    a, e = np.concatenate(actual), np.concatenate(expected)
    cosines = (a * e).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(e, axis=1))
    return float(1 - cosines.min())


def bench_model(name: str, requests: list[Request], cache: Path, max_length: int, batch_size: int) -> list[dict]:
    from tasks.evaluate.encoders import DedupEncoder

    shared = load(name, cache, max_length, batch_size)
    per_task = DedupEncoder(shared.model, share_across_tasks=False)  # the same model instance
    shared.model.model.encode(["warm-up"] * batch_size, batch_size=batch_size)
    n_texts = sum(len(r.texts) for r in requests)
    wall, cpu, base_vectors = time_baseline(shared, requests, batch_size)
    rows = [{"model": name, "path": "(a) SentenceTransformer.encode", "texts": n_texts, "embedded": n_texts,
             "seconds": wall, "cpu": cpu, "gap": 0.0}]
    for label, encoder in (("(b) ours, shared across tasks", shared), ("(c) ours, memo per task", per_task)):
        wall, cpu, vectors = time_ours(encoder, requests)
        rows.append({"model": name, "path": label, "texts": n_texts, "embedded": encoder.encoded,
                     "seconds": wall, "cpu": cpu, "gap": worst_cosine_gap(vectors, base_vectors)})
    for row in rows:
        row["texts/s"] = row["texts"] / row["seconds"]
        row["× (a)"] = rows[0]["seconds"] / row["seconds"]
        row["× (a) CPU"] = rows[0]["cpu"] / row["cpu"]
        print(f"{name} {row['path']}: {row['seconds']:.1f} s, {row['cpu']:.1f} CPU s", flush=True)
    return rows


def print_table(rows: list[dict]) -> None:
    print("| model | path | texts | embedded | s | CPU s | texts/s | × (a) | × (a), CPU time | 1 − cos vs (a) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['path']} | {r['texts']:,} | {r['embedded']:,} | {r['seconds']:.1f} | "
              f"{r['cpu']:.1f} | {r['texts/s']:.1f} | {r['× (a)']:.2f} | {r['× (a) CPU']:.2f} | {r['gap']:.1e} |")


def main() -> None:
    from tasks.common.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=250, help="verse pairs per Bible task for MiniLM")
    parser.add_argument("--smollm2-pairs", type=int, default=80, help="verse pairs per Bible task for SmolLM2")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--max-length", type=int, default=128, help="tokens per text (make run's setting)")
    parser.add_argument("--batch-size", type=int, default=16, help="texts per forward pass (the evaluate default)")
    args = parser.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not models or set(models) - set(MODELS):
        parser.error(f"--models must name some of {', '.join(MODELS)}, got {args.models!r}")
    if min(args.pairs, args.smollm2_pairs) < 10:
        parser.error(f"--pairs and --smollm2-pairs must be at least 10, got {args.pairs}, {args.smollm2_pairs}")

    cache = Settings().cache
    import torch

    threads, load = torch.get_num_threads(), os.getloadavg()[0]
    shared = " — other work is running: read the CPU-time ratios" if load > 0.5 else ""
    print(f"torch threads {threads}, load average {load:.1f} on {os.cpu_count()} CPUs{shared}", flush=True)
    rows = []
    for name in models:
        pairs = args.smollm2_pairs if name == "smollm2" else args.pairs
        requests = record_requests(pairs, args.batch_size)
        print(f"{name}: {len(requests)} encode calls from mteb, {sum(len(r.texts) for r in requests):,} texts "
              f"({pairs} verse pairs, 3 Bible tasks)", flush=True)
        rows += bench_model(name, requests, cache, args.max_length, args.batch_size)
        print_table(rows[-3:])
        print(flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    if len(models) > 1:
        print_table(rows)


if __name__ == "__main__":
    main()
