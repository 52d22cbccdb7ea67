"""Benchmark synthesis throughput against a bare ``AsyncOpenAI`` client, and Prefect's share of wall time.

1. Throughput. One latency-simulating OpenAI-compatible server (``tests/support/fake_openai/``
   in its own process: every request takes ``--latency`` seconds, any number at once). For each
   request count and concurrency, the baseline is a bare ``openai.AsyncOpenAI`` client sending
   that many requests under an ``asyncio.Semaphore(concurrency)``; ours is ``synthembed
   synthesize`` with its default settings apart from ``--concurrency``, on a plan of all six
   task types in six languages sized to the same number of requests (brainstorms included).
   Both are timed by the server, from the first request's arrival to the last one's plus its
   latency, so process start-up is not counted for either. The ideal is concurrency ÷ latency.
2. Prefect's share: a 93-language × 6-type run at near-zero latency, once through the Prefect
   flow (a real ``prefect server``) and once through the same engine without Prefect
   (``tasks.synth.run.run_languages``), in this process, alternating twice and keeping the best
   of each; share = 1 − engine time ÷ flow time.

    .venv/bin/python tests/bench/bench_synth.py               # the full table (~20 min)
    make bench-synth
    .venv/bin/python tests/bench/bench_synth.py --quick       # 1k requests only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from infra.services.process import ServiceProcess, free_port  # noqa: E402
from tasks.common.report import format_table  # noqa: E402

LANGUAGES = "en,de,fr,es,ja,ru"
PROMPT = ("Write a retrieval example as JSON with keys \"user_query\", \"positive_document\" and "
          "\"hard_negative_document\" about a long-tail topic, in English, for a college-level reader.")


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def _post(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(url, method="POST", data=b""), timeout=10).close()


class SimulatedServer:
    """The fake server in a child process, so it does not share a GIL with either client."""

    def __init__(self, latency_s: float, log: Path):
        self.port = free_port()
        command = [sys.executable, "-m", "tests.support.fake_openai", "--port", str(self.port), "--latency-s", str(latency_s)]
        self.service = ServiceProcess("fake openai", command, f"http://127.0.0.1:{self.port}/stats", log)
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.latency_s = latency_s

    def __enter__(self):
        self.service.start()
        return self

    def __exit__(self, *exc):
        self.service.stop()

    def reset(self) -> None:
        _post(f"http://127.0.0.1:{self.port}/stats/reset")

    def window(self) -> tuple[int, float]:
        """(requests served, seconds from the first arrival to the last answer)."""
        stats = _get(f"http://127.0.0.1:{self.port}/stats")
        return stats["requests"], stats["last_arrival_s"] - stats["first_arrival_s"] + self.latency_s


async def _bare_client(base_url: str, requests: int, concurrency: int) -> None:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            response = await client.chat.completions.create(
                model="fake-model", messages=[{"role": "user", "content": PROMPT}], temperature=1.0, top_p=1.0,
                max_tokens=1536, seed=i, response_format={"type": "json_object"})
            json.loads(response.choices[0].message.content)

    await asyncio.gather(*(one(i) for i in range(requests)))
    await client.close()


def examples_for(requests: int) -> int:
    """Examples whose plan (all six types, ~1 brainstorm per 20 examples of 4 types) makes ``requests``."""
    return round(requests / (1 + 4 / 6 / 20))


def measure_ours(server: SimulatedServer, requests: int, concurrency: int, store: Path, env: dict) -> tuple[int, float]:
    command = [str(Path(sys.executable).parent / "synthembed"), "synthesize", "--llm-base-url", server.base_url,
               "--llm-model", "fake-model", "--languages", LANGUAGES, "--task-types", "all",
               "--total-examples", str(examples_for(requests)), "--language-weights",
               ",".join(f"{c}=1" for c in LANGUAGES.split(",")), "--concurrency", str(concurrency),
               "--store", f"file://{store}", "--run-id", f"bench-{requests}-{concurrency}"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    if result.returncode not in (0, 1):
        raise RuntimeError(result.stderr[-2000:])
    return server.window()


def throughput(args, env: dict, work: Path) -> list[dict]:
    rows = []
    with SimulatedServer(args.latency, work / "fake.log") as server:
        for requests in args.requests:
            for concurrency in args.concurrency:
                server.reset()
                asyncio.run(_bare_client(server.base_url, requests, concurrency))
                bare_n, bare_s = server.window()
                server.reset()
                ours_n, ours_s = measure_ours(server, requests, concurrency, work / "store", env)
                bare, ours, ideal = bare_n / bare_s, ours_n / ours_s, concurrency / args.latency
                rows.append({"requests": requests, "concurrency": concurrency, "ideal_req_s": round(ideal, 1),
                             "bare_req_s": round(bare, 1), "ours_req_s": round(ours, 1), "ours_requests": ours_n,
                             "ours/bare": round(ours / bare, 3), "bare/ideal": round(bare / ideal, 3)})
                print(format_table(rows[-1:]), flush=True)
    return rows


async def _engine_only(config) -> None:
    """The flow's work without Prefect: the same store check, lease, plan, preflight, backend,
    admission, language order and summary — everything but Prefect's task runs, logs and artifact."""
    from tasks.llm.backends import open_backend
    from tasks.storage.lease import holding_lease
    from tasks.storage.store import check_store, open_store
    from tasks.synth.run import SynthesisRun, prepare_run, run_languages
    from tasks.synth.summary import shard_table, summarize

    started = time.perf_counter()
    store = open_store(config.store)
    check_store(store)
    async with holding_lease(store, config.run_id):
        manifest = prepare_run(store, config)
        backend = open_backend(config.llm, None, store, config.run_id)
        await backend.preflight()
        run = SynthesisRun(store, manifest, config, backend)
        await run_languages(run, manifest.unfinished())
        await backend.close()
    summarize(store, run.manifest, config, started)
    shard_table(run.manifest, config)


def prefect_share(args, work: Path) -> dict:
    from flows.synthesize import synthesize
    from tasks.synth.config import SynthesisConfig

    with SimulatedServer(0.0, work / "fake-zero.log") as server:
        def config(run_id: str) -> SynthesisConfig:
            return SynthesisConfig(languages="all", examples_per_shard=args.share_examples, run_id=run_id,
                                   store=f"file://{work}/share", llm={"base_url": server.base_url, "model": "fake-model",
                                                                      "concurrency": 64})
        timings = {"engine": [], "flow": []}
        for round_ in range(2):  # alternate, keep the best of two: the 2 cores are shared by 3 processes
            for name, runner in (("engine", lambda: _engine_only(config(f"engine{round_}"))),
                                 ("flow", lambda: synthesize(config(f"flow{round_}")))):
                start = time.perf_counter()
                asyncio.run(runner())
                timings[name].append(time.perf_counter() - start)
        requests = _get(f"http://127.0.0.1:{server.port}/stats")["requests"] // 4
    engine, flow = min(timings["engine"]), min(timings["flow"])
    return {"shards": 93 * 6, "requests": requests, "engine_s": round(engine, 1), "flow_s": round(flow, 1),
            "prefect_share": f"{1 - engine / flow:.1%}",
            "all_runs_s": " ".join(f"{n}={t:.1f}" for n in timings for t in timings[n])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 5000])
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[8, 64, 256])
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--share-examples", type=int, default=100, help="examples per shard in the Prefect-share run")
    parser.add_argument("--share-only", action="store_true", help="only Prefect's share")
    parser.add_argument("--quick", action="store_true", help="1k requests only")
    args = parser.parse_args()
    if args.quick:
        args.requests = [1000]
    work = Path(tempfile.mkdtemp(prefix="synthembed-bench-"))
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(work / "prefect"), "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "PREFECT_LOGGING_LEVEL": "WARNING"}
    os.environ.update(env)
    prefect = [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with ServiceProcess("prefect server", prefect, f"http://127.0.0.1:{port}/api/health", work / "prefect.log",
                        start_timeout_s=120):
        rows = [] if args.share_only else throughput(args, env, work)
        share = prefect_share(args, work)
    if rows:
        print("\nThroughput (completed requests/s; server-timed):")
        print(format_table(rows))
    print("\nPrefect's share of wall time (93 languages × 6 task types, near-zero latency):")
    print(format_table([share]))


if __name__ == "__main__":
    main()
