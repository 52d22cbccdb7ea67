"""The embedded generator: llama.cpp's own OpenAI-compatible server (``llama-server``) with a shipped GGUF.

``llama-server`` decodes its parallel slots in one batch (continuous batching): on 2 cores,
several requests in flight finish together far faster than one after another, which the
llama-cpp-python server we ran before did not do (it served ~56 completion tokens/s with any
number in flight; ``make bench-llm`` measures both). It is built portably, once per machine,
by ``infra/build_llama_server.sh`` into the cache. The model is one of the GGUFs that ship on
PyPI (:mod:`tasks.common.shipped_models`), joined once into the cache: Qwen2.5-Coder-0.5B by
default, or the stronger 1.5B.

Each slot keeps a context of ``n_ctx`` tokens (the server's ``-c`` is ``n_ctx × slots``), so a
request's completion room does not shrink as slots are added.

Example::

    with local_llm(slots=4) as llm:     # starts on a free 127.0.0.1 port, stops on exit
        print(llm.base_url, llm.model)  # restarted on that port if it dies meanwhile
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from infra.services.process import ServiceError, ServiceProcess, free_port
from tasks.common.cache import cache_root
from tasks.common.shipped_models import DEFAULT_GGUF, SHIPPED_GGUFS, ensure_gguf

# The llama-cpp-python release whose vendored llama.cpp infra/build_llama_server.sh builds.
LLAMA_SERVER_VERSION = "0.3.36"
# The name each shipped model is served under: what a run records as its generator (``llm.model``).
SERVED_AS = {name: f"{name}-instruct" for name in SHIPPED_GGUFS}
MODEL_ALIAS = SERVED_AS[DEFAULT_GGUF]
# llama.cpp sampling that keeps these small models writing valid JSON (REFERENCE.md §5).
RECOMMENDED_EXTRA_BODY = {"repeat_penalty": 1.1}
PROMPT_ROOM_TOKENS = 512  # synthesis prompts are ~150-400 tokens
DEFAULT_N_CTX = 4096  # per slot
# Slots decoded together: the most completion tokens/s on 2 cores (`make bench-llm`).
DEFAULT_SLOTS = 8


@dataclass
class LocalLLM:
    base_url: str
    model: str  # the name it is served under
    service: ServiceProcess
    max_tokens: int  # completion room left in a slot's context after a synthesis prompt
    slots: int  # requests it decodes at once: more in flight wait in its queue


def llama_server_binary() -> Path:
    """The portable ``llama-server`` that ``make setup`` built (ServiceError with the command otherwise)."""
    binary = cache_root("bin") / f"llama-server-{LLAMA_SERVER_VERSION}"
    if not os.access(binary, os.X_OK):
        raise ServiceError(f"llama-server is not built ({binary} is missing): run `make setup` "
                           "(or infra/build_llama_server.sh .venv/bin/pip)")
    return binary


def llama_server_command(binary: Path, model: Path, port: int, slots: int = DEFAULT_SLOTS,
                         n_ctx: int = DEFAULT_N_CTX, threads: int | None = None, alias: str = MODEL_ALIAS) -> list[str]:
    """The argv that serves ``model`` as ``alias`` on 127.0.0.1:``port`` with ``slots`` parallel slots.

    >>> " ".join(llama_server_command(Path("llama-server"), Path("m.gguf"), 8080, slots=4, threads=2)[5:14])
    '--host 127.0.0.1 --port 8080 --parallel 4 --ctx-size 16384 --cont-batching'
    """
    threads = threads or os.cpu_count() or 2
    return [
        str(binary), "--model", str(model), "--alias", alias, "--host", "127.0.0.1", "--port", str(port),
        "--parallel", str(slots), "--ctx-size", str(n_ctx * slots), "--cont-batching",
        "--threads", str(threads), "--threads-batch", str(threads),
        # no web UI to serve; no prompt cache in RAM beyond the slots' own (its default may grow to 8 GiB)
        "--no-webui", "--cache-ram", "0",
    ]


@contextmanager
def local_llm(port: int | None = None, n_ctx: int = DEFAULT_N_CTX, threads: int | None = None,
              slots: int = DEFAULT_SLOTS, model: str = DEFAULT_GGUF):
    """Run the embedded llama.cpp server on 127.0.0.1 for the duration of the block.

    Args:
        port: where (default: a free port).
        n_ctx: tokens of context per slot.
        threads: CPU threads (default: every core).
        slots: requests decoded together.
        model: a shipped GGUF by name (:data:`tasks.common.shipped_models.SHIPPED_GGUFS`).
    """
    binary = llama_server_binary()  # a missing build is said before a 1 GB join
    path = ensure_gguf(name=model)
    port = port or free_port()
    command = llama_server_command(binary, path, port, slots, n_ctx, threads, SERVED_AS[model])
    # /health answers 503 while the model loads and 200 once it serves
    service = ServiceProcess("llama.cpp server", command, f"http://127.0.0.1:{port}/health",
                             cache_root("logs") / f"llama-{port}.log", start_timeout_s=180)
    with service:
        service.supervise()  # a crashed or OOM-killed server comes back on its port; requests retry meanwhile
        yield LocalLLM(base_url=f"http://127.0.0.1:{port}/v1", model=SERVED_AS[model], service=service,
                       max_tokens=n_ctx - PROMPT_ROOM_TOKENS, slots=slots)
