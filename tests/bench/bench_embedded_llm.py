"""Benchmark the embedded generator: completion tokens/s by parallel slots, server and model; kept rows per minute.

1. Throughput. For each server × shipped model × slot count, a fresh server on 127.0.0.1
   (``llama-server --parallel N``, what ``infra/services/llama.py`` runs; or the old
   ``python -m llama_cpp.server``, which has no slots, where llama-cpp-python is installed),
   one warm-up request, then rounds of N requests sent at once (N in flight = N slots), each a
   synthesis-like JSON prompt at temperature 1.0 with JSON mode, repeat_penalty 1.1 and its own
   seed, at most ``--max-tokens`` tokens. Completion tokens/s = the server's reported completion
   tokens ÷ the wall time of the rounds.
2. Rows kept per minute: ``synthembed synthesize`` on the embedded server (its default slots)
   with each generator, on the plan `make run` uses (English and Spanish, all six task types,
   8 examples per shard, ``--min-length-ratio 0.1``), under a real Prefect server. Rows are
   those the run's readers keep (after the checks and filters); minutes are the command's wall
   time, server start and model load included.

    .venv/bin/python tests/bench/bench_embedded_llm.py             # both tables (~25 min on 2 cores)
    make bench-llm
    .venv/bin/python tests/bench/bench_embedded_llm.py --no-synthesis --models qwen2.5-coder-0.5b --slots 1,8
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from infra.services.llama import (  # noqa: E402
    DEFAULT_N_CTX,
    RECOMMENDED_EXTRA_BODY,
    SERVED_AS,
    local_llm,
)
from infra.services.process import ServiceProcess, free_port  # noqa: E402
from tasks.common.report import format_table  # noqa: E402
from tasks.common.shipped_models import SHIPPED_GGUFS, ensure_gguf  # noqa: E402

PROMPT = ("Brainstorm one retrieval example and answer as a JSON object with keys \"user_query\" (a question of "
          "5 to 15 words), \"positive_document\" (a passage of about 100 words that answers it) and "
          "\"hard_negative_document\" (a passage of about 100 words on a related topic that does not answer it). "
          "The topic: a long-tail question about {topic}, for a college-level reader, in English.")
TOPICS = ["medieval glassmaking", "tidal energy", "beekeeping law", "Baltic shipping", "soil microbes",
          "early radio", "cheese caves", "volcanic glass", "railway signalling", "moss gardens",
          "salt marshes", "bell founding", "ice roads", "paper conservation", "kite aerodynamics", "fog nets"]
SYNTHESIS_ARGS = ["--languages", "en,es", "--task-types", "all", "--examples-per-shard", "8",
                  "--min-length-ratio", "0.1"]  # what `make run` synthesizes (Makefile RUN_ARGS)


@contextmanager
def serve(server: str, model: str, slots: int, threads: int, log_dir: Path):
    """A fresh server of kind ``server`` with shipped ``model``; yields (base_url, model name)."""
    if server == "llama-server":
        with local_llm(slots=slots, threads=threads, model=model) as llm:
            yield llm.base_url, llm.model
        return
    port = free_port()  # the old server: llama-cpp-python's, one request decoded at a time
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(ensure_gguf(name=model)),
               "--model_alias", SERVED_AS[model], "--host", "127.0.0.1", "--port", str(port),
               "--n_ctx", str(DEFAULT_N_CTX), "--n_threads", str(threads)]
    with ServiceProcess("llama-cpp-python server", command, f"http://127.0.0.1:{port}/v1/models",
                        log_dir / f"llama-cpp-python-{port}.log", start_timeout_s=180):
        yield f"http://127.0.0.1:{port}/v1", SERVED_AS[model]


async def in_flight(base_url: str, model: str, n: int, rounds: int, max_tokens: int) -> dict:
    """``rounds`` rounds of ``n`` requests sent at once: completion tokens, seconds, requests."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="local", timeout=600, max_retries=0)

    async def one(i: int) -> int:
        answer = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": PROMPT.format(topic=TOPICS[i % len(TOPICS)])}],
            temperature=1.0, top_p=1.0, max_tokens=max_tokens, seed=1000 + i,
            response_format={"type": "json_object"}, extra_body=RECOMMENDED_EXTRA_BODY)
        return answer.usage.completion_tokens

    try:
        await one(99)  # warm-up: the first request pays for page-ins
        started, tokens = time.perf_counter(), 0
        for r in range(rounds):
            tokens += sum(await asyncio.gather(*(one(r * n + i) for i in range(n))))
        return {"tokens": tokens, "seconds": time.perf_counter() - started, "requests": rounds * n}
    finally:
        await client.close()


def throughput(args, log_dir: Path) -> list[dict]:
    rows = []
    for model in args.models:
        for slots in args.slots:
            for server in args.servers:  # side by side: the load from elsewhere changes over minutes
                with serve(server, model, slots, args.threads, log_dir) as (base_url, name):
                    got = asyncio.run(in_flight(base_url, name, slots, args.rounds, args.max_tokens))
                rows.append({"model": model, "server": server, "in flight": slots, "requests": got["requests"],
                             "completion tokens": got["tokens"], "seconds": round(got["seconds"], 1),
                             "tok/s": round(got["tokens"] / got["seconds"], 1)})
                print(rows[-1], flush=True)
    return rows


def kept_rows_per_minute(model: str, work: Path, env: dict) -> dict:
    """A `make run`-sized synthesis with the embedded ``model``: rows its readers keep, per minute of wall time."""
    from tasks.runs.parts import scan_run
    from tasks.storage.store import open_store

    store = f"file://{work / model}"
    command = [str(Path(sys.executable).parent / "synthembed"), "synthesize", *SYNTHESIS_ARGS,
               "--embedded-model", model, "--store", store, "--run-id", "bench"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 3):  # 3: complete, some shards under the minimum yield
        raise RuntimeError(f"synthesis with {model} exited {done.returncode}:\n{done.stderr[-3000:]}")
    kept = scan_run(open_store(store), "bench").collect().height
    every = scan_run(open_store(store), "bench", filtered=False).collect().height
    return {"generator": model, "rows committed": every, "rows kept": kept, "seconds": round(seconds),
            "kept rows/min": round(kept / seconds * 60, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=lambda s: s.split(","), default=list(SHIPPED_GGUFS),
                        help=f"shipped models (default: {','.join(SHIPPED_GGUFS)})")
    parser.add_argument("--servers", type=lambda s: s.split(","), default=None,
                        help="llama-server and/or llama-cpp-python (default: both where installed)")
    parser.add_argument("--slots", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8])
    parser.add_argument("--rounds", type=int, default=2, help="rounds of requests per measurement (default: 2)")
    parser.add_argument("--max-tokens", type=int, default=160, help="completion tokens per request at most")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--no-throughput", dest="throughput", action="store_false")
    parser.add_argument("--no-synthesis", dest="synthesis", action="store_false")
    args = parser.parse_args()
    if args.servers is None:
        old = importlib.util.find_spec("llama_cpp") is not None
        args.servers = ["llama-server", *(["llama-cpp-python"] if old else [])]
    work = Path(tempfile.mkdtemp(prefix="synthembed-bench-llm-"))
    rows = throughput(args, work) if args.throughput else []
    synthesis = []
    if args.synthesis:
        port = free_port()
        env = {**os.environ, "PREFECT_HOME": str(work / "prefect"), "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "PREFECT_LOGGING_LEVEL": "WARNING"}
        prefect = [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
                   "--port", str(port)]
        with ServiceProcess("prefect server", prefect, f"http://127.0.0.1:{port}/api/health", work / "prefect.log",
                            env=env, start_timeout_s=120):
            for model in args.models:
                synthesis.append(kept_rows_per_minute(model, work, env))
                print(synthesis[-1], flush=True)
    if rows:
        print(f"\nCompletion tokens/s ({args.threads} threads; N requests in flight = N slots; "
              f"{args.rounds} rounds, ≤ {args.max_tokens} tokens each):")
        print(format_table(rows))
    if synthesis:
        print(f"\nRows kept per minute (synthembed synthesize {' '.join(SYNTHESIS_ARGS)}; embedded server defaults):")
        print(format_table(synthesis))


if __name__ == "__main__":
    main()
