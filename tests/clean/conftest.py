"""Real text for the cleaning tests: gensim's Lee corpora (a project dependency, always there)."""

from __future__ import annotations

import hashlib
import re

import polars as pl
import pytest

from tasks.benchmarks.data.lee import lee_data_dir


@pytest.fixture(scope="session")
def lee_background() -> list[str]:
    """The 300 ABC news documents of ``lee_background.cor`` (not scored by the offline suite)."""
    text = (lee_data_dir() / "lee_background.cor").read_text(encoding="latin-1")
    return [line.strip() for line in text.splitlines() if line.strip()]


def sentences(document: str) -> list[str]:
    return re.split(r"(?<=[.!?])\s+", document)


def _noise(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def frame(rows: list[dict]) -> pl.DataFrame:
    """Rows with every column the cleaning functions read; unspecified ones filled in."""
    defaults = {"task_type": "retrieval", "language": "en", "task": "Find news reports.", "negative": None}
    # Unspecified queries/documents are random hex strings: unlike "query 10" and "query 100", never near-duplicates.
    filled = [{**defaults, "query": _noise(f"q{i}"), "positive": _noise(f"p{i}"), **row} for i, row in enumerate(rows)]
    schema = {c: pl.String for c in ("example_id", "task_type", "language", "task", "query", "positive", "negative")}
    return pl.DataFrame(filled, schema=schema)
