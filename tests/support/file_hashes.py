"""What files held, by SHA-256: to prove that something stored or exported was left untouched.

Both helpers refuse to compare nothing: ``{} == {}`` would pass whatever happened.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tasks.runs.manifest import ShardStatus, load_manifest
from tasks.storage.store import open_store


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` by its relative path, with its hash; fails on a folder without files."""
    hashes = {str(p.relative_to(root)): sha256(p) for p in root.rglob("*") if p.is_file()}
    assert hashes, f"nothing to snapshot under {root}"
    return hashes


def committed_file_hashes(store_url: str, run_id: str) -> dict[str, str]:
    """The part files a local run's manifest marks complete, with their hashes ({} while none is)."""
    manifest = load_manifest(open_store(store_url), run_id)
    if manifest is None:
        return {}
    return {p.path: sha256(p.path) for e in manifest.shards.values() for p in e.parts
            if p.status is ShardStatus.COMPLETE and p.path}
