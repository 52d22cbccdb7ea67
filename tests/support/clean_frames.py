"""Frames for the cleaning functions: every column they read, unspecified texts never near-duplicates.

>>> frame([{"example_id": "a", "query": "q"}]).select("example_id", "query", "language").row(0)
('a', 'q', 'en')
>>> sentences("One. Two? Three!")
['One.', 'Two?', 'Three!']
"""

from __future__ import annotations

import hashlib
import re

import polars as pl

from tasks.runs.schema import ROW_SCHEMA, TRIPLE_COLUMNS


def sentences(document: str) -> list[str]:
    return re.split(r"(?<=[.!?])\s+", document)


def _noise(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def frame(rows: list[dict]) -> pl.DataFrame:
    """Rows with every column the cleaning functions read (the training triple); unspecified ones filled in."""
    defaults = {"task_type": "retrieval", "language": "en", "task": "Find news reports.", "negative": None}
    # Unspecified queries/documents are random hex strings: unlike "query 10" and "query 100", never near-duplicates.
    filled = [{**defaults, "query": _noise(f"q{i}"), "positive": _noise(f"p{i}"), **row} for i, row in enumerate(rows)]
    return pl.DataFrame(filled, schema={c: ROW_SCHEMA[c] for c in TRIPLE_COLUMNS})
