"""Real text for the cleaning tests: gensim's Lee corpora (a project dependency, always there).

Frames of rows to clean: :mod:`tests.support.clean_frames`.
"""

from __future__ import annotations

import pytest

from tasks.benchmarks.data.lee import lee_data_dir


@pytest.fixture(scope="session")
def lee_background() -> list[str]:
    """The 300 ABC news documents of ``lee_background.cor`` (not scored by the offline suite)."""
    text = (lee_data_dir() / "lee_background.cor").read_text(encoding="latin-1")
    return [line.strip() for line in text.splitlines() if line.strip()]
