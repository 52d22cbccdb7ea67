"""Loaders for the offline evaluation data, one module per dataset, no mteb in sight.

Each loader returns plain Python structures (lists, tuples, named tuples) so that tests and
notebooks can look at the data without the evaluation stack, and the mteb tasks only reshape.

>>> eval_cache_dir().name
'eval'
"""

from __future__ import annotations

import os
from pathlib import Path


def eval_cache_dir() -> Path:
    """``${SYNTHEMBED_CACHE:-~/.cache/synthembed}/eval``: exports and parsed caches live here."""
    root = os.environ.get("SYNTHEMBED_CACHE") or Path.home() / ".cache" / "synthembed"
    return Path(root) / "eval"
