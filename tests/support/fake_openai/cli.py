"""``python -m tests.support.fake_openai``: the fake server as a separate process (a throughput
benchmark must not share the client's GIL). It prints its base URL, then serves until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import signal
import threading

from tests.support.fake_openai.server import FakeOpenAI


def main(argv: list[str] | None = None) -> None:
    """Serve in the foreground until SIGTERM or SIGINT; print the base URL first."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.fake_openai",
                                     description="A scripted OpenAI-compatible server that always answers validly.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-s", type=float, default=0.01, help="answer time per request")
    parser.add_argument("--per-token-s", type=float, default=0.0, help="further answer time per completion token")
    parser.add_argument("--max-concurrent", type=int, default=None, help="requests answered at once (default: all)")
    parser.add_argument("--batch-delay-s", type=float, default=0.2, help="how long a batch takes")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with FakeOpenAI(latency_s=args.latency_s, per_token_s=args.per_token_s, max_concurrent=args.max_concurrent,
                    batch_delay_s=args.batch_delay_s, port=args.port) as server:
        print(server.base_url, flush=True)
        while not stop.wait(0.5):
            pass
