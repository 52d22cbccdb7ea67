"""Loaders for the offline evaluation data, one module per dataset, no mteb in sight.

Each loader returns plain Python structures (lists, tuples, named tuples) so that tests and
notebooks can look at the data without the evaluation stack, and the mteb tasks only reshape.

>>> eval_cache_dir().name
'eval'
"""

from __future__ import annotations

from pathlib import Path

from tasks.common.cache import cache_root


def eval_cache_dir() -> Path:
    """``{cache}/eval``: exports and parsed caches live here."""
    return cache_root("eval")
