"""The revision results are filed under, for a model folder: a fingerprint of its files.

mteb files results per ``{model}/{revision}`` and a rerun skips a task already filed for that
revision (:mod:`tasks.evaluate.units`). A folder has no git revision, and a fixed ``"local"``
would let a model retrained into the same folder inherit the old model's scores. The
fingerprint reads each file's name, size and its first and last MiB: cheap for a 14 GB
checkpoint (a few MiB read, not all of it), and any retraining changes the weights' bytes.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp()); _ = (folder / "model.safetensors").write_bytes(b"weights")
>>> first = folder_fingerprint(folder); len(first)
12
>>> _ = (folder / "model.safetensors").write_bytes(b"retrained"); folder_fingerprint(folder) != first
True
"""

from __future__ import annotations

import hashlib
from pathlib import Path

EDGE = 1 << 20  # bytes read at each end of a file


def folder_fingerprint(folder: str | Path) -> str:
    """12 hex digits that change when any file of ``folder`` (recursively) changes name, size or edge bytes."""
    root = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(root).as_posix()}\0{size}\0".encode())
        with path.open("rb") as handle:
            digest.update(handle.read(EDGE))
            if size > 2 * EDGE:
                handle.seek(size - EDGE)
                digest.update(handle.read(EDGE))
    return digest.hexdigest()[:12]
